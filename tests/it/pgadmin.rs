//! `export pgadmin` loaded by a real pgAdmin 4 (`setup.py load-servers`), driven without
//! a browser by `tests/clients/pgadmin_connect.py`: its server-connect request and its
//! Query Tool log in to the AlloyDB-like server, which takes only a live token. The
//! `Service` entry connects through the files; the `--passexec` entry through
//! `PasswordExecCommand`, and after every token it was given has expired, pgAdmin runs
//! the command again because of `PasswordExecExpiration` and logs in with a fresh one,
//! while the same entry without the expiration keeps the stale token and is refused.
//!
//! pgAdmin is a large download with its own pinned psycopg, so it is installed apart from
//! the client matrix's drivers: `pip install --target <target>/test-deps/pgadmin -r
//! tests/clients/pgadmin-requirements.txt`, found here by that folder (or on PYTHONPATH).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

const SA: &str = "pgadmin@proj.iam.gserviceaccount.com";
const SA_USER: &str = "pgadmin@proj.iam";
/// How long each token lives: short, so that the test sees them expire, and long enough
/// for the first round of logins on a busy machine.
const TOKEN_LIFETIME: Duration = Duration::from_secs(12);
/// The service's refresh window (below the lifetime, so `token` hands a token out a while).
const REFRESH_WINDOW: &str = "4s";

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// `<target>/test-deps/pgadmin`, where pgAdmin is installed for the tests.
fn install_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // <target>/<profile>/deps/it-HASH
    let target = exe
        .ancestors()
        .nth(3)
        .expect("the target directory")
        .to_path_buf();
    target.join("test-deps").join("pgadmin")
}

/// PYTHONPATH for pgAdmin: its install folder first (its psycopg, not the client matrix's),
/// then whatever the caller set.
fn python_path() -> std::ffi::OsString {
    let mut paths = vec![install_dir()];
    if let Some(inherited) = std::env::var_os("PYTHONPATH") {
        paths.extend(std::env::split_paths(&inherited));
    }
    std::env::join_paths(paths).expect("PYTHONPATH")
}

fn pgadmin_installed() -> bool {
    let probe = Command::new("python3")
        .args(["-c", "import pgadmin4, flask, psycopg"])
        .env("PYTHONPATH", python_path())
        .output();
    prerequisite(
        probe.is_ok_and(|o| o.status.success()),
        &format!(
            "pgAdmin 4 (pip install --target {} -r tests/clients/pgadmin-requirements.txt)",
            install_dir().display()
        ),
        "export pgadmin's logins through a real pgAdmin",
    )
}

/// The driver, answering one JSON line per request.
struct PgAdmin {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    log: PathBuf,
}

impl PgAdmin {
    fn start(env: &Env, servers: &Path) -> (PgAdmin, Value) {
        let data_dir = env.dir.path().join("pgadmin");
        let log = env.dir.path().join("pgadmin-driver.log");
        let mut cmd = Command::new("python3");
        env.apply_env(&mut cmd);
        let mut child = cmd
            .arg(clients_dir().join("pgadmin_connect.py"))
            .arg(&data_dir)
            .arg(servers)
            .env("PYTHONPATH", python_path())
            // pgAdmin is imported twice (by `setup.py load-servers`, then by the driver):
            // with the bytecode the first writes, the second compiles none of it, which
            // was a third of the test's processor time.
            .env_remove("PYTHONDONTWRITEBYTECODE")
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("driver log"))
            .spawn()
            .expect("start the pgAdmin driver");
        let input = child.stdin.take().expect("stdin");
        let output = BufReader::new(child.stdout.take().expect("stdout"));
        let mut pgadmin = PgAdmin {
            child,
            input,
            output,
            log,
        };
        let ready = pgadmin.answer("start");
        (pgadmin, ready)
    }

    fn answer(&mut self, request: &str) -> Value {
        let mut line = String::new();
        let read = self.output.read_line(&mut line).unwrap_or(0);
        assert!(
            read > 0,
            "pgAdmin driver ended before answering {request:?}; its output:\n{}",
            self.log_text()
        );
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{request}: {e}: {line}"))
    }

    fn ask(&mut self, request: &str) -> Value {
        writeln!(self.input, "{request}").expect("write to the driver");
        self.input.flush().expect("flush");
        self.answer(request)
    }

    /// Asserts the request succeeded and returns the answer.
    #[track_caller]
    fn ok(&mut self, request: &str) -> Value {
        let answer = self.ask(request);
        assert_eq!(
            answer["ok"],
            true,
            "{request}: {answer}\npgAdmin's side:\n{}",
            self.log_text()
        );
        answer
    }

    fn passexec_runs(&mut self) -> u64 {
        self.ok("passexec")["runs"].as_u64().expect("a count")
    }

    fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        // The end is what matters; pgAdmin's start-up is long.
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for PgAdmin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json_of(out: std::process::Output) -> Value {
    serde_json::from_str(&ok(out)).expect("json")
}

/// The first server of an export, renamed.
fn server_named(doc: &Value, name: &str) -> Value {
    let mut server = doc["Servers"]["1"].clone();
    server["Name"] = name.into();
    server
}

#[test]
fn pgadmin_logs_in_through_the_files_and_through_passexec_after_tokens_expire() {
    if !pgadmin_installed() {
        return;
    }
    let started = Instant::now();
    let w = World::start(&[SA_USER]);
    let url = w.google.http_url();
    let lifetime = TOKEN_LIFETIME.as_secs().to_string();
    let credentials = format!(
        "{{ command = {} }}",
        mint_command(&url, SA, &["--lifetime", &lifetime])
    );
    w.env.write_config(&w.config_text(
        "",
        &credentials,
        &format!("refresh_window = \"{REFRESH_WINDOW}\""),
    ));
    ok(w.env.run(&["refresh"]));

    // Three entries for the one service: as `export pgadmin` prints it, as `export
    // pgadmin --passexec` prints it, and the latter without its expiration (what pgAdmin
    // does with a command alone).
    let service = json_of(w.env.run(&["export", "pgadmin"]));
    let passexec = json_of(w.env.run(&["export", "pgadmin", "--passexec"]));
    let expiration = passexec["Servers"]["1"]["PasswordExecExpiration"]
        .as_u64()
        .expect("an expiration");
    assert!(
        (1..4).contains(&expiration),
        "pgAdmin must ask again within the {REFRESH_WINDOW} refresh window: {passexec}"
    );
    let mut cached = server_named(&passexec, "db-cached");
    cached
        .as_object_mut()
        .expect("an object")
        .remove("PasswordExecExpiration");
    let servers = json!({ "Servers": {
        "1": server_named(&service, "db"),
        "2": server_named(&passexec, "db-passexec"),
        "3": cached,
    }});
    let servers_file = w.env.dir.path().join("servers.json");
    std::fs::write(&servers_file, servers.to_string()).expect("write servers.json");

    let (mut pgadmin, ready) = PgAdmin::start(&w.env, &servers_file);
    let group = Value::from("alloydb-cred");
    assert_eq!(
        ready["servers"],
        json!({"db": group, "db-passexec": group, "db-cached": group}),
        "{ready}"
    );
    // pgAdmin took a while to start: a token with its whole lifetime ahead.
    ok(w.env.run(&["refresh", "--force"]));
    for name in ["db", "db-passexec", "db-cached"] {
        let connected = pgadmin.ok(&format!("connect {name}"));
        assert_eq!(connected["user"], SA_USER, "{name}: {connected}");
        let rows = pgadmin.ok(&format!("query {name} select current_user"));
        assert_eq!(rows["rows"], json!([SA_USER]), "{name}: {rows}");
    }
    assert!(
        pgadmin.passexec_runs() >= 2,
        "each passexec entry ran its command"
    );

    // Every token handed out so far has expired (the server refuses them now); the files
    // get a new one, as `watch` or the timer would write it.
    std::thread::sleep(TOKEN_LIFETIME + Duration::from_secs(1));
    ok(w.env.run(&["refresh"]));

    // A new Query Tool on each still-connected server: a connection of its own.
    let rows = pgadmin.ok("query db select current_user");
    assert_eq!(rows["rows"], json!([SA_USER]), "through the files: {rows}");
    let before = pgadmin.passexec_runs();
    let rows = pgadmin.ok("query db-passexec select current_user");
    assert_eq!(
        rows["rows"],
        json!([SA_USER]),
        "through the command: {rows}"
    );
    let after = pgadmin.passexec_runs();
    assert!(
        after > before,
        "pgAdmin ran the command again once its expiration had passed"
    );
    let stale = pgadmin.ask("query db-cached select current_user");
    assert_eq!(stale["ok"], false, "the stale token logged in: {stale}");
    let error = stale["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("authentication failed"),
        "without an expiration pgAdmin reuses the first token: {stale}"
    );
    assert_eq!(
        pgadmin.passexec_runs(),
        after,
        "without an expiration pgAdmin does not run the command again"
    );
    eprintln!("pgAdmin test took {:.1} s", started.elapsed().as_secs_f64());
}
