//! `detc docs` and `detc coverage`: snapshots over a small fixture tree, and the structure
//! of both over the shipped library.

use assert_cmd::Command;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn detc(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("detc").expect("binary builds");
    cmd.current_dir(dir);
    cmd
}

/// Every file under `dir`, relative path → text, sorted.
fn read_tree(dir: &Path) -> Vec<(String, String)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).expect("under base");
                let rel = rel.to_string_lossy().replace('\\', "/");
                out.push((rel, fs::read_to_string(&path).expect("text")));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn fixture() -> PathBuf {
    root().join("tests/fixtures/catalog")
}

#[test]
fn docs_snapshot() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("catalog");
    detc(&fixture())
        .arg("docs")
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let files = read_tree(&out);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "index.md",
            "rules/history_cleared.md",
            "rules/rmm_tool_started.md",
            "rules/shared_signin_ip.md"
        ]
    );
    let all: String = files
        .iter()
        .map(|(name, text)| format!("===== {name} =====\n{text}"))
        .collect();
    insta::assert_snapshot!("docs", all);
    // Only the catalog folder is left behind: no temporary or old folders beside it.
    let beside: Vec<_> = fs::read_dir(tmp.path())
        .expect("read")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(beside, ["catalog"]);
}

#[test]
fn docs_are_deterministic_and_replace_stale_pages() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("catalog");
    let run = || {
        detc(&fixture())
            .arg("docs")
            .arg("--out")
            .arg(&out)
            .assert()
            .success();
        read_tree(&out)
    };
    let first = run();
    fs::write(out.join("rules/removed_rule.md"), "stale").expect("write");
    assert_eq!(
        run(),
        first,
        "a second run gives the same tree, stale pages gone"
    );
}

#[test]
fn docs_refuse_to_replace_a_folder_that_is_not_a_catalog() {
    let tmp = tempfile::tempdir().expect("temp dir");
    fs::write(tmp.path().join("notes.txt"), "mine").expect("write");
    detc(&fixture())
        .arg("docs")
        .arg("--out")
        .arg(tmp.path())
        .assert()
        .failure();
    assert!(tmp.path().join("notes.txt").is_file());
    assert!(!tmp.path().join("index.md").exists());
}

#[test]
fn coverage_snapshot() {
    let out = detc(&fixture()).arg("coverage").output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    insta::assert_snapshot!("coverage", text);
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("layer.json");
    detc(&fixture())
        .args(["coverage", "--out"])
        .arg(&file)
        .assert()
        .success();
    assert_eq!(fs::read_to_string(file).expect("written"), text);
}

#[test]
fn rule_errors_write_nothing() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let bad = tmp.path().join("bad.det");
    fs::write(&bad, "rule bad \"Bad\" {\n  from nowhere\n}\n").expect("write");
    let out = tmp.path().join("catalog");
    detc(tmp.path())
        .arg("docs")
        .arg(&bad)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1);
    assert!(!out.exists());
    detc(tmp.path())
        .arg("coverage")
        .arg(&bad)
        .assert()
        .code(1)
        .stdout("");
}

/// Over the shipped library: every rule has a page linked from the index, and the layer's
/// techniques are exactly the library's technique ids (tactics are not techniques).
#[test]
fn shipped_library_docs_and_coverage() {
    let (library, _) = crate::common::library();
    assert!(!library.rules.is_empty());

    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("catalog");
    detc(&root())
        .arg("docs")
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let index = fs::read_to_string(out.join("index.md")).expect("index");
    for rule in &library.rules {
        let page = fs::read_to_string(out.join(format!("rules/{}.md", rule.name)))
            .unwrap_or_else(|_| panic!("no page for {}", rule.name));
        assert!(
            page.starts_with(&format!("# {}\n", rule.title)),
            "{}",
            rule.name
        );
        assert!(page.contains(&rule.id), "{}", rule.name);
        for section in ["## Logic", "## Data sources", "## Queries", "## Tests"] {
            assert!(page.contains(section), "{} lacks {section}", rule.name);
        }
        assert!(
            index.contains(&format!("(rules/{}.md)", rule.name)),
            "index lacks {}",
            rule.name
        );
    }

    // What the mappings mark `enrichment:` is listed on the pages of the rules that read it.
    let page = |name: &str| fs::read_to_string(out.join(format!("rules/{name}.md"))).expect("page");
    let anonymizer = page("signin_from_anonymizing_network");
    assert!(
        anonymizer.contains("- sentinel, field `source.as.organization.name`: ")
            && anonymizer.contains("- splunk, field `source.as.organization.name`: "),
        "{anonymizer}"
    );
    assert!(page("payroll_shared_bank_account").contains("- sentinel, the source itself: "));
    assert!(!page("rmm_tool_started").contains("the source itself"));

    let out = detc(&root()).arg("coverage").output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let layer: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(layer["versions"]["layer"], "4.5");
    assert_eq!(layer["domain"], "enterprise-attack");
    assert_eq!(layer["name"], "detc DPRK IT worker coverage");
    let techniques = layer["techniques"].as_array().expect("techniques");
    let ids: Vec<&str> = techniques
        .iter()
        .map(|t| t["techniqueID"].as_str().expect("id"))
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "techniques sorted");
    let expected: BTreeSet<&str> = library
        .rules
        .iter()
        .flat_map(|r| r.attack.iter().map(String::as_str))
        .filter(|id| !id.starts_with("TA"))
        .collect();
    assert_eq!(ids.iter().copied().collect::<BTreeSet<_>>(), expected);
    for t in techniques {
        let id = t["techniqueID"].as_str().expect("id");
        let users: Vec<&str> = library
            .rules
            .iter()
            .filter(|r| r.attack.iter().any(|a| a == id))
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(t["score"], users.len(), "{id}");
        for u in users {
            assert!(t["comment"].as_str().expect("comment").contains(u), "{id}");
        }
    }
}

const IDEAS: &str = r#"
[[idea]]
id = "A3"
title = "Laptop shipping-address anomaly"

[[idea]]
id = "D7"
title = "Git commit time-zone offset"
not_implemented = "no SIEM holds commit metadata"
"#;

/// A rule with `catalog = [...]` in a tree with `catalog.toml`, as `detc` reads it.
fn idea_tree(ideas: Option<&str>, catalog: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("temp dir");
    let rules = tmp.path().join("detections");
    fs::create_dir_all(&rules).expect("mkdir");
    if let Some(text) = ideas {
        fs::write(rules.join("catalog.toml"), text).expect("write");
    }
    let rule = format!(
        "rule ship_to \"Ship-to changed\" {{\n  id = \"11111111-2222-4333-8444-555555555555\"\n  severity = high\n  attack = [TA0001, T1078]\n  catalog = {catalog}\n  from hr_record\n  where event.action == \"ship_to_changed\"\n  test matches {{ event.action = \"ship_to_changed\" }}\n  test misses {{ event.action = \"hire\" }}\n}}\n"
    );
    fs::write(rules.join("ship_to.det"), rule).expect("write");
    tmp
}

/// `catalog = [...]` names ideas of the tree's catalog.toml: unknown ids, ids marked not
/// implementable and ids without any catalog are errors at the id; a bad catalog.toml is one
/// at its entry; `detc docs` indexes the ideas.
#[test]
fn catalog_ideas_are_checked_against_catalog_toml_and_indexed() {
    let ok = idea_tree(Some(IDEAS), "[A3]");
    detc(ok.path()).arg("check").assert().success();
    let out = ok.path().join("docs");
    detc(ok.path())
        .args(["docs", "--out"])
        .arg(&out)
        .assert()
        .success();
    let index = fs::read_to_string(out.join("index.md")).expect("index");
    assert!(
        index.contains("| A3 | Laptop shipping-address anomaly | [ship_to](rules/ship_to.md) |  |")
            && index.contains("| D7 | Git commit time-zone offset | not implemented | no SIEM holds commit metadata |"),
        "{index}"
    );
    let page = fs::read_to_string(out.join("rules/ship_to.md")).expect("page");
    assert!(
        page.contains("| Catalog ideas | A3 Laptop shipping-address anomaly |"),
        "{page}"
    );

    for (ideas, catalog, expect) in [
        (
            Some(IDEAS),
            "[A4]",
            "error[E0125]: unknown catalog idea `A4`",
        ),
        (
            Some(IDEAS),
            "[a3]",
            "error[E0125]: `a3` is not a catalog idea id",
        ),
        (
            Some(IDEAS),
            "[D7]",
            "error[E0126]: catalog idea `D7` (Git commit time-zone offset) is marked as not implementable",
        ),
        (
            Some(IDEAS),
            "[A3, A3]",
            "error[E0108]: `A3` is listed twice",
        ),
        (
            None,
            "[A3]",
            "error[E0125]: no idea catalog to find `A3` in",
        ),
        (
            Some("[[idea]]\nid = \"A3\"\ntitel = \"x\"\n"),
            "[A3]",
            "detections/catalog.toml:3:1: error[E0505]",
        ),
    ] {
        let tmp = idea_tree(ideas, catalog);
        let run = detc(tmp.path()).arg("check").assert().code(1);
        let err = String::from_utf8_lossy(&run.get_output().stderr).into_owned();
        assert!(err.contains(expect), "{catalog}: {err}");
        if !expect.contains("E0505") {
            assert!(
                err.contains("detections/ship_to.det:5:"),
                "{catalog}: {err}"
            );
        }
    }
}
