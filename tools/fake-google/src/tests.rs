//! The fake's own tests: only the refusals a product test relies on. A
//! product test that passes against the fake proves something only if the
//! fake refuses what Google refuses: a badly signed assertion, a wrong
//! audience, a SigV4 signature that does not match, a caller without a
//! grant, a dead token. What the fake accepts is exercised by the product's
//! tests themselves. Requests go straight to the router (no sockets).

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::aws::{self, AwsCredentials, Scope};
use crate::http::{Request, dispatch, parse_urlencoded, percent_encode};
use crate::state::{INVALID_CREDENTIALS, PRINCIPAL_MISMATCH};
use crate::{AlloyDbInstance, CLOUD_PLATFORM_SCOPE, CloudSqlInstance, FakeGoogle};

const USER: &str = "kai@altostrat.com";
const SA: &str = "loader@demo-project.iam.gserviceaccount.com";
const LOGIN: &str = "https://www.googleapis.com/auth/alloydb.login";
const AUDIENCE: &str =
    "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/p/providers/aws";
const PRINCIPAL: &str = "principal://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/p/subject/x";

/// `METHOD path?query` with `headers` and a form or JSON `body`: status and
/// JSON answer (`Null` when not JSON).
fn call(
    g: &FakeGoogle,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let request = Request {
        method: method.into(),
        path: path.into(),
        query: parse_urlencoded(query),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
            .collect(),
        body: body.as_bytes().to_vec(),
    };
    let answer = dispatch(&g.state, &request);
    (
        answer.status,
        serde_json::from_slice(&answer.body).unwrap_or(Value::Null),
    )
}

fn form(fields: &[(&str, &str)]) -> String {
    let pairs: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect();
    pairs.join("&")
}

#[track_caller]
fn refused(answer: (u16, Value), status: u16, error: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    let code = &answer.1["error"];
    assert!(code == error || code["status"] == error, "{}", answer.1);
}

fn now() -> i64 {
    crate::state::unix_secs(SystemTime::now()) as i64
}

#[test]
fn tokeninfo_knows_only_live_tokens() {
    let g = FakeGoogle::start().unwrap();
    let live = g.mint(USER, Duration::from_secs(600), &[LOGIN], 180);
    let (status, info) = call(
        &g,
        "GET",
        &format!("/tokeninfo?access_token={live}"),
        &[],
        "",
    );
    assert_eq!(
        (status, &info["email"], &info["scope"]),
        (200, &json!(USER), &json!(LOGIN))
    );
    let expires_in: u64 = info["expires_in"].as_str().unwrap().parse().unwrap();
    assert!((590..=600).contains(&expires_in), "{info}");
    let expired = g.mint(USER, Duration::ZERO, &[], 180);
    let revoked = g.mint(USER, Duration::from_secs(600), &[], 180);
    assert!(g.revoke(&revoked));
    for token in ["ya29.nonsense", "", &expired, &revoked] {
        let body = form(&[("access_token", token)]);
        refused(
            call(&g, "POST", "/tokeninfo", &[], &body),
            400,
            "invalid_token",
        );
    }
}

#[test]
fn logins_need_a_live_token_of_the_users_principal() {
    let g = FakeGoogle::start().unwrap();
    let state = &g.state;
    let user = g.mint(USER, Duration::from_secs(60), &[], 180);
    let sa = g.mint(SA, Duration::from_secs(60), &[], 180);
    let expired = g.mint(USER, Duration::ZERO, &[], 180);
    assert_eq!(state.check_login(USER, &user), Ok(()));
    assert_eq!(state.check_login("loader@demo-project.iam", &sa), Ok(()));
    assert_eq!(state.check_login(SA, &sa), Err(PRINCIPAL_MISMATCH));
    for password in [expired.as_str(), "", "ya29.x"] {
        assert_eq!(state.check_login(USER, password), Err(INVALID_CREDENTIALS));
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn jwt_assertions_are_verified() {
    let g = FakeGoogle::start().unwrap();
    let key = g.add_service_account(SA);
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": key["private_key_id"]});
    let n = now();
    let claims = |changes: Value| {
        let mut c =
            json!({"iss": SA, "aud": key["token_uri"], "scope": LOGIN, "iat": n, "exp": n + 3600});
        for (k, v) in changes.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let exchange = |assertion: &str| {
        let grant = "urn:ietf:params:oauth:grant-type:jwt-bearer";
        call(
            &g,
            "POST",
            "/token",
            &[],
            &form(&[("grant_type", grant), ("assertion", assertion)]),
        )
    };
    let good = crate::jwt::sign_rs256(&header, &claims(json!({})));
    let (status, body) = exchange(&good);
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(g.token_info(token).unwrap().principal, SA);

    let (input, signature) = good.rsplit_once('.').unwrap();
    let mut flipped = URL_SAFE_NO_PAD.decode(signature).unwrap();
    flipped[10] ^= 0x40;
    let other = crate::jwt::sign_rs256(&header, &claims(json!({"scope": "other"})));
    let unsigned_claims = good.split('.').nth(1).unwrap();
    let kid =
        json!({"alg": "RS256", "typ": "JWT", "kid": "0123456789abcdef0123456789abcdef01234567"});
    for bad in [
        format!("{input}.{}", b64(&flipped)),
        format!("{input}.{}", other.rsplit_once('.').unwrap().1),
        format!("{}.{unsigned_claims}.", b64(br#"{"alg":"none"}"#)),
        crate::jwt::sign_rs256(&kid, &claims(json!({}))),
    ] {
        let answer = exchange(&bad);
        refused(answer.clone(), 400, "invalid_grant");
        assert_eq!(answer.1["error_description"], "Invalid JWT Signature.");
    }
    for changes in [
        json!({"iat": n - 7200, "exp": n - 3600}),
        json!({"iat": n, "exp": n + 3601}),
        json!({"aud": "https://example.com/token"}),
        json!({"iss": "ghost@demo-project.iam.gserviceaccount.com"}),
    ] {
        let bad = crate::jwt::sign_rs256(&header, &claims(changes.clone()));
        refused(exchange(&bad), 400, "invalid_grant");
    }
    assert_eq!(g.mint_count(), 1);
}

/// STS's token exchange of `subject` for `audience`.
fn sts(g: &FakeGoogle, subject: &str, subject_type: &str, audience: &str) -> (u16, Value) {
    let body = form(&[
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("audience", audience),
        ("scope", CLOUD_PLATFORM_SCOPE),
        (
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
        ("subject_token", subject),
        ("subject_token_type", subject_type),
    ]);
    call(g, "POST", "/v1/token", &[], &body)
}

#[test]
fn sts_checks_the_audience_of_a_subject_token() {
    let g = FakeGoogle::start().unwrap();
    g.add_external_subject("subject-1", AUDIENCE, PRINCIPAL);
    let jwt = "urn:ietf:params:oauth:token-type:jwt";
    let exchange = |subject: &str, audience: &str| sts(&g, subject, jwt, audience);
    let (status, body) = exchange("subject-1", AUDIENCE);
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(g.token_info(token).unwrap().principal, PRINCIPAL);
    refused(
        exchange("subject-1", &AUDIENCE.replace("aws", "other")),
        400,
        "invalid_grant",
    );
    refused(exchange("unknown", AUDIENCE), 400, "invalid_grant");
}

/// Signatures from AWS's SigV4 test suite and from Google's client library
/// tests: the fake's verifier is written independently of the product's
/// signer, and anchored here.
#[test]
fn sigv4_matches_published_vectors() {
    let scope = |date: &str, region: &str, service: &str| Scope {
        date: date.into(),
        region: region.into(),
        service: service.into(),
    };
    let owned = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    };
    let signed = ["host".to_owned(), "x-amz-date".to_owned()];
    let headers = owned(&[
        ("Host", "example.amazonaws.com"),
        ("X-Amz-Date", "20150830T123600Z"),
    ]);
    let canonical = aws::canonical_request("GET", "/", "", &headers, &signed, b"");
    assert_eq!(
        aws::signature(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830T123600Z",
            &scope("20150830", "us-east-1", "service"),
            &canonical
        ),
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
    let headers = owned(&[
        ("host", "sts.us-east-2.amazonaws.com"),
        ("x-amz-date", "20200811T065522Z"),
    ]);
    let query = "Action=GetCallerIdentity&Version=2011-06-15";
    let canonical = aws::canonical_request("POST", "/", query, &headers, &signed, b"");
    assert_eq!(
        aws::signature(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20200811T065522Z",
            &scope("20200811", "us-east-2", "sts"),
            &canonical
        ),
        "9e722e5b7bfa163447e2a14df118b45ebd283c5aea72019bdf921d6e7dc01a9a"
    );
}

#[test]
fn sts_verifies_aws_signatures() {
    let g = FakeGoogle::start().unwrap();
    let creds = AwsCredentials {
        access_key_id: "ASIAFAKEGOOGLETEST01".into(),
        secret_access_key: "fake/secret+key/for/tests/only".into(),
        session_token: Some("FwoGZXIvYXdzEXAMPLE".into()),
    };
    g.add_aws_identity(&creds, AUDIENCE, PRINCIPAL);
    let exchange = |subject: &str| sts(&g, subject, aws::AWS_TOKEN_TYPE, AUDIENCE);
    let t = SystemTime::now();
    let sign =
        |c: &AwsCredentials, at: SystemTime| aws::subject_token(c, "us-east-2", AUDIENCE, at);
    assert_eq!(exchange(&sign(&creds, t)).0, 200);
    let other = |change: &dyn Fn(&mut AwsCredentials)| {
        let mut c = creds.clone();
        change(&mut c);
        c
    };
    for subject in [
        sign(
            &other(&|c| c.secret_access_key = "not-the-secret".into()),
            t,
        ),
        sign(&other(&|c| c.access_key_id = "AKIASTRANGER".into()), t),
        sign(&other(&|c| c.session_token = None), t),
        sign(&creds, t - Duration::from_secs(16 * 60)),
        sign(&creds, t).replace("us-east-2.amazonaws.com", "us-west-2.amazonaws.com"),
        aws::subject_token(&creds, "us-east-2", &AUDIENCE.replace("aws", "x"), t),
    ] {
        refused(exchange(&subject), 400, "invalid_grant");
    }
    assert_eq!(g.mint_count(), 1);
}

#[test]
fn generate_access_token_needs_a_live_token_and_a_grant() {
    let g = FakeGoogle::start().unwrap();
    let path = g.impersonation_url(SA).replace(&g.http_url(), "");
    let body = json!({"scope": [LOGIN]}).to_string();
    let generate = |token: &str| {
        let auth = format!("Bearer {token}");
        let headers: &[(&str, &str)] = if token.is_empty() {
            &[]
        } else {
            &[("Authorization", &auth)]
        };
        call(&g, "POST", &path, headers, &body)
    };
    let token = g.mint(USER, Duration::from_secs(600), &[CLOUD_PLATFORM_SCOPE], 180);
    let expired = g.mint(USER, Duration::ZERO, &[CLOUD_PLATFORM_SCOPE], 180);
    let narrow = g.mint(USER, Duration::from_secs(600), &[LOGIN], 180);
    refused(generate(""), 401, "UNAUTHENTICATED");
    refused(generate(&expired), 401, "UNAUTHENTICATED");
    refused(generate(&narrow), 403, "PERMISSION_DENIED");
    refused(generate(&token), 403, "PERMISSION_DENIED");
    g.grant_token_creator(USER, SA);
    let (status, answer) = generate(&token);
    assert_eq!(status, 200, "{answer}");
    let minted = answer["accessToken"].as_str().unwrap();
    assert_eq!(g.token_info(minted).unwrap().principal, SA);
}

#[test]
fn admin_apis_check_permissions() {
    let g = FakeGoogle::start().unwrap();
    let alloydb = "projects/p/locations/us-central1/clusters/c/instances/i";
    g.add_alloydb_instance(
        alloydb,
        AlloyDbInstance {
            ip_address: Some("10.1.2.3".into()),
            ..AlloyDbInstance::default()
        },
    );
    g.add_cloudsql_instance("p", "i", CloudSqlInstance::default());
    let token = g.mint(USER, Duration::from_secs(600), &[CLOUD_PLATFORM_SCOPE], 180);
    let auth = format!("Bearer {token}");
    let get = |path: &str| call(&g, "GET", path, &[("Authorization", &auth)], "");
    let paths = [
        format!("/v1/{alloydb}"),
        "/v1/projects/p/instances/i/connectSettings".to_owned(),
    ];
    for path in &paths {
        refused(get(path), 403, "PERMISSION_DENIED");
        refused(call(&g, "GET", path, &[], ""), 401, "UNAUTHENTICATED");
    }
    g.grant_alloydb_viewer(USER);
    g.grant_cloudsql_viewer(USER);
    let (status, instance) = get(&paths[0]);
    assert_eq!(
        (status, &instance["ipAddress"]),
        (200, &json!("10.1.2.3")),
        "{instance}"
    );
    refused(
        get(&paths[0].replace("instances/i", "instances/nope")),
        404,
        "NOT_FOUND",
    );
    assert_eq!(get("/v1/projects/p/instances/i").0, 200);
    // A viewer may read the instance, only a client may connect.
    refused(get(&paths[1]), 403, "PERMISSION_DENIED");
    g.grant_cloudsql_client(USER);
    assert_eq!(get(&paths[1]).0, 200);
}

#[test]
fn metadata_server_wants_its_header() {
    let g = FakeGoogle::start().unwrap();
    g.set_metadata_account(SA);
    let path = "/computeMetadata/v1/instance/service-accounts/default/token";
    let get = |headers: &[(&str, &str)]| call(&g, "GET", path, headers, "");
    let flavor = ("Metadata-Flavor", "Google");
    assert_eq!(get(&[]).0, 403);
    assert_eq!(get(&[flavor, ("X-Forwarded-For", "10.0.0.1")]).0, 403);
    let (status, body) = get(&[flavor]);
    assert_eq!(status, 200, "{body}");
}
