//! `like` patterns are read from the literal as written: in a `"..."` string, `\*` and `\?`
//! are a literal `*` and `?`, while `*` and `?` are wildcards; a `'...'` string has no
//! escapes, so every `*` and `?` in it is a wildcard (handy for Windows paths).

use crate::ir::{WildPart, Wildcard};

/// The pattern of a string literal's source text (quotes included).
pub fn wildcard(literal: &str) -> Wildcard {
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

#[cfg(test)]
mod tests {
    use super::*;
    use WildPart::*;

    fn lit(s: &str) -> WildPart {
        Literal(s.into())
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
