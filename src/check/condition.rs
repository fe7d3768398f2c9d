//! Rule bodies: sources, conditions, correlation clauses and test cases.

use super::{Context, Sink, resolve_list};
use crate::base::diag::did_you_mean;
use crate::base::{Case, Cidr, Code, Span, Wildcard};
use crate::ir::{self, FieldType, NumOp, Number, Scalar, Test};
use crate::pattern;
use crate::schema::FieldLookup;
use crate::syntax::ast::{self, Op, ValueKind};

pub(super) fn body(sink: &mut Sink, ctx: &Context, body: &ast::Body) -> Option<ir::RuleKind> {
    match body {
        ast::Body::Single(q) => Some(ir::RuleKind::Single(query(sink, ctx, q)?)),
        ast::Body::Aggregate {
            query: q,
            group_by,
            window,
            having: h,
        } => {
            let q2 = query(sink, ctx, q);
            let group_by = group_keys(sink, ctx, &q.source.name, group_by);
            let window = duration(sink, window);
            let having = having(sink, ctx, &q.source.name, h);
            Some(ir::RuleKind::Aggregate {
                query: q2?,
                group_by: group_by?,
                window: window?,
                having: having?,
            })
        }
        ast::Body::Sequence {
            by,
            within,
            steps,
            step_by,
            step_not,
            step_as,
        } => {
            let (own, links) = super::links::split(sink, ctx, steps, step_as)?;
            let checked: Vec<_> = own.iter().map(|s| query(sink, ctx, s)).collect();
            // Each step's key fields must exist in its source: its own, else the sequence's.
            let keys: Vec<_> = steps
                .iter()
                .zip(step_by)
                .map(|(s, own)| {
                    let written = if own.is_empty() { by } else { own };
                    fields(sink, ctx, &s.source.name, written)
                })
                .collect();
            let within = duration(sink, within);
            if steps.len() < 2 {
                let span = steps.first().map_or(Span::default(), |s| s.source.span);
                sink.error(
                    span,
                    Code::E0320,
                    "a sequence needs at least two steps",
                    Some("use a single-event rule for one step".into()),
                );
                return None;
            }
            let absent = absence(sink, step_not)?;
            let keys: Vec<Vec<ir::Field>> = keys.into_iter().collect::<Option<_>>()?;
            let by = sequence_key(sink, by, &keys, step_by)?;
            let span = steps[0].source.span.to(steps[steps.len() - 1].source.span);
            Some(ir::RuleKind::Sequence {
                by,
                within: within?,
                steps: checked.into_iter().collect::<Option<_>>()?,
                keys,
                absent,
                links,
                span,
            })
        }
        ast::Body::FirstSeen {
            query: q,
            field: f,
            by,
            lookback,
        } => {
            let q2 = query(sink, ctx, q);
            let fld = field(sink, ctx, &q.source.name, f);
            let by = fields(sink, ctx, &q.source.name, by);
            let lookback = duration(sink, lookback);
            Some(ir::RuleKind::FirstSeen {
                query: q2?,
                field: fld?,
                by: by?,
                lookback: lookback?,
                span: f.span,
            })
        }
    }
}

/// Whether the sequence is an absence (`A  not B`): a `not` step stands only second of two
/// steps, where its meaning is exact on every target that compiles it (docs/CORRELATION.md).
fn absence(sink: &mut Sink, step_not: &[Option<Span>]) -> Option<bool> {
    let mut ok = true;
    for (i, span) in step_not.iter().enumerate() {
        let Some(span) = span else { continue };
        let (message, hint) = match (i, step_not.len()) {
            (0, _) => (
                "a sequence cannot start with a `not` step",
                "write the step that must happen first, then `not` the one that must not follow",
            ),
            (1, 2) => continue,
            _ => (
                "a `not` step may only follow a single first step",
                "write the absence as two steps: `A where ...` then `not B where ...`",
            ),
        };
        sink.error(*span, Code::E0324, message, Some(hint.into()));
        ok = false;
    }
    ok.then(|| step_not.iter().any(Option::is_some))
}

/// A sequence's key as its results name it: each `by` field, typed as the steps' key
/// fields, which must agree with it in number and type (a step's own `by` may name fields
/// of other names; one step may compare a string with another step's string only).
fn sequence_key(
    sink: &mut Sink,
    by: &[ast::Ident],
    keys: &[Vec<ir::Field>],
    step_by: &[Vec<ast::Ident>],
) -> Option<Vec<ir::Field>> {
    let mut ok = true;
    for own in step_by
        .iter()
        .filter(|own| !own.is_empty() && own.len() != by.len())
    {
        sink.error(
            own[0].span.to(own[own.len() - 1].span),
            Code::E0323,
            format!(
                "this step joins on {} field(s), the sequence's `by` names {}",
                own.len(),
                by.len()
            ),
            Some("name one field per field of the sequence's `by`, in its order".into()),
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    for f in keys[1..]
        .iter()
        .flat_map(|fields| fields.iter().zip(&keys[0]))
    {
        let (f, first) = f;
        if f.ty != first.ty {
            sink.error(
                f.span,
                Code::E0323,
                format!(
                    "`{}` is {} here but `{}` is {} in the first step: they cannot join",
                    f.name,
                    f.ty.as_str(),
                    first.name,
                    first.ty.as_str()
                ),
                Some("join each key on fields of one type in every step".into()),
            );
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    Some(
        by.iter()
            .zip(&keys[0])
            .map(|(name, f)| ir::Field {
                name: name.name.clone(),
                ty: f.ty,
                span: name.span,
            })
            .collect(),
    )
}

fn query(sink: &mut Sink, ctx: &Context, q: &ast::Query) -> Option<ir::Query> {
    let source = &q.source;
    if !ctx.schema.sources.contains_key(&source.name) {
        let hint = did_you_mean(&source.name, ctx.schema.sources.keys().map(String::as_str))
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| {
                let names: Vec<_> = ctx.schema.sources.keys().map(String::as_str).collect();
                format!("known sources: {}", names.join(", "))
            });
        sink.error(
            source.span,
            Code::E0301,
            format!("unknown source `{}`", source.name),
            Some(hint),
        );
        return None;
    }
    let mut condition = match &q.condition {
        Some(e) => Some(expr(sink, ctx, &source.name, e)?),
        None => None,
    };
    if source.name == ir::ALERTS {
        condition = Some(of_project_rules(source.span, condition));
    }
    Some(ir::Query {
        source: source.name.clone(),
        source_span: source.span,
        condition,
    })
}

/// The alerts of the project's rules are those whose `rule.severity` the target computes
/// from the project's rules (`lower::with_facts`): an alert of any other rule has none.
/// Every query of `alerts` tests it, so that every target reads the same alerts.
fn of_project_rules(span: Span, condition: Option<ir::Cond>) -> ir::Cond {
    let raised = ir::Cond::Atom(ir::Atom {
        field: ir::Field {
            name: "rule.severity".into(),
            ty: ir::FieldType::String,
            span,
        },
        test: ir::Test::Exists,
        span,
        tunable: None,
    });
    match condition {
        None => raised,
        Some(ir::Cond::And(mut cs)) => {
            cs.insert(0, raised);
            ir::Cond::And(cs)
        }
        Some(c) => ir::Cond::And(vec![raised, c]),
    }
}

/// Lowers a chain's operands, all of them so that every error is reported. An operand that
/// is itself a chain of the same operator (`a and (b and c)`) joins it (`same` takes its
/// operands out), so the IR holds one `And`/`Or` per alternation of operators.
fn chain<A, T>(
    operands: &[A],
    mut lower: impl FnMut(&A) -> Option<T>,
    same: impl Fn(&mut T) -> Option<Vec<T>>,
) -> Option<Vec<T>> {
    let mut out = Vec::new();
    let mut ok = true;
    for x in operands {
        match lower(x) {
            Some(mut one) => match same(&mut one) {
                Some(joined) => out.extend(joined),
                None => out.push(one),
            },
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn expr(sink: &mut Sink, ctx: &Context, source: &str, e: &ast::Expr) -> Option<ir::Cond> {
    let mut lower = |x: &ast::Expr| expr(sink, ctx, source, x);
    match e {
        ast::Expr::And(xs) => chain(xs, &mut lower, |c| match c {
            ir::Cond::And(ys) => Some(std::mem::take(ys)),
            _ => None,
        })
        .map(ir::Cond::And),
        ast::Expr::Or(xs) => chain(xs, &mut lower, |c| match c {
            ir::Cond::Or(ys) => Some(std::mem::take(ys)),
            _ => None,
        })
        .map(ir::Cond::Or),
        ast::Expr::Not(inner, _) => Some(ir::Cond::Not(Box::new(expr(sink, ctx, source, inner)?))),
        ast::Expr::Compare(c) => comparison(sink, ctx, source, c),
    }
}

pub(super) fn field(
    sink: &mut Sink,
    ctx: &Context,
    source: &str,
    f: &ast::Ident,
) -> Option<ir::Field> {
    let def = ctx.schema.sources.get(source)?;
    match def.lookup(&f.name) {
        FieldLookup::Declared(ty) | FieldLookup::Member(ty) => Some(ir::Field {
            name: f.name.clone(),
            ty: ty.into(),
            span: f.span,
        }),
        FieldLookup::NotAMember { family } => {
            sink.error(
                f.span,
                Code::E0302,
                format!(
                    "source `{source}` has no field `{}`: it is not a member of the family `{family}`",
                    f.name
                ),
                Some(format!(
                    "a member of `{family}` is `{}` followed by one name of letters, digits and `_` that does not start with a digit",
                    &family[..family.len() - 1]
                )),
            );
            None
        }
        FieldLookup::Unknown => {
            let hint = did_you_mean(&f.name, def.fields.keys().map(String::as_str))
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| {
                    format!(
                        "declare it for `{source}` in targets/schema.yaml and each target mapping"
                    )
                });
            sink.error(
                f.span,
                Code::E0302,
                format!("source `{source}` has no field `{}`", f.name),
                Some(hint),
            );
            None
        }
    }
}

fn fields(
    sink: &mut Sink,
    ctx: &Context,
    source: &str,
    fs: &[ast::Ident],
) -> Option<Vec<ir::Field>> {
    let out: Vec<_> = fs.iter().map(|f| field(sink, ctx, source, f)).collect();
    out.into_iter().collect()
}

/// `group by`'s keys: known fields, `ip_prefix` only of an ip field (E0340) and with
/// lengths that fit its addresses (E0341).
fn group_keys(
    sink: &mut Sink,
    ctx: &Context,
    source: &str,
    keys: &[ast::GroupKey],
) -> Option<Vec<ir::Key>> {
    let out: Vec<_> = keys
        .iter()
        .map(|k| {
            let field = field(sink, ctx, source, &k.field);
            let prefix = match &k.prefix {
                None => Some(None),
                Some(p) => ip_prefix(sink, field.as_ref(), p).map(Some),
            };
            Some(ir::Key {
                field: field?,
                prefix: prefix?,
            })
        })
        .collect();
    out.into_iter().collect()
}

fn ip_prefix(
    sink: &mut Sink,
    field: Option<&ir::Field>,
    p: &ast::PrefixLengths,
) -> Option<ir::IpPrefix> {
    let mut ok = true;
    if let Some(f) = field
        && f.ty != FieldType::Ip
    {
        sink.error(
            f.span,
            Code::E0340,
            format!(
                "`ip_prefix` takes an ip field; `{}` is a {} field",
                f.name,
                f.ty.as_str()
            ),
            Some(
                "group by the field itself, or by the network of an ip field such as `source.ip`"
                    .into(),
            ),
        );
        ok = false;
    }
    let v4 = prefix_length(sink, &p.v4, 32, "IPv4");
    let v6 = prefix_length(sink, &p.v6, 128, "IPv6");
    Some(ir::IpPrefix {
        v4: v4?,
        v6: v6?,
        span: p.span,
    })
    .filter(|_| ok)
}

fn prefix_length(sink: &mut Sink, v: &ast::Value, max: u8, family: &str) -> Option<u8> {
    match v.kind {
        ValueKind::Int(n) if (0..=i64::from(max)).contains(&n) => u8::try_from(n).ok(),
        _ => {
            sink.error(
                v.span,
                Code::E0341,
                format!("an {family} prefix length is a whole number from 0 to {max}"),
                Some("e.g. `ip_prefix(source.ip, 32, 64)`: IPv4 by address, IPv6 by /64".into()),
            );
            None
        }
    }
}

fn duration(sink: &mut Sink, v: &ast::Value) -> Option<ir::Duration> {
    match v.kind {
        ValueKind::Duration(seconds) if seconds > 0 => Some(ir::Duration {
            seconds,
            span: v.span,
        }),
        _ => {
            sink.error(
                v.span,
                Code::E0321,
                "expected a positive duration",
                Some("write e.g. `30s`, `10m`, `24h` or `7d`".into()),
            );
            None
        }
    }
}

/// Which operators fit which field type.
fn fits(op: Op, ty: FieldType) -> bool {
    use Op::*;
    match ty {
        FieldType::String => !matches!(op, Lt | Le | Gt | Ge),
        FieldType::Number => matches!(op, Eq | Ne | In | NotIn | Lt | Le | Gt | Ge | Exists),
        FieldType::Ip => matches!(op, Eq | Ne | In | NotIn | Exists),
        FieldType::Boolean => matches!(op, Eq | Ne | Exists),
    }
}

fn comparison(
    sink: &mut Sink,
    ctx: &Context,
    source: &str,
    c: &ast::Comparison,
) -> Option<ir::Cond> {
    comparison_in(sink, ctx, source, None, c)
}

/// `f OP NAME.g` in a step of `source`: `g` (`other`) is a field of the earlier step's
/// `earlier` source (see `links`).
pub(super) fn comparison_across(
    sink: &mut Sink,
    ctx: &Context,
    source: &str,
    earlier: &str,
    c: &ast::Comparison,
    other: &str,
) -> Option<ir::Cond> {
    let mut c = c.clone();
    if let Some(v) = &mut c.value {
        v.kind = ValueKind::Field(other.to_string());
    }
    comparison_in(sink, ctx, source, Some(earlier), &c)
}

/// A comparison; `across`: the source of the other field when it is another step's.
fn comparison_in(
    sink: &mut Sink,
    ctx: &Context,
    source: &str,
    across: Option<&str>,
    c: &ast::Comparison,
) -> Option<ir::Cond> {
    let f = field(sink, ctx, source, &c.field)?;
    if !fits(c.op, f.ty) {
        let hint = match (c.op, f.ty) {
            (Op::Lt | Op::Le | Op::Gt | Op::Ge, _) => "`<`, `<=`, `>`, `>=` compare numbers",
            (_, FieldType::Ip) => "compare ip fields with `==`, `in [...]` or `in cidr(...)`",
            (_, FieldType::Number) => "compare numbers with `==`, `in`, `<`, `<=`, `>`, `>=`",
            _ => "compare booleans with `==` or `!=`",
        };
        sink.error(
            c.op_span,
            Code::E0303,
            format!(
                "`{}` does not apply to `{}`, a {} field",
                c.op.as_str(),
                f.name,
                f.ty.as_str()
            ),
            Some(hint.into()),
        );
        return None;
    }
    if c.cased && f.ty != FieldType::String {
        sink.error(
            c.op_span,
            Code::E0305,
            format!(
                "`cased` only applies to strings; `{}` is a {} field",
                f.name,
                f.ty.as_str()
            ),
            None,
        );
        return None;
    }
    let case = if c.cased {
        Case::Sensitive
    } else {
        Case::Insensitive
    };
    if let Some(v) = &c.value
        && let ValueKind::Field(name) = &v.kind
    {
        return field_comparison(sink, ctx, across, source, c, f, name, v.span, case);
    }
    let test = match (c.op, &c.value) {
        (Op::Exists, _) => Test::Exists,
        (_, None) => return None,
        (op, Some(v)) => test(sink, ctx, &f, op, case, v)?,
    };
    let tunable = match &c.value {
        Some(v) => tunable_list(sink, ctx, c.op, &f, v)?,
        None => None,
    };
    let atom = ir::Cond::Atom(ir::Atom {
        field: f,
        test,
        tunable,
        span: c.span,
    });
    Some(match c.op {
        Op::Ne | Op::NotIn => ir::Cond::Not(Box::new(atom)),
        _ => atom,
    })
}

/// `a OP b` with a field on each side: `==`, `!=` on fields of one type, `<`, `<=`, `>`,
/// `>=` on numbers (the operator's fit to `a` is already checked). `b` is a field of
/// `source`'s event, or of another step's event of source `across`.
#[allow(clippy::too_many_arguments)]
fn field_comparison(
    sink: &mut Sink,
    ctx: &Context,
    across: Option<&str>,
    source: &str,
    c: &ast::Comparison,
    f: ir::Field,
    name: &str,
    span: Span,
    case: Case,
) -> Option<ir::Cond> {
    let op = match c.op {
        Op::Eq | Op::Ne => NumOp::Eq,
        Op::Lt => NumOp::Lt,
        Op::Le => NumOp::Le,
        Op::Gt => NumOp::Gt,
        Op::Ge => NumOp::Ge,
        op => {
            sink.error(
                span,
                Code::E0309,
                format!(
                    "`{}` cannot compare `{}` with another field: `{name}` is a field name",
                    op.as_str(),
                    f.name
                ),
                Some(format!(
                    "only `==`, `!=`, `<`, `<=`, `>`, `>=` compare two fields; to compare with the text, quote it: `\"{name}\"`"
                )),
            );
            return None;
        }
    };
    let ident = ast::Ident {
        name: name.to_string(),
        span,
    };
    let Some(other) = field(sink, ctx, across.unwrap_or(source), &ident) else {
        // A bare word on the right may have been meant as text.
        if let Some(d) = sink.diags.last_mut() {
            let quote = format!("to compare with the text, quote it: `\"{name}\"`");
            d.hint = Some(match d.hint.take() {
                Some(h) if h.starts_with("did you mean") => format!("{h} Or, {quote}"),
                _ => quote,
            });
        }
        return None;
    };
    if other.name == f.name && across.is_none() {
        let instead = match c.op {
            Op::Eq | Op::Le | Op::Ge => format!("write `exists {name}`"),
            Op::Ne => format!("write `not exists {name}`"),
            _ => "it never holds; remove it".to_string(),
        };
        sink.error(
            c.span,
            Code::E0311,
            format!("`{name}` is compared with itself"),
            Some(format!("{instead}, or name the other field you meant")),
        );
        return None;
    }
    if other.ty != f.ty {
        sink.error(
            span,
            Code::E0310,
            format!(
                "`{}` is a {} field and `{}` a {} field: a field compares only with a field of its type",
                f.name,
                f.ty.as_str(),
                other.name,
                other.ty.as_str()
            ),
            Some("compare each field with a value, or pick two fields of one type".into()),
        );
        return None;
    }
    let atom = ir::Cond::Atom(ir::Atom {
        field: f,
        test: Test::Field(op, other, case),
        tunable: None,
        span: c.span,
    });
    Some(match c.op {
        Op::Ne => ir::Cond::Not(Box::new(atom)),
        _ => atom,
    })
}

/// The tunable list `v` names, if it names one: only `in` / `not in` on a string field
/// look its values up in a SIEM exactly (E0206). `None` (a failed check) when used otherwise.
fn tunable_list(
    sink: &mut Sink,
    ctx: &Context,
    op: Op,
    f: &ir::Field,
    v: &ast::Value,
) -> Option<Option<String>> {
    let ValueKind::ListRef(name) = &v.kind else {
        return Some(None);
    };
    if !ctx.lists.get(name).is_some_and(|l| l.tunable) {
        return Some(None);
    }
    if matches!(op, Op::In | Op::NotIn) && f.ty == FieldType::String {
        return Some(Some(name.clone()));
    }
    sink.error(
        v.span,
        Code::E0206,
        format!(
            "`${name}` is a tunable list, tested only with `in` or `not in` on a string field, \
             not with `{}` on `{}` (a {} field)",
            op.as_str(),
            f.name,
            f.ty.as_str()
        ),
        Some(format!(
            "write `{} in ${name}`, or drop `tunable` from the list to compile its values in",
            f.name
        )),
    );
    None
}

fn test(
    sink: &mut Sink,
    ctx: &Context,
    f: &ir::Field,
    op: Op,
    case: Case,
    v: &ast::Value,
) -> Option<Test> {
    // `in cidr(...)`, and ip equality as host networks.
    if f.ty == FieldType::Ip {
        return cidrs(sink, ctx, op, v).map(Test::InCidr);
    }
    if let ValueKind::Cidr(_) = v.kind {
        sink.error(
            v.span,
            Code::E0303,
            format!(
                "`in cidr(...)` needs an ip field; `{}` is a {} field",
                f.name,
                f.ty.as_str()
            ),
            None,
        );
        return None;
    }
    let single = matches!(
        op,
        Op::Eq | Op::Ne | Op::Like | Op::Matches | Op::Lt | Op::Le | Op::Gt | Op::Ge
    );
    let values = if single {
        if matches!(v.kind, ValueKind::List(_) | ValueKind::ListRef(_)) {
            sink.error(
                v.span,
                Code::E0304,
                format!("`{}` takes one value", op.as_str()),
                Some("use `in` to compare with any of several values".into()),
            );
            return None;
        }
        vec![v]
    } else {
        let vs = resolve_list(sink, ctx, v)?;
        if vs.is_empty() {
            sink.error(v.span, Code::E0304, "the list is empty", None);
            return None;
        }
        vs
    };
    match f.ty {
        FieldType::Number => {
            let nums = values
                .iter()
                .map(|v| number(sink, f, v))
                .collect::<Option<Vec<_>>>()?;
            Some(match op {
                Op::Lt => Test::Compare(NumOp::Lt, nums[0]),
                Op::Le => Test::Compare(NumOp::Le, nums[0]),
                Op::Gt => Test::Compare(NumOp::Gt, nums[0]),
                Op::Ge => Test::Compare(NumOp::Ge, nums[0]),
                _ => Test::Equals(nums.into_iter().map(Scalar::Num).collect(), Case::Sensitive),
            })
        }
        FieldType::Boolean => match v.kind {
            ValueKind::Bool(b) => Some(Test::Equals(vec![Scalar::Bool(b)], Case::Sensitive)),
            _ => {
                mismatch(sink, f, v, "`true` or `false`");
                None
            }
        },
        FieldType::String | FieldType::Ip => {
            let strs = values
                .iter()
                .map(|v| string(sink, f, v))
                .collect::<Option<Vec<_>>>()?;
            let nonempty = |sink: &mut Sink| {
                let empty = strs.iter().any(|s| s.is_empty());
                if empty {
                    sink.error(
                        v.span,
                        Code::E0304,
                        format!("an empty string makes `{}` match every value", op.as_str()),
                        Some("use `exists` to test that a field is present".into()),
                    );
                }
                !empty
            };
            // A field holding "" is absent (Kusto cannot tell the two apart), and an absent
            // field fails every test: comparing with "" is always a mistake.
            let only_empty = match op {
                Op::Eq | Op::Ne | Op::In | Op::NotIn => strs.iter().any(String::is_empty),
                Op::Like => strs[0].is_empty(),
                _ => false,
            };
            if only_empty {
                let negated = matches!(op, Op::Ne | Op::NotIn);
                sink.error(
                    v.span,
                    Code::E0308,
                    format!(
                        "`{}` compares with the empty string, which no field holds: a field holding \"\" is absent on every target",
                        op.as_str()
                    ),
                    Some(format!(
                        "write `{}exists {}` to test for an absent or empty field",
                        if negated { "" } else { "not " },
                        f.name
                    )),
                );
                return None;
            }
            // ASCII letters fold the same way on every target; a value with other cased
            // letters is matched as a pattern, which spells each letter's cases out.
            if case == Case::Insensitive && strs.iter().any(|s| has_non_ascii_case(s)) {
                let affix = match op {
                    Op::Eq | Op::Ne | Op::In | Op::NotIn => Some((false, false)),
                    Op::Contains => Some((true, true)),
                    Op::StartsWith => Some((false, true)),
                    Op::EndsWith => Some((true, false)),
                    _ => None,
                };
                if let Some((before, after)) = affix {
                    if matches!(op, Op::Contains | Op::StartsWith | Op::EndsWith) && !nonempty(sink)
                    {
                        return None;
                    }
                    let patterns = strs
                        .iter()
                        .map(|s| Wildcard::affix(s, before, after))
                        .collect();
                    return Some(Test::Like(patterns, case));
                }
            }
            Some(match op {
                Op::Contains if nonempty(sink) => Test::Contains(strs, case),
                Op::StartsWith if nonempty(sink) => Test::StartsWith(strs, case),
                Op::EndsWith if nonempty(sink) => Test::EndsWith(strs, case),
                Op::Contains | Op::StartsWith | Op::EndsWith => return None,
                // The AST holds a `like` value as pattern text (`syntax::parse_like`).
                Op::Like => Test::Like(vec![crate::syntax::parse_like(&strs[0])], case),
                Op::Matches => match pattern::parse_regex(&strs[0]) {
                    Ok(re) => Test::Matches(re, case),
                    Err(e) => {
                        // Point into the pattern when the literal is written without escapes.
                        let inner = v.span.start + 1 + e.offset;
                        let span = if raw_matches(sink.text, v.span, &strs[0]) && inner < v.span.end
                        {
                            Span::new(inner, inner + 1)
                        } else {
                            v.span
                        };
                        sink.error(span, Code::E0306, format!("regex: {}", e.message), e.hint);
                        return None;
                    }
                },
                _ => Test::Equals(strs.into_iter().map(Scalar::Str).collect(), case),
            })
        }
    }
}

/// Whether `s` holds a non-ASCII letter that has another case.
fn has_non_ascii_case(s: &str) -> bool {
    s.chars()
        .any(|c| !c.is_ascii() && (c.is_lowercase() || c.is_uppercase()))
}

/// True when the literal's source text between its quotes is exactly the value.
fn raw_matches(text: &str, span: Span, value: &str) -> bool {
    span.end >= span.start + 2 && text.get(span.start + 1..span.end - 1) == Some(value)
}

fn mismatch(sink: &mut Sink, f: &ir::Field, v: &ast::Value, want: &str) {
    sink.error(
        v.span,
        Code::E0304,
        format!(
            "`{}` is a {} field; this value is not {want}",
            f.name,
            f.ty.as_str()
        ),
        None,
    );
}

fn number(sink: &mut Sink, f: &ir::Field, v: &ast::Value) -> Option<Number> {
    match v.kind {
        ValueKind::Int(i) => Some(Number::Int(i)),
        ValueKind::Float(x) if x.is_finite() => Some(Number::Float(x)),
        _ => {
            mismatch(sink, f, v, "a number");
            None
        }
    }
}

fn string(sink: &mut Sink, f: &ir::Field, v: &ast::Value) -> Option<String> {
    match &v.kind {
        ValueKind::Str(s) => Some(s.clone()),
        _ => {
            mismatch(sink, f, v, "a string");
            None
        }
    }
}

/// Networks for an ip field: `cidr(...)`, or addresses (as host networks) for `==`/`in`.
fn cidrs(sink: &mut Sink, ctx: &Context, op: Op, v: &ast::Value) -> Option<Vec<Cidr>> {
    let items: Vec<(&ast::Value, bool)> = match &v.kind {
        ValueKind::Cidr(args) if matches!(op, Op::In | Op::NotIn) => {
            args.iter().map(|a| (a, true)).collect()
        }
        ValueKind::Str(_) if matches!(op, Op::Eq | Op::Ne) => vec![(v, false)],
        ValueKind::List(_) | ValueKind::ListRef(_) if matches!(op, Op::In | Op::NotIn) => {
            resolve_list(sink, ctx, v)?
                .into_iter()
                .map(|a| (a, false))
                .collect()
        }
        _ => {
            sink.error(
                v.span,
                Code::E0304,
                "expected an IP address, a list of them, or `cidr(...)`",
                Some(
                    "write `source.ip == \"10.1.2.3\"` or `source.ip in cidr(\"10.0.0.0/8\")`"
                        .into(),
                ),
            );
            return None;
        }
    };
    if items.is_empty() {
        sink.error(v.span, Code::E0304, "the list is empty", None);
        return None;
    }
    let mut out = Vec::new();
    for (item, is_net) in items {
        let ValueKind::Str(s) = &item.kind else {
            sink.error(
                item.span,
                Code::E0304,
                "expected an IP address string",
                None,
            );
            return None;
        };
        match Cidr::parse(s, is_net) {
            Ok(c) => out.push(c),
            Err(e) => {
                sink.error(item.span, Code::E0307, e.message, e.hint);
                return None;
            }
        }
    }
    Some(out)
}

fn having(sink: &mut Sink, ctx: &Context, source: &str, h: &ast::Having) -> Option<ir::Having> {
    match h {
        ast::Having::And(xs) => chain(
            xs,
            |x| having(sink, ctx, source, x),
            |h| match h {
                ir::Having::And(ys) => Some(std::mem::take(ys)),
                _ => None,
            },
        )
        .map(ir::Having::And),
        ast::Having::Or(xs) => chain(
            xs,
            |x| having(sink, ctx, source, x),
            |h| match h {
                ir::Having::Or(ys) => Some(std::mem::take(ys)),
                _ => None,
            },
        )
        .map(ir::Having::Or),
        ast::Having::Term(t) => {
            let f = match &t.field {
                Some(f) => Some(field(sink, ctx, source, f)?),
                None => None,
            };
            let agg = match (t.func.name.as_str(), f) {
                ("count", None) => ir::Aggregate::Count,
                ("distinct", Some(f)) => ir::Aggregate::Distinct(f),
                ("sum" | "min" | "max", Some(f)) if f.ty != FieldType::Number => {
                    sink.error(
                        f.span,
                        Code::E0303,
                        format!(
                            "`{}` needs a number field; `{}` is a {} field",
                            t.func.name,
                            f.name,
                            f.ty.as_str()
                        ),
                        None,
                    );
                    return None;
                }
                ("sum", Some(f)) => ir::Aggregate::Sum(f),
                ("min", Some(f)) => ir::Aggregate::Min(f),
                ("max", Some(f)) => ir::Aggregate::Max(f),
                (name, _) => {
                    let known = ["count()", "distinct(f)", "sum(f)", "min(f)", "max(f)"];
                    sink.error(
                        t.func.span,
                        Code::E0322,
                        format!("`{name}` is not an aggregation here"),
                        Some(format!("use one of: {}", known.join(", "))),
                    );
                    return None;
                }
            };
            let op = match t.op {
                Op::Lt => NumOp::Lt,
                Op::Le => NumOp::Le,
                Op::Gt => NumOp::Gt,
                Op::Ge => NumOp::Ge,
                Op::Eq => NumOp::Eq,
                Op::Ne => NumOp::Ne,
                other => {
                    sink.error(
                        t.op_span,
                        Code::E0303,
                        format!("`{}` cannot compare an aggregate", other.as_str()),
                        None,
                    );
                    return None;
                }
            };
            let value = match t.value.kind {
                ValueKind::Int(i) => Number::Int(i),
                ValueKind::Float(x) if x.is_finite() => Number::Float(x),
                _ => {
                    sink.error(t.value.span, Code::E0304, "expected a number", None);
                    return None;
                }
            };
            Some(ir::Having::Term(ir::HavingTerm {
                agg,
                op,
                value,
                span: t.span,
            }))
        }
    }
}

/// A `test matches|misses { ... }` case: every field must belong to the rule's source(s).
pub(super) fn test_case(
    sink: &mut Sink,
    ctx: &Context,
    body: &ast::Body,
    t: &ast::TestCase,
) -> Option<ir::TestCase> {
    let sources: Vec<&str> = match body {
        ast::Body::Single(q)
        | ast::Body::Aggregate { query: q, .. }
        | ast::Body::FirstSeen { query: q, .. } => {
            vec![&q.source.name]
        }
        ast::Body::Sequence { steps, .. } => steps.iter().map(|s| s.source.name.as_str()).collect(),
    };
    let mut event = Vec::new();
    let mut ok = true;
    for (name, value) in &t.fields {
        if !sources
            .iter()
            .any(|s| ctx.schema.field_type(s, &name.name).is_some())
        {
            ok &= field(sink, ctx, sources[0], name).is_some();
            continue;
        }
        let scalar = |v: &ast::Value| match &v.kind {
            ValueKind::Str(s) => Some(Scalar::Str(s.clone())),
            ValueKind::Int(i) => Some(Scalar::Num(Number::Int(*i))),
            ValueKind::Float(x) => Some(Scalar::Num(Number::Float(*x))),
            ValueKind::Bool(b) => Some(Scalar::Bool(*b)),
            _ => None,
        };
        let tv = match &value.kind {
            ValueKind::List(items) => items
                .iter()
                .map(scalar)
                .collect::<Option<Vec<_>>>()
                .map(ir::TestValue::List),
            _ => scalar(value).map(ir::TestValue::Scalar),
        };
        match tv {
            Some(tv) => event.push((name.name.clone(), tv)),
            None => {
                sink.error(
                    value.span,
                    Code::E0330,
                    "a test value is a string, number, boolean or list of them",
                    None,
                );
                ok = false;
            }
        }
    }
    ok.then(|| ir::TestCase {
        expect_match: t.expect == ast::Expect::Matches,
        event,
        span: t.span,
    })
}
