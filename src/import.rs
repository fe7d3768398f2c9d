//! `detc import sigma`: Sigma files → `.det` files (printed by the one `.det` printer, with
//! the Sigma author's attribution), and the per-target report of what compiles.

use crate::base::Code;
use crate::project::{Config, Project};
use crate::sigma::{Options, convert_file};
use crate::syntax::ast::ValueKind;
use crate::syntax::print::print_rule;
use crate::targets::TargetName;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What an import converted, wrote and refused.
#[derive(Debug, Default)]
pub struct Imported {
    /// Rules converted (written).
    pub converted: usize,
    /// Rules converted but refused by their status (`deprecated`): not counted in the report's
    /// share.
    pub(crate) deprecated: usize,
    /// The `.det` files written.
    pub written: Vec<PathBuf>,
    /// Rules not converted: the Sigma file and the reason.
    pub refused: Vec<(String, String)>,
    /// The same reasons in their short, groupable form.
    pub(crate) refused_summary: Vec<String>,
}

/// `name:line:column` of byte offset `at` of `text`.
fn place(name: &str, text: &str, at: usize) -> String {
    let (line, column) = crate::base::diag::line_col(text, at);
    format!("{name}:{line}:{column}")
}

impl Imported {
    /// A file that could not be read: refused alone, the others still import.
    pub fn unreadable(&mut self, file: String, why: String) {
        self.refused_summary.push("unreadable file".into());
        self.refused.push((file, why));
    }

    /// A file that is not UTF-8 text: refused alone, at its first invalid byte `at`.
    pub fn not_utf8(&mut self, name: &str, bytes: &[u8], at: usize) {
        let place = place(name, &String::from_utf8_lossy(bytes), at);
        self.unreadable(
            place,
            format!("{} the file is not valid UTF-8 text", Code::E0002),
        );
    }

    /// Convert one Sigma file and write its rules to `target` (nothing when none converts).
    pub fn file(
        &mut self,
        path: &Path,
        text: &str,
        options: &Options,
        target: &Path,
    ) -> std::io::Result<()> {
        let name = path.display().to_string();
        let mut printed = Vec::new();
        let mut authors = Vec::new();
        for result in convert_file(&name, text, options) {
            match result {
                Ok(c) => {
                    for m in &c.rule.meta {
                        match (m.key.name.as_str(), &m.value.kind) {
                            ("author", ValueKind::Str(a)) if !authors.contains(a) => {
                                authors.push(a.clone())
                            }
                            ("status", ValueKind::Word(s) | ValueKind::Str(s))
                                if s == "deprecated" =>
                            {
                                self.deprecated += 1
                            }
                            _ => {}
                        }
                    }
                    printed.push(print_rule(&c.rule));
                    self.converted += 1;
                }
                Err(e) => {
                    self.refused_summary.push(e.reason.summary());
                    let place = place(&name, text, e.offset(text));
                    self.refused
                        .push((place, format!("{}: {}", e.rule, e.reason)));
                }
            }
        }
        if printed.is_empty() {
            return Ok(());
        }
        let by = if authors.is_empty() {
            "its authors".to_string()
        } else {
            authors.join("; ")
        };
        let header = format!(
            "# Converted by `detc import sigma` from {name}.\n\
             # Sigma rule by {by}, under the Detection Rule License 1.1\n\
             # (https://github.com/SigmaHQ/Detection-Rule-License).\n\n"
        );
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(target, header + &printed.join("\n"))?;
        self.written.push(target.to_path_buf());
        Ok(())
    }
}

/// The report: per target, the rules that compile and why the others do not, grouped by
/// reason (conversion, check, or the target's compiler).
pub fn report(imported: &Imported, project: &Project, config: &Config) -> String {
    let total = imported.converted + imported.refused.len();
    let counted = total - imported.deprecated;
    let mut check_reasons: BTreeMap<String, usize> = BTreeMap::new();
    let checked_files: BTreeMap<&str, usize> =
        project.rules.iter().fold(BTreeMap::new(), |mut m, r| {
            *m.entry(r.file.as_str()).or_default() += 1;
            m
        });
    for d in &project.diagnostics {
        *check_reasons
            .entry(format!("{}: {}", d.code, generic(&d.message)))
            .or_default() += 1;
    }
    let checked: usize = checked_files.values().sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Sigma import: {total} rules ({} deprecated); {} converted, {} refused at conversion; \
         {checked} pass `detc check` (rule stage)\n",
        imported.deprecated,
        imported.converted,
        imported.refused.len()
    );
    let _ = writeln!(
        out,
        "| target | compiled | refused | compiled, share of non-deprecated rules |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: |");
    let mut by_target = Vec::new();
    for t in TargetName::ALL {
        let mut compiled = 0;
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for rule in project.rules.iter().filter(|r| r.deploys_to(t.as_str())) {
            match t.target().compile(rule, &config.mappings[&t]) {
                Ok(_) => compiled += 1,
                Err(e) => {
                    *reasons
                        .entry(format!("{}: {}", e.code, generic(&e.message)))
                        .or_default() += 1
                }
            }
        }
        let refused = total - compiled;
        let share = if counted == 0 {
            0.0
        } else {
            100.0 * compiled as f64 / counted as f64
        };
        let _ = writeln!(
            out,
            "| {} | {compiled} | {refused} | {share:.1}% |",
            t.as_str()
        );
        by_target.push((t, reasons));
    }
    let mut conversion: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &imported.refused_summary {
        *conversion.entry(r.as_str()).or_default() += 1;
    }
    let top = |m: &BTreeMap<String, usize>, out: &mut String| {
        let mut v: Vec<_> = m.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (reason, n) in v.into_iter().take(25) {
            let _ = writeln!(out, "| {n} | {} |", reason.replace('|', "\\|"));
        }
    };
    let _ = writeln!(
        out,
        "\nRefused at conversion (every target), by reason:\n\n| rules | reason |\n| ---: | --- |"
    );
    top(
        &conversion
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        &mut out,
    );
    let _ = writeln!(
        out,
        "\nRefused by `detc check` (every target), by reason (diagnostics):\n\n| count | reason |\n| ---: | --- |"
    );
    top(&check_reasons, &mut out);
    for (t, reasons) in by_target {
        if reasons.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "\nRefused by the {} compiler, by reason:\n\n| rules | reason |\n| ---: | --- |",
            t.as_str()
        );
        top(&reasons, &mut out);
    }
    out
}

/// A message with its quoted specifics (`` `...` ``) blanked, so that like reasons group.
fn generic(message: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in message.chars() {
        if c == '`' {
            if !inside {
                out.push_str("`…`");
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}
