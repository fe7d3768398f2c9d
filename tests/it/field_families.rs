//! Field families (`winlog.event_data.*`): one declaration covers every member, each target
//! maps members by a pattern, an explicit entry wins, `~` has no place; check, every target,
//! the evaluator and the catalog read the same resolution.

use crate::common;
use detc::eval::Matcher;
use detc::lower::Language;
use detc::project::{self, Config, Output};
use detc::targets::TargetName;
use serde_json::json;
use std::path::PathBuf;

fn rule(body: &str) -> String {
    common::rule("fam", body)
}

fn config_with(schemas: &[(&str, &str)], mappings: &[(&str, &str)]) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().expect("tmp");
    let write = |name: &str, text: &str| -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    };
    let s: Vec<PathBuf> = schemas.iter().map(|(n, t)| write(n, t)).collect();
    let m: Vec<PathBuf> = mappings.iter().map(|(n, t)| write(n, t)).collect();
    let config = Config::load(&s, &m).expect("loads");
    (dir, config)
}

fn compile_with(text: &str, config: &Config) -> Vec<Output> {
    let p = project::check_text("t.det", text, config);
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    let (outputs, diags) = project::compile(&p, config, &TargetName::ALL);
    assert!(diags.is_empty(), "{diags:?}");
    outputs
}

fn query(outputs: &[Output], target: TargetName, language: Language) -> &str {
    &outputs
        .iter()
        .find(|o| o.target == target && o.language == language)
        .unwrap_or_else(|| panic!("no {target:?} {language:?}"))
        .query
}

#[test]
fn every_target_renders_a_member_by_its_pattern() {
    let text = rule(
        "from windows_security\n  where event.code == \"5136\" and winlog.event_data.ObjectDN contains \"CN=AdminSDHolder\"",
    );
    let (outputs, diags) = common::compile_text(&text);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(
        query(&outputs, TargetName::Splunk, Language::Spl),
        r#"source="XmlWinEventLog:Security" EventCode="5136" ObjectDN="*CN=AdminSDHolder*""#
    );
    assert_eq!(
        query(&outputs, TargetName::Elastic, Language::Eql),
        r#"any where event.code in~ ("5136") and stringContains~(winlog.event_data.ObjectDN, "CN=AdminSDHolder")"#
    );
    // Sentinel: the column per member is computed only for the member the query reads.
    let kql = query(&outputs, TargetName::Sentinel, Language::Kql);
    assert!(
        kql.contains(r#"| extend ObjectDN_ = coalesce(tostring(column_ifexists("ObjectDN", "")), replace_string("#),
        "{kql}"
    );
    assert!(
        kql.contains(r#"extract(@'<Data Name="ObjectDN">([^<]*)<', 1, EventData)"#),
        "{kql}"
    );
    assert!(
        kql.ends_with(r#"| where EventCode =~ "5136" and ObjectDN_ contains "CN=AdminSDHolder""#),
        "{kql}"
    );
    assert_eq!(kql.matches("column_ifexists").count(), 1, "{kql}");
    assert!(
        !kql.contains("_guid"),
        "unused per-member columns stay out: {kql}"
    );
}

#[test]
fn an_explicit_mapping_wins_over_the_family() {
    let text = rule(
        "from windows_security\n  where winlog.event_data.TargetUserName == \"krbtgt\" and winlog.event_data.LogonType == \"3\"",
    );
    let (outputs, diags) = common::compile_text(&text);
    assert!(diags.is_empty(), "{diags:?}");
    let kql = query(&outputs, TargetName::Sentinel, Language::Kql);
    // Both have their own Sentinel entries (a column, a computed column), not the family's.
    assert!(kql.contains(r#"TargetUserName =~ "krbtgt""#), "{kql}");
    assert!(kql.contains(r#"LogonTypeText =~ "3""#), "{kql}");
    assert!(!kql.contains("column_ifexists"), "{kql}");
    // `~` on Sentinel: a member with no place there is refused on that target only.
    let text = rule("from windows_security\n  where winlog.event_data.Channel == \"x\"");
    let config = common::config();
    let p = project::check_text("t.det", &text, &config);
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    let (outputs, diags) = project::compile(&p, &config, &TargetName::ALL);
    assert!(outputs.iter().all(|o| o.target != TargetName::Sentinel));
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0].code.id(), "E0402");
    assert!(
        diags[0].message.contains("cannot compile for sentinel"),
        "{}",
        diags[0].message
    );
}

#[test]
fn an_explicit_schema_field_wins_over_the_family_type() {
    let (_dir, config) = config_with(
        &[(
            "s.yaml",
            "sources:\n  windows_system:\n    fields:\n      winlog.event_data.Count: number\n",
        )],
        &[],
    );
    let ok = rule("from windows_system\n  where winlog.event_data.Count > 3");
    let outputs = compile_with(&ok, &config);
    assert_eq!(
        query(&outputs, TargetName::Elastic, Language::Eql),
        "any where winlog.event_data.Count > 3"
    );
    // Under the shipped schema the member is a string, where `>` does not apply.
    let codes: Vec<&str> = common::check_text(&ok)
        .iter()
        .map(|d| d.code.id())
        .collect();
    assert_eq!(codes, ["E0303"]);
}

#[test]
fn a_name_under_the_prefix_that_is_not_a_member_is_a_check_error() {
    let text = rule("from windows_system\n  where winlog.event_data.Image.Name == \"a\"");
    let diags = common::check_text(&text);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0].code.id(), "E0302");
    assert!(
        diags[0]
            .message
            .contains("not a member of the family `winlog.event_data.*`"),
        "{}",
        diags[0].message
    );
    let at = diags[0].span.start;
    assert!(text[at..].starts_with("winlog.event_data.Image.Name"));
    // A member name is fine, whatever its case.
    assert!(
        common::check_text(&rule(
            "from windows_system\n  where winlog.event_data.param1 == \"a\""
        ))
        .is_empty()
    );
}

#[test]
fn a_user_mapping_overlays_a_family() {
    let (_dir, config) = config_with(
        &[],
        &[(
            "splunk.yaml",
            "target: splunk\nsources:\n  windows_system:\n    fields:\n      winlog.event_data.*: \"ed_*\"\n      winlog.event_data.ImagePath: image_path\n      winlog.event_data.Gone: ~\n",
        )],
    );
    let text = rule(
        "from windows_system\n  where winlog.event_data.ServiceName == \"a\" and winlog.event_data.ImagePath == \"b\"",
    );
    let outputs = compile_with(&text, &config);
    assert_eq!(
        query(&outputs, TargetName::Splunk, Language::Spl),
        r#"source="XmlWinEventLog:System" ed_ServiceName="a" image_path="b""#
    );
    let gone = rule("from windows_system\n  where winlog.event_data.Gone == \"a\"");
    let p = project::check_text("t.det", &gone, &config);
    let (_, diags) = project::compile(&p, &config, &[TargetName::Splunk]);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0].code.id(), "E0402");
}

#[test]
fn a_family_written_wrong_is_an_error_of_its_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("m.yaml");
    std::fs::write(
        &path,
        "target: elastic\nsources:\n  windows_system:\n    fields:\n      winlog.event_data.*: winlog.event_data\n",
    )
    .expect("write");
    let Err(err) = Config::load(&[], std::slice::from_ref(&path)) else {
        panic!("a pattern without `*` loads");
    };
    assert_eq!(err.code.id(), "E0501");
    assert_eq!(err.file, path.display().to_string());
    assert!(err.message.contains("one `*`"), "{}", err.message);
}

#[test]
fn the_evaluator_reads_members_by_their_detc_names() {
    let text = rule(
        "from windows_application\n  where winlog.event_data.AppName == \"lsass.exe\"\n\n  test matches { winlog.event_data.AppName = \"LSASS.EXE\" }\n  test misses { winlog.event_data.ModuleName = \"lsass.exe\" }",
    );
    let config = common::config();
    let p = project::check_text("t.det", &text, &config);
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    let results = detc::testing::run(&p, &config.schema);
    assert_eq!(results.len(), 2);
    assert!(
        results
            .iter()
            .all(|r| r.status == detc::testing::Status::Passed),
        "{results:?}"
    );
    let m = Matcher::new(&p.rules[0]).expect("matcher");
    assert!(m.matches(&json!({"winlog": {"event_data": {"AppName": "lsass.exe"}}})));
    assert!(m.matches(&json!({"winlog.event_data.AppName": "lsass.exe"})));
    assert!(!m.matches(&json!({"winlog": {"event_data": {"appname": "lsass.exe"}}})));
}

#[test]
fn the_catalog_shows_a_member_rule_for_every_target() {
    let dir = tempfile::tempdir().expect("tmp");
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("mkdir");
    std::fs::write(
        rules.join("fam.det"),
        rule("from windows_bits_client\n  where event.code == \"16403\" and winlog.event_data.RemoteName contains \"http://1\""),
    )
    .expect("write");
    let out = dir.path().join("catalog");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_detc"))
        .current_dir(dir.path())
        .args(["docs", "rules", "--out"])
        .arg(&out)
        .status()
        .expect("run");
    assert!(status.success());
    let page = std::fs::read_to_string(out.join("rules/fam.md")).expect("page");
    assert!(page.contains("RemoteName=\"*http://1*\""), "{page}");
    assert!(
        page.contains("tostring(EventData.RemoteName) contains \"http://1\""),
        "{page}"
    );
    assert!(page.contains("winlog.event_data.RemoteName"), "{page}");
}
