//! How tests read an event's fields: as [`Leaf`]s, either looked up in the JSON event each
//! time (`detc test`, correlation) or taken from the slots that `detc hunt` fills once per
//! event for every field some rule reads ([`FieldTable::extract`]).

use super::{leaves, text, values};
use serde_json::Value;
use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashMap;

/// A field's place in a [`FieldTable`].
pub(crate) type Slot = u32;

/// One present value of a field, with its text and ASCII-folded text made at most once.
#[derive(Debug, Clone)]
pub(crate) struct Leaf<'e> {
    pub(crate) value: &'e Value,
    text: OnceCell<Option<Cow<'e, str>>>,
    /// `Some` only when folding changes the text.
    folded: OnceCell<Option<String>>,
}

impl<'e> Leaf<'e> {
    fn new(value: &'e Value) -> Leaf<'e> {
        Leaf {
            value,
            text: OnceCell::new(),
            folded: OnceCell::new(),
        }
    }

    /// The value as text ([`super::text`]).
    pub(crate) fn text(&self) -> Option<&str> {
        self.text.get_or_init(|| text(self.value)).as_deref()
    }

    /// The text with ASCII letters lowercased, as case-insensitive tests compare it.
    pub(crate) fn folded(&self) -> Option<&str> {
        let text = self.text()?;
        let folded = self.folded.get_or_init(|| {
            text.bytes()
                .any(|b| b.is_ascii_uppercase())
                .then(|| text.to_ascii_lowercase())
        });
        Some(folded.as_deref().unwrap_or(text))
    }
}

/// An event as the tests read it.
pub(crate) trait Fields<'e> {
    /// The present values of `field` (interned at `slot`, when it was).
    fn leaves(&self, field: &str, slot: Option<Slot>) -> Cow<'_, [Leaf<'e>]>;
}

impl<'e> Fields<'e> for &'e Value {
    fn leaves(&self, field: &str, _: Option<Slot>) -> Cow<'_, [Leaf<'e>]> {
        Cow::Owned(values(self, field).into_iter().map(Leaf::new).collect())
    }
}

/// The fields a set of rules reads, each with a slot, and the paths that lead to them.
#[derive(Debug, Default)]
pub(crate) struct FieldTable {
    /// Per dotted path: its slot when it is a read field, and whether a read field lies
    /// below it (so objects and arrays under it are walked).
    paths: HashMap<String, (Option<Slot>, bool)>,
    slots: usize,
}

impl FieldTable {
    /// The slot of `field`, made on first use.
    pub(crate) fn slot(&mut self, field: &str) -> Slot {
        for (i, _) in field.match_indices('.') {
            self.paths.entry(field[..i].to_string()).or_default().1 = true;
        }
        let next = self.slots as Slot;
        let entry = self.paths.entry(field.to_string()).or_default();
        *entry.0.get_or_insert_with(|| {
            self.slots += 1;
            next
        })
    }

    /// Every read field's values in one walk of the event: the values [`values`] gives for
    /// each field, however the event spells the path (dotted keys, nested objects, a mix,
    /// arrays on the way).
    pub(crate) fn extract<'e>(&self, event: &'e Value) -> Extracted<'e> {
        let mut slots = vec![Vec::new(); self.slots];
        let mut path = String::new();
        self.walk(event, &mut path, &mut slots);
        Extracted { slots }
    }

    fn walk<'e>(&self, v: &'e Value, path: &mut String, slots: &mut [Vec<Leaf<'e>>]) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| self.walk(i, path, slots)),
            Value::Object(map) => {
                for (key, child) in map {
                    let len = path.len();
                    if len > 0 {
                        path.push('.');
                    }
                    path.push_str(key);
                    if let Some(&(slot, below)) = self.paths.get(path.as_str()) {
                        if let Some(slot) = slot {
                            let mut found = Vec::new();
                            leaves(child, &mut found);
                            slots[slot as usize].extend(found.into_iter().map(Leaf::new));
                        }
                        if below {
                            self.walk(child, path, slots);
                        }
                    }
                    path.truncate(len);
                }
            }
            _ => {}
        }
    }
}

/// One event's values of every field in a [`FieldTable`].
#[derive(Debug)]
pub(crate) struct Extracted<'e> {
    slots: Vec<Vec<Leaf<'e>>>,
}

impl<'e> Extracted<'e> {
    pub(crate) fn slot(&self, slot: Slot) -> &[Leaf<'e>] {
        &self.slots[slot as usize]
    }
}

impl<'e> Fields<'e> for Extracted<'e> {
    fn leaves(&self, field: &str, slot: Option<Slot>) -> Cow<'_, [Leaf<'e>]> {
        match slot {
            Some(s) => Cow::Borrowed(self.slot(s)),
            None => unreachable!("field {field} was not interned before extraction"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// One walk gives each field exactly the values the per-field lookup gives, for every
    /// way of spelling a path.
    #[test]
    fn extraction_agrees_with_lookup() {
        let fields = ["process.parent.name", "process.name", "a.b.c", "tags", "x"];
        let mut table = FieldTable::default();
        let slots: Vec<Slot> = fields.iter().map(|f| table.slot(f)).collect();
        assert_eq!(table.slot("process.name"), slots[1]);
        let events = [
            json!({"process": {"parent": {"name": "A"}, "name": "b"}}),
            json!({"process.parent.name": "A", "process": {"parent.name": "B", "name": null}}),
            json!({"process.parent": {"name": ["A", "", null, ["C"]]}, "process.name": ""}),
            json!({"a": [{"b": {"c": 1}}, {"b.c": true}, [{"b": [{"c": "x"}]}]], "a.b": {"c": 2.5}}),
            json!({"tags": ["t1", "t2"], "x": {"y": 1}, "process": "flat"}),
            json!({"x": [], "a.b.c.d": 1, "process.parent.name.more": "no"}),
        ];
        for event in &events {
            let extracted = table.extract(event);
            for (field, slot) in fields.iter().zip(&slots) {
                let mut want: Vec<String> =
                    values(event, field).iter().map(|v| v.to_string()).collect();
                let mut got: Vec<String> = extracted
                    .slot(*slot)
                    .iter()
                    .map(|l| l.value.to_string())
                    .collect();
                want.sort();
                got.sort();
                assert_eq!(got, want, "{field} in {event}");
            }
        }
    }

    #[test]
    fn folded_text_is_made_once_and_only_when_it_differs() {
        let v = json!("AnyDesk");
        let leaf = Leaf::new(&v);
        assert_eq!(leaf.folded(), Some("anydesk"));
        let lower = json!("anydesk");
        let leaf = Leaf::new(&lower);
        assert_eq!(leaf.folded(), Some("anydesk"));
        assert!(leaf.folded.get().expect("made").is_none());
        assert_eq!(Leaf::new(&json!(15)).text(), Some("15"));
    }
}
