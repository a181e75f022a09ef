//! The harness of the `doctor` tests: one user's HOME in a shared world, and the parsed
//! `doctor --json` document with assertions on its checks.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;
use serde_json::Value;

/// One user's HOME in the shared world, with doctor's view of the machine pinned down:
/// no system-wide service file but the one a case writes, the test server's psql first
/// on PATH, and no Google set-up of the machine's own.
pub struct Case<'w> {
    pub w: &'w World,
    pub env: Env,
    /// Secrets that must never appear in doctor's output, besides every `ya29.` token.
    pub secrets: Vec<String>,
}

impl<'w> Case<'w> {
    pub fn new(w: &'w World) -> Case<'w> {
        let env = Env::new();
        fs::create_dir(env.dir.path().join("sysconf")).expect("sysconf dir");
        fs::create_dir(env.dir.path().join("bin")).expect("bin dir");
        Case {
            w,
            env,
            secrets: Vec::new(),
        }
    }

    pub fn sysconf(&self) -> PathBuf {
        self.env.dir.path().join("sysconf")
    }

    /// A directory searched before the test server's programs (for stand-in programs).
    pub fn bin(&self) -> PathBuf {
        self.env.dir.path().join("bin")
    }

    pub fn path(&self) -> String {
        format!(
            "{}:{}:{}",
            self.bin().display(),
            self.w.pg.bin_dir().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// A config with one service `db` on the test server, `credentials` (a TOML value)
    /// and `extra` lines for the service (or more tables after it).
    pub fn config(&self, credentials: &str, extra: &str) {
        self.config_with("", credentials, extra);
    }

    /// [`Case::config`] with `defaults` lines added to the [defaults] table.
    pub fn config_with(&self, defaults: &str, credentials: &str, extra: &str) {
        self.env
            .write_config(&self.w.config_text(defaults, credentials, extra));
    }

    /// A `key_file` credential for a new service account.
    pub fn key_file(&mut self, email: &str) -> String {
        let key = self.w.google.add_service_account(email);
        let path = self.write_json(&format!("{email}.json"), &key);
        format!("{{ key_file = {path:?} }}")
    }

    /// A `command` credential minting for `principal` through the stand-in.
    pub fn command(&self, principal: &str, extra: &[&str]) -> String {
        format!(
            "{{ command = {} }}",
            mint_command(&self.w.google.http_url(), principal, extra)
        )
    }

    pub fn write_json(&mut self, name: &str, value: &Value) -> String {
        for secret in ["refresh_token", "client_secret", "private_key"] {
            if let Some(s) = value[secret].as_str() {
                self.secrets.push(s.to_string());
            }
        }
        let path = self.env.dir.path().join(name);
        fs::write(&path, serde_json::to_vec_pretty(value).expect("json")).expect("write");
        path.display().to_string()
    }

    pub fn run(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut cmd = self.env.cmd();
        cmd.env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .env_remove("CLOUDSDK_CONFIG")
            .env("GCE_METADATA_HOST", "127.0.0.1:9")
            .env("PGSYSCONFDIR", self.sysconf())
            .env("PATH", self.path());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.args(args).output().expect("run alloydb-cred")
    }

    pub fn refresh(&self, envs: &[(&str, &str)]) {
        ok(self.run(&["refresh"], envs));
    }

    /// The token written for `service`.
    pub fn token(&self, service: &str) -> String {
        libpq_files::pgpass::PgpassFile::parse(&fs::read(self.env.pgpass()).expect("pgpass"))
            .get(service)
            .map(|e| e.password.expose().to_string())
            .expect("an entry")
    }

    /// Runs doctor, checks that its output holds no secret, and returns the exit code
    /// and output.
    pub fn doctor_out(&self, args: &[&str], envs: &[(&str, &str)]) -> (i32, String) {
        let mut full = vec!["doctor"];
        full.extend_from_slice(args);
        let out = self.run(&full, envs);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            !text.contains("ya29."),
            "a token in doctor's output:\n{text}"
        );
        assert!(
            !text.contains("-----BEGIN"),
            "a key in doctor's output:\n{text}"
        );
        for secret in &self.secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a secret in doctor's output:\n{text}"
            );
        }
        if self.env.pgpass().exists() {
            let written = fs::read_to_string(self.env.pgpass()).unwrap_or_default();
            for line in written.lines().filter(|l| !l.starts_with('#')) {
                if let Some(password) = line.rsplit(':').next().filter(|p| p.len() > 12) {
                    assert!(
                        !text.contains(password),
                        "a password-file password in:\n{text}"
                    );
                }
            }
        }
        (out.status.code().expect("exit code"), stdout(&out))
    }

    /// `doctor --json …`: the exit code and the document.
    pub fn doctor(&self, args: &[&str], envs: &[(&str, &str)]) -> (i32, Report) {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let (code, text) = self.doctor_out(&full, envs);
        let doc: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("doctor --json printed no JSON ({e}):\n{text}"));
        (code, Report(doc))
    }
}

impl Case<'_> {
    /// `doctor --json …`, asserting its exit code.
    #[track_caller]
    pub fn diagnose(&self, args: &[&str], envs: &[(&str, &str)], code: i32) -> Report {
        let (got, report) = self.doctor(args, envs);
        assert_eq!(got, code, "exit code: {:#}", report.0);
        report
    }
}

/// A parsed `doctor --json` document.
pub struct Report(pub Value);

impl Report {
    /// The named check of a service (`None`: of the configuration as a whole).
    #[track_caller]
    pub fn check(&self, service: Option<&str>, name: &str) -> &Value {
        let checks = match service {
            None => &self.0["checks"],
            Some(service) => {
                let found = self.0["services"]
                    .as_array()
                    .and_then(|s| s.iter().find(|s| s["name"] == service));
                &found.unwrap_or_else(|| panic!("no service {service} in {:#}", self.0))["checks"]
            }
        };
        checks
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == name))
            .unwrap_or_else(|| panic!("no check {name} for {service:?} in {:#}", self.0))
    }

    /// Asserts a check's status and that its message (and fix) contain the given texts.
    #[track_caller]
    pub fn expect(&self, service: &str, name: &str, status: &str, message: &[&str], fix: &[&str]) {
        let check = self.check(Some(service), name);
        assert_eq!(check["status"], status, "{name}: {check:#}");
        let text = check["message"].as_str().unwrap_or_default();
        for part in message {
            assert!(
                text.contains(part),
                "{name}: message lacks {part:?}: {check:#}"
            );
        }
        let fixed = check["fix"].as_str().unwrap_or_default();
        for part in fix {
            assert!(
                fixed.contains(part),
                "{name}: fix lacks {part:?}: {check:#}"
            );
        }
        if status != "ok" {
            assert!(
                !fixed.is_empty(),
                "{name}: a {status} without a fix: {check:#}"
            );
        }
    }

    pub fn statuses(&self) -> Vec<(String, String)> {
        let mut all = Vec::new();
        let mut add = |scope: &str, checks: &Value| {
            for c in checks.as_array().into_iter().flatten() {
                all.push((
                    format!("{scope}{}", c["name"].as_str().unwrap_or_default()),
                    c["status"].as_str().unwrap_or_default().to_string(),
                ));
            }
        };
        add("", &self.0["checks"]);
        for s in self.0["services"].as_array().into_iter().flatten() {
            add(
                &format!("{}/", s["name"].as_str().unwrap_or_default()),
                &s["checks"],
            );
        }
        all
    }
}

pub fn toml_path(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

/// One broken (or working) setup, built and diagnosed in the shared world.
pub type CaseFn = fn(&World);

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

/// The LDAP binds (logins) the server asked about for a database user.
pub fn binds_for(w: &World, user: &str) -> usize {
    let dn = format!("cn={user}");
    w.google
        .ldap_bind_log()
        .iter()
        .filter(|b| b.dn.contains(&dn))
        .count()
}
