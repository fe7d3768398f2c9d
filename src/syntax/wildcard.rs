//! `like` patterns are read from the literal as written: in a `"..."` string, `\*` and `\?`
//! are a literal `*` and `?`, while `*` and `?` are wildcards; a `'...'` string has no
//! escapes, so every `*` and `?` in it is a wildcard (handy for Windows paths).
//!
//! The AST keeps a `like` value as *pattern text*, whichever way it was written: `*` and `?`
//! are wildcards; `\*`, `\?` and `\\` a literal `*`, `?` and backslash; any other
//! backslash is itself ([`like_pattern`], [`parse_like`]).

use crate::base::{WildPart, Wildcard};

/// The pattern of a string literal's source text (quotes included).
pub(crate) fn wildcard(literal: &str) -> Wildcard {
    let mut parts = Vec::new();
    let mut text = String::new();
    let push = |parts: &mut Vec<WildPart>, text: &mut String, part: WildPart| {
        if !text.is_empty() {
            parts.push(WildPart::Literal(std::mem::take(text)));
        }
        parts.push(part);
    };
    if let Some(body) = literal
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
    {
        let body = body.replace("''", "'");
        for c in body.chars() {
            match c {
                '*' => push(&mut parts, &mut text, WildPart::AnyRun),
                '?' => push(&mut parts, &mut text, WildPart::AnyOne),
                c => text.push(c),
            }
        }
    } else {
        let body = literal
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(literal);
        let mut rest = body;
        while let Some(c) = rest.chars().next() {
            rest = &rest[c.len_utf8()..];
            match c {
                '*' => push(&mut parts, &mut text, WildPart::AnyRun),
                '?' => push(&mut parts, &mut text, WildPart::AnyOne),
                // An escape is one literal character, `\*` and `\?` included; the parser
                // has already rejected malformed escapes.
                '\\' => match super::decode_escape(rest) {
                    Ok((ch, used)) => {
                        text.push(ch);
                        rest = &rest[used..];
                    }
                    Err(_) => text.push('\\'),
                },
                c => text.push(c),
            }
        }
    }
    if !text.is_empty() {
        parts.push(WildPart::Literal(text));
    }
    Wildcard(parts)
}

/// The pattern text of a wildcard: a literal `*`, `?` or `\` is escaped with a backslash.
pub(crate) fn like_pattern(w: &Wildcard) -> String {
    let mut out = String::new();
    for part in &w.0 {
        match part {
            WildPart::AnyRun => out.push('*'),
            WildPart::AnyOne => out.push('?'),
            WildPart::Literal(s) => {
                for c in s.chars() {
                    if matches!(c, '*' | '?' | '\\') {
                        out.push('\\');
                    }
                    out.push(c);
                }
            }
        }
    }
    out
}

/// The wildcard of pattern text (the inverse of [`like_pattern`]).
pub(crate) fn parse_like(pattern: &str) -> Wildcard {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        let part = match c {
            '*' => WildPart::AnyRun,
            '?' => WildPart::AnyOne,
            '\\' => {
                match chars.peek() {
                    Some(&e @ ('*' | '?' | '\\')) => {
                        chars.next();
                        text.push(e);
                    }
                    _ => text.push('\\'),
                }
                continue;
            }
            c => {
                text.push(c);
                continue;
            }
        };
        if !text.is_empty() {
            parts.push(WildPart::Literal(std::mem::take(&mut text)));
        }
        parts.push(part);
    }
    if !text.is_empty() {
        parts.push(WildPart::Literal(text));
    }
    Wildcard(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use WildPart::*;

    fn lit(s: &str) -> WildPart {
        Literal(s.into())
    }

    #[test]
    fn pattern_text_round_trips() {
        for literal in [
            r#""C:\\*\\Temp\\?.exe""#,
            r#""a\*b\?""#,
            r"'C:\Users\*\it''s?'",
            r#""\\\*x""#,
            r#""""#,
        ] {
            let w = wildcard(literal);
            assert_eq!(parse_like(&like_pattern(&w)), w, "{literal}");
        }
        assert_eq!(like_pattern(&wildcard(r"'C:\U\*'")), r"C:\\U\\*");
        assert_eq!(like_pattern(&wildcard(r#""a\*b*""#)), r"a\*b*");
        // A backslash before anything else is itself.
        assert_eq!(parse_like(r"C:\U*").0, vec![lit("C:\\U"), AnyRun]);
    }

    #[test]
    fn escaped_form_reads_backslash_star_as_literal() {
        let w = wildcard(r#""C:\\*\\Temp\\?.exe""#);
        assert_eq!(
            w.0,
            vec![lit("C:\\"), AnyRun, lit("\\Temp\\"), AnyOne, lit(".exe")]
        );
        assert_eq!(wildcard(r#""a\*b\?""#).0, vec![lit("a*b?")]);
        // Every escape is a literal, even one that spells a wildcard character.
        assert_eq!(wildcard(r#""\u{2A}\n\"*""#).0, vec![lit("*\n\""), AnyRun]);
    }

    #[test]
    fn raw_form_has_no_escapes() {
        let w = wildcard(r"'C:\Users\*\it''s?'");
        assert_eq!(w.0, vec![lit("C:\\Users\\"), AnyRun, lit("\\it's"), AnyOne]);
    }
}
