//! Sigma values and the value modifiers, computed as pySigma computes them.
//!
//! A Sigma string is read as pySigma's `SigmaString` reads it: `*` is any run, `?` one
//! character; `\*`, `\?` and `\\` are a literal `*`, `?` and `\`; a backslash before any
//! other character (or at the end) is a literal backslash.

use std::collections::HashMap;

/// Expansions (windash, base64offset, expand) larger than this are refused.
pub(crate) const MAX_ALTERNATIVES: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Part {
    Lit(String),
    /// `*`
    Any,
    /// `?`
    One,
    /// `%name%` after `expand`
    Placeholder(String),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct SigmaStr(pub(crate) Vec<Part>);

impl SigmaStr {
    pub(crate) fn parse(s: &str) -> SigmaStr {
        let mut out = SigmaStr::default();
        let mut escaped = false;
        for c in s.chars() {
            if escaped {
                if !matches!(c, '*' | '?' | '\\') {
                    out.push_char('\\');
                }
                out.push_char(c);
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '*' {
                out.0.push(Part::Any);
            } else if c == '?' {
                out.0.push(Part::One);
            } else {
                out.push_char(c);
            }
        }
        if escaped {
            out.push_char('\\');
        }
        out
    }

    fn push_char(&mut self, c: char) {
        match self.0.last_mut() {
            Some(Part::Lit(s)) => s.push(c),
            _ => self.0.push(Part::Lit(c.to_string())),
        }
    }

    fn push(&mut self, p: Part) {
        match (self.0.last_mut(), p) {
            (Some(Part::Lit(s)), Part::Lit(t)) => s.push_str(&t),
            (_, Part::Lit(t)) if t.is_empty() => {}
            (_, p) => self.0.push(p),
        }
    }

    fn from_parts(parts: impl IntoIterator<Item = Part>) -> SigmaStr {
        let mut s = SigmaStr::default();
        for p in parts {
            s.push(p);
        }
        s
    }

    /// Holds `*` or `?`.
    pub(crate) fn has_wildcards(&self) -> bool {
        self.0.iter().any(|p| matches!(p, Part::Any | Part::One))
    }

    /// pySigma's `to_plain`: literal `*`/`?` escaped, wildcards as written.
    pub(crate) fn to_plain(&self) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Part::Lit(s) => out.push_str(&s.replace('*', "\\*").replace('?', "\\?")),
                Part::Any => out.push('*'),
                Part::One => out.push('?'),
                Part::Placeholder(n) => {
                    out.push('%');
                    out.push_str(n);
                    out.push('%');
                }
            }
        }
        out
    }

    /// The literal text when there are no wildcards or placeholders.
    pub(crate) fn as_literal(&self) -> Option<String> {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Part::Lit(s) => out.push_str(s),
                _ => return None,
            }
        }
        Some(out)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Num::Int(i) => write!(f, "{i}"),
            Num::Float(x) => write!(f, "{x}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
}

/// A value after its modifiers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Str {
        s: SigmaStr,
        cased: bool,
    },
    Re {
        pattern: String,
        ignore_case: bool,
        multiline: bool,
        dotall: bool,
    },
    Num(Num),
    Bool(bool),
    Null,
    Cidr(String),
    Exists(bool),
    Compare(CmpOp, Num),
}

/// A YAML scalar as read from the rule.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Raw {
    Str(String),
    Num(Num),
    Bool(bool),
    Null,
}

/// The field item's list-level modifiers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Linking {
    /// `all`: values joined with AND.
    pub(crate) all: bool,
    /// `neq`: the whole item negated.
    pub(crate) negate: bool,
}

/// Apply `mods` (in the order written) to one raw value: its alternatives (OR-ed, even
/// under `all`). `Err` is the reason the value cannot be converted.
pub(crate) fn apply(
    mods: &[String],
    raw: &Raw,
    placeholders: Option<&HashMap<String, Vec<String>>>,
) -> Result<Vec<Val>, String> {
    let mut vals = vec![match raw {
        Raw::Str(s) => Val::Str {
            s: SigmaStr::parse(s),
            cased: false,
        },
        Raw::Num(n) => Val::Num(*n),
        Raw::Bool(b) => Val::Bool(*b),
        Raw::Null => Val::Null,
    }];
    let mut utf16_applied = false;
    let mut expand = false;
    for (i, m) in mods.iter().enumerate() {
        let first = i == 0;
        let m = m.as_str();
        let mut next = Vec::new();
        for v in vals {
            match (m, v) {
                ("all" | "neq", v) => next.push(v),
                ("contains" | "startswith" | "endswith", Val::Str { s, cased }) => {
                    let mut parts = s.0;
                    if m != "startswith" && parts.first() != Some(&Part::Any) {
                        parts.insert(0, Part::Any);
                    }
                    if m != "endswith" && parts.last() != Some(&Part::Any) {
                        parts.push(Part::Any);
                    }
                    next.push(Val::Str {
                        s: SigmaStr::from_parts(parts),
                        cased,
                    });
                }
                // A regex is matched anywhere in the value, so pySigma's added `.*` change nothing.
                ("contains" | "startswith" | "endswith", v @ Val::Re { .. }) => next.push(v),
                ("base64" | "base64offset", Val::Str { s, cased }) => {
                    if s.has_wildcards() {
                        return Err(format!(
                            "modifier `{m}` cannot encode a value with wildcards (`{}`)",
                            s.to_plain()
                        ));
                    }
                    let mut data = s.to_plain().into_bytes();
                    if utf16_applied && data.starts_with("\u{feff}".as_bytes()) {
                        data.splice(0..3, [0xff, 0xfe]);
                    }
                    if m == "base64" {
                        next.push(Val::Str {
                            s: SigmaStr::from_parts([Part::Lit(base64(&data))]),
                            cased,
                        });
                    } else {
                        for text in base64_offsets(&data) {
                            next.push(Val::Str {
                                s: SigmaStr::from_parts([Part::Lit(text)]),
                                cased,
                            });
                        }
                    }
                }
                ("wide" | "utf16le" | "utf16be" | "utf16", Val::Str { s, cased }) => {
                    let mut parts = Vec::new();
                    if m == "utf16" {
                        parts.push(Part::Lit("\u{feff}".into()));
                        utf16_applied = true;
                    }
                    for p in s.0 {
                        match p {
                            Part::Lit(t) => {
                                let bytes: Vec<u8> = t
                                    .encode_utf16()
                                    .flat_map(|u| {
                                        if m == "utf16be" {
                                            u.to_be_bytes()
                                        } else {
                                            u.to_le_bytes()
                                        }
                                    })
                                    .collect();
                                // pySigma decodes the encoded bytes as UTF-8, which only
                                // works for (in effect) ASCII text.
                                match String::from_utf8(bytes) {
                                    Ok(t) => parts.push(Part::Lit(t)),
                                    Err(_) => {
                                        return Err(format!(
                                            "modifier `{m}` only encodes ASCII text (as pySigma does); `{t}` is not"
                                        ));
                                    }
                                }
                            }
                            p => parts.push(p),
                        }
                    }
                    next.push(Val::Str {
                        s: SigmaStr::from_parts(parts),
                        cased,
                    });
                }
                ("windash", Val::Str { s, cased }) => {
                    for s in windash(&s)? {
                        next.push(Val::Str { s, cased });
                    }
                }
                ("re", Val::Str { .. }) if !first => {
                    return Err("modifier `re` must come first (pySigma applies it to unmodified values only)".into());
                }
                ("re", Val::Str { .. }) => match raw {
                    Raw::Str(original) => next.push(Val::Re {
                        pattern: original.clone(),
                        ignore_case: false,
                        multiline: false,
                        dotall: false,
                    }),
                    _ => return Err("modifier `re` needs a string".into()),
                },
                (
                    "i" | "ignorecase" | "m" | "multiline" | "s" | "dotall",
                    Val::Re {
                        pattern,
                        ignore_case,
                        multiline,
                        dotall,
                    },
                ) => next.push(Val::Re {
                    pattern,
                    ignore_case: ignore_case || matches!(m, "i" | "ignorecase"),
                    multiline: multiline || matches!(m, "m" | "multiline"),
                    dotall: dotall || matches!(m, "s" | "dotall"),
                }),
                ("cased", Val::Str { s, .. }) => next.push(Val::Str { s, cased: true }),
                ("cidr", Val::Str { .. }) if !first => {
                    return Err("modifier `cidr` must come first (pySigma applies it to unmodified values only)".into());
                }
                ("cidr", Val::Str { s, .. }) => match s.as_literal() {
                    Some(t) => next.push(Val::Cidr(t)),
                    None => return Err(format!("`cidr` value `{}` has wildcards", s.to_plain())),
                },
                ("exists", Val::Bool(b)) if first => next.push(Val::Exists(b)),
                ("exists", _) => {
                    return Err("modifier `exists` takes an unmodified `true` or `false`".into());
                }
                ("lt" | "lte" | "gt" | "gte", Val::Num(n)) => {
                    let op = match m {
                        "lt" => CmpOp::Lt,
                        "lte" => CmpOp::Le,
                        "gt" => CmpOp::Gt,
                        _ => CmpOp::Ge,
                    };
                    next.push(Val::Compare(op, n));
                }
                ("expand", Val::Str { s, cased }) => {
                    expand = true;
                    next.push(Val::Str {
                        s: insert_placeholders(s),
                        cased,
                    });
                }
                ("fieldref", _) => {
                    return Err(
                        "modifier `fieldref` compares two fields of one event, which the importer does not convert (write it in .det as `a == b`)".into(),
                    );
                }
                ("minute" | "hour" | "day" | "week" | "month" | "year", _) => {
                    return Err(format!(
                        "time modifier `{m}` (a part of a timestamp) has no detc form"
                    ));
                }
                (
                    "contains" | "startswith" | "endswith" | "base64" | "base64offset" | "wide"
                    | "utf16le" | "utf16be" | "utf16" | "windash" | "re" | "i" | "ignorecase" | "m"
                    | "multiline" | "s" | "dotall" | "cased" | "cidr" | "lt" | "lte" | "gt" | "gte"
                    | "expand",
                    v,
                ) => {
                    return Err(format!("modifier `{m}` does not apply to {}", describe(&v)));
                }
                (other, _) => return Err(format!("unknown modifier `{other}`")),
            }
        }
        if next.len() > MAX_ALTERNATIVES {
            return Err(format!(
                "the modifiers expand one value into more than {MAX_ALTERNATIVES} alternatives"
            ));
        }
        vals = next;
    }
    if expand {
        let mut out = Vec::new();
        for v in vals {
            match v {
                Val::Str { s, cased } => {
                    for s in fill_placeholders(&s, placeholders)? {
                        out.push(Val::Str { s, cased });
                    }
                }
                v => out.push(v),
            }
            if out.len() > MAX_ALTERNATIVES {
                return Err(format!(
                    "placeholders expand one value into more than {MAX_ALTERNATIVES} alternatives"
                ));
            }
        }
        vals = out;
    }
    Ok(vals)
}

fn describe(v: &Val) -> &'static str {
    match v {
        Val::Str { .. } => "a string",
        Val::Re { .. } => "a regular expression",
        Val::Num(_) => "a number",
        Val::Bool(_) => "a boolean",
        Val::Null => "null",
        Val::Cidr(_) => "a CIDR network",
        Val::Exists(_) => "an `exists` test",
        Val::Compare(..) => "a numeric comparison",
    }
}

/// Standard base64 with padding.
pub(crate) fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// pySigma's three `base64offset` variants: the value shifted by 0, 1 and 2 bytes, with
/// the characters that depend on the unknown neighbouring bytes cut off.
pub(crate) fn base64_offsets(data: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    // `None` = to the end; otherwise cut this many characters from the end.
    const END: [Option<usize>; 3] = [None, Some(3), Some(2)];
    (0..3)
        .map(|i| {
            let mut shifted = vec![b' '; i];
            shifted.extend_from_slice(data);
            let enc = base64(&shifted);
            let end = match END[(data.len() + i) % 3] {
                None => enc.len(),
                Some(cut) => enc.len().saturating_sub(cut),
            };
            enc.get(START[i]..end.max(START[i]))
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// The dash characters `windash` substitutes for a `-` or `/` that starts a word.
const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// pySigma's `windash`: each `-` or `/` matched by `\B[-/]\b` within a literal part (not
/// after a word character, before one) becomes each of the five dashes, in every combination.
fn windash(s: &SigmaStr) -> Result<Vec<SigmaStr>, String> {
    // Split into a template of fixed parts and slots.
    enum Slot {
        Fixed(Part),
        Dash,
    }
    let mut template = Vec::new();
    for p in &s.0 {
        match p {
            Part::Lit(t) => {
                let chars: Vec<char> = t.chars().collect();
                let mut acc = String::new();
                for (i, &c) in chars.iter().enumerate() {
                    let prev_word = i > 0 && is_word(chars[i - 1]);
                    let next_word = chars.get(i + 1).is_some_and(|&n| is_word(n));
                    if (c == '-' || c == '/') && !prev_word && next_word {
                        if !acc.is_empty() {
                            template.push(Slot::Fixed(Part::Lit(std::mem::take(&mut acc))));
                        }
                        template.push(Slot::Dash);
                    } else {
                        acc.push(c);
                    }
                }
                if !acc.is_empty() {
                    template.push(Slot::Fixed(Part::Lit(acc)));
                }
            }
            p => template.push(Slot::Fixed(p.clone())),
        }
    }
    let slots = template.iter().filter(|s| matches!(s, Slot::Dash)).count();
    let total = DASHES.len().checked_pow(slots as u32).unwrap_or(usize::MAX);
    if total > MAX_ALTERNATIVES {
        return Err(format!(
            "`windash` expands `{}` into {} or more variants (more than {MAX_ALTERNATIVES})",
            s.to_plain(),
            total
        ));
    }
    let mut out = Vec::with_capacity(total);
    for mut n in 0..total {
        let mut parts = Vec::new();
        // The first slot varies slowest, as pySigma's product does.
        let mut digits = vec![0; slots];
        for d in digits.iter_mut().rev() {
            *d = n % DASHES.len();
            n /= DASHES.len();
        }
        let mut k = 0;
        for slot in &template {
            match slot {
                Slot::Fixed(p) => parts.push(p.clone()),
                Slot::Dash => {
                    parts.push(Part::Lit(DASHES[digits[k]].to_string()));
                    k += 1;
                }
            }
        }
        out.push(SigmaStr::from_parts(parts));
    }
    Ok(out)
}

/// `expand`: `%name%` (name = word characters, not after a backslash) becomes a placeholder;
/// `\%` becomes `%`.
fn insert_placeholders(s: SigmaStr) -> SigmaStr {
    let mut out = SigmaStr::default();
    for p in s.0 {
        let Part::Lit(t) = p else {
            out.push(p);
            continue;
        };
        let chars: Vec<char> = t.chars().collect();
        let mut acc = String::new();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == '%' && (i == 0 || chars[i - 1] != '\\') {
                let mut j = i + 1;
                while j < chars.len() && is_word(chars[j]) {
                    j += 1;
                }
                if j > i + 1 && j < chars.len() && chars[j] == '%' {
                    out.push(Part::Lit(std::mem::take(&mut acc).replace("\\%", "%")));
                    out.push(Part::Placeholder(chars[i + 1..j].iter().collect()));
                    i = j + 1;
                    continue;
                }
            }
            acc.push(chars[i]);
            i += 1;
        }
        out.push(Part::Lit(acc.replace("\\%", "%")));
    }
    out
}

fn fill_placeholders(
    s: &SigmaStr,
    values: Option<&HashMap<String, Vec<String>>>,
) -> Result<Vec<SigmaStr>, String> {
    let mut acc = vec![SigmaStr::default()];
    for p in &s.0 {
        match p {
            Part::Placeholder(name) => {
                let Some(list) = values.and_then(|m| m.get(name)) else {
                    return Err(format!(
                        "placeholder `%{name}%` (modifier `expand`) has no values; pass them in the placeholder file"
                    ));
                };
                if list.is_empty() {
                    return Err(format!("placeholder `%{name}%` has an empty value list"));
                }
                let mut next = Vec::new();
                for prefix in &acc {
                    for v in list {
                        let mut s = prefix.clone();
                        for q in SigmaStr::parse(v).0 {
                            s.push(q);
                        }
                        next.push(s);
                    }
                }
                if next.len() > MAX_ALTERNATIVES {
                    return Err(format!(
                        "placeholders expand one value into more than {MAX_ALTERNATIVES} alternatives"
                    ));
                }
                acc = next;
            }
            p => {
                for s in &mut acc {
                    s.push(p.clone());
                }
            }
        }
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Part {
        Part::Lit(s.into())
    }

    #[test]
    fn escapes_as_pysigma() {
        // `\*` is always a literal star, even after a path separator.
        assert_eq!(
            SigmaStr::parse(r"C:\Windows\*.exe").0,
            vec![lit(r"C:\Windows*.exe")]
        );
        assert_eq!(
            SigmaStr::parse(r"C:\Windows\\*.exe").0,
            vec![lit(r"C:\Windows\"), Part::Any, lit(".exe")]
        );
        assert_eq!(SigmaStr::parse(r"a\*b\?c\\d").0, vec![lit(r"a*b?c\d")]);
        assert_eq!(SigmaStr::parse(r"\\\\srv\").0, vec![lit(r"\\srv\")]);
        assert_eq!(
            SigmaStr::parse("a?b*").0,
            vec![lit("a"), Part::One, lit("b"), Part::Any]
        );
        assert_eq!(SigmaStr::parse(r"a\*").to_plain(), r"a\*");
    }

    #[test]
    fn base64_and_offsets_match_pysigma() {
        assert_eq!(base64(b"ping"), "cGluZw==");
        assert_eq!(base64(b""), "");
        // pySigma: [b64encode(i*b" " + v)[start[i]:end[(len(v)+i)%3]] for i in 0..3]
        assert_eq!(
            base64_offsets(b"/c start"),
            vec!["L2Mgc3Rhcn", "9jIHN0YXJ0", "vYyBzdGFyd"]
        );
        assert_eq!(base64_offsets(b"abc"), vec!["YWJj", "FiY", "hYm"]);
    }

    #[test]
    fn windash_variants() {
        let v = windash(&SigmaStr::parse("-enc a-b /x")).unwrap();
        assert_eq!(v.len(), 25);
        assert_eq!(v[0].as_literal().unwrap(), "-enc a-b -x");
        assert_eq!(v[1].as_literal().unwrap(), "-enc a-b /x");
        assert_eq!(v[5].as_literal().unwrap(), "/enc a-b -x");
        assert_eq!(v[24].as_literal().unwrap(), "\u{2015}enc a-b \u{2015}x");
        // Not before a word character: unchanged.
        assert_eq!(windash(&SigmaStr::parse("- x")).unwrap().len(), 1);
    }

    #[test]
    fn wide_then_base64offset() {
        let mods = vec!["wide".to_string(), "base64offset".to_string()];
        let out = apply(&mods, &Raw::Str("ping".into()), None).unwrap();
        let texts: Vec<String> = out
            .into_iter()
            .map(|v| match v {
                Val::Str { s, .. } => s.as_literal().unwrap(),
                _ => panic!(),
            })
            .collect();
        // base64 of p\0i\0n\0g\0 = cABpAG4AZwA=
        assert_eq!(texts[0], "cABpAG4AZw");
        assert_eq!(texts.len(), 3);
        let err = apply(&mods, &Raw::Str("é".into()), None).unwrap_err();
        assert!(err.contains("ASCII"));
    }

    #[test]
    fn utf16_bom_becomes_fffe() {
        let mods = vec!["utf16".to_string(), "base64".to_string()];
        let out = apply(&mods, &Raw::Str("a".into()), None).unwrap();
        assert_eq!(
            out,
            vec![Val::Str {
                s: SigmaStr(vec![lit(&base64(&[0xff, 0xfe, b'a', 0]))]),
                cased: false
            }]
        );
    }

    #[test]
    fn expand_placeholders() {
        let mods = vec!["expand".to_string()];
        let mut m = HashMap::new();
        m.insert("dc".to_string(), vec!["a".to_string(), "b*".to_string()]);
        let out = apply(&mods, &Raw::Str(r"x%dc%\%y%".into()), Some(&m)).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[1],
            Val::Str {
                s: SigmaStr(vec![lit("xb"), Part::Any, lit("%y%")]),
                cased: false
            }
        );
        let err = apply(&mods, &Raw::Str("%other%".into()), Some(&m)).unwrap_err();
        assert!(err.contains("%other%"));
    }

    #[test]
    fn modifier_errors() {
        let e = |m: &[&str], raw: Raw| {
            let mods: Vec<String> = m.iter().map(|s| s.to_string()).collect();
            apply(&mods, &raw, None).unwrap_err()
        };
        assert!(e(&["fieldref"], Raw::Str("a".into())).contains("two fields"));
        assert!(e(&["contains", "re"], Raw::Str("a".into())).contains("first"));
        assert!(e(&["contains"], Raw::Num(Num::Int(1))).contains("a number"));
        assert!(e(&["base64"], Raw::Str("a*".into())).contains("wildcards"));
        assert!(e(&["hour"], Raw::Num(Num::Int(1))).contains("time modifier"));
        assert!(e(&["bogus"], Raw::Str("a".into())).contains("unknown modifier"));
        assert!(e(&["exists"], Raw::Str("yes".into())).contains("exists"));
    }
}
