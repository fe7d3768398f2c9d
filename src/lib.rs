//! detc: detection rules as code, checked like a compiler and compiled to SPL, KQL, EQL and ES|QL.
//!
//! Data flows one way: `syntax` (text → AST) → `check` (AST + schema → IR) →
//! `targets` (IR + mapping → query text) → `render` (queries → the files each SIEM imports) → `deploy` (files → SIEM APIs).

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
pub mod pattern;
pub mod project;
pub mod render;
pub mod schema;
pub mod sigma;
pub mod syntax;
pub mod targets;
pub mod testing;
