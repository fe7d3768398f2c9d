//! One meaning on every target: a regression test per divergence that random differential
//! testing found (issue 14), each pinning the evaluator's verdict and the exact text every
//! target prints. `conformance/differential.py` runs the same forms through real engines.

use crate::common;
use detc::eval::{Correlator, Matcher};
use detc::lower::Language;
use detc::project::{self, Output};
use serde_json::{Value, json};

fn query(outputs: &[Output], language: Language) -> String {
    outputs
        .iter()
        .find(|o| o.language == language)
        .unwrap_or_else(|| panic!("no {language:?} query"))
        .query
        .clone()
}

/// The query of `language` ends with `text`.
fn ends_with(outputs: &[Output], language: Language, text: &str) {
    let q = query(outputs, language);
    assert!(q.ends_with(text), "{language:?}: {q}");
}

fn compiled(body: &str) -> Vec<Output> {
    let (outputs, diags) = common::compile_text(&common::rule("r", body));
    assert!(diags.is_empty(), "{diags:#?}");
    outputs
}

fn matches(body: &str, event: Value) -> bool {
    let text = common::rule("r", body);
    let p = project::check_text("t.det", &text, &common::config());
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    Matcher::new(&p.rules[0])
        .expect("single-event")
        .matches(&event)
}

/// Divergence 1: `exists` on an ip field holding `""` was true in the evaluator.
#[test]
fn exists_on_an_empty_ip_is_false() {
    let body = "from payroll_change where exists source.ip";
    assert!(!matches(body, json!({"source": {"ip": ""}})));
    assert!(matches(body, json!({"source": {"ip": "10.1.2.3"}})));
    assert!(!matches(body, json!({})));
    let nobody = "from payroll_change where not exists source.ip";
    assert!(matches(nobody, json!({"source": {"ip": ""}})));
}

/// Divergence 2: `""` is absent on every target. A test `""` passes is guarded where the
/// engine sees `""` as a value; a comparison with `""` is refused with a hint.
#[test]
fn the_empty_string_is_absent_everywhere() {
    // The evaluator: `""` fails every test and passes every negation.
    let any = "from process_start where process.name like \"*\"";
    assert!(!matches(any, json!({"process": {"name": ""}})));
    assert!(matches(any, json!({"process": {"name": " "}})));
    let none = "from process_start where not process.name like \"*\"";
    assert!(matches(none, json!({"process": {"name": ""}})));
    assert!(matches(none, json!({})));
    let re = "from process_start where process.name matches 'x*'";
    assert!(!matches(re, json!({"process": {"name": ""}})));
    assert!(matches(re, json!({"process": {"name": "a"}})));

    // Each engine that sees `""` as a value guards the test; Kusto reads `""` as absent.
    let out = compiled(any);
    let pattern = r#"matches regex "\\A(?s:.)*\\z""#;
    for (language, text) in [
        (
            Language::Kql,
            format!("| where (isnotempty(FileName) and FileName {pattern})"),
        ),
        (
            Language::Eql,
            r#"((process.name != "" and process.name regex ".*"))"#.into(),
        ),
        (
            Language::Esql,
            concat!(
                r#"| WHERE (process.name != "" AND process.name RLIKE ".*")"#,
                "\n| KEEP _id, _version, _index, *"
            )
            .into(),
        ),
        (
            Language::Spl,
            r#"| where ('process_name'!="" AND match('process_name', "\\A(?s:.)*\\z"))"#.into(),
        ),
    ] {
        ends_with(&out, language, &text);
    }
    let out = compiled(none);
    for (language, text) in [
        (Language::Kql, format!("| where (isempty(FileName) or not(FileName {pattern}))")),
        (Language::Eql, r#"(not ((process.name != "" and process.name regex ".*")))"#.into()),
        (
            Language::Esql,
            concat!(r#"| WHERE NOT COALESCE((process.name != "" AND process.name RLIKE ".*"), FALSE)"#, "\n| KEEP _id, _version, _index, *").into(),
        ),
        (
            Language::Spl,
            r#"| where (isnull('process_name') OR 'process_name'=="" OR NOT (match('process_name', "\\A(?s:.)*\\z")))"#.into(),
        ),
    ] {
        ends_with(&out, language, &text);
    }

    // `exists` in a `where` clause of SPL also reads `""` as absent.
    let out = compiled("from process_start where exists process.name or process.pid > 4");
    assert!(
        query(&out, Language::Spl)
            .contains("((isnotnull('process_name') AND 'process_name'!=\"\") OR 'process_id'>4)"),
        "{}",
        query(&out, Language::Spl)
    );

    // A comparison with `""` never holds: refused, with the test to write instead.
    for (cond, hint) in [
        ("process.name == \"\"", "not exists process.name"),
        ("process.name in [\"a\", \"\"]", "not exists process.name"),
        ("process.name like \"\"", "not exists process.name"),
        ("process.name != cased \"\"", "`exists process.name`"),
        ("process.name not in [\"\"]", "`exists process.name`"),
    ] {
        let diags = common::check_text(&common::rule(
            "r",
            &format!("from process_start where {cond}"),
        ));
        assert_eq!(diags.len(), 1, "{cond}: {diags:#?}");
        assert_eq!(diags[0].code.id(), "E0308", "{cond}");
        assert!(
            diags[0].hint.as_deref().unwrap_or("").contains(hint),
            "{cond}: {:?}",
            diags[0].hint
        );
    }
}

/// Divergence 3: Elasticsearch rewrites `not (f <= 0)` into `f > 0`, false for an absent
/// field; the guard keeps the language's meaning.
#[test]
fn eql_negated_comparison_holds_for_an_absent_field() {
    let body = "from payroll_change where not hr.tenure_days <= 0";
    assert!(matches(body, json!({})));
    assert!(!matches(body, json!({"hr": {"tenure_days": -3}})));
    let out = compiled(body);
    assert!(
        query(&out, Language::Eql)
            .ends_with("(hr.tenure_days == null or not (hr.tenure_days <= 0))"),
        "{}",
        query(&out, Language::Eql)
    );
    // The other languages keep their null-safe negations.
    for (language, text) in [
        (
            Language::Esql,
            "| WHERE NOT COALESCE(hr.tenure_days <= 0, FALSE)\n| KEEP _id, _version, _index, *",
        ),
        (
            Language::Kql,
            "| where not(coalesce(TenureDays_d <= 0, false))",
        ),
        (
            Language::Spl,
            "| where (isnull('tenure_days') OR NOT ('tenure_days'<=0))",
        ),
    ] {
        ends_with(&out, language, text);
    }
    let out = compiled("from payroll_change where payroll.payee.matches_legal_name != true");
    assert!(
        query(&out, Language::Eql).ends_with(
            "(payroll.payee.matches_legal_name == null or not (payroll.payee.matches_legal_name == true))"
        ),
        "{}",
        query(&out, Language::Eql)
    );
}

const SEQUENCE: &str = "sequence by user.name within 5m {\n    process_start where process.name == \"a.exe\"\n    authentication where event.outcome == \"success\"\n  }";

/// Divergence 4: an EQL sequence joined two events that both lacked the `by` key.
#[test]
fn eql_sequence_steps_need_their_key() {
    let out = compiled(SEQUENCE);
    let eql = query(&out, Language::Eql);
    assert!(
        eql.contains(
            "[process where event.type == \"start\" and (process.name in~ (\"a.exe\")) and user.name != null and user.name != \"\"]"
        ),
        "{eql}"
    );
    assert_eq!(
        eql.matches("user.name != null and user.name != \"\"")
            .count(),
        2,
        "{eql}"
    );
    let spl = query(&out, Language::Spl);
    assert!(
        spl.contains("| where isnotnull('user') AND 'user'!=\"\" | sort 0 _time"),
        "{spl}"
    );

    // The evaluator joins no events without the key, nor with `""` as the key.
    let text = common::rule("r", SEQUENCE);
    let p = project::check_text("t.det", &text, &common::config());
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let rule = &p.rules[0];
    for user in [json!(null), json!(""), json!("jdoe")] {
        let mut c = Correlator::new(rule).expect("correlation");
        let events = [
            json!({"event.source": "process_start", "process.name": "a.exe", "user.name": user}),
            json!({"event.source": "authentication", "event.outcome": "success", "user.name": user}),
        ];
        let alerts: usize = events
            .iter()
            .enumerate()
            .map(|(i, e)| c.push(e, 60_000 * i as i64, i).len())
            .sum();
        assert_eq!(alerts, usize::from(user == "jdoe"), "user.name = {user}");
    }
}

/// Divergence 5: ES|QL read every log of a shared index pattern (`logs-*`) where EQL read
/// only the source's event category. The category test is membership, as EQL's is: Okta
/// files a sign-in under `["authentication", "session"]`, and an ES|QL `==` on a field with
/// two values is null (vendor_elastic.py holds Okta's sample event).
#[test]
fn esql_selects_the_eql_category() {
    let out = compiled(
        "from authentication where event.outcome == \"success\"\n  group by source.ip window 1h\n  having count() >= 3",
    );
    let esql = query(&out, Language::Esql);
    assert!(
        esql.starts_with("FROM logs-*\n| WHERE @timestamp > NOW() - 70 minutes AND @timestamp <= NOW() - 10 minutes\n| WHERE CONCAT(\",\", MV_CONCAT(event.category, \",\"), \",\") LIKE \"*,authentication,*\"\n"),
        "{esql}"
    );
    let out = compiled("from authentication where event.outcome == \"success\"");
    assert!(query(&out, Language::Eql).starts_with("authentication where "));
    assert!(
        query(&out, Language::Esql).contains("| WHERE CONCAT(\",\", MV_CONCAT(event.category, \",\"), \",\") LIKE \"*,authentication,*\"\n"),
        "{}",
        query(&out, Language::Esql)
    );
    // `distinct` does not count `""` as a value.
    let out = compiled(
        "from authentication where event.outcome == \"success\"\n  group by source.ip window 1h\n  having distinct(user.name) >= 3",
    );
    assert!(
        query(&out, Language::Esql)
            .contains("COUNT_DISTINCT(CASE(user.name == \"\", NULL, user.name), 40000)"),
        "{}",
        query(&out, Language::Esql)
    );
}

/// Divergence 6: a Splunk sequence returns its last step's rows, so its alert fields are
/// the names those rows carry, not the first step's.
#[test]
fn splunk_sequence_alert_fields_name_the_returned_rows() {
    let text = common::rule(
        "r",
        "sequence by user.name within 5m {\n    directory_audit where event.outcome == \"success\"\n    authentication where event.outcome == \"success\"\n  }",
    );
    let config = common::config();
    let p = project::check_text("t.det", &text, &config);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let target = detc::targets::TargetName::Splunk;
    let mapping = &config.mappings[&target];
    let rule = &p.rules[0];
    let key = match &rule.kind {
        detc::ir::RuleKind::Sequence { by, .. } => by[0].clone(),
        _ => unreachable!(),
    };
    let column = target
        .target()
        .result_field(rule, mapping, &key)
        .expect("column");
    let spl = target.target().compile(rule, mapping).expect("compiles")[0]
        .query
        .clone();
    // directory_audit names the user `src_user`, authentication `user`: the rows carry
    // the common name.
    assert_eq!(column, "detc_key1");
    assert!(
        spl.contains(&format!("isnotnull('{column}')")),
        "{column} not a key of {spl}"
    );
}

fn refusals(text: &str) -> Vec<(String, String)> {
    let (_, diags) = common::compile_text(&common::rule("r", text));
    diags
        .iter()
        .map(|d| (d.code.to_string(), d.message.clone()))
        .collect()
}

/// Found by the generator: an EQL step names no index, so a sequence over two sources that
/// share an event category let one source's events fill the other's step.
#[test]
fn eql_sequence_steps_must_tell_their_sources_apart() {
    let refused = refusals(
        "sequence by user.name within 5m {\n    directory_audit where event.outcome == \"success\"\n    hr_record where event.action == \"hire\"\n  }",
    );
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0].0, "E0404");
    assert!(
        refused[0].1.contains("elastic")
            && refused[0]
                .1
                .contains("`directory_audit` events from `hr_record` events"),
        "{refused:#?}"
    );
    // Categories (or filters) that differ set the steps apart.
    assert!(refusals(SEQUENCE).is_empty());
}

/// Found by the generator: two sources read from one table (`linux_auth_log` is the auth
/// facilities of `Syslog`) overlap, so a step took the other source's events.
#[test]
fn sequence_steps_from_overlapping_sources_are_refused() {
    let refused = refusals(
        "sequence by message within 10m {\n    linux_auth_log where message != \"x\"\n    syslog where not exists host.name\n  }",
    );
    let targets: Vec<&str> = refused
        .iter()
        .filter(|(code, _)| code == "E0404")
        .filter_map(|(_, m)| ["sentinel", "elastic"].into_iter().find(|t| m.contains(t)))
        .collect();
    assert_eq!(targets, ["sentinel", "elastic"], "{refused:#?}");
}

/// Found by the generator: Kusto's `max` of a group without numbers is null, and Kusto's
/// `null != 9` holds, so `having max(f) != 9` fired on a group with no value.
#[test]
fn kql_min_and_max_terms_need_a_value() {
    let out = compiled(
        "from network_connection where exists network.transport\n  group by host.name window 30s\n  having max(source.port) != 9 or min(source.port) < 2",
    );
    let kql = query(&out, Language::Kql);
    assert!(
        kql.ends_with(
            "| where (isnotnull(max_source_port) and max_source_port != 9) or (isnotnull(min_source_port) and min_source_port < 2)"
        ),
        "{kql}"
    );
}

/// Found by the generator: each sequence step computed the Sentinel columns that any step
/// reads, so a `SecurityEvent` step parsed a Sysmon field out of its XML (and an engine
/// without `column_ifexists` failed on it).
#[test]
fn sequence_steps_compute_only_their_own_columns() {
    let text = common::rule(
        "r",
        "sequence by process.executable within 10m {\n    sysmon_file_create_stream_hash where winlog.event_data.CreationUtcTime matches \"^x\"\n    windows_security where source.domain contains \"corp\"\n  }",
    );
    let config = common::config();
    let p = project::check_text("t.det", &text, &config);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let target = detc::targets::TargetName::Sentinel;
    let kql = target
        .target()
        .compile(&p.rules[0], &config.mappings[&target])
        .expect("compiles")[0]
        .query
        .clone();
    let second = &kql[kql.find("| join").expect("a join")..];
    assert!(!second.contains("CreationUtcTime"), "{kql}");
}
