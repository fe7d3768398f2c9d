//! Sigma → detc conversion: hand-written rules checked and evaluated end to end, and the
//! SigmaHQ corpus at /work/shared/sigma (skipped when absent).

use crate::common;
use crate::common::sigma::{check, convert_with, hits, rule_text, rule_with};
use detc::ir;
use detc::project::Config;
use detc::sigma::{self, Options, Reason, SigmaError};
use detc::syntax::ast::{Body, ValueKind};
use detc::targets::TargetName;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

/// A windows process_creation rule around `detection`.
fn pc(detection: &str) -> String {
    rule_text(
        "  category: process_creation\n  product: windows",
        detection,
    )
}

fn rule(yaml: &str) -> ir::Rule {
    rule_with(yaml, &Options::default())
}

fn refused(yaml: &str) -> String {
    common::sigma::refused_with(yaml, &Options::default())
}

#[test]
fn fields_and_lists_with_modifiers() {
    let r = rule(&pc(r"
  selection:
    Image|endswith:
      - '\powershell.exe'
      - '\pwsh.exe'
    CommandLine|contains: ' -enc '
  filter:
    ParentImage|startswith: 'C:\Program Files\'
  condition: selection and not filter
"));
    let ev = |img: &str, cmd: &str, parent: Option<&str>| {
        let mut e = json!({"process": {"executable": img, "command_line": cmd}});
        if let Some(p) = parent {
            e["process"]["parent"] = json!({"executable": p});
        }
        e
    };
    assert!(hits(&r, ev(r"C:\Windows\PowerShell.EXE", "x -ENC y", None)));
    assert!(hits(
        &r,
        ev(
            r"C:\x\pwsh.exe",
            "a -enc b",
            Some(r"C:\Windows\explorer.exe")
        )
    ));
    assert!(!hits(
        &r,
        ev(
            r"C:\x\pwsh.exe",
            "a -enc b",
            Some(r"c:\program files\x.exe")
        )
    ));
    assert!(!hits(&r, ev(r"C:\x\cmd.exe", "a -enc b", None)));
    assert!(!hits(&r, ev(r"C:\x\pwsh.exe", "a -encx b", None)));
}

#[test]
fn wildcards_and_escapes() {
    let r = rule(&pc(r"
  selection:
    Image: 'C:\Windows\\*\cmd?.exe'
    CommandLine: 'lit\*star\?q\\back*'
  condition: selection
"));
    let ev = |img: &str, cmd: &str| json!({"process": {"executable": img, "command_line": cmd}});
    assert!(hits(
        &r,
        ev(r"c:\windows\system32\CMD1.exe", r"lit*star?q\back and more")
    ));
    assert!(!hits(
        &r,
        ev(r"c:\windows\system32\cmd.exe", r"lit*star?q\back")
    ));
    assert!(!hits(
        &r,
        ev(r"c:\windows\system32\cmd1.exe", r"litXstar?q\back")
    ));
    // `\*` after a backslash is a literal star (pySigma): `C:\Windows\*` is not a wildcard.
    let lit = rule(&pc(
        "  sel:\n    Image: 'C:\\Windows\\*'\n  condition: sel\n",
    ));
    assert!(hits(
        &lit,
        json!({"process": {"executable": "C:\\Windows*"}})
    ));
    assert!(!hits(
        &lit,
        json!({"process": {"executable": "C:\\Windows\\x"}})
    ));
    assert!(!hits(
        &r,
        ev(r"c:\windows\system32\cmd1.exe", r"lit*starXq\back")
    ));
    // A plain value is equality, case-insensitive.
    let r = rule(&pc(
        "  sel:\n    OriginalFileName: 'PowerShell.EXE'\n  condition: sel\n",
    ));
    assert!(hits(
        &r,
        json!({"process": {"pe": {"original_file_name": "powershell.exe"}}})
    ));
    assert!(!hits(
        &r,
        json!({"process": {"pe": {"original_file_name": "powershell.exe2"}}})
    ));
}

#[test]
fn cased_all_neq_and_lists_of_maps() {
    let r = rule(&pc("
  sel:
    CommandLine|contains|all:
      - 'a1'
      - 'b2'
    Image|cased: 'X.exe'
  condition: sel
"));
    let ev = |img: &str, cmd: &str| json!({"process": {"executable": img, "command_line": cmd}});
    assert!(hits(&r, ev("X.exe", "b2 A1")));
    assert!(!hits(&r, ev("x.exe", "b2 A1")));
    assert!(!hits(&r, ev("X.exe", "b2")));
    let r = rule(&pc("
  sel:
    - Image|endswith: '\\a.exe'
    - CommandLine|neq:
        - 'x'
        - 'y'
  condition: sel
"));
    assert!(hits(&r, ev("c:\\a.exe", "x")));
    assert!(hits(&r, ev("c:\\b.exe", "z")));
    assert!(!hits(&r, ev("c:\\b.exe", "Y")));
}

/// Sigma's null, `''` and `exists: false` are one test in detc, where `""` is absent
/// (README: the empty string); `exists: true` is its negation.
#[test]
fn null_empty_and_exists() {
    let empty = json!({"process": {"parent": {"command_line": ""}}});
    let null = json!({"process": {"parent": {"command_line": null}}});
    let missing = json!({"process": {"name": "a"}});
    let value = json!({"process": {"parent": {"command_line": "x"}}});
    for absent in ["null", "''", "|exists: false"] {
        let sel = match absent.strip_prefix('|') {
            Some(m) => format!("ParentCommandLine|{m}"),
            None => format!("ParentCommandLine: {absent}"),
        };
        let r = rule(&pc(&format!("  sel:\n    {sel}\n  condition: sel\n")));
        for ev in [&empty, &null, &missing] {
            assert!(hits(&r, ev.clone()), "{absent} on {ev}");
        }
        assert!(!hits(&r, value.clone()), "{absent}");
    }
    let r = rule(&pc(
        "  sel:\n    ParentCommandLine|exists: true\n  condition: sel\n",
    ));
    assert!(hits(&r, value));
    for ev in [empty, null, missing] {
        assert!(!hits(&r, ev.clone()), "exists on {ev}");
    }
}

#[test]
fn regular_expressions() {
    let r = rule(&pc(
        "  sel:\n    CommandLine|re: '^a[0-9]+b$'\n  condition: sel\n",
    ));
    let ev = |cmd: &str| json!({"process": {"command_line": cmd}});
    assert!(hits(&r, ev("a12b")));
    assert!(!hits(&r, ev("A12B")), "re is case-sensitive");
    let r = rule(&pc(
        "  sel:\n    CommandLine|re|i: 'x[0-9]'\n  condition: sel\n",
    ));
    assert!(hits(&r, ev("..X1..")));
    // `m` without anchors and `s` without dots change nothing.
    rule(&pc(
        "  sel:\n    CommandLine|re|m|s: 'x[0-9]'\n  condition: sel\n",
    ));
    assert!(
        refused(&pc(
            "  sel:\n    CommandLine|re|m: '^x'\n  condition: sel\n"
        ))
        .contains("flag `m`")
    );
    assert!(
        refused(&pc(
            "  sel:\n    CommandLine|re|s: 'a.b'\n  condition: sel\n"
        ))
        .contains("flag `s`")
    );
    assert!(
        refused(&pc(
            "  sel:\n    CommandLine|re: '(?<=a)b'\n  condition: sel\n"
        ))
        .contains("regex")
    );
    // contains/startswith/endswith on a regex: it already matches anywhere.
    rule(&pc(
        "  sel:\n    CommandLine|re|contains: 'a|b'\n  condition: sel\n",
    ));
}

#[test]
fn numbers_and_comparisons() {
    let r = rule(&pc(
        "  sel:\n    ProcessId|gte: 100\n    ProcessId|lt: 200\n  condition: sel\n",
    ));
    assert!(hits(&r, json!({"process": {"pid": 150}})));
    assert!(!hits(&r, json!({"process": {"pid": 200}})));
    let r = rule(&pc(
        "  sel:\n    ProcessId:\n      - 4\n      - '8'\n  condition: sel\n",
    ));
    assert!(hits(&r, json!({"process": {"pid": 8}})));
    assert!(
        refused(&pc("  sel:\n    CommandLine|gt: 5\n  condition: sel\n"))
            .contains("numeric comparison")
    );
    assert!(
        refused(&pc("  sel:\n    ProcessId: 'abc'\n  condition: sel\n")).contains("not a number")
    );
}

#[test]
fn cidr_on_ip_fields() {
    let y = "title: Net\nid: 11111111-2222-3333-4444-555555555555\nlevel: low\nlogsource:\n  category: network_connection\n  product: windows\ndetection:\n  sel:\n    DestinationIp|cidr:\n      - '10.0.0.0/8'\n      - 'fd00::/8'\n      - '192.168.1.1'\n  other:\n    SourceIp: '127.0.0.1'\n  condition: sel or other\n";
    let r = rule(y);
    let ev = |d: &str| json!({"destination": {"ip": d}});
    assert!(hits(&r, ev("10.1.2.3")));
    assert!(hits(&r, ev("fd00::1")));
    assert!(hits(&r, ev("192.168.1.1")));
    assert!(!hits(&r, ev("192.168.1.2")));
    assert!(hits(&r, json!({"source": {"ip": "127.0.0.1"}})));
    let bad = y.replace("SourceIp: '127.0.0.1'", "SourceIp|startswith: '127.'");
    assert!(refused(&bad).contains("ip field"));
    let bad = y.replace("'10.0.0.0/8'", "'10.0.0.1/8'");
    assert!(refused(&bad).contains("host bits"));
}

#[test]
fn encodings() {
    // base64 / base64offset values are exactly pySigma's.
    let r = rule(&pc(
        "  sel:\n    CommandLine|base64offset|contains: 'http://'\n  condition: sel\n",
    ));
    for enc in ["aHR0cDovL", "h0dHA6Ly", "odHRwOi8v"] {
        assert!(
            hits(
                &r,
                json!({"process": {"command_line": format!("x {enc} y")}})
            ),
            "{enc}"
        );
    }
    let r = rule(&pc(
        "  sel:\n    CommandLine|base64: 'ping'\n  condition: sel\n",
    ));
    assert!(hits(&r, json!({"process": {"command_line": "cGluZw=="}})));
    let r = rule(&pc(
        "  sel:\n    CommandLine|wide|base64offset|contains: 'ping'\n  condition: sel\n",
    ));
    assert!(hits(
        &r,
        json!({"process": {"command_line": "..cABpAG4AZw.."}})
    ));
    let r = rule(&pc(
        "  sel:\n    CommandLine|utf16|base64: 'a'\n  condition: sel\n",
    ));
    assert!(hits(&r, json!({"process": {"command_line": "//5hAA=="}})));
    let r = rule(&pc(
        "  sel:\n    CommandLine|utf16be|base64: 'a'\n  condition: sel\n",
    ));
    assert!(hits(&r, json!({"process": {"command_line": "AGE="}})));
    assert!(refused(&pc("  sel:\n    CommandLine|wide: 'a'\n  condition: sel\n")).contains("NUL"));
    assert!(
        refused(&pc(
            "  sel:\n    CommandLine|contains|base64: 'a'\n  condition: sel\n"
        ))
        .contains("wildcards")
    );
}

#[test]
fn windash_expands_dashes() {
    let r = rule(&pc(
        "  sel:\n    CommandLine|windash|contains: ' -exec bypass'\n  condition: sel\n",
    ));
    for d in ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"] {
        assert!(
            hits(
                &r,
                json!({"process": {"command_line": format!("x {d}exec bypass")}})
            ),
            "{d}"
        );
    }
    assert!(!hits(
        &r,
        json!({"process": {"command_line": "x +exec bypass"}})
    ));
}

#[test]
fn expand_placeholders() {
    let y = pc("  sel:\n    User|expand: '%admins%'\n  condition: sel\n");
    assert!(refused(&y).contains("%admins%"));
    let mut opts = Options::default();
    let mut p = HashMap::new();
    p.insert(
        "admins".to_string(),
        vec!["root".to_string(), "adm*".to_string()],
    );
    opts.placeholders = Some(p);
    let r = rule_with(&y, &opts);
    assert!(hits(&r, json!({"user": {"name": "ROOT"}})));
    assert!(hits(&r, json!({"user": {"name": "admin"}})));
    assert!(!hits(&r, json!({"user": {"name": "bob"}})));
}

#[test]
fn conditions() {
    let r = rule(&pc("
  sel_a:
    Image|endswith: '\\a.exe'
  sel_b:
    Image|endswith: '\\b.exe'
  _ignored:
    Image|endswith: '\\c.exe'
  filter:
    CommandLine|contains: 'safe'
  condition: 1 of sel_* and not filter or all of them
"));
    let ev = |img: &str, cmd: &str| json!({"process": {"executable": img, "command_line": cmd}});
    assert!(hits(&r, ev("x\\a.exe", "")));
    assert!(!hits(&r, ev("x\\a.exe", "safe")));
    assert!(!hits(&r, ev("x\\c.exe", "")));
    // A list of conditions is an OR.
    let r = rule(&pc("
  a:
    Image|endswith: '\\a.exe'
  b:
    Image|endswith: '\\b.exe'
  condition:
    - a
    - b
"));
    assert!(hits(&r, ev("x\\b.exe", "")));
    assert!(
        refused(&pc("  a:\n    Image: x\n  condition: a | count() > 5\n")).contains("Sigma 1.x")
    );
    assert!(
        refused(&pc("  a:\n    Image: x\n  condition: b\n")).contains("no search identifier `b`")
    );
    assert!(
        refused(&pc("  a:\n    Image: x\n  condition: 1 of z*\n"))
            .contains("matches no search identifier")
    );
}

#[test]
fn refusals_with_reasons() {
    assert_eq!(
        refused(&pc("  k:\n    - 'evil'\n  condition: k\n")),
        Reason::Keywords.to_string()
    );
    assert!(
        refused(&pc(
            "  sel:\n    GrandParentImage|contains: 'x'\n  condition: sel\n"
        ))
        .contains(
            "field `GrandParentImage` of logsource windows/process_creation has no detc mapping"
        )
    );
    assert!(
        refused(&pc(
            "  sel:\n    Image|fieldref: ParentImage\n  condition: sel\n"
        ))
        .contains("compares two fields")
    );
    let unsup = pc("  sel:\n    Image: x\n  condition: sel\n")
        .replace("status: test", "status: unsupported");
    assert!(refused(&unsup).contains("unsupported"));
    let ls =
        pc("  sel:\n    Image: x\n  condition: sel\n").replace("process_creation", "file_rename");
    assert!(refused(&ls).contains("logsource windows/file_rename has no detc mapping"));
    let e = sigma::convert_file("a.yml", "title: [", &Options::default());
    assert!(matches!(
        &e[0],
        Err(SigmaError {
            reason: Reason::Yaml(..),
            ..
        })
    ));
}

#[test]
fn metadata() {
    let y = "title: Meta Rule\nid: 11111111-2222-3333-4444-555555555555\nstatus: experimental\ndescription: Desc\nreferences:\n  - https://example.com\nauthor: Someone\ndate: 2022/09/27\nmodified: 2023-01-02\ntags:\n  - attack.execution\n  - attack.t1059.001\n  - attack.command_and_control\n  - attack.g0032\n  - cve.2021-1234\nfalsepositives:\n  - Admins\nlevel: critical\nlogsource:\n  category: process_creation\n  product: windows\ndetection:\n  sel:\n    Image: x\n  condition: sel\n";
    let mut out = sigma::convert_file("x/7Zip-Exfil.yml", y, &Options::default());
    let c = out.pop().unwrap().unwrap();
    assert_eq!(c.rule.name.name, "sigma_7zip_exfil");
    let r = check(&c, &Options::default()).unwrap();
    assert_eq!(r.title, "Meta Rule");
    assert_eq!(r.severity.as_str(), "critical");
    assert_eq!(r.status.as_deref(), Some("experimental"));
    assert_eq!(r.attack, vec!["TA0002", "TA0011", "T1059.001"]);
    assert_eq!(r.tags, vec!["attack.g0032", "cve.2021-1234"]);
    assert_eq!(r.date.as_deref(), Some("2022-09-27"));
    assert_eq!(r.modified.as_deref(), Some("2023-01-02"));
    assert_eq!(r.references, vec!["https://example.com"]);
    assert_eq!(r.false_positives, vec!["Admins"]);
    assert_eq!(r.author.as_deref(), Some("Someone"));
}

#[test]
fn attack_tags_are_completed_or_kept_as_tags() {
    // Technique-only tags (ATT&CK 19 tactic names the pinned 18.1 table lacks, a technique
    // newer than it): the rule still checks, with the techniques' own tactics added.
    let y = pc("  sel:\n    Image: x\n  condition: sel\n").replace(
        "level: high",
        "level: high\ntags:\n  - attack.stealth\n  - attack.t1218.011\n  - attack.t1685\n  - attack.t1085",
    );
    let r = rule(&y);
    assert_eq!(r.attack, vec!["TA0005", "T1218.011"]);
    assert_eq!(
        r.tags,
        vec!["attack.stealth", "attack.t1685", "attack.t1085"]
    );
}

#[test]
fn hash_lists_become_one_field_per_algorithm() {
    let sha = "A".repeat(64);
    let md5 = "b".repeat(32);
    let r = rule(&pc(&format!(
        "  sel:\n    Hashes|contains:\n      - 'SHA256={sha}'\n      - 'MD5={md5}'\n  condition: sel\n"
    )));
    assert!(hits(
        &r,
        json!({"process": {"hash": {"sha256": sha.to_lowercase()}}})
    ));
    assert!(hits(&r, json!({"process": {"hash": {"md5": md5}}})));
    assert!(!hits(
        &r,
        json!({"process": {"hash": {"sha256": "a".repeat(63)}}})
    ));
    for (v, why) in [
        // IMPHASH reads Sysmon 1 (tests/it/sigma_sysmon.rs); no source has SHA512.
        (
            format!("SHA512={}", "c".repeat(128)),
            "without a detc field",
        ),
        ("SHA256=abc".to_string(), "not a full SHA256"),
    ] {
        let m = refused(&pc(&format!(
            "  sel:\n    Hashes|contains: '{v}'\n  condition: sel\n"
        )));
        assert!(m.contains(why), "{m}");
    }
    let m = refused(&pc(&format!(
        "  sel:\n    Hashes: 'SHA256={sha}'\n  condition: sel\n"
    )));
    assert!(m.contains("only with `contains"), "{m}");
}

#[test]
fn implied_event_ids_convert_to_nothing() {
    let ev = |img: &str| json!({"process": {"executable": img}});
    // EventID 1 is what windows/process_creation means: dropped.
    let r = rule(&pc(
        "  sel:\n    EventID: 1\n    Image|endswith: '\\a.exe'\n  condition: sel\n",
    ));
    assert!(hits(&r, ev("c:\\a.exe")));
    assert!(!hits(&r, ev("c:\\b.exe")));
    // Alone, the rule reads the whole source.
    let c = convert_with(
        &pc("  sel:\n    EventID: [1]\n  condition: sel\n"),
        &Options::default(),
    )
    .unwrap();
    match &c.rule.body {
        Body::Single(q) => assert!(q.condition.is_none()),
        other => panic!("{other:?}"),
    }
    // OR with the implied test is true; `not` of it can never match.
    let c = convert_with(
        &pc("  a:\n    EventID: 1\n  b:\n    Image: x\n  condition: a or b\n"),
        &Options::default(),
    )
    .unwrap();
    assert!(matches!(&c.rule.body, Body::Single(q) if q.condition.is_none()));
    assert!(
        refused(&pc(
            "  a:\n    EventID: 1\n  b:\n    Image: x\n  condition: b and not a\n"
        ))
        .contains("never match")
    );
    // 4688 is not what every target's process_start holds (MDE and Elastic Defend have no
    // Security 4688), and the source has no event.code: refused with the reason.
    for v in ["4688", "[1, 4688]"] {
        let m = refused(&pc(&format!(
            "  sel:\n    EventID: {v}\n    Image: x\n  condition: sel\n"
        )));
        assert!(m.contains("not exactly what logsource"), "{m}");
    }
    // On windows/security EventID is a field (event.code).
    let y = "title: Sec\nid: 11111111-2222-3333-4444-555555555555\nlevel: low\nlogsource:\n  product: windows\n  service: security\ndetection:\n  sel:\n    EventID: 4624\n  condition: sel\n";
    let r = rule(y);
    assert!(hits(&r, json!({"event": {"code": "4624"}})));
    assert!(!hits(&r, json!({"event": {"code": "4625"}})));
    // Sysmon `Initiated: 'true'` is what network_connection (outbound) means.
    let y = "title: Net\nid: 11111111-2222-3333-4444-555555555555\nlevel: low\nlogsource:\n  category: network_connection\n  product: windows\ndetection:\n  sel:\n    Initiated: 'true'\n    DestinationPort: 4444\n  condition: sel\n";
    let r = rule(y);
    assert!(hits(&r, json!({"destination": {"port": 4444}})));
    // Inbound is not what the EDR source holds; on Windows it reads Sysmon 3
    // (tests/it/sigma_sysmon.rs), elsewhere it is refused.
    let linux = y.replace("'true'", "'false'").replace("windows", "linux");
    assert!(refused(&linux).contains("not exactly what logsource"));
}

fn corr(kind_and_rest: &str) -> String {
    format!(
        "title: Corr\nid: 99999999-2222-3333-4444-555555555555\nlevel: high\ncorrelation:\n{kind_and_rest}\n---\ntitle: Base A\nid: 11111111-2222-3333-4444-555555555555\nname: base_a\nlevel: low\nlogsource:\n  category: process_creation\n  product: windows\ndetection:\n  sel:\n    Image|endswith: '\\a.exe'\n  condition: sel\n---\ntitle: Base B\nid: 22222222-2222-3333-4444-555555555555\nname: base_b\nlevel: low\nlogsource:\n  category: process_creation\n  product: windows\ndetection:\n  sel:\n    Image|endswith: '\\b.exe'\n  condition: sel\n"
    )
}

#[test]
fn correlations() {
    let opts = Options::default();
    let c = convert_with(
        &corr("  type: event_count\n  rules: [base_a, 22222222-2222-3333-4444-555555555555]\n  group-by: [User]\n  timespan: 1h\n  condition:\n    gte: 5\n    lt: 100"),
        &opts,
    )
    .unwrap();
    let r = check(&c, &opts).unwrap();
    assert!(matches!(r.kind, ir::RuleKind::Aggregate { .. }));
    let c = convert_with(
        &corr("  type: value_count\n  rules: [base_a]\n  group-by: [User]\n  timespan: 10m\n  condition:\n    field: CommandLine\n    gt: 3"),
        &opts,
    )
    .unwrap();
    match &c.rule.body {
        Body::Aggregate { window, .. } => assert_eq!(window.kind, ValueKind::Duration(600)),
        other => panic!("{other:?}"),
    }
    check(&c, &opts).unwrap();
    let c = convert_with(
        &corr("  type: temporal_ordered\n  rules: [base_a, base_b]\n  group-by: [User]\n  timespan: 5m"),
        &opts,
    )
    .unwrap();
    assert!(matches!(
        check(&c, &opts).unwrap().kind,
        ir::RuleKind::Sequence { .. }
    ));
    // `aliases` name the key per rule: each step joins on its own field.
    let c = convert_with(
        &corr("  type: temporal_ordered\n  rules: [base_a, base_b]\n  aliases:\n    who:\n      base_a: User\n      base_b: Computer\n  group-by: [who]\n  timespan: 5m"),
        &opts,
    )
    .unwrap();
    let r = check(&c, &opts).unwrap();
    let ir::RuleKind::Sequence { by, keys, .. } = &r.kind else {
        panic!("{:?}", r.kind)
    };
    // The key is named as the first rule's field; the second step joins on its own.
    let name = |f: &ir::Field| format!("{f:?}").contains("name: \"user.name\"");
    assert!(
        by.len() == 1 && name(&by[0]) && name(&keys[0][0]),
        "{by:?} {keys:?}"
    );
    assert!(
        format!("{:?}", keys[1]).contains("name: \"host.name\""),
        "{keys:?}"
    );
    let mut alerts = detc::eval::Correlator::new(&r).unwrap();
    let a = json!({"process": {"executable": "C:\\a.exe"}, "user": {"name": "x"}, "host": {"name": "h"}});
    let b = json!({"process": {"executable": "C:\\b.exe"}, "user": {"name": "y"}, "host": {"name": "x"}});
    assert!(alerts.push(&a, 0, 0).is_empty());
    assert_eq!(alerts.push(&b, 1000, 1).len(), 1);
    // An aggregation groups one source on one set of fields; an alias must name every rule.
    let e = convert_with(
        &corr("  type: event_count\n  rules: [base_a, base_b]\n  aliases:\n    who:\n      base_a: User\n      base_b: Computer\n  group-by: [who]\n  timespan: 5m\n  condition: {gte: 2}"),
        &opts,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("`user.name` in one rule and `host.name` in another"),
        "{e}"
    );
    let e = convert_with(
        &corr("  type: temporal_ordered\n  rules: [base_a, base_b]\n  aliases:\n    who:\n      base_a: User\n  group-by: [who]\n  timespan: 5m"),
        &opts,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("alias `who` names no field for rule `base_b`"),
        "{e}"
    );
    let e = convert_with(
        &corr("  type: temporal\n  rules: [base_a, base_b]\n  group-by: [User]\n  timespan: 5m"),
        &opts,
    )
    .unwrap_err();
    assert!(e.to_string().contains("ordered"));
    let e = convert_with(
        &corr("  type: event_count\n  rules: [nope]\n  group-by: [User]\n  timespan: 5m\n  condition: {gte: 2}"),
        &opts,
    )
    .unwrap_err();
    assert!(e.to_string().contains("not in this file"));
    // With `generate: true` the referenced rules are converted too.
    let all = sigma::convert_file(
        "mr_x.yml",
        &corr(
            "  type: event_count\n  generate: true\n  rules: [base_a]\n  group-by: [User]\n  timespan: 1h\n  condition: {gte: 2}",
        ),
        &opts,
    );
    let names: Vec<String> = all
        .iter()
        .map(|r| r.as_ref().unwrap().rule.name.name.clone())
        .collect();
    assert_eq!(names, vec!["mr_x", "mr_x_base_a", "mr_x_base_b"]);
}

#[test]
fn keep_sigma_names_synthesises_fields_and_sources() {
    let opts = Options {
        keep_sigma_names: true,
        ..Options::default()
    };
    let r = rule_with(
        &pc(
            "  sel:\n    Hashes|contains: 'SHA256=AB'\n    CurrentDirectory: 'C:\\Temp\\'\n  condition: sel\n",
        ),
        &opts,
    );
    assert!(hits(
        &r,
        json!({"Hashes": "MD5=1,SHA256=ab12", "CurrentDirectory": "c:\\temp\\"})
    ));
    let y = pc("  sel:\n    SourceFilename: '\\x'\n  condition: sel\n")
        .replace("process_creation", "file_rename");
    let c = convert_with(&y, &opts).unwrap();
    assert!(c.declares.contains_key("sigma_windows_file_rename"));
    check(&c, &opts).unwrap();
}

// ------------------------------------------------------------------------------------------
// The SigmaHQ corpus.

const CORPUS: &str = "/work/shared/sigma";

fn corpus_files() -> Option<Vec<std::path::PathBuf>> {
    let root = Path::new(CORPUS);
    if !root.is_dir() {
        eprintln!("skipping: {CORPUS} is absent");
        return None;
    }
    let mut files = Vec::new();
    let mut stack: Vec<std::path::PathBuf> = std::fs::read_dir(root)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            p.is_dir() && (n.starts_with("rules") || n == "unsupported")
        })
        .collect();
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).ok()?.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                files.push(p);
            }
        }
    }
    files.sort();
    Some(files)
}

#[derive(Default)]
struct Tally {
    /// Rules in the files read (converted + refused); files of deprecated rules are skipped.
    rules: usize,
    converted: usize,
    checked: usize,
    refused: HashMap<String, usize>,
    check_errors: HashMap<String, usize>,
    /// Per target (with `compile_for`): checked rules that compiled, and why the others did not.
    compiled: BTreeMap<TargetName, usize>,
    compile_errors: BTreeMap<TargetName, HashMap<String, usize>>,
    /// Checked rules that compiled for every target.
    compiled_everywhere: usize,
}

/// A diagnostic message up to its first quoted value, for grouping.
fn message_kind(code: &str, message: &str) -> String {
    let key: String = message.split('`').take(2).collect::<Vec<_>>().join("`");
    format!("{code}: {key}")
}

/// Convert (and check) every rule of `files`; with `compile_for`, also compile each checked
/// rule for every target with the shipped target mappings.
fn run_corpus(
    files: &[std::path::PathBuf],
    opts: &Options,
    only: Option<&str>,
    compile_for: Option<&Config>,
) -> Tally {
    let mut t = Tally::default();
    for f in files {
        let path = f.display().to_string();
        if only.is_some_and(|o| !path.contains(o)) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        if text.lines().any(|l| l.trim() == "status: deprecated") {
            continue;
        }
        for r in sigma::convert_file(&path, &text, opts) {
            t.rules += 1;
            match r {
                Ok(c) => {
                    t.converted += 1;
                    match check(&c, opts) {
                        Ok(rule) => {
                            t.checked += 1;
                            let Some(config) = compile_for else { continue };
                            let mut everywhere = true;
                            for target in TargetName::ALL {
                                match target.target().compile(&rule, &config.mappings[&target]) {
                                    Ok(_) => *t.compiled.entry(target).or_default() += 1,
                                    Err(e) => {
                                        everywhere = false;
                                        *t.compile_errors
                                            .entry(target)
                                            .or_default()
                                            .entry(message_kind(e.code.id(), &e.message))
                                            .or_default() += 1;
                                    }
                                }
                            }
                            if everywhere {
                                t.compiled_everywhere += 1;
                            }
                        }
                        Err(e) => {
                            let first = e.split("; ").next().unwrap_or("");
                            let key: String =
                                first.split('`').take(2).collect::<Vec<_>>().join("`");
                            *t.check_errors.entry(key).or_default() += 1;
                        }
                    }
                }
                Err(e) => *t.refused.entry(e.reason.summary()).or_default() += 1,
            }
        }
    }
    t
}

fn print_top(title: &str, m: &HashMap<String, usize>, n: usize) {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    println!(
        "{title} ({} kinds, {} rules):",
        v.len(),
        m.values().sum::<usize>()
    );
    for (k, c) in v.into_iter().take(n) {
        println!("  {c:5}  {k}");
    }
}

#[test]
fn corpus_converts_without_panicking() {
    let Some(files) = corpus_files() else { return };
    let start = Instant::now();
    let opts = Options::default();
    let config = Config::load(&[], &[]).expect("shipped schema and mappings load");
    let t = run_corpus(&files, &opts, None, Some(&config));
    let elapsed = start.elapsed();
    let unsupported = t
        .refused
        .get(&Reason::StatusUnsupported.summary())
        .copied()
        .unwrap_or(0);
    let pct = |n: usize| 100.0 * n as f64 / t.rules.max(1) as f64;
    println!(
        "{} files, {} rules (not deprecated; {unsupported} of them `status: unsupported`): {} converted ({:.1}%), {} check clean ({:.1}%), {} refused, in {elapsed:?}",
        files.len(),
        t.rules,
        t.converted,
        pct(t.converted),
        t.checked,
        pct(t.checked),
        t.refused.values().sum::<usize>()
    );
    for target in TargetName::ALL {
        let n = t.compiled.get(&target).copied().unwrap_or(0);
        println!(
            "  {:8} compiled {n:5} ({:.1}% of all rules, {:.1}% of those not `unsupported`)",
            target.as_str(),
            pct(n),
            100.0 * n as f64 / (t.rules - unsupported).max(1) as f64
        );
    }
    println!(
        "  compiled for every target: {} ({:.1}%)",
        t.compiled_everywhere,
        pct(t.compiled_everywhere)
    );
    print_top("refused, by reason", &t.refused, 30);
    print_top(
        "converted but rejected by `detc check`",
        &t.check_errors,
        10,
    );
    for target in TargetName::ALL {
        if let Some(errs) = t.compile_errors.get(&target) {
            print_top(
                &format!("checked but not compiled for {}", target.as_str()),
                errs,
                10,
            );
        }
    }
    assert!(files.len() > 1000, "the corpus looks incomplete");

    // What compiles from SigmaHQ's release folders (what `bench/sigma.sh` and BENCHMARKS.md
    // count; `unsupported/` and `rules-placeholder/` are left out), per target: a floor a
    // mapping change must not push down. Raise it when coverage grows.
    let release: Vec<_> = files
        .iter()
        .filter(|f| {
            let p = f.to_string_lossy();
            !p.contains("/unsupported/") && !p.contains("/rules-placeholder/")
        })
        .cloned()
        .collect();
    let r = run_corpus(&release, &opts, None, Some(&config));
    for target in TargetName::ALL {
        let n = r.compiled.get(&target).copied().unwrap_or(0);
        let share = 1000 * n / r.rules.max(1);
        println!(
            "  release folders, {}: {n} of {} ({}.{}%)",
            target.as_str(),
            r.rules,
            share / 10,
            share % 10
        );
        assert!(
            share >= corpus_floor_per_mille(target),
            "{}: only {n} of {} release rules compile",
            target.as_str(),
            r.rules
        );
    }
}

/// The share (in thousandths) of the release folders' rules that must compile per target:
/// issue 9's 95% where it is met; Elastic's integrations drop or reshape the data of about
/// 130 more rules (BENCHMARKS.md), which detc refuses rather than approximate.
fn corpus_floor_per_mille(target: TargetName) -> usize {
    match target {
        TargetName::Splunk | TargetName::Sentinel => 950,
        TargetName::Elastic => 920,
    }
}

#[test]
fn corpus_process_creation_with_sigma_names() {
    let Some(files) = corpus_files() else { return };
    let opts = Options {
        keep_sigma_names: true,
        ..Options::default()
    };
    let t = run_corpus(&files, &opts, Some("/process_creation/"), None);
    let refused: usize = t.refused.values().sum();
    let total = t.converted + refused;
    println!(
        "process_creation with keep_sigma_names: {} of {total} converted ({} check clean)",
        t.converted, t.checked
    );
    print_top("refused, by reason", &t.refused, 20);
    print_top(
        "converted but rejected by `detc check`",
        &t.check_errors,
        10,
    );
    let all = run_corpus(&files, &opts, None, None);
    println!(
        "whole corpus with keep_sigma_names: {} converted ({} check clean), {} refused",
        all.converted,
        all.checked,
        all.refused.values().sum::<usize>()
    );
    print_top("refused, by reason", &all.refused, 20);
    assert!(total > 1000);
    assert!(
        t.converted * 10 >= total * 8,
        "only {} of {total} converted",
        t.converted
    );
}
