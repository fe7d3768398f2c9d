//! Microsoft Sentinel: KQL. `Table | where filter | where condition`.
//!
//! Strings compare with KQL's case-insensitive operators (`=~`, `in~`, `contains`, ...) or
//! their `_cs`/exact forms when `cased`. Absent string columns read as `""` in KQL, so a
//! negated string test (`!~`, `!contains`) is already true for them; other negated tests
//! are wrapped in `not(coalesce(..., false))` so a null never turns `not` into "unknown".

use super::{
    CompileError, Compiled, Language, Result, field_name, group, join, nnf, not_yet,
    plain_identifier, quoted, source_mapping,
};
use crate::ir;
use crate::ir::{Atom, Case, Cidr, FieldType, Query, Scalar, Test};
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
    let table = src.table.as_deref().ok_or_else(|| {
        CompileError::new(
            "E0401",
            q.source_span,
            format!("source `{}` has no `table`", q.source),
        )
        .hint("set `table:` for the source in the Sentinel mapping")
    })?;
    let mut out = identifier(table);
    for (column, value) in src.filter.iter().flatten() {
        let _ = write!(out, "\n| where {} == {}", column_ref(column), string(value));
    }
    for (column, expr) in src.extend.iter().flatten() {
        let _ = write!(out, "\n| extend {} = {expr}", identifier(column));
    }
    if let Some(cond) = &q.condition {
        let body = join(&nnf(cond, false), " and ", " or ", &mut |atom, negated| {
            let column = field_name(src, &atom.field, &q.source)?;
            Ok(test(atom, &field_ref(column, atom.field.ty), negated))
        })?;
        let _ = write!(out, "\n| where {body}");
    }
    Ok(vec![Compiled {
        language: Language::Kql,
        query: out,
    }])
}

fn test(atom: &Atom, f: &str, negated: bool) -> String {
    let cased = |case: &Case| *case == Case::Sensitive;
    match &atom.test {
        Test::Equals(values, case) if atom.field.ty == FieldType::String => {
            let op = match (values.len() > 1, cased(case), negated) {
                (false, false, false) => "=~",
                (false, false, true) => "!~",
                (false, true, false) => "==",
                (false, true, true) => "!=",
                (true, false, false) => "in~",
                (true, false, true) => "!in~",
                (true, true, false) => "in",
                (true, true, true) => "!in",
            };
            format!("{f} {op} {}", list(values, values.len() > 1))
        }
        Test::Equals(values, _) => {
            let p = if values.len() > 1 {
                format!("{f} in {}", list(values, true))
            } else {
                format!("{f} == {}", list(values, false))
            };
            null_safe(p, negated)
        }
        Test::Contains(vs, case) => any_string_op(f, "contains", vs, cased(case), negated),
        Test::StartsWith(vs, case) => any_string_op(f, "startswith", vs, cased(case), negated),
        Test::EndsWith(vs, case) => any_string_op(f, "endswith", vs, cased(case), negated),
        Test::Like(ws, case) => regex(f, &Regex::from_wildcards(ws), *case, negated),
        Test::Matches(re, case) => regex(f, re, *case, negated),
        Test::Compare(op, n) => null_safe(format!("{f} {} {n}", op.as_str()), negated),
        Test::InCidr(nets) => null_safe(cidr(f, nets), negated),
        // Kusto keeps IP addresses in string columns, and a string column is never null:
        // absent is empty.
        Test::Exists => match (
            matches!(atom.field.ty, FieldType::String | FieldType::Ip),
            negated,
        ) {
            (true, false) => format!("isnotempty({f})"),
            (true, true) => format!("isempty({f})"),
            (false, false) => format!("isnotnull({f})"),
            (false, true) => format!("isnull({f})"),
        },
    }
}

/// `not` that reads an unknown (null) test as false, so the negation is true.
fn null_safe(p: String, negated: bool) -> String {
    if negated {
        format!("not(coalesce({p}, false))")
    } else {
        p
    }
}

/// `f contains "a" or f contains "b"`; negated: `f !contains "a" and f !contains "b"`.
fn any_string_op(f: &str, op: &str, values: &[String], cased: bool, negated: bool) -> String {
    let op = format!(
        "{}{op}{}",
        if negated { "!" } else { "" },
        if cased { "_cs" } else { "" }
    );
    let parts: Vec<String> = values
        .iter()
        .map(|v| format!("{f} {op} {}", string(v)))
        .collect();
    group(parts, if negated { " and " } else { " or " })
}

fn regex(f: &str, re: &Regex, case: Case, negated: bool) -> String {
    let p = format!("{f} matches regex {}", string(&re.to_perl(case)));
    if negated { format!("not({p})") } else { p }
}

fn cidr(f: &str, nets: &[Cidr]) -> String {
    let (v4, v6): (Vec<&Cidr>, Vec<&Cidr>) = nets.iter().partition(|n| n.addr.is_ipv4());
    let call = |func: &str, ns: &[&Cidr]| {
        let args: Vec<String> = ns.iter().map(|n| string(&n.to_string())).collect();
        format!("{func}({f}, {})", args.join(", "))
    };
    let mut parts = Vec::new();
    if !v4.is_empty() {
        parts.push(call("ipv4_is_in_any_range", &v4));
    }
    if !v6.is_empty() {
        parts.push(call("ipv6_is_in_any_range", &v6));
    }
    group(parts, " or ")
}

fn list(values: &[Scalar], parens: bool) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|v| match v {
            Scalar::Str(s) => string(s),
            Scalar::Num(n) => n.to_string(),
            Scalar::Bool(b) => b.to_string(),
        })
        .collect();
    if parens {
        format!("({})", items.join(", "))
    } else {
        items.join(", ")
    }
}

/// A KQL string literal; other control characters as `\uXXXX`.
pub fn string(s: &str) -> String {
    quoted(s, Some(|c| format!("\\u{:04x}", c as u32)))
}

/// A table or column name; anything but a plain identifier is bracket-quoted.
fn identifier(name: &str) -> String {
    if plain_identifier(name, &[]) {
        name.to_string()
    } else {
        format!("[{}]", string(name))
    }
}

/// A column, or a property path into a dynamic column (`AdditionalFields.DeviceId`).
fn column_ref(name: &str) -> String {
    name.split('.')
        .map(identifier)
        .collect::<Vec<_>>()
        .join(".")
}

/// A field as a typed scalar: dynamic properties are converted so operators see a value.
fn field_ref(name: &str, ty: FieldType) -> String {
    let column = column_ref(name);
    if !name.contains('.') {
        return column;
    }
    match ty {
        FieldType::String | FieldType::Ip => format!("tostring({column})"),
        FieldType::Number => format!("todouble({column})"),
        FieldType::Boolean => format!("tobool({column})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(string("x\ny"), r#""x\ny""#);
        assert_eq!(string("é|*"), "\"é|*\"");
    }

    #[test]
    fn odd_names_are_quoted() {
        assert_eq!(identifier("FileName"), "FileName");
        assert_eq!(identifier("my col"), "[\"my col\"]");
        assert_eq!(
            field_ref("AdditionalFields.DeviceId", FieldType::String),
            "tostring(AdditionalFields.DeviceId)"
        );
    }
}
