//! What several commands share: loading and checking a project, printing diagnostics and
//! JSON, the targets asked for, atomic writes, exit statuses.

use super::{Format, Input};
use anyhow::Context as _;
use detc::base::Code;
use detc::base::diag::{self, Diagnostic, Severity};
use detc::project::detc_toml::{self, ProjectFile};
use detc::project::{self, Config, Project};
use detc::sigma::SettingsError;
use detc::targets::TargetName;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub(crate) const DEFAULT_TREE: &str = "detections";

/// Report a config or path error; its exit status: 2 when a named file cannot be read (a
/// usage error), 1 when its content is wrong.
pub(crate) fn failed(d: Diagnostic, format: Format) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&d.file).ok();
    let code = if d.code == Code::E0500 { 2 } else { 1 };
    print_diags(&[(d, text)], format)?;
    Ok(ExitCode::from(code))
}

/// Read config and rules. A config or path error is reported here and becomes the exit
/// status (2 when a named file does not exist, 1 when its content is wrong); rule
/// diagnostics travel with the project.
pub(crate) fn load(
    input: &Input,
    format: Format,
) -> anyhow::Result<Result<(Project, Config), ExitCode>> {
    let failed = |d: Diagnostic| failed(d, format);
    let mut config = match Config::load(&input.schema, &input.mapping) {
        Ok(c) => c,
        Err(d) => return Ok(Err(failed(d)?)),
    };
    if let Err(e) = sigma_settings(input, &mut config) {
        eprintln!("error: {e}");
        return Ok(Err(ExitCode::from(2)));
    }
    config.targets.clone_from(&input.default_targets);
    config.delay = input.default_delay;
    config.license.clone_from(&input.license);
    let default = [PathBuf::from(DEFAULT_TREE)];
    let tree: &[PathBuf] = if input.tree.is_empty() {
        &default
    } else {
        &input.tree
    };
    let paths: &[PathBuf] = if input.paths.is_empty() {
        tree
    } else {
        &input.paths
    };
    config.ideas = match project::load_ideas(tree) {
        Ok(ideas) => ideas,
        Err(d) => return Ok(Err(failed(d)?)),
    };
    let requested = match project::discover(paths) {
        Ok(p) => p,
        Err(d) => return Ok(Err(failed(d)?)),
    };
    // The rest of the tree supplies lists and the names and ids that must stay unique.
    let context: Vec<_> = tree
        .iter()
        .filter(|p| p.is_dir())
        .flat_map(|p| project::discover(std::slice::from_ref(p)).unwrap_or_default())
        .collect();
    let project = project::load(&requested, &context, &mut config);
    Ok(Ok((project, config)))
}

/// The project file: `path` (`--config`), else `detc.toml` in the working directory or
/// the nearest folder above it, else none (every default). An invalid one is reported and
/// becomes the exit status (2 when `--config` names no file, 1 when its content is wrong).
pub(crate) fn project_file(path: Option<&Path>) -> anyhow::Result<Result<ProjectFile, ExitCode>> {
    let found = match path {
        Some(p) => Some(p.to_path_buf()),
        None => detc_toml::find(&std::env::current_dir()?),
    };
    let Some(path) = found else {
        return Ok(Ok(ProjectFile::default()));
    };
    match ProjectFile::load(&path) {
        Ok(p) => Ok(Ok(p)),
        Err(d) => {
            let text = std::fs::read_to_string(&path).ok();
            let code = if d.code == Code::E0500 { 2 } else { 1 };
            print_diags(&[(d, text)], Format::Text)?;
            Ok(Err(ExitCode::from(code)))
        }
    }
}

/// The Sigma flags of `input`, into `config`.
pub(crate) fn sigma_settings(input: &Input, config: &mut Config) -> Result<(), SettingsError> {
    if let Some(path) = &input.sigma_mapping {
        config.sigma.mapping = Some(detc::sigma::SigmaMapping::load(Some(path))?);
    }
    config.sigma.keep_names = input.sigma_keep_names;
    if let Some(path) = &input.sigma_placeholders {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SettingsError(format!("--sigma-placeholders {}: {e}", path.display())))?;
        let values = detc::sigma::load_placeholders(&text)
            .map_err(|e| SettingsError(format!("--sigma-placeholders {}: {e}", path.display())))?;
        config.sigma.placeholders = Some(values);
    }
    Ok(())
}

/// `load`, then check as `detc check` does (what any target cannot express or deploy
/// included): report the diagnostics, and stop with status 1 on errors, saying nothing was
/// `done` (`written`, `hunted`, `deployed`).
pub(crate) fn load_checked(
    input: &Input,
    done: &str,
) -> anyhow::Result<Result<(Project, Config), ExitCode>> {
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
pub(crate) fn load_clean(input: &Input) -> anyhow::Result<Result<(Project, Config), ExitCode>> {
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

pub(crate) fn report(
    project: &Project,
    diags: &[Diagnostic],
    format: Format,
) -> anyhow::Result<()> {
    let with_text: Vec<_> = diags
        .iter()
        .map(|d| (d.clone(), project.text_of(&d.file).map(str::to_string)))
        .collect();
    print_diags(&with_text, format)
}

/// Pretty JSON and a newline on stdout, in large writes (stdout flushes at every line).
pub(crate) fn print_json<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

pub(crate) fn print_diags(
    diags: &[(Diagnostic, Option<String>)],
    format: Format,
) -> anyhow::Result<()> {
    match format {
        Format::Text => {
            // stderr is unbuffered: one write per diagnostic would be one system call each.
            // Coloured on a terminal unless `--color never` or NO_COLOR (anstream strips).
            let stderr = anstream::AutoStream::auto(std::io::stderr().lock());
            let mut err = std::io::BufWriter::new(stderr);
            for (d, text) in diags {
                write!(err, "{}", diag::render_styled(d, text.as_deref()))?;
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

/// The targets asked for, in a stable order; all when none.
pub(crate) fn targets_or_all(mut asked: Vec<TargetName>) -> Vec<TargetName> {
    if asked.is_empty() {
        return TargetName::ALL.to_vec();
    }
    asked.sort();
    asked.dedup();
    asked
}

/// Write through a temporary file and rename, so a crash never leaves half a query behind.
pub(crate) fn write_atomic(path: &Path, contents: &str) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{contents}\n"))
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

pub(crate) fn exit(errors: usize) -> ExitCode {
    if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

pub(crate) fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}
