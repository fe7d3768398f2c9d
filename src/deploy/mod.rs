//! The `deploy` stage: rendered packages → SIEM REST APIs, planned before anything changes.
//!
//! Each target's SIEM client (`targets/<target>/siem.rs`) turns its package files into the rules it should hold ([`Desired`]),
//! reads what it holds ([`Remote`]), and applies one [`Change`] at a time. This module
//! compares the two (a [`Plan`]), applies the plan in order, and stops at the first change
//! that fails for good, reporting what was applied and what was not; the next run plans
//! again from what the SIEM then holds, so it converges. Rules detc deploys carry a marker
//! naming the object ([`marker`]); only marked rules are ever deleted, and only with
//! `--prune`.

pub mod http;

use http::HttpError;

use crate::render::File;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The last line of the description of every rule detc deploys, naming the object it was
/// deployed as (Splunk's saved search, Kibana's `rule_id`, the ARM rule's name): how a later
/// run (and a person) tells detc's rules from others. A copy made in the SIEM (Kibana's
/// Duplicate, Splunk's Clone, Sentinel's Duplicate) keeps the line under another name, so
/// it is not detc's and is never pruned.
pub(crate) fn marker(key: &str) -> String {
    format!("[managed by detc: {key}]")
}

/// A description with the object's marker as its last line.
pub(crate) fn mark(description: &str, key: &str) -> String {
    format!("{}\n\n{}", description.trim_end(), marker(key))
}

/// Whether a description ends with this object's own marker.
pub(crate) fn is_marked(description: &str, key: &str) -> bool {
    description.trim_end().ends_with(&marker(key))
}

/// The most pages one listing reads (a million objects at 100 a page).
pub(crate) const MAX_PAGES: usize = 10_000;

/// Why a deployment step failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// A setting is missing or invalid: nothing was sent (a usage error).
    #[error("{0}")]
    Setting(String),
    /// The SIEM could not be reached, or refused a request.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// Signing in to the SIEM's identity provider failed.
    #[error("{0}")]
    SignIn(String),
    /// The SIEM answered what its API does not: not JSON, paging that does not advance.
    #[error("{0}")]
    Answer(String),
    /// The package lacks a file the target writes, or holds one it cannot read.
    #[error("{0}")]
    Package(String),
}

/// What one listing has read: a page must bring only keys not seen before (a server that
/// repeats a page, or links back to one, would list forever), and there are at most
/// [`MAX_PAGES`] pages.
#[derive(Default)]
pub(crate) struct Listing {
    keys: std::collections::HashSet<String>,
    pages: usize,
}

impl Listing {
    /// Take one page's keys; `what` names the listing in the error.
    pub(crate) fn page<'k>(
        &mut self,
        what: &str,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Result<(), DeployError> {
        self.pages += 1;
        if self.pages > MAX_PAGES {
            return Err(DeployError::Answer(format!(
                "{what}: still listing after {MAX_PAGES} pages; the server's paging does not end"
            )));
        }
        for key in keys {
            if !self.keys.insert(key.to_string()) {
                return Err(DeployError::Answer(format!(
                    "{what}: page {} repeats `{key}`, already listed; the server's paging does not advance",
                    self.pages
                )));
            }
        }
        Ok(())
    }
}

/// One rule as the package says the SIEM should hold it.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// The SIEM's key for the rule (saved-search name, alert-rule id, `rule_id`).
    pub(crate) key: String,
    /// The detc rule it comes from, for messages.
    pub(crate) rule: String,
    /// The settings detc manages, as the SIEM's API spells them.
    pub(crate) settings: Value,
    /// Settings sent only when the rule is created, never compared or updated (a Splunk
    /// filter macro's definition: the place users tune a rule).
    pub(crate) initial: Value,
}

/// One rule as the SIEM holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Remote {
    pub(crate) key: String,
    pub(crate) settings: Value,
    /// Whether detc deployed it (its description ends with its own [`marker`]).
    pub(crate) managed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Action {
    Create,
    Update,
    Unchanged,
    Delete,
}

/// What to do with one rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub(crate) action: Action,
    pub(crate) key: String,
    pub(crate) rule: String,
    /// For an update: the settings that differ, with the SIEM's and the package's values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) differences: Vec<Difference>,
    /// What to send (create, update).
    #[serde(skip)]
    pub(crate) settings: Value,
    /// What to send as well on create.
    #[serde(skip)]
    pub(crate) initial: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Difference {
    pub(crate) setting: String,
    pub(crate) deployed: Value,
    pub(crate) package: Value,
}

/// Every change for one target, in the order they are applied: creates and updates in key
/// order, then deletes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The target's name.
    pub(crate) target: &'static str,
    pub(crate) changes: Vec<Change>,
    /// Rules detc deployed that the package no longer has, left in place without `--prune`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) orphans: Vec<String>,
}

impl Plan {
    pub(crate) fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    /// Whether the SIEM differs from the package (what `detc diff` reports).
    pub fn drifted(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::Unchanged) || !self.orphans.is_empty()
    }

    /// The plan as text: a summary line, then one line per change that does something.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{}: {} to create, {} to update, {} to delete, {} unchanged\n",
            self.target,
            self.count(Action::Create),
            self.count(Action::Update),
            self.count(Action::Delete),
            self.count(Action::Unchanged),
        );
        for c in &self.changes {
            let (sign, word) = match c.action {
                Action::Create => ("+", "create"),
                Action::Update => ("~", "update"),
                Action::Delete => ("-", "delete"),
                Action::Unchanged => continue,
            };
            out.push_str(&format!("  {sign} {word} {}", c.key));
            if c.rule != c.key {
                out.push_str(&format!(" ({})", c.rule));
            }
            out.push('\n');
            for d in &c.differences {
                out.push_str(&format!(
                    "      {}: {} -> {}\n",
                    d.setting,
                    short(&d.deployed),
                    short(&d.package)
                ));
            }
        }
        for o in &self.orphans {
            out.push_str(&format!(
                "  ! {o} was deployed by detc and is no longer in the package (--prune deletes it)\n"
            ));
        }
        out
    }
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::Null => "(absent)".to_string(),
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(79).collect::<String>())
    } else {
        s
    }
}

/// Compare the package with the SIEM. A rule is unchanged when every setting detc manages
/// has the package's value (the SIEM may hold more: its own defaults and bookkeeping).
pub fn plan(target: &'static str, desired: &[Desired], remote: &[Remote], prune: bool) -> Plan {
    let deployed: BTreeMap<&str, &Remote> = remote.iter().map(|r| (r.key.as_str(), r)).collect();
    let mut changes: Vec<Change> = Vec::new();
    let mut wanted: Vec<&Desired> = desired.iter().collect();
    // What rules read (tuning objects, only ever created: Splunk filter macros, Sentinel
    // watchlists) comes first, so no rule runs before it.
    wanted.sort_by(|a, b| (a.initial.is_null(), &a.key).cmp(&(b.initial.is_null(), &b.key)));
    for d in wanted {
        let (action, differences) = match deployed.get(d.key.as_str()) {
            None => (Action::Create, vec![]),
            Some(r) => {
                let mut diffs = Vec::new();
                differences(&d.settings, &r.settings, "", &mut diffs);
                if diffs.is_empty() {
                    (Action::Unchanged, diffs)
                } else {
                    (Action::Update, diffs)
                }
            }
        };
        changes.push(Change {
            action,
            key: d.key.clone(),
            rule: d.rule.clone(),
            differences,
            settings: d.settings.clone(),
            initial: d.initial.clone(),
        });
    }
    let mut orphans = Vec::new();
    for r in remote.iter().filter(|r| r.managed) {
        if desired.iter().any(|d| d.key == r.key) {
            continue;
        }
        if prune {
            changes.push(Change {
                action: Action::Delete,
                key: r.key.clone(),
                rule: r.key.clone(),
                differences: vec![],
                settings: Value::Null,
                initial: Value::Null,
            });
        } else {
            orphans.push(r.key.clone());
        }
    }
    orphans.sort();
    Plan {
        target,
        changes,
        orphans,
    }
}

/// The settings of `want` that `have` does not hold with the same value. Objects compare
/// key by key (extra keys in `have` are the SIEM's own), arrays element by element.
fn differences(want: &Value, have: &Value, path: &str, out: &mut Vec<Difference>) {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => {
            for (k, wv) in w {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                differences(wv, h.get(k).unwrap_or(&Value::Null), &p, out);
            }
        }
        (Value::Array(w), Value::Array(h)) if w.len() == h.len() => {
            let mut inner = Vec::new();
            for (wv, hv) in w.iter().zip(h) {
                differences(wv, hv, path, &mut inner);
            }
            if !inner.is_empty() {
                out.push(Difference {
                    setting: path.to_string(),
                    deployed: have.clone(),
                    package: want.clone(),
                });
            }
        }
        _ if same_scalar(want, have) => {}
        _ => out.push(Difference {
            setting: path.to_string(),
            deployed: have.clone(),
            package: want.clone(),
        }),
    }
}

/// Equal values, where an empty array or object and an absent one are the same (APIs drop
/// empty settings), and numbers compare by value (`0` and `0.0`).
fn same_scalar(want: &Value, have: &Value) -> bool {
    let empty = |v: &Value| match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    match (want, have) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => want == have || (empty(want) && empty(have)),
    }
}

/// How applying a plan ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The target's name.
    pub(crate) target: &'static str,
    pub(crate) applied: Vec<Change>,
    /// The change that failed, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) failed: Option<Failed>,
    /// Changes not attempted because an earlier one failed.
    pub(crate) not_attempted: Vec<Change>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Failed {
    pub(crate) change: Change,
    pub(crate) error: String,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.failed.is_none()
    }

    pub fn text(&self) -> String {
        let t = self.target;
        let done = |c: &Change| format!("{:?} {}", c.action, c.key).to_lowercase();
        let mut out = String::new();
        for c in &self.applied {
            out.push_str(&format!("{t}: {}: done\n", done(c)));
        }
        if let Some(f) = &self.failed {
            out.push_str(&format!("{t}: {}: FAILED: {}\n", done(&f.change), f.error));
            for c in &self.not_attempted {
                out.push_str(&format!("{t}: {}: not attempted\n", done(c)));
            }
            out.push_str(&format!(
                "{t}: stopped after {} of {} changes; nothing else was changed. Run deploy \
                 again once the cause is fixed: it plans from what the SIEM holds now.\n",
                self.applied.len(),
                self.applied.len() + 1 + self.not_attempted.len()
            ));
        } else {
            out.push_str(&format!("{t}: {} changes applied\n", self.applied.len()));
        }
        out
    }
}

/// A SIEM detc deploys to.
pub trait Siem {
    /// The rules the package says the SIEM should hold.
    fn desired(&self, package: &[File]) -> Result<Vec<Desired>, DeployError>;
    /// What the SIEM holds (in detc's namespace: app, workspace, space) of the rules, and of
    /// the `desired` tuning objects it looks up one by one (Kibana's value and exception lists).
    fn deployed(&mut self, desired: &[Desired]) -> Result<Vec<Remote>, DeployError>;
    /// Apply one create, update or delete.
    fn apply(&mut self, change: &Change) -> Result<(), DeployError>;
}

/// Apply the changes of a plan in order; stop at the first that fails for good.
pub fn apply(siem: &mut dyn Siem, plan: &Plan) -> Report {
    let mut report = Report {
        target: plan.target,
        applied: Vec::new(),
        failed: None,
        not_attempted: Vec::new(),
    };
    let mut pending = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::Unchanged);
    for change in pending.by_ref() {
        match siem.apply(change) {
            Ok(()) => report.applied.push(change.clone()),
            Err(error) => {
                report.failed = Some(Failed {
                    change: change.clone(),
                    error: error.to_string(),
                });
                break;
            }
        }
    }
    report.not_attempted = pending.cloned().collect();
    report
}

/// Settings that only the environment may hold (a CI's secret store), never a file.
pub(crate) const SECRETS: [&str; 3] = ["SPLUNK_TOKEN", "AZURE_CLIENT_SECRET", "KIBANA_API_KEY"];

/// A `--settings` file: a YAML map of the same names as the environment variables
/// (`SPLUNK_URL: https://…`), without secrets.
pub fn load_config(path: &std::path::Path) -> Result<BTreeMap<String, String>, DeployError> {
    let (config, _): (BTreeMap<String, String>, _) = crate::schema::load(path)
        .map_err(|d| DeployError::Setting(format!("{}: {}", d.file, d.message)))?;
    refuse_secrets(&config, &path.display().to_string())?;
    Ok(config)
}

/// Settings from a file (`origin`) never hold a secret.
pub fn refuse_secrets(
    settings: &BTreeMap<String, String>,
    origin: &str,
) -> Result<(), DeployError> {
    match settings.keys().find(|k| SECRETS.contains(&k.as_str())) {
        Some(key) => Err(DeployError::Setting(format!(
            "{origin}: `{key}` is a secret; set it in the environment (your CI's secret store), \
             never in a file"
        ))),
        None => Ok(()),
    }
}

/// A value from the environment, or why it is missing.
pub(crate) fn env(name: &str) -> Result<String, DeployError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        _ => Err(DeployError::Setting(format!(
            "set {name} in the environment"
        ))),
    }
}

/// A setting from the environment, else the config file, else a default.
pub(crate) fn setting(
    config: &BTreeMap<String, String>,
    name: &str,
    default: Option<&str>,
) -> Result<String, DeployError> {
    env(name)
        .or_else(|e| config.get(name).cloned().ok_or(e))
        .or_else(|e| default.map(str::to_string).ok_or(e))
}

/// A base URL: https, or http to this machine only (tests, local proxies); no trailing `/`.
/// The host is the parsed URL's, so `http://127.0.0.1.invalid` or `http://127.0.0.1@host`
/// is not this machine; credentials in the URL are refused (they would be logged).
pub(crate) fn base_url(name: &str, url: &str) -> Result<String, DeployError> {
    base_url_checked(name, url).map_err(DeployError::Setting)
}

fn base_url_checked(name: &str, url: &str) -> Result<String, String> {
    let url = url.trim_end_matches('/');
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|e| format!("{name} is not a URL (`{url}`): {e}"))?;
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    if authority.contains('@') {
        return Err(format!(
            "{name} holds credentials before its host (`{url}`); give the secret in its own setting"
        ));
    }
    // The parser takes `[::1]` as the host of `[::1].invalid`: the authority must be exactly
    // the host and its port.
    let host_port = match (uri.host(), uri.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => String::new(),
    };
    if !authority.eq_ignore_ascii_case(&host_port) {
        return Err(format!("{name} is not a URL with a host (`{url}`)"));
    }
    let loopback = match uri.host() {
        Some(host) if host.eq_ignore_ascii_case("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    match uri.scheme_str() {
        Some("https") if uri.host().is_some() => Ok(url.to_string()),
        Some("http") if loopback => Ok(url.to_string()),
        _ => Err(format!(
            "{name} must be an https:// URL, or http:// to this machine (got `{url}`); secrets are never sent in clear text"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn desired(key: &str, settings: Value) -> Desired {
        Desired {
            key: key.into(),
            rule: key.into(),
            settings,
            initial: Value::Null,
        }
    }

    fn remote(key: &str, settings: Value, managed: bool) -> Remote {
        Remote {
            key: key.into(),
            settings,
            managed,
        }
    }

    #[test]
    fn plans_create_update_unchanged_and_prunes_only_managed_rules() {
        let want = [
            desired("a", json!({"q": "x", "n": 1})),
            desired("b", json!({"q": "y", "tags": []})),
            desired("c", json!({"q": "z"})),
        ];
        let have = [
            remote("b", json!({"q": "y", "server": 1}), true),
            remote("c", json!({"q": "old"}), true),
            remote("d", json!({}), true),
            remote("e", json!({}), false),
        ];
        let p = plan("splunk", &want, &have, false);
        let actions: Vec<_> = p
            .changes
            .iter()
            .map(|c| (c.key.as_str(), c.action))
            .collect();
        assert_eq!(
            actions,
            [
                ("a", Action::Create),
                ("b", Action::Unchanged),
                ("c", Action::Update)
            ]
        );
        assert_eq!(p.orphans, ["d"]);
        assert_eq!(p.changes[2].differences[0].setting, "q");
        let p = plan("splunk", &want, &have, true);
        assert_eq!(
            p.changes.last().map(|c| (c.key.as_str(), c.action)),
            Some(("d", Action::Delete))
        );
        assert!(p.orphans.is_empty());
        assert!(p.drifted());
        let same = plan("splunk", &want[1..2], &have[..1], false);
        assert!(!same.drifted());
    }

    #[test]
    fn markers_and_urls() {
        assert!(is_marked(&mark("A rule.\n", "r1"), "r1"));
        assert!(!is_marked("A rule.", "r1"));
        // A copy under another name keeps the line but is not detc's.
        assert!(!is_marked(&mark("A rule.", "r1"), "r1-copy"));
        assert!(base_url("X", "http://example.com").is_err());
        assert_eq!(
            base_url("X", "http://127.0.0.1:9/").ok().as_deref(),
            Some("http://127.0.0.1:9")
        );
        assert!(base_url("X", "https://siem:8089").is_ok());
        assert!(base_url("X", "https://kibana.example/base/path/").is_ok());
        for local in [
            "http://localhost:8089",
            "http://[::1]:9",
            "http://127.0.0.2",
        ] {
            assert_eq!(base_url("X", local).ok().as_deref(), Some(local), "{local}");
        }
        // The host decides, not the text's prefix.
        for remote in [
            "http://localhost.invalid",
            "http://127.0.0.1.invalid",
            "http://127.0.0.1@splunk.invalid",
            "http://[::1].invalid",
            "https://user:secret@splunk.invalid",
            "ftp://127.0.0.1",
            "not a url",
        ] {
            assert!(base_url("X", remote).is_err(), "{remote}");
        }
    }
}
