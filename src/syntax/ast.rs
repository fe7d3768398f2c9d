//! The abstract syntax tree: what the text says, with byte spans, before any checking.

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

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

/// `list NAME = [ ... ]`
#[derive(Debug, Clone, PartialEq)]
pub struct ListDef {
    pub name: Ident,
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
    /// Both string forms, already unescaped.
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
}

/// What a rule selects and how it correlates.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// `from SOURCE [where COND]`
    Single(Query),
    /// `from SOURCE [where COND] group by F, ... window D having H`
    Aggregate {
        query: Query,
        group_by: Vec<Ident>,
        window: Value,
        having: Having,
    },
    /// `sequence by F, ... within D { SOURCE where COND ... }`
    Sequence {
        by: Vec<Ident>,
        within: Value,
        steps: Vec<Query>,
    },
    /// `from SOURCE [where COND] first seen F by K, ... lookback D`
    FirstSeen {
        query: Query,
        field: Ident,
        by: Vec<Ident>,
        lookback: Value,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub source: Ident,
    pub condition: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    /// `not EXPR`; the span covers the `not` keyword and its operand.
    Not(Box<Expr>, Span),
    Compare(Comparison),
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => a.span().to(b.span()),
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
    pub fn as_str(self) -> &'static str {
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

/// `FIELD OP [cased] VALUE`, or `exists FIELD`.
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
    And(Box<Having>, Box<Having>),
    Or(Box<Having>, Box<Having>),
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
