//! Field-to-field comparisons (`where a != b`, issue 20): parsing and printing, the check
//! errors, the evaluator's meaning (absent, `""`, case, `cased`, arrays, types) and the
//! exact text, or the refusal, of every target.

use crate::common;
use detc::base::diag::{Diagnostic, line_col};
use detc::eval::Matcher;
use detc::lower::Language;
use detc::project::{self, Config, Output};
use detc::syntax::ast::{Expr, Item, ValueKind};
use detc::syntax::{self, print};
use detc::targets::TargetName;
use serde_json::{Value, json};

fn rule(body: &str) -> String {
    common::rule("f2f", body)
}

fn matcher_with(body: &str, config: &Config) -> Matcher {
    let p = project::check_text("t.det", &rule(body), config);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    Matcher::new(&p.rules[0]).expect("single-event")
}

fn matches(body: &str, event: Value) -> bool {
    matcher_with(body, &common::config()).matches(&event)
}

fn query(outputs: &[Output], target: TargetName, language: Language) -> &str {
    &outputs
        .iter()
        .find(|o| o.target == target && o.language == language)
        .unwrap_or_else(|| panic!("no {target:?} {language:?}: {outputs:#?}"))
        .query
}

/// Compile a rule that checks clean: its queries and the targets' refusals.
fn compile(body: &str) -> (Vec<Output>, Vec<Diagnostic>) {
    let text = rule(body);
    let config = common::config();
    let p = project::check_text("t.det", &text, &config);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    project::compile(&p, &config, &TargetName::ALL)
}

#[test]
fn a_bare_field_on_the_right_is_a_field_and_prints_back() {
    let text = rule("from process_start\n  where process.name != process.pe.original_file_name");
    let file = syntax::parse("t.det", &text).expect("parses");
    let Item::Rule(r) = &file.items[0] else {
        panic!("a rule")
    };
    let detc::syntax::ast::Body::Single(q) = &r.body else {
        panic!("single")
    };
    let Some(Expr::Compare(c)) = &q.condition else {
        panic!("a comparison")
    };
    let v = c.value.as_ref().expect("a value");
    assert_eq!(
        v.kind,
        ValueKind::Field("process.pe.original_file_name".into())
    );
    assert_eq!(
        &text[v.span.start..v.span.end],
        "process.pe.original_file_name"
    );
    // A word that is no field path stays a word (and is refused as a string value).
    let word = rule("from process_start\n  where process.name == T1078.004");
    let diags = common::check_text(&word);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].code.id(), "E0304");

    // `detc fmt` prints the field bare, `cased` before it, and is idempotent.
    let messy = rule(
        "from process_start\n  where process.pid>=process.parent.pid and  process.name ==  cased process.pe.original_file_name",
    );
    let once = print::format_text("t.det", &messy).expect("formats");
    assert!(
        once.contains(
            "where process.pid >= process.parent.pid\n    and process.name == cased process.pe.original_file_name"
        ),
        "{once}"
    );
    assert_eq!(print::format_text("t.det", &once).expect("formats"), once);
}

#[test]
fn check_errors_say_what_to_write() {
    let hint = |body: &str, code: &str| -> String {
        let diags = common::check_text(&rule(body));
        let d = diags
            .iter()
            .find(|d| d.code.id() == code)
            .unwrap_or_else(|| panic!("{code} for {body}: {diags:#?}"));
        d.hint.clone().unwrap_or_default()
    };
    assert_eq!(
        hint(
            "from process_start\n  where process.command_line contains process.name",
            "E0309"
        ),
        "only `==`, `!=`, `<`, `<=`, `>`, `>=` compare two fields; to compare with the text, quote it: `\"process.name\"`"
    );
    assert_eq!(
        hint(
            "from process_start\n  where process.pid != process.name",
            "E0310"
        ),
        "compare each field with a value, or pick two fields of one type"
    );
    assert_eq!(
        hint(
            "from process_start\n  where process.name != process.name",
            "E0311"
        ),
        "write `not exists process.name`, or name the other field you meant"
    );
    assert_eq!(
        hint(
            "from process_start\n  where process.pid < process.pid",
            "E0311"
        ),
        "it never holds; remove it, or name the other field you meant"
    );
    assert_eq!(
        hint(
            "from process_start\n  where process.name == process.pe.original_file_nme",
            "E0302"
        ),
        "did you mean `process.pe.original_file_name`? Or, to compare with the text, quote it: `\"process.pe.original_file_nme\"`"
    );
    assert_eq!(
        hint(
            "from process_start\n  where process.name == anydesk",
            "E0302"
        ),
        "to compare with the text, quote it: `\"anydesk\"`"
    );
    // Both fields of another source: the other field is looked up in the rule's source.
    let diags = common::check_text(&rule(
        "from process_start\n  where process.name == destination.domain",
    ));
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].code.id(), "E0302");
    // Every new code explains itself.
    for code in ["E0309", "E0310", "E0311"] {
        let c = detc::base::Code::parse(code).expect("known code");
        assert!(c.explain().contains("Example"), "{code}");
    }
}

#[test]
fn absent_empty_and_case() {
    let eq = "from process_start\n  where process.name == process.pe.original_file_name";
    let ne = "from process_start\n  where process.name != process.pe.original_file_name";
    let ev = |a: Value, b: Value| {
        let mut e = serde_json::Map::new();
        if !a.is_null() || b.is_null() {
            e.insert("process.name".into(), a);
        }
        e.insert("process.pe.original_file_name".into(), b);
        Value::Object(e)
    };
    // Case-insensitive by default, also for non-ASCII letters.
    assert!(matches(eq, ev(json!("PsExec.exe"), json!("psexec.EXE"))));
    assert!(matches(eq, ev(json!("ÉLODIE.exe"), json!("élodie.exe"))));
    assert!(!matches(eq, ev(json!("a.exe"), json!("b.exe"))));
    assert!(matches(ne, ev(json!("a.exe"), json!("b.exe"))));
    // Absent, null and "" fail `==`, so `!=` holds.
    for (a, b) in [
        (json!(null), json!("x")),
        (json!("x"), json!(null)),
        (json!(""), json!("")),
        (json!(""), json!("x")),
    ] {
        assert!(!matches(eq, ev(a.clone(), b.clone())), "{a} {b}");
        assert!(matches(ne, ev(a.clone(), b.clone())), "{a} {b}");
    }
    assert!(!matches(eq, json!({})));
    assert!(matches(ne, json!({})));
    // `cased` compares exactly.
    let cased = "from process_start\n  where process.name == cased process.pe.original_file_name";
    assert!(!matches(cased, ev(json!("A.exe"), json!("a.exe"))));
    assert!(matches(cased, ev(json!("a.exe"), json!("a.exe"))));
    // Whitespace is part of the value.
    assert!(!matches(eq, ev(json!("a "), json!("a"))));
}

#[test]
fn arrays_hold_one_value_or_fail() {
    let eq = "from process_start\n  where process.name == process.pe.original_file_name";
    let ne = "from process_start\n  where process.name != process.pe.original_file_name";
    let ev = |a: Value, b: Value| json!({"process": {"name": a, "pe": {"original_file_name": b}}});
    // One element, or repeats of one value: that value.
    assert!(matches(eq, ev(json!(["a.exe"]), json!("A.EXE"))));
    assert!(matches(
        eq,
        ev(json!(["a.exe", "a.exe", null]), json!("a.exe"))
    ));
    // Several different values (even only by case) fail, so `!=` holds.
    assert!(!matches(eq, ev(json!(["a.exe", "b.exe"]), json!("a.exe"))));
    assert!(!matches(eq, ev(json!(["a.exe", "A.exe"]), json!("a.exe"))));
    assert!(matches(ne, ev(json!(["a.exe", "b.exe"]), json!("a.exe"))));
    assert!(!matches(eq, ev(json!([]), json!([]))));
}

#[test]
fn numbers_compare_as_numbers() {
    let gt = "from process_start\n  where process.pid > process.parent.pid";
    let le = "from process_start\n  where not process.pid > process.parent.pid";
    let ev = |a: Value, b: Value| json!({"process": {"pid": a, "parent": {"pid": b}}});
    assert!(matches(gt, ev(json!(10), json!(9))));
    assert!(!matches(gt, ev(json!(9), json!(10))));
    // As numbers, not as text ("10" < "9" as text), also when written as text.
    assert!(matches(gt, ev(json!("10"), json!(9))));
    assert!(matches(gt, ev(json!(10.5), json!("10"))));
    // Not a number, absent: the test fails and its negation holds.
    assert!(!matches(gt, ev(json!("ten"), json!(9))));
    assert!(matches(le, ev(json!("ten"), json!(9))));
    assert!(matches(le, json!({"process": {"pid": 4}})));
    // Repeats of one number are that number; two numbers fail.
    assert!(matches(gt, ev(json!([10, 10.0]), json!(9))));
    assert!(!matches(gt, ev(json!([10, 11]), json!(9))));
    for (op, a, b, want) in [
        ("==", 4, 4, true),
        ("==", 4, 5, false),
        ("<", 4, 5, true),
        ("<=", 5, 5, true),
        (">=", 4, 5, false),
        ("!=", 4, 5, true),
    ] {
        let body = format!("from process_start\n  where process.pid {op} process.parent.pid");
        assert_eq!(matches(&body, ev(json!(a), json!(b))), want, "{a} {op} {b}");
    }
}

#[test]
fn ips_compare_as_addresses() {
    let eq = "from network_connection\n  where source.ip == destination.ip";
    let ev = |a: &str, b: &str| json!({"source": {"ip": a}, "destination": {"ip": b}});
    assert!(matches(eq, ev("10.1.2.3", "10.1.2.3")));
    assert!(matches(eq, ev("2001:DB8::1", "2001:db8:0:0::1")));
    assert!(matches(eq, ev("::ffff:10.1.2.3", "10.1.2.3")));
    assert!(!matches(eq, ev("10.1.2.3", "10.1.2.4")));
    assert!(
        !matches(eq, ev("10.0.0.0/8", "10.0.0.0/8")),
        "a network is no address"
    );
    assert!(!matches(eq, ev("x", "x")));
}

#[test]
fn booleans_compare_as_booleans() {
    let dir = tempfile::tempdir().expect("tmp");
    let schema = dir.path().join("schema.yaml");
    std::fs::write(
        &schema,
        "sources:\n  authentication:\n    fields:\n      device.trusted: boolean\n",
    )
    .expect("write");
    let config = Config::load(&[schema], &[]).expect("loads");
    let m = matcher_with(
        "from authentication\n  where device.managed == device.trusted",
        &config,
    );
    let ev = |a: Value, b: Value| json!({"device": {"managed": a, "trusted": b}});
    assert!(m.matches(&ev(json!(true), json!(true))));
    assert!(m.matches(&ev(json!("TRUE"), json!(true))));
    assert!(!m.matches(&ev(json!(true), json!(false))));
    assert!(!m.matches(&ev(json!("yes"), json!("yes"))));
    assert!(!m.matches(&ev(json!(null), json!(null))));
}

#[test]
fn every_target_renders_a_string_comparison() {
    let (outputs, diags) =
        compile("from process_start\n  where process.name != process.pe.original_file_name");
    // Every language compiles it (Elastic: ES|QL only).
    assert_eq!(
        diags.iter().map(|d| d.code.id()).collect::<Vec<_>>(),
        Vec::<&str>::new()
    );
    assert_eq!(
        query(&outputs, TargetName::Splunk, Language::Spl),
        "tag=process tag=report | where (isnull('process_name') OR mvdedup('process_name')==\"\" OR mvcount(mvdedup('process_name'))!=1 OR isnull('original_file_name') OR mvdedup('original_file_name')==\"\" OR mvcount(mvdedup('original_file_name'))!=1 OR NOT (lower(mvdedup('process_name'))==lower(mvdedup('original_file_name'))))"
    );
    assert_eq!(
        query(&outputs, TargetName::Sentinel, Language::Kql),
        "DeviceProcessEvents\n| where not(coalesce((isnotempty(FileName) and FileName =~ ProcessVersionInfoOriginalFileName), false))"
    );
    assert_eq!(
        query(&outputs, TargetName::Elastic, Language::Esql),
        "FROM logs-endpoint.events.process-* METADATA _id, _version, _index\n| WHERE CONCAT(\",\", MV_CONCAT(event.category, \",\"), \",\") LIKE \"*,process,*\"\n| WHERE CONCAT(\",\", MV_CONCAT(event.type, \",\"), \",\") LIKE \"*,start,*\"\n| WHERE NOT COALESCE((process.name != \"\" AND TO_LOWER(MV_DEDUPE(process.name)) == TO_LOWER(MV_DEDUPE(process.pe.original_file_name))), FALSE)\n| KEEP _id, _version, _index, *"
    );
    // EQL cannot compare two fields: Elastic gives ES|QL only, and says why.
    let elastic: Vec<&Output> = outputs
        .iter()
        .filter(|o| o.target == TargetName::Elastic)
        .collect();
    assert_eq!(elastic.len(), 1);
    assert_eq!(
        elastic[0].note.as_deref(),
        Some("EQL cannot compare two fields; ES|QL only")
    );

    let (cased, _) =
        compile("from process_start\n  where process.name == cased process.pe.original_file_name");
    assert_eq!(
        query(&cased, TargetName::Sentinel, Language::Kql),
        "DeviceProcessEvents\n| where (isnotempty(FileName) and FileName == ProcessVersionInfoOriginalFileName)"
    );
    assert!(
        query(&cased, TargetName::Splunk, Language::Spl)
            .ends_with(" AND mvdedup('process_name')==mvdedup('original_file_name'))")
    );
    assert!(
        query(&cased, TargetName::Elastic, Language::Esql).ends_with(
            "| WHERE (process.name != \"\" AND MV_DEDUPE(process.name) == MV_DEDUPE(process.pe.original_file_name))\n| KEEP _id, _version, _index, *"
        )
    );
}

#[test]
fn every_target_renders_a_number_comparison() {
    let (outputs, diags) = compile("from process_start\n  where process.pid > process.parent.pid");
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(
        query(&outputs, TargetName::Splunk, Language::Spl),
        "tag=process tag=report | where (isnotnull('process_id') AND mvdedup('process_id')!=\"\" AND mvcount(mvdedup('process_id'))==1 AND isnotnull('parent_process_id') AND mvdedup('parent_process_id')!=\"\" AND mvcount(mvdedup('parent_process_id'))==1 AND isnum(tonumber(mvdedup('process_id'))) AND isnum(tonumber(mvdedup('parent_process_id'))) AND tonumber(mvdedup('process_id'))>tonumber(mvdedup('parent_process_id')))"
    );
    assert_eq!(
        query(&outputs, TargetName::Sentinel, Language::Kql),
        "DeviceProcessEvents\n| where todouble(ProcessId) > todouble(InitiatingProcessId)"
    );
    assert!(
        query(&outputs, TargetName::Elastic, Language::Esql)
            .ends_with("| WHERE MV_DEDUPE(process.pid) > MV_DEDUPE(process.parent.pid)\n| KEEP _id, _version, _index, *")
    );
    let (negated, _) = compile("from process_start\n  where not process.pid <= process.parent.pid");
    assert!(
        query(&negated, TargetName::Sentinel, Language::Kql).ends_with(
            "| where not(coalesce(todouble(ProcessId) <= todouble(InitiatingProcessId), false))"
        )
    );
    assert!(
        query(&negated, TargetName::Elastic, Language::Esql).ends_with(
            "| WHERE NOT COALESCE(MV_DEDUPE(process.pid) <= MV_DEDUPE(process.parent.pid), FALSE)\n| KEEP _id, _version, _index, *"
        )
    );
    assert!(
        query(&negated, TargetName::Splunk, Language::Spl).ends_with(
            " OR NOT isnum(tonumber(mvdedup('parent_process_id'))) OR NOT (tonumber(mvdedup('process_id'))<=tonumber(mvdedup('parent_process_id'))))"
        )
    );
}

#[test]
fn targets_refuse_what_they_cannot_say_exactly() {
    let at = |text: &str, d: &Diagnostic, want: &str| {
        let start = text.find(want).expect("in the text");
        assert_eq!(line_col(text, d.span.start), line_col(text, start), "{d:?}");
    };
    // Two ip fields: SPL compares text, not addresses.
    let body = "from network_connection\n  where source.ip == destination.ip";
    let (outputs, diags) = compile(body);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].code.id(), "E0404");
    assert!(
        diags[0]
            .message
            .starts_with("rule `f2f` cannot compile for splunk: SPL cannot compare two ip fields"),
        "{}",
        diags[0].message
    );
    at(&rule(body), &diags[0], "source.ip == destination.ip");
    assert_eq!(
        query(&outputs, TargetName::Sentinel, Language::Kql),
        "DeviceNetworkEvents\n| where ActionType == \"ConnectionSuccess\"\n| where (LocalIP !contains \"/\" and RemoteIP !contains \"/\" and ipv6_compare(LocalIP, RemoteIP) == 0)"
    );
    assert!(
        query(&outputs, TargetName::Elastic, Language::Esql)
            .ends_with("| WHERE MV_DEDUPE(source.ip) == MV_DEDUPE(destination.ip)\n| KEEP _id, _version, _index, *")
    );

    // A property of a dynamic column on Sentinel (SigninLogs' DeviceDetail.displayName).
    let body = "from authentication\n  where user.name == host.name";
    let (_, diags) = compile(body);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].code.id(), "E0404");
    assert!(
        diags[0].message.contains("cannot compile for sentinel")
            && diags[0]
                .message
                .contains("`DeviceDetail.displayName` is a property of a dynamic column"),
        "{}",
        diags[0].message
    );
    at(&rule(body), &diags[0], "user.name == host.name");

    // A sequence is EQL only on Elastic, and EQL cannot compare two fields.
    let body = "sequence by host.name within 10m {\n    process_start where process.name != process.pe.original_file_name\n    network_connection where exists destination.ip\n  }";
    let (outputs, diags) = compile(body);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].code.id(), "E0404");
    assert!(
        diags[0]
            .message
            .contains("cannot compile for elastic: EQL cannot compare a field with another field"),
        "{}",
        diags[0].message
    );
    at(
        &rule(body),
        &diags[0],
        "process.name != process.pe.original_file_name",
    );
    assert!(outputs.iter().all(|o| o.target != TargetName::Elastic));
    assert!(
        query(&outputs, TargetName::Sentinel, Language::Kql)
            .contains("(isnotempty(FileName) and FileName =~ ProcessVersionInfoOriginalFileName)")
    );
}

#[test]
fn elastic_packages_a_single_event_comparison_as_an_esql_rule() {
    let text = rule("from process_start\n  where process.name != process.pe.original_file_name");
    let config = common::config();
    let p = project::check_text("t.det", &text, &config);
    assert!(project::check(&p, &config).is_empty());
    let (rules, diags) = project::contexts(&p, &config, TargetName::Elastic);
    assert!(diags.is_empty(), "{diags:#?}");
    let files = project::package(TargetName::Elastic, &rules, 1, None).expect("renders");
    let line = files
        .iter()
        .find(|f| f.path.as_os_str() == "rules.ndjson")
        .expect("rules.ndjson");
    let r: Value = serde_json::from_slice(&line.contents).expect("one rule");
    assert_eq!(
        (r["type"].as_str(), r["language"].as_str()),
        (Some("esql"), Some("esql"))
    );
    // Kibana's alert deduplication reads `_id`; the loader wants all three kept.
    let q = r["query"].as_str().expect("query");
    assert!(
        q.starts_with("FROM logs-endpoint.events.process-* METADATA _id, _version, _index\n"),
        "{q}"
    );
    assert!(q.ends_with("\n| KEEP _id, _version, _index, *"), "{q}");
    assert!(
        r.get("index").is_none() && r.get("timestamp_override").is_none(),
        "{r}"
    );
}
