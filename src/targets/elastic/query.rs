//! Elastic: EQL (`category where ...`) and ES|QL (`FROM index | WHERE ...`).
//!
//! EQL: case-insensitive equality is `in~`, substrings use the `~` functions, patterns use
//! `regex` with the case folding spelled out in the pattern. EQL's `not` holds for events
//! that lack the field (a `must_not` query), except that Elasticsearch rewrites a negated
//! comparison into the opposite one, so a negated number or boolean test is guarded with
//! `f == null or ...`. A test that `""` passes is guarded with `f != ""` in both languages
//! (`""` is absent, README), and ES|QL tests the EQL event category itself.
//! ES|QL: case-insensitive equality compares `TO_LOWER(field)`, every pattern (and
//! substring) test is `RLIKE`, and `NOT COALESCE(test, FALSE)` keeps a null from hiding
//! an event from a negated test.

use crate::base::{Case, Code, Span, Wildcard};
use crate::ir;
use crate::ir::{Aggregate, Atom, FieldType, Query, Scalar, Test};
use crate::lower::{
    AggregateNames, CompileError, Compiled, Language, Result, affix_patterns, computed_fields,
    field_name, fields_used, filter_test, group, join, join_having, nnf, plain_identifier, quoted,
    source_mapping, steps_apart,
};
use crate::pattern::Regex;
use crate::schema::{FilterScalar, Mapping, SourceMapping};
use std::fmt::Write as _;

/// Compile any rule. EQL cannot aggregate and ES|QL cannot order events, so an
/// aggregation or first-seen rule is ES|QL only, a sequence EQL only ([`note`] says so).
pub(crate) fn compile_rule(rule: &ir::Rule, mapping: &Mapping) -> Result<Vec<Compiled>> {
    let (rule, exceptions) = &list_exceptions(rule, mapping)?;
    let used = &fields_used(rule);
    match &rule.kind {
        // The exceptions are the rule's only on its Kibana EQL rule (see `list_exceptions`).
        ir::RuleKind::Single(q) if !exceptions.is_empty() => {
            let eql: Vec<Compiled> = compile(q, source_mapping(mapping, q)?, used)?
                .into_iter()
                .filter(|c| c.language == Language::Eql)
                .collect();
            match q.condition.as_ref().and_then(|c| c.field_comparison()) {
                Some(a) => Err(refuse_list(
                    &exceptions[0].list,
                    a.span,
                    "the rest of the condition compares two fields, which only an ES|QL rule \
                     can say, and detc places value-list exceptions on EQL rules only",
                )),
                None => Ok(eql),
            }
        }
        ir::RuleKind::Single(q) => compile(q, source_mapping(mapping, q)?, used),
        ir::RuleKind::Aggregate {
            query,
            group_by,
            having,
            ..
        } => aggregate(
            query,
            source_mapping(mapping, query)?,
            group_by,
            rule.range(),
            having,
            used,
        ),
        // EQL can say "A, then no B within W" (`![...]`, missing events:
        // https://www.elastic.co/docs/reference/query-languages/eql/eql-syntax#eql-missing-events),
        // but its text has no clock: a Kibana run over its look-back would report an A whose
        // W has not yet passed, before its B could arrive, and report it again next run.
        // ES|QL has no join nor window function to judge each A against the B after it.
        // EQL joins a sequence's events on equal `by` fields only
        // (https://www.elastic.co/docs/reference/query-languages/eql/eql-syntax#eql-sequences).
        ir::RuleKind::Sequence { links, .. } if !links.is_empty() => Err(CompileError::new(
            Code::E0404,
            links[0].atom.span,
            "Elastic cannot compare fields of two steps' events: EQL joins a sequence's \
             events on equal `by` fields only, and ES|QL has no sequences",
        )
        .hint(
            "for `==`, join on the two fields instead (`by K, G` and `SOURCE by K2, F`); \
             else leave elastic out with `targets = [...]`",
        )),
        ir::RuleKind::Sequence {
            absent: true, span, ..
        } => Err(CompileError::new(
            Code::E0404,
            *span,
            "Elastic cannot express an absence exactly: EQL cannot limit a run to the events \
             whose window has passed, and ES|QL cannot judge each event against the ones after it",
        )
        .hint("compile it for Splunk or Sentinel; leave elastic out with `targets = [...]`")),
        ir::RuleKind::Sequence {
            within,
            steps,
            keys,
            span,
            ..
        } => sequence(steps, keys, *within, *span, mapping, used),
        ir::RuleKind::FirstSeen {
            query,
            field: f,
            by,
            lookback,
            ..
        } => first_seen(
            query,
            source_mapping(mapping, query)?,
            f,
            by,
            lookback.seconds,
            ir::Range::new(rule.schedule(), rule.delay()),
            used,
        ),
    }
}

/// Why a rule has only one Elastic language, for the compiled output. EQL has no clock
/// and no index, so a sequence's note also says where and over how long to run it.
pub(crate) fn note(rule: &ir::Rule, mapping: &Mapping) -> Option<String> {
    if let Ok((_, exceptions)) = list_exceptions(rule, mapping)
        && !exceptions.is_empty()
    {
        let each: Vec<String> = exceptions
            .iter()
            .map(|e| format!("{} in value list {}", e.field, e.value_list()))
            .collect();
        return Some(format!(
            "EQL only, and the query alone is not the rule: its Kibana rule exceptions leave out \
             the events with {} (tunable lists, tuned in Kibana), which the query does not test",
            each.join(", ")
        ));
    }
    match &rule.kind {
        ir::RuleKind::Single(q) => q
            .condition
            .as_ref()
            .and_then(|c| c.field_comparison())
            .map(|_| "EQL cannot compare two fields; ES|QL only".into()),
        ir::RuleKind::Aggregate { .. } => Some("EQL cannot aggregate; ES|QL only".into()),
        ir::RuleKind::FirstSeen { .. } => {
            Some("EQL cannot aggregate (first seen); ES|QL only".into())
        }
        ir::RuleKind::Sequence { within, .. } => {
            let indices = indices(rule, mapping);
            Some(format!(
                "ES|QL cannot express ordered sequences; EQL only. Run it on {} over the last \
                 {} (maxspan + schedule)",
                indices.join(","),
                ir::Duration::of(within.seconds + rule.schedule())
            ))
        }
    }
}

/// A `not f in cased $LIST` test of a tunable list that Kibana does for a rule: an exception
/// item whose one entry is `f` `included` in the list's value list removes the events whose
/// `f` holds one of its values (docs/PACKAGING.md, Tunable lists).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ListException {
    /// The tunable list's name.
    pub(crate) list: String,
    /// The field, as Elastic names it.
    pub(crate) field: String,
    /// The list's default values.
    pub(crate) values: Vec<String>,
    pub(crate) span: Span,
}

impl ListException {
    /// The value list's id: one per tunable list, shared by the rules that read it.
    pub(crate) fn value_list(&self) -> String {
        format!("detc_list_{}", self.list)
    }
    /// The exception list's `list_id`: one per list and field, so it removes exactly the
    /// events that one test fails, whichever rules read it.
    pub(crate) fn exception_list(&self) -> String {
        format!("detc_list_{}_in_{}", self.list, self.field)
    }
}

/// The rule without the tests its Kibana rule exceptions do, and those exceptions; E0605 for
/// any other test of a tunable list. A value list reaches a rule only through an exception,
/// which removes the events whose field is in the list (Elastic, "Create and manage value
/// lists", https://www.elastic.co/guide/en/security/8.10/value-lists-exceptions.html) before
/// the EQL query runs: Kibana adds the rule's exceptions to the EQL request's `filter`
/// (elastic/kibana@0f79a0f .../rule_types/eql/build_eql_search_request.ts). So only a
/// top-level `and` operand `not f in cased $LIST` of a single-event rule is exact: the list is
/// a `keyword` one, whose `terms` match is exact and case-sensitive, and an event without
/// `f` is kept by the exception as by `not f in` (README, absent fields). A sequence's
/// `filter` applies to every step's events, so a sequence is refused, as are ES|QL rules.
pub(crate) fn list_exceptions<'r>(
    rule: &'r ir::Rule,
    mapping: &Mapping,
) -> Result<(std::borrow::Cow<'r, ir::Rule>, Vec<ListException>)> {
    let first = rule
        .kind
        .queries()
        .iter()
        .filter_map(|q| q.condition.as_ref())
        .find_map(first_tunable);
    let Some(atom) = first else {
        return Ok((std::borrow::Cow::Borrowed(rule), vec![]));
    };
    let list = atom.tunable.as_deref().unwrap_or_default();
    let q = match &rule.kind {
        ir::RuleKind::Single(q) => q,
        ir::RuleKind::Sequence { .. } => {
            return Err(refuse_list(
                list,
                atom.span,
                "Kibana filters every event a sequence reads with the rule's exceptions, so \
                 they would remove the listed events from every step, not one",
            ));
        }
        ir::RuleKind::Aggregate { .. } | ir::RuleKind::FirstSeen { .. } => {
            return Err(refuse_list(
                list,
                atom.span,
                "the rule is an ES|QL rule, and detc places value-list exceptions only on \
                 single-event EQL rules, whose events Kibana filters with them",
            ));
        }
    };
    let operands: Vec<&ir::Cond> = match &q.condition {
        Some(ir::Cond::And(cs)) => cs.iter().collect(),
        Some(c) => vec![c],
        None => vec![],
    };
    let src = source_mapping(mapping, q)?;
    let mut rest = Vec::new();
    let mut exceptions = Vec::new();
    for c in operands {
        let Some(atom) = first_tunable(c) else {
            rest.push(c.clone());
            continue;
        };
        let list = atom.tunable.as_deref().unwrap_or_default();
        match c {
            ir::Cond::Not(inner) if matches!(**inner, ir::Cond::Atom(_)) => {
                let Test::Equals(vs, Case::Sensitive) = &atom.test else {
                    return Err(refuse_list(
                        list,
                        atom.span,
                        "a keyword value list matches values exactly, case and all, and `in` \
                         ignores case",
                    )
                    .hint(
                        "test it with `not f in cased $LIST` if case matters, or leave elastic \
                         out with `targets = [...]`",
                    ));
                };
                exceptions.push(ListException {
                    list: list.to_string(),
                    field: field_name(src, &atom.field, &q.source)?.to_string(),
                    values: vs
                        .iter()
                        .filter_map(|v| match v {
                            Scalar::Str(s) => Some(s.clone()),
                            _ => None,
                        })
                        .collect(),
                    span: atom.span,
                });
            }
            _ => {
                return Err(refuse_list(
                    list,
                    atom.span,
                    "an exception only removes the events whose field is in the list, which is \
                     `not f in cased $LIST` as an operand of the condition's top-level `and`",
                ));
            }
        }
    }
    let mut stripped = rule.clone();
    if let ir::RuleKind::Single(q) = &mut stripped.kind {
        q.condition = match rest.len() {
            0 => None,
            1 => rest.pop(),
            _ => Some(ir::Cond::And(rest)),
        };
    }
    Ok((std::borrow::Cow::Owned(stripped), exceptions))
}

/// The first test of a tunable list in a condition.
fn first_tunable(c: &ir::Cond) -> Option<&Atom> {
    let mut found = None;
    c.visit_atoms(&mut |a| {
        if found.is_none() && a.tunable.is_some() {
            found = Some(a);
        }
    });
    found
}

/// E0605: a test of a tunable list Elastic cannot leave to an exception, and why.
fn refuse_list(list: &str, span: Span, why: &str) -> CompileError {
    CompileError::new(
        Code::E0605,
        span,
        format!(
            "`${list}` is a tunable list, which Elastic reads only through a rule exception \
             (a value list), and this test is not one: {why}"
        ),
    )
    .hint("leave elastic out with `targets = [...]`, or drop `tunable` from the list")
}

/// The index patterns of a rule's sources, each once, in step order.
pub(crate) fn indices<'m>(rule: &ir::Rule, mapping: &'m Mapping) -> Vec<&'m str> {
    let mut out: Vec<&str> = Vec::new();
    for q in rule.kind.queries() {
        let index = mapping
            .sources
            .get(&q.source)
            .and_then(|s| s.index.as_deref());
        if let Some(i) = index.filter(|i| !out.contains(i)) {
            out.push(i);
        }
    }
    out
}

/// One source's events that meet a query, in both languages.
struct Event<'m> {
    /// EQL `category where ...`, or why EQL cannot say the condition.
    eql: Result<String>,
    index: &'m str,
    /// ES|QL commands after `FROM`: the source's `WHERE`s, the computed columns (`EVAL`) the
    /// rule reads, then the condition's `WHERE`.
    esql: Vec<String>,
}

/// `eql_extra`: more EQL tests every event must pass (a sequence step's key presence);
/// `used`: the fields the rule reads, whose computed columns (the mapping's `extend`, ES|QL
/// expressions) ES|QL evaluates and EQL cannot.
fn event<'m>(
    q: &Query,
    src: &'m SourceMapping,
    eql_extra: &[String],
    used: &[&ir::Field],
) -> Result<Event<'m>> {
    let missing = |key: &str| {
        CompileError::new(
            Code::E0401,
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
            Code::E0405,
            q.source_span,
            format!("EQL event category `{category}` is not a plain name"),
        ));
    }

    let filter = |quote: fn(&str) -> String, any_of: &str| -> Vec<String> {
        src.filter
            .iter()
            .flatten()
            .map(|(k, v)| filter_test(&field(k), v, quote, any_of))
            .collect()
    };
    // Both languages select the same events of the source: EQL's `category where` is
    // ES|QL's `event.category` test, a test of membership as EQL's is.
    let mut esql_where = Vec::new();
    if category != "any" {
        esql_where.push(esql_member("event.category", &[category]));
    }
    let computed = computed_fields(src, used, &[]);
    for (k, v) in src.filter.iter().flatten() {
        let words: Option<Vec<&str>> = v
            .values()
            .iter()
            .map(|v| match v {
                FilterScalar::Str(s) if plain_identifier(s, &['-']) => Some(s.as_str()),
                _ => None,
            })
            .collect();
        esql_where.push(match words {
            Some(words) if ECS_ARRAYS.contains(&k.as_str()) && !words.is_empty() => {
                esql_member(&field(k), &words)
            }
            _ => filter_test(&field(k), v, string, "IN"),
        });
    }
    let mut esql: Vec<String> = esql_where.iter().map(|w| format!("WHERE {w}")).collect();
    esql.extend(
        computed
            .iter()
            .map(|(column, expr)| format!("EVAL {} = {expr}", field(column))),
    );
    let mut eql_parts = filter(eql_string, "in");
    let mut eql_cond = Ok(None);
    if let Some(cond) = &q.condition {
        let n = nnf(cond, false);
        let name = |f: &ir::Field| field_name(src, f, &q.source).map(|n| field(&n));
        eql_cond = join(&n, " and ", " or ", &mut |atom, neg| {
            eql_test(atom, &name(&atom.field)?, neg)
        })
        .map(Some);
        let body = join(&n, " AND ", " OR ", &mut |atom, neg| {
            esql_test(atom, &name, neg)
        })?;
        esql.push(format!("WHERE {body}"));
    }
    if let Some((column, _)) = computed.first() {
        eql_cond = Err(CompileError::new(
            Code::E0404,
            q.source_span,
            format!(
                "EQL cannot compute `{column}`, which the Elastic mapping of source `{}` \
                 computes for a field this rule reads",
                q.source
            ),
        )
        .hint("ES|QL computes it: an aggregation or first-seen rule runs as ES|QL"));
    }
    let others = !eql_parts.is_empty() || !eql_extra.is_empty();
    let eql = eql_cond.map(|cond| {
        eql_parts.extend(cond.map(|c| if others { format!("({c})") } else { c }));
        eql_parts.extend(eql_extra.iter().cloned());
        if eql_parts.is_empty() {
            format!("{category} where true")
        } else {
            format!("{category} where {}", eql_parts.join(" and "))
        }
    });
    Ok(Event { eql, index, esql })
}

/// The metadata a non-aggregating ES|QL rule reads and keeps: Kibana tells its alerts apart
/// by the source event's `_id` (Elastic, "ES|QL rules", alert deduplication:
/// https://www.elastic.co/docs/solutions/security/detect-and-alert/esql), and Elastic's
/// rule loader wants all three in `FROM ... METADATA` and in `KEEP` (elastic/
/// detection-rules@14cf530 detection_rules/rule.py, ESQLRuleData.validates_esql_data).
const EVENT_METADATA: &str = "_id, _version, _index";

/// A single-event rule: the source's events that meet the condition. The ES|QL query is a
/// Kibana non-aggregating rule's: the event's metadata, then every column (`*`).
pub(crate) fn compile(
    q: &Query,
    src: &SourceMapping,
    used: &[&ir::Field],
) -> Result<Vec<Compiled>> {
    let e = event(q, src, &[], used)?;
    let mut esql = format!("FROM {} METADATA {EVENT_METADATA}", index_pattern(e.index));
    for c in &e.esql {
        let _ = write!(esql, "\n| {c}");
    }
    let _ = write!(esql, "\n| KEEP {EVENT_METADATA}, *");
    let mut out: Vec<Compiled> = e
        .eql
        .ok()
        .map(|query| Compiled {
            language: Language::Eql,
            query,
        })
        .into_iter()
        .collect();
    out.push(Compiled {
        language: Language::Esql,
        query: esql,
    });
    Ok(out)
}

/// ES|QL from the source over `range`, the query's conditions, and only events with a
/// value for every one of `keys` (name, type). `IS NOT NULL` is the only test of a key
/// before `STATS`: a comparison with a multivalued field is null in ES|QL, which would drop
/// the event, whereas `STATS ... BY` puts it in a group per value, as the language does;
/// the `""` group is dropped after `STATS` ([`nonempty_groups`]).
fn esql_events(e: &Event, range: ir::Range, keys: &[(String, FieldType)]) -> String {
    let mut esql = format!(
        "FROM {}\n| WHERE @timestamp > NOW() - {}",
        index_pattern(e.index),
        esql_span(range.start())
    );
    if range.delay > 0 {
        let _ = write!(
            esql,
            " AND @timestamp <= NOW() - {}",
            esql_span(range.delay)
        );
    }
    for c in &e.esql {
        let _ = write!(esql, "\n| {c}");
    }
    if !keys.is_empty() {
        let present: Vec<String> = keys
            .iter()
            .map(|(k, _)| format!("{k} IS NOT NULL"))
            .collect();
        let _ = write!(esql, "\n| WHERE {}", present.join(" AND "));
    }
    esql
}

/// After `STATS ... BY keys`, where each group holds one value of each key: drop the groups
/// of `""`, which the language reads as absent (an event's `""` elements join no group).
fn nonempty_groups(keys: &[(String, FieldType)]) -> String {
    let tests: Vec<String> = keys
        .iter()
        .filter(|(_, ty)| *ty == FieldType::String)
        .map(|(k, _)| format!("{k} != \"\""))
        .collect();
    if tests.is_empty() {
        String::new()
    } else {
        format!("\n| WHERE {}", tests.join(" AND "))
    }
}

/// The EQL test that a field has a value (`""` is absent, as everywhere): `exists`, and a
/// sequence key.
fn eql_present(k: &str, ty: FieldType) -> String {
    match ty {
        FieldType::String => format!("{k} != null and {k} != \"\""),
        _ => format!("{k} != null"),
    }
}

/// Aggregation: ES|QL over the last window, grouped, `having` tested on the groups.
fn aggregate(
    q: &Query,
    src: &SourceMapping,
    group_by: &[ir::Key],
    range: ir::Range,
    having: &ir::Having,
    used: &[&ir::Field],
) -> Result<Vec<Compiled>> {
    let e = event(q, src, &[], used)?;
    let name = |f: &ir::Field| field_name(src, f, &q.source).map(|n| field(&n));
    let keys = group_by
        .iter()
        .map(|k| name(&k.field))
        .collect::<Result<Vec<_>>>()?;
    // A network key keeps its field's name. ES|QL does not let an aggregate read what a
    // grouping aliases (https://github.com/elastic/elasticsearch/issues/105172, "we disallow
    // using groupings that have been aliased"), so `having` may not read that field.
    let mut read = Vec::new();
    having.visit_fields(&mut |f| read.push(f.name.clone()));
    if let Some(p) = group_by
        .iter()
        .filter(|k| read.contains(&k.field.name))
        .find_map(|k| k.prefix)
    {
        return Err(CompileError::new(
            Code::E0404,
            p.span,
            "ES|QL cannot aggregate the field whose network it groups by: an aggregate may not \
             read what a grouping aliases",
        )
        .hint("aggregate another field, or leave elastic out with `targets = [...]`"));
    }
    let mut by = Vec::new();
    for (k, key) in group_by.iter().zip(&keys) {
        by.push(match k.prefix {
            None => key.clone(),
            Some(p) => format!("{key} = {}", ip_prefix(key, p)?),
        });
    }
    // Each aggregate once, named as the rule writes it, in order of first use.
    let mut aggs = AggregateNames::new(&[]);
    let test = join_having(having, " AND ", " OR ", &mut |term| {
        let (label, expr) = match &term.agg {
            Aggregate::Count => ("count()".to_string(), "COUNT(*)".to_string()),
            // `""` is absent, not a value to count.
            Aggregate::Distinct(f) if f.ty == FieldType::String => (
                format!("distinct({})", f.name),
                format!(
                    "COUNT_DISTINCT(CASE({0} == \"\", NULL, {0}), 40000)",
                    name(f)?
                ),
            ),
            Aggregate::Distinct(f) => (
                format!("distinct({})", f.name),
                format!("COUNT_DISTINCT({}, 40000)", name(f)?),
            ),
            Aggregate::Sum(f) => (format!("sum({})", f.name), format!("SUM({})", name(f)?)),
            Aggregate::Min(f) => (format!("min({})", f.name), format!("MIN({})", name(f)?)),
            Aggregate::Max(f) => (format!("max({})", f.name), format!("MAX({})", name(f)?)),
        };
        let label = aggs.name(&quoted_name(&label), expr);
        Ok(format!("{label} {} {}", term.op.as_str(), term.value))
    })?;
    let typed: Vec<(String, FieldType)> = keys
        .iter()
        .cloned()
        .zip(group_by.iter().map(|k| k.field.ty))
        .collect();
    // IP_PREFIX of a field holding several addresses is null: that group is dropped.
    let networks: Vec<String> = keys
        .iter()
        .zip(group_by)
        .filter(|(_, k)| k.prefix.is_some())
        .map(|(key, _)| format!("{key} IS NOT NULL"))
        .collect();
    let test = if networks.is_empty() {
        test
    } else {
        format!("{} AND ({test})", networks.join(" AND "))
    };
    let mut esql = esql_events(&e, range, &typed);
    let stats: Vec<String> = aggs
        .named()
        .iter()
        .map(|(l, x)| format!("{l} = {x}"))
        .collect();
    // KEEP names the alert's columns, as Elastic's rule loader requires of an ES|QL rule
    // (elastic/detection-rules@14cf530: detection_rules/rule.py, "does not contain a 'keep'
    // command").
    let labels: Vec<&str> = aggs.named().iter().map(|(l, _)| l.as_str()).collect();
    let _ = write!(
        esql,
        "\n| STATS {} BY {}{}\n| WHERE {test}\n| KEEP {}, {}",
        stats.join(", "),
        by.join(", "),
        nonempty_groups(&typed),
        keys.join(", "),
        labels.join(", ")
    );
    Ok(vec![Compiled {
        language: Language::Esql,
        query: esql,
    }])
}

/// `ip_prefix` as ES|QL's IP_PREFIX, which reads an IPv4-mapped address as IPv4
/// (https://www.elastic.co/docs/reference/query-languages/esql/functions-operators/ip-functions/ip_prefix).
/// Its code (elastic/elasticsearch@951c875a96fb4b7cf810b046182a0f8cf5ba3f8f
/// x-pack/plugin/esql/src/main/java/org/elasticsearch/xpack/esql/expression/function/scalar/ip/IpPrefix.java,
/// `makePrefix`) reuses one 16-byte buffer for every row and, when a length is a multiple
/// of 8 short of the address, never writes the byte just past it: that byte keeps what the
/// previous row left there. Only the lengths for which every row leaves it 0 are exact.
fn ip_prefix(key: &str, p: ir::IpPrefix) -> Result<String> {
    // Bits in the 128-bit address each row copies (IPv4 as ::ffff:a.b.c.d).
    let (v4, v6) = (96 + usize::from(p.v4), usize::from(p.v6));
    // A byte an IPv4 row copies is nonzero only from byte 10 on (0xff 0xff, then the address).
    let v4_zero_at = |byte: usize| byte < 10 || v4 <= byte * 8;
    let skipped = |bits: usize| (bits.is_multiple_of(8) && bits < 128).then_some(bits / 8);
    let exact = skipped(v4).is_none_or(|b| v6 <= b * 8) && skipped(v6).is_none_or(v4_zero_at);
    if !exact {
        return Err(CompileError::new(
            Code::E0404,
            p.span,
            format!(
                "ES|QL's IP_PREFIX is not exact for the lengths {}, {}: a row's network can \
                 keep a byte of the row before it",
                p.v4, p.v6
            ),
        )
        .hint("the lengths of `ip_prefix(F, 32, 64)` and others whose bits never overlap that byte are exact; leave elastic out with `targets = [...]`"));
    }
    Ok(format!("IP_PREFIX({key}, {}, {})", p.v4, p.v6))
}

/// Sequence: EQL `sequence by K with maxspan=W [..] [..]`. The key is named once when every
/// step's fields have one name, else per step (`[..] by a [..] by b`).
fn sequence(
    steps: &[Query],
    step_keys: &[Vec<ir::Field>],
    within: ir::Duration,
    span: Span,
    mapping: &Mapping,
    used: &[&ir::Field],
) -> Result<Vec<Compiled>> {
    // An EQL step names no index: it takes any event of the sequence's indices that meets
    // its category and filters.
    steps_apart(steps, mapping, span, "EQL", |a, b| {
        matches!((a.category.as_deref(), b.category.as_deref()),
            (Some(x), Some(y)) if x != y && x != "any" && y != "any")
    })?;
    let mut rendered = Vec::new();
    for (q, by) in steps.iter().zip(step_keys) {
        let src = source_mapping(mapping, q)?;
        let keys = by
            .iter()
            .map(|f| field_name(src, f, &q.source).map(|n| field(&n)))
            .collect::<Result<Vec<_>>>()?;
        // EQL joins events that both lack the key; the language's absent key joins nothing.
        let present: Vec<String> = keys
            .iter()
            .zip(by)
            .map(|(k, f)| eql_present(k, f.ty))
            .collect();
        rendered.push((event(q, src, &present, used)?.eql?, keys));
    }
    let shared = rendered.windows(2).all(|w| w[0].1 == w[1].1);
    let mut eql = String::from("sequence");
    if shared && !step_keys[0].is_empty() {
        let _ = write!(eql, " by {}", rendered[0].1.join(", "));
    }
    let _ = write!(eql, " with maxspan={}", ir::Duration::of(within.seconds));
    for (step, keys) in &rendered {
        let _ = write!(eql, "\n  [{step}]");
        if !shared && !keys.is_empty() {
            let _ = write!(eql, " by {}", keys.join(", "));
        }
    }
    Ok(vec![Compiled {
        language: Language::Eql,
        query: eql,
    }])
}

/// First seen: ES|QL over the last L + S (before the delay), each (K, F)'s first time in
/// the last S of them (`recent`), kept when no earlier sighting lies within L before it.
fn first_seen(
    q: &Query,
    src: &SourceMapping,
    value: &ir::Field,
    by: &[ir::Field],
    lookback: u64,
    recent: ir::Range,
    used: &[&ir::Field],
) -> Result<Vec<Compiled>> {
    let e = event(q, src, &[], used)?;
    let mut keys = by
        .iter()
        .map(|f| field_name(src, f, &q.source).map(|n| field(&n)))
        .collect::<Result<Vec<_>>>()?;
    keys.push(field_name(src, value, &q.source).map(|n| field(&n))?);
    // Column names no key takes.
    let free = |name: &str| {
        let mut n = name.to_string();
        while keys.contains(&n) {
            n.push('_');
        }
        n
    };
    let (first, before, new, old) = (
        free("first_seen"),
        free("last_before"),
        free("detc_new"),
        free("detc_old"),
    );
    let s = esql_span(recent.start());
    let types = by.iter().chain([value]).map(|f| f.ty);
    let typed: Vec<(String, FieldType)> = keys.iter().cloned().zip(types).collect();
    let mut esql = esql_events(
        &e,
        ir::Range::new(lookback + recent.span, recent.delay),
        &typed,
    );
    let _ = write!(
        esql,
        "\n| EVAL {new} = CASE(@timestamp > NOW() - {s}, @timestamp, NULL), {old} = CASE(@timestamp <= NOW() - {s}, @timestamp, NULL)\n| STATS {first} = MIN({new}), {before} = MAX({old}) BY {}{}\n| WHERE {first} IS NOT NULL AND ({before} IS NULL OR {before} < {first} - {})\n| KEEP {}, {first}, {before}",
        keys.join(", "),
        nonempty_groups(&typed),
        esql_span(lookback),
        keys.join(", ")
    );
    Ok(vec![Compiled {
        language: Language::Esql,
        query: esql,
    }])
}

/// An ES|QL time span in the largest whole unit of hours, minutes or seconds (fixed
/// lengths, unlike ES|QL's calendar `day`).
fn esql_span(seconds: u64) -> String {
    let (n, unit) = [(3600, "hour"), (60, "minute"), (1, "second")]
        .into_iter()
        .find(|(u, _)| seconds.is_multiple_of(*u) && seconds >= *u)
        .map_or((seconds, "second"), |(u, name)| (seconds / u, name));
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// An ES|QL column name, always back-quoted.
fn quoted_name(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn eql_test(atom: &Atom, f: &str, negated: bool) -> Result<String> {
    let p = match &atom.test {
        Test::Exists => {
            return Ok(match (atom.field.ty == FieldType::String, negated) {
                (_, false) => eql_present(f, atom.field.ty),
                (true, true) => format!("({f} == null or {f} == \"\")"),
                (false, true) => format!("{f} == null"),
            });
        }
        // "You also cannot compare a field to another field, even if the fields are changed
        // using a function" (Elastic, EQL syntax reference, Limitations for comparisons).
        Test::Field(..) => {
            return Err(CompileError::new(
                Code::E0404,
                atom.span,
                "EQL cannot compare a field with another field (Elastic's EQL syntax \
                 reference, \"Limitations for comparisons\")",
            )
            .hint(
                "a single-event rule compiles to ES|QL only, but a sequence is EQL only on \
                 Elastic: compare with a value, or leave elastic out with `targets = [...]`",
            ));
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
    let p = if atom.test.passes_empty() {
        format!("({f} != \"\" and {p})")
    } else {
        p
    };
    Ok(match (negated, &atom.test) {
        (false, _) => p,
        // Elasticsearch rewrites a negated comparison into the opposite one (`not (f <= 0)`
        // into `f > 0`), which fails for an event without the field; the language's `not`
        // holds for it.
        (true, Test::Compare(..) | Test::Equals(..))
            if matches!(atom.field.ty, FieldType::Number | FieldType::Boolean) =>
        {
            format!("({f} == null or not ({p}))")
        }
        (true, _) => format!("not ({p})"),
    })
}

/// `name`: a field's ES|QL name (a field comparison reads two).
fn esql_test(
    atom: &Atom,
    name: &dyn Fn(&ir::Field) -> Result<String>,
    negated: bool,
) -> Result<String> {
    let f = &name(&atom.field)?;
    let p = match &atom.test {
        Test::Exists => {
            return Ok(match (atom.field.ty == FieldType::String, negated) {
                (true, false) => format!("({f} IS NOT NULL AND {f} != \"\")"),
                (true, true) => format!("({f} IS NULL OR {f} == \"\")"),
                (false, false) => format!("{f} IS NOT NULL"),
                (false, true) => format!("{f} IS NULL"),
            });
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
        Test::Field(op, other, case) => esql_fields(f, &name(other)?, *op, *case, atom.field.ty),
    };
    let p = if atom.test.passes_empty() {
        format!("({f} != \"\" AND {p})")
    } else {
        p
    };
    Ok(if negated {
        format!("NOT COALESCE({p}, FALSE)")
    } else {
        p
    })
}

/// `f OP g`. A comparison or single-value function that reads a multi-valued field gives
/// null, with a warning, in ES|QL (Elastic, "ES|QL multivalued fields"; elastic/
/// elasticsearch#102417), and `MV_DEDUPE` first makes repeats of one value one value
/// (keyword fields already keep one of each, long fields do not: same page, duplicate
/// values), so an event passes only with one value in each field, as the language says.
/// `""` is absent.
fn esql_fields(f: &str, g: &str, op: ir::NumOp, case: Case, ty: FieldType) -> String {
    let (a, b) = (format!("MV_DEDUPE({f})"), format!("MV_DEDUPE({g})"));
    match (ty, case) {
        (FieldType::String, Case::Insensitive) => format!(
            "({f} != \"\" AND TO_LOWER({a}) {} TO_LOWER({b}))",
            op.as_str()
        ),
        (FieldType::String, Case::Sensitive) => {
            format!("({f} != \"\" AND {a} {} {b})", op.as_str())
        }
        _ => format!("{a} {} {b}", op.as_str()),
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

/// The ECS fields a source's selection tests that hold arrays (ECS `normalize: array`):
/// Okta files a sign-in under `event.category: ["authentication", "session"]`.
const ECS_ARRAYS: &[&str] = &["event.category", "event.type"];

/// ES|QL: `field` holds one of `words` (plain words, as the ECS vocabularies of
/// [`ECS_ARRAYS`] are). A comparison on a field with several values is null in ES|QL
/// (Elastic, "ES|QL multivalued fields"), which would drop the event; the field's values
/// joined between commas hold `,word,` instead. (MV_CONTAINS says it directly but is only
/// in Elasticsearch 9.2 and later.)
fn esql_member(field: &str, words: &[&str]) -> String {
    let tests: Vec<String> = words
        .iter()
        .map(|w| {
            format!(
                "CONCAT(\",\", MV_CONCAT({field}, \",\"), \",\") LIKE {}",
                string(&format!("*,{w},*"))
            )
        })
        .collect();
    group(tests, " OR ")
}

/// A fact column of the alerts source ([`crate::lower::with_facts`]): `CASE(K IN ("key",
/// ...), value, ...)`, which is null for other keys.
pub(crate) fn fact_column(
    _: &str,
    key: &str,
    groups: &[(&Scalar, Vec<&Scalar>)],
    _: FieldType,
) -> String {
    let arms: Vec<String> = groups
        .iter()
        .map(|(v, keys)| {
            let keys: Vec<Scalar> = keys.iter().map(|k| (*k).clone()).collect();
            format!(
                "{} IN {}, {}",
                field(key),
                list(&keys, string),
                scalar(v, string)
            )
        })
        .collect();
    if arms.is_empty() {
        "NULL".into()
    } else {
        format!("CASE({})", arms.join(", "))
    }
}

/// An ES|QL string literal: other characters as they are (its grammar takes them raw).
pub(crate) fn string(s: &str) -> String {
    quoted(s, None)
}

/// An EQL string literal: other control characters as `\u{..}`.
pub(crate) fn eql_string(s: &str) -> String {
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
