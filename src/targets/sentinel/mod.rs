//! Microsoft Sentinel: KQL analytics rules, packaged as an ARM template and as the Sentinel
//! content repository's YAML, deployed through Azure Resource Manager.

mod package;
mod query;
mod siem;

use super::{Target, no_more_files, no_note};
use crate::deploy::Siem;
use crate::lower::{Language, source_mapping};

pub(super) static TARGET: Target = Target {
    languages: &[Language::Kql],
    mapping: (
        "targets/sentinel.yaml",
        include_str!("../../../targets/sentinel.yaml"),
    ),
    package: &package::PACKAGE,
    compile: query::compile_rule,
    fact_column: query::fact_column,
    note: no_note,
    result_field: |rule, mapping, field| {
        let q = &rule.kind.queries()[0];
        let src = source_mapping(mapping, q)?;
        query::result_column(&rule.kind, src, field, &q.source)
    },
    package_part: package::part,
    finish_package: no_more_files,
    connect: |settings, options| {
        Ok(Box::new(siem::Sentinel::connect(settings, options)?) as Box<dyn Siem>)
    },
};
