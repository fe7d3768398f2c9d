//! `targets/sigma.yaml`: Sigma logsources → detc sources, Sigma field names → detc fields.

use super::SettingsError;
use crate::schema::is_member_name;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The shipped mapping, built into the binary.
pub(crate) const SHIPPED: &str = include_str!("../../targets/sigma.yaml");

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SigmaMapping {
    #[serde(default)]
    pub logsources: Vec<LogsourceMap>,
    /// Global field map, tried after the matched logsource's own map (`~`: no mapping).
    #[serde(default)]
    pub(crate) fields: BTreeMap<String, Option<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsourceMap {
    #[serde(rename = "match")]
    pub(crate) matcher: Matcher,
    pub source: String,
    /// Sigma field → detc field (`~`: no mapping). The key `"*"` maps every other Sigma
    /// name to a member of a field family (`"*": winlog.event_data.*`).
    #[serde(default)]
    pub(crate) fields: BTreeMap<String, Option<String>>,
    /// Sigma field → the values it has on every event the detc source holds for this
    /// logsource (Sysmon `EventID: [1]` on process_creation). A test of the field with
    /// exactly these values is true on the source and converts to nothing.
    #[serde(default)]
    pub(crate) implied: BTreeMap<String, Vec<Scalar>>,
    /// Sigma field holding Sysmon-style `ALG=hex,ALG=hex` hash lists → algorithm name
    /// (`SHA256`) → the detc field holding that one hash.
    #[serde(default)]
    pub(crate) hashes: BTreeMap<String, BTreeMap<String, String>>,
    /// Sigma field naming a list of values (the unnamed EventData items, Sigma `Data`) →
    /// the detc string field holding them joined: U+0001, then each item followed by
    /// U+0001. A test of the field means "some item ..." (see targets/sigma.yaml).
    #[serde(default)]
    pub(crate) items: BTreeMap<String, String>,
    /// The detc field (a string field of `source`) holding the event's whole text, for
    /// Sigma keyword searches (values without a field). Without it keywords are refused.
    #[serde(default)]
    pub(crate) keywords: Option<String>,
    /// Sigma field → values: the logsource is the events of the detc source whose field has
    /// one of these values (Sysmon 12 `EventType` DeleteKey or DeleteValue for registry_delete).
    /// The test is added to every rule read through this entry.
    #[serde(default, rename = "where")]
    pub(crate) selects: BTreeMap<String, Vec<Scalar>>,
    /// Further candidates, tried in order for a rule that tests a field (or a hash
    /// algorithm) this entry does not map. Their own `match` is unused.
    #[serde(default, deserialize_with = "candidates")]
    pub(crate) fallback: Vec<LogsourceMap>,
}

/// One `fallback` entry: a logsource entry without `match` (it has its parent's).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Candidate {
    source: String,
    #[serde(default)]
    fields: BTreeMap<String, Option<String>>,
    #[serde(default)]
    implied: BTreeMap<String, Vec<Scalar>>,
    #[serde(default)]
    hashes: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    items: BTreeMap<String, String>,
    #[serde(default, rename = "where")]
    selects: BTreeMap<String, Vec<Scalar>>,
    #[serde(default)]
    keywords: Option<String>,
}

fn candidates<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<LogsourceMap>, D::Error> {
    let list: Vec<Candidate> = Vec::deserialize(d)?;
    Ok(list
        .into_iter()
        .map(|c| LogsourceMap {
            matcher: Matcher::default(),
            source: c.source,
            fields: c.fields,
            implied: c.implied,
            hashes: c.hashes,
            items: c.items,
            selects: c.selects,
            keywords: c.keywords,
            fallback: Vec::new(),
        })
        .collect())
}

impl LogsourceMap {
    /// This entry, then its fallbacks: the candidates a rule is read through, in order.
    pub fn candidates(&self) -> impl Iterator<Item = &LogsourceMap> {
        std::iter::once(self).chain(&self.fallback)
    }
}

/// A YAML scalar in the mapping: `1`, `"true"`, `SetValue`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Scalar {
    Int(i64),
    Bool(bool),
    Str(String),
}

impl Scalar {
    /// The value as Sigma compares it: text, case-insensitively.
    pub(crate) fn key(&self) -> String {
        match self {
            Scalar::Int(i) => i.to_string(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Str(s) => s.to_lowercase(),
        }
    }
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Str(s) => f.write_str(s),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    #[serde(default)]
    pub(crate) category: Option<String>,
    #[serde(default)]
    pub(crate) product: Option<String>,
    #[serde(default)]
    pub(crate) service: Option<String>,
    /// Keys (`category`, `product`, `service`) the rule's logsource must not carry: Sigma
    /// `product: linux` alone (every Linux log) is another logsource than linux/auditd.
    #[serde(default)]
    pub(crate) absent: Vec<LogsourceKey>,
}

/// One of the logsource keys detc reads.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogsourceKey {
    Category,
    Product,
    Service,
}

/// A rule's `logsource` (the keys detc looks at).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Logsource {
    pub(crate) category: Option<String>,
    pub(crate) product: Option<String>,
    pub(crate) service: Option<String>,
}

impl std::fmt::Display for Logsource {
    /// `windows/process_creation`, `windows/security`, `aws/cloudtrail`: product, then
    /// category, then service, the parts that are set.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<&str> = [&self.product, &self.category, &self.service]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if parts.is_empty() {
            f.write_str("(empty logsource)")
        } else {
            f.write_str(&parts.join("/"))
        }
    }
}

impl Matcher {
    /// How many keys the matcher names, when it matches `ls`.
    fn score(&self, ls: &Logsource) -> Option<usize> {
        let mut n = 0;
        for (want, have) in [
            (&self.category, &ls.category),
            (&self.product, &ls.product),
            (&self.service, &ls.service),
        ] {
            if let Some(w) = want {
                match have {
                    Some(h) if h.eq_ignore_ascii_case(w) => n += 1,
                    _ => return None,
                }
            }
        }
        for key in &self.absent {
            let have = match key {
                LogsourceKey::Category => &ls.category,
                LogsourceKey::Product => &ls.product,
                LogsourceKey::Service => &ls.service,
            };
            if have.is_some() {
                return None;
            }
            n += 1;
        }
        Some(n)
    }
}

impl SigmaMapping {
    /// The shipped mapping.
    pub(crate) fn shipped() -> SigmaMapping {
        // The shipped file is part of the binary and covered by tests.
        Self::from_yaml(SHIPPED).expect("targets/sigma.yaml is valid")
    }

    pub fn from_yaml(text: &str) -> Result<SigmaMapping, SettingsError> {
        super::from_yaml(text)
    }

    /// The shipped mapping overlaid with a user's file (see the format in targets/sigma.yaml).
    pub fn load(user: Option<&std::path::Path>) -> Result<SigmaMapping, SettingsError> {
        let mut m = Self::shipped();
        if let Some(path) = user {
            let text = std::fs::read_to_string(path)
                .map_err(|e| SettingsError(format!("{}: cannot read: {e}", path.display())))?;
            let theirs = Self::from_yaml(&text)
                .map_err(|e| SettingsError(format!("{}: {e}", path.display())))?;
            m.merge(theirs);
        }
        Ok(m)
    }

    /// Overlay `other`: its matchers come first (and so win ties), its global fields replace ours.
    pub(crate) fn merge(&mut self, other: SigmaMapping) {
        let mut logsources = other.logsources;
        logsources.append(&mut self.logsources);
        self.logsources = logsources;
        self.fields.extend(other.fields);
    }

    /// The most specific matcher for `ls` (the first among equals).
    pub(crate) fn logsource(&self, ls: &Logsource) -> Option<&LogsourceMap> {
        let mut best: Option<(usize, &LogsourceMap)> = None;
        for m in &self.logsources {
            if let Some(score) = m.matcher.score(ls)
                && best.is_none_or(|(b, _)| score > b)
            {
                best = Some((score, m));
            }
        }
        best.map(|(_, m)| m)
    }

    /// The detc name of a Sigma field under a matched logsource: the logsource's own entry,
    /// else the global one, else the logsource's catch-all `"*"` (a family member named
    /// like the Sigma field).
    pub(crate) fn field<'a>(&'a self, ls: Option<&'a LogsourceMap>, name: &str) -> FieldMap<'a> {
        let own = ls
            .and_then(|m| m.fields.get(name))
            .or_else(|| self.fields.get(name));
        if let Some(entry) = own {
            return entry
                .as_deref()
                .map_or(FieldMap::Unmapped, |f| FieldMap::To(Cow::Borrowed(f)));
        }
        match ls.and_then(|m| m.fields.get(CATCH_ALL)) {
            Some(Some(family)) if is_member_name(name) => {
                FieldMap::To(Cow::Owned(family.replace('*', name)))
            }
            Some(Some(family)) => FieldMap::NotAMember { family },
            _ => FieldMap::Unmapped,
        }
    }
}

/// The Sigma field key that maps every other name of a logsource to a family member.
pub(crate) const CATCH_ALL: &str = "*";

/// Where a Sigma field goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldMap<'a> {
    /// This detc field.
    To(Cow<'a, str>),
    /// Nowhere: no entry, or a `~` one.
    Unmapped,
    /// The catch-all would make it a member of `family`, but the name cannot be one.
    NotAMember { family: &'a str },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(c: Option<&str>, p: Option<&str>, s: Option<&str>) -> Logsource {
        Logsource {
            category: c.map(Into::into),
            product: p.map(Into::into),
            service: s.map(Into::into),
        }
    }

    #[test]
    fn most_specific_matcher_wins_and_user_first() {
        let mut m = SigmaMapping::from_yaml(
            "logsources:\n  - match: {category: process_creation}\n    source: a\n  - match: {category: process_creation, product: windows}\n    source: b\n",
        )
        .unwrap();
        let win = ls(Some("process_creation"), Some("Windows"), None);
        assert_eq!(m.logsource(&win).unwrap().source, "b");
        let linux = ls(Some("process_creation"), Some("linux"), None);
        assert_eq!(m.logsource(&linux).unwrap().source, "a");
        assert!(m.logsource(&ls(None, Some("windows"), None)).is_none());
        m.merge(
            SigmaMapping::from_yaml(
                "logsources:\n  - match: {category: process_creation, product: windows}\n    source: c\n",
            )
            .unwrap(),
        );
        assert_eq!(m.logsource(&win).unwrap().source, "c");
        assert_eq!(win.to_string(), "Windows/process_creation");
    }

    #[test]
    fn absent_keys_must_be_absent() {
        let m = SigmaMapping::from_yaml(
            "logsources:\n  - match: {product: linux, absent: [category, service]}\n    source: syslog\n  - match: {product: linux, service: auditd}\n    source: auditd\n",
        )
        .unwrap();
        assert_eq!(
            m.logsource(&ls(None, Some("linux"), None)).unwrap().source,
            "syslog"
        );
        assert_eq!(
            m.logsource(&ls(None, Some("linux"), Some("auditd")))
                .unwrap()
                .source,
            "auditd"
        );
        assert!(
            m.logsource(&ls(None, Some("linux"), Some("cron")))
                .is_none()
        );
        assert!(
            m.logsource(&ls(Some("file_event"), Some("linux"), None))
                .is_none()
        );
        assert!(
            SigmaMapping::from_yaml(
                "logsources:\n  - match: {product: linux, absent: [vendor]}\n    source: s\n"
            )
            .is_err()
        );
    }

    #[test]
    fn shipped_mapping_names_declared_fields_only() {
        let schema: crate::schema::Schema = crate::schema::from_yaml(
            "targets/schema.yaml",
            include_str!("../../targets/schema.yaml"),
        )
        .unwrap();
        let m = SigmaMapping::shipped();
        for l in m.logsources.iter().flat_map(LogsourceMap::candidates) {
            let src = schema
                .sources
                .get(&l.source)
                .unwrap_or_else(|| panic!("unknown source {}", l.source));
            let hashes = l.hashes.values().flat_map(|h| h.values());
            let named = l.fields.iter().chain(&m.fields);
            for (sigma, f) in named.filter_map(|(k, v)| Some((k, v.as_ref()?))) {
                if sigma == CATCH_ALL {
                    assert!(
                        src.fields.contains_key(f),
                        "{}: the catch-all names `{f}`, which is not a family of the source",
                        l.source
                    );
                } else {
                    assert!(src.field_type(f).is_some(), "{} has no field {f}", l.source);
                }
            }
            for f in hashes {
                assert!(src.field_type(f).is_some(), "{} has no field {f}", l.source);
            }
            for f in l.items.values() {
                assert_eq!(
                    src.fields.get(f),
                    Some(&crate::schema::FieldTypeName::String),
                    "{}: item-list field {f} must be a string field",
                    l.source
                );
            }
            if let Some(k) = &l.keywords {
                assert_eq!(
                    src.fields.get(k),
                    Some(&crate::schema::FieldTypeName::String),
                    "{}: keyword field {k} must be a string field",
                    l.source
                );
            }
            for f in l.selects.keys() {
                assert!(
                    l.fields.contains_key(f),
                    "{}: `where` field {f} unmapped",
                    l.source
                );
            }
        }
    }
}
