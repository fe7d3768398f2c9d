//! `detc new`: the skeleton of a rule reading one source, which checks clean and passes its
//! own test as written, for the author to fill in.

use super::{Config, check_text};
use crate::base::Diagnostic;
use crate::schema::FieldTypeName;

/// The text of rule `name` reading `source`, with `id` and `today` (`YYYY-MM-DD`), in the
/// canonical layout; or the diagnostics of the name or source (an unknown source is
/// reported with its did-you-mean, as in any rule).
pub fn new_rule(
    config: &Config,
    file: &str,
    name: &str,
    source: &str,
    id: &str,
    today: &str,
) -> Result<String, Vec<Diagnostic>> {
    // A string field of the source for the example condition and its test.
    let field = config
        .schema
        .sources
        .get(source)
        .and_then(|s| {
            s.fields
                .iter()
                .find(|(f, t)| **t == FieldTypeName::String && !f.contains('*'))
        })
        .map_or("event.code", |(f, _)| f.as_str());
    let text = format!(
        r#"# TODO: what the rule detects, and why it matters.
rule {name} "TODO: a title" {{
  id          = "{id}"
  severity    = medium
  status      = experimental
  description = "TODO: what an analyst needs to know when it fires."
  date        = "{today}"

  from {source}
  # TODO: the condition (LANGUAGE.md); this one only shows the form.
  where {field} == "TODO"

  test matches {{ {field} = "TODO" }}
  test misses {{ {field} = "something else" }}
}}
"#
    );
    let checked = check_text(file, &text, config);
    if !checked.diagnostics.is_empty() {
        return Err(checked.diagnostics);
    }
    crate::syntax::print::format_text(file, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skeleton_checks_and_passes_its_tests() {
        let config = Config::load(&[], &[]).expect("config");
        let id = "4c0b3f0e-8f4e-4d8e-9a63-2f3e0b6f6a11";
        let text = new_rule(
            &config,
            "r.det",
            "my_rule",
            "process_start",
            id,
            "2026-12-07",
        )
        .expect("a skeleton");
        assert!(text.contains("from process_start") && text.contains("2026-12-07"));
        let p = check_text("r.det", &text, &config);
        assert!(p.diagnostics.is_empty());
        let results = crate::testing::run(&p, &config.schema);
        assert_eq!(results.len(), 2);
        assert!(
            results
                .iter()
                .all(|r| r.status == crate::testing::Status::Passed),
            "{text}"
        );
        let bad = new_rule(
            &config,
            "r.det",
            "my_rule",
            "proces_start",
            id,
            "2026-12-07",
        )
        .expect_err("unknown source");
        assert!(
            bad[0]
                .hint
                .as_deref()
                .is_some_and(|h| h.contains("process_start"))
        );
    }
}
