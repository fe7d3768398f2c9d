//! Elastic Security: EQL and ES|QL detection rules, packaged as Kibana's NDJSON import and
//! as the detection-rules repository's TOML, deployed through Kibana's detection engine API.

mod package;
mod query;
mod siem;

use super::{Target, no_more_files};
use crate::deploy::Siem;
use crate::lower::{Language, field_name, source_mapping};

pub(super) static TARGET: Target = Target {
    languages: &[Language::Eql, Language::Esql],
    mapping: (
        "targets/elastic.yaml",
        include_str!("../../../targets/elastic.yaml"),
    ),
    package: &package::PACKAGE,
    compile: query::compile_rule,
    fact_column: query::fact_column,
    note: query::note,
    result_field: |rule, mapping, field| {
        let q = &rule.kind.queries()[0];
        let src = source_mapping(mapping, q)?;
        Ok(field_name(src, rule.kind.first_query_field(field), &q.source)?.to_string())
    },
    package_part: package::part,
    finish_package: no_more_files,
    connect: |settings, options| {
        Ok(Box::new(siem::Kibana::connect(settings, options)?) as Box<dyn Siem>)
    },
};
