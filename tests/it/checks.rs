//! Each check catches what it should, at the span it should, with its code.

use crate::common;
use detc::base::diag::line_col;

/// (rule body after the metadata, expected code, the text the caret must sit on).
const CASES: &[(&str, &str, &str)] = &[
    (
        "from process_startt\n  where process.name == \"a\"",
        "E0301",
        "process_startt",
    ),
    (
        "from process_start\n  where process.nme == \"a\"",
        "E0302",
        "process.nme",
    ),
    (
        "from process_start\n  where source.ip == \"10.0.0.1\"",
        "E0302",
        "source.ip",
    ),
    (
        "from process_start\n  where process.pid contains \"1\"",
        "E0303",
        "contains",
    ),
    ("from process_start\n  where process.name < 3", "E0303", "<"),
    (
        "from network_connection\n  where destination.domain in cidr(\"10.0.0.0/8\")",
        "E0303",
        "cidr(",
    ),
    (
        "from network_connection\n  where source.ip contains \"10.\"",
        "E0303",
        "contains",
    ),
    (
        "from process_start\n  where process.pid == \"4\"",
        "E0304",
        "\"4\"",
    ),
    (
        "from process_start\n  where process.name == 4",
        "E0304",
        "4",
    ),
    (
        "from process_start\n  where process.name == [\"a\"]",
        "E0304",
        "[\"a\"]",
    ),
    (
        "from process_start\n  where process.name contains \"\"",
        "E0304",
        "\"\"",
    ),
    (
        "from process_start\n  where process.pid == cased 4",
        "E0305",
        "==",
    ),
    (
        "from process_start\n  where process.name matches 'a(?<=b)'",
        "E0306",
        "(?<=",
    ),
    (
        "from process_start\n  where process.name matches 'a\\1'",
        "E0306",
        "\\1",
    ),
    (
        "from process_start\n  where process.name matches '(unclosed'",
        "E0306",
        "(",
    ),
    (
        "from network_connection\n  where source.ip in cidr(\"10.0.0.1/8\")",
        "E0307",
        "\"10.0.0.1/8\"",
    ),
    (
        "from network_connection\n  where source.ip in cidr(\"10.0.0.0/33\")",
        "E0307",
        "\"10.0.0.0/33\"",
    ),
    (
        "from network_connection\n  where source.ip == \"not-an-ip\"",
        "E0307",
        "\"not-an-ip\"",
    ),
    (
        "from process_start\n  where process.command_line contains process.name",
        "E0309",
        "process.name",
    ),
    (
        "from network_connection\n  where source.ip in destination.ip",
        "E0309",
        "destination.ip",
    ),
    (
        "from process_start\n  where process.name == process.nmae",
        "E0302",
        "process.nmae",
    ),
    (
        "from process_start\n  where process.pid != process.name",
        "E0310",
        "process.name",
    ),
    (
        "from process_start\n  where process.name == cased process.name",
        "E0311",
        "process.name == cased process.name",
    ),
    (
        "from process_start\n  where process.name < process.executable",
        "E0303",
        "<",
    ),
    (
        "from process_start\n  where process.pid == cased process.parent.pid",
        "E0305",
        "==",
    ),
    (
        "from process_start\n  where process.name in $no_such_list",
        "E0203",
        "$no_such_list",
    ),
    (
        "from process_start\n  where exists process.name\n  group by host.name window 0s\n  having count() > 1",
        "E0321",
        "0s",
    ),
    (
        "from process_start\n  where exists process.name\n  group by host.name window 1h\n  having avg(process.pid) > 1",
        "E0322",
        "avg",
    ),
    (
        "from process_start\n  where exists process.name\n  group by host.name window 1h\n  having sum(process.name) > 1",
        "E0303",
        "process.name",
    ),
    (
        "sequence by host.name within 1h {\n    process_start where exists process.name\n  }",
        "E0320",
        "process_start",
    ),
    (
        "sequence by host.nam within 1h {\n    process_start where exists process.name\n    usb_device where exists device.vendor.id\n  }",
        "E0302",
        "host.nam",
    ),
    (
        "from process_start\n  where exists process.name\n  test matches { process.nmae = \"x\" }",
        "E0302",
        "process.nmae",
    ),
    (
        "attack = [TA0011, T1219.009]\n  from process_start\n  where exists process.name",
        "E0112",
        "T1219.009",
    ),
    (
        "attack = [TA0099, T1219]\n  from process_start\n  where exists process.name",
        "E0112",
        "TA0099",
    ),
    (
        "attack = [TA0011, T1043]\n  from process_start\n  where exists process.name",
        "E0113",
        "T1043",
    ),
    (
        "attack = [TA0010, T1002]\n  from process_start\n  where exists process.name",
        "E0114",
        "T1002",
    ),
    (
        "attack = [TA0011, T1219.002, T1078]\n  from process_start\n  where exists process.name",
        "E0115",
        "T1078",
    ),
];

fn rule_with(body: &str) -> String {
    format!(
        "rule case_rule \"t\" {{\n  id = \"4c0b3f0e-8f4e-4d8e-9a63-2f3e0b6f6a11\"\n  severity = low\n  {body}\n}}\n"
    )
}

#[test]
fn every_check_points_at_its_span() {
    for (body, code, at) in CASES {
        let text = rule_with(body);
        let diags = common::check_text(&text);
        let d = diags
            .iter()
            .find(|d| d.code.id() == *code)
            .unwrap_or_else(|| panic!("{code} not reported for:\n{text}\ngot {diags:#?}"));
        let want = text
            .rfind(at)
            .unwrap_or_else(|| panic!("`{at}` not in case"));
        assert_eq!(
            line_col(&text, d.span.start),
            line_col(&text, want),
            "{code} at the wrong place for:\n{text}\n{d:?}"
        );
    }
}

#[test]
fn metadata_checks() {
    let diags = common::check_text(
        "rule Bad_Name \"\" {\n  id = \"4c0b3f0e\"\n  severity = severe\n  status = beta\n  attack = [T1219, X1, \"T1078.4\"]\n  tags = \"x\"\n  autor = \"me\"\n  id = \"4c0b3f0e-8f4e-4d8e-9a63-2f3e0b6f6a11\"\n  from process_start\n}\n",
    );
    let codes: Vec<&str> = diags.iter().map(|d| d.code.id()).collect();
    for code in [
        "E0110", "E0111", "E0107", "E0104", "E0105", "E0106", "E0109", "E0101", "E0108",
    ] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    assert_eq!(
        codes.iter().filter(|c| **c == "E0106").count(),
        2,
        "X1 and T1078.4"
    );
    let hint = diags
        .iter()
        .find(|d| d.code.id() == "E0101")
        .and_then(|d| d.hint.clone());
    assert_eq!(hint.as_deref(), Some("did you mean `author`?"));
}

/// (code, message, hint) of one diagnostic; `{v}` in the hint stands for the ATT&CK version.
type Expected = (&'static str, &'static str, &'static str);

/// (attack list, the diagnostics it gives, in order).
const ATTACK_CASES: &[(&str, &[Expected])] = &[
    ("[TA0011, T1219, T1219.002, T1219.003]", &[]),
    ("[TA0040]", &[]),
    (
        "[TA0011, T9999, T1219.009, TA0099]",
        &[
            (
                "E0112",
                "unknown ATT&CK technique `T9999`",
                "no such technique in ATT&CK {v} (the table in targets/attack.tsv)",
            ),
            (
                "E0112",
                "unknown ATT&CK technique `T1219.009`",
                "`T1219` (Remote Access Tools) has no sub-technique `T1219.009` in ATT&CK {v} (the table in targets/attack.tsv)",
            ),
            (
                "E0112",
                "unknown ATT&CK tactic `TA0099`",
                "no such tactic in ATT&CK {v} (the table in targets/attack.tsv)",
            ),
        ],
    ),
    (
        "[TA0002, T1064]",
        &[(
            "E0113",
            "`T1064` (Scripting) is a deprecated ATT&CK technique",
            "deprecated in ATT&CK {v}; map the rule to a current technique",
        )],
    ),
    (
        "[TA0010, T1002]",
        &[(
            "E0114",
            "`T1002` (Data Compressed) is a revoked ATT&CK technique",
            "use `T1560` (Archive Collected Data) instead",
        )],
    ),
    // One tactic: the technique implies it.
    ("[T1219.002]", &[]),
    (
        "[TA0011, T1078.004]",
        &[(
            "E0115",
            "`T1078.004` (Cloud Accounts) is listed without any of its tactics",
            "add one of its tactics: TA0001 (Initial Access), TA0003 (Persistence), TA0004 (Privilege Escalation), TA0005 (Defense Evasion)",
        )],
    ),
];

#[test]
fn attack_ids_are_checked_against_the_pinned_table() {
    let v = detc::attack::version();
    for (list, want) in ATTACK_CASES {
        let text = rule_with(&format!(
            "attack = {list}\n  from process_start\n  where exists process.name"
        ));
        let got: Vec<(&str, String, String)> = common::check_text(&text)
            .into_iter()
            .map(|d| (d.code.id(), d.message, d.hint.unwrap_or_default()))
            .collect();
        let want: Vec<(&str, String, String)> = want
            .iter()
            .map(|(c, m, h)| (*c, m.to_string(), h.replace("{v}", v)))
            .collect();
        assert_eq!(got, want, "attack = {list}");
    }
}

#[test]
fn missing_id_and_severity() {
    let diags = common::check_text("rule r \"t\" {\n  from process_start\n}\n");
    let codes: Vec<&str> = diags.iter().map(|d| d.code.id()).collect();
    assert_eq!(codes, ["E0102", "E0103"]);
}

#[test]
fn duplicate_lists_in_one_text() {
    let text = "list a = [\"x\"]\nlist a = [\"y\"]\n";
    let codes: Vec<&str> = common::check_text(text)
        .iter()
        .map(|d| d.code.id())
        .collect();
    assert_eq!(codes, ["E0204"]);
}

#[test]
fn a_field_a_target_cannot_map_names_the_target() {
    use detc::project::{self, Config};
    use detc::targets::TargetName;
    let dir = tempfile::tempdir().expect("tmp");
    let schema = dir.path().join("extra.yaml");
    std::fs::write(
        &schema,
        "sources:\n  process_start:\n    fields:\n      process.working_directory: string\n",
    )
    .expect("write");
    let config = Config::load(&[schema], &[]).expect("loads");
    let text = rule_with(
        "from process_start\n  where process.working_directory startswith \"C:\\\\Temp\"",
    );
    let p = project::check_text("t.det", &text, &config);
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    let (outputs, diags) = project::compile(&p, &config, &TargetName::ALL);
    assert!(outputs.is_empty());
    let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
    for target in ["splunk", "sentinel", "elastic"] {
        assert!(
            messages
                .iter()
                .any(|m| m.contains(&format!("cannot compile for {target}"))
                    && m.contains("process.working_directory")),
            "{target}: {messages:?}"
        );
    }
    assert!(diags.iter().all(|d| d.code.id() == "E0402"));
}

/// A Sigma author's keys get the detc way of saying them.
#[test]
fn sigma_keys_get_a_hint() {
    for (key, hint) in [
        ("level = high", "`severity = high`"),
        ("logsource = windows", "`from process_start`"),
        (
            "falsepositives = [\"x\"]",
            "did you mean `false_positives`?",
        ),
    ] {
        let text = rule_with(&format!(
            "{key}\n  from process_start\n  where exists process.name"
        ));
        let diags = common::check_text(&text);
        assert!(
            diags
                .iter()
                .any(|d| d.code.id() == "E0101"
                    && d.hint.as_deref().is_some_and(|h| h.contains(hint))),
            "{key}: {diags:?}"
        );
    }
}
