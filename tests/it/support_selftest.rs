//! Self-test of the SIEM mocks in tests/it/support/ (plain std TcpStream requests).

use crate::support::{Fault, encode, kibana::Kibana, sentinel::Sentinel, splunk::Splunk};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
    fn header(&self, n: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request; `Err` when the server closed without a response or timed out.
fn try_call(
    url: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
    timeout: Duration,
) -> std::io::Result<Resp> {
    let target = target.strip_prefix(url).unwrap_or(target); // accept absolute URLs (nextLink)
    let mut s = TcpStream::connect(url.trim_start_matches("http://"))?;
    s.set_read_timeout(Some(timeout))?;
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or(std::io::ErrorKind::UnexpectedEof)?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().into(), v.trim().into()))
        .collect();
    Ok(Resp {
        status,
        headers,
        body: body.into(),
    })
}

fn call(url: &str, method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    try_call(url, method, target, headers, body, Duration::from_secs(5)).expect("response")
}

// ---------------------------------------------------------------- Splunk

const SS: &str = "/servicesNS/nobody/search/saved/searches";
const BEARER: (&str, &str) = ("Authorization", "Bearer test-token");
const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

#[test]
fn splunk_auth_crud_and_pagination() {
    let sp = Splunk::start();
    let u = sp.url();
    let r = call(
        &u,
        "GET",
        &format!("{SS}?output_mode=json"),
        &[("Authorization", "Bearer nope")],
        "",
    );
    assert_eq!(r.status, 401);
    assert!(r.json()["messages"][0]["text"].is_string());

    // Create: 201, then 409 for the same name, 400 without `search`.
    let r = call(
        &u,
        "POST",
        &format!("{SS}?output_mode=json"),
        &[BEARER, FORM],
        "name=My+Rule%2F1&search=index%3Dmain+x&is_scheduled=1",
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let e = &r.json()["entry"][0];
    assert_eq!(e["name"], "My Rule/1");
    assert_eq!(e["content"]["search"], "index=main x");
    assert_eq!(e["content"]["is_scheduled"], true);
    assert_eq!(e["content"]["disabled"], false); // a server default
    assert_eq!(e["acl"]["app"], "search");
    let r = call(
        &u,
        "POST",
        &format!("{SS}?output_mode=json"),
        &[BEARER, FORM],
        "name=My+Rule%2F1&search=x",
    );
    assert_eq!(r.status, 409);
    assert_eq!(
        call(
            &u,
            "POST",
            &format!("{SS}?output_mode=json"),
            &[BEARER, FORM],
            "name=b"
        )
        .status,
        400
    );
    // Without output_mode=json Splunk answers XML.
    let r = call(&u, "GET", SS, &[BEARER], "");
    assert!(r.header("content-type").unwrap().contains("xml"));

    // Update by URL-encoded name; `name` is refused; unknown -> 404.
    let item = format!("{SS}/{}", encode("My Rule/1"));
    let r = call(
        &u,
        "POST",
        &item,
        &[BEARER, FORM],
        "output_mode=json&search=index%3Dother",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        sp.saved_searches()["My Rule/1"].params["search"],
        "index=other"
    );
    assert_eq!(
        call(
            &u,
            "POST",
            &item,
            &[BEARER, FORM],
            "output_mode=json&name=x"
        )
        .status,
        400
    );
    assert_eq!(
        call(
            &u,
            "POST",
            &format!("{SS}/nope?output_mode=json"),
            &[BEARER, FORM],
            "search=x"
        )
        .status,
        404
    );

    // Pagination: count/offset, default 30, count=0 = all.
    for i in 0..34 {
        sp.seed_saved_search(&format!("seed {i:02}"), &[("search", "index=x")]);
    }
    let page = |q: &str| {
        call(
            &u,
            "GET",
            &format!("{SS}?output_mode=json{q}"),
            &[BEARER],
            "",
        )
        .json()
    };
    let p = page("");
    assert_eq!(p["entry"].as_array().unwrap().len(), 30);
    assert_eq!(p["paging"]["total"], 35);
    let p = page("&count=10&offset=30");
    assert_eq!(p["entry"].as_array().unwrap().len(), 5);
    assert_eq!(p["paging"]["offset"], 30);
    assert_eq!(page("&count=0")["entry"].as_array().unwrap().len(), 35);
    assert_eq!(
        page("&count=0&search=Rule")["entry"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Delete: 200, then 404.
    assert_eq!(
        call(
            &u,
            "DELETE",
            &format!("{item}?output_mode=json"),
            &[BEARER],
            ""
        )
        .status,
        200
    );
    assert_eq!(
        call(
            &u,
            "DELETE",
            &format!("{item}?output_mode=json"),
            &[BEARER],
            ""
        )
        .status,
        404
    );
    assert!(!sp.saved_searches().contains_key("My Rule/1"));

    // The log holds decoded query and form.
    let posts = sp.requests_to("POST", SS);
    assert_eq!(
        posts[0].form()[0],
        ("name".to_string(), "My Rule/1".to_string())
    );
    assert_eq!(posts[0].param("output_mode"), Some("json"));
    assert_eq!(posts[0].header("AUTHORIZATION"), Some("Bearer test-token"));
}

#[test]
fn splunk_macros() {
    let sp = Splunk::start();
    let u = sp.url();
    let m = "/servicesNS/nobody/search/configs/conf-macros";
    let r = call(
        &u,
        "POST",
        m,
        &[BEARER, FORM],
        "output_mode=json&name=win_proc(1)&definition=index%3Dwin+%24x%24&args=x",
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        call(
            &u,
            "POST",
            m,
            &[BEARER, FORM],
            "output_mode=json&name=win_proc(1)"
        )
        .status,
        409
    );
    let item = format!("{m}/{}?output_mode=json", encode("win_proc(1)"));
    assert_eq!(
        call(
            &u,
            "POST",
            &item,
            &[BEARER, FORM],
            "definition=index%3Dother"
        )
        .status,
        200
    );
    assert_eq!(
        sp.macros()["win_proc(1)"].params["definition"],
        "index=other"
    );
    let list = call(&u, "GET", &format!("{m}?output_mode=json"), &[BEARER], "").json();
    assert_eq!(list["entry"][0]["content"]["args"], "x");
    assert_eq!(call(&u, "DELETE", &item, &[BEARER], "").status, 200);
    assert!(sp.macros().is_empty());
}

// ---------------------------------------------------------------- faults

#[test]
fn faults_status_retry_after_delay_drop() {
    let sp = Splunk::start();
    let u = sp.url();
    let list = format!("{SS}?output_mode=json");

    sp.fail_next(Fault::throttled(7));
    sp.fail_next(Fault::Status {
        code: 503,
        retry_after: None,
        body: r#"{"messages":[]}"#.into(),
    });
    let r = call(&u, "GET", &list, &[BEARER], "");
    assert_eq!((r.status, r.header("retry-after")), (429, Some("7")));
    let r = call(&u, "GET", &list, &[BEARER], "");
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["messages"], json!([]));
    assert_eq!(call(&u, "GET", &list, &[BEARER], "").status, 200);

    // Drop: connection closed with no response.
    sp.fail_next(Fault::Drop);
    assert!(try_call(&u, "GET", &list, &[BEARER], "", Duration::from_secs(5)).is_err());

    // Delay: a short client timeout fails, the handler still runs afterwards.
    sp.fail_next(Fault::Delay(Duration::from_millis(600)));
    let t = Instant::now();
    assert!(try_call(&u, "GET", &list, &[BEARER], "", Duration::from_millis(150)).is_err());
    assert!(t.elapsed() < Duration::from_millis(500));
    sp.fail_next(Fault::Delay(Duration::from_millis(200)));
    let t = Instant::now();
    assert_eq!(call(&u, "GET", &list, &[BEARER], "").status, 200);
    assert!(t.elapsed() >= Duration::from_millis(200));

    // fail_when: only the matching request fails, once.
    sp.fail_when(|r| r.method == "POST", Fault::status(500));
    assert_eq!(call(&u, "GET", &list, &[BEARER], "").status, 200);
    assert_eq!(
        call(&u, "POST", &list, &[BEARER, FORM], "name=a&search=b").status,
        500
    );
    assert_eq!(
        call(&u, "POST", &list, &[BEARER, FORM], "name=a&search=b").status,
        201
    );
    assert_eq!(sp.pending_faults(), 0);
    // Every request is logged, faulted ones included.
    assert_eq!(sp.requests().len(), 9);
}

// ---------------------------------------------------------------- Sentinel

fn token(s: &Sentinel) -> String {
    let body = "grant_type=client_credentials&client_id=client-1&client_secret=secret-1&scope=https%3A%2F%2Fmanagement.azure.com%2F.default";
    let r = call(&s.url(), "POST", &s.token_url(), &[FORM], body);
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(
        (j["token_type"].as_str(), j["expires_in"].as_u64()),
        (Some("Bearer"), Some(3599))
    );
    j["access_token"].as_str().unwrap().to_string()
}

fn scheduled(name: &str) -> Value {
    json!({"kind": "Scheduled", "properties": {
        "displayName": name, "enabled": true, "query": "SecurityEvent | take 1", "severity": "Medium",
        "queryFrequency": "PT5M", "queryPeriod": "PT5M", "triggerOperator": "GreaterThan", "triggerThreshold": 0,
        "suppressionDuration": "PT1H", "suppressionEnabled": false}})
}

#[test]
fn sentinel_token_auth_api_version_crud_and_nextlink() {
    let s = Sentinel::start();
    let u = s.url();
    let bad = "grant_type=client_credentials&client_id=client-1&client_secret=wrong&scope=https%3A%2F%2Fmanagement.azure.com%2F.default";
    let r = call(&u, "POST", &s.token_url(), &[FORM], bad);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (401, Some("invalid_client"))
    );

    let t = token(&s);
    let auth = format!("Bearer {t}");
    let h = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let base = s.rules_path();
    let v = "api-version=2024-09-01";

    let r = call(&u, "GET", &format!("{base}?{v}"), &[], "");
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (401, Some("AuthenticationFailed"))
    );
    let r = call(&u, "GET", &base, &h, "");
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (400, Some("MissingApiVersionParameter"))
    );
    let r = call(&u, "GET", &format!("{base}?api-version=2020-01-01"), &h, "");
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (400, Some("InvalidApiVersionParameter"))
    );

    // PUT: 201 create, 200 update, 400 missing query.
    let r = call(
        &u,
        "PUT",
        &format!("{base}/rule-a?{v}"),
        &h,
        &scheduled("A").to_string(),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let a = r.json();
    assert_eq!(a["name"], "rule-a");
    assert_eq!(a["id"], format!("{base}/rule-a"));
    assert_eq!(a["type"], "Microsoft.SecurityInsights/alertRules");
    assert!(a["etag"].as_str().unwrap().starts_with('"'));
    assert!(a["properties"]["lastModifiedUtc"].is_string());
    let mut upd = scheduled("A2");
    upd["etag"] = a["etag"].clone();
    assert_eq!(
        call(
            &u,
            "PUT",
            &format!("{base}/rule-a?{v}"),
            &h,
            &upd.to_string()
        )
        .status,
        200
    );
    assert_eq!(s.rules()["rule-a"]["properties"]["displayName"], "A2");
    upd["etag"] = a["etag"].clone(); // now stale
    assert_eq!(
        call(
            &u,
            "PUT",
            &format!("{base}/rule-a?{v}"),
            &h,
            &upd.to_string()
        )
        .status,
        409
    );
    let mut no_query = scheduled("B");
    no_query["properties"]
        .as_object_mut()
        .unwrap()
        .remove("query");
    assert_eq!(
        call(
            &u,
            "PUT",
            &format!("{base}/rule-b?{v}"),
            &h,
            &no_query.to_string()
        )
        .status,
        400
    );

    // List follows nextLink (absolute, already carrying api-version) over 2-rule pages.
    for id in ["r1", "r2", "r3", "r4"] {
        s.seed_rule(id, "Scheduled", scheduled(id)["properties"].clone());
    }
    let (mut names, mut next, mut pages) = (vec![], Some(format!("{base}?{v}")), 0);
    while let Some(link) = next {
        let p = call(&u, "GET", &link, &h, "").json();
        names.extend(
            p["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap().to_string()),
        );
        next = p["nextLink"].as_str().map(str::to_string);
        if let Some(n) = &next {
            assert!(
                n.starts_with(&u) && n.contains("api-version=") && n.contains("%24skipToken="),
                "{n}"
            );
        }
        pages += 1;
    }
    assert_eq!(
        (pages, names.join(",")),
        (3, "r1,r2,r3,r4,rule-a".to_string())
    );
    // Appending api-version again to a nextLink is an error.
    assert_eq!(
        call(&u, "GET", &format!("{base}?{v}&%24skipToken=2&{v}"), &h, "").status,
        400
    );

    // DELETE: 200, then 204.
    assert_eq!(
        call(&u, "DELETE", &format!("{base}/rule-a?{v}"), &h, "").status,
        200
    );
    assert_eq!(
        call(&u, "DELETE", &format!("{base}/rule-a?{v}"), &h, "").status,
        204
    );
    assert!(!s.rules().contains_key("rule-a"));

    // Revoked token -> 401 until a new one is fetched.
    s.revoke_tokens();
    assert_eq!(call(&u, "GET", &format!("{base}?{v}"), &h, "").status, 401);
    let t2 = token(&s);
    assert_eq!(
        call(
            &u,
            "GET",
            &format!("{base}?{v}"),
            &[("Authorization", &format!("Bearer {t2}"))],
            ""
        )
        .status,
        200
    );
}

// ---------------------------------------------------------------- Kibana

fn rule(id: &str) -> Value {
    json!({"rule_id": id, "name": id, "type": "query", "description": "d", "risk_score": 21,
           "severity": "low", "query": "process.name:x", "tags": ["detc"]})
}

#[test]
fn kibana_auth_xsrf_crud_find_and_spaces() {
    let k = Kibana::start();
    k.add_space("sec");
    let u = k.url();
    let key = ("Authorization", "ApiKey test-key");
    let x = ("kbn-xsrf", "true");
    let ct = ("Content-Type", "application/json");
    let rules = "/s/sec/api/detection_engine/rules";

    assert_eq!(
        call(
            &u,
            "GET",
            &format!("{rules}/_find"),
            &[("Authorization", "ApiKey no")],
            ""
        )
        .status,
        401
    );
    let r = call(&u, "POST", rules, &[key, ct], &rule("a").to_string());
    assert_eq!(r.status, 400);
    assert!(r.body.contains("kbn-xsrf"));

    let r = call(&u, "POST", rules, &[key, x, ct], &rule("a").to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    let a = r.json();
    assert!(a["id"].is_string() && a["created_at"].is_string() && a["updated_at"].is_string());
    assert_eq!(
        (a["revision"].as_u64(), a["enabled"].as_bool()),
        (Some(0), Some(true))
    );
    let r = call(&u, "POST", rules, &[key, x, ct], &rule("a").to_string());
    assert_eq!(r.status, 409);
    assert_eq!(
        r.json(),
        json!({"message": "rule_id: \"a\" already exists", "status_code": 409})
    );
    let mut bad = rule("b");
    bad.as_object_mut().unwrap().remove("risk_score");
    assert_eq!(
        call(&u, "POST", rules, &[key, x, ct], &bad.to_string()).status,
        400
    );

    // PUT replaces; unknown rule_id -> 404.
    let mut upd = rule("a");
    upd["name"] = json!("A2");
    upd.as_object_mut().unwrap().remove("tags");
    let r = call(&u, "PUT", rules, &[key, x, ct], &upd.to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    let a2 = r.json();
    assert_eq!(
        (
            a2["id"].clone(),
            a2["revision"].as_u64(),
            a2["tags"].clone()
        ),
        (a["id"].clone(), Some(1), json!([]))
    );
    assert_eq!(
        call(&u, "PUT", rules, &[key, x, ct], &rule("zz").to_string()).status,
        404
    );

    // GET / DELETE by rule_id.
    assert_eq!(
        call(&u, "GET", &format!("{rules}?rule_id=a"), &[key], "").json()["name"],
        "A2"
    );
    assert_eq!(
        call(&u, "GET", &format!("{rules}?rule_id=zz"), &[key], "").status,
        404
    );

    // _find pages; the default space is separate and unprefixed; unknown space -> 404.
    for i in 0..4 {
        k.seed_rule("sec", rule(&format!("s{i}")));
    }
    let p = call(
        &u,
        "GET",
        &format!("{rules}/_find?page=2&per_page=2"),
        &[key],
        "",
    )
    .json();
    assert_eq!(
        (
            p["page"].as_u64(),
            p["perPage"].as_u64(),
            p["total"].as_u64()
        ),
        (Some(2), Some(2), Some(5))
    );
    assert_eq!(p["data"][0]["rule_id"], "s1");
    let p = call(&u, "GET", "/api/detection_engine/rules/_find", &[key], "").json();
    assert_eq!(
        (p["total"].as_u64(), p["perPage"].as_u64()),
        (Some(0), Some(20))
    );
    assert_eq!(
        call(
            &u,
            "GET",
            "/s/nope/api/detection_engine/rules/_find",
            &[key],
            ""
        )
        .status,
        404
    );
    assert_eq!(k.space_url("sec"), format!("{u}/s/sec"));

    let r = call(&u, "DELETE", &format!("{rules}?rule_id=a"), &[key, x], "");
    assert_eq!((r.status, r.json()["rule_id"].as_str()), (200, Some("a")));
    assert_eq!(
        call(&u, "DELETE", &format!("{rules}?rule_id=a"), &[key, x], "").status,
        404
    );
    assert_eq!(k.rules("sec").len(), 4);
    assert!(k.rules("default").is_empty());
}
