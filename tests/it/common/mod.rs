//! Shared helpers for integration tests.
#![allow(dead_code)]

pub mod sigma;

use detc::project::{self, Config, Output};
use detc::targets::TargetName;

pub fn config() -> Config {
    Config::load(&[], &[]).expect("shipped schema and mappings load")
}

/// The shipped library (`detections/` under the repository root), checked as `detc check`
/// reads it: with its idea catalog, `detections/catalog.toml`.
pub fn library() -> (project::Project, Config) {
    let tree = [std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("detections")];
    let mut config = config();
    config.ideas = project::load_ideas(&tree).expect("detections/catalog.toml reads");
    let files = project::discover(&tree).expect("detections/ exists");
    let p = project::load(&files, &[], &mut config);
    (p, config)
}

/// Check and compile one text for every target; panics with the diagnostics on a check error.
pub fn compile_text(text: &str) -> (Vec<Output>, Vec<detc::base::diag::Diagnostic>) {
    let config = config();
    let p = project::check_text("test.det", text, &config);
    assert!(
        p.diagnostics.is_empty(),
        "check failed:\n{}",
        p.diagnostics
            .iter()
            .map(|d| detc::base::diag::render_text(d, Some(text)))
            .collect::<String>()
    );
    project::compile(&p, &config, &TargetName::ALL)
}

/// Diagnostics of one text (check only).
pub fn check_text(text: &str) -> Vec<detc::base::diag::Diagnostic> {
    project::check_text("test.det", text, &config()).diagnostics
}

/// A minimal rule around a `from ... where ...` body.
pub fn rule(name: &str, body: &str) -> String {
    format!(
        "rule {name} \"t\" {{\n  id = \"00000000-0000-4000-8000-{:012x}\"\n  severity = low\n  {body}\n}}\n",
        name.len() as u64 * 7919 + name.bytes().map(u64::from).sum::<u64>()
    )
}
