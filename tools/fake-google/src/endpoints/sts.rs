//! Security Token Service: `POST /v1/token`, shaped like
//! `https://sts.googleapis.com/v1/token` (OAuth 2.0 token exchange,
//! RFC 8693), as workload identity federation clients call it.
//!
//! A form body with `grant_type` =
//! `urn:ietf:params:oauth:grant-type:token-exchange`, `audience` (the
//! provider's full resource name), `scope`, `requested_token_type` =
//! `urn:ietf:params:oauth:token-type:access_token`, `subject_token` and
//! `subject_token_type`. Subject tokens are registered with
//! [`crate::FakeGoogle::add_external_subject`]; the federated access token
//! issued for one belongs to its `principal://...` identifier, which may
//! then impersonate service accounts through IAM Credentials.
//!
//! AWS subject tokens (`urn:ietf:params:aws:token-type:aws4_request`) are
//! serialised, SigV4-signed `GetCallerIdentity` requests instead; they are
//! accepted when the signature recomputes with the secret of an identity
//! registered with [`crate::FakeGoogle::add_aws_identity`] (see
//! [`aws_principal`] for every check).

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::aws::{AWS_TOKEN_TYPE, Authorization, Scope};
use crate::directory::CLOUD_PLATFORM_SCOPE;
use crate::http::{Request, Response};
use crate::state::State;

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Subject token types STS accepts.
const SUBJECT_TOKEN_TYPES: &[&str] = &[
    "urn:ietf:params:oauth:token-type:jwt",
    "urn:ietf:params:oauth:token-type:id_token",
    "urn:ietf:params:oauth:token-type:saml2",
    AWS_TOKEN_TYPE,
    "urn:ietf:params:oauth:token-type:access_token",
];
/// What a workload identity (or workforce) provider's resource name starts with.
const AUDIENCE_PREFIXES: &[&str] = &[
    "//iam.googleapis.com/projects/",
    "//iam.googleapis.com/locations/global/workforcePools/",
];

pub(crate) fn handle(state: &State, request: &Request) -> Result<Response, Response> {
    let params = request.params();
    let param = |name: &str| params.get(name).unwrap_or("").trim();

    let grant_type = param("grant_type");
    if grant_type != TOKEN_EXCHANGE {
        return Err(Response::error(
            400,
            "unsupported_grant_type",
            &format!("Invalid value for \"grant_type\": \"{grant_type}\"."),
        ));
    }
    let audience = param("audience");
    if !AUDIENCE_PREFIXES.iter().any(|p| audience.starts_with(p)) {
        return Err(Response::invalid_request(
            "Invalid value for \"audience\". This value should be the full resource name of the Identity Provider. See https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token for the list of possible formats.",
        ));
    }
    if param("requested_token_type") != ACCESS_TOKEN_TYPE {
        return Err(Response::invalid_request(&format!(
            "Invalid value for \"requested_token_type\". Expected: \"{ACCESS_TOKEN_TYPE}\"."
        )));
    }
    let subject_token_type = param("subject_token_type");
    if !SUBJECT_TOKEN_TYPES.contains(&subject_token_type) {
        return Err(Response::invalid_request(&format!(
            "Invalid value for \"subject_token_type\". Supported values are: {}.",
            SUBJECT_TOKEN_TYPES.join(", ")
        )));
    }
    let subject_token = param("subject_token");
    if subject_token.is_empty() {
        return Err(Response::invalid_request(
            "Missing required parameter: \"subject_token\".",
        ));
    }
    let scopes: Vec<String> = param("scope")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        return Err(Response::error(
            400,
            "invalid_scope",
            &format!("Missing required parameter: \"scope\". Use \"{CLOUD_PLATFORM_SCOPE}\"."),
        ));
    }

    let principal = if subject_token_type == AWS_TOKEN_TYPE {
        aws_principal(state, subject_token, audience, SystemTime::now())?
    } else {
        registered_principal(state, subject_token, audience)?
    };

    let lifetime = crate::ISSUED_TOKEN_LIFETIME;
    let token = state.issue_service_token(&principal, &scopes, lifetime);
    Ok(Response::json(
        200,
        &json!({
            "access_token": token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": lifetime.as_secs(),
        }),
    ))
}

fn invalid_grant(description: &str) -> Response {
    Response::error(400, "invalid_grant", description)
}

/// The principal of a subject token registered with
/// [`crate::FakeGoogle::add_external_subject`] for `audience`.
fn registered_principal(
    state: &State,
    subject_token: &str,
    audience: &str,
) -> Result<String, Response> {
    let dir = state.directory();
    let subject = dir
        .external_subjects
        .get(subject_token)
        .ok_or_else(|| invalid_grant("Unable to parse the ID Token."))?;
    if subject.audience != audience {
        return Err(invalid_grant(&format!(
            "The audience in ID Token [{}] does not match the expected audience.",
            subject.audience
        )));
    }
    Ok(subject.principal.clone())
}

/// How far `x-amz-date` may be from now, as AWS allows.
const AWS_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// The principal of an AWS subject token: a serialised, SigV4-signed
/// `GetCallerIdentity` request whose signature checks out against the
/// secret of an identity registered with
/// [`crate::FakeGoogle::add_aws_identity`] for `audience`.
fn aws_principal(
    state: &State,
    subject_token: &str,
    audience: &str,
    now: SystemTime,
) -> Result<String, Response> {
    let invalid = || {
        invalid_grant("The subject token is not a valid serialized AWS GetCallerIdentity request.")
    };
    // Clients percent-encode the JSON (inside the form encoding).
    let text = if subject_token.starts_with('{') {
        subject_token.to_owned()
    } else {
        percent_encoding::percent_decode_str(subject_token)
            .decode_utf8_lossy()
            .into_owned()
    };
    let request: Value = serde_json::from_str(&text).map_err(|_| invalid())?;
    let url = request["url"].as_str().ok_or_else(invalid)?;
    let method = request["method"].as_str().ok_or_else(invalid)?;
    let mut headers = Vec::new();
    for entry in request["headers"].as_array().ok_or_else(invalid)? {
        let key = entry["key"].as_str().ok_or_else(invalid)?;
        let value = entry["value"].as_str().ok_or_else(invalid)?;
        headers.push((key.to_ascii_lowercase(), value.to_owned()));
    }
    let header = |name: &str| crate::http::find_header(&headers, name);

    let (host, path, query) = split_https_url(url).ok_or_else(invalid)?;
    let region = host
        .strip_prefix("sts.")
        .and_then(|h| h.strip_suffix(".amazonaws.com"))
        .filter(|r| !r.is_empty() && !r.contains('.'))
        .ok_or_else(|| {
            invalid_grant(&format!(
                "The AWS request URL [{url}] is not a regional STS endpoint."
            ))
        })?;
    let action = crate::http::parse_urlencoded(query);
    let calls_get_caller_identity = action
        .iter()
        .any(|(k, v)| k == "Action" && v == "GetCallerIdentity");
    if method != "POST" || !calls_get_caller_identity {
        return Err(invalid_grant(
            "The AWS request must be a POST to the GetCallerIdentity action.",
        ));
    }
    if header("host") != Some(host) {
        return Err(invalid_grant(
            "The AWS request's host header does not match its URL.",
        ));
    }
    let target = header("x-goog-cloud-target-resource").unwrap_or("");
    if target.strip_prefix("https:").unwrap_or(target) != audience {
        return Err(invalid_grant(&format!(
            "The x-goog-cloud-target-resource header [{target}] does not match the audience."
        )));
    }
    let authorization = header("authorization")
        .and_then(Authorization::parse)
        .ok_or_else(|| invalid_grant("The AWS request has no valid SigV4 Authorization header."))?;
    let date = header("x-amz-date").unwrap_or("");
    let signed_at = crate::aws::parse_amz_date(date)
        .ok_or_else(|| invalid_grant("The AWS request has no valid x-amz-date header."))?;
    let skew = now
        .duration_since(signed_at)
        .unwrap_or_else(|e| e.duration());
    if skew > AWS_CLOCK_SKEW {
        return Err(invalid_grant(
            "The AWS request was signed more than 15 minutes from now.",
        ));
    }
    let expected_scope = Scope {
        date: date[..8].to_owned(),
        region: region.to_owned(),
        service: "sts".to_owned(),
    };
    if authorization.scope != expected_scope {
        return Err(invalid_grant(
            "The AWS credential scope does not match the request's date, region or service.",
        ));
    }

    let dir = state.directory();
    let identity = dir
        .aws_identities
        .get(&authorization.access_key_id)
        .ok_or_else(|| invalid_grant("The AWS access key is not recognised."))?;
    let mut required = vec!["host", "x-amz-date", "x-goog-cloud-target-resource"];
    if identity.credentials.session_token.is_some() {
        required.push("x-amz-security-token");
    }
    if let Some(missing) = required
        .iter()
        .find(|h| !authorization.signed_headers.iter().any(|s| s == *h))
    {
        return Err(invalid_grant(&format!(
            "The AWS request does not sign the {missing} header."
        )));
    }
    if identity.credentials.session_token.as_deref() != header("x-amz-security-token") {
        return Err(invalid_grant("The AWS session token is not valid."));
    }
    let mut sorted = authorization.signed_headers.clone();
    sorted.sort();
    sorted.dedup();
    let canonical = crate::aws::canonical_request(method, path, query, &headers, &sorted, b"");
    let expected = crate::aws::signature(
        &identity.credentials.secret_access_key,
        date,
        &authorization.scope,
        &canonical,
    );
    if sorted != authorization.signed_headers || expected != authorization.signature {
        return Err(invalid_grant(
            "The AWS request signature does not match the one computed for it.",
        ));
    }
    if identity.audience != audience {
        return Err(invalid_grant(&format!(
            "The AWS identity is not trusted by the provider [{audience}]."
        )));
    }
    Ok(identity.principal.clone())
}

/// `(host, path, query)` of an `https://` URL.
fn split_https_url(url: &str) -> Option<(&str, &str, &str)> {
    let rest = url.strip_prefix("https://")?;
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (host, path) = match before_query.find('/') {
        Some(i) => (&before_query[..i], &before_query[i..]),
        None => (before_query, ""),
    };
    Some((host, path, query))
}
