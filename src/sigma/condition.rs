//! The Sigma condition grammar, by recursive descent:
//!
//! ```text
//! or      := and ("or" and)*
//! and     := not ("and" not)*
//! not     := "not" not | primary
//! primary := "(" or ")" | QUANT "of" (PATTERN | "them") | IDENTIFIER
//! QUANT   := "1" | "any" | "all"
//! ```
//!
//! `not` binds tightest, then `and`, then `or` (as in pySigma). Keywords are matched
//! case-insensitively; identifiers and patterns are case-sensitive, and a pattern's `*`
//! stands for any run of characters. `them` means every search identifier except those
//! starting with `_`. A `|` (Sigma 1.x aggregation) or `near` is refused.

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Ident(String),
    /// `1 of X` (`all == false`) or `all of X`; `pattern == None` is `them`.
    Of {
        all: bool,
        pattern: Option<String>,
    },
}

/// Nesting deeper than this is refused, so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 64;
/// Longer conditions are refused (the converted expression is built recursively).
const MAX_TOKENS: usize = 2000;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Word(String),
    Pipe,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Tok::LParen);
            }
            ')' => {
                chars.next();
                out.push(Tok::RParen);
            }
            '|' => {
                chars.next();
                out.push(Tok::Pipe);
            }
            _ => {
                let mut end = s.len();
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_whitespace() || d == '(' || d == ')' || d == '|' {
                        end = j;
                        break;
                    }
                    chars.next();
                }
                out.push(Tok::Word(s[i..end].to_string()));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

fn is_kw(t: Option<&Tok>, kw: &str) -> bool {
    matches!(t, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn or(&mut self) -> Result<Cond, String> {
        let mut left = self.and()?;
        while is_kw(self.peek(), "or") {
            self.pos += 1;
            let right = self.and()?;
            left = Cond::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut left = self.not()?;
        while is_kw(self.peek(), "and") {
            self.pos += 1;
            let right = self.not()?;
            left = Cond::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Cond, String> {
        if is_kw(self.peek(), "not") {
            self.pos += 1;
            self.deeper()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Cond::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "the condition nests deeper than {MAX_DEPTH} levels"
            ));
        }
        Ok(())
    }

    fn primary(&mut self) -> Result<Cond, String> {
        match self.peek().cloned() {
            Some(Tok::LParen) => {
                self.pos += 1;
                self.deeper()?;
                let inner = self.or()?;
                self.depth -= 1;
                if self.peek() != Some(&Tok::RParen) {
                    return Err("a `(` is not closed".into());
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Tok::RParen) => Err("unexpected `)`".into()),
            Some(Tok::Pipe) => Err(
                "`|` aggregations in the condition are Sigma 1.x; detc converts Sigma correlation rules instead"
                    .into(),
            ),
            None => Err("the condition ends too early".into()),
            Some(Tok::Word(w)) => {
                let lower = w.to_ascii_lowercase();
                if is_kw(self.toks.get(self.pos + 1), "of") {
                    let all = match lower.as_str() {
                        "1" | "any" => false,
                        "all" => true,
                        _ => return Err(format!("`{w} of` is not a Sigma quantifier (use `1 of` or `all of`)")),
                    };
                    self.pos += 2;
                    return match self.peek().cloned() {
                        Some(Tok::Word(p)) => {
                            self.pos += 1;
                            let pattern = (!p.eq_ignore_ascii_case("them")).then_some(p);
                            Ok(Cond::Of { all, pattern })
                        }
                        _ => Err(format!("`{w} of` needs an identifier pattern or `them`")),
                    };
                }
                match lower.as_str() {
                    "and" | "or" | "of" | "them" => Err(format!("unexpected `{w}`")),
                    "near" => Err("`near` (Sigma 1.x) is not supported".into()),
                    _ => {
                        self.pos += 1;
                        Ok(Cond::Ident(w))
                    }
                }
            }
        }
    }
}

/// Why a condition string is not one detc reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ConditionError(pub(crate) String);

/// Parse one condition string.
pub(crate) fn parse(s: &str) -> Result<Cond, ConditionError> {
    parse_tokens(s).map_err(ConditionError)
}

fn parse_tokens(s: &str) -> Result<Cond, String> {
    let toks = lex(s)?;
    if toks.len() > MAX_TOKENS {
        return Err(format!("the condition has more than {MAX_TOKENS} tokens"));
    }
    if toks.contains(&Tok::Pipe) {
        return Err(
            "`|` aggregations in the condition are Sigma 1.x; detc converts Sigma correlation rules instead"
                .into(),
        );
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let c = p.or()?;
    match p.peek() {
        None => Ok(c),
        Some(Tok::Word(w)) => Err(format!("unexpected `{w}` in the condition")),
        Some(Tok::RParen) => Err("unexpected `)` in the condition".into()),
        Some(_) => Err("unexpected token in the condition".into()),
    }
}

/// Whether `name` matches an identifier pattern (`*` = any run).
pub(crate) fn pattern_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Box<Cond> {
        Box::new(Cond::Ident(s.into()))
    }

    #[test]
    fn precedence_not_and_or() {
        let c = parse("a or not b and c").unwrap();
        assert_eq!(
            c,
            Cond::Or(
                id("a"),
                Box::new(Cond::And(Box::new(Cond::Not(id("b"))), id("c")))
            )
        );
        let c = parse("(a or b) AND NOT c").unwrap();
        assert_eq!(
            c,
            Cond::And(
                Box::new(Cond::Or(id("a"), id("b"))),
                Box::new(Cond::Not(id("c")))
            )
        );
    }

    #[test]
    fn quantifiers() {
        assert_eq!(
            parse("1 of sel_*").unwrap(),
            Cond::Of {
                all: false,
                pattern: Some("sel_*".into())
            }
        );
        assert_eq!(
            parse("all of them").unwrap(),
            Cond::Of {
                all: true,
                pattern: None
            }
        );
        assert_eq!(
            parse("any of them").unwrap(),
            Cond::Of {
                all: false,
                pattern: None
            }
        );
        assert!(parse("2 of them").is_err());
    }

    #[test]
    fn errors() {
        assert!(
            parse("sel | count() > 5")
                .unwrap_err()
                .0
                .contains("Sigma 1.x")
        );
        assert!(parse("(a or b").is_err());
        assert!(parse("a b").is_err());
        assert!(parse("a and").is_err());
        assert!(parse("").is_err());
        assert!(parse(&"(".repeat(200)).unwrap_err().0.contains("deeper"));
        assert!(parse(&"not ".repeat(200)).unwrap_err().0.contains("deeper"));
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches("sel*", "selection"));
        assert!(pattern_matches("*_img", "sel_img"));
        assert!(pattern_matches("s*l*n", "selection"));
        assert!(!pattern_matches("sel*x", "selection"));
        assert!(pattern_matches("a", "a"));
        assert!(!pattern_matches("a*a", "a"));
    }
}
