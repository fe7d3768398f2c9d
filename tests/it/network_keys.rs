//! `group by ip_prefix(F, V4, V6)`: the network of an address as an aggregation key. The
//! check, the evaluator's meaning, and each target's rendering or refusal.

use crate::common;
use detc::eval::Correlator;
use detc::project;
use detc::targets::TargetName;
use serde_json::{Value, json};

/// Two accounts from one connection within a day.
const FARM: &str = "from authentication
  where event.outcome == \"success\"
  group by ip_prefix(source.ip, 32, 64) window 1d
  having distinct(user.name) >= 2";

fn rule(body: &str) -> detc::ir::Rule {
    let text = common::rule("farm", body);
    let p = project::check_text("t.det", &text, &common::config());
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    p.rules[0].clone()
}

/// The alerts' groups (`("source.ip", "...")`) when each (user, address) signs in a minute
/// after the one before.
fn keys(rule: &detc::ir::Rule, signins: &[(&str, Value)]) -> Vec<String> {
    let mut c = Correlator::new(rule).expect("correlation");
    let mut out = Vec::new();
    for (i, (user, ip)) in signins.iter().enumerate() {
        let e = json!({"event.source": "authentication", "event.outcome": "success",
                       "user.name": user, "source.ip": ip});
        for a in c.push(&e, 60_000 * i as i64, i) {
            let text = format!("{a:?}");
            let group = text
                .find("group: [")
                .map(|i| &text[i + 8..])
                .expect("a group");
            out.push(group[..group.find(']').expect("]")].to_string());
        }
    }
    out
}

#[test]
fn ipv6_addresses_of_one_network_are_one_key() {
    let r = rule(FARM);
    // Two devices of one home: two addresses of one /64, written differently.
    let hit = keys(
        &r,
        &[
            ("jdoe", json!("2001:db8:4a1c:7e00:1c2b:3d4e:5f60:7181")),
            ("asmith", json!("2001:0DB8:4A1C:7E00::22")),
        ],
    );
    assert_eq!(hit, [r#"("source.ip", "2001:db8:4a1c:7e00::")"#]);
    // Neighbouring /64s (the 64th bit differs) are two connections.
    let apart = [
        ("jdoe", json!("2001:db8:4a1c:7e00::1")),
        ("asmith", json!("2001:db8:4a1c:7e01::1")),
    ];
    assert!(keys(&r, &apart).is_empty());
    // IPv4 keeps all 32 bits; an IPv4-mapped address, in any spelling, is the IPv4 one.
    assert!(
        keys(
            &r,
            &[
                ("jdoe", json!("198.51.100.23")),
                ("asmith", json!("198.51.100.24"))
            ]
        )
        .is_empty()
    );
    let mapped = keys(
        &r,
        &[
            ("jdoe", json!("198.51.100.23")),
            ("asmith", json!("::FFFF:C633:6417")),
        ],
    );
    assert_eq!(mapped, [r#"("source.ip", "198.51.100.23")"#]);
}

#[test]
fn an_event_without_one_address_joins_no_group() {
    let r = rule(FARM);
    let first = ("jdoe", json!("2001:db8::1"));
    for ip in [
        json!("not an address"),
        json!(["2001:db8::2", "2001:db8:0:1::2"]),
        Value::Null,
    ] {
        assert!(
            keys(&r, &[first.clone(), ("asmith", ip.clone())]).is_empty(),
            "{ip}"
        );
    }
    // A repeated address is one address.
    let repeated = keys(
        &r,
        &[first, ("asmith", json!(["2001:db8::2", "2001:DB8::2"]))],
    );
    assert_eq!(repeated.len(), 1, "{repeated:?}");
}

#[test]
fn lengths_are_the_networks_bits() {
    let r = rule(
        "from authentication where event.outcome == \"success\"
  group by ip_prefix(source.ip, 24, 48) window 1d
  having distinct(user.name) >= 2",
    );
    let same = keys(
        &r,
        &[
            ("a", json!("203.0.113.7")),
            ("b", json!("203.0.113.250")),
            ("c", json!("2001:db8:1:ffff::1")),
            ("d", json!("2001:db8:1:1::1")),
        ],
    );
    assert_eq!(
        same,
        [
            r#"("source.ip", "203.0.113.0")"#,
            r#"("source.ip", "2001:db8:1::")"#
        ]
    );
}

#[test]
fn the_field_and_lengths_are_checked_where_written() {
    let cases = [
        ("ip_prefix(user.name, 32, 64)", "E0340", "user.name"),
        ("ip_prefix(source.ip, 33, 64)", "E0341", "33"),
        ("ip_prefix(source.ip, 32, 129)", "E0341", "129"),
        ("ip_prefix(source.ip, 32, -1)", "E0341", "-1"),
        ("ip_prefix(source.ip, 32, 64.5)", "E0341", "64.5"),
    ];
    for (key, code, at) in cases {
        let text = common::rule(
            "bad",
            &format!("from authentication group by {key} window 1d having count() > 1"),
        );
        let d = common::check_text(&text);
        assert_eq!(d.len(), 1, "{key}: {d:#?}");
        assert_eq!(d[0].code.id(), code, "{key}");
        assert_eq!(&text[d[0].span.start..d[0].span.end], at, "{key}");
    }
    // A field named `ip_prefix` is still a field; a call missing a length is a syntax error.
    let d = common::check_text(&common::rule(
        "bad",
        "from authentication group by ip_prefix(source.ip, 32) window 1d having count() > 1",
    ));
    assert_eq!(d[0].code.id(), "E0001", "{d:#?}");
}

#[test]
fn fmt_prints_the_call() {
    let text = common::rule(
        "farm",
        "from authentication\n  group by user.name,ip_prefix( source.ip ,32,  64 ) window 1d\n  having count() > 1",
    );
    let out = detc::syntax::print::format_text("t.det", &text).expect("formats");
    assert!(
        out.contains("  group by user.name, ip_prefix(source.ip, 32, 64) window 24h\n"),
        "{out}"
    );
}

#[test]
fn targets_group_by_the_network_or_refuse() {
    let text = common::rule("farm", FARM);
    let (out, diags) = common::compile_text(&text);
    let query = |t: &str| {
        out.iter()
            .find(|o| o.target.as_str() == t)
            .map(|o| o.query.clone())
            .unwrap_or_else(|| panic!("no {t} query: {diags:#?}"))
    };
    let kql = query("sentinel");
    assert!(
        kql.contains(" by IPAddress = parse_ipv6_mask(IPAddress, iff(parse_ipv6(IPAddress) startswith \"0000:0000:0000:0000:0000:ffff:\", 128, 64))\n| where isnotempty(IPAddress) and (distinct_user_name >= 2)"),
        "{kql}"
    );
    let esql = query("elastic");
    assert!(
        esql.contains(" BY source.ip = IP_PREFIX(source.ip, 32, 64)\n| WHERE source.ip IS NOT NULL AND (`distinct(user.name)` >= 2)\n"),
        "{esql}"
    );
    // Splunk has no IPv6 mask: refused at the call.
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].code.id(), "E0404");
    assert_eq!(
        &text[diags[0].span.start..diags[0].span.end],
        "ip_prefix(source.ip, 32, 64)"
    );
    assert!(diags[0].message.contains("splunk"), "{}", diags[0].message);
}

#[test]
fn esql_refuses_the_lengths_ip_prefix_gets_wrong() {
    let config = common::config();
    let compile = |v4: u8, v6: u8| {
        let text = common::rule(
            "farm",
            &format!(
                "from authentication group by ip_prefix(source.ip, {v4}, {v6}) window 1d having count() > 1"
            ),
        );
        let p = project::check_text("t.det", &text, &config);
        assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
        project::compile(&p, &config, &[TargetName::Elastic]).1
    };
    // IP_PREFIX leaves the byte after a whole-byte length unwritten: exact only when no
    // row of the other family leaves anything but 0 there.
    for (v4, v6) in [(32, 64), (24, 64), (32, 128), (20, 100), (0, 0), (32, 72)] {
        assert!(compile(v4, v6).is_empty(), "{v4}, {v6}");
    }
    for (v4, v6) in [(24, 128), (32, 96), (16, 88), (8, 127)] {
        let d = compile(v4, v6);
        assert_eq!(d.len(), 1, "{v4}, {v6}");
        assert_eq!(d[0].code.id(), "E0404");
    }
}

#[test]
fn esql_refuses_an_aggregate_of_the_key_s_field() {
    let config = common::config();
    let text = common::rule(
        "farm",
        "from authentication group by ip_prefix(source.ip, 32, 64) window 1d having distinct(source.ip) >= 2",
    );
    let p = project::check_text("t.det", &text, &config);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let (_, d) = project::compile(&p, &config, &[TargetName::Elastic]);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].code.id(), "E0404");
    // The evaluator counts the addresses of the network.
    let r = p.rules[0].clone();
    let got = keys(
        &r,
        &[("a", json!("2001:db8::1")), ("a", json!("2001:db8::2"))],
    );
    assert_eq!(got, [r#"("source.ip", "2001:db8::")"#]);
}
