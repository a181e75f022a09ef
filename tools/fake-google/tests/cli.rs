//! The `fake-google` binary: `mint` as a credential command, `serve` as a
//! long-running helper for scripts.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::assert_success;
use fake_google::FakeGoogle;
use fake_google::client;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fake-google"))
}

/// `fake-google mint --url URL --principal PRINCIPAL`.
fn mint(url: &str, principal: &str) -> Command {
    let mut cmd = bin();
    cmd.args(["mint", "--url", url, "--principal", principal]);
    cmd
}

#[test]
fn mint_bare_prints_a_live_token() {
    let google = FakeGoogle::start().unwrap();
    let out = mint(&google.http_url(), "demo@example.com")
        .args([
            "--bare",
            "--length",
            "300",
            "--padding",
            "1",
            "--lifetime",
            "90",
        ])
        .output()
        .unwrap();
    assert_success(&out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.ends_with('\n') && stdout.lines().count() == 1);
    let token = stdout.trim_end();
    assert_eq!(token.len(), 301);
    let record = google.token_info(token).expect("token known to the fake");
    assert_eq!(record.principal, "demo@example.com");
    assert_eq!(google.mint_count(), 1);
}

#[test]
fn mint_prints_json_by_default() {
    let google = FakeGoogle::start().unwrap();
    // A trailing slash on the URL is tolerated.
    let url = format!("{}/", google.http_url());
    let out = mint(&url, "demo@example.com").output().unwrap();
    assert_success(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["expires_in"], 3600);
    assert_eq!(json["principal"], "demo@example.com");
}

#[test]
fn mint_fails_on_http_errors_and_bad_usage() {
    let google = FakeGoogle::start().unwrap();
    google.set_failures(1, 500);
    let out = mint(&google.http_url(), "demo@example.com")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("500"));

    let out = bin()
        .args(["mint", "--principal", "x@y.z"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin().args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    // Nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = mint(&format!("http://127.0.0.1:{port}"), "x@y.z")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// Parses `KEY=value` lines (values here never need unquoting).
fn parse_env(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
        .collect()
}

fn get<'a>(vars: &'a [(String, String)], key: &str) -> &'a str {
    vars.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("{key} missing from {vars:?}"))
}

/// Starts `fake-google serve ARGS --env-file ENV_FILE` and returns it with
/// what it printed up to the line starting with `last`.
fn serve(args: &[&str], env_file: &Path, last: &str) -> (std::process::Child, String) {
    let mut child = bin()
        .arg("serve")
        .args(args)
        .arg("--env-file")
        .arg(env_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    while !printed.contains(last) {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "serve exited early: {printed}"
        );
        printed.push_str(&line);
    }
    (child, printed)
}

#[test]
fn serve_with_postgres_publishes_env_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("fake.env");
    // The same lines arrive on stdout once everything is ready.
    let (mut child, printed) = serve(
        &["--postgres", "--role", "demo@example.com"],
        &env_file,
        "PG_HAS_IPV6=",
    );
    let file_text = std::fs::read_to_string(&env_file).unwrap();
    assert_eq!(file_text, printed);
    let vars = parse_env(&file_text);
    let url = get(&vars, "FAKE_GOOGLE_URL");
    assert_eq!(get(&vars, "PGHOST_TEST"), "127.0.0.1");
    let data_dir = get(&vars, "PG_DATA_DIR").to_owned();
    assert!(Path::new(&data_dir).join("PG_VERSION").is_file());
    assert!(Path::new(get(&vars, "PG_SOCKET_DIR")).is_dir());
    let pg_port: u16 = get(&vars, "PGPORT_TEST").parse().unwrap();

    // The published fake works and the server's logins go through it.
    let token = {
        let out = mint(url, "demo@example.com")
            .arg("--bare")
            .output()
            .unwrap();
        assert_success(&out);
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let psql = Path::new(get(&vars, "PG_BINDIR")).join("psql");
    let out = Command::new(psql)
        .args(["-X", "-At", "-c", "select current_user"])
        .arg(format!(
            "host=127.0.0.1 port={pg_port} dbname=appdb user=demo@example.com sslmode=disable"
        ))
        .env("PGPASSWORD", &token)
        .env("PGPASSFILE", "/nonexistent")
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "demo@example.com"
    );
    let stats = client::get(&format!("{url}/stats"), Duration::from_secs(5))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(stats["ldap_accepted"], 1);

    // Closing stdin stops it cleanly: PostgreSQL stopped, files removed.
    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    assert!(!Path::new(&data_dir).exists(), "data dir left behind");
    assert!(!env_file.exists(), "env file left behind");
    assert!(std::net::TcpStream::connect(("127.0.0.1", pg_port)).is_err());
}

#[test]
fn serve_with_tls_publishes_https_and_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("fake.env");
    let (mut child, printed) = serve(&["--tls"], &env_file, "FAKE_GOOGLE_CA_FILE=");
    let vars = parse_env(&printed);
    let url = get(&vars, "FAKE_GOOGLE_URL");
    assert_eq!(get(&vars, "FAKE_AWS_METADATA_URL"), url);
    let https = get(&vars, "FAKE_GOOGLE_HTTPS_URL");
    let ca_pem = std::fs::read_to_string(get(&vars, "FAKE_GOOGLE_CA_FILE")).unwrap();
    let ca_der = fake_google::pem_to_der(&ca_pem).unwrap();
    let answer = common::https_get(
        https.strip_prefix("https://").unwrap(),
        "localhost",
        &ca_der,
        "/stats",
    )
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");

    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    assert!(!env_file.exists(), "env file left behind");
}
