//! Microsoft Sentinel: KQL. `Table | where filter | where condition`.
//!
//! Strings compare with KQL's case-insensitive operators (`=~`, `in~`, `contains`, ...) or
//! their `_cs`/exact forms when `cased`. Absent string columns read as `""` in KQL, so a
//! negated string test (`!~`, `!contains`) is already true for them; other negated tests
//! are wrapped in `not(coalesce(..., false))` so a null never turns `not` into "unknown".
//!
//! # Correlation (docs/CORRELATION.md)
//!
//! Every correlation query restricts itself to the time it needs with
//! `| where TimeGenerated > ago(...)` straight after the table, so it means the same pasted
//! into Logs as scheduled.
//!
//! - **Group keys** (aggregation, sequence, first seen): an event without a value for a key
//!   is dropped (`isnotempty` for strings and IPs, which Kusto never stores as null;
//!   `isnotnull` otherwise) before `summarize`, which would otherwise keep an empty group.
//!   A key on a plain column is that column. A key on a property of a dynamic column
//!   (`DeviceDetail.displayName`) is `mv-expand`ed, wrapped in an array when it is not one,
//!   so an array puts the event in one group per element, then converted to the field's type.
//! - **Aggregation**: `summarize <aggs> by <keys> | where <having>` over the last W.
//!   `count()`; `distinct(f)` is `count_distinctif(f, isnotempty(f))` (exact, unlike
//!   `dcount`; empty strings are Kusto's absent strings and are not values); `sum`/`min`/
//!   `max` read `todouble(f)`, so numbers stored as text count and other text is null,
//!   which the aggregates skip; a `sum` term also needs `countif(isnotnull(...)) > 0`, as
//!   the sum of no numbers holds no value, and a `min`/`max` term `isnotnull()` (Kusto's
//!   `null != N` is true). Aggregates are named after the function and the logical
//!   field (`distinct_user_name`), each once.
//! - **Sequence**: a chain of inner joins on the keys, one per step, over the last
//!   W + schedule (schedule defaults to W). Step 1's events carry their time as `T1`; each
//!   next step k joins its events (`Tk`), keeps the pairs with `Tk >= T(k-1)` and
//!   `Tk - T1 <= W`, and then `summarize T1 = max(T1) by keys, Tk`: for every step-k event
//!   only the latest possible start survives, which is the one EQL's partial sequences keep
//!   and the best one for the window, so a match exists exactly when an ordered chain of
//!   one key within W exists, and the joins stay as large as the step's events.
//!   Ties: Kusto has no input order, so equal `TimeGenerated` counts as in order, except
//!   between two consecutive steps on the same table, which need a strictly later time so
//!   one event never plays two steps. Output: keys, `StartTime`, `EndTime` per match end.
//!   (`scan` is not used: its state holds one partial sequence per step, not per key, so
//!   interleaved keys would lose matches.)
//! - **Absence** (`A  not B`): over the last W + S, the A rows at least W old (`T1 <=
//!   ago(W + delay)`), `join kind=leftouter` with the key's B rows, `summarize countif(T2 >
//!   T1 and T2 - T1 <= W) by keys, T1`, kept when 0: each A once, judged over its whole
//!   window. `leftouter` keeps the A rows no B joins (their T2 is null, which `countif`
//!   does not count).
//! - **First seen**: over the last L + S (S = schedule, default 1h), the earliest time of
//!   each (keys, F), reported when it falls in the last S.

use crate::base::{Case, Cidr, Code};
use crate::ir;
use crate::ir::{Atom, FieldType, Query, Scalar, Test};
use crate::lower::{
    AggregateNames, CompileError, Compiled, Language, Result, computed_fields, field_name,
    fields_read, fields_used, filter_test, group, join, join_having, nnf, plain_identifier, quoted,
    source_mapping, steps_apart,
};
use crate::pattern::Regex;
use crate::schema::{MEMBER, Mapping, SourceMapping, is_member_name};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt::Write as _;

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
        } => aggregate(
            query,
            source_mapping(mapping, query)?,
            group_by,
            rule.range(),
            having,
            used,
        )?,
        ir::RuleKind::Sequence {
            by,
            within,
            steps,
            keys,
            absent,
            links,
            span,
        } => {
            // Each step reads its table; two sources of one table need a filter apart.
            steps_apart(steps, mapping, *span, "KQL", |a, b| {
                tables(a).is_disjoint(&tables(b))
            })?;
            let links = linked(links, steps, mapping)?;
            let form = if *absent { absence } else { sequence };
            form(
                steps,
                by,
                keys,
                within.seconds,
                rule.range(),
                mapping,
                &links,
            )?
        }
        ir::RuleKind::FirstSeen {
            query,
            field,
            by,
            lookback,
            ..
        } => first_seen(
            query,
            source_mapping(mapping, query)?,
            field,
            by,
            lookback.seconds,
            ir::Range::new(rule.schedule(), rule.delay()),
            used,
        )?,
    };
    Ok(vec![Compiled {
        language: Language::Kql,
        query,
    }])
}

/// The column that holds `field` in the rule's results (see [`keys`]): a plain column keeps
/// its name, except in a sequence, whose keys are all renamed; a property of a dynamic
/// column is named after the logical field. A single-event rule's package adds that
/// column with [`alert_columns`].
pub(crate) fn result_column(
    kind: &ir::RuleKind,
    src: &SourceMapping,
    field: &ir::Field,
    source: &str,
) -> Result<String> {
    let column = field_name(src, kind.first_query_field(field), source)?;
    let renamed = column.contains('.') || matches!(kind, ir::RuleKind::Sequence { .. });
    if renamed {
        Ok(logical_column(&field.name))
    } else if plain_identifier(&column, &[]) {
        Ok(column.to_string())
    } else {
        Err(CompileError::new(
            Code::E0407,
            field.span,
            format!("Sentinel column `{column}` cannot name an alert field"),
        )
        .hint("rename the column in the Sentinel mapping"))
    }
}

/// The `extend` that gives a single-event rule's results a column for each alert field that
/// is a property of a dynamic column (`DeviceDetail.displayName` → `host_name`).
pub(crate) fn alert_columns(
    fields: &[ir::Field],
    src: &SourceMapping,
    source: &str,
) -> Result<String> {
    let mut parts = Vec::new();
    for f in fields {
        let column = field_name(src, f, source)?;
        if column.contains('.') {
            parts.push(format!(
                "{} = {}",
                logical_column(&f.name),
                field_ref(&column, f.ty)
            ));
        }
    }
    Ok(if parts.is_empty() {
        String::new()
    } else {
        format!("\n| extend {}", parts.join(", "))
    })
}

/// The `| extend` lines a query needs: the source's own computed columns that a field in
/// `used` is read from, or that another needed column's expression names, in mapping
/// order; then one for each column per family member (an `extend` key with a `*`, see
/// targets/sentinel.yaml) that a field in `used` is read from, each once, in order of
/// first use. A query pays for a computed column only when it reads it.
fn extends(src: &SourceMapping, used: &[&ir::Field]) -> String {
    let mut members: Vec<(String, String)> = Vec::new();
    for f in used {
        let Some(column) = src.field(&f.name) else {
            continue;
        };
        if members.iter().any(|(c, _)| *c == *column) {
            continue;
        }
        let computed = src.extend.iter().flatten().find_map(|(key, expr)| {
            let (before, after) = key.split_once('*')?;
            let member = column.strip_prefix(before)?.strip_suffix(after)?;
            is_member_name(member).then(|| expr.replace(MEMBER, member))
        });
        if let Some(expr) = computed {
            members.push((column.into_owned(), expr));
        }
    }
    let member_exprs: Vec<&str> = members.iter().map(|(_, e)| e.as_str()).collect();
    let mut out = String::new();
    for (column, expr) in computed_fields(src, used, &member_exprs) {
        let _ = write!(out, "\n| extend {} = {expr}", identifier(column));
    }
    for (column, expr) in &members {
        let _ = write!(out, "\n| extend {} = {expr}", identifier(column));
    }
    out
}

/// The tables a source reads: `table` and the table each `union` entry starts with.
pub(super) fn tables(src: &SourceMapping) -> BTreeSet<&str> {
    let more = src.union.iter().flatten();
    let heads = more.filter_map(|e| e.split(|c: char| c == '|' || c.is_whitespace()).next());
    src.table.as_deref().into_iter().chain(heads).collect()
}

/// `Table [| where TimeGenerated > ago(start) and TimeGenerated <= ago(delay)] | where filter
/// | extend ... | where cond`.
fn events(
    q: &Query,
    src: &SourceMapping,
    range: Option<ir::Range>,
    used: &[&ir::Field],
) -> Result<String> {
    let table = src.table.as_deref().ok_or_else(|| {
        CompileError::new(
            Code::E0401,
            q.source_span,
            format!("source `{}` has no `table`", q.source),
        )
        .hint("set `table:` for the source in the Sentinel mapping")
    })?;
    let mut out = match src.union.as_deref() {
        Some(more) if !more.is_empty() => {
            let more: Vec<String> = more.iter().map(|e| format!("({e})")).collect();
            format!(
                "union isfuzzy=true {}, {}",
                identifier(table),
                more.join(", ")
            )
        }
        _ => identifier(table),
    };
    if let Some(range) = range {
        let _ = write!(out, "\n| where {}", within(range));
    }
    for (column, value) in src.filter.iter().flatten() {
        let _ = write!(
            out,
            "\n| where {}",
            filter_test(&column_ref(column), value, string, "in")
        );
    }
    if let Some(expand) = &src.expand {
        let _ = write!(out, "\n| mv-expand {expand}");
    }
    out.push_str(&extends(src, used));
    if let Some(cond) = &q.condition {
        let column = |f: &ir::Field| field_name(src, f, &q.source);
        let body = join(&nnf(cond, false), " and ", " or ", &mut |atom, negated| {
            test(atom, &column, negated)
        })?;
        let _ = write!(out, "\n| where {body}");
    }
    Ok(out)
}

/// A logical field name as a KQL column name: `user.name` → `user_name`.
fn logical_column(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        s
    } else {
        format!("_{s}")
    }
}

/// The test that a key column holds a value.
fn has_value(column: &str, ty: FieldType) -> String {
    match ty {
        FieldType::String | FieldType::Ip => format!("isnotempty({column})"),
        FieldType::Number | FieldType::Boolean => format!("isnotnull({column})"),
    }
}

/// A scalar of the field's type from a dynamic value.
fn convert(expr: &str, ty: FieldType) -> String {
    match ty {
        FieldType::String | FieldType::Ip => format!("tostring({expr})"),
        FieldType::Number => format!("todouble({expr})"),
        FieldType::Boolean => format!("tobool({expr})"),
    }
}

/// Group keys: the column each key is read from after `stages`, which make one row per
/// array element of a dynamic key, and the keys' values-present test.
struct Keys {
    columns: Vec<String>,
    stages: String,
}

/// Keys of `fields` on `src`, each named after the field of `names` in its place (a
/// sequence step's own key fields take the sequence's names). The name is always used for
/// dynamic properties, and for plain columns only when `always_rename`, which also
/// converts them (so keys of different tables have one type).
fn keys(
    fields: &[ir::Field],
    names: &[ir::Field],
    src: &SourceMapping,
    source: &str,
    always_rename: bool,
) -> Result<Keys> {
    let mut columns = Vec::new();
    let mut stages = String::new();
    for (f, named) in fields.iter().zip(names) {
        let column = field_name(src, f, source)?;
        let name = logical_column(&named.name);
        if column.contains('.') {
            let path = column_ref(&column);
            let _ = write!(
                stages,
                "\n| mv-expand {name} = iff(gettype({path}) == \"array\", {path}, pack_array({path}))\
                 \n| extend {name} = {}",
                convert(&name, f.ty)
            );
            columns.push(name);
        } else if always_rename {
            let value = match f.ty {
                FieldType::String | FieldType::Ip => identifier(&column),
                _ => convert(&identifier(&column), f.ty),
            };
            let _ = write!(stages, "\n| extend {name} = {value}");
            columns.push(name);
        } else {
            columns.push(identifier(&column));
        }
    }
    let present: Vec<String> = columns
        .iter()
        .zip(fields)
        .map(|(c, f)| has_value(c, f.ty))
        .collect();
    if !present.is_empty() {
        let _ = write!(stages, "\n| where {}", present.join(" and "));
    }
    Ok(Keys { columns, stages })
}

/// `from ... group by ... window W having ...`: the last W, grouped, tested once.
fn aggregate(
    q: &Query,
    src: &SourceMapping,
    group_by: &[ir::Key],
    range: ir::Range,
    having: &ir::Having,
    used: &[&ir::Field],
) -> Result<String> {
    let mut out = events(q, src, Some(range), used)?;
    let fields: Vec<ir::Field> = group_by.iter().map(|k| k.field.clone()).collect();
    for k in group_by {
        if let Some(p) = k.prefix
            && field_name(src, &k.field, &q.source)?.contains('.')
        {
            return Err(CompileError::new(
                Code::E0404,
                p.span,
                format!(
                    "KQL cannot take the network of `{}` exactly: it is a property of a dynamic \
                     column, which may hold several addresses (the language reads none of them)",
                    k.field.name
                ),
            )
            .hint("map the field to a plain column in the Sentinel mapping, or leave sentinel out with `targets = [...]`"));
        }
    }
    let keys = keys(&fields, &fields, src, &q.source, false)?;
    out.push_str(&keys.stages);
    let networks: Vec<&String> = keys
        .columns
        .iter()
        .zip(group_by)
        .filter_map(|(c, k)| k.prefix.map(|_| c))
        .collect();
    // parse_ipv6() also reads a network (`10.0.0.0/8`), which is no address: no network key.
    for c in &networks {
        let _ = write!(out, "\n| where {c} !contains \"/\"");
    }
    let mut aggs = AggregateNames::new(&keys.columns);
    // A sum holds a number only when it added one (the evaluator's sum of no numbers is
    // null, as `min`/`max` are in Kusto), whatever Kusto's `sum()` gives an all-null group:
    // `numbers` names the count of numbers a sum added.
    let mut name_of = |agg: &ir::Aggregate, numbers: bool| -> Result<String> {
        let (stem, expr) = aggregate_expr(agg, numbers, src, &q.source)?;
        Ok(aggs.name(&stem, expr))
    };
    let condition = join_having(having, " and ", " or ", &mut |t| {
        let test = format!("{} {} {}", name_of(&t.agg, false)?, t.op.as_str(), t.value);
        Ok(match t.agg {
            ir::Aggregate::Sum(_) => format!("({} > 0 and {test})", name_of(&t.agg, true)?),
            // Kusto's `min`/`max` of no numbers is null, and `null != N` holds in Kusto.
            ir::Aggregate::Min(_) | ir::Aggregate::Max(_) => {
                format!("(isnotnull({}) and {test})", name_of(&t.agg, false)?)
            }
            _ => test,
        })
    })?;
    let list: Vec<String> = aggs
        .named()
        .iter()
        .map(|(n, e)| format!("{n} = {e}"))
        .collect();
    let _ = write!(out, "\n| summarize {}", list.join(", "));
    // A network key keeps its column's name; the aggregates still read the addresses.
    let by: Vec<String> = keys
        .columns
        .iter()
        .zip(group_by)
        .map(|(c, k)| match k.prefix {
            None => c.clone(),
            Some(p) => format!("{c} = {}", network(c, p)),
        })
        .collect();
    if !by.is_empty() {
        let _ = write!(out, " by {}", by.join(", "));
    }
    // An address that does not parse has no network: its group ("") is dropped.
    let condition = if networks.is_empty() {
        condition
    } else {
        let present: Vec<String> = networks
            .iter()
            .map(|c| format!("isnotempty({c})"))
            .collect();
        format!("{} and ({condition})", present.join(" and "))
    };
    let _ = write!(out, "\n| where {condition}");
    Ok(out)
}

/// `ip_prefix`: the network of the address in `column`, as parse_ipv6_mask() writes it (the
/// canonical IPv6 text, 8 groups of 4 hex digits; "" when the address does not parse). It
/// reads an IPv4 address as its IPv4-mapped IPv6 one (parse_ipv6(), parse_ipv6_mask():
/// https://learn.microsoft.com/en-us/kusto/query/parse-ipv6-mask-function), so an IPv4
/// address, written either way, keeps its first 96 + v4 bits.
fn network(column: &str, p: ir::IpPrefix) -> String {
    format!(
        "parse_ipv6_mask({column}, iff(parse_ipv6({column}) startswith \"{IPV4_MAPPED}\", {}, {}))",
        96 + u16::from(p.v4),
        p.v6
    )
}

/// The first 96 bits of an IPv4-mapped IPv6 address in parse_ipv6()'s canonical text
/// (`192.168.255.255` is `0000:0000:0000:0000:0000:ffff:c0a8:ffff`:
/// https://learn.microsoft.com/en-us/kusto/query/parse-ipv6-function).
const IPV4_MAPPED: &str = "0000:0000:0000:0000:0000:ffff:";

/// An aggregate's base name and its KQL; `numbers`: how many numbers a `sum` adds.
fn aggregate_expr(
    agg: &ir::Aggregate,
    numbers: bool,
    src: &SourceMapping,
    source: &str,
) -> Result<(String, String)> {
    let numeric = |func: &str, f: &ir::Field| -> Result<(String, String)> {
        let column = column_ref(&field_name(src, f, source)?);
        Ok((
            format!("{func}_{}", logical_column(&f.name)),
            format!("{func}(todouble({column}))"),
        ))
    };
    match agg {
        ir::Aggregate::Count => Ok(("event_count".into(), "count()".into())),
        ir::Aggregate::Distinct(f) => {
            let value = field_ref(&field_name(src, f, source)?, f.ty);
            Ok((
                format!("distinct_{}", logical_column(&f.name)),
                format!("count_distinctif({value}, {})", has_value(&value, f.ty)),
            ))
        }
        ir::Aggregate::Sum(f) if numbers => {
            let column = column_ref(&field_name(src, f, source)?);
            Ok((
                format!("numbers_{}", logical_column(&f.name)),
                format!("countif(isnotnull(todouble({column})))"),
            ))
        }
        ir::Aggregate::Sum(f) => numeric("sum", f),
        ir::Aggregate::Min(f) => numeric("min", f),
        ir::Aggregate::Max(f) => numeric("max", f),
    }
}

/// `sequence by K within W { ... }`: a chain of joins on K, each step's key fields named
/// as K (see the module comment).
fn sequence(
    steps: &[Query],
    by: &[ir::Field],
    step_keys: &[Vec<ir::Field>],
    within: u64,
    range: ir::Range,
    mapping: &Mapping,
    links: &Linked,
) -> Result<String> {
    let mut out = String::new();
    let mut key_columns = Vec::new();
    for (i, (step, own)) in steps.iter().zip(step_keys).enumerate() {
        let src = source_mapping(mapping, step)?;
        let k = i + 1;
        let (q, keys) = step_rows(step, own, by, k, range, mapping, links)?;
        if i == 0 {
            out = q;
            key_columns = keys;
            continue;
        }
        // One row can meet two consecutive steps only when both read the same table.
        let previous = source_mapping(mapping, &steps[i - 1])?;
        let order = if (&previous.table, &previous.union) == (&src.table, &src.union) {
            ">"
        } else {
            ">="
        };
        let _ = write!(
            out,
            "\n| join kind=inner (\n    {}\n) on {}\n| where T{k} {order} T{i} and T{k} - T1 <= {}{}",
            q.replace('\n', "\n    "),
            key_columns.join(", "),
            ir::Duration::of(within),
            links.tests_of(i)
        );
        if k < steps.len() {
            let _ = write!(
                out,
                "\n| summarize T1 = max(T1) by {}, T{k}",
                key_columns.join(", ")
            );
        }
    }
    let _ = write!(
        out,
        "\n| summarize StartTime = max(T1) by {}, EndTime = T{}",
        key_columns.join(", "),
        steps.len()
    );
    Ok(out)
}

/// A sequence step's rows: its events over `range`, each with its key fields named as the
/// sequence's (`by`) and its time as `Tk`; and the key columns.
#[allow(clippy::too_many_arguments)]
fn step_rows(
    step: &Query,
    own: &[ir::Field],
    by: &[ir::Field],
    k: usize,
    range: ir::Range,
    mapping: &Mapping,
    links: &Linked,
) -> Result<(String, Vec<String>)> {
    let src = source_mapping(mapping, step)?;
    let keys = keys(own, by, src, &step.source, true)?;
    // Each step computes only the columns it reads (another step's table may lack them).
    let mut used = fields_read([step], own);
    used.extend(links.fields_of(k - 1));
    let mut q = events(step, src, Some(range), &used)?;
    q.push_str(&keys.stages);
    let mut projected = keys.columns.clone();
    projected.push(format!("T{k} = TimeGenerated"));
    projected.extend(links.columns_of(k - 1));
    let _ = write!(q, "\n| project {}", projected.join(", "));
    Ok((q, keys.columns))
}

/// A sequence's comparisons across steps: each step projects the columns they read, named
/// after the field and the step (`source_geo_country_iso_code_1`), and the join tests them.
struct Linked {
    /// Per step: (projected name, the mapped column, the field).
    columns: Vec<Vec<(String, String, ir::Field)>>,
    /// The tests, each with the later step's index.
    tests: Vec<(usize, String)>,
}

impl Linked {
    fn fields_of(&self, step: usize) -> impl Iterator<Item = &ir::Field> {
        self.columns
            .get(step)
            .into_iter()
            .flatten()
            .map(|(_, _, f)| f)
    }

    fn columns_of(&self, step: usize) -> impl Iterator<Item = String> + '_ {
        self.columns
            .get(step)
            .into_iter()
            .flatten()
            .map(|(name, column, _)| format!("{name} = {}", column_ref(column)))
    }

    fn columns_named(&self, step: usize) -> Vec<&str> {
        self.columns
            .get(step)
            .into_iter()
            .flatten()
            .map(|(name, _, _)| name.as_str())
            .collect()
    }

    /// ` and TEST ...` for the links whose later step is `step`.
    fn tests_of(&self, step: usize) -> String {
        self.tests
            .iter()
            .filter(|(s, _)| *s == step)
            .map(|(_, t)| format!(" and {t}"))
            .collect()
    }
}

fn linked(links: &[ir::Link], steps: &[Query], mapping: &Mapping) -> Result<Linked> {
    let mut columns = vec![Vec::new(); steps.len()];
    // The column a step projects for `f` (once per step and field), and the mapped column.
    let mut project = |step: usize, f: &ir::Field| -> Result<(String, String)> {
        let q = &steps[step];
        let mapped = field_name(source_mapping(mapping, q)?, f, &q.source)?.to_string();
        let name = format!("{}_{}", logical_column(&f.name), step + 1);
        let projected: &mut Vec<(String, String, ir::Field)> = &mut columns[step];
        if !projected.iter().any(|(n, _, _)| *n == name) {
            projected.push((name.clone(), mapped.clone(), f.clone()));
        }
        Ok((name, mapped))
    };
    let mut tests = Vec::new();
    for link in links {
        let Test::Field(op, other, case) = &link.atom.test else {
            unreachable!("a link compares two fields")
        };
        let (f, f_column) = project(link.step, &link.atom.field)?;
        let (g, g_column) = project(link.earlier, other)?;
        plain_columns(&link.atom, other, [&f_column, &g_column])?;
        let test = fields_test(&link.atom, (&f, other, &g), *op, *case, link.negated)?;
        tests.push((link.step, test));
    }
    Ok(Linked { columns, tests })
}

/// `sequence by K within W { A where ...  not B where ... }`, run every S: over the last
/// W + S (before the delay), the A rows at least W old (so their whole window lies in the
/// range, and consecutive runs report each A once), joined with the key's B rows; an A is
/// reported when none of them lies in (T1, T1 + W].
fn absence(
    steps: &[Query],
    by: &[ir::Field],
    step_keys: &[Vec<ir::Field>],
    within: u64,
    range: ir::Range,
    mapping: &Mapping,
    links: &Linked,
) -> Result<String> {
    let (mut out, keys) = step_rows(&steps[0], &step_keys[0], by, 1, range, mapping, links)?;
    let (followers, _) = step_rows(&steps[1], &step_keys[1], by, 2, range, mapping, links)?;
    let w = ir::Duration::of(within);
    // The A columns the links read are A's own: one row per A and key after `summarize`.
    let a_columns = links.columns_named(0);
    let _ = write!(
        out,
        "\n| where T1 <= ago({})\n| join kind=leftouter (\n    {}\n) on {}\n\
         | summarize Followers = countif(T2 > T1 and T2 - T1 <= {w}{}) by {}, StartTime = T1{}\n\
         | where Followers == 0",
        ir::Duration::of(within + range.delay),
        followers.replace('\n', "\n    "),
        keys.join(", "),
        links.tests_of(1),
        keys.join(", "),
        a_columns
            .iter()
            .map(|c| format!(", {c}"))
            .collect::<String>(),
    );
    Ok(out)
}

/// `first seen F by K lookback L`, run every S: over the last L + S (before the delay),
/// each (K, F)'s first time in the last S of them (`new`), kept when no earlier sighting
/// lies within L before it.
fn first_seen(
    q: &Query,
    src: &SourceMapping,
    field: &ir::Field,
    by: &[ir::Field],
    lookback: u64,
    new: ir::Range,
    used: &[&ir::Field],
) -> Result<String> {
    let mut out = events(
        q,
        src,
        Some(ir::Range::new(lookback + new.span, new.delay)),
        used,
    )?;
    let mut fields = by.to_vec();
    fields.push(field.clone());
    let keys = keys(&fields, &fields, src, &q.source, false)?;
    out.push_str(&keys.stages);
    let s = ir::Duration::of(new.start());
    let _ = write!(
        out,
        "\n| summarize FirstSeen = minif(TimeGenerated, TimeGenerated > ago({s})), LastBefore = maxif(TimeGenerated, TimeGenerated <= ago({s})) by {}\n| where isnotnull(FirstSeen) and (isnull(LastBefore) or LastBefore < FirstSeen - {})",
        keys.columns.join(", "),
        ir::Duration::of(lookback)
    );
    Ok(out)
}

/// `TimeGenerated` within `range` of the run: after its start, at or before its end.
pub(crate) fn within(range: ir::Range) -> String {
    let mut test = format!("TimeGenerated > ago({})", ir::Duration::of(range.start()));
    if range.delay > 0 {
        let _ = write!(
            test,
            " and TimeGenerated <= ago({})",
            ir::Duration::of(range.delay)
        );
    }
    test
}

/// An atom's test. Kusto reads an absent string as `""`, so a test that `""` passes
/// (`contains ""`, `like "*"`, a regex matching the empty value) is guarded: an absent
/// field fails every test, and passes its negation.
/// `column`: a field's name in the mapping (a field comparison reads two).
fn test<'m>(
    atom: &Atom,
    column: &dyn Fn(&ir::Field) -> Result<Cow<'m, str>>,
    negated: bool,
) -> Result<String> {
    let name = column(&atom.field)?;
    if let Test::Field(op, other, case) = &atom.test {
        return fields_test(atom, (&name, other, &column(other)?), *op, *case, negated);
    }
    let f = &field_ref(&name, atom.field.ty);
    let p = unguarded_test(atom, f, negated);
    // A watchlist may hold `""`, which the language reads as absent.
    let guarded = atom.test.passes_empty() || atom.tunable.is_some();
    Ok(match (guarded, negated) {
        (false, _) => p,
        (true, false) => format!("(isnotempty({f}) and {p})"),
        (true, true) => format!("(isempty({f}) or {p})"),
    })
}

/// A test of one field against values.
fn unguarded_test(atom: &Atom, f: &str, negated: bool) -> String {
    let cased = |case: &Case| *case == Case::Sensitive;
    match &atom.test {
        // A tunable list is a watchlist of the same name: its `SearchKey` column holds the
        // values (watchlists.json.j2), and `in~` is case-insensitive (Kusto, "The case-
        // insensitive in~ string operator"). Microsoft's example of a watchlist in an
        // analytics rule: `where ComputerIP in ((_GetWatchlist('ipwatchlist') | project
        // SearchKey))` (MicrosoftDocs/azure-docs@04db918 articles/sentinel/watchlists-queries.md).
        Test::Equals(_, case) if atom.tunable.is_some() => {
            let op = match (cased(case), negated) {
                (false, false) => "in~",
                (false, true) => "!in~",
                (true, false) => "in",
                (true, true) => "!in",
            };
            let name = atom.tunable.as_deref().unwrap_or_default();
            format!(
                "{f} {op} (_GetWatchlist({}) | project SearchKey)",
                string(name)
            )
        }
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
        Test::Field(..) => unreachable!("`test` renders a field comparison with `fields_test`"),
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

/// `f OP g` on two columns (names as the mapping gives them). A property of a dynamic
/// column may hold an array, which KQL would read as one JSON text, so only plain columns
/// compare (the language compares one value of each field). Kusto never stores a string as
/// null (absent is `""`); `=~` is its case-insensitive equality (Kusto, "String operators").
/// `ipv6_compare` reads IPv4 and IPv6 addresses as addresses, null when one does not parse
/// (Kusto, "ipv6_compare()"), but also a network (`10.0.0.1/8`), hence the `/` guard.
fn fields_test(
    atom: &Atom,
    (f, other, g): (&str, &ir::Field, &str),
    op: ir::NumOp,
    case: Case,
    negated: bool,
) -> Result<String> {
    plain_columns(atom, other, [f, g])?;
    let (f, g) = (column_ref(f), column_ref(g));
    let p = match (atom.field.ty, case) {
        (FieldType::String, Case::Insensitive) => format!("(isnotempty({f}) and {f} =~ {g})"),
        (FieldType::String, Case::Sensitive) => format!("(isnotempty({f}) and {f} == {g})"),
        (FieldType::Ip, _) => {
            format!("({f} !contains \"/\" and {g} !contains \"/\" and ipv6_compare({f}, {g}) == 0)")
        }
        // As numbers also when a column holds them as text (a string column compares as
        // text); null when one is not a number.
        (FieldType::Number, _) => format!("todouble({f}) {} todouble({g})", op.as_str()),
        (FieldType::Boolean, _) => format!("{f} {} {g}", op.as_str()),
    };
    Ok(null_safe(p, negated))
}

/// Two fields compare only as plain columns (see [`fields_test`]).
fn plain_columns(atom: &Atom, other: &ir::Field, columns: [&str; 2]) -> Result<()> {
    match columns.into_iter().find(|c| c.contains('.')) {
        Some(column) => Err(CompileError::new(
            Code::E0404,
            atom.span,
            format!(
                "KQL cannot compare `{}` with `{}` exactly: `{column}` is a property of a dynamic \
                 column, which may hold an array that KQL reads as one JSON text",
                atom.field.name, other.name
            ),
        )
        .hint(
            "compare with a value, map the fields to plain columns in the Sentinel mapping, \
             or leave sentinel out with `targets = [...]`",
        )),
        None => Ok(()),
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
    balanced_group(parts, if negated { " and " } else { " or " })
}

/// Alternatives joined with `sep`, like [`group`]. Kusto's parser nests `a or b or c …` one
/// level per operand and stops at a depth limit (KS245: "Query syntax depth exceeds maximum
/// safe limit"), so a long list is grouped in parenthesised chunks, which `and`/`or` allow.
fn balanced_group(parts: Vec<String>, sep: &str) -> String {
    const CHUNK: usize = 32;
    if parts.len() <= CHUNK {
        return group(parts, sep);
    }
    let chunks: Vec<String> = parts
        .chunks(CHUNK)
        .map(|c| group(c.to_vec(), sep))
        .collect();
    balanced_group(chunks, sep)
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
    let items: Vec<String> = values.iter().map(literal).collect();
    if parens {
        format!("({})", items.join(", "))
    } else {
        items.join(", ")
    }
}

/// A fact column of the alerts source ([`crate::lower::with_facts`]): `case(K in~ ("key",
/// ...), value, ..., none)`, `none` being `""` (KQL's absent string) or a null number. Ids
/// compare case-insensitively: a GUID has one value in either case.
pub(crate) fn fact_column(
    _: &str,
    key: &str,
    groups: &[(&Scalar, Vec<&Scalar>)],
    ty: FieldType,
) -> String {
    let none = match ty {
        FieldType::Number => "long(null)",
        _ => "\"\"",
    };
    let arms: Vec<String> = groups
        .iter()
        .map(|(v, keys)| {
            let keys: Vec<String> = keys.iter().map(|k| literal(k)).collect();
            format!(
                "{} in~ ({}), {}",
                identifier(key),
                keys.join(", "),
                literal(v)
            )
        })
        .collect();
    if arms.is_empty() {
        none.into()
    } else {
        format!("case({}, {none})", arms.join(", "))
    }
}

/// A KQL literal of a value.
fn literal(v: &Scalar) -> String {
    match v {
        Scalar::Str(s) => string(s),
        Scalar::Num(n) => n.to_string(),
        Scalar::Bool(b) => b.to_string(),
    }
}

/// A KQL string literal; other control characters as `\uXXXX`.
pub(crate) fn string(s: &str) -> String {
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
    fn long_lists_are_grouped_in_chunks() {
        let values: Vec<String> = (0..100).map(|i| format!("v{i}")).collect();
        let q = any_string_op("F", "contains", &values, false, false);
        // Every value once, in order; no run of `or`s longer than one chunk.
        let found: Vec<&str> = q.matches(r#""v"#).collect();
        assert_eq!(found.len(), 100);
        assert!(q.starts_with("((F contains \"v0\" or "));
        assert!(q.contains("\"v31\") or (F contains \"v32\""));
        let longest = q
            .split(['(', ')'])
            .map(|run| run.matches(" or ").count())
            .max();
        assert_eq!(longest, Some(31));
        assert_eq!(
            any_string_op("F", "contains", &values[..2], false, false),
            "(F contains \"v0\" or F contains \"v1\")"
        );
    }

    #[test]
    fn a_union_reads_its_first_table_and_each_member_s_table() {
        let src: SourceMapping =
            serde_saphyr::from_str("table: A\nunion: ['B | extend X = todynamic(X)', C]\n")
                .unwrap();
        assert_eq!(tables(&src), BTreeSet::from(["A", "B", "C"]));
    }

    #[test]
    fn only_the_computed_columns_a_query_reads_and_those_they_read() {
        let src: SourceMapping = serde_saphyr::from_str(
            "table: T\nextend:\n  A: 'f(X)'\n  AB: 'x'\n  B: 'g(A, AB)'\n  C: 'h(B)'\n  D: 'k(Y)'\n  '*_': 'm({*})'\nfields:\n  b: B\n  d: D\n  e.*: '*_'\n",
        )
        .unwrap();
        let field = |name: &str| ir::Field {
            name: name.into(),
            ty: FieldType::String,
            span: Default::default(),
        };
        let (b, d, m) = (field("b"), field("d"), field("e.M"));
        assert_eq!(
            extends(&src, &[&b]),
            "\n| extend A = f(X)\n| extend AB = x\n| extend B = g(A, AB)"
        );
        assert_eq!(
            extends(&src, &[&m, &d, &m]),
            "\n| extend D = k(Y)\n| extend M_ = m(M)"
        );
        assert_eq!(extends(&src, &[]), "");
    }

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
