//! The `detc` command line: wires the stages together; the only place that prints.

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use detc::base::Code;
use detc::base::diag::{self, Diagnostic, Severity};
use detc::catalog;
use detc::deploy;
use detc::hunt;
use detc::import as sigma_import;
use detc::project::{self, Config, Project};
use detc::render;
use detc::targets::TargetName;
use detc::testing::{self, Status};
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Detection rules as code: check them like a compiler, compile them to SPL, KQL, EQL and ES|QL.
#[derive(Parser)]
#[command(name = "detc", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check rules without writing anything (for pre-commit hooks).
    Check {
        #[command(flatten)]
        input: Input,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Compile rules into build/<target>/<rule>.<ext>, or print them as JSON.
    Compile {
        #[command(flatten)]
        input: Input,
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
    },
    /// Render what each SIEM imports into dist/<target>/: a Splunk app (and its .tgz), Sentinel
    /// ARM templates and repository YAML, Kibana import NDJSON and detection-rules TOML.
    Package {
        #[command(flatten)]
        input: Input,
        /// Only these targets (repeatable); all by default.
        #[arg(long, value_parser = target_name())]
        target: Vec<TargetName>,
        /// The package folder; each target's folder in it is replaced whole.
        #[arg(long, default_value = "dist")]
        out: PathBuf,
        /// A folder of templates that override the shipped ones (`<target>/<template>`,
        /// e.g. `splunk/savedsearches.conf.j2`).
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
    },
    /// Push the package of one target to its SIEM: plan (create / update / unchanged /
    /// delete), then apply. Connection settings come from the environment (and `--config`).
    Deploy {
        #[command(flatten)]
        input: Input,
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
    },
    /// Report drift between a SIEM and the repository: exit 0 when they agree, 1 when not.
    Diff {
        #[command(flatten)]
        input: Input,
        #[arg(long, value_parser = target_name())]
        target: TargetName,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[command(flatten)]
        connection: Connection,
    },
    /// Run every rule's test cases locally (inline `test` blocks and NDJSON case files).
    Test {
        #[command(flatten)]
        input: Input,
        /// `json` prints every case with its event and verdict.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Also write the results as JUnit XML to this file.
        #[arg(long)]
        junit: Option<PathBuf>,
    },
    /// Stream NDJSON events through the rules; write the matches as NDJSON to stdout.
    Hunt {
        #[command(flatten)]
        input: Input,
        /// The events: an NDJSON file, `-` for stdin; gzip is read as such.
        #[arg(long, value_name = "FILE")]
        events: PathBuf,
        /// Stop with status 1 at the first malformed line instead of skipping it.
        #[arg(long)]
        strict: bool,
    },
    /// Write a Markdown catalog of the rules: index.md (by stage, by ATT&CK id) and rules/<rule>.md.
    Docs {
        #[command(flatten)]
        input: Input,
        /// The catalog folder; replaced whole.
        #[arg(long, default_value = "docs/catalog")]
        out: PathBuf,
    },
    /// Rewrite rule files in the canonical layout, comments kept (`--check`: only list them).
    Fmt {
        /// Rule files or folders; `detections/` by default.
        paths: Vec<PathBuf>,
        /// Write nothing: list the files that are not formatted and exit 1 if there are any.
        #[arg(long)]
        check: bool,
    },
    /// Convert rules of another format into `.det` files (`detc import sigma PATH...`).
    Import {
        #[command(subcommand)]
        format: ImportFormat,
    },
    /// Write a MITRE ATT&CK Navigator layer (JSON) of the techniques the rules cover.
    Coverage {
        #[command(flatten)]
        input: Input,
        /// The layer file; `-` for stdout.
        #[arg(long, default_value = "-", value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum ImportFormat {
    /// Sigma YAML rules (files or folders of `.yml`/`.yaml`) → one `.det` file per Sigma file.
    Sigma {
        #[command(flatten)]
        input: Input,
        /// Where the `.det` files go (the folder layout under each PATH is kept).
        #[arg(long, required_unless_present = "report")]
        out: Option<PathBuf>,
        /// Also check and compile the converted rules for every target, and print how many
        /// compile per target and why the others do not.
        #[arg(long)]
        report: bool,
    },
}

#[derive(clap::Args)]
struct Input {
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
}

/// How `deploy` and `diff` reach a SIEM.
#[derive(clap::Args)]
struct Connection {
    /// A YAML file of non-secret settings (`SPLUNK_URL: https://…`); the environment wins.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Trust the root certificates in this PEM file instead of the public ones (a private CA).
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// Seconds before a request is given up (then retried).
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    timeout: u64,
    /// Retries of a request after 429, 5xx or a dropped connection.
    #[arg(long, default_value_t = 4)]
    retries: u32,
    /// Seconds the whole run may take: past it no request is sent and no retry waits, and
    /// the run stops with an error (0: no deadline).
    #[arg(long, default_value_t = 1800, value_name = "SECONDS")]
    deadline: u64,
    /// The first wait before a retry, in milliseconds; each retry doubles it, plus jitter
    /// (a 429's `Retry-After` wins).
    #[arg(long, default_value_t = 500, value_name = "MS")]
    backoff: u64,
    /// Templates that override the shipped ones, as for `package`.
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

const DEFAULT_TREE: &str = "detections";

// Converting and compiling thousands of rules is allocation-heavy (small strings, trees);
// mimalloc takes a fifth off the time of the system allocator on the Sigma corpus.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        // A reader that stops early (`detc ... | head`) is not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { input, format } => {
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
        Command::Compile {
            input,
            target,
            format,
            out,
            keep_going,
        } => {
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
        Command::Package {
            input,
            target,
            out,
            templates,
        } => {
            let (project, config) = match load_checked(&input, "written")? {
                Ok(loaded) => loaded,
                Err(code) => return Ok(code),
            };
            if let Some(dir) = &templates {
                anyhow::ensure!(
                    dir.is_dir(),
                    "--templates {}: no such folder",
                    dir.display()
                );
            }
            // Render every target before writing any, so a template error leaves dist/ as it was.
            let mut packages = Vec::new();
            for t in targets_or_all(target) {
                let (rules, _) = project::contexts(&project, &config, t);
                let files = project::package(t, &rules, templates.as_deref())?;
                packages.push((t, rules.len(), files));
            }
            for (t, rules, files) in &packages {
                let dir = out.join(t.as_str());
                replace_dir(&dir, files)?;
                eprintln!(
                    "{}: {} rules, {} files under {}",
                    t.as_str(),
                    rules,
                    files.len(),
                    dir.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Fmt { paths, check } => fmt(&paths, check),
        Command::Import {
            format: ImportFormat::Sigma { input, out, report },
        } => import_sigma(&input, out.as_deref(), report),
        Command::Deploy {
            input,
            target,
            dry_run,
            prune,
            format,
            connection,
        } => {
            let mode = if dry_run { Mode::DryRun } else { Mode::Apply };
            sync(&input, target, mode, prune, format, &connection)
        }
        Command::Diff {
            input,
            target,
            format,
            connection,
        } => sync(&input, target, Mode::Diff, false, format, &connection),
        Command::Test {
            input,
            format,
            junit,
        } => {
            let (project, _) = match load(&input, format)? {
                Ok(loaded) => loaded,
                Err(code) => return Ok(code),
            };
            if !project.diagnostics.is_empty() {
                report(&project, &project.diagnostics, Format::Text)?;
                return Ok(ExitCode::FAILURE);
            }
            let results = testing::run(&project);
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
        Command::Docs { input, out } => {
            let (project, config) = match load_clean(&input)? {
                Ok(loaded) => loaded,
                Err(code) => return Ok(code),
            };
            let files = catalog::docs(&project, &config);
            catalog::write_tree(&out, &files)?;
            eprintln!(
                "wrote {} rule pages and index.md under {}",
                files.len() - 1,
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Coverage { input, out } => {
            let (project, _) = match load_clean(&input)? {
                Ok(loaded) => loaded,
                Err(code) => return Ok(code),
            };
            let json = catalog::coverage_json(&project);
            if out.as_os_str() == "-" {
                std::io::stdout().lock().write_all(json.as_bytes())?;
            } else {
                write_atomic(&out, json.trim_end())?;
                eprintln!("wrote {}", out.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Hunt {
            input,
            events,
            strict,
        } => {
            let (project, config) = match load_checked(&input, "hunted")? {
                Ok(loaded) => loaded,
                Err(code) => return Ok(code),
            };
            let (hunter, skipped) =
                hunt::Hunter::new(&project.rules, &config.mappings[&TargetName::Elastic]);
            for s in &skipped {
                eprintln!("warning: {s}");
            }
            if hunter.is_empty() {
                eprintln!("error: no rules to hunt with");
                return Ok(ExitCode::FAILURE);
            }
            let source = hunt::Events::open(&events)
                .with_context(|| format!("cannot read {}", events.display()))?;
            let options = hunt::Options { strict };
            // Match lines on the same terminal would tear the bar, so only when redirected.
            let progress: Box<dyn hunt::Progress> =
                if std::io::stderr().is_terminal() && !std::io::stdout().is_terminal() {
                    Box::new(Bar::new(source.size()))
                } else {
                    Box::new(hunt::Quiet)
                };
            let out = std::io::stdout().lock();
            let err = &mut std::io::stderr();
            match hunt::run(&hunter, source, out, err, &options, progress.as_ref())? {
                Some(summary) => {
                    eprint!("{summary}");
                    Ok(exit(usize::from(!summary.ok())))
                }
                // The reader of stdout went away (`| head`): not an error.
                None => Ok(ExitCode::SUCCESS),
            }
        }
    }
}

/// `hunt`'s progress on stderr: a bar over the file's bytes when its size is known, a
/// spinner otherwise.
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new(size: Option<u64>) -> Bar {
        use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
        let (bar, template) = match size {
            Some(len) => (
                ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr()),
                "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}  {msg}",
            ),
            None => (
                ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
                "{spinner} {bytes} read, {elapsed}  {msg}",
            ),
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Bar(bar)
    }
}

impl hunt::Progress for Bar {
    fn update(&self, bytes: u64, tally: &str) {
        self.0.set_position(bytes);
        self.0.set_message(tally.to_string());
    }
    fn suspend(&self, write: &mut dyn FnMut()) {
        self.0.suspend(write)
    }
    fn finish(&self) {
        self.0.finish_and_clear()
    }
}

/// Read config and rules. A config or path error is reported here and becomes the exit
/// status (2 when a named file does not exist, 1 when its content is wrong); rule
/// diagnostics travel with the project.
fn load(input: &Input, format: Format) -> anyhow::Result<Result<(Project, Config), ExitCode>> {
    let failed = |d: Diagnostic| -> anyhow::Result<ExitCode> {
        let text = std::fs::read_to_string(&d.file).ok();
        // A named file or folder that cannot be read is a usage error.
        let code = if d.code == Code::E0500 { 2 } else { 1 };
        print_diags(&[(d, text)], format)?;
        Ok(ExitCode::from(code))
    };
    let mut config = match Config::load(&input.schema, &input.mapping) {
        Ok(c) => c,
        Err(d) => return Ok(Err(failed(d)?)),
    };
    if let Err(e) = sigma_settings(input, &mut config) {
        eprintln!("error: {e}");
        return Ok(Err(ExitCode::from(2)));
    }
    let default = [PathBuf::from(DEFAULT_TREE)];
    let paths: &[PathBuf] = if input.paths.is_empty() {
        &default
    } else {
        &input.paths
    };
    let requested = match project::discover(paths) {
        Ok(p) => p,
        Err(d) => return Ok(Err(failed(d)?)),
    };
    // The rest of the tree supplies lists and the names and ids that must stay unique.
    let context = if Path::new(DEFAULT_TREE).is_dir() {
        project::discover(&default).unwrap_or_default()
    } else {
        Vec::new()
    };
    let project = project::load(&requested, &context, &mut config);
    Ok(Ok((project, config)))
}

/// `detc import sigma`: convert, print each Sigma file's rules as one `.det` file with the
/// Sigma author's attribution (Detection Rule License), and with `--report` check and compile
/// what was written, per target.
fn import_sigma(input: &Input, out: Option<&Path>, report: bool) -> anyhow::Result<ExitCode> {
    let mut config = match Config::load(&input.schema, &input.mapping) {
        Ok(c) => c,
        Err(d) => {
            print_diags(&[(d, None)], Format::Text)?;
            return Ok(ExitCode::from(2));
        }
    };
    if let Err(e) = sigma_settings(input, &mut config) {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(2));
    }
    // `--report` alone converts into a scratch folder, removed at the end.
    let scratch = out.is_none();
    let out = out.map_or_else(
        || std::env::temp_dir().join(format!("detc-import-{}", std::process::id())),
        Path::to_path_buf,
    );
    let options = detc::sigma::Options {
        schema: config.schema.clone(),
        mapping: config.sigma.mapping(),
        keep_sigma_names: config.sigma.keep_names,
        placeholders: config.sigma.placeholders.clone(),
    };
    let mut imported = sigma_import::Imported::default();
    for root in &input.paths {
        let files = match project::discover(std::slice::from_ref(root)) {
            Ok(f) => f,
            Err(d) => {
                print_diags(&[(d, None)], Format::Text)?;
                return Ok(ExitCode::from(2));
            }
        };
        for path in files
            .iter()
            .filter(|p| project::is_sigma(&p.display().to_string()))
        {
            let name = path.display().to_string();
            let text = match std::fs::read(path).map(String::from_utf8) {
                Ok(Ok(text)) => text,
                Ok(Err(e)) => {
                    imported.not_utf8(&name, e.as_bytes(), e.utf8_error().valid_up_to());
                    continue;
                }
                Err(e) => {
                    imported.unreadable(name, format!("{} cannot read: {e}", Code::E0500));
                    continue;
                }
            };
            // A file found in a folder keeps its place under it; a file named itself, its name.
            let relative = match path.strip_prefix(root) {
                Ok(r) if !r.as_os_str().is_empty() => r,
                _ => Path::new(path.file_name().unwrap_or(path.as_os_str())),
            };
            let target = out.join(relative).with_extension("det");
            imported.file(path, &text, &options, &target)?;
        }
    }
    for (file, reason) in &imported.refused {
        eprintln!("{file}: refused: {reason}");
    }
    eprintln!(
        "imported {} rules into {} files under {}; {} refused",
        imported.converted,
        imported.written.len(),
        out.display(),
        imported.refused.len()
    );
    if report {
        let mut config = config;
        let project = project::load(&imported.written, &[], &mut config);
        print!("{}", sigma_import::report(&imported, &project, &config));
    }
    if scratch {
        let _ = std::fs::remove_dir_all(&out);
    }
    Ok(exit(usize::from(!imported.refused.is_empty())))
}

/// The Sigma flags of `input`, into `config`.
fn sigma_settings(input: &Input, config: &mut Config) -> Result<(), String> {
    if let Some(path) = &input.sigma_mapping {
        config.sigma.mapping = Some(detc::sigma::SigmaMapping::load(Some(path))?);
    }
    config.sigma.keep_names = input.sigma_keep_names;
    if let Some(path) = &input.sigma_placeholders {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--sigma-placeholders {}: {e}", path.display()))?;
        let values = detc::sigma::load_placeholders(&text)
            .map_err(|e| format!("--sigma-placeholders {}: {e}", path.display()))?;
        config.sigma.placeholders = Some(values);
    }
    Ok(())
}

/// `load`, then check as `detc check` does (what any target cannot express or deploy
/// included): report the diagnostics, and stop with status 1 on errors, saying nothing was
/// `done` (`written`, `hunted`, `deployed`).
fn load_checked(input: &Input, done: &str) -> anyhow::Result<Result<(Project, Config), ExitCode>> {
    let (project, config) = match load(input, Format::Text)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(Err(code)),
    };
    let diags = project::check(&project, &config);
    report(&project, &diags, Format::Text)?;
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    if errors > 0 {
        eprintln!("{}; nothing {done}", plural(errors, "error"));
        return Ok(Err(exit(errors)));
    }
    Ok(Ok((project, config)))
}

/// `load`, then stop (reporting them, exit status 1) at rule errors: `docs` and `coverage`
/// describe checked rules only.
fn load_clean(input: &Input) -> anyhow::Result<Result<(Project, Config), ExitCode>> {
    let (project, config) = match load(input, Format::Text)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(Err(code)),
    };
    if project
        .diagnostics
        .iter()
        .any(|d| d.severity == Severity::Error)
    {
        report(&project, &project.diagnostics, Format::Text)?;
        eprintln!("the rules have errors; nothing written");
        return Ok(Err(ExitCode::FAILURE));
    }
    Ok(Ok((project, config)))
}

fn report(project: &Project, diags: &[Diagnostic], format: Format) -> anyhow::Result<()> {
    let with_text: Vec<_> = diags
        .iter()
        .map(|d| (d.clone(), project.text_of(&d.file).map(str::to_string)))
        .collect();
    print_diags(&with_text, format)
}

/// Pretty JSON and a newline on stdout, in large writes (stdout flushes at every line).
fn print_json<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

fn print_diags(diags: &[(Diagnostic, Option<String>)], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Text => {
            // stderr is unbuffered: one write per diagnostic would be one system call each.
            let mut err = std::io::BufWriter::new(std::io::stderr().lock());
            for (d, text) in diags {
                write!(err, "{}", diag::render_text(d, text.as_deref()))?;
            }
            err.flush()?;
        }
        Format::Json => {
            let json: Vec<_> = diags
                .iter()
                .map(|(d, t)| diag::to_json(d, t.as_deref()))
                .collect();
            print_json(&json)?;
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Apply,
    DryRun,
    Diff,
}

/// `deploy` and `diff`: render the target's package, read what the SIEM holds, plan, and
/// (deploy) apply. Exit status: 0 done (diff: no drift); 1 rule errors, a failed change (diff:
/// drift); 2 a missing setting or a SIEM that cannot be read.
fn sync(
    input: &Input,
    target: TargetName,
    mode: Mode,
    prune: bool,
    format: Format,
    conn: &Connection,
) -> anyhow::Result<ExitCode> {
    let (project, config) = match load_checked(input, "deployed")? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let (rules, _) = project::contexts(&project, &config, target);
    let files = project::package(target, &rules, conn.templates.as_deref())?;
    let usage = |message: String| {
        eprintln!("error: {}: {message}", target.as_str());
        Ok(ExitCode::from(2))
    };
    let settings = match &conn.config {
        Some(path) => match deploy::load_config(path) {
            Ok(c) => c,
            Err(e) => return usage(e),
        },
        None => Default::default(),
    };
    let options = deploy::http::Options {
        timeout: std::time::Duration::from_secs(conn.timeout.max(1)),
        retries: conn.retries,
        backoff: std::time::Duration::from_millis(conn.backoff),
        ca_cert: conn.ca_cert.clone(),
        deadline: (conn.deadline > 0).then(|| std::time::Duration::from_secs(conn.deadline)),
        ..Default::default()
    };
    let mut siem = match target.target().connect(&settings, options) {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    let desired = match siem.desired(&files) {
        Ok(d) => d,
        Err(e) => return usage(e),
    };
    let remote = match siem.deployed() {
        Ok(r) => r,
        Err(e) => return usage(format!("cannot read what the SIEM holds: {e}")),
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

/// The targets asked for, in a stable order; all when none.
/// `--target`: one of the targets' names, listed in `--help` (clap stays out of the library).
fn target_name() -> impl clap::builder::TypedValueParser<Value = TargetName> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(TargetName::ALL.map(TargetName::as_str))
        .map(|name| name.parse().expect("a listed target name parses"))
}

fn targets_or_all(mut asked: Vec<TargetName>) -> Vec<TargetName> {
    if asked.is_empty() {
        return TargetName::ALL.to_vec();
    }
    asked.sort();
    asked.dedup();
    asked
}

/// Replace `dir` with exactly `files`: written beside it, then swapped in, so a failure
/// leaves the old package whole.
fn replace_dir(dir: &Path, files: &[render::File]) -> anyhow::Result<()> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("package");
    let staging = dir.with_file_name(format!(".{name}.new"));
    let old = dir.with_file_name(format!(".{name}.old"));
    for stale in [&staging, &old] {
        if stale.exists() {
            std::fs::remove_dir_all(stale)
                .with_context(|| format!("cannot remove {}", stale.display()))?;
        }
    }
    for f in files {
        let path = staging.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, &f.contents)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if dir.exists() {
        std::fs::rename(dir, &old).with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    std::fs::rename(&staging, dir).with_context(|| format!("cannot write {}", dir.display()))?;
    if old.exists() {
        std::fs::remove_dir_all(&old)
            .with_context(|| format!("cannot remove {}", old.display()))?;
    }
    Ok(())
}

/// Write through a temporary file and rename, so a crash never leaves half a query behind.
/// `detc fmt`: each file is parsed and printed by `syntax::print`; a file with syntax errors
/// is reported as `check` reports it and left as it is. Exit status: 0 all formatted (or
/// rewritten), 1 a syntax error or (`--check`) a file that is not formatted, 2 a path that
/// does not exist.
fn fmt(paths: &[PathBuf], check: bool) -> anyhow::Result<ExitCode> {
    let default = [PathBuf::from(DEFAULT_TREE)];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let files = match project::discover(paths) {
        Ok(files) => files,
        Err(d) => {
            print_diags(&[(d, None)], Format::Text)?;
            return Ok(ExitCode::from(2));
        }
    };
    let (mut errors, mut changed) = (0, 0);
    // Sigma files are read, never rewritten.
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "det"))
    {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {name}"))?;
        let result = match std::str::from_utf8(&bytes) {
            Ok(text) => detc::syntax::print::format_text(&name, text).map(|f| (text, f)),
            Err(_) => Err(detc::syntax::parse_bytes(&name, &bytes)
                .err()
                .unwrap_or_default()),
        };
        match result {
            Err(diags) => {
                errors += 1;
                let text = Some(String::from_utf8_lossy(&bytes).into_owned());
                let with_text: Vec<_> = diags.into_iter().map(|d| (d, text.clone())).collect();
                print_diags(&with_text, Format::Text)?;
            }
            Ok((text, formatted)) if formatted == text => {}
            Ok((_, formatted)) => {
                changed += 1;
                if check {
                    println!("{name}: not formatted");
                } else {
                    write_exact(path, &formatted)?;
                }
            }
        }
    }
    let what = if check {
        "not formatted"
    } else {
        "reformatted"
    };
    eprintln!(
        "{} checked: {} {what}{}",
        plural(files.len(), "file"),
        changed,
        if errors > 0 {
            format!(
                ", {} with syntax errors left as they are",
                plural(errors, "file")
            )
        } else {
            String::new()
        }
    );
    Ok(if errors > 0 || (check && changed > 0) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Replaces a file's contents atomically (a temporary file beside it, then a rename).
fn write_exact(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".fmt-tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, contents).with_context(|| format!("cannot write {}", tmp.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn write_atomic(path: &Path, contents: &str) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{contents}\n"))
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
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

fn exit(errors: usize) -> ExitCode {
    if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}
