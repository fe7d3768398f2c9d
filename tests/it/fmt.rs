//! `detc fmt` and the printer (`syntax::print`): idempotent, meaning-preserving (same AST
//! modulo spans, same compiled queries), comments kept, and any hand-built AST prints as text
//! that parses back to it.

use crate::common;
use detc::base::Span;
use detc::project;
use detc::syntax::ast::{
    Body, Comparison, Expect, Expr, File, GroupKey, Having, HavingTerm, Ident, Item, ListDef, Meta,
    Op, PrefixLengths, Query, Rule, TestCase, Value, ValueKind,
};
use detc::syntax::{self, print};
use detc::targets::TargetName;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn det_files(dir: &Path) -> Vec<PathBuf> {
    project::discover(&[dir.to_path_buf()]).expect("readable tree")
}

fn fmt(name: &str, text: &str) -> String {
    print::format_text(name, text).unwrap_or_else(|ds| {
        panic!(
            "{name} does not parse:\n{}",
            ds.iter()
                .map(|d| detc::base::diag::render_text(d, Some(text)))
                .collect::<String>()
        )
    })
}

fn comment_texts(text: &str) -> Vec<String> {
    let (_, comments) = syntax::parse_with_comments("t.det", text).expect("parses");
    let mut texts: Vec<String> = comments.into_iter().map(|c| c.text).collect();
    texts.sort();
    texts
}

fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  {x}\n  {y}", i + 1);
        }
    }
    format!("lengths {} and {}", a.len(), b.len())
}

/// Formats one file and checks every per-file property; returns the formatted text.
fn formats_well(name: &str, text: &str) -> String {
    let once = fmt(name, text);
    let twice = fmt(name, &once);
    assert!(
        once == twice,
        "{name}: formatting is not idempotent: {}",
        first_difference(&once, &twice)
    );
    let before = syntax::parse(name, text).unwrap().without_spans();
    let after = syntax::parse(name, &once).unwrap().without_spans();
    assert!(before == after, "{name}: the AST changed:\n{once}");
    assert_eq!(
        comment_texts(text),
        comment_texts(&once),
        "{name}: comments changed"
    );
    for line in once.lines() {
        assert_eq!(line, line.trim_end(), "{name}: trailing blanks");
    }
    once
}

/// The compiled queries (and diagnostics) of one text holding a whole tree.
fn compiled(text: &str) -> (Vec<project::Output>, Vec<(String, String)>) {
    let config = common::config();
    let p = project::check_text("tree.det", text, &config);
    let (outputs, diags) = project::compile(&p, &config, &TargetName::ALL);
    let diags = p
        .diagnostics
        .iter()
        .chain(&diags)
        .map(|d| (d.code.to_string(), d.message.clone()))
        .collect();
    (outputs, diags)
}

/// Formats every file of a tree; the tree's compiled queries must not change.
fn tree_formats_well(files: &[(String, String)]) {
    let mut before = String::new();
    let mut after = String::new();
    for (name, text) in files {
        let formatted = formats_well(name, text);
        before.push_str(text);
        before.push('\n');
        after.push_str(&formatted);
        after.push('\n');
    }
    let (q1, d1) = compiled(&before);
    let (q2, d2) = compiled(&after);
    assert_eq!(d1, d2, "diagnostics changed");
    assert!(!q1.is_empty() || !d1.is_empty());
    assert!(q1 == q2, "compiled queries changed");
}

fn read_tree(dir: &Path) -> Vec<(String, String)> {
    det_files(dir)
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p.display().to_string(), text)
        })
        .collect()
}

#[test]
fn library_formats_idempotently_and_keeps_its_meaning() {
    let files = read_tree(&root().join("detections"));
    assert!(files.len() > 40);
    tree_formats_well(&files);
}

#[test]
fn shipped_library_is_formatted() {
    for (name, text) in read_tree(&root().join("detections")) {
        let formatted = fmt(&name, &text);
        assert!(
            formatted == text,
            "{name} is not formatted (run `detc fmt`): {}",
            first_difference(&text, &formatted)
        );
    }
}

#[test]
fn fixtures_format_idempotently_and_keep_their_meaning() {
    let fixtures = root().join("tests/fixtures");
    tree_formats_well(&read_tree(&fixtures.join("catalog/detections")));
    for file in det_files(&fixtures) {
        if file.starts_with(fixtures.join("catalog")) {
            continue;
        }
        tree_formats_well(&read_tree(&file));
    }
}

#[test]
fn generated_rules_format_idempotently_and_keep_their_meaning() {
    let out = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("python3")
        .arg(root().join("bench/gen_rules.py"))
        .arg(root().join("targets/schema.yaml"))
        .arg(out.path())
        .args(["--rules", "300", "--folders", "6", "--seed", "7"])
        .stderr(std::process::Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => {}
        _ => {
            eprintln!("python3 is not available: generated rules not formatted");
            return;
        }
    }
    let files = read_tree(out.path());
    assert!(files.len() > 300);
    tree_formats_well(&files);
}

// ------------------------------------------------------------------------ hand-built ASTs

fn span() -> Span {
    Span::default()
}

fn id(name: &str) -> Ident {
    Ident {
        name: name.into(),
        span: span(),
    }
}

fn val(kind: ValueKind) -> Value {
    Value { kind, span: span() }
}

fn s(text: &str) -> Value {
    val(ValueKind::Str(text.into()))
}

fn list(items: Vec<Value>) -> Value {
    val(ValueKind::List(items))
}

fn cmp(field: &str, op: Op, cased: bool, value: Value) -> Expr {
    Expr::Compare(Comparison {
        field: id(field),
        op,
        op_span: span(),
        cased,
        value: Some(value),
        span: span(),
    })
}

fn exists(field: &str) -> Expr {
    Expr::Compare(Comparison {
        field: id(field),
        op: Op::Exists,
        op_span: span(),
        cased: false,
        value: None,
        span: span(),
    })
}

/// Two operands as one chain, nested as built (no joining), so printing must keep the
/// parentheses.
fn and(a: Expr, b: Expr) -> Expr {
    Expr::And(vec![a, b])
}

fn or(a: Expr, b: Expr) -> Expr {
    Expr::Or(vec![a, b])
}

fn not(a: Expr) -> Expr {
    Expr::Not(Box::new(a), span())
}

fn term(func: &str, field: Option<&str>, op: Op, n: i64) -> Having {
    Having::Term(HavingTerm {
        func: id(func),
        field: field.map(id),
        op,
        op_span: span(),
        value: val(ValueKind::Int(n)),
        span: span(),
    })
}

fn rule(name: &str, meta: Vec<(&str, Value)>, body: Body, tests: Vec<TestCase>) -> Item {
    Item::Rule(Box::new(Rule {
        name: id(name),
        title: s(&format!(
            "Title of {name}: \"quoted\", it's, C:\\path, tab\t, é 😀"
        )),
        meta: meta
            .into_iter()
            .map(|(k, value)| Meta { key: id(k), value })
            .collect(),
        body,
        tests,
        span: span(),
    }))
}

fn query(source: &str, condition: Option<Expr>) -> Query {
    Query {
        source: id(source),
        condition,
    }
}

/// Strings that are hard to write: quotes of both kinds, backslashes, control characters,
/// non-ASCII, wildcard characters.
const TRICKY: &[&str] = &[
    "",
    "plain",
    "it's",
    "say \"hi\"",
    "both ' and \"",
    r"C:\Users\",
    r"C:\it's\x",
    "\\",
    "\\\\server\\share",
    "line\nbreak",
    "tab\there",
    "cr\rlf",
    "bell\u{7}",
    "é 😀 ü",
    "a*b?c",
    "#not a comment",
    "$notalist",
    "\u{FEFF}bom",
];

/// Pattern text of `like` values: `\*`, `\?`, `\\` are literal, `*` and `?` wildcards.
const PATTERNS: &[&str] = &[
    r"C:\\Users\\*\\AppData\\?.exe",
    r"a\*b\?c*",
    r"literal\*only",
    "it's*",
    "tab\there*",
    "say \"*\"",
    "é*😀?",
    r"\\\\server\\*",
    "",
    "*",
];

const REGEXES: &[&str] = &[r"(?i)^a\d+$", r"it's \w+", "say \"x\"", r"C:\\Windows\\.*"];

fn hand_built() -> File {
    let mut leaves = Vec::new();
    for (i, t) in TRICKY.iter().enumerate() {
        let op = [Op::Eq, Op::Ne, Op::Contains, Op::StartsWith, Op::EndsWith][i % 5];
        leaves.push(cmp("process.command_line", op, i % 2 == 0, s(t)));
    }
    for p in PATTERNS {
        leaves.push(cmp("process.executable", Op::Like, false, s(p)));
    }
    for r in REGEXES {
        leaves.push(cmp("process.command_line", Op::Matches, false, s(r)));
    }
    leaves.push(cmp(
        "process.name",
        Op::In,
        true,
        list(TRICKY.iter().map(|t| s(t)).collect()),
    ));
    leaves.push(cmp(
        "process.name",
        Op::NotIn,
        false,
        val(ValueKind::ListRef("tools".into())),
    ));
    leaves.push(cmp("process.pid", Op::Lt, false, val(ValueKind::Int(-5))));
    leaves.push(cmp(
        "process.pid",
        Op::Le,
        false,
        val(ValueKind::Float(0.5)),
    ));
    leaves.push(cmp(
        "process.pid",
        Op::Gt,
        false,
        val(ValueKind::Float(-1e21)),
    ));
    leaves.push(cmp(
        "process.pid",
        Op::Ge,
        false,
        val(ValueKind::Int(i64::MIN)),
    ));
    leaves.push(cmp(
        "source.ip",
        Op::In,
        false,
        val(ValueKind::Cidr(vec![s("10.0.0.0/8"), s("fd00::/8")])),
    ));
    leaves.push(exists("user.name"));
    // Shapes that need parentheses, and some that do not.
    let mut it = leaves.into_iter();
    let mut next = || it.next().unwrap();
    let mut condition = and(next(), not(next()));
    condition = or(condition, and(next(), or(next(), next())));
    condition = and(condition, not(not(next())));
    condition = and(condition, not(or(next(), next())));
    condition = or(condition, or(next(), next())); // right-nested `or`
    condition = and(condition, and(next(), next())); // right-nested `and`
    let mut rest: Vec<Expr> = it.collect();
    let first = rest.remove(0);
    let tail = rest.into_iter().fold(first, and);
    condition = or(condition, tail);

    let meta = vec![
        ("id", s("00000000-0000-4000-8000-000000000001")),
        ("severity", val(ValueKind::Word("high".into()))),
        (
            "attack",
            list(vec![
                val(ValueKind::Word("TA0011".into())),
                val(ValueKind::Word("T1219.002".into())),
            ]),
        ),
        ("description", s("A \"description\" with C:\\path and it's")),
        (
            "false_positives",
            list(TRICKY.iter().map(|t| s(t)).collect()),
        ),
        ("schedule", val(ValueKind::Duration(900))),
        ("enabled", val(ValueKind::Bool(false))),
        (
            "nested",
            list(vec![
                list(vec![]),
                list(vec![val(ValueKind::Int(1)), list(vec![s("deep")])]),
            ]),
        ),
    ];
    let tests = vec![
        TestCase {
            expect: Expect::Matches,
            fields: vec![
                (id("process.name"), s("AnyDesk.exe")),
                (id("process.pid"), val(ValueKind::Int(4))),
                (id("process.ratio"), val(ValueKind::Float(2.0))),
                (id("process.elevated"), val(ValueKind::Bool(true))),
                (id("process.args"), list(vec![s("a"), s("it's")])),
            ],
            span: span(),
        },
        TestCase {
            expect: Expect::Misses,
            fields: TRICKY
                .iter()
                .enumerate()
                .map(|(i, t)| (id(&format!("f{i}")), s(t)))
                .collect(),
            span: span(),
        },
        TestCase {
            expect: Expect::Misses,
            fields: vec![],
            span: span(),
        },
    ];
    let single = rule(
        "single",
        meta,
        Body::Single(query("process_start", Some(condition))),
        tests,
    );
    let aggregate = rule(
        "aggregate",
        vec![("id", s("x"))],
        Body::Aggregate {
            query: query("authentication", None),
            group_by: vec![
                GroupKey {
                    field: id("source.ip"),
                    prefix: Some(PrefixLengths {
                        v4: val(ValueKind::Int(32)),
                        v6: val(ValueKind::Int(64)),
                        span: span(),
                    }),
                },
                GroupKey {
                    field: id("user.name"),
                    prefix: None,
                },
            ],
            window: val(ValueKind::Duration(86_400)),
            having: Having::Or(vec![
                Having::And(vec![
                    term("count", None, Op::Gt, 5),
                    term("distinct", Some("user.name"), Op::Ge, 3),
                ]),
                Having::Or(vec![
                    term("sum", Some("bytes"), Op::Ne, -1),
                    term("max", Some("bytes"), Op::Le, 0),
                ]),
            ]),
        },
        vec![],
    );
    let sequence = rule(
        "seq_rule",
        vec![],
        Body::Sequence {
            by: vec![id("host.name")],
            within: val(ValueKind::Duration(172_800)),
            steps: vec![
                query(
                    "usb_device",
                    Some(or(
                        cmp("device.vendor.name", Op::Contains, false, s("PiKVM")),
                        cmp("device.id", Op::Like, false, s(r"USB\\VID_1D6B*")),
                    )),
                ),
                query("authentication", Some(exists("user.name"))),
            ],
            step_by: vec![vec![], vec![id("user.name")]],
            // The second step must not follow (an absence).
            step_not: vec![None, Some(Span::default())],
            step_as: vec![None, None],
        },
        vec![],
    );
    let first_seen = rule(
        "first_seen",
        vec![("lookback", val(ValueKind::Duration(90)))],
        Body::FirstSeen {
            query: query(
                "authentication",
                Some(cmp("event.outcome", Op::Eq, false, s("ok"))),
            ),
            field: id("source.geo.country_iso_code"),
            by: vec![id("user.name"), id("host.name")],
            lookback: val(ValueKind::Duration(30 * 86_400)),
        },
        vec![],
    );
    let lists = Item::List(ListDef {
        name: id("tools"),
        tunable: true,
        values: list(TRICKY.iter().map(|t| s(t)).collect()),
        span: span(),
    });
    File {
        items: vec![lists, single, aggregate, sequence, first_seen],
    }
}

#[test]
fn hand_built_ast_prints_and_parses_back() {
    let file = hand_built();
    let text = print::print_file(&file, &[]);
    let parsed = syntax::parse("built.det", &text).unwrap_or_else(|ds| {
        panic!(
            "{}\n{text}",
            ds.iter()
                .map(|d| detc::base::diag::render_text(d, Some(&text)))
                .collect::<String>()
        )
    });
    assert!(
        parsed.without_spans() == file,
        "round trip differs:\n{text}"
    );
    assert_eq!(formats_well("built.det", &text), text);
    for line in text.lines() {
        // Only unbreakable values (one long string) may pass the width.
        if line.chars().count() > print::WIDTH {
            assert!(!line.contains(", "), "too long: {line}");
        }
    }
    // Each rule alone too, as an importer prints them.
    for item in &file.items {
        if let Item::Rule(r) = item {
            let text = print::print_rule(r);
            let back = syntax::parse("r.det", &text).unwrap().without_spans();
            assert!(back.items[0] == *item, "{text}");
        }
    }
}

#[test]
fn like_patterns_keep_their_meaning() {
    // Pattern text in the AST → literal → the same wildcard when read back.
    for p in PATTERNS {
        let e = cmp("process.executable", Op::Like, false, s(p));
        let file = File {
            items: vec![rule(
                "r",
                vec![],
                Body::Single(query("process_start", Some(e))),
                vec![],
            )],
        };
        let text = print::print_file(&file, &[]);
        let back = syntax::parse("t.det", &text).unwrap().without_spans();
        assert!(back == file, "{p:?} printed as:\n{text}");
    }
    // Written both ways in source, the same pattern.
    let cases = [
        (r#""C:\\*\\Temp\\?.exe""#, r"'C:\*\Temp\?.exe'"),
        (r#""a\*b\?*""#, r#""a\*b\?*""#),
        (r"'it''s*'", r#""it's*""#),
        (r#""x\u{2A}y""#, r#""x\*y""#),
    ];
    for (written, canonical) in cases {
        let text = common::rule(
            "r",
            &format!("from process_start\n  where process.executable like {written}"),
        );
        let formatted = fmt("t.det", &text);
        assert!(
            formatted.contains(&format!("like {canonical}\n")),
            "{written}: {formatted}"
        );
        let (q1, d1) = compiled(&text);
        let (q2, d2) = compiled(&formatted);
        assert!(d1.is_empty() && d2.is_empty(), "{d1:?} {d2:?}");
        assert!(q1 == q2, "{written}");
    }
}

// ------------------------------------------------------------------------------ layout

const MESSY: &str = r#"# header comment

# about the list
list tools = ["a.exe",   # first
  # before b
  "b.exe"]
rule r "T" {   # after the brace
  severity = high # trailing on severity
  # before id
  id = "00000000-0000-4000-8000-000000000001"
  false_positives = ["Sanctioned IT support sessions that run for a long time", "Another reason that is long"]
  from process_start # after the source
  # before where
  where process.name in $tools and (user.name == "a" or user.name == "b") # end of where
    # before the last operand
    and not process.command_line contains ["--pin", "--code"]
  test matches { process.name = "a.exe", # inside a test
    user.name = "a" }
  # between tests
  test misses { process.name = "x" }
  # before the closing brace
}
# at the end
"#;

const MESSY_FORMATTED: &str = r#"# header comment

# about the list
list tools = [
  "a.exe",  # first
  # before b
  "b.exe",
]

rule r "T" {  # after the brace
  severity    = high  # trailing on severity
  # before id
  id          = "00000000-0000-4000-8000-000000000001"
  false_positives = [
    "Sanctioned IT support sessions that run for a long time",
    "Another reason that is long",
  ]

  from process_start  # after the source
  # before where
  where process.name in $tools
    and (user.name == "a" or user.name == "b")  # end of where
    # before the last operand
    and not process.command_line contains ["--pin", "--code"]

  test matches {
    process.name = "a.exe",  # inside a test
    user.name = "a",
  }
  # between tests
  test misses  { process.name = "x" }
  # before the closing brace
}
# at the end
"#;

#[test]
fn layout_and_comments_of_a_messy_file() {
    let formatted = formats_well("messy.det", MESSY);
    assert_eq!(formatted, MESSY_FORMATTED, "\n{formatted}");
}

#[test]
fn long_conditions_break_one_operand_per_line() {
    let text = common::rule(
        "r",
        "from process_start\n  where process.name == \"a\" or (process.command_line contains \"aaaaaaaaaaaaaaaaaaaaaaaaaaaa\" and process.command_line contains \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\" and not exists user.name)",
    );
    let formatted = formats_well("t.det", &text);
    assert!(
        formatted.contains(
            "  where process.name == \"a\"\n     or (process.command_line contains \"aaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n         and process.command_line contains \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"\n         and not exists user.name)\n"
        ),
        "{formatted}"
    );
}

// --------------------------------------------------------------------------------- CLI

#[test]
fn fmt_command_rewrites_checks_and_refuses_broken_files() {
    let dir = tempfile::tempdir().unwrap();
    let messy = dir.path().join("messy.det");
    let clean = dir.path().join("clean.det");
    let broken = dir.path().join("broken.det");
    std::fs::write(&messy, MESSY).unwrap();
    std::fs::write(&clean, MESSY_FORMATTED).unwrap();
    let detc = || assert_cmd::Command::cargo_bin("detc").unwrap();

    let out = detc()
        .arg("fmt")
        .arg(dir.path())
        .arg("--check")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    // A unified diff of what `fmt` would change: its removed lines are the file's, its
    // added lines the formatted text's.
    let stdout = String::from_utf8(out.stdout).unwrap();
    let name = messy.display();
    assert!(
        stdout.starts_with(&format!("--- a/{name}\n+++ b/{name}\n@@ ")),
        "{stdout}"
    );
    let (mut removed, mut added) = (0, 0);
    for line in stdout.lines().skip(2) {
        if let Some(old) = line.strip_prefix('-') {
            assert!(MESSY.lines().any(|l| l == old), "{old:?}");
            removed += 1;
        } else if let Some(new) = line.strip_prefix('+') {
            assert!(MESSY_FORMATTED.lines().any(|l| l == new), "{new:?}");
            added += 1;
        }
    }
    assert!(removed > 0 && added > 0, "{stdout}");
    assert_eq!(std::fs::read_to_string(&messy).unwrap(), MESSY);

    let out = detc().arg("fmt").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&messy).unwrap(), MESSY_FORMATTED);
    let out = detc()
        .arg("fmt")
        .arg(dir.path())
        .arg("--check")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());

    let bad = "rule r \"T\" {\n  from s\n  where a = 1\n}\n";
    std::fs::write(&broken, bad).unwrap();
    let out = detc().arg("fmt").arg(&broken).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("error[E0001]"), "{stderr}");
    assert!(stderr.contains("broken.det:3:"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), bad);

    let out = detc()
        .arg("fmt")
        .arg(dir.path().join("nope"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
