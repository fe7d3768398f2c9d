//! `detc.toml`: a project's defaults (its rule folders, the targets its rules deploy to,
//! mapping, schema and Sigma files, package and deploy settings), found in the working
//! directory or the nearest folder above it, so that no flag is repeated on every command.
//! Paths in it are relative to its own folder. Flags given on the command line win.
//! docs/CONFIG.md documents every key.

use crate::base::{Code, Diagnostic, Span};
use crate::targets::TargetName;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "detc.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    /// Rule files or folders (`detections/` when empty).
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    /// What a rule without its own `targets = [...]` deploys to (every target when empty).
    #[serde(default)]
    targets: Vec<toml::Spanned<String>>,
    #[serde(skip)]
    pub default_targets: Vec<TargetName>,
    /// How late events may arrive (`delay = "10m"`) for rules that set no `delay`.
    delay: Option<toml::Spanned<String>>,
    #[serde(skip)]
    pub default_delay: Option<u64>,
    /// As `--mapping`, in order, before the command line's.
    #[serde(default)]
    pub mappings: Vec<PathBuf>,
    /// As `--schema`, in order, before the command line's.
    #[serde(default)]
    pub schemas: Vec<PathBuf>,
    #[serde(default)]
    pub sigma: SigmaTable,
    #[serde(default)]
    pub package: PackageTable,
    #[serde(default)]
    pub deploy: DeployTable,
    /// The folder detc.toml is in (empty: the working directory, without one).
    #[serde(skip)]
    pub root: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigmaTable {
    /// As `--sigma-mapping`.
    pub mapping: Option<PathBuf>,
    /// As `--sigma-keep-names`.
    #[serde(default)]
    pub keep_names: bool,
    /// As `--sigma-placeholders`.
    pub placeholders: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageTable {
    /// As `package --out`.
    pub out: Option<PathBuf>,
    /// As `--templates` (package, deploy, diff).
    pub templates: Option<PathBuf>,
    /// The versions lock (`detc.lock.json` beside detc.toml by default).
    pub lock: Option<PathBuf>,
    /// The rules' licence, for the packages that carry one (Kibana's `license`).
    pub license: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployTable {
    /// As `--ca-cert`.
    pub ca_cert: Option<PathBuf>,
    /// As `--timeout`, `--retries`, `--deadline` (seconds) and `--backoff` (milliseconds).
    pub timeout: Option<u64>,
    pub retries: Option<u32>,
    pub deadline: Option<u64>,
    pub backoff: Option<u64>,
    /// Non-secret SIEM settings under the names of their environment variables
    /// (`SPLUNK_URL = "https://…"`); the environment wins, secrets are refused.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
}

impl ProjectFile {
    /// Where the versions lock is: `[package] lock`, else `detc.lock.json` beside detc.toml
    /// (in the working directory without one).
    pub fn lock_path(&self) -> PathBuf {
        self.package
            .lock
            .clone()
            .unwrap_or_else(|| self.root.join(crate::project::versions::FILE_NAME))
    }
}

/// The `detc.toml` in the folder `cwd` or the nearest one above it, as a path relative to
/// `cwd` (`detc.toml`, `../detc.toml`), so the paths it gives are relative too and
/// diagnostics name files as the user sees them.
pub fn find(cwd: &Path) -> Option<PathBuf> {
    let mut up = PathBuf::new();
    for dir in cwd.ancestors() {
        if dir.join(FILE_NAME).is_file() {
            return Some(up.join(FILE_NAME));
        }
        up.push("..");
    }
    None
}

impl ProjectFile {
    /// Read and check `path`; its relative paths become relative to the working directory.
    pub fn load(path: &Path) -> Result<ProjectFile, Diagnostic> {
        let file = path.display().to_string();
        let text = crate::schema::read_text(path)?;
        let mut p: ProjectFile = toml::from_str(&text).map_err(|e| {
            let span = e
                .span()
                .map_or(Span::default(), |r| Span::new(r.start, r.end));
            Diagnostic::error(&file, span, Code::E0503, e.message().trim().to_string())
                .with_hint("docs/CONFIG.md lists every key of detc.toml")
        })?;
        for name in &p.targets {
            match name.get_ref().parse::<TargetName>() {
                Ok(t) if !p.default_targets.contains(&t) => p.default_targets.push(t),
                Ok(_) => {}
                Err(_) => {
                    let span = Span::new(name.span().start, name.span().end);
                    return Err(Diagnostic::error(
                        &file,
                        span,
                        Code::E0503,
                        format!("unknown target `{}`", name.get_ref()),
                    )
                    .with_hint(format!("a target is one of {}", TargetName::list())));
                }
            }
        }
        p.default_targets.sort();
        if let Some(d) = &p.delay {
            let span = Span::new(d.span().start, d.span().end);
            p.default_delay =
                Some(crate::base::duration_seconds(d.get_ref()).ok_or_else(|| {
                    Diagnostic::error(
                        &file,
                        span,
                        Code::E0503,
                        format!("`delay` takes a duration, not `{}`", d.get_ref()),
                    )
                    .with_hint("write e.g. `delay = \"10m\"` (s, m, h or d), or `\"0s\"` for none")
                })?);
        }
        let dir = path.parent().unwrap_or(Path::new(""));
        let at = |p: &mut PathBuf| *p = dir.join(&*p);
        p.paths.iter_mut().for_each(at);
        p.mappings.iter_mut().for_each(at);
        p.schemas.iter_mut().for_each(at);
        for p in [
            &mut p.sigma.mapping,
            &mut p.sigma.placeholders,
            &mut p.package.out,
            &mut p.package.templates,
            &mut p.package.lock,
            &mut p.deploy.ca_cert,
        ] {
            p.iter_mut().for_each(at);
        }
        if p.paths.is_empty() {
            p.paths.push(dir.join("detections"));
        }
        p.root = dir.to_path_buf();
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<ProjectFile, Diagnostic> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, text).expect("write");
        ProjectFile::load(&path).map(|mut p| {
            // Relative to the file's folder: shown here without it.
            for path in p.paths.iter_mut().chain(&mut p.mappings) {
                *path = path.strip_prefix(dir.path()).expect("inside").to_path_buf();
            }
            p
        })
    }

    #[test]
    fn keys_paths_and_targets() {
        let p = load(
            "targets = [\"splunk\", \"splunk\"]\nmappings = [\"m/splunk.yaml\"]\n\
             [deploy.settings]\nSPLUNK_URL = \"https://s:8089\"\n",
        )
        .expect("loads");
        assert_eq!(p.default_targets, [TargetName::Splunk]);
        assert_eq!(p.paths, [PathBuf::from("detections")]);
        assert_eq!(p.mappings, [PathBuf::from("m/splunk.yaml")]);
        assert_eq!(p.deploy.settings["SPLUNK_URL"], "https://s:8089");
    }

    #[test]
    fn mistakes_point_at_their_place() {
        let text = "targets = [\"splunk\", \"qradar\"]\n";
        let d = load(text).expect_err("unknown target");
        assert_eq!(d.code, Code::E0503);
        assert_eq!(&text[d.span.start..d.span.end], "\"qradar\"");
        let text = "paths = [\"rules\"]\ntagets = [\"splunk\"]\n";
        let d = load(text).expect_err("unknown key");
        assert!(
            d.message.contains("unknown field `tagets`"),
            "{}",
            d.message
        );
        assert_eq!(&text[d.span.start..d.span.end], "tagets");
        let d = load("[deploy]\ntimeout = \"30\"\n").expect_err("wrong type");
        assert!(d.message.contains("invalid type"), "{}", d.message);
    }
}
