//! `add`: a service written into the configuration with every byte of the user's text
//! kept, refused when the name is taken or the loader would refuse a value (the file then
//! unchanged), a configuration created privately where there was none, and a service
//! added to a working setup that is refreshed, checked and logs in.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::common::*;

const SA: &str = "adder@proj.iam.gserviceaccount.com";
const SA_USER: &str = "adder@proj.iam";

const COMMENTED: &str = "# Written by hand; keep these notes.\n[defaults]   # the defaults\ncredentials = 'gcloud'  # single quotes stay\n\n# the first one\n[services.old]\nhost = \"127.0.0.1\"   # aligned\nport = 5433\n\n# a comment at the very end\n";

#[test]
fn add_keeps_every_comment_byte_and_the_loader_reads_the_new_service() {
    let env = Env::new();
    env.write_config(COMMENTED);
    let out = ok(env.run(&[
        "add",
        "new",
        "--host",
        "db.internal.test",
        "--port",
        "6432",
        "--dbname",
        "app",
        "--user",
        "kai@altostrat.com",
        "--impersonate",
        "login@proj.iam.gserviceaccount.com",
        "--no-refresh",
    ]));
    assert!(out.contains("added service new"), "{out}");
    let text = fs::read_to_string(env.config_path()).expect("read config");
    assert!(
        text.starts_with(COMMENTED),
        "the user's bytes changed:\n{text}"
    );
    assert_eq!(
        &text[COMMENTED.len()..],
        "\n[services.new]\nhost = \"db.internal.test\"\nport = 6432\ndbname = \"app\"\nuser = \"kai@altostrat.com\"\nimpersonate = \"login@proj.iam.gserviceaccount.com\"\n"
    );
    let status = ok(env.run(&["status", "--json"]));
    let doc: serde_json::Value = serde_json::from_str(&status).expect("status json");
    let names: Vec<&str> = doc["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["new", "old"], "{status}");
}

#[test]
fn add_refuses_a_taken_name_and_what_the_loader_refuses_and_changes_nothing() {
    let env = Env::new();
    env.write_config(COMMENTED);
    let err = fails_with(
        env.run(&["add", "old", "--host", "10.0.0.9", "--no-refresh"]),
        2,
    );
    assert!(err.contains("already configured"), "{err}");
    let long_user = "u".repeat(64);
    let err = fails_with(
        env.run(&[
            "add",
            "x",
            "--host",
            "h",
            "--user",
            &long_user,
            "--no-refresh",
        ]),
        2,
    );
    assert!(err.contains("63 bytes"), "{err}");
    let err = fails_with(
        env.run(&["add", "bad name", "--host", "h", "--no-refresh"]),
        2,
    );
    assert!(err.contains("not a plain identifier"), "{err}");
    let err = fails_with(
        env.run(&["add", "y", "--instance", "projects/p/x", "--no-refresh"]),
        2,
    );
    assert!(err.contains("PROJECT:REGION:INSTANCE"), "{err}");
    fails_with(env.run(&["add", "z", "--no-refresh"]), 2);
    fails_with(
        env.run(&[
            "add",
            "z",
            "--host",
            "h",
            "--instance",
            "p:r:i",
            "--no-refresh",
        ]),
        2,
    );
    let err = fails_with(
        env.run(&[
            "add",
            "k",
            "--host",
            "h",
            "--credentials",
            "no-such-key.json",
            "--no-refresh",
        ]),
        2,
    );
    assert!(err.contains("no key file"), "{err}");
    assert_eq!(
        fs::read_to_string(env.config_path()).expect("read config"),
        COMMENTED
    );
    let leftovers: Vec<_> = fs::read_dir(env.dir.path())
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn add_creates_a_missing_configuration_privately_even_under_a_lax_umask() {
    let env = Env::new();
    let config = env.home().join(".config/alloydb-cred/config.toml");
    let key = env.dir.path().join("key.json");
    fs::write(&key, "{}").expect("key");
    // umask 000 would leave a file created with the usual 0666 open to everyone.
    let mut cmd = std::process::Command::new("sh");
    env.apply_env(&mut cmd);
    let out = cmd
        .args(["-c", "umask 000; exec \"$@\"", "sh", BIN, "--config"])
        .arg(&config)
        .args([
            "add",
            "first",
            "--instance",
            "p:us-central1:db",
            "--credentials",
        ])
        .arg(&key)
        .arg("--no-refresh")
        .output()
        .expect("run");
    ok(out);
    let mode = |p: &std::path::Path| fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(config.parent().expect("dir")), 0o700);
    let text = fs::read_to_string(&config).expect("read");
    assert_eq!(
        text,
        format!(
            "[services.first]\ninstance = \"p:us-central1:db\"\ncredentials = {{ key_file = \"{}\" }}\n",
            key.display()
        )
    );
}

#[test]
fn add_refreshes_the_new_service_checks_it_and_psql_logs_in() {
    let w = World::start(&[SA_USER]);
    let url = w.google.http_url();
    let config = w.config_text(
        "",
        &format!("{{ command = {} }}", mint_command(&url, SA, &[])),
        "",
    );
    w.env.write_config(&config);
    let out = w.env.run(&[
        "add",
        "second",
        "--host",
        "127.0.0.1",
        "--port",
        &w.pg.port().to_string(),
        "--dbname",
        "appdb",
    ]);
    let text = ok(out);
    assert!(text.contains("added service second"), "{text}");
    assert!(
        text.contains("service second"),
        "no doctor summary:\n{text}"
    );
    assert!(!text.contains("ya29."), "{text}");
    assert!(
        w.env.pgpass_text().contains(SA_USER),
        "{}",
        w.env.pgpass_text()
    );
    let login = w.psql("second", "select current_user");
    assert_eq!(stdout(&login).trim(), SA_USER, "{}", stderr(&login));
}
