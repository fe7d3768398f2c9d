//! The arguments (clap) and the dispatch to one module per command, whose `run` holds the
//! command's body; `common` holds what several commands share (loading a project, printing
//! diagnostics, exit statuses, atomic writes).

use clap::{Parser, Subcommand, ValueEnum};
use detc::project::detc_toml::ProjectFile;
use detc::targets::TargetName;
use std::path::PathBuf;
use std::process::ExitCode;

mod check;
mod common;
mod compile;
mod coverage;
mod deploy;
mod docs;
mod explain;
mod fmt;
mod hunt;
mod import;
mod new;
mod package;
mod test;

/// Detection rules as code: check them like a compiler, compile them to SPL, KQL, EQL and ES|QL.
#[derive(Parser)]
#[command(name = "detc", version)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The project file (docs/CONFIG.md); by default `detc.toml` in the working directory
    /// or the nearest folder above it. Flags given on the command line win over it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Colour diagnostics: `auto` on a terminal unless NO_COLOR is set (CLICOLOR_FORCE
    /// forces it).
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

#[derive(Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check rules without writing anything (for pre-commit hooks).
    Check(check::Args),
    /// Compile rules into build/<target>/<rule>.<ext>, or print them as JSON.
    Compile(compile::Args),
    /// Render what each SIEM imports into dist/<target>/: a Splunk app (and its .tgz), Sentinel
    /// ARM templates and repository YAML, Kibana import NDJSON and detection-rules TOML.
    Package(package::Args),
    /// Push the package of one target to its SIEM: plan (create / update / unchanged /
    /// delete), then apply. Connection settings come from the environment (and `--settings`, detc.toml).
    Deploy(deploy::Args),
    /// Report drift between a SIEM and the repository: exit 0 when they agree, 1 when not.
    Diff(deploy::DiffArgs),
    /// Run every rule's test cases locally (inline `test` blocks and NDJSON case files).
    Test(test::Args),
    /// Stream NDJSON events through the rules; write the matches as NDJSON to stdout.
    Hunt(hunt::Args),
    /// Write a Markdown catalog of the rules: index.md (by stage, by ATT&CK id) and rules/<rule>.md.
    Docs(docs::Args),
    /// Rewrite rule files in the canonical layout, comments kept (`--check`: only list them).
    Fmt(fmt::Args),
    /// Convert rules of another format into `.det` files (`detc import sigma PATH...`).
    Import(import::Args),
    /// Write a MITRE ATT&CK Navigator layer (JSON) of the techniques the rules cover.
    Coverage(coverage::Args),
    /// Explain a diagnostic code (`detc explain E0302`), or list every code.
    Explain(explain::Args),
    /// Write a rule skeleton with a fresh id and today's date (`detc new NAME --from SOURCE`).
    New(new::Args),
}

#[derive(clap::Args)]
pub(crate) struct Input {
    /// Rule files or folders; `detections/` by default.
    paths: Vec<PathBuf>,
    /// A mapping file that overrides the shipped one for its target (repeatable).
    #[arg(long)]
    mapping: Vec<PathBuf>,
    /// A schema file whose sources and fields are added to the shipped schema (repeatable).
    #[arg(long)]
    schema: Vec<PathBuf>,
    /// A Sigma mapping file (logsources and fields, as targets/sigma.yaml) tried before the
    /// shipped one, for the `.yml`/`.yaml` Sigma rules among the paths.
    #[arg(long, value_name = "FILE")]
    sigma_mapping: Option<PathBuf>,
    /// Keep Sigma's name for a field the Sigma mapping does not know (the same name on every
    /// target) instead of refusing the rule.
    #[arg(long)]
    sigma_keep_names: bool,
    /// Values for Sigma's `expand` placeholders: YAML `name: [value, ...]`.
    #[arg(long, value_name = "FILE")]
    sigma_placeholders: Option<PathBuf>,
    /// The project's rule tree (detc.toml's `paths`), which supplies lists and the names
    /// and ids that must stay unique when only some files are named.
    #[arg(skip)]
    tree: Vec<PathBuf>,
    /// What rules without their own `targets` deploy to (detc.toml's `targets`).
    #[arg(skip)]
    default_targets: Vec<TargetName>,
    /// How late events may arrive for rules without their own `delay` (detc.toml's `delay`).
    #[arg(skip)]
    default_delay: Option<u64>,
    /// detc.toml's `[package] license`.
    #[arg(skip)]
    license: Option<String>,
}

impl Input {
    /// The project file's values where the command line gave none; its mapping and schema
    /// files come first, so the command line's overlay them.
    fn take_project(&mut self, p: &ProjectFile) {
        if self.paths.is_empty() {
            self.paths.clone_from(&p.paths);
        }
        self.mapping.splice(0..0, p.mappings.iter().cloned());
        self.schema.splice(0..0, p.schemas.iter().cloned());
        if self.sigma_mapping.is_none() {
            self.sigma_mapping.clone_from(&p.sigma.mapping);
        }
        self.sigma_keep_names |= p.sigma.keep_names;
        if self.sigma_placeholders.is_none() {
            self.sigma_placeholders.clone_from(&p.sigma.placeholders);
        }
        self.tree.clone_from(&p.paths);
        self.default_targets.clone_from(&p.default_targets);
        self.default_delay = p.default_delay;
        self.license.clone_from(&p.package.license);
    }
}

/// How `deploy` and `diff` reach a SIEM; what is not given comes from detc.toml's
/// `[deploy]`, then the defaults.
#[derive(clap::Args)]
pub(crate) struct Connection {
    /// A YAML file of non-secret settings (`SPLUNK_URL: https://…`), over detc.toml's
    /// `[deploy.settings]`; the environment wins over both.
    #[arg(long, value_name = "FILE")]
    settings: Option<PathBuf>,
    /// Trust the root certificates in this PEM file instead of the public ones (a private CA).
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// Seconds before a request is given up (then retried) [default: 30].
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// Retries of a request after 429, 5xx or a dropped connection [default: 4].
    #[arg(long)]
    retries: Option<u32>,
    /// Seconds the whole run may take: past it no request is sent and no retry waits, and
    /// the run stops with an error (0: no deadline) [default: 1800].
    #[arg(long, value_name = "SECONDS")]
    deadline: Option<u64>,
    /// The first wait before a retry, in milliseconds; each retry doubles it, plus jitter
    /// (a 429's `Retry-After` wins) [default: 500].
    #[arg(long, value_name = "MS")]
    backoff: Option<u64>,
    /// Templates that override the shipped ones, as for `package`.
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
}

/// `--target`: one of the targets' names, listed in `--help` (clap stays out of the library).
fn target_name() -> impl clap::builder::TypedValueParser<Value = TargetName> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(TargetName::ALL.map(TargetName::as_str))
        .map(|name| name.parse().expect("a listed target name parses"))
}

pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    anstream::ColorChoice::write_global(match cli.color {
        Color::Auto => anstream::ColorChoice::Auto,
        Color::Always => anstream::ColorChoice::Always,
        Color::Never => anstream::ColorChoice::Never,
    });
    // `explain` needs no project: it must work while detc.toml itself is being fixed.
    let mut command = match cli.command {
        Command::Explain(args) => return explain::run(args),
        other => other,
    };
    let project = match common::project_file(cli.config.as_deref())? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    if let Some(input) = command.input() {
        input.take_project(&project);
    }
    match command {
        Command::Check(args) => check::run(args),
        Command::Compile(args) => compile::run(args),
        Command::Package(args) => package::run(args, &project),
        Command::Deploy(args) => deploy::run(args, &project),
        Command::Diff(args) => deploy::diff(args, &project),
        Command::Test(args) => test::run(args),
        Command::Hunt(args) => hunt::run(args),
        Command::Docs(args) => docs::run(args),
        Command::Fmt(args) => fmt::run(args, &project.paths),
        Command::Import(args) => import::run(args),
        Command::Coverage(args) => coverage::run(args),
        Command::Explain(args) => explain::run(args),
        Command::New(args) => new::run(args, &project.paths, &project.schemas),
    }
}

impl Command {
    /// The rule input of a command that reads rules through [`Input`].
    fn input(&mut self) -> Option<&mut Input> {
        match self {
            Command::Check(a) => Some(&mut a.input),
            Command::Compile(a) => Some(&mut a.input),
            Command::Package(a) => Some(&mut a.input),
            Command::Deploy(a) => Some(&mut a.input),
            Command::Diff(a) => Some(&mut a.input),
            Command::Test(a) => Some(&mut a.input),
            Command::Hunt(a) => Some(&mut a.input),
            Command::Docs(a) => Some(&mut a.input),
            Command::Coverage(a) => Some(&mut a.input),
            Command::Import(a) => a.input(),
            Command::Fmt(_) | Command::Explain(_) | Command::New(_) => None,
        }
    }
}

pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| {
                c.downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            })
            == Some(std::io::ErrorKind::BrokenPipe)
    })
}
