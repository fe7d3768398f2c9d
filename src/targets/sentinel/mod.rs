//! Microsoft Sentinel: KQL analytics rules, packaged as an ARM template and as the Sentinel
//! content repository's YAML, deployed through Azure Resource Manager.

mod package;
mod query;
mod siem;

use super::{Target, TargetName};
use crate::base::diag::Diagnostic;
use crate::deploy::{DeployError, Siem, http};
use crate::ir;
use crate::lower::{Compiled, Language, Result, source_mapping};
use crate::render::{Package, RuleContext};
use crate::schema::Mapping;
use std::collections::BTreeMap;

pub(super) struct Sentinel;

impl Target for Sentinel {
    fn name(&self) -> TargetName {
        TargetName::Sentinel
    }
    fn languages(&self) -> &'static [Language] {
        &[Language::Kql]
    }
    fn mapping(&self) -> (&'static str, &'static str) {
        (
            "targets/sentinel.yaml",
            include_str!("../../../targets/sentinel.yaml"),
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
        let q = &rule.kind.queries()[0];
        let src = source_mapping(mapping, q)?;
        query::result_column(&rule.kind, src, field, &q.source)
    }
    fn package(&self) -> &'static Package {
        &package::PACKAGE
    }
    fn package_part(
        &self,
        rule: &ir::Rule,
        mapping: &Mapping,
        ctx: &mut RuleContext,
    ) -> std::result::Result<serde_json::Value, Vec<Diagnostic>> {
        package::part(rule, mapping, ctx)
    }
    fn connect(
        &self,
        settings: &BTreeMap<String, String>,
        options: http::Options,
    ) -> std::result::Result<Box<dyn Siem>, DeployError> {
        Ok(Box::new(siem::Sentinel::connect(settings, options)?))
    }
}
