//! A repository with three rules and the settings of one local SIEM, and `detc` run in it
//! as a user would (tests/it/deploy.rs, and the SIEM-response fuzzer in tests/it/fuzz.rs).

use super::kibana::Kibana;
use super::sentinel::Sentinel;
use super::splunk::Splunk;
use assert_cmd::Command;
use std::path::Path;

pub const RULES: &str = r#"
rule remote_tool "Remote access tool started" {
  id = "11111111-1111-4111-8111-111111111111"
  severity = high
  status = stable
  attack = [TA0011, T1219]
  description = "A remote access tool started."
  from process_start where process.name in ["anydesk.exe", "rustdesk.exe"]
}

rule two_countries "Sign-ins from two countries within an hour" {
  id = "22222222-2222-4222-8222-222222222222"
  severity = medium
  status = test
  attack = [TA0001, T1078]
  from authentication
  where event.outcome == "success"
  group by user.name window 1h
  having distinct(source.geo.country_iso_code) >= 2
}

rule vpn_client "Consumer VPN client started" {
  id = "33333333-3333-4333-8333-333333333333"
  severity = low
  attack = [TA0011, T1090]
  from process_start where process.name == "astrill.exe"
}
"#;

/// Every setting detc reads, so the tests see only what they set.
pub const SETTINGS: [&str; 16] = [
    "SPLUNK_URL",
    "SPLUNK_TOKEN",
    "SPLUNK_APP",
    "SPLUNK_OWNER",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_SUBSCRIPTION_ID",
    "AZURE_RESOURCE_GROUP",
    "SENTINEL_WORKSPACE",
    "AZURE_AUTHORITY_HOST",
    "AZURE_RESOURCE_MANAGER_URL",
    "AZURE_TOKEN_SCOPE",
    "KIBANA_URL",
    "KIBANA_API_KEY",
    "KIBANA_SPACE",
];

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub struct Repo {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl Repo {
    pub fn new(env: &[(&str, String)]) -> Repo {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("detections")).expect("mkdir");
        std::fs::write(dir.path().join("detections/rules.det"), RULES).expect("write");
        Repo {
            dir,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn detc(&self, args: &[&str]) -> Run {
        let mut cmd = Command::cargo_bin("detc").expect("binary");
        cmd.current_dir(self.path());
        for k in SETTINGS {
            cmd.env_remove(k);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        // Fast retries: tests wait for backoff, not for real time. A run still going after
        // two minutes is killed (exit -1): a hang fails the test instead of stalling CI.
        let out = cmd
            .args(args)
            .args(["--backoff", "10", "--timeout", "2"])
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .expect("runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn deploy(&self, target: &str, extra: &[&str]) -> Run {
        let mut args = vec!["deploy", "--target", target];
        args.extend_from_slice(extra);
        self.detc(&args)
    }
}

pub fn splunk_repo(splunk: &Splunk) -> Repo {
    Repo::new(&[
        ("SPLUNK_URL", splunk.url()),
        ("SPLUNK_TOKEN", "test-token".into()),
        ("SPLUNK_APP", "detc".into()),
    ])
}

pub fn assert_no_secret(run: &Run, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !run.stdout.contains(s) && !run.stderr.contains(s),
            "secret {s:?} printed:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
}

pub fn sentinel_repo(sentinel: &Sentinel) -> Repo {
    Repo::new(&[
        ("AZURE_AUTHORITY_HOST", sentinel.url()),
        ("AZURE_RESOURCE_MANAGER_URL", sentinel.url()),
        ("AZURE_TENANT_ID", "tenant-1".into()),
        ("AZURE_CLIENT_ID", "client-1".into()),
        ("AZURE_CLIENT_SECRET", "secret-1".into()),
        ("AZURE_SUBSCRIPTION_ID", "sub-1".into()),
        ("AZURE_RESOURCE_GROUP", "rg-1".into()),
        ("SENTINEL_WORKSPACE", "ws-1".into()),
    ])
}

pub fn kibana_repo(kibana: &Kibana, space: &str) -> Repo {
    Repo::new(&[
        ("KIBANA_URL", kibana.url()),
        ("KIBANA_API_KEY", "test-key".into()),
        ("KIBANA_SPACE", space.into()),
    ])
}
