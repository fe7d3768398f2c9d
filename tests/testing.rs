//! `detc test`: the output a CI reads, the exit status, JSON and JUnit.

use assert_cmd::Command;
use std::fs;

const RULE: &str = r#"
rule rmm "RMM tool" {
  id = "11111111-2222-4333-8444-555555555555"
  severity = high
  from process_start
  where process.name == "anydesk.exe" and not user.name startswith "svc_"
  test matches { process.name = "AnyDesk.exe", user.name = "bob" }
  test misses { process.name = "AnyDesk.exe", user.name = "svc_backup" }
}
"#;

fn run(files: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    for (name, text) in files {
        let path = dir.path().join(name);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, text).expect("write");
    }
    let out = Command::cargo_bin("detc")
        .expect("binary")
        .current_dir(dir.path())
        .arg("test")
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        dir,
    )
}

#[test]
fn passing_cases_exit_zero_with_a_closing_line() {
    let (code, out, _) = run(&[("detections/rmm.det", RULE)], &[]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out, "2 passed, 0 failed\n");
}

#[test]
fn a_failing_case_names_rule_case_place_and_reason() {
    let bad = RULE.replace("user.name = \"bob\"", "user.name = \"svc_bob\"");
    let (code, out, _) = run(&[("detections/rmm.det", &bad)], &[]);
    assert_eq!(code, Some(1));
    assert_eq!(
        out,
        "FAIL rmm test matches #1 (detections/rmm.det:7:3): expected a match, got none: \
         `user.name startswith \"svc_\"` holds, under `not` (user.name = \"svc_bob\")\n1 passed, 1 failed\n"
    );
}

#[test]
fn ndjson_case_files_beside_the_rule_run_line_by_line() {
    let matches = "{\"process\": {\"name\": \"ANYDESK.EXE\"}, \"user\": {\"name\": \"eve\"}}\n\n{\"process.name\": \"cmd.exe\"}\n";
    let misses = "{\"process.name\": \"anydesk.exe\", \"user.name\": [\"svc_x\"]}\n{oops\n";
    let (code, out, _) = run(
        &[
            ("detections/rmm.det", RULE),
            ("detections/rmm.matches.ndjson", matches),
            ("detections/rmm.misses.ndjson", misses),
        ],
        &[],
    );
    assert_eq!(code, Some(1));
    assert!(
        out.contains(
            "FAIL rmm matches.ndjson line 3 (detections/rmm.matches.ndjson:3): expected a match"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "FAIL rmm misses.ndjson line 2 (detections/rmm.misses.ndjson:2): not a JSON event"
        ),
        "{out}"
    );
    assert!(out.ends_with("4 passed, 2 failed\n"), "{out}");
}

#[test]
fn json_lists_every_case_with_event_and_verdict() {
    let (code, out, _) = run(&[("detections/rmm.det", RULE)], &["--format", "json"]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v.as_array().map(Vec::len), Some(2));
    let first = &v[0];
    assert_eq!(first["rule"], "rmm");
    assert_eq!(first["case"], "test matches #1");
    assert_eq!(first["expect_match"], true);
    assert_eq!(first["matched"], true);
    assert_eq!(first["status"], "passed");
    assert_eq!(first["event"]["process.name"], "AnyDesk.exe");
}

#[test]
fn junit_file_for_ci() {
    let bad = RULE.replace("svc_backup", "alice");
    let (code, _, dir) = run(&[("detections/rmm.det", &bad)], &["--junit", "report.xml"]);
    assert_eq!(code, Some(1));
    let xml = fs::read_to_string(dir.path().join("report.xml")).expect("written");
    assert!(xml.starts_with("<?xml"));
    assert!(
        xml.contains("<testsuites name=\"detc\" tests=\"2\" failures=\"1\" skipped=\"0\">"),
        "{xml}"
    );
    assert!(
        xml.contains(
            "<testcase classname=\"rmm\" name=\"test misses #1\" file=\"detections/rmm.det:8:3\">"
        ),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"expected no match, but the rule matched"),
        "{xml}"
    );
}

#[test]
fn correlation_rules_are_skipped_not_failed() {
    let text = include_str!("fixtures/language/correlation.det");
    let (code, out, _) = run(&[("detections/c.det", text)], &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("SKIP laptop_farm_shared_ip all cases"),
        "{out}"
    );
    assert!(out.ends_with("3 skipped\n0 passed, 0 failed\n"), "{out}");
}

#[test]
fn a_rule_with_check_errors_is_reported_not_tested() {
    let (code, out, _) = run(
        &[(
            "detections/rmm.det",
            &RULE.replace("process_start", "proc_start"),
        )],
        &[],
    );
    assert_eq!(code, Some(1));
    assert!(out.is_empty());
}
