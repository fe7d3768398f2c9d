//! `detc hunt`: NDJSON events through the rules, the matches to stdout.

use super::common::{exit, load, plural, report};
use super::{Format, Input};
use anyhow::Context as _;
use detc::base::diag::Severity;
use detc::{hunt, project};
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(super) input: Input,
    /// The events: an NDJSON file, `-` for stdin; gzip is read as such.
    #[arg(long, value_name = "FILE")]
    events: PathBuf,
    /// Stop with status 1 at the first malformed line instead of skipping it.
    #[arg(long)]
    strict: bool,
    /// Hunt with every rule that checks when others have errors (the status is still 1).
    #[arg(long)]
    keep_going: bool,
    /// List every rule in the closing report, those without matches too.
    #[arg(long)]
    verbose: bool,
}

pub(crate) fn run(
    Args {
        input,
        events,
        strict,
        keep_going,
        verbose,
    }: Args,
) -> anyhow::Result<ExitCode> {
    let (project, config) = match load(&input, Format::Text)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    // Hunting needs the language's checks only: what a SIEM cannot compile or deploy (a
    // Sentinel length limit, a field with no Elastic name) is a warning here.
    let mut diags = project.diagnostics.clone();
    diags.extend(
        project::deploy_diagnostics(&project, &config)
            .into_iter()
            .map(|d| d.as_warning()),
    );
    report(&project, &diags, Format::Text)?;
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    if errors > 0 && !keep_going {
        eprintln!(
            "{}; nothing hunted (--keep-going hunts with the rules that check)",
            plural(errors, "error")
        );
        return Ok(exit(errors));
    }
    let (hunter, skipped) = hunt::Hunter::new(&project.rules, config.ecs());
    for s in &skipped {
        eprintln!("warning: {s}");
    }
    if hunter.is_empty() {
        eprintln!("error: no rules to hunt with");
        return Ok(ExitCode::FAILURE);
    }
    let source =
        hunt::Events::open(&events).with_context(|| format!("cannot read {}", events.display()))?;
    let options = hunt::Options { strict, verbose };
    // Match lines on the same terminal would tear the bar, so only when redirected.
    let progress: Box<dyn hunt::Progress> =
        if std::io::stderr().is_terminal() && !std::io::stdout().is_terminal() {
            Box::new(Bar::new(source.size()))
        } else {
            Box::new(hunt::Quiet)
        };
    let out = std::io::stdout().lock();
    let err = &mut std::io::stderr();
    match hunt::run(&hunter, source, out, err, &options, progress.as_ref())? {
        Some(summary) => {
            eprint!("{summary}");
            if errors > 0 {
                eprintln!("{} left rules out of the hunt", plural(errors, "error"));
            }
            Ok(exit(usize::from(!summary.ok()) + errors))
        }
        // The reader of stdout went away (`| head`): not an error.
        None => Ok(ExitCode::SUCCESS),
    }
}

/// `hunt`'s progress on stderr: a bar over the file's bytes when its size is known, a
/// spinner otherwise.
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new(size: Option<u64>) -> Bar {
        use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
        let (bar, template) = match size {
            Some(len) => (
                ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr()),
                "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}  {msg}",
            ),
            None => (
                ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
                "{spinner} {bytes} read, {elapsed}  {msg}",
            ),
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Bar(bar)
    }
}

impl hunt::Progress for Bar {
    fn update(&self, bytes: u64, tally: &str) {
        self.0.set_position(bytes);
        self.0.set_message(tally.to_string());
    }
    fn suspend(&self, write: &mut dyn FnMut()) {
        self.0.suspend(write)
    }
    fn finish(&self) {
        self.0.finish_and_clear()
    }
}
