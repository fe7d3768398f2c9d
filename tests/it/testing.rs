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
fn a_correlation_rule_without_case_files_fails() {
    let text = include_str!("../fixtures/language/correlation.det");
    let (code, out, _) = run(&[("detections/c.det", text)], &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(
            "FAIL laptop_farm_shared_ip cases (detections/c.det): no multi-event cases beside the rule"
        ),
        "{out}"
    );
    assert!(out.ends_with("0 passed, 3 failed\n"), "{out}");
}

const KVM: &str = r#"{"@timestamp": "2026-11-25T10:00:00Z", "event.source": "usb_device", "device.vendor.name": "PiKVM", "host.name": "h1"}"#;
const LOGON: &str = r#"{"@timestamp": "2026-11-25T10:10:00Z", "event.source": "authentication", "event.outcome": "success", "logon.type": "interactive", "host.name": "h1"}"#;

fn auth(time: &str, user: &str) -> String {
    format!(
        r#"{{"@timestamp": "{time}", "event.source": "authentication", "event.outcome": "success", "user.name": "{user}", "source.ip": "1.2.3.4"}}"#
    )
}

#[test]
fn correlation_case_files_are_one_case_each_in_time_order() {
    let text = include_str!("../fixtures/language/correlation.det");
    // Lines out of order are sorted by time; exactly `within` apart is inside.
    let hit = format!("{LOGON}\n{KVM}\n");
    let other_keys = format!("{KVM}\n{}\n", LOGON.replace("h1", "h2"));
    let farm = [
        auth("2026-11-25T10:00:00Z", "a"),
        auth("2026-11-25T11:00:00+01:00", "b"),
        auth("2026-11-25T10:00:00.5Z", "c"),
    ]
    .join("\n");
    let (code, out, _) = run(
        &[
            ("detections/c.det", text),
            ("detections/ipkvm_then_logon.hit.matches.ndjson", &hit),
            (
                "detections/ipkvm_then_logon.other_keys.misses.ndjson",
                &other_keys,
            ),
            ("detections/laptop_farm_shared_ip.matches.ndjson", &farm),
            // A second IP with the same three users: two alerts where none is expected.
            (
                "detections/laptop_farm_shared_ip.two_ips.misses.ndjson",
                &format!("{farm}\n{}\n", farm.replace("1.2.3.4", "5.6.7.8")),
            ),
            (
                "detections/new_signin_country.late.misses.ndjson",
                "{\"event.outcome\": \"success\"}\n",
            ),
            // Not a case of any rule.
            ("detections/ipkvm_then_logon.a.b.matches.ndjson", "nope"),
        ],
        &[],
    );
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(
        out,
        "FAIL laptop_farm_shared_ip two_ips.misses.ndjson (detections/laptop_farm_shared_ip.two_ips.misses.ndjson): \
         expected no alert, got 2 (first at line 3: group source.ip=1.2.3.4)\n\
         FAIL new_signin_country late.misses.ndjson (detections/new_signin_country.late.misses.ndjson:1): \
         line 1: no @timestamp\n\
         3 passed, 2 failed\n"
    );
}

#[test]
fn correlation_cases_in_json_carry_their_events() {
    let text = include_str!("../fixtures/language/correlation.det");
    let (_, out, dir) = run(
        &[
            ("detections/c.det", text),
            ("detections/ipkvm_then_logon.late.matches.ndjson", KVM),
        ],
        &["--format", "json", "--junit", "report.xml"],
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let case = v
        .as_array()
        .and_then(|cases| cases.iter().find(|c| c["case"] == "late.matches.ndjson"))
        .expect("the case");
    assert_eq!(case["expect_match"], true);
    assert_eq!(case["matched"], false);
    assert_eq!(case["status"], "failed");
    assert_eq!(case["reason"], "expected an alert, got none");
    assert_eq!(case["event"][0]["device.vendor.name"], "PiKVM");
    let xml = fs::read_to_string(dir.path().join("report.xml")).expect("written");
    assert!(
        xml.contains("<failure message=\"expected an alert, got none\"/>"),
        "{xml}"
    );
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
