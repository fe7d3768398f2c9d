//! `detc new`: a rule skeleton with a fresh id and today's date, ready to fill in.

use super::Format;
use super::common::{DEFAULT_TREE, print_diags, write_atomic};
use anyhow::Context as _;
use detc::project::{self, Config};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The rule's name (letters, digits and `_`); also the file's name.
    name: String,
    /// The source it reads (`process_start`, `authentication`, ...: the README lists them).
    #[arg(long = "from", value_name = "SOURCE")]
    source: String,
    /// Where to write it [default: `<name>.det` in the project's first rule folder].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// A schema file whose sources are added to the shipped ones (repeatable).
    #[arg(long)]
    schema: Vec<PathBuf>,
}

/// Writes the skeleton; never over an existing file. Exit status: 0 written, 1 a source
/// the schema does not have, 2 a name that cannot be a rule's or a file that exists.
pub(crate) fn run(args: Args, tree: &[PathBuf], schemas: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let name_ok = args
        .name
        .starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && args
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !name_ok {
        eprintln!(
            "error: `{}` cannot name a rule: letters, digits and `_`, not starting with a digit",
            args.name
        );
        return Ok(ExitCode::from(2));
    }
    let folder = tree
        .first()
        .cloned()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_TREE));
    let out = args
        .out
        .unwrap_or_else(|| folder.join(format!("{}.det", args.name)));
    if out.exists() {
        eprintln!("error: {} exists; nothing written", out.display());
        return Ok(ExitCode::from(2));
    }
    let schemas: Vec<PathBuf> = schemas.iter().chain(&args.schema).cloned().collect();
    let config = match Config::load(&schemas, &[]) {
        Ok(c) => c,
        Err(d) => {
            print_diags(&[(d, None)], Format::Text)?;
            return Ok(ExitCode::from(1));
        }
    };
    let file = out.display().to_string();
    let id = uuid::Uuid::new_v4().to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?;
    let today = detc::eval::date_of(now.as_secs() as i64);
    match project::new_rule(&config, &file, &args.name, &args.source, &id, &today) {
        Ok(text) => {
            write_atomic(&out, text.trim_end())?;
            eprintln!("wrote {file}: fill in the TODOs, then `detc test`");
            Ok(ExitCode::SUCCESS)
        }
        Err(diags) => {
            // They point into a skeleton that is not written: the message and hint say it.
            for d in diags {
                eprintln!("error[{}]: {}", d.code.id(), d.message);
                if let Some(hint) = d.hint {
                    eprintln!("  = help: {hint}");
                }
            }
            eprintln!("nothing written");
            Ok(ExitCode::from(1))
        }
    }
}
