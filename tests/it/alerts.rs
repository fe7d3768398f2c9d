//! Rules over the other rules' alerts (`from alerts`): the check, the facts each target
//! computes from its alert store, and `detc hunt` feeding the rules its own alerts.

use crate::common;
use assert_cmd::Command;
use detc::base::Code;
use detc::project;
use detc::targets::TargetName;
use serde_json::Value;
use std::fs;

/// Two raising rules in two stages (the tag after `dprk.it_worker`), one with a quote and a
/// backtick in its stage, and a rule over their alerts.
const TREE: &str = r#"
rule rmm "RMM started" {
  id = "11111111-2222-4333-8444-555555555555"
  severity = high
  tags = ["dprk.it_worker", "remote_access"]
  from process_start
  where process.name == "anydesk.exe"
}

rule odd "Odd stage" {
  id = "22222222-2222-4333-8444-555555555555"
  severity = informational
  tags = ["dprk.it_worker", "a\"b`c"]
  from authentication
  where event.outcome == "failure"
}

rule stages "Alerts in two stages" {
  id = "33333333-2222-4333-8444-555555555555"
  severity = critical
  tags = ["dprk.it_worker", "risk"]
  from alerts
  where rule.risk_score >= 10
  group by user.name window 1d
  having distinct(rule.category) >= 2
}
"#;

fn query(target: TargetName) -> String {
    let (out, diags) = common::compile_text(TREE);
    assert!(diags.is_empty(), "{diags:#?}");
    out.iter()
        .find(|o| o.rule == "stages" && o.target == target)
        .map(|o| o.query.clone())
        .expect("the alerts rule compiles")
}

#[test]
fn each_target_computes_the_facts_from_its_rule_identity() {
    let spl = query(TargetName::Splunk);
    assert!(spl.starts_with("index=risk "), "{spl}");
    // Splunk names the rule by its saved search; the backtick cannot start a macro.
    assert!(
        spl.contains(
            r#"eval detc_rule_category=case(in('source', "rmm"), "remote_access", in('source', "odd"), "a\"b".urldecode("%60")."c")"#
        ),
        "{spl}"
    );
    assert!(spl.contains(r#"in('source', "odd"), 10"#), "{spl}");
    let kql = query(TargetName::Sentinel);
    assert!(
        kql.contains("| mv-expand DetcEntity = todynamic(Entities)"),
        "{kql}"
    );
    assert!(
        kql.contains(r#"DetcRuleCategory = case(DetcAlertRuleId in~ ("11111111-2222-4333-8444-555555555555"), "remote_access", DetcAlertRuleId in~ ("22222222-2222-4333-8444-555555555555"), "a\"b`c", "")"#),
        "{kql}"
    );
    assert!(kql.contains(", long(null))"), "{kql}");
    let esql = query(TargetName::Elastic);
    assert!(esql.starts_with("FROM .alerts-security.*"), "{esql}");
    assert!(
        esql.contains(r#"EVAL detc_rule_category = CASE(kibana.alert.rule.rule_id IN ("11111111-2222-4333-8444-555555555555"), "remote_access""#),
        "{esql}"
    );
    // The rule over alerts is no fact of its own source: it never reads its own alerts.
    for q in [&spl, &kql, &esql] {
        assert!(!q.contains("33333333") && !q.contains("\"stages\""), "{q}");
    }
    // Every query keeps only the alerts of the project's rules: those with a severity.
    assert!(kql.contains("isnotempty(DetcRuleSeverity)"), "{kql}");
    assert!(esql.contains("detc_rule_severity IS NOT NULL"), "{esql}");
}

#[test]
fn a_rule_over_alerts_aggregates_by_one_entity() {
    let code_of = |body: &str| {
        let diags = common::check_text(&common::rule("bad", body));
        diags
            .iter()
            .map(|d| (d.code, d.message.clone()))
            .collect::<Vec<_>>()
    };
    let single = code_of("from alerts\n  where rule.severity == \"high\"");
    assert_eq!(single.len(), 1, "{single:?}");
    assert_eq!(single[0].0, Code::E0325);
    let both = code_of(
        "from alerts\n  where host.name == \"lab1\"\n  group by user.name window 1d\n  having count() >= 2",
    );
    assert_eq!(both.len(), 1, "{both:?}");
    assert!(
        both[0].1.contains("`user.name` and `host.name`"),
        "{both:?}"
    );
    let none = code_of("from alerts\n  group by rule.name window 1d\n  having count() >= 2");
    assert_eq!(none[0].0, Code::E0325, "{none:?}");
    // One entity, read as the key and in the condition: fine.
    assert!(
        code_of("from alerts\n  where user.name != \"svc\"\n  group by user.name window 1d\n  having count() >= 2")
            .is_empty()
    );
}

#[test]
fn a_sequence_over_alerts_is_refused_by_eql_which_cannot_compute_the_facts() {
    let text = format!(
        "{TREE}\n{}",
        common::rule(
            "chain",
            "sequence by user.name within 1d {\n    alerts where rule.category == \"remote_access\"\n    alerts where rule.category == \"risk\"\n  }"
        )
    );
    let config = common::config();
    let p = project::check_text("t.det", &text, &config);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let (out, diags) = project::compile(&p, &config, &[TargetName::Elastic, TargetName::Sentinel]);
    let refused = diags
        .iter()
        .find(|d| d.message.contains("chain"))
        .expect("EQL refuses");
    assert_eq!(refused.code, Code::E0404);
    assert!(
        refused.message.contains("EQL cannot compute"),
        "{refused:?}"
    );
    assert!(
        out.iter()
            .any(|o| o.rule == "chain" && o.target == TargetName::Sentinel)
    );
}

/// The alerts of rule `stages` when `detc hunt` reads `events` with [`TREE`].
fn stages_alerts(events: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("rules.det"), TREE).expect("write");
    let out = Command::cargo_bin("detc")
        .expect("binary")
        .current_dir(dir.path())
        .args(["hunt", "--events", "-", "rules.det"])
        .write_stdin(events)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .filter(|l: &Value| l["rule"] == "stages")
        .collect()
}

#[test]
fn hunt_feeds_the_rules_over_alerts_the_alerts_it_raises() {
    let risk = stages_alerts(concat!(
        r#"{"@timestamp":"2026-11-01T10:00:00Z","event.source":"process_start","process.name":"AnyDesk.exe","user.name":"CORP\\JDoe","host.name":"LT-1"}"#,
        "\n",
        r#"{"@timestamp":"2026-11-01T11:00:00Z","event.source":"authentication","event.outcome":"failure","user.name":"jdoe@corp.example"}"#,
        "\n",
        r#"{"@timestamp":"2026-11-01T12:00:00Z","event.source":"authentication","event.outcome":"failure","user.name":"asmith@corp.example"}"#,
        "\n",
    ));
    // CORP\JDoe and jdoe@corp.example are one person; asmith has one stage only.
    assert_eq!(risk.len(), 1, "{risk:#?}");
    assert_eq!(risk[0]["group"]["user.name"], "jdoe");
    let events = risk[0]["events"].as_array().expect("events");
    assert_eq!(events[0]["rule.name"], "rmm");
    assert_eq!(events[0]["rule.category"], "remote_access");
    assert_eq!(events[1]["rule.category"], "a\"b`c");
    assert_eq!(events[1]["rule.risk_score"], 10);
}

#[test]
fn a_rule_over_alerts_asked_for_alone_reads_the_whole_tree() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (raisers, reader) = TREE.split_at(TREE.find("rule stages").expect("reader"));
    fs::create_dir(dir.path().join("detections")).expect("mkdir");
    fs::write(dir.path().join("detections/raisers.det"), raisers).expect("write");
    fs::write(dir.path().join("detections/stages.det"), reader).expect("write");
    let out = Command::cargo_bin("detc")
        .expect("binary")
        .current_dir(dir.path())
        .args([
            "compile",
            "detections/stages.det",
            "--target",
            "sentinel",
            "--format",
            "json",
        ])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        text.contains("11111111-2222-4333-8444-555555555555"),
        "{text}"
    );
}

#[test]
fn hunt_also_reads_alerts_given_as_input() {
    // One stage raised here, one alert exported from a SIEM in the input.
    let risk = stages_alerts(concat!(
        r#"{"@timestamp":"2026-11-01T10:00:00Z","event.source":"process_start","process.name":"AnyDesk.exe","user.name":"jdoe","host.name":"LT-1"}"#,
        "\n",
        r#"{"@timestamp":"2026-11-01T11:00:00Z","event.source":"alerts","rule.name":"x","rule.id":"y","rule.category":"payroll_finance","rule.severity":"high","rule.risk_score":75,"user.name":"jdoe"}"#,
        "\n",
    ));
    assert_eq!(risk.len(), 1, "{risk:#?}");
}
