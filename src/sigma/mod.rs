//! Sigma rules (SigmaHQ, specification v2.1) → the same [`ast::Rule`]s `.det` files produce.
//!
//! [`convert_file`] reads one YAML file (one or several documents) and returns one result
//! per rule: the converted rule, or a [`SigmaError`] naming the file, the rule and the exact
//! reason it cannot be converted. Nothing is approximated: a Sigma construct detc cannot
//! say with the same meaning is refused for that rule.
//!
//! Meanings:
//!
//! * a map of fields is an AND, a list of values an OR (AND under `all`), a list of maps
//!   an OR; plain values compare case-insensitively (`cased` makes them case-sensitive);
//! * wildcards `*`/`?` become `startswith`/`endswith`/`contains` where the pattern is one
//!   of those shapes, otherwise `like`; a value without wildcards is `==`;
//! * `re` is `matches cased` (Sigma regexes are case-sensitive), `re|i` is `matches`;
//! * `null` is "absent" (`not exists f`, and for string fields also `not f == ""`, since
//!   detc's `exists` is false for an empty string); `''` is `f == ""`; `exists: true` is
//!   `exists f` (or `f == ""` for string fields). detc, like every target, does not tell a
//!   null field from an absent one.
//!
//! `like` values are pattern text, as in the AST of a `.det` file: `*` and `?` are
//! wildcards, `\*`, `\?` and `\\` the literal characters (Sigma's own escaping).

mod condition;
mod convert;
mod mapping;
mod value;
mod yaml;

pub use mapping::{FieldMap, Logsource, LogsourceMap, Matcher, Scalar, SigmaMapping};

use crate::schema::{FieldTypeName, Schema};
use crate::syntax::ast;
use std::collections::{BTreeMap, HashMap};

/// How to convert.
#[derive(Debug, Clone)]
pub struct Options {
    /// The detc schema (sources and field types); the shipped one by default.
    pub schema: Schema,
    /// Logsource and field mapping; the shipped `targets/sigma.yaml` by default.
    pub mapping: SigmaMapping,
    /// Keep Sigma's name for a field the mapping does not know, and read an unmapped
    /// logsource as a synthesised source `sigma_<product>_<category>_<service>`; the
    /// sources and fields this adds are returned in [`Converted::declares`].
    pub keep_sigma_names: bool,
    /// Values of `%name%` placeholders for the `expand` modifier.
    pub placeholders: Option<HashMap<String, Vec<String>>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            schema: shipped_schema(),
            mapping: SigmaMapping::shipped(),
            keep_sigma_names: false,
            placeholders: None,
        }
    }
}

/// The shipped detc schema.
pub(crate) fn shipped_schema() -> Schema {
    crate::schema::from_yaml(
        "targets/schema.yaml",
        include_str!("../../targets/schema.yaml"),
    )
    .expect("targets/schema.yaml is valid")
}

/// Sources and fields (with their types) a converted rule needs beyond the schema.
pub(crate) type Declares = BTreeMap<String, BTreeMap<String, FieldTypeName>>;

/// One converted rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    pub rule: ast::Rule,
    /// With `keep_sigma_names`: the sources and fields (with their types) the rule needs
    /// beyond the schema, to merge into it (see [`merge_declares`]). Empty otherwise.
    pub declares: Declares,
}

/// Why one Sigma rule was not converted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {rule}: {reason}")]
pub struct SigmaError {
    pub(crate) file: String,
    /// The rule's title and id, as far as they are known.
    pub(crate) rule: String,
    /// The rule's `id`, which finds its document in a multi-document file.
    pub(crate) id: Option<String>,
    pub reason: Reason,
}

impl SigmaError {
    /// Where in the file's text the refusal points: the parser's offset for invalid YAML;
    /// else, within the rule's document, the key the reason is about (the field's
    /// `Image|endswith:`, `condition:`, `logsource:`, `correlation:`, `status:`), or the
    /// document's start. The documents are plain text here: keys are found by their line.
    pub fn offset(&self, text: &str) -> usize {
        let field_key = |field: &str, key: &str| {
            key == field || key.strip_prefix(field).is_some_and(|m| m.starts_with('|'))
        };
        let about: &dyn Fn(&str) -> bool = match &self.reason {
            Reason::Yaml(_, at) => return *at,
            Reason::UnmappedField { field, .. }
            | Reason::Value { field, .. }
            | Reason::Regex { field, .. } => &move |k| field_key(field, k),
            Reason::Condition(_) | Reason::UnknownIdentifier(_) => &|k| k == "condition",
            Reason::Correlation(_) => &|k| k == "correlation",
            Reason::UnmappedLogsource(_) => &|k| k == "logsource",
            Reason::Keywords => &|k| k == "keywords",
            Reason::StatusUnsupported => &|k| k == "status",
            Reason::Malformed(_) => &|_| false,
        };
        let documents = yaml::document_spans(text);
        let is_id = |k: &str, line: &str| {
            k == "id"
                && self.id.as_deref().is_some_and(|id| {
                    let v = line.split_once(':').map_or("", |(_, v)| v.trim());
                    v.trim_matches(['\'', '"']) == id
                })
        };
        let document = documents
            .iter()
            .find(|&&(start, end)| yaml::keys(&text[start..end]).any(|(_, k, line)| is_id(k, line)))
            .or(documents.first())
            .copied()
            .unwrap_or((0, 0));
        let (start, end) = document;
        let find = |about: &dyn Fn(&str) -> bool| {
            yaml::keys(&text[start..end])
                .find(|(_, k, _)| about(k))
                .map(|(at, _, _)| start + at)
        };
        find(about)
            .or_else(|| find(&|k| k == "detection").filter(|_| self.reason == Reason::Keywords))
            .unwrap_or(start)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Reason {
    /// The parser's message and the byte offset it points at.
    #[error("invalid YAML: {0}")]
    Yaml(String, usize),
    #[error("{0}")]
    Malformed(String),
    #[error("status `unsupported`: Sigma marks the rule as not convertible")]
    StatusUnsupported,
    #[error("logsource {0} has no detc mapping")]
    UnmappedLogsource(String),
    #[error("field `{field}` of logsource {logsource} has no detc mapping")]
    UnmappedField { field: String, logsource: String },
    #[error(
        "keyword searches (values without a field) are not supported for this logsource: its detc source has no field holding the event's whole text (`keywords` in targets/sigma.yaml)"
    )]
    Keywords,
    #[error("field `{field}`: {message}")]
    Value { field: String, message: String },
    /// A regex outside detc's portable subset, or with a flag detc cannot keep.
    #[error("field `{field}`: {message}")]
    Regex { field: String, message: String },
    #[error("condition: {0}")]
    Condition(String),
    #[error("condition: no search identifier `{0}` in the detection")]
    UnknownIdentifier(String),
    #[error("correlation: {0}")]
    Correlation(String),
}

impl Reason {
    /// A short form for grouping refusals: the kind, with names but without values.
    pub fn summary(&self) -> String {
        match self {
            Reason::Yaml(..) => "invalid YAML".into(),
            Reason::Value { message, .. } => {
                // Keep the message up to its first quoted value.
                let cut = message.find(" (`").or_else(|| message.find(": `"));
                let m = match cut {
                    Some(i) => &message[..i],
                    None => message,
                };
                format!("value: {m}")
            }
            Reason::Regex { .. } => "value: regex outside detc's portable subset".into(),
            Reason::UnknownIdentifier(_) => "condition: unknown identifier".into(),
            other => other.to_string(),
        }
    }
}

/// Convert every rule of one Sigma YAML file. `path` names the file in errors and gives
/// the rule name (its stem).
pub fn convert_file(
    path: &str,
    text: &str,
    options: &Options,
) -> Vec<Result<Converted, SigmaError>> {
    convert::file(path, text, options)
}

/// A field Sigma rules use with two types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}` of source `{source_name}` is used as {first:?} and as {second:?}")]
pub struct TypeConflict {
    pub(crate) field: String,
    pub(crate) source_name: String,
    pub(crate) first: FieldTypeName,
    pub(crate) second: FieldTypeName,
}

/// Merge the `declares` of converted rules into a schema: new sources are added, new fields
/// added to existing sources. A field declared with two types is an error.
pub fn merge_declares<'a>(
    schema: &mut Schema,
    declares: impl IntoIterator<Item = &'a BTreeMap<String, BTreeMap<String, FieldTypeName>>>,
) -> Result<(), TypeConflict> {
    for d in declares {
        for (source, fields) in d {
            let def =
                schema
                    .sources
                    .entry(source.clone())
                    .or_insert_with(|| crate::schema::SourceDef {
                        description: Some(
                            "Synthesised from Sigma logsource (keep_sigma_names)".into(),
                        ),
                        fields: BTreeMap::new(),
                    });
            for (f, ty) in fields {
                match def.fields.get(f) {
                    Some(t) if t != ty => {
                        return Err(TypeConflict {
                            field: f.clone(),
                            source_name: source.clone(),
                            first: *t,
                            second: *ty,
                        });
                    }
                    Some(_) => {}
                    None => {
                        def.fields.insert(f.clone(), *ty);
                    }
                }
            }
        }
    }
    Ok(())
}

/// A Sigma settings file (mapping, placeholders) that cannot be read or is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

/// Read a placeholder file for `expand`: YAML `name: [value, ...]`.
pub fn load_placeholders(text: &str) -> Result<HashMap<String, Vec<String>>, SettingsError> {
    from_yaml(text)
}

/// A YAML document, or the first line of why not (the mapping and placeholder files).
fn from_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, SettingsError> {
    serde_saphyr::from_str(text).map_err(|e| {
        SettingsError(
            e.to_string()
                .lines()
                .next()
                .unwrap_or("invalid YAML")
                .to_string(),
        )
    })
}
