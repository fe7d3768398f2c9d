//! A rule's `attack` ids against the pinned ATT&CK table (`crate::attack`): each id must be
//! known and current, and each technique must come with one of its tactics, unless it has
//! only one, which it then implies.

use super::Sink;
use crate::attack::{self, Status};
use crate::base::{Code, Span};

/// `ids`: the well-formed ids of one rule's `attack` list, each with its item's span.
/// Returns the tactics implied by techniques that have only one, not listed.
pub(super) fn check(sink: &mut Sink, ids: &[(&str, Span)]) -> Vec<&'static str> {
    let version = attack::version();
    let listed = |tactic: &str| ids.iter().any(|(id, _)| *id == tactic);
    let mut implied = Vec::new();
    for &(id, span) in ids {
        if id.starts_with("TA") {
            if attack::tactic(id).is_none() {
                unknown(sink, id, span, "tactic");
            }
            continue;
        }
        let Some(t) = attack::technique(id) else {
            unknown(sink, id, span, "technique");
            continue;
        };
        match t.status {
            Status::Active => {}
            Status::Deprecated => {
                sink.error(
                    span,
                    Code::E0113,
                    format!("`{id}` ({}) is a deprecated ATT&CK technique", t.name),
                    Some(format!(
                        "deprecated in ATT&CK {version}; map the rule to a current technique"
                    )),
                );
                continue;
            }
            Status::Revoked { by } => {
                let hint = match by.and_then(attack::technique) {
                    Some(new) => format!("use `{}` ({}) instead", new.id, new.name),
                    None => format!("revoked in ATT&CK {version}, with no replacement"),
                };
                sink.error(
                    span,
                    Code::E0114,
                    format!("`{id}` ({}) is a revoked ATT&CK technique", t.name),
                    Some(hint),
                );
                continue;
            }
        }
        if t.tactics.iter().any(|ta| listed(ta)) {
            continue;
        }
        if let [only] = t.tactics[..] {
            // ATT&CK gives the technique one tactic: naming the technique names it.
            if !implied.contains(&only) {
                implied.push(only);
            }
        } else {
            let tactics: Vec<String> = t
                .tactics()
                .map(|ta| format!("{} ({})", ta.id, ta.name))
                .collect();
            sink.error(
                span,
                Code::E0115,
                format!("`{id}` ({}) is listed without any of its tactics", t.name),
                Some(format!("add one of its tactics: {}", tactics.join(", "))),
            );
        }
    }
    implied
}

fn unknown(sink: &mut Sink, id: &str, span: Span, what: &str) {
    let version = attack::version();
    let parent = id.split_once('.').and_then(|(p, _)| attack::technique(p));
    let hint = match parent {
        Some(p) => format!(
            "`{}` ({}) has no sub-technique `{id}` in ATT&CK {version} (the table in targets/attack.tsv)",
            p.id, p.name
        ),
        None => format!("no such {what} in ATT&CK {version} (the table in targets/attack.tsv)"),
    };
    sink.error(
        span,
        Code::E0112,
        format!("unknown ATT&CK {what} `{id}`"),
        Some(hint),
    );
}
