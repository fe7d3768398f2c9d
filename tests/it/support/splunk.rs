//! Splunk management-port REST mock (Splunk REST API Reference: `saved/searches`,
//! `configs/conf-{file}`), JSON output only.
//!
//! Endpoints, under `/servicesNS/{owner}/{app}/` (owner/app `-` is a wildcard on GET):
//! - `GET    saved/searches` | `configs/conf-macros`: list, paginated by `count` (default
//!   30, `0` = all) and `offset`; optional `search` substring filter.
//! - `POST   saved/searches` | `configs/conf-macros`: create from a form (`name`, plus
//!   `search` for saved searches) -> 201; 409 if it exists; 400 if required args missing.
//! - `POST   .../{name}`: update the posted params -> 200; `name` is rejected (400); 404.
//! - `DELETE .../{name}` -> 200; 404 if missing.
//! - `configs/conf-transforms` as `configs/conf-macros` (lookup definitions).
//! - `GET data/lookup-table-files`: the lookup files, listed as above.
//! - `POST search/jobs` with `exec_mode=oneshot`: runs the one search detc sends, `| makeresults
//!   | eval value=mvappend(<literals>) | mvexpand value | eval comment="detc default" | table
//!   value, comment | outputlookup append=true <file>.csv`, reading each SPL string literal (and
//!   `.urldecode("%60").` joins) into the file's rows; any other search answers 400 with a
//!   FATAL message, as Splunk does for a search it cannot parse.
//!
//! `output_mode=json` (query or form) is required to get JSON: without it Splunk answers
//! Atom XML, and so does this mock. Auth: `Authorization: Bearer <token>` (Splunk
//! authentication tokens); also `Splunk <token>` is accepted, as Splunk does.
//! Listed `content` carries server defaults the client never sent (`disabled`,
//! `is_scheduled`, ...) and booleans come back as JSON booleans, so a client diff must
//! compare only the keys it manages and normalise `1`/`true`.
use super::{Clock, Mock, Request, Response, encode};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

/// One stored object: the (string) params as posted, and its namespace.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub owner: String,
    pub app: String,
    pub params: BTreeMap<String, String>,
    /// Shared globally by its app: listed in every app's namespace (as Enterprise Security's
    /// apps share their searches and macros).
    pub global: bool,
}

#[derive(Default)]
struct State {
    searches: BTreeMap<String, Entry>,
    macros: BTreeMap<String, Entry>,
    transforms: BTreeMap<String, Entry>,
    /// Lookup files by name: their app and rows (`value`s).
    lookups: BTreeMap<String, (String, Vec<String>)>,
    /// Answer every oneshot search with this message (a search that fails to write).
    search_error: Option<String>,
    updated: BTreeMap<(u8, String), String>,
}

pub struct Splunk {
    mock: Mock,
    state: Arc<Mutex<State>>,
    pub token: String,
}

impl Deref for Splunk {
    type Target = Mock;
    fn deref(&self) -> &Mock {
        &self.mock
    }
}

/// Params whose JSON form is a boolean (Splunk returns `true`/`false` for them).
const BOOLS: &[&str] = &[
    "disabled",
    "is_scheduled",
    "is_visible",
    "alert.track",
    "alert.suppress",
    "alert.digest_mode",
    "realtime_schedule",
    "iseval",
];
/// Defaults every saved search shows in `content` though the client did not send them.
const SEARCH_DEFAULTS: &[(&str, &str)] = &[
    ("description", ""),
    ("disabled", "0"),
    ("is_scheduled", "0"),
    ("cron_schedule", ""),
    ("dispatch.earliest_time", ""),
    ("dispatch.latest_time", ""),
    ("alert.track", "0"),
    ("alert_type", "always"),
    ("actions", ""),
];
const MACRO_DEFAULTS: &[(&str, &str)] = &[
    ("disabled", "0"),
    ("iseval", "0"),
    ("args", ""),
    ("description", ""),
];

impl Splunk {
    /// A Splunk accepting `Authorization: Bearer test-token`.
    pub fn start() -> Splunk {
        Splunk::with_token("test-token")
    }
    pub fn with_token(token: &str) -> Splunk {
        let state = Arc::new(Mutex::new(State::default()));
        let (st, tok) = (state.clone(), token.to_string());
        let mock = Mock::serve(move |base| {
            let base = base.to_string();
            let clock = Mutex::new(Clock::new());
            Box::new(move |req: &Request| handle(req, &base, &tok, &st, &clock))
        });
        Splunk {
            mock,
            state,
            token: token.to_string(),
        }
    }
    /// Saved searches by name (params as stored, strings).
    pub fn saved_searches(&self) -> BTreeMap<String, Entry> {
        self.state.lock().unwrap().searches.clone()
    }
    pub fn macros(&self) -> BTreeMap<String, Entry> {
        self.state.lock().unwrap().macros.clone()
    }
    /// Lookup definitions (transforms.conf stanzas) by name.
    pub fn transforms(&self) -> BTreeMap<String, Entry> {
        self.state.lock().unwrap().transforms.clone()
    }
    /// Lookup files by name: their rows' values.
    pub fn lookup_files(&self) -> BTreeMap<String, Vec<String>> {
        let st = self.state.lock().unwrap();
        st.lookups
            .iter()
            .map(|(k, (_, rows))| (k.clone(), rows.clone()))
            .collect()
    }
    /// Pre-seed a lookup file in `app`, as a team that tuned it left it.
    pub fn seed_lookup_file(&self, name: &str, app: &str, rows: &[&str]) {
        let rows = rows.iter().map(|r| r.to_string()).collect();
        let mut st = self.state.lock().unwrap();
        st.lookups.insert(name.into(), (app.into(), rows));
    }
    /// Make every oneshot search answer 200 with this ERROR message and write nothing.
    pub fn fail_searches(&self, message: &str) {
        self.state.lock().unwrap().search_error = Some(message.into());
    }
    /// Pre-seed a saved search in `nobody/search` (defaults filled like a create).
    pub fn seed_saved_search(&self, name: &str, params: &[(&str, &str)]) {
        self.seed(false, name, "nobody", "search", params)
    }
    pub fn seed_macro(&self, name: &str, params: &[(&str, &str)]) {
        self.seed(true, name, "nobody", "search", params)
    }
    pub fn seed(
        &self,
        is_macro: bool,
        name: &str,
        owner: &str,
        app: &str,
        params: &[(&str, &str)],
    ) {
        self.seed_entry(is_macro, name, owner, app, params, false)
    }
    /// Pre-seed an object that another app shares globally (listed in detc's namespace too).
    pub fn seed_global(&self, is_macro: bool, name: &str, app: &str) {
        self.seed_entry(
            is_macro,
            name,
            "nobody",
            app,
            &[("search", "index=x")],
            true,
        )
    }
    fn seed_entry(
        &self,
        is_macro: bool,
        name: &str,
        owner: &str,
        app: &str,
        params: &[(&str, &str)],
        global: bool,
    ) {
        let p = with_defaults(
            is_macro,
            params.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let entry = Entry {
            owner: owner.into(),
            app: app.into(),
            params: p,
            global,
        };
        let mut st = self.state.lock().unwrap();
        let map = if is_macro {
            &mut st.macros
        } else {
            &mut st.searches
        };
        map.insert(name.into(), entry);
    }
}

/// `GET data/lookup-table-files`: every lookup file, each with its app (one page).
fn lookup_files(req: &Request, base: &str, app: &str, st: &Mutex<State>) -> Response {
    if req.param("output_mode") != Some("json") {
        return msg(400, "ERROR", "this mock answers JSON only");
    }
    let st = st.lock().unwrap();
    let entry: Vec<Value> = st
        .lookups
        .iter()
        .map(|(n, (a, _))| {
            json!({"name": n, "id": format!("{base}/servicesNS/nobody/{a}/data/lookup-table-files/{}", encode(n)),
                "acl": {"app": a, "owner": "nobody", "sharing": "app"},
                "content": {"eai:data": format!("/opt/splunk/etc/apps/{a}/lookups/{n}")}})
        })
        .collect();
    let total = entry.len();
    Response::json(
        200,
        &json!({"origin": format!("{base}/servicesNS/nobody/{app}/data/lookup-table-files"),
            "entry": entry, "paging": {"total": total, "perPage": 30, "offset": 0}}),
    )
}

/// `POST search/jobs` (oneshot): the search that writes a lookup file, and nothing else.
fn oneshot(req: &Request, app: &str, st: &Mutex<State>) -> Response {
    let form = req.form();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("exec_mode") != Some("oneshot") || get("output_mode") != Some("json") {
        return msg(400, "ERROR", "this mock runs oneshot JSON searches only");
    }
    let mut st = st.lock().unwrap();
    if let Some(e) = &st.search_error {
        return Response::json(
            200,
            &json!({"messages": [{"type": "ERROR", "text": e}], "results": []}),
        );
    }
    let search = get("search").unwrap_or_default();
    let parsed = search
        .strip_prefix("| makeresults | eval value=mvappend(")
        .and_then(|rest| rest.split_once(") | mvexpand value | eval comment=\"detc default\" | table value, comment | outputlookup append=true "))
        .and_then(|(args, file)| Some((spl_literals(args)?, file)))
        .filter(|(_, file)| file.ends_with(".csv") && !file.contains([' ', '|']));
    let Some((values, file)) = parsed else {
        return msg(
            400,
            "FATAL",
            &format!("Error in search: cannot run `{search}`"),
        );
    };
    let entry = st
        .lookups
        .entry(file.to_string())
        .or_insert((app.to_string(), Vec::new()));
    entry.1.extend(values);
    Response::json(200, &json!({"messages": [], "results": []}))
}

/// `"a", "b\"c".urldecode("%60")."d"`: the strings, each its escapes undone and its joined
/// backticks put back; None for anything else.
fn spl_literals(args: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = args.chars().peekable();
    loop {
        let mut value = String::new();
        loop {
            if chars.next()? != '"' {
                return None;
            }
            loop {
                match chars.next()? {
                    '\\' => value.push(chars.next()?),
                    '"' => break,
                    c => value.push(c),
                }
            }
            let rest: String = chars.clone().collect();
            match rest.strip_prefix(".urldecode(\"%60\").") {
                Some(_) => {
                    value.push('`');
                    chars.nth(".urldecode(\"%60\").".len() - 1);
                }
                None => break,
            }
        }
        out.push(value);
        match chars.next() {
            None => return Some(out),
            Some(',') if chars.next() == Some(' ') => {}
            _ => return None,
        }
    }
}

fn msg(status: u16, kind: &str, text: &str) -> Response {
    Response::json(status, &json!({"messages": [{"type": kind, "text": text}]}))
}

fn handle(
    req: &Request,
    base: &str,
    token: &str,
    st: &Mutex<State>,
    clock: &Mutex<Clock>,
) -> Response {
    let auth = req.header("authorization").unwrap_or("");
    let ok = [format!("Bearer {token}"), format!("Splunk {token}")]
        .iter()
        .any(|a| a == auth);
    if !ok {
        return msg(401, "WARN", "call not properly authenticated");
    }
    // /servicesNS/{owner}/{app}/saved/searches[/{name}] or .../configs/conf-macros[/{name}]
    let seg = req.segments();
    if seg.len() < 5 || seg[0] != "servicesNS" {
        return msg(404, "ERROR", "Not Found");
    }
    let (owner, app) = (seg[1].clone(), seg[2].clone());
    match (
        seg[3].as_str(),
        seg[4].as_str(),
        req.method.as_str(),
        seg.len(),
    ) {
        ("search", "jobs", "POST", 5) => return oneshot(req, &app, st),
        ("data", "lookup-table-files", "GET", 5) => return lookup_files(req, base, &app, st),
        _ => {}
    }
    let (is_macro, kind) = match (seg[3].as_str(), seg[4].as_str()) {
        ("saved", "searches") => (false, 0),
        ("configs", "conf-macros") => (true, 1),
        ("configs", "conf-transforms") => (true, 2),
        _ => return msg(404, "ERROR", "Not Found"),
    };
    let name = match seg.len() {
        5 => None,
        6 => Some(seg[5].clone()),
        _ => return msg(404, "ERROR", "Not Found"),
    };
    let form = req.form();
    let json_out = req.param("output_mode") == Some("json")
        || form.iter().any(|(k, v)| k == "output_mode" && v == "json");
    let coll = format!("{}/{}", seg[3], seg[4]);
    let mut st = st.lock().unwrap();
    let st = &mut *st;
    let map = match kind {
        0 => &mut st.searches,
        1 => &mut st.macros,
        _ => &mut st.transforms,
    };
    let updated = &mut st.updated;
    let entry_json = |n: &str, e: &Entry, updated: &BTreeMap<(u8, String), String>| {
        let content: Map<String, Value> = e
            .params
            .iter()
            .map(|(k, v)| {
                let val = if BOOLS.contains(&k.as_str()) {
                    json!(matches!(v.as_str(), "1" | "true" | "True"))
                } else {
                    json!(v)
                };
                (k.clone(), val)
            })
            .collect();
        json!({
            "name": n,
            "id": format!("{base}/servicesNS/{}/{}/{coll}/{}", e.owner, e.app, encode(n)),
            "updated": updated.get(&(kind, n.to_string())).cloned().unwrap_or_default(),
            "author": e.owner,
            "acl": {"app": e.app, "owner": e.owner, "sharing": if e.global { "global" } else { "app" }, "can_write": true, "modifiable": true},
            "content": content,
        })
    };
    let response = match (req.method.as_str(), name) {
        ("GET", None) => {
            let num = |k: &str, d: usize| req.param(k).and_then(|v| v.parse().ok()).unwrap_or(d);
            let (count, offset) = (num("count", 30), num("offset", 0));
            let filter = req.param("search").unwrap_or("");
            let all: Vec<(&String, &Entry)> = map
                .iter()
                .filter(|(_, e)| {
                    (app == "-" || e.app == app || e.global)
                        && (owner == "-" || e.owner == owner || e.owner == "nobody")
                })
                .filter(|(n, e)| {
                    filter.is_empty()
                        || n.contains(filter)
                        || e.params.values().any(|v| v.contains(filter))
                })
                .collect();
            let total = all.len();
            let take = if count == 0 { usize::MAX } else { count };
            let entry: Vec<Value> = all
                .into_iter()
                .skip(offset)
                .take(take)
                .map(|(n, e)| entry_json(n, e, updated))
                .collect();
            Response::json(
                200,
                &json!({
                    "origin": format!("{base}/servicesNS/{owner}/{app}/{coll}"),
                    "entry": entry,
                    "paging": {"total": total, "perPage": count, "offset": offset},
                    "messages": [],
                }),
            )
        }
        ("GET", Some(n)) => match map.get(&n) {
            Some(e) => Response::json(
                200,
                &json!({"entry": [entry_json(&n, e, updated)], "paging": {"total": 1, "perPage": 30, "offset": 0}}),
            ),
            None => msg(404, "ERROR", &format!("Could not find object id={n}")),
        },
        ("POST", None) => {
            let params: BTreeMap<String, String> = form
                .into_iter()
                .filter(|(k, _)| k != "output_mode")
                .collect();
            let Some(n) = params.get("name").cloned().filter(|n| !n.is_empty()) else {
                return msg(400, "ERROR", "Argument \"name\" is required");
            };
            if !is_macro && params.get("search").is_none_or(|s| s.is_empty()) {
                return msg(400, "ERROR", "Cannot create search with no search string.");
            }
            if map.contains_key(&n) {
                return msg(
                    409,
                    "ERROR",
                    &format!("An object with name={n} already exists"),
                );
            }
            let p = with_defaults(is_macro, params.into_iter().filter(|(k, _)| k != "name"));
            let e = Entry {
                owner: if owner == "-" { "nobody".into() } else { owner },
                app,
                params: p,
                global: false,
            };
            updated.insert((kind, n.clone()), clock.lock().unwrap().now());
            map.insert(n.clone(), e.clone());
            Response::json(
                201,
                &json!({"entry": [entry_json(&n, &e, updated)], "messages": []}),
            )
        }
        ("POST", Some(n)) => {
            let params: Vec<(String, String)> = form
                .into_iter()
                .filter(|(k, _)| k != "output_mode")
                .collect();
            // The update endpoint has no `name` argument: renaming is not possible.
            if params.iter().any(|(k, _)| k == "name") {
                return msg(
                    400,
                    "ERROR",
                    "Argument \"name\" is not supported by this handler.",
                );
            }
            let Some(e) = map.get_mut(&n) else {
                return msg(404, "ERROR", &format!("Could not find object id={n}"));
            };
            e.params.extend(params);
            let e = e.clone();
            updated.insert((kind, n.clone()), clock.lock().unwrap().now());
            Response::json(
                200,
                &json!({"entry": [entry_json(&n, &e, updated)], "messages": []}),
            )
        }
        ("DELETE", Some(n)) => match map.remove(&n) {
            Some(_) => {
                updated.remove(&(kind, n));
                Response::json(200, &json!({"entry": [], "messages": []}))
            }
            None => msg(404, "ERROR", &format!("Could not find object id={n}")),
        },
        _ => msg(405, "ERROR", "Method Not Allowed"),
    };
    if json_out || response.status >= 300 {
        return response;
    }
    // Splunk's default output is Atom XML; the change is made either way.
    let mut r = Response::empty(response.status);
    r.body =
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"/>"
            .to_vec();
    r.with_header("Content-Type", "text/xml; charset=UTF-8")
}

/// An object's parameters over Splunk's defaults for its kind, as a create stores them.
fn with_defaults(
    is_macro: bool,
    params: impl IntoIterator<Item = (String, String)>,
) -> BTreeMap<String, String> {
    let defaults = if is_macro {
        MACRO_DEFAULTS
    } else {
        SEARCH_DEFAULTS
    };
    let mut p: BTreeMap<String, String> = defaults
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    p.extend(params);
    p
}
