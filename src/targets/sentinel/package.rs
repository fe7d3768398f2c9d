//! Microsoft Sentinel: an ARM template per rule and one for the library (scheduled analytics
//! rules, `Microsoft.OperationalInsights/workspaces/providers/alertRules`), the
//! Azure-Sentinel repository's YAML form, and one for the tunable lists' watchlists. A rule
//! that breaks one of Microsoft's documented limits for scheduled rules is an error here, so
//! `detc check` reports it.

use crate::base::diag::Diagnostic;
use crate::base::{Code, Span};
use crate::ir;
use crate::lower::{source_mapping, tunable_lists};
use crate::render::{Form, Output, Package, Period, RuleContext};
use crate::schema::Mapping;
use crate::targets::PackagePart;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

pub(super) static PACKAGE: Package = Package {
    target: "sentinel",
    templates: &[
        (
            "arm.json.j2",
            include_str!("../../../targets/sentinel/arm.json.j2"),
        ),
        (
            "rule.yaml.j2",
            include_str!("../../../targets/sentinel/rule.yaml.j2"),
        ),
        (
            "watchlists.json.j2",
            include_str!("../../../targets/sentinel/watchlists.json.j2"),
        ),
    ],
    outputs: &OUTPUTS,
};

const OUTPUTS: [Output; 4] = [
    Output {
        template: "arm.json.j2",
        path: "arm/{rule}.json",
        form: Form::Json,
    },
    Output {
        template: "arm.json.j2",
        path: "detc.json",
        form: Form::Json,
    },
    Output {
        template: "rule.yaml.j2",
        path: "yaml/{rule}.yaml",
        form: Form::Text,
    },
    Output {
        template: "watchlists.json.j2",
        path: "watchlists.json",
        form: Form::Json,
    },
];

// Microsoft's limits for scheduled analytics rules (Azure-Sentinel's template schema tests,
// ScheduledTemplateInternalModel.cs; learn.microsoft.com, "Create a scheduled analytics rule").

/// Severity on Sentinel's scale, which has no level above High (docs/PACKAGING.md).
fn severity(s: ir::Severity) -> &'static str {
    match s {
        ir::Severity::Informational => "Informational",
        ir::Severity::Low => "Low",
        ir::Severity::Medium => "Medium",
        ir::Severity::High | ir::Severity::Critical => "High",
    }
}

const MAX_QUERY: usize = 10_000;
/// A period from which Sentinel runs a rule at most hourly.
const LONG_PERIOD: u64 = 2 * 86_400;
const MIN_PERIOD: u64 = 300;
const MAX_PERIOD: u64 = 14 * 86_400;
const MAX_NAME: usize = 256;
const MAX_DESCRIPTION: usize = 5_000;
const MAX_ENTITIES: usize = 5;
const MAX_CUSTOM_DETAILS: usize = 20;
/// Alert grouping looks back at most this far.
const MAX_GROUPING: u64 = 7 * 86_400;

/// The Sentinel entity and identifier an alert field fills.
fn entity(field: &ir::Field) -> Option<(&'static str, &'static str)> {
    match field.name.as_str() {
        "user.name" => Some(("Account", "FullName")),
        "host.name" => Some(("Host", "HostName")),
        "url.full" | "url.original" => Some(("URL", "Url")),
        "url.domain" | "destination.domain" | "dns.question.name" => Some(("DNS", "DomainName")),
        _ if field.ty == ir::FieldType::Ip => Some(("IP", "Address")),
        _ => None,
    }
}

pub(super) fn part(rule: &ir::Rule, mapping: &Mapping, ctx: &mut RuleContext) -> PackagePart {
    let mut errors = Vec::new();
    let mut error = |span: Span, message: String, hint: &str| {
        let mut d = Diagnostic::error(
            &rule.file,
            span,
            Code::E0602,
            format!("rule `{}` cannot deploy to sentinel: {message}", rule.name),
        );
        d.hint = Some(hint.to_string());
        errors.push(d);
    };
    let mut query = ctx.queries.get("kql").cloned().unwrap_or_default();
    if let ir::RuleKind::Single(q) = &rule.kind {
        let extend = source_mapping(mapping, q)
            .and_then(|src| super::query::alert_columns(&rule.fields, src, &q.source))
            .map_err(|e| vec![e.into_diagnostic(rule, "sentinel")])?;
        query.push_str(&extend);
        // A correlation query bounds its own range; a single-event query's period starts
        // it, and this ends it the rule's delay before the run.
        if ctx.delay.seconds > 0 {
            let _ = write!(query, "\n| where TimeGenerated <= ago({})", ctx.delay.text);
        }
    }
    ctx.query = query;
    ctx.language = "kql";

    let frequency = ctx.schedule.seconds;
    // A correlation query restricts itself to its range, so it may read more; a single-event
    // query is exactly its period.
    let searched = rule.range().start();
    let period = match rule.kind {
        ir::RuleKind::Single(_) => searched,
        _ => searched.max(frequency),
    };
    let when = rule.schedule.map_or(rule.span, |s| s.span);
    let range = match &rule.kind {
        ir::RuleKind::Single(_) => rule.lookback.map_or(when, |l| l.span),
        ir::RuleKind::Aggregate { window: d, .. }
        | ir::RuleKind::Sequence { within: d, .. }
        | ir::RuleKind::FirstSeen { lookback: d, .. } => d.span,
    };
    for (what, seconds, span) in [
        ("runs every", frequency, when),
        ("searches the last", period, range),
    ] {
        if !(MIN_PERIOD..=MAX_PERIOD).contains(&seconds) {
            error(
                span,
                format!(
                    "it {what} {}, and Sentinel allows 5m to 14d",
                    ir::Duration::of(seconds)
                ),
                "shorten the window or lookback (or lengthen the schedule); or leave sentinel \
                 out with `targets = [...]`",
            );
        }
    }
    if period < frequency {
        error(
            when,
            "its period is shorter than its frequency".into(),
            "make `lookback` at least the schedule",
        );
    }
    // "When 'queryPeriod' greater than or equal to 2 days, the 'queryFrequency' should be
    // greater than or equal to 1 hour" (Azure/Azure-Sentinel, .script/tests/
    // detectionTemplateSchemaValidation: FrequencyLimitationForLongPeriodQuery, an attribute
    // of ScheduledTemplateInternalModel.cs@749f8bfe, Sentinel's own model validation).
    if period >= LONG_PERIOD && frequency < 3600 {
        error(
            range,
            format!(
                "it searches {} every {}; Sentinel runs a query over 2 days or more at most hourly",
                ir::Duration::of(period),
                ir::Duration::of(frequency)
            ),
            "set `schedule = 1h` (or longer)",
        );
    }
    if ctx.query.chars().count() > MAX_QUERY {
        error(
            rule.span,
            format!(
                "the query has {} characters; Sentinel allows {MAX_QUERY}",
                ctx.query.chars().count()
            ),
            "move long value lists into a watchlist, or split the rule",
        );
    }
    if ctx.title.chars().count() > MAX_NAME {
        error(
            rule.span,
            format!("the title is longer than {MAX_NAME} characters"),
            "shorten the title",
        );
    }
    if ctx.description.chars().count() > MAX_DESCRIPTION {
        error(
            rule.span,
            format!("the description is longer than {MAX_DESCRIPTION} characters"),
            "shorten the description",
        );
    }
    let entities: Vec<_> = rule
        .fields
        .iter()
        .zip(&ctx.fields)
        .filter_map(|(f, af)| {
            entity(f).map(|(kind, id)| {
                json!({"entityType": kind, "fieldMappings": [{"identifier": id, "columnName": af.column}]})
            })
        })
        .collect();
    let field_span = rule.fields.first().map_or(rule.span, |f| {
        if f.span == Span::default() {
            rule.span
        } else {
            f.span
        }
    });
    if entities.is_empty() || entities.len() > MAX_ENTITIES {
        error(
            field_span,
            format!(
                "it maps {} entities from its alert fields; Sentinel needs 1 to {MAX_ENTITIES}",
                entities.len()
            ),
            "list user, host, IP, URL or domain fields in `fields` (user.name → Account, \
             host.name → Host, IPs → IP, url.* → URL, domains → DNS)",
        );
    }
    if ctx.fields.len() > MAX_CUSTOM_DETAILS {
        error(
            field_span,
            format!(
                "it has {} alert fields; Sentinel allows {MAX_CUSTOM_DETAILS} custom details",
                ctx.fields.len()
            ),
            "list fewer `fields`",
        );
    }
    if let Some(s) = &rule.suppress {
        error(
            s.duration.span,
            "Sentinel suppresses a whole rule, not repeats per key".into(),
            "remove `suppress`, or leave sentinel out with `targets = [...]`",
        );
    }
    let lists = tunable_lists(rule);
    for l in &lists {
        if l.values.iter().any(|v| v.contains(['\r', '\n'])) {
            error(
                l.span,
                "a value of its tunable list holds a line break, and the watchlist's CSV \
                 content has one value a line"
                    .into(),
                "remove the line break from the list's values, or drop `tunable`",
            );
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let details = custom_details(
        &ctx.fields
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
    );
    let custom: serde_json::Map<String, serde_json::Value> = details
        .into_iter()
        .zip(&ctx.fields)
        .map(|(k, f)| (k, json!(f.column)))
        .collect();
    let (tactics, techniques, subtechniques) = attack(&rule.attack);
    let (known, unknown) = template_techniques(&rule.attack, &tactics, mapping);
    Ok(json!({
        "connectors": connectors(rule, mapping),
        "severity": severity(rule.severity),
        "query_frequency": Period::of(frequency),
        "query_period": Period::of(period),
        "grouping_lookback": Period::of(period.min(MAX_GROUPING)),
        "entity_mappings": entities,
        "custom_details": custom,
        "tactics": tactics,
        "techniques": techniques,
        "subtechniques": subtechniques,
        "relevant_techniques": known,
        "unknown_techniques": unknown,
        // Absent (null) without tunable lists, so other rules' content and versions stay.
        "watchlists": (!lists.is_empty()).then(|| {
            lists
                .iter()
                .map(|l| json!({"alias": l.name, "csv": csv(&l.values)}))
                .collect::<Vec<_>>()
        }),
    }))
}

/// A watchlist's CSV content: the header `Value` (its search key), then one value a line,
/// each quoted with `"` doubled (RFC 4180), so a comma or quote stays in its value.
fn csv(values: &[String]) -> String {
    let mut out = String::from("Value");
    for v in values {
        let _ = write!(out, "\n\"{}\"", v.replace('"', "\"\""));
    }
    out
}

/// The rule's techniques the Azure-Sentinel repository's template validation accepts beside
/// its tactics, and the others: it refuses a technique its own table does not file under
/// one of the rule's tactics (NoTechniquesWithoutMatchingTactics), however current ATT&CK
/// is. Without a table (a mapping that empties it) every technique is kept.
fn template_techniques<'a>(
    attack: &'a [String],
    tactics: &[String],
    mapping: &Mapping,
) -> (Vec<&'a String>, Vec<&'a String>) {
    let table = &mapping.template_techniques;
    attack
        .iter()
        .filter(|a| !a.starts_with("TA"))
        .partition(|id| {
            let base = id.split('.').next().unwrap_or(id);
            table.is_empty()
                || tactics.iter().any(|t| {
                    table
                        .get(t)
                        .is_some_and(|known| known.iter().any(|k| k == base))
                })
        })
}

/// `requiredDataConnectors`: the connectors that fill the tables the rule reads, each with
/// those tables (or the names the Azure-Sentinel repository gives their data), in the
/// mapping's `connectors`. A table no connector fills (a custom `_CL` table) adds none.
fn connectors(rule: &ir::Rule, mapping: &Mapping) -> serde_json::Value {
    let mut by_id: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let sources = rule
        .kind
        .queries()
        .iter()
        .filter_map(|q| mapping.sources.get(&q.source));
    for table in sources.flat_map(super::query::tables) {
        for c in mapping.connectors.get(table).into_iter().flatten() {
            let data = c.data_type.as_deref().unwrap_or(table);
            by_id.entry(&c.id).or_default().insert(data);
        }
    }
    by_id
        .into_iter()
        .map(|(id, data)| json!({"connectorId": id, "dataTypes": data}))
        .collect()
}

/// Tactic names as Sentinel spells them (`CommandAndControl`), technique ids, sub-technique
/// ids.
fn attack(ids: &[String]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut tactics = Vec::new();
    let mut techniques = Vec::new();
    let mut subs = Vec::new();
    for id in ids {
        if id.starts_with("TA") {
            if let Some(t) = crate::attack::tactic(id) {
                tactics.push(t.pascal_name());
            }
        } else {
            let parent = id.split('.').next().unwrap_or(id).to_string();
            if !techniques.contains(&parent) {
                techniques.push(parent);
            }
            if id.contains('.') {
                subs.push(id.clone());
            }
        }
    }
    (tactics, techniques, subs)
}

/// Custom-detail keys (letters, digits, `_`, at most 20 characters, unique): the field's last
/// two name parts in PascalCase (`source.ip` → `SourceIp`), or fewer when too long.
fn custom_details(fields: &[&str]) -> Vec<String> {
    let pascal = |parts: &[&str]| -> String {
        parts
            .iter()
            .flat_map(|p| p.split('_'))
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect()
    };
    let mut keys: Vec<String> = Vec::new();
    for f in fields {
        let parts: Vec<&str> = f.split('.').collect();
        let two = pascal(&parts[parts.len().saturating_sub(2)..]);
        let mut key = if two.len() <= 20 {
            two
        } else {
            pascal(&parts[parts.len() - 1..]).chars().take(20).collect()
        };
        let mut n = 2;
        while keys.contains(&key) {
            let suffix = n.to_string();
            key = key.chars().take(20 - suffix.len()).collect::<String>() + &suffix;
            n += 1;
        }
        keys.push(key);
    }
    keys
}

#[cfg(test)]
mod tests {
    #[test]
    fn template_techniques_are_those_the_repository_files_under_the_tactics() {
        let mut mapping: crate::schema::Mapping = serde_saphyr::from_str(
            "target: sentinel\ntemplate_techniques:\n  Impact: [T1485]\n  DefenseEvasion: [T1070]\n",
        )
        .expect("mapping");
        let attack: Vec<String> = ["TA0040", "T1485", "T1657", "T1070.004"]
            .map(String::from)
            .to_vec();
        let tactics = vec!["Impact".to_string()];
        let (known, unknown) = super::template_techniques(&attack, &tactics, &mapping);
        // T1070 is known, but not under Impact; T1657 not at all.
        assert_eq!(
            (known, unknown),
            (vec![&attack[1]], vec![&attack[2], &attack[3]])
        );
        mapping.template_techniques.clear();
        let (known, unknown) = super::template_techniques(&attack, &tactics, &mapping);
        assert_eq!((known.len(), unknown.len()), (3, 0));
    }

    #[test]
    fn severity_is_the_documented_one() {
        for (_, s) in crate::ir::Severity::ALL {
            let row = crate::targets::documented_severity(s);
            assert!(row[3].starts_with(super::severity(s)), "{}", s.as_str());
        }
    }
    use super::custom_details;

    #[test]
    fn custom_detail_keys_are_short_and_unique() {
        let keys = custom_details(&[
            "user.name",
            "source.ip",
            "process.code_signature.subject_name",
            "process.parent.command_line",
            "a.source.ip",
        ]);
        assert_eq!(
            keys,
            [
                "UserName",
                "SourceIp",
                "SubjectName",
                "ParentCommandLine",
                "SourceIp2"
            ]
        );
    }
}
