//! Security Token Service: `POST /v1/token`, shaped like
//! `https://sts.googleapis.com/v1/token` (OAuth 2.0 token exchange,
//! RFC 8693), as workload identity federation clients call it.
//!
//! A form (or JSON) body with `grant_type` =
//! `urn:ietf:params:oauth:grant-type:token-exchange`, `audience` (the
//! provider's full resource name), `scope`, `requested_token_type` =
//! `urn:ietf:params:oauth:token-type:access_token`, `subject_token` and
//! `subject_token_type`. Subject tokens are registered with
//! [`crate::FakeGoogle::add_external_subject`]; the federated access token
//! issued for one belongs to its `principal://...` identifier, which may
//! then impersonate service accounts through IAM Credentials.

use serde_json::json;

use crate::directory::CLOUD_PLATFORM_SCOPE;
use crate::http::{PathMatch, Request, Response, Route};
use crate::state::State;

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Subject token types STS accepts.
const SUBJECT_TOKEN_TYPES: &[&str] = &[
    "urn:ietf:params:oauth:token-type:jwt",
    "urn:ietf:params:oauth:token-type:id_token",
    "urn:ietf:params:oauth:token-type:saml2",
    "urn:ietf:params:aws:token-type:aws4_request",
    "urn:ietf:params:oauth:token-type:access_token",
];
/// What a workload identity (or workforce) provider's resource name starts with.
const AUDIENCE_PREFIXES: &[&str] = &[
    "//iam.googleapis.com/projects/",
    "//iam.googleapis.com/locations/global/workforcePools/",
];

pub(crate) fn routes() -> Vec<Route> {
    vec![Route::new(
        "sts_token",
        "POST",
        PathMatch::Exact("/v1/token"),
        handle,
    )]
}

fn handle(state: &State, request: &Request) -> Result<Response, Response> {
    let params = request.params()?;
    // Form bodies use the OAuth names; the REST API's JSON body uses
    // camelCase ones.
    let param = |snake: &str, camel: &str| params.get_any(&[snake, camel]).unwrap_or("").trim();

    let grant_type = param("grant_type", "grantType");
    if grant_type != TOKEN_EXCHANGE {
        return Err(Response::error(
            400,
            "unsupported_grant_type",
            &format!("Invalid value for \"grant_type\": \"{grant_type}\"."),
        ));
    }
    let audience = param("audience", "audience");
    if !AUDIENCE_PREFIXES.iter().any(|p| audience.starts_with(p)) {
        return Err(Response::invalid_request(
            "Invalid value for \"audience\". This value should be the full resource name of the Identity Provider. See https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token for the list of possible formats.",
        ));
    }
    if param("requested_token_type", "requestedTokenType") != ACCESS_TOKEN_TYPE {
        return Err(Response::invalid_request(&format!(
            "Invalid value for \"requested_token_type\". Expected: \"{ACCESS_TOKEN_TYPE}\"."
        )));
    }
    let subject_token_type = param("subject_token_type", "subjectTokenType");
    if !SUBJECT_TOKEN_TYPES.contains(&subject_token_type) {
        return Err(Response::invalid_request(&format!(
            "Invalid value for \"subject_token_type\". Supported values are: {}.",
            SUBJECT_TOKEN_TYPES.join(", ")
        )));
    }
    let subject_token = param("subject_token", "subjectToken");
    if subject_token.is_empty() {
        return Err(Response::invalid_request(
            "Missing required parameter: \"subject_token\".",
        ));
    }
    let scopes: Vec<String> = param("scope", "scope")
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

    let subject = state
        .directory()
        .external_subjects
        .get(subject_token)
        .cloned();
    let Some(subject) = subject else {
        return Err(Response::error(
            400,
            "invalid_grant",
            "Unable to parse the ID Token.",
        ));
    };
    if subject.audience != audience {
        return Err(Response::error(
            400,
            "invalid_grant",
            &format!(
                "The audience in ID Token [{}] does not match the expected audience.",
                subject.audience
            ),
        ));
    }

    let lifetime = state.token_lifetime();
    let token = state.issue_federated_token(&subject.principal, &scopes, lifetime);
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
