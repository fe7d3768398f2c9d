//! Diagnostics: what went wrong, where, and how to fix it; rendered like rustc or as JSON.

use crate::base::{Code, Span};
use serde::Serialize;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about one span of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub span: Span,
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub(crate) fn error(file: &str, span: Span, code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_string(),
            span,
            code,
            severity: Severity::Error,
            message: message.into(),
            hint: None,
        }
    }

    /// The same finding reported as a warning (where it does not stop the command).
    pub fn as_warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Diagnostics in reading order: file, position, code.
pub(crate) fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| (&a.file, a.span.start, a.code).cmp(&(&b.file, b.span.start, b.code)));
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Lines longer than this are cut around the caret so a 10 MB line stays readable.
const MAX_SHOWN: usize = 160;

/// The rustc-like text form:
/// ```text
/// path:3:7: error[E0302]: message
///    |
///  3 |   where proces.name == "x"
///    |         ^^^^^^^^^^^
///    = help: hint
/// ```
pub fn render_text(d: &Diagnostic, text: Option<&str>) -> String {
    render(d, text, &Paint::PLAIN)
}

/// As [`render_text`], with the colours of a terminal (ANSI escapes, as rustc colours its
/// diagnostics); the CLI writes it through `anstream`, which strips them where colour is
/// off (`--color never`, `NO_COLOR`, not a terminal).
pub fn render_styled(d: &Diagnostic, text: Option<&str>) -> String {
    render(d, text, &Paint::for_severity(d.severity))
}

/// The escapes around each part of a diagnostic; empty for plain text.
struct Paint {
    /// `error[E0302]` / `warning[...]`, and the carets.
    severity: anstyle::Style,
    /// The message.
    message: anstyle::Style,
    /// Line numbers and the gutter.
    gutter: anstyle::Style,
    /// `help`.
    help: anstyle::Style,
}

impl Paint {
    const PLAIN: Paint = Paint {
        severity: anstyle::Style::new(),
        message: anstyle::Style::new(),
        gutter: anstyle::Style::new(),
        help: anstyle::Style::new(),
    };

    fn for_severity(s: Severity) -> Paint {
        use anstyle::AnsiColor;
        let colour = match s {
            Severity::Error => AnsiColor::BrightRed,
            Severity::Warning => AnsiColor::BrightYellow,
        };
        Paint {
            severity: colour.on_default().bold(),
            message: anstyle::Style::new().bold(),
            gutter: AnsiColor::BrightBlue.on_default().bold(),
            help: AnsiColor::BrightCyan.on_default().bold(),
        }
    }
}

fn render(d: &Diagnostic, text: Option<&str>, p: &Paint) -> String {
    let (sv, ms, gu, hp) = (p.severity, p.message, p.gutter, p.help);
    let head = |place: String| {
        format!(
            "{place}: {sv}{}[{}]{sv:#}: {ms}{}{ms:#}",
            sev(d.severity),
            d.code,
            d.message
        )
    };
    let mut out = String::new();
    let Some(text) = text else {
        let _ = writeln!(out, "{}", head(d.file.clone()));
        if let Some(h) = &d.hint {
            let _ = writeln!(out, "  = {hp}help{hp:#}: {h}");
        }
        return out;
    };
    let (line, col) = line_col(text, d.span.start);
    let _ = writeln!(out, "{}", head(format!("{}:{line}:{col}", d.file)));
    let start = floor_char_boundary(text, d.span.start.min(text.len()));
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let src: Vec<char> = text[line_start..line_end].chars().collect();
    let caret_from = col - 1;
    let span_end = floor_char_boundary(text, d.span.end.clamp(start, line_end));
    let width = text[start..span_end].chars().count().max(1);
    // Window the line so the caret stays visible on very long lines.
    let first = caret_from.saturating_sub(MAX_SHOWN / 2);
    let last = (first + MAX_SHOWN).min(src.len());
    let shown: String = src[first.min(last)..last]
        .iter()
        .map(|c| if c.is_control() { ' ' } else { *c })
        .collect();
    let gutter = line.to_string().len();
    let pad = " ".repeat(gutter);
    let _ = writeln!(out, "{gu}{pad} |{gu:#}");
    let _ = writeln!(
        out,
        "{gu}{line} |{gu:#} {}{shown}",
        if first > 0 { "…" } else { "" }
    );
    let caret_pad = " ".repeat(caret_from - first + usize::from(first > 0));
    let carets = "^".repeat(width.min(MAX_SHOWN));
    let _ = writeln!(out, "{gu}{pad} |{gu:#} {caret_pad}{sv}{carets}{sv:#}");
    if let Some(h) = &d.hint {
        let _ = writeln!(out, "{gu}{pad} ={gu:#} {hp}help{hp:#}: {h}");
    }
    out
}

fn sev(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// The JSON form: one object per diagnostic.
#[derive(Debug, Serialize)]
pub struct JsonDiagnostic<'a> {
    pub file: &'a str,
    pub line: usize,
    pub column: usize,
    pub code: Code,
    pub severity: Severity,
    pub message: &'a str,
    pub hint: Option<&'a str>,
}

pub fn to_json<'a>(d: &'a Diagnostic, text: Option<&str>) -> JsonDiagnostic<'a> {
    let (line, column) = text.map_or((0, 0), |t| line_col(t, d.span.start));
    JsonDiagnostic {
        file: &d.file,
        line,
        column,
        code: d.code,
        severity: d.severity,
        message: &d.message,
        hint: d.hint.as_deref(),
    }
}

/// The closest candidate to `word`, for "did you mean" hints.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let text = "ab\ncdé\nfg";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 8), (3, 1));
    }

    #[test]
    fn renders_caret_under_span() {
        let text = "rule x {\n  where proces.name == \"a\"\n}";
        let start = text.find("proces").unwrap();
        let d = Diagnostic::error(
            "r.det",
            Span::new(start, start + 11),
            Code::E0302,
            "unknown field",
        )
        .with_hint("did you mean `process.name`?");
        let out = render_text(&d, Some(text));
        assert_eq!(
            out,
            "r.det:2:9: error[E0302]: unknown field\n  |\n2 |   where proces.name == \"a\"\n  |         ^^^^^^^^^^^\n  = help: did you mean `process.name`?\n"
        );
    }

    #[test]
    fn suggests_close_words_only() {
        assert_eq!(
            did_you_mean("severty", ["severity", "status"]),
            Some("severity")
        );
        assert_eq!(did_you_mean("zzz", ["severity", "status"]), None);
    }
}
