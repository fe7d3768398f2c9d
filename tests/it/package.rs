//! `detc package`: every file of every target's package for the shipped library is a
//! reviewed snapshot; packages are byte-stable, templates can be overridden, and what a
//! target cannot deploy is a `detc check` error that names the rule, the target and the span.

use crate::common;
use assert_cmd::Command;
use detc::project;
use detc::render;
use detc::targets::TargetName;

use common::library;

fn package(target: TargetName) -> Vec<render::File> {
    let (p, config) = library();
    let (rules, diags) = project::contexts(&p, &config, target);
    assert!(diags.is_empty(), "{diags:#?}");
    project::package(target, &rules, 1, None).expect("shipped templates render")
}

#[test]
fn every_package_file_of_the_library() {
    for target in TargetName::ALL {
        let files = package(target);
        for f in &files {
            let name = format!("{}/{}", target.as_str(), f.path.display());
            if f.path.extension().is_some_and(|e| e == "tgz") {
                insta::assert_snapshot!(name, archive_listing(&f.contents));
            } else {
                let text = String::from_utf8(f.contents.clone()).expect("text");
                insta::assert_snapshot!(name, text);
            }
        }
        assert_eq!(
            files,
            package(target),
            "{}: not byte-stable",
            target.as_str()
        );
    }
}

/// Each entry of the Splunk app archive: type, mode, owner, time, size and path; and that
/// every file's bytes are the rendered file's.
fn archive_listing(bytes: &[u8]) -> String {
    let files = package(TargetName::Splunk);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut out = String::new();
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("entry");
        let h = entry.header().clone();
        let path = entry.path().expect("path").into_owned();
        let mut contents = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut contents).expect("read");
        if h.entry_type().is_file() {
            let rendered = files
                .iter()
                .find(|f| f.path == path)
                .expect("rendered file");
            assert_eq!(rendered.contents, contents, "{}", path.display());
        }
        out.push_str(&format!(
            "{:?} {:o} {}:{} {} {} {}\n",
            h.entry_type(),
            h.mode().unwrap_or_default(),
            h.uid().unwrap_or_default(),
            h.gid().unwrap_or_default(),
            h.mtime().unwrap_or_default(),
            h.size().unwrap_or_default(),
            path.display()
        ));
    }
    out
}

#[test]
fn json_files_are_json_and_ndjson_is_one_rule_per_line() {
    for f in package(TargetName::Sentinel) {
        if f.path.extension().is_some_and(|e| e == "json") {
            let v: serde_json::Value = serde_json::from_slice(&f.contents).expect("json");
            // The library has no tunable list, so no watchlist.
            let empty = f.path.as_os_str() == "watchlists.json";
            assert!(
                v["resources"]
                    .as_array()
                    .is_some_and(|r| r.is_empty() == empty)
            );
        }
    }
    let elastic = package(TargetName::Elastic);
    let ndjson = elastic
        .iter()
        .find(|f| f.path.as_os_str() == "rules.ndjson")
        .expect("rules.ndjson");
    let (p, _) = library();
    let text = String::from_utf8(ndjson.contents.clone()).expect("utf-8");
    let ids: Vec<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("one JSON object a line");
            v["rule_id"].as_str().expect("rule_id").to_string()
        })
        .collect();
    let mut expected: Vec<&str> = p
        .rules
        .iter()
        .filter(|r| r.deploys_to("elastic"))
        .map(|r| r.id.as_str())
        .collect();
    expected.sort();
    let mut got: Vec<&str> = ids.iter().map(String::as_str).collect();
    got.sort();
    assert_eq!(got, expected);
}

const RULE: &str = r#"
rule r "A rule" {
  id = "4c0b3f0e-8f4e-4d8e-9a63-2f3e0b6f6a11"
  severity = high
  attack = [TA0011, T1219]
  SETTINGS
  from process_start where process.name == "AnyDesk.exe"
}
"#;

fn check(settings: &str) -> Vec<detc::base::diag::Diagnostic> {
    let config = common::config();
    let text = RULE.replace("SETTINGS", settings);
    let p = project::check_text("test.det", &text, &config);
    project::check(&p, &config)
}

fn codes(settings: &str) -> Vec<(&'static str, usize, String)> {
    let text = RULE.replace("SETTINGS", settings);
    check(settings)
        .into_iter()
        .map(|d| {
            let line = text[..d.span.start].matches('\n').count() + 1;
            (d.code.id(), line, d.message)
        })
        .collect()
}

#[test]
fn deploy_limits_are_check_errors_with_their_place() {
    assert!(codes("").is_empty(), "{:?}", codes(""));
    // Splunk's cron cannot run every 45 minutes; Sentinel allows no schedule under 5m.
    let c = codes("schedule = 45m");
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!((c[0].0, c[0].1), ("E0601", 6));
    assert!(c[0].2.contains("splunk"), "{}", c[0].2);
    // Without a delay, its period (the schedule) is under 5m as well.
    let c = codes("schedule = 1m");
    assert_eq!(c.len(), 1, "{c:?}");
    let c = codes("schedule = 1m\n  delay = 0s");
    assert_eq!(c.len(), 2, "{c:?}");
    assert!(
        c.iter()
            .all(|(code, line, m)| *code == "E0602" && *line == 6 && m.contains("sentinel"))
    );
    // Leaving Sentinel out is the way to keep a schedule it cannot run.
    assert!(codes("schedule = 1m\n  targets = [splunk, elastic]").is_empty());
    // Sentinel runs a query over 2 days or more at most hourly.
    let c = codes("lookback = 3d");
    assert_eq!(c.len(), 1, "{c:?}");
    assert!(
        c[0].0 == "E0602" && c[0].2.contains("at most hourly"),
        "{c:?}"
    );
    assert!(codes("lookback = 3d\n  schedule = 1h").is_empty());
    // A lookback Sentinel cannot search.
    let c = codes("lookback = 15d");
    assert_eq!((c[0].0, c[0].1), ("E0602", 6), "{c:?}");
    // Fields with no entity: Sentinel needs at least one.
    let c = codes("fields = [process.name]");
    assert_eq!((c[0].0, c[0].1), ("E0602", 6), "{c:?}");
    // Sentinel suppresses whole rules only.
    let c = codes("suppress = 1h\n  suppress_by = [host.name]");
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!((c[0].0, c[0].1), ("E0602", 6));
}

#[test]
fn alerting_settings_are_checked() {
    let first = |s: &str| codes(s).into_iter().next().map(|(c, l, _)| (c, l));
    assert_eq!(first("lookback = 1m"), Some(("E0122", 6)));
    assert_eq!(first("suppress = 1h"), Some(("E0123", 6)));
    assert_eq!(first("suppress_by = [host.name]"), Some(("E0123", 6)));
    assert_eq!(first("fields = [nope.nope]"), Some(("E0302", 6)));
    assert_eq!(first("targets = [qradar]"), Some(("E0120", 6)));
    assert_eq!(first("date = \"2025-13-01\""), Some(("E0121", 6)));
}

#[test]
fn templates_can_be_overridden_and_bad_ones_change_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("dist");
    let detc = || Command::cargo_bin("detc").expect("binary");
    detc()
        .args(["package", "--target", "elastic", "--out"])
        .arg(&out)
        .assert()
        .success();
    let ndjson = out.join("elastic/rules.ndjson");
    let before = std::fs::read(&ndjson).expect("written");

    // A user's template replaces the shipped one of the same name.
    let templates = dir.path().join("templates");
    std::fs::create_dir_all(templates.join("elastic")).expect("mkdir");
    std::fs::write(
        templates.join("elastic/rule.json.j2"),
        r#"{"rule_id": {{ rule.id | tojson }}, "name": {{ ("[detc] " ~ rule.title) | tojson }}}"#,
    )
    .expect("write");
    detc()
        .args(["package", "--target", "elastic", "--out"])
        .arg(&out)
        .arg("--templates")
        .arg(&templates)
        .assert()
        .success();
    let custom = std::fs::read_to_string(&ndjson).expect("written");
    assert!(
        custom.lines().all(|l| l.contains(r#""name":"[detc] "#)),
        "{custom}"
    );

    // A template whose output is not JSON fails with its name, and the package stays whole.
    std::fs::write(templates.join("elastic/rule.json.j2"), "{ not json").expect("write");
    let failed = detc()
        .args(["package", "--target", "elastic", "--out"])
        .arg(&out)
        .arg("--templates")
        .arg(&templates)
        .output()
        .expect("runs");
    assert_eq!(failed.status.code(), Some(2));
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(
        err.contains("elastic/rule.json.j2") && err.contains("not JSON"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&ndjson).expect("kept"), custom);
    assert_ne!(before, custom.into_bytes());
}

/// A description ending in `\` (SigmaHQ's file_event_win_susp_colorcpl.yml has one) must not
/// continue into the next key of savedsearches.conf: `search` stays a key of its own.
#[test]
fn a_conf_value_ending_in_a_backslash_keeps_the_next_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rule = r#"rule colorcpl "Colorcpl writes a file" {
  id = "3b5e0b4c-7a8e-4f0e-9d55-7f3b2c1a9e10"
  severity = low
  attack = [TA0005, T1564]
  description = 'Writes under C:\Windows\System32\spool\drivers\color\'
  from file_event
  where process.name == "colorcpl.exe"
}
"#;
    std::fs::write(dir.path().join("r.det"), rule).expect("write");
    Command::cargo_bin("detc")
        .expect("binary")
        .current_dir(dir.path())
        .args(["package", "r.det", "--target", "splunk", "--out", "dist"])
        .assert()
        .success();
    let conf = std::fs::read_to_string(
        dir.path()
            .join("dist/splunk/detc/default/savedsearches.conf"),
    )
    .expect("savedsearches.conf");
    let lines: Vec<&str> = conf.lines().collect();
    let search = lines
        .iter()
        .position(|l| l.starts_with("search = "))
        .expect("a search key");
    assert!(
        !lines[search - 1].trim_end().ends_with('\\'),
        "the line before `search` continues into it:\n{conf}"
    );
}

/// Text that each package format must carry exactly: quotes of every kind, backslashes
/// (one at the end), the delimiters of TOML literals and YAML blocks, ARM's `[`, template
/// syntax, characters YAML and TOML refuse raw (DEL, C1, BOM, U+2028), and line breaks.
const HOSTILE: &[&str] = &[
    r#"[concat('x')] it's '''triple''' and """basic""" and "double" \ C:\path\"#,
    "ends in a quote'",
    "{{ rule.id }} {% raw %} ${HOME} $(id) `id` # not a comment = [x]",
    "- item: &anchor *alias !tag | > %YAML",
    "del \u{7f} c1 \u{85}\u{9f} bom \u{feff} ls \u{2028} ps \u{2029} tab\there",
    "line one\nline two \\\n  indented ''' line\n",
];

/// A Splunk .conf as AppInspect's configuration parser reads it (see render.rs): stanzas,
/// `\`-continued lines joined with a newline, the value after the first `=`, trimmed.
fn read_conf(text: &str) -> std::collections::BTreeMap<String, Vec<(String, String)>> {
    let mut out = std::collections::BTreeMap::<String, Vec<(String, String)>>::new();
    let (mut stanza, mut item) = (String::new(), String::new());
    for line in text.split('\n') {
        if line.trim_end().ends_with('\\') {
            item.push_str(&line[..line.len() - 1]);
            item.push('\n');
            continue;
        }
        item.push_str(line);
        let whole = std::mem::take(&mut item);
        let t = whole.trim();
        if t.starts_with('[') && t.ends_with(']') {
            stanza = t[1..t.len() - 1].to_string();
        } else if let Some((k, v)) = whole.split_once('=')
            && !t.starts_with('#')
        {
            let entry = (k.trim().to_string(), v.trim().to_string());
            out.entry(stanza.clone()).or_default().push(entry);
        }
    }
    out
}

/// Every hostile text, as a rule's description, false positive and reference, read back
/// from every package file by a reader of its format (TOML, YAML, JSON, NDJSON, .conf).
#[test]
fn hostile_text_round_trips_through_every_package_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let quote = |s: &str| serde_json::to_string(s).expect("a JSON string is a .det string");
    let mut rules = String::new();
    for (i, text) in HOSTILE.iter().enumerate() {
        rules.push_str(&format!(
            "rule hostile_{i} \"Hostile {i}\" {{\n  id = \"3b5e0b4c-7a8e-4f0e-9d55-7f3b2c1a9e1{i}\"\n  \
             severity = low\n  attack = [TA0005, T1564]\n  description = {q}\n  \
             false_positives = [{q}]\n  references = [{q}]\n  \
             from process_start where process.name == \"x.exe\"\n}}\n",
            q = quote(text)
        ));
    }
    std::fs::write(dir.path().join("r.det"), &rules).expect("write");
    Command::cargo_bin("detc")
        .expect("binary")
        .current_dir(dir.path())
        .args(["package", "r.det", "--out", "dist"])
        .assert()
        .success();
    let dist = dir.path().join("dist");
    let read = |p: &str| std::fs::read_to_string(dist.join(p)).expect(p);
    let ndjson: Vec<serde_json::Value> = read("elastic/rules.ndjson")
        .lines()
        .map(|l| serde_json::from_str(l).expect("an NDJSON line"))
        .collect();
    let conf = read_conf(&read("splunk/detc/default/savedsearches.conf"));
    for (i, text) in HOSTILE.iter().enumerate() {
        let (name, title) = (format!("hostile_{i}"), format!("Hostile {i}"));

        let toml: toml::Table = toml::from_str(&read(&format!("elastic/toml/{name}.toml")))
            .unwrap_or_else(|e| panic!("{name}.toml: {e}"));
        let rule = &toml["rule"];
        assert_eq!(rule["description"].as_str(), Some(*text), "{name}.toml");
        assert_eq!(
            rule["false_positives"][0].as_str(),
            Some(*text),
            "{name}.toml"
        );
        assert_eq!(rule["references"][0].as_str(), Some(*text), "{name}.toml");
        assert_eq!(rule["name"].as_str(), Some(title.as_str()), "{name}.toml");

        let kibana = ndjson
            .iter()
            .find(|r| r["name"] == title.as_str())
            .expect("the rule's NDJSON line");
        assert_eq!(kibana["false_positives"][0], *text, "rules.ndjson");
        assert_eq!(kibana["references"][0], *text, "rules.ndjson");

        let yaml: serde_json::Value =
            serde_saphyr::from_str(&read(&format!("sentinel/yaml/{name}.yaml")))
                .unwrap_or_else(|e| panic!("{name}.yaml: {e}"));
        assert_eq!(yaml["description"], *text, "{name}.yaml");

        let arm: serde_json::Value =
            serde_json::from_str(&read(&format!("sentinel/arm/{name}.json"))).expect("ARM JSON");
        let description = arm["resources"][0]["properties"]["description"].as_str();
        // ARM reads a string that starts with `[` as an expression unless it is doubled.
        let description = description.map(|d| {
            d.strip_prefix('[')
                .filter(|_| text.starts_with('['))
                .unwrap_or(d)
        });
        assert_eq!(description, Some(*text), "{name}.json");

        let stanza = &conf[&name];
        let description = stanza
            .iter()
            .find(|(k, _)| k == "description")
            .map(|(_, v)| v);
        assert_eq!(
            description.map(String::as_str),
            Some(text.trim()),
            "savedsearches.conf"
        );
        assert!(
            stanza
                .iter()
                .any(|(k, v)| k == "search" && v.contains("x.exe")),
            "savedsearches.conf [{name}]: the search key was swallowed: {stanza:?}"
        );
    }
}
