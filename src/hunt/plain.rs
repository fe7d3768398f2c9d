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

/// Below serde_json's recursion limit (128).
const MAX_DEPTH: usize = 64;
const MAX_NUMBER: usize = 40;

pub(super) fn is_plain_object(line: &[u8]) -> bool {
    if line.first() != Some(&b'{') || std::str::from_utf8(line).is_err() {
        return false;
    }
    let mut c = Cursor { b: line, i: 0 };
    c.value(0) && {
        c.spaces();
        c.i == line.len()
    }
}

/// How many bytes of `b` come before the first `"`, `\\` or control byte (all of `b` when
/// none does), eight at a time: strings are most of an event's bytes.
fn special(b: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // Bytes below `n` (for n <= 0x80) get their high bit set; a false mark can only follow a
    // true one, so the lowest mark is exact.
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH;
    let zero = |w: u64| below(w, 1);
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let marks = zero(w ^ (ONES * u64::from(b'"')))
            | zero(w ^ (ONES * u64::from(b'\\')))
            | below(w, 0x20);
        if marks != 0 {
            return i + (marks.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + b[i..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .unwrap_or(b.len() - i)
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, want: u8) -> bool {
        let hit = self.peek() == Some(want);
        self.i += usize::from(hit);
        hit
    }

    /// Control bytes are refused up front, so a space is the only whitespace left.
    fn spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> bool {
        self.spaces();
        match self.peek() {
            Some(b'{') => depth < MAX_DEPTH && self.members(depth + 1, b'}', true),
            Some(b'[') => depth < MAX_DEPTH && self.members(depth + 1, b']', false),
            Some(b'"') => self.string(),
            Some(b't') => self.word(b"true"),
            Some(b'f') => self.word(b"false"),
            Some(b'n') => self.word(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        }
    }

    /// An object's members (`keyed`) or an array's elements, from the opening bracket.
    fn members(&mut self, depth: usize, close: u8, keyed: bool) -> bool {
        self.i += 1;
        self.spaces();
        if self.eat(close) {
            return true;
        }
        loop {
            if keyed {
                self.spaces();
                if self.peek() != Some(b'"') || !self.string() {
                    return false;
                }
                self.spaces();
                if !self.eat(b':') {
                    return false;
                }
            }
            if !self.value(depth) {
                return false;
            }
            self.spaces();
            if !self.eat(b',') {
                return self.eat(close);
            }
        }
    }

    fn string(&mut self) -> bool {
        self.i += 1;
        loop {
            self.i += special(&self.b[self.i..]);
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return true;
                }
                Some(b'\\') => match self.b.get(self.i + 1) {
                    Some(b'\\' | b'"' | b'n' | b't' | b'r' | b'b' | b'f') => self.i += 2,
                    _ => return false,
                },
                // The end of the line, or a control byte.
                _ => return false,
            }
        }
    }

    fn word(&mut self, word: &[u8]) -> bool {
        let hit = self.b[self.i..].starts_with(word);
        self.i += if hit { word.len() } else { 0 };
        hit
    }

    fn number(&mut self) -> bool {
        let start = self.i;
        self.eat(b'-');
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return false,
        }
        if self.eat(b'.') {
            if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                return false;
            }
            self.digits();
        }
        !matches!(self.peek(), Some(b'e' | b'E')) && self.i - start <= MAX_NUMBER
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
    }
}

/// A literal as it shows in a plain line's raw text: JSON's own escapes, which are the ones
/// a plain line may use (`\\ \" \n \t \r \b \f`; any other control character becomes a
/// `\u` escape, which no plain line holds, so such a literal is rightly never found).
pub(super) fn encoded(literal: &str) -> String {
    let quoted = serde_json::Value::from(literal).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert!(is_plain_object(line.as_bytes()), "{line}");
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
            assert!(!is_plain_object(line.as_bytes()), "{line}");
        }
        assert!(!is_plain_object(b"{\"a\": \"\xff\"}"));
        let deep = format!("{}1{}", "{\"a\":".repeat(70), "}".repeat(70));
        assert!(!is_plain_object(deep.as_bytes()));
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
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
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
            if !is_plain_object(&line) {
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

    #[test]
    fn literals_encode_as_plain_lines_write_them() {
        assert_eq!(encoded(r#"C:\a "b""#), r#"C:\\a \"b\""#);
        assert_eq!(encoded("a\nb\tc"), r"a\nb\tc");
        let value = "x\\Temp\\\"q\"\r\n";
        let line = serde_json::to_string(&serde_json::json!({ "v": value })).expect("json");
        assert!(is_plain_object(line.as_bytes()));
        assert!(line.contains(&encoded("\\Temp\\\"q\"\r\n")));
    }
}
