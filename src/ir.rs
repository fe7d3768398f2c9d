//! The checked, normalised rule: every name resolved, every value typed, every operator
//! reduced to a small set of positive tests joined by `and`, `or`, `not`.

use crate::base::{Case, Cidr, Span, Wildcard};
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The stable key (`rmm_tool_started`).
    pub name: String,
    pub title: String,
    pub id: String,
    pub severity: Severity,
    pub status: Option<String>,
    pub attack: Vec<String>,
    /// The detection-catalog ideas the rule implements (`catalog = [A3]`).
    pub catalog: Vec<String>,
    pub tags: Vec<String>,
    pub(crate) description: Option<String>,
    pub false_positives: Vec<String>,
    pub references: Vec<String>,
    pub author: Option<String>,
    /// How often a scheduled SIEM search runs the rule (`schedule = 5m`), if the rule sets it.
    pub(crate) schedule: Option<Duration>,
    /// The time range a scheduled run searches (`lookback = 15m`), if the rule sets it
    /// (single-event rules only; a correlation rule's range follows from its window).
    pub(crate) lookback: Option<Duration>,
    /// How late events may arrive (`delay = 10m`): every scheduled run searches the range
    /// that ends this long before it runs, if the rule (or detc.toml) sets it.
    pub(crate) delay: Option<Duration>,
    /// What the alert shows (`fields = [user.name, host.name]`); empty: the defaults of
    /// [`Rule::alert_fields`].
    pub(crate) fields: Vec<Field>,
    /// Repeats of an alert for the same key are dropped for a while.
    pub(crate) suppress: Option<Suppress>,
    /// The targets the rule is deployed to (`targets = [splunk, elastic]`); empty: all.
    pub(crate) targets: Vec<String>,
    /// The day the rule was written and last changed (`date`, `modified`), `YYYY-MM-DD`.
    pub date: Option<String>,
    pub modified: Option<String>,
    /// The file the rule came from, as given on the command line.
    pub(crate) file: String,
    pub span: Span,
    pub kind: RuleKind,
    pub tests: Vec<TestCase>,
}

/// A time range that ends before a scheduled run: the `span` seconds that end `delay`
/// seconds before it, so an event that arrives up to `delay` late is still judged, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    pub(crate) span: u64,
    pub(crate) delay: u64,
}

impl Range {
    pub(crate) fn new(span: u64, delay: u64) -> Range {
        Range { span, delay }
    }

    /// How long before the run the range starts.
    pub(crate) fn start(self) -> u64 {
        self.span + self.delay
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub(crate) const ALL: [(&'static str, Severity); 5] = [
        ("informational", Severity::Informational),
        ("low", Severity::Low),
        ("medium", Severity::Medium),
        ("high", Severity::High),
        ("critical", Severity::Critical),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("", |(n, _)| n)
    }

    /// The risk score of an alert of this severity (0–100): Splunk Enterprise Security's
    /// risk scores by severity (docs/PACKAGING.md), and `rule.risk_score` on [`ALERTS`].
    pub(crate) fn risk_score(self) -> u8 {
        match self {
            Severity::Informational => 10,
            Severity::Low => 25,
            Severity::Medium => 50,
            Severity::High => 75,
            Severity::Critical => 100,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    Single(Query),
    Aggregate {
        query: Query,
        group_by: Vec<Key>,
        window: Duration,
        having: Having,
    },
    Sequence {
        /// The key as the results name it.
        by: Vec<Field>,
        within: Duration,
        steps: Vec<Query>,
        /// Per step, the fields of its source that hold the key, in `by`'s order: the step's
        /// own (`SOURCE by G, ...`), else `by` itself.
        keys: Vec<Vec<Field>>,
        /// An absence (`A  not B`, docs/CORRELATION.md): the last step is one that must not
        /// follow, and the rule fires for a first step it does not follow within `within`.
        /// The checker allows it only as the second of two steps.
        absent: bool,
        /// The comparisons of a step's event with an earlier step's (`f != NAME.g`).
        links: Vec<Link>,
        span: Span,
    },
    FirstSeen {
        query: Query,
        field: Field,
        by: Vec<Field>,
        lookback: Duration,
        span: Span,
    },
}

/// One key of an aggregation: a field's value, or the network of its address.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The field read; the results name the key after it.
    pub(crate) field: Field,
    pub(crate) prefix: Option<IpPrefix>,
}

/// `ip_prefix(F, v4, v6)` (README, "Network keys"): the network of an ip field's address,
/// its first `v4` bits for an IPv4 address (also one written IPv4-mapped, `::ffff:a.b.c.d`,
/// as Elasticsearch's ip type stores it) and its first `v6` bits for an IPv6 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpPrefix {
    pub(crate) v4: u8,
    pub(crate) v6: u8,
    pub(crate) span: Span,
}

impl IpPrefix {
    /// The network holding `ip`.
    pub(crate) fn network(self, ip: std::net::IpAddr) -> Cidr {
        let ip = ip.to_canonical();
        Cidr::of(ip, if ip.is_ipv4() { self.v4 } else { self.v6 })
    }
}

/// A span of time, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration {
    pub(crate) seconds: u64,
    pub(crate) span: Span,
}

impl fmt::Display for Duration {
    /// The language's own form in its largest whole unit (`30s`, `10m`, `24h`, `7d`), which
    /// KQL timespans and EQL `maxspan` also read.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, unit) = self.in_units(&[(86_400, "d"), (3_600, "h"), (60, "m")]);
        write!(f, "{n}{unit}")
    }
}

impl Duration {
    /// The duration in the largest of `units` (seconds per unit, name; largest first) that
    /// holds it a whole number of times, else in seconds: `(10, "m")`. Every form a target
    /// writes a duration in comes from here or [`Duration::iso8601`].
    pub(crate) fn in_units(self, units: &[(u64, &'static str)]) -> (u64, &'static str) {
        units
            .iter()
            .find(|(u, _)| self.seconds >= *u && self.seconds.is_multiple_of(*u))
            .map_or((self.seconds, "s"), |(u, name)| (self.seconds / u, name))
    }

    /// ISO-8601 (`PT5M`, `P14D`), as ARM templates and Sentinel's YAML read it.
    pub(crate) fn iso8601(self) -> String {
        let seconds = self.seconds;
        let (d, rest) = (seconds / 86_400, seconds % 86_400);
        let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
        let mut out = String::from("P");
        if d > 0 {
            out.push_str(&format!("{d}D"));
        }
        if rest > 0 || d == 0 {
            out.push('T');
            for (n, unit) in [(h, 'H'), (m, 'M'), (s, 'S')] {
                if n > 0 {
                    out.push_str(&format!("{n}{unit}"));
                }
            }
            if rest == 0 {
                out.push_str("0S");
            }
        }
        out
    }

    /// A length of time with no place in a file (computed ranges).
    pub(crate) fn of(seconds: u64) -> Duration {
        Duration {
            seconds,
            span: Span::default(),
        }
    }
}

/// One logical source and the condition its events must meet.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub source: String,
    pub(crate) source_span: Span,
    /// `None`: every event of the source.
    pub condition: Option<Cond>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Atom(Atom),
}

impl Cond {
    /// Every test, left to right.
    pub(crate) fn visit_atoms<'a>(&'a self, f: &mut impl FnMut(&'a Atom)) {
        match self {
            Cond::And(cs) | Cond::Or(cs) => cs.iter().for_each(|c| c.visit_atoms(f)),
            Cond::Not(c) => c.visit_atoms(f),
            Cond::Atom(a) => f(a),
        }
    }

    /// The first test that compares two fields (`a == b`), if any.
    pub(crate) fn field_comparison(&self) -> Option<&Atom> {
        let mut found = None;
        self.visit_atoms(&mut |a| {
            if found.is_none() && matches!(a.test, Test::Field(..)) {
                found = Some(a);
            }
        });
        found
    }
}

/// A comparison of a field of one step's event with a field of an earlier step's event
/// (`SOURCE as NAME` ... `f != NAME.g`): `atom` is a [`Test::Field`] whose field is the
/// later step's and whose other field is the earlier step's; `negated` for `!=`. The checker
/// allows it as an operand of the step condition's top-level `and`, in a sequence of two
/// steps (docs/CORRELATION.md, "Comparisons across steps").
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub(crate) step: usize,
    pub(crate) earlier: usize,
    pub(crate) atom: Atom,
    pub(crate) negated: bool,
}

/// One test of one field. Absent (missing or null) fields fail every test, so
/// `not` of a test is true for an absent field.
#[derive(Debug, Clone, PartialEq)]
pub struct Atom {
    pub(crate) field: Field,
    pub(crate) test: Test,
    /// The `tunable` list whose values the test holds (its defaults), which a target reads
    /// from the SIEM instead (`in` / `not in` on a string field only: E0206).
    pub(crate) tunable: Option<String>,
    /// The comparison in the source, for errors.
    pub(crate) span: Span,
}

impl Atom {
    /// The fields the test reads: its own, and the other one of a field comparison.
    pub(crate) fn fields(&self) -> impl Iterator<Item = &Field> {
        let other = match &self.test {
            Test::Field(_, other, _) => Some(other),
            _ => None,
        };
        std::iter::once(&self.field).chain(other)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The logical (ECS) name.
    pub(crate) name: String,
    pub(crate) ty: FieldType,
    pub(crate) span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldType {
    String,
    Number,
    Ip,
    Boolean,
}

impl FieldType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Ip => "ip",
            FieldType::Boolean => "boolean",
        }
    }
}

/// The positive tests; `!=` and `not in` are `not` of `Equals`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Test {
    /// Equal to any of the values (`==`, `in`). Strings only carry `case`.
    Equals(Vec<Scalar>, Case),
    /// Holds any of the substrings.
    Contains(Vec<String>, Case),
    StartsWith(Vec<String>, Case),
    EndsWith(Vec<String>, Case),
    /// Matches any of the wildcard patterns (whole value).
    Like(Vec<Wildcard>, Case),
    /// Matches the regular expression somewhere in the value.
    Matches(crate::pattern::Regex, Case),
    /// Numeric comparison (`<`, `<=`, `>`, `>=`; numeric `==` is `Equals`).
    Compare(NumOp, Number),
    /// IP address in any of the networks (also `==` on an ip field, as a host network).
    InCidr(Vec<Cidr>),
    /// Present: not null and not `""`.
    Exists,
    /// Compared with another field of the same event (`a == b`, `a > b`): `Eq` on any type
    /// (strings with `case`), `Lt`, `Le`, `Gt`, `Ge` on numbers; `!=` is `not` of `Eq`.
    /// Both fields must hold one value each (repeats of a value count once): an absent
    /// field, `""` or several different values fail the test (README, "Field comparisons").
    Field(NumOp, Field, Case),
}

impl Test {
    /// Whether the empty value `""` passes the test (`like "*"`, a regex matching `""`).
    /// The language reads `""` as absent, which fails every test, so each target guards
    /// such a test where its engine would see `""` as a value.
    pub(crate) fn passes_empty(&self) -> bool {
        match self {
            Test::Equals(vs, _) => vs
                .iter()
                .any(|v| matches!(v, Scalar::Str(s) if s.is_empty())),
            Test::Contains(vs, _) | Test::StartsWith(vs, _) | Test::EndsWith(vs, _) => {
                vs.iter().any(String::is_empty)
            }
            Test::Like(ws, _) => ws.iter().any(Wildcard::matches_empty),
            Test::Matches(re, _) => re.matches_empty(),
            Test::Compare(..) | Test::InCidr(_) | Test::Exists | Test::Field(..) => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl NumOp {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            NumOp::Lt => "<",
            NumOp::Le => "<=",
            NumOp::Gt => ">",
            NumOp::Ge => ">=",
            NumOp::Eq => "==",
            NumOp::Ne => "!=",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    Num(Number),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            // Always with a point or exponent so every target reads a float.
            Number::Float(x) => write!(f, "{x:?}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Having {
    And(Vec<Having>),
    Or(Vec<Having>),
    Term(HavingTerm),
}

impl Having {
    /// The fields its aggregates read.
    pub(crate) fn visit_fields<'a>(&'a self, f: &mut impl FnMut(&'a Field)) {
        match self {
            Having::And(hs) | Having::Or(hs) => hs.iter().for_each(|h| h.visit_fields(f)),
            Having::Term(t) => match &t.agg {
                Aggregate::Count => {}
                Aggregate::Distinct(x)
                | Aggregate::Sum(x)
                | Aggregate::Min(x)
                | Aggregate::Max(x) => f(x),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HavingTerm {
    pub(crate) agg: Aggregate,
    pub op: NumOp,
    pub value: Number,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Aggregate {
    Count,
    Distinct(Field),
    Sum(Field),
    Min(Field),
    Max(Field),
}

/// A single-event test case written in the rule.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    pub expect_match: bool,
    /// Logical field name → value, in the order written.
    pub(crate) event: Vec<(String, TestValue)>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TestValue {
    Scalar(Scalar),
    List(Vec<Scalar>),
}

/// `suppress = D` (and `suppress_by = [...]`): after an alert, further alerts with the same
/// values of `by` are dropped for `duration`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Suppress {
    pub(crate) duration: Duration,
    /// Never empty: `suppress_by`, or the correlation keys.
    pub(crate) by: Vec<Field>,
}

/// How often a single-event rule runs when it sets no `schedule`.
pub(crate) const SINGLE_SCHEDULE: u64 = 300;
/// How often a first-seen rule runs when it sets no `schedule`.
pub(crate) const FIRST_SEEN_SCHEDULE: u64 = 3600;
/// How late an event may arrive when neither the rule nor detc.toml sets `delay`: Splunk's
/// own detections search up to 10 minutes before each run (docs/PACKAGING.md, late events).
pub(crate) const DEFAULT_DELAY: u64 = 600;

impl Rule {
    /// How often a scheduled search runs the rule, in seconds: `schedule`, or the form's
    /// default (docs/CORRELATION.md): 5m for single events, W / 4 but at least 5m for an
    /// aggregation and an absence, W for a sequence, 1h for first seen.
    pub(crate) fn schedule(&self) -> u64 {
        if let Some(s) = self.schedule {
            return s.seconds;
        }
        match &self.kind {
            RuleKind::Single(_) => SINGLE_SCHEDULE,
            RuleKind::Aggregate { window: w, .. }
            | RuleKind::Sequence {
                within: w,
                absent: true,
                ..
            } => (w.seconds / 4).max(SINGLE_SCHEDULE),
            RuleKind::Sequence { within, .. } => within.seconds,
            RuleKind::FirstSeen { .. } => FIRST_SEEN_SCHEDULE,
        }
    }

    /// The time range a scheduled run searches, in seconds, ending at the run: `lookback`
    /// or the schedule for single events; for correlation, what the compiled query itself
    /// covers (W for an aggregation, W + schedule for a sequence or an absence, L + schedule
    /// for first seen).
    pub(crate) fn lookback(&self) -> u64 {
        match &self.kind {
            RuleKind::Single(_) => self.lookback.map_or(self.schedule(), |l| l.seconds),
            RuleKind::Aggregate { window, .. } => window.seconds,
            RuleKind::Sequence { within, .. } => within.seconds + self.schedule(),
            RuleKind::FirstSeen { lookback, .. } => lookback.seconds + self.schedule(),
        }
    }

    /// How late events may arrive, in seconds: each scheduled run searches the range that
    /// ends this long before the run (docs/CORRELATION.md, late events).
    pub(crate) fn delay(&self) -> u64 {
        self.delay.map_or(DEFAULT_DELAY, |d| d.seconds)
    }

    /// The range a scheduled run searches: the last [`Rule::lookback`] before [`Rule::delay`].
    pub(crate) fn range(&self) -> Range {
        Range {
            span: self.lookback(),
            delay: self.delay(),
        }
    }

    /// Whether the rule is deployed to the target named `target`.
    pub fn deploys_to(&self, target: &str) -> bool {
        self.targets.is_empty() || self.targets.iter().any(|t| t == target)
    }

    /// The rule's stage: the tag after [`LIBRARY_TAG`], else the name of its folder.
    pub(crate) fn stage(&self) -> String {
        if let Some(i) = self.tags.iter().position(|t| t == LIBRARY_TAG)
            && let Some(next) = self.tags.get(i + 1)
        {
            return next.clone();
        }
        std::path::Path::new(&self.file)
            .parent()
            .and_then(std::path::Path::file_name)
            .map_or_else(|| "other".to_string(), |n| n.to_string_lossy().into_owned())
    }

    /// Whether a query of the rule reads the other rules' alerts.
    pub(crate) fn reads_alerts(&self) -> bool {
        self.kind.queries().iter().any(|q| q.source == ALERTS)
    }

    /// This rule's values of the [`RULE_FACTS`] fields, in their order.
    pub(crate) fn facts(&self) -> [Scalar; 5] {
        [
            Scalar::Str(self.name.clone()),
            Scalar::Str(self.id.clone()),
            Scalar::Str(self.stage()),
            Scalar::Str(self.severity.as_str().into()),
            Scalar::Num(Number::Int(self.severity.risk_score().into())),
        ]
    }
}

/// The tag every library rule carries; the tag after it names the rule's stage.
pub(crate) const LIBRARY_TAG: &str = "dprk.it_worker";

/// The source that holds the alerts the other rules raise (docs/CORRELATION.md, "Alerts").
pub(crate) const ALERTS: &str = "alerts";

/// The fields of [`ALERTS`] that name an alert's entity. A SIEM's alert store holds one
/// record per alert (Elastic, Sentinel) or per entity (Splunk's risk events), so a rule over
/// alerts reads one of them, which both shapes answer alike.
pub(crate) const ALERT_ENTITIES: [&str; 2] = ["user.name", "host.name"];

/// What an alert on [`ALERTS`] says of the rule that raised it (schema.yaml): every target
/// computes these from the rule's identity in its alert store ([`Rule::facts`]).
pub(crate) const RULE_FACTS: [(&str, FieldType); 5] = [
    ("rule.name", FieldType::String),
    ("rule.id", FieldType::String),
    ("rule.category", FieldType::String),
    ("rule.severity", FieldType::String),
    ("rule.risk_score", FieldType::Number),
];

impl RuleKind {
    /// The fields a correlation rule's result rows hold: its keys (and, for first seen, the
    /// field). `None` for a single-event rule, whose results are whole events.
    pub(crate) fn result_fields(&self) -> Option<Vec<Field>> {
        match self {
            RuleKind::Single(_) => None,
            RuleKind::Aggregate { group_by, .. } => {
                Some(group_by.iter().map(|k| k.field.clone()).collect())
            }
            RuleKind::Sequence { by, .. } => Some(by.clone()),
            RuleKind::FirstSeen { field, by, .. } => {
                Some(by.iter().chain([field]).cloned().collect())
            }
        }
    }

    /// The field of the rule's first query (step) that holds `field` of its results: for a
    /// sequence's key, the first step's own key field; else `field` itself.
    pub(crate) fn first_query_field<'a>(&'a self, field: &'a Field) -> &'a Field {
        match self {
            RuleKind::Sequence { by, keys, .. } => by
                .iter()
                .position(|k| k.name == field.name)
                .map_or(field, |j| &keys[0][j]),
            _ => field,
        }
    }

    /// The rule's queries: one, or a sequence's steps in order.
    pub fn queries(&self) -> &[Query] {
        match self {
            RuleKind::Single(q)
            | RuleKind::Aggregate { query: q, .. }
            | RuleKind::FirstSeen { query: q, .. } => std::slice::from_ref(q),
            RuleKind::Sequence { steps, .. } => steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_durations() {
        for (s, iso) in [
            (300, "PT5M"),
            (3600, "PT1H"),
            (5400, "PT1H30M"),
            (86_400, "P1D"),
            (14 * 86_400, "P14D"),
            (86_400 + 60, "P1DT1M"),
            (45, "PT45S"),
            (0, "PT0S"),
        ] {
            assert_eq!(Duration::of(s).iso8601(), iso);
        }
    }

    #[test]
    fn durations_print_in_their_largest_whole_unit() {
        let forms: Vec<String> = [30, 600, 5400, 86_400, 90_000]
            .map(|s| Duration::of(s).to_string())
            .into();
        assert_eq!(forms, ["30s", "10m", "90m", "1d", "25h"]);
        assert_eq!(
            Duration::of(7200).in_units(&[(3600, "h"), (60, "m")]),
            (2, "h")
        );
        assert_eq!(Duration::of(86_400).in_units(&[(3600, "h")]), (24, "h"));
    }
}
