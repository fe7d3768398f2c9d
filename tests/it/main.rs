//! The integration tests: one binary (each `tests/*.rs` used to be its own, each linking
//! the whole crate), one module per area. `common` holds shared helpers, `support` the local
//! SIEMs that `deploy` and the fuzzer talk to.

mod common;
mod support;

mod absence;
mod alerts;
mod catalog;
mod checks;
mod cli;
mod correlation_elastic;
mod correlation_kql;
mod correlation_spl;
mod deploy;
mod field_compare;
mod field_families;
mod fmt;
mod fuzz;
mod hunt;
mod language;
mod library;
mod network_keys;
mod operators;
mod package;
mod semantics;
mod sequence_keys;
mod sigma;
mod sigma_cli;
mod sigma_cloud;
mod sigma_linux;
mod sigma_sysmon;
mod sigma_windows;
mod step_links;
mod support_selftest;
mod testing;
mod tunable;
mod values;
