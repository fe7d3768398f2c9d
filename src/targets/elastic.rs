//! Elastic: EQL (`category where ...`) and ES|QL (`FROM index | WHERE ...`).
//!
//! EQL: case-insensitive equality is `in~`, substrings use the `~` functions, patterns use
//! `regex` with the case folding spelled out in the pattern. A negated EQL test needs no
//! guard: EQL's `not` holds for events that lack the field.
//! ES|QL: case-insensitive equality compares `TO_LOWER(field)`, every pattern (and
//! substring) test is `RLIKE`, and `NOT COALESCE(test, FALSE)` keeps a null from hiding
//! an event from a negated test.

use super::{
    CompileError, Compiled, Language, Result, affix_patterns, field_name, group, join, nnf,
    not_yet, plain_identifier, quoted, source_mapping,
};
use crate::ir;
use crate::ir::{Atom, Case, FieldType, Query, Scalar, Test, Wildcard};
use crate::pattern::Regex;
use crate::schema::{Mapping, SourceMapping};
use std::fmt::Write as _;

/// Compile any rule; correlation forms are added form by form.
pub fn compile_rule(rule: &ir::Rule, mapping: &Mapping) -> Result<Vec<Compiled>> {
    match &rule.kind {
        ir::RuleKind::Single(q) => compile(q, source_mapping(mapping, q)?),
        other => Err(not_yet(other)),
    }
}

/// A single-event rule: the source's events that meet the condition.
pub fn compile(q: &Query, src: &SourceMapping) -> Result<Vec<Compiled>> {
    let missing = |key: &str| {
        CompileError::new(
            "E0401",
            q.source_span,
            format!("source `{}` has no `{key}`", q.source),
        )
        .hint(format!(
            "set `{key}:` for the source in the Elastic mapping"
        ))
    };
    let category = src.category.as_deref().ok_or_else(|| missing("category"))?;
    let index = src.index.as_deref().ok_or_else(|| missing("index"))?;
    if !plain_identifier(category, &[]) {
        return Err(CompileError::new(
            "E0405",
            q.source_span,
            format!("EQL event category `{category}` is not a plain name"),
        ));
    }

    let filter = |eq: &dyn Fn(&str, &str) -> String| -> Vec<String> {
        src.filter
            .iter()
            .flatten()
            .map(|(k, v)| eq(&field(k), v))
            .collect()
    };
    let mut eql_parts = filter(&|f, v| format!("{f} == {}", eql_string(v)));
    let mut esql_where = filter(&|f, v| format!("{f} == {}", string(v)));
    if let Some(cond) = &q.condition {
        let n = nnf(cond, false);
        let name = |atom: &Atom| field_name(src, &atom.field, &q.source).map(field);
        let eql = join(&n, " and ", " or ", &mut |atom, neg| {
            Ok(eql_test(atom, &name(atom)?, neg))
        })?;
        let esql = join(&n, " AND ", " OR ", &mut |atom, neg| {
            Ok(esql_test(atom, &name(atom)?, neg))
        })?;
        let wrap = |s: String, others: bool| if others { format!("({s})") } else { s };
        eql_parts.push(wrap(eql, !eql_parts.is_empty()));
        esql_where.push(esql);
    }
    let eql = if eql_parts.is_empty() {
        format!("{category} where true")
    } else {
        format!("{category} where {}", eql_parts.join(" and "))
    };
    let mut esql = format!("FROM {}", index_pattern(index));
    for w in esql_where {
        let _ = write!(esql, "\n| WHERE {w}");
    }
    Ok(vec![
        Compiled {
            language: Language::Eql,
            query: eql,
        },
        Compiled {
            language: Language::Esql,
            query: esql,
        },
    ])
}

fn eql_test(atom: &Atom, f: &str, negated: bool) -> String {
    let p = match &atom.test {
        Test::Exists => {
            return match (atom.field.ty == FieldType::String, negated) {
                (true, false) => format!("{f} != null and {f} != \"\""),
                (true, true) => format!("({f} == null or {f} == \"\")"),
                (false, false) => format!("{f} != null"),
                (false, true) => format!("{f} == null"),
            };
        }
        Test::Equals(vs, Case::Insensitive) if atom.field.ty == FieldType::String => {
            format!("{f} in~ {}", list(vs, eql_string))
        }
        Test::Equals(vs, _) if vs.len() == 1 => format!("{f} == {}", scalar(&vs[0], eql_string)),
        Test::Equals(vs, _) => format!("{f} in {}", list(vs, eql_string)),
        Test::Contains(vs, case) => calls("stringContains", f, vs, *case),
        Test::StartsWith(vs, case) => calls("startsWith", f, vs, *case),
        Test::EndsWith(vs, case) => calls("endsWith", f, vs, *case),
        Test::Like(ws, case) => any_pattern(f, "regex", eql_string, ws, *case, " or "),
        Test::Matches(re, case) => regex(f, "regex", eql_string, re, *case),
        Test::Compare(op, n) => format!("{f} {} {n}", op.as_str()),
        Test::InCidr(nets) => {
            let args: Vec<String> = nets.iter().map(|n| eql_string(&n.to_string())).collect();
            format!("cidrMatch({f}, {})", args.join(", "))
        }
    };
    if negated { format!("not ({p})") } else { p }
}

fn esql_test(atom: &Atom, f: &str, negated: bool) -> String {
    let p = match &atom.test {
        Test::Exists => {
            return match (atom.field.ty == FieldType::String, negated) {
                (true, false) => format!("({f} IS NOT NULL AND {f} != \"\")"),
                (true, true) => format!("({f} IS NULL OR {f} == \"\")"),
                (false, false) => format!("{f} IS NOT NULL"),
                (false, true) => format!("{f} IS NULL"),
            };
        }
        Test::Equals(vs, Case::Insensitive) if atom.field.ty == FieldType::String => {
            let lowered = |s: &str| string(&s.to_lowercase());
            equality(&format!("TO_LOWER({f})"), vs, lowered)
        }
        Test::Equals(vs, _) => equality(f, vs, string),
        Test::Contains(vs, case) => rlike(f, &affix_patterns(vs, true, true), *case),
        Test::StartsWith(vs, case) => rlike(f, &affix_patterns(vs, false, true), *case),
        Test::EndsWith(vs, case) => rlike(f, &affix_patterns(vs, true, false), *case),
        Test::Like(ws, case) => rlike(f, ws, *case),
        Test::Matches(re, case) => regex(f, "RLIKE", string, re, *case),
        Test::Compare(op, n) => format!("{f} {} {n}", op.as_str()),
        Test::InCidr(nets) => {
            let args: Vec<String> = nets.iter().map(|n| string(&n.to_string())).collect();
            format!("CIDR_MATCH({f}, {})", args.join(", "))
        }
    };
    if negated {
        format!("NOT COALESCE({p}, FALSE)")
    } else {
        p
    }
}

fn equality(f: &str, vs: &[Scalar], quote: impl Fn(&str) -> String) -> String {
    if vs.len() == 1 {
        format!("{f} == {}", scalar(&vs[0], quote))
    } else {
        format!("{f} IN {}", list(vs, quote))
    }
}

/// Substring and wildcard tests as whole-value `RLIKE`s, which ES|QL reads exactly.
fn rlike(f: &str, patterns: &[Wildcard], case: Case) -> String {
    any_pattern(f, "RLIKE", string, patterns, case, " OR ")
}

/// One pattern per value: Lucene turns each into an automaton, and one alternation of many
/// `.*x.*` branches could pass Elasticsearch's determinization limit.
fn any_pattern(
    f: &str,
    op: &str,
    quote: fn(&str) -> String,
    patterns: &[Wildcard],
    case: Case,
    sep: &str,
) -> String {
    let parts: Vec<String> = patterns
        .iter()
        .map(|w| regex(f, op, quote, &Regex::from_wildcard(w), case))
        .collect();
    group(parts, sep)
}

/// EQL `stringContains~(f, "a") or ...`; the `~` form is case-insensitive.
fn calls(func: &str, f: &str, vs: &[String], case: Case) -> String {
    let tilde = if case == Case::Insensitive { "~" } else { "" };
    let parts: Vec<String> = vs
        .iter()
        .map(|v| format!("{func}{tilde}({f}, {})", eql_string(v)))
        .collect();
    group(parts, " or ")
}

fn regex(f: &str, op: &str, quote: fn(&str) -> String, re: &Regex, case: Case) -> String {
    format!("{f} {op} {}", quote(&re.to_lucene(case)))
}

fn scalar(v: &Scalar, quote: impl Fn(&str) -> String) -> String {
    match v {
        Scalar::Str(s) => quote(s),
        Scalar::Num(n) => n.to_string(),
        Scalar::Bool(b) => b.to_string(),
    }
}

fn list(vs: &[Scalar], quote: impl Fn(&str) -> String) -> String {
    let items: Vec<String> = vs.iter().map(|v| scalar(v, &quote)).collect();
    format!("({})", items.join(", "))
}

/// An ES|QL string literal: other characters as they are (its grammar takes them raw).
pub fn string(s: &str) -> String {
    quoted(s, None)
}

/// An EQL string literal: other control characters as `\u{..}`.
pub fn eql_string(s: &str) -> String {
    quoted(s, Some(|c| format!("\\u{{{:x}}}", c as u32)))
}

/// A field name; anything but dotted plain identifiers is back-quoted.
fn field(name: &str) -> String {
    if name.split('.').all(|seg| plain_identifier(seg, &[])) {
        name.to_string()
    } else {
        format!("`{}`", name.replace('`', "``"))
    }
}

fn index_pattern(index: &str) -> String {
    let plain = !index.is_empty()
        && index
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.*-,:".contains(c));
    if plain {
        index.to_string()
    } else {
        string(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_strings() {
        assert_eq!(field("process.name"), "process.name");
        assert_eq!(field("@timestamp"), "`@timestamp`");
        assert_eq!(string("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
        assert_eq!(
            index_pattern("logs-endpoint.events.process-*"),
            "logs-endpoint.events.process-*"
        );
        assert_eq!(index_pattern("my index"), "\"my index\"");
    }
}
