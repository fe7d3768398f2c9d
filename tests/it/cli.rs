//! The command line: exit codes, JSON shapes, diagnostic text, and that nothing is
//! written when anything fails.

use assert_cmd::Command;
use std::fs;
use std::path::Path;

fn detc(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("detc").expect("binary builds");
    cmd.current_dir(dir);
    cmd
}

const GOOD: &str = r#"
rule good_rule "A good rule" {
  id = "11111111-2222-4333-8444-555555555555"
  severity = high
  attack = [TA0011, T1219]
  from process_start
  where process.name == "anydesk.exe"
  test matches { process.name = "AnyDesk.exe" }
  test misses { process.name = "cmd.exe" }
}
"#;

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        let path = dir.path().join(name);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, text).expect("write");
    }
    dir
}

#[test]
fn check_clean_tree_exits_zero() {
    let dir = tree(&[("detections/good.det", GOOD)]);
    let out = detc(dir.path()).arg("check").output().expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn check_reports_every_broken_file_with_position_and_hint() {
    let bad1 = GOOD.replace("process.name ==", "proces.name ==");
    let bad2 = GOOD
        .replace("good_rule", "other_rule")
        .replace("555555555555", "666666666666")
        .replace("severity = high", "severty = high");
    let dir = tree(&[("detections/a.det", &bad1), ("detections/b.det", &bad2)]);
    let out = detc(dir.path()).arg("check").output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "detections/a.det:7:9: error[E0302]: source `process_start` has no field `proces.name`"
        ),
        "{err}"
    );
    assert!(err.contains("  |         ^^^^^^^^^^^\n"), "{err}");
    assert!(
        err.contains("= help: did you mean `process.name`?"),
        "{err}"
    );
    assert!(
        err.contains("detections/b.det:4:3: error[E0101]: unknown metadata key `severty`"),
        "{err}"
    );
    assert!(err.contains("did you mean `severity`?"), "{err}");
    assert!(
        err.contains("error[E0103]"),
        "missing severity is reported too: {err}"
    );
}

#[test]
fn check_json_has_the_documented_shape() {
    let bad = GOOD.replace("T1219", "T12");
    let dir = tree(&[("detections/a.det", &bad)]);
    let out = detc(dir.path())
        .args(["check", "--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let d = &v[0];
    assert_eq!(d["file"], "detections/a.det");
    assert_eq!(d["line"], 5);
    assert_eq!(d["column"], 21);
    assert_eq!(d["code"], "E0106");
    assert_eq!(d["severity"], "error");
    assert!(d["message"].as_str().unwrap_or_default().contains("T12"));
    assert!(d["hint"].is_string());
}

#[test]
fn duplicates_across_files_are_errors() {
    let dir = tree(&[("detections/a.det", GOOD), ("detections/sub/b.det", GOOD)]);
    let out = detc(dir.path()).arg("check").output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error[E0201]: rule `good_rule` is defined twice"),
        "{err}"
    );
    assert!(err.contains("error[E0202]"), "{err}");
}

#[test]
fn usage_errors_exit_two() {
    let dir = tree(&[]);
    let out = detc(dir.path())
        .args(["check", "--no-such-flag"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let out = detc(dir.path())
        .args(["compile", "--target", "qradar"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn compile_writes_one_file_per_rule_and_language() {
    let dir = tree(&[("detections/good.det", GOOD)]);
    let out = detc(dir.path()).arg("compile").output().expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "splunk/good_rule.spl",
        "sentinel/good_rule.kql",
        "elastic/good_rule.eql",
        "elastic/good_rule.esql",
    ] {
        let text = fs::read_to_string(dir.path().join("build").join(f)).expect(f);
        assert!(text.to_lowercase().contains("anydesk.exe"), "{f}: {text}");
    }
}

#[test]
fn compile_json_is_one_array_on_stdout_in_stable_order() {
    let dir = tree(&[
        ("detections/good.det", GOOD),
        (
            "detections/a.det",
            &GOOD
                .replace("good_rule", "a_rule")
                .replace("555555555555", "777777777777"),
        ),
    ]);
    let run = || {
        detc(dir.path())
            .args(["compile", "--format", "json"])
            .output()
            .expect("runs")
    };
    let out = run();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let rows = v.as_array().expect("array");
    assert_eq!(rows.len(), 8);
    let keys: Vec<_> = rows
        .iter()
        .map(|r| format!("{}/{}/{}", r["rule"], r["target"], r["language"]))
        .collect();
    assert_eq!(keys[0], r#""a_rule"/"splunk"/"spl""#);
    assert_eq!(keys[2], r#""a_rule"/"elastic"/"eql""#);
    assert_eq!(keys[3], r#""a_rule"/"elastic"/"esql""#);
    for r in rows {
        let obj = r.as_object().expect("object");
        let mut fields: Vec<_> = obj.keys().cloned().collect();
        fields.sort();
        assert_eq!(fields, ["id", "language", "query", "rule", "target"]);
    }
    assert_eq!(run().stdout, out.stdout, "byte-stable");
    assert!(!dir.path().join("build").exists(), "json writes no files");
}

#[test]
fn compile_with_target_restricts_output() {
    let dir = tree(&[("detections/good.det", GOOD)]);
    let out = detc(dir.path())
        .args(["compile", "--target", "sentinel", "--format", "json"])
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    assert_eq!(v[0]["language"], "kql");
}

#[test]
fn failed_compile_writes_nothing_and_keeps_old_output() {
    let dir = tree(&[("detections/good.det", GOOD)]);
    assert!(
        detc(dir.path())
            .arg("compile")
            .output()
            .expect("runs")
            .status
            .success()
    );
    let before = fs::read(dir.path().join("build/splunk/good_rule.spl")).expect("written");
    fs::write(dir.path().join("detections/bad.det"), "rule broken {").expect("write");
    let out = detc(dir.path()).arg("compile").output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        fs::read(dir.path().join("build/splunk/good_rule.spl")).expect("kept"),
        before
    );
}

/// The Sentinel query `detc compile` gives for the GOOD rule with `mapping` as `--mapping`.
fn sentinel_query_with_mapping(mapping: &str) -> String {
    let dir = tree(&[("detections/good.det", GOOD), ("mine.yaml", mapping)]);
    let out = detc(dir.path())
        .args(["compile", "--target", "sentinel", "--format", "json"])
        .args(["--mapping", "mine.yaml"])
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    v[0]["query"].as_str().unwrap_or_default().to_string()
}

#[test]
fn user_mapping_overrides_a_field() {
    let query = sentinel_query_with_mapping(
        "target: sentinel\nsources:\n  process_start:\n    fields:\n      process.name: MyProcessName\n",
    );
    assert!(
        query.contains("MyProcessName =~ \"anydesk.exe\""),
        "{query}"
    );
}

#[test]
fn a_sentinel_source_reads_further_tables_as_a_fuzzy_union() {
    let query = sentinel_query_with_mapping(
        "target: sentinel\nsources:\n  process_start:\n    union: [\"Other | extend FileName = tostring(FileName)\"]\n",
    );
    assert!(
        query.starts_with(
            "union isfuzzy=true DeviceProcessEvents, (Other | extend FileName = tostring(FileName))\n| where"
        ),
        "{query}"
    );
}

#[test]
fn bad_mapping_is_a_diagnostic() {
    let dir = tree(&[
        ("detections/good.det", GOOD),
        (
            "mine.yaml",
            "target: sentinel\nsources:\n  process_start:\n    tabel: X\n",
        ),
    ]);
    let out = detc(dir.path())
        .args(["check", "--mapping", "mine.yaml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mine.yaml:4:") && err.contains("E0501"),
        "{err}"
    );
}

#[test]
fn hostile_input_gets_diagnostics_not_panics() {
    let deep = format!(
        "rule x \"t\" {{ from process_start where {}process.name == \"a\"{} }}",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    let long = format!("rule x \"{}\" {{", "a".repeat(10 * 1024 * 1024));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "binary.det",
            vec![0x7f, b'E', b'L', b'F', 0, 1, 2, 3, 0xff, 0xfe],
        ),
        ("latin1.det", b"rule caf\xe9 \"t\" {}".to_vec()),
        ("deep.det", deep.into_bytes()),
        ("long.det", long.into_bytes()),
        (
            "nots.det",
            format!(
                "rule x \"t\" {{ from process_start where {} exists process.name }}",
                "not ".repeat(20000)
            )
            .into_bytes(),
        ),
    ];
    for (name, bytes) in cases {
        let dir = tempfile::tempdir().expect("tmp");
        fs::write(dir.path().join(name), &bytes).expect("write");
        let out = detc(dir.path())
            .args(["check", name])
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains(&format!("{name}:")) && err.contains("error[E"),
            "{name}: {err}"
        );
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn a_base_search_with_a_pipe_gets_its_own_search_command() {
    let mapping = "target: splunk\nsources:\n  process_start:\n    search: 'index=edr | eval n=lower(name)'\n";
    let dir = tree(&[("detections/good.det", GOOD), ("mine.yaml", mapping)]);
    let out = detc(dir.path())
        .args([
            "compile",
            "--target",
            "splunk",
            "--format",
            "json",
            "--mapping",
            "mine.yaml",
        ])
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        v[0]["query"],
        "index=edr | eval n=lower(name) | search process_name=\"anydesk.exe\""
    );
}

#[test]
fn compile_keep_going_writes_what_compiles_and_still_fails() {
    let bad = GOOD
        .replace("good_rule", "bad_rule")
        .replace("555555555555", "888888888888")
        .replace("process.name ==", "proces.name ==");
    let dir = tree(&[("detections/good.det", GOOD), ("detections/bad.det", &bad)]);
    let plain = detc(dir.path()).arg("compile").output().expect("runs");
    assert_eq!(plain.status.code(), Some(1));
    assert!(
        !dir.path().join("build").exists(),
        "nothing written without it"
    );

    let out = detc(dir.path())
        .args(["compile", "--keep-going"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("proces.name"), "{err}");
    assert!(err.contains("compiled 1 rules into 4 queries"), "{err}");
    assert!(dir.path().join("build/splunk/good_rule.spl").exists());
    assert!(!dir.path().join("build/splunk/bad_rule.spl").exists());

    let json = detc(dir.path())
        .args(["compile", "--keep-going", "--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(json.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(v.as_array().map(Vec::len), Some(4));
}

/// `detc explain` reads the one table of codes: every code a check reports has its text.
#[test]
fn explain_prints_a_codes_title_and_text() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = detc(dir.path())
        .args(["explain", "e0302"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("E0302: unknown field\n\n"), "{text}");
    assert!(text.lines().count() > 4, "{text}");
    let all = detc(dir.path()).arg("explain").output().expect("runs");
    let listed = String::from_utf8_lossy(&all.stdout);
    assert_eq!(listed.lines().count(), detc::base::Code::ALL.len());
    assert!(listed.contains("E0404  "), "{listed}");
    let unknown = detc(dir.path())
        .args(["explain", "E9999"])
        .output()
        .expect("runs");
    assert_eq!(unknown.status.code(), Some(2));
}

/// A Splunk-only team: detc.toml names the target, the schema and the mapping once, and
/// every command finds it, from the project's folder or below it.
#[test]
fn detc_toml_sets_targets_and_files_once() {
    let rule = GOOD.replace(
        "where process.name == \"anydesk.exe\"",
        "where process.working_directory startswith 'C:\\Temp'",
    );
    let rule = rule
        .replace("test matches { process.name = \"AnyDesk.exe\" }", "")
        .replace("test misses { process.name = \"cmd.exe\" }", "");
    let dir = tree(&[
        ("detections/a.det", &rule),
        (
            "schema/extra.yaml",
            "sources:\n  process_start:\n    fields:\n      process.working_directory: string\n",
        ),
        (
            "mappings/splunk.yaml",
            "target: splunk\nsources:\n  process_start:\n    fields: { process.working_directory: process_current_directory }\n",
        ),
        (
            "detc.toml",
            "targets = [\"splunk\"]\nschemas = [\"schema/extra.yaml\"]\nmappings = [\"mappings/splunk.yaml\"]\n",
        ),
        (
            "all-targets.toml",
            "schemas = [\"schema/extra.yaml\"]\nmappings = [\"mappings/splunk.yaml\"]\n",
        ),
    ]);
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).into_owned();
    for cwd in [dir.path().to_path_buf(), dir.path().join("detections")] {
        let out = detc(&cwd).arg("check").output().expect("runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            cwd.display(),
            stderr(&out)
        );
    }
    let out = detc(dir.path()).arg("compile").output().expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let built: Vec<_> = fs::read_dir(dir.path().join("build"))
        .expect("build/")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    assert_eq!(built, ["splunk"]);
    // Without `targets`, the other two targets cannot name the field.
    let out = detc(dir.path())
        .args(["check", "--config", "all-targets.toml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.matches("error[E0402]").count(), 2, "{err}");
    assert!(
        err.contains("sentinel") && err.contains("elastic") && !err.contains("for splunk"),
        "{err}"
    );
}

#[test]
fn detc_toml_mistakes_point_at_their_line() {
    let dir = tree(&[
        ("detections/good.det", GOOD),
        (
            "detc.toml",
            "paths = [\"detections\"]\ntagets = [\"splunk\"]\n",
        ),
    ]);
    let out = detc(dir.path()).arg("check").output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("detc.toml:2:1: error[E0503]"), "{err}");
    assert!(err.contains("unknown field `tagets`"), "{err}");
    // Its explanation is at hand while the file is broken.
    let out = detc(dir.path())
        .args(["explain", "E0503"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let out = detc(dir.path())
        .args(["check", "--config", "missing.toml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
}

/// `detc new` writes a skeleton into the project's rule folder that checks and passes its
/// own tests, with a fresh id and today's date; it never overwrites.
#[test]
fn new_writes_a_skeleton_that_checks_and_tests() {
    let dir = tree(&[("detc.toml", "paths = [\"rules\"]\n")]);
    let run = |args: &[&str]| detc(dir.path()).args(args).output().expect("runs");
    let out = run(&["new", "rdp_from_anywhere", "--from", "process_start"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = fs::read_to_string(dir.path().join("rules/rdp_from_anywhere.det")).expect("written");
    assert!(text.contains("rule rdp_from_anywhere") && text.contains("from process_start"));
    let id = text
        .split("id          = \"")
        .nth(1)
        .expect("id")
        .get(..36)
        .expect("uuid");
    assert_eq!(id.matches('-').count(), 4, "{id}");
    assert_eq!(run(&["check"]).status.code(), Some(0));
    assert_eq!(run(&["test"]).status.code(), Some(0));
    // Again: the file exists. A second rule gets another id.
    assert_eq!(
        run(&["new", "rdp_from_anywhere", "--from", "process_start"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&["new", "second", "--from", "process_start"])
            .status
            .code(),
        Some(0)
    );
    let second = fs::read_to_string(dir.path().join("rules/second.det")).expect("written");
    assert!(!second.contains(id));
    let out = run(&["new", "third", "--from", "proces_start"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `process_start`?"));
    assert!(!dir.path().join("rules/third.det").exists());
    assert_eq!(
        run(&["new", "Bad-Name", "--from", "process_start"])
            .status
            .code(),
        Some(2)
    );
}

/// Colour: on with `--color always`, off when stderr is not a terminal (as here) or with
/// `--color never`; the text is the same once the escapes are gone.
#[test]
fn diagnostics_are_coloured_only_when_asked_or_on_a_terminal() {
    let dir = tree(&[(
        "detections/a.det",
        &GOOD.replace("process.name ==", "proces.name =="),
    )]);
    let stderr = |args: &[&str]| {
        let out = detc(dir.path()).args(args).output().expect("runs");
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8(out.stderr).expect("utf-8")
    };
    let plain = stderr(&["check"]);
    assert!(
        !plain.contains('\u{1b}') && plain.contains("error[E0302]"),
        "{plain}"
    );
    assert_eq!(stderr(&["check", "--color", "never"]), plain);
    let coloured = stderr(&["check", "--color", "always"]);
    assert!(
        coloured.contains("\u{1b}[1m\u{1b}[91merror[E0302]\u{1b}[0m"),
        "{coloured}"
    );
    let mut stripped = String::new();
    let mut rest = coloured.as_str();
    while let Some(at) = rest.find('\u{1b}') {
        stripped.push_str(&rest[..at]);
        rest = &rest[at + rest[at..].find('m').expect("an escape ends with m") + 1..];
    }
    stripped.push_str(rest);
    assert_eq!(stripped, plain);
}

/// A misspelt field in an NDJSON case names the field it likely means, instead of only a
/// wrong verdict; a field the source does not have and nothing resembles is context.
#[test]
fn ndjson_case_fields_are_checked_against_the_source() {
    let dir = tree(&[
        ("detections/good.det", GOOD),
        (
            "detections/good_rule.matches.ndjson",
            "{\"process\": {\"nmae\": \"AnyDesk.exe\"}}\n{\"process.name\": \"anydesk.exe\", \"ticket\": \"INC-1\"}\n",
        ),
    ]);
    let out = detc(dir.path()).arg("test").output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(
            "field `process.nmae` is not in source `process_start`; did you mean `process.name`?"
        ),
        "{text}"
    );
    assert!(text.contains("3 passed, 1 failed"), "{text}");

    // A correlation rule's case files too, on the line of the event.
    let rule = "rule big_uploads \"t\" {\n  id = \"11111111-2222-4333-8444-777777777777\"\n  severity = low\n  from web_request\n  where http.request.method == \"POST\"\n  group by user.name window 1h\n  having sum(http.request.bytes) > 10\n}\n";
    let dir = tree(&[
        ("detections/big.det", rule),
        (
            "detections/big_uploads.matches.ndjson",
            "{\"@timestamp\": \"2026-01-01T00:00:00Z\", \"event.source\": \"web_request\", \"http.request.method\": \"POST\", \"user.name\": \"a\", \"http.request.bytes\": 5}\n\
             {\"@timestamp\": \"2026-01-01T00:01:00Z\", \"http.request.method\": \"POST\", \"user.nmae\": \"a\", \"http.request.bytes\": 9}\n",
        ),
    ]);
    let out = detc(dir.path()).arg("test").output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(
            "line 2: field `user.nmae` is not in source `web_request`; did you mean `user.name`?"
        ),
        "{text}"
    );
}

/// Late events: every target's range ends the rule's `delay` before each run (10m unless the
/// rule or detc.toml says otherwise), and a correlation query bounds its own range the same way.
#[test]
fn delay_ends_every_targets_range_before_the_run() {
    let burst = r#"
rule burst "Many processes" {
  id = "21111111-2222-4333-8444-555555555555"
  severity = low
  attack = [TA0011, T1219]
  SETTING
  from process_start
  group by host.name window 1h
  having count() > 100
}
"#;
    let package = |toml: &str, setting: &str| {
        let dir = tree(&[
            (
                "detections/a.det",
                &GOOD.replace("severity = high", &format!("severity = high\n  {setting}")),
            ),
            ("detections/b.det", &burst.replace("SETTING", setting)),
            ("detc.toml", toml),
        ]);
        package_into_dist(dir.path());
        let read = |p: &str| fs::read_to_string(dir.path().join("dist").join(p)).expect(p);
        (
            read("splunk/detc/default/savedsearches.conf"),
            read("sentinel/yaml/good_rule.yaml") + &read("sentinel/yaml/burst.yaml"),
            read("elastic/rules.ndjson"),
        )
    };
    // The default: 10 minutes.
    let (spl, kql, kibana) = package("", "");
    assert!(
        spl.contains("dispatch.earliest_time = -900s\ndispatch.latest_time = -600s"),
        "{spl}"
    );
    assert!(spl.contains("earliest=-4200s latest=-600s"), "{spl}");
    assert!(
        kql.contains("queryPeriod: 15m") && kql.contains("| where TimeGenerated <= ago(10m)"),
        "{kql}"
    );
    assert!(
        kql.contains("| where TimeGenerated > ago(70m) and TimeGenerated <= ago(10m)"),
        "{kql}"
    );
    assert!(
        kibana.contains(r#""from":"now-15m""#) && kibana.contains(r#""to":"now-10m""#),
        "{kibana}"
    );
    assert!(
        kibana.contains("@timestamp > NOW() - 70 minutes AND @timestamp <= NOW() - 10 minutes"),
        "{kibana}"
    );
    // detc.toml sets it for the project.
    let (spl, kql, kibana) = package("delay = \"2m\"\n", "");
    assert!(
        spl.contains("dispatch.earliest_time = -420s\ndispatch.latest_time = -120s"),
        "{spl}"
    );
    assert!(
        kql.contains("queryPeriod: 7m") && kql.contains("<= ago(2m)"),
        "{kql}"
    );
    assert!(kibana.contains(r#""to":"now-2m""#), "{kibana}");
    // A rule's own `delay` wins; `0s` searches up to the run.
    let (spl, kql, kibana) = package("delay = \"2m\"\n", "delay = 0s");
    assert!(
        spl.contains("dispatch.earliest_time = -300s\ndispatch.latest_time = now"),
        "{spl}"
    );
    assert!(spl.contains("earliest=-3600s latest=now"), "{spl}");
    assert!(
        kql.contains("queryPeriod: 5m") && !kql.contains("<= ago("),
        "{kql}"
    );
    assert!(
        kibana.contains(r#""to":"now""#) && !kibana.contains("<= NOW()"),
        "{kibana}"
    );
    // A delay detc.toml cannot read points at itself.
    let dir = tree(&[
        ("detections/a.det", GOOD),
        ("detc.toml", "delay = \"ten minutes\"\n"),
    ]);
    let out = detc(dir.path()).arg("check").output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("detc.toml:1:9: error[E0503]: `delay` takes a duration")
    );
}

/// Versions change when a rule's deployed content does: `detc package` keeps them in
/// detc.lock.json (beside detc.toml), bumps exactly the rules that changed on each target and
/// each target's package, and leaves the lock alone when nothing changed.
#[test]
fn versions_follow_the_deployed_content() {
    let other = GOOD.replace("good_rule", "other_rule").replace(
        "11111111-2222-4333-8444-555555555555",
        "31111111-2222-4333-8444-555555555555",
    );
    let dir = tree(&[
        ("detections/a.det", GOOD),
        ("detections/b.det", &other),
        ("detc.toml", ""),
    ]);
    let package = || package_into_dist(dir.path());
    let read = |p: &str| fs::read_to_string(dir.path().join(p)).expect(p);
    let kibana_versions = || -> Vec<(String, u64)> {
        read("dist/elastic/rules.ndjson")
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("json");
                (
                    v["name"].as_str().unwrap_or_default().to_string(),
                    v["version"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    };
    assert!(package().contains("detc.lock.json updated"));
    let lock = read("detc.lock.json");
    assert_eq!(
        kibana_versions(),
        [
            ("A good rule".to_string(), 1),
            ("A good rule".to_string(), 1)
        ]
    );
    assert!(read("dist/splunk/detc/default/app.conf").contains("version = 1.0.0"));
    // Nothing changed: same versions, the lock untouched.
    assert!(!package().contains("updated"));
    assert_eq!(read("detc.lock.json"), lock);
    // One rule's description changes: its versions and each package's move on, the other
    // rule's stay.
    fs::write(
        dir.path().join("detections/b.det"),
        other.replace(
            "severity = high",
            "severity = high\n  description = \"Now described.\"",
        ),
    )
    .expect("write");
    assert!(package().contains("updated"));
    let versions = kibana_versions();
    assert!(
        versions.contains(&("A good rule".to_string(), 1))
            && versions.contains(&("A good rule".to_string(), 2)),
        "{versions:?}"
    );
    assert!(read("dist/sentinel/yaml/other_rule.yaml").contains("version: 1.0.1"));
    assert!(read("dist/sentinel/yaml/good_rule.yaml").contains("version: 1.0.0"));
    let app = read("dist/splunk/detc/default/app.conf");
    assert!(
        app.contains("version = 1.0.1") && app.contains("build = 2"),
        "{app}"
    );
    // A broken lock is reported at its file, and nothing is written.
    fs::write(dir.path().join("detc.lock.json"), "{").expect("write");
    let out = detc(dir.path())
        .args(["package", "--out", "dist"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("detc.lock.json"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(read("detc.lock.json"), "{");
}

/// detc.toml's `[package] license` reaches the packages that carry one (Kibana's rule and the
/// detection-rules TOML, whose tests want it), and only those.
#[test]
fn the_project_license_is_in_the_elastic_packages() {
    let dir = tree(&[
        ("detections/a.det", GOOD),
        ("detc.toml", "[package]\nlicense = \"Proprietary\"\n"),
    ]);
    package_into_dist(dir.path());
    let read = |p: &str| fs::read_to_string(dir.path().join("dist").join(p)).expect(p);
    assert!(read("elastic/toml/good_rule.toml").contains("\nlicense = \"Proprietary\"\n"));
    assert!(read("elastic/rules.ndjson").contains(r#""license":"Proprietary""#));
    assert!(!read("sentinel/yaml/good_rule.yaml").contains("Proprietary"));
}

/// `detc package --out dist` in `dir`, which must succeed; its stderr.
fn package_into_dist(dir: &Path) -> String {
    let out = detc(dir)
        .args(["package", "--out", "dist"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    stderr
}
