//! `POST /mint`: the fake's own way to obtain a token.
//!
//! Real Google has no such endpoint; tokens come from gcloud, the metadata
//! server, IAM Credentials and so on. This endpoint is what the `fake-google
//! mint` command (and so a `command` credential source under test) calls, and
//! it exposes the knobs tests need: lifetime, length, trailing padding and
//! scopes.

use std::time::Duration;

use serde_json::json;

use crate::http::{Request, Response};
use crate::state::{DEFAULT_SCOPE, MintOptions, State};

/// Upper bound on `length`: PostgreSQL accepts passwords up to 64 KiB and
/// the fake LDAP server reads messages up to the same size.
const MAX_LENGTH: usize = 60 * 1024;
/// Upper bound on `padding`; real tokens carry at most a few dots.
const MAX_PADDING: usize = 1024;

/// Answers `{"access_token", "expires_in", "token_type", "principal",
/// "scope"}`, the scopes space-separated as OAuth2 token answers give them.
pub(crate) fn mint(state: &State, request: &Request) -> Result<Response, Response> {
    let params = request.params();
    let principal = params.get("principal").map(str::trim).unwrap_or("");
    if principal.is_empty() {
        return Err(Response::invalid_request("principal is required"));
    }
    let defaults = MintOptions::new(principal);
    let lifetime_secs: u64 = params.parse_or("lifetime_secs", defaults.lifetime.as_secs())?;
    let length: usize = params.parse_or("length", defaults.length)?;
    let padding: usize = params.parse_or("padding", 0)?;
    if length == 0 || length > MAX_LENGTH {
        return Err(Response::invalid_request(&format!(
            "length must be between 1 and {MAX_LENGTH}"
        )));
    }
    if padding > MAX_PADDING {
        return Err(Response::invalid_request(&format!(
            "padding must be at most {MAX_PADDING}"
        )));
    }
    let scopes: Vec<String> = params
        .get("scope")
        .unwrap_or(DEFAULT_SCOPE)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let scope = match scopes.is_empty() {
        true => DEFAULT_SCOPE.to_owned(),
        false => scopes.join(" "),
    };
    let token = state.mint(&MintOptions {
        lifetime: Duration::from_secs(lifetime_secs),
        scopes,
        length,
        padding,
        ..defaults
    });
    Ok(Response::json(
        200,
        &json!({
            "access_token": token,
            "expires_in": lifetime_secs,
            "token_type": "Bearer",
            "principal": principal,
            "scope": scope,
        }),
    ))
}
