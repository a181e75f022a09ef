//! Helpers shared by the fake's integration tests: requests they all make
//! and the assertions they all repeat about Google-shaped answers.

// Each test crate uses its own subset.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fake_google::client::{self, HttpAnswer};
use fake_google::{FakeGoogle, MintOptions};
use serde_json::Value;

/// Timeout for requests that should be answered at once.
pub const T: Duration = Duration::from_secs(10);

/// `path` on the fake's HTTP server.
pub fn url(google: &FakeGoogle, path: &str) -> String {
    format!("{}{path}", google.http_url())
}

/// `GET path` on the fake.
pub fn get(google: &FakeGoogle, path: &str) -> HttpAnswer {
    client::get(&url(google, path), T).unwrap()
}

/// `POST path` with a form body.
pub fn post_form(google: &FakeGoogle, path: &str, fields: &[(&str, &str)]) -> HttpAnswer {
    client::post_form(&url(google, path), fields, T).unwrap()
}

/// `POST path` with a JSON body.
pub fn post_json(google: &FakeGoogle, path: &str, body: &Value) -> HttpAnswer {
    client::post_json(&url(google, path), body, T).unwrap()
}

/// `POST /tokeninfo` with a form body, as most clients ask.
pub fn tokeninfo(google: &FakeGoogle, token: &str) -> HttpAnswer {
    post_form(google, "/tokeninfo", &[("access_token", token)])
}

/// `GET /tokeninfo?access_token=...`.
pub fn tokeninfo_get(google: &FakeGoogle, token: &str) -> HttpAnswer {
    get(
        google,
        &format!("/tokeninfo?access_token={}", client::percent_encode(token)),
    )
}

/// Asserts a 200 answer with a JSON body and returns the body.
#[track_caller]
pub fn ok_json(answer: &HttpAnswer) -> Value {
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(
        answer
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{:?}",
        answer.headers
    );
    answer.json().unwrap()
}

/// A string field of a JSON object, which must be there.
#[track_caller]
pub fn text(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no string {field} in {value}"))
        .to_owned()
}

/// The field names of a JSON object, sorted.
#[track_caller]
pub fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// Asserts an OAuth2 refusal `{"error": error, ...}` with `status`; returns
/// the body.
#[track_caller]
pub fn assert_oauth_refusal(answer: &HttpAnswer, status: u16, error: &str) -> Value {
    assert_eq!(answer.status, status, "{}", answer.text());
    let body = answer.json().unwrap();
    assert_eq!(body["error"], error, "{body}");
    body
}

/// Like [`assert_oauth_refusal`], also checking `error_description`.
#[track_caller]
pub fn assert_oauth_error(answer: &HttpAnswer, status: u16, error: &str, description: &str) {
    let body = assert_oauth_refusal(answer, status, error);
    assert_eq!(body["error_description"], description, "{body}");
}

/// Asserts a JSON API error `{"error": {"code", "status", "message"}}`;
/// returns the body.
#[track_caller]
pub fn assert_google_error(answer: &HttpAnswer, code: u16, status: &str, message: &str) -> Value {
    assert_eq!(answer.status, code, "{}", answer.text());
    let body = answer.json().unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["status"], status, "{body}");
    assert_eq!(body["error"]["message"], message, "{body}");
    body
}

/// Asserts that a request failed by running out of time.
#[track_caller]
pub fn assert_timed_out(result: io::Result<HttpAnswer>) {
    let err = result.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        "{err:?}"
    );
}

/// Asserts that a program exited 0, showing its stderr otherwise.
#[track_caller]
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Seconds since the Unix epoch.
pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> u64 {
    unix(SystemTime::now())
}

/// Whole seconds left before a token the fake issued expires.
#[track_caller]
pub fn secs_left(google: &FakeGoogle, token: &str) -> u64 {
    unix(google.token_info(token).unwrap().expires_at).saturating_sub(now_secs())
}

/// `GET path` over TLS to `addr`, verifying the server as `name` against
/// the CA certificate `ca_der` only. Returns the raw answer.
pub fn https_get(addr: &str, name: &str, ca_der: &[u8], path: &str) -> io::Result<String> {
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca_der.to_vec()))
        .map_err(io::Error::other)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let server_name = ServerName::try_from(name.to_owned()).map_err(io::Error::other)?;
    let conn =
        rustls::ClientConnection::new(Arc::new(config), server_name).map_err(io::Error::other)?;
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(T))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    tls.read_to_string(&mut answer)?;
    Ok(answer)
}

/// Asserts the authentication checks every Google JSON API makes, through
/// `call(bearer)`: 401 `UNAUTHENTICATED` without a token (with
/// `WWW-Authenticate: Bearer ...`) and for unknown, expired or revoked
/// tokens of `principal`, and 403 for a live token with only `narrow_scope`.
#[track_caller]
pub fn assert_google_authentication(
    google: &FakeGoogle,
    principal: &str,
    granted_scope: &str,
    narrow_scope: &str,
    call: impl Fn(Option<&str>) -> HttpAnswer,
) {
    const SEE: &str = "Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
    let answer = call(None);
    assert_google_error(
        &answer,
        401,
        "UNAUTHENTICATED",
        &format!("Request is missing required authentication credential. {SEE}"),
    );
    assert!(
        answer
            .header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer")),
        "{:?}",
        answer.headers
    );
    let token = |lifetime| {
        google.mint_with(
            &MintOptions::new(principal)
                .scopes(&[granted_scope])
                .lifetime(lifetime),
        )
    };
    let expired = token(Duration::ZERO);
    let revoked = token(Duration::from_secs(600));
    google.revoke(&revoked);
    for bearer in ["ya29.nonsense", expired.as_str(), revoked.as_str()] {
        assert_google_error(
            &call(Some(bearer)),
            401,
            "UNAUTHENTICATED",
            &format!("Request had invalid authentication credentials. {SEE}"),
        );
    }
    let narrow = google.mint_with(&MintOptions::new(principal).scopes(&[narrow_scope]));
    let error = assert_google_error(
        &call(Some(&narrow)),
        403,
        "PERMISSION_DENIED",
        "Request had insufficient authentication scopes.",
    );
    assert_eq!(
        error["error"]["details"][0]["reason"],
        "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    );
}
