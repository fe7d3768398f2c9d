//! `detc test`: every rule's cases, run by the `eval` stage.
//!
//! A rule's cases are its `test matches { ... }` / `test misses { ... }` blocks and, beside
//! the rule file, `<rule>.matches.ndjson` / `<rule>.misses.ndjson`: one event per line,
//! each of which must (or must not) raise the rule.

use crate::diag::line_col;
use crate::eval::{self, Matcher};
use crate::ir;
use crate::project::Project;
use serde::Serialize;
use serde_json::Value;
use std::path::Path;

/// The outcome of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub rule: String,
    pub id: String,
    /// The logical source of a single-event rule (the event is taken to come from it).
    pub source: Option<String>,
    /// `test matches #1`, or the NDJSON file and line.
    pub case: String,
    /// `path:line:col` of the case.
    pub location: String,
    /// Whether the case expects the rule to match.
    pub expect_match: bool,
    /// detc's verdict; `None` when the rule was not evaluated.
    pub matched: Option<bool>,
    pub status: Status,
    /// Why the case failed or was skipped.
    pub reason: Option<String>,
    pub event: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    Skipped,
}

/// Run the cases of every checked rule of the project.
pub fn run(project: &Project) -> Vec<CaseResult> {
    let mut out = Vec::new();
    for rule in &project.rules {
        let text = project.text_of(&rule.file).unwrap_or_default();
        let matcher = match Matcher::new(rule) {
            Ok(m) => m,
            Err(e) => {
                // Correlation cases are event sequences; they run with the correlation release.
                out.push(CaseResult {
                    rule: rule.name.clone(),
                    id: rule.id.clone(),
                    source: None,
                    case: "all cases".into(),
                    location: rule.file.clone(),
                    expect_match: true,
                    matched: None,
                    status: Status::Skipped,
                    reason: Some(e.message),
                    event: Value::Null,
                });
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
            cases.extend(ndjson_cases(rule, suffix, expect));
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

/// `<dir>/<rule>.<suffix>.ndjson` beside the rule file, one case per non-blank line.
fn ndjson_cases(rule: &ir::Rule, suffix: &str, expect: bool) -> Vec<Case> {
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
