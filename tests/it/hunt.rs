//! `detc hunt`: NDJSON matches, stdin and gzip input, malformed lines, `--strict`, the
//! closing counts, and output that is the same on every run.

use assert_cmd::Command;
use serde_json::{Value, json};
use std::fs;
use std::io::Write as _;
use std::path::Path;

const RULES: &str = r#"
rule rmm_started "RMM tool started" {
  id = "11111111-2222-4333-8444-555555555555"
  severity = high
  from process_start
  where process.name == "anydesk.exe" and not user.name startswith "svc_"
}

rule astrill_lookup "Astrill domain looked up" {
  id = "11111111-2222-4333-8444-666666666666"
  severity = medium
  from dns_query
  where dns.question.name endswith ".astrill.com"
}

rule any_anydesk "Anything AnyDesk" {
  id = "11111111-2222-4333-8444-777777777777"
  severity = low
  from process_start
  where process.name contains "anydesk"
}
"#;

const CORRELATION: &str = r#"
rule two_vendors "Two RMM vendors on one host" {
  id = "11111111-2222-4333-8444-888888888888"
  severity = high
  from process_start
  where process.name in ["anydesk.exe", "teamviewer.exe"]
  group by host.name window 24h
  having distinct(process.name) >= 2
}
"#;

struct Run {
    code: Option<i32>,
    out: String,
    err: String,
}

fn tree(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, bytes) in files {
        let path = dir.path().join(name);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, bytes).expect("write");
    }
    dir
}

fn hunt(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut cmd = Command::cargo_bin("detc").expect("binary builds");
    cmd.current_dir(dir).arg("hunt").args(args);
    if let Some(bytes) = stdin {
        cmd.write_stdin(bytes.to_vec());
    }
    let out = cmd.output().expect("runs");
    Run {
        code: out.status.code(),
        out: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).expect("each output line is JSON"))
        .collect()
}

const EVENTS: &str = concat!(
    r#"{"process": {"name": "AnyDesk.exe"}, "user": {"name": "bob"}, "n": 1}"#,
    "\n",
    r#"{"process.name": "anydesk.exe", "user.name": "svc_backup", "n": 2}"#,
    "\n",
    "\n",
    r#"{"dns": {"question.name": "www.ASTRILL.com"}, "n": 3}"#,
    "\n",
    r#"{"process": {"name": "notepad.exe"}, "n": 4}"#,
    "\n",
);

#[test]
fn matches_are_ndjson_with_the_documented_keys_and_the_event_as_read() {
    let dir = tree(&[
        ("detections/r.det", RULES.as_bytes()),
        ("events.ndjson", EVENTS.as_bytes()),
    ]);
    let r = hunt(dir.path(), &["--events", "events.ndjson"], None);
    assert_eq!(r.code, Some(0), "{}", r.err);
    let out: Vec<&str> = r.out.lines().collect();
    // Event 1 matches two rules (by name), event 2 one (svc_ excluded), event 3 one.
    assert_eq!(out.len(), 4, "{}", r.out);
    assert_eq!(
        out[0],
        r#"{"rule":"any_anydesk","id":"11111111-2222-4333-8444-777777777777","severity":"low","title":"Anything AnyDesk","event":{"process": {"name": "AnyDesk.exe"}, "user": {"name": "bob"}, "n": 1}}"#
    );
    let parsed = lines(&r.out);
    let keys: Vec<(&str, u64)> = parsed
        .iter()
        .map(|v| {
            (
                v["rule"].as_str().expect("rule"),
                v["event"]["n"].as_u64().expect("n"),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("any_anydesk", 1),
            ("rmm_started", 1),
            ("any_anydesk", 2),
            ("astrill_lookup", 3)
        ]
    );
    assert_eq!(parsed[1]["severity"], "high");
    assert_eq!(parsed[1]["title"], "RMM tool started");
    assert_eq!(
        parsed[3]["event"],
        json!({"dns": {"question.name": "www.ASTRILL.com"}, "n": 3})
    );
}

#[test]
fn closing_report_counts_per_rule_and_totals() {
    let dir = tree(&[
        ("detections/r.det", RULES.as_bytes()),
        ("events.ndjson", EVENTS.as_bytes()),
    ]);
    let r = hunt(dir.path(), &["--events", "events.ndjson"], None);
    assert_eq!(r.code, Some(0), "{}", r.err);
    let counts: Vec<(String, String)> = r
        .err
        .lines()
        .skip_while(|l| *l != "matches per rule:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| {
            let mut w = l.split_whitespace();
            (
                w.next().expect("name").to_string(),
                w.next().expect("count").to_string(),
            )
        })
        .collect();
    let want = [
        ("any_anydesk", "2"),
        ("astrill_lookup", "1"),
        ("rmm_started", "1"),
    ];
    assert_eq!(
        counts,
        want.map(|(a, b)| (a.to_string(), b.to_string())),
        "{}",
        r.err
    );
    assert!(
        r.err.contains("hunted 4 events with 3 rules in "),
        "{}",
        r.err
    );
    assert!(
        r.err
            .contains("3 matched (4 matches), 0 malformed lines skipped"),
        "{}",
        r.err
    );
}

#[test]
fn stdin_is_read_with_a_dash() {
    let dir = tree(&[("detections/r.det", RULES.as_bytes())]);
    let r = hunt(dir.path(), &["--events", "-"], Some(EVENTS.as_bytes()));
    assert_eq!(r.code, Some(0), "{}", r.err);
    assert_eq!(lines(&r.out).len(), 4);
}

#[test]
fn gzip_files_and_gzip_on_stdin_are_decompressed() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(EVENTS.as_bytes()).expect("compress");
    let bytes = gz.finish().expect("compress");
    let dir = tree(&[
        ("detections/r.det", RULES.as_bytes()),
        ("events.ndjson.gz", &bytes),
    ]);
    let plain = hunt(
        tree(&[
            ("detections/r.det", RULES.as_bytes()),
            ("e.ndjson", EVENTS.as_bytes()),
        ])
        .path(),
        &["--events", "e.ndjson"],
        None,
    );
    let from_file = hunt(dir.path(), &["--events", "events.ndjson.gz"], None);
    assert_eq!(from_file.code, Some(0), "{}", from_file.err);
    assert_eq!(from_file.out, plain.out);
    let from_stdin = hunt(dir.path(), &["--events", "-"], Some(&bytes));
    assert_eq!(from_stdin.out, plain.out);
}

#[test]
fn malformed_lines_are_reported_by_number_skipped_and_counted() {
    let mut events = EVENTS.as_bytes().to_vec();
    events.extend_from_slice(b"{\"process.name\": \"anydesk.exe\"\n");
    events.extend_from_slice(b"[\"not\", \"an object\"]\n");
    events.extend_from_slice(b"{\"process.name\": \"anydesk\xff.exe\"}\n");
    events.extend_from_slice(b"{\"process.name\": \"anydesk.exe\", \"n\": 9}");
    let dir = tree(&[
        ("detections/r.det", RULES.as_bytes()),
        ("events.ndjson", &events),
    ]);
    let r = hunt(dir.path(), &["--events", "events.ndjson"], None);
    assert_eq!(r.code, Some(0), "{}", r.err);
    assert!(
        r.err
            .contains("events.ndjson:6: skipped: EOF while parsing an object"),
        "{}",
        r.err
    );
    assert!(
        r.err
            .contains("events.ndjson:7: skipped: expected a JSON object, found an array"),
        "{}",
        r.err
    );
    assert!(
        r.err.contains("events.ndjson:8: skipped: invalid unicode"),
        "{}",
        r.err
    );
    assert!(r.err.contains("3 malformed lines skipped"), "{}", r.err);
    // The last line (no newline at the end) is still an event.
    let last = lines(&r.out).pop().expect("a match");
    assert_eq!(last["event"]["n"], 9);
}

#[test]
fn only_the_first_malformed_lines_are_shown() {
    let events = "nope\n".repeat(25);
    let dir = tree(&[
        ("detections/r.det", RULES.as_bytes()),
        ("events.ndjson", events.as_bytes()),
    ]);
    let r = hunt(dir.path(), &["--events", "events.ndjson"], None);
    assert_eq!(r.code, Some(0), "{}", r.err);
    assert_eq!(r.err.matches(": skipped: ").count(), 20, "{}", r.err);
    assert!(r.err.contains("events.ndjson:20: skipped"), "{}", r.err);
    assert!(!r.err.contains("events.ndjson:21:"), "{}", r.err);
    assert!(
        r.err.contains("... 5 more malformed lines not shown"),
        "{}",
        r.err
    );
    assert!(r.err.contains("25 malformed lines skipped"), "{}", r.err);
}

#[test]
fn strict_stops_at_the_first_malformed_line_with_status_one() {
    let mut events = EVENTS.to_string();
    events.push_str("oops\n");
    events.push_str(r#"{"process.name": "anydesk.exe", "n": 7}"#);
    events.push('\n');
    let dir = tree(&[
        ("detections/r.det", RULES.as_bytes()),
        ("events.ndjson", events.as_bytes()),
    ]);
    let r = hunt(dir.path(), &["--events", "events.ndjson", "--strict"], None);
    assert_eq!(r.code, Some(1), "{}", r.err);
    assert!(
        r.err.contains("events.ndjson:6: malformed line: "),
        "{}",
        r.err
    );
    assert!(
        r.err
            .contains("stopped at line 6, the first malformed line (--strict)"),
        "{}",
        r.err
    );
    assert!(r.err.contains("0 malformed lines skipped"), "{}", r.err);
    // Everything before the bad line, nothing after it.
    let ns: Vec<u64> = lines(&r.out)
        .iter()
        .map(|v| v["event"]["n"].as_u64().expect("n"))
        .collect();
    assert_eq!(ns, [1, 1, 2, 3]);
}

#[test]
fn output_is_identical_across_runs_over_many_batches() {
    // 50,000 events cross several batches; every 7th matches, every 1,000th is malformed.
    let mut events = String::new();
    for i in 0..50_000u32 {
        if i % 1000 == 999 {
            events.push_str("{broken\n");
        } else if i % 7 == 0 {
            events.push_str(&format!(
                "{{\"process\":{{\"name\":\"AnyDesk.exe\"}},\"user.name\":\"u{i}\",\"n\":{i}}}\n"
            ));
        } else {
            events.push_str(&format!(
                "{{\"process\":{{\"name\":\"svchost.exe\"}},\"n\":{i}}}\n"
            ));
        }
    }
    let dir = tree(&[
        ("detections/r.det", RULES.as_bytes()),
        ("events.ndjson", events.as_bytes()),
    ]);
    let first = hunt(dir.path(), &["--events", "events.ndjson"], None);
    let second = hunt(dir.path(), &["--events", "events.ndjson"], None);
    assert_eq!(first.code, Some(0), "{}", first.err);
    assert!(first.out == second.out, "two runs differ");
    let ns: Vec<u64> = lines(&first.out)
        .iter()
        .filter(|v| v["rule"] == "rmm_started")
        .map(|v| v["event"]["n"].as_u64().expect("n"))
        .collect();
    let want: Vec<u64> = (0..50_000u64)
        .filter(|i| i % 7 == 0 && i % 1000 != 999)
        .collect();
    assert_eq!(ns, want);
    assert!(
        first.err.contains("50 malformed lines skipped"),
        "{}",
        first.err
    );
}

#[test]
fn correlation_rules_raise_alerts_in_input_order() {
    let rmm = |t: &str, host: &str, name: &str, n: u32| {
        format!(
            "{{\"@timestamp\": \"{t}\", \"host.name\": \"{host}\", \"process.name\": \"{name}\", \"n\": {n}}}\n"
        )
    };
    let events = [
        rmm("2026-11-25T10:00:00Z", "h1", "anydesk.exe", 1),
        rmm("2026-11-25T10:05:00Z", "h2", "anydesk.exe", 2),
        "{\"host.name\": \"h1\", \"process.name\": \"teamviewer.exe\", \"n\": 3}\n".to_string(),
        rmm("2026-11-25T11:00:00Z", "h1", "teamviewer.exe", 4),
        rmm("2026-11-25T12:00:00Z", "h1", "anydesk.exe", 5),
        // A day and more before the newest: late for a 24h window.
        rmm("2026-11-24T11:59:59Z", "h2", "teamviewer.exe", 6),
        rmm("2026-11-26T11:00:00Z", "h1", "anydesk.exe", 7),
        rmm("2026-11-26T11:00:00.001Z", "h1", "teamviewer.exe", 8),
    ]
    .concat();
    let dir = tree(&[
        ("detections/r.det", RULES.as_bytes()),
        ("detections/c.det", CORRELATION.as_bytes()),
        ("events.ndjson", events.as_bytes()),
    ]);
    let first = hunt(dir.path(), &["--events", "events.ndjson"], None);
    assert_eq!(first.code, Some(0), "{}", first.err);
    let out = lines(&first.out);
    let alerts: Vec<&Value> = out.iter().filter(|v| v["rule"] == "two_vendors").collect();
    assert_eq!(alerts.len(), 2, "{}", first.out);
    assert_eq!(
        alerts[0],
        &json!({
            "rule": "two_vendors",
            "id": "11111111-2222-4333-8444-888888888888",
            "severity": "high",
            "title": "Two RMM vendors on one host",
            "group": {"host.name": "h1"},
            "events": [
                {"@timestamp": "2026-11-25T10:00:00Z", "host.name": "h1", "process.name": "anydesk.exe", "n": 1},
                {"@timestamp": "2026-11-25T11:00:00Z", "host.name": "h1", "process.name": "teamviewer.exe", "n": 4},
            ],
        })
    );
    // The event that triggers an alert is verbatim; the alert follows its single-event
    // matches; the second alert comes after the first went false (10:00 and 11:00 left
    // the window before 11:00 the next day).
    assert!(
        first.out.contains(r#""events":[{"@timestamp": "2026-11-25T10:00:00Z", "host.name": "h1", "process.name": "anydesk.exe", "n": 1},"#),
        "{}",
        first.out
    );
    let order: Vec<(String, u64)> = out
        .iter()
        .map(|v| {
            let n = v["event"]["n"]
                .as_u64()
                .or_else(|| v["events"].as_array()?.last()?["n"].as_u64())
                .expect("n");
            (v["rule"].as_str().expect("rule").to_string(), n)
        })
        .collect();
    assert_eq!(order[order.len() - 1], ("two_vendors".to_string(), 8));
    // Event 5's single-event match comes before event 7's, and the alerts sit between.
    let at = |rule: &str, n: u64| order.iter().position(|(r, m)| r == rule && *m == n);
    assert!(at("any_anydesk", 2) < at("two_vendors", 4), "{order:?}");
    assert!(at("two_vendors", 4) < at("any_anydesk", 5), "{order:?}");
    assert!(
        first.err.contains(
            "correlation: 2 alerts; skipped 1 events without a usable @timestamp, 1 late events"
        ),
        "{}",
        first.err
    );
    assert!(first.err.contains("two_vendors"), "{}", first.err);
    // The same input gives the same output.
    let again = hunt(dir.path(), &["--events", "events.ndjson"], None);
    assert_eq!(again.out, first.out);
}

#[test]
fn rules_with_errors_stop_before_hunting() {
    let bad = RULES.replace("process.name contains", "proces.name contains");
    let dir = tree(&[
        ("detections/r.det", bad.as_bytes()),
        ("events.ndjson", EVENTS.as_bytes()),
    ]);
    let r = hunt(dir.path(), &["--events", "events.ndjson"], None);
    assert_eq!(r.code, Some(1), "{}", r.err);
    assert!(r.err.contains("error[E0302]"), "{}", r.err);
    assert!(r.err.contains("1 error; nothing hunted"), "{}", r.err);
    assert!(r.out.is_empty());
}

#[test]
fn given_rule_paths_and_a_missing_events_file() {
    let dir = tree(&[
        ("rules/r.det", RULES.as_bytes()),
        ("events.ndjson", EVENTS.as_bytes()),
    ]);
    let r = hunt(
        dir.path(),
        &["rules/r.det", "--events", "events.ndjson"],
        None,
    );
    assert_eq!(r.code, Some(0), "{}", r.err);
    assert_eq!(lines(&r.out).len(), 4);
    let missing = hunt(dir.path(), &["rules", "--events", "nope.ndjson"], None);
    assert_eq!(missing.code, Some(2), "{}", missing.err);
    assert!(
        missing.err.contains("cannot read nope.ndjson"),
        "{}",
        missing.err
    );
}

#[test]
fn a_reader_that_stops_early_ends_the_hunt_quietly() {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command as Std, Stdio};
    let events = "{\"process.name\": \"anydesk.exe\"}\n".repeat(200_000);
    let dir = tree(&[
        ("detections/r.det", RULES.as_bytes()),
        ("events.ndjson", events.as_bytes()),
    ]);
    let mut child = Std::new(assert_cmd::cargo::cargo_bin("detc"))
        .current_dir(dir.path())
        .args(["hunt", "--events", "events.ndjson"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("one line");
    // The pipe's read end is dropped here, as `| head -1` does.
    let out = child.wait_with_output().expect("ends");
    assert!(first.starts_with("{\"rule\":"), "{first}");
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("error") && !err.contains("panicked"), "{err}");
}

/// A first-seen rule's warm-up counts from the input's first event, whether or not it
/// meets the rule, as `detc test` counts it from a case's first event (the differential
/// test found hunt counting from the first matching event only).
#[test]
fn first_seen_warm_up_starts_at_the_first_event() {
    let rule = r#"
rule new_host "New host for a binary" {
  id = "11111111-2222-4333-8444-999999999999"
  severity = low
  from network_connection
  where network.transport == "tcp"
  first seen host.name by process.executable lookback 1d
}
"#;
    let dir = tree(&[("rules/r.det", rule.as_bytes())]);
    let events = [
        json!({"@timestamp": "2026-01-01T00:00:00Z", "event.source": "network_connection"}),
        json!({"@timestamp": "2026-01-03T00:00:00Z", "event.source": "network_connection",
               "network.transport": "tcp", "host.name": "h", "process.executable": "p"}),
    ];
    let input: String = events.iter().map(|e| format!("{e}\n")).collect();
    let run = hunt(
        dir.path(),
        &["rules", "--events", "-"],
        Some(input.as_bytes()),
    );
    assert_eq!(run.code, Some(0), "{}", run.err);
    let alerts: Vec<Value> = lines(&run.out)
        .into_iter()
        .filter(|l| l.get("group").is_some())
        .collect();
    assert_eq!(alerts.len(), 1, "{}", run.out);
}

/// `--strict` stops at a line longer than 64 MiB even when the line never ends.
#[cfg(unix)]
#[test]
fn strict_stops_at_an_endless_line() {
    let dir = tree(&[("rules.det", RULES.as_bytes())]);
    let run = hunt(
        dir.path(),
        &["--strict", "--events", "/dev/zero", "rules.det"],
        None,
    );
    assert_eq!(run.code, Some(1), "{}", run.err);
    assert!(
        run.err
            .contains("/dev/zero:1: malformed line: line is longer than 64 MiB"),
        "{}",
        run.err
    );
}

/// Hunting needs only the language's checks: a rule a SIEM cannot take (here a schedule
/// Splunk's cron cannot run) still hunts, with a warning at its line.
#[test]
fn a_rule_a_siem_cannot_take_still_hunts_with_a_warning() {
    let rules = RULES.replacen(
        "severity = high\n",
        "severity = high\n  schedule = 45m\n",
        1,
    );
    let dir = tree(&[
        ("detections/r.det", rules.as_bytes()),
        ("events.ndjson", EVENTS.as_bytes()),
    ]);
    let r = hunt(dir.path(), &["--events", "events.ndjson"], None);
    assert_eq!(r.code, Some(0), "{}", r.err);
    assert!(r.err.contains("warning[E0601]"), "{}", r.err);
    assert!(!r.err.contains("error"), "{}", r.err);
    let rules: Vec<String> = lines(&r.out)
        .iter()
        .map(|l| l["rule"].as_str().expect("rule").to_string())
        .collect();
    assert!(rules.contains(&"rmm_started".to_string()), "{rules:?}");
}

/// `--keep-going` hunts with the rules that check when another has errors, and still
/// fails; the closing report lists only rules that matched unless `--verbose`.
#[test]
fn keep_going_hunts_the_rules_that_check_and_verbose_lists_every_rule() {
    let never = r#"
rule never_seen "Never seen" {
  id = "11111111-2222-4333-8444-999999999999"
  severity = low
  from dns_query
  where dns.question.name == "nothing.invalid"
}
"#;
    let bad = RULES.replace("process.name contains", "proces.name contains");
    let dir = tree(&[
        ("detections/r.det", bad.as_bytes()),
        ("detections/never.det", never.as_bytes()),
        ("events.ndjson", EVENTS.as_bytes()),
    ]);
    let r = hunt(
        dir.path(),
        &["--events", "events.ndjson", "--keep-going"],
        None,
    );
    assert_eq!(r.code, Some(1), "{}", r.err);
    assert!(r.err.contains("error[E0302]"), "{}", r.err);
    assert!(
        r.err.contains("1 error left rules out of the hunt"),
        "{}",
        r.err
    );
    let hunted: Vec<String> = lines(&r.out)
        .iter()
        .map(|l| l["rule"].as_str().expect("rule").to_string())
        .collect();
    assert!(hunted.contains(&"rmm_started".to_string()), "{hunted:?}");
    assert!(!hunted.contains(&"any_anydesk".to_string()), "{hunted:?}");
    assert!(!r.err.contains("never_seen"), "{}", r.err);
    assert!(
        r.err.contains("(1 without matches; --verbose lists them)"),
        "{}",
        r.err
    );
    let verbose = hunt(
        dir.path(),
        &["--events", "events.ndjson", "--keep-going", "--verbose"],
        None,
    );
    assert!(
        verbose
            .err
            .lines()
            .any(|l| l.trim_start().starts_with("never_seen") && l.ends_with(" 0")),
        "{}",
        verbose.err
    );
}

/// Correlation rules of every form, keyed by one field or two (one an array), over a stream
/// with many keys, times out of order (some late), events without a time and events that
/// meet several steps: each rule's state is split by key among the cores, so the output must
/// be the same whatever their number.
#[test]
fn correlation_output_is_the_same_on_any_number_of_cores() {
    let rules = r#"
rule agg_many "Many" {
  id = "11111111-2222-4333-8444-900000000001"
  severity = low
  from process_start
  where process.name in ["a.exe", "b.exe", "c.exe"]
  group by host.name, user.name window 10m
  having count() >= 3 and distinct(process.name) >= 2 or sum(process.pid) > 5000 and min(process.pid) < 5
}

rule seq_abc "A then B then C" {
  id = "11111111-2222-4333-8444-900000000002"
  severity = medium
  sequence by host.name within 5m {
    process_start where process.name in ["a.exe", "b.exe"]
    process_start where process.name in ["b.exe", "c.exe"]
    process_start where process.name == "c.exe"
  }
}

rule first_user "User first seen on a host" {
  id = "11111111-2222-4333-8444-900000000003"
  severity = high
  from process_start
  where process.name != "z.exe"
  first seen user.name by host.name lookback 15m
}

rule agg_one_key "One key only" {
  id = "11111111-2222-4333-8444-900000000004"
  severity = low
  from process_start
  where process.name == "c.exe"
  group by process.name window 2m
  having count() >= 18
}
"#;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let names = ["a.exe", "b.exe", "c.exe", "z.exe"];
    let mut events = String::new();
    let mut t: i64 = 1_764_000_000_000;
    for n in 0..40_000u64 {
        t += next(4_000) as i64;
        // One in 50 comes up to 20 minutes early: some are late for some windows.
        let at = if next(50) == 0 {
            t - next(1_200_000) as i64
        } else {
            t
        };
        let time = if next(200) == 0 {
            String::new()
        } else {
            format!("\"@timestamp\": {at}, ")
        };
        let users = if next(10) == 0 {
            format!("[\"u{}\", \"u{}\"]", next(8), next(8))
        } else {
            format!("\"u{}\"", next(8))
        };
        events.push_str(&format!(
            "{{{time}\"event.source\": \"process_start\", \"host.name\": \"h{}\", \"user.name\": {users}, \"process.name\": \"{}\", \"process.pid\": {}, \"n\": {n}}}\n",
            next(40),
            names[next(4) as usize],
            next(3_000),
        ));
    }
    let dir = tree(&[
        ("detections/c.det", rules.as_bytes()),
        ("events.ndjson", events.as_bytes()),
    ]);
    let run = |threads: &str| {
        let out = Command::cargo_bin("detc")
            .expect("binary builds")
            .current_dir(dir.path())
            .env("RAYON_NUM_THREADS", threads)
            .args(["hunt", "--verbose", "--events", "events.ndjson"])
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{err}");
        let report = err
            .lines()
            .filter(|l| !l.starts_with("hunted"))
            .collect::<Vec<_>>()
            .join("\n");
        (String::from_utf8(out.stdout).expect("UTF-8"), report)
    };
    let one = run("1");
    let alerts = |rule: &str| {
        one.0
            .lines()
            .filter(|l| l.contains(&format!("\"rule\":\"{rule}\"")))
            .count()
    };
    for rule in ["agg_many", "seq_abc", "first_user", "agg_one_key"] {
        assert!(
            alerts(rule) > 20,
            "{rule}: {} alerts\n{}",
            alerts(rule),
            one.1
        );
    }
    assert!(one.1.contains("late events"), "{}", one.1);
    for threads in ["2", "3", "5"] {
        let other = run(threads);
        assert!(
            other.0 == one.0,
            "{threads} threads: the alerts differ from one thread's"
        );
        assert_eq!(other.1, one.1, "{threads} threads");
    }
}
