//! Elastic: Kibana's detection engine rules API, by `rule_id` (`POST`/`PUT`/`DELETE
//! /api/detection_engine/rules`, `GET …/_find` to list), in a Kibana space. Auth:
//! `Authorization: ApiKey <key>`; every request carries `kbn-xsrf`. The rule bodies are
//! the lines of the package's `rules.ndjson`. Each tunable list's value list (with its
//! defaults) and each exception list that reads it (with its item), from `lists.json`, are
//! created when missing, before the rules, and never changed or deleted: they hold the team's
//! tuning (docs/PACKAGING.md, Tunable lists).

use crate::deploy::http::{Client, HttpError, Options, Request, form_encode, path_segment};
use crate::deploy::{
    Action, Change, DeployError, Desired, Listing, Remote, Siem, base_url, env, is_marked, mark,
    setting,
};
use crate::render::File;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const PAGE: usize = 100;
/// Plan keys of the lists: `list/{value list}`, then `list/{value list}/{exception list}`,
/// so each value list is created before the exception lists that read it.
const LIST: &str = "list/";
/// Kibana keeps a rule's `version` itself (it counts updates), so detc does not compare it.
const KIBANA_OWNED: [&str; 1] = ["version"];

pub(crate) struct Kibana {
    client: Client,
    /// `{url}[/s/{space}]/api/detection_engine/rules`
    rules: String,
    /// `{url}[/s/{space}]/api`
    api: String,
    key: String,
    /// The saved-object id of each exception list by `list_id`, which a rule's
    /// `exceptions_list` entries need (package.rs, `exceptions`).
    exception_ids: BTreeMap<String, String>,
}

impl Kibana {
    pub(crate) fn connect(
        config: &BTreeMap<String, String>,
        options: Options,
    ) -> Result<Kibana, DeployError> {
        let url = base_url("KIBANA_URL", &setting(config, "KIBANA_URL", None)?)?;
        let key = env("KIBANA_API_KEY")?;
        let space = setting(config, "KIBANA_SPACE", Some("default"))?;
        let prefix = if space == "default" {
            String::new()
        } else {
            format!("/s/{}", path_segment(&space))
        };
        Ok(Kibana {
            client: Client::new(options, vec![key.clone()])?,
            rules: format!("{url}{prefix}/api/detection_engine/rules"),
            api: format!("{url}{prefix}/api"),
            key,
            exception_ids: BTreeMap::new(),
        })
    }

    fn request(&self, method: &'static str, url: String) -> Request {
        Request::new(method, url)
            .header("Authorization", format!("ApiKey {}", self.key))
            .header("kbn-xsrf", "true")
    }

    /// Whether a value list (`GET /api/lists?id=`) or an exception list (`GET
    /// /api/exception_lists?list_id=&namespace_type=single`) exists: Kibana's Lists and
    /// Exceptions APIs (https://www.elastic.co/docs/api/doc/kibana/operation/operation-readlist,
    /// .../operation-readexceptionlist) answer 404 when it does not (elastic/kibana@027ff21
    /// x-pack/solutions/security/plugins/lists/server/routes/list/read_list_route.ts).
    fn read(&mut self, query: String) -> Result<Option<Value>, DeployError> {
        let url = format!("{}/{query}", self.api);
        match self.client.send(&self.request("GET", url)) {
            Ok(r) => Ok(Some(r.json()?)),
            Err(HttpError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// `POST` a body; a 409 (it exists: an earlier attempt went through) is `None`.
    fn create(&mut self, path: &str, body: &Value) -> Result<Option<Value>, DeployError> {
        let req = self
            .request("POST", format!("{}/{path}", self.api))
            .json(body);
        match self.client.send(&req) {
            Ok(r) if r.body.trim().is_empty() => Ok(Some(Value::Null)),
            Ok(r) => Ok(Some(r.json()?)),
            Err(HttpError::Status { status: 409, .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Create a value list with its defaults (`POST /api/lists`, then `POST /api/lists/items`
    /// per value: https://www.elastic.co/docs/api/doc/kibana/operation/operation-createlist,
    /// .../operation-createlistitem), after making sure the space has the lists' data streams
    /// (`POST /api/lists/index`, which answers 200 when they exist: elastic/kibana@2cb5deb
    /// .../lists/server/routes/list_index/create_list_index_route.ts). A list that exists
    /// after all is the team's: no item is added to it.
    fn create_value_list(&mut self, initial: &Value) -> Result<(), DeployError> {
        let index = self.request("POST", format!("{}/lists/index", self.api));
        match self.client.send(&index) {
            Ok(_) | Err(HttpError::Status { status: 409, .. }) => {}
            Err(e) => return Err(e.into()),
        }
        if self.create("lists", &initial["list"])?.is_none() {
            return Ok(());
        }
        let id = &initial["list"]["id"];
        for value in initial["values"].as_array().into_iter().flatten() {
            self.create("lists/items", &json!({"list_id": id, "value": value}))?;
        }
        Ok(())
    }

    /// Create an exception list and its item (`POST /api/exception_lists`, `POST
    /// /api/exception_lists/items`: https://www.elastic.co/docs/api/doc/kibana/operation/
    /// operation-createexceptionlist, .../operation-createexceptionlistitem), and note its id.
    fn create_exception_list(&mut self, initial: &Value) -> Result<(), DeployError> {
        let list_id = initial["list"]["list_id"].as_str().unwrap_or_default();
        let created = match self.create("exception_lists", &initial["list"])? {
            Some(list) => list,
            None => self
                .read(exception_list_query(list_id))?
                .unwrap_or_default(),
        };
        self.note_exception_list(&created)?;
        self.create("exception_lists/items", &initial["item"])?;
        Ok(())
    }

    fn note_exception_list(&mut self, list: &Value) -> Result<(), DeployError> {
        let (Some(list_id), Some(id)) = (list["list_id"].as_str(), list["id"].as_str()) else {
            return Err(DeployError::Answer(format!(
                "Kibana's exception list has no `list_id` and `id`: {list}"
            )));
        };
        self.exception_ids
            .insert(list_id.to_string(), id.to_string());
        Ok(())
    }

    /// The rule as Kibana takes it: each `exceptions_list` entry with its list's id.
    fn with_exception_ids(&self, rule: &Value) -> Result<Value, DeployError> {
        let mut rule = rule.clone();
        let entries = rule
            .get_mut("exceptions_list")
            .and_then(Value::as_array_mut);
        for e in entries.into_iter().flatten() {
            let list_id = e["list_id"].as_str().unwrap_or_default();
            let id = self.exception_ids.get(list_id).ok_or_else(|| {
                DeployError::Answer(format!("Kibana holds no exception list `{list_id}`"))
            })?;
            e["id"] = Value::String(id.clone());
        }
        Ok(rule)
    }
}

fn exception_list_query(list_id: &str) -> String {
    format!(
        "exception_lists?list_id={}&namespace_type=single",
        form_encode(list_id)
    )
}

impl Siem for Kibana {
    fn desired(&self, package: &[File]) -> Result<Vec<Desired>, DeployError> {
        let file = package
            .iter()
            .find(|f| f.path.as_os_str() == "rules.ndjson")
            .ok_or_else(|| {
                DeployError::Package("the Elastic package has no rules.ndjson".into())
            })?;
        let text = String::from_utf8_lossy(&file.contents);
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let mut rule: Value = serde_json::from_str(line)
                .map_err(|e| DeployError::Package(format!("rules.ndjson line {}: {e}", n + 1)))?;
            let description = rule["description"].as_str().unwrap_or_default();
            let id = rule["rule_id"].as_str().unwrap_or_default();
            rule["description"] = Value::String(mark(description, id));
            if let Some(o) = rule.as_object_mut() {
                for k in KIBANA_OWNED {
                    o.remove(k);
                }
            }
            // Kibana gives an exception list its id: compared by `list_id`, sent with the id.
            let entries = rule
                .get_mut("exceptions_list")
                .and_then(Value::as_array_mut);
            for e in entries
                .into_iter()
                .flatten()
                .filter_map(Value::as_object_mut)
            {
                e.remove("id");
            }
            let key = rule["rule_id"].as_str().unwrap_or_default().to_string();
            out.push(Desired {
                rule: rule["name"].as_str().unwrap_or(&key).to_string(),
                key,
                settings: rule,
                initial: Value::Null,
            });
        }
        let lists = package
            .iter()
            .find(|f| f.path.as_os_str() == "lists.json")
            .ok_or_else(|| DeployError::Package("the Elastic package has no lists.json".into()))?;
        let lists: Value = serde_json::from_slice(&lists.contents)
            .map_err(|e| DeployError::Package(format!("lists.json: {e}")))?;
        let each = |k: &str| lists[k].as_array().cloned().unwrap_or_default();
        for v in each("value_lists") {
            let id = v["list"]["id"].as_str().unwrap_or_default().to_string();
            out.push(Desired {
                key: format!("{LIST}{id}"),
                rule: id,
                settings: json!({}),
                initial: v,
            });
        }
        for e in each("exception_lists") {
            let list_id = e["list"]["list_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let value_list = e["item"]["entries"][0]["list"]["id"]
                .as_str()
                .unwrap_or_default();
            out.push(Desired {
                key: format!("{LIST}{value_list}/{list_id}"),
                rule: list_id,
                settings: json!({}),
                initial: e,
            });
        }
        Ok(out)
    }

    fn deployed(&mut self, desired: &[Desired]) -> Result<Vec<Remote>, DeployError> {
        let mut out = Vec::new();
        for d in desired.iter().filter(|d| d.key.starts_with(LIST)) {
            let found = match d.initial["list"]["list_id"].as_str() {
                Some(list_id) => {
                    let list = self.read(exception_list_query(list_id))?;
                    if let Some(list) = &list {
                        self.note_exception_list(list)?;
                    }
                    list
                }
                None => {
                    let id = d.initial["list"]["id"].as_str().unwrap_or_default();
                    self.read(format!("lists?id={}", form_encode(id)))?
                }
            };
            if found.is_some() {
                out.push(Remote {
                    key: d.key.clone(),
                    settings: json!({}),
                    // The team's tuning: never deleted.
                    managed: false,
                });
            }
        }
        let mut listing = Listing::default();
        for page in 1.. {
            let url = format!("{}/_find?page={page}&per_page={PAGE}", self.rules);
            let answer = self.client.send(&self.request("GET", url))?.json()?;
            let data = answer["data"].as_array().cloned().unwrap_or_default();
            let n = data.len();
            let keys = data
                .iter()
                .map(|r| r["rule_id"].as_str().unwrap_or_default());
            listing.page("Kibana rules/_find", keys)?;
            for rule in data {
                let key = rule["rule_id"].as_str().unwrap_or_default().to_string();
                out.push(Remote {
                    managed: rule["description"]
                        .as_str()
                        .is_some_and(|d| is_marked(d, &key)),
                    key,
                    settings: rule,
                });
            }
            let total = answer["total"].as_u64().unwrap_or(0) as usize;
            if n == 0 || out.len() >= total {
                break;
            }
        }
        Ok(out)
    }

    fn apply(&mut self, change: &Change) -> Result<(), DeployError> {
        if change.key.starts_with(LIST) {
            return match change.action {
                Action::Create if change.initial["item"].is_object() => {
                    self.create_exception_list(&change.initial)
                }
                Action::Create => self.create_value_list(&change.initial),
                _ => Ok(()),
            };
        }
        let rule = self.with_exception_ids(&change.settings)?;
        let put = |k: &mut Kibana| {
            let req = k.request("PUT", k.rules.clone()).json(&rule);
            k.client.send(&req).map(drop).map_err(DeployError::from)
        };
        match change.action {
            Action::Create => {
                let req = self.request("POST", self.rules.clone()).json(&rule);
                match self.client.send(&req) {
                    Ok(_) => Ok(()),
                    // It exists after all (an earlier attempt went through): replace it.
                    Err(HttpError::Status { status: 409, .. }) => put(self),
                    Err(e) => Err(e.into()),
                }
            }
            Action::Update => put(self),
            Action::Delete => {
                let url = format!("{}?rule_id={}", self.rules, form_encode(&change.key));
                match self.client.send(&self.request("DELETE", url)) {
                    Ok(_) | Err(HttpError::Status { status: 404, .. }) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Action::Unchanged => Ok(()),
        }
    }
}
