//! Tunable lists (`list NAME tunable = [...]`, issue 20): the language, the check's limits
//! (E0206), Sentinel's watchlists and Splunk's CSV lookups in the query, Elastic's value
//! lists through rule exceptions (one exact form; E0605 for the rest), the packages and
//! deploy. `detc test` and `hunt` read the list's defaults.

use crate::common;
use crate::support::kibana::Kibana;
use crate::support::repo::{Repo, kibana_repo, sentinel_repo, splunk_repo};
use crate::support::sentinel::Sentinel;
use crate::support::splunk::Splunk;
use detc::base::diag::line_col;
use detc::eval::Matcher;
use detc::lower::Language;
use detc::project;
use detc::syntax::print;
use detc::targets::TargetName;
use serde_json::{Value, json};

const LIST: &str = "list sanctioned_agents tunable = [\"agent.exe\", 'Say \"hi\", then.exe']\n";

fn text(targets: &str, condition: &str) -> String {
    format!(
        "{LIST}\nrule r \"t\" {{\n  id = \"00000000-0000-4000-8000-000000000042\"\n  severity = low\n  {targets}\n  from process_start where {condition}\n}}\n"
    )
}

#[test]
fn a_tunable_list_prints_back_and_tests_its_defaults() {
    let messy = "list   sanctioned_agents   tunable=[\"agent.exe\"]\n";
    let once = print::format_text("t.det", messy).expect("formats");
    assert_eq!(once, "list sanctioned_agents tunable = [\"agent.exe\"]\n");
    assert_eq!(print::format_text("t.det", &once).expect("formats"), once);
    // `detc test` and `hunt` read the defaults written in the file.
    let config = common::config();
    let p = project::check_text(
        "t.det",
        &text("", "not process.name in $sanctioned_agents"),
        &config,
    );
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let m = Matcher::new(&p.rules[0]).expect("single-event");
    assert!(!m.matches(&json!({"process": {"name": "AGENT.exe"}})));
    assert!(m.matches(&json!({"process": {"name": "other.exe"}})));
}

#[test]
fn a_tunable_list_is_only_for_in_on_strings() {
    for (condition, op) in [
        (
            "process.command_line contains $sanctioned_agents",
            "contains",
        ),
        ("process.name startswith $sanctioned_agents", "startswith"),
    ] {
        let t = text("", condition);
        let diags = common::check_text(&t);
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0].code.id(), "E0206");
        assert!(
            diags[0].message.contains(&format!("not with `{op}`")),
            "{}",
            diags[0].message
        );
        assert_eq!(
            line_col(&t, diags[0].span.start),
            line_col(&t, t.find("$sanctioned_agents").expect("there"))
        );
    }
    let ips = "list office_ips tunable = [\"192.0.2.1\"]\nrule r \"t\" {\n  id = \"00000000-0000-4000-8000-000000000043\"\n  severity = low\n  from authentication where source.ip in $office_ips\n}\n";
    let diags = common::check_text(ips);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].code.id(), "E0206");
    assert!(
        diags[0].message.contains("(a ip field)"),
        "{}",
        diags[0].message
    );
    let c = detc::base::Code::parse("E0206").expect("known");
    assert!(c.explain().contains("Example"));
}

#[test]
fn sentinel_and_splunk_read_the_list_and_elastic_refuses() {
    let config = common::config();
    let t = text(
        "",
        "process.name like \"*rmm*\" and not process.name in $sanctioned_agents",
    );
    let p = project::check_text("t.det", &t, &config);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let (outputs, diags) = project::compile(&p, &config, &TargetName::ALL);
    let kql = outputs
        .iter()
        .find(|o| o.language == Language::Kql)
        .expect("sentinel compiles it");
    assert!(
        kql.query.ends_with(
            " and (isempty(FileName) or FileName !in~ (_GetWatchlist(\"sanctioned_agents\") | project SearchKey))"
        ),
        "{}",
        kql.query
    );
    // Splunk looks the field up in the list's lookup before `where`, which reads the result.
    let spl = outputs
        .iter()
        .find(|o| o.language == Language::Spl)
        .expect("splunk compiles it");
    assert!(
        spl.query.ends_with(
            " process_name=\"*rmm*\" | lookup detc_list_sanctioned_agents value AS process_name \
             OUTPUT value AS detc_list_sanctioned_agents_in_process_name | where (isnull('process_name') \
             OR 'process_name'==\"\" OR isnull('detc_list_sanctioned_agents_in_process_name'))"
        ),
        "{}",
        spl.query
    );
    // Elastic's value list matches exact case, and `in` ignores it: refused, not compiled
    // with the defaults.
    let refused: Vec<&str> = diags.iter().map(|d| d.code.id()).collect();
    assert_eq!(refused, ["E0605"], "{diags:#?}");
    assert!(
        diags[0].message.contains("for elastic"),
        "{}",
        diags[0].message
    );
    for d in &diags {
        assert_eq!(
            line_col(&t, d.span.start),
            line_col(&t, t.find("not process.name").expect("there") + 4)
        );
        assert!(
            d.message.contains("`$sanctioned_agents` is a tunable list")
                && d.message.contains("`in` ignores case"),
            "{}",
            d.message
        );
    }
    assert!(outputs.iter().all(|o| o.target != TargetName::Elastic));
    // `in`, and `cased` for exact case.
    let p = project::check_text(
        "t.det",
        &text(
            "targets = [sentinel]",
            "process.name in cased $sanctioned_agents",
        ),
        &config,
    );
    let (outputs, diags) = project::compile(&p, &config, &[TargetName::Sentinel]);
    assert!(diags.is_empty(), "{diags:#?}");
    assert!(outputs[0].query.ends_with(
        "| where (isnotempty(FileName) and FileName in (_GetWatchlist(\"sanctioned_agents\") | project SearchKey))"
    ), "{}", outputs[0].query);
}

#[test]
fn splunk_looks_up_each_list_case_and_field_once_before_its_test() {
    let config = common::config();
    // Any boolean shape: each test reads its own lookup result, so `or` and `not` stay exact.
    let t = text(
        "targets = [splunk]",
        "process.name in $sanctioned_agents or not (process.parent.name in cased $sanctioned_agents \
         and process.name in cased $sanctioned_agents) or process.parent.name in $sanctioned_agents",
    );
    let p = project::check_text("t.det", &t, &config);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let (outputs, diags) = project::compile(&p, &config, &[TargetName::Splunk]);
    assert!(diags.is_empty(), "{diags:#?}");
    let q = &outputs[0].query;
    let lookups: Vec<&str> = q
        .split(" | ")
        .filter(|s| s.starts_with("lookup "))
        .collect();
    assert_eq!(
        lookups,
        [
            "lookup detc_list_sanctioned_agents value AS process_name OUTPUT value AS detc_list_sanctioned_agents_in_process_name",
            "lookup detc_cased_sanctioned_agents value AS parent_process_name OUTPUT value AS detc_cased_sanctioned_agents_in_parent_process_name",
            "lookup detc_cased_sanctioned_agents value AS process_name OUTPUT value AS detc_cased_sanctioned_agents_in_process_name",
            "lookup detc_list_sanctioned_agents value AS parent_process_name OUTPUT value AS detc_list_sanctioned_agents_in_parent_process_name",
        ],
        "{q}"
    );
    let (before, condition) = q.split_once(" | where ").expect("a where");
    assert!(before.ends_with(lookups[3]), "{q}");
    assert_eq!(
        condition,
        "(('process_name'!=\"\" AND isnotnull('detc_list_sanctioned_agents_in_process_name')) OR \
         ((isnull('parent_process_name') OR 'parent_process_name'==\"\" OR isnull('detc_cased_sanctioned_agents_in_parent_process_name')) OR \
         (isnull('process_name') OR 'process_name'==\"\" OR isnull('detc_cased_sanctioned_agents_in_process_name'))) OR \
         ('parent_process_name'!=\"\" AND isnotnull('detc_list_sanctioned_agents_in_parent_process_name')))"
    );
    // Two steps of one source are one search with a flag per step: the lookups come before
    // the flags' `eval`.
    let t = format!(
        "{LIST}\nrule r \"t\" {{\n  id = \"00000000-0000-4000-8000-000000000042\"\n  severity = low\n  targets = [splunk]\n  sequence by host.name within 5m {{\n    process_start where process.name == \"a.exe\"\n    process_start where not process.name in $sanctioned_agents\n  }}\n}}\n"
    );
    let p = project::check_text("t.det", &t, &config);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let (outputs, diags) = project::compile(&p, &config, &[TargetName::Splunk]);
    assert!(diags.is_empty(), "{diags:#?}");
    let q = &outputs[0].query;
    assert!(
        q.contains(" | lookup detc_list_sanctioned_agents value AS process_name OUTPUT value AS detc_list_sanctioned_agents_in_process_name | eval detc_step1="),
        "{q}"
    );
}

const RULES: &str = r#"
list sanctioned_agents tunable = ["agent.exe", 'Say "hi", then.exe']

rule agent_a "Agent A" {
  id = "44444444-4444-4444-8444-444444444444"
  severity = high
  status = stable
  targets = [splunk, sentinel]
  from process_start where process.name like "*rmm*" and not process.name in $sanctioned_agents
}

rule agent_b "Agent B" {
  id = "55555555-5555-4555-8555-555555555555"
  severity = low
  status = stable
  targets = [splunk, sentinel]
  from process_start where process.name in cased $sanctioned_agents
}
"#;

fn package(target: TargetName) -> Vec<detc::render::File> {
    let config = common::config();
    let p = project::check_text("t.det", RULES, &config);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let (rules, diags) = project::contexts(&p, &config, target);
    assert!(diags.is_empty(), "{diags:#?}");
    project::package(target, &rules, 1, None).expect("renders")
}

#[test]
fn sentinel_packages_one_watchlist_per_list() {
    let files = package(TargetName::Sentinel);
    let file = |name: &str| -> Value {
        let f = files
            .iter()
            .find(|f| f.path.as_os_str() == name)
            .unwrap_or_else(|| panic!("no {name}"));
        serde_json::from_slice(&f.contents).expect("json")
    };
    let lists = file("watchlists.json");
    let resources = lists["resources"].as_array().expect("resources");
    // Two rules, one list: one watchlist.
    assert_eq!(resources.len(), 1, "{lists:#}");
    let w = &resources[0];
    assert_eq!(
        w["name"],
        "[concat(parameters('workspace'), '/Microsoft.SecurityInsights/', 'sanctioned_agents')]"
    );
    assert_eq!(w["properties"]["itemsSearchKey"], "Value");
    assert_eq!(
        w["properties"]["rawContent"],
        "Value\n\"agent.exe\"\n\"Say \"\"hi\"\", then.exe\""
    );
    // The rules' templates hold the rules only, with the watchlist in their query.
    let arm = file("arm/agent_a.json");
    assert_eq!(arm["resources"].as_array().map(Vec::len), Some(1));
    assert!(
        arm["resources"][0]["properties"]["query"]
            .as_str()
            .is_some_and(|q| q.contains("_GetWatchlist(\"sanctioned_agents\")"))
    );
}

fn repo(sentinel: &Sentinel) -> Repo {
    let repo = sentinel_repo(sentinel);
    std::fs::write(repo.path().join("detections/rules.det"), RULES).expect("write");
    repo
}

#[test]
fn deploy_creates_a_missing_watchlist_and_never_overwrites_one() {
    let sentinel = Sentinel::start();
    let repo = repo(&sentinel);
    let run = repo.deploy("sentinel", &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("sentinel: 3 to create"),
        "{}",
        run.stdout
    );
    // The watchlist first: no rule runs before it exists.
    let puts = sentinel.requests_to("PUT", "");
    assert!(
        puts[0].path.ends_with("/watchlists/sanctioned_agents"),
        "{}",
        puts[0].path
    );
    let lists = sentinel.watchlists();
    let w = &lists["sanctioned_agents"]["properties"];
    assert_eq!(w["itemsSearchKey"], "Value");
    assert_eq!(w["provider"], "detc");
    assert_eq!(
        w["rawContent"],
        "Value\n\"agent.exe\"\n\"Say \"\"hi\"\", then.exe\""
    );
    assert_eq!(sentinel.rules().len(), 2);

    // The team tunes the watchlist in Sentinel; deploy and --prune leave it as it is.
    let tuned = json!({"displayName": "sanctioned_agents", "itemsSearchKey": "Value",
        "provider": "detc", "source": "Local file", "rawContent": "Value\n\"ours.exe\""});
    sentinel.seed_watchlist("sanctioned_agents", tuned.clone());
    let before = sentinel.requests_to("PUT", "").len();
    for extra in [&[][..], &["--prune"][..]] {
        let run = repo.deploy("sentinel", extra);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("0 to create"), "{}", run.stdout);
        assert!(run.stdout.contains("0 to delete"), "{}", run.stdout);
    }
    assert_eq!(sentinel.requests_to("PUT", "").len(), before);
    assert_eq!(
        sentinel.watchlists()["sanctioned_agents"]["properties"],
        tuned
    );
    assert_eq!(repo.detc(&["diff", "--target", "sentinel"]).code, 0);

    // A watchlist made by hand before the first deploy is not overwritten either.
    let other = Sentinel::start();
    other.seed_watchlist("sanctioned_agents", tuned.clone());
    let run = self::repo(&other).deploy("sentinel", &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("sentinel: 2 to create"),
        "{}",
        run.stdout
    );
    assert_eq!(other.watchlists()["sanctioned_agents"]["properties"], tuned);
}

#[test]
fn a_value_with_a_line_break_is_no_watchlist_line() {
    let config = common::config();
    let t = RULES.replace("\"agent.exe\"", "\"agent\\n.exe\"");
    let p = project::check_text("t.det", &t, &config);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let (_, diags) = project::contexts(&p, &config, TargetName::Sentinel);
    assert_eq!(diags.len(), 2, "{diags:#?}");
    for d in &diags {
        assert_eq!(d.code.id(), "E0602");
        assert!(d.message.contains("line break"), "{}", d.message);
    }
}

#[test]
fn splunk_packages_its_lookup_definitions_and_the_file_beside_the_app() {
    let files = package(TargetName::Splunk);
    let text = |name: &str| -> String {
        let f = files
            .iter()
            .find(|f| f.path.to_str() == Some(name))
            .unwrap_or_else(|| panic!("no {name}"));
        String::from_utf8(f.contents.clone()).expect("utf-8")
    };
    // One file, one definition per case the rules test it with.
    let transforms = text("detc/default/transforms.conf");
    assert!(
        transforms.ends_with(
            "\n[detc_list_sanctioned_agents]\nfilename = detc_list_sanctioned_agents.csv\ncase_sensitive_match = false\n\n\
             [detc_cased_sanctioned_agents]\nfilename = detc_list_sanctioned_agents.csv\ncase_sensitive_match = true\n"
        ),
        "{transforms}"
    );
    assert_eq!(
        text("lookups/detc_list_sanctioned_agents.csv"),
        "value,comment\n\"agent.exe\",detc default\n\"Say \"\"hi\"\", then.exe\",detc default\n"
    );
    // The app itself ships no lookup file: an upgrade has none to write over the team's.
    let archive = files
        .iter()
        .find(|f| f.path.as_os_str() == "detc.tgz")
        .expect("archive");
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive.contents.as_slice()));
    let paths: Vec<String> = tar
        .entries()
        .expect("tar")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .display()
                .to_string()
        })
        .collect();
    assert!(
        paths.contains(&"detc/default/transforms.conf".to_string()),
        "{paths:?}"
    );
    assert!(!paths.iter().any(|p| p.contains("lookups")), "{paths:?}");
    assert!(text("detc/default/savedsearches.conf").contains(
        "| lookup detc_cased_sanctioned_agents value AS process_name OUTPUT value AS detc_cased_sanctioned_agents_in_process_name"
    ));
}

fn splunk_repo_with(splunk: &Splunk, rules: &str) -> Repo {
    let repo = splunk_repo(splunk);
    std::fs::write(repo.path().join("detections/rules.det"), rules).expect("write");
    repo
}

#[test]
fn splunk_deploy_creates_a_missing_lookup_and_never_overwrites_one() {
    // A backtick in a value must not become a macro in the search that writes the file.
    let rules = RULES.replace("\"agent.exe\", ", "\"agent.exe\", \"a`b`.exe\", ");
    let file = "detc_list_sanctioned_agents.csv";
    let splunk = Splunk::start();
    let repo = splunk_repo_with(&splunk, &rules);
    let run = repo.deploy("splunk", &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // 2 searches, 2 filter macros, 1 base-search macro, 2 definitions, 1 file.
    assert!(
        run.stdout.starts_with("splunk: 8 to create"),
        "{}",
        run.stdout
    );
    // What the rules read comes first: the definitions, then the file, then the rest.
    let posts: Vec<String> = splunk
        .requests_to("POST", "")
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert!(
        posts[0].ends_with("/detc/configs/conf-transforms"),
        "{posts:?}"
    );
    assert!(
        posts[1].ends_with("/detc/configs/conf-transforms"),
        "{posts:?}"
    );
    assert!(posts[2].ends_with("/detc/search/jobs"), "{posts:?}");
    let defs = splunk.transforms();
    assert_eq!(defs["detc_list_sanctioned_agents"].params["filename"], file);
    assert_eq!(
        defs["detc_list_sanctioned_agents"].params["case_sensitive_match"],
        "false"
    );
    assert_eq!(
        defs["detc_cased_sanctioned_agents"].params["case_sensitive_match"],
        "true"
    );
    assert_eq!(
        splunk.lookup_files()[file],
        ["agent.exe", "a`b`.exe", "Say \"hi\", then.exe"]
    );
    let job = &splunk.requests_to("POST", "/servicesNS/nobody/detc/search/jobs")[0];
    assert!(
        !job.form().iter().any(|(_, v)| v.contains('`')),
        "{:?}",
        job.form()
    );

    // The team tunes the file in Splunk; deploy and --prune leave it and the definitions.
    splunk.seed_lookup_file(file, "detc", &["ours.exe"]);
    splunk.clear_requests();
    for extra in [&[][..], &["--prune"][..]] {
        let run = repo.deploy("splunk", extra);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("0 to create"), "{}", run.stdout);
        assert!(run.stdout.contains("0 to delete"), "{}", run.stdout);
    }
    assert!(splunk.requests_to("POST", "").is_empty());
    assert_eq!(splunk.lookup_files()[file], ["ours.exe"]);
    assert_eq!(repo.detc(&["diff", "--target", "splunk"]).code, 0);

    // A file another app holds is not detc's: detc's app gets its own.
    let other = Splunk::start();
    other.seed_lookup_file(file, "search", &["theirs.exe"]);
    let run = splunk_repo_with(&other, &rules).deploy("splunk", &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("splunk: 8 to create"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_search_that_fails_to_write_the_lookup_stops_before_the_rules() {
    // Splunk answers a oneshot search 200 and puts the search's error among its messages.
    let splunk = Splunk::start();
    splunk.fail_searches("Error in 'outputlookup' command: You have insufficient privileges.");
    let run = splunk_repo_with(&splunk, RULES).deploy("splunk", &[]);
    assert_ne!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let out = format!("{}{}", run.stdout, run.stderr);
    assert!(
        out.contains("lookup file detc_list_sanctioned_agents.csv"),
        "{out}"
    );
    assert!(out.contains("insufficient privileges"), "{out}");
    // No rule runs without its lookup: none was created.
    assert!(splunk.saved_searches().is_empty());
    assert!(splunk.lookup_files().is_empty());
}

#[test]
fn a_value_with_a_line_break_is_no_lookup_row() {
    let config = common::config();
    let t = RULES.replace("\"agent.exe\"", "\"agent\\n.exe\"");
    let p = project::check_text("t.det", &t, &config);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let (_, diags) = project::contexts(&p, &config, TargetName::Splunk);
    assert_eq!(diags.len(), 2, "{diags:#?}");
    for d in &diags {
        assert_eq!(d.code.id(), "E0610");
        assert!(d.message.contains("line break"), "{}", d.message);
        // At the rule's test of the list.
        assert!(t[d.span.start..].starts_with("process.name in"), "{d:#?}");
    }
}

fn elastic(condition: &str) -> (Vec<project::Output>, Vec<String>) {
    let config = common::config();
    let t = text("targets = [elastic]", condition);
    let p = project::check_text("t.det", &t, &config);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let (compiled, diags) = project::compile(&p, &config, &[TargetName::Elastic]);
    let refused = diags
        .iter()
        .map(|d| {
            assert_eq!(d.code.id(), "E0605", "{d:#?}");
            d.message.clone()
        })
        .collect();
    (compiled, refused)
}

#[test]
fn elastic_leaves_a_top_level_not_in_cased_to_a_rule_exception() {
    let (compiled, refused) =
        elastic("process.name like \"*rmm*\" and not process.name in cased $sanctioned_agents");
    assert!(refused.is_empty(), "{refused:?}");
    // EQL only, without the operand the exception does.
    assert_eq!(compiled.len(), 1);
    assert_eq!(compiled[0].language, Language::Eql);
    assert_eq!(
        compiled[0].query,
        "process where event.type == \"start\" and (process.name regex \".*[rR][mM][mM].*\")"
    );
    // The compiled output says the query alone is not the rule.
    let note = compiled[0].note.as_deref().unwrap_or_default();
    assert!(
        note.contains("the query alone is not the rule")
            && note.contains("process.name in value list detc_list_sanctioned_agents"),
        "{note}"
    );

    // So does `detc compile`'s text mode, beside the file that holds the query only.
    let dir = tempfile::tempdir().expect("tmp");
    let rule = text(
        "targets = [elastic]",
        "not process.name in cased $sanctioned_agents",
    );
    std::fs::write(dir.path().join("r.det"), rule).expect("write");
    let out = assert_cmd::Command::cargo_bin("detc")
        .expect("binary")
        .current_dir(dir.path())
        .args(["compile", "r.det"])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("note: build/elastic/r.eql: EQL only, and the query alone is not the rule"),
        "{err}"
    );

    // Every other test of the list is refused, saying why.
    for (condition, why) in [
        (
            "process.name in cased $sanctioned_agents",
            "top-level `and`",
        ),
        (
            "process.name like \"*a*\" or not process.name in cased $sanctioned_agents",
            "top-level `and`",
        ),
        (
            "not (process.name like \"*a*\" and process.name in cased $sanctioned_agents)",
            "top-level `and`",
        ),
        (
            "not process.name in $sanctioned_agents",
            "`in` ignores case",
        ),
        (
            "process.name == process.parent.name and not process.name in cased $sanctioned_agents",
            "compares two fields",
        ),
    ] {
        let (compiled, refused) = elastic(condition);
        assert!(compiled.is_empty(), "{condition}: {}", compiled[0].query);
        assert_eq!(refused.len(), 1, "{condition}");
        assert!(refused[0].contains(why), "{condition}: {}", refused[0]);
    }
    let config = common::config();
    for (kind, why) in [
        (
            "sequence by host.name within 5m {\n    process_start where process.name == \"a.exe\"\n    process_start where not process.name in cased $sanctioned_agents\n  }",
            "every step",
        ),
        (
            "from process_start where not process.name in cased $sanctioned_agents\n  group by host.name window 1h\n  having count() > 5",
            "an ES|QL rule",
        ),
    ] {
        let t = format!(
            "{LIST}\nrule r \"t\" {{\n  id = \"00000000-0000-4000-8000-000000000042\"\n  severity = low\n  targets = [elastic]\n  {kind}\n}}\n"
        );
        let p = project::check_text("t.det", &t, &config);
        assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
        let (outputs, diags) = project::compile(&p, &config, &[TargetName::Elastic]);
        assert!(outputs.is_empty());
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0].code.id(), "E0605");
        assert!(diags[0].message.contains(why), "{}", diags[0].message);
    }
}

const ELASTIC_RULES: &str = r#"
list sanctioned_agents tunable = ["agent.exe", 'Say "hi", then.exe']

rule agent_a "Agent A" {
  id = "44444444-4444-4444-8444-444444444444"
  severity = high
  status = stable
  targets = [elastic]
  from process_start where process.name like "*rmm*" and not process.name in cased $sanctioned_agents
}

rule agent_c "Agent C" {
  id = "66666666-6666-4666-8666-666666666666"
  severity = low
  status = stable
  targets = [elastic]
  from process_start where not process.parent.name in cased $sanctioned_agents and not process.name in cased $sanctioned_agents
}
"#;

fn elastic_package(rules: &str) -> Vec<detc::render::File> {
    let config = common::config();
    let p = project::check_text("t.det", rules, &config);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let (rules, diags) = project::contexts(&p, &config, TargetName::Elastic);
    assert!(diags.is_empty(), "{diags:#?}");
    project::package(TargetName::Elastic, &rules, 1, None).expect("renders")
}

#[test]
fn elastic_packages_each_value_list_and_exception_list_once() {
    let files = elastic_package(ELASTIC_RULES);
    let file = |name: &str| -> &[u8] {
        &files
            .iter()
            .find(|f| f.path.as_os_str() == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .contents
    };
    let lists: Value = serde_json::from_slice(file("lists.json")).expect("json");
    // One list: one value list, with its defaults.
    assert_eq!(
        lists["value_lists"],
        json!([{
            "list": {"id": "detc_list_sanctioned_agents", "name": "detc_list_sanctioned_agents",
                "type": "keyword",
                "description": "detc tunable list `sanctioned_agents`: tune its values here."},
            "values": ["agent.exe", "Say \"hi\", then.exe"],
        }])
    );
    // Two fields: two exception lists, each with one item reading the value list.
    let exceptions = lists["exception_lists"].as_array().expect("array");
    let ids: Vec<&str> = exceptions
        .iter()
        .map(|e| e["list"]["list_id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        ids,
        [
            "detc_list_sanctioned_agents_in_process.name",
            "detc_list_sanctioned_agents_in_process.parent.name"
        ]
    );
    assert_eq!(exceptions[0]["list"]["type"], "detection");
    assert_eq!(exceptions[0]["list"]["namespace_type"], "single");
    assert_eq!(
        exceptions[1]["item"]["entries"],
        json!([{"field": "process.parent.name", "operator": "included", "type": "list",
            "list": {"id": "detc_list_sanctioned_agents", "type": "keyword"}}])
    );
    // Each rule names the exception lists of its tests, and its query leaves them out.
    let text = String::from_utf8_lossy(file("rules.ndjson")).into_owned();
    let rules: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let agent_c = &rules[1];
    assert_eq!(agent_c["name"], "Agent C");
    assert_eq!(agent_c["query"], "process where event.type == \"start\"");
    assert_eq!(
        agent_c["exceptions_list"],
        json!([
            {"id": "detc_list_sanctioned_agents_in_process.parent.name",
             "list_id": "detc_list_sanctioned_agents_in_process.parent.name",
             "type": "detection", "namespace_type": "single"},
            {"id": "detc_list_sanctioned_agents_in_process.name",
             "list_id": "detc_list_sanctioned_agents_in_process.name",
             "type": "detection", "namespace_type": "single"},
        ])
    );
    let toml = String::from_utf8_lossy(file("toml/agent_c.toml")).into_owned();
    assert_eq!(
        toml.matches("[[rule.exceptions_list]]").count(),
        2,
        "{toml}"
    );
    // A package without tunable lists has none.
    let plain =
        elastic_package(&ELASTIC_RULES.replace(" cased $sanctioned_agents", " cased [\"x.exe\"]"));
    let lists = plain
        .iter()
        .find(|f| f.path.as_os_str() == "lists.json")
        .expect("lists.json");
    let lists: Value = serde_json::from_slice(&lists.contents).expect("json");
    assert_eq!(lists, json!({"value_lists": [], "exception_lists": []}));
}

fn kibana_repo_with(kibana: &Kibana, rules: &str) -> Repo {
    let repo = kibana_repo(kibana, "default");
    std::fs::write(repo.path().join("detections/rules.det"), rules).expect("write");
    repo
}

#[test]
fn elastic_deploy_creates_missing_lists_before_the_rules_and_never_overwrites_them() {
    let kibana = Kibana::start();
    let repo = kibana_repo_with(&kibana, ELASTIC_RULES);
    let run = repo.deploy("elastic", &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // 1 value list, 2 exception lists, 2 rules.
    assert!(
        run.stdout.starts_with("elastic: 5 to create"),
        "{}",
        run.stdout
    );
    // The value list (with its items), then the exception lists, then the rules.
    let posts: Vec<String> = kibana
        .requests_to("POST", "")
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        posts,
        [
            "/api/lists/index",
            "/api/lists",
            "/api/lists/items",
            "/api/lists/items",
            "/api/exception_lists",
            "/api/exception_lists/items",
            "/api/exception_lists",
            "/api/exception_lists/items",
            "/api/detection_engine/rules",
            "/api/detection_engine/rules",
        ]
    );
    let values = kibana.value_lists("default");
    assert_eq!(
        values["detc_list_sanctioned_agents"].1,
        ["agent.exe", "Say \"hi\", then.exe"]
    );
    assert_eq!(values["detc_list_sanctioned_agents"].0["type"], "keyword");
    let exceptions = kibana.exception_lists("default");
    let (list, items) = &exceptions["detc_list_sanctioned_agents_in_process.name"];
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0]["entries"][0]["list"]["id"],
        "detc_list_sanctioned_agents"
    );
    // The rule refers to the exception list by the id Kibana gave it.
    let rules = kibana.rules("default");
    let refs = &rules["44444444-4444-4444-8444-444444444444"]["exceptions_list"];
    assert_eq!(refs[0]["id"], list["id"]);
    assert_ne!(refs[0]["id"], refs[0]["list_id"]);
    assert_eq!(
        refs[0]["list_id"],
        "detc_list_sanctioned_agents_in_process.name"
    );

    // The team tunes the value list in Kibana; deploy and --prune leave it, and the rules
    // compare equal with Kibana's ids.
    kibana.seed_value_list("default", "detc_list_sanctioned_agents", &["ours.exe"]);
    kibana.clear_requests();
    for extra in [&[][..], &["--prune"][..]] {
        let run = repo.deploy("elastic", extra);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        assert!(
            run.stdout.contains("0 to create, 0 to update, 0 to delete"),
            "{}",
            run.stdout
        );
    }
    assert!(kibana.requests_to("POST", "").is_empty());
    assert!(kibana.requests_to("PUT", "").is_empty());
    assert_eq!(
        kibana.value_lists("default")["detc_list_sanctioned_agents"].1,
        ["ours.exe"]
    );
    assert_eq!(repo.detc(&["diff", "--target", "elastic"]).code, 0);

    // A value list made by hand before the first deploy is not overwritten either.
    let other = Kibana::start();
    other.seed_value_list("default", "detc_list_sanctioned_agents", &["theirs.exe"]);
    let run = kibana_repo_with(&other, ELASTIC_RULES).deploy("elastic", &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("elastic: 4 to create"),
        "{}",
        run.stdout
    );
    assert_eq!(
        other.value_lists("default")["detc_list_sanctioned_agents"].1,
        ["theirs.exe"]
    );
    assert!(other.requests_to("POST", "/api/lists/items").is_empty());
}

#[test]
fn a_value_list_item_kibana_refuses_stops_before_the_rules() {
    let kibana = Kibana::start();
    kibana.fail_list_items();
    let run = kibana_repo_with(&kibana, ELASTIC_RULES).deploy("elastic", &[]);
    assert_ne!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let out = format!("{}{}", run.stdout, run.stderr);
    assert!(out.contains("500"), "{out}");
    // No rule runs without its exceptions: none was created, nor an exception list.
    assert!(kibana.rules("default").is_empty());
    assert!(kibana.exception_lists("default").is_empty());
}

#[test]
fn a_value_of_only_whitespace_is_no_value_list_item() {
    let config = common::config();
    let t = ELASTIC_RULES.replace("\"agent.exe\", ", "\"agent.exe\", \"  \", ");
    let p = project::check_text("t.det", &t, &config);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let (_, diags) = project::contexts(&p, &config, TargetName::Elastic);
    assert_eq!(diags.len(), 2, "{diags:#?}");
    for d in &diags {
        assert_eq!(d.code.id(), "E0611");
        assert!(d.message.contains("only whitespace"), "{}", d.message);
    }
    let c = detc::base::Code::parse("E0611").expect("known");
    assert!(c.explain().contains("Example"));
}
