//! IAM Credentials `generateAccessToken` and STS token exchange, alone and
//! chained the way workload identity federation with impersonation chains
//! them.

mod common;

use common::{
    T, assert_google_error, assert_oauth_error, assert_oauth_refusal, keys, ok_json, post_form,
    secs_left, text, tokeninfo_get,
};
use fake_google::client::{self, HttpAnswer};
use fake_google::{CLOUD_PLATFORM_SCOPE, FakeGoogle, IAM_SCOPE, MintOptions};
use serde_json::{Value, json};
const CALLER: &str = "kai@altostrat.com";
const TARGET: &str = "db-user@demo-project.iam.gserviceaccount.com";
const HOP1: &str = "hop1@demo-project.iam.gserviceaccount.com";
const HOP2: &str = "hop2@demo-project.iam.gserviceaccount.com";
const ALLOYDB_LOGIN: &str = "https://www.googleapis.com/auth/alloydb.login";
const AUDIENCE: &str = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/ci-pool/providers/ci-provider";
const PRINCIPAL: &str = "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/ci-pool/subject/alice";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

fn caller_token(google: &FakeGoogle, principal: &str, scopes: &[&str]) -> String {
    google.mint_with(&MintOptions::new(principal).scopes(scopes))
}

fn generate(google: &FakeGoogle, bearer: Option<&str>, target: &str, body: &Value) -> HttpAnswer {
    generate_at(&google.impersonation_url(target), bearer, body)
}

/// The `accessToken` of a successful `generateAccessToken` for [`TARGET`].
fn target_token(google: &FakeGoogle, bearer: &str, body: &Value) -> String {
    text(
        &ok_json(&generate(google, Some(bearer), TARGET, body)),
        "accessToken",
    )
}

fn generate_at(url: &str, bearer: Option<&str>, body: &Value) -> HttpAnswer {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    let body = body.to_string();
    client::request_with_headers(
        "POST",
        url,
        &headers,
        Some(("application/json", body.as_bytes())),
        T,
    )
    .unwrap()
}

#[test]
fn generate_access_token_for_a_permitted_caller() {
    let google = FakeGoogle::start().unwrap();
    google.grant_token_creator(CALLER, TARGET);
    let bearer = caller_token(&google, CALLER, &[CLOUD_PLATFORM_SCOPE]);
    let body = json!({"scope": [ALLOYDB_LOGIN], "lifetime": "600s"});
    let out = ok_json(&generate(&google, Some(&bearer), TARGET, &body));
    assert_eq!(keys(&out), ["accessToken", "expireTime"]);
    let token = out["accessToken"].as_str().unwrap();
    let record = google.token_info(token).unwrap();
    assert_eq!(record.principal, TARGET);
    assert_eq!(record.scopes, [ALLOYDB_LOGIN]);
    assert!(record.email_in_tokeninfo);
    // expireTime: RFC 3339, UTC, whole seconds, matching the token.
    let expire = out["expireTime"].as_str().unwrap();
    assert_eq!(expire.len(), 20, "{expire}");
    assert!(
        expire.ends_with('Z') && expire.as_bytes()[10] == b'T',
        "{expire}"
    );
    let left = secs_left(&google, token);
    assert!((595..=600).contains(&left), "{left}");

    assert_eq!(
        google.last_generate_access_token_request().unwrap(),
        json!({"caller": CALLER, "target": TARGET, "body": body})
    );
    assert_eq!(google.hits("generate_access_token"), 1);

    // Defaults: one hour. The iam scope is enough; `%40` in the path works.
    let bearer = caller_token(&google, CALLER, &[IAM_SCOPE]);
    let url = google.impersonation_url(TARGET).replace('@', "%40");
    let body = json!({"scope": [CLOUD_PLATFORM_SCOPE]});
    let token = text(
        &ok_json(&generate_at(&url, Some(&bearer), &body)),
        "accessToken",
    );
    let left = secs_left(&google, &token);
    assert!((3595..=3600).contains(&left), "{left}");
}

#[test]
fn padding_applies_to_impersonated_tokens() {
    let google = FakeGoogle::start().unwrap();
    google.grant_token_creator(CALLER, TARGET);
    google.set_token_padding(2);
    let bearer = caller_token(&google, CALLER, &[CLOUD_PLATFORM_SCOPE]);
    let out = generate(
        &google,
        Some(&bearer),
        TARGET,
        &json!({"scope": [ALLOYDB_LOGIN]}),
    )
    .json()
    .unwrap();
    assert!(out["accessToken"].as_str().unwrap().ends_with(".."));
}

#[test]
fn delegation_chains() {
    let google = FakeGoogle::start().unwrap();
    let bearer = caller_token(&google, CALLER, &[CLOUD_PLATFORM_SCOPE]);
    let body = json!({
        "delegates": [
            format!("projects/-/serviceAccounts/{HOP1}"),
            format!("projects/-/serviceAccounts/{HOP2}"),
        ],
        "scope": [ALLOYDB_LOGIN],
    });
    let denied =
        "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).";

    // Links granted one at a time: denied until the chain is complete.
    let check_denied = || {
        let answer = generate(&google, Some(&bearer), TARGET, &body);
        let error = assert_google_error(&answer, 403, "PERMISSION_DENIED", denied);
        assert_eq!(
            error["error"]["details"][0]["reason"],
            "IAM_PERMISSION_DENIED"
        );
        assert_eq!(
            error["error"]["details"][0]["metadata"]["permission"],
            "iam.serviceAccounts.getAccessToken"
        );
    };
    check_denied();
    google.grant_token_creator(CALLER, HOP1);
    check_denied();
    google.grant_token_creator(HOP1, HOP2);
    check_denied();
    // Granting the caller directly on the target does not help a chain
    // whose last delegate lacks the grant.
    google.grant_token_creator(CALLER, TARGET);
    check_denied();
    google.grant_token_creator(HOP2, TARGET);
    let token = target_token(&google, &bearer, &body);
    assert_eq!(google.token_info(&token).unwrap().principal, TARGET);
    assert_eq!(
        google.last_generate_access_token_request().unwrap()["body"],
        body
    );
}

#[test]
fn authentication_errors() {
    let google = FakeGoogle::start().unwrap();
    google.grant_token_creator(CALLER, TARGET);
    let body = json!({"scope": [ALLOYDB_LOGIN]});
    common::assert_google_authentication(
        &google,
        CALLER,
        CLOUD_PLATFORM_SCOPE,
        ALLOYDB_LOGIN,
        |bearer| generate(&google, bearer, TARGET, &body),
    );
    assert!(google.last_generate_access_token_request().is_none());
}

#[test]
fn invalid_arguments() {
    let google = FakeGoogle::start().unwrap();
    google.grant_token_creator(CALLER, TARGET);
    let bearer = caller_token(&google, CALLER, &[CLOUD_PLATFORM_SCOPE]);
    for body in [
        json!({}),
        json!({"scope": []}),
        json!({"scope": [ALLOYDB_LOGIN], "lifetime": "7200s"}),
        json!({"scope": [ALLOYDB_LOGIN], "lifetime": "0s"}),
        json!({"scope": [ALLOYDB_LOGIN], "delegates": [HOP1]}),
    ] {
        assert_google_error(
            &generate(&google, Some(&bearer), TARGET, &body),
            400,
            "INVALID_ARGUMENT",
            "Request contains an invalid argument.",
        );
    }
    for body in [
        json!({"scope": [ALLOYDB_LOGIN], "lifetime": "3600"}),
        json!({"scope": ALLOYDB_LOGIN}),
        json!({"scopes": [ALLOYDB_LOGIN]}),
        json!([1]),
    ] {
        let answer = generate(&google, Some(&bearer), TARGET, &body);
        assert_eq!(answer.status, 400, "{body}: {}", answer.text());
        assert_eq!(
            answer.json().unwrap()["error"]["status"],
            "INVALID_ARGUMENT"
        );
    }
    // Other verbs and paths are not served.
    let answer = client::post_json(
        &google
            .impersonation_url(TARGET)
            .replace("generateAccessToken", "signJwt"),
        &json!({}),
        T,
    )
    .unwrap();
    assert_eq!(answer.status, 404);
}

fn exchange(google: &FakeGoogle, fields: &[(&str, &str)]) -> HttpAnswer {
    post_form(google, "/v1/token", fields)
}

fn exchange_fields<'a>(subject_token: &'a str, audience: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", TOKEN_EXCHANGE),
        ("audience", audience),
        ("scope", CLOUD_PLATFORM_SCOPE),
        ("requested_token_type", ACCESS_TOKEN_TYPE),
        ("subject_token", subject_token),
        ("subject_token_type", JWT_TYPE),
    ]
}

#[test]
fn sts_exchange() {
    let google = FakeGoogle::start().unwrap();
    google.add_external_subject("eyJ.ci-job-42.sig", AUDIENCE, PRINCIPAL);
    let body = ok_json(&exchange(
        &google,
        &exchange_fields("eyJ.ci-job-42.sig", AUDIENCE),
    ));
    assert_eq!(
        keys(&body),
        [
            "access_token",
            "expires_in",
            "issued_token_type",
            "token_type"
        ]
    );
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN_TYPE);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    let token = body["access_token"].as_str().unwrap();
    let record = google.token_info(token).unwrap();
    assert_eq!(record.principal, PRINCIPAL);
    assert_eq!(record.scopes, [CLOUD_PLATFORM_SCOPE]);
    assert!(!record.email_in_tokeninfo);
    let info = ok_json(&tokeninfo_get(&google, token));
    assert!(info.get("email").is_none(), "{info}");
    assert_eq!(google.hits("sts_token"), 1);

    // The REST API's JSON body with camelCase names works too.
    let answer = common::post_json(
        &google,
        "/v1/token",
        &json!({
            "grantType": TOKEN_EXCHANGE,
            "audience": AUDIENCE,
            "scope": CLOUD_PLATFORM_SCOPE,
            "requestedTokenType": ACCESS_TOKEN_TYPE,
            "subjectToken": "eyJ.ci-job-42.sig",
            "subjectTokenType": JWT_TYPE,
        }),
    );
    ok_json(&answer);
}

#[test]
fn sts_errors() {
    let google = FakeGoogle::start().unwrap();
    google.add_external_subject("subject-1", AUDIENCE, PRINCIPAL);
    let other_audience = AUDIENCE.replace("ci-provider", "other-provider");

    assert_oauth_error(
        &exchange(&google, &exchange_fields("subject-1", &other_audience)),
        400,
        "invalid_grant",
        &format!("The audience in ID Token [{AUDIENCE}] does not match the expected audience."),
    );
    assert_oauth_refusal(
        &exchange(&google, &exchange_fields("unknown-subject", AUDIENCE)),
        400,
        "invalid_grant",
    );
    let body = assert_oauth_refusal(
        &exchange(&google, &exchange_fields("subject-1", "my-provider")),
        400,
        "invalid_request",
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("Invalid value for \"audience\"."),
        "{body}"
    );

    let with = |name: &str, value: &str| {
        let mut fields = exchange_fields("subject-1", AUDIENCE);
        fields.retain(|(k, _)| *k != name);
        if !value.is_empty() {
            fields.push((name, value));
        }
        exchange(&google, &fields)
    };
    for (name, value, error) in [
        (
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:id_token",
            "invalid_request",
        ),
        ("subject_token_type", "urn:example:nope", "invalid_request"),
        ("subject_token", "", "invalid_request"),
        ("scope", "", "invalid_scope"),
        ("grant_type", "refresh_token", "unsupported_grant_type"),
    ] {
        assert_oauth_refusal(&with(name, value), 400, error);
    }
    assert_eq!(google.mint_count(), 0);
}

#[test]
fn sts_then_impersonation() {
    let google = FakeGoogle::start().unwrap();
    google.add_external_subject("subject-1", AUDIENCE, PRINCIPAL);
    let federated = text(
        &ok_json(&exchange(&google, &exchange_fields("subject-1", AUDIENCE))),
        "access_token",
    );
    let body = json!({"scope": [ALLOYDB_LOGIN]});
    // The federated principal needs its own grant.
    let answer = generate(&google, Some(&federated), TARGET, &body);
    assert_eq!(answer.status, 403, "{}", answer.text());
    google.grant_token_creator(PRINCIPAL, TARGET);
    let token = target_token(&google, &federated, &body);
    assert_eq!(google.token_info(&token).unwrap().principal, TARGET);
    assert_eq!(
        google.last_generate_access_token_request().unwrap()["caller"],
        PRINCIPAL
    );
}

#[test]
fn credential_files() {
    let google = FakeGoogle::start().unwrap();
    let file = google.external_account_file(AUDIENCE, "/run/secrets/oidc-token", None);
    assert_eq!(
        file,
        json!({
            "type": "external_account",
            "audience": AUDIENCE,
            "subject_token_type": JWT_TYPE,
            "token_url": format!("{}/v1/token", google.http_url()),
            "credential_source": {"file": "/run/secrets/oidc-token", "format": {"type": "text"}},
            "universe_domain": "googleapis.com",
        })
    );
    let file = google.external_account_file(AUDIENCE, "/t", Some(TARGET));
    assert_eq!(
        file["service_account_impersonation_url"],
        format!(
            "{}/v1/projects/-/serviceAccounts/{TARGET}:generateAccessToken",
            google.http_url()
        )
    );

    let source = google.add_user(CALLER, &[CLOUD_PLATFORM_SCOPE]);
    let file = google.impersonated_service_account_file(source.clone(), TARGET, &[HOP1, HOP2]);
    assert_eq!(
        file,
        json!({
            "type": "impersonated_service_account",
            "service_account_impersonation_url": google.impersonation_url(TARGET),
            "delegates": [HOP1, HOP2],
            "source_credentials": source,
        })
    );
}

#[test]
fn faults_apply_to_iam_and_sts() {
    let google = FakeGoogle::start().unwrap();
    google.add_external_subject("subject-1", AUDIENCE, PRINCIPAL);
    google.set_failures(2, 503);
    assert_eq!(
        exchange(&google, &exchange_fields("subject-1", AUDIENCE)).status,
        503
    );
    assert_eq!(generate(&google, None, TARGET, &json!({})).status, 503);
    assert_eq!(
        exchange(&google, &exchange_fields("subject-1", AUDIENCE)).status,
        200
    );
    assert_eq!(google.hits("sts_token"), 2);
    assert_eq!(google.hits("generate_access_token"), 1);
}
