//! Splunk: SPL. `BASE SEARCH-TERMS | where EVAL-EXPRESSION`.
//!
//! A test becomes a search term (`field="value"`, case-insensitive, with `*` wildcards;
//! `field="10.0.0.0/8"` for networks) when that reads exactly: the value holds no `*` (search cannot escape it), no control
//! character and no backtick (macro syntax). Everything else, and everything `cased`,
//! becomes an eval expression in `| where`: `==` for exact strings and `match()` with a
//! regex whose case folding is spelled out. Search terms and eval cannot mix inside one
//! group, so each top-level `and` operand goes whole to one side or the other.
//! `NOT field="x"` holds for events without the field; in `where`, a negated test is
//! guarded with `isnull()` so it holds for them too.

use super::{
    CompileError, Compiled, Language, Nnf, Result, affix_patterns, field_name, group, join, nnf,
    not_yet, plain_identifier, source_mapping,
};
use crate::ir;
use crate::ir::{Atom, Case, FieldType, Query, Scalar, Test, WildPart, Wildcard};
use crate::pattern::Regex;
use crate::schema::{Mapping, SourceMapping};

/// Compile any rule; correlation forms are added form by form.
pub fn compile_rule(rule: &ir::Rule, mapping: &Mapping) -> Result<Vec<Compiled>> {
    match &rule.kind {
        ir::RuleKind::Single(q) => compile(q, source_mapping(mapping, q)?),
        other => Err(not_yet(other)),
    }
}

/// A single-event rule: the source's events that meet the condition.
pub fn compile(q: &Query, src: &SourceMapping) -> Result<Vec<Compiled>> {
    let base = src.search.as_deref().map(str::trim).ok_or_else(|| {
        CompileError::new(
            "E0401",
            q.source_span,
            format!("source `{}` has no `search`", q.source),
        )
        .hint("set `search:` (the base search) for the source in the Splunk mapping")
    })?;
    let mut terms = Vec::new();
    let mut wheres = Vec::new();
    if let Some(cond) = &q.condition {
        let root = nnf(cond, false);
        let conjuncts = match root {
            Nnf::And(parts) => parts,
            other => vec![other],
        };
        for c in &conjuncts {
            let name = |atom: &Atom| field_name(src, &atom.field, &q.source);
            let mut searchable = true;
            let _ = join(c, " ", " OR ", &mut |atom, neg| {
                let n = name(atom)?;
                searchable &= search_test(atom, n, neg).is_some();
                Ok(String::new())
            })?;
            let group = |s: String| match c {
                Nnf::Or(ps) if ps.len() > 1 => format!("({s})"),
                _ => s,
            };
            if searchable {
                let s = join(c, " ", " OR ", &mut |atom, neg| {
                    Ok(search_test(atom, name(atom)?, neg).unwrap_or_default())
                })?;
                terms.push(group(s));
            } else {
                let s = join(c, " AND ", " OR ", &mut |atom, neg| {
                    where_test(atom, name(atom)?, neg)
                })?;
                wheres.push(group(s));
            }
        }
    }
    let mut out = base.to_string();
    if !terms.is_empty() {
        // Terms join the base search only when it is one plain search; after any pipe
        // (`... | eval x=...`) they need a `search` command of their own.
        out.push_str(if base.contains('|') {
            " | search "
        } else {
            " "
        });
        out.push_str(&terms.join(" "));
    }
    if !wheres.is_empty() {
        out.push_str(" | where ");
        out.push_str(&wheres.join(" AND "));
    }
    Ok(vec![Compiled {
        language: Language::Spl,
        query: out,
    }])
}

/// A value that a quoted search term carries exactly (besides `\` and `"`, escaped).
fn search_safe(v: &str) -> bool {
    !v.chars().any(|c| c == '*' || c == '`' || c.is_control())
}

/// The search-term form of a test, if there is an exact one.
fn search_test(atom: &Atom, f: &str, negated: bool) -> Option<String> {
    if !plain_identifier(f, &['.']) {
        return None;
    }
    let term = |pattern: String| format!("{f}={pattern}");
    let insensitive_strings = |vs: &[String], pre: &str, post: &str, case: &Case| {
        (*case == Case::Insensitive && vs.iter().all(|v| search_safe(v))).then(|| {
            group(
                vs.iter()
                    .map(|v| term(quote(&format!("{pre}{}{post}", escape(v))))),
                " OR ",
            )
        })
    };
    let p = match &atom.test {
        Test::Exists => term("*".into()),
        Test::Equals(vs, case) if atom.field.ty == FieldType::String => {
            let strs = strings(vs)?;
            insensitive_strings(&strs, "", "", case)?
        }
        Test::Equals(vs, _) if atom.field.ty == FieldType::Boolean => {
            group(vs.iter().map(|v| term(quote(&scalar_text(v)))), " OR ")
        }
        // Search terms match CIDR notation (IPv4 and IPv6) against IP-valued fields.
        Test::InCidr(nets) => group(nets.iter().map(|n| term(quote(&n.to_string()))), " OR "),
        Test::Equals(..) | Test::Compare(..) | Test::Matches(..) => return None,
        Test::Contains(vs, case) => insensitive_strings(vs, "*", "*", case)?,
        Test::StartsWith(vs, case) => insensitive_strings(vs, "", "*", case)?,
        Test::EndsWith(vs, case) => insensitive_strings(vs, "*", "", case)?,
        Test::Like(ws, Case::Insensitive) => {
            let globs = ws.iter().map(search_glob).collect::<Option<Vec<_>>>()?;
            group(globs.into_iter().map(|g| term(quote(&g))), " OR ")
        }
        Test::Like(..) => return None,
    };
    Some(if negated { format!("NOT {p}") } else { p })
}

/// A `like` pattern as a search glob: only `*` wildcards and search-safe literals.
fn search_glob(w: &Wildcard) -> Option<String> {
    let mut out = String::new();
    for part in &w.0 {
        match part {
            WildPart::Literal(s) if search_safe(s) => out.push_str(&escape(s)),
            WildPart::AnyRun => out.push('*'),
            _ => return None,
        }
    }
    Some(out)
}

/// The eval form of a test, for `| where`.
fn where_test(atom: &Atom, f: &str, negated: bool) -> Result<String> {
    if f.contains('\'') || f.contains('\\') {
        return Err(CompileError::new(
            "E0406",
            atom.field.span,
            format!("Splunk field name `{f}` cannot be quoted in eval"),
        )
        .hint("rename the field in the Splunk mapping"));
    }
    let f = format!("'{f}'");
    let p = match &atom.test {
        Test::Exists => {
            return Ok(if negated {
                format!("isnull({f})")
            } else {
                format!("isnotnull({f})")
            });
        }
        Test::Equals(vs, case) if atom.field.ty == FieldType::String => {
            let strs = strings(vs).unwrap_or_default();
            if *case == Case::Sensitive && strs.iter().all(|v| search_safe(v)) {
                group(
                    strs.iter().map(|v| format!("{f}=={}", quote(&escape(v)))),
                    " OR ",
                )
            } else {
                affix_match(&f, &strs, false, false, *case)
            }
        }
        Test::Equals(vs, _) => group(
            vs.iter().map(|v| format!("{f}=={}", eval_scalar(v))),
            " OR ",
        ),
        Test::Contains(vs, case) => affix_match(&f, vs, true, true, *case),
        Test::StartsWith(vs, case) => affix_match(&f, vs, false, true, *case),
        Test::EndsWith(vs, case) => affix_match(&f, vs, true, false, *case),
        Test::Like(ws, case) => regex_match(&f, &Regex::from_wildcards(ws), *case),
        Test::Matches(re, case) => regex_match(&f, re, *case),
        Test::Compare(op, n) => format!("{f}{}{n}", op.as_str()),
        Test::InCidr(nets) => group(
            nets.iter().map(|n| format!("cidrmatch(\"{n}\", {f})")),
            " OR ",
        ),
    };
    Ok(if negated {
        format!("(isnull({f}) OR NOT ({p}))")
    } else {
        p
    })
}

/// Exact, prefix, suffix or substring tests on any of `vs`, as one `match()`.
fn affix_match(f: &str, vs: &[String], any_before: bool, any_after: bool, case: Case) -> String {
    regex_match(
        f,
        &Regex::from_wildcards(&affix_patterns(vs, any_before, any_after)),
        case,
    )
}

/// `match(f, "regex")`. The Perl form never holds a raw backtick (it prints `\x60`), so no
/// Splunk macro can expand inside it.
fn regex_match(f: &str, re: &Regex, case: Case) -> String {
    format!("match({f}, {})", quote(&escape(&re.to_perl(case))))
}

fn strings(vs: &[Scalar]) -> Option<Vec<String>> {
    vs.iter()
        .map(|v| match v {
            Scalar::Str(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn scalar_text(v: &Scalar) -> String {
    match v {
        Scalar::Str(s) => escape(s),
        Scalar::Num(n) => n.to_string(),
        Scalar::Bool(b) => b.to_string(),
    }
}

fn eval_scalar(v: &Scalar) -> String {
    match v {
        Scalar::Num(n) => n.to_string(),
        other => quote(&scalar_text(other)),
    }
}

/// Backslash-escape `\` and `"` for a double-quoted SPL string.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn quote(escaped: &str) -> String {
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(quote(&escape(r#"a"b\c"#)), r#""a\"b\\c""#);
        assert!(!search_safe("a*b"));
        assert!(!search_safe("a`m`"));
        assert!(search_safe("a|b=(c)"));
    }
}
