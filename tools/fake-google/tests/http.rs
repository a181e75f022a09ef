//! The HTTP endpoints, through real sockets.

mod common;

use std::time::{Duration, Instant};

use common::{
    T, assert_oauth_error, assert_oauth_refusal, assert_timed_out, get, now_secs, ok_json,
    post_form, text, tokeninfo as tokeninfo_post, tokeninfo_get, url,
};
use fake_google::client::{self, HttpAnswer};
use fake_google::{DEFAULT_SCOPE, FakeGoogle, MintOptions};
use serde_json::{Value, json};

fn mint_json(google: &FakeGoogle, body: Value) -> HttpAnswer {
    common::post_json(google, "/mint", &body)
}

#[test]
fn mint_then_tokeninfo() {
    let google = FakeGoogle::start().unwrap();
    let body = ok_json(&mint_json(
        &google,
        json!({"principal": "kai@altostrat.com"}),
    ));
    let token = text(&body, "access_token");
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
        let info = ok_json(&answer);
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
    let body = ok_json(&post_form(
        &google,
        "/mint",
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
    ));
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
        assert_oauth_refusal(&mint_json(&google, body), 400, "invalid_request");
    }
    let answer = client::request(
        "POST",
        &url(&google, "/mint"),
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
            assert_oauth_error(&answer, 400, "invalid_token", "Invalid Value");
        }
    }
    // No access_token at all.
    assert_eq!(get(&google, "/tokeninfo").status, 400);
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
    assert_eq!(get(&google, "/stats").status, 200);
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
    assert_timed_out(client::post_json(
        &url(&google, "/mint"),
        &json!({"principal": "a@b.c"}),
        Duration::from_millis(300),
    ));
    assert!(started.elapsed() < Duration::from_millis(1400));
    // A delayed request does not hold up others.
    assert_eq!(get(&google, "/stats").status, 200);
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
    let stats = ok_json(&get(&google, "/stats"));
    assert_eq!(stats["minted"], 2);
    assert_eq!(stats["tokeninfo_calls"], 1);
    assert_eq!(stats["ldap_accepted"], 0);
    assert_eq!(stats["ldap_rejected"], 0);

    assert_eq!(get(&google, "/no/such/thing").status, 404);
    let answer = get(&google, "/mint");
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
