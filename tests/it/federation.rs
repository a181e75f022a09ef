//! Workload identity federation from AWS and from a credential program, against the
//! stand-in Google (STS checks the SigV4 signature with the registered secret) and its
//! stand-in EC2 instance metadata service, each success ending in a real psql login
//! through the written files. Then the failures and hostile answers: a wrong AWS secret,
//! role names and role credentials a metadata service must not be believed about, and
//! programs that are not allowed, fail, hang, print garbage or stale tokens.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;
use fake_google::{AwsCredentials, AwsInstanceMetadata};
use serde_json::{Value, json};

const TARGET: &str = "db-login@proj.iam.gserviceaccount.com";
const TARGET_USER: &str = "db-login@proj.iam";
const AUDIENCE: &str =
    "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/prov";
const AWS_PRINCIPAL: &str = "principal://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/subject/arn:aws:sts::123456789012:assumed-role/ci-role/i-0abc";
const JOB_PRINCIPAL: &str = "principal://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/subject/ci-job";
const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
/// What the credential program prints as its subject token.
const SUBJECT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaS1qb2IifQ.c2lnbmF0dXJl";

/// Long-lived keys of an IAM user, from the environment.
fn user_keys() -> AwsCredentials {
    AwsCredentials {
        access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        session_token: None,
    }
}

/// An instance role's temporary credentials, from the metadata service.
fn role_keys() -> AwsCredentials {
    AwsCredentials {
        access_key_id: "ASIAQNZGKIQYEXAMPLE1".into(),
        secret_access_key: "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY".into(),
        session_token: Some("IQoJb3JpZ2luX2VjEXAMPLE/session+token=".into()),
    }
}

fn instance(require_imdsv2: bool) -> AwsInstanceMetadata {
    AwsInstanceMetadata {
        availability_zone: "us-east-2b".into(),
        role_name: "ci-role".into(),
        credentials: role_keys(),
        require_imdsv2,
    }
}

/// What the tests here add to the shared world.
trait Federation {
    fn config(&self);
    fn write_json(&self, name: &str, value: &Value) -> PathBuf;
    fn refresh(&self, credentials_file: &Path, envs: &[(&str, &str)]) -> Output;
    fn login(&self) -> String;
    fn executable_file(&self, name: &str, executable: Value) -> PathBuf;
}

impl Federation for World {
    /// One service `db` with Application Default Credentials, and Google's endpoints
    /// redirected to the stand-in.
    fn config(&self) {
        self.env.write_config(&self.config_text("", "\"adc\"", ""));
    }

    fn write_json(&self, name: &str, value: &Value) -> PathBuf {
        let path = self.env.dir.path().join(name);
        fs::write(&path, serde_json::to_vec_pretty(value).expect("json")).expect("write");
        path
    }

    /// `refresh --force` with `credentials_file` as ADC, nothing of the machine's own
    /// AWS or Google set-up, and `envs`; logging everything.
    fn refresh(&self, credentials_file: &Path, envs: &[(&str, &str)]) -> Output {
        let mut cmd = self.env.cmd();
        cmd.env("GOOGLE_APPLICATION_CREDENTIALS", credentials_file)
            .env_remove("CLOUDSDK_CONFIG")
            .env("GCE_METADATA_HOST", "127.0.0.1:9");
        for name in [
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES",
        ] {
            cmd.env_remove(name);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        // With every debug line, so that no secret in a log goes unnoticed either.
        cmd.args(["-vvv", "refresh", "--force"])
            .output()
            .expect("run alloydb-cred")
    }

    /// psql through ~/.pg_service.conf and ~/.pgpass only; returns current_user.
    fn login(&self) -> String {
        ok(self.psql("db", "select current_user"))
            .trim()
            .to_string()
    }

    /// An executable-sourced credential file impersonating TARGET.
    fn executable_file(&self, name: &str, executable: Value) -> PathBuf {
        let mut file = self
            .google
            .external_account_file(AUDIENCE, "/unused", Some(TARGET));
        file["credential_source"] = json!({ "executable": executable });
        self.write_json(name, &file)
    }
}

fn envs<'a>(creds: &'a AwsCredentials, region: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut envs = vec![
        ("AWS_REGION", region),
        ("AWS_ACCESS_KEY_ID", creds.access_key_id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", creds.secret_access_key.as_str()),
    ];
    if let Some(token) = &creds.session_token {
        envs.push(("AWS_SESSION_TOKEN", token));
    }
    envs
}

/// A world whose STS knows both sets of AWS keys, for a principal that may impersonate
/// TARGET.
fn aws_world() -> World {
    let w = World::start(&[TARGET_USER]);
    w.google
        .add_aws_identity(&user_keys(), AUDIENCE, AWS_PRINCIPAL);
    w.google
        .add_aws_identity(&role_keys(), AUDIENCE, AWS_PRINCIPAL);
    w.google.grant_token_creator(AWS_PRINCIPAL, TARGET);
    w.config();
    w
}

#[test]
fn aws_from_the_environment_and_from_the_instance_role_with_and_without_imdsv2() {
    let w = aws_world();
    let google = &w.google;
    google.set_aws_instance(instance(true));
    let metadata_hits = || (google.hits("aws_imds_token"), google.hits("aws_metadata"));

    // Keys and region in the environment: the metadata service is not asked anything.
    let file = w.write_json(
        "aws.json",
        &google.aws_external_account_file(AUDIENCE, Some(TARGET), true),
    );
    let keys = user_keys();
    ok(w.refresh(&file, &envs(&keys, "us-east-1")));
    assert_eq!(w.login(), TARGET_USER);
    assert_eq!(metadata_hits(), (0, 0));

    // Temporary keys in the environment carry their session token.
    let mut temporary = role_keys();
    temporary.access_key_id = "ASIAENVIRONMENTKEY01".into();
    google.add_aws_identity(&temporary, AUDIENCE, AWS_PRINCIPAL);
    ok(w.refresh(&file, &envs(&temporary, "eu-west-3")));
    assert_eq!(w.login(), TARGET_USER);
    assert_eq!(metadata_hits(), (0, 0));

    // The instance role through IMDSv2 (which this instance requires): one session
    // token, then the availability zone, the role's name and its credentials. None of
    // them, nor the subject token, is in the log.
    let out = w.refresh(&file, &[]);
    let log = stderr(&out);
    ok(out);
    assert!(
        log.contains("PUT http"),
        "the IMDSv2 session request is logged: {log}"
    );
    for secret in [
        role_keys().secret_access_key,
        role_keys().session_token.unwrap_or_default(),
        "AQAEA".to_string(),
        "GetCallerIdentity".to_string(),
    ] {
        assert!(!log.contains(&secret), "{secret} in {log}");
    }
    assert_eq!(w.login(), TARGET_USER);
    assert_eq!(metadata_hits(), (1, 3));

    // IMDSv1: no session token URL in the file, an instance that does not require one;
    // the region from AWS_DEFAULT_REGION.
    google.set_aws_instance(instance(false));
    let file = w.write_json(
        "aws-v1.json",
        &google.aws_external_account_file(AUDIENCE, Some(TARGET), false),
    );
    ok(w.refresh(&file, &[("AWS_DEFAULT_REGION", "us-east-2")]));
    assert_eq!(w.login(), TARGET_USER);
    assert_eq!(metadata_hits(), (1, 5));

    // Without impersonation a federated identity has no e-mail to log in as.
    let file = w.write_json(
        "aws-direct.json",
        &google.aws_external_account_file(AUDIENCE, None, false),
    );
    let err = fails_with(w.refresh(&file, &envs(&keys, "us-east-1")), 2);
    assert!(
        err.contains("federated identity has no e-mail")
            && err.contains("impersonate a service account")
            && err.contains("set user"),
        "{err}"
    );
}

#[test]
fn aws_failures_and_hostile_metadata_answers() {
    let w = aws_world();
    let google = &w.google;
    let file = w.write_json(
        "aws.json",
        &google.aws_external_account_file(AUDIENCE, Some(TARGET), true),
    );
    ok(w.refresh(&file, &envs(&user_keys(), "us-east-1")));
    let good = fs::read(w.env.pgpass()).expect("pgpass");

    // A wrong secret: STS recomputes the signature and refuses; neither the secret nor
    // the session token is anywhere.
    let mut wrong = role_keys();
    wrong.secret_access_key = "WrongSecretKeyEXAMPLE/0123456789abcdefghi".into();
    let err = fails_with(w.refresh(&file, &envs(&wrong, "us-east-1")), 1);
    assert!(
        err.contains("Security Token Service refused")
            && err.contains("signature does not match")
            && err.contains("check the AWS credentials"),
        "{err}"
    );
    assert!(
        !err.contains("WrongSecretKey") && !err.contains("IQoJb3JpZ2lu"),
        "{err}"
    );
    assert_eq!(fs::read(w.env.pgpass()).expect("pgpass"), good);

    // A role name that would leave its path segment is never followed.
    for hostile in ["../../latest/api/token", "ci-role/../../x", "..", "a b"] {
        google.set_aws_instance(AwsInstanceMetadata {
            role_name: hostile.into(),
            ..instance(false)
        });
        let before = google.hits("aws_metadata");
        let err = fails_with(w.refresh(&file, &[("AWS_REGION", "us-east-1")]), 1);
        assert!(err.contains("not one IAM role name"), "{hostile}: {err}");
        assert!(!err.contains("latest/api"), "{err}");
        assert_eq!(
            google.hits("aws_metadata"),
            before + 1,
            "only the role list"
        );
    }

    // Role credentials that are not to be believed, from a metadata service of our own.
    for (answer, expected) in [
        (
            forty_years as fn(&str) -> Answer,
            "more than 12 hours ahead",
        ),
        (
            missing_secret as fn(&str) -> Answer,
            "missing field `SecretAccessKey`",
        ),
    ] {
        let imds = Responder::start(answer);
        let mut file = google.aws_external_account_file(AUDIENCE, Some(TARGET), false);
        file["credential_source"]["region_url"] =
            format!("{}/latest/meta-data/placement/availability-zone", imds.url).into();
        file["credential_source"]["url"] =
            format!("{}/latest/meta-data/iam/security-credentials", imds.url).into();
        let path = w.write_json("hostile-imds.json", &file);
        let err = fails_with(w.refresh(&path, &[]), 1);
        assert!(
            err.contains("role credentials that cannot be used") && err.contains(expected),
            "{err}"
        );
        assert!(
            !err.contains("HostileSecret") && !err.contains("HostileToken"),
            "{err}"
        );
    }
    assert_eq!(fs::read(w.env.pgpass()).expect("pgpass"), good);
}

fn hostile_metadata(path: &str, credentials: &str) -> Answer {
    if path.ends_with("/availability-zone") {
        (200, vec![], "us-east-2b".into())
    } else if path.ends_with("/security-credentials") {
        (200, vec![], "ci-role".into())
    } else if path.ends_with("/security-credentials/ci-role") {
        (200, vec![], credentials.into())
    } else {
        (404, vec![], String::new())
    }
}

fn forty_years(path: &str) -> Answer {
    hostile_metadata(
        path,
        r#"{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAQNZGKIQYEXAMPLE1","SecretAccessKey":"HostileSecret/EXAMPLEKEY","Token":"HostileToken+EXAMPLE=","Expiration":"2066-01-01T00:00:00Z"}"#,
    )
}

fn missing_secret(path: &str) -> Answer {
    hostile_metadata(
        path,
        r#"{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAQNZGKIQYEXAMPLE1","Token":"HostileToken+EXAMPLE=","Expiration":"2030-01-01T00:00:00Z"}"#,
    )
}

/// A credential program (a shell script) that logs its runs, arguments and
/// `GOOGLE_EXTERNAL_ACCOUNT_*` environment beside itself, then does `body`.
fn program(w: &World, name: &str, body: &str) -> PathBuf {
    let dir = w.env.dir.path();
    w.env.script(
        name,
        &format!(
            "echo run >> '{dir}/{name}.runs'\nprintf '%s|' \"$@\" > '{dir}/{name}.args'\nenv | grep '^GOOGLE_EXTERNAL_ACCOUNT_' | LC_ALL=C sort > '{dir}/{name}.env'\n{body}",
            dir = dir.display()
        ),
    )
}

fn runs(w: &World, name: &str) -> usize {
    fs::read_to_string(w.env.dir.path().join(format!("{name}.runs")))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// The response of a successful run, valid for `seconds` from when the program runs.
fn answering(seconds: i64) -> String {
    format!(
        r#"resp="{{\"version\":1,\"success\":true,\"token_type\":\"{JWT_TYPE}\",\"id_token\":\"{SUBJECT}\",\"expiration_time\":$(( $(date +%s) + {seconds} ))}}"
if [ -n "$GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE" ]; then printf '%s' "$resp" > "$GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE"; fi
printf '%s\n' "$resp""#
    )
}

const ALLOW: (&str, &str) = ("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1");

/// A world whose STS accepts [`SUBJECT`] for a principal that may impersonate TARGET.
fn executable_world() -> World {
    let w = World::start(&[TARGET_USER]);
    w.google
        .add_external_subject(SUBJECT, AUDIENCE, JOB_PRINCIPAL);
    w.google.grant_token_creator(JOB_PRINCIPAL, TARGET);
    w.config();
    w
}

#[test]
fn executable_runs_only_when_allowed_and_its_output_file_is_a_cache() {
    let w = executable_world();
    let script = program(&w, "broker", &answering(3600));
    let file = w.executable_file(
        "exec.json",
        json!({
            "command": format!("{} --audience=pool 'two words'", script.display()),
            "timeout_millis": 10000,
        }),
    );

    // Not allowed: the program is not run.
    let err = fails_with(w.refresh(&file, &[]), 2);
    assert!(
        err.contains("sets GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES to 1")
            && err.contains("exec.json"),
        "{err}"
    );
    assert_eq!(runs(&w, "broker"), 0);

    // Allowed: the command's words (quotes honoured, no shell), the variables Google's
    // libraries set, and a login.
    ok(w.refresh(&file, &[ALLOW]));
    assert_eq!(w.login(), TARGET_USER);
    assert_eq!(runs(&w, "broker"), 1);
    let dir = w.env.dir.path();
    assert_eq!(
        fs::read_to_string(dir.join("broker.args")).expect("args"),
        "--audience=pool|two words|"
    );
    assert_eq!(
        fs::read_to_string(dir.join("broker.env")).expect("env"),
        format!(
            "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1\nGOOGLE_EXTERNAL_ACCOUNT_AUDIENCE={AUDIENCE}\nGOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL={TARGET}\nGOOGLE_EXTERNAL_ACCOUNT_INTERACTIVE=0\nGOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE={JWT_TYPE}\n"
        )
    );

    // With an output file: the first run writes it, the next refresh uses it and does
    // not run the program.
    let cache = dir.join("subject-cache.json");
    let file = w.executable_file(
        "exec-cached.json",
        json!({
            "command": script.display().to_string(),
            "output_file": cache.display().to_string(),
        }),
    );
    ok(w.refresh(&file, &[ALLOW]));
    assert_eq!(runs(&w, "broker"), 2);
    assert!(
        fs::read_to_string(dir.join("broker.env"))
            .expect("env")
            .contains(&format!(
                "GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE={}",
                cache.display()
            ))
    );
    ok(w.refresh(&file, &[ALLOW]));
    assert_eq!(runs(&w, "broker"), 2, "the cached token was used");
    assert_eq!(w.login(), TARGET_USER);

    // An expired, a failed or a malformed cache is passed over: the program runs.
    for stale in [
        format!(
            r#"{{"version":1,"success":true,"token_type":"{JWT_TYPE}","id_token":"{SUBJECT}","expiration_time":1600000000}}"#
        ),
        r#"{"version":1,"success":false,"code":"401","message":"expired"}"#.to_string(),
        "{garbage".to_string(),
    ] {
        fs::write(&cache, stale).expect("write cache");
        let before = runs(&w, "broker");
        ok(w.refresh(&file, &[ALLOW]));
        assert_eq!(runs(&w, "broker"), before + 1);
        assert_eq!(w.login(), TARGET_USER);
    }
}

#[test]
fn executable_failures_are_reported_without_secrets() {
    let w = executable_world();
    let good = program(&w, "good", &answering(3600));
    let file = w.executable_file(
        "good.json",
        json!({ "command": good.display().to_string() }),
    );
    ok(w.refresh(&file, &[ALLOW]));
    assert_eq!(w.login(), TARGET_USER);
    let written = fs::read(w.env.pgpass()).expect("pgpass");

    let cases: [(&str, &str, u64, &[&str]); 5] = [
        (
            "refusing",
            r#"echo '{"version":1,"success":false,"code":"401","message":"Caller not authorized: token ya29.LEAKEDSECRET rejected"}'; exit 1"#,
            10_000,
            &["reported a failure (code 401): Caller not authorized: token <redacted> rejected"],
        ),
        (
            "garbled",
            r#"echo '{"version":1,"success":true,"id_token":"eyJLEAKEDSECRET'"#,
            10_000,
            &[
                "printed output that is not the JSON response of Google's executable-sourced credentials",
            ],
        ),
        (
            "stale",
            &format!(
                r#"echo '{{"version":1,"success":true,"token_type":"{JWT_TYPE}","id_token":"eyJLEAKEDSECRET","expiration_time":1600000000}}'"#
            ),
            10_000,
            &["printed a token that has expired"],
        ),
        (
            "crashing",
            "echo 'panic: cannot reach the IdP; had eyJLEAKEDSECRET.x.y' >&2; exit 3",
            10_000,
            &["exited with status 3", "cannot reach the IdP"],
        ),
        (
            "hanging",
            "exec sleep 30",
            5_000,
            &["did not finish within 5s", "timeout_millis in"],
        ),
    ];
    for (name, body, timeout_millis, expected) in cases {
        let script = program(&w, name, body);
        let file = w.executable_file(
            &format!("{name}.json"),
            json!({
                "command": script.display().to_string(),
                "timeout_millis": timeout_millis,
            }),
        );
        let err = fails_with(w.refresh(&file, &[ALLOW]), 1);
        for part in expected {
            assert!(err.contains(part), "{name}: {err}");
        }
        assert!(!err.contains("LEAKEDSECRET"), "{name}: {err}");
        assert_eq!(runs(&w, name), 1, "{name}");
        assert_eq!(fs::read(w.env.pgpass()).expect("pgpass"), written, "{name}");
    }

    // A timeout outside what Google's libraries allow is a configuration error.
    let file = w.executable_file(
        "too-long.json",
        json!({ "command": good.display().to_string(), "timeout_millis": 600_000 }),
    );
    let err = fails_with(w.refresh(&file, &[ALLOW]), 2);
    assert!(err.contains("between 5000 and 120000"), "{err}");
}
