//! The client matrix: every driver the README promises logs in to the AlloyDB-like server
//! (which accepts only a live token for the right principal) through the files
//! `alloydb-cred refresh` wrote, and nothing else: psycopg 3 over libpq, asyncpg and
//! node-postgres with their own password-file readers, and pgjdbc (DBeaver, DataGrip)
//! with its own service-file and password-file readers. The programs are in
//! `tests/clients/`; `scripts/test.sh` installs their drivers.
//!
//! Each client runs against two machines' worth of files: in the home directory, and
//! where PGPASSFILE and PGSERVICEFILE point. Tokens are 2,500 characters, the password
//! file held a user's CRLF lines before the refresh (one of them an old password for the
//! same connection, below the managed block), and every service exists for 127.0.0.1 and
//! ::1. A client that cannot work with a setup is asserted to fail the way the README
//! says.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;

use crate::common::*;

const SA: &str = "my-service@my-project.iam.gserviceaccount.com";
const USER: &str = "my-service@my-project.iam";
const TOKEN_LENGTH: usize = 2500;
/// Debian's `libpostgresql-jdbc-java`.
const PGJDBC_JAR: &str = "/usr/share/java/postgresql.jar";

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// One user's files, as the clients will look for them.
struct Setup {
    what: &'static str,
    env: Env,
    /// PGPASSFILE and PGSERVICEFILE, when the files are not in the home directory.
    vars: Option<(PathBuf, PathBuf)>,
    /// Whether the user's own lines include an old password for the 127.0.0.1
    /// connection (below the managed block, so the first match is still the token).
    old_password_below: bool,
}

impl Setup {
    fn pgpass(&self) -> PathBuf {
        self.vars
            .as_ref()
            .map_or_else(|| self.env.pgpass(), |(p, _)| p.clone())
    }

    fn service_file(&self) -> PathBuf {
        self.vars
            .as_ref()
            .map_or_else(|| self.env.service_file(), |(_, s)| s.clone())
    }

    fn with_vars(&self, mut cmd: Command) -> Command {
        if let Some((pgpass, service_file)) = &self.vars {
            cmd.env("PGPASSFILE", pgpass)
                .env("PGSERVICEFILE", service_file);
        }
        cmd
    }

    /// A client program with this user's HOME (and PGPASSFILE/PGSERVICEFILE) only.
    fn client(&self, program: impl AsRef<Path>) -> Command {
        self.with_vars(self.env.client(program.as_ref()))
    }

    fn refresh(&self) -> Output {
        let mut cmd = self.with_vars(self.env.cmd());
        cmd.arg("refresh").output().expect("run alloydb-cred")
    }
}

/// Whether a client's driver is installed (a probe that succeeds); see [`prerequisite`].
fn installed(client: &str, probe: &mut Command) -> bool {
    let found = probe.output().is_ok_and(|o| o.status.success());
    prerequisite(found, client, "its logins")
}

fn python_module(module: &str) -> Command {
    let mut cmd = Command::new("python3");
    cmd.args(["-c", &format!("import {module}")]);
    cmd
}

#[track_caller]
fn run(mut cmd: Command, what: &str) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"))
}

/// Asserts that the client logged in exactly as `expected` (one `label|user|address`
/// line each) and shows the driver versions it reported.
#[track_caller]
fn assert_logins(out: &Output, what: &str, expected: &[String]) {
    let got = stdout(out);
    let got: Vec<&str> = got.lines().collect();
    assert!(
        out.status.success() && got == expected,
        "{what}: expected logins {expected:#?}\nstatus: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        stdout(out),
        stderr(out)
    );
    for line in stderr(out).lines().filter(|l| l.starts_with("version: ")) {
        eprintln!("{what}: {line}");
    }
}

/// Runs a client that takes service names, with every service, and asserts its logins.
#[track_caller]
fn assert_service_logins(mut cmd: Command, what: &str, ipv6: bool) {
    let mut expected = Vec::new();
    for (service, host) in hosts(ipv6) {
        cmd.arg(service);
        expected.push(login(service, host));
    }
    assert_logins(&run(cmd, what), what, &expected);
}

fn login(label: &str, addr: &str) -> String {
    format!("{label}|{USER}|{addr}")
}

/// The addresses the server listens on, as service name and host.
fn hosts(ipv6: bool) -> Vec<(&'static str, &'static str)> {
    let mut hosts = vec![("v4", "127.0.0.1")];
    if ipv6 {
        hosts.push(("v6", "::1"));
    }
    hosts
}

fn psycopg(setup: &Setup, ipv6: bool) {
    let script = clients_dir().join("psycopg_login.py");
    // The libpq bundled with psycopg-binary, then the system's (Debian's) libpq.
    for implementation in ["binary", "python"] {
        let what = format!("psycopg ({implementation}), files {}", setup.what);
        let mut cmd = setup.client("python3");
        cmd.arg(&script).env("PSYCOPG_IMPL", implementation);
        assert_service_logins(cmd, &what, ipv6);
    }
}

fn asyncpg(setup: &Setup, ipv6: bool, port: u16) {
    let script = clients_dir().join("asyncpg_login.py");
    let user = USER.replace('@', "%40");
    let what = format!("asyncpg, files {}", setup.what);
    // A service DSN (asyncpg 0.31+) and an explicit one: the password from the file.
    let dsns = [
        "postgresql://?service=v4".to_string(),
        format!("postgresql://{user}@127.0.0.1:{port}/appdb"),
    ];
    let mut cmd = setup.client("python3");
    cmd.arg(&script).args(&dsns);
    let expected: Vec<String> = dsns.iter().map(|d| login(d, "127.0.0.1")).collect();
    assert_logins(&run(cmd, &what), &what, &expected);

    if !ipv6 {
        return;
    }
    // IPv6 cannot work, in two documented ways. asyncpg's password-file reader never
    // unescapes `\:`, so the entry for ::1 never matches and the server refuses the
    // empty password; its service-file reader takes `host=::1` for host "" and port ":1",
    // so the name lookup fails before any connection.
    let explicit = format!("postgresql://{user}@[::1]:{port}/appdb");
    let service = "postgresql://?service=v6";
    let mut cmd = setup.client("python3");
    cmd.arg(&script).args([explicit.as_str(), service]);
    let out = run(cmd, &what);
    let err = stderr(&out);
    assert!(
        out.status.code() == Some(1) && stdout(&out).is_empty(),
        "{what}: IPv6 logins must fail\nstdout: {}\nstderr: {err}",
        stdout(&out)
    );
    assert!(
        err.lines().any(|l| l.starts_with(&format!(
            "{explicit}: InvalidPasswordError: empty password returned by client"
        ))),
        "{what}: an IPv6 host finds no password in the file:\n{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.starts_with(&format!("{service}: gaierror:"))),
        "{what}: asyncpg misreads an IPv6 host in the service file:\n{err}"
    );
}

fn node_postgres(setup: &Setup, ipv6: bool, port: u16) {
    let script = clients_dir().join("node/login.js");
    // pg 8's own password-file lookup (deprecated there; pgpass 1.0.5), then a password
    // function calling pgpass 1.0.6, which pg's deprecation notice points pg 9 users to.
    for (mode, takes_last_match) in [(None, true), (Some("--pgpass-module"), false)] {
        let what = format!(
            "node-postgres{}, files {}",
            mode.map_or(String::new(), |m| format!(" {m}")),
            setup.what
        );
        let mut cmd = setup.client("node");
        cmd.arg(&script).args(mode);
        let mut expected = Vec::new();
        for (_, host) in hosts(ipv6) {
            let params = serde_json::json!({
                "host": host, "port": port, "user": USER, "database": "appdb",
            });
            cmd.arg(params.to_string());
            expected.push(login(host, host));
        }
        let out = run(cmd, &what);
        if !(takes_last_match && setup.old_password_below) {
            assert_logins(&out, &what, &expected);
            continue;
        }
        // pgpass 1.0.5 keeps reading after a match and returns the last matching line of
        // what it has read (the whole of a small file): the user's old password below the
        // managed block wins over the token, and the server refuses it. ::1 has no such
        // line and logs in.
        let err = stderr(&out);
        assert!(
            out.status.code() == Some(1)
                && stdout(&out).lines().collect::<Vec<_>>() == expected[1..]
                && err
                    .lines()
                    .any(|l| l.starts_with("127.0.0.1: ") && l.contains("authentication failed")),
            "{what}: pg 8 takes the last matching line (the old password) for 127.0.0.1\n\
             stdout: {}\nstderr: {err}",
            stdout(&out)
        );
    }
}

fn pgjdbc(setup: &Setup, ipv6: bool) {
    let what = format!("pgjdbc, files {}", setup.what);
    // Java's home directory comes from the user database, not $HOME: give it ours. The
    // quick JIT tier halves the start-up of a program that runs for a second.
    let mut cmd = setup.client("java");
    cmd.arg(format!("-Duser.home={}", setup.env.home().display()))
        .args(["-XX:TieredStopAtLevel=1", "-cp", PGJDBC_JAR])
        .arg(clients_dir().join("PgjdbcLogin.java"));
    assert_service_logins(cmd, &what, ipv6);
}

/// A user's own password-file lines, with CRLF endings, that `refresh` must keep.
fn foreign_lines(port: u16, old_password: bool) -> String {
    let mut lines = String::from("# my own servers\r\nreports.internal:5432:*:analyst:hunter2\r\n");
    if old_password {
        lines.push_str(&format!("127.0.0.1:{port}:*:{USER}:an-old-password\r\n"));
    }
    lines
}

fn config(w: &World, ipv6: bool) -> String {
    let port = w.pg.port();
    let length = TOKEN_LENGTH.to_string();
    let mut config = format!(
        "[defaults]\ncredentials = {{ command = {} }}\n",
        mint_command(
            &w.google.http_url(),
            SA,
            &["--length", &length, "--padding", "2"]
        )
    );
    for (service, host) in hosts(ipv6) {
        config.push_str(&format!(
            "\n[services.{service}]\nhost = \"{host}\"\nport = {port}\ndbname = \"appdb\"\n"
        ));
    }
    config
}

/// Writes the user's CRLF lines, runs `refresh`, and checks what the clients will read.
fn prepare(setup: &Setup, config: &str, port: u16) {
    let pgpass = setup.pgpass();
    if let Some(parent) = pgpass.parent() {
        fs::create_dir_all(parent).expect("pgpass directory");
    }
    fs::write(&pgpass, foreign_lines(port, setup.old_password_below)).expect("write pgpass");
    fs::set_permissions(&pgpass, fs::Permissions::from_mode(0o600)).expect("chmod pgpass");
    setup.env.write_config(config);
    ok(setup.refresh());

    let text = String::from_utf8(fs::read(&pgpass).expect("read pgpass")).expect("UTF-8");
    assert!(
        text.starts_with("# alloydb-cred service="),
        "managed block on top:\n{text:.300}"
    );
    assert!(
        text.ends_with(&foreign_lines(port, setup.old_password_below)),
        "the user's CRLF lines survive byte for byte"
    );
    let token_lines: Vec<&str> = text.lines().filter(|l| l.contains(":ya29.")).collect();
    assert!(
        !token_lines.is_empty() && token_lines.iter().all(|l| l.len() > TOKEN_LENGTH),
        "long tokens in the managed entries"
    );
    if setup.vars.is_some() {
        assert!(!setup.env.pgpass().exists() && !setup.env.service_file().exists());
    }
    let service_file = fs::read_to_string(setup.service_file()).expect("service file");
    assert!(
        !service_file.contains("passfile"),
        "the password file is where every client looks: no passfile= (pgjdbc rejects it)"
    );
}

#[test]
fn every_promised_client_logs_in_through_the_generated_files() {
    let w = World::start(&[USER]);
    let port = w.pg.port();
    let ipv6 = w.pg.has_ipv6();
    prerequisite(ipv6, "IPv6 loopback (::1)", "IPv6 logins");
    let config = config(&w, ipv6);

    // The files where libpq and every other reader look by default…
    let home = Setup {
        what: "in HOME",
        env: Env::new(),
        vars: None,
        old_password_below: true,
    };
    // …and where PGPASSFILE and PGSERVICEFILE point, with nothing in HOME.
    let elsewhere = Env::new();
    let dir = elsewhere.dir.path().join("elsewhere");
    let vars = Setup {
        what: "from PGPASSFILE/PGSERVICEFILE",
        vars: Some((dir.join("pgpass"), dir.join("pg_service.conf"))),
        env: elsewhere,
        old_password_below: false,
    };
    let setups = [home, vars];
    for setup in &setups {
        prepare(setup, &config, port);
    }

    let psycopg_ok = installed(
        "psycopg (pip install -r tests/clients/requirements.txt)",
        &mut python_module("psycopg"),
    );
    let asyncpg_ok = installed(
        "asyncpg (pip install -r tests/clients/requirements.txt)",
        &mut python_module("asyncpg"),
    );
    let mut node_probe = Command::new("node");
    node_probe
        .args(["-e", "require('pg'); require('pgpass')"])
        .current_dir(clients_dir().join("node"));
    let node_ok = installed(
        "node-postgres (npm ci from tests/clients/node, on NODE_PATH)",
        &mut node_probe,
    );
    let mut jar_probe = Command::new("test");
    jar_probe.args(["-f", PGJDBC_JAR]);
    let mut java_probe = Command::new("java");
    java_probe.arg("-version");
    let pgjdbc_ok = installed(
        "pgjdbc (apt-get install libpostgresql-jdbc-java)",
        &mut jar_probe,
    ) && installed(
        "a JDK (apt-get install default-jdk-headless)",
        &mut java_probe,
    );

    // The clients are independent readers of the same files: run them side by side.
    let setups = &setups;
    let failed: Vec<&str> = thread::scope(|s| {
        let mut runs = Vec::new();
        if psycopg_ok {
            runs.push((
                "psycopg",
                s.spawn(move || setups.iter().for_each(|x| psycopg(x, ipv6))),
            ));
        }
        if asyncpg_ok {
            runs.push((
                "asyncpg",
                s.spawn(move || setups.iter().for_each(|x| asyncpg(x, ipv6, port))),
            ));
        }
        if node_ok {
            runs.push((
                "node-postgres",
                s.spawn(move || setups.iter().for_each(|x| node_postgres(x, ipv6, port))),
            ));
        }
        if pgjdbc_ok {
            runs.push((
                "pgjdbc",
                s.spawn(move || setups.iter().for_each(|x| pgjdbc(x, ipv6))),
            ));
        }
        runs.into_iter()
            .filter_map(|(client, run)| run.join().is_err().then_some(client))
            .collect()
    });
    assert!(
        failed.is_empty(),
        "clients that failed (messages above): {failed:?}"
    );
}
