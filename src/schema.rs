//! Sources, fields and target mappings: data under `targets/`, loaded from YAML.
//!
//! `schema.yaml` declares each logical source and the type of each field; one mapping file
//! per target says where a source lives there and what each field is called.
//!
//! **Field families.** A schema key `prefix.*` (`winlog.event_data.*: string`) declares every
//! field `prefix.<Name>` whose `Name` is one segment `[A-Za-z_][A-Za-z0-9_]*` (a *member*),
//! with that type; a field declared by its own name wins. In a target mapping the same key
//! maps every member by a pattern in which `*` stands for `Name` (`winlog.event_data.*:
//! "EventData.*"`); an entry for the member itself wins, and `~` says that a field (member
//! or not) has no place on that target. [`SourceDef::lookup`] and [`SourceMapping::field`]
//! are the only places that resolve names, so `check`, every target, the evaluator and the
//! catalog agree.

use crate::base::diag::Diagnostic;
use crate::base::{Code, Span};
use crate::ir::FieldType;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    pub(crate) sources: BTreeMap<String, SourceDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SourceDef {
    #[serde(default)]
    pub(crate) description: Option<String>,
    pub(crate) fields: BTreeMap<String, FieldTypeName>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FieldTypeName {
    String,
    Number,
    Ip,
    Boolean,
}

impl From<FieldTypeName> for FieldType {
    fn from(t: FieldTypeName) -> Self {
        match t {
            FieldTypeName::String => FieldType::String,
            FieldTypeName::Number => FieldType::Number,
            FieldTypeName::Ip => FieldType::Ip,
            FieldTypeName::Boolean => FieldType::Boolean,
        }
    }
}

impl Schema {
    pub(crate) fn field_type(&self, source: &str, field: &str) -> Option<FieldType> {
        self.sources.get(source)?.field_type(field)
    }

    /// Every family key is `prefix.*` with a plain field name as prefix.
    pub fn check_families(&self) -> Result<(), FamilyError> {
        for (name, src) in &self.sources {
            for key in src.fields.keys() {
                check_family_key(key).map_err(|e| FamilyError(format!("source `{name}`: {e}")))?;
            }
        }
        Ok(())
    }
}

/// A field family written wrong in a schema or mapping file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FamilyError(pub(crate) String);

impl FamilyError {
    /// The Diagnostic of the file that writes it.
    pub(crate) fn into_diagnostic(self, file: &str) -> Diagnostic {
        Diagnostic::error(file, Span::default(), Code::E0501, self.0)
            .with_hint("see the field family format at the top of targets/schema.yaml")
    }
}

/// The key suffix that makes a field key a family.
const FAMILY: &str = ".*";

/// Whether `s` can be a family member's name: one segment `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_member_name(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `prefix.Name` as the family key `prefix.*` and the member `Name`, when `Name` is one.
fn member_of(name: &str) -> Option<(String, &str)> {
    let (prefix, member) = name.rsplit_once('.')?;
    is_member_name(member).then(|| (format!("{prefix}{FAMILY}"), member))
}

/// A field key with a `*` must be a family key: `prefix.*`, the prefix a dotted name.
fn check_family_key(key: &str) -> Result<(), String> {
    if !key.contains('*') {
        return Ok(());
    }
    let plain = key.strip_suffix(FAMILY).is_some_and(|prefix| {
        prefix.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_@".contains(c))
        })
    });
    if plain {
        Ok(())
    } else {
        Err(format!(
            "`{key}`: a field family is written `prefix.*` (a `*` only as the last segment)"
        ))
    }
}

/// Where a field name stands among a source's declared fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldLookup {
    /// Declared by its own name.
    Declared(FieldTypeName),
    /// A member of a declared family.
    Member(FieldTypeName),
    /// Under a family's prefix, but not a member name (`family` is the family key).
    NotAMember {
        family: String,
    },
    Unknown,
}

impl SourceDef {
    /// How `name` is declared: by itself, as a family member, or not at all.
    pub(crate) fn lookup(&self, name: &str) -> FieldLookup {
        if let Some(t) = self.fields.get(name).filter(|_| !name.ends_with(FAMILY)) {
            return FieldLookup::Declared(*t);
        }
        if let Some(t) = member_of(name).and_then(|(family, _)| self.fields.get(&family)) {
            return FieldLookup::Member(*t);
        }
        let family = self.families().find(|f| {
            name.strip_prefix(&f[..f.len() - 1])
                .is_some_and(|rest| !rest.is_empty())
        });
        match family {
            Some(f) => FieldLookup::NotAMember {
                family: f.to_string(),
            },
            None => FieldLookup::Unknown,
        }
    }

    /// The type of a declared field or family member.
    pub(crate) fn field_type(&self, name: &str) -> Option<FieldType> {
        match self.lookup(name) {
            FieldLookup::Declared(t) | FieldLookup::Member(t) => Some(t.into()),
            FieldLookup::NotAMember { .. } | FieldLookup::Unknown => None,
        }
    }

    /// The family keys (`winlog.event_data.*`).
    pub(crate) fn families(&self) -> impl Iterator<Item = &str> {
        self.fields
            .keys()
            .map(String::as_str)
            .filter(|k| k.ends_with(FAMILY))
    }
}

/// One target's mapping file. Which keys a source needs depends on the target:
/// Splunk `search`, Sentinel `table`, Elastic `index` and `category`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    pub(crate) target: String,
    #[serde(default)]
    pub sources: BTreeMap<String, SourceMapping>,
    /// Sentinel: table → the data connectors that fill it (`requiredDataConnectors`).
    #[serde(default)]
    pub(crate) connectors: BTreeMap<String, Vec<Connector>>,
    /// Sentinel: tactic → the techniques the Azure-Sentinel repository's template
    /// validation knows under it (the repository YAML's `relevantTechniques`).
    #[serde(default)]
    pub(crate) template_techniques: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SourceMapping {
    /// Splunk: the base search (search terms, or a pipeline starting with `|`).
    #[serde(default)]
    pub search: Option<String>,
    /// Sentinel: the table.
    #[serde(default)]
    pub table: Option<String>,
    /// Sentinel: further tables read with `table`, as `union isfuzzy=true Table, (expr), ...`
    /// (a workspace without one of them still runs the query). An entry is a table, or a
    /// table with `| extend` giving its columns the types `table` has.
    #[serde(default)]
    pub union: Option<Vec<String>>,
    /// Sentinel: a row per element of a dynamic array (`| mv-expand NAME = EXPR` after the
    /// table), e.g. an alert's entities.
    #[serde(default)]
    pub(crate) expand: Option<String>,
    /// Elastic: the index pattern (ES|QL `FROM`).
    #[serde(default)]
    pub index: Option<String>,
    /// Elastic: the EQL event category.
    #[serde(default)]
    pub(crate) category: Option<String>,
    /// Exact, case-sensitive equalities every event of the source meets (target field → value,
    /// or a list of values: any of them; a YAML number for a numeric column, text otherwise).
    /// A user mapping that sets it replaces it whole (`filter: {}` removes the shipped one).
    #[serde(default)]
    pub(crate) filter: Option<BTreeMap<String, FilterValue>>,
    /// Computed fields. Sentinel: columns computed before the condition (`| extend NAME =
    /// KQL`), e.g. to turn a vendor's codes into the values the schema's field uses.
    /// Splunk: field name → the SPL pipeline computing it (`rex ... | eval NAME=...`), run
    /// after the base search by the queries that read the field.
    #[serde(default)]
    pub(crate) extend: Option<BTreeMap<String, String>>,
    /// The source of other rules' alerts: the logical field (`rule.name` or `rule.id`) by
    /// which the target's alert store names the detc rule that raised an alert. The other
    /// `rule.*` fields are computed from it and the project's rules (`Mapping::with_facts`).
    #[serde(default)]
    pub(crate) facts: Option<String>,
    /// Logical field → the target's field name; `~`: no place on this target. A family key
    /// (`prefix.*`) maps every member by a pattern whose `*` stands for the member's name.
    #[serde(default)]
    pub(crate) fields: BTreeMap<String, Option<String>>,
    /// Splunk: Enterprise Security's security domain of the source's notables
    /// (`threat` when unset).
    #[serde(default)]
    pub(crate) security_domain: Option<SecurityDomain>,
    /// Where the vendor documents the data this entry relies on (URLs or document titles).
    #[serde(default)]
    pub source: Option<References>,
    /// Data the vendor's stock product does not give, and what must be built for it: key
    /// `source` for the whole source (a custom table, index or input), or a logical field of
    /// `fields` (a lookup, an ingest pipeline, a DCR transformation).
    #[serde(default)]
    pub enrichment: BTreeMap<String, String>,
}

/// Splunk Enterprise Security's security domains: contentctl's enum of them
/// (splunk/contentctl@fc00988:contentctl/objects/enums.py, `SecurityDomain`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecurityDomain {
    Access,
    Audit,
    Endpoint,
    Identity,
    Network,
    Threat,
}

/// Sentinel: a data connector that fills a table, as the Azure-Sentinel repository's
/// analytic rules name it in `requiredDataConnectors` (`data_type`: the name they give the
/// table's data when it is not the table's, e.g. a parser's).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Connector {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) data_type: Option<String>,
}

/// One reference or a list of them.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum References {
    One(String),
    Many(Vec<String>),
}

impl References {
    pub fn all(&self) -> &[String] {
        match self {
            References::One(r) => std::slice::from_ref(r),
            References::Many(rs) => rs,
        }
    }
}

/// The `enrichment` key that stands for the whole source rather than one field.
pub const WHOLE_SOURCE: &str = "source";

/// A source filter's value: one value, or a list of values (the field has one of them).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub(crate) enum FilterValue {
    One(FilterScalar),
    AnyOf(Vec<FilterScalar>),
}

/// One filter value as written: a string, or an integer for a numeric target column (such as
/// the `EventID` int column of Sentinel's event tables), which the query compares unquoted.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub(crate) enum FilterScalar {
    Int(i64),
    Str(String),
}

impl FilterValue {
    pub(crate) fn values(&self) -> &[FilterScalar] {
        match self {
            FilterValue::One(v) => std::slice::from_ref(v),
            FilterValue::AnyOf(vs) => vs,
        }
    }
}

impl std::fmt::Display for FilterScalar {
    /// The value as text (the form an event's field is compared with).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FilterScalar::Int(i) => write!(f, "{i}"),
            FilterScalar::Str(s) => f.write_str(s),
        }
    }
}

impl SourceMapping {
    /// The target's name for a logical field: its own entry, else its family's pattern with
    /// the member's name for `*`. `None`: the field has no place on this target.
    pub(crate) fn field(&self, name: &str) -> Option<Cow<'_, str>> {
        if let Some(entry) = self.fields.get(name) {
            return entry.as_deref().map(Cow::Borrowed);
        }
        let (family, member) = member_of(name)?;
        let pattern = self.fields.get(&family)?.as_deref()?;
        Some(Cow::Owned(pattern.replace('*', member)))
    }

    /// Every family key is `prefix.*` and its pattern holds exactly one `*`; an `extend`
    /// key with a `*` (a column per member) holds one, and its expression names the member
    /// `{*}`.
    fn check_families(&self) -> Result<(), String> {
        for (key, value) in &self.fields {
            check_family_key(key)?;
            if let (true, Some(v)) = (key.ends_with(FAMILY), value)
                && v.matches('*').count() != 1
            {
                return Err(format!(
                    "`{key}: {v}`: a family's pattern holds one `*`, which stands for the member's name"
                ));
            }
        }
        for key in self.enrichment.keys() {
            if key != WHOLE_SOURCE && !self.fields.contains_key(key) {
                return Err(format!(
                    "enrichment `{key}`: name a field of this source's `fields`, or `{WHOLE_SOURCE}` for the whole source"
                ));
            }
        }
        for (column, expr) in self.extend.iter().flatten() {
            let stars = column.matches('*').count();
            let named = expr.contains(MEMBER);
            if stars > 1 || (stars == 1) != named {
                return Err(format!(
                    "extend `{column}`: a column per family member has one `*` in its name and names the member `{MEMBER}` in its expression; other columns have neither"
                ));
            }
        }
        Ok(())
    }
}

/// How an `extend` expression of a column per family member names the member.
pub(crate) const MEMBER: &str = "{*}";

impl Mapping {
    /// The family rules of every source (see [`SourceMapping::field`]).
    pub fn check_families(&self) -> Result<(), FamilyError> {
        for (name, src) in &self.sources {
            src.check_families()
                .map_err(|e| FamilyError(format!("source `{name}`: {e}")))?;
        }
        Ok(())
    }

    /// Overlay `other` (a user's file) on this one: source by source, key by key, field by field.
    pub(crate) fn merge(&mut self, other: Mapping) {
        self.connectors.extend(other.connectors);
        if !other.template_techniques.is_empty() {
            self.template_techniques = other.template_techniques;
        }
        for (name, theirs) in other.sources {
            let ours = self.sources.entry(name).or_default();
            ours.search = theirs.search.or(ours.search.take());
            ours.table = theirs.table.or(ours.table.take());
            ours.union = theirs.union.or(ours.union.take());
            ours.expand = theirs.expand.or(ours.expand.take());
            ours.index = theirs.index.or(ours.index.take());
            ours.category = theirs.category.or(ours.category.take());
            // A source's filter and computed columns are settings of the source: replaced whole.
            ours.filter = theirs.filter.or(ours.filter.take());
            ours.extend = theirs.extend.or(ours.extend.take());
            ours.facts = theirs.facts.or(ours.facts.take());
            ours.source = theirs.source.or(ours.source.take());
            ours.security_domain = theirs.security_domain.or(ours.security_domain.take());
            ours.fields.extend(theirs.fields);
            ours.enrichment.extend(theirs.enrichment);
        }
    }
}

/// Parse a YAML document, turning a parse error into a diagnostic at its line and column.
pub fn from_yaml<T: for<'de> Deserialize<'de>>(file: &str, text: &str) -> Result<T, Diagnostic> {
    serde_saphyr::from_str(text).map_err(|e| {
        let (message, offset) = yaml_error(text, &e);
        Diagnostic::error(file, Span::new(offset, offset + 1), Code::E0501, message)
            .with_hint("see the mapping format in the README")
    })
}

/// A YAML parse error: its message (the first line, without the `error: line L column C: `
/// it starts with, which the diagnostic's place says) and the byte offset it points at.
pub(crate) fn yaml_error(text: &str, e: &serde_saphyr::Error) -> (String, usize) {
    let at = e.location().map_or(0, |l| {
        offset_of(text, l.line() as usize, l.column() as usize)
    });
    let message = e.to_string();
    let first = message.lines().next().unwrap_or("invalid YAML");
    let what = first
        .split_once(": ")
        .and_then(|(_, rest)| rest.strip_prefix("line "))
        .and_then(|rest| rest.split_once(": "))
        .map_or(first, |(_, what)| what);
    (what.to_string(), at)
}

/// A settings file's text, or E0500 naming it.
pub(crate) fn read_text(path: &Path) -> Result<String, Diagnostic> {
    std::fs::read_to_string(path).map_err(|e| {
        Diagnostic::error(
            &path.display().to_string(),
            Span::default(),
            Code::E0500,
            format!("cannot read: {e}"),
        )
    })
}

/// Read and parse a YAML file.
pub(crate) fn load<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<(T, String), Diagnostic> {
    let text = read_text(path)?;
    let value = from_yaml(&path.display().to_string(), &text)?;
    Ok((value, text))
}

/// The byte offset of a 1-based line and column (in characters).
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let line_start = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum::<usize>();
    let rest = &text[line_start.min(text.len())..];
    line_start
        + rest
            .char_indices()
            .nth(column.saturating_sub(1))
            .map_or(rest.len(), |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_mapping_overrides_source_by_source_and_field_by_field() {
        let mut base: Mapping = from_yaml(
            "base",
            "target: splunk\nsources:\n  a:\n    search: 'index=a'\n    fields: {x: X, y: Y}\n  b:\n    search: 'index=b'\n    filter: {k: v}\n",
        )
        .unwrap();
        let user: Mapping = from_yaml(
            "user",
            "target: splunk\nsources:\n  a:\n    fields: {y: why}\n  b:\n    filter: {}\n",
        )
        .unwrap();
        base.merge(user);
        let a = &base.sources["a"];
        assert_eq!(a.search.as_deref(), Some("index=a"));
        assert_eq!(a.field("x").as_deref(), Some("X"));
        assert_eq!(a.field("y").as_deref(), Some("why"));
        assert_eq!(base.sources["b"].search.as_deref(), Some("index=b"));
        assert_eq!(
            base.sources["b"].filter,
            Some(Default::default()),
            "an empty filter replaces"
        );
    }

    fn source(yaml: &str) -> SourceDef {
        let s: Schema = from_yaml("s", &format!("sources:\n  s:\n    fields: {yaml}\n")).unwrap();
        s.check_families().unwrap();
        s.sources["s"].clone()
    }

    #[test]
    fn family_members_and_explicit_fields() {
        let s = source("{a.*: string, a.N: number, b: ip}");
        assert_eq!(
            s.lookup("a.Name_1"),
            FieldLookup::Member(FieldTypeName::String)
        );
        assert_eq!(
            s.lookup("a.N"),
            FieldLookup::Declared(FieldTypeName::Number)
        );
        assert_eq!(s.lookup("b"), FieldLookup::Declared(FieldTypeName::Ip));
        for bad in ["a.x.y", "a.1x", "a.@x"] {
            assert_eq!(
                s.lookup(bad),
                FieldLookup::NotAMember {
                    family: "a.*".into()
                },
                "{bad}"
            );
        }
        assert_eq!(
            s.lookup("a.*"),
            FieldLookup::NotAMember {
                family: "a.*".into()
            }
        );
        assert_eq!(s.lookup("c.x"), FieldLookup::Unknown);
        assert_eq!(s.field_type("a.x"), Some(FieldType::String));
        assert_eq!(s.field_type("a.x.y"), None);
    }

    #[test]
    fn family_keys_must_end_in_a_star_segment() {
        for key in ["a*", "a.*.b", "*", "a.b*", "a..*"] {
            let s: Schema = from_yaml(
                "s",
                &format!("sources:\n  s:\n    fields: {{'{key}': string}}\n"),
            )
            .unwrap();
            let err = s.check_families().unwrap_err();
            assert!(err.0.contains("prefix.*"), "{key}: {err}");
        }
    }

    fn mapping(yaml: &str) -> Mapping {
        from_yaml("m", &format!("target: sentinel\nsources:\n  s:\n{yaml}")).unwrap()
    }

    #[test]
    fn family_mapping_explicit_wins_and_tilde_is_no_place() {
        let m = mapping("    fields: {a.*: 'E.*', a.X: Col, a.Y: ~, b: B}\n");
        m.check_families().unwrap();
        let s = &m.sources["s"];
        assert_eq!(s.field("a.Name").as_deref(), Some("E.Name"));
        assert_eq!(s.field("a.X").as_deref(), Some("Col"));
        assert_eq!(s.field("a.Y"), None);
        assert_eq!(s.field("a.x.y"), None, "not a member");
        assert_eq!(s.field("b").as_deref(), Some("B"));
        assert_eq!(s.field("c"), None);
    }

    #[test]
    fn family_mapping_checks() {
        for (yaml, needle) in [
            ("    fields: {a.*: 'E'}\n", "one `*`"),
            ("    fields: {a.*: '**'}\n", "one `*`"),
            ("    fields: {'a*': 'E'}\n", "prefix.*"),
            ("    extend: {'*_': 'f(x)'}\n", "{*}"),
            ("    extend: {'C': 'f({*})'}\n", "{*}"),
            ("    extend: {'*_*': 'f({*})'}\n", "{*}"),
        ] {
            let err = mapping(yaml).check_families().unwrap_err();
            assert!(err.0.contains(needle), "{yaml}: {err}");
        }
        mapping("    fields: {a.*: '*_'}\n    extend: {'*_': 'f({*})'}\n")
            .check_families()
            .unwrap();
    }

    #[test]
    fn user_mapping_overlays_a_family() {
        let mut base = mapping("    fields: {a.*: 'E.*', a.X: Col}\n");
        base.merge(mapping("    fields: {a.*: 'F_*', a.Z: ~}\n"));
        let s = &base.sources["s"];
        assert_eq!(s.field("a.Name").as_deref(), Some("F_Name"));
        assert_eq!(
            s.field("a.X").as_deref(),
            Some("Col"),
            "the shipped member entry stays"
        );
        assert_eq!(s.field("a.Z"), None, "`~` in the overlay removes a member");
    }

    #[test]
    fn vendor_references_and_enrichment_name_the_source_or_its_fields() {
        let m = mapping(
            "    source: https://example.invalid/table\n    fields: {a: A}\n    enrichment: {source: custom table, a: a lookup}\n",
        );
        m.check_families().unwrap();
        let s = &m.sources["s"];
        assert_eq!(
            s.source.as_ref().unwrap().all(),
            ["https://example.invalid/table"]
        );
        let listed = mapping("    source: [one, two]\n");
        assert_eq!(listed.sources["s"].source.as_ref().unwrap().all().len(), 2);
        let err = mapping("    fields: {a: A}\n    enrichment: {b: what}\n")
            .check_families()
            .unwrap_err();
        assert!(err.0.contains("enrichment `b`"), "{err}");
    }

    #[test]
    fn filter_values_are_strings_integers_or_lists() {
        let m: Mapping = from_yaml(
            "m",
            "target: sentinel\nsources:\n  a:\n    filter: {s: \"4104\", w: Word, i: 1, l: [12, \"x\"]}\n",
        )
        .unwrap();
        let f = m.sources["a"].filter.as_ref().unwrap();
        let s = |v: &str| FilterScalar::Str(v.into());
        assert_eq!(
            f["s"].values(),
            [s("4104")],
            "a quoted number stays a string"
        );
        assert_eq!(f["w"].values(), [s("Word")]);
        assert_eq!(f["i"].values(), [FilterScalar::Int(1)]);
        assert_eq!(f["l"].values(), [FilterScalar::Int(12), s("x")]);
    }

    #[test]
    fn unknown_keys_are_errors_with_position() {
        let text = "target: splunk\nsources:\n  a:\n    serch: 'index=a'\n";
        let err = from_yaml::<Mapping>("m.yaml", text).unwrap_err();
        assert_eq!(err.code, Code::E0501);
        assert!(err.message.contains("serch"), "{}", err.message);
        assert_eq!(crate::base::diag::line_col(text, err.span.start).0, 4);
    }
}
