//! Splunk: SPL searches, packaged as an app of scheduled saved searches, deployed through
//! Splunk's REST API.

mod package;
mod query;
mod siem;

use super::{Target, TargetName};
use crate::base::diag::Diagnostic;
use crate::deploy::{DeployError, Siem, http};
use crate::ir;
use crate::lower::{Compiled, Language, Result};
use crate::render::{File, Package, RuleContext, TemplateError};
use crate::schema::Mapping;
use std::collections::BTreeMap;

pub(super) struct Splunk;

impl Target for Splunk {
    fn name(&self) -> TargetName {
        TargetName::Splunk
    }
    fn languages(&self) -> &'static [Language] {
        &[Language::Spl]
    }
    fn mapping(&self) -> (&'static str, &'static str) {
        (
            "targets/splunk.yaml",
            include_str!("../../../targets/splunk.yaml"),
        )
    }
    fn compile(&self, rule: &ir::Rule, mapping: &Mapping) -> Result<Vec<Compiled>> {
        query::compile_rule(rule, mapping)
    }
    fn result_field(
        &self,
        rule: &ir::Rule,
        mapping: &Mapping,
        field: &ir::Field,
    ) -> Result<String> {
        query::result_field(rule, mapping, field)
    }
    fn package(&self) -> &'static Package {
        &package::PACKAGE
    }
    fn package_part(
        &self,
        rule: &ir::Rule,
        _mapping: &Mapping,
        ctx: &mut RuleContext,
    ) -> std::result::Result<serde_json::Value, Vec<Diagnostic>> {
        package::part(rule, ctx)
    }
    fn finish_package(&self, files: &mut Vec<File>) -> std::result::Result<(), TemplateError> {
        let archive = package::archive(files).map_err(|e| TemplateError {
            template: "splunk app".into(),
            message: e.to_string(),
        })?;
        files.push(archive);
        Ok(())
    }
    fn connect(
        &self,
        settings: &BTreeMap<String, String>,
        options: http::Options,
    ) -> std::result::Result<Box<dyn Siem>, DeployError> {
        Ok(Box::new(siem::Splunk::connect(settings, options)?))
    }
}
