//! `fake-google gcloud`: the fake gcloud CLI, run the way a test runs it,
//! as a `gcloud` script on `PATH`.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::{assert_success, ok_json};
use fake_google::{CLOUD_PLATFORM_SCOPE, FakeGoogle, OPENID_SCOPE, USERINFO_EMAIL_SCOPE};
use serde_json::Value;
use tempfile::TempDir;

const ACCOUNT: &str = "kai@altostrat.com";
const SA: &str = "db-user@demo-project.iam.gserviceaccount.com";

/// Writes `dir/gcloud` running the fake for `ACCOUNT` with `extra` wrapper
/// options.
fn install_gcloud(dir: &Path, google: &FakeGoogle, extra: &str) {
    let script = format!(
        "#!/bin/sh\nexec '{}' gcloud --url '{}' --account '{ACCOUNT}' {extra} -- \"$@\"\n",
        env!("CARGO_BIN_EXE_fake-google"),
        google.http_url()
    );
    let path = dir.join("gcloud");
    fs::write(&path, script).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A fake and a directory holding a `gcloud` script for it.
fn setup(extra: &str) -> (FakeGoogle, TempDir) {
    let google = FakeGoogle::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    install_gcloud(dir.path(), &google, extra);
    (google, dir)
}

fn fake_google() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fake-google"))
}

/// Asserts a failure with exit status `code`, nothing on stdout and
/// `message` at the start of stderr.
#[track_caller]
fn assert_fails(out: &Output, code: i32, message: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", stderr(out));
    assert!(out.stdout.is_empty(), "{}", stdout(out));
    assert!(stderr(out).starts_with(message), "{}", stderr(out));
}

fn gcloud(dir: &Path, args: &[&str]) -> Output {
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // A script just written can be briefly "busy" (ETXTBSY) while another
    // test thread forks with the write descriptor still open; retry.
    for _ in 0..100 {
        match Command::new("gcloud")
            .args(args)
            .env("PATH", &path)
            .output()
        {
            Err(e) if e.raw_os_error() == Some(26) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => return result.unwrap(),
        }
    }
    panic!("gcloud script stayed busy");
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn tokeninfo(google: &FakeGoogle, token: &str) -> Value {
    ok_json(&common::tokeninfo(google, token))
}

#[test]
fn print_access_token() {
    let (google, dir) = setup("");
    let out = gcloud(dir.path(), &["auth", "print-access-token"]);
    assert_success(&out);
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.ends_with('\n') && text.lines().count() == 1,
        "{text:?}"
    );
    let token = text.trim_end();
    assert!(token.starts_with("ya29."));
    let record = google.token_info(token).unwrap();
    assert_eq!(record.principal, ACCOUNT);
    assert_eq!(
        record.scopes,
        [OPENID_SCOPE, USERINFO_EMAIL_SCOPE, CLOUD_PLATFORM_SCOPE]
    );
    assert_eq!(tokeninfo(&google, token)["email"], ACCOUNT);
    assert_eq!(google.hits("gcloud_token"), 1);
}

#[test]
fn impersonation_needs_a_grant() {
    let (google, dir) = setup("");

    let out = gcloud(
        dir.path(),
        &[
            "auth",
            "print-access-token",
            &format!("--impersonate-service-account={SA}"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "ERROR: (gcloud.auth.print-access-token) PERMISSION_DENIED: Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist). This command is authenticated as {ACCOUNT}"
        )),
        "{err}"
    );
    assert!(err.contains("reason: IAM_PERMISSION_DENIED"), "{err}");

    google.grant_token_creator(ACCOUNT, SA);
    for args in [
        &[
            "auth",
            "print-access-token",
            &format!("--impersonate-service-account={SA}"),
        ][..],
        &[
            "auth",
            "print-access-token",
            "--impersonate-service-account",
            SA,
        ],
    ] {
        let out = gcloud(dir.path(), args);
        assert_success(&out);
        assert!(
            stderr(&out)
                .starts_with("WARNING: This command is using service account impersonation."),
            "{}",
            stderr(&out)
        );
        let token = stdout(&out).trim_end().to_owned();
        assert_eq!(google.token_info(&token).unwrap().principal, SA);
        assert_eq!(tokeninfo(&google, &token)["email"], SA);
    }
}

#[test]
fn impersonatable_option_grants() {
    let (google, dir) = setup(&format!("--impersonatable '{SA}'"));
    let out = gcloud(
        dir.path(),
        &[
            "auth",
            "print-access-token",
            "--impersonate-service-account",
            SA,
        ],
    );
    assert_success(&out);
    let token = stdout(&out).trim_end().to_owned();
    assert_eq!(google.token_info(&token).unwrap().principal, SA);
}

#[test]
fn config_helper() {
    let (google, dir) = setup("");
    let out = gcloud(dir.path(), &["config", "config-helper", "--format=json"]);
    assert_success(&out);
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["configuration"]["active_configuration"], "default");
    assert_eq!(
        json["configuration"]["properties"]["core"]["account"],
        ACCOUNT
    );
    assert_eq!(
        json["configuration"]["properties"]["core"]["project"],
        "demo-project"
    );
    assert_eq!(
        json["sentinels"]["config_sentinel"],
        "/nonexistent/config_sentinel"
    );
    let credential = &json["credential"];
    let token = credential["access_token"].as_str().unwrap();
    assert_eq!(google.token_info(token).unwrap().principal, ACCOUNT);
    assert_eq!(
        credential["id_token"].as_str().unwrap().split('.').count(),
        3
    );
    let expiry = credential["token_expiry"].as_str().unwrap();
    assert!(
        expiry.len() == 20 && expiry.ends_with('Z') && expiry.as_bytes()[10] == b'T',
        "{expiry}"
    );
    // Pretty-printed like gcloud's.
    assert!(stdout(&out).starts_with("{\n  \"configuration\": {\n"));

    // The two-argument form, and with impersonation.
    google.grant_token_creator(ACCOUNT, SA);
    let out = gcloud(
        dir.path(),
        &[
            "config",
            "config-helper",
            "--format",
            "json",
            "--impersonate-service-account",
            SA,
        ],
    );
    assert_success(&out);
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let token = json["credential"]["access_token"].as_str().unwrap();
    assert_eq!(google.token_info(token).unwrap().principal, SA);
    assert_eq!(
        json["configuration"]["properties"]["auth"]["impersonate_service_account"],
        SA
    );
}

#[test]
fn unknown_arguments_exit_2() {
    let (google, dir) = setup("");
    for (args, expected) in [
        (
            &["compute", "instances", "list"][..],
            "ERROR: (gcloud) Invalid choice: 'compute'.",
        ),
        (&[], "ERROR: (gcloud) Command name argument expected."),
        (
            &["auth", "login"],
            "ERROR: (gcloud.auth) Invalid choice: 'login'.",
        ),
        (
            &["auth", "print-access-token", "--lifetime=60"],
            "ERROR: (gcloud.auth.print-access-token) unrecognized arguments: --lifetime=60",
        ),
        (
            &["config", "config-helper"],
            "ERROR: (gcloud.config.config-helper)",
        ),
    ] {
        assert_fails(&gcloud(dir.path(), args), 2, expected);
    }
    assert_eq!(google.hits("gcloud_token"), 0);
}

#[test]
fn broken_gcloud() {
    let (google, dir) = setup("--fail-with 1");
    assert_fails(
        &gcloud(dir.path(), &["auth", "print-access-token"]),
        1,
        "ERROR: (gcloud.auth.print-access-token) There was a problem refreshing your current auth tokens: ",
    );
    install_gcloud(dir.path(), &google, "--fail-with 3");
    assert_fails(
        &gcloud(dir.path(), &["config", "config-helper", "--format=json"]),
        3,
        "ERROR: (gcloud.config.config-helper) There was a problem",
    );
    assert_eq!(google.hits("gcloud_token"), 0);

    // A fake that fails (injected) looks the same to the caller, with exit 1.
    install_gcloud(dir.path(), &google, "");
    google.set_failures(1, 500);
    let out = gcloud(dir.path(), &["auth", "print-access-token"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("There was a problem refreshing your current auth tokens"));
    assert!(
        gcloud(dir.path(), &["auth", "print-access-token"])
            .status
            .success()
    );

    // And so does an unreachable one.
    let url = google.http_url();
    drop(google);
    let out = fake_google()
        .args([
            "gcloud",
            "--url",
            &url,
            "--account",
            ACCOUNT,
            "--",
            "auth",
            "print-access-token",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("There was a problem refreshing"));
}

#[test]
fn wrapper_usage_errors() {
    for args in [
        &["gcloud"][..],
        &[
            "gcloud",
            "--url",
            "http://127.0.0.1:9",
            "--",
            "auth",
            "print-access-token",
        ],
        &[
            "gcloud",
            "--url",
            "http://127.0.0.1:9",
            "--account",
            ACCOUNT,
            "auth",
        ],
    ] {
        let out = fake_google().args(args).output().unwrap();
        assert_fails(&out, 2, "fake-google gcloud: ");
    }
}
