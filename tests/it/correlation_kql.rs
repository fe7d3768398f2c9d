//! Correlation rules compiled to KQL for Microsoft Sentinel: the LANGUAGE.md examples and
//! further forms, snapshotted. Each snapshot was checked with Kusto.Language's analyzer
//! against Microsoft's table schemas (conformance/vendor/sentinel/tables/, conformance/run.sh).

use crate::common;
use detc::targets::TargetName;

/// The Sentinel query of every rule in `text`, by rule name.
fn kql(text: &str) -> Vec<(String, String)> {
    let (outputs, diags) = common::compile_text(text);
    let sentinel: Vec<_> = diags
        .iter()
        .filter(|d| d.message.contains("for sentinel"))
        .collect();
    assert!(sentinel.is_empty(), "{sentinel:#?}");
    outputs
        .into_iter()
        .filter(|o| o.target == TargetName::Sentinel)
        .map(|o| (o.rule, o.query))
        .collect()
}

fn one(name: &str, body: &str) -> String {
    let mut all = kql(&common::rule(name, body));
    assert_eq!(all.len(), 1);
    all.pop().unwrap().1
}

#[test]
fn language_examples() {
    let all = kql(include_str!("../fixtures/language/correlation.det"));
    let names: Vec<_> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "ipkvm_then_logon",
            "laptop_farm_shared_ip",
            "new_signin_country"
        ]
    );
    for (name, query) in &all {
        insta::assert_snapshot!(format!("example_{name}"), query);
    }
}

#[test]
fn aggregation_with_several_terms() {
    let q = one(
        "several_terms",
        "from web_request where http.request.method == \"POST\"
  group by user.name, source.ip window 15m
  having count() > 100 and (sum(http.request.bytes) >= 1000000 or max(http.request.bytes) > 50000)
    and min(http.request.bytes) < 10 and count() < 100000 and distinct(url.domain) <= 2",
    );
    insta::assert_snapshot!("aggregation_several_terms", q);
}

#[test]
fn aggregation_on_a_dynamic_key() {
    let q = one(
        "dynamic_key",
        "from authentication group by host.name window 1h having distinct(source.geo.city_name) > 3",
    );
    insta::assert_snapshot!("aggregation_dynamic_key", q);
}

#[test]
fn sequence_of_three_steps() {
    let q = one(
        "three_steps",
        "schedule = 5m
  sequence by user.name within 30m {
    authentication where event.outcome == \"failure\"
    authentication where event.outcome == \"success\"
    process_start where process.name == \"whoami.exe\"
  }",
    );
    insta::assert_snapshot!("sequence_three_steps", q);
}

#[test]
fn first_seen_with_two_keys() {
    let q = one(
        "two_keys",
        "schedule = 2h
  from process_start where process.name == \"ssh.exe\"
  first seen process.parent.name by host.name, user.name lookback 14d",
    );
    insta::assert_snapshot!("first_seen_two_keys", q);
}

#[test]
fn windows_are_in_the_query() {
    let all = kql(include_str!("../fixtures/language/correlation.det"));
    // Aggregation: the window. Sequence: window + schedule (default the window).
    // First seen: lookback + schedule (default 1h), then new in the last schedule. Each
    // range ends the default delay (10m) before the run.
    let (sequence, aggregation, first_seen) = (&all[0].1, &all[1].1, &all[2].1);
    assert!(
        aggregation.contains("| where TimeGenerated > ago(1450m) and TimeGenerated <= ago(10m)")
    );
    assert!(aggregation.contains("count_distinctif(") && !aggregation.contains("dcount"));
    assert_eq!(
        sequence
            .matches("| where TimeGenerated > ago(30m) and TimeGenerated <= ago(10m)")
            .count(),
        2
    );
    assert!(
        first_seen.contains("| where TimeGenerated > ago(43270m) and TimeGenerated <= ago(10m)")
    );
    assert!(first_seen.contains("minif(TimeGenerated, TimeGenerated > ago(70m))"));
    assert!(first_seen.ends_with("(isnull(LastBefore) or LastBefore < FirstSeen - 30d)"));
}
