//! Correlation rules compiled to SPL: the LANGUAGE.md examples and the other forms
//! (several `having` terms, sum/min/max, multi-field keys, steps from one source), and the
//! sequences Splunk refuses.

use crate::common;
use detc::project;
use detc::targets::TargetName;

/// The SPL of every rule in `text`, by rule name; panics on any diagnostic.
fn spl(text: &str) -> Vec<(String, String)> {
    let (outputs, diags) = compile(text);
    assert!(diags.is_empty(), "{diags:#?}");
    outputs
}

fn compile(text: &str) -> (Vec<(String, String)>, Vec<detc::base::diag::Diagnostic>) {
    let config = common::config();
    let p = project::check_text("test.det", text, &config);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let (outputs, diags) = project::compile(&p, &config, &[TargetName::Splunk]);
    let outputs = outputs
        .into_iter()
        .map(|o| {
            assert_eq!(o.language.as_str(), "spl");
            (o.rule, o.query)
        })
        .collect();
    (outputs, diags)
}

#[test]
fn language_examples() {
    let out = spl(include_str!("../fixtures/language/correlation.det"));
    let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "ipkvm_then_logon",
            "laptop_farm_shared_ip",
            "new_signin_country"
        ]
    );
    for (name, query) in &out {
        insta::assert_snapshot!(format!("must_work_{name}"), query);
    }
}

#[test]
fn aggregation_forms() {
    let text = [
        common::rule(
            "or_terms",
            "from authentication where event.outcome == \"failure\"\n  \
             group by source.ip, user.name window 15m\n  \
             having count() >= 20 and (distinct(host.name) > 3 or count() > 100)",
        ),
        common::rule(
            "numeric_aggs",
            "from web_request where http.request.method == \"POST\"\n  \
             group by user.name window 1h\n  \
             having sum(http.request.bytes) > 104857600 or min(http.request.bytes) >= 1.5 \
             and max(http.request.bytes) < 2000000000",
        ),
        common::rule(
            "no_condition",
            "from authentication\n  group by user.name window 1d\n  having count() > 0",
        ),
    ]
    .concat();
    for (name, query) in spl(&text) {
        insta::assert_snapshot!(format!("aggregate_{name}"), query);
    }
}

#[test]
fn sequence_forms() {
    let text = [
        // Both steps from one source: one search, a flag per step.
        common::rule(
            "failures_then_success",
            "sequence by user.name, source.ip within 5m {\n    \
             authentication where event.outcome == \"failure\"\n    \
             authentication where event.outcome in [\"success\", \"failure\"]\n  }",
        ),
        // A key named differently on each source, and a schedule.
        common::rule(
            "vpn_then_payroll",
            "schedule = 5m\n  sequence by user.name, source.ip within 1h {\n    \
             vpn_session where source.geo.country_iso_code != \"US\"\n    \
             payroll_change where event.action == cased \"bank_account_changed\"\n  }",
        ),
    ]
    .concat();
    for (name, query) in spl(&text) {
        insta::assert_snapshot!(format!("sequence_{name}"), query);
    }
}

#[test]
fn longer_sequences_are_refused() {
    let text = common::rule(
        "three_steps",
        "sequence by host.name within 10m {\n    \
         usb_device where device.type == \"USB\"\n    \
         authentication where event.outcome == \"failure\"\n    \
         authentication where event.outcome == \"success\"\n  }",
    );
    let (outputs, diags) = compile(&text);
    assert!(outputs.is_empty());
    assert_eq!(diags.len(), 1, "{diags:#?}");
    let d = &diags[0];
    assert_eq!(d.code.id(), "E0404");
    assert_eq!(
        d.message,
        "rule `three_steps` cannot compile for splunk: Splunk cannot express a sequence of \
         more than 2 steps exactly yet"
    );
    // The span is the sequence's steps.
    let steps = &text[d.span.start..d.span.end];
    assert!(steps.starts_with("usb_device"), "{steps}");
}

#[test]
fn first_seen_forms() {
    let text = [
        common::rule(
            "multi_key",
            "schedule = 15m\n  from process_start where process.name in [\"anydesk.exe\", \"teamviewer.exe\"]\n  \
             first seen process.name by host.name, user.name lookback 14d",
        ),
        common::rule(
            "regex_condition",
            "from dns_query where dns.question.name matches \"\\\\.(zip|mov)$\"\n  \
             first seen dns.question.name by host.name lookback 7d",
        ),
    ]
    .concat();
    for (name, query) in spl(&text) {
        insta::assert_snapshot!(format!("first_seen_{name}"), query);
    }
}
