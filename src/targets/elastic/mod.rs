//! Elastic Security: EQL and ES|QL detection rules, packaged as Kibana's NDJSON import and
//! as the detection-rules repository's TOML, deployed through Kibana's detection engine API.

mod package;
mod query;
mod siem;

use super::{Target, TargetName};
use crate::base::diag::Diagnostic;
use crate::deploy::{DeployError, Siem, http};
use crate::ir;
use crate::lower::{Compiled, Language, Result, field_name, source_mapping};
use crate::render::{Package, RuleContext};
use crate::schema::Mapping;
use std::collections::BTreeMap;

pub(super) struct Elastic;

impl Target for Elastic {
    fn name(&self) -> TargetName {
        TargetName::Elastic
    }
    fn languages(&self) -> &'static [Language] {
        &[Language::Eql, Language::Esql]
    }
    fn mapping(&self) -> (&'static str, &'static str) {
        (
            "targets/elastic.yaml",
            include_str!("../../../targets/elastic.yaml"),
        )
    }
    fn compile(&self, rule: &ir::Rule, mapping: &Mapping) -> Result<Vec<Compiled>> {
        query::compile_rule(rule, mapping)
    }
    fn note(&self, rule: &ir::Rule, mapping: &Mapping) -> Option<String> {
        query::note(rule, mapping)
    }
    fn result_field(
        &self,
        rule: &ir::Rule,
        mapping: &Mapping,
        field: &ir::Field,
    ) -> Result<String> {
        let q = &rule.kind.queries()[0];
        let src = source_mapping(mapping, q)?;
        Ok(field_name(src, field, &q.source)?.to_string())
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
        Ok(Box::new(siem::Kibana::connect(settings, options)?))
    }
}
