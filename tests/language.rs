//! Every `must work` example of LANGUAGE.md parses, checks and compiles exactly as written.

mod common;

use detc::targets::{NOT_YET, TargetName};

#[test]
fn single_event_example_compiles_for_every_target() {
    let text = include_str!("fixtures/language/single_event.det");
    let (outputs, diags) = common::compile_text(text);
    assert!(diags.is_empty(), "{diags:?}");
    let languages: Vec<_> = outputs
        .iter()
        .map(|o| (o.target, o.language.as_str()))
        .collect();
    assert_eq!(
        languages,
        [
            (TargetName::Splunk, "spl"),
            (TargetName::Sentinel, "kql"),
            (TargetName::Elastic, "eql"),
            (TargetName::Elastic, "esql"),
        ]
    );
    for o in &outputs {
        insta::assert_snapshot!(
            format!("must_work_rmm_tool_started_{}", o.language.as_str()),
            &o.query
        );
    }
}

#[test]
fn correlation_examples_parse_and_check() {
    let text = include_str!("fixtures/language/correlation.det");
    let (outputs, diags) = common::compile_text(text);
    // They check clean. Each target compiles them (Elastic: tests/correlation_elastic.rs,
    // Splunk: tests/correlation_spl.rs) or, not yet, fails with a clear error.
    assert!(
        diags
            .iter()
            .all(|d| d.code == NOT_YET && d.message.contains("not supported yet"))
    );
    assert!(
        diags
            .iter()
            .all(|d| !d.message.contains("elastic") && !d.message.contains("splunk")),
        "{diags:#?}"
    );
    assert_eq!(outputs.len() + diags.len(), 9, "{diags:#?}");
    for name in [
        "laptop_farm_shared_ip",
        "ipkvm_then_logon",
        "new_signin_country",
    ] {
        assert!(
            outputs.iter().any(|o| o.rule == name)
                || diags.iter().any(|d| d.message.contains(name)),
            "{name}"
        );
    }
}
