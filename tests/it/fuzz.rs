//! A mutation fuzzer over every text detc reads: `.det` rule files, Sigma YAML, mapping and
//! schema YAML, NDJSON events, and the SIEMs' HTTP responses. Seeds are the repository's own
//! files (the library, the test fixtures, the shipped mappings) and `tests/fuzz_seeds/`; each
//! input is a seed mutated by a seeded generator (byte flips, inserted metacharacters,
//! deleted, repeated and spliced runs), so every run is reproducible from its seed. The SIEM
//! responses are those of the local SIEMs in tests/it/support, passed through a mutator.
//!
//! Each input must come back as a result or as diagnostics, never a panic, and every
//! diagnostic must point into its input (a line and column). A watchdog aborts the run when
//! one input takes longer than `DETC_FUZZ_STALL` seconds (default 20), writing it to
//! `target/fuzz-stalled.bin`; a panicking input is written to `target/fuzz-panic.bin`.
//!
//! CI runs 1,500 inputs per surface and 12 `deploy`/`diff` runs per SIEM. The long run
//! (docs/CONFORMANCE.md, "Fuzzing"):
//!
//!     DETC_FUZZ_INPUTS=25000 DETC_FUZZ_HTTP_RUNS=1000 DETC_FUZZ_SEED=1 \
//!         cargo test --release --test it fuzz:: -- --nocapture

use crate::common;
use crate::support::kibana::Kibana;
use crate::support::repo::{Repo, sentinel_repo};
use crate::support::sentinel::{Sentinel, SentinelConfig};
use crate::support::splunk::Splunk;
use crate::support::{Mock, Request, Response, Wire};
use detc::hunt::{Events, Hunter, Options as HuntOptions};
use detc::project;
use detc::schema::{self, Mapping, Schema};
use detc::targets::TargetName;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// xorshift64*: small, fast, and the same sequence for the same seed everywhere.
struct Rng(u64);

impl Rng {
    /// A different sequence for every seed below 2^63 (the state must be odd, so not 0).
    fn new(seed: u64) -> Rng {
        Rng(seed << 1 | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Tokens that change the shape of what the readers parse.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"'",
    b"\\",
    b"(",
    b")",
    b"[",
    b"]",
    b"{",
    b"}",
    b"\n",
    b"\r\n",
    b"\t",
    b":",
    b": ",
    b"- ",
    b"#",
    b"*",
    b"?",
    b"|",
    b"&",
    b"!",
    b"%",
    b"=",
    b"==",
    b" or ",
    b" and ",
    b" not ",
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xe2\x80\xae",
    b"\xef\xbb\xbf",
    b"99999999999999999999",
    b"-1",
    b"0x",
    b"1e999",
    b"null",
    b"~",
    b"&a",
    b"*a",
    b"!!str",
    b"---\n",
    b"...",
    b"<<: ",
    b"window 0s",
    b"within 1d",
    b"group by",
    b"having count() >= ",
    b"cidr(\"",
    b"/33\")",
    b"\\u{110000}",
    b"\\u{",
    b"(?i)",
    b"[^",
    b"{999999}",
    b"\"@timestamp\": ",
    b"{\"a\":",
];

fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(v.len() + 1);
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 | 2 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(at..at, t.iter().copied());
            }
            3 if !v.is_empty() => {
                let end = (at + 1 + rng.below(64)).min(v.len());
                v.drain(at.min(end)..end);
            }
            4 if !v.is_empty() => {
                let start = rng.below(v.len());
                let end = (start + 1 + rng.below(64)).min(v.len());
                let run: Vec<u8> = v[start..end].to_vec();
                for _ in 0..1 + rng.below(4) {
                    v.splice(at..at, run.iter().copied());
                }
            }
            5 if !other.is_empty() => {
                let start = rng.below(other.len());
                let end = (start + 1 + rng.below(256)).min(other.len());
                v.splice(at..at, other[start..end].iter().copied());
            }
            _ => v.insert(at, rng.next() as u8),
        }
    }
    v
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` whose name ends with one of `ends`, sorted.
fn files(dir: &Path, ends: &[&str]) -> Vec<Vec<u8>> {
    fn walk(dir: &Path, ends: &[&str], out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, ends, out);
            } else if ends.iter().any(|e| path.to_string_lossy().ends_with(e)) {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(dir, ends, &mut paths);
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).expect("seed"))
        .collect()
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Every diagnostic points into the input: its span lies inside the text.
fn located(surface: &str, input: &[u8], diags: &[detc::base::diag::Diagnostic]) {
    for d in diags {
        assert!(
            d.span.start <= d.span.end && d.span.end <= input.len(),
            "{surface}: diagnostic {} `{}` has span {:?} outside the {}-byte input",
            d.code,
            d.message,
            d.span,
            input.len()
        );
    }
}

fn check_det(config: &project::Config, input: &[u8]) {
    let text = match std::str::from_utf8(input) {
        Ok(t) => t,
        Err(_) => {
            let diags = detc::syntax::parse_bytes("f.det", input)
                .err()
                .unwrap_or_default();
            assert!(!diags.is_empty(), "invalid UTF-8 accepted");
            return located("det", input, &diags);
        }
    };
    let p = project::check_text("f.det", text, config);
    located("det", input, &p.diagnostics);
    if p.diagnostics.is_empty() {
        for rule in &p.rules {
            for t in TargetName::ALL {
                let _ = t.target().compile(rule, &config.mappings[&t]);
            }
        }
    }
}

fn check_sigma(options: &detc::sigma::Options, input: &[u8]) {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    for result in detc::sigma::convert_file("f.yml", text, options) {
        if let Err(e) = result {
            let at = e.offset(text);
            assert!(
                text.is_char_boundary(at),
                "refusal offset {at} outside the input or inside a character: {e}"
            );
        }
    }
}

fn check_yaml(input: &[u8]) {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    for result in [
        schema::from_yaml::<Mapping>("m.yaml", text).map(|m| drop(m.check_families())),
        schema::from_yaml::<Schema>("s.yaml", text).map(|s| drop(s.check_families())),
    ] {
        if let Err(d) = result {
            located("yaml", input, &[d]);
        }
    }
}

fn check_events(hunter: &Hunter, input: &[u8]) {
    let events = Events::from_reader("e.ndjson", std::io::Cursor::new(input.to_vec()), None)
        .expect("a reader opens");
    let options = HuntOptions {
        strict: false,
        verbose: false,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let _ = detc::hunt::run(
        hunter,
        events,
        &mut out,
        &mut err,
        &options,
        &detc::hunt::Quiet,
    );
    // Matches are NDJSON, one per line.
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let _: serde_json::Value = serde_json::from_slice(line).expect("a match line is JSON");
    }
}

#[test]
fn mutated_inputs_never_panic_and_every_diagnostic_has_a_place() {
    let inputs = env_number("DETC_FUZZ_INPUTS", 1500);
    let seed = env_number("DETC_FUZZ_SEED", 20261207);
    let stall = Duration::from_secs(env_number("DETC_FUZZ_STALL", 20));

    let config = common::config();
    let rules = common::library().0.rules;
    let (hunter, _) = Hunter::new(&rules, &config.mappings[&TargetName::Elastic]);
    let sigma = detc::sigma::Options::default();

    let det = [
        files(&root().join("detections"), &[".det"]),
        files(&root().join("tests/fixtures"), &[".det"]),
    ]
    .concat();
    let yml = files(&root().join("tests/fuzz_seeds"), &[".yml"]);
    let yaml = files(&root().join("targets"), &[".yaml"]);
    let ndjson = files(&root().join("detections"), &[".ndjson"]);
    type Check<'a> = Box<dyn Fn(&[u8]) + 'a>;
    let surfaces: Vec<(&str, &Vec<Vec<u8>>, Check)> = vec![
        ("det", &det, Box::new(|i: &[u8]| check_det(&config, i))),
        ("sigma", &yml, Box::new(|i: &[u8]| check_sigma(&sigma, i))),
        ("yaml", &yaml, Box::new(check_yaml)),
        (
            "ndjson",
            &ndjson,
            Box::new(|i: &[u8]| check_events(&hunter, i)),
        ),
    ];

    // The watchdog: the current input, and when it started. It holds the input weakly and
    // ends with the test (other tests of this binary run on).
    let current: Arc<Mutex<Vec<u8>>> = Arc::default();
    let started = Instant::now();
    let began = Arc::new(AtomicU64::new(0));
    {
        let (current, began) = (Arc::downgrade(&current), Arc::clone(&began));
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(500));
                let Some(current) = current.upgrade() else {
                    return;
                };
                let since = started.elapsed().as_millis() as u64 - began.load(Ordering::Relaxed);
                if since > stall.as_millis() as u64 {
                    let input = current.lock().map(|c| c.clone()).unwrap_or_default();
                    let _ = std::fs::write(root().join("target/fuzz-stalled.bin"), &input);
                    eprintln!("fuzz: one input took over {stall:?}: target/fuzz-stalled.bin");
                    std::process::abort();
                }
            }
        });
    }

    let mut rng = Rng::new(seed);
    for (name, seeds, check) in &surfaces {
        assert!(!seeds.is_empty(), "{name}: no seeds");
        let t = Instant::now();
        for n in 0..inputs {
            let (a, b) = (rng.below(seeds.len()), rng.below(seeds.len()));
            let input = mutate(&mut rng, &seeds[a], &seeds[b]);
            *current.lock().unwrap() = input.clone();
            began.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&input)));
            if outcome.is_err() {
                let _ = std::fs::write(root().join("target/fuzz-panic.bin"), &input);
                panic!("{name}: input {n} (seed {seed}) panicked: target/fuzz-panic.bin holds it");
            }
        }
        eprintln!(
            "fuzz {name}: {inputs} inputs from {} seeds in {:.1} s",
            seeds.len(),
            t.elapsed().as_secs_f64()
        );
    }
}

// ------------------------------------------------------------------------------------------
// SIEM responses: `detc deploy --prune` against the local SIEMs of tests/it/support, each
// response passed through a seeded mutator (a hostile or broken server).

/// Secrets with characters that encodings change, so every encoded form differs.
const SPLUNK_TOKEN: &str = "tok~en+/=Zq9";
const KIBANA_KEY: &str = "key+/=~Kq7";
const AZURE_ID: &str = "client-1";
const AZURE_SECRET: &str = "az8Q~SECRET+/=";

/// Standard base64 (written here, not taken from detc, which is what is under test).
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The forms in which a server may echo a secret: as is, percent-encoded (either hex
/// case), JSON-escaped, and base64 (alone, and as HTTP Basic `user:secret`).
fn secret_forms(secret: &str, user: &str) -> Vec<String> {
    let pct = |upper: bool| {
        secret
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ if upper => format!("%{b:02X}"),
                _ => format!("%{b:02x}"),
            })
            .collect::<String>()
    };
    let json = serde_json::to_string(secret).unwrap();
    vec![
        secret.to_string(),
        pct(true),
        pct(false),
        json[1..json.len() - 1].replace('/', "\\/"),
        base64(secret.as_bytes()),
        base64(format!("{user}:{secret}").as_bytes()),
    ]
}

/// Values a JSON node may become; `evil` is a server detc must never be sent to.
fn hostile_value(rng: &mut Rng, evil: &str) -> serde_json::Value {
    use serde_json::json;
    let deep = (0..rng.below(400)).fold(json!(1), |v, _| json!([v]));
    let choices = [
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(u64::MAX),
        json!(1e300),
        json!(""),
        json!("x".repeat(rng.below(200_000))),
        json!("\u{0}\u{202e}../../\r\nX: y"),
        json!(".."),
        json!("[managed by detc]"),
        // A copy's description: another object's marker (the stale one's).
        json!("old\n\n[managed by detc: stale]"),
        json!(format!("{evil}/subscriptions/x")),
        json!([]),
        json!({}),
        json!([null, 1, "a", {}]),
        deep,
    ];
    choices[rng.below(choices.len())].clone()
}

/// Replace, remove or repeat one node, reached by a random walk from the root.
fn mutate_json(rng: &mut Rng, v: &mut serde_json::Value, evil: &str) {
    use serde_json::Value;
    let mut node = v;
    loop {
        let len = match &*node {
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            _ => 0,
        };
        if len == 0 || rng.below(4) == 0 {
            break;
        }
        let i = rng.below(len);
        node = match node {
            Value::Array(a) => &mut a[i],
            Value::Object(o) => o.values_mut().nth(i).expect("in range"),
            _ => unreachable!(),
        };
    }
    match (rng.below(4), &mut *node) {
        (0, Value::Object(o)) if !o.is_empty() => {
            let key = o.keys().nth(rng.below(o.len())).cloned().expect("in range");
            o.remove(&key);
        }
        (1, Value::Array(a)) if !a.is_empty() => {
            let item = a[rng.below(a.len())].clone();
            a.push(item);
        }
        _ => *node = hostile_value(rng, evil),
    }
}

const STATUSES: &[u16] = &[
    200, 201, 204, 301, 302, 400, 401, 403, 404, 409, 413, 429, 500, 502, 503,
];
const RETRY_AFTER: &[&str] = &[
    "0",
    "-1",
    "abc",
    "121",
    "1.5",
    "99999999999999999999",
    "Wed, 21 Oct 2015 07:28:00 GMT",
];
const BROKEN: &[&[u8]] = &[
    b"",
    b"HTTP/1.1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n",
    b"HTTP/1.1 99999 X\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"data\": [",
    b"\x00\xff\xfe garbage\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 7\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nLocation: http://evil.invalid/\r\nContent-Length: 2\r\n\r\n{}",
];

/// One response as a hostile server might send it.
fn mutate_response(rng: &mut Rng, req: &Request, resp: Response, evil: &str) -> Wire {
    let mut resp = resp;
    match rng.below(10) {
        0..=3 => match serde_json::from_slice::<serde_json::Value>(&resp.body) {
            Ok(mut v) => {
                for _ in 0..1 + rng.below(3) {
                    mutate_json(rng, &mut v, evil);
                }
                resp.body = serde_json::to_vec(&v).expect("serialises");
            }
            Err(_) => resp.body = mutate(rng, &resp.body, b"{}"),
        },
        4 => resp.body = mutate(rng, &resp.body, &req.body),
        5 => resp.status = STATUSES[rng.below(STATUSES.len())],
        6 => {
            // The request echoed back, headers and body (as Entra's 401 once did).
            let mut echo = format!("{} {}?{:?}\n", req.method, req.path, req.query);
            for (k, v) in &req.headers {
                echo.push_str(&format!("{k}: {v}\n"));
            }
            echo.push_str(&String::from_utf8_lossy(&req.body));
            resp.status = [400, 401, 500][rng.below(3)];
            resp.body = echo.into_bytes();
        }
        7 => {
            // The body cut short of its Content-Length.
            let cut = rng.below(resp.body.len() + 1);
            let mut raw = format!(
                "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                resp.status,
                resp.body.len() + 1
            )
            .into_bytes();
            raw.extend_from_slice(&resp.body[..cut]);
            return Wire::Raw(raw);
        }
        8 => return Wire::Raw(BROKEN[rng.below(BROKEN.len())].to_vec()),
        _ => {
            resp.status = [429, 503, 200][rng.below(3)];
            resp.headers.push((
                "Retry-After".into(),
                RETRY_AFTER[rng.below(RETRY_AFTER.len())].into(),
            ));
        }
    }
    Wire::Response(resp)
}

/// Requests that may change a SIEM (a sign-in's token request does not).
fn writes(requests: &[Request]) -> usize {
    requests
        .iter()
        .filter(|r| r.method != "GET" && !r.path.ends_with("/oauth2/v2.0/token"))
        .count()
}

/// A local SIEM holding one object of another team's and one stale object of detc's.
struct Siem {
    repo: Repo,
    mock: Arc<dyn std::ops::Deref<Target = Mock>>,
    /// Every form of every secret of the run (tokens issued during it too).
    secrets: Box<dyn Fn() -> Vec<String>>,
    /// The other team's object as the SIEM holds it now.
    theirs: Box<dyn Fn() -> Option<String>>,
}

fn siem(target: &'static str) -> Siem {
    use serde_json::json;
    let marked = "old\n\n[managed by detc: stale]";
    match target {
        "splunk" => {
            let splunk = Arc::new(Splunk::with_token(SPLUNK_TOKEN));
            let theirs = [("search", "index=x"), ("description", "not ours")];
            splunk.seed(false, "theirs", "nobody", "detc", &theirs);
            splunk.seed_global(false, "es_shared", "SplunkEnterpriseSecuritySuite");
            let stale = [("search", "index=y"), ("description", marked)];
            splunk.seed(false, "stale", "nobody", "detc", &stale);
            let s = Arc::clone(&splunk);
            Siem {
                repo: Repo::new(&[
                    ("SPLUNK_URL", splunk.url()),
                    ("SPLUNK_TOKEN", SPLUNK_TOKEN.into()),
                ]),
                mock: splunk,
                secrets: Box::new(|| secret_forms(SPLUNK_TOKEN, "")),
                theirs: Box::new(move || {
                    let searches = s.saved_searches();
                    searches.get("theirs").map(|e| format!("{:?}", e.params))
                }),
            }
        }
        "sentinel" => {
            let sentinel = Arc::new(Sentinel::with_config(SentinelConfig {
                client_secret: AZURE_SECRET.into(),
                ..SentinelConfig::default()
            }));
            let theirs = json!({"displayName": "theirs", "description": "not ours"});
            sentinel.seed_rule("theirs", "Scheduled", theirs);
            let stale = json!({"displayName": "old", "description": marked});
            sentinel.seed_rule("stale", "Scheduled", stale);
            let mut repo = sentinel_repo(&sentinel);
            for (k, v) in &mut repo.env {
                if k == "AZURE_CLIENT_SECRET" {
                    *v = AZURE_SECRET.into();
                }
            }
            let (s, t) = (Arc::clone(&sentinel), Arc::clone(&sentinel));
            Siem {
                repo,
                mock: sentinel,
                secrets: Box::new(move || {
                    let issued = s.issued_tokens().into_iter();
                    let mut all = secret_forms(AZURE_SECRET, AZURE_ID);
                    all.extend(issued.flat_map(|t| secret_forms(&t, "")));
                    all
                }),
                theirs: Box::new(move || t.rules().get("theirs").map(|r| r.to_string())),
            }
        }
        _ => {
            let kibana = Arc::new(Kibana::with_key(KIBANA_KEY));
            let rule = |id: &str, description: &str| {
                json!({
                    "rule_id": id, "name": "x", "description": description, "type": "query",
                    "risk_score": 1, "severity": "low", "query": "*", "language": "kuery",
                })
            };
            kibana.seed_rule("default", rule("theirs", "not ours"));
            kibana.seed_rule("default", rule("stale", marked));
            let k = Arc::clone(&kibana);
            Siem {
                repo: Repo::new(&[
                    ("KIBANA_URL", kibana.url()),
                    ("KIBANA_API_KEY", KIBANA_KEY.into()),
                ]),
                mock: kibana,
                secrets: Box::new(|| secret_forms(KIBANA_KEY, "")),
                theirs: Box::new(move || k.rules("default").get("theirs").map(|r| r.to_string())),
            }
        }
    }
}

/// `detc deploy --prune` against SIEMs whose responses a seeded mutator breaks (JSON nodes
/// replaced, removed or repeated; bytes mutated; statuses changed; the request echoed; the
/// body cut short; broken framing; hostile `Retry-After`). Each run must end (exit 0, 1 or
/// 2, within its deadline), print no secret in any encoding, never call a host the server
/// names (an ARM `nextLink` to elsewhere), and never touch another team's object; a clean
/// deploy afterwards must converge, and `detc diff` then finds no drift.
#[test]
fn hostile_siem_responses_never_panic_hang_leak_or_touch_others() {
    let runs = env_number("DETC_FUZZ_HTTP_RUNS", 12);
    let seed = env_number("DETC_FUZZ_SEED", 20261207);
    // `DETC_FUZZ_HTTP_ONLY=elastic:167` repeats one run of a failure report; `elastic` runs
    // one SIEM's.
    let only = std::env::var("DETC_FUZZ_HTTP_ONLY").ok();
    let evil = Mock::serve(|_| Box::new(|_: &Request| Response::empty(200)));
    for (i, target) in ["splunk", "sentinel", "elastic"].into_iter().enumerate() {
        let t = Instant::now();
        let mutated = Arc::new(AtomicU64::new(0));
        let mut codes = std::collections::BTreeMap::new();
        for n in 0..runs {
            if only
                .as_ref()
                .is_some_and(|o| *o != target && *o != format!("{target}:{n}"))
            {
                continue;
            }
            // Each run has its own generator, so one run can be repeated alone.
            let mut rng = Rng::new(seed ^ (i as u64) << 40 ^ n << 20);
            let siem = siem(target);
            let before = (siem.theirs)();
            let (mut local, every) = (Rng::new(rng.next()), [1, 2, 4, 10][rng.below(4)]);
            let (count, evil_url) = (Arc::clone(&mutated), evil.url());
            siem.mock.mutate_responses(move |req, resp| {
                if local.below(every) != 0 {
                    return Wire::Response(resp);
                }
                count.fetch_add(1, Ordering::Relaxed);
                mutate_response(&mut local, req, resp, &evil_url)
            });
            let deploy = ["deploy", "--target", target, "--prune", "--retries", "2"];
            // A few commands in a row, each starting from what the last one left.
            for k in 0..1 + rng.below(4) {
                let case = format!(
                    "{target} run {n} command {k} (DETC_FUZZ_SEED={seed} DETC_FUZZ_HTTP_ONLY={target}:{n})"
                );
                let is_diff = rng.below(3) == 0;
                let writes_before = writes(&siem.mock.requests());
                let run = if is_diff {
                    siem.repo
                        .detc(&["diff", "--target", target, "--deadline", "30"])
                } else {
                    siem.repo
                        .detc(&[&deploy[..], &["--deadline", "30"]].concat())
                };
                let out = format!("{}{}", run.stdout, run.stderr);
                assert!(
                    [0, 1, 2, 3].contains(&run.code),
                    "{case}: exit {} (a crash or a hang):\n{out}",
                    run.code
                );
                assert!(!out.contains("panicked"), "{case}: panicked:\n{out}");
                assert!(
                    run.code == 0 || !out.trim().is_empty(),
                    "{case}: exit {} without a word",
                    run.code
                );
                for form in (siem.secrets)() {
                    assert!(
                        !out.contains(&form),
                        "{case}: secret form {form:?} printed:\n{out}"
                    );
                }
                assert!(
                    evil.requests().is_empty(),
                    "{case}: detc called a host the server named"
                );
                assert_eq!(
                    (siem.theirs)(),
                    before,
                    "{case}: another team's object changed:\n{out}"
                );
                if is_diff {
                    let wrote = writes(&siem.mock.requests()) - writes_before;
                    assert_eq!(wrote, 0, "{case}: `detc diff` wrote to the SIEM");
                }
                *codes.entry(run.code).or_insert(0) += 1;
            }

            siem.mock.stop_mutating();
            let case = format!(
                "{target} run {n} (DETC_FUZZ_SEED={seed} DETC_FUZZ_HTTP_ONLY={target}:{n})"
            );
            let clean = siem.repo.detc(&deploy);
            assert_eq!(
                clean.code, 0,
                "{case}: the clean deploy after it failed:\n{}{}",
                clean.stdout, clean.stderr
            );
            let diff = siem.repo.detc(&["diff", "--target", target]);
            assert_eq!(
                diff.code, 0,
                "{case}: drift after the clean deploy:\n{}{}",
                diff.stdout, diff.stderr
            );
            assert_eq!(
                (siem.theirs)(),
                before,
                "{case}: another team's object changed"
            );
        }
        eprintln!(
            "fuzz {target} responses: {runs} runs, {} responses mutated, exits {codes:?}, {:.1} s",
            mutated.swap(0, Ordering::Relaxed),
            t.elapsed().as_secs_f64()
        );
    }
}
