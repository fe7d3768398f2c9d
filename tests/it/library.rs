//! The shipped library: every rule checks clean, carries its tests, and compiles for every
//! target it deploys to; each compiled query is a reviewed snapshot.

use crate::common;
use detc::ir::RuleKind;
use detc::project;
use detc::targets::TargetName;

use common::library;

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
    let (p, config) = library();
    let results = detc::testing::run(&p, &config.schema);
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

/// Every source entry of the shipped mappings names the vendor material it rests on.
#[test]
fn every_shipped_mapping_entry_cites_its_vendor_source() {
    let (_, config) = library();
    for (target, mapping) in &config.mappings {
        let missing: Vec<&str> = mapping
            .sources
            .iter()
            .filter(|(_, m)| m.source.as_ref().is_none_or(|s| s.all().is_empty()))
            .map(|(name, _)| name.as_str())
            .collect();
        assert!(
            missing.is_empty(),
            "{}: sources without `source:`: {missing:?}",
            target.as_str()
        );
    }
}

/// README's "What to ingest" section is the shipped mappings' own account of the library's
/// sources: where each is read on each target, and what must be built (`enrichment:`).
#[test]
fn readme_ingestion_section_matches_the_mappings() {
    let (p, config) = library();
    let mut readers: std::collections::BTreeMap<String, usize> = Default::default();
    for r in &p.rules {
        for s in detc::catalog::sources(r) {
            *readers.entry(s).or_default() += 1;
        }
    }
    let code = |s: &str| format!("`{}`", s.replace('|', "\\|"));
    let mut block = String::from(
        "| source | Splunk base search | Sentinel table | Elastic index | rules |\n| --- | --- | --- | --- | ---: |\n",
    );
    let mut needs = String::new();
    for (source, n) in &readers {
        let place = |t: TargetName| config.mappings[&t].sources.get(source);
        let splunk = place(TargetName::Splunk).and_then(|m| m.search.as_deref());
        let sentinel = place(TargetName::Sentinel).map(|m| {
            let mut tables: Vec<String> = m.table.iter().cloned().collect();
            for e in m.union.iter().flatten() {
                tables.push(e.split(" | ").next().unwrap_or(e).trim().to_string());
            }
            tables.join(", ")
        });
        let elastic = place(TargetName::Elastic).and_then(|m| m.index.as_deref());
        block.push_str(&format!(
            "| {} | {} | {} | {} | {n} |\n",
            code(source),
            splunk.map(code).unwrap_or_default(),
            sentinel.as_deref().map(code).unwrap_or_default(),
            elastic.map(code).unwrap_or_default(),
        ));
        for t in TargetName::ALL {
            for (key, how) in place(t).map(|m| &m.enrichment).into_iter().flatten() {
                let what = if key == detc::schema::WHOLE_SOURCE {
                    "the source".to_string()
                } else {
                    code(key)
                };
                let how = how.split_whitespace().collect::<Vec<_>>().join(" ");
                needs.push_str(&format!(
                    "- {} on {}, {what}: {how}\n",
                    code(source),
                    t.as_str()
                ));
            }
        }
    }
    block.push_str(
        "\nTo be built (the mappings' `enrichment:`; each rule's catalog page lists its own):\n\n",
    );
    block.push_str(&needs);
    let readme = std::fs::read_to_string("README.md").expect("README.md");
    let (begin, end) = ("<!-- ingestion:begin -->\n", "<!-- ingestion:end -->");
    let start = readme
        .find(begin)
        .expect("README has the ingestion markers")
        + begin.len();
    let stop = readme[start..].find(end).expect("end marker") + start;
    assert!(
        readme[start..stop] == block,
        "README's ingestion section differs from the mappings; it should read:\n{begin}{block}{end}"
    );
}

/// Every idea of the catalog (detections/catalog.toml) is implemented by a rule or says why
/// it cannot be; detections/README.md carries the index `detc docs` writes.
#[test]
fn every_catalog_idea_is_implemented_or_says_why_and_the_readme_shows_it() {
    let (p, config) = library();
    let ideas = config.ideas.as_ref().expect("detections/catalog.toml");
    assert_eq!(ideas.ideas.len(), 45, "the catalog's 45 ideas");
    for idea in &ideas.ideas {
        let implemented = p.rules.iter().any(|r| r.catalog.contains(&idea.id));
        assert!(
            implemented || idea.not_implemented.is_some(),
            "{}: no rule and no reason",
            idea.id
        );
    }
    let rules: Vec<&detc::ir::Rule> = p.rules.iter().collect();
    let table = detc::catalog::ideas_table(&rules, ideas, |name| format!("`{name}`"));
    let readme = std::fs::read_to_string("detections/README.md").expect("README");
    let (begin, end) = ("<!-- ideas:begin -->\n", "<!-- ideas:end -->");
    let start = readme.find(begin).expect("README has the ideas markers") + begin.len();
    let stop = readme[start..].find(end).expect("end marker") + start;
    assert!(
        readme[start..stop] == table,
        "detections/README.md's idea table differs from catalog.toml and the rules; it should read:\n{begin}{table}{end}"
    );
}
