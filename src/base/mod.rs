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

/// Whether string tests respect letter case (the language's default is insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    Insensitive,
    Sensitive,
}
