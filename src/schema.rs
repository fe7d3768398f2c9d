//! Sources, fields and target mappings: data under `targets/`, loaded from YAML.
//!
//! `schema.yaml` declares each logical source and the type of each field; one mapping file
//! per target says where a source lives there and what each field is called.

use crate::diag::Diagnostic;
use crate::ir::FieldType;
use crate::syntax::ast::Span;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    pub sources: BTreeMap<String, SourceDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceDef {
    #[serde(default)]
    pub description: Option<String>,
    pub fields: BTreeMap<String, FieldTypeName>,
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
    pub fn field_type(&self, source: &str, field: &str) -> Option<FieldType> {
        self.sources
            .get(source)?
            .fields
            .get(field)
            .map(|t| (*t).into())
    }
}

/// One target's mapping file. Which keys a source needs depends on the target:
/// Splunk `search`, Sentinel `table`, Elastic `index` and `category`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    pub target: String,
    #[serde(default)]
    pub sources: BTreeMap<String, SourceMapping>,
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
    /// Elastic: the index pattern (ES|QL `FROM`).
    #[serde(default)]
    pub index: Option<String>,
    /// Elastic: the EQL event category.
    #[serde(default)]
    pub category: Option<String>,
    /// Exact, case-sensitive equalities every event of the source meets (target field → value,
    /// or a list of values: any of them). A user mapping that sets it replaces it whole
    /// (`filter: {}` removes the shipped one).
    #[serde(default)]
    pub filter: Option<BTreeMap<String, FilterValue>>,
    /// Sentinel: columns computed before the condition (`| extend NAME = KQL`), e.g. to turn
    /// a vendor's codes into the values the schema's field uses.
    #[serde(default)]
    pub extend: Option<BTreeMap<String, String>>,
    /// Logical field → the target's field name.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

/// A source filter's value: one value, or a list of values (the field has one of them).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum FilterValue {
    One(FilterScalar),
    AnyOf(Vec<FilterScalar>),
}

/// One filter value as written: a string, or an integer for a numeric target column (such as
/// the `EventID` int column of Sentinel's event tables), which the query compares unquoted.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum FilterScalar {
    Int(i64),
    Str(String),
}

impl FilterValue {
    pub fn values(&self) -> &[FilterScalar] {
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

impl Mapping {
    /// Overlay `other` (a user's file) on this one: source by source, key by key, field by field.
    pub fn merge(&mut self, other: Mapping) {
        for (name, theirs) in other.sources {
            let ours = self.sources.entry(name).or_default();
            ours.search = theirs.search.or(ours.search.take());
            ours.table = theirs.table.or(ours.table.take());
            ours.index = theirs.index.or(ours.index.take());
            ours.category = theirs.category.or(ours.category.take());
            // A source's filter and computed columns are settings of the source: replaced whole.
            ours.filter = theirs.filter.or(ours.filter.take());
            ours.extend = theirs.extend.or(ours.extend.take());
            ours.fields.extend(theirs.fields);
        }
    }
}

/// Parse a YAML document, turning a parse error into a diagnostic at its line and column.
pub fn from_yaml<T: for<'de> Deserialize<'de>>(file: &str, text: &str) -> Result<T, Diagnostic> {
    serde_saphyr::from_str(text).map_err(|e| {
        let offset = e
            .location()
            .map(|l| offset_of(text, l.line() as usize, l.column() as usize))
            .unwrap_or(0);
        let message = e.to_string();
        // The error text repeats the location; keep only its first line.
        let message = message.lines().next().unwrap_or("invalid YAML").to_string();
        Diagnostic::error(file, Span::new(offset, offset + 1), "E0501", message)
            .with_hint("see the mapping format in the README")
    })
}

/// Read and parse a YAML file.
pub fn load<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<(T, String), Diagnostic> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostic::error(
            &file,
            Span::default(),
            crate::project::UNREADABLE,
            format!("cannot read: {e}"),
        )
    })?;
    let value = from_yaml(&file, &text)?;
    Ok((value, text))
}

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
        assert_eq!(a.fields["x"], "X");
        assert_eq!(a.fields["y"], "why");
        assert_eq!(base.sources["b"].search.as_deref(), Some("index=b"));
        assert_eq!(
            base.sources["b"].filter,
            Some(Default::default()),
            "an empty filter replaces"
        );
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
        assert_eq!(err.code, "E0501");
        assert!(err.message.contains("serch"), "{}", err.message);
        assert_eq!(crate::diag::line_col(text, err.span.start).0, 4);
    }
}
