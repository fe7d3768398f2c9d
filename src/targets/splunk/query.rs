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
//!
//! Correlation (docs/CORRELATION.md). Each query restricts itself to the time it needs,
//! which ends the rule's `delay` D before the run: `earliest=-Ns latest=-Ds` after a plain
//! base search, or `| where _time > relative_time(now(), "-Ns") AND _time <=
//! relative_time(now(), "-Ds")` right after a base search with pipes.
//!
//! - Aggregation: the last W of events, `| stats <aggs> by <keys>` (which drops events
//!   missing a key and splits multivalue keys, the documented meaning), `| where <having>`.
//!   Each aggregate is computed once and named `agg_count`, `agg_distinct_<field>`, ...;
//!   `distinct` is `dc()` (exact); `sum`/`min`/`max` are stats' own, which read numbers
//!   given as strings and skip values that are not numbers.
//! - Sequence (2 steps): one search per source over the last W + schedule; an event
//!   matching several steps of its source is one row, with a 0/1 flag per step
//!   (`detc_step1`, `detc_step2`). Rows without every key are dropped, the rest sorted by
//!   time. With EQL's semantics (one pending start per key, replaced by a newer step-1
//!   event, consumed by the first step-2 event that completes it), a step-2 event
//!   completes a sequence exactly when the row just before it with the same key is a
//!   step-1 event no more than W earlier: any step-2 row in between would have consumed
//!   that start, and an older start is further away. `streamstats current=f global=f
//!   window=1 ... by <keys>` reads that previous row. A row both step-1 and step-2 first
//!   completes (as step 2) and then starts (as step 1), as in EQL. Rows with equal `_time`
//!   keep the order `sort` gives them. Longer sequences need a pending start per step and
//!   are refused (E0404). Steps from several sources run under `multisearch`, so their
//!   base searches must not start with a command.
//! - Absence (`S1  not S2`): the same rows over the last W + S, then one row per key and
//!   `_time` (`stats max()` of the flags), newest first; `streamstats current=f min()` of
//!   the step-2 times then holds, on each row, the earliest step-2 time after it. Reported:
//!   the step-1 rows at least W old and within the range, with no step-2 row within W.
//! - First seen: the last L + S of events; per (K, F) the first time in the last S and
//!   the last time before it; kept when there is a first and no sighting within L of it.

use crate::base::{Case, Code, Span, WildPart, Wildcard};
use crate::ir;
use crate::ir::{Atom, FieldType, Query, Scalar, Test};
use crate::lower::{
    AggregateNames, CompileError, Compiled, Language, Nnf, Result, affix_patterns, computed_fields,
    field_name, fields_read, fields_used, group, join, join_having, nnf, plain_identifier,
    source_mapping,
};
use crate::pattern::Regex;
use crate::schema::{Mapping, SourceMapping};
use std::borrow::Cow;

/// Compile any rule.
pub(crate) fn compile_rule(rule: &ir::Rule, mapping: &Mapping) -> Result<Vec<Compiled>> {
    let used = &fields_used(rule);
    let query = match &rule.kind {
        ir::RuleKind::Single(q) => events(q, source_mapping(mapping, q)?, None, used)?,
        ir::RuleKind::Aggregate {
            query,
            group_by,
            having,
            ..
        } => aggregate(query, mapping, group_by, rule.range(), having, used)?,
        ir::RuleKind::Sequence { links, .. } if !links.is_empty() => {
            return Err(CompileError::new(
                Code::E0404,
                links[0].atom.span,
                "Splunk cannot compare fields of two steps' events exactly yet: its sequence \
                 reads each key's previous row only, and the step-1 event a comparison needs may \
                 be any earlier one in the window",
            )
            .hint(
                "for `==`, join on the two fields instead (`by K, G` and `SOURCE by K2, F`); \
                 else leave splunk out with `targets = [...]`",
            ));
        }
        ir::RuleKind::Sequence {
            within,
            steps,
            keys,
            absent,
            span,
            ..
        } => {
            let tail = if *absent {
                Tail::Absence
            } else {
                Tail::Sequence
            };
            sequence(
                mapping,
                keys,
                within.seconds,
                rule.range(),
                steps,
                *span,
                tail,
            )?
        }
        ir::RuleKind::FirstSeen {
            query,
            field,
            by,
            lookback,
            ..
        } => {
            let new = ir::Range::new(rule.schedule(), rule.delay());
            first_seen(query, mapping, field, by, lookback.seconds, new, used)?
        }
    };
    Ok(vec![Compiled {
        language: Language::Spl,
        query,
    }])
}

/// The source's base search, `trim`med; an error when the mapping has none.
fn base_search<'m>(q: &Query, src: &'m SourceMapping) -> Result<&'m str> {
    src.search.as_deref().map(str::trim).ok_or_else(|| {
        CompileError::new(
            Code::E0401,
            q.source_span,
            format!("source `{}` has no `search`", q.source),
        )
        .hint("set `search:` (the base search) for the source in the Splunk mapping")
    })
}

/// The events of `q`: base search, search terms, computed fields, `| where`. With `last`,
/// only the events of that range: `earliest=-Ns latest=-Ds` in a plain base
/// search, or a `| where _time > ... AND _time <= ...` right after a base search with pipes (which may start
/// with a generating command, where time modifiers do not belong). Terms join a plain base
/// search; after any pipe (`... | eval x=...`) they need a `search` command of their own,
/// so only the terms reading a computed field wait for it.
fn events(
    q: &Query,
    src: &SourceMapping,
    last: Option<ir::Range>,
    used: &[&ir::Field],
) -> Result<String> {
    let base = base_search(q, src)?;
    let computed = extends(src, used);
    let mut early_terms = Vec::new();
    let mut late_terms = Vec::new();
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
            let mut reads_computed = false;
            let _ = join(c, " ", " OR ", &mut |atom, neg| {
                let n = name(atom)?;
                searchable &= search_test(atom, &n, neg).is_some();
                reads_computed |= src.extend.as_ref().is_some_and(|e| e.contains_key(&*n));
                Ok(String::new())
            })?;
            let group = |s: String| match c {
                Nnf::Or(ps) if ps.len() > 1 => format!("({s})"),
                _ => s,
            };
            if searchable {
                let s = join(c, " ", " OR ", &mut |atom, neg| {
                    Ok(search_test(atom, &name(atom)?, neg).unwrap_or_default())
                })?;
                if base.contains('|') || reads_computed {
                    late_terms.push(group(s));
                } else {
                    early_terms.push(group(s));
                }
            } else {
                let s = join(c, " AND ", " OR ", &mut |atom, neg| {
                    where_test(atom, &|f| field_name(src, f, &q.source), neg)
                })?;
                wheres.push(group(s));
            }
        }
    }
    let mut out = base.to_string();
    if let Some(range) = last {
        if base.contains('|') {
            out.push_str(&format!(" | where {}", within(range)));
        } else {
            out.push_str(&format!(
                " earliest=-{}s latest={}",
                range.start(),
                latest(range.delay)
            ));
        }
    }
    for t in &early_terms {
        out.push(' ');
        out.push_str(t);
    }
    out.push_str(&computed);
    if !late_terms.is_empty() {
        out.push_str(" | search ");
        out.push_str(&late_terms.join(" "));
    }
    if let Some(c) = &q.condition {
        out.push_str(&lookups([c], src, &q.source)?);
    }
    if !wheres.is_empty() {
        out.push_str(" | where ");
        out.push_str(&wheres.join(" AND "));
    }
    Ok(out)
}

/// The pipelines (` | rex ... | eval ...`) of the computed fields (`extend`, see
/// targets/splunk.yaml) the query reads: a query pays for a computed field only when it
/// reads it.
fn extends(src: &SourceMapping, used: &[&ir::Field]) -> String {
    computed_fields(src, used, &[])
        .into_iter()
        .map(|(_, pipeline)| format!(" | {}", pipeline.trim()))
        .collect()
}

/// A range's end as a time modifier: `now`, or `-Ds` with a delay.
pub(super) fn latest(delay: u64) -> String {
    match delay {
        0 => "now".to_string(),
        d => format!("-{d}s"),
    }
}

/// The eval test "time within `range`" (the end is `latest`'s, inclusive here).
fn within(range: ir::Range) -> String {
    let mut test = format!("_time > {}", ago(range.start()));
    if range.delay > 0 {
        test.push_str(&format!(" AND _time <= {}", ago(range.delay)));
    }
    test
}

/// The time `seconds` before the search runs.
fn ago(seconds: u64) -> String {
    format!("relative_time(now(), \"-{seconds}s\")")
}

/// A mapped field as a `stats`/`streamstats` `by` field: it must be a plain name.
fn by_field(src: &SourceMapping, field: &ir::Field, source: &str) -> Result<String> {
    let f = field_name(src, field, source)?;
    if plain_identifier(&f, &['.']) {
        Ok(f.to_string())
    } else {
        Err(CompileError::new(
            Code::E0406,
            field.span,
            format!("Splunk field name `{f}` cannot be a `by` field"),
        )
        .hint("rename the field in the Splunk mapping"))
    }
}

/// The names, in order of first use, without repeats.
fn unique(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// `from S where C group by K window W having H`: the last W of events, one row per group
/// (`stats ... by K` drops events missing a key and splits multivalue keys), `having` as
/// `| where` over the named aggregates.
fn aggregate(
    q: &Query,
    mapping: &Mapping,
    group_by: &[ir::Key],
    range: ir::Range,
    having: &ir::Having,
    used: &[&ir::Field],
) -> Result<String> {
    // Splunk's one masking function takes IPv4 only: "The <IP> must be a valid IPv4
    // address" (ipmask, https://help.splunk.com/splunk-enterprise/spl-search-reference/9.4/evaluation-functions/conversion-functions);
    // cidrmatch tests a network, it computes none.
    if let Some(p) = group_by.iter().find_map(|k| k.prefix) {
        return Err(CompileError::new(
            Code::E0404,
            p.span,
            "Splunk cannot group by an address's network: its only masking function, ipmask, \
             takes IPv4 addresses, and no SPL function masks an IPv6 address",
        )
        .hint(
            "keep this rule off Splunk with `targets = [sentinel, elastic]`, and group by the \
             address itself in a rule for Splunk",
        ));
    }
    let group_by: Vec<ir::Field> = group_by.iter().map(|k| k.field.clone()).collect();
    let group_by = &group_by[..];
    let src = source_mapping(mapping, q)?;
    let by = unique(
        group_by
            .iter()
            .map(|f| by_field(src, f, &q.source))
            .collect::<Result<Vec<_>>>()?,
    );
    let mut aggs = AggregateNames::new(&by);
    let mut name_of = |agg: &ir::Aggregate| -> Result<String> {
        let (func, stem) = match agg {
            ir::Aggregate::Count => ("count".to_string(), "count".to_string()),
            ir::Aggregate::Distinct(f) => stats_call("dc", "distinct", src, f, &q.source)?,
            ir::Aggregate::Sum(f) => stats_call("sum", "sum", src, f, &q.source)?,
            ir::Aggregate::Min(f) => stats_call("min", "min", src, f, &q.source)?,
            ir::Aggregate::Max(f) => stats_call("max", "max", src, f, &q.source)?,
        };
        Ok(aggs.name(&format!("agg_{stem}"), func))
    };
    let cond = join_having(having, " AND ", " OR ", &mut |t| {
        Ok(format!("{}{}{}", name_of(&t.agg)?, t.op.as_str(), t.value))
    })?;
    let stats = aggs
        .named()
        .iter()
        .map(|(name, func)| format!("{func} AS {name}"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(format!(
        "{}{} | stats {stats} by {} | where {cond}",
        events(q, src, Some(range), used)?,
        keys_present(&by, span_of(group_by))?,
        by.join(", ")
    ))
}

/// A stats function over a mapped field (`dc(user)`; `dc(eval('odd name'))` for a name
/// that is not plain), and the sanitized stem of its result's name (`distinct_user`).
fn stats_call(
    func: &str,
    stem: &str,
    src: &SourceMapping,
    field: &ir::Field,
    source: &str,
) -> Result<(String, String)> {
    let f = field_name(src, field, source)?;
    let arg = if field.ty == FieldType::String {
        // `""` is absent, not a value (`dc` would count it).
        let q = eval_field(&f, field.span)?;
        format!("eval(if({q}!=\"\", {q}, null()))")
    } else if plain_identifier(&f, &['.']) {
        f.to_string()
    } else {
        format!("eval({})", eval_field(&f, field.span)?)
    };
    let clean: String = f
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    Ok((format!("{func}({arg})"), format!("{stem}_{clean}")))
}

/// Each sequence key's name in the results and per step (the step's own key field): one
/// common name, the steps' own when they agree, else `detc_keyN`.
fn sequence_keys(
    step_keys: &[Vec<ir::Field>],
    steps: &[Query],
    srcs: &[&SourceMapping],
) -> Result<Vec<(String, Vec<String>)>> {
    let mut keys = Vec::new();
    for j in 0..step_keys[0].len() {
        let names = steps
            .iter()
            .zip(srcs)
            .zip(step_keys)
            .map(|((q, src), own)| by_field(src, &own[j], &q.source))
            .collect::<Result<Vec<_>>>()?;
        let common = if names.iter().all(|n| *n == names[0]) {
            names[0].clone()
        } else {
            format!("detc_key{}", j + 1)
        };
        keys.push((common, names));
    }
    Ok(keys)
}

/// The name an alert field has in the rows a rule's search returns. A sequence returns its
/// last step's rows (an absence its first step's), whose keys carry their common name;
/// other rules, the first (only) query's own names.
pub(crate) fn result_field(
    rule: &ir::Rule,
    mapping: &Mapping,
    field: &ir::Field,
) -> Result<String> {
    if let ir::RuleKind::Sequence {
        by, steps, keys, ..
    } = &rule.kind
        && let Some(j) = by.iter().position(|k| k.name == field.name)
    {
        let srcs = steps
            .iter()
            .map(|q| source_mapping(mapping, q))
            .collect::<Result<Vec<_>>>()?;
        return Ok(sequence_keys(keys, steps, &srcs)?.swap_remove(j).0);
    }
    let q = &rule.kind.queries()[0];
    Ok(field_name(source_mapping(mapping, q)?, field, &q.source)?.to_string())
}

/// What a sequence's rows are searched for: the step-2 rows that complete a sequence, or
/// the step-1 rows that no step-2 row follows (an absence).
#[derive(Clone, Copy)]
enum Tail {
    Sequence,
    Absence,
}

/// `sequence by K within W { S1 where C1  [not] S2 where C2 }` (see the module comment).
fn sequence(
    mapping: &Mapping,
    step_keys: &[Vec<ir::Field>],
    within: u64,
    range: ir::Range,
    steps: &[Query],
    span: Span,
    tail: Tail,
) -> Result<String> {
    if steps.len() != 2 {
        let n = if steps.len() > 2 {
            "more than 2"
        } else {
            "fewer than 2"
        };
        return Err(CompileError::new(
            Code::E0404,
            span,
            format!("Splunk cannot express a sequence of {n} steps exactly yet"),
        )
        .hint("Splunk compiles sequences of 2 steps; Elastic (EQL) compiles longer ones"));
    }
    let srcs = steps
        .iter()
        .map(|q| source_mapping(mapping, q))
        .collect::<Result<Vec<_>>>()?;
    let keys = sequence_keys(step_keys, steps, &srcs)?;
    let flag = |i: usize| format!("detc_step{}", i + 1);
    // One search per source, so an event matching several steps is one row.
    let mut sources: Vec<&str> = Vec::new();
    for q in steps {
        if !sources.contains(&q.source.as_str()) {
            sources.push(&q.source);
        }
    }
    let mut searches = Vec::new();
    for source in &sources {
        let mine: Vec<usize> = (0..steps.len())
            .filter(|&i| steps[i].source == *source)
            .collect();
        let i0 = mine[0];
        let by = &step_keys[i0];
        // One row per event holds one key: its steps must join on the same fields.
        if let Some(&other) = mine.iter().find(|&&k| step_keys[k] != *by) {
            return Err(CompileError::new(
                Code::E0404,
                span_of(&step_keys[other]),
                "Splunk cannot join two steps of one source on different fields exactly yet",
            )
            .hint("join both steps of the source on the same fields, or compile for Elastic (EQL) or Sentinel"));
        }
        let (q, src) = (&steps[i0], srcs[i0]);
        let mut sets = Vec::new();
        let mut s = if let [i] = mine[..] {
            // One step from this source: its own search; the flags are constants.
            for k in 0..steps.len() {
                sets.push(format!("{}={}", flag(k), u8::from(k == i)));
            }
            events(q, src, Some(range), &fields_read([q], by))?
        } else {
            let all = Query {
                condition: None,
                ..q.clone()
            };
            for (k, step) in steps.iter().enumerate() {
                let v = match &step.condition {
                    _ if !mine.contains(&k) => "0".to_string(),
                    None => "1".to_string(),
                    Some(c) => format!("if({}, 1, 0)", where_cond(c, src, &q.source)?),
                };
                sets.push(format!("{}={v}", flag(k)));
            }
            events(
                &all,
                src,
                Some(range),
                &fields_read(mine.iter().map(|&k| &steps[k]), by),
            )?
        };
        if mine.len() > 1 {
            let conds = mine.iter().filter_map(|&k| steps[k].condition.as_ref());
            s.push_str(&lookups(conds, src, &q.source)?);
        }
        for (common, names) in &keys {
            if *common != names[i0] {
                sets.push(format!("{common}={}", eval_field(&names[i0], span)?));
            }
        }
        s.push_str(&format!(" | eval {}", sets.join(", ")));
        if mine.len() > 1 {
            let any: Vec<String> = mine.iter().map(|&k| format!("{}=1", flag(k))).collect();
            s.push_str(&format!(" | where {}", any.join(" OR ")));
        }
        searches.push(s);
    }
    let mut out = if let [only] = &searches[..] {
        only.clone()
    } else {
        for s in &searches {
            if s.starts_with('|') {
                return Err(CompileError::new(
                    Code::E0404,
                    span,
                    "Splunk multisearch cannot run a base search that starts with a command",
                )
                .hint("give the steps' sources plain base searches in the Splunk mapping"));
            }
        }
        let subs: Vec<String> = searches.iter().map(|s| format!("[search {s}]")).collect();
        format!("| multisearch {}", subs.join(" "))
    };
    let names = unique(keys.iter().map(|(c, _)| c.clone()));
    out.push_str(&keys_present(&names, span)?);
    let by_clause = if names.is_empty() {
        String::new()
    } else {
        format!(" by {}", names.join(", "))
    };
    match tail {
        Tail::Sequence => out.push_str(&format!(
            " | sort 0 _time | streamstats current=f global=f window=1 last({}) AS detc_prev_step1 \
             last(_time) AS detc_prev_time{by_clause} | where {}=1 AND detc_prev_step1=1 AND \
             _time-detc_prev_time<={within}",
            flag(0),
            flag(1)
        )),
        // One row per key and time (so a step-2 row at a step-1 row's time, which does not
        // follow it, is not among the rows before it), newest first: the rows before a
        // step-1 row are then exactly the key's later ones, and the earliest step-2 time
        // among them is the first that follows it. Reported: the step-1 rows at least W old
        // (their window is whole in the range) and newer than W + S (the next run's range
        // starts there), so each is reported once.
        Tail::Absence => out.push_str(&format!(
            " | stats max({a}) AS {a} max({b}) AS {b} by {} | sort 0 -_time | eval \
             detc_followed_at=if({b}=1, _time, null()) | streamstats current=f global=f \
             min(detc_followed_at) AS detc_next{by_clause} | where {a}=1 AND \
             _time>relative_time(now(), \"-{start}s\") AND _time<=relative_time(now(), \
             \"-{closed}s\") AND (isnull(detc_next) OR detc_next-_time>{within})",
            names
                .iter()
                .map(String::as_str)
                .chain(["_time"])
                .collect::<Vec<_>>()
                .join(", "),
            a = flag(0),
            b = flag(1),
            start = range.start(),
            closed = within + range.delay,
        )),
    }
    Ok(out)
}

/// ` | where` every key has a value (`""` is absent, as everywhere), or nothing.
fn keys_present(names: &[String], span: Span) -> Result<String> {
    let present = names
        .iter()
        .map(|n| {
            let f = eval_field(n, span)?;
            Ok(format!("isnotnull({f}) AND {f}!=\"\""))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(if present.is_empty() {
        String::new()
    } else {
        format!(" | where {}", present.join(" AND "))
    })
}

fn span_of(fields: &[ir::Field]) -> Span {
    fields.first().map_or_else(Span::default, |f| f.span)
}

/// A whole condition in eval form, for `if()`.
fn where_cond(c: &ir::Cond, src: &SourceMapping, source: &str) -> Result<String> {
    join(&nnf(c, false), " AND ", " OR ", &mut |atom, neg| {
        where_test(atom, &|f| field_name(src, f, source), neg)
    })
}

/// `from S where C first seen F by K lookback L`, run every S: over the last L + S of
/// events (before the delay), each (K, F)'s first time in the last S of them (`new`),
/// kept when no earlier sighting lies within L before it.
fn first_seen(
    q: &Query,
    mapping: &Mapping,
    field: &ir::Field,
    by: &[ir::Field],
    lookback: u64,
    new: ir::Range,
    used: &[&ir::Field],
) -> Result<String> {
    let src = source_mapping(mapping, q)?;
    let boundary = ago(new.start());
    let mut names = by
        .iter()
        .map(|f| by_field(src, f, &q.source))
        .collect::<Result<Vec<_>>>()?;
    names.push(by_field(src, field, &q.source)?);
    Ok(format!(
        "{}{} | eval detc_new=if(_time>{boundary}, _time, null()), detc_old=if(_time<={boundary}, _time, null()) | stats min(detc_new) AS first_seen max(detc_old) AS last_before by {} | where isnotnull(first_seen) AND (isnull(last_before) OR last_before<first_seen-{lookback})",
        events(
            q,
            src,
            Some(ir::Range::new(lookback + new.span, new.delay)),
            used
        )?,
        keys_present(&unique(names.clone()), field.span)?,
        unique(names).join(", ")
    ))
}

/// A value that a quoted search term carries exactly (besides `\` and `"`, escaped).
fn search_safe(v: &str) -> bool {
    !v.chars().any(|c| c == '*' || c == '`' || c.is_control())
}

/// The search-term form of a test, if there is an exact one.
fn search_test(atom: &Atom, f: &str, negated: bool) -> Option<String> {
    // `""` passes it: only `where` can tell `""` (absent) from a value. A tunable list is
    // read from its lookup, before `where`.
    if !plain_identifier(f, &['.']) || atom.test.passes_empty() || atom.tunable.is_some() {
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
        Test::Equals(..) | Test::Compare(..) | Test::Matches(..) | Test::Field(..) => return None,
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

/// The eval form of a test, for `| where`; `name` gives a field's Splunk name (a field
/// comparison reads two).
fn where_test<'m>(
    atom: &Atom,
    name: &dyn Fn(&ir::Field) -> Result<Cow<'m, str>>,
    negated: bool,
) -> Result<String> {
    let raw = name(&atom.field)?;
    let f = eval_field(&raw, atom.field.span)?;
    if let (Some(list), Test::Equals(_, case)) = (&atom.tunable, &atom.test) {
        // The lookup ran before `where` (`lookups`); the team's file may hold `""`, which
        // the language reads as absent, so the field's own `""` is guarded here.
        let flag = eval_field(&tunable_flag(list, *case, &raw), atom.span)?;
        return Ok(if negated {
            format!("(isnull({f}) OR {f}==\"\" OR isnull({flag}))")
        } else {
            format!("({f}!=\"\" AND isnotnull({flag}))")
        });
    }
    let p = match &atom.test {
        Test::Field(op, other, case) => {
            let g = eval_field(&name(other)?, other.span)?;
            return fields_where(atom, &f, &g, *op, *case, negated);
        }
        Test::Exists => {
            return Ok(if negated {
                format!("(isnull({f}) OR {f}==\"\")")
            } else {
                format!("(isnotnull({f}) AND {f}!=\"\")")
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
    Ok(match (negated, atom.test.passes_empty()) {
        (false, false) => p,
        (false, true) => format!("({f}!=\"\" AND {p})"),
        (true, false) => format!("(isnull({f}) OR NOT ({p}))"),
        (true, true) => format!("(isnull({f}) OR {f}==\"\" OR NOT ({p}))"),
    })
}

/// The lookup definition of a tunable list (transforms.conf, docs/PACKAGING.md): one per
/// case, both reading the list's one file. The prefixes differ, so no two lists' names meet.
pub(super) fn lookup_name(list: &str, case: Case) -> String {
    match case {
        Case::Insensitive => format!("detc_list_{list}"),
        Case::Sensitive => format!("detc_cased_{list}"),
    }
}

/// The field a tunable list's lookup writes for one tested field: the matched value, or
/// null when the field holds none of the list's values.
fn tunable_flag(list: &str, case: Case, field: &str) -> String {
    let clean: String = field
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{}_in_{clean}", lookup_name(list, case))
}

/// ` | lookup` of each tunable list the conditions test, once per list, case and field:
/// `| lookup detc_list_NAME value AS f OUTPUT value AS detc_in_...`. A CSV lookup matches
/// the whole value (no wildcards without `match_type`), each value of a multivalue field,
/// and outputs nothing for no match (Splunk, "lookup", https://docs.splunk.com/Documentation/
/// Splunk/latest/SearchReference/Lookup; "Configure CSV lookups", https://docs.splunk.com/
/// Documentation/Splunk/9.0.5/Knowledge/ConfigureCSVlookups), so `where` reads the flag as
/// "one of the field's values is listed", as `f IN (...)` would.
fn lookups<'a>(
    conds: impl IntoIterator<Item = &'a ir::Cond>,
    src: &SourceMapping,
    source: &str,
) -> Result<String> {
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut out = String::new();
    let mut result = Ok(());
    for c in conds {
        c.visit_atoms(&mut |atom| {
            let (Some(list), Test::Equals(_, case), Ok(())) = (&atom.tunable, &atom.test, &result)
            else {
                return;
            };
            result = (|| {
                let f = field_name(src, &atom.field, source)?;
                let flag = tunable_flag(list, *case, &f);
                let table = lookup_name(list, *case);
                match seen.iter().find(|(fl, _)| *fl == flag) {
                    Some((_, other)) if *other == *f => return Ok(()),
                    Some((_, other)) => {
                        return Err(CompileError::new(
                            Code::E0406,
                            atom.field.span,
                            format!(
                                "Splunk fields `{other}` and `{f}` would share the lookup result `{flag}`"
                            ),
                        )
                        .hint("rename one of the fields in the Splunk mapping"));
                    }
                    None => {}
                }
                if !plain_identifier(&f, &['.']) {
                    return Err(CompileError::new(
                        Code::E0406,
                        atom.field.span,
                        format!("Splunk field name `{f}` cannot be a lookup field"),
                    )
                    .hint("rename the field in the Splunk mapping"));
                }
                out.push_str(&format!(" | lookup {table} value AS {f} OUTPUT value AS {flag}"));
                seen.push((flag, f.to_string()));
                Ok(())
            })();
        });
    }
    result.map(|()| out)
}

/// `f OP g` in eval. Each field must hold one value (`mvdedup` keeps one of each value,
/// `mvcount` counts them: Splunk, "Multivalue eval functions") that is not `""`, and for
/// numbers and booleans one of their type (`tonumber` is null for other text: "Conversion
/// functions"), so every guard and the comparison are true or false and `NOT` holds exactly
/// when the test fails. SPL compares text and has no address comparison, so two ip fields
/// are refused.
fn fields_where(
    atom: &Atom,
    f: &str,
    g: &str,
    op: ir::NumOp,
    case: Case,
    negated: bool,
) -> Result<String> {
    if atom.field.ty == FieldType::Ip {
        return Err(CompileError::new(
            Code::E0404,
            atom.span,
            "SPL cannot compare two ip fields as addresses (it compares their text, and \
             one address has several textual forms)",
        )
        .hint("compare each field with a value, or leave splunk out with `targets = [...]`"));
    }
    let (a, b) = (format!("mvdedup({f})"), format!("mvdedup({g})"));
    // (holds, fails) for each guard.
    let mut guards: Vec<(String, String)> = Vec::new();
    for (raw, one) in [(f, &a), (g, &b)] {
        guards.push((format!("isnotnull({raw})"), format!("isnull({raw})")));
        guards.push((format!("{one}!=\"\""), format!("{one}==\"\"")));
        guards.push((format!("mvcount({one})==1"), format!("mvcount({one})!=1")));
    }
    let typed = |guards: &mut Vec<(String, String)>, holds: &dyn Fn(&str) -> String| {
        for one in [&a, &b] {
            let h = holds(one);
            guards.push((h.clone(), format!("NOT {h}")));
        }
    };
    let compare = match (atom.field.ty, case) {
        (FieldType::String, Case::Insensitive) => format!("lower({a})==lower({b})"),
        (FieldType::Boolean, _) => {
            typed(&mut guards, &|x| {
                format!("in(lower({x}), \"true\", \"false\")")
            });
            format!("lower({a})==lower({b})")
        }
        (FieldType::Number, _) => {
            typed(&mut guards, &|x| format!("isnum(tonumber({x}))"));
            format!("tonumber({a}){}tonumber({b})", op.as_str())
        }
        _ => format!("{a}{}{b}", op.as_str()),
    };
    Ok(if negated {
        let fails: Vec<&str> = guards.iter().map(|(_, n)| n.as_str()).collect();
        format!("({} OR NOT ({compare}))", fails.join(" OR "))
    } else {
        let holds: Vec<&str> = guards.iter().map(|(h, _)| h.as_str()).collect();
        format!("({} AND {compare})", holds.join(" AND "))
    })
}

/// A field name quoted for eval: `'name'`.
fn eval_field(f: &str, span: Span) -> Result<String> {
    if f.contains('\'') || f.contains('\\') {
        return Err(CompileError::new(
            Code::E0406,
            span,
            format!("Splunk field name `{f}` cannot be quoted in eval"),
        )
        .hint("rename the field in the Splunk mapping"));
    }
    Ok(format!("'{f}'"))
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

/// A fact column of the alerts source ([`crate::lower::with_facts`]), as the SPL pipeline
/// the mapping's `extend` holds: `eval C=case(in('K', "key", ...), value, ...)`, null for
/// other keys.
pub(crate) fn fact_column(
    column: &str,
    key: &str,
    groups: &[(&Scalar, Vec<&Scalar>)],
    _: FieldType,
) -> String {
    let arms: Vec<String> = groups
        .iter()
        .map(|(v, keys)| {
            let keys: Vec<String> = keys.iter().map(|k| eval_literal(k)).collect();
            format!("in('{key}', {}), {}", keys.join(", "), eval_literal(v))
        })
        .collect();
    if arms.is_empty() {
        format!("eval {column}=null()")
    } else {
        format!("eval {column}=case({})", arms.join(", "))
    }
}

/// An eval literal in which no Splunk macro can expand: a string's backticks are
/// `urldecode("%60")`, joined to the rest with `.`.
pub(super) fn eval_literal(v: &Scalar) -> String {
    match v {
        Scalar::Str(s) => s
            .split('`')
            .map(|part| quote(&escape(part)))
            .collect::<Vec<_>>()
            .join(".urldecode(\"%60\")."),
        other => eval_scalar(other),
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

    #[test]
    fn time_range_after_the_base_search() {
        let q = Query {
            source: "s".into(),
            source_span: Span::default(),
            condition: Some(ir::Cond::Atom(Atom {
                field: ir::Field {
                    name: "process.name".into(),
                    ty: FieldType::String,
                    span: Span::default(),
                },
                test: Test::Equals(vec![Scalar::Str("a".into())], Case::Insensitive),
                tunable: None,
                span: Span::default(),
            })),
        };
        let mut src = SourceMapping {
            search: Some("index=x".into()),
            ..SourceMapping::default()
        };
        src.fields
            .insert("process.name".into(), Some("process_name".into()));
        assert_eq!(
            events(&q, &src, Some(ir::Range::new(60, 0)), &[]).unwrap(),
            r#"index=x earliest=-60s latest=now process_name="a""#
        );
        assert_eq!(
            events(&q, &src, Some(ir::Range::new(60, 600)), &[]).unwrap(),
            r#"index=x earliest=-660s latest=-600s process_name="a""#
        );
        src.search = Some("| tstats count by process_name".into());
        assert_eq!(
            events(&q, &src, Some(ir::Range::new(60, 600)), &[]).unwrap(),
            r#"| tstats count by process_name | where _time > relative_time(now(), "-660s") AND _time <= relative_time(now(), "-600s") | search process_name="a""#
        );
    }
}
