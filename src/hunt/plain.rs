//! Whether a line is *plainly* one JSON object: valid, and written so that each string's
//! raw text is a fixed encoding of its value. On such a line a literal the rules need can be
//! looked for in the raw bytes, and a line holding none of them is an event no rule matches,
//! counted without being parsed.
//!
//! Plain means: UTF-8 with no control byte (so no tab or CR between tokens either), at most
//! [`MAX_DEPTH`] levels, string escapes only `\\ \" \n \t \r \b \f` (a `\u` or `\/` could
//! spell any character another way), numbers without exponent and at most 40 bytes long.
//! serde_json parses every plain line to an object (its limit is 128 levels; such numbers
//! are never out of range); a line that is not plain is parsed, as every line used to be.

use std::cell::RefCell;
use wide::u8x16;

/// Below serde_json's recursion limit (128).
const MAX_DEPTH: usize = 64;
const MAX_NUMBER: usize = 40;

thread_local! {
    /// Per 64 bytes of a line, the bits of its tokens (reused from line to line).
    static TOKENS: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Two passes, as simdjson validates: the bytes are classified 16 at a time into bitmaps
/// (quotes, backslashes, spaces, control and non-ASCII bytes), from which come the escaped
/// bytes, the strings and the *tokens*: every opening quote and every byte outside strings
/// but spaces; then the grammar walks the tokens only, a string being one token.
///
/// The first pass also writes the line in ASCII lowercase to `lowered`, for a search of
/// literals in either case (whole only when the line is plain).
pub(super) fn is_plain_object(line: &[u8], lowered: &mut Vec<u8>) -> bool {
    if line.first() != Some(&b'{') {
        return false;
    }
    TOKENS.with_borrow_mut(|tokens| {
        tokens.clear();
        lowered.clear();
        tokenize(line, tokens, lowered) && walk(line, tokens)
    })
}

/// One block's bytes by class, a bit per byte.
struct Classes {
    quote: u64,
    backslash: u64,
    space: u64,
    /// Bytes below 0x20 or from 0x80 on.
    special: u64,
}

fn classify(block: &[u8; 64], lowered: &mut [u8; 64]) -> Classes {
    let mut c = Classes {
        quote: 0,
        backslash: 0,
        space: 0,
        special: 0,
    };
    for (k, chunk) in block.chunks_exact(16).enumerate() {
        let v = u8x16::new(chunk.try_into().expect("16 bytes"));
        let bits = |mask: u8x16| u64::from(mask.to_bitmask()) << (16 * k);
        c.quote |= bits(v.simd_eq(u8x16::splat(b'"')));
        c.backslash |= bits(v.simd_eq(u8x16::splat(b'\\')));
        c.space |= bits(v.simd_eq(u8x16::splat(b' ')));
        // Below 0x20 (min is itself), or the top bit set.
        c.special |= bits(v.simd_eq(v.min(u8x16::splat(0x1f))) | v);
        let upper = v.simd_eq(v.max(u8x16::splat(b'A'))) & v.simd_eq(v.min(u8x16::splat(b'Z')));
        let lower = v | (upper & u8x16::splat(0x20));
        lowered[16 * k..16 * (k + 1)].copy_from_slice(&lower.to_array());
    }
    c
}

/// The bytes a backslash escapes (the one after an odd run of backslashes) in one block;
/// `carry` says the block's first byte is escaped, and is set for the next block
/// (simdjson's branchless method: runs starting on odd bits are told apart by an add).
fn escaped(backslash: u64, carry: &mut bool) -> u64 {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    let backslash = backslash & !u64::from(*carry);
    let follows = backslash << 1 | u64::from(*carry);
    let odd_starts = backslash & !EVEN & !follows;
    let (even_starts, overflow) = odd_starts.overflowing_add(backslash);
    *carry = overflow;
    (EVEN ^ (even_starts << 1)) & follows
}

/// Each bit the XOR of itself and all below: from an opening quote up to (not with) its
/// closing one.
fn prefix_xor(mut x: u64) -> u64 {
    for shift in [1, 2, 4, 8, 16, 32] {
        x ^= x << shift;
    }
    x
}

/// The token bits of `line`, 64 bytes a word, and its lowercase copy; false when a byte
/// rules the line out: a control byte, an escape other than the plain ones, invalid UTF-8.
fn tokenize(line: &[u8], tokens: &mut Vec<u64>, lowered: &mut Vec<u8>) -> bool {
    let mut escape_carry = false;
    // All ones while a string runs on from the block before.
    let mut in_string = 0u64;
    let mut special = false;
    let mut padded = [b' '; 64];
    for chunk in line.chunks(64) {
        let block: &[u8; 64] = match chunk.try_into() {
            Ok(block) => block,
            Err(_) => {
                // The last block, padded with spaces: no token, and no change to a string.
                padded[..chunk.len()].copy_from_slice(chunk);
                &padded
            }
        };
        let mut lower = [0; 64];
        let c = classify(block, &mut lower);
        // Whole blocks, a copy of known size (the padding is cut off at the end).
        lowered.extend_from_slice(&lower);
        let mut esc = escaped(c.backslash, &mut escape_carry);
        let quote = c.quote & !esc;
        let strings = prefix_xor(quote) ^ in_string;
        in_string = 0u64.wrapping_sub(strings >> 63);
        tokens.push((quote & strings) | (!strings & !quote & !c.space));
        special |= c.special != 0;
        while esc != 0 {
            let at = esc.trailing_zeros() as usize;
            if !matches!(block[at], b'\\' | b'"' | b'n' | b't' | b'r' | b'b' | b'f') {
                return false;
            }
            esc &= esc - 1;
        }
    }
    lowered.truncate(line.len());
    // Control bytes and non-ASCII are rare: told apart only when some byte is either.
    !special || std::str::from_utf8(line).is_ok_and(|t| !t.bytes().any(|b| b < 0x20))
}

/// The tokens of a line, in order.
#[derive(Clone, Copy)]
struct Tokens<'a> {
    line: &'a [u8],
    words: &'a [u64],
    word: usize,
    /// The current word's tokens not taken yet.
    bits: u64,
}

impl Tokens<'_> {
    /// The next token's place.
    fn next_at(&mut self) -> Option<usize> {
        while self.bits == 0 {
            self.word += 1;
            self.bits = *self.words.get(self.word)?;
        }
        let i = self.word * 64 + self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(i)
    }

    fn next(&mut self) -> Option<u8> {
        self.next_at().map(|i| self.line[i])
    }

    fn peek(&self) -> Option<u8> {
        { *self }.next()
    }

    /// Drops the tokens before `end` (a scalar's bytes after its first).
    fn skip_to(&mut self, end: usize) {
        let last = end - 1;
        if last / 64 != self.word {
            self.word = last / 64;
            self.bits = self.words[self.word];
        }
        self.bits &= u64::MAX.checked_shl(last as u32 % 64 + 1).unwrap_or(0);
    }
}

/// The JSON grammar over the tokens, by recursive descent (each place in the grammar its
/// own branch, which predicts well on lines of one shape): one object, then nothing.
fn walk(line: &[u8], words: &[u64]) -> bool {
    let mut t = Tokens {
        line,
        words,
        word: 0,
        bits: words.first().copied().unwrap_or(0),
    };
    value(&mut t, 0) && t.next().is_none()
}

/// One value; `depth` containers are open around it.
fn value(t: &mut Tokens, depth: usize) -> bool {
    t.next_at().is_some_and(|i| value_at(t, i, depth))
}

/// The value whose first token, taken, is at `i`.
fn value_at(t: &mut Tokens, i: usize, depth: usize) -> bool {
    match t.line[i] {
        b'"' => true,
        b'{' | b'[' if depth == MAX_DEPTH => false,
        b'{' => object(t, depth + 1),
        b'[' => array(t, depth + 1),
        _ => scalar(t.line, i).map(|end| t.skip_to(end)).is_some(),
    }
}

/// The rest of an object after its `{`.
fn object(t: &mut Tokens, depth: usize) -> bool {
    let mut key = t.next();
    if key == Some(b'}') {
        return true;
    }
    loop {
        // A key (one token: the string), a colon, a value, then `,` or `}`.
        if key != Some(b'"') || t.next() != Some(b':') {
            return false;
        }
        // Most values are strings: told here, without a call.
        match t.next_at() {
            Some(i) if t.line[i] == b'"' => {}
            Some(i) if value_at(t, i, depth) => {}
            _ => return false,
        }
        match t.next() {
            Some(b',') => key = t.next(),
            Some(b'}') => return true,
            _ => return false,
        }
    }
}

/// The rest of an array after its `[`.
fn array(t: &mut Tokens, depth: usize) -> bool {
    if t.peek() == Some(b']') {
        t.next();
        return true;
    }
    loop {
        if !value(t, depth) {
            return false;
        }
        match t.next() {
            Some(b',') => {}
            Some(b']') => return true,
            _ => return false,
        }
    }
}

/// The end of the `true`, `false`, `null` or number that starts at `i`: numbers without
/// exponent, at most [`MAX_NUMBER`] bytes.
fn scalar(b: &[u8], i: usize) -> Option<usize> {
    let rest = &b[i..];
    for word in [&b"true"[..], b"false", b"null"] {
        if rest.starts_with(word) {
            return Some(i + word.len());
        }
    }
    let digits = |j: &mut usize| {
        let from = *j;
        while b.get(*j).is_some_and(u8::is_ascii_digit) {
            *j += 1;
        }
        *j > from
    };
    let mut j = i + usize::from(b[i] == b'-');
    match b.get(j) {
        Some(b'0') => j += 1,
        Some(b'1'..=b'9') => {
            digits(&mut j);
        }
        _ => return None,
    }
    if b.get(j) == Some(&b'.') {
        j += 1;
        if !digits(&mut j) {
            return None;
        }
    }
    (!matches!(b.get(j), Some(b'e' | b'E')) && j - i <= MAX_NUMBER).then_some(j)
}

/// A literal as it shows in a plain line's raw text: JSON's own escapes, which are the ones
/// a plain line may use (`\\ \" \n \t \r \b \f`; any other control character becomes a
/// `\u` escape, which no plain line holds, so such a literal is rightly never found).
pub(super) fn encoded(literal: &str) -> String {
    let quoted = serde_json::Value::from(literal).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A seeded xorshift: `next(n)` is in `0..n`.
    pub(in crate::hunt) fn rng(mut state: u64) -> impl FnMut(usize) -> usize {
        move |n| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        }
    }

    fn is_plain(line: &[u8]) -> bool {
        let mut lowered = Vec::new();
        let plain = is_plain_object(line, &mut lowered);
        if plain {
            assert_eq!(lowered, line.to_ascii_lowercase());
        }
        plain
    }

    /// Plain lines are exactly the lines serde_json parses to an object, minus the ones
    /// whose raw text could spell a value another way.
    #[test]
    fn plain_lines_parse_and_the_rest_are_left_to_the_parser() {
        let plain = [
            r#"{}"#,
            r#"{"a": "C:\\x\\y.exe", "b": "say \"hi\"\n", "n": -12.50, "z": 0, "t": true}"#,
            r#"{"a":[1,[],{},{"b":[null,false]}] , "é": "ü"}"#,
            r#"{"a": {"a": {"a": {"a": []}}}}"#,
        ];
        for line in plain {
            assert!(is_plain(line.as_bytes()), "{line}");
            let v: serde_json::Value = serde_json::from_str(line).expect(line);
            assert!(v.is_object());
        }
        let not_plain = [
            r#"[]"#,
            r#"{"a": "\u0041"}"#,
            r#"{"a": "a\/b"}"#,
            "{\"a\":\t1}",
            "{\"a\": \"x\ty\"}",
            r#"{"a": 1e3}"#,
            r#"{"a": 01}"#,
            r#"{"a": 1.}"#,
            r#"{"a": -}"#,
            r#"{"a": 1,}"#,
            r#"{"a" 1}"#,
            r#"{"a": tru}"#,
            r#"{"a": "x"} x"#,
            r#"{"a": "x}"#,
            r#"{"a": "x\"#,
            r#"{a: 1}"#,
            r#"{"a": 123456789012345678901234567890123456789012345}"#,
        ];
        for line in not_plain {
            assert!(!is_plain(line.as_bytes()), "{line}");
        }
        assert!(!is_plain(b"{\"a\": \"\xff\"}"));
        let deep = format!("{}1{}", "{\"a\":".repeat(70), "}".repeat(70));
        assert!(!is_plain(deep.as_bytes()));
    }

    /// Mutated lines: every line called plain parses to an object, and each of its
    /// strings, encoded, is in the raw text (so a literal a value holds is found there).
    #[test]
    fn mutated_lines_called_plain_parse_and_show_their_strings() {
        let seeds = [
            r#"{"process": {"name": "C:\\x\\a.exe", "args": ["-e", "q\"t\""]}, "n": -1.5}"#,
            r#"{"a.b": [true, false, null, {"c": "x\ny"}], "d": 0, "e": "é\t"}"#,
        ];
        let alphabet = br#"{}[]":,\ 0123456789.eE-+untrfalsbx/"#;
        let mut next = rng(0x2545_f491_4f6c_dd1d);
        let mut plain = 0;
        for round in 0..20_000 {
            let mut line = seeds[round % seeds.len()].as_bytes().to_vec();
            for _ in 0..1 + next(3) {
                let at = next(line.len());
                match next(3) {
                    0 => line[at] = alphabet[next(alphabet.len())],
                    1 => line.insert(at, alphabet[next(alphabet.len())]),
                    _ => drop(line.remove(at)),
                }
            }
            if !is_plain(&line) {
                continue;
            }
            plain += 1;
            let text = String::from_utf8_lossy(&line);
            let v: serde_json::Value = serde_json::from_slice(&line)
                .unwrap_or_else(|e| panic!("plain but serde fails ({e}): {text}"));
            assert!(v.is_object(), "{text}");
            let mut strings = Vec::new();
            let mut stack = vec![&v];
            while let Some(v) = stack.pop() {
                match v {
                    serde_json::Value::String(s) => strings.push(s.as_str()),
                    serde_json::Value::Array(items) => stack.extend(items),
                    serde_json::Value::Object(map) => stack.extend(map.values()),
                    _ => {}
                }
            }
            for s in strings {
                assert!(text.contains(&encoded(s)), "{s:?} not shown in {text}");
            }
        }
        assert!(plain > 1_000, "only {plain} mutated lines were plain");
    }

    /// Plain by its definition, checked the slow obvious way: serde_json parses the line to
    /// an object at most [`MAX_DEPTH`] deep, no byte is a control byte, and a scan of the
    /// raw text finds only the allowed escapes and numbers.
    fn plain_by_definition(line: &[u8]) -> bool {
        fn depth(v: &serde_json::Value) -> usize {
            match v {
                serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
                serde_json::Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
                _ => 0,
            }
        }
        let Ok(text) = std::str::from_utf8(line) else {
            return false;
        };
        if !text.starts_with('{') || text.bytes().any(|b| b < 0x20) {
            return false;
        }
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) if v.is_object() && depth(&v) <= MAX_DEPTH => {}
            _ => return false,
        }
        let (mut i, mut in_string) = (0, false);
        while i < line.len() {
            match (in_string, line[i]) {
                (true, b'\\') => {
                    if !matches!(line[i + 1], b'\\' | b'"' | b'n' | b't' | b'r' | b'b' | b'f') {
                        return false;
                    }
                    i += 1;
                }
                (_, b'"') => in_string = !in_string,
                (false, b'-' | b'0'..=b'9') => {
                    let from = i;
                    while line
                        .get(i + 1)
                        .is_some_and(|b| b"0123456789.eE+-".contains(b))
                    {
                        i += 1;
                    }
                    let number = &line[from..=i];
                    if number.len() > MAX_NUMBER || number.iter().any(|b| b"eE".contains(b)) {
                        return false;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        true
    }

    /// Generated lines of every length (strings across 64-byte blocks, runs of backslashes
    /// of every parity at block edges, nesting, numbers), then mutated: the SIMD check says
    /// plain exactly when the definition does.
    #[test]
    fn plain_is_exactly_its_definition_on_generated_lines() {
        let mut next = rng(0x9e37_79b9_7f4a_7c15);
        fn value(next: &mut dyn FnMut(usize) -> usize, out: &mut String, depth: usize) {
            // Pieces that keep a string plain, and (rarer) ones that do not.
            let good = [
                "a",
                "Z",
                "é",
                " ",
                "\\\\",
                "\\\"",
                "\\n",
                "\\t",
                "C:\\\\\\\\Windows",
            ];
            let bad = ["\u{2028}", "\\u0041", "\\/", "\\x", "\\", "\"", "\t"];
            match next(if depth > 3 { 3 } else { 6 }) {
                0 | 1 => {
                    out.push('"');
                    for _ in 0..next(40) {
                        // Long plain runs and escapes, so backslashes fall on block edges.
                        match next(60) {
                            0 => out.push_str(bad[next(bad.len())]),
                            1..=20 => out.push_str(good[next(good.len())]),
                            _ => out.push_str(&"abcdefgh"[..1 + next(8)]),
                        }
                    }
                    out.push('"');
                }
                2 => {
                    // The last four are not plain.
                    let scalars = [
                        "0", "-1.25", "12345", "true", "false", "null", "1e5", "0.5E-3", "01", "-",
                    ];
                    let any = if next(10) == 0 { 10 } else { 6 };
                    out.push_str(scalars[next(any)]);
                }
                3 | 4 => {
                    out.push('{');
                    for k in 0..next(4) {
                        if k > 0 {
                            out.push_str(if next(2) == 0 { "," } else { ", " });
                        }
                        out.push_str(&format!("\"k{}\": ", next(100)));
                        value(next, out, depth + 1);
                    }
                    out.push('}');
                }
                _ => {
                    out.push('[');
                    for k in 0..next(4) {
                        if k > 0 {
                            out.push(',');
                        }
                        value(next, out, depth + 1);
                    }
                    out.push(']');
                }
            }
        }
        let alphabet = br#"{}[]":,\ 0123456789.eE-+untrfalsbx/"#;
        let (mut plain, mut not_plain) = (0, 0);
        for _ in 0..30_000 {
            let mut line = String::from("{\"k\": ");
            value(&mut next, &mut line, 1);
            for _ in 0..next(4) {
                line.push_str(", \"k\": ");
                value(&mut next, &mut line, 1);
            }
            line.push('}');
            let mut line = line.into_bytes();
            for _ in 0..next(3) {
                let at = next(line.len());
                match next(3) {
                    0 => line[at] = alphabet[next(alphabet.len())],
                    1 => line.insert(at, alphabet[next(alphabet.len())]),
                    _ => drop(line.remove(at)),
                }
            }
            let expected = plain_by_definition(&line);
            assert_eq!(
                is_plain(&line),
                expected,
                "{}",
                String::from_utf8_lossy(&line)
            );
            if expected {
                plain += 1;
            } else {
                not_plain += 1;
            }
        }
        assert!(
            plain > 10_000 && not_plain > 5_000,
            "{plain} plain, {not_plain} not"
        );
    }

    #[test]
    fn literals_encode_as_plain_lines_write_them() {
        assert_eq!(encoded(r#"C:\a "b""#), r#"C:\\a \"b\""#);
        assert_eq!(encoded("a\nb\tc"), r"a\nb\tc");
        let value = "x\\Temp\\\"q\"\r\n";
        let line = serde_json::to_string(&serde_json::json!({ "v": value })).expect("json");
        assert!(is_plain(line.as_bytes()));
        assert!(line.contains(&encoded("\\Temp\\\"q\"\r\n")));
    }
}
