//! Rule metadata: known keys, required keys, and the shape of each value.

use super::Sink;
use super::ideas::{self, Ideas};
use crate::base::Code;
use crate::base::diag::did_you_mean;
use crate::ir::{Duration, Severity};
use crate::syntax::ast::{self, ValueKind};

pub(super) struct Metadata {
    pub(crate) id: String,
    pub(crate) severity: Severity,
    pub(crate) status: Option<String>,
    pub(crate) attack: Vec<String>,
    /// The detection-catalog ideas the rule implements (`catalog = [A3]`).
    pub(crate) catalog: Vec<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) description: Option<String>,
    pub(crate) false_positives: Vec<String>,
    pub(crate) references: Vec<String>,
    pub(crate) author: Option<String>,
    pub(crate) schedule: Option<Duration>,
    pub(crate) lookback: Option<Duration>,
    pub(crate) delay: Option<Duration>,
    /// Field names as written, with their place: resolved against the rule's sources later.
    pub(crate) fields: Option<Vec<ast::Value>>,
    pub(crate) suppress: Option<Duration>,
    pub(crate) suppress_by: Option<Vec<ast::Value>>,
    pub(crate) targets: Vec<String>,
    pub(crate) date: Option<String>,
    pub(crate) modified: Option<String>,
}

const KEYS: [&str; 19] = [
    "id",
    "severity",
    "status",
    "attack",
    "catalog",
    "tags",
    "description",
    "false_positives",
    "references",
    "author",
    "schedule",
    "lookback",
    "delay",
    "fields",
    "suppress",
    "suppress_by",
    "targets",
    "date",
    "modified",
];

/// What a Sigma author writes for a Sigma key, in detc.
fn sigma_key(key: &str) -> Option<&'static str> {
    Some(match key {
        "level" => {
            "Sigma's `level` is `severity` here: `severity = high` (informational, low, medium, high or critical)"
        }
        "logsource" => {
            "Sigma's `logsource` is the rule's source: `from process_start` (sources: README)"
        }
        "detection" | "condition" => {
            "Sigma's `detection` is the rule's condition: `where process.name == \"x.exe\"`; `detc import sigma` converts Sigma files"
        }
        "title" | "name" => {
            "the title is the string after the rule's name: `rule my_rule \"My title\" { ... }`"
        }
        "falsepositives" => "did you mean `false_positives`?",
        "tactics" | "techniques" | "mitre" => "ATT&CK ids go in `attack = [TA0011, T1219]`",
        _ => return None,
    })
}

const STATUSES: [&str; 4] = ["experimental", "test", "stable", "deprecated"];

/// `targets` are the names a rule may list in `targets = [...]` (the registry's).
/// `ideas`: the tree's idea catalog, which `catalog = [...]` is checked against.
pub(super) fn check(
    sink: &mut Sink,
    rule: &ast::Rule,
    targets: &[&str],
    ideas: Option<&Ideas>,
) -> Option<Metadata> {
    let mut seen: Vec<&str> = Vec::new();
    let mut id = None;
    let mut severity = None;
    let mut m = Metadata {
        id: String::new(),
        severity: Severity::Medium,
        status: None,
        attack: vec![],
        catalog: vec![],
        tags: vec![],
        description: None,
        false_positives: vec![],
        references: vec![],
        author: None,
        schedule: None,
        lookback: None,
        delay: None,
        fields: None,
        suppress: None,
        suppress_by: None,
        targets: vec![],
        date: None,
        modified: None,
    };
    for entry in &rule.meta {
        let key = entry.key.name.as_str();
        let value = &entry.value;
        if !KEYS.contains(&key) {
            let hint = sigma_key(key)
                .map(String::from)
                .or_else(|| did_you_mean(key, KEYS).map(|k| format!("did you mean `{k}`?")))
                .or_else(|| Some(format!("known keys: {}", KEYS.join(", "))));
            sink.error(
                entry.key.span,
                Code::E0101,
                format!("unknown metadata key `{key}`"),
                hint,
            );
            continue;
        }
        if seen.contains(&key) {
            sink.error(
                entry.key.span,
                Code::E0108,
                format!("`{key}` is set twice"),
                None,
            );
            continue;
        }
        seen.push(key);
        match key {
            "id" => id = string(sink, key, value).filter(|s| uuid_ok(sink, value, s)),
            "severity" => severity = severity_of(sink, value),
            "status" => {
                m.status = word(sink, key, value).filter(|s| {
                    let ok = STATUSES.contains(&s.as_str());
                    if !ok {
                        sink.error(
                            value.span,
                            Code::E0105,
                            format!("unknown status `{s}`"),
                            Some(format!("use one of: {}", STATUSES.join(", "))),
                        );
                    }
                    ok
                })
            }
            "attack" => m.attack = attack(sink, value),
            "catalog" => m.catalog = catalog(sink, value, ideas),
            "tags" => m.tags = strings(sink, key, value),
            "false_positives" => m.false_positives = strings(sink, key, value),
            "references" => m.references = strings(sink, key, value),
            "description" => m.description = string(sink, key, value),
            "author" => m.author = string(sink, key, value),
            "schedule" => m.schedule = duration(sink, key, value),
            "lookback" => m.lookback = duration(sink, key, value),
            "delay" => m.delay = delay(sink, value),
            "suppress" => m.suppress = duration(sink, key, value),
            "fields" => m.fields = field_names(sink, key, value),
            "suppress_by" => m.suppress_by = field_names(sink, key, value),
            "targets" => m.targets = target_names(sink, value, targets),
            "date" => m.date = string(sink, key, value).filter(|d| date_ok(sink, value, d)),
            "modified" => m.modified = string(sink, key, value).filter(|d| date_ok(sink, value, d)),
            _ => unreachable!("key list above"),
        }
    }
    if !seen.contains(&"id") {
        sink.error(
            rule.name.span,
            Code::E0102,
            format!("rule `{}` has no `id`", rule.name.name),
            Some("add `id = \"<uuid>\"`; generate one with `uuidgen` (`detc new` starts a rule with one)".into()),
        );
    }
    if !seen.contains(&"severity") {
        sink.error(
            rule.name.span,
            Code::E0103,
            format!("rule `{}` has no `severity`", rule.name.name),
            Some("add `severity = informational|low|medium|high|critical`".into()),
        );
    }
    m.id = id?;
    m.severity = severity?;
    Some(m)
}

fn duration(sink: &mut Sink, key: &str, value: &ast::Value) -> Option<Duration> {
    match value.kind {
        ValueKind::Duration(seconds) if seconds > 0 => Some(Duration {
            seconds,
            span: value.span,
        }),
        _ => {
            sink.error(
                value.span,
                Code::E0109,
                format!("`{key}` takes a positive duration"),
                Some(format!("write e.g. `{key} = 15m`")),
            );
            None
        }
    }
}

/// `delay = 10m`, or `0s` for none.
fn delay(sink: &mut Sink, value: &ast::Value) -> Option<Duration> {
    match value.kind {
        ValueKind::Duration(seconds) => Some(Duration {
            seconds,
            span: value.span,
        }),
        _ => duration(sink, "delay", value),
    }
}

/// `[user.name, host.name]`: bare field names, checked against the rule's sources later.
fn field_names(sink: &mut Sink, key: &str, value: &ast::Value) -> Option<Vec<ast::Value>> {
    let items = match &value.kind {
        ValueKind::List(items) if !items.is_empty() => items,
        _ => {
            sink.error(
                value.span,
                Code::E0109,
                format!("`{key}` takes a non-empty list of field names"),
                Some(format!("write `{key} = [user.name, host.name]`")),
            );
            return None;
        }
    };
    let mut ok = true;
    for item in items {
        if !matches!(item.kind, ValueKind::Word(_)) {
            sink.error(item.span, Code::E0109, "expected a field name", None);
            ok = false;
        }
    }
    ok.then(|| items.clone())
}

fn target_names(sink: &mut Sink, value: &ast::Value, known: &[&str]) -> Vec<String> {
    let ValueKind::List(items) = &value.kind else {
        sink.error(
            value.span,
            Code::E0109,
            "`targets` takes a list of target names",
            Some("write `targets = [splunk, elastic]`".into()),
        );
        return vec![];
    };
    let mut out = Vec::new();
    for item in items {
        match &item.kind {
            ValueKind::Word(t) | ValueKind::Str(t) if known.contains(&t.as_str()) => {
                if out.contains(t) {
                    sink.error(
                        item.span,
                        Code::E0108,
                        format!("`{t}` is listed twice"),
                        None,
                    );
                }
                out.push(t.clone());
            }
            _ => {
                let hint = format!("targets are {}", known.join(", "));
                sink.error(item.span, Code::E0120, "unknown target", Some(hint));
            }
        }
    }
    if items.is_empty() {
        sink.error(
            value.span,
            Code::E0120,
            "a rule must deploy to at least one target",
            Some("leave `targets` out to deploy to every target".into()),
        );
    }
    out
}

/// `YYYY-MM-DD` with a real month and day.
fn date_ok(sink: &mut Sink, value: &ast::Value, s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let num = |p: &str, n: usize| {
        (p.len() == n && p.chars().all(|c| c.is_ascii_digit())).then(|| p.parse::<u32>().ok())?
    };
    let ok = match parts.as_slice() {
        [y, m, d] => {
            matches!(
                (num(y, 4), num(m, 2), num(d, 2)),
                (Some(_), Some(1..=12), Some(1..=31))
            )
        }
        _ => false,
    };
    if !ok {
        sink.error(
            value.span,
            Code::E0121,
            format!("`{s}` is not a date"),
            Some("write dates as `YYYY-MM-DD`".into()),
        );
    }
    ok
}

fn string(sink: &mut Sink, key: &str, value: &ast::Value) -> Option<String> {
    match &value.kind {
        ValueKind::Str(s) => Some(s.clone()),
        _ => {
            sink.error(
                value.span,
                Code::E0109,
                format!("`{key}` takes a string"),
                None,
            );
            None
        }
    }
}

/// A bare word or a string (`high` or `"high"`).
fn word(sink: &mut Sink, key: &str, value: &ast::Value) -> Option<String> {
    match &value.kind {
        ValueKind::Str(s) | ValueKind::Word(s) => Some(s.clone()),
        _ => {
            sink.error(
                value.span,
                Code::E0109,
                format!("`{key}` takes a word"),
                None,
            );
            None
        }
    }
}

fn strings(sink: &mut Sink, key: &str, value: &ast::Value) -> Vec<String> {
    match &value.kind {
        ValueKind::List(items) => items.iter().filter_map(|v| string(sink, key, v)).collect(),
        _ => {
            sink.error(
                value.span,
                Code::E0109,
                format!("`{key}` takes a list of strings"),
                Some(format!("write `{key} = [\"...\"]`")),
            );
            vec![]
        }
    }
}

fn severity_of(sink: &mut Sink, value: &ast::Value) -> Option<Severity> {
    let s = word(sink, "severity", value)?;
    let found = Severity::ALL.iter().find(|(n, _)| *n == s).map(|(_, v)| *v);
    if found.is_none() {
        let names = Severity::ALL.map(|(n, _)| n);
        let hint = did_you_mean(&s, names)
            .map(|n| format!("did you mean `{n}`?"))
            .unwrap_or_else(|| format!("use one of: {}", names.join(", ")));
        sink.error(
            value.span,
            Code::E0104,
            format!("unknown severity `{s}`"),
            Some(hint),
        );
    }
    found
}

fn uuid_ok(sink: &mut Sink, value: &ast::Value, s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let ok = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()));
    if !ok {
        sink.error(
            value.span,
            Code::E0107,
            format!("`{s}` is not a UUID"),
            Some(
                "ids look like `4c0b3f0e-8f4e-4d8e-9a63-2f3e0b6f6a11`; generate one with `uuidgen` (`detc new` starts a rule with one)"
                    .into(),
            ),
        );
    }
    ok
}

/// ATT&CK technique (`T1234`, `T1234.001`) or tactic (`TA0001`) ids.
pub(crate) fn is_attack_id(s: &str) -> bool {
    let digits = |t: &str, n: usize| t.len() == n && t.chars().all(|c| c.is_ascii_digit());
    if let Some(rest) = s.strip_prefix("TA") {
        return digits(rest, 4);
    }
    let Some(rest) = s.strip_prefix('T') else {
        return false;
    };
    match rest.split_once('.') {
        Some((t, sub)) => digits(t, 4) && digits(sub, 3),
        None => digits(rest, 4),
    }
}

fn attack(sink: &mut Sink, value: &ast::Value) -> Vec<String> {
    let ValueKind::List(items) = &value.kind else {
        sink.error(
            value.span,
            Code::E0109,
            "`attack` takes a list of ATT&CK ids",
            Some("write `attack = [TA0011, T1219]`".into()),
        );
        return vec![];
    };
    let mut ids = Vec::new();
    let mut spans = Vec::new();
    for item in items {
        match &item.kind {
            ValueKind::Word(s) | ValueKind::Str(s) if is_attack_id(s) => {
                ids.push(s.clone());
                spans.push(item.span);
            }
            ValueKind::Word(s) | ValueKind::Str(s) => sink.error(
                item.span,
                Code::E0106,
                format!("`{s}` is not an ATT&CK id"),
                Some("techniques look like `T1219` or `T1219.003`, tactics like `TA0011`".into()),
            ),
            _ => sink.error(item.span, Code::E0106, "expected an ATT&CK id", None),
        }
    }
    let listed: Vec<(&str, _)> = ids.iter().map(String::as_str).zip(spans).collect();
    let implied = super::attack::check(sink, &listed);
    ids.extend(implied.into_iter().map(String::from));
    ids
}

/// `catalog = [A3, F2]`: ideas of the tree's catalog (`catalog.toml`) that rules can implement.
fn catalog(sink: &mut Sink, value: &ast::Value, ideas: Option<&Ideas>) -> Vec<String> {
    let items = match &value.kind {
        ValueKind::List(items) if !items.is_empty() => items,
        _ => {
            sink.error(
                value.span,
                Code::E0109,
                "`catalog` takes a non-empty list of catalog idea ids",
                Some("write `catalog = [A3, F2]`".into()),
            );
            return vec![];
        }
    };
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let (ValueKind::Word(id) | ValueKind::Str(id)) = &item.kind else {
            sink.error(item.span, Code::E0125, "expected a catalog idea id", None);
            continue;
        };
        if !ideas::is_idea_id(id) {
            sink.error(
                item.span,
                Code::E0125,
                format!("`{id}` is not a catalog idea id"),
                Some("ideas look like `A3` or `F5`: a capital letter and a number".into()),
            );
            continue;
        }
        if out.contains(id) {
            sink.error(
                item.span,
                Code::E0108,
                format!("`{id}` is listed twice"),
                None,
            );
            continue;
        }
        match ideas.map(|all| (all, all.get(id))) {
            None => sink.error(
                item.span,
                Code::E0125,
                format!("no idea catalog to find `{id}` in"),
                Some(format!(
                    "the ideas are read from `{}` at the root of the rule tree (`--tree`)",
                    ideas::IDEAS_FILE
                )),
            ),
            Some((all, None)) => sink.error(
                item.span,
                Code::E0125,
                format!("unknown catalog idea `{id}`"),
                Some(match did_you_mean(id, all.ids()) {
                    Some(near) => format!("did you mean `{near}`? (ideas: {})", all.file),
                    None => format!("the ideas are listed in {}", all.file),
                }),
            ),
            Some((all, Some(idea))) if idea.not_implemented.is_some() => sink.error(
                item.span,
                Code::E0126,
                format!(
                    "catalog idea `{id}` ({}) is marked as not implementable",
                    idea.title
                ),
                Some(format!(
                    "drop its `not_implemented` reason in {} if this rule implements it",
                    all.file
                )),
            ),
            Some(_) => {}
        }
        out.push(id.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::is_attack_id;

    /// The language's own example: T1219 has one tactic, which it implies (LANGUAGE.md).
    #[test]
    fn a_technique_with_one_tactic_implies_it() {
        let config = crate::project::Config::load(&[], &[]).expect("config");
        let text = "rule r \"t\" {\n  id = \"4c0b3f0e-8f4e-4d8e-9a63-2f3e0b6f6a11\"\n  severity = low\n  attack = [T1219, T1219.002]\n  from process_start\n  where exists process.name\n}\n";
        let p = crate::project::check_text("t.det", text, &config);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert_eq!(p.rules[0].attack, ["T1219", "T1219.002", "TA0011"]);
    }

    #[test]
    fn attack_id_shapes() {
        for ok in ["T1219", "T1219.003", "TA0001"] {
            assert!(is_attack_id(ok), "{ok}");
        }
        for bad in [
            "T12",
            "T1219.3",
            "t1219",
            "TA001",
            "T1219.0031",
            "X1219",
            "T1219.",
        ] {
            assert!(!is_attack_id(bad), "{bad}");
        }
    }
}
