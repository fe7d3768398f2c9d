//! The `hunt` stage: NDJSON events through the rules, on every core, in bounded memory.
//!
//! Single-event rules are one plan: the fields they read are extracted once per event, and
//! literal prefilters ([`prefilter`]) leave out the rules an event cannot match, before
//! parsing when the line shows it ([`plain`]).
//!
//! A reader thread cuts the input into batches of lines (gunzipping on the fly); each batch
//! is judged on all cores with rayon, and its matches are written in input order before the
//! next batch is judged. So the output is the same on every run, and memory holds a few
//! batches, however long the input.
//!
//! Correlation rules need the events in order: the parallel pass tells which of a rule's
//! queries (steps) an event meets, reads its `@timestamp` and its keys (group or `by`
//! values); after the batch, each rule's clock takes its events in input order, and then
//! every rule's state advances, split by key into one part per core, all parts in parallel
//! (a key's state never meets another's); the alerts are written in input order. The
//! input is taken to be in time order: an event earlier than the newest one a rule has seen
//! counts as happening at that newest time, and one earlier by more than the rule's window
//! (lookback) is late, counted and skipped by that rule. State expires with the window, so
//! memory holds the last window's matching events.

use crate::eval::{
    self, Clock, Correlation, Extracted, FieldTable, Fit, Matcher, Reading, Slot, State,
};
use crate::ir;
use crate::schema::Mapping;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::fmt;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A batch ends at this many lines or bytes, whichever comes first: big enough to keep
/// every core busy, small enough that three batches in flight stay a few tens of MB.
const BATCH_LINES: usize = 16_384;
const BATCH_BYTES: usize = 8 << 20;
/// A longer line is malformed; it is skipped without being held in memory.
pub(crate) const MAX_LINE: usize = 64 << 20;
/// Malformed lines reported one by one; the rest are only counted.
const SHOWN_MALFORMED: u64 = 20;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const BOM: &[u8] = b"\xEF\xBB\xBF";

mod alerts;
mod plain;
mod prefilter;

use prefilter::Prefilter;

/// The rules prepared for evaluation, in name order (the order of the output).
pub struct Hunter {
    rules: Vec<Hunted>,
    /// The rules' sources, each once: an event is routed to each once.
    sources: Vec<Source>,
    correlations: Vec<Correlated>,
    /// Every field a single-event rule reads, extracted once per event.
    fields: FieldTable,
    prefilter: Prefilter,
    /// The rules over the others' alerts, run once these rules have raised theirs.
    alerts: Option<Box<alerts::Stage>>,
    /// Whether a correlation rule is an absence, which reads every event's time.
    absences: bool,
}

/// A correlation rule and the sources of its queries (steps).
struct Correlated {
    name: String,
    id: String,
    severity: &'static str,
    title: String,
    rule: Correlation,
    /// Per query (step), its source's index in [`Hunter::sources`].
    sources: Vec<usize>,
}

struct Hunted {
    name: String,
    id: String,
    severity: &'static str,
    title: String,
    matcher: Matcher,
    /// Index in [`Hunter::sources`].
    source: usize,
}

/// Which events a rule's compiled queries would see: those of its logical source.
struct Source {
    name: String,
    /// The slots of `event.source` and `event.category`.
    named: Slot,
    category_slot: Slot,
    /// The Elastic mapping's event category and exact filters (ECS fields, by slot), which
    /// tell an ECS event's source when it does not name one.
    category: Option<String>,
    filter: Vec<(Slot, Vec<String>)>,
}

impl Source {
    fn new(name: &str, ecs: &Mapping, fields: &mut FieldTable) -> Source {
        let m = ecs.sources.get(name);
        Source {
            name: name.to_string(),
            named: fields.slot("event.source"),
            category_slot: fields.slot("event.category"),
            category: m.and_then(|m| m.category.clone()),
            filter: m
                .and_then(|m| m.filter.as_ref())
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    let want = v.values().iter().map(|v| v.to_string()).collect();
                    (fields.slot(k), want)
                })
                .collect(),
        }
    }

    /// An event that names its source (`event.source`) belongs to that one; else an event
    /// with an `event.category` belongs to the sources whose Elastic category and filters
    /// it carries; an event with neither is tried against every rule.
    fn admits(&self, event: &Extracted) -> bool {
        // Strings and numbers, as the SIEMs compare these fields.
        let texts = |slot: Slot| {
            event.slot(slot).iter().filter_map(|leaf| match leaf.value {
                Value::String(_) | Value::Number(_) => leaf.text(),
                _ => None,
            })
        };
        if !event.slot(self.named).is_empty() {
            return texts(self.named).any(|s| s == self.name);
        }
        let mut categories = texts(self.category_slot).peekable();
        if categories.peek().is_none() {
            return true;
        }
        let category_fits = match self.category.as_deref() {
            None | Some("any") => true,
            Some(c) => categories.any(|e| e == c),
        };
        category_fits
            && self
                .filter
                .iter()
                .all(|(slot, want)| texts(*slot).any(|v| want.iter().any(|w| w == v)))
    }
}

/// One output line; fields serialize in this order.
#[derive(Serialize)]
struct Match<'a> {
    rule: &'a str,
    id: &'a str,
    severity: &'a str,
    title: &'a str,
    event: &'a RawValue,
}

/// One correlation alert line; fields serialize in this order.
#[derive(Serialize)]
struct AlertLine<'a> {
    rule: &'a str,
    id: &'a str,
    severity: &'a str,
    title: &'a str,
    group: serde_json::Map<String, Value>,
    /// The contributing events as read, in time order; the last one triggered the alert.
    events: Vec<&'a RawValue>,
}

/// What one input line turned out to be.
enum Verdict {
    Blank,
    Malformed(String),
    /// An event, with the indices of the single-event rules it matches and, when it meets a
    /// query of a correlation rule, what the correlation rules need.
    Event(Vec<u32>, Option<Box<Correlating>>),
}

/// An event that meets a query (step) of some correlation rule.
struct Correlating {
    /// The event as read, shared by the alerts it contributes to.
    raw: Arc<Box<RawValue>>,
    time: Result<i64, eval::TimeError>,
    meets: Vec<Meets>,
}

/// What an event is to one correlation rule whose query (step) it meets.
struct Meets {
    /// The rule's index in [`Hunter::correlations`].
    rule: usize,
    fit: Fit,
    /// What the rule's state needs of the event, read on every core.
    reading: Reading,
}

impl Hunter {
    /// The hunter, and one message per rule that cannot be evaluated. `ecs` tells ECS
    /// events' sources apart by category and filter ([`crate::project::Config::ecs`]).
    pub fn new(rules: &[ir::Rule], ecs: &Mapping) -> (Hunter, Vec<String>) {
        let (readers, raisers): (Vec<ir::Rule>, Vec<ir::Rule>) =
            rules.iter().cloned().partition(ir::Rule::reads_alerts);
        let (mut hunter, mut skipped) = Hunter::plain(&raisers, ecs);
        hunter.alerts = alerts::Stage::new(&readers, &raisers, ecs, &mut skipped).map(Box::new);
        (hunter, skipped)
    }

    /// The hunter of `rules` alone, none of which reads alerts.
    fn plain(rules: &[ir::Rule], ecs: &Mapping) -> (Hunter, Vec<String>) {
        let mut skipped = Vec::new();
        let mut fields = FieldTable::default();
        let mut sources: Vec<Source> = Vec::new();
        let mut source =
            |name: &str, fields: &mut FieldTable| match sources.iter().position(|s| s.name == name)
            {
                Some(at) => at,
                None => {
                    sources.push(Source::new(name, ecs, fields));
                    sources.len() - 1
                }
            };
        let mut rules: Vec<&ir::Rule> = rules.iter().collect();
        rules.sort_by(|a, b| a.name.cmp(&b.name));
        let mut hunted = Vec::new();
        let mut correlations = Vec::new();
        for r in rules {
            match (Matcher::new(r), &r.kind) {
                (Ok(mut matcher), ir::RuleKind::Single(q)) => {
                    matcher.intern(&mut fields);
                    hunted.push(Hunted {
                        name: r.name.clone(),
                        id: r.id.clone(),
                        severity: r.severity.as_str(),
                        title: r.title.clone(),
                        matcher,
                        source: source(&q.source, &mut fields),
                    });
                }
                (Ok(_), _) => {}
                (Err(_), _) => match Correlation::new(r) {
                    Ok(mut rule) => {
                        rule.intern(&mut fields);
                        correlations.push(Correlated {
                            name: r.name.clone(),
                            id: r.id.clone(),
                            severity: r.severity.as_str(),
                            title: r.title.clone(),
                            sources: rule.sources().map(|s| source(s, &mut fields)).collect(),
                            rule,
                        });
                    }
                    Err(e) => skipped.push(format!("rule {}: {}; skipped", r.name, e.message)),
                },
            }
        }
        let prefilter = Prefilter::new(hunted.iter().map(|h| &h.matcher), &mut fields);
        let absences = correlations.iter().any(|c| c.rule.is_absence());
        (
            Hunter {
                rules: hunted,
                sources,
                correlations,
                fields,
                prefilter,
                alerts: None,
                absences,
            },
            skipped,
        )
    }

    /// The number of rules, single-event and correlation, and those over alerts.
    pub(crate) fn len(&self) -> usize {
        self.rules.len()
            + self.correlations.len()
            + self.alerts.as_ref().map_or(0, |a| a.hunter.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every rule of this stage with no matches yet, for the summary.
    fn per_rule(&self) -> Vec<(String, u64)> {
        self.rules
            .iter()
            .map(|r| r.name.clone())
            .chain(self.correlations.iter().map(|c| c.name.clone()))
            .map(|n| (n, 0))
            .collect()
    }

    /// Whether the event belongs to source `at` (told once per event and source).
    fn admits(&self, at: usize, event: &Extracted, admitted: &mut [Option<bool>]) -> bool {
        *admitted[at].get_or_insert_with(|| self.sources[at].admits(event))
    }

    /// Which queries (steps) of which correlation rules the event meets, and its keys.
    fn meets(
        &self,
        event: &Value,
        extracted: &Extracted,
        admitted: &mut [Option<bool>],
    ) -> Vec<Meets> {
        self.correlations
            .iter()
            .enumerate()
            .filter_map(|(rule, c)| {
                let fit = c.rule.fit_extracted(extracted, |query| {
                    self.admits(c.sources[query], extracted, admitted)
                });
                (!fit.is_empty()).then(|| Meets {
                    rule,
                    fit,
                    reading: c.rule.read(event),
                })
            })
            .collect()
    }

    /// What the correlation rules need of an event, if it meets any of their queries.
    fn correlating(
        &self,
        event: &Value,
        meets: Vec<Meets>,
        text: &[u8],
    ) -> Option<Box<Correlating>> {
        // An absence rule hears of every timed event: each shows that time passed.
        if meets.is_empty() && !self.absences {
            return None;
        }
        let time = eval::event_time(event);
        if meets.is_empty() && time.is_err() {
            return None;
        }
        Some(Box::new(Correlating {
            time,
            raw: Arc::new(raw_value(text)?.to_owned()),
            meets,
        }))
    }

    /// Whether plain lines are searched raw (every rule has literals a line shows).
    #[cfg(test)]
    fn prefilter_reads_lines(&self) -> bool {
        self.prefilter.reads_lines()
    }

    fn judge(&self, line: &[u8]) -> Verdict {
        let text = line.trim_ascii();
        if text.is_empty() {
            return Verdict::Blank;
        }
        // Correlation rules read every event of their sources, so the line cannot decide.
        let from_line = if self.correlations.is_empty() {
            self.prefilter.line(text)
        } else {
            None
        };
        if from_line.as_ref().is_some_and(Vec::is_empty) {
            return Verdict::Event(Vec::new(), None);
        }
        match serde_json::from_slice::<Value>(text) {
            Ok(event @ Value::Object(_)) => {
                let extracted = self.fields.extract(&event);
                let candidates = from_line.unwrap_or_else(|| self.prefilter.event(&extracted));
                let mut admitted = vec![None; self.sources.len()];
                let singles = candidates
                    .into_iter()
                    .filter(|&i| {
                        let rule = &self.rules[i as usize];
                        self.admits(rule.source, &extracted, &mut admitted)
                            && rule.matcher.matches_extracted(&extracted)
                    })
                    .collect();
                let meets = self.meets(&event, &extracted, &mut admitted);
                let correlating = self.correlating(&event, meets, text);
                Verdict::Event(singles, correlating)
            }
            Ok(other) => {
                Verdict::Malformed(format!("expected a JSON object, found {}", kind(&other)))
            }
            Err(e) => Verdict::Malformed(without_line(&e)),
        }
    }
}

/// A line that parsed as a JSON object as it was read (so it is UTF-8 and a raw value).
fn raw_value(text: &[u8]) -> Option<&RawValue> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| serde_json::from_str(t).ok())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// serde's message without its "line 1" (the line is the input's, reported separately).
fn without_line(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match msg.strip_suffix(&suffix) {
        Some(head) => format!("{head} at column {}", e.column()),
        None => msg,
    }
}

/// The events to read: a file, or stdin; gzip is recognised by its magic bytes.
pub struct Events {
    name: String,
    reader: Box<dyn Read + Send>,
    /// The size of a plain file, for a bytes-based progress bar.
    size: Option<u64>,
    /// Bytes taken from the file or stdin so far (compressed bytes for gzip).
    consumed: Arc<AtomicU64>,
}

impl Events {
    /// The size of a plain file (not stdin, not gzip's uncompressed size), for a bar over
    /// the bytes taken.
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// `-` is stdin. A file that does not exist is an error here, before any hunting.
    pub fn open(path: &Path) -> io::Result<Events> {
        if path == Path::new("-") {
            return Events::from_reader("<stdin>", io::stdin(), None);
        }
        let file = std::fs::File::open(path)?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "is a folder"));
        }
        // A FIFO or a device has no meaningful length.
        let size = meta.is_file().then_some(meta.len());
        Events::from_reader(&path.display().to_string(), file, size)
    }

    /// Events from any reader; `name` is what messages call it.
    pub fn from_reader(
        name: &str,
        raw: impl Read + Send + 'static,
        size: Option<u64>,
    ) -> io::Result<Events> {
        let consumed = Arc::new(AtomicU64::new(0));
        let mut raw = Counting {
            inner: raw,
            count: Arc::clone(&consumed),
        };
        let mut head = [0u8; 2];
        let n = read_up_to(&mut raw, &mut head)?;
        let raw = io::Cursor::new(head[..n].to_vec()).chain(raw);
        let reader: Box<dyn Read + Send> = if head[..n] == GZIP_MAGIC {
            // Multi-member, so concatenated .gz files (and bgzip) are read to the end.
            Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
                1 << 16,
                raw,
            )))
        } else {
            // Read a block at a time straight into the batches: no buffer between.
            Box::new(raw)
        };
        Ok(Events {
            name: name.to_string(),
            reader,
            size,
            consumed,
        })
    }
}

/// Fill `buf` unless the input ends first (a pipe may hand over one byte at a time).
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match read_some(r, &mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// One read, retried when a signal interrupts it; 0 at the end of the input.
fn read_some(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            read => return read,
        }
    }
}

/// Counts the bytes read through it, for the progress bar.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Lines stored back to back in one buffer, so a batch is two allocations, not one per line.
struct Batch {
    first_line: u64,
    /// The input, read straight in: only `..filled` holds it (the rest is room for reads,
    /// kept initialised so that a reused batch costs no zeroing).
    data: Vec<u8>,
    filled: usize,
    lines: Vec<Line>,
    /// Input bytes consumed when the batch was complete.
    consumed: u64,
}

#[derive(Clone, Copy)]
struct Line {
    start: usize,
    end: usize,
    too_long: bool,
}

impl Batch {
    fn text(&self, line: &Line) -> &[u8] {
        &self.data[line.start..line.end]
    }
}

/// How much one read asks for.
const READ_BLOCK: usize = 1 << 20;

/// Cuts the input into batches of lines, reading a large block at a time straight into the
/// batch's buffer (no copy per line); the start of a line a batch cannot finish begins the
/// next one.
struct LineReader<R> {
    input: R,
    /// The next batch's first line number.
    next_line: u64,
    /// The bytes after the last batch's last line.
    carry: Vec<u8>,
    /// An overlong line is skipped to its end (else the batch ends where it starts:
    /// `--strict` stops there, and the rest of the line may never end, as `/dev/zero`).
    skip_overlong: bool,
}

impl<R: Read> LineReader<R> {
    fn new(input: R, skip_overlong: bool) -> LineReader<R> {
        LineReader {
            input,
            next_line: 1,
            carry: Vec::new(),
            skip_overlong,
        }
    }

    /// The next batch (`None` at the end of the input), in `spare`'s buffers when given
    /// (fresh pages cost more than reading), and the read error that cut it short, if
    /// any: the lines read before an error are still hunted, a line cut short is not.
    fn next_batch(
        &mut self,
        consumed: &AtomicU64,
        spare: Option<Batch>,
    ) -> (Option<Batch>, Option<io::Error>) {
        let mut b = spare.unwrap_or_else(|| Batch {
            first_line: 0,
            data: vec![0; BATCH_BYTES + READ_BLOCK],
            filled: 0,
            lines: Vec::with_capacity(BATCH_LINES),
            consumed: 0,
        });
        b.first_line = self.next_line;
        b.lines.clear();
        b.filled = self.carry.len();
        b.data[..b.filled].copy_from_slice(&self.carry);
        self.carry.clear();
        let error = match self.fill(&mut b) {
            Ok(rest) => {
                self.carry.extend_from_slice(&b.data[rest..b.filled]);
                None
            }
            Err(e) => Some(e),
        };
        self.next_line += b.lines.len() as u64;
        b.consumed = consumed.load(Ordering::Relaxed);
        ((!b.lines.is_empty()).then_some(b), error)
    }

    /// Reads lines into `b` until it is full; returns where the bytes it leaves to the
    /// next batch start.
    fn fill(&mut self, b: &mut Batch) -> io::Result<usize> {
        // Where the unfinished line starts, and how far newlines have been looked for.
        let mut line_start = 0;
        let mut scanned = 0;
        loop {
            while let Some(at) = memchr::memchr(b'\n', &b.data[scanned..b.filled]) {
                scanned += at + 1;
                self.push(b, line_start, scanned);
                line_start = scanned;
                let overlong = b.lines.last().is_some_and(|l| l.too_long);
                if b.lines.len() >= BATCH_LINES || overlong && !self.skip_overlong {
                    return Ok(line_start);
                }
            }
            scanned = b.filled;
            if line_start >= BATCH_BYTES {
                return Ok(line_start);
            }
            if b.filled - line_start > MAX_LINE {
                // Overlong and unfinished: not kept.
                b.lines.push(Line {
                    start: line_start,
                    end: line_start,
                    too_long: true,
                });
                b.filled = line_start;
                if !self.skip_overlong {
                    return Ok(line_start);
                }
                self.skip_line(b)?;
                scanned = line_start;
                continue;
            }
            if b.filled == b.data.len() {
                if !b.lines.is_empty() {
                    return Ok(line_start);
                }
                // One line longer than the buffer: room for it to reach the limit.
                b.data.resize(b.data.len() * 2, 0);
            }
            let room = (b.data.len() - b.filled).min(READ_BLOCK);
            let n = read_some(&mut self.input, &mut b.data[b.filled..b.filled + room])?;
            if n == 0 {
                // The last line may have no newline.
                if b.filled > line_start {
                    self.push(b, line_start, b.filled);
                }
                return Ok(b.filled);
            }
            b.filled += n;
        }
    }

    /// Adds the line `start..end` (its newline included); one over [`MAX_LINE`] is marked
    /// and not kept.
    fn push(&self, b: &mut Batch, mut start: usize, end: usize) {
        if self.next_line == 1 && b.lines.is_empty() && b.data[start..end].starts_with(BOM) {
            start += BOM.len();
        }
        let text = &b.data[start..end];
        let too_long = text.strip_suffix(b"\n").unwrap_or(text).len() > MAX_LINE;
        b.lines.push(Line {
            start,
            end: if too_long { start } else { end },
            too_long,
        });
    }

    /// Reads to the end of the current line, keeping what follows it at `b.filled`.
    fn skip_line(&mut self, b: &mut Batch) -> io::Result<()> {
        let from = b.filled;
        let room = (b.data.len() - from).min(READ_BLOCK);
        loop {
            let n = read_some(&mut self.input, &mut b.data[from..from + room])?;
            if n == 0 {
                return Ok(());
            }
            if let Some(at) = memchr::memchr(b'\n', &b.data[from..from + n]) {
                b.data.copy_within(from + at + 1..from + n, from);
                b.filled = from + n - at - 1;
                return Ok(());
            }
        }
    }
}

/// How to hunt.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Stop at the first malformed line, with a failing status.
    pub strict: bool,
    /// List every rule in the summary, those without matches too.
    pub verbose: bool,
}

/// What the caller shows while a hunt runs (the CLI draws a progress bar on a terminal).
pub trait Progress {
    /// `bytes` of the input taken so far (see [`Events::size`]), and the running tally.
    fn update(&self, bytes: u64, tally: &str);
    /// Run `write` (a message to stderr) around whatever is drawn.
    fn suspend(&self, write: &mut dyn FnMut());
    /// The hunt is over: clear what is drawn.
    fn finish(&self);
}

/// Nothing shown.
pub struct Quiet;

impl Progress for Quiet {
    fn update(&self, _: u64, _: &str) {}
    fn suspend(&self, write: &mut dyn FnMut()) {
        write()
    }
    fn finish(&self) {}
}

/// What a hunt found; `Display` gives the closing report.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Every hunted rule with its number of matches, by name.
    pub(crate) per_rule: Vec<(String, u64)>,
    pub(crate) events: u64,
    /// Events that matched at least one rule.
    pub(crate) matched: u64,
    /// Output lines: one per event and matching rule.
    pub(crate) matches: u64,
    pub(crate) malformed: u64,
    /// Correlation alerts (output lines with `group` and `events`).
    pub(crate) alerts: u64,
    /// Events meeting a correlation rule's query that have no usable `@timestamp`: skipped
    /// by the correlation rules.
    pub(crate) untimed: u64,
    /// Events earlier than a correlation rule's newest event by more than its window:
    /// skipped by that rule (counted once per event).
    pub(crate) late: u64,
    /// Whether any correlation rule was hunted with.
    pub(crate) correlating: bool,
    /// List rules without matches too.
    pub(crate) verbose: bool,
    pub(crate) elapsed: Duration,
    pub(crate) threads: usize,
    /// Why the hunt stopped before the end of the input, if it did (a read error, or the
    /// malformed line that `--strict` stops at, which is not counted as skipped).
    pub(crate) stopped: Option<String>,
}

impl Summary {
    /// Whether the whole input was hunted (the exit status).
    pub fn ok(&self) -> bool {
        self.stopped.is_none()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.malformed > SHOWN_MALFORMED && self.stopped.is_none() {
            writeln!(
                f,
                "... {} more malformed lines not shown",
                self.malformed - SHOWN_MALFORMED
            )?;
        }
        if let Some(why) = &self.stopped {
            writeln!(f, "error: {why}")?;
        }
        let listed = |n: &u64| self.verbose || *n > 0;
        let width = self
            .per_rule
            .iter()
            .filter(|(_, n)| listed(n))
            .map(|(name, _)| name.len())
            .max()
            .unwrap_or(0);
        writeln!(f, "matches per rule:")?;
        for (name, n) in self.per_rule.iter().filter(|(_, n)| listed(n)) {
            writeln!(f, "  {name:<width$}  {:>10}", thousands(*n))?;
        }
        let quiet = self.per_rule.iter().filter(|(_, n)| !listed(n)).count();
        if quiet > 0 {
            writeln!(
                f,
                "  ({} without matches; --verbose lists them)",
                thousands(quiet as u64)
            )?;
        }
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.events as f64 / secs
        } else {
            0.0
        };
        writeln!(
            f,
            "hunted {} events with {} rules in {secs:.2} s ({} events/s on {} threads): {} matched ({} matches), {} malformed {} skipped",
            thousands(self.events),
            self.per_rule.len(),
            thousands(rate as u64),
            self.threads,
            thousands(self.matched),
            thousands(self.matches),
            thousands(self.malformed),
            if self.malformed == 1 { "line" } else { "lines" },
        )?;
        if self.correlating {
            writeln!(
                f,
                "correlation: {} alerts; skipped {} events without a usable @timestamp, {} late events",
                thousands(self.alerts),
                thousands(self.untimed),
                thousands(self.late),
            )?;
        }
        Ok(())
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Writing the matches failed for a reason other than the reader going away.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the matches: {0}")]
pub struct WriteError(#[source] io::Error);

/// A write to the output that stopped the hunt.
enum Halt {
    /// The reader of stdout went away (`| head`): stop quietly.
    Closed,
    Failed(io::Error),
}

impl From<io::Error> for Halt {
    fn from(e: io::Error) -> Halt {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Halt::Closed
        } else {
            Halt::Failed(e)
        }
    }
}

/// Hunt `events` with every rule, writing one NDJSON line per (event, matching rule) to
/// `out` and malformed-line messages to `err`. `Ok(None)` means `out` was closed by its
/// reader, which is not an error.
pub fn run(
    hunter: &Hunter,
    events: Events,
    out: impl Write,
    err: &mut dyn Write,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Option<Summary>, WriteError> {
    let started = Instant::now();
    let mut out = io::BufWriter::with_capacity(1 << 18, out);
    let mut summary = Summary {
        per_rule: hunter.per_rule(),
        events: 0,
        matched: 0,
        matches: 0,
        malformed: 0,
        alerts: 0,
        untimed: 0,
        late: 0,
        correlating: !hunter.correlations.is_empty(),
        verbose: options.verbose,
        elapsed: Duration::ZERO,
        threads: rayon::current_num_threads(),
        stopped: None,
    };
    let mut raised = alerts::Raised::new();
    let mut result = hunt(
        hunter,
        events,
        &mut out,
        err,
        options,
        progress,
        &mut summary,
        &mut raised,
    );
    if let (Ok(()), Some(stage)) = (&result, &hunter.alerts) {
        result = hunt_alerts(&stage.hunter, raised, &mut out, err, options, &mut summary);
    }
    let result = result.and_then(|()| out.flush().map_err(Halt::from));
    progress.finish();
    summary.elapsed = started.elapsed();
    summary.per_rule.sort();
    match result {
        Ok(()) => Ok(Some(summary)),
        Err(Halt::Closed) => Ok(None),
        Err(Halt::Failed(e)) => Err(WriteError(e)),
    }
}

/// The rules over alerts, over the alerts the other rules raised: their lines follow the
/// others', and their counts join the summary's.
fn hunt_alerts(
    hunter: &Hunter,
    raised: alerts::Raised,
    out: &mut impl Write,
    err: &mut dyn Write,
    options: &Options,
    summary: &mut Summary,
) -> Result<(), Halt> {
    let events = Events::from_reader("alerts", io::Cursor::new(alerts::ndjson(raised)), None)?;
    let mut own = Summary {
        per_rule: hunter.per_rule(),
        ..summary.clone()
    };
    hunt(
        hunter,
        events,
        out,
        err,
        options,
        &Quiet,
        &mut own,
        &mut alerts::Raised::new(),
    )?;
    summary.per_rule.extend(own.per_rule);
    summary.matches = own.matches;
    summary.alerts = own.alerts;
    summary.correlating |= own.correlating;
    summary.stopped = own.stopped;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn hunt(
    hunter: &Hunter,
    events: Events,
    out: &mut impl Write,
    err: &mut dyn Write,
    options: &Options,
    progress: &dyn Progress,
    summary: &mut Summary,
    raised: &mut alerts::Raised,
) -> Result<(), Halt> {
    let Events {
        name,
        reader,
        consumed,
        ..
    } = events;
    // Depth 1: the reader fills the next batch while this thread judges the current one.
    let (tx, rx) = mpsc::sync_channel::<io::Result<Batch>>(1);
    // Judged batches go back to the reader to be filled again.
    let (spent_tx, spent_rx) = mpsc::channel::<Batch>();
    let strict = options.strict;
    let spawned = std::thread::Builder::new()
        .name("detc-hunt-read".into())
        .spawn(move || {
            let mut lines = LineReader::new(reader, !strict);
            loop {
                let spare = spent_rx.try_recv().ok();
                let (batch, error) = lines.next_batch(&consumed, spare);
                let more = batch.is_some() && error.is_none();
                // A closed channel means the hunt stopped early; nothing more to read.
                if let Some(b) = batch
                    && tx.send(Ok(b)).is_err()
                {
                    return;
                }
                if let Some(e) = error {
                    drop(tx.send(Err(e)));
                    return;
                }
                if !more {
                    return;
                }
            }
        });
    let reader_thread = match spawned {
        Ok(handle) => handle,
        Err(e) => {
            summary.stopped = Some(format!("cannot start the reader thread: {e}"));
            return Ok(());
        }
    };
    let mut running: Vec<Running> = hunter
        .correlations
        .iter()
        .map(|c| Running::new(&c.rule, rayon::current_num_threads()))
        .collect();
    // Whether the input's first timed event has started every rule's clock (its warm-up,
    // for first seen), as `detc test` starts it with every event of a case.
    let mut begun = false;
    // Messages go around the progress bar, and a failing stderr must not stop the hunt.
    let mut say = |text: String| progress.suspend(&mut || drop(writeln!(err, "{text}")));

    // The first line not read yet: where a read error (a truncated gzip) cut the input.
    let mut unread = 1;
    // Reused from batch to batch: fresh pages cost more than judging.
    let mut verdicts: Vec<Verdict> = Vec::new();
    for msg in rx {
        let batch = match msg {
            Ok(b) => b,
            Err(e) => {
                summary.stopped = Some(format!("{name}:{unread}: cannot read: {e}"));
                return Ok(());
            }
        };
        unread = batch.first_line + batch.lines.len() as u64;
        batch
            .lines
            .par_iter()
            .with_min_len(64)
            .map(|line| {
                if line.too_long {
                    Verdict::Malformed(format!("line is longer than {} MiB", MAX_LINE >> 20))
                } else {
                    hunter.judge(batch.text(line))
                }
            })
            .collect_into_vec(&mut verdicts);
        if !begun && !running.is_empty() {
            // The input's first timed event starts every rule's clock.
            let first = batch
                .lines
                .iter()
                .zip(&verdicts)
                .find_map(|(line, v)| match v {
                    Verdict::Event(_, Some(c)) => c.time.as_ref().ok().copied(),
                    Verdict::Event(_, None) => serde_json::from_slice::<Value>(batch.text(line))
                        .ok()
                        .and_then(|e| eval::event_time(&e).ok()),
                    _ => None,
                });
            if let Some(t) = first {
                running
                    .iter_mut()
                    .flat_map(|r| &mut r.parts)
                    .for_each(|s| s.begin(t));
                begun = true;
            }
        }
        let mut pending = advance(hunter, &mut running, &verdicts);
        for (at, (line, verdict)) in batch.lines.iter().zip(verdicts.drain(..)).enumerate() {
            let number = batch.first_line + at as u64;
            match verdict {
                Verdict::Blank => {}
                Verdict::Malformed(why) => {
                    // Under --strict the line ends the hunt rather than being skipped.
                    if options.strict {
                        say(format!("{name}:{number}: malformed line: {why}"));
                        summary.stopped = Some(format!(
                            "stopped at line {number}, the first malformed line (--strict)"
                        ));
                        return Ok(());
                    }
                    summary.malformed += 1;
                    if summary.malformed <= SHOWN_MALFORMED {
                        say(format!("{name}:{number}: skipped: {why}"));
                    }
                }
                Verdict::Event(rules, correlating) => {
                    summary.events += 1;
                    if let Some(stage) = &hunter.alerts {
                        stage.read(batch.text(line).trim_ascii(), raised);
                    }
                    if rules.is_empty() && correlating.is_none() {
                        continue;
                    }
                    let raw = match &correlating {
                        Some(c) => &*c.raw,
                        None => match raw_value(batch.text(line).trim_ascii()) {
                            Some(raw) => raw,
                            None => continue,
                        },
                    };
                    if !rules.is_empty() {
                        summary.matched += 1;
                    }
                    // Only a single-event match raises an alert here: parse for it alone.
                    if let Some(stage) = &hunter.alerts
                        && !rules.is_empty()
                        && let Ok(event) = serde_json::from_str::<Value>(raw.get())
                        && let Ok(time) = eval::event_time(&event)
                    {
                        for &i in &rules {
                            let entity = |f: &str| alerts::texts(&event, f);
                            stage.raise(&hunter.rules[i as usize].name, time, entity, raised);
                        }
                    }
                    for i in rules {
                        let r = &hunter.rules[i as usize];
                        let m = Match {
                            rule: &r.name,
                            id: &r.id,
                            severity: r.severity,
                            title: &r.title,
                            event: raw,
                        };
                        serde_json::to_writer(&mut *out, &m).map_err(io::Error::from)?;
                        out.write_all(b"\n")?;
                        summary.per_rule[i as usize].1 += 1;
                        summary.matches += 1;
                    }
                    if let Some(c) = correlating {
                        write_alerts(hunter, &c, &mut pending, at, out, summary, raised)?;
                    }
                }
            }
        }
        progress.update(
            batch.consumed,
            &format!(
                "{} events, {} matches",
                thousands(summary.events),
                thousands(summary.matches)
            ),
        );
        // The reader may have finished; then the batch is simply dropped.
        drop(spent_tx.send(batch));
    }
    // The channel closed because the reader finished, so this does not wait.
    drop(reader_thread.join());
    // The whole input is read: the absences whose windows it covers fire.
    for (rule, r) in hunter.correlations.iter().zip(&mut running) {
        let closed = r.parts.iter_mut().flat_map(|p| p.finish(&rule.rule));
        for alert in in_order(closed.map(|(start, a)| ((start, 0), a)).collect()) {
            write_alert(hunter, rule, alert, out, summary, raised)?;
        }
    }
    Ok(())
}

/// What one correlation rule raised on a batch: per event (its place in the batch, in
/// order), the alerts, or that the event was late for the rule.
type Raised = std::collections::VecDeque<(usize, Result<Vec<Alert>, Late>)>;
type Alert = eval::Alert<Arc<Box<RawValue>>>;
struct Late;

/// One correlation rule's state over a hunt: its clock, and its keys' state in parts (a
/// key's part is its hash's), which advance in parallel. What a key's state does depends
/// only on its own events and the times the rule's clock gives them, so the alerts are those
/// of one state, however many parts there are.
struct Running {
    clock: Clock,
    parts: Vec<State<Arc<Box<RawValue>>>>,
}

impl Running {
    /// One part per core when the rule has keys to split by.
    fn new(rule: &Correlation, cores: usize) -> Running {
        let parts = if rule.is_keyed() { cores.max(1) } else { 1 };
        Running {
            clock: Clock::default(),
            parts: (0..parts).map(|_| rule.state()).collect(),
        }
    }
}

fn part_of(key: &[String], parts: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() % parts as u64) as usize
}

/// What one part of a rule raised on a batch: per event (its place in the batch, in order),
/// the alerts with their [`Order`].
type PartRaised = Vec<(usize, Vec<(Order, Alert)>)>;

/// Where an alert goes among those raised at one event, whatever part raised it: an
/// absence's closed windows by their first event's time, `(start, 0)`, then the event's own
/// alerts by the place of their key, `(0, key)` (a rule raises only one kind).
type Order = (i64, u32);

/// Alerts of several parts in their [`Order`], ties by key: the same for any number of
/// parts. Stable: a key's alerts stay in the order it raised them.
fn in_order(mut alerts: Vec<(Order, Alert)>) -> Vec<Alert> {
    alerts.sort_by(|(x, a), (y, b)| x.cmp(y).then_with(|| a.group.cmp(&b.group)));
    alerts.into_iter().map(|(_, a)| a).collect()
}

/// The batch's correlating events through each correlation rule's state, in input order:
/// first each rule's clock (which events are late, the time the others count at), then
/// every part of every rule in parallel, then each event's alerts gathered from the parts
/// in key order.
fn advance(hunter: &Hunter, running: &mut [Running], verdicts: &[Verdict]) -> Vec<Raised> {
    let correlating = || {
        verdicts.iter().enumerate().filter_map(|(at, v)| match v {
            Verdict::Event(_, Some(e)) => Some((at, &**e)),
            _ => None,
        })
    };
    // Per rule, in input order: (place, what the event meets, its time or None if late).
    let timed: Vec<Vec<(usize, Option<i64>)>> = running
        .iter_mut()
        .zip(&hunter.correlations)
        .enumerate()
        .map(|(rule, (r, c))| {
            correlating()
                .filter_map(|(at, e)| {
                    let time = *e.time.as_ref().ok()?;
                    let meets = e.meets.iter().any(|m| m.rule == rule);
                    let late = r.clock.is_late(&c.rule, time);
                    // An absence also reads the time of the events that meet none of
                    // its steps; such an event is never late to it, only old.
                    if !meets && (late || !c.rule.is_absence()) {
                        return None;
                    }
                    Some((at, (!late).then(|| r.clock.tick(time))))
                })
                .collect()
        })
        .collect();
    let work: Vec<Part> = running
        .iter_mut()
        .enumerate()
        .flat_map(|(rule, r)| {
            let (parts, now) = (r.parts.len(), r.clock.now());
            r.parts
                .iter_mut()
                .enumerate()
                .map(move |(part, state)| Part {
                    rule,
                    part,
                    parts,
                    state,
                    now,
                })
        })
        .collect();
    let mut done = work
        .into_par_iter()
        .map(|p| {
            let c = &hunter.correlations[p.rule].rule;
            let mut raised = PartRaised::new();
            for &(at, time) in &timed[p.rule] {
                let (Some(t), Verdict::Event(_, Some(e))) = (time, &verdicts[at]) else {
                    continue;
                };
                // Every part hears of the event's time: an absence's windows that ended
                // before it close, whichever part their keys are in.
                let mut alerts: Vec<(Order, Alert)> = p
                    .state
                    .close(c, t)
                    .into_iter()
                    .map(|(start, alert)| ((start, 0), alert))
                    .collect();
                let Some(m) = e.meets.iter().find(|m| m.rule == p.rule) else {
                    if !alerts.is_empty() {
                        raised.push((at, alerts));
                    }
                    continue;
                };
                let keys = &m.reading.keys;
                let mut mine = (0..keys.len() as u32)
                    .filter(|&k| p.parts == 1 || part_of(&keys[k as usize], p.parts) == p.part)
                    .peekable();
                if mine.peek().is_some() {
                    let own = p
                        .state
                        .advance_keys(c, &m.reading, t, &m.fit, e.raw.clone(), mine);
                    alerts.extend(own.into_iter().map(|(key, alert)| ((0, key), alert)));
                }
                if !alerts.is_empty() {
                    raised.push((at, alerts));
                }
            }
            // A part that saw no event of late still lets go of what the window left.
            if let Some(now) = p.now {
                p.state.expire(c, now);
            }
            raised.into_iter().peekable()
        })
        .collect::<Vec<_>>()
        .into_iter();
    running
        .iter()
        .zip(timed)
        .map(|(r, timed)| {
            let mut parts: Vec<_> = done.by_ref().take(r.parts.len()).collect();
            timed
                .into_iter()
                .map(|(at, time)| {
                    if time.is_none() {
                        return (at, Err(Late));
                    }
                    let alerts: Vec<(Order, Alert)> = parts
                        .iter_mut()
                        .filter_map(|p| p.next_if(|(a, _)| *a == at))
                        .flat_map(|(_, alerts)| alerts)
                        .collect();
                    (at, Ok(in_order(alerts)))
                })
                .collect()
        })
        .collect()
}

/// One part of one rule's state, advanced on its own core.
struct Part<'a> {
    rule: usize,
    part: usize,
    parts: usize,
    state: &'a mut State<Arc<Box<RawValue>>>,
    /// The rule's clock after the batch.
    now: Option<i64>,
}

/// The alerts an event raised, in rule name order.
fn write_alerts(
    hunter: &Hunter,
    c: &Correlating,
    pending: &mut [Raised],
    at: usize,
    out: &mut impl Write,
    summary: &mut Summary,
    alert_events: &mut alerts::Raised,
) -> Result<(), Halt> {
    if c.time.is_err() {
        summary.untimed += 1;
        return Ok(());
    }
    let mut late = false;
    for (rule, raised) in hunter.correlations.iter().zip(pending) {
        if raised.front().is_none_or(|(next, _)| *next != at) {
            continue;
        }
        let Some((_, alerts)) = raised.pop_front() else {
            continue;
        };
        let Ok(alerts) = alerts else {
            late = true;
            continue;
        };
        for alert in alerts {
            write_alert(hunter, rule, alert, out, summary, alert_events)?;
        }
    }
    summary.late += u64::from(late);
    Ok(())
}

/// One alert line, counted.
/// One correlation alert's line, and its events on the alerts source when rules read them
/// (dated at the alert's last event).
fn write_alert(
    hunter: &Hunter,
    rule: &Correlated,
    alert: Alert,
    out: &mut impl Write,
    summary: &mut Summary,
    alert_events: &mut alerts::Raised,
) -> Result<(), Halt> {
    if let Some(stage) = &hunter.alerts
        && let Some(last) = alert.events.last()
        && let Ok(event) = serde_json::from_str::<Value>(last.get())
        && let Ok(time) = eval::event_time(&event)
    {
        let entity = |f: &str| {
            let keys = alert.group.iter().filter(|(k, _)| k == f);
            keys.map(|(_, v)| v.clone()).collect()
        };
        stage.raise(&rule.name, time, entity, alert_events);
    }
    let line = AlertLine {
        rule: &rule.name,
        id: &rule.id,
        severity: rule.severity,
        title: &rule.title,
        group: alert
            .group
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
        events: alert.events.iter().map(|e| &***e).collect(),
    };
    serde_json::to_writer(&mut *out, &line).map_err(io::Error::from)?;
    out.write_all(b"\n")?;
    summary.alerts += 1;
    if let Some(n) = summary.per_rule.iter_mut().find(|(n, _)| *n == rule.name) {
        n.1 += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::{self, Config};

    const RULES: &str = r#"
rule b_rmm "RMM started" {
  id = "11111111-2222-4333-8444-555555555555"
  severity = high
  from process_start
  where process.name == "anydesk.exe"
}
rule a_any_anydesk "Anything AnyDesk" {
  id = "11111111-2222-4333-8444-666666666666"
  severity = low
  from process_start
  where process.name contains "anydesk"
}
"#;

    fn hunter() -> Hunter {
        let config = Config::load(&[], &[]).expect("config");
        let p = project::check_text("t.det", RULES, &config);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        let (h, skipped) = Hunter::new(&p.rules, config.ecs());
        assert!(skipped.is_empty());
        h
    }

    #[test]
    fn events_reach_the_rules_of_their_source() {
        let h = hunter();
        let judge = |line: &str| match h.judge(line.as_bytes()) {
            Verdict::Event(rules, _) => rules.len(),
            _ => usize::MAX,
        };
        // No source information: every rule is tried.
        assert_eq!(judge(r#"{"process.name": "AnyDesk.exe"}"#), 2);
        // Named source.
        assert_eq!(
            judge(r#"{"event.source": "process_start", "process.name": "AnyDesk.exe"}"#),
            2
        );
        assert_eq!(
            judge(r#"{"event.source": "dns_query", "process.name": "AnyDesk.exe"}"#),
            0
        );
        // ECS category and the Elastic mapping's filter (process_start: event.type start).
        let ecs = r#"{"event": {"category": ["process"], "type": ["start"]}, "process": {"name": "AnyDesk.exe"}}"#;
        assert_eq!(judge(ecs), 2);
        assert_eq!(judge(&ecs.replace("start", "end")), 0);
        assert_eq!(judge(&ecs.replace("\"process\"]", "\"network\"]")), 0);
    }

    fn hunt_bytes(input: &[u8], strict: bool) -> (Option<Summary>, String, String) {
        let events =
            Events::from_reader("ev.ndjson", io::Cursor::new(input.to_vec()), None).expect("opens");
        let mut out = Vec::new();
        let mut err = Vec::new();
        let options = Options {
            strict,
            verbose: true,
        };
        let s = run(&hunter(), events, &mut out, &mut err, &options, &Quiet).expect("hunts");
        (
            s,
            String::from_utf8(out).expect("utf-8 output"),
            String::from_utf8(err).expect("utf-8 messages"),
        )
    }

    #[test]
    fn rules_in_name_order_and_event_verbatim() {
        let input = b"{\"process\": {\"name\": \"AnyDesk.exe\"},  \"x\": 1.50}\r\n";
        let (s, out, err) = hunt_bytes(input, false);
        let s = s.expect("summary");
        assert_eq!(err, "");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                r#"{"rule":"a_any_anydesk","id":"11111111-2222-4333-8444-666666666666","severity":"low","title":"Anything AnyDesk","event":{"process": {"name": "AnyDesk.exe"},  "x": 1.50}}"#,
                r#"{"rule":"b_rmm","id":"11111111-2222-4333-8444-555555555555","severity":"high","title":"RMM started","event":{"process": {"name": "AnyDesk.exe"},  "x": 1.50}}"#,
            ]
        );
        assert_eq!((s.events, s.matched, s.matches, s.malformed), (1, 1, 2, 0));
    }

    #[test]
    fn malformed_lines_are_numbered_counted_and_skipped() {
        let input = b"\xEF\xBB\xBF{\"process.name\": \"anydesk.exe\"}\n\n  \n[1]\n{\"a\": \"\xff\"}\n{\"process.name\": \"anydesk.exe\"\n{\"process.name\": \"anydesk.exe\"}";
        let (s, out, err) = hunt_bytes(input, false);
        let s = s.expect("summary");
        assert_eq!(out.lines().count(), 4, "{out}");
        assert!(
            err.contains("ev.ndjson:4: skipped: expected a JSON object, found an array"),
            "{err}"
        );
        assert!(err.contains("ev.ndjson:5: skipped: "), "{err}");
        assert!(
            err.contains("ev.ndjson:6: skipped: EOF while parsing an object at column 30"),
            "{err}"
        );
        assert_eq!((s.events, s.matched, s.malformed), (2, 2, 3));
        assert!(s.ok());
    }

    /// Lines the literals skip unparsed are still events, malformed lines still reported,
    /// and a line that spells a value another way (`\u0041`) is parsed and matches.
    #[test]
    fn lines_without_literals_are_counted_and_checked() {
        let input = concat!(
            r#"{"process": {"name": "notepad.exe", "pid": 4}}"#,
            "\n",
            r#"{"process": {"name": "notepad.exe",}}"#,
            "\n",
            r#"{"process": {"name": "\u0041nyDesk.exe"}}"#,
            "\n",
            r#"{"process": {"name": "C:\\x\\anydesk.exe", "n": 1.50}}"#,
            "\n",
        );
        let (s, out, err) = hunt_bytes(input.as_bytes(), false);
        let s = s.expect("summary");
        assert!(err.contains("ev.ndjson:2: skipped: "), "{err}");
        assert_eq!((s.events, s.malformed, s.matches), (3, 1, 3), "{out}");
    }

    #[test]
    fn strict_stops_at_the_first_malformed_line() {
        let input =
            b"{\"process.name\": \"anydesk.exe\"}\nnope\n{\"process.name\": \"anydesk.exe\"}\n";
        let (s, out, err) = hunt_bytes(input, true);
        let s = s.expect("summary");
        assert_eq!(out.lines().count(), 2);
        assert!(err.contains("ev.ndjson:2: malformed line: "), "{err}");
        assert!(!s.ok());
        assert!(s.to_string().contains("stopped at line 2"), "{s}");
    }

    #[test]
    fn gzip_is_recognised_by_its_bytes() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"process.name\": \"anydesk.exe\"}\n")
            .expect("compress");
        let mut bytes = gz.finish().expect("compress");
        // Two members back to back, as `cat a.gz b.gz` makes.
        bytes.extend_from_within(..);
        let (s, out, _) = hunt_bytes(&bytes, false);
        assert_eq!(s.expect("summary").events, 2);
        assert_eq!(out.lines().count(), 4);
    }

    #[test]
    fn a_truncated_gzip_stream_stops_the_hunt_with_an_error() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for i in 0..1000 {
            writeln!(gz, "{{\"process.name\": \"anydesk.exe\", \"n\": {i}}}").expect("compress");
        }
        let bytes = gz.finish().expect("compress");
        let (s, out, _) = hunt_bytes(&bytes[..bytes.len() / 2], false);
        let s = s.expect("summary");
        assert!(!s.ok());
        // The lines that came out before the error are hunted, and the cut one is not.
        assert!(s.events > 0 && s.events < 1000, "{s}");
        assert_eq!(out.lines().count() as u64, s.events * 2);
        assert_eq!(s.malformed, 0);
        assert!(
            s.stopped.as_deref().is_some_and(
                |w| w.starts_with(&format!("ev.ndjson:{}: cannot read: ", s.events + 1))
            ),
            "{s}"
        );
    }

    #[test]
    fn batches_keep_line_numbers_and_order() {
        let mut input = Vec::new();
        for i in 0..(BATCH_LINES * 2 + 10) {
            if i == BATCH_LINES + 3 {
                input.extend_from_slice(b"bad\n");
            } else {
                writeln!(input, "{{\"process.name\": \"anydesk.exe\", \"n\": {i}}}").expect("vec");
            }
        }
        let (s, out, err) = hunt_bytes(&input, false);
        assert_eq!(s.expect("summary").malformed, 1);
        assert!(
            err.starts_with(&format!("ev.ndjson:{}: skipped", BATCH_LINES + 4)),
            "{err}"
        );
        let ns: Vec<u64> = out
            .lines()
            .step_by(2)
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("json");
                v["event"]["n"].as_u64().expect("n")
            })
            .collect();
        assert!(ns.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(ns.len(), BATCH_LINES * 2 + 9);
    }

    #[test]
    fn overlong_lines_are_malformed_without_being_kept() {
        let r = io::Cursor::new({
            let mut v = vec![b'x'; MAX_LINE + 5];
            v.extend_from_slice(b"\n{}\n");
            v
        });
        let (b, error) = LineReader::new(r, true).next_batch(&AtomicU64::new(0), None);
        assert!(error.is_none());
        let b = b.expect("a batch");
        assert_eq!(b.lines.len(), 2);
        assert!(b.lines[0].too_long);
        assert_eq!(b.text(&b.lines[1]), b"{}\n");
    }

    #[test]
    fn strict_stops_at_an_endless_line() {
        // A line that never ends (as `--events /dev/zero`): under --strict the reader stops
        // at the limit instead of skipping to a newline that never comes.
        let endless = io::Read::chain(&b"{}\n"[..], io::repeat(0));
        let mut reader = LineReader::new(endless, false);
        let mut seen = Vec::new();
        while !seen.last().is_some_and(|(_, too_long)| *too_long) {
            assert!(seen.len() < 3, "no end in sight");
            let (b, error) = reader.next_batch(&AtomicU64::new(0), None);
            assert!(error.is_none());
            let b = b.expect("a batch");
            seen.extend(b.lines.iter().map(|l| (b.text(l).to_vec(), l.too_long)));
        }
        assert_eq!(seen, [(b"{}\n".to_vec(), false), (Vec::new(), true)]);
    }

    /// Lines cut at every place by reads of every size come out whole, numbered, the
    /// last one without a newline too, and a BOM only stripped from the first.
    #[test]
    fn lines_survive_any_read_sizes() {
        /// Hands out at most `step` bytes per read.
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut input = BOM.to_vec();
        let mut expected = Vec::new();
        for i in 0..BATCH_LINES + 100 {
            let line = format!("{{\"n\": {i}, \"pad\": \"{}\"}}\n", "x".repeat(i % 97));
            input.extend_from_slice(line.as_bytes());
            expected.push(line.into_bytes());
        }
        input.extend_from_slice(b"\xEF\xBB\xBFlast");
        expected.push(b"\xEF\xBB\xBFlast".to_vec());
        for step in [1, 7, 4096, usize::MAX] {
            let mut reader = LineReader::new(Trickle(&input, step), true);
            let (mut got, mut first_lines) = (Vec::new(), Vec::new());
            let mut spare = None;
            while let (Some(b), None) = reader.next_batch(&AtomicU64::new(0), spare.take()) {
                first_lines.push(b.first_line);
                got.extend(b.lines.iter().map(|l| b.text(l).to_vec()));
                spare = Some(b);
            }
            assert!(got == expected, "read {step} bytes at a time");
            assert_eq!(first_lines, [1, BATCH_LINES as u64 + 1], "{step}");
        }
    }

    /// The cuts (a plain line searched raw, the per-field literal search, the source
    /// routing) never hide a match: on generated events written every way JSON allows
    /// (case, `\u` and `\/` escapes, nesting, odd numbers, non-ASCII), `judge` names
    /// exactly the rules the tree-walk evaluator of `detc test` matches.
    #[test]
    fn prefilters_never_hide_a_match() {
        const LITERAL_RULES: &str = r#"
rule r1 "r1" {
  id = "11111111-2222-4333-8444-000000000001"
  severity = low
  from process_start
  where process.command_line contains ["\\Temp\\", "quo\"te", "line\nbreak"]
    or process.command_line contains cased "Ünï"
}
rule r2 "r2" {
  id = "11111111-2222-4333-8444-000000000002"
  severity = low
  from process_start
  where process.name == "AnyDesk.exe" or process.name endswith '\cmd.EXE'
}
rule r3 "r3" {
  id = "11111111-2222-4333-8444-000000000003"
  severity = low
  from process_start
  where process.command_line contains cased "SeCrEt" and process.name startswith 'c:\win'
}
rule r4 "r4" {
  id = "11111111-2222-4333-8444-000000000004"
  severity = low
  from process_start
  where process.name in ["a/b", "x y"] and not process.command_line contains "-q"
}
"#;
        let config = Config::load(&[], &[]).expect("config");
        let p = project::check_text("t.det", LITERAL_RULES, &config);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        let (h, _) = Hunter::new(&p.rules, config.ecs());
        let oracle: Vec<eval::Matcher> = p
            .rules
            .iter()
            .map(|r| eval::Matcher::new(r).expect("evaluable"))
            .collect();
        assert!(
            h.prefilter_reads_lines(),
            "every rule has literals a line shows"
        );

        let mut next = plain::tests::rng(0x853c_49e6_748f_ea9b);
        let pieces = [
            "\\Temp\\",
            "\\TEMP\\",
            "quo\"te",
            "QUO\"TE",
            "é",
            "É",
            "line\nbreak",
            "LINE\nBreak",
            "anydesk.exe",
            "AnyDesk.exe",
            "\\cmd.exe",
            "C:\\Windows\\cmd.exe",
            "SeCrEt",
            "Ünï",
            "ünï",
            "secret",
            "c:\\WIN",
            "a/b",
            "x y",
            "-q",
            " ",
            "x",
            "\t",
            "\u{2028}",
        ];
        let (mut plain_lines, mut matched) = (0, 0);
        for _ in 0..20_000 {
            let text = |next: &mut dyn FnMut(usize) -> usize| {
                (0..next(4))
                    .map(|_| pieces[next(pieces.len())])
                    .collect::<String>()
            };
            let name = text(&mut next);
            let command_line = text(&mut next);
            // A value as JSON text, written one of the ways JSON allows.
            let write = |s: &str, how: usize| -> String {
                let plain = serde_json::to_string(s).expect("json");
                match how {
                    0 => plain.replace('/', "\\/"),
                    1 => {
                        let mut out = String::from("\"");
                        for c in s.chars() {
                            out.push_str(&format!("\\u{:04x}", c as u32 & 0xffff));
                            if (c as u32) > 0xffff {
                                return plain;
                            }
                        }
                        out + "\""
                    }
                    _ => plain,
                }
            };
            let (name, command_line) = (write(&name, next(5)), write(&command_line, next(5)));
            let line = match next(4) {
                0 => format!(
                    r#"{{"process": {{"name": {name}, "command_line": {command_line}}}, "n": 1e2}}"#
                ),
                1 => {
                    format!(r#"{{"process.name":{name},"process.command_line":[{command_line}]}}"#)
                }
                _ => format!(
                    r#"{{"process.name": {name}, "process.command_line": {command_line}, "n": -0.5}}"#
                ),
            };
            let event: Value = serde_json::from_str(&line).expect(&line);
            let expected: Vec<u32> = (0..oracle.len() as u32)
                .filter(|&i| oracle[i as usize].matches(&event))
                .collect();
            let mut lowered = Vec::new();
            plain_lines += usize::from(plain::is_plain_object(line.as_bytes(), &mut lowered));
            matched += usize::from(!expected.is_empty());
            match h.judge(line.as_bytes()) {
                Verdict::Event(rules, None) => assert_eq!(rules, expected, "{line}"),
                _ => panic!("not an event: {line}"),
            }
        }
        assert!(
            plain_lines > 5_000 && matched > 2_000,
            "{plain_lines} plain, {matched} matched"
        );
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
