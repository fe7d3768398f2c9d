//! detc: detection rules as code, checked like a compiler and compiled to SPL, KQL, EQL and ES|QL.
//!
//! Data flows one way: `syntax` (text → AST) → `check` (AST + schema → IR) →
//! `targets` (IR + mapping → query text, through the shared `lower`ing) → `render` (queries →
//! the files each SIEM imports) → `deploy` (files → SIEM APIs), driven by `project`.
//! ARCHITECTURE.md draws the layers; `scripts/layers.py` keeps imports running down them.
//!
//! Items are `pub(crate)` unless the CLI or the tests use them: `unreachable_pub` and the
//! dead-code lint then find what nothing uses.

#![warn(unreachable_pub)]

pub mod attack;
pub mod base;
pub mod catalog;
pub mod check;
pub mod deploy;
pub mod eval;
pub mod hunt;
pub mod import;
pub mod ir;
pub mod lower;
mod pattern;
pub mod project;
pub mod render;
pub mod schema;
pub mod sigma;
pub mod syntax;
pub mod targets;
pub mod testing;
