//! Elastic: one Kibana rule per NDJSON line for `POST /api/detection_engine/rules/_import`,
//! the elastic/detection-rules TOML form per rule, and `lists.json`: the tunable lists' value
//! lists and the exception lists that read them (docs/PACKAGING.md, Tunable lists). Single-event and sequence rules are
//! `eql` rules (an `esql` rule when EQL cannot say the condition); aggregation and first-seen
//! rules are `esql` rules, whose query restricts itself to its range (a `new_terms` rule compares against a history window fixed at the
//! run, not at each event, so it would differ from the rule at the edges by up to one
//! schedule; a template may still build one from `rule.target.new_terms`).

use crate::base::Code;
use crate::base::diag::Diagnostic;
use crate::ir;
use crate::render::{Form, Output, Package, RuleContext};
use crate::schema::{Mapping, SourceMapping, WHOLE_SOURCE};
use crate::targets::PackagePart;
use serde_json::json;

pub(super) static PACKAGE: Package = Package {
    target: "elastic",
    templates: &[
        (
            "rule.json.j2",
            include_str!("../../../targets/elastic/rule.json.j2"),
        ),
        (
            "rule.toml.j2",
            include_str!("../../../targets/elastic/rule.toml.j2"),
        ),
        (
            "lists.json.j2",
            include_str!("../../../targets/elastic/lists.json.j2"),
        ),
    ],
    outputs: &OUTPUTS,
};

const OUTPUTS: [Output; 3] = [
    Output {
        template: "rule.json.j2",
        path: "{rule}.ndjson",
        form: Form::JsonLine,
    },
    Output {
        template: "rule.toml.j2",
        path: "toml/{rule}.toml",
        form: Form::Text,
    },
    Output {
        template: "lists.json.j2",
        path: "lists.json",
        form: Form::Json,
    },
];

/// Severity and `risk_score` on Elastic's scale (docs/PACKAGING.md).
fn severity(s: ir::Severity) -> (&'static str, u32) {
    match s {
        ir::Severity::Informational => ("low", 10),
        ir::Severity::Low => ("low", 21),
        ir::Severity::Medium => ("medium", 47),
        ir::Severity::High => ("high", 73),
        ir::Severity::Critical => ("critical", 99),
    }
}

pub(super) fn part(rule: &ir::Rule, mapping: &Mapping, ctx: &mut RuleContext) -> PackagePart {
    // A single-event rule EQL cannot say (a field comparison) is a non-aggregating ES|QL
    // rule, whose query keeps the event's `_id` for Kibana (query.rs, EVENT_METADATA).
    let (kind, language) = match rule.kind {
        ir::RuleKind::Single(_) if !ctx.queries.contains_key("eql") => ("esql", "esql"),
        ir::RuleKind::Single(_) | ir::RuleKind::Sequence { .. } => ("eql", "eql"),
        ir::RuleKind::Aggregate { .. } | ir::RuleKind::FirstSeen { .. } => ("esql", "esql"),
    };
    ctx.query = ctx.queries.get(language).cloned().unwrap_or_default();
    ctx.language = language;
    let index = super::query::indices(rule, mapping);
    if let (Some(s), ir::RuleKind::Sequence { .. }) = (&rule.suppress, &rule.kind) {
        let mut d = Diagnostic::error(
            &rule.file,
            s.duration.span,
            Code::E0603,
            format!(
                "rule `{}` cannot deploy to elastic: Kibana does not suppress alerts of EQL \
                 sequence rules",
                rule.name
            ),
        );
        d.hint = Some("remove `suppress`, or leave elastic out with `targets = [...]`".into());
        return Err(vec![d]);
    }
    let exceptions = exceptions(rule, mapping)?;
    let suppression = ctx.suppress.as_ref().map(|s| {
        // Kibana's suppression units stop at hours.
        let (value, unit) =
            ir::Duration::of(s.duration.seconds).in_units(&[(3600, "h"), (60, "m")]);
        json!({
            "group_by": s.by.iter().map(|f| &f.column).collect::<Vec<_>>(),
            "duration": {"value": value, "unit": unit},
            "missing_fields_strategy": "doNotSuppress",
        })
    });
    // The range ends the rule's delay before the run, so late events are judged once.
    let start = ir::Duration::of(rule.range().start());
    let to = match ctx.delay.seconds {
        0 => "now".to_string(),
        _ => format!("now-{}", ctx.delay.text),
    };
    let new_terms = match &rule.kind {
        ir::RuleKind::FirstSeen { .. } => json!({
            "fields": ctx.fields.iter().map(|f| &f.column).collect::<Vec<_>>(),
            "history_window_start": format!("now-{start}"),
        }),
        _ => serde_json::Value::Null,
    };
    let (severity, risk_score) = severity(rule.severity);
    let maturity = match ctx.status.as_str() {
        "stable" | "test" => "production",
        "deprecated" => "deprecated",
        _ => "development",
    };
    let single = matches!(rule.kind, ir::RuleKind::Single(_));
    let sources: Vec<_> = rule
        .kind
        .queries()
        .iter()
        .filter_map(|q| mapping.sources.get(&q.source))
        .collect();
    // Elastic's loader checks a rule's EQL fields against ECS and the field lists of the
    // integrations it names, which lack fields a rule may rightly read (a custom data
    // stream's, a Windows event's own `winlog.event_data.*`) unless told not to
    // (detection_rules/rule_validators.py, `query_schema_validation`). So it checks the
    // rules that read ECS only (its ES|QL validation ignores the switch); conformance/
    // vendor_elastic.py checks every field of the mapping against ECS and the integrations'
    // own field files.
    let read = crate::lower::fields_used(rule);
    let ecs_only = rule.kind.queries().iter().all(|q| {
        let Some(src) = mapping.sources.get(&q.source) else {
            return true;
        };
        read.iter()
            .filter_map(|f| crate::lower::field_name(src, f, &q.source).ok())
            .all(|name| is_ecs(&name))
    });
    Ok(json!({
        "type": kind,
        "tags": tags(rule),
        // Single-event EQL rules select by ingest time, so an event indexed late is still
        // judged once: Elastic's convention for every non-sequence EQL rule
        // (tests/test_all_rules.py, timestamp_override), falling back to @timestamp.
        "timestamp_override": (single && kind == "eql").then_some("event.ingested"),
        "integration": integrations(&sources, kind == "esql"),
        "query_schema_validation": ecs_only || kind == "esql",
        "severity": severity,
        "risk_score": risk_score,
        "index": if kind == "esql" { vec![] } else { index },
        // Kibana filters an ES|QL rule's events to this range itself (elastic/kibana@0d3c168
        // .../rule_types/esql/build_esql_search_request.ts); an aggregating query also
        // bounds its own.
        "from": format!("now-{start}"),
        "to": to,
        "alert_suppression": suppression,
        "new_terms": new_terms,
        "threat": threat(&rule.attack),
        "maturity": maturity,
        "creation_date": rule.date.as_ref().map(|d| d.replace('-', "/")),
        "updated_date": rule.modified.as_ref().or(rule.date.as_ref()).map(|d| d.replace('-', "/")),
        // Absent (null) without tunable lists, so other rules' content and versions stay.
        "exceptions_list": (!exceptions.is_empty()).then(|| {
            exceptions.iter().map(|e| e["reference"].clone()).collect::<Vec<_>>()
        }),
        "lists": (!exceptions.is_empty()).then_some(exceptions),
    }))
}

/// The rule's value-list exceptions (query.rs, `list_exceptions`) as Kibana's API bodies:
/// the rule's `exceptions_list` entry, the exception list and its one item, and the value
/// list with its defaults (docs/PACKAGING.md, Tunable lists). A value Kibana's `nonempty`
/// format refuses (only whitespace) cannot be a value list item (E0611).
fn exceptions(
    rule: &ir::Rule,
    mapping: &Mapping,
) -> Result<Vec<serde_json::Value>, Vec<Diagnostic>> {
    let Ok((_, exceptions)) = super::query::list_exceptions(rule, mapping) else {
        return Ok(vec![]);
    };
    let mut seen = std::collections::BTreeSet::new();
    let blank: Vec<Diagnostic> = exceptions
        .iter()
        .filter(|e| seen.insert(&e.list) && e.values.iter().any(|v| v.trim().is_empty()))
        .map(|e| {
            let mut d = Diagnostic::error(
                &rule.file,
                e.span,
                Code::E0611,
                format!(
                    "rule `{}` cannot be packaged for elastic: a value of its tunable list `{}` \
                     is only whitespace, which a Kibana value list item cannot hold",
                    rule.name, e.list
                ),
            );
            d.hint = Some("remove the value from the list, or drop `tunable`".into());
            d
        })
        .collect();
    if !blank.is_empty() {
        return Err(blank);
    }
    Ok(exceptions
        .iter()
        .map(|e| {
            let (list_id, value_list) = (e.exception_list(), e.value_list());
            let about = format!(
                "detc tunable list `{}`: events whose {} is in value list {value_list} are no \
                 alerts of the rules that read it; tune the value list in Kibana.",
                e.list, e.field
            );
            json!({
                // The rule's `exceptions_list` entry (Kibana's OpenAPI bundle, RuleExceptionList:
                // id, list_id, type, namespace_type all required). `id` is the exception list's
                // saved-object id, which Kibana assigns: its import puts the id of the list of
                // this `list_id` in its place (elastic/kibana@fdfeb2b .../rule_management/logic/
                // import/check_rule_exception_references.ts), and `detc deploy` does the same.
                "reference": {"id": list_id, "list_id": list_id, "type": "detection", "namespace_type": "single"},
                // POST /api/exception_lists (https://www.elastic.co/docs/api/doc/kibana/operation/
                // operation-createexceptionlist): a `detection` list of this space (`single`).
                "container": {
                    "list_id": list_id, "name": list_id, "description": about,
                    "type": "detection", "namespace_type": "single",
                },
                // POST /api/exception_lists/items (https://www.elastic.co/docs/api/doc/kibana/
                // operation/operation-createexceptionlistitem): one `simple` item whose one entry
                // (ExceptionListItemEntryList) is the field `included` in the value list.
                "item": {
                    "list_id": list_id, "item_id": format!("{list_id}_item"), "name": list_id,
                    "description": about, "type": "simple", "namespace_type": "single",
                    "entries": [{
                        "field": e.field, "operator": "included", "type": "list",
                        "list": {"id": value_list, "type": "keyword"},
                    }],
                },
                // POST /api/lists (https://www.elastic.co/docs/api/doc/kibana/operation/
                // operation-createlist): `keyword` matches values exactly; each default is then
                // an item, POST /api/lists/items {list_id, value} (operation-createlistitem).
                "value_list": {
                    "id": value_list, "name": value_list, "type": "keyword",
                    "description": format!("detc tunable list `{}`: tune its values here.", e.list),
                },
                "values": e.values,
            })
        })
        .collect())
}

/// The prefixes elastic/detection-rules allows a tag to start with
/// (detection_rules/schemas/definitions.py@14cf530; tests/test_all_rules.py refuses others).
const TAG_PREFIXES: [&str; 14] = [
    "Data Source: ",
    "Domain: ",
    "Mitre Atlas: ",
    "OS: ",
    "Platform: ",
    "Profile: ",
    "Promotion: ",
    "Resources: ",
    "Rule Type: ",
    "Service: ",
    "Tactic: ",
    "Threat: ",
    "Use Case: ",
    "Vuln: ",
];

/// Tags in Elastic's convention: `Use Case: Threat Detection`, a `Tactic: <name>` per
/// ATT&CK tactic (the primary one first, as detection-rules requires), and the rule's own
/// tags, each under `Use Case: ` unless it already has an allowed prefix.
fn tags(rule: &ir::Rule) -> Vec<String> {
    let mut out = vec!["Use Case: Threat Detection".to_string()];
    // Elastic's own rules over alerts leave out the alerts of rules so tagged, so that no
    // higher-order rule counts another's (elastic/detection-rules@14cf530f
    // rules/cross-platform/multiple_alerts_from_different_modules_by_user.toml: `not
    // KQL("""kibana.alert.rule.tags : "Rule Type: Higher-Order Rule" """)`; the tag is in
    // detection_rules/schemas/definitions.py).
    if rule.reads_alerts() {
        out.push("Rule Type: Higher-Order Rule".to_string());
    }
    for tactic in rule
        .attack
        .iter()
        .filter_map(|id| crate::attack::tactic(id))
    {
        out.push(format!("Tactic: {}", tactic.name));
    }
    for tag in &rule.tags {
        if TAG_PREFIXES.iter().any(|p| tag.starts_with(p)) {
            out.push(tag.clone());
        } else {
            out.push(format!("Use Case: {tag}"));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|t| seen.insert(t.clone()));
    out
}

/// The packages of the data streams the rule reads, `logs-<package>.` of each index pattern,
/// as detection-rules' tests want them named (tests/test_all_rules.py, integration tags);
/// for ES|QL, whose tests do not ask, only Elastic's integrations: its export looks each
/// one up in Elastic's package registry (detection_rules/integrations.py).
fn integrations(sources: &[&SourceMapping], esql: bool) -> Vec<String> {
    let mut out: Vec<String> = sources
        .iter()
        .filter(|src| !(esql && src.enrichment.contains_key(WHOLE_SOURCE)))
        .filter_map(|src| src.index.as_deref()?.strip_prefix("logs-")?.split_once('.'))
        .map(|(package, _)| package.to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// ECS's field sets (elastic/ecs@b85f757: generated/ecs/ecs_flat.yml, the first part of
/// every field name; a unit test holds the list to the vendored file).
const ECS_FIELD_SETS: [&str; 47] = [
    "@timestamp",
    "agent",
    "client",
    "cloud",
    "container",
    "data_stream",
    "destination",
    "device",
    "dll",
    "dns",
    "ecs",
    "email",
    "entity",
    "error",
    "event",
    "faas",
    "file",
    "gen_ai",
    "group",
    "host",
    "http",
    "labels",
    "log",
    "message",
    "network",
    "observer",
    "orchestrator",
    "organization",
    "package",
    "process",
    "registry",
    "related",
    "rule",
    "server",
    "service",
    "source",
    "span",
    "tags",
    "threat",
    "tls",
    "trace",
    "transaction",
    "url",
    "user",
    "user_agent",
    "volume",
    "vulnerability",
];

/// Whether a field's name lies in one of ECS's field sets.
fn is_ecs(field: &str) -> bool {
    ECS_FIELD_SETS.contains(&field.split('.').next().unwrap_or(field))
}

/// Kibana's `threat`: per tactic the rule names, the techniques it names that belong to that
/// tactic, sub-techniques under their technique.
fn threat(ids: &[String]) -> serde_json::Value {
    let reference = crate::attack::url;
    let mut out = Vec::new();
    for tactic in ids.iter().filter_map(|id| crate::attack::tactic(id)) {
        let mut techniques: Vec<serde_json::Value> = Vec::new();
        let mut parents: Vec<&str> = Vec::new();
        for id in ids.iter().filter(|id| !id.starts_with("TA")) {
            let Some(t) = crate::attack::technique(id) else {
                continue;
            };
            if !t.tactics.contains(&tactic.id) {
                continue;
            }
            let parent_id = id.split('.').next().unwrap_or(id);
            if !parents.contains(&parent_id) {
                parents.push(parent_id);
                let name = crate::attack::technique(parent_id).map_or(t.name, |p| p.name);
                techniques.push(json!({
                    "id": parent_id, "name": name, "reference": reference(parent_id), "subtechnique": [],
                }));
            }
            if id.contains('.') {
                let pos = parents.iter().position(|p| *p == parent_id).unwrap_or(0);
                if let Some(subs) = techniques[pos]["subtechnique"].as_array_mut() {
                    subs.push(json!({"id": id, "name": t.name, "reference": reference(id)}));
                }
            }
        }
        out.push(json!({
            "framework": "MITRE ATT&CK",
            "tactic": {"id": tactic.id, "name": tactic.name, "reference": reference(tactic.id)},
            "technique": techniques,
        }));
    }
    serde_json::Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecs_field_sets_are_the_vendors() {
        let ecs = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/conformance/vendor/elastic/ecs_flat.yml"
        ))
        .expect("vendored ECS");
        let mut sets: Vec<&str> = ecs
            .lines()
            .filter(|l| !l.starts_with([' ', '#']) && l.ends_with(':'))
            .map(|l| {
                l.trim_end_matches(':')
                    .trim_matches('\'')
                    .split('.')
                    .next()
                    .unwrap_or(l)
            })
            .collect();
        sets.dedup();
        sets.sort_unstable();
        sets.dedup();
        let mut ours = ECS_FIELD_SETS.to_vec();
        ours.sort_unstable();
        assert_eq!(ours, sets);
    }

    #[test]
    fn severity_is_the_documented_one() {
        for (_, s) in ir::Severity::ALL {
            let (name, risk) = severity(s);
            let row = crate::targets::documented_severity(s);
            assert_eq!(
                (row[4].as_str(), row[5].as_str()),
                (name, risk.to_string().as_str())
            );
        }
    }
}
