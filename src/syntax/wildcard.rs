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
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '*' => push(&mut parts, &mut text, WildPart::AnyRun),
                '?' => push(&mut parts, &mut text, WildPart::AnyOne),
                '\\' => match chars.next() {
                    Some('n') => text.push('\n'),
                    Some('t') => text.push('\t'),
                    Some('r') => text.push('\r'),
                    Some('u') => {
                        // `\u{1F600}`; the parser has already rejected malformed escapes.
                        let rest: String = chars.by_ref().take_while(|c| *c != '}').collect();
                        let hex = rest.trim_start_matches('{');
                        if let Some(ch) = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)
                        {
                            text.push(ch);
                        }
                    }
                    Some(other) => text.push(other),
                    None => text.push('\\'),
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
    }

    #[test]
    fn raw_form_has_no_escapes() {
        let w = wildcard(r"'C:\Users\*\it''s?'");
        assert_eq!(w.0, vec![lit("C:\\Users\\"), AnyRun, lit("\\it's"), AnyOne]);
    }
}
