//! Hostile inputs, second round, each tried as an attacker or an unlucky user would: a
//! section header libpq reads differently, a configuration others can change, values
//! libpq would read as a comment, file content in messages, a replaced lock file, core
//! dumps, hard links and extended attributes, signals to a running credential program,
//! and credential paths that are FIFOs or devices. Permission and ownership cases run
//! the binary as an unprivileged user, since root ignores permissions.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::common::*;

const PRINCIPAL: &str = "robot@proj.iam.gserviceaccount.com";

/// A `command` credential printing a token that needs no network: expiry and principal
/// come with it.
fn offline_token(env: &Env) -> String {
    let file = env.dir.path().join("token.json");
    fs::write(
        &file,
        format!(
            r#"{{"access_token": "ya29.offline-token", "expires_in": 3600, "principal": "{PRINCIPAL}"}}"#
        ),
    )
    .expect("write token");
    format!(
        "{{ command = {} }}",
        toml_array(&["cat".to_string(), file.display().to_string()])
    )
}

/// A config with one service `db` on `host`, the token from `credentials`.
fn config_text(credentials: &str, host: &str) -> String {
    format!(
        "[defaults]\ncredentials = {credentials}\n\n[services.db]\nhost = {host:?}\ndbname = \"appdb\"\n"
    )
}

/// The uid and gid of an unprivileged user made for these tests (created when absent),
/// or `None` when the tests do not run as root (then the caller is unprivileged
/// already and cannot hand files to another user).
fn test_user() -> Option<(u32, u32)> {
    static USER: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    *USER.get_or_init(|| {
        if !is_root() {
            return None;
        }
        const NAME: &str = "alloydb-cred-test";
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, NAME]).output().ok()?;
            String::from_utf8_lossy(&out.stdout).trim().parse().ok()
        };
        if id("-u").is_none() {
            let status = Command::new("useradd")
                .args(["--system", "--user-group", "--no-create-home"])
                .args(["--shell", "/usr/sbin/nologin", NAME])
                .status()
                .expect("run useradd");
            // Another test binary may have created it meanwhile.
            assert!(status.success() || id("-u").is_some(), "useradd {NAME}");
        }
        Some((id("-u").expect("uid"), id("-g").expect("gid")))
    })
}

/// Runs the binary as the test user, the whole test directory made theirs first; as
/// the caller itself when the tests do not run as root.
fn run_as_user(env: &Env, args: &[&str]) -> Output {
    let Some((uid, gid)) = test_user() else {
        return env.run(args);
    };
    chown_tree(env.dir.path(), uid, gid);
    fs::set_permissions(env.dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .args(["--clear-groups", "--"])
        .arg(BIN)
        .arg("--config")
        .arg(env.config_path())
        .args(args);
    env.apply_env(&mut cmd);
    cmd.output().expect("setpriv")
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    let status = Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(path)
        .status()
        .expect("chown");
    assert!(status.success());
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn a_section_libpq_reads_as_the_users_is_never_taken_over() {
    // Each header below is `[prod]` for libpq (or pgjdbc).
    let headers = [
        "[db] # my own",
        "[db]x",
        "[db]]",
        "   [db]",
        "\t[db]\r",
        "\u{1}[db]",
    ];
    let mut held = 0;
    for header in headers {
        let env = Env::new();
        env.write_config(&config_text(&offline_token(&env), "127.0.0.1"));
        let mine = format!("{header}\nhost=mine.example\nuser=me\n");
        fs::write(env.service_file(), &mine).expect("seed");
        let err = fails_with(env.run(&["refresh"]), 2);
        assert!(err.contains("did not write"), "{header:?}: {err}");
        assert_eq!(
            fs::read_to_string(env.service_file()).unwrap_or_default(),
            mine,
            "{header:?}: the user's file is unchanged"
        );
        held += 1;
    }
    eprintln!(
        "section headers: {held} of {} hostile variants held",
        headers.len()
    );
}

#[test]
fn a_configuration_others_can_change_is_refused_with_the_fix() {
    let user = test_user();
    if !prerequisite(
        user.is_some(),
        "root (to run as other users)",
        "configuration trust",
    ) {
        return;
    }
    let Some((uid, gid)) = user else { return };
    let fresh = || {
        let env = Env::new();
        env.write_config(&config_text(&offline_token(&env), "127.0.0.1"));
        env
    };
    let mut tried = 0;

    // Writable by group, or by others.
    for mode in [0o664, 0o646] {
        let env = fresh();
        chown_tree(env.dir.path(), uid, gid);
        chmod(&env.config_path(), mode);
        let err = fails_with(run_as_user(&env, &["refresh"]), 2);
        assert!(
            err.contains(&format!("chmod go-w {}", env.config_path().display())),
            "{mode:o}: {err}"
        );
        assert!(!env.pgpass().exists(), "nothing written");
        tried += 1;
    }

    // In a directory others can write to (not sticky).
    let env = fresh();
    let dir = env.dir.path().join("shared");
    fs::create_dir(&dir).expect("dir");
    let config = dir.join("config.toml");
    fs::rename(env.config_path(), &config).expect("move");
    chown_tree(env.dir.path(), uid, gid);
    chmod(env.dir.path(), 0o755);
    chmod(&dir, 0o777);
    let mut cmd = setpriv(uid, gid);
    cmd.arg(BIN).arg("--config").arg(&config).arg("refresh");
    env.apply_env(&mut cmd);
    let err = fails_with(cmd.output().expect("run"), 2);
    assert!(
        err.contains(&format!("chmod go-w {}", dir.display())),
        "{err}"
    );
    tried += 1;

    // The same directory made sticky: nobody else can replace the file, so it is used.
    chmod(&dir, 0o1777);
    let mut cmd = setpriv(uid, gid);
    cmd.arg(BIN).arg("--config").arg(&config).arg("refresh");
    env.apply_env(&mut cmd);
    ok(cmd.output().expect("run"));
    tried += 1;

    // Owned by another user.
    let env = fresh();
    chown_tree(env.dir.path(), uid, gid);
    let status = Command::new("chown")
        .args(["65534:65534"])
        .arg(env.config_path())
        .status()
        .expect("chown");
    assert!(status.success());
    let err = fails_with(run_as_user_keeping_owners(&env, uid, gid, &["refresh"]), 2);
    assert!(err.contains("belongs to user id 65534"), "{err}");
    assert!(err.contains("chown \"$(id -u)\""), "{err}");
    tried += 1;

    // Owned by root, mode 0644: an administrator's file is trusted.
    let env = fresh();
    chown_tree(env.dir.path(), uid, gid);
    let status = Command::new("chown")
        .args(["0:0"])
        .arg(env.config_path())
        .status()
        .expect("chown");
    assert!(status.success());
    chmod(&env.config_path(), 0o644);
    ok(run_as_user_keeping_owners(&env, uid, gid, &["refresh"]));
    tried += 1;
    eprintln!("configuration trust: {tried} of {tried} cases held");
}

fn setpriv(uid: u32, gid: u32) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .args(["--clear-groups", "--"]);
    cmd
}

/// As [`run_as_user`], without handing the test directory over first.
fn run_as_user_keeping_owners(env: &Env, uid: u32, gid: u32, args: &[&str]) -> Output {
    let mut cmd = setpriv(uid, gid);
    cmd.arg(BIN)
        .arg("--config")
        .arg(env.config_path())
        .args(args);
    env.apply_env(&mut cmd);
    cmd.output().expect("setpriv")
}

#[test]
fn values_libpq_would_read_as_a_comment_or_a_wildcard_are_refused_at_load() {
    let hostile = ["#db.example", "*", "a,b", " db.example"];
    let mut held = 0;
    for host in hostile {
        let env = Env::new();
        env.write_config(&config_text(&offline_token(&env), host));
        let err = fails_with(env.run(&["refresh"]), 2);
        assert!(
            err.contains(&format!(
                "{} line 5, key `host`",
                env.config_path().display()
            )),
            "{host:?}: {err}"
        );
        assert!(!env.pgpass().exists(), "{host:?}: nothing written");
        held += 1;
    }
    eprintln!(
        "pgpass field values: {held} of {} hostile hosts refused",
        hostile.len()
    );
}

#[test]
fn service_file_content_is_never_quoted_into_messages_state_or_status() {
    let env = Env::new();
    env.write_config(&config_text(&offline_token(&env), "127.0.0.1"));
    // A password pasted above the first section, and a line with a terminal escape.
    let mine = "hunter2-pasted-password\n\u{1b}]0;pwned\u{7}\n[legacy]\nhost=old.example\n";
    fs::write(env.service_file(), mine).expect("seed");
    let err = fails_with(env.run(&["refresh"]), 2);
    assert!(err.contains("on line 1 "), "{err}");
    let status = env.run(&["status"]);
    let state = fs::read_dir(env.state_dir())
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_file())
                .map(|e| fs::read_to_string(e.path()).unwrap_or_default())
                .collect::<String>()
        })
        .unwrap_or_default();
    let mut held = 0;
    for (what, text) in [
        ("stderr", err),
        ("status", stdout(&status) + &stderr(&status)),
        ("state", state),
    ] {
        assert!(!text.contains("hunter2"), "{what}: {text}");
        assert!(!text.contains("pwned"), "{what}: {text}");
        assert!(!text.contains('\u{1b}'), "{what}: {text:?}");
        held += 1;
    }
    assert_eq!(
        fs::read_to_string(env.service_file()).unwrap_or_default(),
        mine
    );
    // The service failed, so neither file changed for it: no password entry without its
    // section.
    assert!(
        !env.pgpass_text().contains("service=db"),
        "{}",
        env.pgpass_text()
    );
    eprintln!("file content in messages: {held} of 3 outputs clean");
}

#[test]
fn deleting_the_lock_file_mid_refresh_never_loses_an_entry_that_exited_zero() {
    let env = Env::new();
    let token = env.dir.path().join("token.json");
    fs::write(
        &token,
        format!(r#"{{"access_token": "ya29.t", "expires_in": 3600, "principal": "{PRINCIPAL}"}}"#),
    )
    .expect("token");
    let slow = format!(
        "{{ command = {} }}",
        toml_array(&[
            "sh".into(),
            "-c".into(),
            format!("sleep 1.5; cat '{}'", token.display()),
        ])
    );
    let fast = offline_token(&env);
    let second = env.dir.path().join("second.toml");
    env.write_config(&config_text(&slow, "127.0.0.1").replace("[services.db]", "[services.slow]"));
    fs::write(
        &second,
        config_text(&fast, "127.0.0.1").replace("[services.db]", "[services.fast]"),
    )
    .expect("second config");
    let mut held = 0;
    let rounds = 3;
    for _ in 0..rounds {
        let _ = fs::remove_file(env.pgpass());
        let first = env.cmd().arg("refresh").spawn().expect("first refresh");
        std::thread::sleep(std::time::Duration::from_millis(500));
        let _ = fs::remove_file(env.home().join(".alloydb-cred.lock"));
        let other = env
            .cmd_with_config(&second)
            .arg("refresh")
            .output()
            .expect("second refresh");
        let first = first.wait_with_output().expect("first");
        let text = env.pgpass_text();
        assert!(
            other.status.success(),
            "the second refresh waits for no stale lock: {}",
            stderr(&other)
        );
        for (name, out) in [("slow", &first), ("fast", &other)] {
            if out.status.success() {
                assert!(
                    text.contains(&format!("service={name} ")),
                    "{name} exited 0 but its entry is gone:\n{text}"
                );
            }
        }
        held += 1;
    }
    eprintln!(
        "lock file deleted mid-refresh: {held} of {rounds} rounds kept every entry that exited 0"
    );
}

/// Whether `pid` is a live process (a zombie is not: it only waits to be reaped).
fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

/// Whether any live process is in process group `pgid`.
fn group_alive(pgid: i32) -> bool {
    fs::read_dir("/proc")
        .map(|d| {
            d.flatten().any(|e| {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                    return false;
                };
                let stat = fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                // Fields after the command: state, ppid, pgrp.
                let fields: Vec<&str> = stat
                    .rsplit_once(") ")
                    .map(|(_, rest)| rest.split(' ').collect())
                    .unwrap_or_default();
                fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) && alive(pid)
            })
        })
        .unwrap_or(false)
}

/// A token command that records its pid in `pid_file`, then runs `rest` (shell).
fn recording_command(env: &Env, pid_file: &Path, rest: &str) -> String {
    let script = env.script(
        "slow-token",
        &format!("echo $$ > '{}'\n{rest}", pid_file.display()),
    );
    format!(
        "{{ command = {}, timeout = \"120s\" }}",
        toml_array(&[script.display().to_string()])
    )
}

fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[test]
fn sigterm_during_a_token_command_stops_its_group_and_exits_promptly() {
    let env = Env::new();
    let pid_file = env.dir.path().join("command.pid");
    let token = env.dir.path().join("token.json");
    fs::write(&token, "{}").expect("token");
    let mask_file = env.dir.path().join("command.sigblk");
    // A shell that starts a child of its own (sleep), both in the command's group; it
    // records its blocked signals, which must be none (the tool blocks SIGTERM for the
    // moment it starts a program, and the program must not inherit that).
    env.write_config(&config_text(
        &recording_command(
            &env,
            &pid_file,
            &format!(
                "grep SigBlk /proc/self/status > '{}'\nsleep 60\ncat token.json",
                mask_file.display()
            ),
        ),
        "127.0.0.1",
    ));
    let mut held = 0;
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let _ = fs::remove_file(&pid_file);
        let mut child = env.cmd().arg("refresh").spawn().expect("refresh");
        assert!(
            eventually(std::time::Duration::from_secs(20), || read_pid(&pid_file)
                .is_some()),
            "the token command started"
        );
        let pgid = read_pid(&pid_file).unwrap_or_default();
        assert!(group_alive(pgid));
        assert!(
            eventually(std::time::Duration::from_secs(5), || fs::read_to_string(
                &mask_file
            )
            .is_ok_and(|m| m.ends_with('\n'))),
            "the token command recorded its signal mask"
        );
        let mask = fs::read_to_string(&mask_file).unwrap_or_default();
        assert!(
            mask.trim()
                .trim_start_matches("SigBlk:")
                .trim()
                .trim_matches('0')
                .is_empty(),
            "the token command starts with no signal blocked: {mask}"
        );
        let refresh = i32::try_from(child.id()).expect("pid");
        // SAFETY: kill(2) on the child we started; no memory involved.
        assert_eq!(unsafe { libc::kill(refresh, signal) }, 0);
        let exited = eventually(std::time::Duration::from_secs(10), || {
            child.try_wait().ok().flatten().is_some()
        });
        if !exited {
            let _ = child.kill();
        }
        assert!(exited, "signal {signal}: refresh exits promptly");
        let status = child.wait().expect("wait");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::into_raw(status) >> 8,
            128 + signal,
            "exit status 128 + signal"
        );
        assert!(
            eventually(std::time::Duration::from_secs(5), || !group_alive(pgid)),
            "signal {signal}: the token command's process group is gone"
        );
        held += 1;
    }
    eprintln!("signals during a token command: {held} of 2 stopped its group");
}

#[test]
fn a_killed_refresh_takes_its_running_program_with_it() {
    let env = Env::new();
    let pid_file = env.dir.path().join("command.pid");
    env.write_config(&config_text(
        &recording_command(&env, &pid_file, "exec sleep 60"),
        "127.0.0.1",
    ));
    let mut child = env.cmd().arg("refresh").spawn().expect("refresh");
    assert!(eventually(std::time::Duration::from_secs(20), || {
        read_pid(&pid_file).is_some()
    }));
    let program = read_pid(&pid_file).unwrap_or_default();
    // Wait for the exec, so the pid is sleep's.
    assert!(eventually(std::time::Duration::from_secs(5), || {
        fs::read_to_string(format!("/proc/{program}/comm")).is_ok_and(|c| c.trim() == "sleep")
    }));
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(
        eventually(std::time::Duration::from_secs(5), || !alive(program)),
        "the program died with its parent (parent-death signal)"
    );
}

#[test]
fn a_running_refresh_is_not_dumpable_and_has_no_core_limit() {
    let env = Env::new();
    let pid_file = env.dir.path().join("command.pid");
    env.write_config(&config_text(
        &recording_command(&env, &pid_file, "sleep 3\ncat token.json"),
        "127.0.0.1",
    ));
    fs::write(env.dir.path().join("token.json"), "{}").expect("token");
    // As another user than root, so that /proc's ownership tells whether it is dumpable.
    let user = test_user();
    let mut child = match user {
        Some((uid, gid)) => {
            chown_tree(env.dir.path(), uid, gid);
            chmod(env.dir.path(), 0o755);
            let mut cmd = setpriv(uid, gid);
            cmd.arg(BIN)
                .arg("--config")
                .arg(env.config_path())
                .arg("refresh");
            env.apply_env(&mut cmd);
            cmd.spawn().expect("refresh")
        }
        None => env.cmd().arg("refresh").spawn().expect("refresh"),
    };
    assert!(eventually(std::time::Duration::from_secs(20), || {
        read_pid(&pid_file).is_some()
    }));
    let pid = child.id();
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
    let status_owner = fs::metadata(format!("/proc/{pid}/status"))
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .ok();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap_or_default()
        .split_whitespace()
        .nth(4)
        .unwrap_or_default()
        .to_string();
    assert_eq!(core, "0", "soft core limit: {limits}");
    let real_uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|u| u.parse::<u32>().ok());
    assert!(
        prerequisite(real_uid != Some(0), "a non-root user", "the dumpable flag"),
        "unreachable"
    );
    assert_eq!(
        status_owner,
        Some(0),
        "/proc/PID of a process that is not dumpable belongs to root (it runs as {real_uid:?})"
    );
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success());
}

#[test]
fn fifos_and_devices_as_credential_files_fail_fast_naming_the_path() {
    let env = Env::new();
    env.write_config(&config_text("\"adc\"", "127.0.0.1"));
    let fifo = env.dir.path().join("credentials.fifo");
    mkfifo(&fifo);
    let federation = |name: &str, source: &Path| {
        let path = env.dir.path().join(name);
        let json = format!(
            r#"{{"type": "external_account",
  "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q",
  "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
  "token_url": "https://sts.googleapis.com/v1/token",
  "credential_source": {{"file": {source:?}}}}}"#
        );
        fs::write(&path, json).expect("write federation file");
        path
    };
    let cases = [
        (
            "GOOGLE_APPLICATION_CREDENTIALS is a FIFO",
            fifo.clone(),
            fifo.clone(),
        ),
        (
            "GOOGLE_APPLICATION_CREDENTIALS is /dev/zero",
            "/dev/zero".into(),
            "/dev/zero".into(),
        ),
        (
            "credential_source.file is a FIFO",
            federation("fed-fifo.json", &fifo),
            fifo.clone(),
        ),
        (
            "credential_source.file is /dev/zero",
            federation("fed-zero.json", Path::new("/dev/zero")),
            "/dev/zero".into(),
        ),
    ];
    let mut held = 0;
    for (what, credentials, named) in &cases {
        let mut cmd = env.cmd();
        cmd.env("GOOGLE_APPLICATION_CREDENTIALS", credentials)
            .env("GCE_METADATA_HOST", "127.0.0.1:9")
            .env_remove("CLOUDSDK_CONFIG")
            .arg("refresh");
        let out = output_within(cmd, std::time::Duration::from_secs(20))
            .unwrap_or_else(|| panic!("{what}: refresh hung"));
        assert!(!out.status.success(), "{what}");
        let err = stderr(&out);
        assert!(
            err.contains(&named.display().to_string()),
            "{what}: the path is named: {err}"
        );
        assert!(
            err.contains("not a regular file"),
            "{what}: says what is wrong: {err}"
        );
        held += 1;
    }
    eprintln!(
        "credential paths: {held} of {} FIFO/device cases failed fast",
        cases.len()
    );
}

fn tool_here(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn hard_links_acls_and_extended_attributes_survive_a_rewrite() {
    let env = Env::new();
    env.write_config(&config_text(&offline_token(&env), "127.0.0.1"));
    ok(env.run(&["refresh"]));
    let mut tried = 0;

    // A second name for the password file: both see every rewrite.
    let other = env.dir.path().join("pgpass-elsewhere");
    fs::hard_link(env.pgpass(), &other).expect("link");
    fs::write(
        env.dir.path().join("token.json"),
        format!(r#"{{"access_token": "ya29.second-token", "expires_in": 3600, "principal": "{PRINCIPAL}"}}"#),
    )
    .expect("token");
    ok(env.run(&["refresh", "--force"]));
    assert!(
        fs::read_to_string(&other)
            .unwrap_or_default()
            .contains("ya29.second-token"),
        "the other link has the new token"
    );
    assert_eq!(
        fs::metadata(&other)
            .map(|m| std::os::unix::fs::MetadataExt::nlink(&m))
            .ok(),
        Some(2),
        "still one file"
    );
    tried += 1;

    let tools = tool_here("setfacl") && tool_here("getfacl") && tool_here("setfattr");
    if !prerequisite(
        tools,
        "setfacl, getfacl and setfattr (apt-get install acl attr)",
        "ACLs and extended attributes across a rewrite",
    ) {
        return;
    }
    fs::remove_file(&other).expect("unlink");
    // A user attribute on the password file, an ACL on the service file (no secret in
    // it, so its permissions are kept as they are).
    let run = |cmd: &mut Command| {
        let out = cmd.output().expect("run");
        assert!(out.status.success(), "{cmd:?}: {}", stderr(&out));
        stdout(&out)
    };
    run(Command::new("setfattr")
        .args(["-n", "user.backup", "-v", "keep-me"])
        .arg(env.pgpass()));
    run(Command::new("setfacl")
        .args(["-m", "u:65534:r"])
        .arg(env.service_file()));
    let before = fs::metadata(env.pgpass())
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .ok();
    // The service file is rewritten only when its section changes: change the host.
    env.write_config(&config_text(&offline_token(&env), "127.0.0.2"));
    fs::write(
        env.dir.path().join("token.json"),
        format!(r#"{{"access_token": "ya29.third-token", "expires_in": 3600, "principal": "{PRINCIPAL}"}}"#),
    )
    .expect("token");
    ok(env.run(&["refresh", "--force"]));
    let after = fs::metadata(env.pgpass())
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .ok();
    assert_ne!(before, after, "the password file was replaced by rename");
    assert!(env.pgpass_text().contains("ya29.third-token"));
    let attr = run(Command::new("getfattr")
        .args(["--only-values", "-n", "user.backup"])
        .arg(env.pgpass()));
    assert_eq!(attr, "keep-me");
    tried += 1;
    assert!(
        fs::read_to_string(env.service_file())
            .unwrap_or_default()
            .contains("127.0.0.2"),
        "the service file was rewritten"
    );
    let acl = run(Command::new("getfacl")
        .args(["-n", "-p"])
        .arg(env.service_file()));
    assert!(acl.contains("user:65534:r--"), "{acl}");
    assert!(
        !acl.contains("#effective"),
        "the ACL still grants read: {acl}"
    );
    tried += 1;
    eprintln!("links, ACLs, attributes: {tried} of 3 kept across a rewrite");
}

#[test]
fn a_state_directory_of_another_user_or_open_to_others_is_refused() {
    let user = test_user();
    if !prerequisite(
        user.is_some(),
        "root (to run as other users)",
        "state directory trust",
    ) {
        return;
    }
    let Some((uid, gid)) = user else { return };
    let mut tried = 0;
    for (owner, mode, fix) in [
        (0, 0o700, "chown"),
        (uid, 0o777, "chmod 700"),
        (uid, 0o770, "chmod 700"),
    ] {
        let env = Env::new();
        env.write_config(&config_text(&offline_token(&env), "127.0.0.1"));
        fs::create_dir(env.state_dir()).expect("state dir");
        chown_tree(env.dir.path(), uid, gid);
        let status = Command::new("chown")
            .arg(format!("{owner}:{gid}"))
            .arg(env.state_dir())
            .status()
            .expect("chown");
        assert!(status.success());
        chmod(&env.state_dir(), mode);
        chmod(env.dir.path(), 0o755);
        let err = fails_with(run_as_user_keeping_owners(&env, uid, gid, &["refresh"]), 2);
        assert!(
            err.contains(&format!("{fix} "))
                && err.contains(&env.state_dir().display().to_string()),
            "owner {owner}, mode {mode:o}: {err}"
        );
        assert!(!env.pgpass().exists(), "nothing written");
        tried += 1;
    }
    eprintln!("state directory trust: {tried} of 3 refused");
}
