//! `detc docs`: the Markdown catalog of the rules.

use super::Input;
use super::common::load_clean;
use detc::catalog;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(super) input: Input,
    /// The catalog folder; replaced whole.
    #[arg(long, default_value = "docs/catalog")]
    out: PathBuf,
}

pub(crate) fn run(Args { input, out }: Args) -> anyhow::Result<ExitCode> {
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
