//! `detc fmt`: rule files rewritten in the canonical layout.

use super::Format;
use super::common::{DEFAULT_TREE, plural, print_diags};
use anyhow::Context as _;
use detc::project;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Rule files or folders; detc.toml's `paths`, else `detections/`, by default.
    paths: Vec<PathBuf>,
    /// Write nothing: print what formatting would change (a unified diff) and exit 1 if any
    /// file is not formatted.
    #[arg(long)]
    check: bool,
}

/// `detc fmt`: each file is parsed and printed by `syntax::print`; a file with syntax errors
/// is reported as `check` reports it and left as it is. Exit status: 0 all formatted (or
/// rewritten), 1 a syntax error or (`--check`) a file that is not formatted, 2 a path that
/// does not exist.
pub(crate) fn run(Args { paths, check }: Args, tree: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let default = [PathBuf::from(DEFAULT_TREE)];
    let paths = match (paths.is_empty(), tree.is_empty()) {
        (false, _) => &paths[..],
        (true, false) => tree,
        (true, true) => &default[..],
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
            Ok((text, formatted)) => {
                changed += 1;
                if check {
                    // What `detc fmt` would change, as a unified diff (git's a/ b/ names).
                    let diff = similar::TextDiff::from_lines(text, &formatted);
                    print!(
                        "{}",
                        diff.unified_diff()
                            .context_radius(3)
                            .header(&format!("a/{name}"), &format!("b/{name}"))
                    );
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
