//! Shared helpers for the Sigma integration tests: convert a rule text, check it, evaluate
//! it, and compile it with the shipped mappings.

use detc::check::{self, Context, Lists};
use detc::eval::Matcher;
use detc::ir;
use detc::lower::{CompileError, Compiled, Language};
use detc::project::Config;
use detc::sigma::{self, Converted, Options, Reason};
use detc::targets::TargetName;
use serde_json::Value;
use std::sync::OnceLock;

/// A Sigma rule text of `logsource` (YAML lines, indented by 2) around `detection`.
pub fn rule_text(logsource: &str, detection: &str) -> String {
    format!(
        "title: Test\nid: 11111111-2222-3333-4444-555555555555\nstatus: test\nlevel: high\nlogsource:\n{logsource}\ndetection:\n{detection}"
    )
}

/// The file's first rule (a correlation comes first; unreferenced rules follow it), or why
/// it is refused.
pub fn convert_with(yaml: &str, opts: &Options) -> Result<Converted, Reason> {
    sigma::convert_file("rules/Test-Rule.yml", yaml, opts)
        .into_iter()
        .next()
        .expect("a rule")
        .map_err(|e| e.reason)
}

/// The converted rule checked against the schema with its declarations merged in, or the
/// diagnostics as `CODE: message; ...`.
pub fn check(c: &Converted, opts: &Options) -> Result<ir::Rule, String> {
    let mut schema = opts.schema.clone();
    sigma::merge_declares(&mut schema, [&c.declares]).map_err(|e| e.to_string())?;
    let lists = Lists::new();
    let ctx = Context {
        schema: &schema,
        lists: &lists,
        targets: &detc::targets::TargetName::NAMES,
        ideas: None,
    };
    let (rule, diags) = check::check_rule("sigma.det", "", &c.rule, &ctx);
    match rule {
        Some(r) if diags.is_empty() => Ok(r),
        _ => Err(diags
            .iter()
            .map(|d| format!("{}: {}", d.code, d.message))
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

/// The rule converted and checked; panics with the refusal or the diagnostics.
pub fn rule_with(yaml: &str, opts: &Options) -> ir::Rule {
    let c = convert_with(yaml, opts).unwrap_or_else(|r| panic!("not converted: {r}"));
    check(&c, opts).unwrap_or_else(|e| panic!("does not check: {e}\n{:#?}", c.rule.body))
}

/// Why the rule is refused at conversion; panics when it converts.
pub fn refused_with(yaml: &str, opts: &Options) -> String {
    match convert_with(yaml, opts) {
        Ok(c) => panic!("converted: {:#?}", c.rule.body),
        Err(r) => r.to_string(),
    }
}

/// Whether `r` matches `event`.
pub fn hits(r: &ir::Rule, event: Value) -> bool {
    Matcher::new(r).expect("matcher").matches(&event)
}

/// `r` compiled for `target` with the shipped mappings (loaded once per test binary).
pub fn compile(r: &ir::Rule, target: TargetName) -> Result<Vec<Compiled>, CompileError> {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    let config = CONFIG.get_or_init(super::config);
    target.target().compile(r, &config.mappings[&target])
}

/// The query of `r` on `target` in `language`, or the compile error's message.
pub fn query(r: &ir::Rule, target: TargetName, language: Language) -> Result<String, String> {
    let qs = compile(r, target).map_err(|e| e.message)?;
    Ok(qs
        .into_iter()
        .find(|q| q.language == language)
        .expect("the language")
        .query)
}
