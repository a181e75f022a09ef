//! The Compute Engine metadata server stand-in, reached the way clients
//! reach it with `GCE_METADATA_HOST=127.0.0.1:PORT`.

mod common;

use std::time::Duration;

use common::{T, keys, ok_json};
use fake_google::client::{self, HttpAnswer};
use fake_google::{CLOUD_PLATFORM_SCOPE, FakeGoogle};
const SA: &str = "123456789012-compute@developer.gserviceaccount.com";
const FLAVOR: (&str, &str) = ("Metadata-Flavor", "Google");
const TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";
const EMAIL_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/email";

fn get(google: &FakeGoogle, path: &str, headers: &[(&str, &str)]) -> HttpAnswer {
    // Build the URL from GCE_METADATA_HOST's value, as clients do.
    let url = format!("http://{}{path}", google.metadata_host());
    client::request_with_headers("GET", &url, headers, None, T).unwrap()
}

fn token(google: &FakeGoogle) -> (String, u64) {
    let answer = get(google, TOKEN_PATH, &[FLAVOR]);
    assert_eq!(answer.header("metadata-flavor"), Some("Google"));
    let body = ok_json(&answer);
    assert_eq!(body["token_type"], "Bearer");
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["expires_in"].as_u64().unwrap(),
    )
}

#[test]
fn metadata_host_has_no_scheme() {
    let google = FakeGoogle::start().unwrap();
    let host = google.metadata_host();
    assert!(host.starts_with("127.0.0.1:"), "{host}");
    assert_eq!(format!("http://{host}"), google.http_url());
}

#[test]
fn token_and_email() {
    let google = FakeGoogle::start().unwrap();
    google.set_metadata_account(SA);

    let body = ok_json(&get(&google, TOKEN_PATH, &[FLAVOR]));
    assert_eq!(keys(&body), ["access_token", "expires_in", "token_type"]);
    let token = body["access_token"].as_str().unwrap();
    assert!((3590..=3599).contains(&body["expires_in"].as_u64().unwrap()));
    let record = google.token_info(token).unwrap();
    assert_eq!(record.principal, SA);
    assert_eq!(record.scopes, [CLOUD_PLATFORM_SCOPE]);
    assert!(record.email_in_tokeninfo);

    let answer = get(&google, EMAIL_PATH, &[FLAVOR]);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.text(), SA);
    assert_eq!(answer.header("metadata-flavor"), Some("Google"));
    assert!(!answer.header("content-type").unwrap().contains("json"));

    // The account's own name works like `default`.
    let by_name = format!("/computeMetadata/v1/instance/service-accounts/{SA}/token");
    assert_eq!(get(&google, &by_name, &[FLAVOR]).status, 200);
    let other = "/computeMetadata/v1/instance/service-accounts/x@y.iam.gserviceaccount.com/email";
    assert_eq!(get(&google, other, &[FLAVOR]).status, 404);

    assert_eq!(google.hits("metadata_token"), 2);
    assert_eq!(google.hits("metadata_email"), 2);
}

#[test]
fn requested_scopes() {
    let google = FakeGoogle::start().unwrap();
    google.set_metadata_account(SA);
    let path = format!(
        "{TOKEN_PATH}?scopes={},{}",
        client::percent_encode("https://www.googleapis.com/auth/alloydb.login"),
        client::percent_encode("https://www.googleapis.com/auth/userinfo.email")
    );
    let body = ok_json(&get(&google, &path, &[FLAVOR]));
    let record = google
        .token_info(body["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        record.scopes,
        [
            "https://www.googleapis.com/auth/alloydb.login",
            "https://www.googleapis.com/auth/userinfo.email"
        ]
    );
    // Scopes are cached separately from the default token.
    let (default_token, _) = token(&google);
    assert_ne!(default_token, body["access_token"].as_str().unwrap());
    let again = ok_json(&get(&google, &path, &[FLAVOR]));
    assert_eq!(again["access_token"], body["access_token"]);
}

#[test]
fn tokens_are_cached_until_five_minutes_remain() {
    let google = FakeGoogle::start().unwrap();
    google.set_metadata_account(SA);
    let (first, _) = token(&google);
    let (second, _) = token(&google);
    assert_eq!(first, second);

    google.set_metadata_token_remaining(Duration::from_secs(320));
    let (third, expires_in) = token(&google);
    assert_eq!(third, first);
    assert!((318..=320).contains(&expires_in), "{expires_in}");

    google.set_metadata_token_remaining(Duration::from_secs(299));
    let (fourth, expires_in) = token(&google);
    assert_ne!(fourth, first);
    assert!((3590..=3599).contains(&expires_in), "{expires_in}");
    // The old token is still valid for its remaining time.
    assert!(
        google
            .token_info(&first)
            .unwrap()
            .is_live_at(std::time::SystemTime::now())
    );
    let (fifth, _) = token(&google);
    assert_eq!(fifth, fourth);
}

#[test]
fn remaining_time_can_be_set_before_any_request() {
    let google = FakeGoogle::start().unwrap();
    google.set_metadata_token_remaining(Duration::from_secs(320)); // no account: no-op
    google.set_metadata_account(SA);
    google.set_metadata_token_remaining(Duration::from_secs(400));
    let (_, expires_in) = token(&google);
    assert!((398..=400).contains(&expires_in), "{expires_in}");
}

#[test]
fn revoked_cached_token_is_replaced() {
    let google = FakeGoogle::start().unwrap();
    google.set_metadata_account(SA);
    let (first, _) = token(&google);
    google.revoke(&first);
    let (second, _) = token(&google);
    assert_ne!(first, second);
}

#[test]
fn flavor_header_is_required() {
    let google = FakeGoogle::start().unwrap();
    google.set_metadata_account(SA);
    for headers in [
        &[][..],
        &[("Metadata-Flavor", "google")],
        &[("X-Google-Metadata-Request", "True")],
    ] {
        for path in [TOKEN_PATH, EMAIL_PATH, "/"] {
            let answer = get(&google, path, headers);
            assert_eq!(answer.status, 403, "{path} {headers:?}");
            assert!(
                answer.text().contains("Metadata-Flavor"),
                "{}",
                answer.text()
            );
            assert!(
                answer
                    .header("content-type")
                    .unwrap()
                    .starts_with("text/plain")
            );
        }
    }
    let answer = get(
        &google,
        TOKEN_PATH,
        &[FLAVOR, ("X-Forwarded-For", "10.0.0.1")],
    );
    assert_eq!(answer.status, 403);
    assert_eq!(google.mint_count(), 0);
}

#[test]
fn no_account_means_404() {
    let google = FakeGoogle::start().unwrap();
    for path in [TOKEN_PATH, EMAIL_PATH] {
        let answer = get(&google, path, &[FLAVOR]);
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(answer.header("metadata-flavor"), Some("Google"));
    }
    google.set_metadata_account(SA);
    assert_eq!(get(&google, TOKEN_PATH, &[FLAVOR]).status, 200);
    google.clear_metadata_account();
    assert_eq!(get(&google, TOKEN_PATH, &[FLAVOR]).status, 404);
}

#[test]
fn detection_probes() {
    let google = FakeGoogle::start().unwrap();
    let root = get(&google, "/", &[FLAVOR]);
    assert_eq!(root.status, 200);
    assert_eq!(root.header("metadata-flavor"), Some("Google"));
    assert_eq!(root.text(), "computeMetadata/\n");
    let project = get(&google, "/computeMetadata/v1/project/project-id", &[FLAVOR]);
    assert_eq!(
        (project.status, project.text().as_str()),
        (200, "demo-project")
    );
    let unknown = get(&google, "/computeMetadata/v1/instance/zone-ish", &[FLAVOR]);
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.header("metadata-flavor"), Some("Google"));
    assert_eq!(google.hits("metadata"), 3);
}

#[test]
fn faults_keep_the_flavor_header() {
    let google = FakeGoogle::start().unwrap();
    google.set_metadata_account(SA);
    google.set_failures(2, 500);
    let answer = get(&google, TOKEN_PATH, &[FLAVOR]);
    assert_eq!(answer.status, 500);
    assert_eq!(answer.header("metadata-flavor"), Some("Google"));
    assert_eq!(get(&google, EMAIL_PATH, &[FLAVOR]).status, 500);
    assert_eq!(get(&google, TOKEN_PATH, &[FLAVOR]).status, 200);
    assert_eq!(google.hits("metadata_token"), 2);
}
