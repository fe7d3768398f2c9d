//! Elastic: Kibana's detection engine rules API, by `rule_id` (`POST`/`PUT`/`DELETE
//! /api/detection_engine/rules`, `GET …/_find` to list), in a Kibana space. Auth:
//! `Authorization: ApiKey <key>`; every request carries `kbn-xsrf`. The rule bodies are
//! the lines of the package's `rules.ndjson`.

use crate::deploy::http::{Client, HttpError, Options, Request, form_encode, path_segment};
use crate::deploy::{
    Action, Change, DeployError, Desired, Listing, Remote, Siem, base_url, env, is_marked, mark,
    setting,
};
use crate::render::File;
use serde_json::Value;
use std::collections::BTreeMap;

const PAGE: usize = 100;
/// Kibana keeps a rule's `version` itself (it counts updates), so detc does not compare it.
const KIBANA_OWNED: [&str; 1] = ["version"];

pub(crate) struct Kibana {
    client: Client,
    /// `{url}[/s/{space}]/api/detection_engine/rules`
    rules: String,
    key: String,
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
            key,
        })
    }

    fn request(&self, method: &'static str, url: String) -> Request {
        Request::new(method, url)
            .header("Authorization", format!("ApiKey {}", self.key))
            .header("kbn-xsrf", "true")
    }
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
            let key = rule["rule_id"].as_str().unwrap_or_default().to_string();
            out.push(Desired {
                rule: rule["name"].as_str().unwrap_or(&key).to_string(),
                key,
                settings: rule,
                initial: Value::Null,
            });
        }
        Ok(out)
    }

    fn deployed(&mut self) -> Result<Vec<Remote>, DeployError> {
        let mut out = Vec::new();
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
        let put = |k: &mut Kibana| {
            let req = k.request("PUT", k.rules.clone()).json(&change.settings);
            k.client.send(&req).map(drop).map_err(DeployError::from)
        };
        match change.action {
            Action::Create => {
                let req = self
                    .request("POST", self.rules.clone())
                    .json(&change.settings);
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
