//! `detc deploy` and `detc diff` against local SIEMs that implement the endpoints detc uses
//! as the vendors document them (tests/it/support): the exact requests detc sends, plans,
//! convergence, pruning only what detc manages, and injected faults (401, 409, 429 with
//! Retry-After, 500, a slow answer, a dropped connection) without losing anything or
//! showing a secret.

use crate::support::kibana::Kibana;
use crate::support::repo::{Repo, assert_no_secret, kibana_repo, sentinel_repo, splunk_repo};
use crate::support::sentinel::{Sentinel, SentinelConfig};
use crate::support::splunk::Splunk;
use crate::support::{Fault, Request};
use assert_cmd::Command;
use std::path::Path;
use std::time::{Duration, Instant};

fn writes(reqs: &[Request]) -> Vec<&Request> {
    reqs.iter().filter(|r| r.method != "GET").collect()
}

#[test]
fn splunk_plans_creates_exactly_and_converges() {
    let splunk = Splunk::start();
    let repo = splunk_repo(&splunk);

    let plan = repo.deploy("splunk", &["--dry-run"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout
            .starts_with("splunk: 8 to create, 0 to update, 0 to delete, 0 unchanged"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("+ create savedsearch/remote_tool"));
    assert!(plan.stdout.contains("+ create macro/remote_tool_filter"));
    // Each source's base search is a macro a team tunes, created like the filters.
    assert!(plan.stdout.contains("+ create macro/detc_process_start"));
    assert!(writes(&splunk.requests()).is_empty(), "dry run wrote");

    let run = repo.deploy("splunk", &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("8 changes applied"), "{}", run.stdout);

    // Exactly what the REST API documents: form-encoded creates in the app's namespace,
    // with a bearer token, savedsearches.conf keys as REST arguments.
    let creates = splunk.requests_to("POST", "/servicesNS/nobody/detc/saved/searches");
    assert_eq!(creates.len(), 3);
    for r in &creates {
        assert_eq!(r.header("authorization"), Some("Bearer test-token"));
        assert_eq!(
            r.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(r.param("output_mode"), Some("json"));
    }
    let searches = splunk.saved_searches();
    let tool = &searches["remote_tool"].params;
    assert!(
        tool["search"].ends_with("| `remote_tool_filter`"),
        "{}",
        tool["search"]
    );
    assert_eq!(tool["cron_schedule"], "*/5 * * * *");
    // The last 5m before the default 10m delay.
    assert_eq!(tool["dispatch.earliest_time"], "-900s");
    assert_eq!(tool["dispatch.latest_time"], "-600s");
    assert_eq!(tool["alert_type"], "number of events");
    assert_eq!(tool["alert_comparator"], "greater than");
    assert_eq!(tool["alert_threshold"], "0");
    assert!(tool["description"].ends_with("[managed by detc: remote_tool]"));
    assert!(!tool.contains_key("enableSched"), "conf key sent as is");
    // An experimental rule is deployed disabled.
    assert!(
        ["1", "true"].contains(&searches["vpn_client"].params["disabled"].as_str()),
        "{:?}",
        searches["vpn_client"].params
    );
    assert_eq!(tool["disabled"], "0");
    assert_eq!(
        splunk.macros()["remote_tool_filter"].params["definition"],
        "search *"
    );

    // The second run reads, plans nothing, writes nothing.
    splunk.clear_requests();
    let again = repo.deploy("splunk", &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again
            .stdout
            .starts_with("splunk: 0 to create, 0 to update, 0 to delete, 8 unchanged"),
        "{}",
        again.stdout
    );
    assert!(writes(&splunk.requests()).is_empty());
    let diff = repo.detc(&["diff", "--target", "splunk"]);
    assert_eq!(diff.code, 0, "{}", diff.stdout);
}

#[test]
fn splunk_updates_drift_keeps_tuning_and_prunes_only_its_own_rules() {
    let splunk = Splunk::start();
    let repo = splunk_repo(&splunk);
    assert_eq!(repo.deploy("splunk", &[]).code, 0);

    // Someone edits a search in the SIEM and tunes a macro; an old detc rule and a rule of
    // someone else's sit in the app.
    let tuned = "search NOT user IN (\"svc_backup\")";
    splunk.seed(
        false,
        "remote_tool",
        "nobody",
        "detc",
        &[
            ("search", "index=main"),
            ("description", "edited\n\n[managed by detc: remote_tool]"),
        ],
    );
    splunk.seed(
        true,
        "remote_tool_filter",
        "nobody",
        "detc",
        &[("definition", tuned)],
    );
    splunk.seed(
        false,
        "retired_rule",
        "nobody",
        "detc",
        &[
            ("search", "index=x"),
            ("description", "old\n\n[managed by detc: retired_rule]"),
        ],
    );
    splunk.seed(
        false,
        "team_search",
        "nobody",
        "detc",
        &[("search", "index=y"), ("description", "ours")],
    );

    let diff = repo.detc(&["diff", "--target", "splunk"]);
    assert_eq!(diff.code, 1, "{}", diff.stdout);
    assert!(
        diff.stdout.contains("~ update savedsearch/remote_tool"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout.contains("search: \"index=main\" -> "),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout
            .contains("! savedsearch/retired_rule was deployed by detc"),
        "{}",
        diff.stdout
    );
    assert!(!diff.stdout.contains("team_search"), "{}", diff.stdout);

    // Without --prune nothing is deleted.
    let run = repo.deploy("splunk", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(splunk.saved_searches().contains_key("retired_rule"));
    assert!(splunk.requests_to("DELETE", "").is_empty());

    let run = repo.deploy("splunk", &["--prune"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("- delete savedsearch/retired_rule"),
        "{}",
        run.stdout
    );
    let searches = splunk.saved_searches();
    assert!(!searches.contains_key("retired_rule"));
    assert!(
        searches.contains_key("team_search"),
        "someone else's search deleted"
    );
    assert!(searches["remote_tool"].params["search"].ends_with("`remote_tool_filter`"));
    assert_eq!(
        splunk.macros()["remote_tool_filter"].params["definition"],
        tuned
    );
}

#[test]
fn splunk_faults_are_retried_and_a_failure_stops_cleanly_then_converges() {
    let splunk = Splunk::start();
    let repo = splunk_repo(&splunk);

    // 429 with Retry-After, a 500, a slow answer and a dropped connection: each retried.
    let is_create = |name: &'static str| {
        move |r: &Request| {
            r.method == "POST" && r.form().iter().any(|(k, v)| k == "name" && v == name)
        }
    };
    splunk.fail_when(is_create("remote_tool"), Fault::throttled(1));
    splunk.fail_when(is_create("two_countries"), Fault::status(500));
    splunk.fail_when(
        is_create("vpn_client"),
        Fault::Delay(Duration::from_secs(3)),
    );
    splunk.fail_when(is_create("remote_tool_filter"), Fault::Drop);
    let start = Instant::now();
    let run = repo.deploy("splunk", &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "Retry-After not honoured"
    );
    assert_eq!(splunk.saved_searches().len(), 3);
    assert_eq!(splunk.macros().len(), 5);
    assert_eq!(splunk.pending_faults(), 0);
    // The slow create timed out on the client and was retried; whichever attempt the server
    // saw first created it, a later one met "already exists" and updated: still one search.
    assert!(
        splunk.saved_searches()["vpn_client"].params["description"]
            .ends_with("[managed by detc: vpn_client]")
    );

    // A rejected token stops the run at the first change: nothing after it is attempted,
    // the report says so, and the token never shows.
    let splunk = Splunk::start();
    let repo = splunk_repo(&splunk);
    splunk.fail_when(is_create("two_countries"), Fault::status(401));
    let run = repo.deploy("splunk", &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("create savedsearch/two_countries: FAILED"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("HTTP 401"), "{}", run.stdout);
    assert!(run.stdout.contains("not attempted"), "{}", run.stdout);
    assert!(
        run.stdout.contains("stopped after 6 of 8 changes"),
        "{}",
        run.stdout
    );
    assert_eq!(
        splunk
            .requests_to("POST", "")
            .iter()
            .filter(|r| is_create("two_countries")(r))
            .count(),
        1,
        "a 401 is not retried"
    );
    assert_no_secret(&run, &["test-token"]);
    let again = repo.deploy("splunk", &[]);
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert!(
        again
            .stdout
            .starts_with("splunk: 2 to create, 0 to update, 0 to delete, 6 unchanged"),
        "{}",
        again.stdout
    );
    assert_eq!(splunk.saved_searches().len(), 3);
}

#[test]
fn sentinel_signs_in_puts_rules_pages_through_and_converges() {
    let sentinel = Sentinel::start();
    // Other rules in the workspace, enough for the listing to take several pages.
    for i in 0..3 {
        sentinel.seed_rule(
            &format!("other-{i}"),
            "Scheduled",
            serde_json::json!({"displayName": "theirs", "description": "not ours"}),
        );
    }
    let repo = sentinel_repo(&sentinel);
    let run = repo.deploy("sentinel", &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("sentinel: 3 to create"),
        "{}",
        run.stdout
    );

    let token = sentinel.requests_to("POST", "/tenant-1/oauth2/v2.0/token");
    assert_eq!(token.len(), 1, "one token per run");
    let form = token[0].form();
    for (k, v) in [
        ("grant_type", "client_credentials"),
        ("client_id", "client-1"),
        ("client_secret", "secret-1"),
        ("scope", "https://management.azure.com/.default"),
    ] {
        assert!(form.iter().any(|(fk, fv)| fk == k && fv == v), "{form:?}");
    }
    let puts = sentinel.requests_to("PUT", "");
    assert_eq!(puts.len(), 3);
    let issued = sentinel.issued_tokens();
    for p in &puts {
        assert_eq!(p.param("api-version"), Some("2024-09-01"));
        assert_eq!(
            p.header("authorization").map(str::to_string),
            Some(format!("Bearer {}", issued[0]))
        );
        let body = p.json();
        assert_eq!(body["kind"], "Scheduled");
        // The marker names the rule's ARM name, the last segment of the URL it is put to.
        let name = p.segments().last().cloned().unwrap_or_default();
        let description = body["properties"]["description"]
            .as_str()
            .unwrap_or_default();
        assert!(
            description.ends_with(&format!("[managed by detc: {name}]")),
            "{description}"
        );
    }
    let rules = sentinel.rules();
    let tool = &rules["11111111-1111-4111-8111-111111111111"]["properties"];
    assert_eq!(tool["queryFrequency"], "PT5M");
    assert_eq!(tool["tactics"], serde_json::json!(["CommandAndControl"]));
    assert_eq!(rules.len(), 6);
    assert_no_secret(&run, &["secret-1", &issued[0]]);

    sentinel.clear_requests();
    let again = repo.deploy("sentinel", &["--prune"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert!(
        again
            .stdout
            .starts_with("sentinel: 0 to create, 0 to update, 0 to delete, 3 unchanged"),
        "{}",
        again.stdout
    );
    assert!(
        sentinel.requests_to("GET", "").len() >= 3,
        "did not follow nextLink"
    );
    assert!(
        writes(&sentinel.requests())
            .iter()
            .all(|r| r.path.ends_with("/token"))
    );
    assert_eq!(sentinel.rules().len(), 6, "someone else's rules pruned");
}

#[test]
fn sentinel_bad_secret_is_reported_without_the_secret() {
    let sentinel = Sentinel::start();
    let mut repo = sentinel_repo(&sentinel);
    repo.env.retain(|(k, _)| k != "AZURE_CLIENT_SECRET");
    // The fake Entra echoes the request body in its 401: the secret comes back URL-encoded.
    repo.env
        .push(("AZURE_CLIENT_SECRET".into(), "az8Q~wrong+SECRET/=".into()));
    let run = repo.deploy("sentinel", &[]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("cannot sign in to Microsoft Entra ID"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("401"), "{}", run.stderr);
    assert!(
        run.stderr.contains("client_secret=[secret]"),
        "{}",
        run.stderr
    );
    assert_no_secret(
        &run,
        &[
            "az8Q~wrong+SECRET/=",
            "az8Q%7Ewrong%2BSECRET%2F%3D",
            "SECRET",
        ],
    );
    assert!(sentinel.rules().is_empty());
}

/// Non-secret settings in detc.toml reach the SIEM client (the space here), and the
/// environment wins over them.
#[test]
fn detc_toml_deploy_settings_reach_the_siem_and_the_environment_wins() {
    let kibana = Kibana::start();
    kibana.add_space("sec");
    kibana.add_space("env");
    let repo = Repo::new(&[("KIBANA_API_KEY", "test-key".into())]);
    std::fs::write(
        repo.path().join("detc.toml"),
        format!(
            "[deploy.settings]\nKIBANA_URL = \"{}\"\nKIBANA_SPACE = \"sec\"\n",
            kibana.url()
        ),
    )
    .expect("write");
    let run = repo.deploy("elastic", &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(kibana.rules("sec").len(), 3);
    let mut repo = repo;
    repo.env.push(("KIBANA_SPACE".into(), "env".into()));
    let run = repo.deploy("elastic", &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(kibana.rules("env").len(), 3);
}

#[test]
fn kibana_creates_in_its_space_and_an_interrupted_run_converges() {
    let kibana = Kibana::start();
    kibana.add_space("sec");
    let repo = kibana_repo(&kibana, "sec");

    // The second create dies with a dropped connection on every attempt: the run stops.
    let second = |r: &Request| {
        r.method == "POST" && r.json()["rule_id"] == "22222222-2222-4222-8222-222222222222"
    };
    for _ in 0..3 {
        kibana.fail_when(second, Fault::Drop);
    }
    let run = repo.deploy("elastic", &["--retries", "2"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("FAILED"), "{}", run.stdout);
    assert!(
        run.stdout.contains("stopped after 1 of 3 changes"),
        "{}",
        run.stdout
    );
    assert_eq!(kibana.rules("sec").len(), 1);

    let run = repo.deploy("elastic", &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .starts_with("elastic: 2 to create, 0 to update, 0 to delete, 1 unchanged"),
        "{}",
        run.stdout
    );
    let rules = kibana.rules("sec");
    assert_eq!(rules.len(), 3);
    assert!(kibana.rules("default").is_empty());
    for r in writes(&kibana.requests()) {
        assert!(
            r.path.starts_with("/s/sec/api/detection_engine/rules"),
            "{}",
            r.path
        );
        assert_eq!(r.header("authorization"), Some("ApiKey test-key"));
        assert!(r.header("kbn-xsrf").is_some());
    }
    let tool = &rules["11111111-1111-4111-8111-111111111111"];
    assert_eq!(tool["type"], "eql");
    assert_eq!(tool["threat"][0]["tactic"]["id"], "TA0011");
    assert_eq!(
        rules["22222222-2222-4222-8222-222222222222"]["type"],
        "esql"
    );

    let again = repo.deploy("elastic", &[]);
    assert!(
        again
            .stdout
            .starts_with("elastic: 0 to create, 0 to update, 0 to delete, 3 unchanged"),
        "{}",
        again.stdout
    );
    assert_no_secret(&again, &["test-key"]);
}

#[test]
fn settings_errors_name_the_setting_and_refuse_secrets_in_files() {
    let repo = Repo::new(&[]);
    let run = repo.deploy("splunk", &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("SPLUNK_URL"), "{}", run.stderr);

    // Clear text only to this machine, judged by the parsed host, not by the text's prefix.
    for url in [
        "http://splunk.example.com:8089",
        "http://localhost.invalid:8089",
        "http://127.0.0.1.invalid:8089",
        "http://127.0.0.1@splunk.invalid:8089",
    ] {
        let repo = Repo::new(&[("SPLUNK_URL", url.into()), ("SPLUNK_TOKEN", "t".into())]);
        let run = repo.deploy("splunk", &[]);
        assert_eq!(run.code, 2, "{url}");
        assert!(
            run.stderr.contains("SPLUNK_URL")
                && (run.stderr.contains("must be an https:// URL")
                    || run.stderr.contains("credentials before its host")),
            "{url}: {}",
            run.stderr
        );
    }

    let repo = Repo::new(&[]);
    std::fs::write(
        repo.path().join("deploy.yaml"),
        "KIBANA_URL: https://kibana.example.com\nKIBANA_API_KEY: abc\n",
    )
    .expect("write");
    let run = repo.deploy("elastic", &["--settings", "deploy.yaml"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("`KIBANA_API_KEY` is a secret"),
        "{}",
        run.stderr
    );
    assert_no_secret(&run, &["abc\n"]);
    // The same in detc.toml.
    let repo = Repo::new(&[]);
    std::fs::write(
        repo.path().join("detc.toml"),
        "[deploy.settings]\nKIBANA_URL = \"https://kibana.example.com\"\nKIBANA_API_KEY = \"abc\"\n",
    )
    .expect("write");
    let run = repo.deploy("elastic", &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("detc.toml [deploy.settings]: `KIBANA_API_KEY` is a secret"),
        "{}",
        run.stderr
    );
    assert_no_secret(&run, &["abc\n"]);

    let repo2 = Repo::new(&[
        ("KIBANA_URL", "https://127.0.0.1:9".into()),
        ("KIBANA_API_KEY", "k".into()),
    ]);
    std::fs::write(repo2.path().join("ca.pem"), "not a certificate").expect("write");
    let run = repo2.deploy("elastic", &["--ca-cert", "ca.pem"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--ca-cert ca.pem"), "{}", run.stderr);
}

#[test]
fn tls_is_verified() {
    // A plain-HTTP server behind an https:// URL: the TLS handshake fails, nothing is sent
    // in clear text, and the key does not show.
    let kibana = Kibana::start();
    let url = kibana.url().replace("http://", "https://");
    let repo = Repo::new(&[("KIBANA_URL", url), ("KIBANA_API_KEY", "test-key".into())]);
    let run = repo.deploy("elastic", &["--retries", "0"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("cannot read what the SIEM holds"),
        "{}",
        run.stderr
    );
    assert_no_secret(&run, &["test-key"]);
    assert!(
        kibana.requests().is_empty(),
        "a request went out in clear text"
    );
}

/// `n` rules of another team in Kibana's default space (not marked as detc's).
fn seed_their_rules(kibana: &Kibana, n: usize) {
    for i in 0..n {
        kibana.seed_rule(
            "default",
            serde_json::json!({
                "rule_id": format!("team-{i}"), "name": "theirs", "description": "theirs",
                "type": "query", "risk_score": 1, "severity": "low", "query": "*",
            }),
        );
    }
}

/// Servers whose paging never ends (Kibana repeating a page under a huge `total`, an ARM
/// `nextLink` to the page it is on) fail the run with what happened, after a few requests.
#[test]
fn endless_listings_are_errors() {
    let kibana = Kibana::start();
    seed_their_rules(&kibana, 3);
    kibana.repeat_pages();
    let run = kibana_repo(&kibana, "default").deploy("elastic", &["--dry-run"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("paging does not advance"),
        "{}",
        run.stderr
    );
    assert_eq!(kibana.requests_to("GET", "/_find").len(), 2);

    let sentinel = Sentinel::with_config(SentinelConfig {
        next_link_to_itself: true,
        ..SentinelConfig::default()
    });
    for i in 0..5 {
        sentinel.seed_rule(
            &format!("rule-{i}"),
            "Scheduled",
            serde_json::json!({"description": "theirs"}),
        );
    }
    let run = sentinel_repo(&sentinel).deploy("sentinel", &["--dry-run"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("ARM alertRules"), "{}", run.stderr);
}

/// A run ends by its deadline: a SIEM that keeps answering 429 gets no more requests and
/// no more waiting once `--deadline` would pass, and the error says so.
#[test]
fn a_run_stops_at_its_deadline() {
    let splunk = Splunk::start();
    for _ in 0..30 {
        splunk.fail_when(|r: &Request| r.method == "GET", Fault::throttled(1));
    }
    let start = Instant::now();
    let run = splunk_repo(&splunk).deploy(
        "splunk",
        &["--dry-run", "--retries", "100", "--deadline", "3"],
    );
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert!(run.stderr.contains("deadline of 3s"), "{}", run.stderr);
    assert!(
        splunk.pending_faults() > 20,
        "requests went on after the deadline"
    );

    let help = Command::cargo_bin("detc")
        .unwrap()
        .args(["deploy", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("--deadline <SECONDS>"));
}

/// The `offset` of each page of saved searches that detc asked Splunk for.
fn listing_offsets(splunk: &Splunk) -> Vec<String> {
    splunk
        .requests_to("GET", "/saved/searches")
        .iter()
        .filter_map(|r| r.param("offset").map(str::to_string))
        .collect()
}

#[test]
fn listings_are_read_page_by_page() {
    let splunk = Splunk::start();
    for i in 0..130 {
        let name = format!("team_{i:03}");
        splunk.seed(false, &name, "nobody", "detc", &[("search", "index=x")]);
    }
    let repo = splunk_repo(&splunk);
    let run = repo.deploy("splunk", &["--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("splunk: 8 to create"),
        "{}",
        run.stdout
    );
    assert_eq!(listing_offsets(&splunk), ["0", "100"]);

    // Objects other apps share globally are listed in detc's namespace too (150 of them, as
    // with Enterprise Security): the next offset counts the entries read, not those kept.
    let splunk = Splunk::start();
    for i in 0..150 {
        splunk.seed_global(false, &format!("es_search_{i:03}"), "SA-ThreatIntelligence");
    }
    splunk.seed(
        false,
        "team_000",
        "nobody",
        "detc",
        &[("search", "index=x")],
    );
    let run = splunk_repo(&splunk).deploy("splunk", &["--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(listing_offsets(&splunk), ["0", "100"]);

    let kibana = Kibana::start();
    seed_their_rules(&kibana, 130);
    let repo = kibana_repo(&kibana, "default");
    let run = repo.deploy("elastic", &["--dry-run", "--prune"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("elastic: 3 to create, 0 to update, 0 to delete"),
        "{}",
        run.stdout
    );
    let pages: Vec<String> = kibana
        .requests_to("GET", "/_find")
        .iter()
        .filter_map(|r| r.param("page").map(str::to_string))
        .collect();
    assert_eq!(pages, ["1", "2"]);
}

#[test]
fn conflicts_and_vanished_rules_are_handled() {
    // A stale listing (the rule was created after it was read): the create meets 409
    // "already exists" and becomes an update.
    let kibana = Kibana::start();
    let repo = kibana_repo(&kibana, "default");
    kibana.seed_rule(
        "default",
        serde_json::json!({
            "rule_id": "33333333-3333-4333-8333-333333333333",
            "name": "old", "description": "old", "type": "query", "risk_score": 1,
            "severity": "low", "query": "*", "language": "kuery",
        }),
    );
    kibana.fail_when(
        |r: &Request| r.method == "GET" && r.path.ends_with("/_find"),
        Fault::Status {
            code: 200,
            retry_after: None,
            body: r#"{"page":1,"perPage":100,"total":0,"data":[]}"#.into(),
        },
    );
    let run = repo.deploy("elastic", &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("elastic: 3 to create"),
        "{}",
        run.stdout
    );
    let conflicts = kibana
        .requests_to("PUT", "/api/detection_engine/rules")
        .len();
    assert_eq!(conflicts, 1, "the 409 did not become an update");
    let vpn = &kibana.rules("default")["33333333-3333-4333-8333-333333333333"];
    assert_eq!(vpn["type"], "eql");
    assert!(
        vpn["description"]
            .as_str()
            .is_some_and(|d| d.ends_with("[managed by detc: 33333333-3333-4333-8333-333333333333]"))
    );

    // An update whose rule vanished meanwhile (404) stops the run; the next run creates it.
    let splunk = Splunk::start();
    let repo = splunk_repo(&splunk);
    assert_eq!(repo.deploy("splunk", &[]).code, 0);
    splunk.seed(
        false,
        "remote_tool",
        "nobody",
        "detc",
        &[
            ("search", "index=edited"),
            ("description", "x\n\n[managed by detc: remote_tool]"),
        ],
    );
    splunk.fail_when(
        |r: &Request| r.method == "POST" && r.path.ends_with("/saved/searches/remote_tool"),
        Fault::status(404),
    );
    let run = repo.deploy("splunk", &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("update savedsearch/remote_tool: FAILED"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("HTTP 404"), "{}", run.stdout);
    let run = repo.deploy("splunk", &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        splunk.saved_searches()["remote_tool"].params["search"].ends_with("`remote_tool_filter`")
    );
}

/// Copy a folder tree (the shipped library into a test repository).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[test]
fn the_shipped_library_deploys_everywhere_and_a_second_run_changes_nothing() {
    let splunk = Splunk::start();
    let sentinel = Sentinel::start();
    let kibana = Kibana::start();
    let mut env = splunk_repo(&splunk).env;
    env.extend(sentinel_repo(&sentinel).env);
    env.extend(kibana_repo(&kibana, "default").env);
    let repo = Repo {
        dir: tempfile::tempdir().expect("tmp"),
        env,
    };
    copy_tree(Path::new("detections"), &repo.path().join("detections"));
    for target in ["splunk", "sentinel", "elastic"] {
        let first = repo.deploy(target, &[]);
        assert_eq!(first.code, 0, "{target}: {}{}", first.stdout, first.stderr);
        let second = repo.detc(&["diff", "--target", target]);
        assert_eq!(
            second.code, 0,
            "{target} drifted right after deploy:\n{}",
            second.stdout
        );
    }
    // it_worker_alerts_in_three_stages_13d is Sentinel's form of a Splunk and Elastic rule, and
    // two rules compare fields across a sequence's steps, which only Sentinel compiles.
    assert_eq!(splunk.saved_searches().len(), 73);
    // A filter per rule and a base search per source the library reads (18).
    assert_eq!(splunk.macros().len(), 91);
    // Nine rules search further back than Sentinel's 14 days and leave it out, one more
    // (it_worker_alerts_in_three_stages) names its 13-day form for it, and two
    // (mfa_phone_registered_voip_number, mfa_phone_shared_by_accounts) do not deploy there.
    assert_eq!(sentinel.rules().len(), 64);
    // Three (admin_mfa_reset_then_unmanaged_signin, new_account_first_week_signin_from_risky_network,
    // termination_without_account_disable), it_worker_alerts_in_three_stages_13d and the two
    // rules that compare fields across steps do not deploy to Elastic.
    assert_eq!(kibana.rules("default").len(), 70);
}

/// A copy of a detc rule made in the SIEM (Kibana's Duplicate, Splunk's Clone) keeps the
/// marker line, which names the original: `--prune` leaves the copy alone.
#[test]
fn copies_made_in_the_siem_are_not_pruned() {
    let kibana = Kibana::start();
    let repo = kibana_repo(&kibana, "default");
    assert_eq!(repo.deploy("elastic", &[]).code, 0);
    let mut copy = kibana.rules("default")["11111111-1111-4111-8111-111111111111"].clone();
    copy["rule_id"] = "copy-of-remote-tool".into();
    kibana.seed_rule("default", copy);
    let run = repo.deploy("elastic", &["--prune"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("0 to delete"), "{}", run.stdout);
    assert!(kibana.rules("default").contains_key("copy-of-remote-tool"));

    let splunk = Splunk::start();
    let repo = splunk_repo(&splunk);
    assert_eq!(repo.deploy("splunk", &[]).code, 0);
    let original = splunk.saved_searches()["remote_tool"].params.clone();
    let params: Vec<(&str, &str)> = original
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    splunk.seed(false, "remote_tool_clone", "nobody", "detc", &params);
    let run = repo.deploy("splunk", &["--prune"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("0 to delete"), "{}", run.stdout);
    assert!(splunk.saved_searches().contains_key("remote_tool_clone"));
}
