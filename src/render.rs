//! The `render` stage: compiled rules → the files each SIEM imports, through minijinja
//! templates kept as data under `targets/<target>/`; `--templates DIR` overrides any of
//! them with `DIR/<target>/<template>`.
//!
//! Each target adds its part to a rule's template context (and reports what it cannot
//! deploy: Sentinel's limits, a schedule Splunk's cron cannot say, ...). This module holds
//! the context, renders a target's [`Package`] and checks that JSON output is JSON. Output is
//! deterministic: rules in name order, JSON keys sorted.

use crate::ir::Duration;
use minijinja::{Environment, UndefinedBehavior, Value};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One file of a package, relative to the target's package folder (`dist/<target>/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: PathBuf,
    pub contents: Vec<u8>,
}

/// How a template's output is written.
#[derive(Clone, Copy)]
pub(crate) enum Form {
    /// As rendered.
    Text,
    /// Parsed as JSON and written pretty-printed with sorted keys.
    Json,
    /// Parsed as JSON and written as one line (one NDJSON record per rule).
    JsonLine,
}

/// A template and where its output goes. `{rule}` in `path` makes it per rule (the context
/// has `rule`); otherwise it is rendered once with every rule (`rules`).
pub(crate) struct Output {
    pub(crate) template: &'static str,
    pub(crate) path: &'static str,
    pub(crate) form: Form,
}

/// What a target's package is made of: its templates, built into the binary and named as
/// under `targets/<target>/`, and where each one's output goes.
pub struct Package {
    pub(crate) target: &'static str,
    pub(crate) templates: &'static [(&'static str, &'static str)],
    pub(crate) outputs: &'static [Output],
}

/// A rule ready for one target's templates.
#[derive(Debug, Clone, Serialize)]
pub struct RuleContext {
    pub(crate) name: String,
    pub(crate) title: String,
    pub(crate) id: String,
    pub(crate) description: String,
    /// The rule's own word (`high`); each target adds its own scale.
    pub(crate) severity: &'static str,
    pub(crate) status: String,
    pub(crate) enabled: bool,
    pub(crate) author: Option<String>,
    /// The rules' licence (detc.toml), if the project names one.
    pub(crate) license: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) references: Vec<String>,
    pub(crate) false_positives: Vec<String>,
    pub(crate) date: Option<String>,
    pub(crate) modified: Option<String>,
    /// `single`, `aggregate`, `sequence` or `first_seen`.
    pub(crate) kind: &'static str,
    pub(crate) schedule: Period,
    pub(crate) lookback: Period,
    /// How long before each run its range ends (late events).
    pub(crate) delay: Period,
    pub(crate) attack: Vec<String>,
    /// The query the target runs, and its language.
    pub(crate) query: String,
    pub(crate) language: &'static str,
    /// Every compiled query by language, for templates that want another.
    pub(crate) queries: std::collections::BTreeMap<&'static str, String>,
    pub(crate) note: Option<String>,
    /// What the alert shows: the logical name and the name in the target's results.
    pub(crate) fields: Vec<AlertField>,
    pub(crate) suppress: Option<Suppress>,
    /// What only this target needs (severity scale, entities, index patterns, ...).
    pub(crate) target: serde_json::Value,
    /// The rule's deployed version on this target: it changes when the content does
    /// (project::Versions); 1 without a lock.
    pub(crate) version: u64,
}

/// A length of time in the forms targets write.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Period {
    pub(crate) seconds: u64,
    /// `5m`, `1h`, `14d`.
    pub(crate) text: String,
    /// ISO-8601 (`PT5M`, `P14D`).
    pub(crate) iso: String,
}

impl Period {
    pub(crate) fn of(seconds: u64) -> Period {
        Period {
            seconds,
            text: Duration::of(seconds).to_string(),
            iso: Duration::of(seconds).iso8601(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct AlertField {
    pub(crate) name: String,
    pub(crate) column: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Suppress {
    pub(crate) duration: Period,
    pub(crate) by: Vec<AlertField>,
}

/// A template that failed to load, render, or give what its output must be.
#[derive(Debug, thiserror::Error)]
#[error("template {template}: {message}")]
pub struct TemplateError {
    pub(crate) template: String,
    pub(crate) message: String,
}

/// Render every file of a target's package for `rules`.
pub(crate) fn render(
    package: &Package,
    rules: &[RuleContext],
    version: u64,
    overrides: Option<&Path>,
) -> Result<Vec<File>, TemplateError> {
    let env = environment(package, overrides);
    let mut files: Vec<File> = Vec::new();
    for out in package.outputs {
        let name = format!("{}/{}", package.target, out.template);
        let template = env
            .get_template(&name)
            .map_err(|e| template_error(&name, &e))?;
        let render = |ctx: Value| -> Result<String, TemplateError> {
            let text = template
                .render(ctx)
                .map_err(|e| template_error(&name, &e))?;
            shape(&name, out.form, &text)
        };
        if out.path.contains("{rule}") {
            let mut lines = String::new();
            for r in rules {
                let text = render(
                    minijinja::context! { rule => Value::from(minijinja::value::Serde(r)) },
                )?;
                match out.form {
                    Form::JsonLine => lines.push_str(&text),
                    _ => files.push(File {
                        path: PathBuf::from(out.path.replace("{rule}", &r.name)),
                        contents: text.into_bytes(),
                    }),
                }
            }
            if let Form::JsonLine = out.form {
                files.push(File {
                    path: PathBuf::from(out.path.replace("{rule}", "rules")),
                    contents: lines.into_bytes(),
                });
            }
        } else {
            let text = render(minijinja::context! {
                rules => Value::from(minijinja::value::Serde(rules)),
                version => version,
            })?;
            files.push(File {
                path: PathBuf::from(out.path),
                contents: text.into_bytes(),
            });
        }
    }
    Ok(files)
}

fn template_error(name: &str, e: &minijinja::Error) -> TemplateError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    TemplateError {
        template: name.to_string(),
        message,
    }
}

/// The written form of a rendered template: JSON is parsed (so a template cannot emit
/// broken JSON) and printed canonically.
fn shape(name: &str, form: Form, text: &str) -> Result<String, TemplateError> {
    let json = || {
        serde_json::from_str::<serde_json::Value>(text).map_err(|e| {
            let line = text
                .lines()
                .nth(e.line().saturating_sub(1))
                .unwrap_or_default();
            TemplateError {
                template: name.to_string(),
                message: format!("the output is not JSON: {e}: `{}`", line.trim()),
            }
        })
    };
    Ok(match form {
        Form::Text => {
            let mut t = text.trim_end().to_string();
            t.push('\n');
            t
        }
        Form::Json => format!("{:#}\n", json()?),
        Form::JsonLine => format!("{}\n", json()?),
    })
}

fn environment(package: &Package, overrides: Option<&Path>) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Every template escapes explicitly (`tojson`, `conf`, `yaml`, `toml`, `arm`): no format
    // is guessed from a file name.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    let dir = overrides.map(Path::to_path_buf);
    let (target, templates) = (package.target, package.templates);
    env.set_loader(move |name| {
        if let Some(dir) = &dir {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(text) => return Ok(Some(text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        format!("cannot read {}: {e}", path.display()),
                    ));
                }
            }
        }
        let own = name.strip_prefix(target).and_then(|n| n.strip_prefix('/'));
        Ok(templates
            .iter()
            .find(|(n, _)| Some(*n) == own)
            .map(|(_, t)| t.to_string()))
    });
    env.add_filter("tojson", to_json);
    env.add_filter("arm", arm_string);
    env.add_filter("conf", conf_value);
    env.add_filter("yaml", yaml_scalar);
    env.add_filter("toml", toml_string);
    env
}

/// Characters no format here may hold raw: C0 and C1 controls and DEL (YAML and TOML refuse
/// them), U+0085, U+2028 and U+2029 (line breaks to YAML 1.1 readers such as PyYAML), U+FEFF
/// (a byte-order mark) and the noncharacters U+FFFE and U+FFFF.
fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        )
}

/// JSON that is also a valid YAML flow value and TOML value: serde_json's text, spaced as
/// minijinja's `tojson` spaces it (`["a", "b"]`, `{"k": 1}`), with every [`unprintable`]
/// character escaped (`\u007f`). Such characters occur only inside strings, so escaping them
/// cannot change the structure. (It replaces minijinja's `tojson`, which leaves them raw and
/// adds HTML escapes, `\u0027` for `'`: valid, but noise in every package.)
fn to_json(value: minijinja::Value) -> Result<String, minijinja::Error> {
    let mut bytes = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut bytes, Spaced);
    serde::Serialize::serialize(&value, &mut ser).map_err(|e| {
        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
    })?;
    Ok(escape_unprintable(&String::from_utf8_lossy(&bytes)))
}

/// One line, a space after each `,` and `:`.
struct Spaced;

impl serde_json::ser::Formatter for Spaced {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        w.write_all(if first { b"" } else { b", " })
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        w.write_all(if first { b"" } else { b", " })
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

/// One string as [`to_json`] writes it (JSON strings are YAML and TOML strings).
fn json_string(s: &str) -> String {
    escape_unprintable(&serde_json::to_string(s).unwrap_or_default())
}

fn escape_unprintable(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if unprintable(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// An ARM template string that stays a string: one that starts with `[` would be read as
/// an ARM expression unless the bracket is doubled.
fn arm_string(s: String) -> String {
    if s.starts_with('[') {
        format!("[{s}")
    } else {
        s
    }
}

/// A Splunk .conf value: a newline continues the value on the next line (`\` at the end,
/// which the reader turns back into the newline). A value that itself ends in `\` would
/// continue into the next key, so it gets one more continuation, onto an empty line: the
/// reader keeps its `\` and trims the newline that empty line adds. (The reader trims every
/// value: leading and trailing whitespace does not survive any .conf.)
fn conf_value(s: String) -> String {
    let continued = s.replace('\n', "\\\n");
    // (A `\` that only whitespace follows continues a line too.)
    if s.trim_end().ends_with('\\') {
        continued + "\\\n"
    } else {
        continued
    }
}

/// A YAML scalar: a literal block (`|-`, indented by `indent`) for multi-line text that it
/// keeps exactly, a JSON string otherwise (JSON strings are YAML).
fn yaml_scalar(s: String, indent: Option<usize>) -> String {
    let pad = " ".repeat(indent.unwrap_or(2));
    let block_safe = s.contains('\n')
        && !s.starts_with([' ', '\t'])
        && !s.ends_with(['\n', ' ', '\t'])
        && s.chars().all(|c| c == '\n' || c == '\t' || !unprintable(c))
        && !s.lines().any(|l| l.ends_with([' ', '\t']));
    if block_safe {
        let body: Vec<String> = s.lines().map(|l| format!("{pad}{l}")).collect();
        format!("|-\n{}", body.join("\n"))
    } else {
        json_string(&s)
    }
}

/// A TOML string: a multi-line literal (`'''`) as detection-rules writes queries when it
/// holds the text exactly, a basic string (JSON escapes are TOML escapes) otherwise.
fn toml_string(s: String) -> String {
    let literal_safe = s.contains('\n')
        && !s.contains("'''")
        && !s.ends_with('\'')
        && s.chars().all(|c| c == '\n' || c == '\t' || !unprintable(c));
    if literal_safe {
        format!("'''\n{s}\n'''")
    } else {
        json_string(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_yaml_strings_fall_back_to_escapes() {
        assert_eq!(toml_string("a\nb".into()), "'''\na\nb\n'''");
        assert_eq!(toml_string("it's '''".into()), r#""it's '''""#);
        assert_eq!(toml_string("one line".into()), r#""one line""#);
        assert_eq!(yaml_scalar("a\n| b".into(), Some(2)), "|-\n  a\n  | b");
        assert_eq!(yaml_scalar("a \nb".into(), None), r#""a \nb""#);
        assert_eq!(yaml_scalar("x: y".into(), None), r#""x: y""#);
    }

    /// Hostile text as a YAML value, read back by a YAML parser: the same text.
    #[test]
    fn yaml_scalars_round_trip_through_a_reader() {
        for value in [
            "plain",
            "a\nb",
            "trailing space \nnext",
            " leading",
            "ends\n",
            "x: y # z",
            "- [a, {b}] & *c !d %e @f `g",
            "'single' \"double\" \\ back",
            "tab\there\r\ncrlf",
            "\u{feff}bom and \u{7} bell",
            "|\n>-\n---\n...",
            "",
        ] {
            for indent in [None, Some(2), Some(6)] {
                let doc = format!("k: {}\n", yaml_scalar(value.into(), indent));
                let read: std::collections::BTreeMap<String, String> =
                    serde_saphyr::from_str(&doc).unwrap_or_else(|e| panic!("{doc:?}: {e}"));
                assert_eq!(read["k"], value, "{doc:?}");
            }
        }
    }

    #[test]
    fn conf_values_continue_lines() {
        assert_eq!(conf_value("a\n| b".into()), "a\\\n| b");
    }

    /// A `key = value` line as Splunk AppInspect's configuration parser reads it
    /// (splunk_appinspect/configuration_parser.py, join_lines and configuration_lexer): a
    /// line ending in `\` (whitespace after it aside) continues on the next, its last
    /// character becoming a newline; the value is what follows the first `=`, trimmed.
    /// Returns the value and the lines that follow.
    fn read_conf(text: &str) -> (String, Vec<&str>) {
        let mut lines = text.split('\n');
        let mut item = String::new();
        for line in lines.by_ref() {
            if line.trim_end().ends_with('\\') {
                item.push_str(&line[..line.len() - 1]);
                item.push('\n');
            } else {
                item.push_str(line);
                break;
            }
        }
        let (_, value) = item.split_once('=').expect("key = value");
        (value.trim().to_string(), lines.collect())
    }

    #[test]
    fn conf_values_round_trip_through_the_reader() {
        for value in [
            "plain",
            "ends in a backslash \\",
            "\\",
            "two \\\\",
            "a\\\nb",
            "line one\nline two \\",
            "C:\\Temp\\\n| search x=\"y\\\\\"",
            "= and [brackets] and # not a comment",
            "a backslash, then spaces \\  ",
        ] {
            let written = format!("description = {}\nsearch = next", conf_value(value.into()));
            let (read, rest) = read_conf(&written);
            assert_eq!(read, value.trim(), "{written:?}");
            assert!(
                rest.contains(&"search = next"),
                "the next key was swallowed: {written:?}"
            );
        }
    }
}
