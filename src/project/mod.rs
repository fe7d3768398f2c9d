//! A tree of rules: find the `.det` files, parse them all, gather lists, check every rule,
//! and catch what only the whole tree shows (duplicate names, ids and lists).

pub mod detc_toml;
mod ideas;
mod package;
mod skeleton;
pub(crate) mod versions;

pub use ideas::{load_ideas, parse_ideas};
pub use package::{check, contexts, deploy_diagnostics, package};
pub use skeleton::new_rule;
pub use versions::Versions;

use crate::base::diag::{self, Diagnostic};
use crate::base::{Code, Span};
use crate::check::{self, Context, ListEntry, Lists};
use crate::ir;
use crate::lower::Language;
use crate::schema::{self, Mapping, Schema};
use crate::syntax::{self, ast};
use crate::targets::TargetName;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The shipped schema, built into the binary so detc runs from any folder (each target
/// ships its mapping the same way).
const SCHEMA: (&str, &str) = (
    "targets/schema.yaml",
    include_str!("../../targets/schema.yaml"),
);

/// The schema and one mapping per target, and how Sigma files are read.
#[derive(Debug, Clone)]
pub struct Config {
    pub schema: Schema,
    pub mappings: BTreeMap<TargetName, Mapping>,
    pub sigma: SigmaSettings,
    /// What a rule without its own `targets = [...]` deploys to; every target when empty
    /// (`targets` in detc.toml).
    pub targets: Vec<TargetName>,
    /// How late events may arrive for a rule without its own `delay` (`delay` in
    /// detc.toml); `None`: the shipped default.
    pub delay: Option<u64>,
    /// The rules' licence (`[package] license` in detc.toml), for the packages that carry one.
    pub license: Option<String>,
    /// The detection catalog's ideas (`catalog.toml` at the root of the rule tree), which
    /// rules name in `catalog = [...]`; `None` when the tree has none.
    pub ideas: Option<crate::check::Ideas>,
}

/// How `.yml`/`.yaml` (Sigma) files become rules.
#[derive(Debug, Clone, Default)]
pub struct SigmaSettings {
    /// Logsource and field mapping: the shipped `targets/sigma.yaml` overlaid by the user's;
    /// `None`: the shipped one, read only once a Sigma file is (reading it would be a large
    /// part of a `detc check` of `.det` files).
    pub mapping: Option<crate::sigma::SigmaMapping>,
    /// Keep Sigma's name for a field the mapping does not know (on every target).
    pub keep_names: bool,
    /// Values for the `expand` modifier's `%placeholders%`.
    pub placeholders: Option<std::collections::HashMap<String, Vec<String>>>,
}

impl SigmaSettings {
    /// The Sigma mapping in effect.
    pub fn mapping(&self) -> crate::sigma::SigmaMapping {
        self.mapping
            .clone()
            .unwrap_or_else(crate::sigma::SigmaMapping::shipped)
    }
}

impl Config {
    /// The mapping that tells sources apart in ECS events, which `detc hunt` reads: Elastic's,
    /// whose categories and filters are ECS's own.
    pub fn ecs(&self) -> &Mapping {
        &self.mappings[&TargetName::Elastic]
    }

    /// The shipped data, overlaid with the user's `--schema` and `--mapping` files in order.
    pub fn load(schemas: &[PathBuf], mappings: &[PathBuf]) -> Result<Config, Diagnostic> {
        let mut schema: Schema = schema::from_yaml(SCHEMA.0, SCHEMA.1)?;
        schema
            .check_families()
            .map_err(|e| e.into_diagnostic(SCHEMA.0))?;
        let mut config = Config {
            schema: Schema::default(),
            mappings: BTreeMap::new(),
            sigma: SigmaSettings::default(),
            targets: Vec::new(),
            delay: None,
            license: None,
            ideas: None,
        };
        for target in TargetName::ALL {
            let (file, text) = target.target().mapping;
            let m: Mapping = schema::from_yaml(file, text)?;
            m.check_families().map_err(|e| e.into_diagnostic(file))?;
            config.mappings.insert(target_of(&m, file)?, m);
        }
        for path in schemas {
            let (extra, _): (Schema, _) = schema::load(path)?;
            extra
                .check_families()
                .map_err(|e| e.into_diagnostic(&path.display().to_string()))?;
            for (name, src) in extra.sources {
                match schema.sources.get_mut(&name) {
                    Some(ours) => ours.fields.extend(src.fields),
                    None => {
                        schema.sources.insert(name, src);
                    }
                }
            }
        }
        for path in mappings {
            let (m, _): (Mapping, _) = schema::load(path)?;
            let file = path.display().to_string();
            m.check_families().map_err(|e| e.into_diagnostic(&file))?;
            let target = target_of(&m, &file)?;
            if let Some(ours) = config.mappings.get_mut(&target) {
                ours.merge(m);
            }
        }
        config.schema = schema;
        Ok(config)
    }
}

fn target_of(m: &Mapping, file: &str) -> Result<TargetName, Diagnostic> {
    TargetName::ALL
        .into_iter()
        .find(|t| t.as_str() == m.target)
        .ok_or_else(|| {
            Diagnostic::error(
                file,
                Span::default(),
                Code::E0502,
                format!("unknown target `{}`", m.target),
            )
            .with_hint(format!("`target:` is one of {}", TargetName::list()))
        })
}

/// One file as read.
#[derive(Debug)]
pub struct SourceFile {
    pub(crate) path: String,
    /// `None` when the file could not be read as text.
    pub(crate) text: Option<String>,
    /// Whether diagnostics and rules of this file are reported (it was asked for).
    pub requested: bool,
}

/// The result of loading a tree.
#[derive(Debug, Default)]
pub struct Project {
    pub files: Vec<SourceFile>,
    /// Checked rules from the requested files, in file order then source order.
    pub rules: Vec<ir::Rule>,
    pub diagnostics: Vec<Diagnostic>,
    /// When a rule reads the alerts of the others: each target's mapping with their facts
    /// (`Target::with_facts`); else empty, and the config's mappings serve.
    mappings: BTreeMap<TargetName, Mapping>,
}

impl Project {
    /// The mapping the rules compile with on `target`.
    pub fn mapping<'a>(&'a self, config: &'a Config, target: TargetName) -> &'a Mapping {
        self.mappings
            .get(&target)
            .unwrap_or(&config.mappings[&target])
    }

    pub fn text_of(&self, file: &str) -> Option<&str> {
        self.files.iter().find(|f| f.path == file)?.text.as_deref()
    }
}

/// A `.det` file, or a Sigma rule (`.yml`, `.yaml`).
pub(crate) fn is_rule_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "det" | "yml" | "yaml"))
}

/// Whether a file is read as Sigma YAML.
pub fn is_sigma(name: &str) -> bool {
    name.ends_with(".yml") || name.ends_with(".yaml")
}

/// Rule files (`.det`, Sigma `.yml`/`.yaml`) under each path (a file is taken as it is),
/// sorted for a stable order.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Diagnostic> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out).map_err(|e| io_error(p, e))?;
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(Diagnostic::error(
                &p.display().to_string(),
                Span::default(),
                Code::E0500,
                "no such file or folder",
            ));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if is_rule_file(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn io_error(p: &Path, e: std::io::Error) -> Diagnostic {
    Diagnostic::error(
        &p.display().to_string(),
        Span::default(),
        Code::E0500,
        format!("cannot read: {e}"),
    )
}

/// Load and check `requested` files; `context` files (the rest of the tree) only supply
/// lists and the names and ids that must stay unique.
pub fn load(requested: &[PathBuf], context: &[PathBuf], config: &mut Config) -> Project {
    // The same file may be named two ways (`./detections/a.det`, `detections/a.det`).
    let identity = |p: &PathBuf| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
    let asked: HashSet<PathBuf> = if context.is_empty() {
        HashSet::new()
    } else {
        requested.iter().map(identity).collect()
    };
    let all: Vec<(&PathBuf, bool)> = requested
        .iter()
        .map(|p| (p, true))
        .chain(
            context
                .iter()
                .filter(|p| !asked.contains(&identity(p)))
                .map(|p| (p, false)),
        )
        .collect();
    // Read on all cores too: a few thousand small files are mostly system-call time.
    let inputs = all
        .into_par_iter()
        .map(|(path, req)| {
            (
                path.display().to_string(),
                std::fs::read(path).map_err(|e| io_error(path, e)),
                req,
            )
        })
        .collect();
    check_sources(inputs, config)
}

/// Check one text as if it were a requested file (for tests and tools).
pub fn check_text(name: &str, text: &str, config: &Config) -> Project {
    check_sources(
        vec![(name.to_string(), Ok(text.as_bytes().to_vec()), true)],
        &mut config.clone(),
    )
}

type Input = (String, Result<Vec<u8>, Diagnostic>, bool);

fn check_sources(inputs: Vec<Input>, config: &mut Config) -> Project {
    let mut project = Project::default();
    let mut parsed: Vec<(usize, ast::File)> = Vec::new();
    let mut declares = Vec::new();
    // Built once: the schema and Sigma mapping are the same for every Sigma file.
    let sigma = inputs
        .iter()
        .any(|(name, _, _)| is_sigma(name))
        .then(|| crate::sigma::Options {
            schema: config.schema.clone(),
            mapping: config.sigma.mapping(),
            keep_sigma_names: config.sigma.keep_names,
            placeholders: config.sigma.placeholders.clone(),
        });
    // Parsing (and converting Sigma) is per file: on all cores, then gathered in order.
    let read: Vec<_> = inputs
        .into_par_iter()
        .map(|(name, bytes, is_requested)| {
            let bytes = match bytes {
                Ok(b) => b,
                Err(d) => return (name, None, Err(vec![d]), vec![], is_requested),
            };
            let (parsed, refusals, declared) = match (is_sigma(&name), &sigma) {
                (true, Some(options)) => sigma_file(&name, &bytes, options),
                _ => (syntax::parse_bytes(&name, &bytes), vec![], vec![]),
            };
            // Not UTF-8: the text up to the first invalid byte (where the diagnostic points) is
            // the file's own, so a lossy copy still gives its line and column.
            let text = Some(
                String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            );
            (name, Some((text, declared)), parsed, refusals, is_requested)
        })
        .collect();
    for (name, read, parsed_file, refusals, is_requested) in read {
        if let Some((text, declared)) = read {
            declares.extend(declared);
            project.files.push(SourceFile {
                path: name,
                text,
                requested: is_requested,
            });
        }
        if is_requested {
            project.diagnostics.extend(refusals);
        }
        match parsed_file {
            Ok(file) => parsed.push((project.files.len() - 1, file)),
            Err(diags) if is_requested => project.diagnostics.extend(diags),
            Err(_) => {}
        }
    }

    if let Err(e) = keep_sigma_names(config, &declares) {
        project.diagnostics.push(Diagnostic::error(
            "sigma",
            Span::default(),
            Code::E0701,
            e.to_string(),
        ));
    }
    let config = &*config;
    let (lists, list_diags) = gather_lists(&project, &parsed);
    project.diagnostics.extend(list_diags);
    let ctx = Context {
        schema: &config.schema,
        lists: &lists,
        targets: &TargetName::NAMES,
        ideas: config.ideas.as_ref(),
    };

    // Names and ids must be unique across the whole tree, requested or not.
    let mut names: HashMap<&str, (&str, Span)> = HashMap::new();
    let mut ids: HashMap<String, (&str, Span)> = HashMap::new();
    let mut dup_diags = Vec::new();
    for (idx, file) in &parsed {
        let sf = &project.files[*idx];
        for item in &file.items {
            let ast::Item::Rule(rule) = item else {
                continue;
            };
            if let Some((other, _)) = names.get(rule.name.name.as_str()) {
                if sf.requested {
                    dup_diags.push(
                        Diagnostic::error(
                            &sf.path,
                            rule.name.span,
                            Code::E0201,
                            format!("rule `{}` is defined twice", rule.name.name),
                        )
                        .with_hint(format!(
                            "also defined in {other}; rule names are unique in the whole tree"
                        )),
                    );
                }
            } else {
                names.insert(&rule.name.name, (&sf.path, rule.name.span));
            }
            for m in rule.meta.iter().filter(|m| m.key.name == "id") {
                if let ast::ValueKind::Str(id) = &m.value.kind {
                    let key = id.to_ascii_lowercase();
                    if let Some((other, _)) = ids.get(&key) {
                        if sf.requested {
                            dup_diags.push(
                                Diagnostic::error(
                                    &sf.path,
                                    m.value.span,
                                    Code::E0202,
                                    format!("id `{id}` is used twice"),
                                )
                                .with_hint(format!(
                                    "also used in {other}; give this rule a new id (`uuidgen`)"
                                )),
                            );
                        }
                    } else {
                        ids.insert(key, (&sf.path, m.value.span));
                    }
                }
            }
        }
    }

    // Rules check independently: on all cores, gathered in file and source order.
    let ctx = &ctx;
    let check_files = |requested: bool| -> Vec<_> {
        parsed
            .par_iter()
            .filter(|(idx, _)| project.files[*idx].requested == requested)
            .flat_map_iter(|(idx, file)| {
                let sf = &project.files[*idx];
                let text = sf.text.as_deref().unwrap_or_default();
                file.items.iter().filter_map(move |item| match item {
                    ast::Item::Rule(rule) => Some(check::check_rule(&sf.path, text, rule, ctx)),
                    ast::Item::List(_) => None,
                })
            })
            .collect()
    };
    let checked: Vec<_> = check_files(true);
    // A rule over alerts reads those of every rule of the tree, asked for or not.
    let reads_alerts = checked
        .iter()
        .any(|(ir, _)| ir.as_ref().is_some_and(ir::Rule::reads_alerts));
    let context_rules: Vec<ir::Rule> = if reads_alerts {
        check_files(false)
            .into_iter()
            .filter_map(|(ir, _)| ir)
            .collect()
    } else {
        Vec::new()
    };
    for (ir, diags) in checked {
        project.diagnostics.extend(diags);
        project.rules.extend(ir.map(|mut rule| {
            // The project's targets stand for a rule's own when it names none.
            if rule.targets.is_empty() {
                rule.targets = config.targets.iter().map(|t| t.as_str().into()).collect();
            }
            if let (None, Some(seconds)) = (rule.delay, config.delay) {
                rule.delay = Some(ir::Duration {
                    seconds,
                    span: rule.span,
                });
            }
            rule
        }));
    }
    project.diagnostics.extend(dup_diags);
    diag::sort(&mut project.diagnostics);
    if reads_alerts {
        let tree: Vec<ir::Rule> = project.rules.iter().cloned().chain(context_rules).collect();
        project.mappings = config
            .mappings
            .iter()
            .map(|(&t, m)| (t, t.target().with_facts(m, &tree)))
            .collect();
    }
    project
}

/// The rules of one Sigma file, as `.det` rules, and a diagnostic (E0700) with the reason
/// for each rule that cannot be converted exactly.
fn sigma_file(
    name: &str,
    bytes: &[u8],
    options: &crate::sigma::Options,
) -> (
    Result<ast::File, Vec<Diagnostic>>,
    Vec<Diagnostic>,
    Vec<crate::sigma::Declares>,
) {
    use crate::sigma::Reason;
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(_) => return (syntax::parse_bytes(name, bytes), vec![], vec![]),
    };
    let mut file = ast::File::default();
    let mut diags = Vec::new();
    let mut declares = Vec::new();
    for result in crate::sigma::convert_file(name, text, options) {
        match result {
            Ok(c) => {
                declares.push(c.declares);
                file.items.push(ast::Item::Rule(Box::new(c.rule)));
            }
            Err(e) => {
                let hint = match &e.reason {
                    Reason::UnmappedField { .. } => Some(
                        "map it in a --sigma-mapping file, or keep Sigma's name with \
                         --sigma-keep-names",
                    ),
                    Reason::UnmappedLogsource(_) => {
                        Some("map the logsource to a detc source in a --sigma-mapping file")
                    }
                    _ => None,
                };
                let at = e.offset(text);
                let mut d = Diagnostic::error(
                    name,
                    Span::new(at, at),
                    Code::E0700,
                    format!("Sigma rule {} cannot be converted: {}", e.rule, e.reason),
                );
                d.hint = hint.map(str::to_string);
                diags.push(d);
            }
        }
    }
    (Ok(file), diags, declares)
}

/// With `--sigma-keep-names`: the fields Sigma rules kept their names for join the schema,
/// named the same on every target that maps their source.
fn keep_sigma_names(
    config: &mut Config,
    declares: &[crate::sigma::Declares],
) -> Result<(), crate::sigma::TypeConflict> {
    if declares.iter().all(|d| d.is_empty()) {
        return Ok(());
    }
    crate::sigma::merge_declares(&mut config.schema, declares)?;
    for d in declares {
        for (source, fields) in d {
            for m in config.mappings.values_mut() {
                if let Some(src) = m.sources.get_mut(source) {
                    for f in fields.keys() {
                        src.fields
                            .entry(f.clone())
                            .or_insert_with(|| Some(f.clone()));
                    }
                }
            }
        }
    }
    Ok(())
}

fn gather_lists(project: &Project, parsed: &[(usize, ast::File)]) -> (Lists, Vec<Diagnostic>) {
    let mut lists = Lists::new();
    let mut diags = Vec::new();
    for (idx, file) in parsed {
        let sf = &project.files[*idx];
        for item in &file.items {
            let ast::Item::List(def) = item else { continue };
            let values = match &def.values.kind {
                ast::ValueKind::List(vs) => vs.clone(),
                _ => {
                    if sf.requested {
                        diags.push(Diagnostic::error(
                            &sf.path,
                            def.values.span,
                            Code::E0205,
                            "a list holds a `[...]` literal",
                        ));
                    }
                    continue;
                }
            };
            if let Some(other) = lists.get(&def.name.name) {
                if sf.requested {
                    diags.push(
                        Diagnostic::error(
                            &sf.path,
                            def.name.span,
                            Code::E0204,
                            format!("list `{}` is defined twice", def.name.name),
                        )
                        .with_hint(format!("also defined in {}", other.file)),
                    );
                }
                continue;
            }
            lists.insert(
                def.name.name.clone(),
                ListEntry {
                    file: sf.path.clone(),
                    values,
                    tunable: def.tunable,
                },
            );
        }
    }
    (lists, diags)
}

/// One compiled query, as `detc compile --format json` prints it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Output {
    pub rule: String,
    pub(crate) id: String,
    pub target: TargetName,
    pub language: Language,
    pub query: String,
    /// Why the rule has fewer languages than the target usually gives (Elastic: EQL cannot
    /// aggregate, ES|QL cannot order events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Compile every checked rule for those of `targets` it deploys to: the queries in a stable order (rule, target,
/// language), and the check diagnostics plus what a target cannot express.
pub fn compile(
    project: &Project,
    config: &Config,
    targets: &[TargetName],
) -> (Vec<Output>, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let mut diags = project.diagnostics.clone();
    // Each rule compiles on its own: on all cores, gathered in rule order.
    let compiled: Vec<Result<Vec<Output>, Diagnostic>> = project
        .rules
        .par_iter()
        .flat_map_iter(|rule| {
            targets
                .iter()
                .filter(|t| rule.deploys_to(t.as_str()))
                .map(move |&t| {
                    let queries = t
                        .target()
                        .compile(rule, project.mapping(config, t))
                        .map_err(|e| e.into_diagnostic(rule, t.as_str()))?;
                    Ok(queries
                        .into_iter()
                        .map(|c| Output {
                            rule: rule.name.clone(),
                            id: rule.id.clone(),
                            target: t,
                            language: c.language,
                            query: c.query,
                            note: t.target().note(rule, project.mapping(config, t)),
                        })
                        .collect())
                })
        })
        .collect();
    for c in compiled {
        match c {
            Ok(outputs) => out.extend(outputs),
            Err(d) => diags.push(d),
        }
    }
    out.sort_by(|a, b| (&a.rule, a.target, a.language).cmp(&(&b.rule, b.target, b.language)));
    diag::sort(&mut diags);
    (out, diags)
}
