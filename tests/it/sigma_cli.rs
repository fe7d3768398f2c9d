//! Sigma files on the command line: `check`, `compile` and `test` read `.yml` rules beside
//! `.det` ones, and `import sigma` writes `.det` files that check and compile the same.

use assert_cmd::Command;
use std::path::Path;

const SIGMA: &str = r#"
title: AnyDesk started from a temp folder
id: 5c1f2a6e-1b7e-4a63-9a4e-2f0c1d9b7a11
status: test
description: AnyDesk ran from a temporary folder.
author: Jane Doe
date: 2025/06/01
tags:
    - attack.command-and-control
    - attack.t1219
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\AnyDesk.exe'
        CommandLine|contains:
            - '\Temp\'
            - '\AppData\Local\Temp\'
    filter:
        ParentImage|startswith: 'C:\Program Files\'
    condition: selection and not filter
falsepositives:
    - Support sessions started from a download
level: high
"#;

const UNMAPPED: &str = r#"
title: Keywords
id: 6d2f3b7f-2c8f-4b74-8b5f-3f1d2e0c8b22
status: test
logsource:
    product: windows
    category: process_creation
detection:
    keywords:
        - 'mimikatz'
    condition: keywords
level: high
"#;

fn detc(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("detc")
        .expect("binary")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn sigma_files_check_compile_and_import_to_the_same_queries() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path().join("sigma/win")).expect("mkdir");
    std::fs::write(dir.path().join("sigma/win/anydesk_temp.yml"), SIGMA).expect("write");

    let (code, _, err) = detc(dir.path(), &["check", "sigma"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("checked 1 rules in 1 files: 0 errors"),
        "{err}"
    );
    let (code, from_sigma, err) = detc(dir.path(), &["compile", "sigma", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        from_sigma.contains("\"rule\": \"anydesk_temp\""),
        "{from_sigma}"
    );

    let (code, _, err) = detc(dir.path(), &["import", "sigma", "sigma", "--out", "rules"]);
    assert_eq!(code, 0, "{err}");
    let det =
        std::fs::read_to_string(dir.path().join("rules/win/anydesk_temp.det")).expect("written");
    assert!(
        det.starts_with("# Converted by `detc import sigma` from sigma/win/anydesk_temp.yml."),
        "{det}"
    );
    assert!(
        det.contains("Sigma rule by Jane Doe, under the Detection Rule License 1.1"),
        "{det}"
    );
    let (code, _, err) = detc(dir.path(), &["fmt", "--check", "rules"]);
    assert_eq!(code, 0, "the printer's output is not canonical: {err}");
    let (code, from_det, err) = detc(dir.path(), &["compile", "rules", "--format", "json"]);
    assert_eq!(code, 0, "{err}\n{det}");
    assert_eq!(
        from_det, from_sigma,
        "the .det file compiles differently from its Sigma rule"
    );

    // A file named on its own is written under --out by its own name.
    let (code, _, err) = detc(
        dir.path(),
        &[
            "import",
            "sigma",
            "sigma/win/anydesk_temp.yml",
            "--out",
            "one",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let one = std::fs::read_to_string(dir.path().join("one/anydesk_temp.det")).expect("written");
    assert_eq!(one, det);
}

#[test]
fn refusals_name_the_file_and_the_reason_and_the_report_counts_per_target() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("ok.yml"), SIGMA).expect("write");
    std::fs::write(dir.path().join("keywords.yml"), UNMAPPED).expect("write");
    let (code, _, err) = detc(dir.path(), &["check", "ok.yml", "keywords.yml"]);
    assert_eq!(code, 1);
    // The refusal points at the list of keywords (line 9: the fixture starts with a newline).
    assert!(err.contains("keywords.yml:9:5: error[E0700]"), "{err}");
    assert!(err.contains("keyword searches"), "{err}");

    let (code, report, err) = detc(dir.path(), &["import", "sigma", ".", "--report"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        report.contains("2 rules (0 deprecated); 1 converted, 1 refused"),
        "{report}"
    );
    for t in ["splunk", "sentinel", "elastic"] {
        assert!(
            report.contains(&format!("| {t} | 1 | 1 | 50.0% |")),
            "{report}"
        );
    }
    assert!(report.contains("| 1 | keyword searches"), "{report}");
}

/// One file that is not UTF-8 is refused alone, at its line and column; the folder's other
/// rules still import. A `.det` file with an invalid byte gets its line and column too.
#[test]
fn an_unreadable_file_is_refused_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("sigma")).expect("mkdir");
    std::fs::write(dir.path().join("sigma/good.yml"), SIGMA).expect("write");
    std::fs::write(
        dir.path().join("sigma/bad.yml"),
        b"title: x\nid: \xff\xfe\n",
    )
    .expect("write");
    let (code, _, err) = detc(dir.path(), &["import", "sigma", "sigma", "--out", "out"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("bad.yml:2:5: refused: E0002"), "{err}");
    assert!(err.contains("imported 1 rules into 1 files"), "{err}");
    assert!(dir.path().join("out/good.det").exists());

    // Bad YAML is refused at the place the parser points at, in import and in check alike.
    std::fs::remove_file(dir.path().join("sigma/bad.yml")).expect("rm");
    std::fs::write(
        dir.path().join("sigma/bad.yml"),
        "title: x\ndetection:\n  sel:\n    a: [1, 2\n  condition: sel\n",
    )
    .expect("write");
    let (_, _, err) = detc(dir.path(), &["import", "sigma", "sigma", "--out", "out"]);
    assert!(err.contains("bad.yml:5:12: refused: "), "{err}");
    let (_, _, err) = detc(dir.path(), &["check", "sigma/bad.yml"]);
    assert!(err.contains("bad.yml:5:12: error[E0700]"), "{err}");
    assert!(!err.contains("line 5 column 12"), "{err}");

    std::fs::write(
        dir.path().join("r.det"),
        b"rule r \"x\" {\n  id = \"\xff\"\n}\n",
    )
    .expect("write");
    let (code, _, err) = detc(dir.path(), &["check", "r.det"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("r.det:2:9"), "{err}");
}
