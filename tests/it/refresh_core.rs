//! The refresh core: no network and no credential program while the files are locked,
//! per-credential locks, and what a failing service leaves behind. Each test tries what a
//! user (or another program) really does at the same time as a refresh.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;
use fake_google::FakeGoogle;
use libpq_files::pgpass::PgpassFile;

const SA: &str = "robot@proj.iam.gserviceaccount.com";

fn seed(env: &Env) {
    fs::write(
        env.pgpass(),
        b"# mine\nlegacy.example.com:5432:*:alice:s3cret\n",
    )
    .expect("seed");
    fs::set_permissions(env.pgpass(), fs::Permissions::from_mode(0o600)).expect("chmod");
    fs::write(env.service_file(), b"[mine]\nhost=legacy.example.com\n").expect("seed");
}

/// Appends `n` lines to both files with `echo >>`, as a user or a script does (no lock
/// taken), one pair every `pause` seconds.
fn append_lines(env: &Env, n: usize, pause: &str) -> Child {
    Command::new("sh")
        .arg("-c")
        .arg(
            "i=0; while [ $i -lt \"$1\" ]; do \
               echo \"added$i.example.com:5432:*:u$i:p$i\" >> \"$2\"; \
               echo \"# note $i added by hand\" >> \"$3\"; \
               i=$((i+1)); sleep \"$4\"; done",
        )
        .arg("sh")
        .arg(n.to_string())
        .arg(env.pgpass())
        .arg(env.service_file())
        .arg(pause)
        .spawn()
        .expect("spawn the appender")
}

fn finish(mut appender: Child) {
    assert!(
        appender.wait().expect("wait").success(),
        "the appender failed"
    );
}

fn assert_every_line_kept(env: &Env, n: usize) {
    let pgpass = env.pgpass_text();
    let services = fs::read_to_string(env.service_file()).expect("read");
    // Each line exactly once: none lost, none carried over twice.
    let lost_pgpass: Vec<usize> = (0..n)
        .filter(|i| {
            pgpass
                .matches(&format!("added{i}.example.com:5432:*:u{i}:p{i}\n"))
                .count()
                != 1
        })
        .collect();
    let lost_services: Vec<usize> = (0..n)
        .filter(|i| {
            services
                .matches(&format!("# note {i} added by hand\n"))
                .count()
                != 1
        })
        .collect();
    assert!(
        lost_pgpass.is_empty() && lost_services.is_empty(),
        "lines lost or doubled: password file {lost_pgpass:?}, service file {lost_services:?}"
    );
    assert!(pgpass.contains("legacy.example.com:5432:*:alice:s3cret"));
    assert!(services.contains("[mine]\nhost=legacy.example.com\n"));
}

fn config_with(credentials: &str, services: &[&str]) -> String {
    let mut text = format!("[defaults]\ncredentials = {credentials}\n");
    for (i, name) in services.iter().enumerate() {
        text.push_str(&format!(
            "\n[services.{name}]\nhost = \"10.0.0.{}\"\ndbname = \"appdb\"\n",
            i + 1
        ));
    }
    text
}

#[test]
fn lines_appended_while_a_slow_refresh_waits_on_its_source_survive() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    seed(&env);
    let count = env.dir.path().join("mints");
    env.write_config(&config_with(
        &counting_mint(&google.http_url(), SA, &count, "1.5"),
        &["db", "other"],
    ));
    let refresh = env
        .cmd()
        .args(["refresh", "--force"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // 100 lines spread over the time the source takes, most of them while it is minting.
    let appender = append_lines(&env, 100, "0.015");
    ok(refresh.wait_with_output().expect("wait"));
    finish(appender);
    assert_eq!(mint_runs(&count), 1);
    assert_every_line_kept(&env, 100);
    let file = PgpassFile::parse(&fs::read(env.pgpass()).expect("read"));
    assert_eq!(file.managed().len(), 2, "{}", env.pgpass_text());
}

#[test]
fn lines_appended_during_back_to_back_fast_refreshes_survive() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    seed(&env);
    env.write_config(&config_with(
        &format!(
            "{{ command = {} }}",
            mint_command(&google.http_url(), SA, &[])
        ),
        &["db", "other"],
    ));
    let appender = append_lines(&env, 150, "0.005");
    for _ in 0..12 {
        ok(env.run(&["refresh", "--force"]));
    }
    finish(appender);
    ok(env.run(&["refresh", "--force"]));
    assert_every_line_kept(&env, 150);
}

#[test]
fn a_credential_stuck_on_a_fifo_does_not_hold_up_another_configuration() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    seed(&env);
    let fifo = env.dir.path().join("adc.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    // The first configuration's credential file is a FIFO nobody writes to.
    let stuck_config = env.dir.path().join("stuck.toml");
    fs::write(&stuck_config, config_with("\"adc\"", &["stuck"])).expect("config");
    let mut stuck: Child = env
        .cmd_with_config(&stuck_config)
        .arg("refresh")
        .env("GOOGLE_APPLICATION_CREDENTIALS", &fifo)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the stuck refresher");
    // Let it reach its credential (it has nothing else to do first).
    std::thread::sleep(Duration::from_millis(500));

    // The second configuration, on the same files, with a short lock timeout: if the
    // first held the files' locks, this would fail after 2 s.
    let count = env.dir.path().join("mints");
    let mut text = config_with(
        &counting_mint(&google.http_url(), SA, &count, "0"),
        &["second"],
    );
    text = text.replacen("[defaults]\n", "[defaults]\nlock_timeout = \"2s\"\n", 1);
    env.write_config(&text);
    let out = env.run(&["refresh"]);
    let _ = stuck.kill();
    let _ = stuck.wait();
    ok(out);
    assert_eq!(mint_runs(&count), 1);
    let status: serde_json::Value =
        serde_json::from_str(&ok(env.run(&["status", "--json"]))).expect("json");
    assert_eq!(status["services"][0]["name"], "second");
    assert_eq!(status["services"][0]["state"], "valid", "{status}");
    let services = fs::read_to_string(env.service_file()).expect("read");
    assert!(services.contains("[second]"), "{services}");
    // Whether it is still blocked or has refused the FIFO, it wrote nothing for itself.
    assert!(!env.pgpass_text().contains("service=stuck"));
}

#[test]
fn concurrent_refreshers_of_two_configurations_mint_each_credential_once() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    seed(&env);
    let (count_a, count_b) = (env.dir.path().join("a"), env.dir.path().join("b"));
    let config_a = env.dir.path().join("a.toml");
    let config_b = env.dir.path().join("b.toml");
    fs::write(
        &config_a,
        config_with(
            &counting_mint(&google.http_url(), SA, &count_a, "0.2"),
            &["a1", "a2"],
        ),
    )
    .expect("config");
    fs::write(
        &config_b,
        config_with(
            &counting_mint(&google.http_url(), SA, &count_b, "0.2"),
            &["b1"],
        ),
    )
    .expect("config");
    let children: Vec<Child> = (0..24)
        .map(|i| {
            env.cmd_with_config(if i % 2 == 0 { &config_a } else { &config_b })
                .arg("refresh")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        ok(child.wait_with_output().expect("wait"));
    }
    assert_eq!(mint_runs(&count_a), 1, "one mint for the first credential");
    assert_eq!(mint_runs(&count_b), 1, "one mint for the second credential");
    let file = PgpassFile::parse(&fs::read(env.pgpass()).expect("read"));
    assert_eq!(file.managed().len(), 3, "{}", env.pgpass_text());
}

#[test]
fn a_service_whose_section_cannot_be_written_keeps_its_old_entry_too() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    seed(&env);
    let mine = "[db]\nhost=my-own-host\n";
    fs::write(env.service_file(), mine).expect("seed");
    env.write_config(&config_with(
        &format!(
            "{{ command = {} }}",
            mint_command(&google.http_url(), SA, &[])
        ),
        &["db", "other"],
    ));
    fails_with(env.run(&["refresh"]), 2);
    let pgpass = env.pgpass_text();
    assert!(!pgpass.contains("service=db "), "{pgpass}");
    let status: serde_json::Value =
        serde_json::from_str(&ok(env.run(&["status", "--json"]))).expect("json");
    assert_eq!(status["services"][0]["name"], "db");
    assert_eq!(
        status["services"][0]["last_error_kind"], "config",
        "{status}"
    );
    assert!(status["services"][1]["last_error"].is_null(), "{status}");
    assert!(pgpass.contains("service=other "), "{pgpass}");
    assert!(
        fs::read_to_string(env.service_file())
            .expect("read")
            .ends_with(mine)
    );
}

/// A configuration file of its own, writing to files of its own.
fn separate_config(env: &Env, name: &str, credentials: &str) -> PathBuf {
    let path = env.dir.path().join(format!("{name}.toml"));
    fs::write(
        &path,
        format!(
            "[defaults]\npgpass = \"{}\"\nservice_file = \"{}\"\ncredentials = {credentials}\n\n[services.db]\nhost = \"10.0.0.1\"\n",
            env.dir.path().join(format!("{name}.pgpass")).display(),
            env.dir.path().join(format!("{name}.services")).display(),
        ),
    )
    .expect("config");
    path
}

#[test]
fn two_configurations_with_a_service_of_the_same_name_keep_their_own_last_errors() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    let failing = env.script("fail.sh", "echo 'no token today' >&2; exit 3");
    let broken = separate_config(
        &env,
        "broken",
        &format!(
            "{{ command = {} }}",
            toml_array(&[failing.display().to_string()])
        ),
    );
    let working = separate_config(
        &env,
        "working",
        &format!(
            "{{ command = {} }}",
            mint_command(&google.http_url(), SA, &[])
        ),
    );
    let run = |config: &Path, args: &[&str]| {
        env.cmd_with_config(config)
            .args(args)
            .output()
            .expect("run")
    };
    fails_with(run(&broken, &["refresh"]), 1);
    ok(run(&working, &["refresh"]));
    let status = |config: &Path| -> serde_json::Value {
        serde_json::from_str(&ok(run(config, &["status", "--json"]))).expect("json")
    };
    let broken_status = status(&broken);
    let working_status = status(&working);
    assert!(
        broken_status["services"][0]["last_error"].is_string(),
        "{broken_status}"
    );
    assert_eq!(
        broken_status["services"][0]["last_error_kind"], "runtime",
        "{broken_status}"
    );
    assert!(
        working_status["services"][0]["last_error"].is_null(),
        "{working_status}"
    );
    assert!(
        working_status["services"][0]["last_refreshed_at"].is_string(),
        "{working_status}"
    );
    assert!(
        broken_status["services"][0]["last_refreshed_at"].is_null(),
        "{broken_status}"
    );
}

#[test]
fn status_never_prints_a_control_character_from_a_stored_message() {
    let env = Env::new();
    let failing = env.script(
        "fail.sh",
        "printf 'broken \\033[2J\\033]0;pwned\\007 here\\n' >&2; exit 3",
    );
    env.write_config(&config_with(
        &format!(
            "{{ command = {} }}",
            toml_array(&[failing.display().to_string()])
        ),
        &["db"],
    ));
    fails_with(env.run(&["refresh"]), 1);
    let table = ok(env.run(&["status"]));
    assert!(table.contains("last error of db"), "{table}");
    assert!(
        !table.chars().any(|c| c.is_control() && c != '\n'),
        "{table:?}"
    );
    let json = ok(env.run(&["status", "--json"]));
    let doc: serde_json::Value = serde_json::from_str(&json).expect("json");
    let error = doc["services"][0]["last_error"]
        .as_str()
        .unwrap_or_default();
    assert!(error.contains("broken"), "{error:?}");
    assert!(!error.chars().any(char::is_control), "{error:?}");
}

#[test]
fn watch_exits_2_at_start_on_an_error_no_retry_can_fix() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    // A section the user wrote under the service's name: refresh refuses it with exit 2.
    fs::write(env.service_file(), "[db]\nhost=my-own-host\n").expect("seed");
    env.write_config(&config_with(
        &format!(
            "{{ command = {} }}",
            mint_command(&google.http_url(), SA, &[])
        ),
        &["db"],
    ));
    let mut watch = env
        .cmd()
        .args(["refresh", "--watch"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Generous: only there so that a loop retrying forever fails the test instead of
    // hanging it.
    let mut status = None;
    for _ in 0..600 {
        status = watch.try_wait().expect("poll");
        if status.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if status.is_none() {
        let _ = watch.kill();
        let _ = watch.wait();
    }
    assert_eq!(status.and_then(|s| s.code()), Some(2), "{status:?}");
}

/// A metadata server that hands out cloud-platform tokens whatever it is asked for.
fn broad_metadata_server() -> Responder {
    Responder::start(|path| {
        let flavor = vec![
            ("Metadata-Flavor", "Google".to_string()),
            ("content-type", "application/json".to_string()),
        ];
        if path.contains("/email") {
            return (200, flavor, SA.to_string());
        }
        let body = serde_json::json!({
            "access_token": "ya29.broad-token-from-the-issuer",
            "expires_in": 3599,
            "token_type": "Bearer",
            "scope": "https://www.googleapis.com/auth/cloud-platform",
        });
        (200, flavor, body.to_string())
    })
}

#[test]
fn a_token_broader_than_the_configured_scopes_is_refused_unless_they_allow_it() {
    let env = Env::new();
    let metadata = broad_metadata_server();
    let host = metadata.url.trim_start_matches("http://").to_string();
    let run = |env: &Env| {
        env.cmd()
            .arg("refresh")
            .env("GCE_METADATA_HOST", &host)
            .output()
            .expect("run")
    };
    env.write_config(&config_with("\"metadata\"", &["db"]));
    let err = fails_with(run(&env), 2);
    assert!(
        err.contains("cloud-platform") && err.contains("alloydb.login"),
        "{err}"
    );
    assert!(!env.pgpass_text().contains("service=db"), "nothing written");
    assert!(!err.contains("ya29.broad"), "{err}");

    // Scopes that allow it take it, and status says it is broad.
    env.write_config(&config_with("\"metadata\"", &["db"]).replacen(
        "[defaults]\n",
        "[defaults]\nscopes = [\"https://www.googleapis.com/auth/cloud-platform\"]\n",
        1,
    ));
    ok(run(&env));
    let status: serde_json::Value =
        serde_json::from_str(&ok(env.run(&["status", "--json"]))).expect("json");
    assert_eq!(status["services"][0]["token_scope"], "broad", "{status}");
}

#[test]
fn the_token_sources_read_the_same_clock_as_the_rest_of_the_program() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    let target = "target@proj.iam.gserviceaccount.com";
    google.grant_token_creator(SA, target);
    let url = google.http_url();
    env.write_config(&format!(
        "{}impersonate = \"{target}\"\n[endpoints]\niamcredentials = \"{url}\"\ntokeninfo = \"{url}/tokeninfo\"\n",
        config_with(
            &format!(
                "{{ command = {} }}",
                mint_command(
                    &url,
                    SA,
                    &["--scope", "https://www.googleapis.com/auth/cloud-platform"]
                )
            ),
            &["db"],
        )
    ));
    ok(env.run(&["refresh"]));
    // Two hours ahead: the impersonated token, which IAM says expires at a time an hour
    // from the real now, has already expired, by the tokens' checks too.
    let offset = env.dir.path().join("clock-offset");
    fs::write(&offset, "7200").expect("offset");
    let before = env.pgpass_text();
    let out = env
        .cmd()
        .args(["refresh", "--force"])
        .env("ALLOYDB_CRED_CLOCK_OFFSET_FILE", &offset)
        .output()
        .expect("run");
    let err = fails_with(out, 1);
    assert!(err.contains("already expired"), "{err}");
    assert_eq!(env.pgpass_text(), before, "nothing written");
}
