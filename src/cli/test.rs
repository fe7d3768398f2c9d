//! `detc test`: every rule's test cases, run locally.

use super::common::{exit, load, print_json, report, write_atomic};
use super::{Format, Input};
use detc::testing::{self, Status};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(super) input: Input,
    /// `json` prints every case with its event and verdict.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Also write the results as JUnit XML to this file.
    #[arg(long)]
    junit: Option<PathBuf>,
}

pub(crate) fn run(
    Args {
        input,
        format,
        junit,
    }: Args,
) -> anyhow::Result<ExitCode> {
    let (project, config) = match load(&input, format)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    if !project.diagnostics.is_empty() {
        report(&project, &project.diagnostics, Format::Text)?;
        return Ok(ExitCode::FAILURE);
    }
    let results = testing::run(&project, &config.schema);
    if let Some(path) = junit {
        write_atomic(&path, testing::junit(&results).trim_end())?;
    }
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    match format {
        Format::Json => {
            print_json(&results)?;
        }
        Format::Text => {
            let mut stdout = std::io::stdout().lock();
            for r in results.iter().filter(|r| r.status != Status::Passed) {
                let word = if r.status == Status::Failed {
                    "FAIL"
                } else {
                    "SKIP"
                };
                let reason = r.reason.as_deref().unwrap_or_default();
                writeln!(
                    stdout,
                    "{word} {} {} ({}): {reason}",
                    r.rule, r.case, r.location
                )?;
            }
            if count(Status::Skipped) > 0 {
                writeln!(stdout, "{} skipped", count(Status::Skipped))?;
            }
            writeln!(
                stdout,
                "{} passed, {} failed",
                count(Status::Passed),
                count(Status::Failed)
            )?;
        }
    }
    Ok(exit(count(Status::Failed)))
}
