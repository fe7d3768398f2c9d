//! The targets: one folder per SIEM, and the registry.
//!
//! A target's folder holds its query printer (`query.rs`: IR + mapping → query text), its
//! package glue (`package.rs`: what its templates need beyond the shared rule context, and
//! its deployment limits) and its SIEM client (`siem.rs`); its mapping YAML and templates are
//! under `targets/` at the top of the repository. A new SIEM is a new folder, a variant of
//! [`TargetName`] and a line in [`TargetName::target`]: only this file and the driver
//! (`project`) name concrete targets.

mod elastic;
mod sentinel;
mod splunk;

use crate::base::diag::Diagnostic;
use crate::deploy::{DeployError, Siem, http};
use crate::ir;
use crate::lower::{Compiled, Language, Result};
use crate::render::{File, Package, RuleContext, TemplateError};
use crate::schema::Mapping;
use serde::Serialize;
use std::collections::BTreeMap;

/// What the driver asks of a target. Each method is one seam of the pipeline: compile a rule,
/// name its result fields, fill its package, connect to its SIEM.
pub trait Target: Sync {
    fn name(&self) -> TargetName;
    /// The languages it emits, in the order it emits them.
    fn languages(&self) -> &'static [Language];
    /// The shipped mapping file: its path in the repository and its text.
    fn mapping(&self) -> (&'static str, &'static str);
    /// Compile one rule with this target's mapping.
    fn compile(&self, rule: &ir::Rule, mapping: &Mapping) -> Result<Vec<Compiled>>;
    /// A remark on what it emitted for a rule (e.g. that a sequence is EQL only).
    fn note(&self, _rule: &ir::Rule, _mapping: &Mapping) -> Option<String> {
        None
    }
    /// The name a logical field has in a rule's results: what alert fields, entities and
    /// suppression keys refer to.
    fn result_field(&self, rule: &ir::Rule, mapping: &Mapping, field: &ir::Field)
    -> Result<String>;
    /// Its templates and where their outputs go.
    fn package(&self) -> &'static Package;
    /// Its part of a rule's template context (severity scale, schedule, entities, ...), or
    /// every reason the rule cannot be deployed to it.
    fn package_part(
        &self,
        rule: &ir::Rule,
        mapping: &Mapping,
        ctx: &mut RuleContext,
    ) -> std::result::Result<serde_json::Value, Vec<Diagnostic>>;
    /// Files made from the rendered ones (Splunk's app archive).
    fn finish_package(&self, _files: &mut Vec<File>) -> std::result::Result<(), TemplateError> {
        Ok(())
    }
    /// Its SIEM, connected with settings from the environment and `settings`.
    fn connect(
        &self,
        settings: &BTreeMap<String, String>,
        options: http::Options,
    ) -> std::result::Result<Box<dyn Siem>, DeployError>;
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

    pub fn as_str(self) -> &'static str {
        match self {
            TargetName::Splunk => "splunk",
            TargetName::Sentinel => "sentinel",
            TargetName::Elastic => "elastic",
        }
    }

    /// The registry: the target of this name.
    pub fn target(self) -> &'static dyn Target {
        match self {
            TargetName::Splunk => &splunk::Splunk,
            TargetName::Sentinel => &sentinel::Sentinel,
            TargetName::Elastic => &elastic::Elastic,
        }
    }

    /// Every name, for hints: `splunk, sentinel, elastic`.
    pub fn list() -> String {
        TargetName::ALL.map(TargetName::as_str).join(", ")
    }
}

/// A name that is not a target's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no target is called `{0}`")]
pub struct UnknownTarget(pub String);

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
