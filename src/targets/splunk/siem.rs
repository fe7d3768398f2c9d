//! Splunk: the REST API of the management port. Each stanza of the package's
//! `savedsearches.conf` is a saved search in detc's app (`/servicesNS/{owner}/{app}/saved/
//! searches`), created, updated by name, or deleted; each `<rule>_filter` macro of
//! `macros.conf` is created when missing and never overwritten, since it holds local tuning
//! (`/servicesNS/{owner}/{app}/configs/conf-macros`). Each tunable list's lookup definitions
//! (`transforms.conf`, `configs/conf-transforms`) and its lookup file (listed under
//! `data/lookup-table-files`) are created when missing and never changed or deleted: the file
//! holds the team's tuning (docs/PACKAGING.md, Tunable lists). Auth: `Authorization: Bearer
//! <token>`.

use crate::deploy::http::{Client, HttpError, Options, Request, path_segment};
use crate::deploy::{
    Action, Change, DeployError, Desired, MAX_PAGES, Remote, Siem, base_url, is_marked, mark,
    setting,
};
use crate::render::File;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// savedsearches.conf keys whose REST argument has another name.
const REST_NAMES: [(&str, &str); 4] = [
    ("enableSched", "is_scheduled"),
    ("counttype", "alert_type"),
    ("relation", "alert_comparator"),
    ("quantity", "alert_threshold"),
];

/// A .conf stanza: its name and its keys in order.
pub(crate) type Stanza = (String, Vec<(String, String)>);
/// A REST entry: its name and its `content`.
type Entry = (String, Map<String, Value>);

const SEARCH: &str = "savedsearch/";
const MACRO: &str = "macro/";
/// Plan keys of a lookup definition and a lookup file; definitions sort first.
const LOOKUP_DEFINITION: &str = "lookupdef/";
const LOOKUP_FILE: &str = "lookupfile/";
const PAGE: usize = 100;

pub(crate) struct Splunk {
    client: Client,
    /// `{url}/servicesNS/{owner}/{app}`
    namespace: String,
    app: String,
    token: String,
}

impl Splunk {
    pub(crate) fn connect(
        config: &BTreeMap<String, String>,
        options: Options,
    ) -> Result<Splunk, DeployError> {
        let url = base_url("SPLUNK_URL", &setting(config, "SPLUNK_URL", None)?)?;
        let token = crate::deploy::env("SPLUNK_TOKEN")?;
        let app = setting(config, "SPLUNK_APP", Some("detc"))?;
        let owner = setting(config, "SPLUNK_OWNER", Some("nobody"))?;
        Ok(Splunk {
            client: Client::new(options, vec![token.clone()])?,
            namespace: format!(
                "{url}/servicesNS/{}/{}",
                path_segment(&owner),
                path_segment(&app)
            ),
            app,
            token,
        })
    }

    fn request(&self, method: &'static str, path: &str) -> Request {
        Request::new(method, format!("{}/{path}", self.namespace))
            .header("Authorization", format!("Bearer {}", self.token))
    }

    /// Every entry of a collection in detc's app, page by page: the next offset counts the
    /// entries read (other apps' shared objects too), and a server whose paging does not
    /// advance is an error, not an endless listing.
    fn list(&mut self, collection: &str) -> Result<Vec<Entry>, DeployError> {
        let mut out = Vec::new();
        let mut read = 0;
        for _ in 0..MAX_PAGES {
            let path = format!("{collection}?output_mode=json&count={PAGE}&offset={read}");
            let page = self.send(&self.request("GET", &path))?;
            if let Some(answered) = page["paging"]["offset"]
                .as_u64()
                .filter(|&o| o != read as u64)
            {
                return Err(DeployError::Answer(format!(
                    "{collection}: asked for the entries from offset {read}, the server answered offset {answered}; its paging does not advance"
                )));
            }
            let entries = page["entry"].as_array().cloned().unwrap_or_default();
            let n = entries.len();
            read += n;
            for e in entries {
                // The namespace also shows objects other apps share; keep this app's.
                if e["acl"]["app"].as_str().is_some_and(|a| a != self.app) {
                    continue;
                }
                let name = e["name"].as_str().unwrap_or_default().to_string();
                let content = e["content"].as_object().cloned().unwrap_or_default();
                out.push((name, content));
            }
            let total = page["paging"]["total"].as_u64().unwrap_or(0) as usize;
            if n == 0 || read >= total {
                return Ok(out);
            }
        }
        Err(DeployError::Answer(format!(
            "{collection}: still listing after {MAX_PAGES} pages; the server's paging does not end"
        )))
    }

    /// A lookup file is written by a search (`outputlookup`, run once with `exec_mode=oneshot`:
    /// Splunk REST API Reference, "search/jobs", https://docs.splunk.com/Documentation/Splunk/
    /// latest/RESTREF/RESTsearch#search.2Fjobs), since the REST API takes no file contents
    /// (`data/lookup-table-files` moves a file already in the server's staging folder). Only a
    /// create: a file that exists holds the team's edits and is never written.
    fn create_lookup_file(&mut self, file: &str, change: &Change) -> Result<(), DeployError> {
        if change.action != Action::Create {
            return Ok(());
        }
        let search = change.initial["search"].as_str().unwrap_or_default();
        let form = [
            ("search", search),
            ("exec_mode", "oneshot"),
            ("output_mode", "json"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let answer = self.send(&self.request("POST", "search/jobs").form(&form))?;
        // A search that fails to write answers 200 with its error among the messages.
        let errors: Vec<&str> = answer["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| matches!(m["type"].as_str(), Some("ERROR" | "FATAL")))
            .filter_map(|m| m["text"].as_str())
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(DeployError::Answer(format!(
                "lookup file {file}: the search that writes it failed: {}",
                errors.join("; ")
            )))
        }
    }

    fn send(&mut self, req: &Request) -> Result<Value, DeployError> {
        let r = self.client.send(req)?;
        if r.body.trim().is_empty() {
            Ok(Value::Null)
        } else {
            r.json()
        }
    }
}

impl Siem for Splunk {
    fn desired(&self, package: &[File]) -> Result<Vec<Desired>, DeployError> {
        let conf = |name: &str| -> Result<Vec<Stanza>, DeployError> {
            let path = format!("detc/default/{name}");
            let file = package
                .iter()
                .find(|f| f.path.to_str() == Some(path.as_str()))
                .ok_or_else(|| DeployError::Package(format!("the Splunk package has no {path}")))?;
            parse_conf(&String::from_utf8_lossy(&file.contents))
                .map_err(|e| DeployError::Package(format!("{path}: {e}")))
        };
        let mut out = Vec::new();
        for (name, keys) in conf("savedsearches.conf")? {
            let mut settings = Map::new();
            for (k, v) in keys {
                let k = REST_NAMES
                    .iter()
                    .find(|(conf, _)| *conf == k)
                    .map_or(k.clone(), |(_, rest)| rest.to_string());
                let v = if k == "description" {
                    mark(&v, &name)
                } else {
                    v
                };
                settings.insert(k, Value::String(v));
            }
            out.push(Desired {
                key: format!("{SEARCH}{name}"),
                rule: name,
                settings: Value::Object(settings),
                initial: Value::Null,
            });
        }
        for (prefix, file) in [
            (MACRO, "macros.conf"),
            (LOOKUP_DEFINITION, "transforms.conf"),
        ] {
            for (name, keys) in conf(file)? {
                let initial: Map<String, Value> = keys
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect();
                out.push(Desired {
                    key: format!("{prefix}{name}"),
                    rule: name.trim_end_matches("_filter").to_string(),
                    settings: Value::Object(Map::new()),
                    initial: Value::Object(initial),
                });
            }
        }
        for f in package.iter().filter(|f| f.path.starts_with("lookups")) {
            let name = f
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let values = csv_values(&String::from_utf8_lossy(&f.contents))
                .map_err(|e| DeployError::Package(format!("lookups/{name}: {e}")))?;
            out.push(Desired {
                key: format!("{LOOKUP_FILE}{name}"),
                rule: name.to_string(),
                settings: Value::Object(Map::new()),
                initial: serde_json::json!({ "search": create_lookup(name, &values) }),
            });
        }
        Ok(out)
    }

    fn deployed(&mut self, _: &[Desired]) -> Result<Vec<Remote>, DeployError> {
        let mut out = Vec::new();
        for (name, content) in self.list("saved/searches")? {
            let settings: Map<String, Value> = content
                .into_iter()
                .map(|(k, v)| (k, Value::String(as_conf(&v))))
                .collect();
            let managed = settings
                .get("description")
                .and_then(Value::as_str)
                .is_some_and(|d| is_marked(d, &name));
            out.push(Remote {
                key: format!("{SEARCH}{name}"),
                settings: Value::Object(settings),
                managed,
            });
        }
        for (prefix, collection) in [
            (MACRO, "configs/conf-macros"),
            (LOOKUP_DEFINITION, "configs/conf-transforms"),
            (LOOKUP_FILE, "data/lookup-table-files"),
        ] {
            for (name, _) in self.list(collection)? {
                out.push(Remote {
                    key: format!("{prefix}{name}"),
                    settings: Value::Object(Map::new()),
                    // Macros and lookups hold users' tuning: never deleted.
                    managed: false,
                });
            }
        }
        Ok(out)
    }

    fn apply(&mut self, change: &Change) -> Result<(), DeployError> {
        if let Some(file) = change.key.strip_prefix(LOOKUP_FILE) {
            return self.create_lookup_file(file, change);
        }
        let (collection, name) = [
            (SEARCH, "saved/searches"),
            (LOOKUP_DEFINITION, "configs/conf-transforms"),
            (MACRO, "configs/conf-macros"),
        ]
        .into_iter()
        .find_map(|(prefix, c)| Some((c, change.key.strip_prefix(prefix)?)))
        .unwrap_or(("configs/conf-macros", &change.key));
        let item = format!("{collection}/{}", path_segment(name));
        let params = |v: &Value, extra: &Value| -> Vec<(String, String)> {
            [v, extra]
                .iter()
                .filter_map(|v| v.as_object())
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        };
        let update = |s: &mut Splunk| {
            let req = s
                .request("POST", &format!("{item}?output_mode=json"))
                .form(&params(&change.settings, &Value::Null));
            s.send(&req).map(drop)
        };
        match change.action {
            Action::Create => {
                let mut form = vec![("name".to_string(), name.to_string())];
                form.extend(params(&change.settings, &change.initial));
                let req = self
                    .request("POST", &format!("{collection}?output_mode=json"))
                    .form(&form);
                match self.client.send(&req) {
                    Ok(_) => Ok(()),
                    // It exists after all (an earlier attempt went through): a macro is
                    // left as it is, a saved search is updated.
                    Err(HttpError::Status { status: 409, .. })
                        if collection != "saved/searches" =>
                    {
                        Ok(())
                    }
                    Err(HttpError::Status { status: 409, .. }) => update(self),
                    Err(e) => Err(e.into()),
                }
            }
            Action::Update => update(self),
            Action::Delete => match self
                .client
                .send(&self.request("DELETE", &format!("{item}?output_mode=json")))
            {
                Ok(_) | Err(HttpError::Status { status: 404, .. }) => Ok(()),
                Err(e) => Err(e.into()),
            },
            Action::Unchanged => Ok(()),
        }
    }
}

/// The search that writes a lookup file with its default values: one row each, in the
/// package file's columns (`value,comment`). Each value is an eval literal, so no value
/// changes the search's shape; `append=true` keeps any row a team wrote meanwhile (Splunk,
/// "outputlookup", https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Outputlookup).
fn create_lookup(file: &str, values: &[String]) -> String {
    let literals: Vec<String> = values
        .iter()
        .map(|v| super::query::eval_literal(&crate::ir::Scalar::Str(v.clone())))
        .collect();
    format!(
        "| makeresults | eval value=mvappend({}) | mvexpand value | eval comment=\"detc default\" \
         | table value, comment | outputlookup append=true {file}",
        literals.join(", ")
    )
}

/// The values of a lookup file as `detc package` writes it (`package::csv`): a header, then
/// one row a value, the value quoted with `"` doubled.
fn csv_values(text: &str) -> Result<Vec<String>, String> {
    text.lines()
        .skip(1)
        .enumerate()
        .map(|(n, line)| {
            line.strip_prefix('"')
                .and_then(|l| l.rsplit_once("\","))
                .filter(|(v, _)| !v.replace("\"\"", "").contains('"'))
                .map(|(v, _)| v.replace("\"\"", "\""))
                .ok_or_else(|| format!("line {}: not a quoted value and a comment", n + 2))
        })
        .collect()
}

/// A setting as savedsearches.conf writes it: Splunk's JSON gives booleans and numbers.
fn as_conf(v: &Value) -> String {
    match v {
        Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Stanzas of a .conf file, with their keys in order. A value continues on the next line
/// when a line ends with `\` (the newline is kept); `#` starts a comment line.
fn parse_conf(text: &str) -> Result<Vec<Stanza>, String> {
    let mut stanzas: Vec<Stanza> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            stanzas.push((name.to_string(), Vec::new()));
            continue;
        }
        let (key, first) = trimmed
            .split_once('=')
            .ok_or_else(|| format!("line {}: expected `key = value`", n + 1))?;
        let mut value = first.trim_start().to_string();
        while value.ends_with('\\') {
            value.pop();
            value.push('\n');
            match lines.next() {
                Some((_, next)) => value.push_str(next),
                None => break,
            }
        }
        let stanza = stanzas
            .last_mut()
            .ok_or_else(|| format!("line {}: a key outside any stanza", n + 1))?;
        stanza
            .1
            .push((key.trim().to_string(), value.trim_end().to_string()));
    }
    Ok(stanzas)
}

#[cfg(test)]
mod tests {
    use super::parse_conf;

    #[test]
    fn conf_continuation_lines_keep_their_newlines() {
        let s = parse_conf("# c\n[a]\nsearch = x\\\n| y\nk = v\n\n[b]\nd = 1\n").expect("parses");
        assert_eq!(s[0].0, "a");
        assert_eq!(s[0].1[0], ("search".into(), "x\n| y".into()));
        assert_eq!(s[0].1[1], ("k".into(), "v".into()));
        assert_eq!(s[1].1, [("d".into(), "1".into())]);
        assert!(parse_conf("k = v\n").is_err());
    }
}
