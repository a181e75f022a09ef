//! Every Google credential source, against stand-in Google endpoints on loopback, each
//! ending in a real psql login through the generated files against the AlloyDB-like
//! server: service-account keys, user ADC, impersonated ADC, workload identity
//! federation, the metadata server, `impersonate` with delegates, and gcloud. Then the
//! failures: a revoked refresh token, 500s then success, a hung endpoint, a principal
//! that does not match the configured user. Last, the way there: an HTTPS endpoint
//! reached through the environment's proxy unless NO_PROXY names it, and loopback
//! endpoints never through a proxy.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::common::*;
use fake_google::proxy::ConnectProxy;
use fake_google::tls::TestCa;
use fake_google::{FakeGoogle, TLS_TEST_NAME};
use libpq_files::pgpass::PgpassFile;

const SA: &str = "app@proj.iam.gserviceaccount.com";
const SA_USER: &str = "app@proj.iam";
const TARGET: &str = "db-login@proj.iam.gserviceaccount.com";
const TARGET_USER: &str = "db-login@proj.iam";
const DELEGATE: &str = "hop@proj.iam.gserviceaccount.com";
const PERSON: &str = "kai@altostrat.com";
const ALLOYDB_SCOPE: &str = "https://www.googleapis.com/auth/alloydb.login";
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
const EMAIL_SCOPE: &str = "https://www.googleapis.com/auth/userinfo.email";

fn world() -> World {
    World::start(&[SA_USER, TARGET_USER, PERSON])
}

/// What the tests here add to the shared world: configs pointing at the stand-in's
/// endpoints, credential files, and runs with a controlled Google environment.
trait GoogleWorld {
    fn config(&self, credentials: &str, extra: &str);
    fn write_json(&self, name: &str, value: &serde_json::Value) -> PathBuf;
    fn run_with(&self, args: &[&str], envs: &[(&str, &str)]) -> Output;
    fn login(&self) -> String;
    fn entry(&self) -> libpq_files::pgpass::ManagedEntry;
}

impl GoogleWorld for World {
    /// A config with one service `db` using `credentials` (a TOML value) and `extra`
    /// lines for the service, with Google's endpoints redirected to the stand-in.
    fn config(&self, credentials: &str, extra: &str) {
        self.env
            .write_config(&self.config_text("", credentials, extra));
    }

    fn write_json(&self, name: &str, value: &serde_json::Value) -> PathBuf {
        let path = self.env.dir.path().join(name);
        fs::write(&path, serde_json::to_vec_pretty(value).expect("json")).expect("write");
        path
    }

    fn run_with(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut cmd = self.env.cmd();
        // Nothing from the machine's own Google set-up leaks in; the test says what is set.
        cmd.env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .env_remove("CLOUDSDK_CONFIG")
            .env("GCE_METADATA_HOST", "127.0.0.1:9");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.args(args).output().expect("run alloydb-cred")
    }

    /// psql through ~/.pg_service.conf and ~/.pgpass only; returns current_user.
    fn login(&self) -> String {
        ok(self.psql("db", "select current_user"))
            .trim()
            .to_string()
    }

    fn entry(&self) -> libpq_files::pgpass::ManagedEntry {
        PgpassFile::parse(&fs::read(self.env.pgpass()).expect("pgpass"))
            .get("db")
            .cloned()
            .expect("managed entry for db")
    }
}

fn seconds_left(entry: &libpq_files::pgpass::ManagedEntry) -> i64 {
    entry.expires_at.as_second() - jiff::Timestamp::now().as_second()
}

fn toml_path(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

#[test]
fn service_account_key_gets_a_real_token_from_its_token_uri() {
    let w = world();
    let key = w.google.add_service_account(SA);
    w.google.set_token_padding(3);
    let path = w.write_json("key.json", &key);
    w.config(&format!("{{ key_file = {} }}", toml_path(&path)), "");
    ok(w.run_with(&["refresh"], &[]));

    // The assertion a real token endpoint checks.
    let claims = w.google.last_jwt_claims().expect("a JWT-bearer grant");
    assert_eq!(claims["iss"], SA);
    assert_eq!(claims["scope"], ALLOYDB_SCOPE);
    assert_eq!(claims["aud"], format!("{}/token", w.google.http_url()));
    let entry = w.entry();
    assert!(
        entry.password.expose().ends_with("..."),
        "padding kept whole"
    );
    assert_eq!(entry.user, SA_USER);
    assert!(
        (3500..=3599).contains(&seconds_left(&entry)),
        "{}",
        seconds_left(&entry)
    );
    assert_eq!(w.login(), SA_USER);
    assert_eq!(
        w.google.tokeninfo_calls(),
        0,
        "a key's expiry and principal need no tokeninfo"
    );

    // The same key through ADC's GOOGLE_APPLICATION_CREDENTIALS.
    w.config("\"adc\"", "");
    let gac = path.display().to_string();
    ok(w.run_with(
        &["refresh", "--force"],
        &[("GOOGLE_APPLICATION_CREDENTIALS", &gac)],
    ));
    assert_eq!(w.login(), SA_USER);
}

#[test]
fn verbose_logs_show_our_steps_and_never_a_secret() {
    let w = world();
    let key = w.google.add_service_account(SA);
    let path = w.write_json("key.json", &key);
    w.config(&format!("{{ key_file = {} }}", toml_path(&path)), "");

    // -vv: our own debug lines, none of the HTTP library's internals.
    let err = stderr(&w.run_with(&["-vv", "refresh"], &[]));
    assert!(err.contains("building HTTP client"), "{err}");
    assert!(!err.contains("Call<") && !err.contains("Resolved"), "{err}");

    // -vvv adds the HTTP library's debug lines, but never its trace-level byte dumps.
    let err = stderr(&w.run_with(&["-vvv", "refresh", "--force"], &[]));
    assert!(err.contains("Call<"), "the library's debug lines: {err}");
    assert!(!err.contains(": trace:"), "{err}");
    let token = w.entry().password.expose().to_string();
    let assertion_claims = w.google.last_jwt_claims().expect("a JWT-bearer grant");
    assert!(!err.contains(&token[..20]), "a token in the log: {err}");
    assert!(!err.contains("eyJ"), "a JWT in the log: {err}");
    assert!(!err.contains("BEGIN PRIVATE"), "{err}");
    assert_eq!(assertion_claims["iss"], SA);
}

#[test]
fn user_adc_from_gclouds_file_logs_in_as_the_user_and_asks_tokeninfo_once() {
    let w = world();
    let adc = w.google.add_user(
        PERSON,
        &[ALLOYDB_SCOPE, CLOUD_PLATFORM, EMAIL_SCOPE, "openid"],
    );
    let gcloud_dir = w.env.home().join(".config/gcloud");
    fs::create_dir_all(&gcloud_dir).expect("mkdir");
    fs::write(
        gcloud_dir.join("application_default_credentials.json"),
        serde_json::to_vec(&adc).expect("json"),
    )
    .expect("write");
    w.config("\"adc\"", "");
    ok(w.run_with(&["refresh"], &[]));
    assert_eq!(w.entry().user, PERSON);
    assert_eq!(w.login(), PERSON);
    let calls = w.google.tokeninfo_calls();
    assert_eq!(calls, 1);
    ok(w.run_with(&["refresh", "--force"], &[]));
    assert_eq!(
        w.google.tokeninfo_calls(),
        calls,
        "principal remembered per credential"
    );
    assert_eq!(w.login(), PERSON);
}

#[test]
fn a_login_without_the_alloydb_scope_is_never_silently_widened() {
    let w = world();
    let adc = w
        .google
        .add_user(PERSON, &[CLOUD_PLATFORM, EMAIL_SCOPE, "openid"]);
    let path = w.write_json("adc.json", &adc);
    let adc_env = [("GOOGLE_APPLICATION_CREDENTIALS", path.display().to_string())];
    let env: Vec<(&str, &str)> = adc_env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // The configured (default) AlloyDB scope is refused: fail with both remedies, write
    // nothing broader.
    w.config("\"adc\"", "");
    let err = fails_with(w.run_with(&["refresh"], &env), 1);
    assert!(
        err.contains("gcloud auth application-default login --scopes=https://www.googleapis.com/auth/alloydb.login,https://www.googleapis.com/auth/cloud-platform,https://www.googleapis.com/auth/userinfo.email,openid"),
        "{err}"
    );
    assert!(
        err.contains(&format!("scopes = [\"{CLOUD_PLATFORM}\"]")),
        "{err}"
    );
    assert!(!w.env.pgpass().exists(), "nothing was written");

    // Asking for cloud-platform explicitly is honoured without complaint, and status
    // says the token is broad.
    w.config("\"adc\"", &format!("scopes = [\"{CLOUD_PLATFORM}\"]"));
    let out = w.run_with(&["refresh"], &env);
    let err = stderr(&out);
    ok(out);
    assert!(!err.contains("warn"), "{err}");
    let token = w.entry().password;
    let info = w
        .google
        .token_info(token.expose())
        .expect("issued by the stand-in");
    assert!(
        info.scopes.iter().any(|s| s == CLOUD_PLATFORM),
        "{:?}",
        info.scopes
    );
    assert_eq!(w.login(), PERSON);
    let status: serde_json::Value =
        serde_json::from_str(&ok(w.run_with(&["status", "--json"], &[]))).expect("json");
    assert_eq!(status["services"][0]["token_scope"], "broad");
    assert!(ok(w.run_with(&["status"], &[])).contains("broad"));
}

#[test]
fn a_revoked_refresh_token_fails_with_what_to_run_and_keeps_the_entry() {
    let w = world();
    let adc = w.google.add_user(PERSON, &[ALLOYDB_SCOPE, EMAIL_SCOPE]);
    let path = w.write_json("adc.json", &adc);
    let gac = path.display().to_string();
    w.config("\"adc\"", "");
    ok(w.run_with(&["refresh"], &[("GOOGLE_APPLICATION_CREDENTIALS", &gac)]));
    let before = fs::read(w.env.pgpass()).expect("read");
    w.google
        .revoke_refresh_token(adc["refresh_token"].as_str().expect("refresh token"));
    let err = fails_with(
        w.run_with(
            &["refresh", "--force"],
            &[("GOOGLE_APPLICATION_CREDENTIALS", &gac)],
        ),
        1,
    );
    assert!(
        err.contains("gcloud auth application-default login"),
        "{err}"
    );
    assert!(err.contains("invalid_grant"), "{err}");
    assert!(
        !err.contains(adc["refresh_token"].as_str().unwrap_or("-")),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(fs::read(w.env.pgpass()).expect("read"), before);
    assert_eq!(w.login(), PERSON, "the old token still works");
}

#[test]
fn metadata_server_token_keeps_its_real_remaining_lifetime() {
    let w = world();
    w.google.set_metadata_account(SA);
    let host = w
        .google
        .http_url()
        .trim_start_matches("http://")
        .to_string();
    w.config("\"metadata\"", "");
    ok(w.run_with(&["refresh"], &[("GCE_METADATA_HOST", &host)]));
    assert_eq!(w.entry().user, SA_USER);
    assert_eq!(w.login(), SA_USER);

    // The server hands out its cached token with 5 minutes 20 s left: the entry says so.
    w.google
        .set_metadata_token_remaining(Duration::from_secs(320));
    ok(w.run_with(&["refresh", "--force"], &[("GCE_METADATA_HOST", &host)]));
    let left = seconds_left(&w.entry());
    assert!(
        (300..=320).contains(&left),
        "entry expiry from expires_in: {left}s left"
    );
    assert_eq!(w.login(), SA_USER);
    let status: serde_json::Value =
        serde_json::from_str(&ok(w.run_with(&["status", "--json"], &[]))).expect("json");
    assert_eq!(status["services"][0]["state"], "due");
}

#[test]
fn impersonation_with_delegates_on_top_of_a_key() {
    let w = world();
    let key = w.google.add_service_account(SA);
    let path = w.write_json("key.json", &key);
    w.google.grant_token_creator(SA, DELEGATE);
    w.google.grant_token_creator(DELEGATE, TARGET);
    let creds = format!("{{ key_file = {} }}", toml_path(&path));
    w.config(
        &creds,
        &format!("impersonate = \"{TARGET}\"\ndelegates = [\"{DELEGATE}\"]"),
    );
    ok(w.run_with(&["refresh"], &[]));
    let request = w
        .google
        .last_generate_access_token_request()
        .expect("generateAccessToken");
    assert_eq!(
        request["body"]["delegates"][0],
        format!("projects/-/serviceAccounts/{DELEGATE}")
    );
    assert_eq!(request["body"]["scope"][0], ALLOYDB_SCOPE);
    assert_eq!(w.entry().user, TARGET_USER);
    assert_eq!(w.login(), TARGET_USER);

    // Without the delegate's permission: one sentence that says which role to grant.
    w.config(&creds, &format!("impersonate = \"{TARGET}\""));
    let err = fails_with(w.run_with(&["refresh", "--force"], &[]), 1);
    assert!(
        err.contains("roles/iam.serviceAccountTokenCreator"),
        "{err}"
    );
    assert!(
        err.contains(&format!("--member=serviceAccount:{SA}")),
        "{err}"
    );
}

#[test]
fn impersonated_adc_file_logs_in_as_the_target() {
    let w = world();
    let user = w.google.add_user(PERSON, &[CLOUD_PLATFORM, EMAIL_SCOPE]);
    w.google.grant_token_creator(PERSON, TARGET);
    let file = w
        .google
        .impersonated_service_account_file(user, TARGET, &[]);
    let path = w.write_json("impersonated.json", &file);
    w.config("\"adc\"", "");
    ok(w.run_with(
        &["refresh"],
        &[(
            "GOOGLE_APPLICATION_CREDENTIALS",
            &path.display().to_string(),
        )],
    ));
    assert_eq!(w.login(), TARGET_USER);
}

#[test]
fn workload_identity_federation_from_a_file_then_impersonation() {
    let w = world();
    let audience = "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/prov";
    let federated = "principal://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/subject/ci-job";
    let subject = w.env.dir.path().join("subject-token.jwt");
    fs::write(&subject, "eyJhbGciOi.subject.token\n").expect("write");
    w.google
        .add_external_subject("eyJhbGciOi.subject.token", audience, federated);
    w.google.grant_token_creator(federated, TARGET);
    let file =
        w.google
            .external_account_file(audience, subject.display().to_string(), Some(TARGET));
    let path = w.write_json("external.json", &file);
    w.config("\"adc\"", "");
    let gac = path.display().to_string();
    ok(w.run_with(&["refresh"], &[("GOOGLE_APPLICATION_CREDENTIALS", &gac)]));
    assert_eq!(w.login(), TARGET_USER);

    // Without impersonation a federated identity has no e-mail: the user must be named.
    let file = w
        .google
        .external_account_file(audience, subject.display().to_string(), None);
    let path = w.write_json("external-direct.json", &file);
    let err = fails_with(
        w.run_with(
            &["refresh", "--force"],
            &[(
                "GOOGLE_APPLICATION_CREDENTIALS",
                &path.display().to_string(),
            )],
        ),
        2,
    );
    assert!(err.contains("set user"), "{err}");
}

#[test]
fn gcloud_source_with_and_without_impersonation() {
    let w = world();
    w.google.grant_token_creator(PERSON, TARGET);
    let bin = w.env.dir.path().join("bin");
    fs::create_dir(&bin).expect("mkdir");
    let script = bin.join("gcloud");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec {} gcloud --url {} --account {PERSON} -- \"$@\"\n",
            fake_google_bin().display(),
            w.google.http_url()
        ),
    )
    .expect("write");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    w.config("\"gcloud\"", "");
    ok(w.run_with(&["refresh"], &[("PATH", &path)]));
    assert_eq!(w.entry().user, PERSON);
    assert!(seconds_left(&w.entry()) > 3000, "expiry from config-helper");
    assert_eq!(w.login(), PERSON);

    w.config("\"gcloud\"", &format!("impersonate = \"{TARGET}\""));
    ok(w.run_with(&["refresh", "--force"], &[("PATH", &path)]));
    assert_eq!(w.login(), TARGET_USER);
}

#[test]
fn endpoint_failures_retry_then_succeed_and_timeouts_fail_cleanly() {
    let w = world();
    let key = w.google.add_service_account(SA);
    let path = w.write_json("key.json", &key);
    w.config(&format!("{{ key_file = {} }}", toml_path(&path)), "");

    // Two 500s, then success.
    w.google.set_failures(2, 500);
    let out = w.run_with(&["refresh"], &[]);
    assert!(stderr(&out).contains("retrying"), "{}", stderr(&out));
    ok(out);
    assert_eq!(w.login(), SA_USER);
    let before = fs::read(w.env.pgpass()).expect("read");

    // An endpoint that never answers in time: every attempt times out, exit 1, entry kept.
    w.google.set_delay(Duration::from_secs(3));
    let err = fails_with(w.run_with(&["refresh", "--force"], &[]), 1);
    w.google.set_delay(Duration::ZERO);
    assert!(err.contains("after 3 attempts"), "{err}");
    assert_eq!(fs::read(w.env.pgpass()).expect("read"), before);
    assert_eq!(w.login(), SA_USER);
}

#[test]
fn a_principal_that_does_not_match_the_configured_user_is_refused() {
    let w = world();
    let key = w.google.add_service_account(SA);
    let path = w.write_json("key.json", &key);
    w.config(
        &format!("{{ key_file = {} }}", toml_path(&path)),
        &format!("user = \"{PERSON}\""),
    );
    let err = fails_with(w.run_with(&["refresh"], &[]), 2);
    assert!(
        err.contains("IAM principal does not match database user"),
        "{err}"
    );
    assert!(!w.env.pgpass().exists() || w.entry().user != PERSON);
}

#[test]
fn many_services_sharing_a_credential_mint_once() {
    let w = world();
    let key = w.google.add_service_account(SA);
    let path = w.write_json("key.json", &key);
    let mut extra = String::new();
    for i in 0..20 {
        extra.push_str(&format!("\n[services.s{i}]\nhost = \"10.9.0.{i}\"\n"));
    }
    w.config(&format!("{{ key_file = {} }}", toml_path(&path)), &extra);
    ok(w.run_with(&["refresh"], &[]));
    assert_eq!(w.google.hits("token"), 1);
    assert_eq!(
        PgpassFile::parse(&fs::read(w.env.pgpass()).expect("read"))
            .managed()
            .len(),
        21
    );
}

/// Every variable that names a proxy or exempts hosts from one, in both spellings.
const PROXY_VARIABLES: [&str; 8] = [
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
];

#[test]
fn https_goes_through_the_environments_proxy_unless_no_proxy_and_loopback_never_does() {
    let ca = TestCa::new("proxied CA").expect("CA");
    let google = FakeGoogle::start_tls(&ca).expect("fake google over TLS");
    let https = google.https_url().expect("https url");
    let port = https.rsplit_once(':').map(|(_, p)| p).expect("port");
    let proxy = ConnectProxy::start().expect("proxy");
    let env = Env::new();
    let mut key = google.add_service_account(SA);
    key["token_uri"] = "https://oauth2.googleapis.com/token".into();
    let key_path = env.dir.path().join("key.json");
    fs::write(&key_path, key.to_string()).expect("key");
    let config = |token: &str| {
        env.write_config(&format!(
            "[defaults]\ncredentials = {{ key_file = {} }}\n[endpoints]\ntoken = \"{token}\"\ntimeout = \"2s\"\n[services.db]\nhost = \"127.0.0.1\"\n",
            toml_path(&key_path)
        ))
    };
    // Only what the test sets: the stand-in's CA trusted, the proxy variables given.
    let refresh = |vars: &[(&str, &str)]| {
        let mut cmd = env.cmd();
        cmd.env("SSL_CERT_FILE", ca.cert_path())
            .env_remove("SSL_CERT_DIR");
        for var in PROXY_VARIABLES {
            cmd.env_remove(var);
        }
        cmd.envs(vars.iter().copied())
            .args(["refresh", "--force"])
            .output()
            .expect("run alloydb-cred")
    };
    let proxy_url = proxy.url();

    // A name only the proxy resolves: the request goes through it, and succeeds.
    let named = format!("https://{TLS_TEST_NAME}:{port}/token");
    config(&named);
    ok(refresh(&[("HTTPS_PROXY", &proxy_url)]));
    assert_eq!(
        proxy.requests(),
        [format!("CONNECT {TLS_TEST_NAME}:{port}")]
    );
    assert_eq!(google.hits("token"), 1, "the token came through the tunnel");
    let entry = PgpassFile::parse(&fs::read(env.pgpass()).expect("pgpass"))
        .get("db")
        .cloned()
        .expect("entry");
    assert_eq!(entry.user, SA_USER);
    assert!(google.token_info(entry.password.expose()).is_some());

    // NO_PROXY names the host: straight there, where the name resolves nowhere.
    let before = fs::read(env.pgpass()).expect("pgpass");
    let err = fails_with(
        refresh(&[("HTTPS_PROXY", &proxy_url), ("NO_PROXY", TLS_TEST_NAME)]),
        1,
    );
    assert!(
        err.contains(&format!(
            "cannot reach the OAuth2 token endpoint at {named}"
        )),
        "{err}"
    );
    assert_eq!(proxy.requests().len(), 1, "{:?}", proxy.requests());
    assert_eq!(google.hits("token"), 1);
    assert_eq!(fs::read(env.pgpass()).expect("pgpass"), before);

    // Loopback, over TLS or plain HTTP: never through a proxy, whatever names one.
    let everywhere = [
        ("HTTPS_PROXY", proxy_url.as_str()),
        ("HTTP_PROXY", &proxy_url),
        ("ALL_PROXY", &proxy_url),
    ];
    for token in [
        format!("{https}/token"),
        format!("{}/token", google.http_url()),
    ] {
        config(&token);
        ok(refresh(&everywhere));
    }
    assert_eq!(proxy.requests().len(), 1, "{:?}", proxy.requests());
    assert_eq!(google.hits("token"), 3);
}
