//! The one pretty-printer of `.det` text (`detc fmt`, and importers that build an AST).
//!
//! It prints from the AST alone (spans are only used to put comments back), so a tree built
//! by hand with default spans prints as well as a parsed one, and parsing the output gives
//! the same tree again (modulo spans: [`ast::File::without_spans`]).
//!
//! Layout, chosen to match the shipped library (`detections/`):
//!
//! * Two-space indentation. Items are separated by one blank line; inside a rule, the
//!   metadata, the query and the tests are separated by one blank line.
//! * Metadata keys are padded to 11 columns (the width of `description`), so the `=` signs
//!   line up; a longer key (`false_positives`) is followed by one space.
//! * A list (`[...]`) or `cidr(...)` stays on one line when its line fits in [`WIDTH`]
//!   columns and it holds no comment; otherwise one item per line, each followed by a comma,
//!   indented two more than the line that opens it, and the closing bracket on its own line.
//! * A `where` condition whose top operator is `and` or `or` is always one operand per line,
//!   the operator leading and right-aligned so that operands start 6 columns in
//!   (`where a`, `    and b`, `     or c`). An operand that fits on its line stays on one
//!   line; a nested chain that does not fit (or holds a comment) is broken the same way, each
//!   further operand on its own line with the operator at the column of the chain's first
//!   operand (just inside its `(`).
//! * Parentheses only where the tree needs them: `not` binds tightest, then `and`, then `or`;
//!   chains lean left, so a right operand of the same operator is parenthesised.
//! * `group by ... window ...`, `having ...`, `first seen ... by ... lookback ...` are one
//!   line each; a sequence's steps are one per line inside `sequence by ... within ... {`.
//! * `test matches { f = v, ... }` is one line when it fits and holds no comment, `misses`
//!   padded to the width of `matches`; otherwise `test misses {`, one `field = value,` per
//!   line, and `}`.
//! * Strings: `'...'` (no escapes) when the value holds a backslash, or is a regex, and has
//!   no `'` and no control character; `"..."` otherwise, escaping `\` `"` and control
//!   characters (`\n` `\t` `\r`, else `\u{..}`). A `like` pattern (pattern text, see
//!   `ast::ValueKind::Str`) is written so that it reads back as the same pattern: a literal
//!   `*` or `?` forces `"..."` with `\*` / `\?`.
//! * Durations: the largest of `d` (from 2 days on), `h`, `m`, `s` that divides exactly
//!   (`24h`, `14d`, `90s`). Floats keep a `.` (`1.0`).
//! * Comments: a comment on its own line goes before the line of the construct that follows
//!   it (at that line's indentation), keeping one blank line before or after it where the
//!   source had one; a comment after code stays at the end of that construct's line.
//!   Trailing comments on consecutive lines of the same indentation are aligned two spaces
//!   after the longest of those lines. A construct holding a comment is never joined onto one line, and a comment
//!   whose place cannot be kept goes on its own line before the next construct. No comment
//!   is ever dropped.
//!
//! ASTs that no text can express print as text that does not parse (so `detc check`
//! reports it) rather than as text meaning something else: a NaN or infinite float, a
//! sequence step without a condition. Names and words are printed as given.

use super::Comment;
use super::ast::{
    Body, Expect, Expr, File, Having, HavingTerm, Item, ListDef, Op, Query, Rule, TestCase, Value,
    ValueKind,
};
use crate::base::diag::Diagnostic;
use crate::base::{Span, WildPart};

/// The line width that lists, `cidr(...)`, conditions and tests are broken at.
pub const WIDTH: usize = 100;
/// Metadata keys are padded to this width.
const KEY_WIDTH: usize = 11;

/// Print a file; `comments` are those of the text the file was parsed from
/// ([`super::parse_with_comments`]), or empty.
pub fn print_file(file: &File, comments: &[Comment]) -> String {
    let mut p = Printer::new(comments);
    for (i, item) in file.items.iter().enumerate() {
        if i > 0 {
            p.blank();
        }
        match item {
            Item::List(l) => p.list_def(l),
            Item::Rule(r) => p.rule(r),
        }
    }
    p.finish()
}

/// Print one rule (no comments), e.g. one an importer built.
pub fn print_rule(rule: &Rule) -> String {
    print_file(
        &File {
            items: vec![Item::Rule(Box::new(rule.clone()))],
        },
        &[],
    )
}

/// Parse `text` and print it in canonical form, comments kept: what `detc fmt` writes.
pub fn format_text(file: &str, text: &str) -> Result<String, Vec<Diagnostic>> {
    let (ast, comments) = super::parse_with_comments(file, text)?;
    Ok(print_file(&ast, &comments))
}

/// How a string value is read, which decides how it is best written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Str {
    Plain,
    Regex,
    /// Pattern text of a `like` comparison.
    Like,
}

struct Line {
    text: String,
    comment: Option<String>,
}

struct Printer<'a> {
    comments: &'a [Comment],
    /// The first comment not yet printed.
    next: usize,
    lines: Vec<Line>,
    cur: String,
}

fn width(s: &str) -> usize {
    s.chars().count()
}

impl<'a> Printer<'a> {
    fn new(comments: &'a [Comment]) -> Self {
        Printer {
            comments,
            next: 0,
            lines: Vec::new(),
            cur: String::new(),
        }
    }

    fn col(&self) -> usize {
        width(&self.cur)
    }

    fn fits(&self, text: &str, tail: usize) -> bool {
        self.col() + width(text) + tail <= WIDTH
    }

    /// A comment lies strictly inside `span`.
    fn has_comment_in(&self, span: Span) -> bool {
        let i = self
            .comments
            .partition_point(|c| c.span.start <= span.start);
        self.comments
            .get(i)
            .is_some_and(|c| c.span.start < span.end)
    }

    fn last_is_blank(&self) -> bool {
        self.lines
            .last()
            .is_none_or(|l| l.text.is_empty() && l.comment.is_none())
    }

    /// The last line opens a block (`{`, `[`, `(`): no blank line right after it.
    fn at_block_start(&self) -> bool {
        self.lines
            .last()
            .is_none_or(|l| l.text.ends_with(['{', '[', '(']))
    }

    fn blank(&mut self) {
        if !self.last_is_blank() {
            self.lines.push(Line {
                text: String::new(),
                comment: None,
            });
        }
    }

    /// Prints the own-line comments that come before `anchor` at `indent`.
    fn flush_before(&mut self, anchor: usize, indent: usize) {
        let mut printed = false;
        let mut blank_after = false;
        while let Some(c) = self.comments.get(self.next) {
            if c.span.start >= anchor {
                break;
            }
            if c.blank_before && !self.at_block_start() {
                self.blank();
            }
            self.lines.push(Line {
                text: format!("{}{}", " ".repeat(indent), c.text),
                comment: None,
            });
            self.next += 1;
            printed = true;
            blank_after = c.blank_after;
        }
        if printed && blank_after {
            self.blank();
        }
    }

    /// Starts a line at `indent` for a construct that starts at source offset `anchor`.
    fn start(&mut self, indent: usize, anchor: usize) {
        self.start_with(indent, indent, anchor);
    }

    /// [`Self::start`], with the comments before it at `comment_indent` (closing brackets).
    fn start_with(&mut self, indent: usize, comment_indent: usize, anchor: usize) {
        debug_assert!(self.cur.is_empty());
        self.flush_before(anchor, comment_indent);
        self.cur = " ".repeat(indent);
    }

    /// Ends the current line, whose last construct ends at source offset `last_end`; a
    /// comment after it on the same source line, before `limit` (where the next line's
    /// construct starts), goes at the end of the line.
    fn end(&mut self, last_end: usize, limit: usize) {
        let mut comment = None;
        if let Some(c) = self.comments.get(self.next)
            && !c.own_line
            && c.span.start >= last_end
            && c.line_start <= last_end
            && c.span.start < limit
        {
            comment = Some(c.text.clone());
            self.next += 1;
        }
        let text = std::mem::take(&mut self.cur).trim_end().to_string();
        self.lines.push(Line { text, comment });
    }

    /// Ends a line that no trailing comment belongs to.
    fn end_plain(&mut self) {
        self.end(usize::MAX, 0);
    }

    fn finish(mut self) -> String {
        if !self.cur.is_empty() {
            self.end_plain();
        }
        while let Some(c) = self.comments.get(self.next) {
            if c.blank_before {
                self.blank();
            }
            self.lines.push(Line {
                text: c.text.clone(),
                comment: None,
            });
            self.next += 1;
        }
        while self.last_is_blank() && !self.lines.is_empty() {
            self.lines.pop();
        }
        // Trailing comments on consecutive lines share a column.
        let mut out = String::new();
        let mut i = 0;
        while i < self.lines.len() {
            let indent = |l: &Line| l.text.len() - l.text.trim_start().len();
            let mut j = i;
            while j < self.lines.len()
                && self.lines[j].comment.is_some()
                && indent(&self.lines[j]) == indent(&self.lines[i])
            {
                j += 1;
            }
            if j == i {
                out.push_str(&self.lines[i].text);
                out.push('\n');
                i += 1;
                continue;
            }
            let col = self.lines[i..j]
                .iter()
                .map(|l| width(&l.text))
                .max()
                .unwrap_or(0);
            for l in &self.lines[i..j] {
                let c = l.comment.as_deref().unwrap_or_default();
                if l.text.is_empty() {
                    out.push_str(c);
                } else {
                    let pad = col - width(&l.text) + 2;
                    out.push_str(&format!("{}{}{c}", l.text, " ".repeat(pad)));
                }
                out.push('\n');
            }
            i = j;
        }
        out
    }

    // ------------------------------------------------------------------------- items

    fn list_def(&mut self, l: &ListDef) {
        self.start(0, l.span.start);
        let tunable = if l.tunable { " tunable" } else { "" };
        self.cur
            .push_str(&format!("list {}{tunable} = ", l.name.name));
        self.value(&l.values, 0, Str::Plain);
        self.end(l.values.span.end, usize::MAX);
    }

    fn rule(&mut self, r: &Rule) {
        self.start(0, r.span.start);
        self.cur.push_str(&format!(
            "rule {} {} {{",
            r.name.name,
            string(&r.title, Str::Plain)
        ));
        let first = r
            .meta
            .first()
            .map(|m| m.key.span.start)
            .unwrap_or_else(|| body_start(&r.body));
        self.end(r.title.span.end, first);
        for m in &r.meta {
            self.start(2, m.key.span.start);
            self.cur.push_str(&format!(
                "{:<KEY_WIDTH$} = ",
                m.key.name,
                KEY_WIDTH = KEY_WIDTH
            ));
            self.value(&m.value, 0, Str::Plain);
            self.end(m.value.span.end, usize::MAX);
        }
        if !r.meta.is_empty() {
            self.blank();
        }
        self.body(&r.body);
        if !r.tests.is_empty() {
            self.blank();
            for t in &r.tests {
                self.test(t);
            }
        }
        self.start_with(0, 2, r.span.end.saturating_sub(1));
        self.cur.push('}');
        self.end(r.span.end, usize::MAX);
    }

    fn body(&mut self, body: &Body) {
        match body {
            Body::Single(q) => self.query(q),
            Body::Aggregate {
                query,
                group_by,
                window,
                having,
            } => {
                self.query(query);
                self.start(
                    2,
                    group_by
                        .first()
                        .map_or(window.span.start, |k| k.span().start),
                );
                self.cur.push_str(&format!(
                    "group by {} window {}",
                    keys(group_by),
                    flat_value(window, Str::Plain)
                ));
                self.end(window.span.end, usize::MAX);
                let span = having_span(having);
                self.start(2, span.start);
                self.cur.push_str("having ");
                self.cur.push_str(&flat_having(having, 1));
                self.end(span.end, usize::MAX);
            }
            Body::FirstSeen {
                query,
                field,
                by,
                lookback,
            } => {
                self.query(query);
                self.start(2, field.span.start);
                self.cur.push_str(&format!(
                    "first seen {} by {} lookback {}",
                    field.name,
                    names(by),
                    flat_value(lookback, Str::Plain)
                ));
                self.end(lookback.span.end, usize::MAX);
            }
            Body::Sequence {
                by,
                within,
                steps,
                step_by,
                step_not,
                step_as,
            } => {
                self.start(2, by.first().map_or(within.span.start, |f| f.span.start));
                self.cur.push_str(&format!(
                    "sequence by {} within {} {{",
                    names(by),
                    flat_value(within, Str::Plain)
                ));
                let step_start = |(step, not): (&Query, &Option<Span>)| {
                    not.map_or(step.source.span.start, |n| n.start)
                };
                let first = steps
                    .iter()
                    .zip(step_not)
                    .next()
                    .map_or(usize::MAX, step_start);
                self.end(within.span.end, first);
                for (((step, keys), not), name) in
                    steps.iter().zip(step_by).zip(step_not).zip(step_as)
                {
                    self.start(4, step_start((step, not)));
                    if not.is_some() {
                        self.cur.push_str("not ");
                    }
                    self.cur.push_str(&step.source.name);
                    if let Some(name) = name {
                        self.cur.push_str(&format!(" as {}", name.name));
                    }
                    if !keys.is_empty() {
                        self.cur.push_str(&format!(" by {}", names(keys)));
                    }
                    self.cur.push_str(" where");
                    match &step.condition {
                        Some(e) => {
                            self.cur.push(' ');
                            self.condition(e, 4);
                        }
                        None => self.end(step.source.span.end, usize::MAX),
                    }
                }
                // The `}` has no span: comments before it go before the next construct.
                self.start(2, 0);
                self.cur.push('}');
                self.end_plain();
            }
        }
    }

    fn query(&mut self, q: &Query) {
        self.start(2, q.source.span.start);
        self.cur.push_str("from ");
        self.cur.push_str(&q.source.name);
        let next = q.condition.as_ref().map_or(usize::MAX, |e| e.span().start);
        self.end(q.source.span.end, next);
        if let Some(e) = &q.condition {
            self.start(2, e.span().start);
            self.cur.push_str("where ");
            self.condition(e, 2);
        }
    }

    /// The condition after `where ` on the current line; ends its last line. Operands of
    /// the top chain start at `indent + 6`.
    fn condition(&mut self, e: &Expr, indent: usize) {
        match chain(e) {
            Some((op, operands, min)) => {
                let at = indent + 6 - op.len() - 1;
                for (i, x) in operands.iter().enumerate() {
                    if i > 0 {
                        self.start(at, x.span().start);
                        self.cur.push_str(op);
                        self.cur.push(' ');
                    }
                    self.operand(x, min, 0);
                    let limit = operands.get(i + 1).map_or(usize::MAX, |n| n.span().start);
                    self.end(x.span().end, limit);
                }
            }
            None => {
                self.operand(e, 1, 0);
                self.end(e.span().end, usize::MAX);
            }
        }
    }

    /// One operand at the current column, in parentheses when its precedence is below
    /// `min`; `tail` columns follow it on its last line. Leaves its last line open.
    fn operand(&mut self, e: &Expr, min: u8, tail: usize) {
        let flat = flat_expr(e, min);
        if self.fits(&flat, tail) && !self.has_comment_in(e.span()) {
            self.cur.push_str(&flat);
            return;
        }
        let parens = prec(e) < min;
        if parens {
            self.cur.push('(');
        }
        let tail = tail + usize::from(parens);
        match (e, chain(e)) {
            (_, Some((op, operands, child_min))) => {
                let at = self.col();
                let last = operands.len() - 1;
                for (i, x) in operands.iter().enumerate() {
                    if i > 0 {
                        self.end(operands[i - 1].span().end, x.span().start);
                        self.start(at, x.span().start);
                        self.cur.push_str(op);
                        self.cur.push(' ');
                    }
                    self.operand(x, child_min, if i == last { tail } else { 0 });
                }
            }
            (Expr::Not(x, _), None) => {
                self.cur.push_str("not ");
                self.operand(x, 3, tail);
            }
            (Expr::Compare(c), None) => match &c.value {
                None => self.cur.push_str(&flat_compare(c)),
                Some(v) => {
                    self.cur.push_str(&format!(
                        "{} {} {}",
                        c.field.name,
                        c.op.as_str(),
                        if c.cased { "cased " } else { "" }
                    ));
                    self.value(v, tail, str_kind(c.op));
                }
            },
            _ => self.cur.push_str(&flat),
        }
        if parens {
            self.cur.push(')');
        }
    }

    fn test(&mut self, t: &TestCase) {
        let kw = match t.expect {
            Expect::Matches => "test matches",
            Expect::Misses => "test misses",
        };
        let fields: Vec<String> = t
            .fields
            .iter()
            .map(|(f, v)| format!("{} = {}", f.name, flat_value(v, Str::Plain)))
            .collect();
        let pad = if t.expect == Expect::Misses { " " } else { "" };
        let flat = if fields.is_empty() {
            format!("{kw}{pad} {{}}")
        } else {
            format!("{kw}{pad} {{ {} }}", fields.join(", "))
        };
        self.start(2, t.span.start);
        if self.fits(&flat, 0) && !self.has_comment_in(t.span) {
            self.cur.push_str(&flat);
            self.end(t.span.end, usize::MAX);
            return;
        }
        self.cur.push_str(kw);
        self.cur.push_str(" {");
        let close = t.span.end.saturating_sub(1);
        self.end(
            t.span.start,
            t.fields.first().map_or(close, |(f, _)| f.span.start),
        );
        for (i, (f, v)) in t.fields.iter().enumerate() {
            self.start(4, f.span.start);
            self.cur.push_str(&f.name);
            self.cur.push_str(" = ");
            self.value(v, 1, Str::Plain);
            self.cur.push(',');
            let limit = t.fields.get(i + 1).map_or(close, |(n, _)| n.span.start);
            self.end(v.span.end, limit);
        }
        self.start_with(2, 4, close);
        self.cur.push('}');
        self.end(t.span.end, usize::MAX);
    }

    /// A value at the current column; a list or `cidr(...)` that does not fit (with `tail`
    /// more columns) is broken, its items indented two more than the current line. Leaves
    /// its last line open.
    fn value(&mut self, v: &Value, tail: usize, kind: Str) {
        let indent = self.cur.len() - self.cur.trim_start_matches(' ').len();
        let flat = flat_value(v, kind);
        let (open, close, items) = match &v.kind {
            ValueKind::List(items) if !items.is_empty() => ("[", "]", items),
            ValueKind::Cidr(items) if !items.is_empty() => ("cidr(", ")", items),
            _ => {
                self.cur.push_str(&flat);
                return;
            }
        };
        if self.fits(&flat, tail) && !self.has_comment_in(v.span) {
            self.cur.push_str(&flat);
            return;
        }
        let kind = item_kind(kind);
        let close_at = v.span.end.saturating_sub(1);
        self.cur.push_str(open);
        self.end(v.span.start, items[0].span.start);
        for (i, item) in items.iter().enumerate() {
            self.start(indent + 2, item.span.start);
            self.value(item, 1, kind);
            self.cur.push(',');
            let limit = items.get(i + 1).map_or(close_at, |n| n.span.start);
            self.end(item.span.end, limit);
        }
        self.start_with(indent, indent + 2, close_at);
        self.cur.push_str(close);
    }
}

// ------------------------------------------------------------------------------ flat forms

fn names(fields: &[super::ast::Ident]) -> String {
    fields
        .iter()
        .map(|f| f.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `group by`'s keys: `a, ip_prefix(b, 32, 64)`.
fn keys(keys: &[super::ast::GroupKey]) -> String {
    keys.iter()
        .map(|k| match &k.prefix {
            None => k.field.name.clone(),
            Some(p) => format!(
                "ip_prefix({}, {}, {})",
                k.field.name,
                flat_value(&p.v4, Str::Plain),
                flat_value(&p.v6, Str::Plain)
            ),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn body_start(body: &Body) -> usize {
    match body {
        Body::Single(q) | Body::Aggregate { query: q, .. } | Body::FirstSeen { query: q, .. } => {
            q.source.span.start
        }
        Body::Sequence { by, within, .. } => by.first().map_or(within.span.start, |f| f.span.start),
    }
}

fn prec(e: &Expr) -> u8 {
    match e {
        Expr::Or(..) => 1,
        Expr::And(..) => 2,
        Expr::Not(..) => 3,
        Expr::Compare(_) => 4,
    }
}

/// A chain: its operator, its operands in order, and the precedence each operand needs.
fn chain(e: &Expr) -> Option<(&'static str, &[Expr], u8)> {
    // An `and` under an `or` is parenthesised, as the library writes it.
    match e {
        Expr::Or(xs) => Some(("or", xs, 3)),
        Expr::And(xs) => Some(("and", xs, 3)),
        _ => None,
    }
}

fn flat_expr(e: &Expr, min: u8) -> String {
    let s = match chain(e) {
        Some((op, operands, child)) => operands
            .iter()
            .map(|x| flat_expr(x, child))
            .collect::<Vec<_>>()
            .join(&format!(" {op} ")),
        None => match e {
            Expr::Not(x, _) => format!("not {}", flat_expr(x, 3)),
            Expr::Compare(c) => flat_compare(c),
            Expr::And(..) | Expr::Or(..) => unreachable!("chains are handled above"),
        },
    };
    if prec(e) < min { format!("({s})") } else { s }
}

fn flat_compare(c: &super::ast::Comparison) -> String {
    match &c.value {
        None => format!("exists {}", c.field.name),
        Some(v) => format!(
            "{} {} {}{}",
            c.field.name,
            c.op.as_str(),
            if c.cased { "cased " } else { "" },
            flat_value(v, str_kind(c.op))
        ),
    }
}

fn str_kind(op: Op) -> Str {
    match op {
        Op::Like => Str::Like,
        Op::Matches => Str::Regex,
        _ => Str::Plain,
    }
}

/// Items of a list are read as plain strings, except that a list of regexes is still regexes.
fn item_kind(kind: Str) -> Str {
    if kind == Str::Regex {
        Str::Regex
    } else {
        Str::Plain
    }
}

fn having_prec(h: &Having) -> u8 {
    match h {
        Having::Or(..) => 1,
        Having::And(..) => 2,
        Having::Term(_) => 3,
    }
}

fn flat_having(h: &Having, min: u8) -> String {
    let s = match h {
        // As in conditions: an `and` under an `or` is parenthesised.
        Having::Or(xs) | Having::And(xs) => {
            let op = if matches!(h, Having::Or(..)) {
                " or "
            } else {
                " and "
            };
            xs.iter()
                .map(|x| flat_having(x, 3))
                .collect::<Vec<_>>()
                .join(op)
        }
        Having::Term(t) => flat_term(t),
    };
    if having_prec(h) < min {
        format!("({s})")
    } else {
        s
    }
}

fn flat_term(t: &HavingTerm) -> String {
    format!(
        "{}({}) {} {}",
        t.func.name,
        t.field.as_ref().map_or("", |f| f.name.as_str()),
        t.op.as_str(),
        flat_value(&t.value, Str::Plain)
    )
}

fn having_span(h: &Having) -> Span {
    match h {
        Having::Or(xs) | Having::And(xs) => match (xs.first(), xs.last()) {
            (Some(a), Some(b)) => having_span(a).to(having_span(b)),
            _ => Span::default(),
        },
        Having::Term(t) => t.span,
    }
}

fn flat_value(v: &Value, kind: Str) -> String {
    match &v.kind {
        ValueKind::Str(_) => string(v, kind),
        ValueKind::Int(i) => i.to_string(),
        ValueKind::Float(f) => float(*f),
        ValueKind::Bool(b) => b.to_string(),
        ValueKind::Duration(secs) => duration(*secs),
        ValueKind::Word(w) | ValueKind::Field(w) => w.clone(),
        ValueKind::ListRef(name) => format!("${name}"),
        ValueKind::List(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|x| flat_value(x, item_kind(kind)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ValueKind::Cidr(items) => format!(
            "cidr({})",
            items
                .iter()
                .map(|x| flat_value(x, Str::Plain))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn float(f: f64) -> String {
    if !f.is_finite() {
        // No literal says this; text that does not parse, rather than another value.
        return format!("<{f}>");
    }
    let s = format!("{f}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

fn duration(secs: u64) -> String {
    const DAY: u64 = 86_400;
    if secs >= 2 * DAY && secs.is_multiple_of(DAY) {
        format!("{}d", secs / DAY)
    } else if secs > 0 && secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs > 0 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// A string value as a literal (a non-string value is printed as such).
fn string(v: &Value, kind: Str) -> String {
    let ValueKind::Str(s) = &v.kind else {
        return flat_value(v, Str::Plain);
    };
    if kind != Str::Like {
        let raw = !s.contains('\'')
            && !s.chars().any(char::is_control)
            && (s.contains('\\') || kind == Str::Regex);
        return if raw {
            format!("'{s}'")
        } else {
            let mut out = String::from("\"");
            escape_into(&mut out, s, false);
            out.push('"');
            out
        };
    }
    let pattern = super::parse_like(s);
    let texts = || {
        pattern.0.iter().filter_map(|p| match p {
            WildPart::Literal(t) => Some(t.as_str()),
            _ => None,
        })
    };
    let raw = texts().all(|t| !t.contains(['*', '?', '\'']) && !t.chars().any(char::is_control))
        && texts().any(|t| t.contains('\\'));
    let mut out = String::from(if raw { "'" } else { "\"" });
    for part in &pattern.0 {
        match part {
            WildPart::AnyRun => out.push('*'),
            WildPart::AnyOne => out.push('?'),
            WildPart::Literal(t) if raw => out.push_str(t),
            WildPart::Literal(t) => escape_into(&mut out, t, true),
        }
    }
    out.push(if raw { '\'' } else { '"' });
    out
}

/// Escapes for `"..."`; `wild` also escapes `*` and `?` (a `like` literal).
fn escape_into(out: &mut String, s: &str, wild: bool) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '*' | '?' if wild => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{{{:X}}}", c as u32)),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(kind: ValueKind) -> Value {
        Value {
            kind,
            span: Span::default(),
        }
    }

    #[test]
    fn durations_use_the_largest_exact_unit() {
        let cases = [
            (0, "0s"),
            (90, "90s"),
            (600, "10m"),
            (3600, "1h"),
            (86_400, "24h"),
            (90_000, "25h"),
            (172_800, "2d"),
            (86_401, "86401s"),
        ];
        for (secs, text) in cases {
            assert_eq!(duration(secs), text);
        }
    }

    #[test]
    fn floats_keep_a_point_and_read_back() {
        for f in [
            0.5,
            1.0,
            -2.0,
            1e21,
            1e-7,
            123.456,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            let text = float(f);
            assert!(text.contains('.'), "{text}");
            assert_eq!(text.parse::<f64>().unwrap(), f);
        }
        assert!(float(f64::NAN).starts_with('<'));
    }

    #[test]
    fn string_forms() {
        let plain = |t: &str| string(&v(ValueKind::Str(t.into())), Str::Plain);
        assert_eq!(plain("a.exe"), r#""a.exe""#);
        assert_eq!(plain(r"C:\Users\"), r"'C:\Users\'");
        assert_eq!(plain(r"C:\it's"), r#""C:\\it's""#);
        assert_eq!(plain("a\tb\n\u{1}"), r#""a\tb\n\u{1}""#);
        assert_eq!(plain("say \"x\""), r#""say \"x\"""#);
        assert_eq!(plain("*?"), r#""*?""#);
        let regex = |t: &str| string(&v(ValueKind::Str(t.into())), Str::Regex);
        assert_eq!(regex("(?i)a"), "'(?i)a'");
        assert_eq!(regex("it's"), r#""it's""#);
        let like = |t: &str| string(&v(ValueKind::Str(t.into())), Str::Like);
        assert_eq!(like(r"C:\\*\\x?"), r"'C:\*\x?'");
        assert_eq!(like(r"a\*b*"), r#""a\*b*""#);
        assert_eq!(like(r"C:\\a\?*"), r#""C:\\a\?*""#);
        assert_eq!(like("teamviewer*.exe"), r#""teamviewer*.exe""#);
    }
}
