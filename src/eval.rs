//! The `eval` stage: IR + events → matches, with the meaning the compiled queries have.
//!
//! Events are JSON objects with ECS names, nested (`{"process": {"name": ..}}`) or dotted
//! (`{"process.name": ..}`) alike. A field holding an array matches when any element
//! matches, as in Elastic; a missing field, `null` and `""` are all absent, and an absent field
//! fails every test, so `not TEST` holds for it. Case-insensitive tests fold ASCII letters
//! (the check stage has turned values with other cased letters into patterns), and patterns
//! run the very regex text the targets print (`Regex::to_perl`), so there is one meaning.

use crate::ir::{self, NumOp, Scalar, Test};

use crate::base::{Case, Cidr, Span};
use crate::pattern;
use serde_json::Value;
use std::net::IpAddr;

mod correlate;
mod fields;
mod time;

pub use correlate::{Alert, Clock, Correlation, Correlator, Fit, Reading, State, named_source};
pub(crate) use fields::{Extracted, FieldTable, Slot};
use fields::{Fields, Leaf};
pub use time::date_of;
pub(crate) use time::{TimeError, event_time};

/// A rule prepared for evaluation: lowered values, compiled regexes.
#[derive(Debug)]
pub struct Matcher {
    condition: Option<Node>,
}

#[derive(Debug)]
enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Test(Box<Prepared>),
}

#[derive(Debug)]
struct Prepared {
    field: String,
    /// The field's slot once interned for `detc hunt` ([`Matcher::intern`]).
    slot: Option<Slot>,
    test: Check,
    span: Span,
}

#[derive(Debug)]
enum Check {
    /// Any value equal; strings pre-lowered when `fold`.
    Strings {
        values: Vec<String>,
        fold: bool,
        how: Affix,
    },
    Numbers(Vec<f64>),
    Bools(Vec<bool>),
    Regex(regex::Regex),
    Compare(NumOp, f64),
    Cidr(Vec<Cidr>),
    Exists,
    /// Compared with another field ([`Test::Field`]): `fold` lowercases strings (Unicode,
    /// as the targets' `TO_LOWER`, `=~`, `lower()` do).
    Fields {
        other: String,
        other_slot: Option<Slot>,
        op: NumOp,
        ty: ir::FieldType,
        fold: bool,
    },
}

#[derive(Debug, Clone, Copy)]
enum Affix {
    Whole,
    Contains,
    Prefix,
    Suffix,
}

/// Why a rule cannot be evaluated (yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    pub(crate) span: Span,
    pub(crate) message: String,
}

impl Matcher {
    /// Prepare a single-event rule; a correlation rule is an error (see [`Correlation`]).
    pub fn new(rule: &ir::Rule) -> Result<Matcher, EvalError> {
        match &rule.kind {
            ir::RuleKind::Single(q) => Matcher::query(q),
            _ => Err(EvalError {
                span: rule.span,
                message: "a correlation rule is evaluated over event sequences".into(),
            }),
        }
    }

    /// Prepare one query's condition: a single-event rule's, or one query or step of a
    /// correlation rule (one implementation of the per-event semantics for both).
    pub(crate) fn query(q: &ir::Query) -> Result<Matcher, EvalError> {
        Ok(Matcher {
            condition: q.condition.as_ref().map(node).transpose()?,
        })
    }

    /// Whether the event matches. (The rule's source is not checked: an event is taken to
    /// come from it.)
    pub fn matches(&self, event: &Value) -> bool {
        self.condition.as_ref().is_none_or(|c| eval(c, &event))
    }

    /// Give every field the rule reads a slot in `table`, so that it can be evaluated on
    /// the table's [`Extracted`] values ([`Matcher::matches_extracted`]).
    pub(crate) fn intern(&mut self, table: &mut FieldTable) {
        fn walk(n: &mut Node, table: &mut FieldTable) {
            match n {
                Node::And(ns) | Node::Or(ns) => ns.iter_mut().for_each(|n| walk(n, table)),
                Node::Not(n) => walk(n, table),
                Node::Test(p) => {
                    p.slot = Some(table.slot(&p.field));
                    if let Check::Fields {
                        other, other_slot, ..
                    } = &mut p.test
                    {
                        *other_slot = Some(table.slot(other));
                    }
                }
            }
        }
        if let Some(c) = &mut self.condition {
            walk(c, table);
        }
    }

    /// [`Matcher::matches`] on the values the table of [`Matcher::intern`] extracted.
    pub(crate) fn matches_extracted(&self, event: &Extracted) -> bool {
        self.condition.as_ref().is_none_or(|c| eval(c, event))
    }

    /// Groups of literals such that any matching event holds a literal of every group: a
    /// literal is `(field, folded, literal)`, where the field's text (ASCII-lowercased when
    /// `folded`) contains the literal. Empty when the condition names none (a `not`, a
    /// regex, a number, an empty string, ...). `detc hunt` skips a rule without evaluating
    /// it when an event lacks every literal of one of its groups.
    pub(crate) fn required_literals(&self) -> Vec<Group<'_>> {
        self.condition.as_ref().map(required).unwrap_or_default()
    }

    /// The test that decides the verdict, for telling a user why a case failed: the first
    /// test that keeps the rule from matching, or the first that made it match.
    pub(crate) fn explain(&self, event: &Value) -> Option<Explanation> {
        let c = self.condition.as_ref()?;
        decisive(c, event, eval(c, &event), false).map(|(p, negated)| Explanation {
            span: p.span,
            field: p.field.clone(),
            negated,
            held: test_holds(p, &event),
            values: values(event, &p.field)
                .into_iter()
                .map(|v| v.to_string())
                .collect(),
        })
    }
}

/// The test behind a verdict, and what the event holds in its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Explanation {
    pub(crate) span: Span,
    pub(crate) field: String,
    /// Whether the test itself held.
    pub(crate) held: bool,
    /// Whether the test sits under an odd number of `not`s.
    pub(crate) negated: bool,
    /// The field's values in the event, as JSON; empty when absent.
    pub(crate) values: Vec<String>,
}

fn node(c: &ir::Cond) -> Result<Node, EvalError> {
    Ok(match c {
        ir::Cond::And(cs) => Node::And(cs.iter().map(node).collect::<Result<_, _>>()?),
        ir::Cond::Or(cs) => Node::Or(cs.iter().map(node).collect::<Result<_, _>>()?),
        ir::Cond::Not(c) => Node::Not(Box::new(node(c)?)),
        ir::Cond::Atom(a) => Node::Test(Box::new(Prepared {
            field: a.field.name.clone(),
            slot: None,
            test: check(&a.test, a.span)?,
            span: a.span,
        })),
    })
}

fn check(test: &Test, span: Span) -> Result<Check, EvalError> {
    let fold = |case: &Case| *case == Case::Insensitive;
    let strings = |vs: &[String], case: &Case, how| Check::Strings {
        values: vs
            .iter()
            .map(|v| {
                if fold(case) {
                    v.to_ascii_lowercase()
                } else {
                    v.clone()
                }
            })
            .collect(),
        fold: fold(case),
        how,
    };
    let regex = |re: pattern::Regex, case: Case| {
        regex::Regex::new(&re.to_perl(case))
            .map(Check::Regex)
            .map_err(|e| EvalError {
                span,
                message: format!("pattern does not compile: {e}"),
            })
    };
    Ok(match test {
        Test::Equals(vs, case) => match vs.first() {
            Some(Scalar::Num(_)) => Check::Numbers(
                vs.iter()
                    .filter_map(|v| match v {
                        Scalar::Num(n) => Some(n.as_f64()),
                        _ => None,
                    })
                    .collect(),
            ),
            Some(Scalar::Bool(_)) => Check::Bools(
                vs.iter()
                    .filter_map(|v| match v {
                        Scalar::Bool(b) => Some(*b),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => {
                let strs: Vec<String> = vs
                    .iter()
                    .filter_map(|v| match v {
                        Scalar::Str(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect();
                strings(&strs, case, Affix::Whole)
            }
        },
        Test::Contains(vs, case) => strings(vs, case, Affix::Contains),
        Test::StartsWith(vs, case) => strings(vs, case, Affix::Prefix),
        Test::EndsWith(vs, case) => strings(vs, case, Affix::Suffix),
        Test::Like(ws, case) => regex(pattern::Regex::from_wildcards(ws), *case)?,
        Test::Matches(re, case) => regex(re.clone(), *case)?,
        Test::Compare(op, n) => Check::Compare(*op, n.as_f64()),
        Test::InCidr(nets) => Check::Cidr(nets.clone()),
        Test::Exists => Check::Exists,
        Test::Field(op, other, case) => Check::Fields {
            other: other.name.clone(),
            other_slot: None,
            op: *op,
            ty: other.ty,
            fold: fold(case),
        },
    })
}

/// One of these literals is in every matching event (see [`Matcher::required_literals`]).
pub(crate) type Group<'m> = Vec<(&'m str, bool, &'m str)>;

/// See [`Matcher::required_literals`]: an `and` needs every group its operands need; an
/// `or` needs one group, made of one group of each operand (the smallest).
fn required(n: &Node) -> Vec<Group<'_>> {
    match n {
        Node::Test(p) => match &p.test {
            Check::Strings { values, fold, .. }
                if !values.is_empty() && values.iter().all(|v| !v.is_empty()) =>
            {
                vec![
                    values
                        .iter()
                        .map(|v| (p.field.as_str(), *fold, v.as_str()))
                        .collect(),
                ]
            }
            _ => Vec::new(),
        },
        Node::And(ns) => ns.iter().flat_map(required).collect(),
        Node::Or(ns) => ns
            .iter()
            .map(|n| required(n).into_iter().min_by_key(Vec::len))
            .collect::<Option<Vec<_>>>()
            .map(|all| vec![all.concat()])
            .unwrap_or_default(),
        Node::Not(_) => Vec::new(),
    }
}

fn eval<'e>(n: &Node, event: &impl Fields<'e>) -> bool {
    match n {
        Node::And(ns) => ns.iter().all(|n| eval(n, event)),
        Node::Or(ns) => ns.iter().any(|n| eval(n, event)),
        Node::Not(n) => !eval(n, event),
        Node::Test(p) => test_holds(p, event),
    }
}

fn test_holds<'e>(p: &Prepared, event: &impl Fields<'e>) -> bool {
    if let Check::Fields {
        other,
        other_slot,
        op,
        ty,
        fold,
    } = &p.test
    {
        let one = |field, slot| one_value(&event.leaves(field, slot), *ty, *fold);
        return compared(&one(&p.field, p.slot), &one(other, *other_slot), *op);
    }
    event.leaves(&p.field, p.slot).iter().any(|v| holds(p, v))
}

/// A field's value as a field comparison reads it, as its type (numbers and booleans also
/// from their text, as other tests read them; strings lowercased when `fold`). `None` when
/// the field is absent, holds a value not of its type, or several different values
/// (repeats of one value count once; `A` and `a` are two): the test fails (README, "Field
/// comparisons").
fn one_value(leaves: &[Leaf], ty: ir::FieldType, fold: bool) -> Option<Typed> {
    let typed = |leaf: &Leaf| {
        Some(match ty {
            ir::FieldType::String => Typed::Str(leaf.text()?.to_string()),
            ir::FieldType::Number => Typed::Num(number(leaf.value)?),
            ir::FieldType::Boolean => Typed::Bool(boolean(leaf.value)?),
            // As an address: `10.0.0.1` and `::ffff:10.0.0.1` are one.
            ir::FieldType::Ip => {
                Typed::Ip(leaf.text()?.trim().parse::<IpAddr>().ok()?.to_canonical())
            }
        })
    };
    let (first, rest) = leaves.split_first()?;
    let value = typed(first)?;
    for leaf in rest {
        if typed(leaf)? != value {
            return None;
        }
    }
    Some(match value {
        Typed::Str(s) if fold => Typed::Str(s.to_lowercase()),
        v => v,
    })
}

/// `field`'s value in `event` as a field comparison reads it ([`one_value`]).
pub(crate) fn compared_value(
    event: &Value,
    field: &str,
    ty: ir::FieldType,
    fold: bool,
) -> Option<Typed> {
    let leaves: Vec<Leaf> = (&event).leaves(field, None).into_owned();
    one_value(&leaves, ty, fold)
}

/// Whether `a OP b` holds: false when either is absent.
pub(crate) fn compared(a: &Option<Typed>, b: &Option<Typed>, op: NumOp) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.compare(b).is_some_and(|o| in_order(op, o)),
        _ => false,
    }
}

/// One value of a field comparison.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Typed {
    Str(String),
    Num(f64),
    Bool(bool),
    Ip(IpAddr),
}

impl Typed {
    fn compare(&self, other: &Typed) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Typed::Str(a), Typed::Str(b)) => Some(a.cmp(b)),
            (Typed::Num(a), Typed::Num(b)) => a.partial_cmp(b),
            (Typed::Bool(a), Typed::Bool(b)) => Some(a.cmp(b)),
            (Typed::Ip(a), Typed::Ip(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

/// Whether two values in `order` pass `op`.
fn in_order(op: NumOp, order: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        NumOp::Lt => order == Less,
        NumOp::Le => order != Greater,
        NumOp::Gt => order == Greater,
        NumOp::Ge => order != Less,
        NumOp::Eq => order == Equal,
        NumOp::Ne => order != Equal,
    }
}

/// The innermost test that decides `n`'s value `verdict` on this event, and whether it sits
/// under a `not`.
fn decisive<'a>(
    n: &'a Node,
    event: &Value,
    verdict: bool,
    negated: bool,
) -> Option<(&'a Prepared, bool)> {
    match n {
        Node::Test(p) => Some((p, negated)),
        Node::Not(inner) => decisive(inner, event, !verdict, !negated),
        // An `and` is false by its first false operand, true by all (the first stands in);
        // an `or` is true by its first true operand, false by all.
        Node::And(ns) | Node::Or(ns) => {
            let key = matches!(n, Node::Or(_)) == verdict;
            let pick = if key {
                ns.iter().find(|c| eval(c, &event) == verdict)
            } else {
                ns.first()
            };
            pick.and_then(|c| decisive(c, event, verdict, negated))
        }
    }
}

/// Whether one present value of the field passes the test.
fn holds(p: &Prepared, leaf: &Leaf) -> bool {
    let v = leaf.value;
    match &p.test {
        Check::Exists => true,
        Check::Fields { .. } => unreachable!("`test_holds` compares two fields itself"),
        Check::Strings { values, fold, how } => {
            let text = if *fold { leaf.folded() } else { leaf.text() };
            text.is_some_and(|s| {
                values.iter().any(|want| match how {
                    Affix::Whole => s == want,
                    Affix::Contains => s.contains(want.as_str()),
                    Affix::Prefix => s.starts_with(want.as_str()),
                    Affix::Suffix => s.ends_with(want.as_str()),
                })
            })
        }
        Check::Regex(re) => leaf.text().is_some_and(|s| re.is_match(s)),
        Check::Numbers(ns) => number(v).is_some_and(|x| ns.contains(&x)),
        Check::Compare(op, n) => number(v).is_some_and(|x| match op {
            NumOp::Lt => x < *n,
            NumOp::Le => x <= *n,
            NumOp::Gt => x > *n,
            NumOp::Ge => x >= *n,
            NumOp::Eq => x == *n,
            NumOp::Ne => x != *n,
        }),
        Check::Bools(bs) => boolean(v).is_some_and(|b| bs.contains(&b)),
        Check::Cidr(nets) => leaf
            .text()
            .and_then(|s| s.trim().parse::<IpAddr>().ok())
            .is_some_and(|ip| nets.iter().any(|n| n.contains(ip))),
    }
}

/// A value as text: strings as they are, numbers and booleans as JSON writes them.
pub(crate) fn text(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        Value::String(s) => Some(s.as_str().into()),
        Value::Number(n) => Some(n.to_string().into()),
        Value::Bool(b) => Some(b.to_string().into()),
        _ => None,
    }
}

/// A value as a number: JSON numbers, and strings that hold one.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    }
}

fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Every non-null value of a dotted field, however the event spells the path: dotted keys,
/// nested objects, or a mix; arrays (of values or of objects) give all their elements.
pub(crate) fn values<'a>(event: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    collect(event, path, &mut out);
    out
}

fn collect<'a>(v: &'a Value, path: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| collect(i, path, out)),
        Value::Object(map) => {
            if let Some(found) = map.get(path) {
                leaves(found, out);
            }
            for (i, _) in path.match_indices('.') {
                if let Some(child) = map.get(&path[..i]) {
                    collect(child, &path[i + 1..], out);
                }
            }
        }
        _ => {}
    }
}

/// A field's values; `null` and `""` are absent (Kusto stores an absent string as `""`, so
/// the language reads the two alike on every target).
fn leaves<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Null => {}
        Value::String(s) if s.is_empty() => {}
        Value::Array(items) => items.iter().for_each(|i| leaves(i, out)),
        other => out.push(other),
    }
}

/// A written test case as an event: dotted keys, as the rule names its fields.
pub(crate) fn test_event(case: &ir::TestCase) -> Value {
    let scalar = |s: &Scalar| match s {
        Scalar::Str(s) => Value::String(s.clone()),
        Scalar::Num(ir::Number::Int(i)) => Value::from(*i),
        Scalar::Num(ir::Number::Float(f)) => Value::from(*f),
        Scalar::Bool(b) => Value::Bool(*b),
    };
    Value::Object(
        case.event
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    ir::TestValue::Scalar(s) => scalar(s),
                    ir::TestValue::List(items) => Value::Array(items.iter().map(scalar).collect()),
                };
                (k.clone(), value)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::{self, Config};
    use serde_json::json;

    fn matcher(cond: &str, source: &str) -> Matcher {
        let text = format!(
            "rule r \"t\" {{\n  id = \"4c0b3f0e-8f4e-4d8e-9a63-2f3e0b6f6a11\"\n  severity = low\n  from {source}\n  where {cond}\n}}\n"
        );
        let config = Config::load(&[], &[]).expect("config");
        let p = project::check_text("t.det", &text, &config);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        Matcher::new(&p.rules[0]).expect("single-event")
    }

    fn check(cond: &str, event: Value) -> bool {
        let source = if cond.contains(".ip") || cond.contains(".port") {
            "network_connection"
        } else {
            "process_start"
        };
        matcher(cond, source).matches(&event)
    }

    /// The literals `detc hunt` prefilters on: an `and` needs each operand's group, an `or`
    /// one group of all of its operands' literals; `not`, regexes and numbers need none.
    #[test]
    fn required_literals_follow_the_boolean_shape() {
        let lits = |cond: &str| {
            matcher(cond, "process_start")
                .required_literals()
                .into_iter()
                .map(|group| {
                    group
                        .into_iter()
                        .map(|(f, folded, l)| format!("{f}:{folded}:{l}"))
                        .collect::<Vec<_>>()
                        .join(" | ")
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            lits(r#"process.name contains "AnyDesk" and user.name in ["a", "b"]"#),
            [
                "process.name:true:anydesk",
                "user.name:true:a | user.name:true:b"
            ]
        );
        assert_eq!(
            lits(r#"process.name == "a.exe" or process.command_line contains cased "X""#),
            ["process.name:true:a.exe | process.command_line:false:X"]
        );
        assert_eq!(
            lits(r#"(process.name == "a" and user.name == "b") or user.name in ["c", "d"]"#),
            ["process.name:true:a | user.name:true:c | user.name:true:d"]
        );
        assert!(lits(r#"process.name == "a" or process.pid > 4"#).is_empty());
        assert!(lits(r#"not process.name == "a""#).is_empty());
        assert!(lits(r#"process.name matches "a.*""#).is_empty());
    }

    #[test]
    fn nested_dotted_and_mixed_paths() {
        let c = r#"process.parent.name == "cmd.exe""#;
        assert!(check(
            c,
            json!({"process": {"parent": {"name": "CMD.EXE"}}})
        ));
        assert!(check(c, json!({"process.parent.name": "cmd.exe"})));
        assert!(check(c, json!({"process": {"parent.name": "cmd.exe"}})));
        assert!(check(c, json!({"process.parent": {"name": "cmd.exe"}})));
        assert!(!check(c, json!({"process": {"name": "cmd.exe"}})));
    }

    #[test]
    fn arrays_match_any_element_and_null_is_absent() {
        let c = r#"process.name == "a.exe""#;
        assert!(check(c, json!({"process": {"name": ["x", "A.EXE"]}})));
        assert!(check(
            c,
            json!({"process": [{"name": "b"}, {"name": "a.exe"}]})
        ));
        assert!(!check(
            "exists process.name",
            json!({"process": {"name": null}})
        ));
        assert!(!check(
            "exists process.name",
            json!({"process": {"name": ""}})
        ));
        assert!(check("not exists process.name", json!({})));
        assert!(check("exists process.pid", json!({"process": {"pid": 0}})));
        // `!=` and `not in` hold for an absent field.
        assert!(check(r#"process.name != "a""#, json!({})));
        assert!(check(
            r#"process.name not in ["a", "b"]"#,
            json!({"process": {"name": "c"}})
        ));
        assert!(!check(
            r#"process.name not in ["a", "b"]"#,
            json!({"process": {"name": "B"}})
        ));
    }

    #[test]
    fn case_folds_ascii_and_cased_is_exact() {
        assert!(check(
            r#"process.name == "AnyDesk.exe""#,
            json!({"process.name": "anydesk.EXE"})
        ));
        assert!(!check(
            r#"process.name == cased "AnyDesk.exe""#,
            json!({"process.name": "anydesk.exe"})
        ));
        assert!(check(
            r#"process.command_line contains "--PIN=""#,
            json!({"process.command_line": "x --pin=1"})
        ));
        assert!(check(
            r#"process.name startswith cased "Any""#,
            json!({"process.name": "AnyDesk"})
        ));
        assert!(!check(
            r#"process.name endswith cased "EXE""#,
            json!({"process.name": "a.exe"})
        ));
        // A non-ASCII cased letter folds too: the check stage made it a pattern.
        assert!(check(
            r#"user.name == "ÉLODIE""#,
            json!({"user.name": "élodie"})
        ));
        assert!(!check(
            r#"user.name == cased "ÉLODIE""#,
            json!({"user.name": "élodie"})
        ));
    }

    #[test]
    fn like_wildcards_and_escapes() {
        let c = r#"process.executable like "C:\\*\\Temp\\?.exe""#;
        assert!(check(
            c,
            json!({"process.executable": "c:\\Users\\x\\temp\\a.exe"})
        ));
        assert!(!check(
            c,
            json!({"process.executable": "C:\\Users\\x\\Temp\\ab.exe"})
        ));
        let literal = r#"process.executable like "a\*b""#;
        assert!(check(literal, json!({"process.executable": "A*B"})));
        assert!(!check(literal, json!({"process.executable": "axxb"})));
        assert!(check(
            r#"process.executable like 'C:\Users\*'"#,
            json!({"process.executable": "C:\\Users\\x\ny"})
        ));
    }

    #[test]
    fn regex_subset_is_unanchored_unless_anchored() {
        assert!(check(
            r#"process.command_line matches 'remoting.*--code='"#,
            json!({"process.command_line": "x REMOTING --code=1"})
        ));
        assert!(!check(
            r#"process.command_line matches '^--code'"#,
            json!({"process.command_line": "x --code"})
        ));
        assert!(!check(
            r#"process.command_line matches 'ab$'"#,
            json!({"process.command_line": "ab\n"})
        ));
        assert!(check(
            r#"process.command_line matches cased '\d{3}'"#,
            json!({"process.command_line": "a123"})
        ));
    }

    #[test]
    fn numbers_and_numbers_as_strings() {
        assert!(check("process.pid > 4", json!({"process.pid": "5"})));
        assert!(check("process.pid == 4", json!({"process.pid": 4.0})));
        assert!(check(
            "process.pid in [1, 2]",
            json!({"process.pid": [3, 2]})
        ));
        assert!(!check("process.pid < 4", json!({"process.pid": "four"})));
        assert!(check("not process.pid < 4", json!({})));
    }

    #[test]
    fn cidr_v4_and_v6() {
        let c = r#"source.ip in cidr("10.0.0.0/8", "fd00::/8")"#;
        assert!(check(c, json!({"source.ip": "10.1.2.3"})));
        assert!(check(c, json!({"source": {"ip": "fd12::1"}})));
        assert!(!check(c, json!({"source.ip": "11.0.0.1"})));
        assert!(!check(c, json!({"source.ip": "not an ip"})));
        assert!(check(
            r#"destination.ip == "2001:db8::1""#,
            json!({"destination.ip": "2001:DB8:0::1"})
        ));
    }

    /// A field comparison reads both fields, from the event or from `detc hunt`'s slots.
    #[test]
    fn field_comparisons_read_both_fields_alike_from_slots() {
        let mut m = matcher(
            "process.name != process.parent.name and process.pid >= process.parent.pid",
            "process_start",
        );
        let events = [
            json!({"process": {"name": "a", "pid": 5, "parent": {"name": "B", "pid": "4"}}}),
            json!({"process": {"name": "a", "pid": 5, "parent": {"name": "A", "pid": 4}}}),
            json!({"process": {"name": ["a", "b"], "pid": 5, "parent": {"pid": 5}}}),
            json!({"process": {"name": "a", "pid": [5, 5.0], "parent": {"pid": 6}}}),
            json!({"process.name": "a", "process.pid": 4, "process.parent.pid": "x"}),
        ];
        let direct: Vec<bool> = events.iter().map(|e| m.matches(e)).collect();
        assert_eq!(direct, [true, false, true, false, false]);
        let mut table = FieldTable::default();
        m.intern(&mut table);
        let slotted: Vec<bool> = events
            .iter()
            .map(|e| m.matches_extracted(&table.extract(e)))
            .collect();
        assert_eq!(slotted, direct);
        assert!(m.required_literals().is_empty());
    }

    #[test]
    fn explains_the_deciding_test() {
        let m = matcher(
            r#"process.name == "a.exe" and user.name == "bob""#,
            "process_start",
        );
        let e = m
            .explain(&json!({"process.name": "a.exe", "user.name": "eve"}))
            .expect("why");
        assert_eq!(e.field, "user.name");
        assert!(!e.held);
        assert_eq!(e.values, ["\"eve\""]);
    }
}
