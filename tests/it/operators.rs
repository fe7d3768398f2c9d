//! The operator × target table: every form of LANGUAGE.md, awkward values and `cased`,
//! compiled for every language, in one snapshot per language so a change shows as a diff.
//! The forms live in `tests/fixtures/operators.det` (one rule each, titled with its
//! condition), which the conformance suite also feeds to the vendors' parsers.

use crate::common;
use detc::lower::Language;
use detc::project;
use detc::targets::TargetName;

fn table(language: Language) -> String {
    let text = include_str!("../fixtures/operators.det");
    let config = common::config();
    let p = project::check_text("tests/fixtures/operators.det", text, &config);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    assert_eq!(p.rules.len(), 130);
    let (outputs, diags) = project::compile(&p, &config, &TargetName::ALL);
    let mut out = String::new();
    for rule in &p.rules {
        out.push_str(&format!("## {}\n", rule.title));
        match outputs
            .iter()
            .find(|o| o.rule == rule.name && o.language == language)
        {
            Some(o) => out.push_str(&format!("{}\n\n", o.query)),
            None => {
                let target = match language {
                    Language::Spl => TargetName::Splunk,
                    Language::Kql => TargetName::Sentinel,
                    Language::Eql | Language::Esql => TargetName::Elastic,
                };
                if !rule.deploys_to(target.as_str()) {
                    out.push_str("not compiled: the rule's `targets` leave this target out\n\n");
                    continue;
                }
                // The target's other language says why it leaves this one out.
                if let Some(note) = outputs
                    .iter()
                    .find(|o| o.rule == rule.name && o.target == target)
                    .and_then(|o| o.note.as_ref())
                {
                    out.push_str(&format!("not compiled: {note}\n\n"));
                    continue;
                }
                let why: Vec<_> = diags
                    .iter()
                    .filter(|d| d.message.contains(&rule.name))
                    .map(|d| &d.message)
                    .collect();
                out.push_str(&format!("error: {why:?}\n\n"));
            }
        }
    }
    out
}

#[test]
fn spl_table() {
    insta::assert_snapshot!(table(Language::Spl));
}

#[test]
fn kql_table() {
    insta::assert_snapshot!(table(Language::Kql));
}

#[test]
fn eql_table() {
    insta::assert_snapshot!(table(Language::Eql));
}

#[test]
fn esql_table() {
    insta::assert_snapshot!(table(Language::Esql));
}
