//! What the tool trusts and what it does not, tried as a hostile neighbour, server or
//! program would: values that would add lines to the files, impossible expiries, secrets
//! in error output, a state directory or lock someone else controls, plain-text and
//! redirected transports, two configurations claiming one service, and a user's line that
//! a managed entry hides. Each ends with the files as they must be.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::common::*;
use fake_google::{FakeGoogle, MintOptions};

const SA: &str = "robot@proj.iam.gserviceaccount.com";
const HOSTILE: &str = "kai@altostrat.com\n[evil]\nhost=attacker.example";
const FOREIGN_PGPASS: &[u8] = b"# mine\r\notherhost:5432:*:bob:bobspassword\r\n";
const FOREIGN_SERVICES: &[u8] = b"[legacy]\nhost=old.example\n";

/// One stand-in Google for the whole binary (each use holds it for one statement).
fn google() -> MutexGuard<'static, FakeGoogle> {
    static GOOGLE: OnceLock<Mutex<FakeGoogle>> = OnceLock::new();
    GOOGLE
        .get_or_init(|| Mutex::new(FakeGoogle::start().expect("fake google")))
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A user whose files already hold their own lines.
fn user() -> Env {
    let env = Env::new();
    fs::write(env.pgpass(), FOREIGN_PGPASS).expect("seed pgpass");
    fs::set_permissions(env.pgpass(), fs::Permissions::from_mode(0o600)).expect("chmod");
    fs::write(env.service_file(), FOREIGN_SERVICES).expect("seed services");
    env
}

/// A config whose one service `db` gets its token from `credentials` (a TOML value).
fn config(env: &Env, credentials: &str, extra: &str) {
    let url = google().http_url();
    env.write_config(&format!(
        "[defaults]\ncredentials = {credentials}\n{extra}\n[endpoints]\ntokeninfo = \"{url}/tokeninfo\"\ntoken = \"{url}/token\"\ntimeout = \"2s\"\n\n[services.db]\nhost = \"127.0.0.1\"\ndbname = \"appdb\"\n"
    ));
}

/// A `command` credential that prints `output` (written to a file, so no token is in argv).
fn printing(env: &Env, name: &str, output: &str) -> String {
    let file = env.dir.path().join(format!("{name}.out"));
    fs::write(&file, output).expect("write output");
    format!(
        "{{ command = {} }}",
        toml_array(&["cat".to_string(), file.display().to_string()])
    )
}

/// A counting credential for `SA` through the shared stand-in, counting in the test's own
/// directory.
fn counting_mint_in(env: &Env, delay: &str) -> (String, std::path::PathBuf) {
    let count = env.dir.path().join("mints");
    (
        counting_mint(&google().http_url(), SA, &count, delay),
        count,
    )
}

fn files_of(env: &Env) -> (Vec<u8>, Vec<u8>) {
    (
        fs::read(env.pgpass()).unwrap_or_default(),
        fs::read(env.service_file()).unwrap_or_default(),
    )
}

#[test]
fn a_hostile_principal_from_tokeninfo_or_a_command_changes_no_byte() {
    let env = user();
    // tokeninfo names a principal with a newline and a section header in it.
    let token = google().mint_with(&MintOptions::new(HOSTILE));
    config(&env, &printing(&env, "bare", &token), "");
    let err = fails_with(env.run(&["refresh"]), 1);
    assert!(err.contains("tokeninfo at"), "names the source: {err}");
    assert!(err.contains("not a Google account's e-mail"), "{err}");
    assert!(!err.contains("attacker") && !err.contains(&token), "{err}");
    assert_eq!(
        files_of(&env),
        (FOREIGN_PGPASS.to_vec(), FOREIGN_SERVICES.to_vec())
    );

    // A token command that says so itself.
    let json =
        serde_json::json!({"access_token": "ya29.x", "expires_in": 3000, "principal": HOSTILE});
    config(&env, &printing(&env, "json", &json.to_string()), "");
    let err = fails_with(env.run(&["refresh"]), 1);
    assert!(err.contains("token command"), "{err}");
    assert!(!err.contains("attacker"), "{err}");
    assert_eq!(
        files_of(&env),
        (FOREIGN_PGPASS.to_vec(), FOREIGN_SERVICES.to_vec())
    );
    // And remove --all still finds nothing of its own to remove: no broken entry exists.
    ok(env.run(&["remove", "--all"]));
    assert_eq!(
        files_of(&env),
        (FOREIGN_PGPASS.to_vec(), FOREIGN_SERVICES.to_vec())
    );
}

#[test]
fn an_expiry_in_the_past_or_beyond_twelve_hours_is_refused() {
    let env = user();
    for (expires_in, says) in [
        (99_999_999_999i64, "more than 12 hours"),
        (-5, "already expired"),
    ] {
        let json = serde_json::json!({"access_token": "ya29.x", "expires_in": expires_in, "principal": SA});
        config(&env, &printing(&env, "json", &json.to_string()), "");
        let err = fails_with(env.run(&["refresh"]), 1);
        assert!(err.contains(says), "{err}");
        assert_eq!(files_of(&env).0, FOREIGN_PGPASS);
    }
}

/// Every kind of secret the redactor must catch, as a failing program or server prints it.
const SECRETS: [&str; 6] = [
    "ya29.a0AfB_SECRETaccessTOKEN",
    "1//0gSECRETrefreshTOKEN-abc_def",
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJTRUNSRVQifQ.c2lnbmF0dXJlU0VDUkVU",
    "GOCSPX-SECRETclientSECRET0123456",
    "QWxhZGRpbjpvcGVuIHNlc2FtZTEyMzQ1Njc4OTBhYmNkZWY0123",
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
];

fn assert_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(
            !text.contains(&secret[6..20]),
            "{what} shows a secret ({secret}):\n{text}"
        );
    }
    assert!(!text.contains("hunter2"), "{what}:\n{text}");
}

fn everywhere(env: &Env) -> Vec<(&'static str, String)> {
    vec![
        (
            "state.json",
            fs::read_to_string(env.state_dir().join("state.json")).unwrap_or_default(),
        ),
        ("status", stdout(&env.run(&["status"]))),
        ("status --json", stdout(&env.run(&["status", "--json"]))),
    ]
}

#[test]
fn secrets_in_a_failing_program_or_endpoint_reach_no_output_state_or_status() {
    let env = user();
    let noisy = env.script(
        "noisy",
        &format!(
            "echo 'refresh failed: {} {} {}' >&2\necho '\"client_secret\": \"hunter2\", key {}' >&2\necho '-----BEGIN PRIVATE KEY-----' >&2\necho '{}' >&2\necho '-----END PRIVATE KEY-----' >&2\necho 'id_token={}' >&2\nexit 3",
            SECRETS[0], SECRETS[1], SECRETS[2], SECRETS[3], SECRETS[5], SECRETS[4]
        ),
    );
    config(
        &env,
        &format!(
            "{{ command = {} }}",
            toml_array(&[noisy.display().to_string()])
        ),
        "",
    );
    let out = env.run(&["-vv", "refresh"]);
    let err = fails_with(out, 1);
    assert!(err.contains("exited with status 3"), "{err}");
    assert_no_secret("stderr", &err);
    for (what, text) in everywhere(&env) {
        assert!(!text.is_empty(), "{what} is empty");
        assert_no_secret(what, &text);
    }

    // An endpoint whose error says too much.
    let responder = Responder::start(|_| {
        let body = serde_json::json!({
            "error": "invalid_grant",
            "error_description": format!("bad refresh_token={} for {} and {}", SECRETS[1], SECRETS[0], SECRETS[4]),
        });
        (
            400,
            vec![("content-type", "application/json".into())],
            body.to_string(),
        )
    });
    let adc = serde_json::json!({
        "type": "authorized_user", "client_id": "c", "client_secret": "GOCSPX-SECRETclientSECRET0123456",
        "refresh_token": SECRETS[1],
    });
    let adc_path = env.dir.path().join("adc.json");
    fs::write(&adc_path, adc.to_string()).expect("adc");
    env.write_config(&format!(
        "[defaults]\ncredentials = \"adc\"\n[endpoints]\ntoken = \"{}/token\"\ntimeout = \"2s\"\n[services.db]\nhost = \"127.0.0.1\"\n",
        responder.url
    ));
    let out = env
        .cmd()
        .args(["-vv", "refresh"])
        .env("GOOGLE_APPLICATION_CREDENTIALS", &adc_path)
        .output()
        .expect("run");
    let err = fails_with(out, 1);
    assert!(err.contains("invalid_grant"), "{err}");
    assert_no_secret("stderr", &err);
    for (what, text) in everywhere(&env) {
        assert_no_secret(what, &text);
    }
}

#[test]
fn the_state_directory_and_lock_files_cannot_be_hijacked() {
    let env = user();
    let token = google().mint(SA, Duration::from_secs(3600), &[], 200);
    config(&env, &printing(&env, "bare", &token), "");

    // A state directory others can write to is refused, with the fix.
    fs::create_dir_all(env.state_dir()).expect("state dir");
    fs::set_permissions(env.state_dir(), fs::Permissions::from_mode(0o777)).expect("chmod");
    let err = fails_with(env.run(&["refresh"]), 2);
    assert!(
        err.contains(&format!("chmod 700 {}", env.state_dir().display())),
        "{err}"
    );
    assert_eq!(files_of(&env).0, FOREIGN_PGPASS);
    fs::set_permissions(env.state_dir(), fs::Permissions::from_mode(0o700)).expect("chmod");

    // A lock file planted as a symlink is never followed.
    let elsewhere = env.dir.path().join("elsewhere");
    std::os::unix::fs::symlink(&elsewhere, env.home().join(".alloydb-cred.lock")).expect("plant");
    let err = fails_with(env.run(&["refresh"]), 1);
    assert!(err.contains("symbolic link"), "{err}");
    assert!(!elsewhere.exists(), "nothing created through the link");
    fs::remove_file(env.home().join(".alloydb-cred.lock")).expect("unplant");

    // A fresh state directory is private, and the state file 0600.
    fs::remove_dir_all(env.state_dir()).expect("rm state");
    ok(env.run(&["refresh"]));
    let mode = |p: &Path| fs::metadata(p).map(|m| m.permissions().mode() & 0o777).ok();
    assert_eq!(mode(&env.state_dir()), Some(0o700));
    assert_eq!(mode(&env.state_dir().join("state.json")), Some(0o600));

    // A lock held elsewhere is waited for only as long as lock_timeout, then named.
    let lock = env.home().join(".alloydb-cred.lock");
    let holder = Command::new("flock")
        .arg(&lock)
        .args(["sh", "-c", "echo $PPID > \"$1\"; exec sleep 20", "sh"])
        .arg(&lock)
        .stdin(Stdio::null())
        .spawn();
    let Ok(mut holder) = holder else {
        prerequisite(false, "flock (apt-get install util-linux)", "a held lock");
        return;
    };
    std::thread::sleep(Duration::from_millis(300));
    config(
        &env,
        &printing(&env, "bare", &token),
        "lock_timeout = \"1s\"",
    );
    let started = Instant::now();
    let err = fails_with(env.run(&["refresh", "--force"]), 1);
    let waited = started.elapsed();
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(
        err.contains("gave up after 1s waiting for the lock"),
        "{err}"
    );
    assert!(err.contains(&lock.display().to_string()), "{err}");
    assert!(err.contains("held by process"), "{err}");
    assert!(waited < Duration::from_secs(10), "bounded: {waited:?}");
}

#[test]
fn plain_text_endpoints_and_redirects_are_refused() {
    let env = user();
    // In the configuration: refused at load, naming the line.
    env.write_config(
        "[endpoints]\ntoken = \"http://oauth2.example.com/token\"\n[services.db]\nhost = \"h\"\n",
    );
    let err = fails_with(env.run(&["refresh"]), 2);
    assert!(err.contains("line 2") && err.contains("https://"), "{err}");

    // In a credential file: refused before anything is sent.
    let mut key = google().add_service_account(SA);
    key["token_uri"] = "http://192.0.2.1/token".into();
    let key_path = env.dir.path().join("key.json");
    fs::write(&key_path, key.to_string()).expect("key");
    env.write_config(&format!(
        "[defaults]\ncredentials = {{ key_file = {:?} }}\n[endpoints]\ntimeout = \"1s\"\n[services.db]\nhost = \"h\"\n",
        key_path.display().to_string()
    ));
    let started = Instant::now();
    let err = fails_with(env.run(&["refresh"]), 1);
    assert!(err.contains("plain http://"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no connection was tried"
    );

    // A redirect is never followed: the request carries a signed assertion.
    let responder = Responder::start(|_| {
        (
            302,
            vec![("location", "https://attacker.example/token".into())],
            String::new(),
        )
    });
    env.write_config(&format!(
        "[defaults]\ncredentials = {{ key_file = {:?} }}\n[endpoints]\ntoken = \"{}/token\"\ntimeout = \"2s\"\n[services.db]\nhost = \"h\"\n",
        key_path.display().to_string(),
        responder.url
    ));
    let err = fails_with(env.run(&["refresh"]), 1);
    assert!(err.contains("redirect (HTTP 302)"), "{err}");
    assert_eq!(files_of(&env).0, FOREIGN_PGPASS);
}

/// Two configurations in one home directory, both defining service `db`.
fn two_configs(env: &Env, credentials: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let first = env.dir.path().join("first.toml");
    let second = env.dir.path().join("second.toml");
    for path in [&first, &second] {
        fs::write(
            path,
            format!(
                "[defaults]\ncredentials = {credentials}\n[services.db]\nhost = \"127.0.0.1\"\n[services.only_{}]\nhost = \"127.0.0.2\"\n",
                path.file_stem().and_then(|s| s.to_str()).unwrap_or("x")
            ),
        )
        .expect("config");
    }
    (first, second)
}

fn run_with(env: &Env, config: &Path, args: &[&str]) -> Output {
    env.cmd_with_config(config)
        .args(args)
        .output()
        .expect("run")
}

#[test]
fn two_configurations_sharing_the_files_do_not_fight() {
    let env = user();
    let (credentials, count) = counting_mint_in(&env, "0");
    let (first, second) = two_configs(&env, &credentials);
    ok(run_with(&env, &first, &["refresh"]));
    assert_eq!(
        mint_runs(&count),
        1,
        "one mint for both of the first's services"
    );

    // The second one may not take `db`: exit 2 naming both, and its own service is done.
    let err = fails_with(run_with(&env, &second, &["refresh"]), 2);
    assert!(err.contains(&first.display().to_string()), "{err}");
    assert!(err.contains(&second.display().to_string()), "{err}");
    let text = String::from_utf8_lossy(&fs::read(env.pgpass()).expect("pgpass")).into_owned();
    assert!(text.contains("service=only_second"), "{text}");
    assert_eq!(mint_runs(&count), 2, "one mint, for only_second");
    // No fight: the first has nothing due, nothing is minted for `db` again.
    ok(run_with(&env, &first, &["refresh"]));
    assert_eq!(mint_runs(&count), 2, "nothing due for the first");

    // status and remove --all of the second act on its own entries only.
    let status: serde_json::Value =
        serde_json::from_str(&ok(run_with(&env, &second, &["status", "--json"]))).expect("json");
    assert_eq!(status["unconfigured_entries"], serde_json::json!([]));
    assert_eq!(status["entries_of_other_configurations"], 2);
    ok(run_with(&env, &second, &["remove", "--all"]));
    let text = String::from_utf8_lossy(&fs::read(env.pgpass()).expect("pgpass")).into_owned();
    assert!(!text.contains("only_second"), "{text}");
    assert!(
        text.contains("service=db") && text.contains("service=only_first"),
        "{text}"
    );

    // Once the first configuration is gone, the second takes `db` over.
    fs::remove_file(&first).expect("rm first");
    let out = run_with(&env, &second, &["refresh"]);
    let err = stderr(&out);
    ok(out);
    assert!(err.contains("taking over"), "{err}");
}

#[test]
fn writers_reaching_the_files_by_other_paths_and_state_dirs_still_mint_once() {
    let env = user();
    let link = env.dir.path().join("home-link");
    std::os::unix::fs::symlink(env.home(), &link).expect("symlink");
    // A slow token command, so that the writers really overlap.
    let (credentials, count) = counting_mint_in(&env, "0.3");
    env.write_config(&format!(
        "[defaults]\ncredentials = {credentials}\n[services.db]\nhost = \"127.0.0.1\"\n"
    ));
    let children: Vec<_> = (0..6)
        .map(|i| {
            let mut cmd = env.cmd();
            // Half of them find ~/.pgpass through a symlinked home directory, each with a
            // state directory of its own.
            if i % 2 == 1 {
                cmd.env("HOME", &link).env(
                    "ALLOYDB_CRED_STATE_DIR",
                    env.dir.path().join(format!("state-{i}")),
                );
            }
            cmd.arg("refresh")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        ok(child.wait_with_output().expect("wait"));
    }
    assert_eq!(mint_runs(&count), 1, "minted once");
    let text = String::from_utf8_lossy(&fs::read(env.pgpass()).expect("pgpass")).into_owned();
    assert_eq!(
        text.matches("# alloydb-cred service=db ").count(),
        1,
        "{text}"
    );
}

#[test]
fn a_users_line_hidden_by_a_managed_entry_is_reported_once_and_in_status() {
    let env = Env::new();
    fs::write(
        env.pgpass(),
        b"127.0.0.1:5432:appdb:robot@proj.iam:my-old-password\n",
    )
    .expect("seed");
    fs::set_permissions(env.pgpass(), fs::Permissions::from_mode(0o600)).expect("chmod");
    config(&env, &counting_mint_in(&env, "0").0, "");
    let first = env.run(&["refresh"]);
    let err = stderr(&first);
    ok(first);
    assert!(err.contains("line 3 of"), "{err}");
    assert!(err.contains("127.0.0.1:5432:appdb:robot@proj.iam"), "{err}");
    assert!(!err.contains("my-old-password"), "{err}");
    let again = env.run(&["refresh", "--force"]);
    let err = stderr(&again);
    ok(again);
    assert!(
        !err.contains("line 3 of"),
        "reported once per change: {err}"
    );
    let status = ok(env.run(&["status"]));
    assert!(status.contains("line 3 of"), "{status}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(env.run(&["status", "--json"]))).expect("json");
    assert_eq!(json["shadowed_lines"][0]["line"], 3);
    assert_eq!(
        json["services"][0]["token_scope"], "login-only",
        "the stand-in says its scope"
    );
}

#[test]
fn tls_endpoints_are_trusted_through_the_systems_store_and_ssl_cert_file() {
    let ca = fake_google::tls::TestCa::new("alloydb-cred test CA").expect("ca");
    let stranger = fake_google::tls::TestCa::new("someone else's CA").expect("ca");
    let tls_google = FakeGoogle::start_tls(&ca).expect("fake google over TLS");
    let https = tls_google.https_url().expect("https url");
    let env = user();
    // The assertion's audience stays Google's; the request goes to the TLS stand-in.
    let mut key = tls_google.add_service_account(SA);
    key["token_uri"] = "https://oauth2.googleapis.com/token".into();
    let key_path = env.dir.path().join("key.json");
    fs::write(&key_path, key.to_string()).expect("key");
    env.write_config(&format!(
        "[defaults]\ncredentials = {{ key_file = {:?} }}\n[endpoints]\ntoken = \"{https}/token\"\ntimeout = \"2s\"\n[services.db]\nhost = \"127.0.0.1\"\n",
        key_path.display().to_string()
    ));
    let run = |ca_file: &Path| {
        env.cmd()
            .arg("refresh")
            .env("SSL_CERT_FILE", ca_file)
            .env_remove("SSL_CERT_DIR")
            .output()
            .expect("run")
    };
    // A trust store without the stand-in's CA: refused, nothing written.
    let err = fails_with(run(stranger.cert_path()), 1);
    assert!(
        err.to_lowercase().contains("certificate") || err.contains("UnknownIssuer"),
        "{err}"
    );
    assert_eq!(files_of(&env).0, FOREIGN_PGPASS);
    // The corporate-CA case: the CA in SSL_CERT_FILE is trusted.
    ok(run(ca.cert_path()));
    let text = String::from_utf8_lossy(&fs::read(env.pgpass()).expect("pgpass")).into_owned();
    assert!(text.contains("service=db"), "{text}");
}
