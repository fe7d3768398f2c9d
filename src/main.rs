//! The `detc` command line: wires the stages together; the only place that prints.
//! The arguments, the dispatch and one module per command are in `cli/`.

use clap::Parser as _;
use std::process::ExitCode;

mod cli;

// Converting and compiling thousands of rules is allocation-heavy (small strings, trees);
// mimalloc takes a fifth off the time of the system allocator on the Sigma corpus.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(code) => code,
        // A reader that stops early (`detc ... | head`) is not an error.
        Err(e) if cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
