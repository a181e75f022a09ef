//! `POST /token`: service-account JWT assertions and refresh tokens, through
//! real sockets, with assertions signed here (with ring) the way a client
//! library signs them.

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{
    assert_oauth_error, assert_oauth_refusal, assert_timed_out, keys, ok_json, post_form,
    secs_left, text, tokeninfo, url,
};
use fake_google::client::{self, HttpAnswer};
use fake_google::{
    CLOUD_PLATFORM_SCOPE, FakeGoogle, OPENID_SCOPE, TEST_SERVICE_ACCOUNT_KEY_PEM,
    USERINFO_EMAIL_SCOPE, pem_to_der,
};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};

const SA: &str = "loader@demo-project.iam.gserviceaccount.com";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ALLOYDB_LOGIN: &str = "https://www.googleapis.com/auth/alloydb.login";

fn now() -> i64 {
    common::now_secs() as i64
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs `header.claims` with `pem` (PKCS#8) using RS256.
fn sign_with(pem: &str, header: &Value, claims: &Value) -> String {
    let key = RsaKeyPair::from_pkcs8(&pem_to_der(pem).unwrap()).unwrap();
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{input}.{}", b64(&sig))
}

fn sign(header: &Value, claims: &Value) -> String {
    sign_with(TEST_SERVICE_ACCOUNT_KEY_PEM, header, claims)
}

/// Claims a client library sends for `key_file`.
fn claims_for(key_file: &Value, scope: &str) -> Value {
    let iat = now();
    json!({
        "iss": key_file["client_email"],
        "aud": key_file["token_uri"],
        "scope": scope,
        "iat": iat,
        "exp": iat + 3600,
    })
}

fn header_for(key_file: &Value) -> Value {
    json!({"alg": "RS256", "typ": "JWT", "kid": key_file["private_key_id"]})
}

fn token_form(google: &FakeGoogle, fields: &[(&str, &str)]) -> HttpAnswer {
    post_form(google, "/token", fields)
}

fn exchange(google: &FakeGoogle, assertion: &str) -> HttpAnswer {
    token_form(
        google,
        &[("grant_type", JWT_BEARER), ("assertion", assertion)],
    )
}

#[test]
fn key_file_looks_like_googles() {
    let google = FakeGoogle::start().unwrap();
    let key = google.add_service_account(SA);
    assert_eq!(
        keys(&key),
        [
            "auth_provider_x509_cert_url",
            "auth_uri",
            "client_email",
            "client_id",
            "client_x509_cert_url",
            "private_key",
            "private_key_id",
            "project_id",
            "token_uri",
            "type",
            "universe_domain",
        ]
    );
    assert_eq!(key["type"], "service_account");
    assert_eq!(key["project_id"], "demo-project");
    assert_eq!(key["client_email"], SA);
    assert_eq!(key["private_key"], TEST_SERVICE_ACCOUNT_KEY_PEM);
    assert!(
        key["private_key"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----\n")
    );
    let kid = key["private_key_id"].as_str().unwrap();
    assert!(kid.len() == 40 && kid.bytes().all(|b| b.is_ascii_hexdigit()));
    let client_id = key["client_id"].as_str().unwrap();
    assert!(client_id.len() >= 20 && client_id.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(key["token_uri"], format!("{}/token", google.http_url()));
    assert_eq!(key["auth_uri"], "https://accounts.google.com/o/oauth2/auth");
    assert_eq!(
        key["client_x509_cert_url"],
        "https://www.googleapis.com/robot/v1/metadata/x509/loader%40demo-project.iam.gserviceaccount.com"
    );
    assert_eq!(key["universe_domain"], "googleapis.com");
    // Registering again changes nothing.
    assert_eq!(google.add_service_account(SA), key);
    assert_eq!(
        google.add_service_account("x@other-proj.iam.gserviceaccount.com")["project_id"],
        "other-proj"
    );
}

#[test]
fn jwt_assertion_gets_a_service_account_token() {
    let google = FakeGoogle::start().unwrap();
    let key = google.add_service_account(SA);
    let claims = claims_for(&key, &format!("{CLOUD_PLATFORM_SCOPE} {ALLOYDB_LOGIN}"));
    let body = ok_json(&exchange(&google, &sign(&header_for(&key), &claims)));
    assert_eq!(keys(&body), ["access_token", "expires_in", "token_type"]);
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().unwrap();
    assert!(token.starts_with("ya29.") && token.len() >= 1000);

    let record = google.token_info(token).unwrap();
    assert_eq!(record.principal, SA);
    assert_eq!(record.scopes, [CLOUD_PLATFORM_SCOPE, ALLOYDB_LOGIN]);
    let info = ok_json(&tokeninfo(&google, token));
    assert_eq!(info["email"], SA);
    assert_eq!(
        info["scope"],
        format!("{CLOUD_PLATFORM_SCOPE} {ALLOYDB_LOGIN}")
    );

    assert_eq!(google.last_jwt_claims().unwrap(), claims);
    assert_eq!(google.hits("token"), 1);
}

#[test]
fn jwt_assertion_variants_google_accepts() {
    let google = FakeGoogle::start().unwrap();
    let key = google.add_service_account(SA);
    let mut claims = claims_for(&key, ALLOYDB_LOGIN);
    // Google's own token URI as audience, no kid, no typ, JSON body.
    claims["aud"] = "https://oauth2.googleapis.com/token".into();
    let assertion = sign(&json!({"alg": "RS256"}), &claims);
    ok_json(&common::post_json(
        &google,
        "/token",
        &json!({"grant_type": JWT_BEARER, "assertion": assertion}),
    ));
    // `sub` equal to `iss` is fine.
    claims["sub"] = SA.into();
    assert_eq!(
        exchange(&google, &sign(&header_for(&key), &claims)).status,
        200
    );
}

#[test]
fn token_lifetime_and_padding_are_configurable() {
    let google = FakeGoogle::start().unwrap();
    let key = google.add_service_account(SA);
    google.set_token_lifetime(Duration::from_secs(120));
    google.set_token_padding(3);
    let body = exchange(
        &google,
        &sign(&header_for(&key), &claims_for(&key, ALLOYDB_LOGIN)),
    )
    .json()
    .unwrap();
    assert_eq!(body["expires_in"], 120);
    let token = body["access_token"].as_str().unwrap();
    assert!(
        token.ends_with("...") && !token.ends_with("...."),
        "{token}"
    );
    let left = secs_left(&google, token);
    assert!((115..=120).contains(&left), "{left}");
    // tokeninfo takes the padded token as is.
    assert_eq!(tokeninfo(&google, token).status, 200);
}

#[test]
fn bad_signatures_are_refused() {
    let google = FakeGoogle::start().unwrap();
    let key = google.add_service_account(SA);
    let claims = claims_for(&key, ALLOYDB_LOGIN);
    let good = sign(&header_for(&key), &claims);
    let bad_signature = "Invalid JWT Signature.";

    // Signature of different claims spliced onto these.
    let mut other = claims.clone();
    other["scope"] = "https://www.googleapis.com/auth/devstorage.read_only".into();
    let other = sign(&header_for(&key), &other);
    let spliced = format!(
        "{}.{}",
        good.rsplit_once('.').unwrap().0,
        other.rsplit_once('.').unwrap().1
    );
    // A damaged signature.
    let flipped = {
        let (input, sig) = good.rsplit_once('.').unwrap();
        let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        sig[10] ^= 0x40;
        format!("{input}.{}", b64(&sig))
    };
    // Another algorithm.
    let hs256 = {
        let (_, rest) = good.split_once('.').unwrap();
        format!(
            "{}.{rest}",
            b64(json!({"alg": "HS256", "typ": "JWT"}).to_string().as_bytes())
        )
    };
    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none"}).to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    // A kid that is not the account's key.
    let wrong_kid = sign(
        &json!({"alg": "RS256", "typ": "JWT", "kid": "0123456789abcdef0123456789abcdef01234567"}),
        &claims,
    );
    for assertion in [spliced, flipped, hs256, none, wrong_kid] {
        assert_oauth_error(
            &exchange(&google, &assertion),
            400,
            "invalid_grant",
            bad_signature,
        );
    }
    assert_eq!(google.mint_count(), 0);
}

#[test]
fn bad_claims_are_refused() {
    let google = FakeGoogle::start().unwrap();
    let key = google.add_service_account(SA);
    let header = header_for(&key);
    let base = claims_for(&key, ALLOYDB_LOGIN);
    let times = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.";
    let with = |changes: Value| {
        let mut claims = base.clone();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        sign(&header, &claims)
    };
    let n = now();
    for changes in [
        json!({"iat": n - 7200, "exp": n - 3600}),    // expired
        json!({"iat": n - 3000, "exp": n + 600}),     // iat long ago
        json!({"iat": n + 1200, "exp": n + 2400}),    // iat in the future
        json!({"iat": n, "exp": n + 3601}),           // longer than an hour
        json!({"iat": n, "exp": n}),                  // already over
        json!({"iat": null}),                         // missing iat
        json!({"exp": null}),                         // missing exp
        json!({"iat": n.to_string(), "exp": n + 60}), // not a number
    ] {
        assert_oauth_error(
            &exchange(&google, &with(changes.clone())),
            400,
            "invalid_grant",
            times,
        );
    }
    // Small clock skew is tolerated.
    assert_eq!(
        exchange(&google, &with(json!({"iat": n + 60, "exp": n + 3600}))).status,
        200
    );

    assert_oauth_error(
        &exchange(
            &google,
            &with(json!({"iss": "ghost@demo-project.iam.gserviceaccount.com"})),
        ),
        400,
        "invalid_grant",
        "Invalid grant: account not found",
    );
    assert_eq!(
        google.last_jwt_claims().unwrap()["iss"],
        "ghost@demo-project.iam.gserviceaccount.com"
    );

    let body = assert_oauth_refusal(
        &exchange(&google, &with(json!({"aud": "https://example.com/token"}))),
        400,
        "invalid_grant",
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("Invalid JWT: Failed audience check."),
        "{body}"
    );

    for changes in [
        json!({"scope": null}),
        json!({"scope": ""}),
        json!({"scope": "  "}),
    ] {
        assert_oauth_refusal(&exchange(&google, &with(changes)), 400, "invalid_scope");
    }

    assert_oauth_error(
        &exchange(&google, &with(json!({"sub": "kai@altostrat.com"}))),
        401,
        "unauthorized_client",
        "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
    );
}

#[test]
fn malformed_requests() {
    let google = FakeGoogle::start().unwrap();
    google.add_service_account(SA);
    assert_oauth_error(
        &token_form(&google, &[("grant_type", JWT_BEARER)]),
        400,
        "invalid_request",
        "Missing required parameter: assertion",
    );
    for garbage in ["not-a-jwt", "a.b.c", "e30.e30"] {
        assert_oauth_refusal(&exchange(&google, garbage), 400, "invalid_grant");
    }
    assert_oauth_error(
        &token_form(&google, &[("grant_type", "password")]),
        400,
        "unsupported_grant_type",
        "Invalid grant_type: password",
    );
    assert_oauth_error(
        &token_form(&google, &[]),
        400,
        "unsupported_grant_type",
        "Invalid grant_type: ",
    );
    assert_eq!(common::get(&google, "/token").status, 405);
}

fn refresh(google: &FakeGoogle, file: &Value, scope: Option<&str>) -> HttpAnswer {
    let mut fields = vec![
        ("grant_type", "refresh_token"),
        ("client_id", file["client_id"].as_str().unwrap()),
        ("client_secret", file["client_secret"].as_str().unwrap()),
        ("refresh_token", file["refresh_token"].as_str().unwrap()),
    ];
    if let Some(scope) = scope {
        fields.push(("scope", scope));
    }
    token_form(google, &fields)
}

#[test]
fn authorized_user_file_looks_like_gclouds() {
    let google = FakeGoogle::start().unwrap();
    let file = google.add_user("kai@altostrat.com", &[CLOUD_PLATFORM_SCOPE]);
    assert_eq!(
        keys(&file),
        [
            "account",
            "client_id",
            "client_secret",
            "quota_project_id",
            "refresh_token",
            "type",
            "universe_domain",
        ]
    );
    assert_eq!(file["type"], "authorized_user");
    assert_eq!(file["account"], "");
    assert!(
        file["client_id"]
            .as_str()
            .unwrap()
            .ends_with(".apps.googleusercontent.com")
    );
    assert!(file["refresh_token"].as_str().unwrap().starts_with("1//"));
    assert!(!file["client_secret"].as_str().unwrap().is_empty());
    assert_eq!(file["universe_domain"], "googleapis.com");
    assert!(file.get("token_uri").is_none());
    // Another user: same OAuth client, another refresh token.
    let other = google.add_user("lee@altostrat.com", &[CLOUD_PLATFORM_SCOPE]);
    assert_eq!(other["client_id"], file["client_id"]);
    assert_ne!(other["refresh_token"], file["refresh_token"]);
}

#[test]
fn refresh_token_grant() {
    let google = FakeGoogle::start().unwrap();
    let granted = [OPENID_SCOPE, USERINFO_EMAIL_SCOPE, CLOUD_PLATFORM_SCOPE];
    let file = google.add_user("kai@altostrat.com", &granted);

    let body = ok_json(&refresh(&google, &file, None));
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], granted.join(" "));
    let id_token = body["id_token"].as_str().unwrap();
    assert_eq!(id_token.split('.').count(), 3);
    let token = body["access_token"].as_str().unwrap();
    let info = ok_json(&tokeninfo(&google, token));
    assert_eq!(info["email"], "kai@altostrat.com");
    assert_eq!(google.token_info(token).unwrap().scopes, granted);

    // A narrower request gets just that; without openid, no ID token, and
    // without the e-mail scope, no e-mail in tokeninfo.
    let body = ok_json(&refresh(&google, &file, Some(CLOUD_PLATFORM_SCOPE)));
    assert_eq!(body["scope"], CLOUD_PLATFORM_SCOPE);
    assert!(body.get("id_token").is_none(), "{body}");
    let token = body["access_token"].as_str().unwrap();
    let info = ok_json(&tokeninfo(&google, token));
    assert!(info.get("email").is_none(), "{info}");
    assert_eq!(
        google.token_info(token).unwrap().principal,
        "kai@altostrat.com"
    );
}

#[test]
fn user_without_email_scope_is_anonymous_in_tokeninfo() {
    let google = FakeGoogle::start().unwrap();
    let file = google.add_user("kai@altostrat.com", &[ALLOYDB_LOGIN]);
    let token = text(&ok_json(&refresh(&google, &file, None)), "access_token");
    let info = ok_json(&tokeninfo(&google, &token));
    assert!(info.get("email").is_none(), "{info}");
    assert_eq!(info["scope"], ALLOYDB_LOGIN);
}

#[test]
fn refresh_token_errors() {
    let google = FakeGoogle::start().unwrap();
    let file = google.add_user("kai@altostrat.com", &[CLOUD_PLATFORM_SCOPE]);

    assert_oauth_error(
        &refresh(
            &google,
            &file,
            Some(&format!("{CLOUD_PLATFORM_SCOPE} {OPENID_SCOPE}")),
        ),
        400,
        "invalid_scope",
        "Bad Request",
    );

    let mut unknown_client = file.clone();
    unknown_client["client_id"] = "1-nope.apps.googleusercontent.com".into();
    assert_oauth_error(
        &refresh(&google, &unknown_client, None),
        401,
        "invalid_client",
        "The OAuth client was not found.",
    );
    let mut wrong_secret = file.clone();
    wrong_secret["client_secret"] = "nope".into();
    assert_oauth_refusal(
        &refresh(&google, &wrong_secret, None),
        401,
        "invalid_client",
    );

    let mut unknown_token = file.clone();
    unknown_token["refresh_token"] = "1//0nope".into();
    let expired = "Token has been expired or revoked.";
    assert_oauth_error(
        &refresh(&google, &unknown_token, None),
        400,
        "invalid_grant",
        expired,
    );

    // Revocation: refused from then on; access tokens already issued live on.
    let issued = text(&ok_json(&refresh(&google, &file, None)), "access_token");
    assert!(google.revoke_refresh_token(file["refresh_token"].as_str().unwrap()));
    assert!(!google.revoke_refresh_token("1//0nope"));
    assert_oauth_error(
        &refresh(&google, &file, None),
        400,
        "invalid_grant",
        expired,
    );
    assert_eq!(tokeninfo(&google, &issued).status, 200);

    for missing in ["client_id", "client_secret", "refresh_token"] {
        let fields: Vec<(&str, &str)> = [
            ("grant_type", "refresh_token"),
            ("client_id", file["client_id"].as_str().unwrap()),
            ("client_secret", file["client_secret"].as_str().unwrap()),
            ("refresh_token", file["refresh_token"].as_str().unwrap()),
        ]
        .into_iter()
        .filter(|(k, _)| *k != missing)
        .collect();
        assert_oauth_refusal(&token_form(&google, &fields), 400, "invalid_request");
    }
}

#[test]
fn faults_apply_to_the_token_endpoint() {
    let google = FakeGoogle::start().unwrap();
    let file = google.add_user("kai@altostrat.com", &[CLOUD_PLATFORM_SCOPE]);
    google.set_failures(1, 503);
    assert_eq!(refresh(&google, &file, None).status, 503);
    assert_eq!(refresh(&google, &file, None).status, 200);
    assert_eq!(google.hits("token"), 2);

    google.set_delay(Duration::from_millis(800));
    assert_timed_out(client::post_form(
        &url(&google, "/token"),
        &[("grant_type", "refresh_token")],
        Duration::from_millis(200),
    ));
}
