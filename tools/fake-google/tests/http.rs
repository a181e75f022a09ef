//! The HTTP endpoints, through real sockets.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fake_google::client::{self, HttpAnswer};
use fake_google::{DEFAULT_SCOPE, FakeGoogle, MintOptions};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(10);

fn mint_json(google: &FakeGoogle, body: Value) -> HttpAnswer {
    client::post_json(&format!("{}/mint", google.http_url()), &body, T).unwrap()
}

fn tokeninfo_get(google: &FakeGoogle, token: &str) -> HttpAnswer {
    let url = format!(
        "{}/tokeninfo?access_token={}",
        google.http_url(),
        client::percent_encode(token)
    );
    client::get(&url, T).unwrap()
}

fn tokeninfo_post(google: &FakeGoogle, token: &str) -> HttpAnswer {
    let url = format!("{}/tokeninfo", google.http_url());
    client::post_form(&url, &[("access_token", token)], T).unwrap()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn mint_then_tokeninfo() {
    let google = FakeGoogle::start().unwrap();
    let answer = mint_json(&google, json!({"principal": "kai@altostrat.com"}));
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(
        answer
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let body = answer.json().unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 180);
    assert!(token.starts_with("ya29."));
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["principal"], "kai@altostrat.com");
    assert_eq!(google.mint_count(), 1);

    for answer in [
        tokeninfo_get(&google, &token),
        tokeninfo_post(&google, &token),
    ] {
        assert_eq!(answer.status, 200, "{}", answer.text());
        let info = answer.json().unwrap();
        assert_eq!(info["email"], "kai@altostrat.com");
        assert_eq!(info["email_verified"], "true");
        assert_eq!(info["scope"], DEFAULT_SCOPE);
        assert_eq!(info["access_type"], "online");
        assert!(info["azp"].is_string() && info["aud"].is_string());
        // Google sends numbers as strings.
        let exp: u64 = info["exp"].as_str().unwrap().parse().unwrap();
        let expires_in: u64 = info["expires_in"].as_str().unwrap().parse().unwrap();
        assert!((3590..=3600).contains(&expires_in), "{expires_in}");
        assert!(exp.abs_diff(now_secs() + 3600) <= 5, "{exp}");
    }
    assert_eq!(google.tokeninfo_calls(), 2);
}

#[test]
fn mint_with_form_body_and_options() {
    let google = FakeGoogle::start().unwrap();
    let answer = client::post_form(
        &format!("{}/mint", google.http_url()),
        &[
            ("principal", "svc@proj.iam.gserviceaccount.com"),
            ("lifetime_secs", "120"),
            ("length", "2048"),
            ("padding", "3"),
            (
                "scope",
                "openid https://www.googleapis.com/auth/userinfo.email",
            ),
        ],
        T,
    )
    .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = answer.json().unwrap();
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(token.len(), 2048 + 3);
    assert!(token.ends_with("...") && !token.ends_with("...."));
    assert_eq!(body["expires_in"], 120);

    let info = tokeninfo_get(&google, token).json().unwrap();
    assert_eq!(
        info["scope"],
        "openid https://www.googleapis.com/auth/userinfo.email"
    );
    assert_eq!(info["email"], "svc@proj.iam.gserviceaccount.com");
    let record = google.token_info(token).unwrap();
    assert_eq!(record.principal, "svc@proj.iam.gserviceaccount.com");
    assert_eq!(record.scopes.len(), 2);
}

#[test]
fn mint_rejects_bad_requests() {
    let google = FakeGoogle::start().unwrap();
    for body in [
        json!({}),
        json!({"principal": ""}),
        json!({"principal": "a@b.c", "lifetime_secs": "soon"}),
        json!({"principal": "a@b.c", "length": 0}),
        json!({"principal": "a@b.c", "padding": 100000}),
    ] {
        let answer = mint_json(&google, body.clone());
        assert_eq!(answer.status, 400, "{body}: {}", answer.text());
        assert_eq!(answer.json().unwrap()["error"], "invalid_request");
    }
    let answer = client::request(
        "POST",
        &format!("{}/mint", google.http_url()),
        Some(("application/json", b"{not json")),
        T,
    )
    .unwrap();
    assert_eq!(answer.status, 400);
    assert_eq!(google.mint_count(), 0);
}

#[test]
fn email_can_be_hidden_from_tokeninfo() {
    let google = FakeGoogle::start().unwrap();
    let token = google.mint_with(&MintOptions::new("kai@altostrat.com").email_in_tokeninfo(false));
    let info = tokeninfo_post(&google, &token).json().unwrap();
    assert!(info.get("email").is_none(), "{info}");
    assert!(info.get("email_verified").is_none(), "{info}");

    let body = mint_json(
        &google,
        json!({"principal": "kai@altostrat.com", "email_in_tokeninfo": false}),
    )
    .json()
    .unwrap();
    let info = tokeninfo_get(&google, body["access_token"].as_str().unwrap())
        .json()
        .unwrap();
    assert!(info.get("email").is_none(), "{info}");
}

#[test]
fn invalid_expired_and_revoked_tokens() {
    let google = FakeGoogle::start().unwrap();
    let expired = google.mint("kai@altostrat.com", Duration::ZERO, &[], 180);
    let revoked = google.mint("kai@altostrat.com", Duration::from_secs(60), &[], 180);
    assert!(google.revoke(&revoked));
    assert!(!google.revoke("never-issued"));
    for token in ["ya29.nonsense", "", expired.as_str(), revoked.as_str()] {
        for answer in [
            tokeninfo_get(&google, token),
            tokeninfo_post(&google, token),
        ] {
            assert_eq!(answer.status, 400, "{token}: {}", answer.text());
            let body = answer.json().unwrap();
            assert_eq!(body["error"], "invalid_token");
            assert_eq!(body["error_description"], "Invalid Value");
        }
    }
    // No access_token at all.
    let answer = client::get(&format!("{}/tokeninfo", google.http_url()), T).unwrap();
    assert_eq!(answer.status, 400);
}

#[test]
fn injected_failures() {
    let google = FakeGoogle::start().unwrap();
    let token = google.mint("kai@altostrat.com", Duration::from_secs(60), &[], 180);
    google.set_failures(3, 500);
    assert_eq!(
        mint_json(&google, json!({"principal": "a@b.c"})).status,
        500
    );
    assert_eq!(tokeninfo_get(&google, &token).status, 500);
    // /stats is not a Google endpoint and never fails.
    assert_eq!(
        client::get(&format!("{}/stats", google.http_url()), T)
            .unwrap()
            .status,
        200
    );
    assert_eq!(tokeninfo_post(&google, &token).status, 500);
    assert_eq!(tokeninfo_post(&google, &token).status, 200);
    assert_eq!(
        mint_json(&google, json!({"principal": "a@b.c"})).status,
        200
    );

    google.set_failures(1, 503);
    let answer = mint_json(&google, json!({"principal": "a@b.c"}));
    assert_eq!(answer.status, 503);
    assert!(answer.json().unwrap()["error"].is_string());
    // Only successful mints count.
    assert_eq!(google.mint_count(), 2);
}

#[test]
fn injected_delay_trips_client_timeouts() {
    let google = FakeGoogle::start().unwrap();
    google.set_delay(Duration::from_millis(1500));
    let started = Instant::now();
    let err = client::post_json(
        &format!("{}/mint", google.http_url()),
        &json!({"principal": "a@b.c"}),
        Duration::from_millis(300),
    )
    .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(1400));
    // A delayed request does not hold up others.
    assert_eq!(
        client::get(&format!("{}/stats", google.http_url()), T)
            .unwrap()
            .status,
        200
    );
    google.set_delay(Duration::ZERO);
    assert_eq!(
        mint_json(&google, json!({"principal": "a@b.c"})).status,
        200
    );
}

#[test]
fn stats_and_routing() {
    let google = FakeGoogle::start().unwrap();
    let token = google.mint("kai@altostrat.com", Duration::from_secs(60), &[], 180);
    mint_json(&google, json!({"principal": "a@b.c"}));
    tokeninfo_get(&google, &token);
    let stats = client::get(&format!("{}/stats", google.http_url()), T)
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(stats["minted"], 2);
    assert_eq!(stats["tokeninfo_calls"], 1);
    assert_eq!(stats["ldap_accepted"], 0);
    assert_eq!(stats["ldap_rejected"], 0);

    let answer = client::get(&format!("{}/no/such/thing", google.http_url()), T).unwrap();
    assert_eq!(answer.status, 404);
    let answer = client::get(&format!("{}/mint", google.http_url()), T).unwrap();
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("allow"), Some("POST"));
}

#[test]
fn drop_stops_promptly() {
    let google = FakeGoogle::start().unwrap();
    let url = google.http_url();
    let ldap_port = google.ldap_port();
    let started = Instant::now();
    drop(google);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(client::get(&format!("{url}/stats"), Duration::from_secs(1)).is_err());
    assert!(std::net::TcpStream::connect(("127.0.0.1", ldap_port)).is_err());
}
