//! Shared harness for the integration tests: a private HOME and state directory per
//! test, the built binary run the way a user runs it, and the stand-in Google token
//! issuer (`fake-google`) as the `command` credential source.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_alloydb-cred");

/// The stand-in's CLI, built by `cargo test --workspace` next to this test binary.
pub fn fake_google_bin() -> PathBuf {
    // Checked once per test binary: the check reads and stats every source file.
    static CHECKED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CHECKED.get_or_init(checked_fake_google_bin).clone()
}

fn checked_fake_google_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let bin = dir.join("fake-google");
    assert!(
        bin.is_file(),
        "{} is missing: run the tests with `cargo test --workspace`",
        bin.display()
    );
    // `cargo test --test it` builds this binary's dependencies, not another package's
    // binary: after an edit of the stand-in, its binary would be the old one. Cargo's
    // dep-info file beside it lists the files it was built from.
    let built = fs::metadata(&bin).and_then(|m| m.modified()).ok();
    let sources = fs::read_to_string(bin.with_extension("d")).unwrap_or_default();
    let newer: Vec<PathBuf> = dep_info_sources(&sources)
        .into_iter()
        .filter(|source| {
            let edited = fs::metadata(source).and_then(|m| m.modified()).ok();
            edited.is_none() || edited > built
        })
        .collect();
    assert!(
        newer.is_empty(),
        "{} is older than {newer:?}: build it again with `cargo test --workspace --no-run` \
         (or run the tests without --test)",
        bin.display()
    );
    bin
}

/// The files a dep-info file (`TARGET: SOURCE SOURCE…`, spaces in names escaped) names.
fn dep_info_sources(text: &str) -> Vec<PathBuf> {
    let Some((_, sources)) = text.lines().next().and_then(|line| line.split_once(": ")) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    let mut current = String::new();
    let mut chars = sources.chars().chain([' ']);
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ' ' if !current.is_empty() => files.push(PathBuf::from(std::mem::take(&mut current))),
            ' ' => {}
            _ => current.push(c),
        }
    }
    files
}

/// A TOML array literal for a `command` credential that mints through the fake.
pub fn mint_command(url: &str, principal: &str, extra: &[&str]) -> String {
    let mut argv = mint_argv(url, principal);
    argv.extend(extra.iter().map(|s| s.to_string()));
    toml_array(&argv)
}

/// `fake-google mint` for `principal` through the stand-in at `url`.
fn mint_argv(url: &str, principal: &str) -> Vec<String> {
    vec![
        fake_google_bin().display().to_string(),
        "mint".into(),
        "--url".into(),
        url.into(),
        "--principal".into(),
        principal.into(),
    ]
}

pub fn toml_array(argv: &[String]) -> String {
    let items: Vec<String> = argv.iter().map(|a| format!("{a:?}")).collect();
    format!("[{}]", items.join(", "))
}

/// One user's world: HOME (where ~/.pgpass and ~/.pg_service.conf live), a state
/// directory, and a config file.
pub struct Env {
    pub dir: TempDir,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("alloydb-cred-test.")
            .tempdir()
            .expect("temp dir");
        fs::create_dir(dir.path().join("home")).expect("home");
        Env { dir }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn pgpass(&self) -> PathBuf {
        self.home().join(".pgpass")
    }

    pub fn service_file(&self) -> PathBuf {
        self.home().join(".pg_service.conf")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    pub fn write_config(&self, text: &str) {
        fs::write(self.config_path(), text).expect("write config");
    }

    /// The binary with this user's environment and nothing inherited that would
    /// redirect it (PGPASSFILE and friends).
    pub fn cmd(&self) -> Command {
        self.cmd_with_config(&self.config_path())
    }

    /// [`Env::cmd`] with another configuration (a second one sharing the files).
    pub fn cmd_with_config(&self, config: &Path) -> Command {
        let mut cmd = Command::new(BIN);
        self.apply_env(&mut cmd);
        cmd.arg("--config").arg(config);
        cmd
    }

    pub fn apply_env(&self, cmd: &mut Command) {
        cmd.env("HOME", self.home())
            .env("ALLOYDB_CRED_STATE_DIR", self.state_dir())
            .env_remove("PGPASSFILE")
            .env_remove("PGSERVICEFILE")
            .env_remove("PGSERVICE")
            .env_remove("PGPASSWORD")
            .env_remove("PGHOST")
            .env_remove("PGUSER")
            .env_remove("PGPORT")
            .env_remove("PGDATABASE")
            .env_remove("ALLOYDB_CRED_CONFIG")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_STATE_HOME");
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run alloydb-cred")
    }

    /// A client program (psql, pg_dump) run as this user would: HOME set, so libpq
    /// finds ~/.pgpass and ~/.pg_service.conf by itself; no password anywhere else.
    pub fn client(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        self.apply_env(&mut cmd);
        cmd.env("PGCONNECT_TIMEOUT", "10");
        cmd
    }

    pub fn pgpass_text(&self) -> String {
        String::from_utf8_lossy(&fs::read(self.pgpass()).unwrap_or_default()).into_owned()
    }

    /// Writes an executable shell script into the test directory.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success and returns stdout, showing everything on failure.
#[track_caller]
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "expected success, got {:?}\nstdout: {}\nstderr: {}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// Asserts the exit code and returns stderr.
#[track_caller]
pub fn fails_with(out: Output, code: i32) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit {code}\nstdout: {}\nstderr: {}",
        stdout(&out),
        stderr(&out)
    );
    stderr(&out)
}

/// The one opt-out from the rule below: set (to anything but empty or `0`), a missing
/// prerequisite skips its part instead of failing the test.
pub const SKIP_MISSING: &str = "ALLOYDB_CRED_TEST_SKIP_MISSING";

/// Where a skip is recorded, one line each (`scripts/test.sh` sets it and prints the
/// lines after cargo's summary, which hides what tests print).
pub const SKIP_LOG: &str = "ALLOYDB_CRED_TEST_SKIP_LOG";

/// Whether a test's prerequisite is here. A missing one fails the test, naming what to
/// install (`needed`) and what would go untested, so that no run says `ok` for a check
/// it never made; only with [`SKIP_MISSING`] set does it skip that part, recorded in
/// [`SKIP_LOG`] as a line `skipped: TEST: NEEDED is missing; UNTESTED not tested`.
#[track_caller]
pub fn prerequisite(present: bool, needed: &str, untested: &str) -> bool {
    if present {
        return true;
    }
    let opted_out = std::env::var_os(SKIP_MISSING).is_some_and(|v| !v.is_empty() && v != "0");
    assert!(
        opted_out,
        "missing here: {needed}; without it {untested} would go untested. \
         scripts/test.sh installs every program and driver the tests use; to skip what is \
         missing instead, set {SKIP_MISSING}=1 (scripts/test.sh then lists each skip)"
    );
    let thread = std::thread::current();
    let test = thread.name().filter(|n| *n != "main").unwrap_or("a test");
    let line = format!("skipped: {test}: {needed} is missing; {untested} not tested\n");
    eprint!("{line}");
    if let Some(log) = std::env::var_os(SKIP_LOG) {
        // One write of one short line to a file opened for appending: lines of tests
        // running at once, in this process or another, do not interleave.
        let written = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut file| std::io::Write::write_all(&mut file, line.as_bytes()));
        if let Err(e) = written {
            panic!(
                "cannot record the skip in {}: {e}",
                Path::new(&log).display()
            );
        }
    }
    false
}

pub fn is_root() -> bool {
    // SAFETY-free way: the uid of our own /proc entry.
    fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// The stand-in Google, an AlloyDB-like PostgreSQL whose logins it checks, and a user.
pub struct World {
    pub google: fake_google::FakeGoogle,
    pub pg: fake_google::pg::PgServer,
    pub env: Env,
}

impl World {
    /// Starts both servers; `roles` are the database users that may log in.
    pub fn start(roles: &[&str]) -> World {
        let google = fake_google::FakeGoogle::start().expect("fake google");
        let pg = fake_google::pg::PgServer::start(google.ldap_port(), roles).expect("postgres");
        World {
            google,
            pg,
            env: Env::new(),
        }
    }

    /// A config with one service `db` on the test server using `credentials` (a TOML
    /// value), `defaults` lines added to [defaults] and `extra` lines for the service (or
    /// tables after it), with Google's endpoints redirected to the stand-in.
    pub fn config_text(&self, defaults: &str, credentials: &str, extra: &str) -> String {
        let url = self.google.http_url();
        format!(
            r#"[defaults]
credentials = {credentials}
{defaults}

[endpoints]
token = "{url}/token"
tokeninfo = "{url}/tokeninfo"
iamcredentials = "{url}"
sts = "{url}/v1/token"
timeout = "2s"

[services.db]
host = "127.0.0.1"
port = {port}
dbname = "appdb"
{extra}
"#,
            port = self.pg.port()
        )
    }

    /// psql with PGSERVICE=`service` and nothing else: libpq finds the rest in ~/.
    pub fn psql(&self, service: &str, sql: &str) -> Output {
        self.env
            .client(&self.pg.client("psql"))
            .args(["-X", "-A", "-t", "-w", "-c", sql])
            .env("PGSERVICE", service)
            .output()
            .expect("run psql")
    }

    /// `alloydb-cred exec --service SERVICE -- psql … -c SQL`.
    pub fn exec_psql(&self, service: &str, sql: &str) -> Output {
        self.env
            .cmd()
            .args(["exec", "--service", service, "--"])
            .arg(self.pg.client("psql"))
            .args(["-X", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("exec")
    }
}

/// A one-route HTTP server on loopback that answers every request with what `answer`
/// returns for its path: for answers the stand-in Google would never give (redirects,
/// error bodies full of secrets). Runs until the test process ends.
pub struct Responder {
    pub url: String,
}

/// What a [`Responder`] answers: status, headers, body.
pub type Answer = (u16, Vec<(&'static str, String)>, String);

impl Responder {
    pub fn start(answer: fn(&str) -> Answer) -> Responder {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(&stream);
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = std::io::Read::read_exact(&mut reader, &mut body);
                let path = request_line.split(' ').nth(1).unwrap_or("/").to_string();
                let (status, headers, text) = answer(&path);
                let mut response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                    text.len()
                );
                for (name, value) in headers {
                    response.push_str(&format!("{name}: {value}\r\n"));
                }
                response.push_str("\r\n");
                response.push_str(&text);
                let _ = (&stream).write_all(response.as_bytes());
            }
        });
        Responder { url }
    }
}

/// A `command` credential (as a TOML inline table) minting for `principal` through the
/// stand-in at `url` after `delay` seconds, that counts its runs in `count`: the stand-in
/// is shared by parallel tests, so its own counters are not the test's.
pub fn counting_mint(url: &str, principal: &str, count: &Path, delay: &str) -> String {
    let mut argv = vec![
        "sh".to_string(),
        "-c".into(),
        format!(
            "echo x >> '{}'; sleep {delay}; exec \"$0\" \"$@\"",
            count.display()
        ),
    ];
    argv.extend(mint_argv(url, principal));
    format!("{{ command = {} }}", toml_array(&argv))
}

/// How often a [`counting_mint`] credential ran.
pub fn mint_runs(count: &Path) -> usize {
    fs::read_to_string(count).map_or(0, |t| t.lines().count())
}

/// The rule of [`prerequisite`], end to end: this test binary, run again for one check
/// with a PATH that lacks its tool, fails naming what to install; with the opt-out it
/// passes and the skip is recorded where `scripts/test.sh` reads it.
#[test]
fn a_missing_tool_fails_its_test_unless_skips_are_asked_for() {
    const CHECK: &str = "packaging::systemd_units_pass_systemd_analyze_verify";
    const NEEDED: &str = "systemd-analyze (apt-get install systemd)";
    let dir = TempDir::new().expect("temp dir");
    let bare_path = dir.path().join("bin");
    fs::create_dir(&bare_path).expect("bin dir");
    let log = dir.path().join("skipped");
    let run = |skip: Option<&str>| {
        let exe = std::env::current_exe().expect("test executable path");
        let mut cmd = Command::new(exe);
        cmd.args([CHECK, "--exact", "--test-threads=1"])
            .env("PATH", &bare_path)
            .env(SKIP_LOG, &log)
            .env_remove(SKIP_MISSING);
        if let Some(value) = skip {
            cmd.env(SKIP_MISSING, value);
        }
        let out = cmd.output().expect("run the test binary");
        let text = format!("{}{}", stdout(&out), stderr(&out));
        (out.status.success(), text)
    };

    for skip in [None, Some(""), Some("0")] {
        let (passed, text) = run(skip);
        assert!(
            !passed
                && text.contains(&format!("missing here: {NEEDED}"))
                && text.contains("ALLOYDB_CRED_TEST_SKIP_MISSING=1")
                && text.contains("1 failed"),
            "without the opt-out ({skip:?}) the check fails naming its tool:\n{text}"
        );
        assert!(!log.exists(), "nothing recorded as skipped");
    }

    let (passed, text) = run(Some("1"));
    assert!(passed && text.contains("1 passed"), "{text}");
    assert_eq!(
        fs::read_to_string(&log).unwrap_or_default(),
        format!("skipped: {CHECK}: {NEEDED} is missing; its check not tested\n")
    );
}

/// Polls `done` for up to `limit` (a guard against a hang, not a measurement).
pub fn eventually(limit: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + limit;
    while std::time::Instant::now() < end {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    done()
}

/// Runs `cmd` to its end, or kills it after `limit` (a guard against a hang).
pub fn output_within(mut cmd: Command, limit: std::time::Duration) -> Option<Output> {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let exited = eventually(limit, || child.try_wait().ok().flatten().is_some());
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    }
    child.wait_with_output().ok()
}
