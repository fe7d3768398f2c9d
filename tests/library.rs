//! The shipped library: every rule checks clean, carries its tests, and compiles for every
//! target it deploys to; each compiled query is a reviewed snapshot.

mod common;

use detc::ir::RuleKind;
use detc::project;
use detc::targets::TargetName;
use std::path::PathBuf;

fn library() -> (project::Project, detc::project::Config) {
    let mut config = common::config();
    let files = project::discover(&[PathBuf::from("detections")]).expect("detections/ exists");
    let p = project::load(&files, &[], &mut config);
    (p, config)
}

#[test]
fn library_checks_clean_and_has_tests() {
    let (p, _) = library();
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let singles: Vec<_> = p
        .rules
        .iter()
        .filter(|r| matches!(r.kind, RuleKind::Single(_)))
        .collect();
    assert!(
        singles.len() >= 8,
        "only {} single-event rules",
        singles.len()
    );
    for r in &p.rules {
        assert!(
            r.tags.iter().any(|t| t == "dprk.it_worker"),
            "{}: tag",
            r.name
        );
        assert!(!r.attack.is_empty(), "{}: attack", r.name);
        if matches!(r.kind, RuleKind::Single(_)) {
            assert!(
                r.tests.iter().any(|t| t.expect_match),
                "{}: no `test matches`",
                r.name
            );
            assert!(
                r.tests.iter().any(|t| !t.expect_match),
                "{}: no `test misses`",
                r.name
            );
        }
    }
}

#[test]
fn every_rule_compiles_for_every_target_it_deploys_to() {
    let (p, config) = library();
    let (outputs, diags) = project::compile(&p, &config, &TargetName::ALL);
    assert!(diags.is_empty(), "{diags:#?}");
    // One SPL and one KQL query per rule; Elastic gives EQL, ES|QL or both (with a note).
    for r in &p.rules {
        let of = |t: TargetName| {
            outputs
                .iter()
                .filter(|o| o.rule == r.name && o.target == t)
                .count()
        };
        let deploys = |t: TargetName| usize::from(r.deploys_to(t.as_str()));
        assert_eq!(
            (of(TargetName::Splunk), of(TargetName::Sentinel)),
            (deploys(TargetName::Splunk), deploys(TargetName::Sentinel)),
            "{}",
            r.name
        );
        assert!(
            of(TargetName::Elastic) >= deploys(TargetName::Elastic),
            "{}",
            r.name
        );
    }
    for o in outputs {
        insta::assert_snapshot!(format!("{}.{}", o.rule, o.language.as_str()), o.query);
    }
}

#[test]
fn every_case_of_the_library_passes_locally() {
    let (p, _) = library();
    let results = detc::testing::run(&p);
    let failed: Vec<_> = results
        .iter()
        .filter(|r| r.status != detc::testing::Status::Passed)
        .map(|r| format!("{} {} ({}): {:?}", r.rule, r.case, r.location, r.reason))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    // Every rule has a case of each kind.
    for r in &p.rules {
        let has = |m: bool| {
            results
                .iter()
                .any(|c| c.rule == r.name && c.expect_match == m)
        };
        assert!(
            has(true) && has(false),
            "{}: needs a matching and a missing case",
            r.name
        );
    }
}
