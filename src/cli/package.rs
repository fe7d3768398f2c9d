//! `detc package`: what each SIEM imports, rendered through the templates into dist/.

use super::common::{load_checked, targets_or_all};
use super::{Input, target_name};
use anyhow::Context as _;
use detc::project;
use detc::project::detc_toml::ProjectFile;
use detc::render;
use detc::targets::TargetName;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(super) input: Input,
    /// Only these targets (repeatable); all by default.
    #[arg(long, value_parser = target_name())]
    target: Vec<TargetName>,
    /// The package folder; each target's folder in it is replaced whole [default: detc.toml's
    /// `[package] out`, else dist].
    #[arg(long)]
    out: Option<PathBuf>,
    /// A folder of templates that override the shipped ones (`<target>/<template>`,
    /// e.g. `splunk/savedsearches.conf.j2`).
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
}

pub(crate) fn run(
    Args {
        input,
        target,
        out,
        templates,
    }: Args,
    project_file: &ProjectFile,
) -> anyhow::Result<ExitCode> {
    let defaults = &project_file.package;
    let out = out
        .or_else(|| defaults.out.clone())
        .unwrap_or_else(|| PathBuf::from("dist"));
    let templates = templates.or_else(|| defaults.templates.clone());
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
    let lock = project_file.lock_path();
    let mut versions = match project::Versions::load(&lock) {
        Ok(v) => v,
        Err(d) => return super::common::failed(d, super::Format::Text),
    };
    let locked = versions.clone();
    // Render every target before writing any, so a template error leaves dist/ as it was.
    let mut packages = Vec::new();
    for t in targets_or_all(target) {
        let (mut rules, _) = project::contexts(&project, &config, t);
        let version = versions.stamp(t, &mut rules);
        let files = project::package(t, &rules, version, templates.as_deref())?;
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
    // The lock is written last: it records the versions of what was just written.
    if versions != locked {
        let staging = lock.with_extension("json.new");
        std::fs::write(&staging, versions.to_json())
            .and_then(|()| std::fs::rename(&staging, &lock))
            .with_context(|| format!("cannot write {}", lock.display()))?;
        eprintln!(
            "versions: {} updated (commit it with the rules)",
            lock.display()
        );
    }
    Ok(ExitCode::SUCCESS)
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
