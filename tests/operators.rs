//! The operator × target table: every form of LANGUAGE.md, awkward values and `cased`,
//! compiled for every language, in one snapshot per language so a change shows as a diff.

mod common;

use detc::targets::Language;

/// (source, condition) pairs; each becomes one rule.
const FORMS: &[(&str, &str)] = &[
    ("process_start", r#"process.name == "AnyDesk.exe""#),
    ("process_start", r#"process.name == cased "AnyDesk.exe""#),
    ("process_start", r#"process.name != "AnyDesk.exe""#),
    ("process_start", r#"process.name != cased "AnyDesk.exe""#),
    ("process_start", r#"process.name in ["a.exe", "b.exe"]"#),
    (
        "process_start",
        r#"process.name in cased ["a.exe", "b.exe"]"#,
    ),
    ("process_start", r#"process.name not in ["a.exe", "b.exe"]"#),
    (
        "process_start",
        r#"process.name not in cased ["a.exe", "b.exe"]"#,
    ),
    ("process_start", r#"process.command_line contains "--pin=""#),
    (
        "process_start",
        r#"process.command_line contains cased "--pin=""#,
    ),
    (
        "process_start",
        r#"process.command_line contains ["--code=", "--pin="]"#,
    ),
    (
        "process_start",
        r#"not process.command_line contains ["--code=", "--pin="]"#,
    ),
    (
        "process_start",
        r#"process.executable startswith 'C:\Users\'"#,
    ),
    (
        "process_start",
        r#"process.executable startswith cased 'C:\Users\'"#,
    ),
    (
        "process_start",
        r#"process.executable endswith [".exe", ".dll"]"#,
    ),
    (
        "process_start",
        r#"process.executable endswith cased ".EXE""#,
    ),
    (
        "process_start",
        r#"process.executable like 'C:\Users\*\AppData\*.exe'"#,
    ),
    (
        "process_start",
        r#"process.executable like "C:\\*\\Temp\\?.exe""#,
    ),
    (
        "process_start",
        r#"process.executable like cased "*\\a\*b\?""#,
    ),
    (
        "process_start",
        r#"process.command_line matches '^remoting_start_host\.exe.*--code='"#,
    ),
    (
        "process_start",
        r#"process.command_line matches cased '(?i)ab+c$'"#,
    ),
    (
        "process_start",
        r#"process.command_line matches cased '[A-Z]\d{2,4}'"#,
    ),
    ("process_start", r#"not process.command_line matches 'a|b'"#),
    ("process_start", "process.pid < 4"),
    ("process_start", "process.pid <= 4"),
    ("process_start", "process.pid > 4"),
    ("process_start", "process.pid >= 4.5"),
    ("process_start", "process.pid == 4"),
    ("process_start", "process.pid != 4"),
    ("process_start", "process.pid in [1, 2]"),
    (
        "network_connection",
        r#"source.ip in cidr("10.0.0.0/8", "fd00::/8")"#,
    ),
    (
        "network_connection",
        r#"not source.ip in cidr("10.0.0.0/8", "192.168.0.0/16")"#,
    ),
    ("network_connection", r#"destination.ip == "192.0.2.1""#),
    ("network_connection", r#"destination.ip != "2001:db8::1""#),
    (
        "network_connection",
        r#"destination.ip in ["192.0.2.1", "2001:db8::1"]"#,
    ),
    ("process_start", "exists process.parent.name"),
    ("process_start", "not exists process.parent.name"),
    ("process_start", "exists process.pid"),
    ("process_start", "not exists process.pid"),
    (
        "process_start",
        r#"not (process.name == "a" or user.name == "b") and host.name == "c""#,
    ),
    (
        "process_start",
        r#"process.name == "a" or user.name == "b" and not host.name == "c""#,
    ),
    (
        "process_start",
        r#"(process.name == "a" or process.name == cased "B") and (user.name contains "x" or host.name like "h*")"#,
    ),
];

/// Values that try to break out of a string or change a query's shape.
const AWKWARD: &[&str] = &[
    r#""x\" | delete""#,
    r#""a*b""#,
    r#""what?""#,
    r#"'C:\Temp\'"#,
    r#"'it''s'"#,
    r#""a|b=c""#,
    r#""(x) OR 1==1""#,
    r#""`macro`""#,
    r#""line\nbreak\ttab""#,
    r#""é中文🙂""#,
    r#""$list""#,
    r#""]]; drop""#,
];

fn table(language: Language) -> String {
    let mut forms: Vec<(String, String)> = FORMS
        .iter()
        .map(|(s, c)| (s.to_string(), c.to_string()))
        .collect();
    for v in AWKWARD {
        for op in [
            "==",
            "== cased",
            "contains",
            "startswith cased",
            "like",
            "!=",
        ] {
            forms.push((
                "process_start".into(),
                format!("process.command_line {op} {v}"),
            ));
        }
    }
    let mut out = String::new();
    for (i, (source, cond)) in forms.iter().enumerate() {
        let text = common::rule(
            &format!("r{i:03}"),
            &format!("from {source}\n  where {cond}"),
        );
        let (outputs, diags) = common::compile_text(&text);
        out.push_str(&format!("## {cond}\n"));
        match outputs.iter().find(|o| o.language == language) {
            Some(o) => out.push_str(&format!("{}\n\n", o.query)),
            None => out.push_str(&format!(
                "error: {:?}\n\n",
                diags.iter().map(|d| &d.message).collect::<Vec<_>>()
            )),
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
