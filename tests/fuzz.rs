//! A mutation fuzzer over every text detc reads: `.det` rule files, Sigma YAML, mapping and
//! schema YAML, and NDJSON events. Seeds are the repository's own files (the library, the
//! test fixtures, the shipped mappings) and `tests/fuzz_seeds/`; each input is a seed
//! mutated by a seeded generator (byte flips, inserted metacharacters, deleted, repeated and
//! spliced runs), so every run is reproducible from its seed.
//!
//! Each input must come back as a result or as diagnostics, never a panic, and every
//! diagnostic must point into its input (a line and column). A watchdog aborts the run when
//! one input takes longer than `DETC_FUZZ_STALL` seconds (default 20), writing it to
//! `target/fuzz-stalled.bin`; a panicking input is written to `target/fuzz-panic.bin`.
//!
//! CI runs 1,500 inputs per surface. The long run (docs/CONFORMANCE.md, "Fuzzing"):
//!
//!     DETC_FUZZ_INPUTS=25000 DETC_FUZZ_SEED=1 cargo test --release --test fuzz -- --nocapture

mod common;

use detc::hunt::{Events, Hunter, Options as HuntOptions};
use detc::project;
use detc::schema::{self, Mapping, Schema};
use detc::targets::{self, TargetName};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// xorshift64*: small, fast, and the same sequence for the same seed everywhere.
struct Rng(u64);

impl Rng {
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
fn located(surface: &str, input: &[u8], diags: &[detc::diag::Diagnostic]) {
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
                let _ = targets::compile(t, rule, &config.mappings[&t]);
            }
        }
    }
}

fn check_sigma(options: &detc::sigma::Options, input: &[u8]) {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    for result in detc::sigma::convert_file("f.yml", text, options) {
        if let Err(e) = result
            && let detc::sigma::Reason::Yaml(_, at) = e.reason
        {
            assert!(
                at <= input.len(),
                "YAML error offset {at} outside the input"
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
        progress: false,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let _ = detc::hunt::run(hunter, events, &mut out, &mut err, &options);
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
    let library = project::discover(&[root().join("detections")]).expect("library");
    let mut loaded = config.clone();
    let rules = project::load(&library, &[], &mut loaded).rules;
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

    // The watchdog: the current input, and when it started.
    let current: Arc<Mutex<Vec<u8>>> = Arc::default();
    let started = Instant::now();
    let began = Arc::new(AtomicU64::new(0));
    {
        let (current, began) = (Arc::clone(&current), Arc::clone(&began));
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(500));
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

    let mut rng = Rng(seed | 1);
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
