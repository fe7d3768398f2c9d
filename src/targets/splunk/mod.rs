//! Splunk: SPL searches, packaged as an app of scheduled saved searches, deployed through
//! Splunk's REST API.

mod package;
mod query;
mod siem;

use super::{Target, no_note};
use crate::deploy::Siem;
use crate::lower::Language;
use crate::render::TemplateError;

pub(super) static TARGET: Target = Target {
    languages: &[Language::Spl],
    mapping: (
        "targets/splunk.yaml",
        include_str!("../../../targets/splunk.yaml"),
    ),
    package: &package::PACKAGE,
    compile: query::compile_rule,
    fact_column: query::fact_column,
    note: no_note,
    result_field: query::result_field,
    package_part: package::part,
    finish_package: |files, rules| {
        let archive = package::archive(files).map_err(|e| TemplateError {
            template: "splunk app".into(),
            message: e.to_string(),
        })?;
        files.push(archive);
        files.extend(package::lookup_files(rules));
        Ok(())
    },
    connect: |settings, options| {
        Ok(Box::new(siem::Splunk::connect(settings, options)?) as Box<dyn Siem>)
    },
};
