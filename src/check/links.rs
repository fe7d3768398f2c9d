//! Comparisons across the steps of a sequence: `SOURCE as NAME` in one step, `f != NAME.g`
//! in a later one. They are taken out of the step's condition here, so each step's
//! condition tests its own event only and a target renders the links where it joins the
//! steps (docs/CORRELATION.md, "Comparisons across steps").

use super::Context;
use super::Sink;
use super::condition::comparison_across;
use crate::base::Code;
use crate::ir;
use crate::syntax::ast::{self, Expr, ValueKind};

/// Each step's query without its links, and the links. `None` when a name or link is wrong
/// (reported).
pub(super) fn split(
    sink: &mut Sink,
    ctx: &Context,
    steps: &[ast::Query],
    names: &[Option<ast::Ident>],
) -> Option<(Vec<ast::Query>, Vec<ir::Link>)> {
    let mut ok = check_names(sink, ctx, steps, names);
    let step_named = |name: &str| {
        let first = name.split('.').next()?;
        names
            .iter()
            .position(|n| n.as_ref().is_some_and(|n| n.name == first))
    };
    let mut queries = Vec::new();
    let mut links = Vec::new();
    for (i, q) in steps.iter().enumerate() {
        let operands = match &q.condition {
            Some(Expr::And(xs)) => xs.clone(),
            Some(e) => vec![e.clone()],
            None => Vec::new(),
        };
        let mut own = Vec::new();
        for e in operands {
            let link = match &e {
                Expr::Compare(c) => c.value.as_ref().and_then(|v| match &v.kind {
                    ValueKind::Field(name) => step_named(name).map(|j| (c, name, j)),
                    _ => None,
                }),
                _ => None,
            };
            let Some((c, name, j)) = link else {
                if let Some(span) = nested_reference(&e, &step_named) {
                    sink.error(
                        span,
                        Code::E0326,
                        "a comparison with another step's event must be an operand of the \
                         step condition's top-level `and`",
                        Some("write it as its own `and` operand, and `!=` for `not ... ==`".into()),
                    );
                    ok = false;
                }
                own.push(e);
                continue;
            };
            if j >= i {
                sink.error(
                    c.value.as_ref().map_or(c.span, |v| v.span),
                    Code::E0326,
                    format!(
                        "`{}` names {}: a step compares only with an earlier step's event",
                        name.split('.').next().unwrap_or_default(),
                        if j == i { "this step" } else { "a later step" }
                    ),
                    Some("name the earlier step (`SOURCE as NAME`) and compare with it".into()),
                );
                ok = false;
                continue;
            }
            let rest = &name[name.find('.').map_or(name.len(), |d| d + 1)..];
            if rest.is_empty() {
                sink.error(
                    c.span,
                    Code::E0326,
                    format!("`{name}` names a step, not one of its fields"),
                    Some(format!("write `{name}.FIELD`")),
                );
                ok = false;
                continue;
            }
            let (atom, negated) = match comparison_across(
                sink,
                ctx,
                &q.source.name,
                &steps[j].source.name,
                c,
                rest,
            ) {
                Some(ir::Cond::Atom(atom)) => (atom, false),
                Some(ir::Cond::Not(inner)) => match *inner {
                    ir::Cond::Atom(atom) => (atom, true),
                    _ => unreachable!("a field comparison is a test or its `not`"),
                },
                _ => {
                    ok = false;
                    continue;
                }
            };
            links.push(ir::Link {
                step: i,
                earlier: j,
                atom,
                negated,
            });
        }
        queries.push(ast::Query {
            source: q.source.clone(),
            condition: match own.len() {
                0 => None,
                1 => own.pop(),
                _ => Some(Expr::And(own)),
            },
        });
    }
    if let Some(link) = links.first()
        && steps.len() != 2
    {
        sink.error(
            link.atom.span,
            Code::E0326,
            "a comparison across steps stands in a sequence of two steps",
            Some("split the sequence into rules of two steps".into()),
        );
        ok = false;
    }
    ok.then_some((queries, links))
}

/// Names differ from each other and from the first part of every field of the steps'
/// sources, so `NAME.f` has one reading (E0327).
fn check_names(
    sink: &mut Sink,
    ctx: &Context,
    steps: &[ast::Query],
    names: &[Option<ast::Ident>],
) -> bool {
    let mut ok = true;
    for (i, name) in names.iter().enumerate() {
        let Some(name) = name else { continue };
        let twice = names[..i].iter().flatten().any(|n| n.name == name.name);
        let field = steps.iter().find_map(|q| {
            let def = ctx.schema.sources.get(&q.source.name)?;
            def.fields
                .keys()
                .find(|f| f.split('.').next() == Some(name.name.as_str()))
                .map(|f| (f.clone(), q.source.name.clone()))
        });
        let message = match (twice, field) {
            (true, _) => format!("two steps are named `{}`", name.name),
            (false, Some((f, source))) => format!(
                "`{}` is the first part of `{f}` of `{source}`: `{}.…` would name both",
                name.name, name.name
            ),
            (false, None) => continue,
        };
        sink.error(
            name.span,
            Code::E0327,
            message,
            Some("pick another name, e.g. after what the step's event is".into()),
        );
        ok = false;
    }
    ok
}

/// The span of a step reference below the top level of a condition, if any.
fn nested_reference(
    e: &Expr,
    step_named: &impl Fn(&str) -> Option<usize>,
) -> Option<crate::base::Span> {
    match e {
        Expr::And(xs) | Expr::Or(xs) => xs.iter().find_map(|x| nested_reference(x, step_named)),
        Expr::Not(x, _) => nested_reference(x, step_named),
        Expr::Compare(c) => c.value.as_ref().and_then(|v| match &v.kind {
            ValueKind::Field(name) if step_named(name).is_some() => Some(v.span),
            _ => None,
        }),
    }
}
