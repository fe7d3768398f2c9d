//! Correlation rules over an ordered stream of events: aggregation, sequence, absence,
//! first seen, with exactly the meaning `docs/CORRELATION.md` gives them. An absence raises
//! its alerts when its windows close ([`State::close`] at each event the rule reads,
//! [`State::finish`] at the end of the input), the other forms at the event that completes
//! them.
//!
//! A rule is prepared once ([`Correlation`]: the per-event conditions, with the same
//! [`Matcher`] single-event rules use) and its state ([`State`]) is fed the events in time
//! order. Telling what an event is to a rule ([`Correlation::fit`]) needs no state, so a
//! caller may do it in parallel; only [`State::advance`] is sequential. [`Correlator`] is the
//! two together. State expires with the window (lookback), so memory holds only the events
//! of the last window.

use super::{EvalError, Matcher, Typed, compared, compared_value, number, text, values};
use crate::ir::{self, NumOp, RuleKind};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};

/// One firing of a correlation rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert<T> {
    /// The group (aggregation) or key (sequence, first seen: the `by` fields, then the
    /// first-seen field) as field name → value text.
    pub(crate) group: Vec<(String, String)>,
    /// The ids of the contributing events in time order; the last one triggered the alert.
    /// Aggregation: the group's events in the window; sequence: one per step; first seen:
    /// the new event.
    pub(crate) events: Vec<T>,
}

impl<T> Alert<T> {
    /// The contributing events' ids (see the field).
    pub fn events(&self) -> &[T] {
        &self.events
    }
}

/// Which of a rule's queries (steps) an event meets; empty when none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fit(Vec<usize>);

impl Fit {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A correlation rule prepared for evaluation.
#[derive(Debug)]
pub struct Correlation {
    /// Each query's (step's) source and condition.
    queries: Vec<(String, Matcher)>,
    /// The window, `within` or lookback, in milliseconds.
    window: i64,
    form: Form,
}

#[derive(Debug)]
enum Form {
    Aggregate {
        group_by: Vec<String>,
        /// Per key, the `ip_prefix` that makes it the network of the field's address.
        networks: Vec<Option<ir::IpPrefix>>,
        having: Expr,
        terms: Vec<Term>,
    },
    Sequence {
        by: Vec<String>,
        /// Per step, the fields holding its key, when some step joins on fields of its own;
        /// empty when every step joins on the same fields (`by`'s).
        step_keys: Vec<Vec<String>>,
        /// An absence: step 1's events fire when no step-2 event follows them in time.
        absent: bool,
        /// Comparisons of a step-2 event with a step-1 event (two steps only).
        links: Vec<LinkTest>,
    },
    FirstSeen {
        field: String,
        by: Vec<String>,
    },
}

/// A step-2 event's `later` field compared with a step-1 event's `earlier` field
/// ([`ir::Link`]), as one event's two fields compare.
#[derive(Debug)]
struct LinkTest {
    later: String,
    earlier: String,
    op: NumOp,
    ty: ir::FieldType,
    fold: bool,
    negated: bool,
}

/// Whether every link holds between a step-2 event's values and a step-1 event's.
fn links_hold(links: &[LinkTest], later: &[[Option<Typed>; 2]], earlier: &[Option<Typed>]) -> bool {
    links
        .iter()
        .zip(later)
        .zip(earlier)
        .all(|((l, [mine, _]), theirs)| compared(mine, theirs, l.op) != l.negated)
}

#[derive(Debug)]
enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Term(usize),
}

#[derive(Debug)]
struct Term {
    agg: Agg,
    op: NumOp,
    value: f64,
}

#[derive(Debug)]
enum Agg {
    Count,
    Distinct(String),
    Sum(String),
    Min(String),
    Max(String),
}

/// An event's source is its `event.source` when it names one; an event that names none
/// belongs to every source (each query's or step's condition is tried).
pub fn named_source(event: &Value) -> impl Fn(&str) -> bool + '_ {
    let named: Vec<String> = values(event, "event.source")
        .into_iter()
        .filter_map(|v| text(v).map(|t| t.into_owned()))
        .collect();
    move |source: &str| named.is_empty() || named.iter().any(|n| n == source)
}

impl Correlation {
    /// Prepare a correlation rule; a single-event rule is an error (see [`Matcher`]).
    pub(crate) fn new(rule: &ir::Rule) -> Result<Correlation, EvalError> {
        let names = |fs: &[ir::Field]| fs.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
        let prepare = |qs: &[&ir::Query]| -> Result<Vec<(String, Matcher)>, EvalError> {
            qs.iter()
                .map(|q| Ok((q.source.clone(), Matcher::query(q)?)))
                .collect()
        };
        let ms =
            |d: &ir::Duration| i64::try_from(d.seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
        Ok(match &rule.kind {
            RuleKind::Single(_) => {
                return Err(EvalError {
                    span: rule.span,
                    message: "a single-event rule is evaluated event by event".into(),
                });
            }
            RuleKind::Aggregate {
                query,
                group_by,
                window,
                having,
            } => {
                let mut terms = Vec::new();
                let having = expr(having, &mut terms);
                Correlation {
                    queries: prepare(&[query])?,
                    window: ms(window),
                    form: Form::Aggregate {
                        group_by: group_by.iter().map(|k| k.field.name.clone()).collect(),
                        networks: group_by.iter().map(|k| k.prefix).collect(),
                        having,
                        terms,
                    },
                }
            }
            RuleKind::Sequence {
                by,
                within,
                steps,
                keys,
                absent,
                links,
                ..
            } => Correlation {
                queries: prepare(&steps.iter().collect::<Vec<_>>())?,
                window: ms(within),
                form: Form::Sequence {
                    by: names(by),
                    step_keys: if keys.windows(2).all(|w| w[0] == w[1]) {
                        Vec::new()
                    } else {
                        keys.iter().map(|k| names(k)).collect()
                    },
                    absent: *absent,
                    links: links
                        .iter()
                        .map(|l| {
                            let ir::Test::Field(op, other, case) = &l.atom.test else {
                                unreachable!("a link compares two fields")
                            };
                            LinkTest {
                                later: l.atom.field.name.clone(),
                                earlier: other.name.clone(),
                                op: *op,
                                ty: other.ty,
                                fold: *case == crate::base::Case::Insensitive,
                                negated: l.negated,
                            }
                        })
                        .collect(),
                },
            },
            RuleKind::FirstSeen {
                query,
                field,
                by,
                lookback,
                ..
            } => Correlation {
                queries: prepare(&[query])?,
                window: ms(lookback),
                form: Form::FirstSeen {
                    field: field.name.clone(),
                    by: names(by),
                },
            },
        })
    }

    /// The window (`within`, lookback) in milliseconds.
    #[cfg(test)]
    fn window_ms(&self) -> i64 {
        self.window
    }

    /// The sources of the rule's queries (steps), in order.
    pub(crate) fn sources(&self) -> impl Iterator<Item = &str> {
        self.queries.iter().map(|(s, _)| s.as_str())
    }

    /// Which queries (steps) the event meets: `admits(source)` says whether the event
    /// belongs to a source (see [`named_source`]), and the condition must hold.
    pub(crate) fn fit(&self, event: &Value, admits: impl Fn(&str) -> bool) -> Fit {
        self.fit_by(|_, (source, m)| admits(source) && m.matches(event))
    }

    /// Give the fields the queries read slots in `table` (see [`Matcher::intern`]).
    pub(crate) fn intern(&mut self, table: &mut super::FieldTable) {
        self.queries.iter_mut().for_each(|(_, m)| m.intern(table));
    }

    /// [`Correlation::fit`] on the values the table of [`Correlation::intern`] extracted;
    /// `admits(i)` says whether the event belongs to query (step) `i`'s source.
    pub(crate) fn fit_extracted(
        &self,
        event: &super::Extracted,
        mut admits: impl FnMut(usize) -> bool,
    ) -> Fit {
        self.fit_by(|i, (_, m)| admits(i) && m.matches_extracted(event))
    }

    fn fit_by(&self, mut meets: impl FnMut(usize, &(String, Matcher)) -> bool) -> Fit {
        Fit((0..self.queries.len())
            .filter(|&i| meets(i, &self.queries[i]))
            .collect())
    }

    /// What the rule's state needs of an event ([`Reading`]); it needs no state, so a
    /// caller may read events in parallel.
    pub(crate) fn read(&self, event: &Value) -> Reading {
        match &self.form {
            Form::Aggregate {
                group_by,
                networks,
                terms,
                ..
            } => Reading {
                keys: combine(group_by.iter().zip(networks).map(|(f, n)| match n {
                    None => texts(event, f),
                    Some(p) => network(event, f, *p).into_iter().collect(),
                })),
                steps: Vec::new(),
                values: terms
                    .iter()
                    .map(|term| match &term.agg {
                        Agg::Count => Part::None,
                        Agg::Distinct(f) => Part::Texts(texts(event, f)),
                        Agg::Sum(f) | Agg::Min(f) | Agg::Max(f) => {
                            Part::Numbers(values(event, f).into_iter().filter_map(number).collect())
                        }
                    })
                    .collect(),
                linked: Vec::new(),
            },
            Form::Sequence {
                by,
                step_keys,
                links,
                ..
            } => {
                let mut reading = if step_keys.is_empty() {
                    Reading {
                        keys: keys(event, by),
                        steps: Vec::new(),
                        values: Vec::new(),
                        linked: Vec::new(),
                    }
                } else {
                    sequence_reading(event, step_keys)
                };
                let value = |f: &str, l: &LinkTest| compared_value(event, f, l.ty, l.fold);
                reading.linked = links
                    .iter()
                    .map(|l| [value(&l.later, l), value(&l.earlier, l)])
                    .collect();
                reading
            }
            Form::FirstSeen { field, by } => Reading {
                keys: keys(event, by),
                steps: Vec::new(),
                values: vec![Part::Texts(texts(event, field))],
                linked: Vec::new(),
            },
        }
    }

    /// Whether the rule is an absence (`not` step): every event tells it that time passed.
    pub(crate) fn is_absence(&self) -> bool {
        matches!(self.form, Form::Sequence { absent: true, .. })
    }

    /// Whether the rule has key fields (else every event has the one empty key).
    pub(crate) fn is_keyed(&self) -> bool {
        match &self.form {
            Form::Aggregate { group_by: by, .. }
            | Form::Sequence { by, .. }
            | Form::FirstSeen { by, .. } => !by.is_empty(),
        }
    }

    /// Empty state for this rule; `T` is how the caller names an event (a line number, the
    /// event's text).
    pub(crate) fn state<T: Clone>(&self) -> State<T> {
        State {
            clock: Clock::default(),
            seq: 0,
            data: match &self.form {
                Form::Aggregate { .. } => Data::Aggregate {
                    groups: HashMap::new(),
                    expiry: VecDeque::new(),
                },
                Form::Sequence { absent: true, .. } => Data::Absence {
                    pending: HashMap::new(),
                    due: VecDeque::new(),
                    newest: None,
                },
                Form::Sequence { links, .. } if !links.is_empty() => Data::Linked {
                    waiting: HashMap::new(),
                    expiry: VecDeque::new(),
                },
                Form::Sequence { .. } => Data::Sequence {
                    keys: HashMap::new(),
                    expiry: VecDeque::new(),
                },
                Form::FirstSeen { .. } => Data::FirstSeen {
                    seen: HashMap::new(),
                    expiry: VecDeque::new(),
                    start: None,
                },
            },
        }
    }
}

fn expr(h: &ir::Having, terms: &mut Vec<Term>) -> Expr {
    match h {
        ir::Having::And(hs) => Expr::And(hs.iter().map(|h| expr(h, terms)).collect()),
        ir::Having::Or(hs) => Expr::Or(hs.iter().map(|h| expr(h, terms)).collect()),
        ir::Having::Term(t) => {
            let agg = match &t.agg {
                ir::Aggregate::Count => Agg::Count,
                ir::Aggregate::Distinct(f) => Agg::Distinct(f.name.clone()),
                ir::Aggregate::Sum(f) => Agg::Sum(f.name.clone()),
                ir::Aggregate::Min(f) => Agg::Min(f.name.clone()),
                ir::Aggregate::Max(f) => Agg::Max(f.name.clone()),
            };
            terms.push(Term {
                agg,
                op: t.op,
                value: t.value.as_f64(),
            });
            Expr::Term(terms.len() - 1)
        }
    }
}

/// A rule's time over a stream: the newest event time seen. Times never go back: an
/// earlier event counts as happening at the newest time.
#[derive(Debug, Default, Clone, Copy)]
pub struct Clock(Option<i64>);

impl Clock {
    /// Whether an event at `time` is earlier than the newest by more than the rule's
    /// window: its window is gone, and a caller reading unsorted input skips it.
    pub(crate) fn is_late(&self, rule: &Correlation, time: i64) -> bool {
        self.0.is_some_and(|n| n.saturating_sub(time) > rule.window)
    }

    /// Move to an event at `time`; the time it counts as happening at.
    pub(crate) fn tick(&mut self, time: i64) -> i64 {
        let t = self.0.map_or(time, |n| n.max(time));
        self.0 = Some(t);
        t
    }

    /// The newest time seen, if any.
    pub(crate) fn now(&self) -> Option<i64> {
        self.0
    }
}

/// The evolving state of one correlation rule over one stream.
#[derive(Debug)]
pub struct State<T> {
    clock: Clock,
    /// Events stored so far, to tell entries apart.
    seq: u64,
    data: Data<T>,
}

/// One value (as text) per key field, in the rule's order.
type Key = Vec<String>;

/// What a rule's state needs of one event: its keys (group or `by` values, one per
/// combination of array elements; none when a field is absent) and the values its
/// aggregates take (per `having` term), or its first-seen field's texts.
#[derive(Debug)]
pub struct Reading {
    pub(crate) keys: Vec<Key>,
    /// Per key, the sequence steps whose key fields hold it, when the steps join on
    /// different fields; empty: every key is every step's.
    steps: Vec<Vec<usize>>,
    values: Vec<Part>,
    /// Per link of a sequence: the event's value of its step-2 field and of its step-1
    /// field.
    linked: Vec<[Option<Typed>; 2]>,
}

/// The keys of an event of a sequence whose steps join on different fields: each step's
/// keys, a key held by several steps once, with the steps it is for.
fn sequence_reading(event: &Value, fields: &[Vec<String>]) -> Reading {
    let mut reading = Reading {
        keys: Vec::new(),
        steps: Vec::new(),
        values: Vec::new(),
        linked: Vec::new(),
    };
    for (step, f) in fields.iter().enumerate() {
        for key in keys(event, f) {
            match reading.keys.iter().position(|k| *k == key) {
                Some(at) => reading.steps[at].push(step),
                None => {
                    reading.keys.push(key);
                    reading.steps.push(vec![step]);
                }
            }
        }
    }
    reading
}

#[derive(Debug)]
enum Data<T> {
    Aggregate {
        groups: HashMap<Key, Group<T>>,
        /// Every stored entry's (time, group), oldest first: expiry visits only these.
        expiry: VecDeque<(i64, Key)>,
    },
    Sequence {
        keys: HashMap<Key, Vec<Option<Partial<T>>>>,
        /// Every partial sequence's (start, key), oldest first.
        expiry: VecDeque<(i64, Key)>,
    },
    /// A two-step sequence with links: each key's step-1 events within the window,
    /// oldest first. A step-2 event completes the newest one it meets the links with;
    /// that one and the older ones are used up (without links, only the newest waits).
    Linked {
        waiting: HashMap<Key, VecDeque<Waiting<T>>>,
        /// Every waiting event's (time, key), oldest first.
        expiry: VecDeque<(i64, Key)>,
    },
    /// An absence: the first-step events whose window has not closed, per key, oldest
    /// first, with their entry numbers.
    Absence {
        pending: HashMap<Key, VecDeque<(u64, Waiting<T>)>>,
        /// Every pending event's (time, key, entry number), oldest first: closing visits
        /// only these.
        due: VecDeque<(i64, Key, u64)>,
        /// The rule's time: the newest time of an event meeting one of its steps.
        newest: Option<i64>,
    },
    FirstSeen {
        /// (by values, first-seen value) → the latest time seen.
        seen: HashMap<(Key, String), i64>,
        expiry: VecDeque<(i64, (Key, String))>,
        /// The time of the first event: nothing is new until a whole lookback of history
        /// lies behind an event, as it always does for a scheduled SIEM search.
        start: Option<i64>,
    },
}

#[derive(Debug)]
struct Group<T> {
    entries: VecDeque<Entry<T>>,
    /// Whether `having` held when last observed (the rule fired and has not been false).
    firing: bool,
    aggs: Vec<AggState>,
}

#[derive(Debug)]
struct Entry<T> {
    seq: u64,
    id: T,
    /// Per term: distinct texts, or numbers.
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    None,
    Texts(Vec<String>),
    Numbers(Vec<f64>),
}

#[derive(Debug)]
enum AggState {
    Count,
    /// Text → how many entries in the window hold it.
    Distinct(HashMap<String, u32>),
    /// Sum, and how many numbers it adds.
    Sum(f64, u64),
    /// A monotonic queue of (entry seq, value): the front is the window's min (max).
    Extreme(VecDeque<(u64, f64)>, bool),
}

/// A step-1 event waiting for its step 2: its time, id and values of the links' step-1
/// fields.
#[derive(Debug)]
struct Waiting<T> {
    time: i64,
    id: T,
    values: Vec<Option<Typed>>,
}

#[derive(Debug)]
struct Partial<T> {
    start: i64,
    ids: Vec<T>,
}

impl<T: Clone> State<T> {
    /// The input's first event came at `time`, whether or not it meets the rule: a
    /// first-seen rule's warm-up counts from it (a caller that feeds only the events that
    /// meet a query says so here).
    pub(crate) fn begin(&mut self, time: i64) {
        if let Data::FirstSeen { start, .. } = &mut self.data {
            start.get_or_insert(time);
        }
    }

    /// Events held in the state (for tests of expiry): aggregation entries, partial
    /// sequences, or first-seen pairs.
    #[cfg(test)]
    fn size(&self) -> usize {
        match &self.data {
            Data::Aggregate { expiry, .. }
            | Data::Sequence { expiry, .. }
            | Data::Linked { expiry, .. } => expiry.len(),
            Data::Absence { due, .. } => due.len(),
            Data::FirstSeen { expiry, .. } => expiry.len(),
        }
    }

    /// Feed one event (its time, what [`Correlation::fit`] said of it, and its id) and get
    /// the alerts it raises. Events come in time order, equal times in input order; an
    /// event earlier than one already fed is taken to happen at that one's time.
    pub(crate) fn advance(
        &mut self,
        rule: &Correlation,
        event: &Value,
        time: i64,
        fit: &Fit,
        id: T,
    ) -> Vec<Alert<T>> {
        let reading = rule.read(event);
        let mut alerts = Vec::new();
        if !fit.is_empty() || rule.is_absence() {
            // An absence's windows that closed before this event fire first: the event
            // cannot follow them. Any event shows that time passed, as a SIEM's clock does.
            let t = self.clock.tick(time);
            alerts.extend(self.close(rule, t).into_iter().map(|(_, alert)| alert));
        }
        let raised = self.advance_keys(rule, &reading, time, fit, id, 0..reading.keys.len() as u32);
        alerts.extend(raised.into_iter().map(|(_, alert)| alert));
        alerts
    }

    /// An event meeting one of the rule's steps comes at `now` (the clock's time): an
    /// absence's first-step events whose window (t, t + W] ended before it fire, with
    /// their time, oldest first. Other forms raise nothing here.
    pub(crate) fn close(&mut self, rule: &Correlation, now: i64) -> Vec<(i64, Alert<T>)> {
        if let Data::Absence { newest, .. } = &mut self.data {
            *newest = Some(now);
        }
        self.fire_due(rule, now, false)
    }

    /// The end of the input: an absence's first-step events whose whole window the input
    /// covers (the rule's time has reached t + W) fire; the others cannot be judged yet.
    pub(crate) fn finish(&mut self, rule: &Correlation) -> Vec<(i64, Alert<T>)> {
        match self.data {
            Data::Absence {
                newest: Some(now), ..
            } => self.fire_due(rule, now, true),
            _ => Vec::new(),
        }
    }

    /// The alerts of the pending first-step events whose window is over at `now`: time has
    /// passed its end, or (`complete`, the input has ended) reached it.
    fn fire_due(&mut self, rule: &Correlation, now: i64, complete: bool) -> Vec<(i64, Alert<T>)> {
        let (Form::Sequence { by, .. }, Data::Absence { pending, due, .. }) =
            (&rule.form, &mut self.data)
        else {
            return Vec::new();
        };
        let mut alerts = Vec::new();
        while let Some((start, _, _)) = due.front() {
            let end = start.saturating_add(rule.window);
            if end > now || (end == now && !complete) {
                break;
            }
            let Some((start, key, seq)) = due.pop_front() else {
                break;
            };
            // A key's events are due in the order they came; a followed one is gone.
            let Some(waiting) = pending.get_mut(&key) else {
                continue;
            };
            if waiting.front().is_some_and(|(s, _)| *s == seq)
                && let Some((_, w)) = waiting.pop_front()
            {
                let alert = Alert {
                    group: by.iter().cloned().zip(key.iter().cloned()).collect(),
                    events: vec![w.id],
                };
                alerts.push((start, alert));
            }
            if waiting.is_empty() {
                pending.remove(&key);
            }
        }
        alerts
    }

    /// Forget what is older than the window before `t` (the clock's time now): the
    /// state then holds only what an event at `t` can meet. A first-seen rule's warm-up
    /// starts at the first time it is given.
    pub(crate) fn expire(&mut self, rule: &Correlation, t: i64) {
        let w = rule.window;
        match &mut self.data {
            Data::Aggregate { groups, expiry } => {
                // The window is (t − W, t]: drop entries at or before t − W.
                while let Some((old, _)) = expiry.front() {
                    if t.saturating_sub(*old) < w {
                        break;
                    }
                    let Some((_, key)) = expiry.pop_front() else {
                        break;
                    };
                    if let Some(g) = groups.get_mut(&key) {
                        g.pop_front();
                        if g.entries.is_empty() {
                            groups.remove(&key);
                        }
                    }
                }
            }
            Data::Sequence {
                keys: states,
                expiry,
            } => {
                // A partial sequence whose first event is more than W ago can never finish.
                while let Some((start, _)) = expiry.front() {
                    if t.saturating_sub(*start) <= w {
                        break;
                    }
                    let Some((_, key)) = expiry.pop_front() else {
                        break;
                    };
                    if let Some(stages) = states.get_mut(&key) {
                        for s in stages.iter_mut() {
                            if s.as_ref().is_some_and(|p| t.saturating_sub(p.start) > w) {
                                *s = None;
                            }
                        }
                        if stages.iter().all(Option::is_none) {
                            states.remove(&key);
                        }
                    }
                }
            }
            Data::Linked { waiting, expiry } => {
                while let Some((start, _)) = expiry.front() {
                    if t.saturating_sub(*start) <= w {
                        break;
                    }
                    let Some((_, key)) = expiry.pop_front() else {
                        break;
                    };
                    if let Some(events) = waiting.get_mut(&key) {
                        while events.front().is_some_and(|e| t.saturating_sub(e.time) > w) {
                            events.pop_front();
                        }
                        if events.is_empty() {
                            waiting.remove(&key);
                        }
                    }
                }
            }
            // Pending events leave when their window closes (`close`).
            Data::Absence { .. } => {}
            Data::FirstSeen {
                seen,
                expiry,
                start,
            } => {
                start.get_or_insert(t);
                // History is [t − L, t]: forget sightings before t − L.
                while let Some((old, _)) = expiry.front() {
                    if t.saturating_sub(*old) <= w {
                        break;
                    }
                    let Some((old, pair)) = expiry.pop_front() else {
                        break;
                    };
                    if seen.get(&pair) == Some(&old) {
                        seen.remove(&pair);
                    }
                }
            }
        }
    }

    /// [`State::advance`] on the event's [`Reading`], for some of its keys (their places
    /// in it): the alerts come with the place of the key that raised them, in order. What a
    /// key's state does depends only on that key's events and their times, so a rule's keys
    /// may be split among several states fed with the same clock (the times after
    /// clamping, and late events left out by the caller).
    pub(crate) fn advance_keys(
        &mut self,
        rule: &Correlation,
        event: &Reading,
        time: i64,
        fit: &Fit,
        id: T,
        keys: impl IntoIterator<Item = u32>,
    ) -> Vec<(u32, Alert<T>)> {
        let keys = keys.into_iter().map(|at| (at, &event.keys[at as usize]));
        let steps_of = |at: u32| event.steps.get(at as usize);
        let t = self.clock.tick(time);
        self.expire(rule, t);
        let mut alerts = Vec::new();
        if fit.is_empty() {
            return alerts;
        }
        match (&rule.form, &mut self.data) {
            (
                Form::Aggregate {
                    group_by,
                    having,
                    terms,
                    ..
                },
                Data::Aggregate { groups, expiry },
            ) => {
                for (at, key) in keys {
                    let g = groups.entry(key.clone()).or_insert_with(|| Group {
                        entries: VecDeque::new(),
                        firing: false,
                        aggs: terms
                            .iter()
                            .map(|term| match term.agg {
                                Agg::Count => AggState::Count,
                                Agg::Distinct(_) => AggState::Distinct(HashMap::new()),
                                Agg::Sum(_) => AggState::Sum(0.0, 0),
                                Agg::Min(_) => AggState::Extreme(VecDeque::new(), false),
                                Agg::Max(_) => AggState::Extreme(VecDeque::new(), true),
                            })
                            .collect(),
                    });
                    // Expiry may have made `having` false since the last event: observe it
                    // just before this event joins.
                    if !g.holds(having, terms) {
                        g.firing = false;
                    }
                    self.seq += 1;
                    g.push(Entry {
                        seq: self.seq,
                        id: id.clone(),
                        parts: event.values.clone(),
                    });
                    expiry.push_back((t, key.clone()));
                    if g.holds(having, terms) {
                        if !g.firing {
                            g.firing = true;
                            let alert = Alert {
                                group: group_by.iter().cloned().zip(key.clone()).collect(),
                                events: g.entries.iter().map(|e| e.id.clone()).collect(),
                            };
                            alerts.push((at, alert));
                        }
                    } else {
                        g.firing = false;
                    }
                }
            }
            (
                Form::Sequence { by, .. },
                Data::Sequence {
                    keys: states,
                    expiry,
                },
            ) => {
                let n = rule.queries.len();
                for (at, key) in keys {
                    let stages = states
                        .entry(key.clone())
                        .or_insert_with(|| (0..n.saturating_sub(1)).map(|_| None).collect());
                    // Later steps first, so an event that meets several steps advances the
                    // waiting sequences before it starts a new one, and is in each sequence
                    // at most once.
                    let mine = steps_of(at);
                    for &step in fit.0.iter().rev() {
                        if mine.is_some_and(|m| !m.contains(&step)) {
                            continue;
                        }
                        let partial = if step == 0 {
                            expiry.push_back((t, key.clone()));
                            Some(Partial {
                                start: t,
                                ids: vec![id.clone()],
                            })
                        } else {
                            stages[step - 1]
                                .take()
                                .filter(|p| t.saturating_sub(p.start) <= rule.window)
                                .map(|mut p| {
                                    p.ids.push(id.clone());
                                    p
                                })
                        };
                        let Some(p) = partial else { continue };
                        if step + 1 == n {
                            let alert = Alert {
                                group: by.iter().cloned().zip(key.clone()).collect(),
                                events: p.ids,
                            };
                            alerts.push((at, alert));
                        } else {
                            // A newer partial sequence replaces the one waiting at its step.
                            stages[step] = Some(p);
                        }
                    }
                    if stages.iter().all(Option::is_none) {
                        states.remove(key);
                    }
                }
            }
            (Form::Sequence { by, links, .. }, Data::Linked { waiting, expiry }) => {
                for (at, key) in keys {
                    let mine = steps_of(at);
                    // Step 2 first, so an event meeting both completes an earlier event
                    // before it waits itself.
                    for &step in fit.0.iter().rev() {
                        if mine.is_some_and(|m| !m.contains(&step)) {
                            continue;
                        }
                        if step == 0 {
                            waiting.entry(key.clone()).or_default().push_back(Waiting {
                                time: t,
                                id: id.clone(),
                                values: earlier_values(&event.linked),
                            });
                            expiry.push_back((t, key.clone()));
                            continue;
                        }
                        let Some(events) = waiting.get_mut(key) else {
                            continue;
                        };
                        let Some(j) = events.iter().rposition(|w| {
                            t.saturating_sub(w.time) <= rule.window
                                && links_hold(links, &event.linked, &w.values)
                        }) else {
                            continue;
                        };
                        let mut used: Vec<Waiting<T>> = events.drain(..=j).collect();
                        let first = used.pop().map(|w| w.id);
                        alerts.push((
                            at,
                            Alert {
                                group: by.iter().cloned().zip(key.clone()).collect(),
                                events: first.into_iter().chain([id.clone()]).collect(),
                            },
                        ));
                        if events.is_empty() {
                            waiting.remove(key);
                        }
                    }
                }
            }
            (Form::Sequence { links, .. }, Data::Absence { pending, due, .. }) => {
                for (at, key) in keys {
                    let mine = steps_of(at);
                    // The second step first: an event meeting both follows only earlier
                    // events, then waits itself.
                    for &step in fit.0.iter().rev() {
                        if mine.is_some_and(|m| !m.contains(&step)) {
                            continue;
                        }
                        if step == 1 {
                            // It follows the key's events in [t − W, t) that it meets the
                            // links with.
                            if let Some(waiting) = pending.get_mut(key) {
                                waiting.retain(|(_, w)| {
                                    !(w.time < t
                                        && t.saturating_sub(w.time) <= rule.window
                                        && links_hold(links, &event.linked, &w.values))
                                });
                                if waiting.is_empty() {
                                    pending.remove(key);
                                }
                            }
                        } else {
                            self.seq += 1;
                            pending.entry(key.clone()).or_default().push_back((
                                self.seq,
                                Waiting {
                                    time: t,
                                    id: id.clone(),
                                    values: earlier_values(&event.linked),
                                },
                            ));
                            due.push_back((t, key.clone(), self.seq));
                        }
                    }
                }
            }
            (
                Form::FirstSeen { field, by },
                Data::FirstSeen {
                    seen,
                    expiry,
                    start,
                },
            ) => {
                let warmed_up = start.is_some_and(|s| t.saturating_sub(s) >= rule.window);
                let firsts = match event.values.first() {
                    Some(Part::Texts(firsts)) => firsts.as_slice(),
                    _ => &[],
                };
                for (at, key) in keys {
                    for f in firsts {
                        let pair = (key.clone(), f.clone());
                        if warmed_up && !seen.contains_key(&pair) {
                            let mut group: Vec<(String, String)> =
                                by.iter().cloned().zip(key.iter().cloned()).collect();
                            group.push((field.clone(), f.clone()));
                            let alert = Alert {
                                group,
                                events: vec![id.clone()],
                            };
                            alerts.push((at, alert));
                        }
                        seen.insert(pair.clone(), t);
                        expiry.push_back((t, pair));
                    }
                }
            }
            _ => unreachable!("a rule's state is made by the rule"),
        }
        alerts
    }
}

impl<T> Group<T> {
    fn push(&mut self, e: Entry<T>) {
        for (agg, part) in self.aggs.iter_mut().zip(&e.parts) {
            match (agg, part) {
                (AggState::Distinct(counts), Part::Texts(ts)) => {
                    for t in ts {
                        *counts.entry(t.clone()).or_insert(0) += 1;
                    }
                }
                (AggState::Sum(sum, n), Part::Numbers(xs)) => {
                    *sum += xs.iter().sum::<f64>();
                    *n += xs.len() as u64;
                }
                (AggState::Extreme(queue, max), Part::Numbers(xs)) => {
                    let pick = if *max {
                        xs.iter().copied().reduce(f64::max)
                    } else {
                        xs.iter().copied().reduce(f64::min)
                    };
                    if let Some(x) = pick {
                        while queue
                            .back()
                            .is_some_and(|&(_, b)| if *max { b <= x } else { b >= x })
                        {
                            queue.pop_back();
                        }
                        queue.push_back((e.seq, x));
                    }
                }
                _ => {}
            }
        }
        self.entries.push_back(e);
    }

    fn pop_front(&mut self) {
        let Some(e) = self.entries.pop_front() else {
            return;
        };
        for (agg, part) in self.aggs.iter_mut().zip(&e.parts) {
            match (agg, part) {
                (AggState::Distinct(counts), Part::Texts(ts)) => {
                    for t in ts {
                        if let Some(c) = counts.get_mut(t) {
                            *c -= 1;
                            if *c == 0 {
                                counts.remove(t);
                            }
                        }
                    }
                }
                (AggState::Sum(sum, n), Part::Numbers(xs)) => {
                    *n -= xs.len() as u64;
                    // Start afresh when empty, so rounding never carries over.
                    *sum = if *n == 0 {
                        0.0
                    } else {
                        *sum - xs.iter().sum::<f64>()
                    };
                }
                (AggState::Extreme(queue, _), _)
                    if queue.front().is_some_and(|&(s, _)| s == e.seq) =>
                {
                    queue.pop_front();
                }
                _ => {}
            }
        }
    }

    /// Whether `having` holds over the group's entries; an empty group holds nothing.
    fn holds(&self, e: &Expr, terms: &[Term]) -> bool {
        if self.entries.is_empty() {
            return false;
        }
        match e {
            Expr::And(es) => es.iter().all(|e| self.holds(e, terms)),
            Expr::Or(es) => es.iter().any(|e| self.holds(e, terms)),
            Expr::Term(i) => {
                let term = &terms[*i];
                let value = match &self.aggs[*i] {
                    AggState::Count => Some(self.entries.len() as f64),
                    AggState::Distinct(counts) => Some(counts.len() as f64),
                    // No numbers: the aggregate is null and no comparison holds.
                    AggState::Sum(sum, n) => (*n > 0).then_some(*sum),
                    AggState::Extreme(queue, _) => queue.front().map(|&(_, x)| x),
                };
                value.is_some_and(|x| compare(x, term.op, term.value))
            }
        }
    }
}

/// The values of the links' step-1 fields in an event's reading.
fn earlier_values(linked: &[[Option<Typed>; 2]]) -> Vec<Option<Typed>> {
    linked.iter().map(|[_, earlier]| earlier.clone()).collect()
}

fn compare(x: f64, op: NumOp, n: f64) -> bool {
    match op {
        NumOp::Lt => x < n,
        NumOp::Le => x <= n,
        NumOp::Gt => x > n,
        NumOp::Ge => x >= n,
        NumOp::Eq => x == n,
        NumOp::Ne => x != n,
    }
}

/// A field's distinct values as text (strings as they are, numbers and booleans as JSON
/// writes them), each element of an array, in first-seen order.
fn texts(event: &Value, field: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values(event, field) {
        if let Some(t) = text(v)
            && !out.iter().any(|o| *o == t)
        {
            out.push(t.into_owned());
        }
    }
    out
}

/// The network (`ip_prefix`, README "Network keys") of the field's one address, as the
/// network address's text (RFC 5952 for IPv6). None when the field is absent, holds text
/// that is no address (as an Elasticsearch ip field indexes none: no spaces around it), or
/// several different addresses (a repeat counts once; `1.2.3.4` and `::ffff:1.2.3.4` are
/// one), as Elasticsearch's `IP_PREFIX` reads no value of several.
fn network(event: &Value, field: &str, prefix: ir::IpPrefix) -> Option<String> {
    let mut addresses = values(event, field).into_iter().map(|v| {
        let ip: std::net::IpAddr = text(v)?.parse().ok()?;
        Some(ip.to_canonical())
    });
    let first = addresses.next()??;
    for a in addresses {
        if a? != first {
            return None;
        }
    }
    Some(prefix.network(first).addr.to_string())
}

/// The event's keys: one value of each field, every combination of array elements; none
/// when a field is absent.
fn keys(event: &Value, fields: &[String]) -> Vec<Key> {
    combine(fields.iter().map(|f| texts(event, f)))
}

/// Every combination of one value per key.
fn combine(per_key: impl Iterator<Item = Vec<String>>) -> Vec<Key> {
    let mut out: Vec<Key> = vec![Vec::new()];
    for vs in per_key {
        out = out
            .into_iter()
            .flat_map(|k| {
                vs.iter().map(move |v| {
                    let mut k = k.clone();
                    k.push(v.clone());
                    k
                })
            })
            .collect();
    }
    out
}

/// A correlation rule and its state: feed events in time order, get alerts.
#[derive(Debug)]
pub struct Correlator<T> {
    rule: Correlation,
    state: State<T>,
}

impl<T: Clone> Correlator<T> {
    pub fn new(rule: &ir::Rule) -> Result<Correlator<T>, EvalError> {
        let rule = Correlation::new(rule)?;
        let state = rule.state();
        Ok(Correlator { rule, state })
    }

    /// Feed one event at `time_ms` (epoch milliseconds), named `id` in the alerts. The
    /// event's source is its `event.source` ([`named_source`]).
    pub fn push(&mut self, event: &Value, time_ms: i64, id: T) -> Vec<Alert<T>> {
        let fit = self.rule.fit(event, named_source(event));
        self.state.advance(&self.rule, event, time_ms, &fit, id)
    }

    /// The end of the input: the alerts only it can raise (an absence whose window the
    /// input covers, see [`State::finish`]).
    pub fn finish(&mut self) -> Vec<Alert<T>> {
        let closed = self.state.finish(&self.rule);
        closed.into_iter().map(|(_, alert)| alert).collect()
    }

    /// Events held in the state (for tests of expiry).
    #[cfg(test)]
    fn size(&self) -> usize {
        self.state.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::{self, Config};
    use serde_json::json;

    const ID: &str = "4c0b3f0e-8f4e-4d8e-9a63-2f3e0b6f6a11";

    fn rule(body: &str) -> ir::Rule {
        let text = format!("rule r \"t\" {{\n  id = \"{ID}\"\n  severity = low\n  {body}\n}}\n");
        let config = Config::load(&[], &[]).expect("config");
        let p = project::check_text("t.det", &text, &config);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        p.rules.into_iter().next().expect("a rule")
    }

    fn fixture(name: &str) -> ir::Rule {
        let config = Config::load(&[], &[]).expect("config");
        let text = include_str!("../../tests/fixtures/language/correlation.det");
        let p = project::check_text("c.det", text, &config);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        p.rules.into_iter().find(|r| r.name == name).expect("rule")
    }

    /// Alerts of the events (time in seconds in `t`), as (group values, event indices).
    fn run(rule: &ir::Rule, events: &[Value]) -> Vec<(Vec<String>, Vec<usize>)> {
        let mut c = Correlator::new(rule).expect("correlation");
        events
            .iter()
            .enumerate()
            .flat_map(|(i, e)| {
                let t = e["t"].as_i64().expect("t") * 1000;
                c.push(e, t, i)
            })
            .map(|a| (a.group.into_iter().map(|(_, v)| v).collect(), a.events))
            .collect()
    }

    fn agg_count() -> ir::Rule {
        rule(
            r#"from process_start where process.name == "a.exe"
  group by host.name window 10s
  having count() >= 3"#,
        )
    }

    fn p(t: i64, host: &str) -> Value {
        json!({"t": t, "event.source": "process_start", "process.name": "a.exe", "host.name": host})
    }

    #[test]
    fn aggregation_hit_under_threshold_and_window_boundary() {
        let r = agg_count();
        assert_eq!(
            run(&r, &[p(0, "h"), p(1, "h"), p(9, "h")]),
            [(vec!["h".to_string()], vec![0, 1, 2])]
        );
        // Two is under the threshold; other hosts and other processes do not count.
        let other = json!({"t": 2, "process.name": "b.exe", "host.name": "h"});
        let wrong_source =
            json!({"t": 2, "event.source": "dns_query", "process.name": "a.exe", "host.name": "h"});
        let no_key = json!({"t": 2, "process.name": "a.exe"});
        assert!(
            run(
                &r,
                &[p(0, "h"), p(1, "g"), other, wrong_source, no_key, p(2, "h")]
            )
            .is_empty()
        );
        // (t − W, t]: exactly W apart is outside, just under W inside.
        assert!(run(&r, &[p(0, "h"), p(5, "h"), p(10, "h")]).is_empty());
        let ms = |t: i64| json!({"process.name": "a.exe", "host.name": "h", "ms": t});
        let mut c = Correlator::new(&r).expect("c");
        let alerts: usize = [0, 5000, 9999]
            .iter()
            .map(|&t| c.push(&ms(t), t, t).len())
            .sum();
        assert_eq!(alerts, 1);
    }

    #[test]
    fn aggregation_fires_once_then_again_after_false() {
        let r = agg_count();
        let events: Vec<Value> = [0, 1, 2, 3, 4, 30, 31, 32]
            .iter()
            .map(|&t| p(t, "h"))
            .collect();
        let alerts = run(&r, &events);
        assert_eq!(alerts.len(), 2, "{alerts:?}");
        assert_eq!(alerts[1].1, [5, 6, 7]);
        // Expiry between events makes it false: (0, 1, 2) fire; at 11 only 2 and the first
        // 11 are in the window before the second 11 joins (false), then 2, 11, 11 hold.
        let alerts = run(
            &r,
            &[p(0, "h"), p(1, "h"), p(2, "h"), p(11, "h"), p(11, "h")],
        );
        assert_eq!(alerts.len(), 2, "{alerts:?}");
        // Arrays in the key: one group per element.
        let multi = json!({"t": 1, "process.name": "a.exe", "host.name": ["h", "g"]});
        let alerts = run(&r, &[p(0, "h"), p(0, "g"), multi, p(2, "g")]);
        assert_eq!(alerts, [(vec!["g".to_string()], vec![1, 2, 3])]);
    }

    #[test]
    fn distinct_with_arrays_and_exact_text() {
        let r = fixture("laptop_farm_shared_ip");
        let auth = |t: i64, user: Value| json!({"t": t, "event.source": "authentication", "event.outcome": "success", "source.ip": "1.2.3.4", "user.name": user});
        assert_eq!(
            run(&r, &[auth(0, json!("a")), auth(1, json!(["b", "c"]))]).len(),
            1
        );
        // Exact text: "A" and "a" are two values; repeats are one.
        assert_eq!(
            run(
                &r,
                &[
                    auth(0, json!("a")),
                    auth(1, json!("A")),
                    auth(2, json!("b"))
                ]
            )
            .len(),
            1
        );
        assert!(
            run(
                &r,
                &[
                    auth(0, json!("a")),
                    auth(1, json!(["a", "b"])),
                    auth(2, json!("b"))
                ]
            )
            .is_empty()
        );
        // Private addresses are excluded by the condition; null users are not values.
        let private =
            json!({"t": 3, "event.outcome": "success", "source.ip": "10.0.0.1", "user.name": "x"});
        assert!(
            run(
                &r,
                &[
                    auth(0, json!("a")),
                    auth(1, json!(null)),
                    private,
                    auth(4, json!("b"))
                ]
            )
            .is_empty()
        );
    }

    #[test]
    fn sum_min_max_with_numbers_as_strings() {
        let r = rule(
            r#"from web_request
  group by user.name window 1h
  having sum(http.request.bytes) > 100 and min(http.request.bytes) >= 10 and max(http.request.bytes) < 90"#,
        );
        let w =
            |t: i64, bytes: Value| json!({"t": t, "user.name": "u", "http.request.bytes": bytes});
        assert_eq!(
            run(
                &r,
                &[
                    w(0, json!(50)),
                    w(1, json!("40")),
                    w(2, json!("x")),
                    w(3, json!(20))
                ]
            )
            .len(),
            1
        );
        assert!(run(&r, &[w(0, json!(95)), w(1, json!(10))]).is_empty());
        assert!(run(&r, &[w(0, json!(5)), w(1, json!(80)), w(2, json!(80))]).is_empty());
        // The 5 leaves the window; what remains holds.
        assert_eq!(
            run(
                &r,
                &[w(0, json!(5)), w(3000, json!(80)), w(3600, json!(80))]
            )
            .len(),
            1
        );
    }

    fn seq(t: i64, step: usize, host: &str) -> Value {
        if step == 1 {
            json!({"t": t, "event.source": "usb_device", "device.vendor.name": "PiKVM", "host.name": host})
        } else {
            json!({"t": t, "event.source": "authentication", "event.outcome": "success", "logon.type": "interactive", "host.name": host})
        }
    }

    #[test]
    fn sequence_order_window_and_keys() {
        let r = fixture("ipkvm_then_logon");
        assert_eq!(
            run(&r, &[seq(0, 1, "h"), seq(60, 2, "h")]),
            [(vec!["h".to_string()], vec![0, 1])]
        );
        // Steps out of order.
        assert!(run(&r, &[seq(0, 2, "h"), seq(60, 1, "h")]).is_empty());
        // Exactly W apart is inside (≤ W); a second later is outside.
        assert_eq!(run(&r, &[seq(0, 1, "h"), seq(600, 2, "h")]).len(), 1);
        assert!(run(&r, &[seq(0, 1, "h"), seq(601, 2, "h")]).is_empty());
        // The same steps on different keys.
        assert!(run(&r, &[seq(0, 1, "h"), seq(60, 2, "g")]).is_empty());
        // Equal times keep input order.
        assert_eq!(run(&r, &[seq(5, 1, "h"), seq(5, 2, "h")]).len(), 1);
        assert!(run(&r, &[seq(5, 2, "h"), seq(5, 1, "h")]).is_empty());
        // A newer step 1 starts a new partial sequence; each step-2 event completes one.
        let alerts = run(
            &r,
            &[
                seq(0, 1, "h"),
                seq(500, 1, "h"),
                seq(700, 2, "h"),
                seq(710, 2, "h"),
            ],
        );
        assert_eq!(alerts, [(vec!["h".to_string()], vec![1, 2])]);
    }

    #[test]
    fn an_event_meeting_two_steps_joins_each_sequence_once() {
        let r = rule(
            r#"sequence by host.name within 1m {
    process_start where process.name == "a.exe"
    process_start where process.name == "a.exe"
  }"#,
        );
        let a = |t: i64| json!({"t": t, "process.name": "a.exe", "host.name": "h"});
        assert!(run(&r, &[a(0)]).is_empty());
        assert_eq!(
            run(&r, &[a(0), a(1), a(2)])
                .into_iter()
                .map(|(_, e)| e)
                .collect::<Vec<_>>(),
            [vec![0, 1], vec![1, 2]]
        );
    }

    fn signin(t: i64, user: &str, country: &str) -> Value {
        json!({"t": t, "event.source": "authentication", "event.outcome": "success", "user.name": user, "source.geo.country_iso_code": country})
    }

    #[test]
    fn first_seen_history_lookback_and_keys() {
        let r = fixture("new_signin_country");
        let day = 86_400;
        let l = 30 * day;
        let pair = |u: &str, c: &str| vec![u.to_string(), c.to_string()];
        // Within the first lookback of data nothing is known to be new (warm-up).
        assert!(run(&r, &[signin(0, "u", "FR"), signin(day, "u", "KP")]).is_empty());
        // After it, a new country fires.
        assert_eq!(
            run(&r, &[signin(0, "u", "FR"), signin(l, "u", "KP")]),
            [(pair("u", "KP"), vec![1])]
        );
        // A country seen within [t − L, t) does not; one seen only before t − L does.
        assert!(
            run(
                &r,
                &[
                    signin(0, "v", "X"),
                    signin(day, "u", "FR"),
                    signin(l + day, "u", "FR")
                ]
            )
            .is_empty()
        );
        assert_eq!(
            run(&r, &[signin(0, "u", "FR"), signin(l + 1, "u", "FR")]).len(),
            1
        );
        // Another user's history does not count.
        assert_eq!(
            run(&r, &[signin(0, "v", "FR"), signin(l, "u", "FR")]).len(),
            1
        );
        // Equal times: the earlier event in input order is history.
        assert_eq!(
            run(
                &r,
                &[
                    signin(0, "v", "X"),
                    signin(l, "u", "FR"),
                    signin(l, "u", "FR")
                ]
            )
            .len(),
            1
        );
        // Failed sign-ins are not history (but they are data: the warm-up counts from them).
        let failed = json!({"t": 0, "event.outcome": "failure", "user.name": "u", "source.geo.country_iso_code": "FR"});
        assert_eq!(run(&r, &[failed, signin(l, "u", "FR")]).len(), 1);
    }

    #[test]
    fn state_expires_over_a_long_stream() {
        let rules = [
            agg_count(),
            fixture("laptop_farm_shared_ip"),
            fixture("ipkvm_then_logon"),
            fixture("new_signin_country"),
        ];
        for r in &rules {
            let mut c: Correlator<u64> = Correlator::new(r).expect("c");
            let mut sizes = Vec::new();
            // A new key every 5 minutes, for 69 days: only the window's keys stay.
            for i in 0..20_000u64 {
                let t = i as i64 * 300;
                let key = format!("k{i}");
                let e = match i % 3 {
                    0 => {
                        json!({"t": t, "event.source": "usb_device", "device.vendor.name": "PiKVM", "host.name": key})
                    }
                    1 => {
                        json!({"t": t, "event.outcome": "success", "logon.type": "x", "host.name": key, "user.name": key, "source.ip": format!("1.2.{}.{}", i % 200, i % 250), "source.geo.country_iso_code": "FR", "process.name": "a.exe"})
                    }
                    _ => {
                        json!({"t": t, "process.name": "a.exe", "host.name": key, "event.outcome": "success", "user.name": "u", "source.ip": "8.8.8.8", "source.geo.country_iso_code": key})
                    }
                };
                c.push(&e, t * 1000, i);
                if i % 1_000 == 0 {
                    sizes.push(c.size());
                }
            }
            let window = c.rule.window_ms() / 300_000 + 1;
            assert!(
                sizes.iter().all(|&s| s as i64 <= window),
                "{}: {sizes:?} (window {window} events)",
                r.name
            );
        }
    }

    #[test]
    fn late_events_are_told_and_earlier_times_clamp() {
        let r = agg_count();
        let rule = Correlation::new(&r).expect("c");
        let mut s: State<usize> = rule.state();
        let e = p(0, "h");
        let fit = rule.fit(&e, named_source(&e));
        assert!(s.advance(&rule, &e, 100_000, &fit, 0).is_empty());
        assert!(!s.clock.is_late(&rule, 90_000));
        assert!(s.clock.is_late(&rule, 89_999));
        // Taken as at 100 s: the three are in one window.
        assert!(s.advance(&rule, &e, 95_000, &fit, 1).is_empty());
        assert_eq!(s.advance(&rule, &e, 100_000, &fit, 2).len(), 1);
        assert!(Correlation::new(&rule_single()).is_err());
    }

    fn rule_single() -> ir::Rule {
        rule(r#"from process_start where process.name == "a.exe""#)
    }
}
