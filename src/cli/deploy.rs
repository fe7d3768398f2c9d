//! `detc deploy` and `detc diff`: one target's package against what its SIEM holds.

use super::common::{exit, load_checked, print_json};
use super::{Connection, Format, Input, target_name};
use detc::deploy;
use detc::project;
use detc::project::detc_toml::ProjectFile;
use detc::targets::TargetName;
use std::io::Write as _;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(super) input: Input,
    #[arg(long, value_parser = target_name())]
    target: TargetName,
    /// Print the plan and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Also delete rules detc deployed earlier that the package no longer has.
    #[arg(long)]
    prune: bool,
    /// `json` prints the plan and the outcome as one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    connection: Connection,
}

#[derive(clap::Args)]
pub(crate) struct DiffArgs {
    #[command(flatten)]
    pub(super) input: Input,
    #[arg(long, value_parser = target_name())]
    target: TargetName,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    connection: Connection,
}

pub(crate) fn run(
    Args {
        input,
        target,
        dry_run,
        prune,
        format,
        connection,
    }: Args,
    project: &ProjectFile,
) -> anyhow::Result<ExitCode> {
    let mode = if dry_run { Mode::DryRun } else { Mode::Apply };
    sync(&input, target, mode, prune, format, &connection, project)
}

pub(crate) fn diff(
    DiffArgs {
        input,
        target,
        format,
        connection,
    }: DiffArgs,
    project: &ProjectFile,
) -> anyhow::Result<ExitCode> {
    sync(
        &input,
        target,
        Mode::Diff,
        false,
        format,
        &connection,
        project,
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Apply,
    DryRun,
    Diff,
}

/// A missing or invalid setting (nothing was sent).
const USAGE: u8 = 2;
/// The SIEM could not be reached, refused to sign in, or answered what its API does not.
const SIEM_FAILED: u8 = 3;

/// `deploy` and `diff`: render the target's package, read what the SIEM holds, plan, and
/// (deploy) apply. Exit status: 0 done (diff: no drift); 1 rule errors, a failed change (diff:
/// drift); 2 a missing or invalid setting; 3 a SIEM that cannot be reached or read.
fn sync(
    input: &Input,
    target: TargetName,
    mode: Mode,
    prune: bool,
    format: Format,
    conn: &Connection,
    project: &ProjectFile,
) -> anyhow::Result<ExitCode> {
    let defaults = &project.deploy;
    let lock = project.lock_path();
    let templates = conn
        .templates
        .as_deref()
        .or(project.package.templates.as_deref());
    let (project, config) = match load_checked(input, "deployed")? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    // The versions `detc package` gives, without recording them (package does).
    let mut versions = match project::Versions::load(&lock) {
        Ok(v) => v,
        Err(d) => return super::common::failed(d, Format::Text),
    };
    let (mut rules, _) = project::contexts(&project, &config, target);
    let version = versions.stamp(target, &mut rules);
    let files = project::package(target, &rules, version, templates)?;
    let usage = |message: String| {
        eprintln!("error: {}: {message}", target.as_str());
        Ok(ExitCode::from(USAGE))
    };
    // A setting or the package is the user's to fix (2); the SIEM's side is not (3).
    let failed = |e: deploy::DeployError, context: &str| {
        let code = match e {
            deploy::DeployError::Setting(_) | deploy::DeployError::Package(_) => USAGE,
            _ => SIEM_FAILED,
        };
        eprintln!("error: {}: {context}{e}", target.as_str());
        Ok(ExitCode::from(code))
    };
    // The `--settings` file over detc.toml's; the environment wins over both.
    let mut settings = defaults.settings.clone();
    if let Err(e) = deploy::refuse_secrets(&settings, "detc.toml [deploy.settings]") {
        return usage(e.to_string());
    }
    if let Some(path) = &conn.settings {
        match deploy::load_config(path) {
            Ok(c) => settings.extend(c),
            Err(e) => return usage(e.to_string()),
        }
    }
    let deadline = conn.deadline.or(defaults.deadline).unwrap_or(1800);
    let options = deploy::http::Options {
        timeout: std::time::Duration::from_secs(
            conn.timeout.or(defaults.timeout).unwrap_or(30).max(1),
        ),
        retries: conn.retries.or(defaults.retries).unwrap_or(4),
        backoff: std::time::Duration::from_millis(conn.backoff.or(defaults.backoff).unwrap_or(500)),
        ca_cert: conn.ca_cert.clone().or_else(|| defaults.ca_cert.clone()),
        deadline: (deadline > 0).then(|| std::time::Duration::from_secs(deadline)),
        ..Default::default()
    };
    let mut siem = match target.target().connect(&settings, options) {
        Ok(s) => s,
        Err(e) => return failed(e, ""),
    };
    let desired = match siem.desired(&files) {
        Ok(d) => d,
        Err(e) => return failed(e, ""),
    };
    let remote = match siem.deployed(&desired) {
        Ok(r) => r,
        Err(e) => return failed(e, "cannot read what the SIEM holds: "),
    };
    let plan = deploy::plan(target.as_str(), &desired, &remote, prune);
    let outcome = (mode == Mode::Apply).then(|| deploy::apply(siem.as_mut(), &plan));
    match format {
        Format::Json => print_json(&serde_json::json!({ "plan": plan, "report": outcome }))?,
        Format::Text => {
            let mut stdout = std::io::stdout().lock();
            write!(stdout, "{}", plan.text())?;
            if let Some(r) = &outcome {
                write!(stdout, "{}", r.text())?;
            }
        }
    }
    Ok(match (mode, outcome) {
        (Mode::Diff, _) => exit(usize::from(plan.drifted())),
        (_, Some(r)) => exit(usize::from(!r.ok())),
        (_, None) => ExitCode::SUCCESS,
    })
}
