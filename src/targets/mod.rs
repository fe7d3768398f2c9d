//! The targets: one folder per SIEM, and the registry.
//!
//! A target's folder holds its query printer (`query.rs`: IR + mapping → query text), its
//! package glue (`package.rs`: what its templates need beyond the shared rule context, and
//! its deployment limits) and its SIEM client (`siem.rs`); its mapping YAML and templates are
//! under `targets/` at the top of the repository. A new SIEM is a new folder whose `mod.rs`
//! is one [`Target`] table, a variant of [`TargetName`] and a line in [`TargetName::target`]:
//! only this file and the driver (`project`) name concrete targets.

mod elastic;
mod sentinel;
mod splunk;

use crate::base::diag::Diagnostic;
use crate::deploy::{DeployError, Siem, http};
use crate::ir;
use crate::lower::{Compiled, FactColumn, Language, Result};
use crate::render::{File, Package, RuleContext, TemplateError};
use crate::schema::Mapping;
use serde::Serialize;
use std::collections::BTreeMap;

/// A target, as a table the registry holds: its data (languages, shipped mapping, package)
/// and its functions, one per seam of the pipeline (compile a rule, name its result fields,
/// fill its package, connect to its SIEM). Each target's `mod.rs` is one such table.
pub struct Target {
    /// The languages it emits, in the order it emits them.
    pub(crate) languages: &'static [Language],
    /// The shipped mapping file: its path in the repository and its text.
    pub(crate) mapping: (&'static str, &'static str),
    /// Its templates and where their outputs go.
    pub(crate) package: &'static Package,
    compile: fn(&ir::Rule, &Mapping) -> Result<Vec<Compiled>>,
    fact_column: FactColumn,
    note: fn(&ir::Rule, &Mapping) -> Option<String>,
    result_field: fn(&ir::Rule, &Mapping, &ir::Field) -> Result<String>,
    package_part: fn(&ir::Rule, &Mapping, &mut RuleContext) -> PackagePart,
    finish_package: fn(&mut Vec<File>, &[RuleContext]) -> std::result::Result<(), TemplateError>,
    connect: fn(&BTreeMap<String, String>, http::Options) -> Connected,
}

/// A target's SIEM client, connected, or why not.
pub(crate) type Connected = std::result::Result<Box<dyn Siem>, DeployError>;

/// A target's part of a rule's template context (severity scale, schedule, entities, ...),
/// or every reason the rule cannot be deployed to it.
pub(crate) type PackagePart = std::result::Result<serde_json::Value, Vec<Diagnostic>>;

impl Target {
    /// Compile one rule with this target's mapping.
    pub fn compile(&self, rule: &ir::Rule, mapping: &Mapping) -> Result<Vec<Compiled>> {
        (self.compile)(rule, mapping)
    }
    /// `mapping` with the facts of `rules` on the alerts source, which the rules that read
    /// alerts compile with ([`crate::lower::with_facts`]).
    pub(crate) fn with_facts(&self, mapping: &Mapping, rules: &[ir::Rule]) -> Mapping {
        crate::lower::with_facts(mapping, rules, self.fact_column)
    }
    /// A remark on what it emitted for a rule (e.g. that a sequence is EQL only).
    pub fn note(&self, rule: &ir::Rule, mapping: &Mapping) -> Option<String> {
        (self.note)(rule, mapping)
    }
    /// The name a logical field has in a rule's results: what alert fields, entities and
    /// suppression keys refer to.
    pub fn result_field(
        &self,
        rule: &ir::Rule,
        mapping: &Mapping,
        field: &ir::Field,
    ) -> Result<String> {
        (self.result_field)(rule, mapping, field)
    }
    pub(crate) fn package_part(
        &self,
        rule: &ir::Rule,
        mapping: &Mapping,
        ctx: &mut RuleContext,
    ) -> PackagePart {
        (self.package_part)(rule, mapping, ctx)
    }
    /// Files made from the rendered ones (Splunk's app archive).
    pub(crate) fn finish_package(
        &self,
        files: &mut Vec<File>,
        rules: &[RuleContext],
    ) -> std::result::Result<(), TemplateError> {
        (self.finish_package)(files, rules)
    }
    /// Its SIEM, connected with settings from the environment and `settings`.
    pub fn connect(
        &self,
        settings: &BTreeMap<String, String>,
        options: http::Options,
    ) -> Connected {
        (self.connect)(settings, options)
    }
}

/// What most targets say of a rule, and make of their rendered files: nothing more.
fn no_note(_: &ir::Rule, _: &Mapping) -> Option<String> {
    None
}
fn no_more_files(_: &mut Vec<File>, _: &[RuleContext]) -> std::result::Result<(), TemplateError> {
    Ok(())
}

/// The targets detc ships, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetName {
    Splunk,
    Sentinel,
    Elastic,
}

impl TargetName {
    pub const ALL: [TargetName; 3] = [
        TargetName::Splunk,
        TargetName::Sentinel,
        TargetName::Elastic,
    ];

    /// The names, in the order of [`TargetName::ALL`].
    pub const NAMES: [&'static str; 3] = ["splunk", "sentinel", "elastic"];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The registry: the target of this name.
    pub fn target(self) -> &'static Target {
        match self {
            TargetName::Splunk => &splunk::TARGET,
            TargetName::Sentinel => &sentinel::TARGET,
            TargetName::Elastic => &elastic::TARGET,
        }
    }

    /// Every name, for hints: `splunk, sentinel, elastic`.
    pub(crate) fn list() -> String {
        TargetName::ALL.map(TargetName::as_str).join(", ")
    }
}

/// A name that is not a target's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no target is called `{0}`")]
pub struct UnknownTarget(pub(crate) String);

impl std::str::FromStr for TargetName {
    type Err = UnknownTarget;

    fn from_str(name: &str) -> std::result::Result<TargetName, UnknownTarget> {
        TargetName::ALL
            .into_iter()
            .find(|t| t.as_str() == name)
            .ok_or_else(|| UnknownTarget(name.to_string()))
    }
}

/// The cells of docs/PACKAGING.md's severity table, by detc severity: each target checks its
/// own columns against it, so the page and the code cannot drift apart.
#[cfg(test)]
fn documented_severity(severity: ir::Severity) -> Vec<String> {
    let doc = include_str!("../../docs/PACKAGING.md");
    let row = format!("| {} |", severity.as_str());
    let line = doc
        .lines()
        .find(|l| l.starts_with(&row))
        .unwrap_or_else(|| panic!("docs/PACKAGING.md has no row for `{}`", severity.as_str()));
    line.trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_string())
        .collect()
}
