//! `detc import`: rules of another format (Sigma YAML) converted into `.det` files.

use super::common::{exit, print_diags, sigma_settings};
use super::{Format, Input};
use clap::Subcommand;
use detc::base::Code;
use detc::import as sigma_import;
use detc::project::{self, Config};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    format: ImportFormat,
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

pub(crate) fn run(Args { format }: Args) -> anyhow::Result<ExitCode> {
    match format {
        ImportFormat::Sigma { input, out, report } => import_sigma(&input, out.as_deref(), report),
    }
}

impl Args {
    pub(super) fn input(&mut self) -> Option<&mut Input> {
        match &mut self.format {
            ImportFormat::Sigma { input, .. } => Some(input),
        }
    }
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
