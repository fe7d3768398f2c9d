//! The packaging driver: every rule of a project → its template context on a target (through
//! the target's compile, result-field naming and package part), then the target's package
//! files; and what `detc check` reports, which includes every reason a rule cannot deploy.

use super::{Config, Project};
use crate::base::diag::{self, Diagnostic};
use crate::ir::{self, RuleKind};
use crate::lower::Compiled;
use crate::render::{self, AlertField, Period, RuleContext, Suppress, TemplateError};
use crate::targets::TargetName;
use std::path::Path;

/// The contexts of every rule deployed to `target`, or every reason one cannot be.
pub fn contexts(
    project: &Project,
    config: &Config,
    target: TargetName,
) -> (Vec<RuleContext>, Vec<Diagnostic>) {
    let mapping = project.mapping(config, target);
    let mut out = Vec::new();
    let mut diags = Vec::new();
    for rule in project
        .rules
        .iter()
        .filter(|r| r.deploys_to(target.as_str()))
    {
        let compiled = match target.target().compile(rule, mapping) {
            Ok(c) => c,
            Err(e) => {
                diags.push(e.into_diagnostic(rule, target.as_str()));
                continue;
            }
        };
        match context(rule, &compiled, config, mapping, target) {
            Ok(ctx) => out.push(ctx),
            Err(mut d) => diags.append(&mut d),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    (out, diags)
}

fn context(
    rule: &ir::Rule,
    compiled: &[Compiled],
    config: &Config,
    mapping: &crate::schema::Mapping,
    target: TargetName,
) -> Result<RuleContext, Vec<Diagnostic>> {
    let columns = |fields: &[ir::Field]| -> Result<Vec<AlertField>, Vec<Diagnostic>> {
        fields
            .iter()
            .map(|f| {
                target
                    .target()
                    .result_field(rule, mapping, f)
                    .map(|column| AlertField {
                        name: f.name.clone(),
                        column,
                    })
                    .map_err(|e| vec![e.into_diagnostic(rule, target.as_str())])
            })
            .collect()
    };
    let fields = columns(&rule.fields)?;
    let suppress = match &rule.suppress {
        Some(s) => Some(Suppress {
            duration: Period::of(s.duration.seconds),
            by: columns(&s.by)?,
        }),
        None => None,
    };
    let status = rule.status.clone().unwrap_or_else(|| "experimental".into());
    let mut ctx = RuleContext {
        name: rule.name.clone(),
        title: rule.title.clone(),
        id: rule.id.clone(),
        description: rule
            .description
            .clone()
            .unwrap_or_else(|| rule.title.clone()),
        severity: rule.severity.as_str(),
        enabled: status == "test" || status == "stable",
        status,
        author: rule.author.clone(),
        license: config.license.clone(),
        tags: rule.tags.clone(),
        references: rule.references.clone(),
        false_positives: rule.false_positives.clone(),
        date: rule.date.clone(),
        modified: rule.modified.clone(),
        kind: match rule.kind {
            RuleKind::Single(_) => "single",
            RuleKind::Aggregate { .. } => "aggregate",
            RuleKind::Sequence { absent: true, .. } => "absence",
            RuleKind::Sequence { .. } => "sequence",
            RuleKind::FirstSeen { .. } => "first_seen",
        },
        schedule: Period::of(rule.schedule()),
        lookback: Period::of(rule.lookback()),
        delay: Period::of(rule.delay()),
        attack: rule.attack.clone(),
        query: String::new(),
        language: "",
        queries: compiled
            .iter()
            .map(|c| (c.language.as_str(), c.query.clone()))
            .collect(),
        note: target.target().note(rule, mapping),
        fields,
        suppress,
        target: serde_json::Value::Null,
        version: 1,
    };
    ctx.target = target.target().package_part(rule, mapping, &mut ctx)?;
    Ok(ctx)
}

/// What `detc check` reports: the check diagnostics, and for each target a rule deploys to,
/// what that target cannot express or deploy (its limits, its schedules).
pub fn check(project: &Project, config: &Config) -> Vec<Diagnostic> {
    let mut diags = project.diagnostics.clone();
    diags.extend(deploy_diagnostics(project, config));
    diag::sort(&mut diags);
    diags
}

/// For each target a rule deploys to, every reason it cannot compile or deploy there: what
/// `detc check` adds to the language's own checks (and what `detc hunt`, which needs only
/// the latter, reports as warnings).
pub fn deploy_diagnostics(project: &Project, config: &Config) -> Vec<Diagnostic> {
    let mut diags: Vec<Diagnostic> = TargetName::ALL
        .iter()
        .flat_map(|&t| contexts(project, config, t).1)
        .collect();
    diag::sort(&mut diags);
    diags
}

/// Every file of `target`'s package for `rules` at the package's `version`; `overrides`
/// replaces shipped templates.
pub fn package(
    target: TargetName,
    rules: &[RuleContext],
    version: u64,
    overrides: Option<&Path>,
) -> Result<Vec<render::File>, TemplateError> {
    let target = target.target();
    let mut files = render::render(target.package, rules, version, overrides)?;
    target.finish_package(&mut files, rules)?;
    Ok(files)
}
