//! The second stage of a hunt: the rules that read the `alerts` source run over the alerts
//! the other rules raised, as each SIEM's alert store holds them (docs/CORRELATION.md,
//! Alerts): one event per alert and entity, with the raising rule's facts.

use super::Hunter;
use crate::eval;
use crate::ir;
use crate::schema::Mapping;
use serde_json::{Map, Value};

/// The rules over alerts, and what an alert of each other rule says of that rule.
pub(super) struct Stage {
    pub(super) hunter: Hunter,
    /// By raising rule, in name order: its `rule.*` facts and the entity fields among its
    /// alert fields, which its alerts name.
    raising: Vec<(String, Raising)>,
}

/// Alert events raised so far: (time, NDJSON line).
pub(super) type Raised = Vec<(i64, Vec<u8>)>;

struct Raising {
    facts: Map<String, Value>,
    entities: Vec<&'static str>,
}

impl Stage {
    /// The stage for `readers` (rules over alerts) fed by `raisers`; `None` without readers.
    pub(super) fn new(
        readers: &[ir::Rule],
        raisers: &[ir::Rule],
        ecs: &Mapping,
        skipped: &mut Vec<String>,
    ) -> Option<Stage> {
        if readers.is_empty() {
            return None;
        }
        let (hunter, more) = Hunter::plain(readers, ecs);
        skipped.extend(more);
        let mut raising: Vec<(String, Raising)> = raisers
            .iter()
            .map(|r| {
                let facts = ir::RULE_FACTS
                    .iter()
                    .zip(r.facts())
                    .map(|((name, _), v)| ((*name).to_string(), scalar(v)))
                    .collect();
                let entities = ir::ALERT_ENTITIES
                    .into_iter()
                    .filter(|e| r.fields.iter().any(|f| f.name == *e))
                    .collect();
                (r.name.clone(), Raising { facts, entities })
            })
            .collect();
        raising.sort_by(|a, b| a.0.cmp(&b.0));
        Some(Stage { hunter, raising })
    }

    /// Record the alert `rule` raised at `time`, whose entity fields read `entity` gives:
    /// one event per entity value, as the SIEMs' stores hold it.
    pub(super) fn raise(
        &self,
        rule: &str,
        time: i64,
        entity: impl Fn(&str) -> Vec<String>,
        out: &mut Raised,
    ) {
        let Ok(at) = self.raising.binary_search_by(|(n, _)| n.as_str().cmp(rule)) else {
            return;
        };
        let r = &self.raising[at].1;
        for field in &r.entities {
            for value in entity(field).iter().filter_map(|v| normalise(field, v)) {
                let mut event = r.facts.clone();
                event.insert("@timestamp".into(), time.into());
                event.insert("event.source".into(), ir::ALERTS.into());
                event.insert((*field).into(), value.into());
                if let Ok(line) = serde_json::to_vec(&Value::Object(event)) {
                    out.push((time, line));
                }
            }
        }
    }

    /// An input event of the alerts source (`"event.source": "alerts"`, an alert exported
    /// from a SIEM or a test case) joins the raised ones, as it is.
    pub(super) fn read(&self, line: &[u8], out: &mut Raised) {
        // Every input line passes here: a SIMD substring search, not a byte-window scan.
        if memchr::memmem::find(line, b"\"alerts\"").is_none() {
            return;
        }
        let Ok(event) = serde_json::from_slice::<Value>(line) else {
            return;
        };
        let named = eval::values(&event, "event.source");
        if named.iter().any(|v| v.as_str() == Some(ir::ALERTS))
            && let Ok(time) = eval::event_time(&event)
        {
            out.push((time, line.to_vec()));
        }
    }
}

/// The alert events in time order (equal times in the order raised), as NDJSON.
pub(super) fn ndjson(mut raised: Raised) -> Vec<u8> {
    raised.sort_by_key(|(t, _)| *t);
    let mut out = Vec::new();
    for (_, line) in raised {
        out.extend(line);
        out.push(b'\n');
    }
    out
}

/// An entity value of an alert event, as every target reads it (schema.yaml, `alerts`): an
/// account's short name (after the last `\`, before the first `@`) or a host's (before the
/// first `.`), in lower case; an IP address is no host name.
pub(crate) fn normalise(field: &str, value: &str) -> Option<String> {
    let short = match field {
        "user.name" => {
            let after = value.rsplit('\\').next().unwrap_or(value);
            after.split('@').next().unwrap_or(after)
        }
        _ if is_ip(value) => return None,
        _ => value.split('.').next().unwrap_or(value),
    };
    (!short.is_empty()).then(|| short.to_lowercase())
}

/// An IPv4 address in dotted-quad form (1–3 digits each), or anything holding `:`.
fn is_ip(s: &str) -> bool {
    s.contains(':')
        || (s.split('.').count() == 4
            && s.split('.')
                .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())))
}

fn scalar(v: ir::Scalar) -> Value {
    match v {
        ir::Scalar::Str(s) => s.into(),
        ir::Scalar::Num(ir::Number::Int(i)) => i.into(),
        ir::Scalar::Num(ir::Number::Float(f)) => f.into(),
        ir::Scalar::Bool(b) => b.into(),
    }
}

/// The texts of a field of an event (an alert's entity values).
pub(super) fn texts(event: &Value, field: &str) -> Vec<String> {
    eval::values(event, field)
        .into_iter()
        .filter_map(|v| eval::text(v).map(|t| t.into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_read_as_every_target_reads_them() {
        for (field, raw, want) in [
            ("user.name", "CORP\\JDoe", Some("jdoe")),
            ("user.name", "JDoe@corp.example", Some("jdoe")),
            ("user.name", "a@b\\c@d", Some("c")),
            ("user.name", "CORP\\", None),
            ("host.name", "PC1.corp.example", Some("pc1")),
            ("host.name", "10.1.2.3", None),
            ("host.name", "fe80::1", None),
            ("host.name", "1234.5.6.7", Some("1234")),
        ] {
            assert_eq!(normalise(field, raw).as_deref(), want, "{field} {raw}");
        }
    }
}
