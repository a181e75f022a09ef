//! AWS-sourced workload identity federation: the EC2 instance metadata
//! stand-in, and STS checking SigV4-signed GetCallerIdentity requests.

mod common;

use std::time::{Duration, SystemTime};

use common::{T, assert_oauth_error, assert_oauth_refusal, ok_json, post_form, text};
use fake_google::aws::{self, AWS_TOKEN_TYPE};
use fake_google::client::{self, HttpAnswer};
use fake_google::{AwsCredentials, AwsInstanceMetadata, CLOUD_PLATFORM_SCOPE, FakeGoogle};
use serde_json::{Value, json};

const AUDIENCE: &str = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws-pool/providers/aws";
const PRINCIPAL: &str = "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws-pool/subject/arn:aws:sts::123456789012:assumed-role/ci-role/i-0abc";
const TARGET: &str = "db-user@demo-project.iam.gserviceaccount.com";

fn credentials(session_token: Option<&str>) -> AwsCredentials {
    AwsCredentials {
        access_key_id: "ASIAFAKEGOOGLETEST01".into(),
        secret_access_key: "fake/secret+key/for/tests/only/0123456789".into(),
        session_token: session_token.map(str::to_owned),
    }
}

fn instance(require_imdsv2: bool) -> AwsInstanceMetadata {
    AwsInstanceMetadata {
        availability_zone: "us-east-2b".into(),
        role_name: "ci-role".into(),
        credentials: credentials(Some("FwoGZXIvYXdzEXAMPLESESSIONTOKEN")),
        require_imdsv2,
    }
}

fn imds(google: &FakeGoogle, method: &str, path: &str, headers: &[(&str, &str)]) -> HttpAnswer {
    let url = format!("{}{path}", google.aws_metadata_url());
    client::request_with_headers(method, &url, headers, None, T).unwrap()
}

const AZ: &str = "/latest/meta-data/placement/availability-zone";
const ROLES: &str = "/latest/meta-data/iam/security-credentials/";

#[test]
fn instance_metadata_imdsv1_and_v2() {
    let google = FakeGoogle::start().unwrap();
    assert_eq!(imds(&google, "GET", AZ, &[]).status, 404);
    google.set_aws_instance(instance(false));

    // IMDSv1: plain GETs.
    let answer = imds(&google, "GET", AZ, &[]);
    assert_eq!((answer.status, answer.text().as_str()), (200, "us-east-2b"));
    let region = imds(&google, "GET", "/latest/meta-data/placement/region", &[]);
    assert_eq!(region.text(), "us-east-2");
    assert_eq!(imds(&google, "GET", ROLES, &[]).text(), "ci-role");
    let creds = imds(&google, "GET", &format!("{ROLES}ci-role"), &[])
        .json()
        .unwrap();
    assert_eq!(creds["Code"], "Success");
    assert_eq!(creds["Type"], "AWS-HMAC");
    assert_eq!(creds["AccessKeyId"], "ASIAFAKEGOOGLETEST01");
    assert_eq!(
        creds["SecretAccessKey"],
        "fake/secret+key/for/tests/only/0123456789"
    );
    assert_eq!(creds["Token"], "FwoGZXIvYXdzEXAMPLESESSIONTOKEN");
    assert!(creds["Expiration"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        imds(&google, "GET", &format!("{ROLES}other"), &[]).status,
        404
    );

    // IMDSv2 session tokens.
    let ttl = ("X-aws-ec2-metadata-token-ttl-seconds", "300");
    let answer = imds(&google, "PUT", "/latest/api/token", &[ttl]);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.header("x-aws-ec2-metadata-token-ttl-seconds"),
        Some("300")
    );
    let session = answer.text();
    let with_token = [("X-aws-ec2-metadata-token", session.as_str())];
    assert_eq!(imds(&google, "GET", AZ, &with_token).text(), "us-east-2b");
    let bogus = [("X-aws-ec2-metadata-token", "AQAEAnope==")];
    assert_eq!(imds(&google, "GET", AZ, &bogus).status, 401);
    for headers in [
        &[][..],
        &[("X-aws-ec2-metadata-token-ttl-seconds", "0")],
        &[("X-aws-ec2-metadata-token-ttl-seconds", "21601")],
    ] {
        assert_eq!(
            imds(&google, "PUT", "/latest/api/token", headers).status,
            400
        );
    }
    let forwarded = [ttl, ("X-Forwarded-For", "10.0.0.1")];
    assert_eq!(
        imds(&google, "PUT", "/latest/api/token", &forwarded).status,
        403
    );

    // Required IMDSv2: nothing without a session token.
    google.set_aws_instance(instance(true));
    for path in [
        AZ,
        ROLES,
        "/latest/meta-data/iam/security-credentials/ci-role",
    ] {
        assert_eq!(imds(&google, "GET", path, &[]).status, 401, "{path}");
        assert_eq!(
            imds(&google, "GET", path, &with_token).status,
            200,
            "{path}"
        );
    }
    assert_eq!(google.hits("aws_imds_token"), 5);
    assert_eq!(google.hits("aws_metadata"), 14);
}

fn exchange(google: &FakeGoogle, subject_token: &str, token_type: &str) -> HttpAnswer {
    post_form(
        google,
        "/v1/token",
        &[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("audience", AUDIENCE),
            ("scope", CLOUD_PLATFORM_SCOPE),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("subject_token", subject_token),
            ("subject_token_type", token_type),
        ],
    )
}

fn signed(creds: &AwsCredentials, region: &str, at: SystemTime) -> String {
    aws::subject_token(creds, region, AUDIENCE, at, true)
}

/// The serialised request inside a subject token, to tamper with.
fn decode(token: &str) -> Value {
    let text = percent_decode(token);
    serde_json::from_str(&text).unwrap()
}

fn percent_decode(token: &str) -> String {
    let mut out = Vec::new();
    let bytes = token.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&token[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn encode(request: &Value) -> String {
    client::percent_encode(&request.to_string())
}

fn set_header(request: &mut Value, key: &str, value: &str) {
    for header in request["headers"].as_array_mut().unwrap() {
        if header["key"].as_str().unwrap().eq_ignore_ascii_case(key) {
            header["value"] = value.into();
        }
    }
}

#[test]
fn sts_accepts_signed_get_caller_identity() {
    let google = FakeGoogle::start().unwrap();
    let creds = credentials(Some("FwoGZXIvYXdzEXAMPLESESSIONTOKEN"));
    google.add_aws_identity(&creds, AUDIENCE, PRINCIPAL);
    let subject = signed(&creds, "us-east-2", SystemTime::now());
    let request = decode(&subject);
    assert_eq!(
        request["url"],
        "https://sts.us-east-2.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
    );
    assert_eq!(request["method"], "POST");

    let body = ok_json(&exchange(&google, &subject, AWS_TOKEN_TYPE));
    let token = text(&body, "access_token");
    assert_eq!(google.token_info(&token).unwrap().principal, PRINCIPAL);

    // The federated principal then impersonates like any other.
    google.grant_token_creator(PRINCIPAL, TARGET);
    let auth = format!("Bearer {token}");
    let answer = client::request_with_headers(
        "POST",
        &google.impersonation_url(TARGET),
        &[("Authorization", &auth)],
        Some((
            "application/json",
            json!({"scope": [CLOUD_PLATFORM_SCOPE]})
                .to_string()
                .as_bytes(),
        )),
        T,
    )
    .unwrap();
    ok_json(&answer);

    // Signed a few minutes ago (clock skew) is fine; without a session
    // token for credentials that have none, too.
    let plain = AwsCredentials {
        access_key_id: "AKIAFAKEGOOGLETEST02".into(),
        session_token: None,
        ..creds.clone()
    };
    google.add_aws_identity(&plain, AUDIENCE, PRINCIPAL);
    let earlier = SystemTime::now() - Duration::from_secs(600);
    ok_json(&exchange(
        &google,
        &signed(&plain, "eu-west-1", earlier),
        AWS_TOKEN_TYPE,
    ));
    assert_eq!(google.hits("sts_token"), 2);
}

#[test]
fn sts_refuses_bad_aws_signatures() {
    let google = FakeGoogle::start().unwrap();
    let creds = credentials(Some("FwoGZXIvYXdzEXAMPLESESSIONTOKEN"));
    google.add_aws_identity(&creds, AUDIENCE, PRINCIPAL);
    let now = SystemTime::now();
    let good = signed(&creds, "us-east-2", now);
    let refused = |subject: &str, description: &str| {
        assert_oauth_error(
            &exchange(&google, subject, AWS_TOKEN_TYPE),
            400,
            "invalid_grant",
            description,
        );
    };
    let mismatch = "The AWS request signature does not match the one computed for it.";

    // Another secret.
    let wrong_secret = AwsCredentials {
        secret_access_key: "not-the-secret".into(),
        ..creds.clone()
    };
    refused(&signed(&wrong_secret, "us-east-2", now), mismatch);

    // A signed header changed afterwards.
    let mut request = decode(&good);
    set_header(
        &mut request,
        "x-amz-security-token",
        "FwoGZXIvYXdzOTHERTOKEN",
    );
    refused(&encode(&request), "The AWS session token is not valid.");
    let mut request = decode(&good);
    let later = aws::amz_date(now + Duration::from_secs(1));
    set_header(&mut request, "x-amz-date", &later);
    refused(&encode(&request), mismatch);

    // Another audience in the target resource header.
    let other = AUDIENCE.replace("providers/aws", "providers/other");
    let mut request = decode(&good);
    set_header(&mut request, "x-goog-cloud-target-resource", &other);
    refused(
        &encode(&request),
        &format!("The x-goog-cloud-target-resource header [{other}] does not match the audience."),
    );

    // The URL's region is not the credential scope's.
    let mut request = decode(&good);
    request["url"] = request["url"]
        .as_str()
        .unwrap()
        .replace("us-east-2", "us-west-2")
        .into();
    set_header(&mut request, "host", "sts.us-west-2.amazonaws.com");
    refused(
        &encode(&request),
        "The AWS credential scope does not match the request's date, region or service.",
    );
    let mut request = decode(&good);
    set_header(&mut request, "host", "sts.us-west-2.amazonaws.com");
    refused(
        &encode(&request),
        "The AWS request's host header does not match its URL.",
    );

    // Too old, unknown key, no session token, not GetCallerIdentity.
    refused(
        &signed(&creds, "us-east-2", now - Duration::from_secs(16 * 60)),
        "The AWS request was signed more than 15 minutes from now.",
    );
    let stranger = AwsCredentials {
        access_key_id: "AKIASTRANGER".into(),
        ..creds.clone()
    };
    refused(
        &signed(&stranger, "us-east-2", now),
        "The AWS access key is not recognised.",
    );
    let without_token = AwsCredentials {
        session_token: None,
        ..creds.clone()
    };
    refused(
        &signed(&without_token, "us-east-2", now),
        "The AWS request does not sign the x-amz-security-token header.",
    );
    let mut request = decode(&good);
    request["url"] = request["url"]
        .as_str()
        .unwrap()
        .replace("GetCallerIdentity", "AssumeRole")
        .into();
    refused(
        &encode(&request),
        "The AWS request must be a POST to the GetCallerIdentity action.",
    );
    for garbage in ["not-json", "%7B%7D", "%7B%22url%22%3A1%7D"] {
        assert_oauth_refusal(
            &exchange(&google, garbage, AWS_TOKEN_TYPE),
            400,
            "invalid_grant",
        );
    }

    // Registered for another provider.
    let other_creds = AwsCredentials {
        access_key_id: "AKIAOTHERPROVIDER".into(),
        session_token: None,
        ..creds.clone()
    };
    google.add_aws_identity(&other_creds, &other, PRINCIPAL);
    refused(
        &signed(&other_creds, "us-east-2", now),
        &format!("The AWS identity is not trusted by the provider [{AUDIENCE}]."),
    );
    assert_eq!(google.mint_count(), 0);
}

#[test]
fn unsigned_target_resource_is_a_setting() {
    let google = FakeGoogle::start().unwrap();
    let creds = credentials(None);
    google.add_aws_identity(&creds, AUDIENCE, PRINCIPAL);
    let unsigned = aws::subject_token(&creds, "us-east-1", AUDIENCE, SystemTime::now(), false);
    assert_oauth_error(
        &exchange(&google, &unsigned, AWS_TOKEN_TYPE),
        400,
        "invalid_grant",
        "The AWS request does not sign the x-goog-cloud-target-resource header.",
    );
    google.set_aws_target_resource_signing_required(false);
    ok_json(&exchange(&google, &unsigned, AWS_TOKEN_TYPE));
}

#[test]
fn executable_sourced_token_types() {
    let google = FakeGoogle::start().unwrap();
    google.add_external_subject("eyJhbGciOi.subject.sig", AUDIENCE, PRINCIPAL);
    for token_type in ["jwt", "id_token", "saml2"] {
        let token_type = format!("urn:ietf:params:oauth:token-type:{token_type}");
        let body = ok_json(&exchange(&google, "eyJhbGciOi.subject.sig", &token_type));
        let token = text(&body, "access_token");
        assert_eq!(google.token_info(&token).unwrap().principal, PRINCIPAL);
    }
    // A registered subject token is no AWS request.
    assert_oauth_refusal(
        &exchange(&google, "eyJhbGciOi.subject.sig", AWS_TOKEN_TYPE),
        400,
        "invalid_grant",
    );
}

#[test]
fn aws_credential_files() {
    let google = FakeGoogle::start().unwrap();
    let base = google.aws_metadata_url();
    let file = google.aws_external_account_file(AUDIENCE, Some(TARGET), true);
    assert_eq!(
        file,
        json!({
            "type": "external_account",
            "audience": AUDIENCE,
            "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
            "token_url": format!("{}/v1/token", google.http_url()),
            "service_account_impersonation_url": google.impersonation_url(TARGET),
            "credential_source": {
                "environment_id": "aws1",
                "region_url": format!("{base}/latest/meta-data/placement/availability-zone"),
                "url": format!("{base}/latest/meta-data/iam/security-credentials"),
                "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
                "imdsv2_session_token_url": format!("{base}/latest/api/token"),
            },
            "universe_domain": "googleapis.com",
        })
    );
    let source = google.aws_credential_source(false);
    assert!(source.get("imdsv2_session_token_url").is_none());
}
