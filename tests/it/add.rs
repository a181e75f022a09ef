//! `add`: a service written into the configuration with every byte of the user's text
//! kept, refused when the name is taken or the loader would refuse a value (the file then
//! unchanged), a configuration created privately where there was none, and a service
//! added to a working setup that is refreshed, checked and logs in. Then what a hostile
//! setup does to it: a name the user's own section or another configuration holds in the
//! files (refused before anything is written), a refresh that no retry fixes (the table
//! taken out again), ten adds at once (all land), a FIFO, a lax, a read-only
//! configuration (read as the loader reads it, mode kept), and the messages for a bad
//! flag, an inline `services` table and a dangling link.

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

/// What `refresh` answers for the configuration, after an `add` that was refused or
/// undone: the working service still refreshes.
#[track_caller]
fn refresh_still_works(env: &Env) {
    ok(env.run(&["refresh"]));
}

#[test]
fn add_refuses_a_name_the_users_own_section_holds_and_writes_nothing() {
    let w = World::start(&[SA_USER]);
    let url = w.google.http_url();
    let config = w.config_text(
        "",
        &format!("{{ command = {} }}", mint_command(&url, SA, &[])),
        "",
    );
    w.env.write_config(&config);
    let users = "# mine\n[prod]\nhost=db.example.test\ndbname=mine\n";
    fs::write(w.env.service_file(), users).expect("service file");
    for extra in [&["--no-refresh"][..], &[]] {
        let mut args = vec!["add", "prod", "--host", "127.0.0.1", "--port", "2"];
        args.extend_from_slice(extra);
        let err = fails_with(w.env.run(&args), 2);
        assert!(
            err.contains("already has a section [prod] that alloydb-cred did not write"),
            "{err}"
        );
        assert_eq!(
            fs::read_to_string(w.env.config_path()).expect("config"),
            config,
            "the configuration changed"
        );
    }
    refresh_still_works(&w.env);
    let services = fs::read_to_string(w.env.service_file()).expect("service file");
    assert!(services.contains(users), "{services}");
}

#[test]
fn add_refuses_a_name_another_configuration_owns_in_the_same_files() {
    let w = World::start(&[SA_USER]);
    let url = w.google.http_url();
    w.env.write_config(&w.config_text(
        "",
        &format!("{{ command = {} }}", mint_command(&url, SA, &[])),
        "",
    ));
    ok(w.env.run(&["refresh"]));
    // A second configuration of the same user: the same ~/.pgpass and service file.
    let other = w.env.dir.path().join("other.toml");
    let text = "[defaults]\ncredentials = 'gcloud'\n\n[services.mine]\nhost = \"127.0.0.1\"\n";
    fs::write(&other, text).expect("other config");
    let out = w
        .env
        .cmd_with_config(&other)
        .args(["add", "db", "--host", "127.0.0.1", "--no-refresh"])
        .output()
        .expect("run");
    let err = fails_with(out, 2);
    assert!(
        err.contains("already holds this service for another configuration"),
        "{err}"
    );
    assert!(
        err.contains(&w.env.config_path().display().to_string()),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&other).expect("other"), text);
}

#[test]
fn a_refresh_no_retry_can_fix_takes_the_new_table_out_again() {
    let w = World::start(&[SA_USER]);
    let url = w.google.http_url();
    let config = w.config_text(
        "",
        &format!("{{ command = {} }}", mint_command(&url, SA, &[])),
        "",
    );
    w.env.write_config(&config);
    let key = w.env.dir.path().join("key.json");
    fs::write(&key, "not a key file").expect("key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod");
    let out = w
        .env
        .cmd()
        .args(["add", "bad", "--host", "127.0.0.1", "--credentials"])
        .arg(&key)
        .output()
        .expect("run");
    let err = fails_with(out, 2);
    assert!(err.contains("not JSON"), "{err}");
    assert!(err.contains("is as it was before"), "{err}");
    assert_eq!(
        fs::read_to_string(w.env.config_path()).expect("config"),
        config
    );
    refresh_still_works(&w.env);

    // A configuration add created is removed again.
    let env = Env::new();
    let out = env
        .cmd()
        .args(["add", "first", "--host", "127.0.0.1", "--credentials"])
        .arg(&key)
        .output()
        .expect("run");
    let err = fails_with(out, 2);
    assert!(err.contains("removed, as there was none before"), "{err}");
    assert!(!env.config_path().exists());
}

#[test]
fn ten_concurrent_adds_all_land() {
    let env = Env::new();
    env.write_config(COMMENTED);
    let children: Vec<_> = (1..=10)
        .map(|i| {
            env.cmd()
                .args(["add", &format!("s{i}"), "--host"])
                .arg(format!("10.0.0.{i}"))
                .arg("--no-refresh")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        ok(child.wait_with_output().expect("wait"));
    }
    let text = fs::read_to_string(env.config_path()).expect("config");
    assert!(text.starts_with(COMMENTED), "{text}");
    let status = ok(env.run(&["status", "--json"]));
    let doc: serde_json::Value = serde_json::from_str(&status).expect("status json");
    let count = doc["services"].as_array().map_or(0, Vec::len);
    assert_eq!(count, 11, "{text}");
    for i in 1..=10 {
        assert_eq!(
            text.matches(&format!("[services.s{i}]\n")).count(),
            1,
            "{text}"
        );
    }
}

#[test]
fn add_reads_the_configuration_as_the_loader_does() {
    let env = Env::new();
    // A FIFO: read without blocking, refused.
    let fifo = env.dir.path().join("fifo.toml");
    let made = std::process::Command::new("mkfifo")
        .args(["-m", "600"])
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let mut child = env
        .cmd_with_config(&fifo)
        .args(["add", "x", "--host", "127.0.0.1", "--no-refresh"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("add hangs on a FIFO");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let err = fails_with(child.wait_with_output().expect("output"), 2);
    assert!(err.contains("not a regular file"), "{err}");
    // Refused before anything is made beside it.
    assert!(!env.dir.path().join(".alloydb-cred.lock").exists());

    // Writable by others: refused with the fix, as the loader refuses it.
    env.write_config(COMMENTED);
    fs::set_permissions(env.config_path(), fs::Permissions::from_mode(0o666)).expect("chmod");
    let err = fails_with(env.run(&["add", "x", "--host", "h", "--no-refresh"]), 2);
    assert!(err.contains("chmod go-w"), "{err}");
    assert_eq!(
        fs::read_to_string(env.config_path()).expect("read"),
        COMMENTED
    );

    // Read-only: refused, with the chmod that allows it.
    fs::set_permissions(env.config_path(), fs::Permissions::from_mode(0o400)).expect("chmod");
    let err = fails_with(env.run(&["add", "x", "--host", "h", "--no-refresh"]), 2);
    assert!(err.contains("chmod u+w"), "{err}");
    assert_eq!(
        fs::read_to_string(env.config_path()).expect("read"),
        COMMENTED
    );
    let mode = |p: &std::path::Path| fs::metadata(p).expect("stat").permissions().mode() & 0o7777;
    assert_eq!(mode(&env.config_path()), 0o400);

    // Its mode is kept exactly, whatever the umask.
    fs::set_permissions(env.config_path(), fs::Permissions::from_mode(0o640)).expect("chmod");
    let mut cmd = std::process::Command::new("sh");
    env.apply_env(&mut cmd);
    let out = cmd
        .args(["-c", "umask 077; exec \"$@\"", "sh", BIN, "--config"])
        .arg(env.config_path())
        .args(["add", "x", "--host", "h", "--no-refresh"])
        .output()
        .expect("run");
    ok(out);
    assert_eq!(mode(&env.config_path()), 0o640);
    let text = fs::read_to_string(env.config_path()).expect("read");
    assert!(
        text.starts_with(COMMENTED) && text.contains("[services.x]"),
        "{text}"
    );
}

#[test]
fn add_messages_name_the_flag_the_inline_table_and_the_dangling_link() {
    let env = Env::new();
    // A new file: the error names the flag, not a line of a file that is not there.
    let err = fails_with(env.run(&["add", "x", "--host", "#h", "--no-refresh"]), 2);
    assert!(err.contains("--host"), "{err}");
    assert!(
        !err.contains("line 2") && !err.contains("config.toml"),
        "{err}"
    );
    assert!(!env.config_path().exists());
    let err = fails_with(
        env.run(&[
            "add",
            "x",
            "--host",
            "h",
            "--user",
            &"u".repeat(64),
            "--no-refresh",
        ]),
        2,
    );
    assert!(err.contains("--user") && err.contains("63 bytes"), "{err}");

    // `services` as an inline table.
    let inline = "services = { a = { host = \"h\" } }\n";
    env.write_config(inline);
    let err = fails_with(env.run(&["add", "b", "--host", "h", "--no-refresh"]), 2);
    assert!(err.contains("inline table"), "{err}");
    assert!(err.contains("[services.NAME]"), "{err}");
    assert_eq!(fs::read_to_string(env.config_path()).expect("read"), inline);
    fs::remove_file(env.config_path()).expect("rm");

    // A link into a directory that is not there: said so, nothing created.
    let nowhere = env.dir.path().join("nowhere/config.toml");
    std::os::unix::fs::symlink(&nowhere, env.config_path()).expect("link");
    let err = fails_with(env.run(&["add", "b", "--host", "h", "--no-refresh"]), 2);
    assert!(
        err.contains("symbolic link") && err.contains("does not exist"),
        "{err}"
    );
    assert!(!nowhere.parent().expect("dir").exists());
    fs::remove_file(env.config_path()).expect("rm");

    // A link to a file not there yet in a directory that is: the file is created.
    let target = env.dir.path().join("real.toml");
    std::os::unix::fs::symlink(&target, env.config_path()).expect("link");
    ok(env.run(&["add", "b", "--host", "h", "--no-refresh"]));
    assert!(
        fs::symlink_metadata(env.config_path())
            .expect("lstat")
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        fs::read_to_string(&target).expect("target"),
        "[services.b]\nhost = \"h\"\n"
    );
    assert_eq!(
        fs::metadata(&target).expect("stat").permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn an_instance_that_does_not_exist_is_taken_out_again_one_denied_is_kept() {
    let google = fake_google::FakeGoogle::start().expect("fake google");
    let env = Env::new();
    let key = env.dir.path().join("key.json");
    fs::write(&key, google.add_service_account(SA).to_string()).expect("key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod");
    let url = google.http_url();
    let config = format!(
        "[defaults]\ncredentials = {{ key_file = {:?} }}\n\n[endpoints]\ntoken = \"{url}/token\"\ntokeninfo = \"{url}/tokeninfo\"\nalloydb_admin = \"{url}\"\nsqladmin = \"{url}\"\ntimeout = \"2s\"\n\n[services.db]\nhost = \"127.0.0.1\"\n",
        key.display().to_string()
    );
    env.write_config(&config);
    ok(env.run(&["refresh"]));
    let typo = "projects/proj/locations/us-central1/clusters/main/instances/primray";
    // Denied (Google says so of an instance it does not show the caller): granting the
    // role fixes it, so the service stays, and add exits with the refresh's code.
    let out = env.run(&["add", "typo", "--instance", typo]);
    let err = fails_with(out, 1);
    assert!(err.contains("may not read instance"), "{err}");
    let kept = fs::read_to_string(env.config_path()).expect("config");
    assert!(kept.contains("[services.typo]"), "{kept}");
    env.write_config(&config);
    // Visible to the caller and not there: no retry helps, so the table is taken out.
    google.grant_alloydb_viewer(SA);
    let err = fails_with(env.run(&["add", "typo", "--instance", typo]), 2);
    assert!(err.contains("does not exist"), "{err}");
    assert!(err.contains("is as it was before"), "{err}");
    assert_eq!(
        fs::read_to_string(env.config_path()).expect("config"),
        config
    );
    ok(env.run(&["refresh", "--force"]));
}
