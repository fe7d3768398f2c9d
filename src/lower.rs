//! The lowering every target shares: IR + a target's mapping → the pieces of query text.
//!
//! Every target has the same shape: a function per IR node, an escaping function for its
//! string literals, and an error for each form it cannot say exactly. What they share is
//! here, written once: the boolean skeleton (negation pushed down to the tests, grouping,
//! parentheses), source and field lookup in the mapping, source filters, `having` clauses,
//! aggregate naming and the computed fields a query needs.

use crate::base::diag::Diagnostic;
use crate::base::{Case, Code, Span, Wildcard};
use crate::ir::{self, Atom, Cond};
use crate::schema::{FilterScalar, FilterValue, Mapping, SourceMapping};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Spl,
    Kql,
    Eql,
    Esql,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Spl => "spl",
            Language::Kql => "kql",
            Language::Eql => "eql",
            Language::Esql => "esql",
        }
    }
    /// The file extension of compiled output.
    pub fn extension(self) -> &'static str {
        self.as_str()
    }
}

/// One query for one rule in one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    pub language: Language,
    pub query: String,
}

/// A form a target cannot express exactly, or a mapping gap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub code: Code,
    pub(crate) span: Span,
    pub message: String,
    pub(crate) hint: Option<String>,
}

impl CompileError {
    pub(crate) fn new(code: Code, span: Span, message: impl Into<String>) -> Self {
        CompileError {
            code,
            span,
            message: message.into(),
            hint: None,
        }
    }
    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    /// The diagnostic, naming the rule and the target.
    pub(crate) fn into_diagnostic(self, rule: &ir::Rule, target: &str) -> Diagnostic {
        let mut d = Diagnostic::error(
            &rule.file,
            self.span,
            self.code,
            format!(
                "rule `{}` cannot compile for {}: {}",
                rule.name, target, self.message
            ),
        );
        d.hint = self.hint;
        d
    }
}

pub(crate) type Result<T> = std::result::Result<T, CompileError>;

/// A sequence's steps read sources that no event of the target belongs to both of, so
/// each step takes only its own source's events, as in the evaluator: `apart` says when the
/// target's selection (category, table) tells two sources apart, or a filter field both
/// set to values no event holds at once does. Otherwise E0404 names the two sources.
pub(crate) fn steps_apart(
    steps: &[ir::Query],
    mapping: &Mapping,
    span: Span,
    language: &str,
    apart: impl Fn(&SourceMapping, &SourceMapping) -> bool,
) -> Result<()> {
    let filters_apart = |a: &SourceMapping, b: &SourceMapping| {
        let (Some(fa), Some(fb)) = (&a.filter, &b.filter) else {
            return false;
        };
        fa.iter().any(|(k, va)| {
            fb.get(k)
                .is_some_and(|vb| va.values().iter().all(|x| !vb.values().contains(x)))
        })
    };
    for (i, a) in steps.iter().enumerate() {
        for b in &steps[i + 1..] {
            let (sa, sb) = (source_mapping(mapping, a)?, source_mapping(mapping, b)?);
            if a.source != b.source && !apart(sa, sb) && !filters_apart(sa, sb) {
                return Err(CompileError::new(
                    Code::E0404,
                    span,
                    format!(
                        "{language} cannot tell `{}` events from `{}` events (the mapping reads \
                         both from the same data), so a step could take the other source's events",
                        a.source, b.source
                    ),
                )
                .hint(
                    "give one of the sources a filter that excludes the other's events in the \
                     target's mapping, or use one source in both steps",
                ));
            }
        }
    }
    Ok(())
}

/// A `tunable` list a rule tests, as its target packages it: its name, its default values,
/// the cases it is tested with, and where the rule first tests it.
pub(crate) struct TunableList {
    pub(crate) name: String,
    pub(crate) values: Vec<String>,
    pub(crate) cases: BTreeSet<Case>,
    pub(crate) span: Span,
}

/// The tunable lists the rule tests, each once, by name.
pub(crate) fn tunable_lists(rule: &ir::Rule) -> Vec<TunableList> {
    let mut out: Vec<TunableList> = Vec::new();
    for q in rule.kind.queries() {
        let Some(c) = &q.condition else { continue };
        c.visit_atoms(&mut |a| {
            let (Some(name), ir::Test::Equals(vs, case)) = (&a.tunable, &a.test) else {
                return;
            };
            if let Some(l) = out.iter_mut().find(|l| l.name == *name) {
                l.cases.insert(*case);
                return;
            }
            out.push(TunableList {
                name: name.clone(),
                values: vs
                    .iter()
                    .filter_map(|v| match v {
                        ir::Scalar::Str(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect(),
                cases: BTreeSet::from([*case]),
                span: a.span,
            });
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Where a query's source lives on the mapping's target.
pub(crate) fn source_mapping<'m>(
    mapping: &'m Mapping,
    query: &ir::Query,
) -> Result<&'m SourceMapping> {
    mapping.sources.get(&query.source).ok_or_else(|| {
        CompileError::new(
            Code::E0401,
            query.source_span,
            format!("source `{}` has no mapping", query.source),
        )
        .hint(format!(
            "add `{}` under `sources:` in targets/{}.yaml or a --mapping file",
            query.source, mapping.target
        ))
    })
}

/// The target's name for a logical field (its own entry or its family's pattern, see
/// [`SourceMapping::field`]).
pub(crate) fn field_name<'m>(
    source: &'m SourceMapping,
    field: &ir::Field,
    source_name: &str,
) -> Result<Cow<'m, str>> {
    source.field(&field.name).ok_or_else(|| {
        CompileError::new(
            Code::E0402,
            field.span,
            format!(
                "field `{}` of `{source_name}` has no name on this target",
                field.name
            ),
        )
        .hint("map it under the source's `fields:` in the target's mapping file")
    })
}

/// A condition with `not` pushed down onto the tests (De Morgan), so each target only
/// renders a test or its negation, and decides itself how an absent field reads.
#[derive(Debug, PartialEq)]
pub(crate) enum Nnf<'a> {
    And(Vec<Nnf<'a>>),
    Or(Vec<Nnf<'a>>),
    Test { atom: &'a Atom, negated: bool },
}

pub(crate) fn nnf(cond: &Cond, negated: bool) -> Nnf<'_> {
    match (cond, negated) {
        (Cond::And(cs), false) | (Cond::Or(cs), true) => {
            Nnf::And(cs.iter().map(|c| nnf(c, negated)).collect())
        }
        (Cond::Or(cs), false) | (Cond::And(cs), true) => {
            Nnf::Or(cs.iter().map(|c| nnf(c, negated)).collect())
        }
        (Cond::Not(c), _) => nnf(c, !negated),
        (Cond::Atom(atom), _) => Nnf::Test { atom, negated },
    }
}

/// Join a condition with the target's words for `and`/`or`; groups of more than one
/// operand are always parenthesised when nested, so no target's precedence matters.
pub(crate) fn join<'a>(
    n: &Nnf<'a>,
    and: &str,
    or: &str,
    test: &mut dyn FnMut(&'a Atom, bool) -> Result<String>,
) -> Result<String> {
    let (parts, sep) = match n {
        Nnf::Test { atom, negated } => return test(atom, *negated),
        Nnf::And(parts) => (parts, and),
        Nnf::Or(parts) => (parts, or),
    };
    let rendered = parts
        .iter()
        .map(|p| {
            let s = join(p, and, or, test)?;
            Ok(match p {
                Nnf::And(ps) | Nnf::Or(ps) if ps.len() > 1 => format!("({s})"),
                _ => s,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(rendered.join(sep))
}

/// A double-quoted string literal with backslash escapes, as KQL, EQL and ES|QL read one:
/// `"` and `\` escaped, newline, return and tab by name, and other control characters
/// written by `control` (or kept as they are).
pub(crate) fn quoted(s: &str, control: Option<fn(char) -> String>) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    // Copy the runs between escapes whole.
    let mut run = 0;
    for (i, c) in s.char_indices() {
        let escaped: Cow<str> = match c {
            '"' => "\\\"".into(),
            '\\' => "\\\\".into(),
            '\n' => "\\n".into(),
            '\r' => "\\r".into(),
            '\t' => "\\t".into(),
            c if c.is_control() => match control {
                Some(f) => f(c).into(),
                None => continue,
            },
            _ => continue,
        };
        out.push_str(&s[run..i]);
        out.push_str(&escaped);
        run = i + c.len_utf8();
    }
    out.push_str(&s[run..]);
    out.push('"');
    out
}

/// A source filter: `f == "v"`, `f == 1` (an integer column), or `f in ("a", "b")` (`any_of`:
/// KQL and EQL `in`, ES|QL `IN`).
pub(crate) fn filter_test(
    f: &str,
    value: &FilterValue,
    quote: fn(&str) -> String,
    any_of: &str,
) -> String {
    let literal = |v: &FilterScalar| match v {
        FilterScalar::Int(i) => i.to_string(),
        FilterScalar::Str(s) => quote(s),
    };
    match value.values() {
        [one] => format!("{f} == {}", literal(one)),
        // An empty list admits no event.
        [] => "false".to_string(),
        many => {
            let items: Vec<String> = many.iter().map(literal).collect();
            format!("{f} {any_of} ({})", items.join(", "))
        }
    }
}

/// Several alternatives joined with `sep`, parenthesised when there is more than one.
pub(crate) fn group(parts: impl IntoIterator<Item = String>, sep: &str) -> String {
    let mut parts: Vec<String> = parts.into_iter().collect();
    if parts.len() == 1 {
        parts.pop().unwrap_or_default()
    } else {
        format!("({})", parts.join(sep))
    }
}

/// Substring tests (and exact values) as whole-value wildcard patterns, for targets that
/// say them best as one pattern.
pub(crate) fn affix_patterns(
    values: &[String],
    any_before: bool,
    any_after: bool,
) -> Vec<Wildcard> {
    values
        .iter()
        .map(|v| Wildcard::affix(v, any_before, any_after))
        .collect()
}

/// Join a `having` clause with the target's words for `and`/`or`; each term is rendered by
/// `term`. A nested group of the other operator is parenthesised, one of the same operator
/// stays flat.
pub(crate) fn join_having(
    h: &ir::Having,
    and: &str,
    or: &str,
    term: &mut dyn FnMut(&ir::HavingTerm) -> Result<String>,
) -> Result<String> {
    let (parts, sep) = match h {
        ir::Having::Term(t) => return term(t),
        ir::Having::And(ps) => (ps, and),
        ir::Having::Or(ps) => (ps, or),
    };
    let rendered = parts
        .iter()
        .map(|p| {
            let s = join_having(p, and, or, term)?;
            Ok(match (h, p) {
                (ir::Having::And(_), ir::Having::And(_))
                | (ir::Having::Or(_), ir::Having::Or(_)) => s,
                (_, ir::Having::And(ps) | ir::Having::Or(ps)) if ps.len() > 1 => format!("({s})"),
                _ => s,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(rendered.join(sep))
}

/// The aggregates of a `having` clause, each once, in order of first use, under a name of
/// its own: a new one is named `stem`, else `stem_2`, `stem_3`, ... so that no name repeats
/// or takes one of `taken` (the group keys' columns). Every target names its aggregates here.
pub(crate) struct AggregateNames<'k> {
    /// (name, the target's expression for the aggregate).
    named: Vec<(String, String)>,
    taken: &'k [String],
}

impl<'k> AggregateNames<'k> {
    pub(crate) fn new(taken: &'k [String]) -> Self {
        AggregateNames {
            named: Vec::new(),
            taken,
        }
    }

    /// The name of the aggregate the target writes `expr`: the one it already has, or a new
    /// one from `stem`.
    pub(crate) fn name(&mut self, stem: &str, expr: String) -> String {
        if let Some((name, _)) = self.named.iter().find(|(_, e)| *e == expr) {
            return name.clone();
        }
        let used =
            |n: &str| self.named.iter().any(|(m, _)| m == n) || self.taken.iter().any(|t| t == n);
        let mut name = stem.to_string();
        let mut n = 1;
        while used(&name) {
            n += 1;
            name = format!("{stem}_{n}");
        }
        self.named.push((name.clone(), expr));
        name
    }

    /// (name, expression) of every aggregate, in order of first use.
    pub(crate) fn named(&self) -> &[(String, String)] {
        &self.named
    }
}

/// Check a mapping-supplied name against what the target can use unquoted.
pub(crate) fn plain_identifier(name: &str, extra: &[char]) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || extra.contains(&c))
}

/// A source's computed fields (`extend`, but the per-member keys with a `*`) that a query
/// needs, in mapping order: those a field in `used` is read from, and those that a needed
/// one's expression, or one of `also_read` (other expressions the query carries), names.
/// Each is (name, expression: KQL on Sentinel, an SPL pipeline on Splunk).
pub(crate) fn computed_fields<'m>(
    src: &'m SourceMapping,
    used: &[&ir::Field],
    also_read: &[&str],
) -> Vec<(&'m str, &'m str)> {
    let own: Vec<(&str, &str)> = src
        .extend
        .iter()
        .flatten()
        .filter(|(name, _)| !name.contains('*'))
        .map(|(n, e)| (n.as_str(), e.as_str()))
        .collect();
    let mut needed: Vec<&str> = own
        .iter()
        .filter(|(name, _)| {
            used.iter()
                .any(|f| src.field(&f.name).is_some_and(|n| *n == **name))
        })
        .map(|(name, _)| *name)
        .collect();
    // The expressions to read for names (a worklist: each once).
    let mut exprs: Vec<&str> = also_read.to_vec();
    exprs.extend(
        own.iter()
            .filter(|(n, _)| needed.contains(n))
            .map(|(_, e)| *e),
    );
    let mut next = 0;
    while let Some(expr) = exprs.get(next).copied() {
        for (name, own_expr) in &own {
            if !needed.contains(name) && names(expr, name) {
                needed.push(name);
                exprs.push(own_expr);
            }
        }
        next += 1;
    }
    // In mapping order, but each after the columns its expression names.
    let mut pending: Vec<(&str, &str)> = own
        .into_iter()
        .filter(|(n, _)| needed.contains(n))
        .collect();
    let mut out: Vec<(&str, &str)> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|(n, e)| {
                !pending
                    .iter()
                    .any(|(other, _)| other != n && names(e, other))
            })
            .unwrap_or(0);
        out.push(pending.remove(ready));
    }
    out
}

/// How a target writes a computed fact column: `(column, key column, groups, the fact's
/// type)` → the `extend` entry (an SPL `eval case(...)`, a KQL or ES|QL `case`/`CASE`),
/// where each group is a fact value and the keys that have it; null for any other key.
pub(crate) type FactColumn =
    fn(&str, &str, &[(&ir::Scalar, Vec<&ir::Scalar>)], ir::FieldType) -> String;

/// The mapping a rule over the [`ir::ALERTS`] source compiles with: `mapping` with a computed
/// column for each `rule.*` field of that source other than its `facts` field, the one the
/// target's alert store names the raising rule by. The column maps each rule of `rules`
/// that reads no alerts (whose alerts the source holds) from its value of the `facts` field
/// to its value of the column's field, one test per value (not per rule), so a query stays
/// within the SIEMs' length limits. Unchanged when the mapping has no alerts source or no
/// `facts`.
pub(crate) fn with_facts(mapping: &Mapping, rules: &[ir::Rule], column: FactColumn) -> Mapping {
    let mut out = mapping.clone();
    let Some(src) = out.sources.get_mut(ir::ALERTS) else {
        return out;
    };
    let Some(k) = src
        .facts
        .as_deref()
        .and_then(|key| ir::RULE_FACTS.iter().position(|(n, _)| *n == key))
    else {
        return out;
    };
    let Some(key_column) = src.field(ir::RULE_FACTS[k].0).map(Cow::into_owned) else {
        return out;
    };
    let raising: Vec<[ir::Scalar; 5]> = rules
        .iter()
        .filter(|r| !r.reads_alerts())
        .map(ir::Rule::facts)
        .collect();
    for (j, (name, ty)) in ir::RULE_FACTS.iter().enumerate() {
        let Some(col) = src.field(name).map(Cow::into_owned).filter(|_| j != k) else {
            continue;
        };
        let mut groups: Vec<(&ir::Scalar, Vec<&ir::Scalar>)> = Vec::new();
        for f in &raising {
            match groups.iter_mut().find(|(v, _)| **v == f[j]) {
                Some((_, keys)) => keys.push(&f[k]),
                None => groups.push((&f[j], vec![&f[k]])),
            }
        }
        let expr = column(&col, &key_column, &groups, *ty);
        src.extend
            .get_or_insert_with(Default::default)
            .insert(col, expr);
    }
    out
}

/// Whether `expr` names `name` as a whole identifier (letters, digits, `_`).
fn names(expr: &str, name: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    expr.match_indices(name)
        .any(|(i, _)| !expr[..i].ends_with(ident) && !expr[i + name.len()..].starts_with(ident))
}

/// Every field a rule reads anywhere (conditions, keys, aggregates, alert fields): the
/// fields whose computed columns (Sentinel `extend`, Splunk `extend`) its queries need.
/// The fields some queries of a rule (a sequence's steps from one search) read, and the
/// keys: what that search must compute, where [`fields_used`] is the whole rule's.
pub(crate) fn fields_read<'a>(
    queries: impl IntoIterator<Item = &'a ir::Query>,
    keys: &'a [ir::Field],
) -> Vec<&'a ir::Field> {
    let mut out: Vec<&ir::Field> = keys.iter().collect();
    for q in queries {
        if let Some(c) = &q.condition {
            c.visit_atoms(&mut |a| out.extend(a.fields()));
        }
    }
    out
}

pub(crate) fn fields_used(rule: &ir::Rule) -> Vec<&ir::Field> {
    let mut out: Vec<&ir::Field> = Vec::new();
    for q in rule.kind.queries() {
        if let Some(c) = &q.condition {
            c.visit_atoms(&mut |a| out.extend(a.fields()));
        }
    }
    match &rule.kind {
        ir::RuleKind::Single(_) => {}
        ir::RuleKind::Aggregate {
            group_by,
            having: h,
            ..
        } => {
            out.extend(group_by.iter().map(|k| &k.field));
            h.visit_fields(&mut |f| out.push(f));
        }
        ir::RuleKind::Sequence { keys, links, .. } => {
            out.extend(keys.iter().flatten());
            out.extend(links.iter().flat_map(|l| l.atom.fields()));
        }
        ir::RuleKind::FirstSeen { field, by, .. } => {
            out.push(field);
            out.extend(by);
        }
    }
    out.extend(&rule.fields);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::Case;
    use crate::ir::{Field, FieldType, Test};

    fn atom(name: &str) -> Cond {
        Cond::Atom(Atom {
            field: Field {
                name: name.into(),
                ty: FieldType::String,
                span: Span::default(),
            },
            test: Test::Exists,
            tunable: None,
            span: Span::default(),
        })
    }

    #[test]
    fn negation_moves_onto_tests() {
        let c = Cond::Not(Box::new(Cond::And(vec![
            atom("a"),
            Cond::Not(Box::new(atom("b"))),
        ])));
        let out = join(&nnf(&c, false), " and ", " or ", &mut |a, neg| {
            Ok(format!("{}{}", if neg { "!" } else { "" }, a.field.name))
        })
        .unwrap();
        assert_eq!(out, "!a or b");
    }

    #[test]
    fn nested_groups_are_parenthesised() {
        let c = Cond::Or(vec![Cond::And(vec![atom("a"), atom("b")]), atom("c")]);
        let out = join(&nnf(&c, false), " AND ", " OR ", &mut |a, _| {
            Ok(a.field.name.clone())
        })
        .unwrap();
        assert_eq!(out, "(a AND b) OR c");
        let _ = Case::Insensitive;
    }
}
