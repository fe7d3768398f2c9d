//! `detc check`: parse and check rules, write nothing.

use super::common::{exit, load, plural, report};
use super::{Format, Input};
use detc::base::diag::Severity;
use detc::project;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(super) input: Input,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub(crate) fn run(Args { input, format }: Args) -> anyhow::Result<ExitCode> {
    let (project, config) = match load(&input, format)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let diags = project::check(&project, &config);
    report(&project, &diags, format)?;
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    if format == Format::Text {
        eprintln!(
            "checked {} rules in {} files: {}",
            project.rules.len(),
            project.files.iter().filter(|f| f.requested).count(),
            plural(errors, "error")
        );
    }
    Ok(exit(errors))
}
