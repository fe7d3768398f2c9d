//! Sequences whose steps join on fields of their own (`SOURCE by F where ...`): the check,
//! the evaluator's meaning, and each target's rendering or refusal.

use crate::common;
use detc::eval::Correlator;
use detc::project;
use detc::targets::TargetName;
use serde_json::{Value, json};

/// An MFA reset names the account it changed as its target; the sign-in names it as the user.
const RESET_THEN_SIGNIN: &str = "sequence by user.name within 1h {
    directory_audit by user.target.name where event.action == \"Admin deleted security info\"
    authentication where event.outcome == \"success\"
  }";

fn rule(body: &str) -> detc::ir::Rule {
    let text = common::rule("keyed", body);
    let p = project::check_text("t.det", &text, &common::config());
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    p.rules[0].clone()
}

/// The alerts' keys when `events` are fed a minute apart.
fn alerts(rule: &detc::ir::Rule, events: &[Value]) -> Vec<String> {
    let mut c = Correlator::new(rule).expect("correlation");
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        for a in c.push(e, 60_000 * i as i64, i) {
            out.push(format!("{a:?}"));
        }
    }
    out
}

fn reset(actor: &str, target: &str) -> Value {
    json!({"event.source": "directory_audit", "event.action": "Admin deleted security info",
           "user.name": actor, "user.target.name": target})
}

fn signin(user: &str) -> Value {
    json!({"event.source": "authentication", "event.outcome": "success", "user.name": user})
}

#[test]
fn each_step_joins_on_its_own_field() {
    let r = rule(RESET_THEN_SIGNIN);
    // The changed account signs in: a match, keyed as the sequence names the key.
    let hit = alerts(&r, &[reset("agent", "jdoe"), signin("jdoe")]);
    assert_eq!(hit.len(), 1, "{hit:?}");
    assert!(hit[0].contains("(\"user.name\", \"jdoe\")"), "{hit:?}");
    // The agent who made the change signs in: the reset's user.name is not its key.
    assert!(alerts(&r, &[reset("agent", "jdoe"), signin("agent")]).is_empty());
    // A missing target joins nothing.
    let untargeted = json!({"event.source": "directory_audit",
                            "event.action": "Admin deleted security info", "user.name": "jdoe"});
    assert!(alerts(&r, &[untargeted, signin("jdoe")]).is_empty());
}

#[test]
fn one_event_may_play_two_steps_on_two_keys() {
    // Both steps read one source: an event is step 1 on its target and step 2 on its actor.
    let r = rule(
        "sequence by user.name within 1h {
    directory_audit by user.target.name where event.action == \"Admin deleted security info\"
    directory_audit where event.action == \"Admin deleted security info\"
  }",
    );
    // a→b starts b's sequence; b→c completes it (as step 2, on its actor b) and starts c's.
    let got = alerts(&r, &[reset("a", "b"), reset("b", "c")]);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("\"b\""), "{got:?}");
    // A self-service change (actor = target) is one key: it completes the waiting sequence,
    // then starts a new one, as an event meeting both steps of a shared key does.
    let got = alerts(&r, &[reset("a", "b"), reset("b", "b"), reset("b", "x")]);
    assert_eq!(got.len(), 2, "{got:?}");
}

#[test]
fn step_keys_must_fit_the_sequence_key() {
    let diags = |body: &str| common::check_text(&common::rule("bad", body));
    // Two fields where the sequence joins on one.
    let text = common::rule(
        "bad",
        "sequence by user.name within 1h {
    directory_audit by user.target.name, source.ip where event.outcome == \"success\"
    authentication where event.outcome == \"success\"
  }",
    );
    let d = common::check_text(&text);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].code.id(), "E0323");
    assert_eq!(
        &text[d[0].span.start..d[0].span.end],
        "user.target.name, source.ip"
    );
    // An ip cannot join a string.
    let d = diags(
        "sequence by user.name within 1h {
    directory_audit by source.ip where event.outcome == \"success\"
    authentication where event.outcome == \"success\"
  }",
    );
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].code.id(), "E0323");
    assert!(
        d[0].message.contains("`user.name` is string"),
        "{}",
        d[0].message
    );
    // A step's own field must be its source's.
    let d = diags(
        "sequence by user.name within 1h {
    authentication by user.target.name where event.outcome == \"success\"
    authentication where event.outcome == \"success\"
  }",
    );
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].code.id(), "E0302");
}

#[test]
fn targets_join_each_step_on_its_own_field() {
    let (out, diags) = common::compile_text(&common::rule("keyed", RESET_THEN_SIGNIN));
    let query = |t: &str| {
        out.iter()
            .find(|o| o.target.as_str() == t)
            .map(|o| o.query.clone())
            .unwrap_or_else(|| panic!("no {t} query: {diags:#?}"))
    };
    // KQL: each step's key column is named as the sequence's key before the join.
    let kql = query("sentinel");
    assert!(kql.contains("| extend user_name = TargetUpn\n"), "{kql}");
    assert!(
        kql.contains("| extend user_name = UserPrincipalName\n"),
        "{kql}"
    );
    insta::assert_snapshot!("sequence_step_keys_kql", kql);
    // SPL: CIM names the changed account `user` in Change and the signed-in account `user` in
    // Authentication, so both steps' rows carry the key as `user`.
    insta::assert_snapshot!("sequence_step_keys_spl", query("splunk"));
    // Elastic's mapping cannot keep sign-ins out of the audit step: refused, not loosened.
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].code.id(), "E0404");
}

#[test]
fn eql_names_each_step_s_key() {
    // EQL joins `[..] by a [..] by b`.
    let (out, diags) = common::compile_text(&common::rule(
        "keyed",
        "sequence by user.name within 10m {
    process_start by process.parent.name where process.name == \"a.exe\"
    authentication where event.outcome == \"success\"
  }",
    ));
    assert!(diags.is_empty(), "{diags:#?}");
    let eql = out
        .iter()
        .find(|o| o.language.as_str() == "eql")
        .expect("an EQL query");
    assert!(
        eql.query.starts_with("sequence with maxspan=10m\n"),
        "{}",
        eql.query
    );
    assert!(
        eql.query.contains("] by process.parent.name\n"),
        "{}",
        eql.query
    );
    assert!(eql.query.ends_with("] by user.name"), "{}", eql.query);
}

#[test]
fn splunk_refuses_two_keys_on_one_source() {
    // One row per event holds one key, so two steps of one source must join alike on SPL.
    let text = common::rule(
        "keyed",
        "sequence by user.name within 1h {
    directory_audit by user.target.name where event.action == \"a\"
    directory_audit where event.action == \"b\"
  }",
    );
    let config = common::config();
    let p = project::check_text("t.det", &text, &config);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let (_, diags) = project::compile(&p, &config, &[TargetName::Splunk]);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].code.id(), "E0404");
    assert!(
        diags[0].message.contains("different fields"),
        "{}",
        diags[0].message
    );
    // KQL joins per step and compiles it.
    let (out, diags) = project::compile(&p, &config, &[TargetName::Sentinel]);
    assert!(diags.is_empty() && out.len() == 1, "{diags:#?}");
}
