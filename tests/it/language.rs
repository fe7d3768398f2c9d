//! Every `must work` example of LANGUAGE.md parses, checks and compiles exactly as written.

use crate::common;
use detc::targets::TargetName;

#[test]
fn single_event_example_compiles_for_every_target() {
    let text = include_str!("../fixtures/language/single_event.det");
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
fn correlation_examples_compile_for_every_target() {
    let text = include_str!("../fixtures/language/correlation.det");
    let (outputs, diags) = common::compile_text(text);
    assert!(diags.is_empty(), "{diags:#?}");
    for name in [
        "laptop_farm_shared_ip",
        "ipkvm_then_logon",
        "new_signin_country",
    ] {
        for target in [
            TargetName::Splunk,
            TargetName::Sentinel,
            TargetName::Elastic,
        ] {
            assert!(
                outputs.iter().any(|o| o.rule == name && o.target == target),
                "{name} for {target:?}"
            );
        }
    }
    // Elastic says which of its languages it leaves out, and why.
    assert!(
        outputs
            .iter()
            .filter(|o| o.target == TargetName::Elastic)
            .all(|o| o.note.is_some())
    );
}
