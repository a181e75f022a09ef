//! `POST /token`, shaped like `https://oauth2.googleapis.com/token`.
//!
//! Two grants are understood:
//!
//! * `urn:ietf:params:oauth:grant-type:jwt-bearer` with an `assertion`: a
//!   service account's RS256-signed JWT, as every Google client library
//!   sends for a `service_account` key file (RFC 7523);
//! * `refresh_token` with `client_id`, `client_secret`, `refresh_token` and
//!   an optional narrower `scope`, as clients send for an ADC
//!   `authorized_user` file.
//!
//! Answers and errors carry Google's field names, status codes and texts;
//! errors are `{"error": ..., "error_description": ...}`.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::directory::{GOOGLE_TOKEN_URI, OPENID_SCOPE};
use crate::http::{Params, Request, Response};
use crate::jwt;
use crate::state::{State, unix_secs};

pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Token endpoints Google accepts as the `aud` of an assertion, besides the
/// fake's own `/token`: the current one and the older v4 one that some
/// libraries still name.
const ACCEPTED_AUDIENCES: &[&str] = &[
    GOOGLE_TOKEN_URI,
    "https://www.googleapis.com/oauth2/v4/token",
];

/// How far `iat` may be from now.
const CLOCK_SKEW: u64 = 300;
/// Longest assertion Google accepts (`exp - iat`).
const MAX_ASSERTION_LIFETIME: u64 = 3600;

const BAD_TIMES: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.";
const BAD_SIGNATURE: &str = "Invalid JWT Signature.";

pub(crate) fn handle(state: &State, request: &Request) -> Result<Response, Response> {
    let params = request.params();
    match params.get("grant_type").unwrap_or("") {
        JWT_BEARER => jwt_bearer(state, request, &params),
        "refresh_token" => refresh(state, &params),
        other => Err(Response::error(
            400,
            "unsupported_grant_type",
            &format!("Invalid grant_type: {other}"),
        )),
    }
}

fn invalid_grant(description: &str) -> Response {
    Response::error(400, "invalid_grant", description)
}

/// A numeric claim as whole seconds (Google accepts integers; fractions are
/// truncated rather than rejected).
fn seconds(claims: &serde_json::Map<String, Value>, name: &str) -> Option<u64> {
    let value = claims.get(name)?;
    value
        .as_u64()
        .or_else(|| value.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
}

fn jwt_bearer(state: &State, request: &Request, params: &Params) -> Result<Response, Response> {
    let assertion = params.get("assertion").unwrap_or("");
    if assertion.is_empty() {
        return Err(Response::invalid_request(
            "Missing required parameter: assertion",
        ));
    }
    let decoded = jwt::decode(assertion).ok_or_else(|| invalid_grant("Bad Request"))?;
    let claims = &decoded.claims;
    state.directory().last_jwt_claims = Some(Value::Object(claims.clone()));

    if decoded.header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(invalid_grant(BAD_SIGNATURE));
    }
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    let account = state
        .directory()
        .service_accounts
        .get(iss)
        .cloned()
        .ok_or_else(|| invalid_grant("Invalid grant: account not found"))?;
    if let Some(kid) = decoded.header.get("kid") {
        if kid != &account["private_key_id"] {
            return Err(invalid_grant(BAD_SIGNATURE));
        }
    }
    if !jwt::verify_rs256(decoded.signing_input.as_bytes(), &decoded.signature) {
        return Err(invalid_grant(BAD_SIGNATURE));
    }

    let aud = claims.get("aud").and_then(Value::as_str).unwrap_or("");
    let own = state.directory().base_url.clone();
    let host = request.header("host").unwrap_or("");
    let accepted = ACCEPTED_AUDIENCES.contains(&aud)
        || (!own.is_empty() && aud == format!("{own}/token"))
        || (!host.is_empty() && aud == format!("http://{host}/token"));
    if !accepted {
        return Err(invalid_grant(&format!(
            "Invalid JWT: Failed audience check. The right audience is {GOOGLE_TOKEN_URI}"
        )));
    }

    let now = unix_secs(SystemTime::now());
    let times_ok = match (seconds(claims, "iat"), seconds(claims, "exp")) {
        (Some(iat), Some(exp)) => {
            iat.abs_diff(now) <= CLOCK_SKEW
                && exp > now
                && exp > iat
                && exp - iat <= MAX_ASSERTION_LIFETIME
        }
        _ => false,
    };
    if !times_ok {
        return Err(invalid_grant(BAD_TIMES));
    }

    // Domain-wide delegation (`sub` naming someone else) is not something
    // fake service accounts are authorised for.
    if let Some(sub) = claims.get("sub").and_then(Value::as_str) {
        if sub != iss {
            return Err(Response::error(
                401,
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
            ));
        }
    }

    let scopes: Vec<String> = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        return Err(Response::error(
            400,
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        ));
    }

    let lifetime = crate::ISSUED_TOKEN_LIFETIME;
    let token = state.issue_service_token(iss, &scopes, lifetime);
    Ok(Response::json(
        200,
        &json!({
            "access_token": token,
            "expires_in": lifetime.as_secs(),
            "token_type": "Bearer",
        }),
    ))
}

fn refresh(state: &State, params: &Params) -> Result<Response, Response> {
    let client_id = params.get("client_id").unwrap_or("");
    if client_id.is_empty() {
        return Err(Response::invalid_request(
            "Could not determine client ID from request.",
        ));
    }
    let client = state.directory().oauth_client.clone();
    let Some(client) = client.filter(|c| c.id == client_id) else {
        return Err(Response::error(
            401,
            "invalid_client",
            "The OAuth client was not found.",
        ));
    };
    let secret = params.get("client_secret").unwrap_or("");
    if secret.is_empty() {
        return Err(Response::invalid_request("client_secret is missing."));
    }
    if secret != client.secret {
        return Err(Response::error(401, "invalid_client", "Unauthorized"));
    }
    let refresh_token = params.get("refresh_token").unwrap_or("");
    if refresh_token.is_empty() {
        return Err(Response::invalid_request(
            "Missing required parameter: refresh_token",
        ));
    }
    let grant = state
        .directory()
        .refresh_tokens
        .get(refresh_token)
        .filter(|g| !g.revoked)
        .cloned()
        .ok_or_else(|| invalid_grant("Token has been expired or revoked."))?;

    let scopes: Vec<String> = match params.get("scope").map(str::split_whitespace) {
        Some(requested) => {
            let requested: Vec<String> = requested.map(str::to_owned).collect();
            if requested.iter().any(|s| !grant.scopes.contains(s)) {
                return Err(Response::error(400, "invalid_scope", "Bad Request"));
            }
            if requested.is_empty() {
                grant.scopes.clone()
            } else {
                requested
            }
        }
        None => grant.scopes.clone(),
    };

    let lifetime = crate::ISSUED_TOKEN_LIFETIME;
    let token = state.issue_user_token(&grant.user, &scopes, lifetime);
    let mut answer = json!({
        "access_token": token,
        "expires_in": lifetime.as_secs(),
        "scope": scopes.join(" "),
        "token_type": "Bearer",
    });
    if scopes.iter().any(|s| s == OPENID_SCOPE) {
        answer["id_token"] = state
            .id_token(&grant.user, &client.id, Duration::from_secs(3600))
            .into();
    }
    Ok(Response::json(200, &answer))
}
