//! The abstract syntax tree: what the text says, with byte spans, before any checking.

use crate::base::Span;

/// A name or dotted field path with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    List(ListDef),
    Rule(Box<Rule>),
}

/// `list NAME = [ ... ]`, or `list NAME tunable = [ ... ]`: values a team tunes in the SIEM.
#[derive(Debug, Clone, PartialEq)]
pub struct ListDef {
    pub name: Ident,
    pub tunable: bool,
    pub values: Value,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: Ident,
    pub title: Value,
    pub meta: Vec<Meta>,
    pub body: Body,
    pub tests: Vec<TestCase>,
    pub span: Span,
}

/// `key = value` inside a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub key: Ident,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    /// Both string forms, already unescaped. The value of a `like` comparison is *pattern
    /// text* instead: `*` and `?` are wildcards, `\*`, `\?` and `\\` a literal `*`, `?`
    /// and backslash (`syntax::parse_like`), whichever way the literal was written.
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Seconds.
    Duration(u64),
    /// A bare word, e.g. `high`, `stable`, `T1219`.
    Word(String),
    List(Vec<Value>),
    /// `$name`
    ListRef(String),
    /// `cidr("10.0.0.0/8", ...)`: the argument strings with their spans.
    Cidr(Vec<Value>),
    /// A bare field name on the right of a comparison (`a != b`): that field of the same
    /// event. Only a comparison's value is ever one.
    Field(String),
}

/// What a rule selects and how it correlates.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// `from SOURCE [where COND]`
    Single(Query),
    /// `from SOURCE [where COND] group by F, ... window D having H`
    Aggregate {
        query: Query,
        group_by: Vec<GroupKey>,
        window: Value,
        having: Having,
    },
    /// `sequence by F, ... within D { [not] SOURCE [by G, ...] where COND ... }`
    Sequence {
        by: Vec<Ident>,
        within: Value,
        steps: Vec<Query>,
        /// Per step, the fields it joins on in place of `by` (`SOURCE by G, ...`); empty:
        /// `by` itself.
        step_by: Vec<Vec<Ident>>,
        /// Per step, the span of its `not` when it is a step that must not follow.
        step_not: Vec<Option<Span>>,
        /// Per step, the name its event has for later steps (`SOURCE as NAME`).
        step_as: Vec<Option<Ident>>,
    },
    /// `from SOURCE [where COND] first seen F by K, ... lookback D`
    FirstSeen {
        query: Query,
        field: Ident,
        by: Vec<Ident>,
        lookback: Value,
    },
}

/// One key of `group by`: a field's value, or with `ip_prefix(F, V4, V6)` the network of its
/// address.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupKey {
    pub field: Ident,
    pub prefix: Option<PrefixLengths>,
}

/// `ip_prefix(F, V4, V6)`'s prefix lengths as written, and the call's span.
#[derive(Debug, Clone, PartialEq)]
pub struct PrefixLengths {
    pub v4: Value,
    pub v6: Value,
    pub span: Span,
}

impl GroupKey {
    /// The key of a plain field.
    pub(crate) fn field(field: Ident) -> GroupKey {
        GroupKey {
            field,
            prefix: None,
        }
    }

    /// The key as written: the field, or the whole `ip_prefix(...)` call.
    pub(crate) fn span(&self) -> Span {
        self.prefix.as_ref().map_or(self.field.span, |p| p.span)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub source: Ident,
    pub condition: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A chain `A and B and ...` of two or more operands, as written: a flat chain is one
    /// level of nesting, however long.
    And(Vec<Expr>),
    /// A chain `A or B or ...` of two or more operands.
    Or(Vec<Expr>),
    /// `not EXPR`; the span covers the `not` keyword and its operand.
    Not(Box<Expr>, Span),
    Compare(Comparison),
}

impl Expr {
    /// `a and b`, joining onto `a` when it is already an `and` chain.
    pub(crate) fn and(a: Expr, b: Expr) -> Expr {
        match a {
            Expr::And(mut xs) => {
                xs.push(b);
                Expr::And(xs)
            }
            a => Expr::And(vec![a, b]),
        }
    }

    /// `a or b`, joining onto `a` when it is already an `or` chain.
    pub(crate) fn or(a: Expr, b: Expr) -> Expr {
        match a {
            Expr::Or(mut xs) => {
                xs.push(b);
                Expr::Or(xs)
            }
            a => Expr::Or(vec![a, b]),
        }
    }

    /// From the first operand's start to the last's end: walks the two edges only.
    pub(crate) fn span(&self) -> Span {
        match self {
            Expr::And(xs) | Expr::Or(xs) => match (xs.first(), xs.last()) {
                (Some(a), Some(b)) => a.span().to(b.span()),
                _ => Span::default(),
            },
            Expr::Not(_, span) => *span,
            Expr::Compare(c) => c.span,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    In,
    NotIn,
    Contains,
    StartsWith,
    EndsWith,
    Like,
    Matches,
    Lt,
    Le,
    Gt,
    Ge,
    /// `exists f` (no value)
    Exists,
}

impl Op {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::In => "in",
            Op::NotIn => "not in",
            Op::Contains => "contains",
            Op::StartsWith => "startswith",
            Op::EndsWith => "endswith",
            Op::Like => "like",
            Op::Matches => "matches",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Exists => "exists",
        }
    }
}

/// `FIELD OP [cased] VALUE`, or `exists FIELD`; the value may name another field
/// ([`ValueKind::Field`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub field: Ident,
    pub op: Op,
    pub op_span: Span,
    pub cased: bool,
    /// `None` only for `exists`.
    pub value: Option<Value>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Having {
    /// Two or more operands, as for [`Expr::And`].
    And(Vec<Having>),
    Or(Vec<Having>),
    Term(HavingTerm),
}

/// `AGG(field?) OP number`
#[derive(Debug, Clone, PartialEq)]
pub struct HavingTerm {
    /// `count`, `distinct`, `sum`, `min`, `max` (checked later).
    pub func: Ident,
    pub field: Option<Ident>,
    pub op: Op,
    pub op_span: Span,
    pub value: Value,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Matches,
    Misses,
}

/// `test matches { field = value, ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    pub expect: Expect,
    pub fields: Vec<(Ident, Value)>,
    pub span: Span,
}

// ------------------------------------------------------------------------------------------
// Comparing trees without their spans (the formatter's round-trip tests, importers).

impl File {
    /// A copy with every span set to `Span::default()`: two files that say the same thing in
    /// different layouts are equal after this.
    pub fn without_spans(&self) -> File {
        let mut f = self.clone();
        for item in &mut f.items {
            match item {
                Item::List(l) => {
                    l.span = Span::default();
                    l.name.span = Span::default();
                    erase_value(&mut l.values);
                }
                Item::Rule(r) => erase_rule(r),
            }
        }
        f
    }
}

fn erase_rule(r: &mut Rule) {
    r.span = Span::default();
    r.name.span = Span::default();
    erase_value(&mut r.title);
    for m in &mut r.meta {
        m.key.span = Span::default();
        erase_value(&mut m.value);
    }
    match &mut r.body {
        Body::Single(q) => erase_query(q),
        Body::Aggregate {
            query,
            group_by,
            window,
            having,
        } => {
            erase_query(query);
            for k in group_by.iter_mut() {
                k.field.span = Span::default();
                if let Some(p) = &mut k.prefix {
                    p.span = Span::default();
                    erase_value(&mut p.v4);
                    erase_value(&mut p.v6);
                }
            }
            erase_value(window);
            erase_having(having);
        }
        Body::Sequence {
            by,
            within,
            steps,
            step_by,
            step_not,
            step_as,
        } => {
            by.iter_mut()
                .chain(step_by.iter_mut().flatten())
                .chain(step_as.iter_mut().flatten())
                .for_each(|i| i.span = Span::default());
            step_not
                .iter_mut()
                .flatten()
                .for_each(|s| *s = Span::default());
            erase_value(within);
            steps.iter_mut().for_each(erase_query);
        }
        Body::FirstSeen {
            query,
            field,
            by,
            lookback,
        } => {
            erase_query(query);
            field.span = Span::default();
            by.iter_mut().for_each(|i| i.span = Span::default());
            erase_value(lookback);
        }
    }
    for t in &mut r.tests {
        t.span = Span::default();
        for (f, v) in &mut t.fields {
            f.span = Span::default();
            erase_value(v);
        }
    }
}

fn erase_query(q: &mut Query) {
    q.source.span = Span::default();
    if let Some(e) = &mut q.condition {
        erase_expr(e);
    }
}

fn erase_expr(e: &mut Expr) {
    match e {
        Expr::And(xs) | Expr::Or(xs) => xs.iter_mut().for_each(erase_expr),
        Expr::Not(x, span) => {
            *span = Span::default();
            erase_expr(x);
        }
        Expr::Compare(c) => {
            c.span = Span::default();
            c.op_span = Span::default();
            c.field.span = Span::default();
            if let Some(v) = &mut c.value {
                erase_value(v);
            }
        }
    }
}

fn erase_having(h: &mut Having) {
    match h {
        Having::And(xs) | Having::Or(xs) => xs.iter_mut().for_each(erase_having),
        Having::Term(t) => {
            t.span = Span::default();
            t.op_span = Span::default();
            t.func.span = Span::default();
            if let Some(f) = &mut t.field {
                f.span = Span::default();
            }
            erase_value(&mut t.value);
        }
    }
}

fn erase_value(v: &mut Value) {
    v.span = Span::default();
    if let ValueKind::List(items) | ValueKind::Cidr(items) = &mut v.kind {
        items.iter_mut().for_each(erase_value);
    }
}
