//! Which rules may match an event, found without evaluating them: the literals single-event
//! rules need ([`Matcher::required_literals`]) are looked for all at once with Aho-Corasick
//! automata, and a rule none of whose literals an event holds is not evaluated on it (it
//! could not match).
//!
//! Two places to look: each field's values, one automaton per field and case, on a parsed
//! event; and, when every rule has literals that can be seen there, the raw text of a plain
//! line ([`super::plain`]), which spares parsing the lines that hold none.

use super::plain;
use crate::eval::{Extracted, FieldTable, Matcher, Slot};
use aho_corasick::{AhoCorasick, packed};
use std::cell::RefCell;
use std::collections::HashMap;

pub(super) struct Prefilter {
    /// Per rule, one bit per group of literals it needs ([`Matcher::required_literals`]);
    /// 0 for a rule that needs none, evaluated on every event of its source.
    needs: Vec<u64>,
    /// The rules that need no literals, in order.
    always: Vec<u32>,
    fields: Vec<(Slot, Literals)>,
    /// Every rule's literals as a plain line writes them; only when every rule has some
    /// that can be seen in a line.
    line: Option<Literals>,
}

/// A rule needs a literal of each of at most this many groups (more are left out: the
/// filter then only lets more events through).
const MAX_GROUPS: usize = 64;

/// Up to this many literals are looked for with Teddy first.
const MAX_PACKED: usize = 64;

/// A literal, a rule that needs it and the rule's group it is in.
type Wanted<'a> = (&'a str, u32, u8);

/// Literals and the rules that need each.
struct Literals {
    automaton: AhoCorasick,
    /// For a few literals (a rule or two), a quicker test for any of them: Teddy's SIMD
    /// fingerprints, which the automaton's own prefilter does not use when every literal
    /// starts alike (as `\\` starts most paths).
    any: Option<packed::Searcher>,
    /// Per literal (automaton pattern), the rules that need it and the group it is in.
    users: Vec<Vec<(u32, u8)>>,
}

impl Literals {
    /// `wanted`: (literal, rule, group) triples; `fold`: match ASCII letters in either case.
    fn new<'a>(wanted: impl IntoIterator<Item = Wanted<'a>>, fold: bool) -> Literals {
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut patterns = Vec::new();
        let mut users: Vec<Vec<(u32, u8)>> = Vec::new();
        for (literal, rule, group) in wanted {
            let at = *index.entry(literal).or_insert_with(|| {
                patterns.push(literal);
                users.push(Vec::new());
                users.len() - 1
            });
            if !users[at].contains(&(rule, group)) {
                users[at].push((rule, group));
            }
        }
        // Teddy has no case folding, and is quickest with few literals.
        let any = (!fold && patterns.len() <= MAX_PACKED)
            .then(|| packed::Config::new().builder().extend(&patterns).build())
            .flatten();
        let automaton = AhoCorasick::builder()
            .ascii_case_insensitive(fold)
            .build(patterns)
            .expect("literals build an automaton");
        Literals {
            automaton,
            any,
            users,
        }
    }

    fn any_in(&self, text: &[u8]) -> bool {
        match &self.any {
            Some(searcher) => searcher.find(text).is_some(),
            None => self.automaton.is_match(text),
        }
    }

    /// Set the group bit of every rule with a literal in `text`.
    fn mark(&self, text: &[u8], held: &mut Held) {
        for m in self.automaton.find_overlapping_iter(text) {
            for &(rule, group) in &self.users[m.pattern().as_usize()] {
                let bits = &mut held.bits[rule as usize];
                if *bits == 0 {
                    held.touched.push(rule);
                }
                *bits |= 1 << group;
            }
        }
    }
}

/// The group bits an event holds, per rule, and the rules with any.
struct Held {
    bits: Vec<u64>,
    touched: Vec<u32>,
}

impl Prefilter {
    /// For the rules' matchers, whose fields `fields` has interned.
    pub(super) fn new<'m>(
        matchers: impl Iterator<Item = &'m Matcher>,
        fields: &mut FieldTable,
    ) -> Prefilter {
        let mut needs = Vec::new();
        let mut by_field: HashMap<(&str, bool), Vec<Wanted>> = HashMap::new();
        let mut in_lines: Vec<(String, u32, u8)> = Vec::new();
        let mut every_rule_in_lines = true;
        for (rule, m) in matchers.enumerate() {
            let mut groups = m.required_literals();
            groups.truncate(MAX_GROUPS);
            needs.push(u64::MAX.checked_shr(64 - groups.len() as u32).unwrap_or(0));
            every_rule_in_lines &=
                !groups.is_empty() && groups.iter().flatten().all(|(_, _, l)| seen_in_lines(l));
            for (group, literals) in groups.into_iter().enumerate() {
                for (field, folded, literal) in literals {
                    let at = (rule as u32, group as u8);
                    by_field
                        .entry((field, folded))
                        .or_default()
                        .push((literal, at.0, at.1));
                    in_lines.push((plain::encoded(literal), at.0, at.1));
                }
            }
        }
        let mut fields: Vec<(Slot, Literals)> = by_field
            .into_iter()
            .map(|((field, fold), wanted)| (fields.slot(field), Literals::new(wanted, fold)))
            .collect();
        fields.sort_by_key(|(slot, _)| *slot);
        // A rule's literals may be cased or not; in a line all are looked for folded (in
        // lowercase, in the line's lowercase copy), which finds more, never fewer.
        let line = every_rule_in_lines.then(|| {
            let lowered: Vec<_> = in_lines
                .iter()
                .map(|(l, r, g)| (l.to_ascii_lowercase(), *r, *g))
                .collect();
            Literals::new(lowered.iter().map(|(l, r, g)| (l.as_str(), *r, *g)), false)
        });
        let always = (0..needs.len() as u32)
            .filter(|&r| needs[r as usize] == 0)
            .collect();
        Prefilter {
            needs,
            always,
            fields,
            line,
        }
    }

    #[cfg(test)]
    pub(super) fn reads_lines(&self) -> bool {
        self.line.is_some()
    }

    /// The rules that may match a plain line (their indices, in order), or `None` when the line cannot tell
    /// (some rule has no literal that shows in a line, or the line is not plain).
    pub(super) fn line(&self, text: &[u8]) -> Option<Vec<u32>> {
        thread_local! {
            /// The line in ASCII lowercase (reused from line to line).
            static LOWERED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        let literals = self.line.as_ref()?;
        LOWERED.with_borrow_mut(|lowered| {
            if !plain::is_plain_object(text, lowered) {
                return None;
            }
            // Most lines hold no literal, and finding one is quicker than finding all.
            if !literals.any_in(lowered) {
                return Some(self.always.clone());
            }
            let mut held = self.held();
            literals.mark(lowered, &mut held);
            Some(self.candidates(&held))
        })
    }

    /// The rules that may match a parsed event: those that need no literals, and those
    /// with a literal of each group in the event's fields.
    pub(super) fn event(&self, event: &Extracted) -> Vec<u32> {
        let mut held = self.held();
        for (slot, literals) in &self.fields {
            for leaf in event.slot(*slot) {
                if let Some(text) = leaf.text() {
                    literals.mark(text.as_bytes(), &mut held);
                }
            }
        }
        self.candidates(&held)
    }

    fn held(&self) -> Held {
        Held {
            bits: vec![0; self.needs.len()],
            touched: Vec::new(),
        }
    }

    /// The rules, in order, that need no literal or hold one of each of their groups.
    fn candidates(&self, held: &Held) -> Vec<u32> {
        let mut out = self.always.clone();
        out.extend(
            held.touched
                .iter()
                .filter(|&&r| held.bits[r as usize] == self.needs[r as usize]),
        );
        out.sort_unstable();
        out
    }
}

/// Whether a literal that a field's text holds is sure to show in a plain line's raw text.
/// Strings and booleans are written as their text (with [`plain::encoded`]'s escapes), but
/// a number's text (`1.5`) need not be its raw form (`1.50`), so a literal made only of
/// characters a number's text can hold is not.
fn seen_in_lines(literal: &str) -> bool {
    literal
        .bytes()
        .any(|b| !matches!(b, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_shaped_literals_are_not_looked_for_in_lines() {
        assert!(seen_in_lines("\\cmd.exe"));
        assert!(seen_in_lines("true"));
        assert!(!seen_in_lines("1.5"));
        assert!(!seen_in_lines("-1e5"));
    }
}
