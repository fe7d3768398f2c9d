//! Sigma documents → `ast::Rule`s.

use super::condition::{self, Cond};
use super::mapping::{FieldMap, Logsource, LogsourceMap, Scalar};
use super::value::{self, CmpOp, Linking, Num, Part, Raw, SigmaStr, Val};
use super::{Converted, Options, Reason, SigmaError};
use crate::base::Span;
use crate::ir::FieldType;
use crate::schema::FieldTypeName;
use crate::syntax::ast::{
    self, Body, Comparison, Expr, GroupKey, Having, HavingTerm, Ident, Meta, Op, Query, Value,
    ValueKind,
};
use serde_json::Value as J;
use std::collections::BTreeMap;

type Declares = BTreeMap<String, BTreeMap<String, FieldTypeName>>;

/// One YAML document, read leniently into the parts detc looks at.
#[derive(Debug, Clone, Default)]
pub(crate) struct Doc {
    pub(crate) title: Option<String>,
    pub(crate) id: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) references: Vec<String>,
    pub(crate) author: Option<String>,
    pub(crate) date: Option<String>,
    pub(crate) modified: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) level: Option<String>,
    pub(crate) falsepositives: Vec<String>,
    pub(crate) logsource: Option<Logsource>,
    /// Search identifiers (`condition` excluded).
    pub(crate) searches: BTreeMap<String, J>,
    /// The condition(s); several are OR-ed.
    pub(crate) conditions: Vec<String>,
    pub(crate) has_detection: bool,
    pub(crate) correlation: Option<Correlation>,
    pub(crate) generate: bool,
    pub(crate) action: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Correlation {
    pub(crate) kind: String,
    pub(crate) rules: Vec<String>,
    pub(crate) group_by: Vec<String>,
    pub(crate) timespan: Option<String>,
    pub(crate) condition: Option<serde_json::Map<String, J>>,
    /// `aliases`: a group-by name → (referenced rule → that rule's field).
    pub(crate) aliases: BTreeMap<String, BTreeMap<String, String>>,
}

fn scalar_string(v: &J) -> Option<String> {
    match v {
        J::String(s) => Some(s.clone()),
        J::Number(n) => Some(n.to_string()),
        J::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A correlation's `aliases`: `name: {rule: field, ...}`, each value a string.
fn aliases(v: Option<&J>) -> Result<BTreeMap<String, BTreeMap<String, String>>, String> {
    let bad = || "correlation `aliases` must map each alias to `rule: field` pairs".to_string();
    let Some(v) = v else {
        return Ok(BTreeMap::new());
    };
    let J::Object(m) = v else { return Err(bad()) };
    m.iter()
        .map(|(alias, rules)| {
            let J::Object(rules) = rules else {
                return Err(bad());
            };
            let fields = rules
                .iter()
                .map(|(r, f)| Ok((r.clone(), string(Some(f)).ok_or_else(bad)?)))
                .collect::<Result<_, String>>()?;
            Ok((alias.clone(), fields))
        })
        .collect()
}

fn strings(v: Option<&J>) -> Vec<String> {
    match v {
        Some(J::Array(items)) => items.iter().filter_map(scalar_string).collect(),
        Some(v) => scalar_string(v).into_iter().collect(),
        None => vec![],
    }
}

fn string(v: Option<&J>) -> Option<String> {
    v.and_then(scalar_string)
}

impl Doc {
    fn read(v: &J) -> Result<Doc, String> {
        let J::Object(m) = v else {
            return Err("a Sigma document must be a YAML mapping".into());
        };
        let mut d = Doc {
            title: string(m.get("title")),
            id: string(m.get("id")),
            name: string(m.get("name")),
            status: string(m.get("status")),
            description: string(m.get("description")),
            references: strings(m.get("references")),
            author: string(m.get("author")),
            date: string(m.get("date")),
            modified: string(m.get("modified")),
            tags: strings(m.get("tags")),
            level: string(m.get("level")),
            falsepositives: strings(m.get("falsepositives")),
            action: string(m.get("action")),
            generate: matches!(m.get("generate"), Some(J::Bool(true))),
            ..Doc::default()
        };
        if let Some(ls) = m.get("logsource") {
            let J::Object(ls) = ls else {
                return Err("`logsource` must be a mapping".into());
            };
            d.logsource = Some(Logsource {
                category: string(ls.get("category")),
                product: string(ls.get("product")),
                service: string(ls.get("service")),
            });
        }
        if let Some(det) = m.get("detection") {
            let J::Object(det) = det else {
                return Err("`detection` must be a mapping".into());
            };
            d.has_detection = true;
            for (k, v) in det {
                match k.as_str() {
                    "condition" => {
                        d.conditions = match v {
                            J::String(s) => vec![s.clone()],
                            J::Array(items) => items
                                .iter()
                                .map(|i| match i {
                                    J::String(s) => Ok(s.clone()),
                                    _ => Err("`condition` must be a string or a list of strings"),
                                })
                                .collect::<Result<_, _>>()?,
                            _ => {
                                return Err(
                                    "`condition` must be a string or a list of strings".into()
                                );
                            }
                        }
                    }
                    // Sigma 1.x aggregation window; meaningless without an aggregation.
                    "timeframe" => {}
                    _ => {
                        d.searches.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        if let Some(c) = m.get("correlation") {
            let J::Object(c) = c else {
                return Err("`correlation` must be a mapping".into());
            };
            d.correlation = Some(Correlation {
                kind: string(c.get("type")).unwrap_or_default(),
                rules: strings(c.get("rules")),
                group_by: strings(c.get("group-by")),
                timespan: string(c.get("timespan")),
                condition: match c.get("condition") {
                    Some(J::Object(m)) => Some(m.clone()),
                    None => None,
                    Some(_) => return Err("correlation `condition` must be a mapping".into()),
                },
                aliases: aliases(c.get("aliases"))?,
            });
            if let Some(J::Bool(true)) = c.get("generate") {
                d.generate = true;
            }
        }
        Ok(d)
    }

    fn label(&self) -> String {
        match (&self.title, &self.id) {
            (Some(t), Some(id)) => format!("\"{t}\" ({id})"),
            (Some(t), None) => format!("\"{t}\""),
            (None, Some(id)) => format!("({id})"),
            (None, None) => "(untitled)".into(),
        }
    }
}

/// `[a-z][a-z0-9_]*` from a file name.
pub(crate) fn rule_name(path: &str) -> String {
    let file = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let stem = file
        .strip_suffix(".yml")
        .or_else(|| file.strip_suffix(".yaml"))
        .unwrap_or(file);
    let mut name: String = stem
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name.insert_str(0, "sigma_");
    }
    name
}

pub(crate) fn file(path: &str, text: &str, opts: &Options) -> Vec<Result<Converted, SigmaError>> {
    let err = |rule: String, reason: Reason| SigmaError {
        file: path.to_string(),
        rule,
        id: None,
        reason,
    };
    let stem = rule_name(path);
    let values = match super::yaml::documents(text) {
        Ok(v) => v,
        Err((msg, at)) => return vec![Err(err(stem, Reason::Yaml(msg, at)))],
    };
    let mut docs = Vec::new();
    let mut out = Vec::new();
    for v in values.iter().filter(|v| !v.is_null()) {
        match Doc::read(v) {
            Ok(d) => docs.push(d),
            Err(m) => out.push(Err(err(stem.clone(), Reason::Malformed(m)))),
        }
    }
    if docs.iter().any(|d| d.action.is_some()) {
        let label = docs.first().map(Doc::label).unwrap_or_else(|| stem.clone());
        return vec![Err(err(
            label,
            Reason::Malformed(
                "`action:` multi-document rules (Sigma 1.x global/reset/repeat) are not supported"
                    .into(),
            ),
        ))];
    }
    // Rules referenced by a correlation are generated on their own only with `generate: true`.
    let mut hidden = vec![false; docs.len()];
    for d in &docs {
        if let Some(c) = &d.correlation
            && !d.generate
        {
            for r in &c.rules {
                if let Some(i) = find(&docs, r) {
                    hidden[i] = true;
                }
            }
        }
    }
    let emitted: Vec<usize> = (0..docs.len()).filter(|&i| !hidden[i]).collect();
    for (n, &i) in emitted.iter().enumerate() {
        let d = &docs[i];
        let name = if n == 0 {
            stem.clone()
        } else {
            match &d.name {
                Some(nm) => format!("{stem}_{}", rule_name(nm).trim_start_matches("sigma_")),
                None => format!("{stem}_{}", n + 1),
            }
        };
        out.push(one(&docs, d, name, opts).map_err(|r| SigmaError {
            id: d.id.clone(),
            ..err(d.label(), r)
        }));
    }
    out
}

fn find(docs: &[Doc], r: &str) -> Option<usize> {
    docs.iter()
        .position(|d| d.name.as_deref() == Some(r) || d.id.as_deref() == Some(r))
}

/// Builds one rule: its metadata, then its body.
/// The field name a keyword search's refusals give.
const KEYWORDS: &str = "(keywords)";

/// Why a field's values have no exact detc form.
#[derive(Debug, thiserror::Error)]
enum ValueError {
    /// A regex outside detc's portable subset, or with a flag detc cannot keep.
    #[error("{0}")]
    Regex(String),
    #[error("{0}")]
    Other(String),
}

impl From<String> for ValueError {
    fn from(message: String) -> Self {
        ValueError::Other(message)
    }
}

impl From<&str> for ValueError {
    fn from(message: &str) -> Self {
        ValueError::Other(message.to_string())
    }
}

impl ValueError {
    /// The refusal of a rule: the field and why its values have no detc form.
    fn on(self, field: String) -> Reason {
        match self {
            ValueError::Regex(message) => Reason::Regex { field, message },
            ValueError::Other(message) => Reason::Value { field, message },
        }
    }
}

struct Builder<'a> {
    opts: &'a Options,
    declares: Declares,
    /// Set when the error being returned is that the logsource candidate has no detc field
    /// for a Sigma field (or hash algorithm) the rule tests: the next candidate is tried.
    unmapped: bool,
}

fn one(docs: &[Doc], d: &Doc, name: String, opts: &Options) -> Result<Converted, Reason> {
    let mut b = Builder {
        opts,
        declares: Declares::new(),
        unmapped: false,
    };
    let title = d
        .title
        .clone()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| Reason::Malformed("the rule has no `title`".into()))?;
    let meta = metadata(d)?;
    let body = match &d.correlation {
        Some(c) => b.correlation(docs, c)?,
        None => {
            let (src, cond) = b.detection(d)?;
            Body::Single(Query {
                source: ident(&src.source),
                condition: cond,
            })
        }
    };
    Ok(Converted {
        rule: ast::Rule {
            name: ident(&name),
            title: str_value(&title),
            meta,
            body,
            tests: vec![],
            span: Span::default(),
        },
        declares: b.declares,
    })
}

fn ident(s: &str) -> Ident {
    Ident {
        name: s.to_string(),
        span: Span::default(),
    }
}

fn value(kind: ValueKind) -> Value {
    Value {
        kind,
        span: Span::default(),
    }
}

fn str_value(s: &str) -> Value {
    value(ValueKind::Str(s.to_string()))
}

fn meta(key: &str, v: Value) -> Meta {
    Meta {
        key: ident(key),
        value: v,
    }
}

fn str_list(items: &[String]) -> Value {
    value(ValueKind::List(
        items.iter().map(|s| str_value(s)).collect(),
    ))
}

fn date(key: &str, s: &str) -> Result<String, Reason> {
    let d = s.replace('/', "-");
    let ok = d.len() == 10
        && d.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    if ok {
        Ok(d)
    } else {
        Err(Reason::Malformed(format!(
            "`{key}: {s}` is not a date (YYYY-MM-DD or YYYY/MM/DD)"
        )))
    }
}

fn metadata(d: &Doc) -> Result<Vec<Meta>, Reason> {
    let mut out = Vec::new();
    let id =
        d.id.clone()
            .ok_or_else(|| Reason::Malformed("the rule has no `id`; detc needs one".into()))?;
    out.push(meta("id", str_value(&id)));
    let level = d.level.clone().ok_or_else(|| {
        Reason::Malformed("the rule has no `level`; detc needs a severity".into())
    })?;
    let severity = level.to_ascii_lowercase();
    if !["informational", "low", "medium", "high", "critical"].contains(&severity.as_str()) {
        return Err(Reason::Malformed(format!("unknown level `{level}`")));
    }
    out.push(meta("severity", value(ValueKind::Word(severity))));
    if let Some(status) = &d.status {
        let s = status.to_ascii_lowercase();
        match s.as_str() {
            "unsupported" => return Err(Reason::StatusUnsupported),
            "experimental" | "test" | "stable" | "deprecated" => {
                out.push(meta("status", value(ValueKind::Word(s))))
            }
            _ => return Err(Reason::Malformed(format!("unknown status `{status}`"))),
        }
    }
    let (attack, tags) = attack_and_tags(&d.tags);
    if !attack.is_empty() {
        let ids = attack
            .into_iter()
            .map(|a| value(ValueKind::Word(a)))
            .collect();
        out.push(meta("attack", value(ValueKind::List(ids))));
    }
    if !tags.is_empty() {
        out.push(meta("tags", str_list(&tags)));
    }
    if let Some(desc) = &d.description {
        out.push(meta("description", str_value(desc)));
    }
    if !d.falsepositives.is_empty() {
        out.push(meta("false_positives", str_list(&d.falsepositives)));
    }
    if !d.references.is_empty() {
        out.push(meta("references", str_list(&d.references)));
    }
    if let Some(a) = &d.author {
        out.push(meta("author", str_value(a)));
    }
    if let Some(s) = &d.date {
        out.push(meta("date", str_value(&date("date", s)?)));
    }
    if let Some(s) = &d.modified {
        out.push(meta("modified", str_value(&date("modified", s)?)));
    }
    Ok(out)
}

/// `attack.t1059.001` → `T1059.001`, `attack.command-and-control` (or `_`) → `TA0011`;
/// tactics first. Every other tag (groups, software, cve, ...) stays a tag as written.
///
/// detc requires each technique to come with one of its tactics (E0115) and every id to be
/// a current one of the pinned ATT&CK table (E0112-E0114). Sigma tags are often
/// technique-only, and ATT&CK itself defines a technique's tactics, so a technique whose
/// tactics the rule names none of gets all of them added: that states nothing the
/// technique id did not already. A technique id the pinned table does not know (newer
/// than it, like T1685 against ATT&CK 18.1), or one it marks deprecated or revoked, is not
/// something detc can check, so it stays in `tags` as written (`attack.t1685`) rather than
/// failing the rule; choosing a replacement id would be a guess.
pub(crate) fn attack_and_tags(tags: &[String]) -> (Vec<String>, Vec<String>) {
    let (mut tactics, mut techniques, mut rest) = (Vec::new(), Vec::new(), Vec::new());
    for t in tags {
        let lower = t.to_ascii_lowercase();
        let Some(x) = lower.strip_prefix("attack.") else {
            rest.push(t.clone());
            continue;
        };
        let technique = x.strip_prefix('t').is_some_and(|n| {
            let (main, sub) = n.split_once('.').unwrap_or((n, "000"));
            main.len() == 4
                && sub.len() == 3
                && main.chars().chain(sub.chars()).all(|c| c.is_ascii_digit())
        });
        if technique {
            let id = x.to_ascii_uppercase();
            let current = crate::attack::technique(&id)
                .is_some_and(|t| t.status == crate::attack::Status::Active);
            if !current {
                rest.push(t.clone());
            } else if !techniques.contains(&id) {
                techniques.push(id);
            }
        } else if let Some(ta) = crate::attack::tactics()
            .iter()
            .find(|ta| ta.shortname == x.replace('_', "-"))
        {
            let id = ta.id.to_string();
            if !tactics.contains(&id) {
                tactics.push(id);
            }
        } else {
            rest.push(t.clone());
        }
    }
    let named = tactics.clone();
    for id in &techniques {
        let t = crate::attack::technique(id).expect("kept techniques are in the table");
        if !t.tactics.iter().any(|ta| named.iter().any(|n| n == ta)) {
            for ta in &t.tactics {
                if !tactics.iter().any(|x| x == ta) {
                    tactics.push(ta.to_string());
                }
            }
        }
    }
    tactics.extend(techniques);
    (tactics, rest)
}

/// A `like` value as the AST holds it: pattern text, where `*` and `?` are wildcards and
/// `\*`, `\?`, `\\` stand for the literal characters (Sigma's own escaping).
fn like_text(s: &SigmaStr) -> String {
    let mut out = String::new();
    for p in &s.0 {
        match p {
            Part::Lit(t) => {
                for c in t.chars() {
                    if matches!(c, '*' | '?' | '\\') {
                        out.push('\\');
                    }
                    out.push(c);
                }
            }
            Part::Any => out.push('*'),
            Part::One => out.push('?'),
            // Filled in before conversion.
            Part::Placeholder(n) => out.push_str(&format!("%{n}%")),
        }
    }
    out
}

/// Whether a name reads as a detc field (`a.b_c`, segments `[A-Za-z_@][A-Za-z0-9_]*`).
fn is_field_name(s: &str) -> bool {
    !crate::syntax::KEYWORDS.contains(&s)
        && s.split('.').all(|seg| {
            let mut cs = seg.chars();
            cs.next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '@')
                && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// What one search identifier's field item holds after its modifiers.
struct Item {
    field: String,
    linking: Linking,
    /// Per value written, its alternatives.
    values: Vec<Vec<Val>>,
}

/// The logsource a detection reads, resolved.
struct Src<'a> {
    ls: Logsource,
    map: Option<&'a LogsourceMap>,
    source: String,
}

fn not(a: Expr) -> Expr {
    Expr::Not(Box::new(a), Span::default())
}
fn fold(items: Vec<Expr>, f: fn(Expr, Expr) -> Expr) -> Option<Expr> {
    items.into_iter().reduce(f)
}

// Conditions under construction are `Option<Expr>`, `None` standing for "true": a test the
// logsource implies (see `implied` in targets/sigma.yaml) converts to nothing.

fn and_opt(a: Option<Expr>, b: Option<Expr>) -> Option<Expr> {
    match (a, b) {
        (Some(a), Some(b)) => Some(Expr::and(a, b)),
        (x, None) | (None, x) => x,
    }
}

fn or_opt(a: Option<Expr>, b: Option<Expr>) -> Option<Expr> {
    match (a, b) {
        (Some(a), Some(b)) => Some(Expr::or(a, b)),
        _ => None,
    }
}

/// AND / OR of a non-empty list of conditions.
fn fold_opt(
    items: Vec<Option<Expr>>,
    f: fn(Option<Expr>, Option<Expr>) -> Option<Expr>,
) -> Option<Expr> {
    items.into_iter().reduce(f).expect("non-empty")
}

fn cmp(field: &str, op: Op, cased: bool, v: Option<Value>) -> Expr {
    Expr::Compare(Comparison {
        field: ident(field),
        op,
        op_span: Span::default(),
        cased,
        value: v,
        span: Span::default(),
    })
}

fn num_value(n: Num) -> Value {
    value(match n {
        Num::Int(i) => ValueKind::Int(i),
        Num::Float(x) => ValueKind::Float(x),
    })
}

/// `f == v` for one value, `f in [...]` for several.
fn eq_or_in(field: &str, cased: bool, mut vals: Vec<Value>) -> Expr {
    if vals.len() == 1 {
        cmp(field, Op::Eq, cased, vals.pop())
    } else {
        cmp(field, Op::In, cased, Some(value(ValueKind::List(vals))))
    }
}

impl<'a> Builder<'a> {
    /// The candidates a rule's logsource is read through, in order (see `fallback` in
    /// targets/sigma.yaml).
    fn resolve_logsource(&mut self, d: &Doc) -> Result<Vec<Src<'a>>, Reason> {
        let ls = d
            .logsource
            .clone()
            .ok_or_else(|| Reason::Malformed("the rule has no `logsource`".into()))?;
        let Some(map) = self.opts.mapping.logsource(&ls) else {
            return Ok(vec![self.synthesised(ls)?]);
        };
        let mut out = Vec::new();
        for m in map.candidates() {
            if !self.opts.schema.sources.contains_key(&m.source) {
                return Err(Reason::Malformed(format!(
                    "the Sigma mapping sends logsource {ls} to `{}`, which the schema does not declare",
                    m.source
                )));
            }
            out.push(Src {
                ls: ls.clone(),
                map: Some(m),
                source: m.source.clone(),
            });
        }
        Ok(out)
    }

    /// An unmapped logsource: with `keep_sigma_names`, a source named after it.
    fn synthesised(&self, ls: Logsource) -> Result<Src<'a>, Reason> {
        let parts: Vec<String> = [&ls.product, &ls.category, &ls.service]
            .into_iter()
            .flatten()
            .map(|p| {
                p.chars()
                    .map(|c| {
                        let c = c.to_ascii_lowercase();
                        if c.is_ascii_alphanumeric() { c } else { '_' }
                    })
                    .collect()
            })
            .collect();
        if !self.opts.keep_sigma_names || parts.is_empty() {
            return Err(Reason::UnmappedLogsource(ls.to_string()));
        }
        Ok(Src {
            source: format!("sigma_{}", parts.join("_")),
            ls,
            map: None,
        })
    }

    /// A Sigma field's detc name and type; `hint` is the type a kept Sigma name gets.
    fn field(
        &mut self,
        src: &Src,
        name: &str,
        hint: FieldTypeName,
    ) -> Result<(String, FieldType), Reason> {
        let schema = &self.opts.schema;
        match self.opts.mapping.field(src.map, name) {
            FieldMap::To(detc) => {
                return match schema.field_type(&src.source, &detc) {
                    Some(t) => Ok((detc.into_owned(), t)),
                    None => Err(Reason::Malformed(format!(
                        "the Sigma mapping sends field `{name}` to `{detc}`, which source `{}` does not declare",
                        src.source
                    ))),
                };
            }
            FieldMap::NotAMember { family } => {
                return Err(Reason::Value {
                    field: name.to_string(),
                    message: format!(
                        "logsource {} maps its other fields to members of `{family}`, and a member's name is letters, digits and `_` not starting with a digit",
                        src.ls
                    ),
                });
            }
            FieldMap::Unmapped => {}
        }
        if !self.opts.keep_sigma_names {
            self.unmapped = true;
            return Err(Reason::UnmappedField {
                field: name.to_string(),
                logsource: src.ls.to_string(),
            });
        }
        if !is_field_name(name) {
            return Err(Reason::Value {
                field: name.to_string(),
                message: "the Sigma name is not a valid detc field name, so it cannot be kept"
                    .into(),
            });
        }
        if let Some(t) = schema.field_type(&src.source, name) {
            return Ok((name.to_string(), t));
        }
        let fields = self.declares.entry(src.source.clone()).or_default();
        let ty = *fields.entry(name.to_string()).or_insert(hint);
        if ty != hint {
            return Err(Reason::Value {
                field: name.to_string(),
                message: format!("used as {ty:?} and as {hint:?} in one rule"),
            });
        }
        Ok((name.to_string(), ty.into()))
    }

    /// A rule's detection: the logsource candidate it reads and its condition (`None`: every
    /// event of the source). The first candidate that maps every field the rule tests wins;
    /// when none does, the first one's refusal is the rule's.
    fn detection(&mut self, d: &Doc) -> Result<(Src<'a>, Option<Expr>), Reason> {
        if !d.has_detection {
            return Err(Reason::Malformed("the rule has no `detection`".into()));
        }
        let candidates = self.resolve_logsource(d)?;
        if d.conditions.is_empty() {
            return Err(Reason::Malformed("the detection has no `condition`".into()));
        }
        let mut first_err = None;
        for src in candidates {
            let declares = self.declares.clone();
            self.unmapped = false;
            match self.conditions(&src, d) {
                Ok(cond) => return Ok((src, cond)),
                Err(r) => {
                    self.declares = declares;
                    let next = self.unmapped;
                    first_err.get_or_insert(r);
                    if !next {
                        break;
                    }
                }
            }
        }
        Err(first_err.expect("a logsource has at least one candidate"))
    }

    /// The detection's condition(s) read through one candidate, with the candidate's `where`.
    fn conditions(&mut self, src: &Src, d: &Doc) -> Result<Option<Expr>, Reason> {
        let mut exprs = Vec::new();
        for c in &d.conditions {
            let parsed = condition::parse(c).map_err(|e| Reason::Condition(e.0))?;
            exprs.push(self.cond(src, &d.searches, &parsed)?);
        }
        let cond = fold_opt(exprs, or_opt);
        let Some(m) = src.map else {
            return Ok(cond);
        };
        let mut selects = Vec::new();
        for (field, values) in &m.selects {
            let (name, ty) = self.field(src, field, FieldTypeName::String)?;
            let vals: Vec<Val> = values
                .iter()
                .map(|v| match v {
                    Scalar::Int(i) => Val::Num(Num::Int(*i)),
                    Scalar::Bool(b) => Val::Bool(*b),
                    Scalar::Str(t) => Val::Str {
                        s: SigmaStr(vec![Part::Lit(t.clone())]),
                        cased: false,
                    },
                })
                .collect();
            let e = self.group(&name, ty, &vals).map_err(|message| {
                Reason::Malformed(format!(
                    "the Sigma mapping's `where` on `{field}` for logsource {}: {message}",
                    src.ls
                ))
            })?;
            selects.push(Some(e));
        }
        Ok(selects.into_iter().fold(cond, and_opt))
    }

    fn cond(
        &mut self,
        src: &Src,
        searches: &BTreeMap<String, J>,
        c: &Cond,
    ) -> Result<Option<Expr>, Reason> {
        Ok(match c {
            Cond::And(a, b) => and_opt(self.cond(src, searches, a)?, self.cond(src, searches, b)?),
            Cond::Or(a, b) => or_opt(self.cond(src, searches, a)?, self.cond(src, searches, b)?),
            Cond::Not(a) => match self.cond(src, searches, a)? {
                Some(e) => Some(not(e)),
                None => {
                    return Err(Reason::Condition(format!(
                        "a `not` negates a search that logsource {} always satisfies (it tests only what the logsource implies), so the rule can never match",
                        src.ls
                    )));
                }
            },
            Cond::Ident(name) => match searches.get(name) {
                Some(v) => self.search(src, name, v)?,
                None => {
                    return Err(Reason::UnknownIdentifier(name.clone()));
                }
            },
            Cond::Of { all, pattern } => {
                let names: Vec<&String> = searches
                    .keys()
                    .filter(|n| match pattern {
                        Some(p) => condition::pattern_matches(p, n),
                        None => !n.starts_with('_'),
                    })
                    .collect();
                if names.is_empty() {
                    return Err(Reason::Condition(format!(
                        "`{}` matches no search identifier",
                        pattern.as_deref().unwrap_or("them")
                    )));
                }
                let mut exprs = Vec::new();
                for n in names {
                    exprs.push(self.search(src, n, &searches[n])?);
                }
                fold_opt(exprs, if *all { and_opt } else { or_opt })
            }
        })
    }

    /// One search identifier: a map (AND of its fields), a list of maps (OR), or keywords.
    fn search(&mut self, src: &Src, name: &str, v: &J) -> Result<Option<Expr>, Reason> {
        match v {
            J::Object(m) => self.field_map(src, name, m),
            J::Array(items) if !items.is_empty() && items.iter().all(J::is_object) => {
                let mut exprs = Vec::new();
                for i in items {
                    if let J::Object(m) = i {
                        exprs.push(self.field_map(src, name, m)?);
                    }
                }
                Ok(fold_opt(exprs, or_opt))
            }
            J::Array(items) if items.iter().any(J::is_object) => Err(Reason::Malformed(format!(
                "search identifier `{name}` mixes field maps and keywords"
            ))),
            J::Null => Err(Reason::Malformed(format!(
                "search identifier `{name}` is empty"
            ))),
            J::Array(items) if items.is_empty() => Err(Reason::Malformed(format!(
                "search identifier `{name}` is an empty list"
            ))),
            J::Array(items) => self.keywords(src, &[], items),
            scalar => self.keywords(src, &[], std::slice::from_ref(scalar)),
        }
    }

    /// Keywords (values without a field, OR-ed, AND-ed under `|all`): each is matched
    /// anywhere in the event's whole text, the field the logsource names as `keywords` in
    /// targets/sigma.yaml. The Sigma specification applies keywords "to the full log
    /// message"; pySigma's text backends render one as a substring term (`*value*` in
    /// Lucene), so a keyword is a `contains` test (`*` and `?` inside it stay wildcards, and
    /// `re` is an unanchored regex). A logsource without such a field refuses keywords.
    fn keywords(
        &mut self,
        src: &Src,
        mods: &[String],
        items: &[J],
    ) -> Result<Option<Expr>, Reason> {
        let Some(field) = src.map.and_then(|m| m.keywords.clone()) else {
            return Err(Reason::Keywords);
        };
        match self.opts.schema.field_type(&src.source, &field) {
            Some(FieldType::String) => {}
            _ => {
                return Err(Reason::Malformed(format!(
                    "the Sigma mapping names `{field}` as the keyword field of logsource {}, which source `{}` does not declare as a string field",
                    src.ls, src.source
                )));
            }
        }
        let err = |message: String| Reason::Value {
            field: KEYWORDS.into(),
            message,
        };
        if let Some(m) = mods.iter().find(|m| {
            matches!(
                m.as_str(),
                "cidr" | "exists" | "lt" | "lte" | "gt" | "gte" | "fieldref" | "neq"
            )
        }) {
            return Err(err(format!(
                "modifier `{m}` does not apply to a keyword (a text search)"
            )));
        }
        let linking = Linking {
            all: mods.iter().any(|m| m == "all"),
            negate: false,
        };
        let mut groups: Vec<Vec<Val>> = Vec::new();
        for item in items {
            // Keywords are text: a number or boolean is searched for as written.
            let r = match raw(item).map_err(err)? {
                Raw::Num(n) => Raw::Str(n.to_string()),
                Raw::Bool(b) => Raw::Str(b.to_string()),
                Raw::Null => return Err(err("a null keyword matches nothing".into())),
                r => r,
            };
            let vals = value::apply(mods, &r, self.opts.placeholders.as_ref()).map_err(err)?;
            let mut alts = Vec::new();
            for v in vals {
                alts.push(match v {
                    Val::Str { s, cased } => {
                        if s.0.is_empty() {
                            return Err(err("an empty keyword would match every event".into()));
                        }
                        let mut parts = s.0;
                        if parts.first() != Some(&Part::Any) {
                            parts.insert(0, Part::Any);
                        }
                        if parts.last() != Some(&Part::Any) {
                            parts.push(Part::Any);
                        }
                        Val::Str {
                            s: SigmaStr(parts),
                            cased,
                        }
                    }
                    re @ Val::Re { .. } => re,
                    other => {
                        return Err(err(format!(
                            "`{}` is not a text value, so it cannot be a keyword",
                            val_text(&other)
                        )));
                    }
                });
            }
            groups.push(alts);
        }
        let e = if linking.all {
            let mut exprs = Vec::new();
            for alts in &groups {
                exprs.push(
                    self.group(&field, FieldType::String, alts)
                        .map_err(|e| e.on(KEYWORDS.into()))?,
                );
            }
            fold(exprs, Expr::and).expect("non-empty")
        } else {
            let alts: Vec<Val> = groups.into_iter().flatten().collect();
            self.group(&field, FieldType::String, &alts)
                .map_err(|e| e.on(KEYWORDS.into()))?
        };
        Ok(Some(e))
    }

    fn field_map(
        &mut self,
        src: &Src,
        name: &str,
        m: &serde_json::Map<String, J>,
    ) -> Result<Option<Expr>, Reason> {
        if m.is_empty() {
            return Err(Reason::Malformed(format!(
                "search identifier `{name}` is empty"
            )));
        }
        let mut exprs = Vec::new();
        for (key, v) in m {
            let mut parts = key.split('|');
            let field = parts.next().unwrap_or_default().to_string();
            let mods: Vec<String> = parts.map(str::to_string).collect();
            if field.is_empty() {
                // `'|all': [...]`: keywords with modifiers.
                let items = match v {
                    J::Array(items) if items.is_empty() => {
                        return Err(Reason::Malformed(format!(
                            "search identifier `{name}` has an empty keyword list"
                        )));
                    }
                    J::Array(items) => items.clone(),
                    v => vec![v.clone()],
                };
                exprs.push(self.keywords(src, &mods, &items)?);
                continue;
            }
            let raws: Vec<Raw> = match v {
                J::Array(items) => items.iter().map(raw).collect::<Result<_, _>>(),
                v => raw(v).map(|r| vec![r]),
            }
            .map_err(|message| Reason::Value {
                field: field.clone(),
                message,
            })?;
            if raws.is_empty() {
                return Err(Reason::Value {
                    field,
                    message: "an empty list of values matches nothing".into(),
                });
            }
            let linking = Linking {
                all: mods.iter().any(|m| m == "all"),
                negate: mods.iter().any(|m| m == "neq"),
            };
            let values = raws
                .iter()
                .map(|r| value::apply(&mods, r, self.opts.placeholders.as_ref()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|message| Reason::Value {
                    field: field.clone(),
                    message,
                })?;
            exprs.push(self.item(
                src,
                Item {
                    field,
                    linking,
                    values,
                },
            )?);
        }
        Ok(fold_opt(exprs, and_opt))
    }

    fn item(&mut self, src: &Src, item: Item) -> Result<Option<Expr>, Reason> {
        if let Some(field) = src.map.and_then(|m| m.items.get(&item.field)) {
            return self.items(src, item, field).map(Some);
        }
        if let Some(algs) = src.map.and_then(|m| m.hashes.get(&item.field)) {
            match self.hashes(src, &item, algs) {
                Ok(e) => return Ok(Some(e)),
                // With keep_sigma_names, a hash test with no per-algorithm form keeps the
                // Sigma field like any unmapped one.
                Err(_) if self.opts.keep_sigma_names => self.unmapped = false,
                Err(r) => return Err(r),
            }
        }
        if let Some(implied) = src.map.and_then(|m| m.implied.get(&item.field)) {
            if is_implied(&item, implied) {
                return Ok(None);
            }
            // Not exactly the implied values: the field is an ordinary field from here on,
            // if the source has one for it.
            if self.opts.mapping.field(src.map, &item.field) == FieldMap::Unmapped
                && !self.opts.keep_sigma_names
            {
                self.unmapped = true;
                let tested: Vec<String> = item.values.iter().flatten().map(val_text).collect();
                let implied: Vec<String> = implied.iter().map(|v| v.to_string()).collect();
                return Err(Reason::Value {
                    field: item.field.clone(),
                    message: format!(
                        "the test is not exactly what logsource {} implies ({} in [{}]) and detc source `{}` has no field for it: `{}`",
                        src.ls,
                        item.field,
                        implied.join(", "),
                        src.source,
                        tested.join(", ")
                    ),
                });
            }
        }
        let all_vals = item.values.iter().flatten();
        let hint = if all_vals.clone().any(|v| matches!(v, Val::Cidr(_))) {
            FieldTypeName::Ip
        } else if all_vals.clone().any(|v| matches!(v, Val::Compare(..))) {
            FieldTypeName::Number
        } else {
            FieldTypeName::String
        };
        let (name, ty) = self.field(src, &item.field, hint)?;
        let e = if item.linking.all {
            let mut exprs = Vec::new();
            for alts in &item.values {
                exprs.push(
                    self.group(&name, ty, alts)
                        .map_err(|e| e.on(item.field.clone()))?,
                );
            }
            fold(exprs, Expr::and).expect("non-empty")
        } else {
            let alts: Vec<Val> = item.values.into_iter().flatten().collect();
            self.group(&name, ty, &alts)
                .map_err(|e| e.on(item.field.clone()))?
        };
        Ok(Some(if item.linking.negate { not(e) } else { e }))
    }

    /// A test of a list of values (the unnamed EventData items, Sigma `Data`) on the detc
    /// field holding them joined: U+0001, then each item followed by U+0001. XML 1.0 text
    /// cannot hold U+0001, so no item holds it, and "some item contains / starts with /
    /// ends with / equals V" is exactly "the joined text contains V / U+0001 V /
    /// V U+0001 / U+0001 V U+0001". A wildcard inside the value could span two items, a
    /// regex likewise, and an empty value cannot tell no items from one empty one: those
    /// tests are refused.
    fn items(&mut self, src: &Src, item: Item, field: &str) -> Result<Expr, Reason> {
        const SEP: char = '\u{1}';
        let bad = |message: String| Reason::Value {
            field: item.field.clone(),
            message,
        };
        match self.opts.schema.field_type(&src.source, field) {
            Some(FieldType::String) => {}
            _ => {
                return Err(Reason::Malformed(format!(
                    "the Sigma mapping sends the items of `{}` to `{field}`, which source `{}` does not declare as a string field",
                    item.field, src.source
                )));
            }
        }
        let one = |v: &Val| -> Result<Val, Reason> {
            let refuse = || {
                bad(format!(
                    "`{}` is a list of values (the unnamed EventData items): only a plain contains, startswith, endswith or equality of a non-empty value says \"some item\" exactly (a wildcard or a regex could span two items): `{}`",
                    item.field,
                    match v {
                        Val::Re { pattern, .. } => format!("re {pattern}"),
                        v => val_text(v),
                    }
                ))
            };
            let (parts, cased) = match v {
                Val::Str { s, cased } => (s.0.clone(), *cased),
                Val::Num(n) => (vec![Part::Lit(n.to_string())], false),
                _ => return Err(refuse()),
            };
            let joined = match parts.as_slice() {
                [Part::Lit(t)] if !t.is_empty() && !t.contains(SEP) => format!("{SEP}{t}{SEP}"),
                [Part::Any, Part::Lit(t)] if !t.contains(SEP) => format!("{t}{SEP}"),
                [Part::Lit(t), Part::Any] if !t.contains(SEP) => format!("{SEP}{t}"),
                [Part::Any, Part::Lit(t), Part::Any] if !t.contains(SEP) => t.clone(),
                _ => return Err(refuse()),
            };
            Ok(Val::Str {
                s: SigmaStr(vec![Part::Any, Part::Lit(joined), Part::Any]),
                cased,
            })
        };
        let groups = item
            .values
            .iter()
            .map(|alts| alts.iter().map(one).collect::<Result<Vec<_>, _>>())
            .collect::<Result<Vec<_>, _>>()?;
        let e = if item.linking.all {
            let mut exprs = Vec::new();
            for alts in &groups {
                exprs.push(
                    self.group(field, FieldType::String, alts)
                        .map_err(|e| e.on(item.field.clone()))?,
                );
            }
            fold(exprs, Expr::and).expect("non-empty")
        } else {
            let alts: Vec<Val> = groups.into_iter().flatten().collect();
            self.group(field, FieldType::String, &alts)
                .map_err(|e| e.on(item.field.clone()))?
        };
        Ok(if item.linking.negate { not(e) } else { e })
    }

    /// A Sysmon `Hashes` test (`Hashes|contains: 'SHA256=<hex>'`) as equalities on the detc
    /// field of each algorithm. `contains 'ALG=<full-length hex>'` holds exactly when that
    /// algorithm's hash is the value (no algorithm name ends another, and the full length
    /// leaves no room for a longer hash); anything else (an algorithm without a detc field,
    /// such as IMPHASH, a partial hash, equality on the whole list) is refused.
    fn hashes(
        &mut self,
        src: &Src,
        item: &Item,
        algs: &BTreeMap<String, String>,
    ) -> Result<Expr, Reason> {
        let bad = |message: String| Reason::Value {
            field: item.field.clone(),
            message,
        };
        // An algorithm without a detc field: the candidate does not map the rule.
        let unmapped = std::cell::Cell::new(false);
        let one = |v: &Val| -> Result<(String, String), Reason> {
            let text = match v {
                Val::Str { s, .. } => match s.0.as_slice() {
                    [Part::Any, Part::Lit(t), Part::Any] => t.clone(),
                    _ => {
                        return Err(bad(format!(
                            "a hash list is matched only with `contains 'ALG=<hash>'`: `{}`",
                            s.to_plain()
                        )));
                    }
                },
                other => {
                    return Err(bad(format!(
                        "a hash list is matched only with `contains 'ALG=<hash>'`: `{}`",
                        val_text(other)
                    )));
                }
            };
            let (alg, hash) = text.split_once('=').unwrap_or(("", &text));
            let alg = alg.to_ascii_uppercase();
            let len = match alg.as_str() {
                "MD5" | "IMPHASH" => 32,
                "SHA1" => 40,
                "SHA256" => 64,
                _ => 0,
            };
            let field = algs.get(&alg).filter(|_| len > 0).ok_or_else(|| {
                unmapped.set(true);
                bad(format!(
                    "hash algorithm without a detc field (detc has one field per algorithm: {}): `{text}`",
                    algs.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            })?;
            if hash.len() != len || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad(format!(
                    "not a full {alg} hash, so `contains` is not an equality on one algorithm's field: `{text}`"
                )));
            }
            Ok((field.clone(), hash.to_ascii_lowercase()))
        };
        let groups: Result<Vec<Vec<(String, String)>>, Reason> = item
            .values
            .iter()
            .map(|alts| alts.iter().map(one).collect::<Result<_, _>>())
            .collect();
        self.unmapped = unmapped.get();
        let groups = groups?;
        let by_field = |pairs: Vec<(String, String)>| -> Result<Expr, Reason> {
            let mut fields: Vec<(String, Vec<Value>)> = Vec::new();
            for (f, h) in pairs {
                match fields.iter_mut().find(|(g, _)| *g == f) {
                    Some((_, vs)) => vs.push(str_value(&h)),
                    None => fields.push((f, vec![str_value(&h)])),
                }
            }
            let mut exprs = Vec::new();
            for (f, vs) in fields {
                if self.opts.schema.field_type(&src.source, &f).is_none() {
                    return Err(Reason::Malformed(format!(
                        "the Sigma mapping sends `{}` hashes to `{f}`, which source `{}` does not declare",
                        item.field, src.source
                    )));
                }
                exprs.push(eq_or_in(&f, false, vs));
            }
            Ok(fold(exprs, Expr::or).expect("non-empty"))
        };
        let e = if item.linking.all {
            let mut exprs = Vec::new();
            for g in groups {
                exprs.push(by_field(g)?);
            }
            fold(exprs, Expr::and).expect("non-empty")
        } else {
            by_field(groups.into_iter().flatten().collect())?
        };
        Ok(if item.linking.negate { not(e) } else { e })
    }

    /// The OR of `vals` on one field, grouped into as few comparisons as detc allows.
    fn group(&mut self, f: &str, ty: FieldType, vals: &[Val]) -> Result<Expr, ValueError> {
        // (op, cased) → values, in first-seen order.
        let mut lists: Vec<((Op, bool), Vec<Value>)> = Vec::new();
        let mut push =
            |op: Op, cased: bool, v: Value| match lists.iter_mut().find(|(k, _)| *k == (op, cased))
            {
                Some((_, vs)) => vs.push(v),
                None => lists.push(((op, cased), vec![v])),
            };
        let mut singles = Vec::new();
        let mut cidrs = Vec::new();
        // `""` is absent in detc (docs: the empty string), so Sigma's null, `''` and
        // `exists: false` are one test, and `exists: true` its negation.
        let absent = |f: &str| not(cmp(f, Op::Exists, false, None));
        for v in vals {
            match (v, ty) {
                (Val::Null | Val::Exists(false), _) => singles.push(absent(f)),
                (Val::Exists(true), _) => singles.push(cmp(f, Op::Exists, false, None)),
                (Val::Str { s, cased }, FieldType::String) => {
                    if s.0
                        .iter()
                        .any(|p| matches!(p, Part::Lit(t) if t.contains('\0')))
                    {
                        return Err("the value holds NUL characters (a UTF-16 encoding without base64), which detc strings cannot carry".into());
                    }
                    let cased = *cased;
                    match s.0.as_slice() {
                        [] => singles.push(absent(f)),
                        [Part::Lit(t)] => push(Op::Eq, cased, str_value(t)),
                        [Part::Any, Part::Lit(t)] => push(Op::EndsWith, cased, str_value(t)),
                        [Part::Lit(t), Part::Any] => push(Op::StartsWith, cased, str_value(t)),
                        [Part::Any, Part::Lit(t), Part::Any] => {
                            push(Op::Contains, cased, str_value(t))
                        }
                        _ => singles.push(cmp(
                            f,
                            Op::Like,
                            cased,
                            Some(Value {
                                kind: ValueKind::Str(like_text(s)),
                                span: Span::default(),
                            }),
                        )),
                    }
                }
                (Val::Num(n), FieldType::String) => push(Op::Eq, false, str_value(&n.to_string())),
                (Val::Bool(b), FieldType::String) => push(Op::Eq, false, str_value(&b.to_string())),
                (
                    Val::Re {
                        pattern,
                        ignore_case,
                        multiline,
                        dotall,
                    },
                    FieldType::String,
                ) => {
                    let (anchors, dots) = regex_features(pattern);
                    if *multiline && anchors {
                        return Err(ValueError::Regex(format!(
                            "regex flag `m` changes what `^`/`$` mean in `{pattern}`; detc anchors only at the value's ends"
                        )));
                    }
                    if *dotall && dots {
                        return Err(ValueError::Regex(format!(
                            "regex flag `s` lets `.` match a newline in `{pattern}`; detc's `.` never does"
                        )));
                    }
                    if let Err(e) = crate::pattern::parse_regex(pattern) {
                        return Err(ValueError::Regex(format!(
                            "regex `{pattern}`: {}",
                            e.message
                        )));
                    }
                    singles.push(cmp(f, Op::Matches, !ignore_case, Some(str_value(pattern))));
                }
                (Val::Num(n), FieldType::Number) => push(Op::Eq, false, num_value(*n)),
                (Val::Str { s, .. }, FieldType::Number) => {
                    let n = s.as_literal().and_then(|t| {
                        t.parse::<i64>().map(Num::Int).ok().or_else(|| {
                            t.parse::<f64>()
                                .ok()
                                .filter(|x| x.is_finite())
                                .map(Num::Float)
                        })
                    });
                    match n {
                        Some(n) => push(Op::Eq, false, num_value(n)),
                        None => {
                            return Err(format!(
                                "`{f}` is a number field; `{}` is not a number",
                                s.to_plain()
                            )
                            .into());
                        }
                    }
                }
                (Val::Compare(op, n), FieldType::Number) => {
                    let op = match op {
                        CmpOp::Lt => Op::Lt,
                        CmpOp::Le => Op::Le,
                        CmpOp::Gt => Op::Gt,
                        CmpOp::Ge => Op::Ge,
                    };
                    singles.push(cmp(f, op, false, Some(num_value(*n))));
                }
                (Val::Cidr(c), FieldType::Ip) => {
                    let c = if c.contains('/') {
                        c.clone()
                    } else if c.contains(':') {
                        format!("{c}/128")
                    } else {
                        format!("{c}/32")
                    };
                    crate::base::Cidr::parse(&c, true)
                        .map_err(|m| format!("cidr `{c}`: {}", m.message))?;
                    cidrs.push(str_value(&c));
                }
                (Val::Str { s, .. }, FieldType::Ip) => match s.as_literal() {
                    Some(t) if t.parse::<std::net::IpAddr>().is_ok() => {
                        push(Op::Eq, false, str_value(&t))
                    }
                    _ => {
                        return Err(format!(
                            "`{f}` is an ip field; `{}` is not an IP address (wildcards and substrings do not apply to ip fields)",
                            s.to_plain()
                        ).into());
                    }
                },
                (Val::Bool(b), FieldType::Boolean) => {
                    push(Op::Eq, false, value(ValueKind::Bool(*b)))
                }
                (Val::Str { s, .. }, FieldType::Boolean) => {
                    match s.as_literal().map(|t| t.to_ascii_lowercase()).as_deref() {
                        Some("true") => push(Op::Eq, false, value(ValueKind::Bool(true))),
                        Some("false") => push(Op::Eq, false, value(ValueKind::Bool(false))),
                        _ => {
                            return Err(format!(
                                "`{f}` is a boolean field; `{}` is not true or false",
                                s.to_plain()
                            )
                            .into());
                        }
                    }
                }
                (v, ty) => {
                    let what = match v {
                        Val::Re { .. } => "a regular expression",
                        Val::Cidr(_) => "a CIDR network",
                        Val::Compare(..) => "a numeric comparison",
                        Val::Num(_) => "a number",
                        Val::Bool(_) => "a boolean",
                        _ => "this value",
                    };
                    return Err(format!(
                        "`{f}` is a {} field; {what} does not apply to it",
                        ty.as_str()
                    )
                    .into());
                }
            }
        }
        let mut exprs = Vec::new();
        for ((op, cased), vs) in lists {
            exprs.push(match op {
                Op::Eq => eq_or_in(f, cased, vs),
                _ if vs.len() == 1 => cmp(f, op, cased, vs.into_iter().next()),
                _ => cmp(f, op, cased, Some(value(ValueKind::List(vs)))),
            });
        }
        if !cidrs.is_empty() {
            exprs.push(cmp(f, Op::In, false, Some(value(ValueKind::Cidr(cidrs)))));
        }
        exprs.extend(singles);
        Ok(fold(exprs, Expr::or).expect("at least one value"))
    }

    fn correlation(&mut self, docs: &[Doc], c: &Correlation) -> Result<Body, Reason> {
        let bad = |m: String| Reason::Correlation(m);
        if c.rules.is_empty() {
            return Err(bad("`rules` is empty".into()));
        }
        let seconds = timespan(c.timespan.as_deref())?;
        if c.group_by.is_empty() {
            return Err(bad("without `group-by` there is nothing to group on; detc aggregations and sequences need at least one key".into()));
        }
        let mut steps = Vec::new();
        let mut srcs = Vec::new();
        for r in &c.rules {
            let i = find(docs, r).ok_or_else(|| {
                bad(format!(
                    "rule `{r}` is not in this file (only same-file references are resolved)"
                ))
            })?;
            let d = &docs[i];
            if d.correlation.is_some() {
                return Err(bad(format!(
                    "rule `{r}` is itself a correlation; chained correlations are not supported"
                )));
            }
            let (src, cond) = self.detection(d)?;
            steps.push(Query {
                source: ident(&src.source),
                condition: cond,
            });
            srcs.push(src);
        }
        // Group-by keys under each referenced rule's logsource, per rule (an alias names
        // each rule's own field).
        let mut keys: Vec<Vec<String>> = vec![Vec::new(); srcs.len()];
        for g in &c.group_by {
            for ((r, src), names) in c.rules.iter().zip(&srcs).zip(&mut keys) {
                let field = match c.aliases.get(g) {
                    Some(fields) => fields
                        .get(r)
                        .ok_or_else(|| bad(format!("alias `{g}` names no field for rule `{r}`")))?,
                    None => g,
                };
                names.push(self.field(src, field, FieldTypeName::String)?.0);
            }
        }
        let by: Vec<Ident> = keys[0].iter().map(|n| ident(n)).collect();
        // A step joining on other fields than the first names its own (a sequence step's
        // `by`); an aggregation reads one source, so one name.
        let step_by: Vec<Vec<Ident>> = keys
            .iter()
            .map(|names| {
                if names == &keys[0] {
                    Vec::new()
                } else {
                    names.iter().map(|n| ident(n)).collect()
                }
            })
            .collect();
        let one_key = |kind: &str| match keys.iter().position(|names| names != &keys[0]) {
            Some(i) => Err(bad(format!(
                "the group-by fields are `{}` in one rule and `{}` in another; a detc {kind} \
                 groups every event on the same fields",
                keys[0].join(", "),
                keys[i].join(", ")
            ))),
            None => Ok(()),
        };
        let window = value(ValueKind::Duration(seconds));
        let cond = c.condition.clone().unwrap_or_default();
        match c.kind.as_str() {
            "event_count" | "value_count" => {
                one_key("aggregation")?;
                let source = steps[0].source.name.clone();
                if let Some(other) = steps.iter().find(|s| s.source.name != *source) {
                    return Err(bad(format!(
                        "{} over rules of different detc sources (`{source}`, `{}`); a detc aggregation reads one source",
                        c.kind, other.source.name
                    )));
                }
                let agg = if c.kind == "value_count" {
                    let f = match cond.get("field") {
                        Some(J::String(f)) => f.clone(),
                        _ => return Err(bad("value_count needs `condition.field`".into())),
                    };
                    let (n, _) = self.field(&srcs[0], &f, FieldTypeName::String)?;
                    ("distinct", Some(ident(&n)))
                } else {
                    ("count", None)
                };
                let having = having(&cond, agg)?;
                let condition = fold_opt(steps.into_iter().map(|s| s.condition).collect(), or_opt);
                Ok(Body::Aggregate {
                    query: Query {
                        source: ident(&source),
                        condition,
                    },
                    group_by: by.into_iter().map(GroupKey::field).collect(),
                    window,
                    having,
                })
            }
            "temporal_ordered" => {
                if steps.len() < 2 {
                    return Err(bad("temporal_ordered needs at least two rules".into()));
                }
                let n = steps.len() as i64;
                let all_rules = cond.is_empty()
                    || (cond.len() == 1
                        && (cond.get("gte").and_then(J::as_i64) == Some(n)
                            || cond.get("eq").and_then(J::as_i64) == Some(n)));
                if !all_rules {
                    return Err(bad("a temporal_ordered condition other than all rules (gte: number of rules) has no detc form".into()));
                }
                Ok(Body::Sequence {
                    by,
                    within: window,
                    step_not: vec![None; steps.len()],
                    step_as: vec![None; steps.len()],
                    steps,
                    step_by,
                })
            }
            "temporal" => Err(bad(
                "temporal (any order) has no detc form: detc sequences are ordered".into(),
            )),
            "" => Err(bad("the correlation has no `type`".into())),
            other => Err(bad(format!("correlation type `{other}` is not supported"))),
        }
    }
}

fn raw(v: &J) -> Result<Raw, String> {
    Ok(match v {
        J::String(s) => Raw::Str(s.clone()),
        J::Bool(b) => Raw::Bool(*b),
        J::Null => Raw::Null,
        J::Number(n) => match n.as_i64() {
            Some(i) => Raw::Num(Num::Int(i)),
            None => match n.as_f64() {
                Some(x) if x.is_finite() => Raw::Num(Num::Float(x)),
                _ => return Err(format!("the number {n} is out of range")),
            },
        },
        J::Array(_) | J::Object(_) => {
            return Err("a value must be a string, number, boolean or null".into());
        }
    })
}

/// Whether a field item tests exactly the values the logsource implies for the field (as a
/// set, each value a plain equality): then it is true on every event of the source. A test
/// of fewer values narrows the source, a test of other values may name events the source
/// holds on some target and not on another, so neither is dropped.
fn is_implied(item: &Item, implied: &[Scalar]) -> bool {
    if item.linking.negate || (item.linking.all && item.values.len() > 1) {
        return false;
    }
    let mut tested = std::collections::BTreeSet::new();
    for v in item.values.iter().flatten() {
        let key = match v {
            Val::Num(n) => n.to_string(),
            Val::Bool(b) => b.to_string(),
            Val::Str { s, .. } => match s.as_literal() {
                Some(t) => t.to_lowercase(),
                None => return false,
            },
            _ => return false,
        };
        tested.insert(key);
    }
    let implied: std::collections::BTreeSet<String> = implied.iter().map(|v| v.key()).collect();
    tested == implied
}

/// A value as written, for messages.
fn val_text(v: &Val) -> String {
    match v {
        Val::Num(n) => n.to_string(),
        Val::Bool(b) => b.to_string(),
        Val::Str { s, .. } => s.to_plain(),
        Val::Null => "null".into(),
        other => format!("{other:?}"),
    }
}

/// Whether a regex has `^`/`$` or `.` outside classes and escapes.
fn regex_features(p: &str) -> (bool, bool) {
    let (mut anchors, mut dots) = (false, false);
    let mut chars = p.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '^' | '$' if !in_class => anchors = true,
            '.' if !in_class => dots = true,
            _ => {}
        }
    }
    (anchors, dots)
}

/// `30s`, `5m`, `1h`, `7d`, `2w` → seconds.
fn timespan(t: Option<&str>) -> Result<u64, Reason> {
    let t = t.ok_or_else(|| Reason::Correlation("the correlation has no `timespan`".into()))?;
    let bad = || Reason::Correlation(format!("timespan `{t}` is not a number of s, m, h, d or w"));
    let unit = t.chars().last().ok_or_else(bad)?;
    let n: u64 = t[..t.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        'w' => 7 * 86400,
        _ => return Err(bad()),
    };
    match n.checked_mul(mult) {
        Some(s) if s > 0 => Ok(s),
        _ => Err(bad()),
    }
}

fn having(cond: &serde_json::Map<String, J>, agg: (&str, Option<Ident>)) -> Result<Having, Reason> {
    let mut terms = Vec::new();
    for (k, v) in cond {
        let op = match k.as_str() {
            "gt" => Op::Gt,
            "gte" => Op::Ge,
            "lt" => Op::Lt,
            "lte" => Op::Le,
            "eq" => Op::Eq,
            "neq" => Op::Ne,
            "field" => continue,
            other => {
                return Err(Reason::Correlation(format!(
                    "unknown condition operator `{other}`"
                )));
            }
        };
        let n = v
            .as_i64()
            .ok_or_else(|| Reason::Correlation(format!("condition `{k}` needs an integer")))?;
        terms.push(Having::Term(HavingTerm {
            func: ident(agg.0),
            field: agg.1.clone(),
            op,
            op_span: Span::default(),
            value: value(ValueKind::Int(n)),
            span: Span::default(),
        }));
    }
    match terms.len() {
        0 => Err(Reason::Correlation(
            "the correlation has no `condition`".into(),
        )),
        1 => Ok(terms.remove(0)),
        _ => Ok(Having::And(terms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(tags: &[&str]) -> (Vec<String>, Vec<String>) {
        attack_and_tags(&tags.iter().map(|t| t.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn techniques_without_their_tactics_get_all_of_them() {
        // T1547.001: persistence and privilege-escalation, in matrix order.
        let (attack, tags) = split(&["attack.t1547.001"]);
        assert_eq!(attack, vec!["TA0003", "TA0004", "T1547.001"]);
        assert!(tags.is_empty());
        // One of its tactics named: nothing added.
        let (attack, _) = split(&["attack.privilege_escalation", "attack.t1547.001"]);
        assert_eq!(attack, vec!["TA0004", "T1547.001"]);
        // Tactics a rule names for another technique do not count for this one; added
        // tactics are not repeated.
        let (attack, _) = split(&[
            "attack.execution",
            "attack.t1003",
            "attack.t1059.001",
            "attack.t1566",
            "attack.t1003",
        ]);
        assert_eq!(
            attack,
            vec!["TA0002", "TA0006", "TA0001", "T1003", "T1059.001", "T1566"]
        );
    }

    #[test]
    fn unknown_deprecated_and_revoked_techniques_stay_tags() {
        let (attack, tags) = split(&[
            "attack.stealth",
            "attack.t1685",
            "attack.T1085",
            "attack.t1026",
            "attack.t1059",
        ]);
        assert_eq!(attack, vec!["TA0002", "T1059"]);
        assert_eq!(
            tags,
            vec![
                "attack.stealth",
                "attack.t1685",
                "attack.T1085",
                "attack.t1026"
            ]
        );
    }

    /// A refusal points at the key it is about, in its own document of the file.
    #[test]
    fn refusals_point_at_their_key_in_their_document() {
        let text = "title: A\nid: a-1\nlogsource:\n  product: windows\n  category: process_creation\n\
                    detection:\n  sel:\n    Image|endswith: x.exe\n  condition: sel\nlevel: low\n---\n\
                    title: B\nid: b-2\nlogsource:\n  product: windows\n  category: process_creation\n\
                    detection:\n  sel:\n    NoSuchSigmaField|contains: abc\n  condition: sel\nlevel: low\n";
        let results = file("f.yml", text, &Options::default());
        let e = results
            .iter()
            .find_map(|r| r.as_ref().err())
            .expect("rule B is refused");
        assert!(matches!(e.reason, Reason::UnmappedField { .. }), "{e}");
        assert_eq!(e.id.as_deref(), Some("b-2"));
        let at = e.offset(text);
        assert!(
            text[at..].starts_with("NoSuchSigmaField|contains:"),
            "{:?}",
            &text[at..]
        );

        let bad_condition = text.replace(
            "condition: sel\nlevel: low\n---",
            "condition: sel and\nlevel: low\n---",
        );
        let e = file("f.yml", &bad_condition, &Options::default())
            .into_iter()
            .find_map(Result::err)
            .expect("rule A is refused");
        let at = e.offset(&bad_condition);
        assert!(bad_condition[at..].starts_with("condition: sel and"), "{e}");
    }
}
