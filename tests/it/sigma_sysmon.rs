//! Sigma rules of the Sysmon-style categories that need Sysmon's own fields: candidates in
//! targets/sigma.yaml (`fallback`), the `sysmon_*` sources, `where`, and list filters.

use crate::common;
use crate::common::sigma::{compile, convert_with, hits, rule_text, rule_with};
use detc::ir;
use detc::lower::Language;
use detc::sigma::{Options, SigmaMapping};
use detc::syntax::ast::Body;
use detc::targets::TargetName;
use serde_json::{Value, json};

/// A rule of `logsource` (YAML flow mapping) around `detection`.
fn sigma_rule(logsource: &str, detection: &str) -> String {
    rule_text(&format!("  {logsource}"), detection)
}

fn windows(category: &str, detection: &str) -> String {
    sigma_rule(
        &format!("{{category: {category}, product: windows}}"),
        detection,
    )
}

fn rule(yaml: &str) -> ir::Rule {
    rule_with(yaml, &Options::default())
}

fn refused(yaml: &str) -> String {
    common::sigma::refused_with(yaml, &Options::default())
}

fn source(r: &ir::Rule) -> String {
    r.kind.queries()[0].source.clone()
}

/// The rule's query per language (SPL, KQL, EQL, ES|QL), compiled with the shipped mappings.
fn compiled(r: &ir::Rule) -> Vec<(Language, String)> {
    let mut out = Vec::new();
    for t in TargetName::ALL {
        let qs = compile(r, t).unwrap_or_else(|e| panic!("{}: {}", t.as_str(), e.message));
        out.extend(qs.into_iter().map(|q| (q.language, q.query)));
    }
    out
}

/// The rule's query in one language (compiled for that language's target only).
fn query(r: &ir::Rule, lang: Language) -> String {
    let t = match lang {
        Language::Spl => TargetName::Splunk,
        Language::Kql => TargetName::Sentinel,
        Language::Eql | Language::Esql => TargetName::Elastic,
    };
    common::sigma::query(r, t, lang).unwrap_or_else(|e| panic!("{}: {e}", t.as_str()))
}

fn compile_error(r: &ir::Rule, t: TargetName) -> String {
    match compile(r, t) {
        Ok(q) => panic!("compiled: {q:?}"),
        Err(e) => format!("{}: {}", e.code, e.message),
    }
}

#[test]
fn edr_fields_keep_reading_the_edr_source() {
    let r = rule(&windows(
        "process_creation",
        "  sel:\n    Image|endswith: '\\rundll32.exe'\n    CommandLine|contains: 'javascript:'\n  condition: sel\n",
    ));
    assert_eq!(source(&r), "process_start");
    assert_eq!(
        query(&r, Language::Kql),
        "DeviceProcessEvents\n| where ProcessCommandLine contains \"javascript:\" and FolderPath endswith \"\\\\rundll32.exe\""
    );
    assert_eq!(
        query(&r, Language::Spl),
        r#"tag=process tag=report process="*javascript:*" process_path="*\\rundll32.exe""#
    );
}

#[test]
fn current_directory_reads_sysmon_1_on_every_target() {
    let r = rule(&windows(
        "process_creation",
        "  sel:\n    Image|endswith: '\\rundll32.exe'\n    CurrentDirectory|startswith: 'C:\\Users\\'\n  condition: sel\n",
    ));
    assert_eq!(source(&r), "sysmon_process_creation");
    let q = compiled(&r);
    assert_eq!(q[0], (
        Language::Spl,
        r#"source="XmlWinEventLog:Microsoft-Windows-Sysmon/Operational" EventCode=1 CurrentDirectory="C:\\Users\\*" Image="*\\rundll32.exe""#.to_string(),
    ));
    assert_eq!(q[1], (
        Language::Kql,
        r#"WindowsEvent
| where EventID == 1
| where Provider == "Microsoft-Windows-Sysmon"
| where tostring(EventData.CurrentDirectory) startswith "C:\\Users\\" and tostring(EventData.Image) endswith "\\rundll32.exe""#.to_string(),
    ));
    assert_eq!(q[2], (
        Language::Eql,
        r#"process where event.code == "1" and (startsWith~(process.working_directory, "C:\\Users\\") and endsWith~(process.executable, "\\rundll32.exe"))"#.to_string(),
    ));
    assert_eq!(q[3], (
        Language::Esql,
        r#"FROM logs-windows.sysmon_operational-* METADATA _id, _version, _index
| WHERE CONCAT(",", MV_CONCAT(event.category, ","), ",") LIKE "*,process,*"
| WHERE event.code == "1"
| WHERE process.working_directory RLIKE "[cC]:\\\\[uU][sS][eE][rR][sS]\\\\.*" AND process.executable RLIKE ".*\\\\[rR][uU][nN][dD][lL][lL]32\\.[eE][xX][eE]"
| KEEP _id, _version, _index, *"#.to_string(),
    ));
    // The evaluator reads the rule's detc fields.
    let ev = |dir: &str| json!({"process": {"executable": "C:\\Windows\\rundll32.exe", "working_directory": dir}});
    assert!(hits(&r, ev("C:\\Users\\bob\\")));
    assert!(!hits(&r, ev("C:\\Windows\\")));
}

#[test]
fn imphash_reads_sysmon_with_one_field_per_algorithm() {
    let r = rule(&windows(
        "process_creation",
        "  sel:\n    Hashes|contains:\n      - 'IMPHASH=BCCA3C247B619DCD13C8CDFF5F123932'\n      - 'SHA256=0000000000000000000000000000000000000000000000000000000000000001'\n  condition: sel\n",
    ));
    assert_eq!(source(&r), "sysmon_process_creation");
    assert!(
        query(&r, Language::Spl)
            .ends_with(r#"EventCode=1 (IMPHASH="bcca3c247b619dcd13c8cdff5f123932" OR SHA256="0000000000000000000000000000000000000000000000000000000000000001")"#)
    );
    assert!(query(&r, Language::Kql).ends_with(
        "| where IMPHASH =~ \"bcca3c247b619dcd13c8cdff5f123932\" or SHA256 =~ \"0000000000000000000000000000000000000000000000000000000000000001\""
    ));
    assert!(
        query(&r, Language::Eql)
            .contains(r#"process.pe.imphash in~ ("bcca3c247b619dcd13c8cdff5f123932")"#)
    );
    // Image load and driver load IMPHASHes are the loaded file's.
    let r = rule(&windows(
        "driver_load",
        "  sel:\n    Hashes|contains: 'IMPHASH=821D74031D3F625BCBD0DF08B70F1E77'\n  condition: sel\n",
    ));
    assert_eq!(source(&r), "sysmon_driver_load");
    assert!(query(&r, Language::Esql).ends_with(
        r#"| WHERE TO_LOWER(file.pe.imphash) == "821d74031d3f625bcbd0df08b70f1e77"
| KEEP _id, _version, _index, *"#
    ));
    // Event 15 names its list Hash.
    let r = rule(&windows(
        "create_stream_hash",
        "  sel:\n    Hash|contains: 'IMPHASH=0C106686A31BFE2BA931AE1CF6E9DBC6'\n  condition: sel\n",
    ));
    assert_eq!(source(&r), "sysmon_file_create_stream_hash");
    assert!(query(&r, Language::Kql).contains("tostring(EventData.Hash))"));
}

#[test]
fn registry_delete_is_sysmon_12_with_a_delete_event_type() {
    let r = rule(&windows(
        "registry_delete",
        "  sel:\n    TargetObject|contains: '\\Windows Defender\\Exclusions\\'\n  condition: sel\n",
    ));
    assert_eq!(source(&r), "sysmon_registry_event");
    let q = compiled(&r);
    assert_eq!(
        q[0].1,
        r#"source="XmlWinEventLog:Microsoft-Windows-Sysmon/Operational" (EventCode=12 OR EventCode=13 OR EventCode=14) TargetObject="*\\Windows Defender\\Exclusions\\*" (EventType="DeleteKey" OR EventType="DeleteValue")"#
    );
    assert_eq!(
        q[1].1,
        r#"WindowsEvent
| where EventID in (12, 13, 14)
| where Provider == "Microsoft-Windows-Sysmon"
| where tostring(EventData.TargetObject) contains "\\Windows Defender\\Exclusions\\" and tostring(EventData.EventType) in~ ("DeleteKey", "DeleteValue")"#
    );
    assert_eq!(
        q[2].1,
        r#"registry where event.code in ("12", "13", "14") and (stringContains~(registry.path, "\\Windows Defender\\Exclusions\\") and winlog.event_data.EventType in~ ("DeleteKey", "DeleteValue"))"#
    );
    assert!(q[3].1.starts_with(
        "FROM logs-windows.sysmon_operational-* METADATA _id, _version, _index\n| WHERE CONCAT(\",\", MV_CONCAT(event.category, \",\"), \",\") LIKE \"*,registry,*\"\n| WHERE event.code IN (\"12\", \"13\", \"14\")\n| WHERE registry.path RLIKE "
    ));
    assert!(q[3].1.ends_with(
        r#" AND TO_LOWER(winlog.event_data.EventType) IN ("deletekey", "deletevalue")
| KEEP _id, _version, _index, *"#
    ));
    let ev = |t: &str| {
        json!({"registry": {"path": "HKLM\\SOFTWARE\\Microsoft\\Windows Defender\\Exclusions\\Paths\\C:\\x"},
               "winlog": {"event_data": {"EventType": t}}})
    };
    assert!(hits(&r, ev("DeleteValue")));
    assert!(!hits(&r, ev("SetValue")));
    // A narrower EventType test is an ordinary test, ANDed with the category's.
    let r = rule(&windows(
        "registry_delete",
        "  sel:\n    EventType: DeleteKey\n    TargetObject|contains: '\\Run'\n  condition: sel\n",
    ));
    let kql = query(&r, Language::Kql);
    assert!(
        kql.ends_with(r#"tostring(EventData.EventType) =~ "DeleteKey" and tostring(EventData.TargetObject) contains "\\Run" and tostring(EventData.EventType) in~ ("DeleteKey", "DeleteValue")"#),
        "{kql}"
    );
}

#[test]
fn registry_event_type_and_event_ids_read_sysmon() {
    // EventType, NewName and a subset of 12/13/14 are Sysmon fields.
    let r = rule(&windows(
        "registry_event",
        "  sel:\n    EventType: RenameKey\n    NewName|contains: '\\shell\\open'\n  condition: sel\n",
    ));
    assert_eq!(source(&r), "sysmon_registry_event");
    assert!(
        query(&r, Language::Eql)
            .contains(r#"stringContains~(winlog.event_data.NewName, "\\shell\\open")"#)
    );
    let r = rule(&windows(
        "registry_event",
        "  sel:\n    EventID: [12, 13]\n    TargetObject|contains: '\\Run'\n  condition: sel\n",
    ));
    assert!(query(&r, Language::Kql).contains(r#"EventCode in~ ("12", "13")"#));
    // registry_set: only TargetObject / Details: the EDR source; EventType: Sysmon 13.
    let r = rule(&windows(
        "registry_set",
        "  sel:\n    TargetObject|contains: '\\Run'\n  condition: sel\n",
    ));
    assert_eq!(source(&r), "registry_change");
    let r = rule(&windows(
        "registry_set",
        "  sel:\n    TargetObject|contains: '\\Run'\n    NewName: x\n  condition: sel\n",
    ));
    assert_eq!(source(&r), "sysmon_registry_event");
    assert!(query(&r, Language::Spl).ends_with(r#"EventCode="13""#));
}

#[test]
fn sysmon_only_categories() {
    for (category, detection, src) in [
        (
            "wmi_event",
            "  sel:\n    Destination|contains: 'new-object'\n  condition: sel\n",
            "sysmon_wmi_event",
        ),
        (
            "wmi_event",
            "  sel:\n    EventID: [19, 20, 21]\n  condition: sel\n",
            "sysmon_wmi_event",
        ),
        (
            "file_change",
            "  sel:\n    PreviousCreationUtcTime|startswith: '202'\n  condition: sel\n",
            "sysmon_file_create_time",
        ),
        (
            "raw_access_thread",
            "  sel:\n    Device|contains: floppy\n  condition: sel\n",
            "sysmon_raw_access_read",
        ),
        (
            "process_tampering",
            "  sel:\n    Type: 'Image is replaced'\n  condition: sel\n",
            "sysmon_process_tampering",
        ),
        (
            "file_executable_detected",
            "  sel:\n    TargetFilename|endswith: '.sed'\n  condition: sel\n",
            "sysmon_file_executable_detected",
        ),
        (
            "process_access",
            "  sel:\n    CallTrace|contains: 'UNKNOWN'\n  condition: sel\n",
            "sysmon_process_access",
        ),
        (
            "create_remote_thread",
            "  sel:\n    StartModule|endswith: '\\kernel32.dll'\n  condition: sel\n",
            "sysmon_create_remote_thread",
        ),
        (
            "image_load",
            "  sel:\n    Signed: 'false'\n  condition: sel\n",
            "sysmon_image_load",
        ),
        (
            "file_event",
            "  sel:\n    CreationUtcTime|startswith: '1980'\n  condition: sel\n",
            "sysmon_file_create",
        ),
    ] {
        let r = rule(&windows(category, detection));
        assert_eq!(source(&r), src, "{category}");
        compiled(&r);
    }
    // The WMI events are 19, 20 and 21 on every target.
    let r = rule(&windows(
        "wmi_event",
        "  sel:\n    EventID: [19, 20, 21]\n  condition: sel\n",
    ));
    assert!(matches!(&r.kind, ir::RuleKind::Single(q) if q.condition.is_none()));
    assert_eq!(
        query(&r, Language::Eql),
        r#"process where event.code in ("19", "20", "21")"#
    );
    assert!(query(&r, Language::Kql).contains("| where EventID in (19, 20, 21)"));
}

#[test]
fn inbound_connections_read_sysmon_3() {
    let y = windows(
        "network_connection",
        "  sel:\n    Initiated: 'false'\n    DestinationPort: 3389\n  condition: sel\n",
    );
    let r = rule(&y);
    assert_eq!(source(&r), "sysmon_network_connection");
    let spl = query(&r, Language::Spl);
    assert!(
        spl.ends_with(r#"EventCode=3 Initiated="false" | where 'DestinationPort'==3389"#),
        "{spl}"
    );
    // Elastic's pipeline turns Initiated into network.direction: no exact place.
    assert!(
        compile_error(&r, TargetName::Elastic).contains("winlog.event_data.Initiated"),
        "{}",
        compile_error(&r, TargetName::Elastic)
    );
    // Outbound only: the EDR source, as before.
    let r = rule(&y.replace("'false'", "'true'"));
    assert_eq!(source(&r), "network_connection");
}

#[test]
fn sysmon_user_is_domain_and_name_and_unmapped_on_elastic() {
    let r = rule(&windows(
        "process_creation",
        "  sel:\n    User|contains: 'AUTHORI'\n    LogonId: '0x3e7'\n  condition: sel\n",
    ));
    assert_eq!(source(&r), "sysmon_process_creation");
    assert!(query(&r, Language::Spl).ends_with(r#"LogonId="0x3e7" User="*AUTHORI*""#));
    let e = compile_error(&r, TargetName::Elastic);
    assert!(
        e.starts_with("E0402") && e.contains("winlog.event_data.User"),
        "{e}"
    );
}

#[test]
fn refusals_name_the_first_candidate() {
    // No candidate maps GrandParentImage (no Sysmon field either): the EDR source's reason.
    let m = refused(&windows(
        "process_creation",
        "  sel:\n    GrandParentImage|endswith: '\\x.exe'\n    Image: x\n  condition: sel\n",
    ));
    assert_eq!(
        m,
        "field `GrandParentImage` of logsource windows/process_creation has no detc mapping"
    );
    // Candidates a (maps X) and b (maps Y): a rule testing Y reads b; one testing X and Y
    // is refused with a's reason.
    let opts = Options {
        mapping: SigmaMapping::from_yaml(
            "logsources:\n  - match: {category: c}\n    source: process_start\n    fields: {X: process.executable}\n    fallback:\n      - source: sysmon_process_creation\n        fields: {Y: process.working_directory}\n",
        )
        .unwrap(),
        ..Options::default()
    };
    let ls = "{category: c}";
    let c = convert_with(&sigma_rule(ls, "  s:\n    Y: d\n  condition: s\n"), &opts).unwrap();
    assert!(matches!(&c.rule.body, Body::Single(q) if q.source.name == "sysmon_process_creation"));
    let e = convert_with(
        &sigma_rule(ls, "  s:\n    X: e\n    Y: d\n  condition: s\n"),
        &opts,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "field `Y` of logsource c has no detc mapping"
    );
    // Not a mapping failure: final, no fallback.
    let m = refused(&windows(
        "process_creation",
        "  sel:\n    CommandLine|re: 'a\\bb'\n  condition: sel\n",
    ));
    assert!(m.contains("regex"), "{m}");
    // Sysmon for Linux is not read: the Windows Sysmon fallback is for product windows.
    let m = refused(&sigma_rule(
        "{category: process_creation, product: linux}",
        "  sel:\n    CurrentDirectory: /tmp\n  condition: sel\n",
    ));
    assert_eq!(
        m,
        "field `CurrentDirectory` of logsource linux/process_creation has no detc mapping"
    );
    // file_rename is no Sysmon event.
    assert_eq!(
        refused(&windows(
            "file_rename",
            "  sel:\n    TargetFilename|endswith: '.dll'\n  condition: sel\n"
        )),
        "logsource windows/file_rename has no detc mapping"
    );
}

#[test]
fn correlations_use_each_rule_s_candidate() {
    let y = "title: A\nid: 11111111-2222-3333-4444-555555555551\nname: a\nlevel: low\nlogsource: {category: process_creation, product: windows}\ndetection:\n  sel:\n    CurrentDirectory|startswith: 'C:\\Temp\\'\n  condition: sel\n---\ntitle: C\nid: 11111111-2222-3333-4444-555555555552\nlevel: high\ncorrelation:\n  type: event_count\n  rules: [a]\n  group-by: [Computer]\n  timespan: 5m\n  condition: {gte: 3}\n";
    let opts = Options::default();
    let c = convert_with(y, &opts).unwrap_or_else(|r| panic!("{r}"));
    match &c.rule.body {
        Body::Aggregate {
            query, group_by, ..
        } => {
            assert_eq!(query.source.name, "sysmon_process_creation");
            assert_eq!(group_by[0].field.name, "host.name");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn fallback_entries_parse_and_reject_unknown_keys() {
    let m = SigmaMapping::from_yaml(
        "logsources:\n  - match: {category: x}\n    source: a\n    fallback:\n      - source: b\n        where: {F: [1, v]}\n        fields: {F: f}\n",
    )
    .unwrap();
    let names: Vec<&str> = m.logsources[0]
        .candidates()
        .map(|c| c.source.as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
    let e = SigmaMapping::from_yaml(
        "logsources:\n  - match: {category: x}\n    source: a\n    fallback:\n      - match: {category: y}\n        source: b\n",
    )
    .unwrap_err();
    assert!(e.0.contains("match"), "{e}");
}

#[test]
fn hunt_admits_events_by_a_list_filter() {
    // sysmon_registry_event's Elastic filter is event.code in ["12", "13", "14"]: an ECS event
    // of that category is admitted when its code is one of them.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("r.det"),
        "rule run_key \"Run key\" {\n  id = \"11111111-2222-4333-8444-555555555555\"\n  severity = low\n  from sysmon_registry_event\n  where registry.path contains \"\\\\Run\\\\\"\n}\n",
    )
    .unwrap();
    let event = |code: &str| {
        json!({"event": {"category": ["configuration", "registry"], "code": code},
               "registry": {"path": "HKU\\S-1\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\x"}})
        .to_string()
    };
    let events = format!("{}\n{}\n", event("13"), event("11"));
    let out = assert_cmd::Command::cargo_bin("detc")
        .unwrap()
        .current_dir(dir.path())
        .args(["hunt", "r.det", "--events", "-"])
        .write_stdin(events)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let matched: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(matched.len(), 1, "{stdout}");
    assert_eq!(matched[0]["event"]["event"]["code"], "13");
}
