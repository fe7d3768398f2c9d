//! `detc coverage`: an ATT&CK Navigator layer of the techniques the rules cover.

use super::Input;
use super::common::{load_clean, write_atomic};
use detc::catalog;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(super) input: Input,
    /// The layer file; `-` for stdout.
    #[arg(long, default_value = "-", value_name = "FILE")]
    out: PathBuf,
}

pub(crate) fn run(Args { input, out }: Args) -> anyhow::Result<ExitCode> {
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
