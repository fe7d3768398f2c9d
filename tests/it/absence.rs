//! Absence (`sequence ... { A where ...  not B where ... }`): the parse and its printed form,
//! the check of where `not` may stand, the evaluator's meaning (an A fires once its window
//! has passed without a B of its key), and each target's rendering or refusal.

use crate::common;
use assert_cmd::Command;
use detc::eval::Correlator;
use detc::project;
use detc::syntax::{self, print};
use detc::targets::TargetName;
use serde_json::{Value, json};
use std::fs;

/// A leaver's account is still enabled a day after HR recorded the separation: the directory
/// names the disabled account as the operation's target.
const LEAVER: &str = "sequence by user.name within 1d {
    hr_record where event.action == \"separation\"
    not directory_audit by user.target.name where event.action == \"Disable account\"
  }";

fn rule(body: &str) -> detc::ir::Rule {
    let text = common::rule("leaver", body);
    let p = project::check_text("t.det", &text, &common::config());
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    p.rules[0].clone()
}

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// The alerts (as `fired` writes them) when the `(time, event)`s are fed in order, each
/// named by its place, and the input ends.
fn alerts(events: &[(i64, Value)]) -> Vec<String> {
    let mut c = Correlator::new(&rule(LEAVER)).expect("correlation");
    let mut raised = Vec::new();
    for (place, (t, e)) in events.iter().enumerate() {
        raised.extend(c.push(e, *t, place));
    }
    raised.extend(c.finish());
    raised.iter().map(|a| format!("{a:?}")).collect()
}

/// An alert for `user`'s separation, the event at `place`.
fn fired(user: &str, place: usize) -> String {
    format!("Alert {{ group: [(\"user.name\", \"{user}\")], events: [{place}] }}")
}

fn separation(user: &str) -> Value {
    json!({"event.source": "hr_record", "event.action": "separation", "user.name": user})
}

fn disabled(target: &str) -> Value {
    json!({"event.source": "directory_audit", "event.action": "Disable account",
           "user.name": "it-admin", "user.target.name": target})
}

/// A later event of one of the rule's steps, for another account: it shows that time has
/// passed (an event the rule does not read does not, docs/CORRELATION.md).
fn later(other: &str) -> Value {
    disabled(other)
}

#[test]
fn parses_and_prints_back() {
    let text = print::format_text("t.det", &common::rule("leaver", LEAVER)).expect("parses");
    assert!(
        text.contains("\n    not directory_audit by user.target.name where event.action =="),
        "{text}"
    );
    assert_eq!(print::format_text("t.det", &text).expect("parses"), text);
    let file = syntax::parse("t.det", &text).expect("parses");
    let again = syntax::parse("t.det", &print::print_file(&file, &[])).expect("reparses");
    assert_eq!(file.without_spans(), again.without_spans());
}

#[test]
fn not_stands_only_second_of_two_steps() {
    let at = |body: &str| {
        let text = common::rule("bad", body);
        let d = common::check_text(&text);
        assert_eq!(d.len(), 1, "{d:#?}");
        assert_eq!(d[0].code.id(), "E0324");
        assert!(d[0].hint.is_some());
        (d[0].span.start, text)
    };
    // First: nothing to wait from.
    let (start, text) = at("sequence by user.name within 1d {
    not hr_record where event.action == \"separation\"
    directory_audit by user.target.name where event.action == \"Disable account\"
  }");
    assert_eq!(&text[start..start + 3], "not");
    // Line 5, the first step's.
    assert_eq!(text[..start].matches('\n').count() + 1, 5);
    // After two steps, and before another step.
    for body in [
        "sequence by user.name within 1d {
    hr_record where event.action == \"separation\"
    hr_record where event.action == \"hire\"
    not directory_audit by user.target.name where event.action == \"Disable account\"
  }",
        "sequence by user.name within 1d {
    hr_record where event.action == \"separation\"
    not directory_audit by user.target.name where event.action == \"Disable account\"
    hr_record where event.action == \"hire\"
  }",
    ] {
        let (start, text) = at(body);
        assert_eq!(&text[start..start + 7], "not dir");
    }
    // `not` is a keyword: no source is named `not`.
    let d = common::check_text(&common::rule(
        "bad",
        "sequence by user.name within 1d {
    hr_record where event.action == \"separation\"
    not where event.action == \"x\"
  }",
    ));
    assert_eq!(d[0].code.id(), "E0001", "{d:#?}");
}

#[test]
fn fires_when_the_window_passes_without_the_follower() {
    // No disable: the separation fires once a later event shows the day has passed.
    let got = alerts(&[(0, separation("jdoe")), (DAY + 1, later("x"))]);
    assert_eq!(got, [fired("jdoe", 0)]);
    // The disable just inside the window (at exactly W): followed, no alert.
    assert!(
        alerts(&[
            (0, separation("jdoe")),
            (DAY, disabled("jdoe")),
            (2 * DAY, later("x"))
        ])
        .is_empty()
    );
    // Just outside it: the alert, raised before the late disable is read.
    let got = alerts(&[(0, separation("jdoe")), (DAY + 1, disabled("jdoe"))]);
    assert_eq!(got, [fired("jdoe", 0)]);
    // Another account disabled: the separated one still fires.
    let got = alerts(&[
        (0, separation("jdoe")),
        (HOUR, disabled("asmith")),
        (2 * DAY, later("x")),
    ]);
    assert_eq!(got, [fired("jdoe", 0)]);
    // The admin's own name (the event's user.name) is not the step's key.
    let got = alerts(&[
        (0, separation("it-admin")),
        (HOUR, disabled("jdoe")),
        (2 * DAY, later("x")),
    ]);
    assert_eq!(got, [fired("it-admin", 0)]);
    // Disabled first, separated after: nothing follows the separation.
    let got = alerts(&[
        (0, disabled("jdoe")),
        (HOUR, separation("jdoe")),
        (2 * DAY, later("x")),
    ]);
    assert_eq!(got, [fired("jdoe", 1)]);
    // At the same instant: not after it.
    let got = alerts(&[
        (0, separation("jdoe")),
        (0, disabled("jdoe")),
        (2 * DAY, later("x")),
    ]);
    assert_eq!(got, [fired("jdoe", 0)]);
}

#[test]
fn an_open_window_raises_nothing() {
    // The input ends before the day is over: the disable may still come.
    assert!(alerts(&[(0, separation("jdoe")), (DAY - 1, later("x"))]).is_empty());
    // Any later event shows that the day passed, one the rule does not read too, as a
    // SIEM's clock runs whatever arrives.
    let unrelated = json!({"event.source": "hr_record", "event.action": "hire", "user.name": "x"});
    let got = alerts(&[(0, separation("jdoe")), (2 * DAY, unrelated.clone())]);
    assert_eq!(got, [fired("jdoe", 0)]);
    assert!(alerts(&[(0, separation("jdoe")), (DAY - 1, unrelated)]).is_empty());
    assert!(alerts(&[(0, separation("jdoe"))]).is_empty());
    // The input reaches the window's end exactly: the window is whole, the alert fires.
    let got = alerts(&[(0, separation("jdoe")), (DAY, later("x"))]);
    assert_eq!(got, [fired("jdoe", 0)]);
}

#[test]
fn one_disable_answers_every_separation_before_it() {
    let got = alerts(&[
        (0, separation("jdoe")),
        (HOUR, separation("jdoe")),
        (2 * HOUR, disabled("jdoe")),
        (3 * HOUR, separation("jdoe")),
        (3 * DAY, later("x")),
    ]);
    assert_eq!(got, [fired("jdoe", 3)]);
}

/// The rule's query for `target`, or its refusal.
fn compiled(target: TargetName) -> Result<String, String> {
    let text = common::rule("leaver", LEAVER);
    let p = project::check_text("t.det", &text, &common::config());
    let (outputs, diags) = project::compile(&p, &common::config(), &[target]);
    match (outputs.into_iter().next(), diags.into_iter().next()) {
        (Some(o), None) => Ok(o.query),
        (_, Some(d)) => Err(format!("{} {}: {}", d.code.id(), d.span.start, d.message)),
        (None, None) => Err("nothing compiled".into()),
    }
}

#[test]
fn kql_reports_the_followed_rows_out() {
    insta::assert_snapshot!("leaver_kql", compiled(TargetName::Sentinel).expect("kql"));
}

#[test]
fn spl_reads_the_key_newest_first() {
    insta::assert_snapshot!("leaver_spl", compiled(TargetName::Splunk).expect("spl"));
}

#[test]
fn elastic_refuses() {
    let err = compiled(TargetName::Elastic).expect_err("refused");
    assert!(err.starts_with("E0404"), "{err}");
    assert!(err.contains("absence"), "{err}");
}

#[test]
fn the_range_covers_the_window_and_one_schedule() {
    // Run every W / 4 (6h) over W + S before the 10m delay; reported: the separations at
    // least W old (W + delay before the run), each by exactly one run.
    let kql = compiled(TargetName::Sentinel).expect("kql");
    assert!(
        kql.contains("TimeGenerated > ago(1810m) and TimeGenerated <= ago(10m)"),
        "{kql}"
    );
    assert!(kql.contains("| where T1 <= ago(1450m)"), "{kql}");
    let spl = compiled(TargetName::Splunk).expect("spl");
    assert!(spl.contains("earliest=-108600s latest=-600s"), "{spl}");
    assert!(
        spl.contains("_time>relative_time(now(), \"-108600s\")"),
        "{spl}"
    );
    assert!(
        spl.contains("_time<=relative_time(now(), \"-87000s\")"),
        "{spl}"
    );
}

#[test]
fn hunt_raises_what_the_evaluator_raises_in_time_order() {
    // Many keys, so the hunt's key states run in several parts; every third leaver is
    // disabled in time, and the last separation's window is still open at the end.
    let mut events = Vec::new();
    for i in 0..60 {
        let user = format!("u{:02}", (i * 37) % 60);
        events.push((i * HOUR / 4, separation(&user)));
        if i % 3 == 0 {
            events.push((i * HOUR / 4 + HOUR, disabled(&user)));
        }
    }
    // An event the rule does not read shows hunt, as the evaluator, that time passed.
    let hire = json!({"event.source": "hr_record", "event.action": "hire", "user.name": "x"});
    events.push((DAY + 14 * HOUR, hire));
    events.push((DAY + 15 * HOUR, separation("open")));
    events.sort_by_key(|(t, _)| *t);
    let expected: Vec<String> = alerts(&events)
        .iter()
        .map(|a| a.split('"').nth(3).expect("user").to_string())
        .collect();
    assert_eq!(expected.len(), 40, "{expected:?}");
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(
        dir.path().join("leaver.det"),
        common::rule("leaver", LEAVER),
    )
    .expect("rule");
    let lines: String = events
        .iter()
        .map(|(t, e)| {
            let mut e = e.clone();
            e["@timestamp"] = json!(t);
            format!("{e}\n")
        })
        .collect();
    fs::write(dir.path().join("events.ndjson"), lines).expect("events");
    let out = Command::cargo_bin("detc")
        .expect("binary builds")
        .current_dir(dir.path())
        .args(["hunt", "--events", "events.ndjson", "leaver.det"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hunted: Vec<String> = String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("JSON");
            v["group"]["user.name"].as_str().expect("key").to_string()
        })
        .collect();
    assert_eq!(hunted, expected);
}
