//! `detc explain CODE`: what a diagnostic code means, from the one table of codes.

use detc::base::Code;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// A diagnostic code such as E0302; without one, every code with its title.
    code: Option<String>,
}

pub(crate) fn run(Args { code }: Args) -> anyhow::Result<ExitCode> {
    let Some(id) = code else {
        for c in Code::ALL {
            println!("{c}  {}", c.title());
        }
        return Ok(ExitCode::SUCCESS);
    };
    match Code::parse(&id) {
        Some(c) => {
            println!("{c}: {}\n\n{}", c.title(), c.explain());
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("error: no diagnostic code is called `{id}`; `detc explain` lists them");
            Ok(ExitCode::from(2))
        }
    }
}
