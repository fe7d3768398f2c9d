//! `detc compile`: each rule's query per target, into build/ or as JSON.

use super::common::{exit, load, plural, print_json, report, targets_or_all, write_atomic};
use super::{Format, Input, target_name};
use detc::base::diag::Severity;
use detc::project;
use detc::targets::TargetName;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(super) input: Input,
    /// Only these targets (repeatable); all by default.
    #[arg(long, value_parser = target_name())]
    target: Vec<TargetName>,
    /// `json` prints one array of compiled queries to stdout and writes no files.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Where compiled files go.
    #[arg(long, default_value = "build")]
    out: PathBuf,
    /// Write (or print) every query that compiles even when other rules have errors
    /// (e.g. a Sigma corpus with rules a target cannot say); still exits non-zero.
    #[arg(long)]
    keep_going: bool,
}

pub(crate) fn run(
    Args {
        input,
        target,
        format,
        out,
        keep_going,
    }: Args,
) -> anyhow::Result<ExitCode> {
    let (project, config) = match load(&input, format)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let targets = targets_or_all(target);
    let (compiled, diags) = project::compile(&project, &config, &targets);
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    report(&project, &diags, Format::Text)?;
    if errors > 0 && !keep_going {
        eprintln!("{}; nothing written", plural(errors, "error"));
        return Ok(exit(errors));
    }
    match format {
        Format::Json => {
            print_json(&compiled)?;
        }
        Format::Text => {
            for c in &compiled {
                let path = out.join(c.target.as_str()).join(format!(
                    "{}.{}",
                    c.rule,
                    c.language.extension()
                ));
                write_atomic(&path, &c.query)?;
                // The file holds the query only: what else the rule is, the note says.
                if let Some(note) = &c.note {
                    eprintln!("note: {}: {note}", path.display());
                }
            }
            let rules: std::collections::BTreeSet<&str> =
                compiled.iter().map(|c| c.rule.as_str()).collect();
            eprintln!(
                "compiled {} rules into {} queries under {}",
                rules.len(),
                compiled.len(),
                out.display()
            );
        }
    }
    if errors > 0 {
        eprintln!(
            "{}; the rules without errors were compiled",
            plural(errors, "error")
        );
        return Ok(exit(errors));
    }
    Ok(ExitCode::SUCCESS)
}
