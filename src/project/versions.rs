//! Versions that change when a rule's deployed content changes: each (target, rule) has a
//! content hash and a version in the project's lock file (`detc.lock.json`, committed beside
//! detc.toml), as elastic/detection-rules keeps `etc/version.lock.json` (sha256 of the rule's
//! deployed form, version bumped by 1 when it changes). A target's package has one too.

use crate::base::{Code, Diagnostic, Span};
use crate::render::RuleContext;
use crate::targets::TargetName;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

pub(crate) const FILE_NAME: &str = "detc.lock.json";

/// The lock: `<target>/<rule id>` (or `<target>/package`) → what was last versioned.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versions {
    entries: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    /// The rule's name when it was versioned, for a reader of the file.
    name: String,
    sha256: String,
    version: u64,
}

impl Versions {
    /// The lock at `path`; none yet: every version starts at 1.
    pub fn load(path: &Path) -> Result<Versions, Diagnostic> {
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                Diagnostic::error(&file, Span::default(), Code::E0504, e.to_string())
                    .with_hint("detc package writes this file; restore it from version control, or delete it to start every version at 1")
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Versions::default()),
            Err(e) => Err(Diagnostic::error(&file, Span::default(), Code::E0500, e.to_string())),
        }
    }

    /// Set each rule's `version` for `target` (the locked one while its content is the same,
    /// the next when it changed, 1 for a new rule) and return the package's version, which
    /// changes when any rule's does or a rule comes or goes.
    pub fn stamp(&mut self, target: TargetName, rules: &mut [RuleContext]) -> u64 {
        let mut hashes = Vec::new();
        for rule in rules.iter_mut() {
            rule.version = 0;
            let hash = sha256(content(rule).as_bytes());
            rule.version = self.bump(
                format!("{}/{}", target.as_str(), rule.id),
                &rule.name,
                &hash,
            );
            hashes.push(format!("{} {hash}", rule.id));
        }
        hashes.sort();
        let package = sha256(hashes.join("\n").as_bytes());
        self.bump(format!("{}/package", target.as_str()), "package", &package)
    }

    fn bump(&mut self, key: String, name: &str, hash: &str) -> u64 {
        let entry = self.entries.entry(key).or_insert_with(|| Entry {
            name: name.to_string(),
            sha256: hash.to_string(),
            version: 1,
        });
        if entry.sha256 != hash {
            entry.sha256 = hash.to_string();
            entry.version += 1;
        }
        entry.name = name.to_string();
        entry.version
    }

    /// The lock as written: sorted, one entry per line group, ending in a newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// What the hash covers: the rule's context as JSON without its unset (null) keys, so a new
/// detc that adds a key no rule sets leaves every version as it was.
fn content(rule: &RuleContext) -> String {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.retain(|_, v| !v.is_null());
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(rule).unwrap_or_default();
    strip(&mut value);
    value.to_string()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
