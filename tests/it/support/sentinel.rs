//! Microsoft Sentinel mock: one server for both the Microsoft identity platform token
//! endpoint and ARM (`Microsoft.SecurityInsights/alertRules`).
//!
//! - `POST /{tenant}/oauth2/v2.0/token`, form `grant_type=client_credentials`,
//!   `client_id`, `client_secret`, `scope=https://management.azure.com/.default` ->
//!   `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":..}`.
//!   Wrong secret -> 401 `invalid_client`; unknown client -> 400 `unauthorized_client`;
//!   other grant -> 400 `unsupported_grant_type`; other scope -> 400 `invalid_scope`.
//! - ARM, under [`Sentinel::rules_path`] (compared case-insensitively, like ARM):
//!   `GET alertRules` (paged: `value` + absolute `nextLink` carrying `api-version` and
//!   `%24skipToken`; absent on the last page), `GET|PUT|DELETE alertRules/{ruleId}`;
//!   beside it `GET watchlists` (one page) and `GET|PUT|DELETE watchlists/{alias}`, a PUT
//!   needing `displayName`, `itemsSearchKey`, `provider` and `source` (the REST API's
//!   required properties).
//!   Every call needs `Authorization: Bearer <issued token>` (401 `AuthenticationFailed`
//!   when missing, `InvalidAuthenticationToken` when unknown/revoked) and exactly one
//!   `api-version` equal to the pinned one (400 `MissingApiVersionParameter` /
//!   `InvalidApiVersionParameter`; a client that appends `api-version` to a `nextLink`
//!   sends it twice and gets the latter).
//! - `PUT` -> 201 created / 200 updated, echoing the resource with `id`, `name`, `type`,
//!   a new quoted `etag` and `properties.lastModifiedUtc`. A body `etag` that differs
//!   from the stored one -> 409 (optimistic concurrency). `DELETE` -> 200, or 204 absent.
use super::{Clock, Mock, Request, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct SentinelConfig {
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
    pub subscription: String,
    pub resource_group: String,
    pub workspace: String,
    /// The one `api-version` accepted.
    pub api_version: String,
    /// Rules per list page (small by default so clients must follow `nextLink`).
    pub page_size: usize,
    /// Hostile: every `nextLink` points to the page it is on.
    pub next_link_to_itself: bool,
    /// `properties` required by `PUT` for kind `Scheduled` (ScheduledAlertRuleProperties).
    pub required_scheduled: Vec<String>,
}

impl Default for SentinelConfig {
    fn default() -> Self {
        let req = [
            "displayName",
            "enabled",
            "query",
            "queryFrequency",
            "queryPeriod",
            "severity",
            "suppressionDuration",
            "suppressionEnabled",
            "triggerOperator",
            "triggerThreshold",
        ];
        SentinelConfig {
            tenant: "tenant-1".into(),
            client_id: "client-1".into(),
            client_secret: "secret-1".into(),
            subscription: "sub-1".into(),
            resource_group: "rg-1".into(),
            workspace: "ws-1".into(),
            api_version: "2024-09-01".into(),
            page_size: 2,
            next_link_to_itself: false,
            required_scheduled: req.iter().map(|s| s.to_string()).collect(),
        }
    }
}

#[derive(Default)]
struct State {
    rules: BTreeMap<String, Value>,
    watchlists: BTreeMap<String, Value>,
    tokens: Vec<String>,
}

pub struct Sentinel {
    mock: Mock,
    state: Arc<Mutex<State>>,
    clock: Arc<Mutex<Clock>>,
    pub config: SentinelConfig,
}

impl Deref for Sentinel {
    type Target = Mock;
    fn deref(&self) -> &Mock {
        &self.mock
    }
}

impl Sentinel {
    pub fn start() -> Sentinel {
        Sentinel::with_config(SentinelConfig::default())
    }
    pub fn with_config(config: SentinelConfig) -> Sentinel {
        let state = Arc::new(Mutex::new(State::default()));
        let clock = Arc::new(Mutex::new(Clock::new()));
        let (st, ck, cfg) = (state.clone(), clock.clone(), config.clone());
        let mock = Mock::serve(move |base| {
            let base = base.to_string();
            Box::new(move |req: &Request| handle(req, &base, &cfg, &st, &ck))
        });
        Sentinel {
            mock,
            state,
            clock,
            config,
        }
    }
    /// `{url}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.url(), self.config.tenant)
    }
    /// `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/
    /// workspaces/{ws}/providers/Microsoft.SecurityInsights/alertRules`.
    pub fn rules_path(&self) -> String {
        rules_path(&self.config)
    }
    /// Stored rules by ruleId, as `GET` returns them.
    pub fn rules(&self) -> BTreeMap<String, Value> {
        self.state.lock().unwrap().rules.clone()
    }
    /// Pre-seed a rule (server fields added as on a create).
    pub fn seed_rule(&self, rule_id: &str, kind: &str, properties: Value) {
        let r = resource(
            &self.config,
            rule_id,
            kind,
            properties,
            &mut self.clock.lock().unwrap(),
        );
        self.state.lock().unwrap().rules.insert(rule_id.into(), r);
    }
    /// Stored watchlists by alias.
    pub fn watchlists(&self) -> BTreeMap<String, Value> {
        self.state.lock().unwrap().watchlists.clone()
    }
    /// Pre-seed a watchlist, as a team that tuned it left it.
    pub fn seed_watchlist(&self, alias: &str, properties: Value) {
        let w = json!({"name": alias, "properties": properties});
        self.state
            .lock()
            .unwrap()
            .watchlists
            .insert(alias.into(), w);
    }
    /// Access tokens issued so far.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state.lock().unwrap().tokens.clone()
    }
    /// Invalidate every issued token (the next ARM call gets 401, as on expiry).
    pub fn revoke_tokens(&self) {
        self.state.lock().unwrap().tokens.clear();
    }
}

fn rules_path(c: &SentinelConfig) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.OperationalInsights/workspaces/{}/providers/Microsoft.SecurityInsights/alertRules",
        c.subscription, c.resource_group, c.workspace
    )
}

fn resource(
    c: &SentinelConfig,
    id: &str,
    kind: &str,
    mut props: Value,
    clock: &mut Clock,
) -> Value {
    props["lastModifiedUtc"] = json!(clock.now());
    json!({
        "id": format!("{}/{id}", rules_path(c)),
        "name": id,
        "type": "Microsoft.SecurityInsights/alertRules",
        "kind": kind,
        "etag": format!("\"{}\"", clock.uuid()),
        "properties": props,
    })
}

fn arm_err(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

fn aad_err(status: u16, error: &str, desc: &str) -> Response {
    Response::json(
        status,
        &json!({"error": error, "error_description": desc, "error_codes": [], "timestamp": "", "trace_id": "", "correlation_id": ""}),
    )
}

/// `watchlists[/{alias}]`; `rest` is the path after `watchlists`.
fn watchlist(req: &Request, rest: &str, st: &mut State) -> Response {
    let alias = match rest.strip_prefix('/') {
        None | Some("") => None,
        Some(a) if !a.contains('/') => req.segments().last().cloned(),
        Some(_) => return arm_err(404, "ResourceNotFound", "The resource was not found."),
    };
    match (req.method.as_str(), alias) {
        ("GET", None) => {
            let value: Vec<Value> = st.watchlists.values().cloned().collect();
            Response::json(200, &json!({"value": value}))
        }
        ("GET", Some(a)) => match st.watchlists.get(&a) {
            Some(w) => Response::json(200, w),
            None => arm_err(404, "NotFound", &format!("Watchlist '{a}' not found")),
        },
        ("PUT", Some(a)) => {
            let props = req.json()["properties"].clone();
            let missing: Vec<&str> = ["displayName", "itemsSearchKey", "provider", "source"]
                .into_iter()
                .filter(|k| props.get(*k).is_none_or(Value::is_null))
                .collect();
            if !missing.is_empty() {
                return arm_err(
                    400,
                    "BadRequest",
                    &format!("Required properties missing: {}", missing.join(", ")),
                );
            }
            let status = if st.watchlists.contains_key(&a) {
                200
            } else {
                201
            };
            let w = json!({"name": a, "properties": props});
            st.watchlists.insert(a, w.clone());
            Response::json(status, &w)
        }
        ("DELETE", Some(a)) => match st.watchlists.remove(&a) {
            Some(_) => Response::empty(200),
            None => Response::empty(204),
        },
        _ => arm_err(
            405,
            "MethodNotAllowed",
            "The requested method is not allowed.",
        ),
    }
}

fn handle(
    req: &Request,
    base: &str,
    c: &SentinelConfig,
    st: &Mutex<State>,
    clock: &Mutex<Clock>,
) -> Response {
    let seg = req.segments();
    // Token endpoint (Microsoft identity platform, client credentials flow).
    if seg.len() == 4 && seg[1..] == ["oauth2", "v2.0", "token"] {
        if req.method != "POST" {
            return aad_err(
                405,
                "invalid_request",
                "AADSTS900561: The endpoint only accepts POST requests.",
            );
        }
        if seg[0] != c.tenant {
            return aad_err(400, "invalid_request", "AADSTS90002: Tenant not found.");
        }
        let f = req.form();
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        if get("grant_type") != Some("client_credentials") {
            return aad_err(
                400,
                "unsupported_grant_type",
                "AADSTS70003: The app requested an unsupported grant type.",
            );
        }
        if get("client_id") != Some(c.client_id.as_str()) {
            return aad_err(
                400,
                "unauthorized_client",
                "AADSTS700016: Application not found in the directory.",
            );
        }
        if get("client_secret") != Some(c.client_secret.as_str()) {
            // Hostile: the error echoes the request body, secret and all, URL-encoded.
            return aad_err(
                401,
                "invalid_client",
                &format!(
                    "AADSTS7000215: Invalid client secret provided. Request: {}",
                    String::from_utf8_lossy(&req.body)
                ),
            );
        }
        if get("scope") != Some("https://management.azure.com/.default") {
            return aad_err(
                400,
                "invalid_scope",
                "AADSTS70011: The provided value for scope is not valid.",
            );
        }
        let mut st = st.lock().unwrap();
        let token = format!("tok-{}", st.tokens.len() + 1);
        st.tokens.push(token.clone());
        return Response::json(
            200,
            &json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}),
        );
    }
    // ARM: auth, then api-version, then route.
    let Some(auth) = req.header("authorization") else {
        return arm_err(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        )
        .with_header(
            "WWW-Authenticate",
            "Bearer authorization_uri=\"https://login.microsoftonline.com/common\"",
        );
    };
    let valid = auth
        .strip_prefix("Bearer ")
        .is_some_and(|t| st.lock().unwrap().tokens.iter().any(|k| k == t));
    if !valid {
        return arm_err(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        )
        .with_header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
    }
    let versions: Vec<&str> = req
        .query
        .iter()
        .filter(|(k, _)| k == "api-version")
        .map(|(_, v)| v.as_str())
        .collect();
    match versions[..] {
        [] => {
            return arm_err(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            );
        }
        [v] if v == c.api_version => {}
        _ => {
            let v = versions.join(",");
            return arm_err(
                400,
                "InvalidApiVersionParameter",
                &format!(
                    "The api-version '{v}' is invalid. The supported versions are '{}'.",
                    c.api_version
                ),
            );
        }
    }
    let root = rules_path(c);
    let path = req.path.to_ascii_lowercase();
    let lists = root
        .replace("/alertRules", "/watchlists")
        .to_ascii_lowercase();
    if let Some(rest) = path.strip_prefix(&lists) {
        return watchlist(req, rest, &mut st.lock().unwrap());
    }
    let rest = match path.strip_prefix(&root.to_ascii_lowercase()) {
        Some("") | Some("/") => None,
        Some(r) if r.starts_with('/') && !r[1..].contains('/') => Some(seg.last().unwrap().clone()),
        _ => {
            return arm_err(
                404,
                "ResourceNotFound",
                &format!("The resource '{}' was not found.", req.path),
            );
        }
    };
    let mut st = st.lock().unwrap();
    match (req.method.as_str(), rest) {
        ("GET", None) => {
            let skip: usize = req
                .param("$skipToken")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let value: Vec<Value> = st
                .rules
                .values()
                .skip(skip)
                .take(c.page_size)
                .cloned()
                .collect();
            let mut body = json!({"value": value});
            if skip + c.page_size < st.rules.len() {
                body["nextLink"] = json!(format!(
                    "{base}{root}?api-version={}&%24skipToken={}",
                    c.api_version,
                    if c.next_link_to_itself {
                        skip
                    } else {
                        skip + c.page_size
                    }
                ));
            }
            Response::json(200, &body)
        }
        ("GET", Some(id)) => match st.rules.get(&id) {
            Some(r) => Response::json(200, r),
            None => arm_err(404, "NotFound", &format!("Alert rule '{id}' not found")),
        },
        ("PUT", Some(id)) => {
            let body = req.json();
            let Some(kind) = body["kind"].as_str() else {
                return arm_err(400, "BadRequest", "The 'kind' property is required.");
            };
            let props = body["properties"].clone();
            let required: Vec<&str> = match kind {
                "Scheduled" => c.required_scheduled.iter().map(String::as_str).collect(),
                _ => vec!["displayName"],
            };
            let missing: Vec<&str> = required
                .into_iter()
                .filter(|k| props.get(*k).is_none_or(Value::is_null))
                .collect();
            if !props.is_object() || !missing.is_empty() {
                return arm_err(
                    400,
                    "BadRequest",
                    &format!("Required properties missing: {}", missing.join(", ")),
                );
            }
            let existing = st.rules.get(&id);
            if let (Some(old), Some(etag)) = (existing, body["etag"].as_str())
                && old["etag"] != etag
            {
                return arm_err(
                    409,
                    "Conflict",
                    "Newer version of the alert rule exists (etag mismatch).",
                );
            }
            let status = if existing.is_some() { 200 } else { 201 };
            let r = resource(c, &id, kind, props, &mut clock.lock().unwrap());
            st.rules.insert(id, r.clone());
            Response::json(status, &r)
        }
        ("DELETE", Some(id)) => match st.rules.remove(&id) {
            Some(_) => Response::empty(200),
            None => Response::empty(204),
        },
        _ => arm_err(
            405,
            "MethodNotAllowed",
            "The requested method is not allowed.",
        ),
    }
}
