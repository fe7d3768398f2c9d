//! Splunk: an app (`detc/`) with one scheduled saved search per rule, Enterprise Security
//! correlation-search, notable and risk settings, a `<rule>_filter` macro per rule for local
//! tuning, and the app packed as `detc.tgz`.

use super::query::lookup_name;
use crate::base::diag::Diagnostic;
use crate::base::{Case, Code};
use crate::ir;
use crate::lower::tunable_lists;
use crate::render::{File, Form, Output, Package, RuleContext};
use crate::schema::{Mapping, SecurityDomain};
use crate::targets::PackagePart;
use serde_json::json;
use std::path::Path;

pub(super) static PACKAGE: Package = Package {
    target: "splunk",
    templates: &[
        (
            "app.conf.j2",
            include_str!("../../../targets/splunk/app.conf.j2"),
        ),
        (
            "savedsearches.conf.j2",
            include_str!("../../../targets/splunk/savedsearches.conf.j2"),
        ),
        (
            "macros.conf.j2",
            include_str!("../../../targets/splunk/macros.conf.j2"),
        ),
        (
            "default.meta.j2",
            include_str!("../../../targets/splunk/default.meta.j2"),
        ),
        (
            "transforms.conf.j2",
            include_str!("../../../targets/splunk/transforms.conf.j2"),
        ),
        (
            "README.j2",
            include_str!("../../../targets/splunk/README.j2"),
        ),
    ],
    outputs: &OUTPUTS,
};

const OUTPUTS: [Output; 6] = [
    out("app.conf.j2", "detc/default/app.conf"),
    out("savedsearches.conf.j2", "detc/default/savedsearches.conf"),
    out("macros.conf.j2", "detc/default/macros.conf"),
    out("transforms.conf.j2", "detc/default/transforms.conf"),
    out("default.meta.j2", "detc/metadata/default.meta"),
    out("README.j2", "detc/README.txt"),
];

const fn out(template: &'static str, path: &'static str) -> Output {
    Output {
        template,
        path,
        form: Form::Text,
    }
}

/// Severity as Enterprise Security's notable severity, the `alert.severity` level
/// (2 informational … 6 critical) and the risk score (docs/PACKAGING.md).
fn severity(s: ir::Severity) -> (&'static str, u32, u32) {
    let level = match s {
        ir::Severity::Informational => 2,
        ir::Severity::Low => 3,
        ir::Severity::Medium => 4,
        ir::Severity::High => 5,
        ir::Severity::Critical => 6,
    };
    (s.as_str(), level, s.risk_score().into())
}

/// Risk object type of an alert field in Enterprise Security's risk framework.
fn risk_object_type(field: &str) -> Option<&'static str> {
    match field {
        "user.name" => Some("user"),
        "host.name" => Some("system"),
        f if f.ends_with(".ip") => Some("system"),
        _ => None,
    }
}

/// The macro that stands for a source's base search in the app (`detc_process_start`),
/// which a team tunes (`index=edr`) in local/macros.conf, as Splunk's own content does
/// with `sysmon` or `wineventlog_security`. A base search with a pipe stays inline: the
/// query appends terms to a plain one, which a macro would hide.
fn base_macro(source: &str, search: &str) -> Option<(String, String)> {
    let search = search.trim();
    (!search.contains('|') && !search.contains('`'))
        .then(|| (format!("detc_{source}"), search.to_string()))
}

pub(super) fn part(rule: &ir::Rule, mapping: &Mapping, ctx: &mut RuleContext) -> PackagePart {
    // The rule's sources, their base searches as macros, and the query compiled with them.
    let sources: Vec<&str> = rule
        .kind
        .queries()
        .iter()
        .map(|q| q.source.as_str())
        .collect();
    // Only the rule's sources: `check` builds this for every rule.
    let mut with_macros = Mapping {
        target: mapping.target.clone(),
        sources: sources
            .iter()
            .filter_map(|s| Some((s.to_string(), mapping.sources.get(*s)?.clone())))
            .collect(),
        connectors: Default::default(),
        template_techniques: Default::default(),
    };
    let mut macros = Vec::new();
    for name in &sources {
        let Some(src) = with_macros.sources.get_mut(*name) else {
            continue;
        };
        if let Some((macro_name, definition)) =
            src.search.as_deref().and_then(|s| base_macro(name, s))
        {
            src.search = Some(format!("`{macro_name}`"));
            if !macros
                .iter()
                .any(|m: &serde_json::Value| m["name"] == macro_name)
            {
                macros.push(json!({"name": macro_name, "definition": definition, "source": name}));
            }
        }
    }
    ctx.query = super::query::compile_rule(rule, &with_macros)
        .map_err(|e| vec![e.into_diagnostic(rule, "splunk")])?
        .pop()
        .map(|c| c.query)
        .unwrap_or_default();
    ctx.language = "spl";
    // Enterprise Security's domain: the first source's (contentctl requires one per detection).
    let domain = sources
        .first()
        .and_then(|s| mapping.sources.get(*s))
        .and_then(|s| s.security_domain)
        .unwrap_or(SecurityDomain::Threat);
    let Some(cron) = cron(ctx.schedule.seconds) else {
        let span = rule.schedule.map_or(rule.span, |s| s.span);
        let mut d = Diagnostic::error(
            &rule.file,
            span,
            Code::E0601,
            format!(
                "rule `{}` cannot be scheduled on splunk: a cron schedule cannot run every {}",
                rule.name, ctx.schedule.text
            ),
        );
        d.hint = Some(
            "use a schedule that divides an hour (1m … 30m), a day (1h … 12h), or is 1d or 7d"
                .into(),
        );
        return Err(vec![d]);
    };
    let lookups = lookups(rule)?;
    let (severity, level, risk_score) = severity(rule.severity);
    let risk_objects: Vec<_> = ctx
        .fields
        .iter()
        .filter_map(|f| {
            risk_object_type(&f.name).map(|t| {
                json!({"risk_object_field": f.column, "risk_object_type": t, "risk_score": risk_score})
            })
        })
        .collect();
    Ok(json!({
        "base_macros": macros,
        "security_domain": domain,
        "cron": cron,
        // The range ends the rule's delay before the run, so late events are judged once.
        "earliest": format!("-{}s", rule.range().start()),
        "latest": super::query::latest(ctx.delay.seconds),
        "severity": severity,
        "level": level,
        "risk_score": risk_score,
        "risk_objects": risk_objects,
        "techniques": rule.attack.iter().filter(|a| !a.starts_with("TA")).collect::<Vec<_>>(),
        "tactics": rule.attack.iter().filter(|a| a.starts_with("TA")).collect::<Vec<_>>(),
        // Absent (null) without tunable lists, so other rules' content and versions stay.
        "lookups": (!lookups.is_empty()).then_some(lookups),
    }))
}

/// The rule's tunable lists as CSV lookups (docs/PACKAGING.md, Tunable lists): the file
/// (`detc_list_NAME.csv`, its defaults as `csv`) and a definition per case the rule tests
/// it with. A value with a line break is no CSV row (E0610).
fn lookups(rule: &ir::Rule) -> Result<Vec<serde_json::Value>, Vec<Diagnostic>> {
    let lists = tunable_lists(rule);
    let broken: Vec<Diagnostic> = lists
        .iter()
        .filter(|l| l.values.iter().any(|v| v.contains(['\r', '\n'])))
        .map(|l| {
            let mut d = Diagnostic::error(
                &rule.file,
                l.span,
                Code::E0610,
                format!(
                    "rule `{}` cannot be packaged for splunk: a value of its tunable list `{}` \
                     holds a line break, and its lookup file has one value a line",
                    rule.name, l.name
                ),
            );
            d.hint = Some("remove the line break from the list's values, or drop `tunable`".into());
            d
        })
        .collect();
    if !broken.is_empty() {
        return Err(broken);
    }
    Ok(lists
        .iter()
        .map(|l| {
            let definitions: Vec<_> = l
                .cases
                .iter()
                .map(|&c| json!({"name": lookup_name(&l.name, c), "case_sensitive": c == Case::Sensitive}))
                .collect();
            json!({
                "list": l.name,
                "file": format!("{}.csv", lookup_name(&l.name, Case::Insensitive)),
                "definitions": definitions,
                "csv": csv(&l.values),
            })
        })
        .collect())
}

/// A lookup file: the header `value,comment` (a CSV lookup has at least two columns:
/// https://docs.splunk.com/Documentation/Splunk/9.0.5/Knowledge/ConfigureCSVlookups), then
/// one row a value, quoted with `"` doubled (RFC 4180), so a comma or quote stays in it.
pub(crate) fn csv(values: &[String]) -> String {
    let mut out = String::from("value,comment\n");
    for v in values {
        out.push_str(&format!("\"{}\",detc default\n", v.replace('"', "\"\"")));
    }
    out
}

/// A cron expression that runs every `seconds`, when cron can say it exactly.
pub(crate) fn cron(seconds: u64) -> Option<String> {
    let m = seconds / 60;
    let h = seconds / 3600;
    if !seconds.is_multiple_of(60) || seconds == 0 {
        None
    } else if m < 60 && 60u64.is_multiple_of(m) {
        Some(if m == 1 {
            "* * * * *".into()
        } else {
            format!("*/{m} * * * *")
        })
    } else if seconds.is_multiple_of(3600) && h < 24 && 24u64.is_multiple_of(h) {
        Some(if h == 1 {
            "0 * * * *".into()
        } else {
            format!("0 */{h} * * *")
        })
    } else if seconds == 86_400 {
        Some("0 0 * * *".into())
    } else if seconds == 7 * 86_400 {
        Some("0 0 * * 0".into())
    } else {
        None
    }
}

/// Each tunable list's lookup file with its defaults, at `lookups/` beside the app and not
/// in it: an app upgrade replaces the files the app ships (Splunk, "Protect content during
/// app updates", https://docs.splunk.com/Documentation/Splunk/latest/Updating/Excludecontent),
/// so a file the app shipped would write over the team's edits.
pub(super) fn lookup_files(rules: &[RuleContext]) -> Vec<File> {
    let mut files: Vec<File> = Vec::new();
    for l in rules
        .iter()
        .flat_map(|r| r.target["lookups"].as_array().into_iter().flatten())
    {
        let path = Path::new("lookups").join(l["file"].as_str().unwrap_or_default());
        if !files.iter().any(|f| f.path == path) {
            files.push(File {
                path,
                contents: l["csv"].as_str().unwrap_or_default().as_bytes().to_vec(),
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// The app folder as `detc.tgz`: entries sorted, owned by root, fixed modes and times, so
/// the archive is byte-stable.
pub(super) fn archive(files: &[File]) -> std::io::Result<File> {
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    let mut paths: Vec<&File> = files.iter().collect();
    paths.sort_by(|a, b| a.path.cmp(&b.path));
    let mut dirs: Vec<&Path> = Vec::new();
    for f in &paths {
        for dir in f
            .path
            .ancestors()
            .skip(1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            if dir.as_os_str().is_empty() || dirs.contains(&dir) {
                continue;
            }
            dirs.push(dir);
            let mut h = header(tar::EntryType::Directory, 0o755, 0);
            tar.append_data(&mut h, dir, std::io::empty())?;
        }
        let mut h = header(tar::EntryType::Regular, 0o644, f.contents.len() as u64);
        tar.append_data(&mut h, &f.path, f.contents.as_slice())?;
    }
    let bytes = tar.into_inner()?.finish()?;
    Ok(File {
        path: "detc.tgz".into(),
        contents: bytes,
    })
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

#[cfg(test)]
mod tests {

    #[test]
    fn severity_is_the_documented_one() {
        for (_, s) in crate::ir::Severity::ALL {
            let (notable, level, risk) = super::severity(s);
            let row = crate::targets::documented_severity(s);
            assert_eq!(row[1], format!("{level} / {notable}"), "{}", s.as_str());
            assert_eq!(row[2], risk.to_string(), "{}", s.as_str());
        }
    }
    use super::cron;

    #[test]
    fn cron_forms() {
        for (s, c) in [
            (60, Some("* * * * *")),
            (300, Some("*/5 * * * *")),
            (1800, Some("*/30 * * * *")),
            (3600, Some("0 * * * *")),
            (6 * 3600, Some("0 */6 * * *")),
            (86_400, Some("0 0 * * *")),
            (7 * 86_400, Some("0 0 * * 0")),
            (45 * 60, None),
            (5 * 3600, None),
            (90, None),
            (2 * 86_400, None),
        ] {
            assert_eq!(cron(s).as_deref(), c, "{s}");
        }
    }
}
