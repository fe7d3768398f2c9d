//! The `check` stage: AST + source schema → IR, or diagnostics that point at the span.
//!
//! Everything a rule means is settled here: names resolved, lists expanded, values typed,
//! `!=`/`not in` turned into `not`, regexes checked against the portable subset.

mod alerting;
mod attack;
mod condition;
mod ideas;
mod links;
mod metadata;

pub(crate) use ideas::is_idea_id;
pub use ideas::{IDEAS_FILE, Idea, Ideas};

use crate::base::diag::{Diagnostic, did_you_mean};
use crate::base::{Code, Span};
use crate::ir;
use crate::schema::Schema;
use crate::syntax::ast::{self, ValueKind};
use std::collections::BTreeMap;

/// Every `list` item of the tree, by name.
pub type Lists = BTreeMap<String, ListEntry>;

#[derive(Debug, Clone)]
pub struct ListEntry {
    pub(crate) file: String,
    pub(crate) values: Vec<ast::Value>,
    /// Tuned in the SIEM: rules read it there (ir::Atom::tunable).
    pub(crate) tunable: bool,
}

/// What checking a rule needs to know beyond the rule itself.
pub struct Context<'a> {
    pub schema: &'a Schema,
    pub lists: &'a Lists,
    /// The targets a rule may name in `targets = [...]`.
    pub targets: &'a [&'a str],
    /// The tree's idea catalog, which `catalog = [...]` names ideas of.
    pub ideas: Option<&'a Ideas>,
}

/// Collects diagnostics for one file.
pub(crate) struct Sink<'a> {
    pub(crate) file: &'a str,
    /// The file's text, for patterns whose meaning depends on how they were written.
    pub(crate) text: &'a str,
    pub(crate) diags: Vec<Diagnostic>,
}

impl Sink<'_> {
    pub(crate) fn error(
        &mut self,
        span: Span,
        code: Code,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let mut d = Diagnostic::error(self.file, span, code, message);
        d.hint = hint;
        self.diags.push(d);
    }
}

/// Check one rule. Returns the IR only when the rule has no errors.
pub fn check_rule(
    file: &str,
    text: &str,
    rule: &ast::Rule,
    ctx: &Context,
) -> (Option<ir::Rule>, Vec<Diagnostic>) {
    let mut sink = Sink {
        file,
        text,
        diags: Vec::new(),
    };
    let name = &rule.name;
    if !is_rule_name(&name.name) {
        sink.error(
            name.span,
            Code::E0110,
            format!("rule name `{}` is not a valid name", name.name),
            Some("use lowercase letters, digits and `_`, starting with a letter".into()),
        );
    }
    let title = match &rule.title.kind {
        ValueKind::Str(s) if !s.trim().is_empty() => s.clone(),
        _ => {
            sink.error(
                rule.title.span,
                Code::E0111,
                "the title must be a non-empty string",
                None,
            );
            String::new()
        }
    };
    let meta = metadata::check(&mut sink, rule, ctx.targets, ctx.ideas);
    let kind = condition::body(&mut sink, ctx, &rule.body);
    let tests = rule
        .tests
        .iter()
        .map(|t| condition::test_case(&mut sink, ctx, &rule.body, t))
        .collect::<Vec<_>>();

    if !sink.diags.is_empty() {
        return (None, sink.diags);
    }
    let (Some(meta), Some(kind)) = (meta, kind) else {
        return (None, sink.diags);
    };
    let Some(alerting) = alerting::check(&mut sink, ctx, &meta, &kind) else {
        return (None, sink.diags);
    };
    if !alerts_per_entity(&mut sink, &kind, rule.span) {
        return (None, sink.diags);
    }
    let rule = ir::Rule {
        name: name.name.clone(),
        title,
        id: meta.id,
        severity: meta.severity,
        status: meta.status,
        attack: meta.attack,
        catalog: meta.catalog,
        tags: meta.tags,
        description: meta.description,
        false_positives: meta.false_positives,
        references: meta.references,
        author: meta.author,
        schedule: meta.schedule,
        lookback: meta.lookback,
        delay: meta.delay,
        fields: alerting.fields,
        suppress: alerting.suppress,
        targets: meta.targets,
        date: meta.date,
        modified: meta.modified,
        file: file.to_string(),
        span: rule.span,
        kind,
        tests: tests.into_iter().flatten().collect(),
    };
    (Some(rule), sink.diags)
}

/// A rule over `alerts` aggregates them, by one entity field (E0325).
fn alerts_per_entity(sink: &mut Sink, kind: &ir::RuleKind, span: Span) -> bool {
    let queries = kind.queries();
    if !queries.iter().any(|q| q.source == ir::ALERTS) {
        return true;
    }
    let hint =
        || Some("group, join or look for first sightings by `user.name` or by `host.name`".into());
    if let ir::RuleKind::Single(q) = kind {
        sink.error(
            q.source_span,
            Code::E0325,
            "a rule over alerts must aggregate them: matching single alerts repeats them",
            hint(),
        );
        return false;
    }
    // The entity fields the alerts queries read, with the keys they join or group on.
    let mut read: Vec<&ir::Field> = Vec::new();
    let keys: Vec<&ir::Field> = match kind {
        ir::RuleKind::Aggregate { group_by, .. } => group_by.iter().map(|k| &k.field).collect(),
        ir::RuleKind::FirstSeen { field, by, .. } => by.iter().chain([field]).collect(),
        _ => Vec::new(),
    };
    read.extend(keys);
    for (j, q) in queries.iter().enumerate() {
        if q.source != ir::ALERTS {
            continue;
        }
        if let ir::RuleKind::Sequence { keys, .. } = kind {
            read.extend(&keys[j]);
        }
        if let Some(c) = &q.condition {
            c.visit_atoms(&mut |a| read.extend(a.fields()));
        }
    }
    if let ir::RuleKind::Aggregate { having, .. } = kind {
        having.visit_fields(&mut |f| read.push(f));
    }
    let mut entities = read
        .into_iter()
        .filter(|f| ir::ALERT_ENTITIES.contains(&f.name.as_str()));
    let Some(first) = entities.next() else {
        sink.error(
            span,
            Code::E0325,
            "a rule over alerts must aggregate them per entity, `user.name` or `host.name`",
            hint(),
        );
        return false;
    };
    if let Some(other) = entities.find(|f| f.name != first.name) {
        sink.error(
            other.span,
            Code::E0325,
            format!(
                "a rule over alerts reads one entity field; this one reads `{}` and `{}`",
                first.name, other.name
            ),
            Some("write one rule per entity".into()),
        );
        return false;
    }
    true
}

/// `[a-z][a-z0-9_]*`: rule and list names.
pub(crate) fn is_rule_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Resolve `$name` list references (one level: lists hold literals).
pub(crate) fn resolve_list<'v>(
    sink: &mut Sink,
    ctx: &'v Context,
    value: &'v ast::Value,
) -> Option<Vec<&'v ast::Value>> {
    match &value.kind {
        ValueKind::List(items) => Some(items.iter().collect()),
        ValueKind::ListRef(name) => match ctx.lists.get(name) {
            Some(entry) => Some(entry.values.iter().collect()),
            None => {
                let hint = did_you_mean(name, ctx.lists.keys().map(String::as_str))
                    .map(|s| format!("did you mean `${s}`?"))
                    .or_else(|| Some("define it with `list NAME = [...]` in any .det file".into()));
                sink.error(
                    value.span,
                    Code::E0203,
                    format!("unknown list `${name}`"),
                    hint,
                );
                None
            }
        },
        _ => Some(vec![value]),
    }
}
