//! Microsoft Sentinel: scheduled analytics rules through Azure Resource Manager
//! (`PUT …/providers/Microsoft.SecurityInsights/alertRules/{id}` with a pinned api-version),
//! with a token from Microsoft Entra ID's client-credentials flow. The rule bodies are the
//! resources of the package's per-rule ARM templates. Each tunable list's watchlist
//! (`watchlists.json`) is created when missing (`PUT …/watchlists/{alias}`) and never
//! changed or deleted: the team tunes its items in Sentinel.

use crate::deploy::http::{Client, HttpError, Options, Request, path_segment};
use crate::deploy::{
    Action, Change, DeployError, Desired, Listing, Remote, Siem, base_url, env, is_marked, mark,
    setting,
};
use crate::render::File;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The Microsoft.SecurityInsights API version detc speaks (the ARM templates say the same).
pub(crate) const API_VERSION: &str = "2024-09-01";

/// The plan's key of a watchlist: this, then its alias (rules are keyed by their ids).
const WATCHLIST: &str = "watchlist/";

pub(crate) struct Sentinel {
    client: Client,
    /// `{arm}/subscriptions/…/providers/Microsoft.SecurityInsights/alertRules`
    rules: String,
    /// Scheme and host of ARM: `nextLink`s elsewhere are not followed (the token would go
    /// with them).
    arm: String,
    token_url: String,
    client_id: String,
    secret: String,
    /// The token's audience (`AZURE_TOKEN_SCOPE`; other clouds have other ARM hosts).
    scope: String,
    token: Option<String>,
}

impl Sentinel {
    pub(crate) fn connect(
        config: &BTreeMap<String, String>,
        options: Options,
    ) -> Result<Sentinel, DeployError> {
        let authority = base_url(
            "AZURE_AUTHORITY_HOST",
            &setting(
                config,
                "AZURE_AUTHORITY_HOST",
                Some("https://login.microsoftonline.com"),
            )?,
        )?;
        let arm = base_url(
            "AZURE_RESOURCE_MANAGER_URL",
            &setting(
                config,
                "AZURE_RESOURCE_MANAGER_URL",
                Some("https://management.azure.com"),
            )?,
        )?;
        let tenant = setting(config, "AZURE_TENANT_ID", None)?;
        let subscription = setting(config, "AZURE_SUBSCRIPTION_ID", None)?;
        let group = setting(config, "AZURE_RESOURCE_GROUP", None)?;
        let workspace = setting(config, "SENTINEL_WORKSPACE", None)?;
        let client_id = setting(config, "AZURE_CLIENT_ID", None)?;
        let secret = env("AZURE_CLIENT_SECRET")?;
        let rules = format!(
            "{arm}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.OperationalInsights/\
             workspaces/{}/providers/Microsoft.SecurityInsights/alertRules",
            path_segment(&subscription),
            path_segment(&group),
            path_segment(&workspace)
        );
        Ok(Sentinel {
            client: Client::new(options, vec![secret.clone()])?,
            rules,
            arm,
            token_url: format!("{authority}/{}/oauth2/v2.0/token", path_segment(&tenant)),
            client_id,
            secret,
            scope: setting(
                config,
                "AZURE_TOKEN_SCOPE",
                Some("https://management.azure.com/.default"),
            )?,
            token: None,
        })
    }

    /// A request to ARM with a bearer token, fetched once per run.
    fn request(&mut self, method: &'static str, url: String) -> Result<Request, DeployError> {
        let token = match &self.token {
            Some(t) => t.clone(),
            None => {
                let req = Request::new("POST", self.token_url.clone()).form(&[
                    ("grant_type".into(), "client_credentials".into()),
                    ("client_id".into(), self.client_id.clone()),
                    ("client_secret".into(), self.secret.clone()),
                    ("scope".into(), self.scope.clone()),
                ]);
                let answer = self
                    .client
                    .send(&req)
                    .map_err(|e| {
                        DeployError::SignIn(format!(
                            "cannot sign in to Microsoft Entra ID: {}",
                            sign_in_error(&e)
                        ))
                    })?
                    .json()?;
                let token = answer["access_token"]
                    .as_str()
                    .ok_or_else(|| {
                        DeployError::SignIn("the token endpoint gave no access_token".into())
                    })?
                    .to_string();
                // The token is as secret as the client secret.
                self.client.add_secret(&token);
                self.token = Some(token.clone());
                token
            }
        };
        Ok(Request::new(method, url).header("Authorization", format!("Bearer {token}")))
    }

    fn url(&self, id: Option<&str>) -> String {
        match id {
            Some(id) => format!(
                "{}/{}?api-version={API_VERSION}",
                self.rules,
                path_segment(id)
            ),
            None => format!("{}?api-version={API_VERSION}", self.rules),
        }
    }

    /// `…/Microsoft.SecurityInsights/watchlists[/{alias}]` (Microsoft, "Watchlists - Create
    /// Or Update": https://learn.microsoft.com/rest/api/securityinsights/watchlists/create-or-update).
    fn watchlist_url(&self, alias: Option<&str>) -> String {
        let base = self
            .rules
            .strip_suffix("alertRules")
            .map(|b| format!("{b}watchlists"))
            .unwrap_or_default();
        match alias {
            Some(a) => format!("{base}/{}?api-version={API_VERSION}", path_segment(a)),
            None => format!("{base}?api-version={API_VERSION}"),
        }
    }

    /// Every item of an ARM listing, following `nextLink` on the ARM host only.
    fn list(&mut self, what: &str, first: String) -> Result<Vec<Value>, DeployError> {
        let mut out = Vec::new();
        let mut listing = Listing::default();
        let mut visited = std::collections::HashSet::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            if !visited.insert(url.clone()) {
                return Err(DeployError::Answer(format!(
                    "ARM {what}: a nextLink points to a page already read; the listing would not end"
                )));
            }
            if !url.starts_with(&format!("{}/", self.arm)) {
                return Err(DeployError::Answer(format!(
                    "ARM answered with a nextLink outside {}; not followed",
                    self.arm
                )));
            }
            let req = self.request("GET", url)?;
            let page = self.client.send(&req)?.json()?;
            let items = page["value"].as_array().cloned().unwrap_or_default();
            listing.page(
                &format!("ARM {what}"),
                items.iter().map(|r| r["name"].as_str().unwrap_or_default()),
            )?;
            out.extend(items);
            next = page["nextLink"].as_str().map(str::to_string);
        }
        Ok(out)
    }
}

/// Why a sign-in failed, from OAuth's own error fields only: the token endpoint's answer can
/// hold a token (a proxy that rewrites the status, a server that echoes the request), so
/// its body is never shown whole.
fn sign_in_error(e: &HttpError) -> String {
    let HttpError::Status {
        method,
        path,
        status,
        body,
    } = e
    else {
        return e.to_string();
    };
    let answer: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let field = |k: &str| answer[k].as_str().filter(|v| !v.is_empty());
    match (field("error"), field("error_description")) {
        (Some(error), Some(description)) => {
            format!("{method} {path}: HTTP {status}: {error}: {description}")
        }
        (Some(error), None) => format!("{method} {path}: HTTP {status}: {error}"),
        _ => format!(
            "{method} {path}: HTTP {status} (the answer is not shown: it may hold credentials)"
        ),
    }
}

impl Siem for Sentinel {
    fn desired(&self, package: &[File]) -> Result<Vec<Desired>, DeployError> {
        let mut out = Vec::new();
        for f in package.iter().filter(|f| f.path.starts_with("arm")) {
            let rule = f
                .path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            let template: Value = serde_json::from_slice(&f.contents)
                .map_err(|e| DeployError::Package(format!("{}: {e}", f.path.display())))?;
            for resource in template["resources"].as_array().into_iter().flatten() {
                let name = resource["name"].as_str().unwrap_or_default();
                let id = arm_rule_id(name).ok_or_else(|| {
                    DeployError::Package(format!("{}: no rule id in `{name}`", f.path.display()))
                })?;
                let mut properties = unescape_arm(&resource["properties"]);
                let description = properties["description"].as_str().unwrap_or_default();
                properties["description"] = Value::String(mark(description, &id));
                out.push(Desired {
                    key: id,
                    rule: rule.clone(),
                    settings: json!({"kind": resource["kind"], "properties": properties}),
                    initial: Value::Null,
                });
            }
        }
        // A watchlist holds the team's tuning: nothing is compared, its body is sent only
        // when it is created.
        for f in package
            .iter()
            .filter(|f| f.path.as_os_str() == "watchlists.json")
        {
            let template: Value = serde_json::from_slice(&f.contents)
                .map_err(|e| DeployError::Package(format!("{}: {e}", f.path.display())))?;
            for resource in template["resources"].as_array().into_iter().flatten() {
                let name = resource["name"].as_str().unwrap_or_default();
                let alias = arm_rule_id(name).ok_or_else(|| {
                    DeployError::Package(format!("watchlists.json: no alias in `{name}`"))
                })?;
                out.push(Desired {
                    key: format!("{WATCHLIST}{alias}"),
                    rule: alias,
                    settings: json!({}),
                    initial: json!({"properties": unescape_arm(&resource["properties"])}),
                });
            }
        }
        Ok(out)
    }

    fn deployed(&mut self, _: &[Desired]) -> Result<Vec<Remote>, DeployError> {
        let mut out = Vec::new();
        for r in self.list("alertRules", self.url(None))? {
            let name = r["name"].as_str().unwrap_or_default();
            let managed = r["properties"]["description"]
                .as_str()
                .is_some_and(|d| is_marked(d, name));
            out.push(Remote {
                key: name.to_string(),
                settings: json!({"kind": r["kind"], "properties": r["properties"]}),
                managed,
            });
        }
        let first = self.watchlist_url(None);
        for w in self.list("watchlists", first)? {
            out.push(Remote {
                key: format!("{WATCHLIST}{}", w["name"].as_str().unwrap_or_default()),
                settings: json!({}),
                // Watchlists hold the team's tuning: never deleted.
                managed: false,
            });
        }
        Ok(out)
    }

    fn apply(&mut self, change: &Change) -> Result<(), DeployError> {
        if let Some(alias) = change.key.strip_prefix(WATCHLIST) {
            // Only ever created: the plan has nothing to compare, and none is detc's to delete.
            if change.action == Action::Create {
                let req = self
                    .request("PUT", self.watchlist_url(Some(alias)))?
                    .json(&change.initial);
                self.client.send(&req).map_err(DeployError::from)?;
            }
            return Ok(());
        }
        let url = self.url(Some(&change.key));
        match change.action {
            Action::Create | Action::Update => {
                let req = self.request("PUT", url)?.json(&change.settings);
                self.client.send(&req).map(drop).map_err(DeployError::from)
            }
            Action::Delete => {
                let req = self.request("DELETE", url)?;
                match self.client.send(&req) {
                    Ok(_) | Err(HttpError::Status { status: 404, .. }) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Action::Unchanged => Ok(()),
        }
    }
}

/// The rule id at the end of an ARM resource name:
/// `[concat(parameters('workspace'), '/Microsoft.SecurityInsights/', '<id>')]`.
fn arm_rule_id(name: &str) -> Option<String> {
    let inner = name.strip_suffix("')]")?;
    let id = &inner[inner.rfind('\'')? + 1..];
    (!id.is_empty()).then(|| id.to_string())
}

/// ARM template strings starting with `[[` stand for text starting with `[`.
fn unescape_arm(v: &Value) -> Value {
    match v {
        Value::String(s) if s.starts_with("[[") => Value::String(s[1..].to_string()),
        Value::Array(a) => Value::Array(a.iter().map(unescape_arm).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), unescape_arm(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_and_arm_escapes() {
        assert_eq!(
            arm_rule_id(
                "[concat(parameters('workspace'), '/Microsoft.SecurityInsights/', 'ab-12')]"
            )
            .as_deref(),
            Some("ab-12")
        );
        assert_eq!(arm_rule_id("plain"), None);
        assert_eq!(
            unescape_arm(&json!({"a": ["[[x]", "y"]})),
            json!({"a": ["[x]", "y"]})
        );
    }
}
