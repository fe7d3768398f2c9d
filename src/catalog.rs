//! `detc docs` and `detc coverage`: the library described from the rules themselves.
//!
//! `docs` renders a Markdown catalog (an index by stage and by ATT&CK id, one page per rule
//! with its logic, data sources, compiled queries and tests); `coverage` renders a MITRE
//! ATT&CK Navigator layer of the techniques the rules cover. Both are pure functions of the
//! checked project, sorted so that the same rules always give the same bytes.

use crate::attack;
use crate::check::Ideas;
use crate::ir::{self, RuleKind};
use crate::lower::{self, Language};
use crate::project::{Config, Project};
use crate::schema;
use crate::syntax::{self, ast};
use crate::targets::TargetName;
use crate::testing::{self, CaseResult, Status};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A tactic id (`TA0001`), as opposed to a technique or sub-technique (`T1219.003`).
pub(crate) fn is_tactic(id: &str) -> bool {
    id.starts_with("TA")
}

/// The attack.mitre.org page of a technique, sub-technique or tactic id.
pub(crate) fn attack_url(id: &str) -> String {
    attack::url(id)
}

/// The ATT&CK name of a tactic, technique or sub-technique id, from the pinned table.
pub(crate) fn attack_name(id: &str) -> Option<&'static str> {
    if is_tactic(id) {
        attack::tactic(id).map(|t| t.name)
    } else {
        attack::technique(id).map(|t| t.name)
    }
}

fn kind_name(kind: &RuleKind) -> &'static str {
    match kind {
        RuleKind::Single(_) => "single event",
        RuleKind::Aggregate { .. } => "aggregation",
        RuleKind::Sequence { absent: true, .. } => "absence",
        RuleKind::Sequence { .. } => "sequence",
        RuleKind::FirstSeen { .. } => "first seen",
    }
}

/// The logical sources a rule reads, sorted and without repeats.
pub fn sources(rule: &ir::Rule) -> Vec<String> {
    let set: BTreeSet<String> = match &rule.kind {
        RuleKind::Single(q)
        | RuleKind::Aggregate { query: q, .. }
        | RuleKind::FirstSeen { query: q, .. } => [q.source.clone()].into(),
        RuleKind::Sequence { steps, .. } => steps.iter().map(|q| q.source.clone()).collect(),
    };
    set.into_iter().collect()
}

/// The rule's body as written: everything after its metadata and before its first inline
/// test (comments included), dedented. `None` when the file no longer parses.
pub(crate) fn logic(rule: &ir::Rule, text: &str) -> Option<String> {
    let file = syntax::parse(&rule.file, text).ok()?;
    let node = file.items.iter().find_map(|item| match item {
        ast::Item::Rule(r) if r.name.name == rule.name => Some(r),
        _ => None,
    })?;
    let head_end = node
        .meta
        .iter()
        .map(|m| m.value.span.end)
        .chain([node.title.span.end])
        .max()?;
    let start = text[head_end..]
        .find('\n')
        .map_or(head_end, |i| head_end + i + 1);
    let end = match node.tests.first() {
        Some(t) => text[..t.span.start].rfind('\n').map_or(0, |i| i + 1),
        None => text[..node.span.end].rfind('}')?,
    };
    if start >= end {
        return None;
    }
    let lines: Vec<&str> = text[start..end].lines().map(str::trim_end).collect();
    let first = lines.iter().position(|l| !l.is_empty())?;
    let last = lines.iter().rposition(|l| !l.is_empty())?;
    let lines = &lines[first..=last];
    let indent = lines
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    Some(
        lines
            .iter()
            .map(|l| l.get(indent..).unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// A fenced code block that survives backticks inside the code.
fn fence(out: &mut String, lang: &str, code: &str) {
    let mut longest = 0;
    let mut run = 0;
    for c in code.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let ticks = "`".repeat((longest + 1).max(3));
    let _ = writeln!(out, "{ticks}{lang}\n{}\n{ticks}\n", code.trim_end());
}

/// Inline code that survives backticks inside it.
fn code(s: &str) -> String {
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}

/// Text for one table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// `[T1219.002](url) Remote Desktop Software, ...`
fn attack_links(ids: &[String]) -> String {
    ids.iter()
        .map(|id| match attack_name(id) {
            Some(name) => format!("[{id}]({}) {}", attack_url(id), cell(name)),
            None => format!("[{id}]({})", attack_url(id)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The Markdown catalog: relative path (`index.md`, `rules/<rule>.md`) → contents.
pub fn docs(project: &Project, config: &Config) -> BTreeMap<String, String> {
    let mut rules: Vec<&ir::Rule> = project.rules.iter().collect();
    rules.sort_by(|a, b| a.name.cmp(&b.name));
    let results = testing::run(project, &config.schema);
    let mut files = BTreeMap::new();
    let mut front = index(&rules);
    if let Some(ideas) = &config.ideas {
        let _ = writeln!(
            front,
            "\n## By catalog idea\n\nThe detection catalog's ideas ({}) and the rules that implement them \
             (`catalog = [...]`); an idea no rule can implement says why.\n",
            ideas.file
        );
        front.push_str(&ideas_table(&rules, ideas, |name| {
            format!("[{name}](rules/{name}.md)")
        }));
    }
    files.insert("index.md".to_string(), front);
    for rule in &rules {
        let cases: Vec<&CaseResult> = results.iter().filter(|r| r.rule == rule.name).collect();
        let text = project.text_of(&rule.file).unwrap_or_default();
        files.insert(
            format!("rules/{}.md", rule.name),
            page(rule, text, project, config, &cases),
        );
    }
    files
}

fn index(rules: &[&ir::Rule]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Detection catalog\n");
    let _ = writeln!(
        out,
        "Generated by `detc docs` from the rules; do not edit. {} rules.\n",
        rules.len()
    );
    let mut by_stage: BTreeMap<String, Vec<&ir::Rule>> = BTreeMap::new();
    for r in rules {
        by_stage.entry(r.stage()).or_default().push(r);
    }
    let _ = writeln!(out, "## By stage\n");
    for (stage, rs) in &by_stage {
        let _ = writeln!(out, "### {stage}\n");
        let _ = writeln!(out, "| Rule | Title | Severity | Kind | ATT&CK |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for r in rs {
            let _ = writeln!(
                out,
                "| [{name}](rules/{name}.md) | {} | {} | {} | {} |",
                cell(&r.title),
                r.severity.as_str(),
                kind_name(&r.kind),
                r.attack.join(", "),
                name = r.name,
            );
        }
        out.push('\n');
    }
    let mut by_id: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in rules {
        for id in &r.attack {
            by_id.entry(id).or_default().push(&r.name);
        }
    }
    let link_rules = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("[{n}](rules/{n}.md)"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let name = |id: &str| cell(attack_name(id).unwrap_or("—"));
    let _ = writeln!(out, "## By ATT&CK technique\n");
    let _ = writeln!(out, "| Technique | Name | Rules |");
    let _ = writeln!(out, "|---|---|---|");
    for (id, names) in by_id.iter().filter(|(id, _)| !is_tactic(id)) {
        let _ = writeln!(
            out,
            "| [{id}]({}) | {} | {} |",
            attack_url(id),
            name(id),
            link_rules(names)
        );
    }
    if by_id.keys().any(|id| is_tactic(id)) {
        let _ = writeln!(out, "\n## By ATT&CK tactic\n");
        let _ = writeln!(out, "| Tactic | Name | Rules |");
        let _ = writeln!(out, "|---|---|---|");
        for (id, names) in by_id.iter().filter(|(id, _)| is_tactic(id)) {
            let _ = writeln!(
                out,
                "| [{id}]({}) | {} | {} |",
                attack_url(id),
                name(id),
                link_rules(names)
            );
        }
    }
    out
}

/// One row per idea of the catalog: its rules (named by `link`), or why it has none, and
/// what its rules leave out. `detc docs` writes it into the index; detections/README.md
/// carries the same table (a test compares the two).
pub fn ideas_table(rules: &[&ir::Rule], ideas: &Ideas, link: impl Fn(&str) -> String) -> String {
    let mut out = String::from("| Idea | Title | Rules | Not covered |\n|---|---|---|---|\n");
    for idea in &ideas.ideas {
        let mut names: Vec<&str> = rules
            .iter()
            .filter(|r| r.catalog.contains(&idea.id))
            .map(|r| r.name.as_str())
            .collect();
        names.sort_unstable();
        let implementing = names.iter().map(|n| link(n)).collect::<Vec<_>>().join(", ");
        let rules_cell = match (&idea.not_implemented, names.is_empty()) {
            (Some(_), _) => "not implemented",
            (None, true) => "**no rule**",
            (None, false) => implementing.as_str(),
        };
        let gap = idea.not_implemented.as_ref().or(idea.remaining.as_ref());
        let _ = writeln!(
            out,
            "| {} | {} | {rules_cell} | {} |",
            idea.id,
            cell(&idea.title),
            cell(gap.map_or("", |g| g.trim()))
        );
    }
    out
}

/// The enrichment a rule needs from `source` on each target: the whole source, or the
/// fields of it that the rule reads (its own entry or its family's).
fn enrichment_needs<'c>(
    rule: &ir::Rule,
    source: &str,
    config: &'c Config,
) -> Vec<(TargetName, String, &'c str)> {
    let read: BTreeSet<&str> = lower::fields_used(rule)
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    let mut out = Vec::new();
    for t in TargetName::ALL {
        let Some(m) = config.mappings.get(&t).and_then(|m| m.sources.get(source)) else {
            continue;
        };
        for (key, how) in &m.enrichment {
            let what = if key == schema::WHOLE_SOURCE {
                "the source itself".to_string()
            } else if read.contains(key.as_str())
                || key
                    .strip_suffix('*')
                    .is_some_and(|prefix| read.iter().any(|f| f.starts_with(prefix)))
            {
                format!("field {}", code(key))
            } else {
                continue;
            };
            out.push((t, what, how.as_str()));
        }
    }
    out
}

fn page(
    rule: &ir::Rule,
    text: &str,
    project: &Project,
    config: &Config,
    cases: &[&CaseResult],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", rule.title);
    let _ = writeln!(out, "`{}` · [catalog](../index.md)\n", rule.name);
    let _ = writeln!(out, "| | |\n|---|---|");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(out, "| {k} | {v} |");
    };
    row("Id", code(&rule.id));
    row("Severity", rule.severity.as_str().into());
    row("Status", cell(rule.status.as_deref().unwrap_or("—")));
    row("Stage", cell(&rule.stage()));
    row("Kind", kind_name(&rule.kind).into());
    row("ATT&CK", attack_links(&rule.attack));
    if !rule.catalog.is_empty() {
        let titled = |id: &String| match config.ideas.as_ref().and_then(|i| i.get(id)) {
            Some(idea) => format!("{id} {}", cell(&idea.title)),
            None => id.clone(),
        };
        row(
            "Catalog ideas",
            rule.catalog
                .iter()
                .map(titled)
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    row(
        "Tags",
        if rule.tags.is_empty() {
            "—".into()
        } else {
            rule.tags
                .iter()
                .map(|t| code(t))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    if let Some(a) = &rule.author {
        row("Author", cell(a));
    }
    row(
        "Runs",
        format!(
            "every {} over the last {}",
            ir::Duration::of(rule.schedule()),
            ir::Duration::of(rule.lookback())
        ),
    );
    row(
        "Alert fields",
        rule.fields
            .iter()
            .map(|f| code(&f.name))
            .collect::<Vec<_>>()
            .join(", "),
    );
    if let Some(s) = &rule.suppress {
        let by: Vec<String> = s.by.iter().map(|f| code(&f.name)).collect();
        row(
            "Suppress",
            format!("repeats by {} for {}", by.join(", "), s.duration),
        );
    }
    if !rule.targets.is_empty() {
        row("Deployed to", rule.targets.join(", "));
    }
    row("File", code(&rule.file));
    out.push('\n');

    if let Some(d) = &rule.description {
        let _ = writeln!(out, "## Description\n\n{}\n", d.trim());
    }
    if !rule.false_positives.is_empty() {
        let _ = writeln!(out, "## False positives\n");
        for f in &rule.false_positives {
            let _ = writeln!(out, "- {f}");
        }
        out.push('\n');
    }
    if !rule.references.is_empty() {
        let _ = writeln!(out, "## References\n");
        for r in &rule.references {
            let _ = writeln!(out, "- <{r}>");
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Logic\n");
    match logic(rule, text) {
        Some(body) => fence(&mut out, "det", &body),
        None => {
            let _ = writeln!(out, "_The rule's source could not be read._\n");
        }
    }

    let _ = writeln!(out, "## Data sources\n");
    for source in sources(rule) {
        let _ = writeln!(out, "### {}\n", code(&source));
        if let Some(d) = config
            .schema
            .sources
            .get(&source)
            .and_then(|s| s.description.as_deref())
        {
            let _ = writeln!(out, "{d}\n");
        }
        let _ = writeln!(out, "| Target | Where |\n|---|---|");
        for t in TargetName::ALL {
            let m = config.mappings.get(&t).and_then(|m| m.sources.get(&source));
            let mut parts = Vec::new();
            if let Some(m) = m {
                for (label, value) in [
                    ("base search", &m.search),
                    ("table", &m.table),
                    ("with", &m.union.as_ref().map(|u| u.join(", "))),
                    ("index", &m.index),
                    ("EQL category", &m.category),
                ] {
                    if let Some(v) = value {
                        parts.push(format!("{label} {}", code(v)));
                    }
                }
                for (k, v) in m.filter.iter().flatten() {
                    let vs: Vec<String> = v.values().iter().map(|v| v.to_string()).collect();
                    let test = match vs.as_slice() {
                        [one] => format!("{k} = {one}"),
                        _ => format!("{k} in [{}]", vs.join(", ")),
                    };
                    parts.push(format!("filter {}", code(&test)));
                }
            }
            let where_ = if parts.is_empty() {
                "not mapped".to_string()
            } else {
                parts.join("; ")
            };
            let _ = writeln!(out, "| {} | {} |", t.as_str(), cell(&where_));
        }
        out.push('\n');
        let needs = enrichment_needs(rule, &source, config);
        if !needs.is_empty() {
            let _ = writeln!(
                out,
                "Not in the vendors' stock data (the mappings' `enrichment:`), to be built:\n"
            );
            for (t, what, how) in needs {
                let _ = writeln!(out, "- {}, {what}: {}", t.as_str(), how.trim());
            }
            out.push('\n');
        }
    }

    let _ = writeln!(out, "## Queries\n");
    for t in TargetName::ALL {
        let _ = writeln!(out, "### {}\n", t.as_str());
        if !rule.deploys_to(t.as_str()) {
            let _ = writeln!(
                out,
                "> **Not deployed:** the rule's `targets` leave {} out.\n",
                t.as_str()
            );
            continue;
        }
        let mapping = project.mapping(config, t);
        match t.target().compile(rule, mapping) {
            Ok(mut queries) => {
                queries.sort_by_key(|q| q.language);
                let given: BTreeSet<Language> = queries.iter().map(|q| q.language).collect();
                let missing: Vec<&str> = t
                    .target()
                    .languages
                    .iter()
                    .filter(|l| !given.contains(l))
                    .map(|l| l.as_str())
                    .collect();
                if let Some(note) = t.target().note(rule, mapping) {
                    let _ = writeln!(out, "> **Note:** {}\n", note.trim());
                } else if !missing.is_empty() {
                    let _ = writeln!(out, "> **Note:** no {} query.\n", missing.join(", "));
                }
                for q in &queries {
                    let name = match q.language {
                        Language::Spl => "SPL",
                        Language::Kql => "KQL",
                        Language::Eql => "EQL",
                        Language::Esql => "ES|QL",
                    };
                    let _ = writeln!(out, "{name}:\n");
                    fence(&mut out, q.language.as_str(), &q.query);
                }
            }
            Err(e) => {
                let d = e.into_diagnostic(rule, t.as_str());
                let _ = writeln!(out, "> **Not compiled** ({}): {}", d.code, d.message.trim());
                if let Some(h) = &d.hint {
                    let _ = writeln!(out, ">\n> Hint: {}", h.trim());
                }
                out.push('\n');
            }
        }
    }

    let _ = writeln!(out, "## Tests\n");
    if cases.is_empty() {
        let _ = writeln!(out, "_No test cases._");
    } else {
        let _ = writeln!(
            out,
            "| Case | Expects | Result | Where |\n|---|---|---|---|"
        );
        for c in cases {
            let expects = if c.expect_match { "match" } else { "no match" };
            let result = match c.status {
                Status::Passed => "passed".to_string(),
                Status::Failed => {
                    format!("**failed**: {}", c.reason.as_deref().unwrap_or_default())
                }
                Status::Skipped => format!("skipped: {}", c.reason.as_deref().unwrap_or_default()),
            };
            let case = if c.event.is_object() {
                format!("{} {}", c.case, code(&c.event.to_string()))
            } else {
                c.case.clone()
            };
            let _ = writeln!(
                out,
                "| {} | {expects} | {} | {} |",
                cell(&case),
                cell(&result),
                code(&c.location)
            );
        }
    }
    out
}

/// Write the catalog under `out` all at once: into a sibling temporary folder, then swapped
/// in by rename, so readers never see half a catalog and pages of removed rules go away.
/// Refuses to replace a non-empty folder that holds no `index.md` (not a catalog).
pub fn write_tree(out: &Path, files: &BTreeMap<String, String>) -> std::io::Result<()> {
    let err = |what: &str, p: &Path, e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("cannot {what} {}: {e}", p.display()))
    };
    if out.is_dir()
        && !out.join("index.md").is_file()
        && std::fs::read_dir(out)
            .map_err(|e| err("read", out, e))?
            .next()
            .is_some()
    {
        return Err(std::io::Error::other(format!(
            "{} is not empty and holds no index.md; refusing to replace it with a catalog",
            out.display()
        )));
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .map_or_else(|| "catalog".into(), |n| n.to_string_lossy().into_owned());
    std::fs::create_dir_all(&parent).map_err(|e| err("create", &parent, e))?;
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    for stale in [&tmp, &old] {
        if stale.exists() {
            std::fs::remove_dir_all(stale).map_err(|e| err("remove", stale, e))?;
        }
    }
    let result = (|| {
        for (rel, contents) in files {
            let path = tmp.join(rel);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| err("create", dir, e))?;
            }
            std::fs::write(&path, contents).map_err(|e| err("write", &path, e))?;
        }
        if out.exists() {
            std::fs::rename(out, &old).map_err(|e| err("move", out, e))?;
        }
        std::fs::rename(&tmp, out).map_err(|e| err("write", out, e))?;
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| err("remove", &old, e))?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// A MITRE ATT&CK Navigator layer (format 4.5); fields in the order they are written.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Layer {
    pub(crate) name: String,
    pub(crate) versions: Versions,
    pub(crate) domain: String,
    pub(crate) description: String,
    pub(crate) sorting: u8,
    pub(crate) hide_disabled: bool,
    pub(crate) techniques: Vec<Technique>,
    pub(crate) gradient: Gradient,
    pub(crate) legend_items: Vec<LegendItem>,
    pub(crate) metadata: Vec<Metadata>,
    pub(crate) show_tactic_row_background: bool,
    pub(crate) select_techniques_across_tactics: bool,
    pub(crate) select_subtechniques_with_parent: bool,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Versions {
    pub(crate) attack: String,
    pub(crate) navigator: String,
    pub(crate) layer: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Technique {
    #[serde(rename = "techniqueID")]
    pub(crate) technique_id: String,
    pub(crate) score: usize,
    pub(crate) comment: String,
    pub(crate) enabled: bool,
    pub(crate) show_subtechniques: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Gradient {
    pub(crate) colors: Vec<String>,
    pub(crate) min_value: usize,
    pub(crate) max_value: usize,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct LegendItem {
    pub(crate) label: String,
    pub(crate) color: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Metadata {
    pub(crate) name: String,
    pub(crate) value: String,
}

/// The Navigator layer of the techniques the project's rules cover: one entry per technique
/// or sub-technique id, scored by how many rules name it; tactic ids go in the metadata.
pub(crate) fn coverage(project: &Project) -> Layer {
    let mut by_id: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in &project.rules {
        for id in &r.attack {
            by_id.entry(id).or_default().insert(&r.name);
        }
    }
    let join = |names: &BTreeSet<&str>| names.iter().copied().collect::<Vec<_>>().join(", ");
    let techniques: Vec<Technique> = by_id
        .iter()
        .filter(|(id, _)| !is_tactic(id))
        .map(|(id, names)| Technique {
            technique_id: id.to_string(),
            score: names.len(),
            comment: join(names),
            enabled: true,
            // Unfold a technique so the sub-techniques the rules name show beside it.
            show_subtechniques: !id.contains('.'),
        })
        .collect();
    let tactics: Vec<(&str, &BTreeSet<&str>)> = by_id
        .iter()
        .filter(|(id, _)| is_tactic(id))
        .map(|(id, names)| (*id, names))
        .collect();
    let max = techniques.iter().map(|t| t.score).max().unwrap_or(1).max(1);
    let mut description = format!(
        "Techniques named by {} detc rules (score = number of rules); generated by `detc coverage`.",
        project.rules.len()
    );
    if !tactics.is_empty() {
        let _ = write!(
            description,
            " Tactics named: {}.",
            tactics
                .iter()
                .map(|(id, names)| {
                    let n = names.len();
                    let name = attack_name(id).map(|s| format!(" {s}")).unwrap_or_default();
                    format!("{id}{name} ({n} rule{})", if n == 1 { "" } else { "s" })
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Layer {
        name: "detc DPRK IT worker coverage".into(),
        versions: Versions {
            // Navigator names ATT&CK releases by major version ("18" for 18.1).
            attack: attack::major_version().into(),
            navigator: "5.1.0".into(),
            layer: "4.5".into(),
        },
        domain: "enterprise-attack".into(),
        description,
        sorting: 0,
        hide_disabled: false,
        techniques,
        gradient: Gradient {
            colors: vec!["#d1e7ff".into(), "#1f6fd1".into()],
            min_value: 0,
            max_value: max,
        },
        legend_items: [(1, "#d1e7ff"), (max, "#1f6fd1")]
            .into_iter()
            .take(if max > 1 { 2 } else { 1 })
            .map(|(n, color)| LegendItem {
                label: format!("covered by {n} rule{}", if n == 1 { "" } else { "s" }),
                color: color.into(),
            })
            .collect(),
        metadata: tactics
            .iter()
            .map(|(id, names)| Metadata {
                name: match attack_name(id) {
                    Some(n) => format!("tactic {id} {n}"),
                    None => format!("tactic {id}"),
                },
                value: join(names),
            })
            .collect(),
        show_tactic_row_background: false,
        select_techniques_across_tactics: true,
        select_subtechniques_with_parent: false,
    }
}

/// The layer as pretty JSON with a final newline.
pub fn coverage_json(project: &Project) -> String {
    let mut s = serde_json::to_string_pretty(&coverage(project)).unwrap_or_default();
    s.push('\n');
    s
}
