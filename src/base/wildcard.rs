/// A `like` pattern: `*` any run (newlines included), `?` one character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wildcard(pub(crate) Vec<WildPart>);

impl Wildcard {
    /// Whether the pattern matches the empty value (only `*` runs and empty literals).
    pub(crate) fn matches_empty(&self) -> bool {
        self.0.iter().all(|p| match p {
            WildPart::AnyRun => true,
            WildPart::Literal(s) => s.is_empty(),
            WildPart::AnyOne => false,
        })
    }

    /// `v` with any run before and/or after: `contains v` is `*v*`, `startswith v` is `v*`.
    pub(crate) fn affix(v: &str, any_before: bool, any_after: bool) -> Wildcard {
        let mut parts = Vec::new();
        if any_before {
            parts.push(WildPart::AnyRun);
        }
        parts.push(WildPart::Literal(v.to_string()));
        if any_after {
            parts.push(WildPart::AnyRun);
        }
        Wildcard(parts)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WildPart {
    Literal(String),
    AnyRun,
    AnyOne,
}
