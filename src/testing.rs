//! `detc test`: every rule's cases, run by the `eval` stage.
//!
//! A single-event rule's cases are its `test matches { ... }` / `test misses { ... }` blocks
//! and, beside the rule file, `<rule>.matches.ndjson` / `<rule>.misses.ndjson`: one event per
//! line, each of which must (or must not) raise the rule.
//!
//! A correlation rule's cases are files beside the rule: each `<rule>.<case>.matches.ndjson`,
//! `<rule>.<case>.misses.ndjson`, `<rule>.matches.ndjson` and `<rule>.misses.ndjson` is one
//! case, its events fed in time order (equal times in file order) through the rule, which
//! must raise at least one alert (`matches`) or none (`misses`).

use crate::base::diag::{did_you_mean, line_col};
use crate::eval::{self, Correlator, Matcher};
use crate::ir;
use crate::project::Project;
use crate::schema::Schema;
use serde::Serialize;
use serde_json::Value;
use std::path::Path;

/// The outcome of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub rule: String,
    pub(crate) id: String,
    /// The logical source of a single-event rule (the event is taken to come from it).
    pub(crate) source: Option<String>,
    /// `test matches #1`, or the NDJSON file and line.
    pub case: String,
    /// `path:line:col` of the case.
    pub location: String,
    /// Whether the case expects the rule to match.
    pub expect_match: bool,
    /// detc's verdict; `None` when the rule was not evaluated.
    pub(crate) matched: Option<bool>,
    pub status: Status,
    /// Why the case failed or was skipped.
    pub reason: Option<String>,
    pub(crate) event: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    Skipped,
}

/// Run the cases of every checked rule of the project.
/// `schema` checks the fields of NDJSON case events (a misspelt field would only show as a
/// wrong verdict).
pub fn run(project: &Project, schema: &Schema) -> Vec<CaseResult> {
    let mut out = Vec::new();
    for rule in &project.rules {
        let text = project.text_of(&rule.file).unwrap_or_default();
        let matcher = match Matcher::new(rule) {
            Ok(m) => m,
            Err(_) => {
                out.extend(correlation_cases(rule, text, schema));
                continue;
            }
        };
        let mut cases: Vec<Case> = Vec::new();
        let mut counts = [0, 0];
        for case in &rule.tests {
            let kind = if case.expect_match {
                "matches"
            } else {
                "misses"
            };
            counts[usize::from(case.expect_match)] += 1;
            let (line, col) = line_col(text, case.span.start);
            cases.push(Case {
                name: format!("test {kind} #{}", counts[usize::from(case.expect_match)]),
                location: format!("{}:{line}:{col}", rule.file),
                expect_match: case.expect_match,
                event: Ok(eval::test_event(case)),
            });
        }
        for (suffix, expect) in [("matches", true), ("misses", false)] {
            cases.extend(ndjson_cases(rule, suffix, expect, schema));
        }
        for Case {
            name,
            location,
            expect_match,
            event,
        } in cases
        {
            let base = CaseResult {
                rule: rule.name.clone(),
                id: rule.id.clone(),
                source: match &rule.kind {
                    ir::RuleKind::Single(q) => Some(q.source.clone()),
                    _ => None,
                },
                case: name,
                location,
                expect_match,
                matched: None,
                status: Status::Failed,
                reason: None,
                event: Value::Null,
            };
            out.push(match event {
                Err(why) => CaseResult {
                    reason: Some(why),
                    ..base
                },
                Ok(event) => {
                    let matched = matcher.matches(&event);
                    let passed = matched == expect_match;
                    CaseResult {
                        matched: Some(matched),
                        status: if passed {
                            Status::Passed
                        } else {
                            Status::Failed
                        },
                        reason: (!passed).then(|| why(&matcher, &event, text, expect_match)),
                        event,
                        ..base
                    }
                }
            });
        }
    }
    out
}

/// One case to run: an event, or why there is none.
struct Case {
    name: String,
    location: String,
    expect_match: bool,
    event: Result<Value, String>,
}

/// `<dir>/<rule>.<suffix>.ndjson` beside the rule file, one case per non-blank line; an
/// event with a field its source does not have but nearly has is refused with the name.
fn ndjson_cases(rule: &ir::Rule, suffix: &str, expect: bool, schema: &Schema) -> Vec<Case> {
    let dir = Path::new(&rule.file).parent().unwrap_or(Path::new(""));
    let path = dir.join(format!("{}.{suffix}.ndjson", rule.name));
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Vec::new();
    };
    let shown = path.display().to_string();
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let event = serde_json::from_str::<Value>(l)
                .map_err(|e| format!("not a JSON event: {e}"))
                .and_then(|v| {
                    v.is_object()
                        .then_some(v)
                        .ok_or_else(|| "not a JSON object".to_string())
                })
                .and_then(|v| match misspelt_field(rule, &v, schema) {
                    Some(why) => Err(why),
                    None => Ok(v),
                });
            Case {
                name: format!("{suffix}.ndjson line {}", i + 1),
                location: format!("{shown}:{}", i + 1),
                expect_match: expect,
                event,
            }
        })
        .collect()
}

/// Fields any event may carry beside its source's: its time, and what tells its source
/// (`event.source`, ECS's categorisation fields).
const ROUTING: [&str; 8] = [
    "@timestamp",
    "event.source",
    "event.category",
    "event.type",
    "event.kind",
    "event.dataset",
    "event.module",
    "event.provider",
];

/// The first field of a case event that none of the rule's sources has but one has a field
/// close to (`user.nmae` for `user.name`), said with the name it likely means. Other
/// unknown fields are context an event may carry, and pass.
fn misspelt_field(rule: &ir::Rule, event: &Value, schema: &Schema) -> Option<String> {
    let names: Vec<&str> = match &rule.kind {
        ir::RuleKind::Single(q)
        | ir::RuleKind::Aggregate { query: q, .. }
        | ir::RuleKind::FirstSeen { query: q, .. } => vec![q.source.as_str()],
        ir::RuleKind::Sequence { steps, .. } => steps.iter().map(|q| q.source.as_str()).collect(),
    };
    let sources: Vec<_> = names
        .iter()
        .filter_map(|n| schema.sources.get(*n))
        .collect();
    let mut paths = Vec::new();
    field_paths(event, &mut String::new(), &mut paths);
    paths.iter().find_map(|path| {
        if ROUTING.contains(&path.as_str()) || sources.iter().any(|s| s.field_type(path).is_some())
        {
            return None;
        }
        let known = sources
            .iter()
            .flat_map(|s| s.fields.keys().map(String::as_str));
        let close = did_you_mean(path, known)?;
        Some(format!(
            "field `{path}` is not in source `{}`; did you mean `{close}`?",
            names.join("` or `")
        ))
    })
}

/// The dotted path of every non-object value of `v` (`{"user": {"name": 1}}`: `user.name`).
fn field_paths(v: &Value, prefix: &mut String, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (key, value) in map {
                let len = prefix.len();
                if !prefix.is_empty() {
                    prefix.push('.');
                }
                prefix.push_str(key);
                field_paths(value, prefix, out);
                prefix.truncate(len);
            }
        }
        _ => out.push(prefix.clone()),
    }
}

/// The cases of a correlation rule: one per case file, or one failing case when there is
/// none (the library requires them).
fn correlation_cases(rule: &ir::Rule, text: &str, schema: &Schema) -> Vec<CaseResult> {
    let base = |case: String, location: String, expect_match: bool| CaseResult {
        rule: rule.name.clone(),
        id: rule.id.clone(),
        source: None,
        case,
        location,
        expect_match,
        matched: None,
        status: Status::Failed,
        reason: None,
        event: Value::Null,
    };
    let mut out = Vec::new();
    for (i, case) in rule.tests.iter().enumerate() {
        let (line, col) = line_col(text, case.span.start);
        out.push(CaseResult {
            reason: Some(
                "a correlation rule's cases are event files beside the rule, not inline events"
                    .into(),
            ),
            ..base(
                format!("test #{}", i + 1),
                format!("{}:{line}:{col}", rule.file),
                case.expect_match,
            )
        });
    }
    let files = case_files(rule);
    if files.is_empty() && rule.tests.is_empty() {
        let dir = Path::new(&rule.file).parent().unwrap_or(Path::new(""));
        out.push(CaseResult {
            reason: Some(format!(
                "no multi-event cases beside the rule (add {} and {})",
                dir.join(format!("{}.<case>.matches.ndjson", rule.name))
                    .display(),
                dir.join(format!("{}.<case>.misses.ndjson", rule.name))
                    .display(),
            )),
            ..base("cases".into(), rule.file.clone(), true)
        });
    }
    for (name, path, expect) in files {
        let shown = path.display().to_string();
        let base = base(name, shown.clone(), expect);
        let (events, alerts) = match run_stream(rule, &path, schema) {
            Ok(done) => done,
            Err((line, why)) => {
                out.push(CaseResult {
                    location: line.map_or(shown.clone(), |l| format!("{shown}:{l}")),
                    reason: Some(match line {
                        Some(l) => format!("line {l}: {why}"),
                        None => why,
                    }),
                    ..base
                });
                continue;
            }
        };
        let matched = !alerts.is_empty();
        let passed = matched == expect;
        let reason = (!passed).then(|| match alerts.first() {
            None => "expected an alert, got none".to_string(),
            Some(first) => {
                let group = first
                    .group
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let line = first.events.last().copied().unwrap_or_default();
                format!(
                    "expected no alert, got {} (first at line {line}: group {group})",
                    alerts.len()
                )
            }
        });
        out.push(CaseResult {
            matched: Some(matched),
            status: if passed {
                Status::Passed
            } else {
                Status::Failed
            },
            reason,
            event: Value::Array(events),
            ..base
        });
    }
    out
}

/// The case files beside a correlation rule, by file name: (case name, path, expects a match).
fn case_files(rule: &ir::Rule) -> Vec<(String, std::path::PathBuf, bool)> {
    let dir = Path::new(&rule.file).parent().unwrap_or(Path::new(""));
    let listed = if dir.as_os_str().is_empty() {
        std::fs::read_dir(".")
    } else {
        std::fs::read_dir(dir)
    };
    let Ok(entries) = listed else {
        return Vec::new();
    };
    let prefix = format!("{}.", rule.name);
    let mut files: Vec<(String, std::path::PathBuf, bool)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let file = e.file_name().to_str()?.to_string();
            let rest = file.strip_prefix(&prefix)?;
            let (case, expect) = [("matches.ndjson", true), ("misses.ndjson", false)]
                .into_iter()
                .find_map(|(suffix, expect)| {
                    let case = rest.strip_suffix(suffix)?;
                    // `` (plain) or `<case>.` with a case name without dots.
                    (case.is_empty()
                        || case
                            .strip_suffix('.')
                            .is_some_and(|c| !c.is_empty() && !c.contains('.')))
                    .then_some((case, expect))
                })?;
            Some((
                format!("{case}{}", &rest[case.len()..]),
                dir.join(&file),
                expect,
            ))
        })
        .collect();
    files.sort();
    files
}

/// One case file through the rule: its events (in file order) and the alerts, whose event
/// ids are line numbers; or the line (if any) and why the file cannot run.
#[allow(clippy::type_complexity)]
fn run_stream(
    rule: &ir::Rule,
    path: &Path,
    schema: &Schema,
) -> Result<(Vec<Value>, Vec<eval::Alert<usize>>), (Option<usize>, String)> {
    let text = std::fs::read_to_string(path).map_err(|e| (None, format!("cannot read: {e}")))?;
    let mut events = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        let line = i + 1;
        let event = serde_json::from_str::<Value>(l)
            .map_err(|e| (Some(line), format!("not a JSON event: {e}")))?;
        if !event.is_object() {
            return Err((Some(line), "not a JSON object".into()));
        }
        if let Some(why) = misspelt_field(rule, &event, schema) {
            return Err((Some(line), why));
        }
        let time = eval::event_time(&event).map_err(|e| (Some(line), e.to_string()))?;
        events.push((time, line, event));
    }
    if events.is_empty() {
        return Err((None, "no events".into()));
    }
    let mut correlator = Correlator::new(rule).map_err(|e| (None, e.message))?;
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| events[i].0);
    let mut alerts: Vec<_> = order
        .into_iter()
        .flat_map(|i| {
            let (time, line, event) = &events[i];
            correlator.push(event, *time, *line)
        })
        .collect();
    alerts.extend(correlator.finish());
    Ok((events.into_iter().map(|(_, _, e)| e).collect(), alerts))
}

/// A sentence on why the verdict was not the expected one.
fn why(m: &Matcher, event: &Value, text: &str, expect_match: bool) -> String {
    let verdict = if expect_match {
        "expected a match, got none"
    } else {
        "expected no match, but the rule matched"
    };
    let Some(e) = m.explain(event) else {
        return verdict.to_string();
    };
    let test = text
        .get(e.span.start..e.span.end)
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| e.field.clone());
    let holds = match (e.held, e.negated) {
        (true, false) => "holds",
        (false, false) => "does not hold",
        (true, true) => "holds, under `not`",
        (false, true) => "does not hold, under `not`",
    };
    let actual = if e.values.is_empty() {
        format!("{} is absent", e.field)
    } else {
        format!("{} = {}", e.field, e.values.join(", "))
    };
    format!("{verdict}: `{test}` {holds} ({actual})")
}

/// JUnit XML for CI systems: one test case per case, grouped by rule.
pub fn junit(results: &[CaseResult]) -> String {
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"detc\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">\n",
        results.len(),
        count(Status::Failed),
        count(Status::Skipped)
    );
    let mut rules: Vec<&str> = results.iter().map(|r| r.rule.as_str()).collect();
    rules.dedup();
    for rule in rules {
        let cases: Vec<&CaseResult> = results.iter().filter(|r| r.rule == rule).collect();
        let failed = cases.iter().filter(|r| r.status == Status::Failed).count();
        let skipped = cases.iter().filter(|r| r.status == Status::Skipped).count();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" skipped=\"{skipped}\">\n",
            xml(rule),
            cases.len()
        ));
        for c in cases {
            out.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\"",
                xml(rule),
                xml(&c.case),
                xml(&c.location)
            ));
            let reason = xml(c.reason.as_deref().unwrap_or_default());
            match c.status {
                Status::Passed => out.push_str("/>\n"),
                Status::Failed => out.push_str(&format!(
                    ">\n      <failure message=\"{reason}\"/>\n    </testcase>\n"
                )),
                Status::Skipped => out.push_str(&format!(
                    ">\n      <skipped message=\"{reason}\"/>\n    </testcase>\n"
                )),
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Text for an XML attribute; characters XML 1.0 cannot hold become `?`.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_attribute_text() {
        assert_eq!(
            xml("a<b>&\"c\"\n\u{1}"),
            "a&lt;b&gt;&amp;&quot;c&quot;&#10;?"
        );
    }
}
