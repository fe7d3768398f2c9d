//! Comparisons across the steps of a sequence (`SOURCE as NAME` ... `f != NAME.g`): the
//! check, the evaluator's meaning, Sentinel's rendering and the other targets' refusals.

use crate::common;
use detc::eval::Correlator;
use detc::project;
use detc::targets::TargetName;
use serde_json::{Value, json};

/// A new hire signs in from a country other than the one HR hired them to work from.
const HIRE_THEN_FOREIGN_SIGNIN: &str = "sequence by user.name within 7d {
    hr_record as hire where event.action == \"hire\"
    authentication where event.outcome == \"success\"
      and source.geo.country_iso_code != hire.hr.work_country_iso_code
  }";

fn rule(body: &str) -> detc::ir::Rule {
    let text = common::rule("linked", body);
    let p = project::check_text("t.det", &text, &common::config());
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    p.rules[0].clone()
}

/// Each alert's events (their places in `events`), fed a minute apart.
fn alerts(rule: &detc::ir::Rule, events: &[Value]) -> Vec<Vec<usize>> {
    let mut c = Correlator::new(rule).expect("correlation");
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        out.extend(
            c.push(e, 60_000 * i as i64, i)
                .into_iter()
                .map(|a| a.events().to_vec()),
        );
    }
    out.extend(c.finish().into_iter().map(|a| a.events().to_vec()));
    out
}

fn hire(user: &str, country: &str) -> Value {
    json!({"event.source": "hr_record", "event.action": "hire", "user.name": user,
           "hr.work_country_iso_code": country})
}

fn signin(user: &str, country: Option<&str>) -> Value {
    let mut e = json!({"event.source": "authentication", "event.outcome": "success",
                       "user.name": user});
    if let Some(c) = country {
        e["source.geo.country_iso_code"] = json!(c);
    }
    e
}

#[test]
fn a_step_compares_with_the_earlier_step_s_event() {
    let r = rule(HIRE_THEN_FOREIGN_SIGNIN);
    // From the work country (any case): nothing; then from another: the hire and that one.
    let got = alerts(
        &r,
        &[
            hire("jdoe", "US"),
            signin("jdoe", Some("us")),
            signin("jdoe", Some("KP")),
        ],
    );
    assert_eq!(got, vec![vec![0, 2]]);
    // The sign-in that failed the comparison did not use the hire up; another key's hire
    // never compares.
    assert!(alerts(&r, &[hire("jdoe", "US"), signin("jdoe", Some("US"))]).is_empty());
    assert!(alerts(&r, &[hire("asmith", "US"), signin("jdoe", Some("KP"))]).is_empty());
    // `!=` holds when either side is absent, as for two fields of one event.
    assert_eq!(
        alerts(&r, &[hire("jdoe", "US"), signin("jdoe", None)]),
        vec![vec![0, 1]]
    );
}

#[test]
fn the_newest_earlier_event_that_compares_is_used_with_the_older_ones() {
    let r = rule(
        "sequence by user.name within 1h {
    authentication as console where logon.type == \"interactive\"
    authentication where logon.type == \"non_interactive\"
      and source.geo.country_iso_code != console.source.geo.country_iso_code
  }",
    );
    let at = |logon: &str, country: &str| {
        let mut e = signin("jdoe", Some(country));
        e["logon.type"] = json!(logon);
        e
    };
    // Consoles in KP and the US; a token used from the US compares false with the newest
    // console (US) and true with the older one (KP).
    let events = [
        at("interactive", "KP"),
        at("interactive", "US"),
        at("non_interactive", "US"),
    ];
    assert_eq!(alerts(&r, &events), vec![vec![0, 2]]);
    // The KP console is used up: another US token finds only the US console; one from
    // Canada completes it.
    let mut more = events.to_vec();
    more.push(at("non_interactive", "US"));
    more.push(at("non_interactive", "CA"));
    assert_eq!(alerts(&r, &more), vec![vec![0, 2], vec![1, 4]]);
}

#[test]
fn the_window_bounds_the_earlier_events() {
    let r = rule(
        "sequence by user.name within 2m {
    hr_record as hire where event.action == \"hire\"
    authentication where event.outcome == \"success\"
      and source.geo.country_iso_code != hire.hr.work_country_iso_code
  }",
    );
    let e = [
        hire("jdoe", "US"),
        signin("jdoe", Some("US")),
        signin("jdoe", Some("US")),
        signin("jdoe", Some("KP")),
    ];
    // The KP sign-in is 3 minutes after the hire.
    assert!(alerts(&r, &e).is_empty());
    assert_eq!(
        alerts(
            &r,
            &e[..2].iter().chain(&e[3..]).cloned().collect::<Vec<_>>()
        ),
        vec![vec![0, 2]]
    );
}

#[test]
fn an_absence_counts_only_followers_that_compare() {
    let r = rule(
        "sequence by user.name within 2m {
    hr_record as hire where event.action == \"hire\"
    not authentication where event.outcome == \"success\"
      and source.geo.country_iso_code == hire.hr.work_country_iso_code
  }",
    );
    // Only foreign sign-ins follow the hire: it fires once its window has passed.
    let e = [
        hire("jdoe", "US"),
        signin("jdoe", Some("KP")),
        signin("x", None),
        signin("x", None),
    ];
    assert_eq!(alerts(&r, &e), vec![vec![0]]);
    // One from the work country follows it: nothing.
    let e = [
        hire("jdoe", "US"),
        signin("jdoe", Some("us")),
        signin("x", None),
        signin("x", None),
    ];
    assert!(alerts(&r, &e).is_empty());
}

#[test]
fn numbers_compare_in_order_across_steps() {
    let r = rule(
        "sequence by user.name within 1h {
    payroll_change as before where event.action == \"bank_account_changed\"
    payroll_change where event.action == \"bank_account_changed\"
      and hr.tenure_days < before.hr.tenure_days
  }",
    );
    let change = |days: i64| {
        json!({"event.source": "payroll_change", "event.action": "bank_account_changed",
               "user.name": "jdoe", "hr.tenure_days": days})
    };
    assert_eq!(alerts(&r, &[change(10), change(5)]), vec![vec![0, 1]]);
    assert!(alerts(&r, &[change(5), change(10)]).is_empty());
}

fn codes(body: &str) -> Vec<(String, String)> {
    let text = common::rule("bad", body);
    common::check_text(&text)
        .into_iter()
        .map(|d| {
            (
                d.code.id().to_string(),
                text[d.span.start..d.span.end].to_string(),
            )
        })
        .collect()
}

#[test]
fn comparisons_across_steps_stand_where_they_mean_one_thing() {
    // Under `or`.
    let got = codes(
        "sequence by user.name within 1h {
    hr_record as hire where event.action == \"hire\"
    authentication where event.outcome == \"success\"
      or source.geo.country_iso_code != hire.hr.work_country_iso_code
  }",
    );
    assert_eq!(
        got,
        vec![("E0326".into(), "hire.hr.work_country_iso_code".into())]
    );
    // A later step, the step itself, and a bare step name.
    let got = codes(
        "sequence by user.name within 1h {
    hr_record as hire where hr.work_country_iso_code != signin.source.geo.country_iso_code
    authentication as signin where source.geo.country_iso_code != signin.source.geo.country_iso_code
      and user.name == hire
  }",
    );
    let ids: Vec<&str> = got.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(ids, ["E0326", "E0326", "E0326"], "{got:?}");
    // Three steps.
    let got = codes(
        "sequence by user.name within 1h {
    hr_record as hire where event.action == \"hire\"
    authentication where source.geo.country_iso_code != hire.hr.work_country_iso_code
    authentication where event.outcome == \"success\"
  }",
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "E0326");
    // Types and fields are the earlier step's source's.
    let got = codes(
        "sequence by user.name within 1h {
    hr_record as hire where event.action == \"hire\"
    authentication where source.ip == hire.hr.work_country_iso_code
      and source.geo.country_iso_code == hire.source.geo.country_iso_code
  }",
    );
    let ids: Vec<&str> = got.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(ids, ["E0310", "E0302"], "{got:?}");
}

#[test]
fn step_names_are_unambiguous() {
    let got = codes(
        "sequence by user.name within 1h {
    authentication as user where event.outcome == \"success\"
    authentication as user where source.ip != user.source.ip
  }",
    );
    let ids: Vec<&str> = got.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(ids, ["E0327", "E0327"], "{got:?}");
    assert_eq!(got[0].1, "user");
}

#[test]
fn sentinel_joins_and_compares_splunk_and_elastic_refuse() {
    let text = common::rule("linked", HIRE_THEN_FOREIGN_SIGNIN);
    let config = common::config();
    let p = project::check_text("t.det", &text, &config);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let (out, diags) = project::compile(&p, &config, &[TargetName::Sentinel]);
    assert!(diags.is_empty(), "{diags:#?}");
    let kql = &out[0].query;
    assert!(
        kql.contains("| project user_name, T1 = TimeGenerated, hr_work_country_iso_code_1 = WorkCountryIso_s\n"),
        "{kql}"
    );
    assert!(
        kql.contains("and not(coalesce((isnotempty(source_geo_country_iso_code_2) and source_geo_country_iso_code_2 =~ hr_work_country_iso_code_1), false))\n"),
        "{kql}"
    );
    insta::assert_snapshot!("sequence_step_links_kql", kql);
    for target in [TargetName::Splunk, TargetName::Elastic] {
        let (out, diags) = project::compile(&p, &config, &[target]);
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0].code.id(), "E0404");
        let span = &text[diags[0].span.start..diags[0].span.end];
        assert_eq!(
            span,
            "source.geo.country_iso_code != hire.hr.work_country_iso_code"
        );
    }
}

#[test]
fn sentinel_absence_counts_the_followers_that_compare() {
    let (out, diags) = common::compile_text(&common::rule(
        "linked",
        "sequence by user.name within 7d {
    hr_record as hire where event.action == \"hire\"
    not authentication where event.outcome == \"success\"
      and source.geo.country_iso_code == hire.hr.work_country_iso_code
  }",
    ));
    let kql = out
        .iter()
        .find(|o| o.target.as_str() == "sentinel")
        .map(|o| o.query.clone())
        .unwrap_or_else(|| panic!("{diags:#?}"));
    assert!(
        kql.contains("countif(T2 > T1 and T2 - T1 <= 7d and (isnotempty(source_geo_country_iso_code_2) and source_geo_country_iso_code_2 =~ hr_work_country_iso_code_1)) by user_name, StartTime = T1, hr_work_country_iso_code_1\n"),
        "{kql}"
    );
}

#[test]
fn fmt_keeps_step_names() {
    let text = common::rule("linked", HIRE_THEN_FOREIGN_SIGNIN);
    let formatted = detc::syntax::print::format_text("t.det", &text).expect("formats");
    assert!(
        formatted.contains("    hr_record as hire where event.action == \"hire\"\n"),
        "{formatted}"
    );
    assert!(
        formatted.contains("!= hire.hr.work_country_iso_code\n"),
        "{formatted}"
    );
}
