//! Correlation rules on Elastic: aggregation and first seen as ES|QL only, sequences as EQL
//! only, each with a note saying why (docs/CORRELATION.md).

use crate::common;
use detc::project::{self, Config, Output};
use detc::targets::TargetName;

/// Compile `text` for Elastic only, with `config`; panics on any diagnostic.
fn elastic_with(text: &str, config: &Config) -> Vec<Output> {
    let p = project::check_text("test.det", text, config);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let (out, diags) = project::compile(&p, config, &[TargetName::Elastic]);
    assert!(diags.is_empty(), "{diags:#?}");
    out
}

fn elastic(text: &str) -> Vec<Output> {
    elastic_with(text, &common::config())
}

/// The one query of a correlation rule, its language and note.
fn only(out: &[Output], rule: &str) -> (String, String, String) {
    let mine: Vec<&Output> = out.iter().filter(|o| o.rule == rule).collect();
    assert_eq!(mine.len(), 1, "{rule}: {mine:#?}");
    let o = mine[0];
    (
        o.language.as_str().to_string(),
        o.query.clone(),
        o.note.clone().expect("a correlation rule carries a note"),
    )
}

#[test]
fn language_examples() {
    let out = elastic(include_str!("../fixtures/language/correlation.det"));

    let (language, query, note) = only(&out, "laptop_farm_shared_ip");
    assert_eq!(
        (language.as_str(), note.as_str()),
        ("esql", "EQL cannot aggregate; ES|QL only")
    );
    insta::assert_snapshot!("laptop_farm_shared_ip_esql", query);

    let (language, query, note) = only(&out, "ipkvm_then_logon");
    assert_eq!(language, "eql");
    assert_eq!(
        note,
        "ES|QL cannot express ordered sequences; EQL only. Run it on \
         logs-system.security-*,logs-* over the last 20m (maxspan + schedule)"
    );
    insta::assert_snapshot!("ipkvm_then_logon_eql", query);

    let (language, query, note) = only(&out, "new_signin_country");
    assert_eq!(
        (language.as_str(), note.as_str()),
        ("esql", "EQL cannot aggregate (first seen); ES|QL only")
    );
    insta::assert_snapshot!("new_signin_country_esql", query);
}

#[test]
fn single_event_rules_carry_no_note() {
    let out = elastic(&common::rule(
        "plain",
        "from process_start where process.name == \"x.exe\"",
    ));
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|o| o.note.is_none()));
    let json = serde_json::to_string(&out).unwrap();
    assert!(!json.contains("note"), "{json}");
}

#[test]
fn several_having_terms_and_every_aggregate() {
    let out = elastic(&common::rule(
        "uploads",
        "from web_request where http.request.method == \"POST\"
  group by user.name, source.ip window 90m
  having (count() >= 5 and count() < 1000)
     or (distinct(url.domain) > 3 and (sum(http.request.bytes) > 1500000.5 or max(http.request.bytes) >= 500000))
     or min(http.request.bytes) == 0",
    ));
    let (language, query, _) = only(&out, "uploads");
    assert_eq!(language, "esql");
    insta::assert_snapshot!("aggregate_several_terms_esql", query);
}

#[test]
fn three_step_sequence_with_a_schedule() {
    let out = elastic(
        "rule three_steps \"t\" {
  id = \"00000000-0000-4000-8000-000000000301\"
  severity = low
  schedule = 5m
  sequence by host.name, user.name within 2h {
    authentication where event.outcome == \"success\"
    process_start where process.name in [\"anydesk.exe\", \"a\\\"b.exe\"]
    network_connection where destination.port == 443 and not destination.ip in cidr(\"10.0.0.0/8\")
  }
}
",
    );
    let (language, query, note) = only(&out, "three_steps");
    assert_eq!(language, "eql");
    assert!(
        note.ends_with("over the last 125m (maxspan + schedule)"),
        "{note}"
    );
    insta::assert_snapshot!("sequence_three_steps_eql", query);
}

#[test]
fn sequence_key_named_differently_per_step() {
    // A mapping that names the host differently on one source: the key goes per step.
    let dir = std::env::temp_dir().join(format!("detc-elastic-seq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mapping = dir.join("elastic.yaml");
    std::fs::write(
        &mapping,
        "target: elastic\nsources:\n  usb_device:\n    fields:\n      host.name: winlog.computer_name\n",
    )
    .unwrap();
    let config = Config::load(&[], &[mapping]).expect("mapping loads");
    let out = elastic_with(
        include_str!("../fixtures/language/correlation.det"),
        &config,
    );
    let (_, query, _) = only(&out, "ipkvm_then_logon");
    insta::assert_snapshot!("sequence_per_step_keys_eql", query);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn first_seen_with_two_keys_and_a_schedule() {
    let out = elastic(
        "rule new_tool \"t\" {
  id = \"00000000-0000-4000-8000-000000000302\"
  severity = low
  schedule = 15m
  from process_start where process.name endswith \".exe\"
  first seen process.hash.sha256 by host.name, user.name lookback 14d
}
",
    );
    let (language, query, _) = only(&out, "new_tool");
    assert_eq!(language, "esql");
    insta::assert_snapshot!("first_seen_two_keys_esql", query);
}

#[test]
fn correlation_examples_compile_for_elastic_on_the_command_line_shape() {
    // JSON keys: the single-event five, plus `note` on correlation rules.
    let out = elastic(include_str!("../fixtures/language/correlation.det"));
    let json: serde_json::Value = serde_json::to_value(&out).unwrap();
    for entry in json.as_array().unwrap() {
        let mut keys: Vec<&str> = entry
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["id", "language", "note", "query", "rule", "target"]);
    }
}

#[test]
fn a_multivalued_key_reaches_stats_and_the_empty_group_is_dropped_after() {
    // ES|QL reads a comparison with a multivalued field as null, so a `k != ""` before STATS
    // would drop an event whose key is an array; STATS puts it in a group per value, as the
    // language does, and the `""` group goes after it.
    let out = elastic(&common::rule(
        "by_user",
        "from authentication\n  group by user.name window 1h\n  having count() >= 2",
    ));
    let (language, query, _) = only(&out, "by_user");
    assert_eq!(language, "esql");
    let (before, after) = query.split_once("\n| STATS ").expect("a STATS");
    assert!(
        before.ends_with("\n| WHERE user.name IS NOT NULL"),
        "{query}"
    );
    assert!(!before.contains("user.name != \"\""), "{query}");
    assert!(
        after.contains(" BY user.name\n| WHERE user.name != \"\"\n"),
        "{query}"
    );
}
