//! The bottom layer: the types every stage shares and that depend on no stage: source
//! spans, the table of diagnostic codes, diagnostics, and the values the language compares
//! with (`Case`, `like` wildcards, CIDR networks). Nothing here imports another module of
//! the crate.

pub(crate) mod codes;
pub mod diag;

mod cidr;
mod span;
mod wildcard;

pub(crate) use cidr::Cidr;
pub use codes::Code;
pub use diag::Diagnostic;
pub use span::Span;
pub(crate) use wildcard::{WildPart, Wildcard};

/// A duration as the language writes it (`30s`, `10m`, `24h`, `7d`), in seconds; `None`
/// for another form or one too large.
pub(crate) fn duration_seconds(text: &str) -> Option<u64> {
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    let scale: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(scale)
}

/// Whether string tests respect letter case (the language's default is insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Case {
    Insensitive,
    Sensitive,
}
