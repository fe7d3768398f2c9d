//! Reading a Sigma file's YAML documents.
//!
//! Sigma rules are written in a small block-style part of YAML: nested mappings and
//! sequences, single-line scalars (plain, quoted, one-line flow lists) and `|`/`>` text.
//! [`documents`] reads that part itself, about ten times faster than a general YAML parser
//! (parsing was most of an import's time), and hands every document outside it — anchors,
//! tags, flow mappings, multi-line plain or quoted scalars, numbers other than plain
//! integers, anything unusual — to serde-saphyr whole. The fast reader only ever accepts
//! text whose value it knows to be serde-saphyr's (tests compare the two on the SigmaHQ
//! corpus), so the result is serde-saphyr's either way, errors and limits included.

use serde_json::{Map, Number, Value as J};

/// The documents of one YAML file, or the parse error: its first line without the location,
/// and the byte offset it points at.
pub(crate) fn documents(text: &str) -> Result<Vec<J>, (String, usize)> {
    if let Some(docs) = fast(text) {
        return Ok(docs);
    }
    serde_saphyr::from_multiple(text).map_err(|e| crate::schema::yaml_error(text, &e))
}

/// The documents, when every one is inside the subset the fast reader knows; else `None`.
pub(crate) fn fast(text: &str) -> Option<Vec<J>> {
    if text.contains('\r') || text.starts_with('\u{feff}') {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut docs = Vec::new();
    let mut start = 0;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("---") || line.starts_with("...") || line.starts_with('%') {
            if line.trim_end() != "---" {
                return None;
            }
            // Only blank and comment lines may come before the first `---`.
            if !(docs.is_empty() && start == 0 && is_empty_part(&lines[..i])) {
                docs.push(document(&lines[start..i])?);
            }
            start = i + 1;
        }
    }
    docs.push(document(&lines[start..])?);
    Some(docs)
}

/// The byte ranges of a YAML stream's documents, split at `---` lines as [`fast`] splits
/// them (and at `--- ` with content after it): for pointing into the text, not for reading.
pub(crate) fn document_spans(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            out.push((start, at));
            start = at + line.len();
        }
        at += line.len();
    }
    out.push((start, text.len()));
    out.retain(|(s, e)| !text[*s..*e].trim().is_empty());
    out
}

/// Each line's key (`key:` after any `- ` and quotes) with the key's offset and the line.
pub(crate) fn keys(text: &str) -> impl Iterator<Item = (usize, &str, &str)> {
    let mut at = 0;
    text.split_inclusive('\n').filter_map(move |line| {
        let start = at;
        at += line.len();
        let body = line.trim_start().trim_start_matches("- ").trim_start();
        let (key, _) = body.split_once(':')?;
        let key = key.trim().trim_matches(['\'', '"']);
        (!key.is_empty() && !key.starts_with('#'))
            .then(|| (start + (line.len() - body.len()), key, line))
    })
}

fn is_empty_part(lines: &[&str]) -> bool {
    lines.iter().all(|l| is_blank_or_comment(l))
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim_start_matches(' ');
    t.is_empty() || t.starts_with('#')
}

fn document(lines: &[&str]) -> Option<J> {
    let mut r = Reader {
        lines,
        pos: 0,
        depth: 0,
    };
    let (_, indent, _) = r.peek()?; // an empty document is left to serde-saphyr
    let v = r.block(indent)?;
    r.peek().is_none().then_some(v)
}

struct Reader<'a, 'l> {
    lines: &'l [&'a str],
    pos: usize,
    /// Nesting of the node being read: past [`MAX_DEPTH`] serde-saphyr (and its limits)
    /// reads the document, so no input can exhaust the stack here.
    depth: usize,
}

/// Sigma rules nest a few levels; anything deeper is left to serde-saphyr.
const MAX_DEPTH: usize = 32;

impl<'a> Reader<'a, '_> {
    /// The next line with content: (index, indent, text after the indent).
    fn peek(&self) -> Option<(usize, usize, &'a str)> {
        let mut i = self.pos;
        while let Some(line) = self.lines.get(i) {
            let t = line.trim_start_matches(' ');
            if !(t.is_empty() || t.starts_with('#')) {
                if t.starts_with('\t') {
                    return None; // a tab in indentation: serde-saphyr reports it
                }
                return Some((i, line.len() - t.len(), t));
            }
            i += 1;
        }
        None
    }

    /// The indent of the next line with content, if any (`None` at the end).
    fn next_indent(&self) -> Option<usize> {
        self.peek().map(|(_, n, _)| n)
    }

    /// A block node whose first line has indent `n`.
    fn block(&mut self, n: usize) -> Option<J> {
        let (_, _, t) = self.peek()?;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let v = if is_item(t) {
            self.sequence(n)
        } else {
            self.mapping(n, None)
        };
        self.depth -= 1;
        v
    }

    fn sequence(&mut self, n: usize) -> Option<J> {
        let mut items = Vec::new();
        while let Some((i, indent, t)) = self.peek() {
            if indent < n {
                break;
            }
            if indent > n {
                return None;
            }
            if !is_item(t) {
                break;
            }
            self.pos = i + 1;
            let content = t[1..].trim_start_matches(' ');
            let column = n + (t.len() - content.len());
            let item = if content.is_empty() || content.starts_with('#') {
                match self.next_indent() {
                    Some(m) if m > n => self.block(m)?,
                    _ => J::Null,
                }
            } else if is_item(content) {
                return None;
            } else if entry(content).is_some() {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return None;
                }
                let m = self.mapping(column, Some(content))?;
                self.depth -= 1;
                m
            } else {
                self.value(content, n)?
            };
            items.push(item);
        }
        Some(J::Array(items))
    }

    /// A block mapping at indent `n`; `first` is an entry that began on a `- ` line.
    fn mapping(&mut self, n: usize, mut first: Option<&'a str>) -> Option<J> {
        let mut map = Map::new();
        loop {
            let t = match first.take() {
                Some(t) => t,
                None => match self.peek() {
                    Some((i, indent, t)) if indent == n && !is_item(t) => {
                        self.pos = i + 1;
                        t
                    }
                    Some((_, indent, _)) if indent > n => return None,
                    _ => break,
                },
            };
            let (key, rest) = entry(t)?;
            let rest = rest.trim_start_matches(' ');
            let v = if rest.is_empty() || rest.starts_with('#') {
                match self.peek() {
                    Some((_, m, _)) if m > n => self.block(m)?,
                    Some((_, m, t)) if m == n && is_item(t) => self.sequence(n)?,
                    _ => J::Null,
                }
            } else {
                self.value(rest, n)?
            };
            if map.insert(key, v).is_some() {
                return None; // a duplicate key: serde-saphyr reports it
            }
        }
        Some(J::Object(map))
    }

    /// The value on a line after `key:` or `- `, in a node at indent `n`.
    fn value(&mut self, s: &'a str, n: usize) -> Option<J> {
        let v = match s.as_bytes()[0] {
            b'\'' | b'"' => {
                let (v, rest) = quoted(s)?;
                only_comment(rest).then_some(J::String(v))?
            }
            b'[' => flow_list(s)?,
            b'|' | b'>' => return self.block_scalar(s, n),
            _ => plain(s).and_then(resolve)?,
        };
        // A more indented line after a one-line value continues it (or is an error).
        match self.next_indent() {
            Some(m) if m > n => None,
            _ => Some(v),
        }
    }

    /// `|`, `|-`, `>` or `>-` text: the lines indented more than `n`.
    fn block_scalar(&mut self, header: &str, n: usize) -> Option<J> {
        let (style, chomp) = header.split_at(1);
        let chomp = chomp.trim_end();
        let strip = match chomp {
            "" => false,
            "-" => true,
            _ => return None, // keep (`+`), indentation indicators, comments: serde-saphyr
        };
        let first = self.lines.get(self.pos)?;
        let indent = first.len() - first.trim_start_matches(' ').len();
        if indent <= n || first.trim().is_empty() || first[indent..].starts_with('\t') {
            return None;
        }
        let mut body: Vec<&str> = Vec::new();
        while let Some(line) = self.lines.get(self.pos) {
            let blank = line.trim_start_matches(' ').is_empty();
            if !blank && line.len() - line.trim_start_matches(' ').len() < indent {
                break;
            }
            if blank && line.len() > indent {
                return None; // spaces that are content
            }
            body.push(line.get(indent..).unwrap_or(""));
            self.pos += 1;
        }
        while body.last().is_some_and(|l| l.is_empty()) {
            body.pop();
        }
        let mut text = if style == "|" {
            body.join("\n")
        } else {
            // Folding is plain joining only when every line is a simple text line.
            if body
                .iter()
                .any(|l| l.is_empty() || l.starts_with([' ', '\t']))
            {
                return None;
            }
            body.join(" ")
        };
        if !strip {
            text.push('\n');
        }
        Some(J::String(text))
    }
}

fn is_item(t: &str) -> bool {
    t == "-" || t.starts_with("- ")
}

/// `key: rest` or `key:` → (key, rest); `None` when the line is not a simple entry.
fn entry(t: &str) -> Option<(String, &str)> {
    if t.starts_with(['\'', '"']) {
        let (key, rest) = quoted(t)?;
        let rest = rest.trim_start_matches(' ').strip_prefix(':')?;
        return (rest.is_empty() || rest.starts_with(' ')).then_some((key, rest));
    }
    let colon = find2(t, b':', b' ').or_else(|| t.ends_with(':').then(|| t.len() - 1))?;
    let key = t[..colon].trim_end_matches(' ');
    if key.is_empty() || comment_start(key).is_some() || plain_start_is_special(key) {
        return None;
    }
    match resolve(key)? {
        J::String(k) => Some((k, &t[colon + 1..])),
        _ => None, // a null, number or boolean key
    }
}

/// Whether a plain scalar starting like this needs the full reader (indicators, tags,
/// anchors, aliases, flow mappings).
fn plain_start_is_special(s: &str) -> bool {
    s.starts_with([
        '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@',
        '`',
    ])
}

/// A one-line plain scalar in block context (its comment removed), or `None`.
fn plain(s: &str) -> Option<&str> {
    if plain_start_is_special(s) {
        return None;
    }
    let end = comment_start(s).unwrap_or(s.len());
    let v = s[..end].trim_end_matches([' ', '\t']);
    let colon_blank = v
        .as_bytes()
        .windows(2)
        .any(|w| w[0] == b':' && matches!(w[1], b' ' | b'\t'));
    (!colon_blank && !v.ends_with(':')).then_some(v)
}

/// Where the two ASCII bytes `a b` first occur: a plain byte scan, cheaper than a `str`
/// searcher on the short lines of a rule file.
fn find2(s: &str, a: u8, b: u8) -> Option<usize> {
    s.as_bytes().windows(2).position(|w| w[0] == a && w[1] == b)
}

/// Where a comment starts: the blank before the first `#` that follows a blank.
fn comment_start(s: &str) -> Option<usize> {
    s.as_bytes()
        .windows(2)
        .position(|w| matches!(w[0], b' ' | b'\t') && w[1] == b'#')
}

/// Resolve a plain scalar as YAML 1.2's core schema does: null, booleans, plain decimal
/// integers, strings. Anything that could be read as another number form (or as a YAML
/// 1.1 value such as `yes`) is left to serde-saphyr.
fn resolve(s: &str) -> Option<J> {
    Some(match s {
        "~" | "null" | "Null" | "NULL" => J::Null,
        "true" | "True" | "TRUE" => J::Bool(true),
        "false" | "False" | "FALSE" => J::Bool(false),
        _ if is_plain_int(s) => J::Number(Number::from(s.parse::<i64>().ok()?)),
        _ if maybe_special(s) => return None,
        _ => J::String(s.to_string()),
    })
}

/// `0`, `42`, `-7` (no sign `+`, no leading zero).
fn is_plain_int(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
}

/// Scalars serde-saphyr might not read as a string: number forms other than plain
/// integers (floats, `0x`/`0o`/`0b`, `1_000`, leading zeros, `.inf`) and the words it
/// takes as null or booleans in any case (`tRUE`, `yes`, `off`).
fn maybe_special(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "null" | "true" | "false" | "y" | "n" | "yes" | "no" | "on" | "off"
    ) {
        return true;
    }
    let body = lower.trim_start_matches(['-', '+']);
    if body.starts_with("0x") || body.starts_with("0o") || body.starts_with("0b") {
        return true;
    }
    if body.starts_with(".inf") || body.starts_with(".nan") {
        return true;
    }
    // Digits with `_`, `.` and an exponent (a sign only right after the `e`).
    let b = body.as_bytes();
    b.iter().any(u8::is_ascii_digit)
        && b.iter().enumerate().all(|(i, &c)| {
            c.is_ascii_digit()
                || matches!(c, b'_' | b'.' | b'e')
                || (matches!(c, b'+' | b'-') && i > 0 && b[i - 1] == b'e')
        })
}

/// A quoted scalar at the start of `s` (one line): (value, text after the closing quote).
fn quoted(s: &str) -> Option<(String, &str)> {
    let quote = s.as_bytes()[0];
    let mut out = String::new();
    let mut chars = s[1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' if quote == b'\'' => {
                if s[1 + i + 1..].starts_with('\'') {
                    chars.next();
                    out.push('\'');
                } else {
                    return Some((out, &s[1 + i + 1..]));
                }
            }
            '"' if quote == b'"' => return Some((out, &s[1 + i + 1..])),
            '\\' if quote == b'"' => {
                let (_, e) = chars.next()?;
                let hex = |chars: &mut std::str::CharIndices, n: usize| -> Option<char> {
                    let digits: String = (0..n).filter_map(|_| chars.next().map(|c| c.1)).collect();
                    (digits.len() == n)
                        .then(|| u32::from_str_radix(&digits, 16).ok())
                        .flatten()
                        .and_then(char::from_u32)
                };
                out.push(match e {
                    '0' => '\0',
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    't' | '\t' => '\t',
                    'n' => '\n',
                    'v' => '\u{b}',
                    'f' => '\u{c}',
                    'r' => '\r',
                    'e' => '\u{1b}',
                    ' ' => ' ',
                    '"' => '"',
                    '/' => '/',
                    '\\' => '\\',
                    'N' => '\u{85}',
                    '_' => '\u{a0}',
                    'L' => '\u{2028}',
                    'P' => '\u{2029}',
                    'x' => hex(&mut chars, 2)?,
                    'u' => hex(&mut chars, 4)?,
                    'U' => hex(&mut chars, 8)?,
                    _ => return None,
                });
            }
            _ => out.push(c),
        }
    }
    None // not closed on this line
}

/// After a value: nothing, or a comment.
fn only_comment(rest: &str) -> bool {
    let t = rest.trim_start_matches([' ', '\t']);
    t.is_empty() || (t.starts_with('#') && t.len() < rest.len())
}

/// A one-line flow list of scalars: `[a, 'b', "c"]`.
fn flow_list(s: &str) -> Option<J> {
    let mut items = Vec::new();
    let mut rest = s[1..].trim_start_matches(' ');
    if let Some(after) = rest.strip_prefix(']') {
        return only_comment(after).then_some(J::Array(items));
    }
    loop {
        let (item, after) = if rest.starts_with(['\'', '"']) {
            let (v, after) = quoted(rest)?;
            (J::String(v), after)
        } else {
            let end = rest.find([',', ']'])?;
            let v = rest[..end].trim_end_matches(' ');
            if v.is_empty() || plain_start_is_special(v) || v.contains([':', '#', '[', '{', '}']) {
                return None;
            }
            (resolve(v)?, &rest[end..])
        };
        items.push(item);
        let after = after.trim_start_matches(' ');
        if let Some(a) = after.strip_prefix(']') {
            return only_comment(a).then_some(J::Array(items));
        }
        rest = after.strip_prefix(',')?.trim_start_matches(' ');
        if rest.starts_with(']') {
            return None; // a trailing comma
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saphyr(text: &str) -> Option<Vec<J>> {
        serde_saphyr::from_multiple(text).ok()
    }

    /// Every text the fast reader takes must read as serde-saphyr reads it.
    fn same(text: &str) -> bool {
        match fast(text) {
            Some(v) => {
                assert_eq!(Some(v), saphyr(text), "fast reader differs on:\n{text}");
                true
            }
            None => false,
        }
    }

    #[test]
    fn reads_the_sigma_subset_as_serde_saphyr_does() {
        let rule = "title: T\nid: 1\nstatus: test\ndate: 2022-09-27\nrelated:\n    - id: a\n      type: derived\ntags:\n- attack.t1\n- 'x'\nlogsource:\n    category: process_creation   # c\n    product: windows\ndetection:\n    sel:\n        Image|endswith:\n            - '\\7z.exe'\n            - \"a\\\"b\\\\c\\x41\"\n        X: ~\n        W: ''\n        Z: [a, 'b c', 3, true]\n        E:\n    condition: sel and not 1 of f*\ndescription: |\n    line one\n      indented\n\n    last\nnote: >-\n    folded\n    text\nlevel: high\n";
        assert!(same(rule));
        assert!(same("a: 1\n---\nb: [ ]\n"));
        assert!(same("---\n# c\na: -1\n...\n") || fast("---\na: -1\n...\n").is_none());
        assert!(same("a:\n  - - x\n") || fast("a:\n  - - x\n").is_none());
    }

    #[test]
    fn leaves_everything_else_to_serde_saphyr() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: {b: 1}\n",
            "a: 1.5\n",
            "a: 0x10\n",
            "a: 010\n",
            "a: yes\n",
            "a: 'multi\n  line'\n",
            "a: plain\n  continued\n",
            "a: 1\na: 2\n",
            "a: |+\n  x\n",
            "a: |2\n  x\n",
            "a:\tb\n",
            "\ta: 1\n",
            "a: b: c\n",
            "a: [1, [2]]\n",
            "a: [1,]\n",
            "%YAML 1.2\n---\na: 1\n",
            "a: 1\r\n",
            "",
        ] {
            assert!(fast(text).is_none(), "fast reader took:\n{text}");
            // The full reader still gives its value or its error.
            let _ = documents(text);
        }
    }

    #[test]
    fn deep_nesting_is_left_to_serde_saphyr() {
        let deep: String = (0..10_000)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        assert!(fast(&deep).is_none());
        let _ = documents(&deep); // serde-saphyr's own limits decide; no crash
        let items: String = (0..10_000)
            .map(|i| format!("{}- k{i}:\n", " ".repeat(2 * i)))
            .collect();
        assert!(fast(&items).is_none());
        let shallow: String = (0..20)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        assert!(same(&shallow));
    }

    #[test]
    fn edge_forms_agree_with_serde_saphyr_when_taken() {
        for text in [
            "k: v # comment\n",
            "k: 'it''s' # c\n",
            "k: \"\\u00e9\\t\"\n",
            "'quoted key': 1\n\"dq\": 2\n",
            "k: a#b\n",
            "k: -foo\n",
            "k: 12345678901234567890\n",
            "k: -0\n",
            "k: '-'\n",
            "k:\n- a\n- b: 1\n  c: 2\n",
            "- a\n- b\n",
            "k: |\n  a\n\n  b\n\n\nn: 1\n",
            "k: |-\n   x\n",
            "k: >\n  a\n  b\n",
            "k: []\n",
            "k: [a , b]\n",
            "k: \"a\\/b\"\n",
            "k: 1:30\n",
            "k: 2001:db8::1\n",
            "k: .5\n",
            "k: C:\\Windows\\x.exe\n",
            "k: null\nl: True\nm: FALSE\n",
        ] {
            same(text);
        }
        assert!(same("k: v # comment\n"));
        assert!(same("k:\n- a\n- b: 1\n  c: 2\n"));
    }

    /// The whole SigmaHQ corpus: wherever the fast reader takes a file, the value is
    /// serde-saphyr's; and it takes nearly all of them (else it would not be worth having).
    #[test]
    fn agrees_with_serde_saphyr_on_the_sigma_corpus() {
        let root = std::path::Path::new("/work/shared/sigma");
        if !root.is_dir() {
            eprintln!("skipping: {} is absent", root.display());
            return;
        }
        let mut stack = vec![root.to_path_buf()];
        let (mut files, mut taken) = (0, 0);
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                    let text = std::fs::read_to_string(&p).unwrap();
                    files += 1;
                    if let Some(v) = fast(&text) {
                        taken += 1;
                        assert_eq!(Some(v), saphyr(&text), "{}", p.display());
                    }
                }
            }
        }
        eprintln!("fast reader: {taken} of {files} files");
        assert!(files > 3000);
        assert!(
            taken * 100 >= files * 97,
            "fast reader took {taken} of {files} files"
        );
    }
}
