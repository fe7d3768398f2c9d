//! Tunable lists (`list NAME tunable = [...]`, issue 20): the language, the check's limits
//! (E0206), Sentinel's watchlists in the query, the package and deploy, and the targets
//! that refuse them (E0605). `detc test` and `hunt` read the list's defaults.

use crate::common;
use crate::support::repo::{Repo, sentinel_repo};
use crate::support::sentinel::Sentinel;
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
fn sentinel_reads_the_watchlist_and_the_others_refuse() {
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
    // Splunk and Elastic have no SIEM-side form yet: refused, not compiled with the defaults.
    let refused: Vec<&str> = diags.iter().map(|d| d.code.id()).collect();
    assert_eq!(refused, ["E0605", "E0605"], "{diags:#?}");
    for d in &diags {
        assert_eq!(
            line_col(&t, d.span.start),
            line_col(&t, t.find("not process.name").expect("there") + 4)
        );
        assert!(
            d.message.contains("`$sanctioned_agents` is a tunable list"),
            "{}",
            d.message
        );
    }
    assert!(outputs.iter().all(|o| o.target == TargetName::Sentinel));
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

const RULES: &str = r#"
list sanctioned_agents tunable = ["agent.exe", 'Say "hi", then.exe']

rule agent_a "Agent A" {
  id = "44444444-4444-4444-8444-444444444444"
  severity = high
  status = stable
  targets = [sentinel]
  from process_start where process.name like "*rmm*" and not process.name in $sanctioned_agents
}

rule agent_b "Agent B" {
  id = "55555555-5555-4555-8555-555555555555"
  severity = low
  status = stable
  targets = [sentinel]
  from process_start where process.name in $sanctioned_agents
}
"#;

fn package() -> Vec<detc::render::File> {
    let config = common::config();
    let p = project::check_text("t.det", RULES, &config);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let (rules, diags) = project::contexts(&p, &config, TargetName::Sentinel);
    assert!(diags.is_empty(), "{diags:#?}");
    project::package(TargetName::Sentinel, &rules, 1, None).expect("renders")
}

#[test]
fn sentinel_packages_one_watchlist_per_list() {
    let files = package();
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
