//! The `syntax` stage: `.det` text → AST with byte spans. No pest type leaves this module.
//!
//! Parsing runs in three steps:
//! 1. a byte scan that rejects NUL bytes (E0002), checks string literals (unterminated
//!    strings, unknown escapes: E0001 at the exact byte) and bracket depth (E0003), so the
//!    recursive pest parser never sees input deep enough to exhaust the stack;
//! 2. pest, with `grammar/detc.pest`; its errors become E0001 with readable wording;
//! 3. a conversion of pest pairs to [`ast`] types, which also bounds the depth of condition
//!    trees (long `and`/`or` chains and `not` runs, E0003) and range-checks numbers (E0004).

pub mod ast;
pub mod print;
mod wildcard;
pub(crate) use wildcard::{like_pattern, parse_like, wildcard};

use crate::base::diag::Diagnostic;
use crate::base::{Code, Span};
use ast::{
    Body, Comparison, Expect, Expr, GroupKey, Having, HavingTerm, Ident, Item, ListDef, Meta, Op,
    PrefixLengths, Query, Rule as RuleItem, TestCase, Value, ValueKind,
};
use pest::Parser as _;
use pest::error::{Error as PestError, ErrorVariant, InputLocation};
use pest::iterators::Pair;

mod grammar {
    #[derive(pest_derive::Parser)]
    #[grammar = "../grammar/detc.pest"]
    pub(super) struct DetParser;
}

use grammar::{DetParser, Rule};

/// Brackets (`(`, `[`, `{`) may nest at most this deep.
pub(crate) const MAX_NESTING: usize = 64;
/// A condition (or `having`) tree may be at most this deep: a chain of `n` terms joined by
/// `and`/`or` is `n - 1` levels, each `not` one more.
pub(crate) const MAX_EXPR_DEPTH: usize = 256;

const E_SYNTAX: Code = Code::E0001;
const E_ENCODING: Code = Code::E0002;
const E_DEPTH: Code = Code::E0003;
const E_RANGE: Code = Code::E0004;

type Res<T> = Result<T, Diagnostic>;

/// Parse one file given as raw bytes: checks UTF-8 (E0002 at the first invalid byte), then
/// [`parse`]s.
pub fn parse_bytes(file: &str, bytes: &[u8]) -> Result<ast::File, Vec<Diagnostic>> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(file, text),
        Err(e) => {
            let at = e.valid_up_to();
            let len = e.error_len().unwrap_or(bytes.len() - at).max(1);
            Err(vec![
                Diagnostic::error(
                    file,
                    Span::new(at, (at + len).min(bytes.len()).max(at)),
                    E_ENCODING,
                    format!("the file is not valid UTF-8 (an invalid byte at offset {at})"),
                )
                .with_hint("save the file as UTF-8 text; rule files cannot be binary"),
            ])
        }
    }
}

/// Parse one file. `file` is only used to label diagnostics.
pub fn parse(file: &str, text: &str) -> Result<ast::File, Vec<Diagnostic>> {
    parse_inner(file, text, None)
}

/// A `#` comment: its span (from `#` to the end of its line, line break excluded) and where it
/// sits, so that [`print`] can put it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub(crate) span: Span,
    /// The comment as written, from `#` on, trailing blanks (and `\r`) removed.
    pub text: String,
    /// The byte offset where the comment's line starts.
    pub(crate) line_start: usize,
    /// Only blanks before it on its line (otherwise it trails code).
    pub(crate) own_line: bool,
    /// The line before it is blank (empty or only blanks).
    pub(crate) blank_before: bool,
    /// The line after it is blank.
    pub(crate) blank_after: bool,
}

/// [`parse`], and also the file's comments in source order (for `detc fmt`). The comments
/// are collected by the byte scan that runs anyway, so this costs no second pass.
pub fn parse_with_comments(
    file: &str,
    text: &str,
) -> Result<(ast::File, Vec<Comment>), Vec<Diagnostic>> {
    let mut spans = Vec::new();
    let ast = parse_inner(file, text, Some(&mut spans))?;
    let comments = spans
        .into_iter()
        .map(|(start, end)| comment_at(text, start, end))
        .collect();
    Ok((ast, comments))
}

fn comment_at(text: &str, start: usize, end: usize) -> Comment {
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let own_line =
        text[line_start..start].trim().is_empty() || text[line_start..start].trim() == "\u{FEFF}";
    let blank_line = |line: &str| line.trim().is_empty();
    let blank_before = line_start > 0 && {
        let prev_end = line_start - 1;
        let prev_start = text[..prev_end].rfind('\n').map_or(0, |i| i + 1);
        prev_end > 0 && blank_line(&text[prev_start..prev_end])
    };
    let blank_after = end < text.len() && {
        let next_start = end + 1;
        let next_end = text[next_start..]
            .find('\n')
            .map_or(text.len(), |i| next_start + i);
        next_end < text.len() && blank_line(&text[next_start..next_end])
    };
    Comment {
        span: Span::new(start, end),
        text: text[start..end].trim_end().to_string(),
        line_start,
        own_line,
        blank_before,
        blank_after,
    }
}

fn parse_inner(
    file: &str,
    text: &str,
    comments: Option<&mut Vec<(usize, usize)>>,
) -> Result<ast::File, Vec<Diagnostic>> {
    if let Some(at) = text.find('\0') {
        return Err(vec![
            Diagnostic::error(
                file,
                Span::new(at, at + 1),
                E_ENCODING,
                "the file contains a NUL byte; it looks like a binary file",
            )
            .with_hint("a .det file must be UTF-8 text"),
        ]);
    }
    let scan = prescan(file, text, comments).map_err(|d| vec![d])?;
    let mut pairs = match DetParser::parse(Rule::file, text) {
        Ok(pairs) => pairs,
        Err(e) => return Err(vec![syntax_error(file, text, &e, &scan)]),
    };
    let builder = Builder { file };
    match pairs.next() {
        Some(root) => builder.file(root).map_err(|d| vec![d]),
        None => Err(vec![builder.internal(Span::new(0, 0))]),
    }
}

// ------------------------------------------------------------------------------------------
// Step 1: the byte scan.

/// What the scan learned that can improve a later error message.
struct Scan {
    /// Brackets still open at the end of the text, outermost first.
    unclosed: Vec<(u8, usize)>,
}

/// `comments`, when given, receives the span of every `#` comment.
fn prescan(file: &str, text: &str, mut comments: Option<&mut Vec<(usize, usize)>>) -> Res<Scan> {
    let b = text.as_bytes();
    let mut newline = Next::new(b'\n');
    // Shared by every string: a fresh search per string would rescan the rest of the
    // text when no backslash follows, quadratic on one long line of strings.
    let mut backslash = Next::new(b'\\');
    let mut stack: Vec<(u8, usize)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => {
                let end = newline.from(text, i);
                if let Some(c) = comments.as_deref_mut() {
                    c.push((i, end));
                }
                i = end;
            }
            b'"' => i = scan_escaped_string(file, text, i, &mut newline, &mut backslash)?,
            b'\'' => i = scan_raw_string(file, text, i, &mut newline)?,
            c @ (b'(' | b'[' | b'{') => {
                stack.push((c, i));
                if stack.len() > MAX_NESTING {
                    return Err(Diagnostic::error(
                        file,
                        Span::new(i, i + 1),
                        E_DEPTH,
                        format!("brackets nest too deeply (more than {MAX_NESTING} levels)"),
                    )
                    .with_hint(format!(
                        "detc accepts at most {MAX_NESTING} nested `(`, `[` and `{{`; flatten the condition or the list"
                    )));
                }
                i += 1;
            }
            c @ (b')' | b']' | b'}') => {
                if stack.last().is_some_and(|&(open, _)| closer_of(open) == c) {
                    stack.pop();
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    Ok(Scan { unclosed: stack })
}

fn closer_of(open: u8) -> u8 {
    match open {
        b'(' => b')',
        b'[' => b']',
        _ => b'}',
    }
}

/// The next position of one ASCII byte, remembered between calls so that scanning many
/// strings on one huge line stays linear. Uses `str::find` (memchr) for speed.
struct Next {
    needle: u8,
    /// Last answer (`text.len()` when there is none), valid for any `from <= pos`.
    pos: Option<usize>,
}

impl Next {
    fn new(needle: u8) -> Self {
        Next { needle, pos: None }
    }

    /// The first position `>= from` holding the needle, or `text.len()`.
    fn from(&mut self, text: &str, from: usize) -> usize {
        if let Some(p) = self.pos
            && p >= from
        {
            return p;
        }
        let found = match text.get(from..) {
            Some(rest) => rest.find(self.needle as char).map(|p| from + p),
            None => text.as_bytes()[from.min(text.len())..]
                .iter()
                .position(|&c| c == self.needle)
                .map(|p| from + p),
        };
        let p = found.unwrap_or(text.len());
        self.pos = Some(p);
        p
    }
}

fn find_byte(b: &[u8], from: usize, needle: u8) -> Option<usize> {
    b[from..]
        .iter()
        .position(|&c| c == needle)
        .map(|p| from + p)
}

/// Scans `"..."` starting at the opening quote; returns the offset just past the closing quote.
fn scan_escaped_string(
    file: &str,
    text: &str,
    open: usize,
    newline: &mut Next,
    backslash: &mut Next,
) -> Res<usize> {
    let mut quote = Next::new(b'"');
    let mut i = open + 1;
    loop {
        let q = quote.from(text, i);
        let bs = backslash.from(text, i);
        let nl = newline.from(text, i);
        if q < bs && q < nl {
            return Ok(q + 1);
        }
        if nl < bs || bs == text.len() {
            return Err(unterminated(file, text, open, b'"'));
        }
        match decode_escape(&text[bs + 1..]) {
            Ok((_, used)) => i = bs + 1 + used,
            Err(e) => return Err(bad_escape(file, bs, &text[bs + 1..], e)),
        }
    }
}

/// Scans `'...'` starting at the opening quote; `''` inside is one quote.
fn scan_raw_string(file: &str, text: &str, open: usize, newline: &mut Next) -> Res<usize> {
    let b = text.as_bytes();
    let mut quote = Next::new(b'\'');
    let mut i = open + 1;
    loop {
        let q = quote.from(text, i);
        if newline.from(text, i) < q || q == text.len() {
            return Err(unterminated(file, text, open, b'\''));
        }
        if b.get(q + 1) == Some(&b'\'') {
            i = q + 2;
        } else {
            return Ok(q + 1);
        }
    }
}

fn unterminated(file: &str, text: &str, open: usize, quote: u8) -> Diagnostic {
    let line_end = find_byte(text.as_bytes(), open, b'\n').unwrap_or(text.len());
    let line_end = if line_end > open && text.as_bytes()[line_end - 1] == b'\r' {
        line_end - 1
    } else {
        line_end
    };
    let q = quote as char;
    Diagnostic::error(
        file,
        Span::new(open, line_end.max(open + 1)),
        E_SYNTAX,
        "unterminated string",
    )
    .with_hint(if quote == b'"' {
        format!("close the string with `{q}` on the same line; strings cannot span lines (write `\\n` for a line break)")
    } else {
        format!("close the string with `{q}` on the same line; inside '...' write `''` for a quote")
    })
}

enum EscapeError {
    /// The character after the backslash is not an escape (`len` is its byte length; 0 at
    /// the end of the text).
    Unknown { len: usize },
    /// A malformed `\u{...}`; `len` bytes after the backslash are part of it.
    Unicode { len: usize },
}

/// Decodes the escape whose text starts right after a backslash. Returns the character and
/// how many bytes after the backslash it spans.
fn decode_escape(after: &str) -> Result<(char, usize), EscapeError> {
    let Some(c) = after.chars().next() else {
        return Err(EscapeError::Unknown { len: 0 });
    };
    let simple = match c {
        '\\' => Some('\\'),
        '"' => Some('"'),
        'n' => Some('\n'),
        't' => Some('\t'),
        'r' => Some('\r'),
        // Only meaningful to `like` (a literal `*` / `?`, read from the source text by
        // `wildcard`); elsewhere they are just the character.
        '*' => Some('*'),
        '?' => Some('?'),
        _ => None,
    };
    if let Some(ch) = simple {
        return Ok((ch, 1));
    }
    if c != 'u' {
        return Err(EscapeError::Unknown { len: c.len_utf8() });
    }
    let rest = &after[1..];
    if !rest.starts_with('{') {
        return Err(EscapeError::Unicode { len: 1 });
    }
    let digits: &str = {
        let body = &rest[1..];
        let n = body.bytes().take_while(|c| c.is_ascii_hexdigit()).count();
        &body[..n]
    };
    let close = 2 + digits.len();
    if digits.is_empty() || digits.len() > 6 || after.as_bytes().get(close) != Some(&b'}') {
        let len = if after.as_bytes().get(close) == Some(&b'}') {
            close + 1
        } else {
            close.min(after.len())
        };
        return Err(EscapeError::Unicode { len });
    }
    match u32::from_str_radix(digits, 16)
        .ok()
        .and_then(char::from_u32)
    {
        Some(ch) => Ok((ch, close + 1)),
        None => Err(EscapeError::Unicode { len: close + 1 }),
    }
}

/// `after` is the text right after the backslash at byte offset `backslash`.
fn bad_escape(file: &str, backslash: usize, after: &str, e: EscapeError) -> Diagnostic {
    match e {
        EscapeError::Unknown { len } => {
            let next = after.get(..len).unwrap_or("");
            let message = match next {
                "" => "a backslash at the end of the text is not an escape".to_string(),
                "\n" | "\r" => "a backslash at the end of a line is not an escape".to_string(),
                _ => format!("unknown escape `\\{next}` in string"),
            };
            Diagnostic::error(
                file,
                Span::new(backslash, backslash + 1 + len),
                E_SYNTAX,
                message,
            )
            .with_hint(
                "valid escapes are `\\\\` `\\\"` `\\n` `\\t` `\\r` `\\u{1F600}` (and `\\*` `\\?` for `like`); \
                 or write a raw string '...' in which backslashes are literal",
            )
        }
        EscapeError::Unicode { len } => Diagnostic::error(
            file,
            Span::new(backslash, backslash + 1 + len),
            E_SYNTAX,
            "invalid unicode escape in string",
        )
        .with_hint(
            "write `\\u{...}` with 1 to 6 hex digits naming a Unicode scalar value, e.g. `\\u{1F600}`",
        ),
    }
}

// ------------------------------------------------------------------------------------------
// Step 2: pest errors → E0001.

fn syntax_error(file: &str, text: &str, e: &PestError<Rule>, scan: &Scan) -> Diagnostic {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let pos = floor_boundary(text, pos.min(text.len()));
    let (found, end) = found_at(text, pos);
    let positives: &[Rule] = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => positives,
        ErrorVariant::CustomError { message } => {
            // pest's own resource guards ("stack limit reached", "call limit reached").
            return Diagnostic::error(
                file,
                Span::new(pos, end.max(pos)),
                E_DEPTH,
                format!("the input is too deeply nested or too complex to parse ({message})"),
            );
        }
    };
    let mut wanted: Vec<&'static str> = Vec::new();
    for r in positives {
        let h = human(*r);
        if !wanted.contains(&h) {
            wanted.push(h);
        }
    }
    let message = if wanted.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", join_or(&wanted))
    };
    let mut d = Diagnostic::error(file, Span::new(pos, end), E_SYNTAX, message);
    if let Some(h) = hint_for(text, pos, positives, scan) {
        d = d.with_hint(h);
    }
    d
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '$')
}

/// Describes the token at `pos` and returns where it ends.
fn found_at(text: &str, pos: usize) -> (String, usize) {
    let rest = &text[pos..];
    let Some(c) = rest.chars().next() else {
        return ("end of file".to_string(), pos);
    };
    match c {
        '"' | '\'' => ("a string".to_string(), pos + 1),
        '\n' | '\r' => ("end of line".to_string(), pos + 1),
        _ if is_word_char(c) || !c.is_ascii() => {
            let len: usize = rest
                .chars()
                .take_while(|&c| is_word_char(c) || (!c.is_ascii() && !c.is_whitespace()))
                .map(char::len_utf8)
                .sum();
            let len = len.max(c.len_utf8());
            let word = &rest[..len];
            let shown: String = word.chars().take(40).collect();
            let dots = if shown.len() < word.len() { "…" } else { "" };
            (format!("`{shown}{dots}`"), pos + len)
        }
        '=' | '!' | '<' | '>' | '&' | '|' => {
            let len = rest
                .bytes()
                .take(2)
                .take_while(|b| b"=!<>&|".contains(b))
                .count();
            (format!("`{}`", &rest[..len]), pos + len)
        }
        _ => (format!("`{c}`"), pos + c.len_utf8()),
    }
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The words used for a grammar rule in "expected ..." messages.
fn human(r: Rule) -> &'static str {
    match r {
        Rule::EOI => "end of file",
        Rule::file => "a `list` or `rule`",
        Rule::list_item | Rule::kw_list => "`list`",
        Rule::rule_item | Rule::kw_rule => "`rule`",
        Rule::title => "the rule's title (a string)",
        Rule::meta | Rule::meta_key => "a metadata key",
        Rule::query_body | Rule::kw_from => "`from`",
        Rule::sequence_body | Rule::kw_sequence => "`sequence`",
        Rule::aggregate | Rule::kw_group => "`group by`",
        Rule::first_seen | Rule::kw_first => "`first seen`",
        Rule::step => "a sequence step (`SOURCE where ...`)",
        Rule::field_list | Rule::field | Rule::field_ref | Rule::test_field => "a field name",
        Rule::key_list | Rule::group_key => "a field name or `ip_prefix(...)`",
        Rule::ip_prefix | Rule::kw_ip_prefix => "`ip_prefix(FIELD, V4, V6)`",
        Rule::expr | Rule::and_expr | Rule::unary => "a condition",
        Rule::paren_expr | Rule::having_paren | Rule::lparen | Rule::agg_open => "`(`",
        Rule::exists_cmp | Rule::kw_exists => "`exists`",
        Rule::comparison => "a comparison",
        Rule::cmp_op => {
            "a comparison operator (`==`, `!=`, `in`, `not in`, `contains`, `startswith`, \
             `endswith`, `like`, `matches`, `<`, `<=`, `>`, `>=`)"
        }
        Rule::op_not_in => "`not in`",
        Rule::having_expr | Rule::having_and | Rule::having_term => {
            "an aggregate condition like `count() > 5`"
        }
        Rule::having_op => "a comparison operator (`==`, `!=`, `<`, `<=`, `>`, `>=`)",
        Rule::test_case | Rule::kw_test => "`test`",
        Rule::value => "a value",
        Rule::esc_string | Rule::raw_string => "a string",
        Rule::duration => "a duration (e.g. `30s`, `10m`, `24h`, `7d`)",
        Rule::number => "a number",
        Rule::boolean => "`true` or `false`",
        Rule::cidr | Rule::kw_cidr => "`cidr(...)`",
        Rule::list_ref => "a list reference (`$name`)",
        Rule::list_literal | Rule::lbracket => "`[`",
        Rule::word => "a word",
        Rule::rule_name => "a rule name",
        Rule::list_name => "a list name",
        Rule::source => "a log source name",
        Rule::step_name => "a name for the step's event",
        Rule::agg_func => "an aggregate function (`count`, `distinct`, `sum`, `min`, `max`)",
        Rule::kw_where => "`where`",
        Rule::kw_seen => "`seen`",
        Rule::kw_by => "`by`",
        Rule::kw_as => "`as`",
        Rule::kw_window => "`window`",
        Rule::kw_having => "`having`",
        Rule::kw_lookback => "`lookback`",
        Rule::kw_within => "`within`",
        Rule::kw_matches => "`matches`",
        Rule::kw_misses => "`misses`",
        Rule::kw_and => "`and`",
        Rule::kw_or => "`or`",
        Rule::kw_not => "`not`",
        Rule::kw_in => "`in`",
        Rule::kw_contains => "`contains`",
        Rule::kw_startswith => "`startswith`",
        Rule::kw_endswith => "`endswith`",
        Rule::kw_like => "`like`",
        Rule::kw_cased => "`cased`",
        Rule::kw_tunable => "`tunable`",
        Rule::kw_true => "`true`",
        Rule::kw_false => "`false`",
        Rule::op_eq => "`==`",
        Rule::op_ne => "`!=`",
        Rule::op_le => "`<=`",
        Rule::op_lt => "`<`",
        Rule::op_ge => "`>=`",
        Rule::op_gt => "`>`",
        Rule::assign | Rule::meta_assign | Rule::test_assign => "`=`",
        Rule::comma => "`,`",
        Rule::rparen => "`)`",
        Rule::lbrace => "`{`",
        Rule::rbrace => "`}`",
        Rule::rbracket => "`]`",
        // Silent helper rules; pest never reports them, but the match stays exhaustive.
        Rule::WHITESPACE | Rule::COMMENT => "whitespace",
        Rule::having_atom => "an aggregate condition like `count() > 5`",
        Rule::field_segment => "a field name",
        Rule::ident_text => "a name",
        Rule::ident_char => "a letter or digit",
        Rule::reserved | Rule::reserved_word => "a keyword",
    }
}

/// The language's keywords: never a field name on their own.
pub(crate) const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "in",
    "contains",
    "startswith",
    "endswith",
    "like",
    "matches",
    "exists",
    "cased",
    "from",
    "where",
    "group",
    "by",
    "window",
    "having",
    "sequence",
    "within",
    "first",
    "seen",
    "lookback",
    "test",
    "misses",
    "rule",
    "list",
    "true",
    "false",
    "cidr",
];

/// A `help:` line for the common mistakes.
fn hint_for(text: &str, pos: usize, positives: &[Rule], scan: &Scan) -> Option<String> {
    let rest = &text[pos..];
    let has = |r: Rule| positives.contains(&r);
    if rest.is_empty() {
        if let Some(&(open, at)) = scan.unclosed.last() {
            let (line, col) = crate::base::diag::line_col(text, at);
            return Some(format!(
                "the `{}` at line {line}, column {col} is never closed",
                open as char
            ));
        }
        return None;
    }
    let word: String = rest.chars().take_while(|&c| is_word_char(c)).collect();
    if has(Rule::cmp_op) || has(Rule::having_op) {
        if rest.starts_with('=') && !rest.starts_with("==") {
            return Some("use `==` to compare".into());
        }
        if rest.starts_with("<>") {
            return Some("use `!=` for \"not equal\"".into());
        }
        if word == "is" {
            return Some(
                "use `==` to compare, or `exists FIELD` / `not exists FIELD` to test for a value"
                    .into(),
            );
        }
        if word == "eq" || word == "equals" {
            return Some("use `==` to compare".into());
        }
        if word == "not" {
            return Some("`not` before an operator is only valid as `not in`; write `not FIELD OP VALUE` to negate".into());
        }
    }
    if rest.starts_with(['\u{201C}', '\u{201D}', '\u{2018}', '\u{2019}']) {
        return Some("use straight quotes: `\"...\"` or `'...'`".into());
    }
    if rest.starts_with("&&") {
        return Some("use `and`".into());
    }
    if rest.starts_with("||") {
        return Some("use `or`".into());
    }
    if rest.starts_with('!') && !rest.starts_with("!=") {
        return Some("use `not`".into());
    }
    let lower = word.to_ascii_lowercase();
    if word != lower && KEYWORDS.contains(&lower.as_str()) {
        return Some(format!("keywords are lowercase: write `{lower}`"));
    }
    if has(Rule::meta_assign) || has(Rule::test_assign) || has(Rule::assign) {
        if rest.starts_with("==") {
            return Some("use a single `=` here".into());
        }
        if rest.starts_with(':') {
            return Some("write `key = value`".into());
        }
        if has(Rule::meta_assign) {
            return Some(
                "metadata is written `key = value`; the rule's query starts with `from` or `sequence`"
                    .into(),
            );
        }
    }
    if has(Rule::kw_in) && word == "exists" {
        return Some("write `not exists FIELD`".into());
    }
    if has(Rule::comma) && (!word.is_empty() || rest.starts_with('"') || rest.starts_with('\'')) {
        return Some("separate the items with `,`".into());
    }
    if has(Rule::rparen) && (rest.starts_with('}') || rest.starts_with(']')) {
        return Some("a `(` is not closed".into());
    }
    if has(Rule::rbracket) && (rest.starts_with('}') || rest.starts_with(')')) {
        return Some("a `[` is not closed".into());
    }
    if rest.starts_with(')') && !has(Rule::rparen) {
        return Some("this `)` has no matching `(`".into());
    }
    if rest.starts_with(']') && !has(Rule::rbracket) {
        return Some("this `]` has no matching `[`".into());
    }
    if has(Rule::agg_func) || has(Rule::agg_open) {
        return Some(
            "aggregates are written `count()`, `distinct(FIELD)`, `sum(FIELD)`, `min(FIELD)` or `max(FIELD)`"
                .into(),
        );
    }
    if has(Rule::duration) && rest.starts_with(|c: char| c.is_ascii_digit()) {
        return Some("a duration needs a unit: `s`, `m`, `h` or `d` (e.g. `10m`)".into());
    }
    if has(Rule::title) {
        return Some("a rule is written `rule NAME \"Title\" { ... }`".into());
    }
    if (has(Rule::test_case) || has(Rule::kw_test)) && !word.is_empty() {
        let after = rest[word.len()..].trim_start();
        if after.starts_with('=') && !after.starts_with("==") {
            return Some(
                "metadata (`key = value`) must come before the rule's `from` or `sequence`".into(),
            );
        }
    }
    if has(Rule::value) && (rest.starts_with(')') || rest.starts_with(']') || rest.starts_with('}'))
    {
        return Some("a value is missing here".into());
    }
    if has(Rule::rule_name) || has(Rule::list_name) || has(Rule::meta_key) || has(Rule::source) {
        if KEYWORDS.contains(&word.as_str()) {
            return Some(format!(
                "`{word}` is a keyword and cannot be used as a name"
            ));
        }
        if word.starts_with(|c: char| c.is_ascii_digit()) {
            return Some("names start with a letter or `_`".into());
        }
    }
    None
}

// ------------------------------------------------------------------------------------------
// Step 3: pairs → AST.

struct Builder<'a> {
    file: &'a str,
}

fn span_of(p: &Pair<'_, Rule>) -> Span {
    let s = p.as_span();
    Span::new(s.start(), s.end())
}

fn ident(p: &Pair<'_, Rule>) -> Ident {
    Ident {
        name: p.as_str().to_string(),
        span: span_of(p),
    }
}

fn is_token(r: Rule) -> bool {
    matches!(
        r,
        Rule::assign
            | Rule::agg_open
            | Rule::meta_assign
            | Rule::test_assign
            | Rule::comma
            | Rule::lparen
            | Rule::rparen
            | Rule::lbrace
            | Rule::rbrace
            | Rule::lbracket
            | Rule::rbracket
            | Rule::kw_list
            | Rule::kw_rule
            | Rule::kw_from
            | Rule::kw_sequence
            | Rule::kw_where
            | Rule::kw_group
            | Rule::kw_first
            | Rule::kw_seen
            | Rule::kw_by
            | Rule::kw_as
            | Rule::kw_window
            | Rule::kw_having
            | Rule::kw_lookback
            | Rule::kw_within
            | Rule::kw_test
            | Rule::kw_cidr
    )
}

impl Builder<'_> {
    /// Only reachable if the grammar and this converter disagree; never a panic.
    fn internal(&self, span: Span) -> Diagnostic {
        Diagnostic::error(
            self.file,
            span,
            E_SYNTAX,
            "internal error: the parser produced an unexpected syntax tree here",
        )
        .with_hint("this is a bug in detc; please report it with the input")
    }

    fn unexpected(&self, p: &Pair<'_, Rule>) -> Diagnostic {
        self.internal(span_of(p))
    }

    fn file(&self, root: Pair<'_, Rule>) -> Res<ast::File> {
        let mut items = Vec::new();
        for p in root.into_inner() {
            match p.as_rule() {
                Rule::list_item => items.push(Item::List(self.list_item(p)?)),
                Rule::rule_item => items.push(Item::Rule(Box::new(self.rule_item(p)?))),
                Rule::EOI => {}
                _ => return Err(self.unexpected(&p)),
            }
        }
        Ok(ast::File { items })
    }

    fn list_item(&self, p: Pair<'_, Rule>) -> Res<ListDef> {
        let span = span_of(&p);
        let mut name = None;
        let mut values = None;
        let mut tunable = false;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::list_name => name = Some(ident(&c)),
                Rule::kw_tunable => tunable = true,
                Rule::list_literal => values = Some(self.list_literal(c)?),
                r if is_token(r) => {}
                _ => return Err(self.unexpected(&c)),
            }
        }
        match (name, values) {
            (Some(name), Some(values)) => Ok(ListDef {
                name,
                tunable,
                values,
                span,
            }),
            _ => Err(self.internal(span)),
        }
    }

    fn rule_item(&self, p: Pair<'_, Rule>) -> Res<RuleItem> {
        let span = span_of(&p);
        let mut name = None;
        let mut title = None;
        let mut meta = Vec::new();
        let mut body = None;
        let mut tests = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::rule_name => name = Some(ident(&c)),
                Rule::title => {
                    let s = c.into_inner().next().ok_or_else(|| self.internal(span))?;
                    title = Some(self.string(&s)?);
                }
                Rule::meta => meta.push(self.meta(c)?),
                Rule::query_body => body = Some(self.query_body(c)?),
                Rule::sequence_body => body = Some(self.sequence_body(c)?),
                Rule::test_case => tests.push(self.test_case(c)?),
                r if is_token(r) => {}
                _ => return Err(self.unexpected(&c)),
            }
        }
        match (name, title, body) {
            (Some(name), Some(title), Some(body)) => Ok(RuleItem {
                name,
                title,
                meta,
                body,
                tests,
                span,
            }),
            _ => Err(self.internal(span)),
        }
    }

    fn meta(&self, p: Pair<'_, Rule>) -> Res<Meta> {
        let span = span_of(&p);
        let mut key = None;
        let mut value = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::meta_key => key = Some(ident(&c)),
                Rule::value => value = Some(self.value(c)?),
                r if is_token(r) => {}
                _ => return Err(self.unexpected(&c)),
            }
        }
        match (key, value) {
            (Some(key), Some(value)) => Ok(Meta { key, value }),
            _ => Err(self.internal(span)),
        }
    }

    fn query_body(&self, p: Pair<'_, Rule>) -> Res<Body> {
        let span = span_of(&p);
        let mut source = None;
        let mut condition = None;
        let mut tail = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::source => source = Some(ident(&c)),
                Rule::expr => condition = Some(self.expr(c)?.0),
                Rule::aggregate | Rule::first_seen => tail = Some(c),
                r if is_token(r) => {}
                _ => return Err(self.unexpected(&c)),
            }
        }
        let query = Query {
            source: source.ok_or_else(|| self.internal(span))?,
            condition,
        };
        let Some(tail) = tail else {
            return Ok(Body::Single(query));
        };
        let is_aggregate = tail.as_rule() == Rule::aggregate;
        let mut keys = Vec::new();
        let mut fields = Vec::new();
        let mut duration = None;
        let mut having = None;
        let mut field = None;
        for c in tail.into_inner() {
            match c.as_rule() {
                Rule::key_list => keys = self.key_list(c)?,
                Rule::field_list => fields = self.field_list(c),
                Rule::field => field = Some(ident(&c)),
                Rule::duration => duration = Some(self.duration(&c)?),
                Rule::having_expr => having = Some(self.having_expr(c)?.0),
                r if is_token(r) => {}
                _ => return Err(self.unexpected(&c)),
            }
        }
        let duration = duration.ok_or_else(|| self.internal(span))?;
        if is_aggregate {
            Ok(Body::Aggregate {
                query,
                group_by: keys,
                window: duration,
                having: having.ok_or_else(|| self.internal(span))?,
            })
        } else {
            Ok(Body::FirstSeen {
                query,
                field: field.ok_or_else(|| self.internal(span))?,
                by: fields,
                lookback: duration,
            })
        }
    }

    fn sequence_body(&self, p: Pair<'_, Rule>) -> Res<Body> {
        let span = span_of(&p);
        let mut by = Vec::new();
        let mut within = None;
        let mut steps = Vec::new();
        let mut step_by = Vec::new();
        let mut step_not = Vec::new();
        let mut step_as = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::field_list => by = self.field_list(c),
                Rule::duration => within = Some(self.duration(&c)?),
                Rule::step => {
                    let step_span = span_of(&c);
                    let mut source = None;
                    let mut condition = None;
                    let mut keys = Vec::new();
                    let mut not = None;
                    let mut name = None;
                    for s in c.into_inner() {
                        match s.as_rule() {
                            Rule::kw_not => not = Some(span_of(&s)),
                            Rule::step_name => name = Some(ident(&s)),
                            Rule::source => source = Some(ident(&s)),
                            Rule::field_list => keys = self.field_list(s),
                            Rule::expr => condition = Some(self.expr(s)?.0),
                            r if is_token(r) => {}
                            _ => return Err(self.unexpected(&s)),
                        }
                    }
                    steps.push(Query {
                        source: source.ok_or_else(|| self.internal(step_span))?,
                        condition,
                    });
                    step_by.push(keys);
                    step_not.push(not);
                    step_as.push(name);
                }
                r if is_token(r) => {}
                _ => return Err(self.unexpected(&c)),
            }
        }
        Ok(Body::Sequence {
            by,
            within: within.ok_or_else(|| self.internal(span))?,
            steps,
            step_by,
            step_not,
            step_as,
        })
    }

    /// `group by`'s keys: fields, and `ip_prefix(F, V4, V6)` calls.
    fn key_list(&self, p: Pair<'_, Rule>) -> Res<Vec<GroupKey>> {
        let mut keys = Vec::new();
        for k in p.into_inner().filter(|c| c.as_rule() == Rule::group_key) {
            let span = span_of(&k);
            let inner = k.into_inner().next().ok_or_else(|| self.internal(span))?;
            if inner.as_rule() == Rule::field {
                keys.push(GroupKey::field(ident(&inner)));
                continue;
            }
            let mut field = None;
            let mut lengths = Vec::new();
            for c in inner.into_inner() {
                match c.as_rule() {
                    Rule::field => field = Some(ident(&c)),
                    Rule::number => lengths.push(self.number(&c)?),
                    r if is_token(r) || r == Rule::kw_ip_prefix => {}
                    _ => return Err(self.unexpected(&c)),
                }
            }
            let (Some(field), Ok([v4, v6])) = (field, <[Value; 2]>::try_from(lengths)) else {
                return Err(self.internal(span));
            };
            keys.push(GroupKey {
                field,
                prefix: Some(PrefixLengths { v4, v6, span }),
            });
        }
        Ok(keys)
    }

    fn field_list(&self, p: Pair<'_, Rule>) -> Vec<Ident> {
        p.into_inner()
            .filter(|c| c.as_rule() == Rule::field)
            .map(|c| ident(&c))
            .collect()
    }

    fn too_deep(&self, span: Span, what: &str) -> Diagnostic {
        Diagnostic::error(
            self.file,
            span,
            E_DEPTH,
            format!("{what} is too deeply nested (more than {MAX_EXPR_DEPTH} levels of `and`, `or` and `not`)"),
        )
        .with_hint("split the rule, or compare against a list: `field in [\"a\", \"b\", ...]`")
    }

    /// One chain of one operator. A lone operand stands for itself; two or more are one
    /// level deeper than the deepest of them, however many there are.
    fn chain<T>(
        &self,
        operands: Vec<(T, usize)>,
        first_op: Option<Span>,
        what: &str,
        join: fn(Vec<T>) -> T,
        span: Span,
    ) -> Res<(T, usize)> {
        let Some(op_span) = first_op else {
            return operands
                .into_iter()
                .next()
                .ok_or_else(|| self.internal(span));
        };
        let depth = 1 + operands.iter().map(|(_, d)| *d).max().unwrap_or(0);
        if depth > MAX_EXPR_DEPTH {
            return Err(self.too_deep(op_span, what));
        }
        Ok((join(operands.into_iter().map(|(x, _)| x).collect()), depth))
    }

    /// `expr`: `and_expr (or and_expr)*`. Returns the tree and its depth.
    fn expr(&self, p: Pair<'_, Rule>) -> Res<(Expr, usize)> {
        let span = span_of(&p);
        let mut operands = Vec::new();
        let mut first_op = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::kw_or => _ = first_op.get_or_insert(span_of(&c)),
                Rule::and_expr => operands.push(self.and_expr(c)?),
                _ => return Err(self.unexpected(&c)),
            }
        }
        self.chain(operands, first_op, "this condition", Expr::Or, span)
    }

    fn and_expr(&self, p: Pair<'_, Rule>) -> Res<(Expr, usize)> {
        let span = span_of(&p);
        let mut operands = Vec::new();
        let mut first_op = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::kw_and => _ = first_op.get_or_insert(span_of(&c)),
                Rule::unary => operands.push(self.unary(c)?),
                _ => return Err(self.unexpected(&c)),
            }
        }
        self.chain(operands, first_op, "this condition", Expr::And, span)
    }

    fn unary(&self, p: Pair<'_, Rule>) -> Res<(Expr, usize)> {
        let span = span_of(&p);
        let mut nots: Vec<usize> = Vec::new();
        let mut operand = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::kw_not => nots.push(span_of(&c).start),
                Rule::paren_expr => {
                    let inner = c
                        .into_inner()
                        .find(|x| x.as_rule() == Rule::expr)
                        .ok_or_else(|| self.internal(span))?;
                    operand = Some(self.expr(inner)?);
                }
                Rule::exists_cmp => operand = Some((self.exists(c)?, 0)),
                Rule::comparison => operand = Some((self.comparison(c)?, 0)),
                _ => return Err(self.unexpected(&c)),
            }
        }
        let (mut e, d) = operand.ok_or_else(|| self.internal(span))?;
        if d + nots.len() > MAX_EXPR_DEPTH {
            let first = nots.first().copied().unwrap_or(span.start);
            return Err(self.too_deep(Span::new(first, first + 3), "this condition"));
        }
        let end = e.span().end;
        for &start in nots.iter().rev() {
            e = Expr::Not(Box::new(e), Span::new(start, end));
        }
        Ok((e, d + nots.len()))
    }

    fn exists(&self, p: Pair<'_, Rule>) -> Res<Expr> {
        let span = span_of(&p);
        let mut kw = None;
        let mut field = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::kw_exists => kw = Some(span_of(&c)),
                Rule::field => field = Some(ident(&c)),
                _ => return Err(self.unexpected(&c)),
            }
        }
        match (kw, field) {
            (Some(op_span), Some(field)) => Ok(Expr::Compare(Comparison {
                field,
                op: Op::Exists,
                op_span,
                cased: false,
                value: None,
                span,
            })),
            _ => Err(self.internal(span)),
        }
    }

    fn comparison(&self, p: Pair<'_, Rule>) -> Res<Expr> {
        let span = span_of(&p);
        let mut field = None;
        let mut op = None;
        let mut cased = false;
        let mut value = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::field => field = Some(ident(&c)),
                Rule::cmp_op => op = Some(self.op(c)?),
                Rule::kw_cased => cased = true,
                Rule::field_ref => {
                    value = Some(Value {
                        kind: ValueKind::Field(c.as_str().to_string()),
                        span: span_of(&c),
                    })
                }
                Rule::value => {
                    let literal = c.as_str();
                    let mut v = self.value(c)?;
                    // A `like` pattern's meaning depends on how its literal is written
                    // (`\*` vs `*`); the AST keeps it as pattern text (`ast::ValueKind::Str`).
                    if matches!(op, Some((Op::Like, _)))
                        && let ValueKind::Str(s) = &mut v.kind
                    {
                        *s = like_pattern(&wildcard(literal));
                    }
                    value = Some(v);
                }
                _ => return Err(self.unexpected(&c)),
            }
        }
        match (field, op, value) {
            (Some(field), Some((op, op_span)), Some(value)) => Ok(Expr::Compare(Comparison {
                field,
                op,
                op_span,
                cased,
                value: Some(value),
                span,
            })),
            _ => Err(self.internal(span)),
        }
    }

    /// `cmp_op` or `having_op` → the operator and its span.
    fn op(&self, p: Pair<'_, Rule>) -> Res<(Op, Span)> {
        let span = span_of(&p);
        let inner = p.into_inner().next().ok_or_else(|| self.internal(span))?;
        let op = match inner.as_rule() {
            Rule::op_eq => Op::Eq,
            Rule::op_ne => Op::Ne,
            Rule::op_le => Op::Le,
            Rule::op_lt => Op::Lt,
            Rule::op_ge => Op::Ge,
            Rule::op_gt => Op::Gt,
            Rule::op_not_in => Op::NotIn,
            Rule::kw_in => Op::In,
            Rule::kw_contains => Op::Contains,
            Rule::kw_startswith => Op::StartsWith,
            Rule::kw_endswith => Op::EndsWith,
            Rule::kw_like => Op::Like,
            Rule::kw_matches => Op::Matches,
            _ => return Err(self.unexpected(&inner)),
        };
        Ok((op, span))
    }

    fn having_expr(&self, p: Pair<'_, Rule>) -> Res<(Having, usize)> {
        let span = span_of(&p);
        let mut operands = Vec::new();
        let mut first_op = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::kw_or => _ = first_op.get_or_insert(span_of(&c)),
                Rule::having_and => operands.push(self.having_and(c)?),
                _ => return Err(self.unexpected(&c)),
            }
        }
        self.chain(
            operands,
            first_op,
            "this `having` condition",
            Having::Or,
            span,
        )
    }

    fn having_and(&self, p: Pair<'_, Rule>) -> Res<(Having, usize)> {
        let span = span_of(&p);
        let mut operands = Vec::new();
        let mut first_op = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::kw_and => _ = first_op.get_or_insert(span_of(&c)),
                Rule::having_term => operands.push((Having::Term(self.having_term(c)?), 0)),
                Rule::having_paren => {
                    let inner = c
                        .into_inner()
                        .find(|x| x.as_rule() == Rule::having_expr)
                        .ok_or_else(|| self.internal(span))?;
                    operands.push(self.having_expr(inner)?);
                }
                _ => return Err(self.unexpected(&c)),
            }
        }
        self.chain(
            operands,
            first_op,
            "this `having` condition",
            Having::And,
            span,
        )
    }

    fn having_term(&self, p: Pair<'_, Rule>) -> Res<HavingTerm> {
        let span = span_of(&p);
        let mut func = None;
        let mut field = None;
        let mut op = None;
        let mut value = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::agg_func => func = Some(ident(&c)),
                Rule::field => field = Some(ident(&c)),
                Rule::having_op => op = Some(self.op(c)?),
                Rule::number => value = Some(self.number(&c)?),
                r if is_token(r) => {}
                _ => return Err(self.unexpected(&c)),
            }
        }
        match (func, op, value) {
            (Some(func), Some((op, op_span)), Some(value)) => Ok(HavingTerm {
                func,
                field,
                op,
                op_span,
                value,
                span,
            }),
            _ => Err(self.internal(span)),
        }
    }

    fn test_case(&self, p: Pair<'_, Rule>) -> Res<TestCase> {
        let span = span_of(&p);
        let mut expect = None;
        let mut fields = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::kw_matches => expect = Some(Expect::Matches),
                Rule::kw_misses => expect = Some(Expect::Misses),
                Rule::test_field => {
                    let fspan = span_of(&c);
                    let mut field = None;
                    let mut value = None;
                    for f in c.into_inner() {
                        match f.as_rule() {
                            Rule::field => field = Some(ident(&f)),
                            Rule::value => value = Some(self.value(f)?),
                            r if is_token(r) => {}
                            _ => return Err(self.unexpected(&f)),
                        }
                    }
                    match (field, value) {
                        (Some(field), Some(value)) => fields.push((field, value)),
                        _ => return Err(self.internal(fspan)),
                    }
                }
                r if is_token(r) => {}
                _ => return Err(self.unexpected(&c)),
            }
        }
        Ok(TestCase {
            expect: expect.ok_or_else(|| self.internal(span))?,
            fields,
            span,
        })
    }

    // -------------------------------------------------------------------------- values

    /// `value`: one alternative inside.
    fn value(&self, p: Pair<'_, Rule>) -> Res<Value> {
        let span = span_of(&p);
        let inner = p.into_inner().next().ok_or_else(|| self.internal(span))?;
        let span = span_of(&inner);
        let kind = match inner.as_rule() {
            Rule::esc_string | Rule::raw_string => return self.string(&inner),
            Rule::duration => return self.duration(&inner),
            Rule::number => return self.number(&inner),
            Rule::list_literal => return self.list_literal(inner),
            Rule::boolean => ValueKind::Bool(inner.as_str().starts_with('t')),
            Rule::word => ValueKind::Word(inner.as_str().to_string()),
            Rule::list_ref => ValueKind::ListRef(inner.as_str()[1..].to_string()),
            Rule::cidr => {
                let mut ranges = Vec::new();
                for c in inner.into_inner() {
                    match c.as_rule() {
                        Rule::esc_string | Rule::raw_string => ranges.push(self.string(&c)?),
                        r if is_token(r) => {}
                        _ => return Err(self.unexpected(&c)),
                    }
                }
                ValueKind::Cidr(ranges)
            }
            _ => return Err(self.unexpected(&inner)),
        };
        Ok(Value { kind, span })
    }

    fn list_literal(&self, p: Pair<'_, Rule>) -> Res<Value> {
        let span = span_of(&p);
        let mut items = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::value => items.push(self.value(c)?),
                r if is_token(r) => {}
                _ => return Err(self.unexpected(&c)),
            }
        }
        Ok(Value {
            kind: ValueKind::List(items),
            span,
        })
    }

    fn string(&self, p: &Pair<'_, Rule>) -> Res<Value> {
        let span = span_of(p);
        let raw = p.as_str();
        if raw.len() < 2 {
            return Err(self.internal(span));
        }
        let inner = &raw[1..raw.len() - 1];
        let s = match p.as_rule() {
            Rule::raw_string => inner.replace("''", "'"),
            Rule::esc_string => self.unescape(inner, span.start + 1)?,
            _ => return Err(self.internal(span)),
        };
        Ok(Value {
            kind: ValueKind::Str(s),
            span,
        })
    }

    /// Resolves escapes in the text between the quotes; `base` is its byte offset.
    fn unescape(&self, inner: &str, base: usize) -> Res<String> {
        let mut out = String::with_capacity(inner.len());
        let mut rest = inner;
        while let Some(i) = rest.find('\\') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let at = base + (inner.len() - rest.len()) + i;
            match decode_escape(after) {
                Ok((c, used)) => {
                    out.push(c);
                    rest = &after[used..];
                }
                Err(e) => return Err(bad_escape(self.file, at, after, e)),
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    fn number(&self, p: &Pair<'_, Rule>) -> Res<Value> {
        let span = span_of(p);
        let text = p.as_str();
        let kind = if text.contains('.') {
            match text.parse::<f64>() {
                Ok(f) if f.is_finite() => ValueKind::Float(f),
                _ => return Err(self.out_of_range(span, "number")),
            }
        } else {
            match text.parse::<i64>() {
                Ok(i) => ValueKind::Int(i),
                Err(_) => return Err(self.out_of_range(span, "integer")),
            }
        };
        Ok(Value { kind, span })
    }

    fn duration(&self, p: &Pair<'_, Rule>) -> Res<Value> {
        let span = span_of(p);
        // The grammar gives digits and a unit; only the size can be wrong.
        let secs = crate::base::duration_seconds(p.as_str())
            .ok_or_else(|| self.out_of_range(span, "duration"))?;
        Ok(Value {
            kind: ValueKind::Duration(secs),
            span,
        })
    }

    fn out_of_range(&self, span: Span, what: &str) -> Diagnostic {
        let hint = match what {
            "integer" => {
                "integers must fit in 64 bits (-9223372036854775808 to 9223372036854775807)"
            }
            "duration" => "durations must fit in 64-bit seconds",
            _ => "this number is too large to represent",
        };
        Diagnostic::error(
            self.file,
            span,
            E_RANGE,
            format!("{what} literal out of range"),
        )
        .with_hint(hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::diag::line_col;

    const EXAMPLE_RMM: &str = r#"# must work
list remote_access_tools = ["anydesk.exe", "teamviewer.exe", "rustdesk.exe",
                            "remoting_host.exe", "splashtop.exe"]

rule rmm_tool_started "Remote access tool started on a corporate endpoint" {
  id          = "4c0b3f0e-8f4e-4d8e-9a63-2f3e0b6f6a11"
  severity    = high
  status      = stable
  attack      = [T1219]
  tags        = ["dprk.it_worker", "remote_access"]
  description = "A remote desktop or RMM tool was started on a managed laptop."
  false_positives = ["Sanctioned IT support sessions"]

  from process_start
  where process.name in $remote_access_tools
    and not user.name startswith "svc_"

  test matches { process.name = "AnyDesk.exe", user.name = "jdoe" }
  test misses  { process.name = "AnyDesk.exe", user.name = "svc_backup" }
}
"#;

    const EXAMPLE_CORRELATION: &str = r#"# must work
rule laptop_farm_shared_ip "Several accounts sign in from one external IP" {
  id = "b7f1c1d2-2c61-4f7a-9d0e-5b8a3c9e1f20"
  severity = high
  attack = [T1078]

  from authentication
  where event.outcome == "success"
    and not source.ip in cidr("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
  group by source.ip window 24h
  having distinct(user.name) >= 3
}

rule ipkvm_then_logon "IP-KVM device attached, then an interactive logon" {
  id = "e3a9d0c4-7b15-4e61-8c2f-0a9b8d7c6e51"
  severity = critical
  attack = [T1200]

  sequence by host.name within 10m {
    usb_device where device.vendor.name contains "PiKVM" or device.product.name contains "TinyPilot"
    authentication where event.outcome == "success" and logon.type == "interactive"
  }
}

rule new_signin_country "First sign-in from a country not seen for this user" {
  id = "0d2e6f4a-9c1b-4b7e-8e3d-6f5a4c3b2a10"
  severity = medium
  attack = [T1078.004]

  from authentication
  where event.outcome == "success"
  first seen source.geo.country_iso_code by user.name lookback 30d
}
"#;

    fn ok(text: &str) -> ast::File {
        match parse("t.det", text) {
            Ok(f) => f,
            Err(ds) => panic!(
                "unexpected errors:\n{}",
                ds.iter()
                    .map(|d| crate::base::diag::render_text(d, Some(text)))
                    .collect::<String>()
            ),
        }
    }

    fn err(text: &str) -> Diagnostic {
        match parse("t.det", text) {
            Ok(f) => panic!("expected an error, got {f:#?}"),
            Err(mut ds) => {
                assert_eq!(ds.len(), 1, "{ds:#?}");
                ds.remove(0)
            }
        }
    }

    fn rules(f: &ast::File) -> Vec<&RuleItem> {
        f.items
            .iter()
            .filter_map(|i| match i {
                Item::Rule(r) => Some(&**r),
                Item::List(_) => None,
            })
            .collect()
    }

    /// A rule around `body` (which must contain the query).
    fn rule_with(body: &str) -> String {
        format!("rule r \"T\" {{\n  id = \"x\"\n  severity = high\n{body}\n}}\n")
    }

    fn condition_of(text: &str) -> Expr {
        let f = ok(&rule_with(&format!("  from process_start\n  where {text}")));
        match &rules(&f)[0].body {
            Body::Single(q) => q.condition.clone().expect("a condition"),
            b => panic!("unexpected body {b:?}"),
        }
    }

    fn cmp(e: &Expr) -> &Comparison {
        match e {
            Expr::Compare(c) => c,
            _ => panic!("not a comparison: {e:?}"),
        }
    }

    fn value_of(text: &str) -> ValueKind {
        let e = condition_of(&format!("a == {text}"));
        cmp(&e).value.clone().expect("a value").kind
    }

    fn str_value(text: &str) -> String {
        match value_of(text) {
            ValueKind::Str(s) => s,
            v => panic!("not a string: {v:?}"),
        }
    }

    /// A value without spans, written back as text: strings quoted, words bare.
    fn plain(v: &Value) -> String {
        match &v.kind {
            ValueKind::Str(s) => format!("{s:?}"),
            ValueKind::Int(i) => i.to_string(),
            ValueKind::Float(f) => format!("{f:?}"),
            ValueKind::Bool(b) => b.to_string(),
            ValueKind::Duration(d) => format!("{d}s"),
            ValueKind::Word(w) | ValueKind::Field(w) => w.clone(),
            ValueKind::List(items) => {
                format!(
                    "[{}]",
                    items.iter().map(plain).collect::<Vec<_>>().join(", ")
                )
            }
            ValueKind::ListRef(n) => format!("${n}"),
            ValueKind::Cidr(items) => {
                format!(
                    "cidr({})",
                    items.iter().map(plain).collect::<Vec<_>>().join(", ")
                )
            }
        }
    }

    /// An expression as fully parenthesised text, for precedence checks.
    fn shape(e: &Expr) -> String {
        match e {
            Expr::And(xs) => format!(
                "({})",
                xs.iter().map(shape).collect::<Vec<_>>().join(" and ")
            ),
            Expr::Or(xs) => format!(
                "({})",
                xs.iter().map(shape).collect::<Vec<_>>().join(" or ")
            ),
            Expr::Not(a, _) => format!("not {}", shape(a)),
            Expr::Compare(c) => match &c.value {
                None => format!("{} {}", c.op.as_str(), c.field.name),
                Some(v) => format!(
                    "{} {}{} {}",
                    c.field.name,
                    c.op.as_str(),
                    if c.cased { " cased" } else { "" },
                    plain(v)
                ),
            },
        }
    }

    fn having_shape(h: &Having) -> String {
        match h {
            Having::And(xs) => format!(
                "({})",
                xs.iter()
                    .map(having_shape)
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
            Having::Or(xs) => format!(
                "({})",
                xs.iter().map(having_shape).collect::<Vec<_>>().join(" or ")
            ),
            Having::Term(t) => format!(
                "{}({}) {} {}",
                t.func.name,
                t.field.as_ref().map_or("", |f| f.name.as_str()),
                t.op.as_str(),
                plain(&t.value)
            ),
        }
    }

    fn at(text: &str, d: &Diagnostic) -> (usize, usize) {
        line_col(text, d.span.start)
    }

    #[test]
    fn must_work_single_event_example() {
        let f = ok(EXAMPLE_RMM);
        assert_eq!(f.items.len(), 2);
        let Item::List(list) = &f.items[0] else {
            panic!("first item is not a list")
        };
        assert_eq!(list.name.name, "remote_access_tools");
        let ValueKind::List(tools) = &list.values.kind else {
            panic!("list values")
        };
        assert_eq!(tools.len(), 5);
        assert_eq!(tools[4].kind, ValueKind::Str("splashtop.exe".into()));
        assert_eq!(
            &EXAMPLE_RMM[tools[4].span.start..tools[4].span.end],
            "\"splashtop.exe\""
        );

        let r = rules(&f)[0];
        assert_eq!(r.name.name, "rmm_tool_started");
        assert_eq!(
            &EXAMPLE_RMM[r.name.span.start..r.name.span.end],
            "rmm_tool_started"
        );
        assert_eq!(
            r.title.kind,
            ValueKind::Str("Remote access tool started on a corporate endpoint".into())
        );
        let keys: Vec<&str> = r.meta.iter().map(|m| m.key.name.as_str()).collect();
        assert_eq!(
            keys,
            [
                "id",
                "severity",
                "status",
                "attack",
                "tags",
                "description",
                "false_positives"
            ]
        );
        assert_eq!(r.meta[1].value.kind, ValueKind::Word("high".into()));
        assert_eq!(r.meta[2].value.kind, ValueKind::Word("stable".into()));
        assert_eq!(plain(&r.meta[3].value), "[T1219]");
        assert_eq!(
            plain(&r.meta[4].value),
            "[\"dprk.it_worker\", \"remote_access\"]"
        );

        let Body::Single(q) = &r.body else {
            panic!("expected a single-event body")
        };
        assert_eq!(q.source.name, "process_start");
        let Some(Expr::And(xs)) = &q.condition else {
            panic!("expected an `and`: {:?}", q.condition)
        };
        let [lhs, rhs] = &xs[..] else {
            panic!("expected two operands: {xs:?}")
        };
        let l = cmp(lhs);
        assert_eq!(l.field.name, "process.name");
        assert_eq!(l.op, Op::In);
        assert_eq!(&EXAMPLE_RMM[l.op_span.start..l.op_span.end], "in");
        assert_eq!(
            l.value.as_ref().unwrap().kind,
            ValueKind::ListRef("remote_access_tools".into())
        );
        let Expr::Not(inner, not_span) = rhs else {
            panic!("expected `not`")
        };
        assert_eq!(
            &EXAMPLE_RMM[not_span.start..not_span.end],
            "not user.name startswith \"svc_\""
        );
        let n = cmp(inner);
        assert_eq!(n.field.name, "user.name");
        assert_eq!(n.op, Op::StartsWith);
        assert!(!n.cased);
        assert_eq!(
            n.value.as_ref().unwrap().kind,
            ValueKind::Str("svc_".into())
        );

        assert_eq!(r.tests.len(), 2);
        assert_eq!(r.tests[0].expect, Expect::Matches);
        assert_eq!(r.tests[1].expect, Expect::Misses);
        let t: Vec<(&str, &ValueKind)> = r.tests[1]
            .fields
            .iter()
            .map(|(k, v)| (k.name.as_str(), &v.kind))
            .collect();
        assert_eq!(
            t,
            [
                ("process.name", &ValueKind::Str("AnyDesk.exe".into())),
                ("user.name", &ValueKind::Str("svc_backup".into()))
            ]
        );
        assert_eq!(&EXAMPLE_RMM[r.span.start..r.span.start + 4], "rule");
        assert!(EXAMPLE_RMM[..r.span.end].ends_with('}'));
    }

    #[test]
    fn must_work_correlation_examples() {
        let f = ok(EXAMPLE_CORRELATION);
        let rs = rules(&f);
        assert_eq!(rs.len(), 3);

        // Aggregation.
        let Body::Aggregate {
            query,
            group_by,
            window,
            having,
        } = &rs[0].body
        else {
            panic!("expected an aggregation: {:?}", rs[0].body)
        };
        assert_eq!(rs[0].name.name, "laptop_farm_shared_ip");
        assert_eq!(query.source.name, "authentication");
        let Some(Expr::And(xs)) = &query.condition else {
            panic!("expected `and`")
        };
        let Some(Expr::Not(inner, _)) = xs.last() else {
            panic!("expected `not`")
        };
        let c = cmp(inner);
        assert_eq!((c.field.name.as_str(), c.op), ("source.ip", Op::In));
        let ValueKind::Cidr(ranges) = &c.value.as_ref().unwrap().kind else {
            panic!("expected cidr")
        };
        let ranges: Vec<&ValueKind> = ranges.iter().map(|v| &v.kind).collect();
        assert_eq!(
            ranges,
            [
                &ValueKind::Str("10.0.0.0/8".into()),
                &ValueKind::Str("172.16.0.0/12".into()),
                &ValueKind::Str("192.168.0.0/16".into())
            ]
        );
        assert_eq!(group_by.len(), 1);
        assert_eq!(group_by[0].field.name, "source.ip");
        assert_eq!(window.kind, ValueKind::Duration(24 * 3600));
        let Having::Term(t) = having else {
            panic!("expected one having term")
        };
        assert_eq!(t.func.name, "distinct");
        assert_eq!(t.field.as_ref().unwrap().name, "user.name");
        assert_eq!(t.op, Op::Ge);
        assert_eq!(t.value.kind, ValueKind::Int(3));
        assert_eq!(
            &EXAMPLE_CORRELATION[t.span.start..t.span.end],
            "distinct(user.name) >= 3"
        );

        // Sequence.
        let Body::Sequence {
            by, within, steps, ..
        } = &rs[1].body
        else {
            panic!("expected a sequence")
        };
        assert_eq!(
            by.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["host.name"]
        );
        assert_eq!(within.kind, ValueKind::Duration(600));
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].source.name, "usb_device");
        assert!(matches!(steps[0].condition, Some(Expr::Or(..))));
        assert_eq!(steps[1].source.name, "authentication");
        assert!(matches!(steps[1].condition, Some(Expr::And(..))));

        // First seen.
        let Body::FirstSeen {
            query,
            field,
            by,
            lookback,
        } = &rs[2].body
        else {
            panic!("expected first seen")
        };
        assert_eq!(query.source.name, "authentication");
        assert!(query.condition.is_some());
        assert_eq!(field.name, "source.geo.country_iso_code");
        assert_eq!(by[0].name, "user.name");
        assert_eq!(lookback.kind, ValueKind::Duration(30 * 86_400));
        assert_eq!(plain(&rs[2].meta[2].value), "[T1078.004]");
    }

    #[test]
    fn not_binds_tighter_than_and_tighter_than_or() {
        let e = condition_of("not x == 1 and y == 2 or z == 3");
        assert_eq!(shape(&e), "((not x == 1 and y == 2) or z == 3)");
        let e = condition_of("a == 1 or b == 2 and c == 3");
        assert_eq!(shape(&e), "(a == 1 or (b == 2 and c == 3))");
        let e = condition_of("(a == 1 or b == 2) and not (c == 3 or d == 4)");
        assert_eq!(shape(&e), "((a == 1 or b == 2) and not (c == 3 or d == 4))");
        let e = condition_of("a == 1 and b == 2 and c == 3 or d == 4 or e == 5");
        assert_eq!(
            shape(&e),
            "((a == 1 and b == 2 and c == 3) or d == 4 or e == 5)"
        );
        let e = condition_of("not not exists a and not exists b");
        assert_eq!(shape(&e), "(not not exists a and not exists b)");
    }

    #[test]
    fn not_span_covers_keyword_and_operand() {
        let text = rule_with("  from s\n  where not (a == 1 or b == 2) and c == 3");
        let f = ok(&text);
        let Body::Single(q) = &rules(&f)[0].body else {
            panic!()
        };
        let Some(Expr::And(xs)) = &q.condition else {
            panic!()
        };
        let Some(Expr::Not(_, span)) = xs.first() else {
            panic!()
        };
        // The parentheses are not part of the AST; the span ends at the operand's end.
        assert_eq!(&text[span.start..span.end], "not (a == 1 or b == 2");
        let e = condition_of("not exists a");
        assert!(matches!(&e, Expr::Not(inner, _) if cmp(inner).op == Op::Exists));
    }

    #[test]
    fn every_operator_and_cased() {
        let cases = [
            ("a == 1", Op::Eq, "=="),
            ("a != 1", Op::Ne, "!="),
            ("a in [1, 2]", Op::In, "in"),
            ("a not in [1, 2]", Op::NotIn, "not in"),
            (
                "a not   # comment\n in [1]",
                Op::NotIn,
                "not   # comment\n in",
            ),
            ("a contains \"x\"", Op::Contains, "contains"),
            ("a startswith [\"x\", \"y\"]", Op::StartsWith, "startswith"),
            ("a endswith $l", Op::EndsWith, "endswith"),
            ("a like \"C:\\\\*\\\\?.exe\"", Op::Like, "like"),
            ("a matches '^x+$'", Op::Matches, "matches"),
            ("a < 1", Op::Lt, "<"),
            ("a <= 1", Op::Le, "<="),
            ("a > 1", Op::Gt, ">"),
            ("a >= 1.5", Op::Ge, ">="),
            ("exists a", Op::Exists, "exists"),
        ];
        for (src, op, op_text) in cases {
            let text = rule_with(&format!("  from s\n  where {src}"));
            let f = ok(&text);
            let Body::Single(q) = &rules(&f)[0].body else {
                panic!()
            };
            let c = cmp(q.condition.as_ref().unwrap());
            assert_eq!(c.op, op, "{src}");
            assert_eq!(c.field.name, "a");
            assert_eq!(&text[c.op_span.start..c.op_span.end], op_text, "{src}");
            assert_eq!(&text[c.span.start..c.span.end], src, "{src}");
            assert!(!c.cased);
            assert_eq!(c.value.is_none(), op == Op::Exists);
        }
        for src in [
            "a == cased \"AnyDesk.exe\"",
            "a in cased [\"a\"]",
            "a contains cased \"X\"",
            "a not in cased $l",
        ] {
            let e = condition_of(src);
            assert!(cmp(&e).cased, "{src}");
        }
        assert_eq!(
            shape(&condition_of("process.name == cased \"AnyDesk.exe\"")),
            "process.name == cased \"AnyDesk.exe\""
        );
    }

    #[test]
    fn keywords_as_dotted_field_prefixes_and_special_fields() {
        let e = condition_of(
            "rule.name == \"x\" and group.name == \"y\" and @timestamp > 1 and file.in_use == true",
        );
        assert_eq!(
            shape(&e),
            "(rule.name == \"x\" and group.name == \"y\" and @timestamp > 1 and file.in_use == true)"
        );
        let e = condition_of("notice == 1 or order == 2 or android == 3");
        assert_eq!(shape(&e), "(notice == 1 or order == 2 or android == 3)");
    }

    #[test]
    fn strings_escaped_and_raw() {
        assert_eq!(str_value(r#""C:\\Users\\""#), "C:\\Users\\");
        assert_eq!(str_value(r#""say \"hi\"\n\t\r""#), "say \"hi\"\n\t\r");
        assert_eq!(str_value(r#""smile \u{1F600}!""#), "smile \u{1F600}!");
        assert_eq!(str_value(r#""\u{e9}""#), "é");
        assert_eq!(str_value(r#""a\*b\?""#), "a*b?");
        assert_eq!(str_value(r"'C:\Users\Public\'"), "C:\\Users\\Public\\");
        assert_eq!(str_value("'it''s'"), "it's");
        assert_eq!(str_value("''"), "");
        assert_eq!(str_value("''''"), "'");
        assert_eq!(str_value("'''x'"), "'x");
        assert_eq!(str_value("\"\""), "");
        assert_eq!(str_value("\"# not a comment\""), "# not a comment");
        assert_eq!(str_value("'(((['"), "((([");
        assert_eq!(str_value("\"naïve ✓\""), "naïve ✓");
        // The title takes either form.
        let f = ok("rule r 'It''s raw' { id = \"x\" from s }");
        assert_eq!(rules(&f)[0].title.kind, ValueKind::Str("It's raw".into()));
    }

    #[test]
    fn values_of_every_kind() {
        assert_eq!(value_of("4624"), ValueKind::Int(4624));
        assert_eq!(value_of("-5"), ValueKind::Int(-5));
        assert_eq!(value_of("0.5"), ValueKind::Float(0.5));
        assert_eq!(value_of("-2.25"), ValueKind::Float(-2.25));
        assert_eq!(value_of("true"), ValueKind::Bool(true));
        assert_eq!(value_of("false"), ValueKind::Bool(false));
        assert_eq!(value_of("30s"), ValueKind::Duration(30));
        assert_eq!(value_of("10m"), ValueKind::Duration(600));
        assert_eq!(value_of("24h"), ValueKind::Duration(86_400));
        assert_eq!(value_of("7d"), ValueKind::Duration(604_800));
        assert_eq!(value_of("T1078.004"), ValueKind::Word("T1078.004".into()));
        assert_eq!(value_of("TA0001"), ValueKind::Field("TA0001".into()));
        assert_eq!(value_of("$my_list"), ValueKind::ListRef("my_list".into()));
        // A bare field path on the right names a field; a word that is no path stays a word.
        assert_eq!(value_of("b"), ValueKind::Field("b".into()));
        assert_eq!(
            value_of("process.pe.original_file_name"),
            ValueKind::Field("process.pe.original_file_name".into())
        );
        assert_eq!(
            value_of("@timestamp"),
            ValueKind::Field("@timestamp".into())
        );
        assert_eq!(value_of("x."), ValueKind::Word("x.".into()));
        assert_eq!(value_of("true"), ValueKind::Bool(true));
        let e = condition_of("a in cidr(\"10.0.0.0/8\", 'fd00::/8',)");
        let v = cmp(&e).value.clone().unwrap();
        assert_eq!(plain(&v), "cidr(\"10.0.0.0/8\", \"fd00::/8\")");
        let text = rule_with(
            "  tags = [\n    \"a\",   # first\n    'b',\n    3,\n    [T1, x.y],\n  ]\n  from s",
        );
        let f = ok(&text);
        let tags = &rules(&f)[0].meta[2].value;
        assert_eq!(plain(tags), "[\"a\", \"b\", 3, [T1, x.y]]");
        let ValueKind::List(items) = &tags.kind else {
            panic!()
        };
        assert_eq!(&text[items[1].span.start..items[1].span.end], "'b'");
        let f = ok("list empty = []\nlist one = [\"x\",]");
        let Item::List(l) = &f.items[1] else { panic!() };
        assert_eq!(plain(&l.values), "[\"x\"]");
        // `test` is a keyword but still a metadata word (`status = test`).
        let f = ok(&rule_with("  status = test\n  from s"));
        assert_eq!(
            rules(&f)[0].meta[2].value.kind,
            ValueKind::Word("test".into())
        );
    }

    #[test]
    fn having_terms_and_precedence() {
        let text = rule_with(
            "  from s\n  group by a, b.c window 1h\n  having count() > 5 or sum(bytes) >= 10 and (min(x) < 1 or max(x) != 2)",
        );
        let f = ok(&text);
        let Body::Aggregate {
            query,
            group_by,
            having,
            ..
        } = &rules(&f)[0].body
        else {
            panic!()
        };
        assert!(query.condition.is_none());
        assert_eq!(group_by.len(), 2);
        assert_eq!(
            having_shape(having),
            "(count() > 5 or (sum(bytes) >= 10 and (min(x) < 1 or max(x) != 2)))"
        );
        let f = ok(&rule_with(
            "  from s where a == 1 group by a window 5m having count ( ) == 0.5",
        ));
        let Body::Aggregate { having, .. } = &rules(&f)[0].body else {
            panic!()
        };
        assert_eq!(having_shape(having), "count() == 0.5");
    }

    #[test]
    fn first_seen_without_where_and_multiple_keys() {
        let f = ok(&rule_with(
            "  from authentication first seen source.ip by user.name, host.name lookback 7d",
        ));
        let Body::FirstSeen { query, by, .. } = &rules(&f)[0].body else {
            panic!()
        };
        assert!(query.condition.is_none());
        assert_eq!(by.len(), 2);
    }

    #[test]
    fn test_cases_forms() {
        let text = rule_with(
            "  from s\n  test matches {}\n  test misses {\n    a = 1,\n    b.c = [\"x\", 'y'],\n    d = true,\n  }\n  test matches { e = -1.5, f = 'g' }",
        );
        let f = ok(&text);
        let tests = &rules(&f)[0].tests;
        assert_eq!(tests.len(), 3);
        assert!(tests[0].fields.is_empty());
        assert_eq!(tests[1].expect, Expect::Misses);
        let t: Vec<String> = tests[1]
            .fields
            .iter()
            .map(|(k, v)| format!("{} = {}", k.name, plain(v)))
            .collect();
        assert_eq!(t, ["a = 1", "b.c = [\"x\", \"y\"]", "d = true"]);
        assert_eq!(plain(&tests[2].fields[0].1), "-1.5");
        assert!(text[tests[1].span.start..tests[1].span.end].starts_with("test misses {"));
    }

    #[test]
    fn files_with_comments_crlf_bom_and_nothing() {
        assert_eq!(ok("").items.len(), 0);
        assert_eq!(ok("  # only a comment").items.len(), 0);
        assert_eq!(ok("\u{FEFF}list a = [1]").items.len(), 1);
        let crlf = EXAMPLE_RMM.replace('\n', "\r\n");
        assert_eq!(rules(&ok(&crlf))[0].meta.len(), 7);
        let f = ok("rule a \"T\" { id = \"x\" # c\n from s # c\n where a == 1 # c\n } # end");
        assert_eq!(rules(&f).len(), 1);
        let f = ok(
            "rule a \"T\" {\n id = \"x\" severity = low status = stable from s where a == 1 test matches { a = 1 } }",
        );
        assert_eq!(rules(&f)[0].meta.len(), 3);
    }

    // ------------------------------------------------------------------ errors

    #[test]
    fn single_equals_in_condition_points_at_the_equals_sign() {
        let text = rule_with("  from process_start\n  where process.name = \"x\"");
        let d = err(&text);
        assert_eq!(d.code, Code::E0001);
        assert_eq!(at(&text, &d), (5, 22));
        assert_eq!(d.span.end - d.span.start, 1);
        assert!(
            d.message.starts_with("expected a comparison operator"),
            "{}",
            d.message
        );
        assert!(d.message.ends_with("found `=`"), "{}", d.message);
        assert_eq!(d.hint.as_deref(), Some("use `==` to compare"));
    }

    #[test]
    fn messages_name_tokens_not_grammar_rules() {
        let cases = [
            (
                rule_with("  from s\n  where a == 1 b == 2"),
                (5, 16),
                "`and`",
            ),
            (
                rule_with("  from s\n  where a == 1 &&  b == 2"),
                (5, 16),
                "`or`",
            ),
            (rule_with("  from s\n  where"), (6, 1), "a condition"),
            (
                rule_with("  from s\n  where a == 1\n  group by x window 24 having count() > 1"),
                (6, 21),
                "a duration",
            ),
            (
                rule_with("  from s\n  where a == 1\n  first x by y lookback 1d"),
                (6, 9),
                "`seen`",
            ),
            (rule_with("  frm s"), (4, 7), "`=`"),
            (
                rule_with("  from s\n  test matches { a == 1 }"),
                (5, 20),
                "`=`",
            ),
            (
                rule_with("  sequence by h within 10m {\n  }"),
                (5, 3),
                "a sequence step",
            ),
            ("rule r {}".to_string(), (1, 8), "the rule's title"),
            ("rul r \"T\" {}".to_string(), (1, 1), "`rule`"),
            ("list x = 1".to_string(), (1, 10), "`[`"),
        ];
        for (text, pos, wanted) in cases {
            let d = err(&text);
            assert_eq!(d.code, Code::E0001, "{text}");
            assert_eq!(at(&text, &d), pos, "{text}\n{}", d.message);
            assert!(d.message.contains(wanted), "{text}\n{}", d.message);
            for raw in [
                "kw_",
                "_op",
                "EOI",
                "lbrace",
                "rbrace",
                "expr",
                "cmp",
                "esc_string",
            ] {
                assert!(!d.message.contains(raw), "raw rule name in: {}", d.message);
            }
        }
        let d = err(&rule_with("  from s\n  where a == \u{201C}x\u{201D}"));
        assert_eq!(
            d.hint.as_deref(),
            Some("use straight quotes: `\"...\"` or `'...'`")
        );
        let d = err(&rule_with("  from s\n  where a == 1 && b == 2"));
        assert_eq!(d.hint.as_deref(), Some("use `and`"));
        let d = err(&rule_with("  from s\n  where a == 1\n  author = \"me\""));
        assert!(d.hint.unwrap().contains("must come before"));
        let d = err("rule r \"T\" { id = \"x\"\n from s where (a == 1\n");
        assert_eq!(d.message, "expected `and`, `or` or `)`, found end of file");
        assert_eq!(
            d.hint.as_deref(),
            Some("the `(` at line 2, column 15 is never closed")
        );
    }

    #[test]
    fn unterminated_strings() {
        let text = rule_with("  from s\n  where a == \"abc\n  and b == 1");
        let d = err(&text);
        assert_eq!(d.code, Code::E0001);
        assert_eq!(d.message, "unterminated string");
        assert_eq!(at(&text, &d), (5, 14));
        assert_eq!(&text[d.span.start..d.span.end], "\"abc");
        assert!(d.hint.unwrap().starts_with("close the string with `\"`"));
        let d = err("list x = ['abc");
        assert_eq!(
            (d.message.as_str(), d.span.start),
            ("unterminated string", 10)
        );
        assert!(d.hint.unwrap().starts_with("close the string with `'`"));
        let d = err("list x = ['it''");
        assert_eq!(d.message, "unterminated string");
    }

    #[test]
    fn bad_escapes_point_at_the_backslash() {
        let text = "list x = [\"ok\", \"a\\qb\"]";
        let d = err(text);
        assert_eq!(d.code, Code::E0001);
        assert_eq!(d.message, "unknown escape `\\q` in string");
        assert_eq!(d.span, Span::new(18, 20));
        assert_eq!(&text[d.span.start..d.span.end], "\\q");
        for bad in [
            "\\u{}",
            "\\u{110000}",
            "\\u{D800}",
            "\\u1F600",
            "\\u{1234567}",
            "\\u{12",
        ] {
            let text = format!("list x = [\"ab{bad}\"]");
            let d = err(&text);
            assert_eq!(d.code, Code::E0001, "{bad}");
            assert_eq!(d.span.start, 13, "{bad}");
            assert_eq!(d.message, "invalid unicode escape in string", "{bad}");
        }
        let d = err("list x = [\"a\\é\"]");
        assert_eq!(d.message, "unknown escape `\\é` in string");
        assert_eq!(d.span, Span::new(12, 15));
        let d = err("list x = [\"a\\");
        assert!(d.message.contains("backslash"), "{}", d.message);
    }

    #[test]
    fn numbers_out_of_range() {
        let d = err(&rule_with("  from s\n  where a == 9223372036854775808"));
        assert_eq!(d.code, Code::E0004);
        assert_eq!(d.message, "integer literal out of range");
        assert_eq!(value_of("-9223372036854775808"), ValueKind::Int(i64::MIN));
        let d = err(&rule_with(
            "  from s\n  group by a window 999999999999999999d having count() > 1",
        ));
        assert_eq!(d.code, Code::E0004);
        assert_eq!(d.message, "duration literal out of range");
        let big = format!("{}.0", "9".repeat(400));
        let d = err(&rule_with(&format!("  from s\n  where a == {big}")));
        assert_eq!(d.code, Code::E0004);
    }

    #[test]
    fn deep_brackets_are_rejected_before_pest() {
        // 64 levels in total (the rule's `{` is one) still parse.
        let depth_ok = MAX_NESTING - 1;
        let text = rule_with(&format!(
            "  from s\n  where {}a == 1{}",
            "(".repeat(depth_ok),
            ")".repeat(depth_ok)
        ));
        ok(&text);
        let text = rule_with(&format!(
            "  from s\n  where {}a == 1{}",
            "(".repeat(depth_ok + 1),
            ")".repeat(depth_ok + 1)
        ));
        let d = err(&text);
        assert_eq!(d.code, Code::E0003);
        // The opening bracket that crosses the limit: the rule's `{` plus 64 `(`.
        let first = text.find('(').unwrap();
        assert_eq!(
            d.span,
            Span::new(first + MAX_NESTING - 1, first + MAX_NESTING)
        );
        // Lists and unbalanced garbage too, far deeper than any stack could take.
        let d = err(&format!("list x = {}", "[".repeat(100_000)));
        assert_eq!((d.code, d.span.start), (Code::E0003, 9 + MAX_NESTING));
        let d = err(&"{(".repeat(1_000_000));
        assert_eq!(d.code, Code::E0003);
        // The deepest accepted nesting of every recursive form parses on this thread's stack.
        ok(&rule_with(&format!(
            "  tags = {}1{}\n  from s",
            "[".repeat(MAX_NESTING - 1),
            "]".repeat(MAX_NESTING - 1)
        )));
        ok(&rule_with(&format!(
            "  sequence by h within 1m {{\n    s where {}a == 1{}\n  }}",
            "(not ".repeat(MAX_NESTING - 2),
            ")".repeat(MAX_NESTING - 2)
        )));
        ok(&rule_with(&format!(
            "  from s group by a window 1m having {}count() > 1{}",
            "(".repeat(MAX_NESTING - 2),
            ")".repeat(MAX_NESTING - 2)
        )));
        // Brackets inside strings and comments do not count.
        ok(&format!(
            "list x = [\"{}\"] # {}",
            "(".repeat(1000),
            "[".repeat(1000)
        ));
    }

    #[test]
    fn long_flat_chains_are_one_level_deep() {
        // Runs on the test thread's ordinary stack. A flat chain is not nesting (issue 16:
        // 258 terms used to be refused as "too deeply nested").
        for op in ["and", "or"] {
            let chain = vec!["a == 1"; 10_000].join(&format!(" {op} "));
            match condition_of(&chain) {
                Expr::And(xs) | Expr::Or(xs) => assert_eq!(xs.len(), 10_000),
                e => panic!("expected a chain: {e:?}"),
            }
        }
        let having = vec!["count() > 1"; 10_000].join(" or ");
        ok(&rule_with(&format!(
            "  from s group by a window 1m having {having}"
        )));
        // Real depth is still bounded: `not` upon `not`, and parentheses within chains.
        let nots = "not ".repeat(10_000);
        let d = err(&rule_with(&format!("  from s\n  where {nots}a == 1")));
        assert_eq!(d.code, Code::E0003);
        let nots = "not ".repeat(MAX_EXPR_DEPTH);
        ok(&rule_with(&format!("  from s\n  where {nots}a == 1")));
        let half = "not ".repeat(MAX_EXPR_DEPTH / 2);
        let d = err(&rule_with(&format!(
            "  from s\n  where {half}(a == 1 or {half}(b == 1 or c == 1))"
        )));
        assert_eq!(d.code, Code::E0003);
        // Long flat lists are not nesting.
        let list = vec!["\"x\""; 20_000].join(", ");
        let f = ok(&format!("list big = [{list}]"));
        let Item::List(l) = &f.items[0] else { panic!() };
        assert!(matches!(&l.values.kind, ValueKind::List(v) if v.len() == 20_000));
    }

    /// Optimised builds take milliseconds; unoptimised pest takes a few hundred.
    fn time_limit() -> f64 {
        if cfg!(debug_assertions) { 2.0 } else { 0.5 }
    }

    #[test]
    fn ten_megabyte_string_is_fast() {
        let big = "x".repeat(10 * 1024 * 1024);
        let text = rule_with(&format!("  description = \"{big}\\n\"\n  from s"));
        let started = std::time::Instant::now();
        let f = ok(&text);
        let elapsed = started.elapsed();
        match &rules(&f)[0].meta[2].value.kind {
            ValueKind::Str(s) => assert_eq!(s.len(), big.len() + 1),
            v => panic!("{v:?}"),
        }
        assert!(elapsed.as_secs_f64() < time_limit(), "took {elapsed:?}");
        let raw = rule_with(&format!("  description = '{big}'\n  from s"));
        let started = std::time::Instant::now();
        ok(&raw);
        assert!(started.elapsed().as_secs_f64() < time_limit());
        let unterminated = format!("list x = [\"{big}");
        let started = std::time::Instant::now();
        assert_eq!(err(&unterminated).message, "unterminated string");
        assert!(started.elapsed().as_secs_f64() < time_limit());
    }

    #[test]
    fn many_strings_on_one_line_scan_in_linear_time() {
        let items = ["\"a\\tb\"", "'c''d'", "\"e\""].repeat(30_000).join(", ");
        let text = format!("list x = [{items}] # {}", "(".repeat(100));
        let started = std::time::Instant::now();
        let f = ok(&text);
        assert!(started.elapsed().as_secs_f64() < time_limit());
        let Item::List(l) = &f.items[0] else { panic!() };
        let ValueKind::List(v) = &l.values.kind else {
            panic!()
        };
        assert_eq!(v.len(), 90_000);
        assert_eq!(v[0].kind, ValueKind::Str("a\tb".into()));
        assert_eq!(v[1].kind, ValueKind::Str("c'd".into()));
    }

    #[test]
    fn nul_bytes_are_binary() {
        let text = "list x = [\"a\"]\n\0\0";
        let d = err(text);
        assert_eq!(d.code, Code::E0002);
        assert_eq!(d.span, Span::new(15, 16));
        // Even inside a string.
        assert_eq!(err("list x = [\"a\0\"]").code, Code::E0002);
    }

    #[test]
    fn invalid_utf8_reports_the_first_bad_byte() {
        let mut bytes = b"list x = [\"caf".to_vec();
        bytes.push(0xE9); // Latin-1 é
        bytes.extend_from_slice(b"\"]");
        let ds = parse_bytes("t.det", &bytes).unwrap_err();
        assert_eq!(ds.len(), 1);
        assert_eq!(ds[0].code, Code::E0002);
        assert_eq!(ds[0].span.start, 14);
        // A truncated multi-byte sequence at the end.
        let ds = parse_bytes("t.det", &[b'#', 0xF0, 0x9F]).unwrap_err();
        assert_eq!((ds[0].code, ds[0].span.start), (Code::E0002, 1));
        assert!(parse_bytes("t.det", EXAMPLE_RMM.as_bytes()).is_ok());
    }

    /// A small deterministic generator; no new crates.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn parse_checked(text: &str) {
        if let Err(ds) = parse("t.det", text) {
            assert!(!ds.is_empty());
            for d in ds {
                assert!(
                    d.span.start <= d.span.end && d.span.end <= text.len(),
                    "{d:?}"
                );
                assert!(
                    !d.message.contains("kw_") && !d.message.contains("EOI"),
                    "{}",
                    d.message
                );
                let _ = crate::base::diag::render_text(&d, Some(text));
            }
        }
    }

    #[test]
    fn every_prefix_parses_or_errors_without_panicking() {
        for example in [EXAMPLE_RMM, EXAMPLE_CORRELATION] {
            for (i, _) in example.char_indices() {
                parse_checked(&example[..i]);
            }
        }
    }

    #[test]
    fn random_mutations_parse_or_error_without_panicking() {
        const ALPHABET: &[&str] = &[
            "\"",
            "'",
            "\\",
            "(",
            ")",
            "[",
            "]",
            "{",
            "}",
            "=",
            "==",
            "!",
            "<",
            ",",
            "$",
            "#",
            "\n",
            " ",
            "not ",
            " and ",
            " in ",
            "-",
            ".",
            "0",
            "9",
            "d",
            "é",
            "\u{1F600}",
            "\\u{",
            "cidr(",
            "''",
            "@",
            "_",
        ];
        let mut rng = Lcg(0x5EED);
        for example in [EXAMPLE_RMM, EXAMPLE_CORRELATION] {
            for _ in 0..1500 {
                let mut text = example.to_string();
                for _ in 0..1 + rng.below(4) {
                    let mut pos = rng.below(text.len() + 1);
                    while !text.is_char_boundary(pos) {
                        pos -= 1;
                    }
                    let mut end = (pos + 1 + rng.below(8)).min(text.len());
                    while !text.is_char_boundary(end) {
                        end += 1;
                    }
                    let piece = ALPHABET[rng.below(ALPHABET.len())];
                    match rng.below(3) {
                        0 => text.insert_str(pos, piece),
                        1 => text.replace_range(pos..end, ""),
                        _ => text.replace_range(pos..end, piece),
                    }
                }
                parse_checked(&text);
                // Byte-level damage goes through `parse_bytes`.
                let mut bytes = text.into_bytes();
                if !bytes.is_empty() {
                    let i = rng.below(bytes.len());
                    bytes[i] = rng.next() as u8;
                }
                let _ = parse_bytes("t.det", &bytes);
            }
        }
    }
}
