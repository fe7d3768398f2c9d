//! What scheduling and alerting need beyond the query: `lookback`, `fields`, `suppress`.
//! These keys name fields, so they are read once the rule's form and sources are known.

use super::metadata::Metadata;
use super::{Context, Sink, condition};
use crate::base::Code;
use crate::ir::{self, RuleKind};
use crate::syntax::ast::{self, ValueKind};

/// Entity fields an alert of a single-event rule shows when the rule lists no `fields`,
/// after the fields its condition tests (when the source has them).
const DEFAULT_ENTITY_FIELDS: [&str; 3] = ["user.name", "host.name", "source.ip"];

pub(super) struct Alerting {
    pub(crate) fields: Vec<ir::Field>,
    pub(crate) suppress: Option<ir::Suppress>,
}

pub(super) fn check(
    sink: &mut Sink,
    ctx: &Context,
    meta: &Metadata,
    kind: &RuleKind,
) -> Option<Alerting> {
    let errors = sink.diags.len();
    if let (Some(lookback), RuleKind::Single(_)) = (meta.lookback, kind) {
        let schedule = meta.schedule.map_or(ir::SINGLE_SCHEDULE, |s| s.seconds);
        if lookback.seconds < schedule {
            sink.error(
                lookback.span,
                Code::E0122,
                format!(
                    "`lookback = {lookback}` is shorter than the schedule ({}): events between \
                     runs would never be searched",
                    ir::Duration::of(schedule)
                ),
                Some("make `lookback` at least the schedule".into()),
            );
        }
    } else if let Some(lookback) = meta.lookback {
        sink.error(
            lookback.span,
            Code::E0122,
            "a correlation rule's time range follows from its window; `lookback` is for \
             single-event rules",
            Some("remove `lookback`; docs/CORRELATION.md gives each form's range".into()),
        );
    }

    let fields = match &meta.fields {
        Some(names) => resolve(sink, ctx, kind, names, "fields")?,
        None => default_fields(ctx, kind),
    };
    let suppress = match (meta.suppress, &meta.suppress_by) {
        (None, None) => None,
        (None, Some(by)) => {
            let span = by.first().map(|v| v.span).unwrap_or_default();
            sink.error(
                span,
                Code::E0123,
                "`suppress_by` without `suppress`",
                Some("add `suppress = <duration>`, how long repeats are dropped".into()),
            );
            None
        }
        (Some(duration), Some(by)) => Some(ir::Suppress {
            duration,
            by: resolve(sink, ctx, kind, by, "suppress_by")?,
        }),
        (Some(duration), None) => match kind.result_fields() {
            Some(keys) => Some(ir::Suppress { duration, by: keys }),
            None => {
                sink.error(
                    duration.span,
                    Code::E0123,
                    "`suppress` on a single-event rule needs the key that makes two alerts \
                     repeats",
                    Some("add e.g. `suppress_by = [user.name, host.name]`".into()),
                );
                None
            }
        },
    };
    (sink.diags.len() == errors).then_some(Alerting { fields, suppress })
}

/// Field names from metadata, as fields of the rule's results.
fn resolve(
    sink: &mut Sink,
    ctx: &Context,
    kind: &RuleKind,
    names: &[ast::Value],
    key: &str,
) -> Option<Vec<ir::Field>> {
    let mut out: Vec<ir::Field> = Vec::new();
    let mut ok = true;
    for v in names {
        let ValueKind::Word(name) = &v.kind else {
            continue;
        };
        let found = match kind.result_fields() {
            None => {
                let ident = ast::Ident {
                    name: name.clone(),
                    span: v.span,
                };
                condition::field(sink, ctx, &kind.queries()[0].source, &ident)
            }
            Some(keys) => {
                let found = keys.iter().find(|k| &k.name == name).cloned();
                if found.is_none() {
                    let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
                    sink.error(
                        v.span,
                        Code::E0124,
                        format!("the alerts of this rule hold only its keys, not `{name}`"),
                        Some(format!("`{key}` may name: {}", names.join(", "))),
                    );
                }
                found
            }
        };
        match found {
            Some(f) if out.iter().any(|o| o.name == f.name) => {
                sink.error(
                    v.span,
                    Code::E0108,
                    format!("`{name}` is listed twice"),
                    None,
                );
                ok = false;
            }
            Some(f) => out.push(ir::Field { span: v.span, ..f }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// A correlation rule's keys; for a single-event rule, the fields its condition tests, then
/// the usual entity fields its source has.
fn default_fields(ctx: &Context, kind: &RuleKind) -> Vec<ir::Field> {
    if let Some(keys) = kind.result_fields() {
        return keys;
    }
    let RuleKind::Single(q) = kind else {
        return vec![];
    };
    let mut out: Vec<ir::Field> = Vec::new();
    let mut add = |f: ir::Field| {
        if !out.iter().any(|o| o.name == f.name) {
            out.push(f);
        }
    };
    if let Some(cond) = &q.condition {
        cond.visit_atoms(&mut |a| a.fields().for_each(|f| add(f.clone())));
    }
    if let Some(def) = ctx.schema.sources.get(&q.source) {
        for name in DEFAULT_ENTITY_FIELDS {
            if let Some(ty) = def.field_type(name) {
                add(ir::Field {
                    name: name.to_string(),
                    ty,
                    span: Default::default(),
                });
            }
        }
    }
    out
}
