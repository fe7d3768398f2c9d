//! The one HTTP client of `detc deploy`: TLS verified (optionally against a private CA),
//! a timeout on every request, retries with exponential backoff and jitter on 429 (honouring
//! `Retry-After`), 5xx and dropped connections, and no secret in any error it returns.

use super::DeployError;
use std::path::Path;
use std::time::Duration;
use ureq::Agent;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// How the client behaves; the CLI sets these from its flags.
#[derive(Debug, Clone)]
pub struct Options {
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first backoff; each retry doubles it (plus up to 50% jitter).
    pub backoff: Duration,
    /// The longest `Retry-After` honoured; a longer one fails the request.
    pub max_retry_after: Duration,
    /// PEM file of the root certificates to trust instead of the public ones.
    pub ca_cert: Option<std::path::PathBuf>,
    /// The whole run's time: no request starts, and no retry waits, past it.
    pub deadline: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(30),
            retries: 4,
            backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(120),
            ca_cert: None,
            deadline: None,
        }
    }
}

/// A request failed for good (after its retries).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The SIEM answered with an error status.
    #[error("{method} {path}: HTTP {status}{}", detail(.body))]
    Status {
        method: String,
        path: String,
        status: u16,
        body: String,
    },
    /// No answer: refused, dropped, timed out, TLS.
    #[error("{method} {path}: {message}")]
    Transport {
        method: String,
        path: String,
        message: String,
    },
}

fn detail(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        String::new()
    } else {
        let short: String = body.chars().take(300).collect();
        format!(": {short}")
    }
}

/// A response that arrived with a success status.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) body: String,
}

impl Response {
    pub(crate) fn json(&self) -> Result<serde_json::Value, DeployError> {
        serde_json::from_str(&self.body)
            .map_err(|e| DeployError::Answer(format!("the answer is not JSON: {e}")))
    }
}

/// One request, built by a SIEM module.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: &'static str,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<(String, Vec<u8>)>,
}

impl Request {
    pub(crate) fn new(method: &'static str, url: impl Into<String>) -> Request {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }
    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push((name.to_string(), value.into()));
        self
    }
    pub(crate) fn json(mut self, value: &serde_json::Value) -> Request {
        self.body = Some(("application/json".into(), value.to_string().into_bytes()));
        self
    }
    pub(crate) fn form(mut self, pairs: &[(String, String)]) -> Request {
        let body = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.body = Some((
            "application/x-www-form-urlencoded".into(),
            body.into_bytes(),
        ));
        self
    }
}

/// The forms in which a server may echo a secret: as is; percent-encoded as a form value or a
/// path (either case of hex digits); JSON-escaped (also with `\/`); and inside base64 (as in
/// `Basic base64(user:secret)`): for each of the three alignments the secret can start at,
/// the run of base64 characters that its bytes alone decide.
fn secret_forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_string()];
    for encoded in [form_encode(secret), path_segment(secret)] {
        forms.push(lower_hex(&encoded));
        forms.push(encoded);
    }
    let quoted = serde_json::to_string(secret).unwrap_or_default();
    let json = quoted.strip_prefix('"').and_then(|j| j.strip_suffix('"'));
    forms.push(json.unwrap_or_default().replace('/', "\\/"));
    forms.push(json.unwrap_or_default().to_string());
    let bytes = secret.as_bytes();
    for lead in 0..3usize {
        let mut data = vec![0u8; lead];
        data.extend_from_slice(bytes);
        let text = base64(&data);
        // Character i holds bits [6i, 6i + 6): keep those inside the secret's bits.
        let (from, to) = ((lead * 8).div_ceil(6), (lead + bytes.len()) * 8 / 6);
        if to >= from + 8 {
            forms.push(text[from..to].to_string());
        }
    }
    forms.retain(|f| !f.is_empty());
    forms
}

/// Percent-escapes with lowercase hex digits (`%2f`), as some servers echo them.
fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let esc = rest.get(i..i + 3).unwrap_or(&rest[i..]);
        out.push_str(&esc.to_ascii_lowercase());
        rest = &rest[i + esc.len()..];
    }
    out.push_str(rest);
    out
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `application/x-www-form-urlencoded` for one key or value.
pub(crate) fn form_encode(s: &str) -> String {
    percent_encode(s, b"-_.*", true)
}

/// A path segment: everything but unreserved characters percent-encoded.
pub(crate) fn path_segment(s: &str) -> String {
    percent_encode(s, b"-_.~", false)
}

/// Percent-encode all but ASCII letters, digits and `keep` (a space as `+` when asked).
fn percent_encode(s: &str, keep: &[u8], space_plus: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(b as char);
        } else if b == b' ' && space_plus {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) struct Client {
    agent: Agent,
    options: Options,
    /// Values that must never appear in what the client returns (tokens, keys, secrets).
    secrets: Vec<String>,
    /// Seed of the jitter (deterministic per client, so runs are reproducible).
    jitter: u64,
    /// When the client was made: the run's deadline counts from here.
    started: std::time::Instant,
}

impl Client {
    pub(crate) fn new(options: Options, secrets: Vec<String>) -> Result<Client, DeployError> {
        let mut tls = TlsConfig::builder();
        if let Some(path) = &options.ca_cert {
            let certs = read_ca(path).map_err(DeployError::Setting)?;
            tls = tls.root_certs(RootCerts::new_with_certs(&certs));
        }
        let agent: Agent = Agent::config_builder()
            .timeout_global(Some(options.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .tls_config(tls.build())
            .user_agent(concat!("detc/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let mut client = Client {
            agent,
            options,
            secrets: Vec::new(),
            jitter: 0x9e37_79b9_7f4a_7c15,
            started: std::time::Instant::now(),
        };
        for s in &secrets {
            client.add_secret(s);
        }
        Ok(client)
    }

    /// Treat one more value as a secret (a token obtained during the run), in every form a
    /// server may echo it (see [`secret_forms`]).
    pub(crate) fn add_secret(&mut self, secret: &str) {
        if !secret.is_empty() {
            self.secrets.extend(secret_forms(secret));
            // Longest first, so no shorter form leaves part of a longer one behind.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
            self.secrets.dedup();
        }
    }

    /// Remove every secret from a text before it leaves the client.
    pub(crate) fn redact(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_string(), |t, s| t.replace(s.as_str(), "[secret]"))
    }

    /// The run's deadline, when it has passed or passes within `wait`.
    fn past_deadline(&self, wait: Duration) -> Option<Duration> {
        self.options
            .deadline
            .filter(|d| self.started.elapsed() + wait >= *d)
    }

    /// Send a request, retrying what is worth retrying. Success statuses (2xx) come back as
    /// a [`Response`]; anything else as an [`HttpError`].
    pub(crate) fn send(&mut self, req: &Request) -> Result<Response, HttpError> {
        let path = redacted_path(&req.url);
        let mut attempt = 0;
        loop {
            if let Some(deadline) = self.past_deadline(Duration::ZERO) {
                return Err(HttpError::Transport {
                    method: req.method.into(),
                    path,
                    message: format!(
                        "not sent: the run's deadline of {}s has passed (--deadline)",
                        deadline.as_secs()
                    ),
                });
            }
            let outcome = self.once(req);
            let wait = match &outcome {
                Ok((status, _, retry_after)) if *status == 429 => {
                    retry_after.or(Some(self.backoff(attempt)))
                }
                Ok((status, _, _)) if *status >= 500 => Some(self.backoff(attempt)),
                Ok(_) => None,
                Err(_) => Some(self.backoff(attempt)),
            };
            let retry = wait
                .filter(|w| attempt < self.options.retries && *w <= self.options.max_retry_after);
            if let Some(deadline) = retry.and_then(|w| self.past_deadline(w)) {
                let last = match &outcome {
                    Ok((status, _, _)) => format!("HTTP {status}"),
                    Err(message) => self.redact(message),
                };
                return Err(HttpError::Transport {
                    method: req.method.into(),
                    path,
                    message: format!(
                        "{last}; not retried: the run's deadline of {}s would pass (--deadline)",
                        deadline.as_secs()
                    ),
                });
            }
            match (outcome, retry) {
                (_, Some(wait)) => {
                    std::thread::sleep(wait);
                    attempt += 1;
                }
                (Ok((status, body, _)), None) if (200..300).contains(&status) => {
                    return Ok(Response { body });
                }
                (Ok((status, body, _)), None) => {
                    return Err(HttpError::Status {
                        method: req.method.into(),
                        path,
                        status,
                        body: self.redact(&body),
                    });
                }
                (Err(message), None) => {
                    return Err(HttpError::Transport {
                        method: req.method.into(),
                        path,
                        message: self.redact(&message),
                    });
                }
            }
        }
    }

    /// One attempt: status, body and `Retry-After`, or why there was no answer.
    fn once(&self, req: &Request) -> Result<(u16, String, Option<Duration>), String> {
        let result = match req.method {
            "GET" | "DELETE" => {
                let mut r = if req.method == "GET" {
                    self.agent.get(&req.url)
                } else {
                    self.agent.delete(&req.url)
                };
                for (k, v) in &req.headers {
                    r = r.header(k, v);
                }
                r.call()
            }
            _ => {
                let mut r = match req.method {
                    "PUT" => self.agent.put(&req.url),
                    "PATCH" => self.agent.patch(&req.url),
                    _ => self.agent.post(&req.url),
                };
                for (k, v) in &req.headers {
                    r = r.header(k, v);
                }
                match &req.body {
                    Some((content_type, bytes)) => {
                        r.header("Content-Type", content_type).send(&bytes[..])
                    }
                    None => r.send_empty(),
                }
            }
        };
        let mut response = result.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        Ok((status, body, retry_after))
    }

    /// `backoff × 2^attempt`, plus up to half again of jitter.
    fn backoff(&mut self, attempt: u32) -> Duration {
        // xorshift: jitter only needs to spread clients apart, not to be unpredictable.
        self.jitter ^= self.jitter << 13;
        self.jitter ^= self.jitter >> 7;
        self.jitter ^= self.jitter << 17;
        let base = self.options.backoff.saturating_mul(1 << attempt.min(16));
        let jitter = base.mul_f64((self.jitter % 1000) as f64 / 2000.0);
        base + jitter
    }
}

/// A URL for messages: scheme, host and path, without the query (which may carry tokens).
fn redacted_path(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or(url).to_string()
}

fn read_ca(path: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("--ca-cert {}: {e}", path.display()))?;
    let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--ca-cert {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "--ca-cert {}: no PEM certificate in the file",
            path.display()
        ));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
        assert_eq!(path_segment("detc - x/y"), "detc%20-%20x%2Fy");
        assert_eq!(redacted_path("https://h/p?sig=s3cret"), "https://h/p");
    }

    #[test]
    fn secrets_are_redacted_in_every_echoed_form() {
        let secret = "az8Q~SECRET+/=é\"x";
        let mut c = Client::new(Options::default(), vec![]).expect("client");
        c.add_secret(secret);
        let basic = |user: &str| base64(format!("{user}:{secret}").as_bytes());
        for echoed in [
            format!("client_secret={}&x=1", form_encode(secret)),
            format!("client_secret={}", lower_hex(&form_encode(secret))),
            format!("/p/{}", path_segment(secret)),
            format!(
                "{{\"client_secret\":{}}}",
                serde_json::to_string(secret).unwrap()
            ),
            format!("Authorization: Basic {}", basic("u")),
            format!("Authorization: Basic {}", basic("us")),
            format!("Authorization: Basic {}", basic("usr")),
        ] {
            let out = c.redact(&echoed);
            assert!(out.contains("[secret]"), "{echoed} -> {out}");
            for leak in ["SECRET", "U0VDUkVU", "TRUNDRV", "FQ1JFV"] {
                assert!(!out.contains(leak), "{echoed} -> {out}");
            }
        }
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[test]
    fn secrets_are_redacted_and_backoff_grows() {
        let mut c =
            Client::new(Options::default(), vec!["tok".into(), String::new()]).expect("client");
        assert_eq!(c.redact("Bearer tok!"), "Bearer [secret]!");
        let (a, b) = (c.backoff(0), c.backoff(3));
        assert!(a >= Duration::from_millis(500) && a <= Duration::from_millis(750));
        assert!(b >= Duration::from_millis(4000) && b <= Duration::from_millis(6000));
    }
}
