//! Values are data: for every target and operator, an awkward value changes only the
//! inside of string literals, never the query's shape.
//!
//! Each query is cut into its "skeleton" by a small lexer that reads string literals the
//! way the target language does (double quotes with backslash escapes; SPL also has
//! single-quoted field names). A value that escaped its literal would change the skeleton.

use crate::common;
use detc::lower::Language;

const AWKWARD: &[&str] = &[
    r#""x\" | delete""#,
    r#""a\\\" OR 1==1 \\""#,
    r#""it's""#,
    r#"'C:\Temp\'"#,
    r#""a|b=c""#,
    r#""(x))""#,
    r#""`m`""#,
    r#""line\nbreak""#,
    r#""tab\there\r""#,
    r#""é中文🙂""#,
    r#""[x]{2}.+$^""#,
    r#""%_*?""#,
    r#""a*b""#,
    r#""q?""#,
    r#""\u{7}bell""#,
];

/// Benign values, one for each route a value can take (SPL puts values with `*`, `?` in
/// `like`, backticks or control characters in `| where` rather than in search terms; a
/// non-ASCII cased letter makes a case-insensitive test a pattern on every target).
const BENIGN: &[&str] = &[r#""ab""#, r#""a*b""#, r#""a?b""#, r#""é""#];

const OPS: &[&str] = &[
    "==",
    "== cased",
    "!=",
    "!= cased",
    "contains",
    "contains cased",
    "startswith",
    "startswith cased",
    "endswith",
    "endswith cased",
    "like",
    "like cased",
];

/// The query with every string literal replaced by `S` (and SPL field names by `F`).
fn skeleton(query: &str, language: Language) -> String {
    let mut out = String::new();
    let mut chars = query.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                loop {
                    match chars.next() {
                        Some('\\') => {
                            chars.next();
                        }
                        Some('"') | None => break,
                        Some(_) => {}
                    }
                }
                out.push('S');
            }
            '\'' if language == Language::Spl => {
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                }
                out.push('F');
            }
            c => out.push(c),
        }
    }
    out
}

fn compiled(op: &str, value: &str) -> Vec<(Language, String)> {
    let text = common::rule(
        "v",
        &format!("from process_start\n  where process.command_line {op} {value}"),
    );
    let (outputs, diags) = common::compile_text(&text);
    assert!(diags.is_empty(), "{op} {value}: {diags:?}");
    outputs.into_iter().map(|o| (o.language, o.query)).collect()
}

#[test]
fn awkward_values_never_change_a_query_shape() {
    let mut checked = 0;
    for op in OPS {
        let allowed: Vec<Vec<String>> = BENIGN
            .iter()
            .map(|b| {
                compiled(op, b)
                    .iter()
                    .map(|(l, q)| skeleton(q, *l))
                    .collect()
            })
            .collect();
        for value in AWKWARD {
            for (i, (lang, query)) in compiled(op, value).iter().enumerate() {
                let shape = skeleton(query, *lang);
                assert!(
                    allowed.iter().any(|a| a[i] == shape),
                    "{} `{op} {value}` changed shape:\n{query}\nallowed:\n{}",
                    lang.as_str(),
                    allowed
                        .iter()
                        .map(|a| a[i].as_str())
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, OPS.len() * AWKWARD.len() * 4);
}

#[test]
fn lists_keep_their_shape_too() {
    let list = |v: &str| compiled("in", &format!("[{v}, \"zz\"]"));
    let allowed: Vec<Vec<String>> = BENIGN
        .iter()
        .map(|b| list(b).iter().map(|(l, q)| skeleton(q, *l)).collect())
        .collect();
    for value in AWKWARD {
        for (i, (lang, query)) in list(value).iter().enumerate() {
            let shape = skeleton(query, *lang);
            assert!(allowed.iter().any(|a| a[i] == shape), "{query}");
        }
    }
}

#[test]
fn skeleton_lexer_sees_a_break_out() {
    // The checks above can fail: a literal that closes early shows in the skeleton.
    assert_ne!(
        skeleton(r#"x == "a" | delete""#, Language::Kql),
        skeleton(r#"x == "a\" | delete""#, Language::Kql)
    );
}
