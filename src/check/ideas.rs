//! The detection catalog's ideas: what a rule may name in `catalog = [A3]`.
//!
//! The ideas live in `catalog.toml` at the root of the rule tree (the shipped library's is
//! `detections/catalog.toml`); `project::load_ideas` reads it. An idea that no rule can
//! implement says why in `not_implemented`; an implemented idea whose rules leave a part
//! out says which part, and why, in `remaining`.

/// The file name of the idea catalog at the root of a rule tree.
pub const IDEAS_FILE: &str = "catalog.toml";

#[derive(Debug, Clone, Default)]
pub struct Ideas {
    /// Where the ideas were read, for diagnostics.
    pub file: String,
    /// In the catalog's order.
    pub ideas: Vec<Idea>,
}

#[derive(Debug, Clone)]
pub struct Idea {
    /// `A1`, `F5`: a letter and a number.
    pub id: String,
    pub title: String,
    /// Why no rule can implement the idea: the data no SIEM holds, or the language feature
    /// it needs. Rules may not name such an idea.
    pub not_implemented: Option<String>,
    /// The part of an implemented idea that its rules leave out, and why.
    pub remaining: Option<String>,
}

impl Ideas {
    pub fn get(&self, id: &str) -> Option<&Idea> {
        self.ideas.iter().find(|i| i.id == id)
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = &str> {
        self.ideas.iter().map(|i| i.id.as_str())
    }
}

/// `A1`, `F5`: one uppercase letter, then digits.
pub(crate) fn is_idea_id(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && !chars.as_str().is_empty()
        && chars.all(|c| c.is_ascii_digit())
}
