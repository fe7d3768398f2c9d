//! Kibana detection engine rules API mock (Elastic Security "Rules API": create, update,
//! get, delete, find). Space-aware: the `default` space has no prefix (`/s/default` is
//! accepted too), space `X` is `/s/X/api/...`; unknown spaces -> 404.
//!
//! - `GET  {prefix}/api/detection_engine/rules/_find?page=P&per_page=N` (defaults 1 and
//!   20) -> `{"page","perPage","total","data"}`, sorted by `rule_id`.
//! - `POST {prefix}/api/detection_engine/rules` -> 200 with server fields (`id`,
//!   `created_at`, `updated_at`, `created_by`, `updated_by`, `revision`, `immutable`, and
//!   defaults like `enabled`, `interval`, `from`, `max_signals`, `version`); 409
//!   `{"message":"rule_id: \"X\" already exists","status_code":409}`; 400 when `name`,
//!   `type`, `description`, `risk_score` or `severity` is missing. `rule_id` is optional
//!   (generated), as in Kibana.
//! - `PUT  {prefix}/api/detection_engine/rules` full replace by body `rule_id` (or `id`):
//!   unspecified fields revert to defaults; `id`/`created_*` kept; `revision` + 1;
//!   404 `{"message":"rule_id: \"X\" not found","status_code":404}`.
//! - `GET|DELETE {prefix}/api/detection_engine/rules?rule_id=X` (or `id=`) -> the rule
//!   (DELETE returns the deleted rule); 404 as above.
//!
//! - Lists API: `POST {prefix}/api/lists/index` -> `{"acknowledged":true}`; `GET
//!   {prefix}/api/lists?id=X` -> the list or 404; `POST {prefix}/api/lists` (`name`,
//!   `description`, `type` required; 409 when `id` exists); `POST {prefix}/api/lists/items`
//!   (`list_id`, `value`; 404 for an unknown list).
//! - Exceptions API: `GET {prefix}/api/exception_lists?list_id=X&namespace_type=single` ->
//!   the list (with a generated `id`) or 404; `POST {prefix}/api/exception_lists` (409 when
//!   `list_id` exists); `POST {prefix}/api/exception_lists/items` (404 for an unknown list,
//!   409 when `item_id` exists).
//!
//! Auth `Authorization: ApiKey <key>` (else 401); every non-GET needs a `kbn-xsrf`
//! header (else 400 "Request must contain a kbn-xsrf header.").
use super::{Clock, Mock, Request, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct State {
    /// (space, rule_id) -> rule.
    rules: BTreeMap<(String, String), Value>,
    spaces: BTreeSet<String>,
    /// Hostile: `_find` ignores `page` (always the first) and reports a huge `total`.
    repeat_pages: bool,
    /// (space, id) -> (value list, its item values).
    value_lists: BTreeMap<(String, String), (Value, Vec<String>)>,
    /// (space, list_id) -> (exception list, its items).
    exception_lists: BTreeMap<(String, String), (Value, Vec<Value>)>,
    /// Hostile: `POST /api/lists/items` answers 500.
    fail_list_items: bool,
}

pub struct Kibana {
    mock: Mock,
    state: Arc<Mutex<State>>,
    clock: Arc<Mutex<Clock>>,
    pub api_key: String,
}

impl Deref for Kibana {
    type Target = Mock;
    fn deref(&self) -> &Mock {
        &self.mock
    }
}

const REQUIRED: &[&str] = &["name", "type", "description", "risk_score", "severity"];

impl Kibana {
    /// A Kibana accepting `Authorization: ApiKey test-key`, with only the `default` space.
    pub fn start() -> Kibana {
        Kibana::with_key("test-key")
    }
    pub fn with_key(key: &str) -> Kibana {
        let state = Arc::new(Mutex::new(State::default()));
        state.lock().unwrap().spaces.insert("default".into());
        let clock = Arc::new(Mutex::new(Clock::new()));
        let (st, ck, k) = (state.clone(), clock.clone(), key.to_string());
        let mock = Mock::serve(move |_| Box::new(move |req: &Request| handle(req, &k, &st, &ck)));
        Kibana {
            mock,
            state,
            clock,
            api_key: key.to_string(),
        }
    }
    /// Make a space exist (requests to other spaces get 404).
    pub fn add_space(&self, space: &str) {
        self.state.lock().unwrap().spaces.insert(space.into());
    }
    /// Base URL for a space: `url()` for `default`, else `url()/s/{space}`.
    pub fn space_url(&self, space: &str) -> String {
        if space == "default" {
            self.url()
        } else {
            format!("{}/s/{space}", self.url())
        }
    }
    /// From now on `_find` repeats its first page and reports a total of a million.
    pub fn repeat_pages(&self) {
        self.state.lock().unwrap().repeat_pages = true;
    }
    /// From now on adding a value list item fails (500).
    pub fn fail_list_items(&self) {
        self.state.lock().unwrap().fail_list_items = true;
    }
    /// Value lists of one space by id: the list and its values.
    pub fn value_lists(&self, space: &str) -> BTreeMap<String, (Value, Vec<String>)> {
        let st = self.state.lock().unwrap();
        st.value_lists
            .iter()
            .filter(|((s, _), _)| s == space)
            .map(|((_, id), l)| (id.clone(), l.clone()))
            .collect()
    }
    /// Exception lists of one space by list_id: the list and its items.
    pub fn exception_lists(&self, space: &str) -> BTreeMap<String, (Value, Vec<Value>)> {
        let st = self.state.lock().unwrap();
        st.exception_lists
            .iter()
            .filter(|((s, _), _)| s == space)
            .map(|((_, id), l)| (id.clone(), l.clone()))
            .collect()
    }
    /// Pre-seed a value list with its values (the team's tuning).
    pub fn seed_value_list(&self, space: &str, id: &str, values: &[&str]) {
        let list = json!({"id": id, "name": id, "description": "ours", "type": "keyword"});
        let values = values.iter().map(|v| v.to_string()).collect();
        let mut st = self.state.lock().unwrap();
        st.value_lists
            .insert((space.into(), id.into()), (list, values));
    }
    /// Rules of one space by rule_id.
    pub fn rules(&self, space: &str) -> BTreeMap<String, Value> {
        let st = self.state.lock().unwrap();
        st.rules
            .iter()
            .filter(|((s, _), _)| s == space)
            .map(|((_, id), r)| (id.clone(), r.clone()))
            .collect()
    }
    /// Pre-seed a rule (the body as a client would POST it; server fields are added).
    pub fn seed_rule(&self, space: &str, rule: Value) {
        let r = stamp(rule, None, &mut self.clock.lock().unwrap());
        let id = r["rule_id"].as_str().unwrap().to_string();
        let mut st = self.state.lock().unwrap();
        st.spaces.insert(space.into());
        st.rules.insert((space.into(), id), r);
    }
}

fn err(status: u16, message: &str) -> Response {
    Response::json(status, &json!({"message": message, "status_code": status}))
}

fn boom(status: u16, error: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"statusCode": status, "error": error, "message": message}),
    )
}

/// Fill server fields and defaults; `old` is the rule a PUT replaces.
fn stamp(mut rule: Value, old: Option<&Value>, clock: &mut Clock) -> Value {
    let now = clock.now();
    let o = rule.as_object_mut().unwrap();
    let defaults = [
        ("enabled", json!(true)),
        ("interval", json!("5m")),
        ("from", json!("now-6m")),
        ("to", json!("now")),
        ("max_signals", json!(100)),
        ("version", json!(1)),
        ("tags", json!([])),
        ("references", json!([])),
        ("false_positives", json!([])),
        ("threat", json!([])),
        ("actions", json!([])),
        ("exceptions_list", json!([])),
        ("author", json!([])),
        ("risk_score_mapping", json!([])),
        ("severity_mapping", json!([])),
    ];
    for (k, v) in defaults {
        o.entry(k).or_insert(v);
    }
    if matches!(
        o["type"].as_str(),
        Some("query" | "saved_query" | "threshold" | "threat_match" | "new_terms")
    ) {
        o.entry("language").or_insert(json!("kuery"));
    }
    match old {
        Some(old) => {
            for k in ["id", "rule_id", "created_at", "created_by"] {
                o.insert(k.into(), old[k].clone());
            }
            o.insert(
                "revision".into(),
                json!(old["revision"].as_u64().unwrap_or(0) + 1),
            );
        }
        None => {
            o.insert("id".into(), json!(clock.uuid()));
            if o.get("rule_id").is_none_or(Value::is_null) {
                o.insert("rule_id".into(), json!(clock.uuid()));
            }
            o.insert("created_at".into(), json!(now));
            o.insert("created_by".into(), json!("elastic"));
            o.insert("revision".into(), json!(0));
        }
    }
    o.insert("updated_at".into(), json!(now));
    o.insert("updated_by".into(), json!("elastic"));
    o.insert("immutable".into(), json!(false));
    rule
}

fn handle(req: &Request, key: &str, st: &Mutex<State>, clock: &Mutex<Clock>) -> Response {
    if req.header("authorization") != Some(&format!("ApiKey {key}")) {
        return boom(
            401,
            "Unauthorized",
            "[security_exception]: unable to authenticate with provided credentials",
        );
    }
    if req.method != "GET" && req.header("kbn-xsrf").is_none() {
        return boom(
            400,
            "Bad Request",
            "Request must contain a kbn-xsrf header.",
        );
    }
    let mut seg = req.segments();
    let space = if seg.first().map(String::as_str) == Some("s") && seg.len() > 1 {
        let s = seg[1].clone();
        seg.drain(..2);
        s
    } else {
        "default".to_string()
    };
    let mut st = st.lock().unwrap();
    if !st.spaces.contains(&space) {
        return boom(404, "Not Found", "Not Found");
    }
    let route: Vec<&str> = seg.iter().map(String::as_str).collect();
    let by_key = |st: &State, q: &dyn Fn(&str) -> Option<String>| -> Option<String> {
        if let Some(r) = q("rule_id") {
            return Some(r);
        }
        let id = q("id")?;
        st.rules
            .iter()
            .find(|((s, _), r)| *s == space && r["id"] == id.as_str())
            .map(|((_, k), _)| k.clone())
    };
    let from_query = |k: &str| req.param(k).map(str::to_string);
    match (req.method.as_str(), route.as_slice()) {
        ("GET", ["api", "detection_engine", "rules", "_find"]) => {
            let num = |k: &str, d: usize| {
                req.param(k)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(d)
                    .max(1)
            };
            let (page, per_page) = (num("page", 1), num("per_page", 20));
            let page = if st.repeat_pages { 1 } else { page };
            let all: Vec<&Value> = st
                .rules
                .iter()
                .filter(|((s, _), _)| *s == space)
                .map(|(_, r)| r)
                .collect();
            let data: Vec<&Value> = all
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .copied()
                .collect();
            Response::json(
                200,
                &json!({"page": page, "perPage": per_page,
                        "total": if st.repeat_pages { 1_000_000 } else { all.len() }, "data": data}),
            )
        }
        (m @ ("GET" | "DELETE"), ["api", "detection_engine", "rules"]) => {
            let Some(id) = by_key(&st, &from_query) else {
                let shown = from_query("rule_id").or(from_query("id"));
                return match shown {
                    Some(x) => err(404, &format!("id: \"{x}\" not found")),
                    None => err(400, "either \"id\" or \"rule_id\" must be set"),
                };
            };
            let k = (space.clone(), id.clone());
            let found = if m == "GET" {
                st.rules.get(&k).cloned()
            } else {
                st.rules.remove(&k)
            };
            match found {
                Some(r) => Response::json(200, &r),
                None => err(404, &format!("rule_id: \"{id}\" not found")),
            }
        }
        (m @ ("POST" | "PUT"), ["api", "detection_engine", "rules"]) => {
            let body = req.json();
            if !body.is_object() {
                return boom(400, "Bad Request", "[request body]: expected an object");
            }
            let missing: Vec<String> = REQUIRED
                .iter()
                .filter(|k| body.get(**k).is_none())
                .map(|k| format!("{k}: Required"))
                .collect();
            if !missing.is_empty() {
                return boom(
                    400,
                    "Bad Request",
                    &format!("[request body]: {}", missing.join(", ")),
                );
            }
            let mut clock = clock.lock().unwrap();
            if m == "POST" {
                if let Some(id) = body["rule_id"].as_str()
                    && st.rules.contains_key(&(space.clone(), id.to_string()))
                {
                    return err(409, &format!("rule_id: \"{id}\" already exists"));
                }
                let r = stamp(body, None, &mut clock);
                let id = r["rule_id"].as_str().unwrap().to_string();
                st.rules.insert((space, id), r.clone());
                return Response::json(200, &r);
            }
            let q = |k: &str| body[k].as_str().map(str::to_string);
            let Some(id) = by_key(&st, &q) else {
                return match q("id") {
                    Some(x) => err(404, &format!("id: \"{x}\" not found")),
                    None => err(400, "either \"id\" or \"rule_id\" must be set"),
                };
            };
            let k = (space, id.clone());
            let Some(old) = st.rules.get(&k) else {
                return err(404, &format!("rule_id: \"{id}\" not found"));
            };
            let r = stamp(body, Some(old), &mut clock);
            st.rules.insert(k, r.clone());
            Response::json(200, &r)
        }
        ("POST", ["api", "lists", "index"]) => Response::json(200, &json!({"acknowledged": true})),
        ("GET", ["api", "lists"]) => {
            let id = from_query("id").unwrap_or_default();
            match st.value_lists.get(&(space, id.clone())) {
                Some((l, _)) => Response::json(200, l),
                None => err(404, &format!("list id: \"{id}\" not found")),
            }
        }
        ("POST", ["api", "lists"]) => {
            let body = req.json();
            if ["name", "description", "type"]
                .iter()
                .any(|k| body[*k].as_str().is_none_or(str::is_empty))
            {
                return boom(
                    400,
                    "Bad Request",
                    "[request body]: name, description, type: Required",
                );
            }
            let id = body["id"]
                .as_str()
                .map_or_else(|| clock.lock().unwrap().uuid(), str::to_string);
            let k = (space, id.clone());
            if st.value_lists.contains_key(&k) {
                return err(409, &format!("list id: \"{id}\" already exists"));
            }
            st.value_lists.insert(k, (body.clone(), vec![]));
            Response::json(200, &body)
        }
        ("POST", ["api", "lists", "items"]) => {
            if st.fail_list_items {
                return boom(
                    500,
                    "Internal Server Error",
                    "An internal server error occurred.",
                );
            }
            let body = req.json();
            let (Some(list_id), Some(value)) = (body["list_id"].as_str(), body["value"].as_str())
            else {
                return boom(
                    400,
                    "Bad Request",
                    "[request body]: list_id, value: Required",
                );
            };
            match st.value_lists.get_mut(&(space, list_id.to_string())) {
                Some((_, values)) => {
                    values.push(value.to_string());
                    Response::json(200, &body)
                }
                None => err(404, &format!("list id: \"{list_id}\" does not exist")),
            }
        }
        ("GET", ["api", "exception_lists"]) => {
            let id = from_query("list_id").unwrap_or_default();
            match st.exception_lists.get(&(space, id.clone())) {
                Some((l, _)) if req.param("namespace_type") == Some("single") => {
                    Response::json(200, l)
                }
                _ => err(
                    404,
                    &format!("exception list list_id: \"{id}\" does not exist"),
                ),
            }
        }
        ("POST", ["api", "exception_lists"]) => {
            let mut body = req.json();
            let Some(list_id) = body["list_id"].as_str().map(str::to_string) else {
                return boom(400, "Bad Request", "[request body]: list_id: Required");
            };
            let k = (space, list_id.clone());
            if st.exception_lists.contains_key(&k) {
                return err(
                    409,
                    &format!("exception list id: \"{list_id}\" already exists"),
                );
            }
            body["id"] = json!(clock.lock().unwrap().uuid());
            st.exception_lists.insert(k, (body.clone(), vec![]));
            Response::json(200, &body)
        }
        ("POST", ["api", "exception_lists", "items"]) => {
            let body = req.json();
            let list_id = body["list_id"].as_str().unwrap_or_default().to_string();
            let Some((_, items)) = st.exception_lists.get_mut(&(space, list_id.clone())) else {
                return err(
                    404,
                    &format!("exception list id: \"{list_id}\" does not exist"),
                );
            };
            if items.iter().any(|i| i["item_id"] == body["item_id"]) {
                return err(409, "exception list item id already exists");
            }
            items.push(body.clone());
            Response::json(200, &body)
        }
        _ => boom(404, "Not Found", "Not Found"),
    }
}
