//! `catalog.toml`: the detection catalog's ideas, read from the root of the rule tree so that
//! `catalog = [A3]` in a rule can be checked (E0125, E0126) and `detc docs` can index them.

use crate::base::{Code, Diagnostic, Span};
use crate::check::{IDEAS_FILE, Idea, Ideas};
use serde::Deserialize;
use std::path::PathBuf;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    idea: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: Spanned<String>,
    title: Spanned<String>,
    not_implemented: Option<Spanned<String>>,
    remaining: Option<Spanned<String>>,
}

/// The ideas of the `catalog.toml` at the root of each rule folder in `tree`, in order;
/// `None` when no folder has one.
pub fn load_ideas(tree: &[PathBuf]) -> Result<Option<Ideas>, Diagnostic> {
    let mut found: Option<Ideas> = None;
    for dir in tree.iter().filter(|p| p.is_dir()) {
        let path = dir.join(IDEAS_FILE);
        if !path.is_file() {
            continue;
        }
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Diagnostic::error(
                &file,
                Span::default(),
                Code::E0500,
                format!("cannot read: {e}"),
            )
        })?;
        let more = parse_ideas(&file, &text)?;
        match &mut found {
            None => found = Some(more),
            Some(ideas) => {
                if let Some(dup) = more.ideas.iter().find(|i| ideas.get(&i.id).is_some()) {
                    return Err(Diagnostic::error(
                        &file,
                        Span::default(),
                        Code::E0505,
                        format!("idea `{}` is also listed in {}", dup.id, ideas.file),
                    ));
                }
                ideas.ideas.extend(more.ideas);
            }
        }
    }
    Ok(found)
}

/// One `catalog.toml`'s text, checked: ids well formed and unique, titles and reasons not
/// empty, an idea either not implementable or with a remaining part, not both.
pub fn parse_ideas(file: &str, text: &str) -> Result<Ideas, Diagnostic> {
    let error = |span: Span, message: String| Diagnostic::error(file, span, Code::E0505, message);
    let spanned = |s: &Spanned<String>| Span::new(s.span().start, s.span().end);
    let parsed: File = toml::from_str(text).map_err(|e| {
        let span = e
            .span()
            .map_or(Span::default(), |r| Span::new(r.start, r.end));
        error(span, e.message().trim().to_string())
    })?;
    let mut ideas = Ideas {
        file: file.to_string(),
        ideas: Vec::new(),
    };
    for entry in parsed.idea {
        let id = entry.id.get_ref();
        if !crate::check::is_idea_id(id) {
            return Err(error(
                spanned(&entry.id),
                format!("`{id}` is not an idea id: a capital letter and a number, e.g. `A3`"),
            )
            .with_hint("ids are the catalog's own: A1 ... F5".to_string()));
        }
        if ideas.get(id).is_some() {
            return Err(error(
                spanned(&entry.id),
                format!("idea `{id}` is listed twice"),
            ));
        }
        for text in [
            Some(&entry.title),
            entry.not_implemented.as_ref(),
            entry.remaining.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            if text.get_ref().trim().is_empty() {
                return Err(error(spanned(text), format!("idea `{id}`: empty text")));
            }
        }
        if let (Some(_), Some(remaining)) = (&entry.not_implemented, &entry.remaining) {
            return Err(error(
                spanned(remaining),
                format!("idea `{id}` is not implementable, so nothing of it can remain"),
            )
            .with_hint("keep `not_implemented` or `remaining`, not both".to_string()));
        }
        ideas.ideas.push(Idea {
            id: id.clone(),
            title: entry.title.into_inner(),
            not_implemented: entry.not_implemented.map(Spanned::into_inner),
            remaining: entry.remaining.map(Spanned::into_inner),
        });
    }
    Ok(ideas)
}

#[cfg(test)]
mod tests {
    use super::parse_ideas;

    #[test]
    fn ideas_are_read_in_order_with_their_reasons() {
        let text = "[[idea]]\nid = \"A1\"\ntitle = \"Applicant contact reuse\"\nremaining = \"the flagged-worker form\"\n\n[[idea]]\nid = \"D7\"\ntitle = \"Git commit time-zone offset\"\nnot_implemented = \"no SIEM holds commit metadata\"\n";
        let ideas = parse_ideas("catalog.toml", text).expect("valid");
        let ids: Vec<&str> = ideas.ideas.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["A1", "D7"]);
        assert!(
            ideas
                .get("D7")
                .and_then(|i| i.not_implemented.as_ref())
                .is_some()
        );
    }

    #[test]
    fn bad_entries_are_refused_where_they_stand() {
        for (text, span_text) in [
            ("[[idea]]\nid = \"a1\"\ntitle = \"x\"\n", "\"a1\""),
            (
                "[[idea]]\nid = \"A1\"\ntitle = \"x\"\n[[idea]]\nid = \"A1\"\ntitle = \"y\"\n",
                "\"A1\"",
            ),
            ("[[idea]]\nid = \"A1\"\ntitle = \" \"\n", "\" \""),
            (
                "[[idea]]\nid = \"A1\"\ntitle = \"x\"\nnot_implemented = \"n\"\nremaining = \"r\"\n",
                "\"r\"",
            ),
            ("[[idea]]\nid = \"A1\"\ntitel = \"x\"\n", "titel"),
        ] {
            let d = parse_ideas("catalog.toml", text).expect_err(text);
            assert_eq!(d.code, crate::base::Code::E0505, "{text}");
            let at = &text[d.span.start..d.span.end];
            assert!(at.contains(span_text.trim_matches('"')), "{text}: {at:?}");
        }
    }
}
