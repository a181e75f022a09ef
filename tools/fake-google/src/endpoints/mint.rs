//! `POST /mint`: the fake's own way to obtain a token.
//!
//! Real Google has no such endpoint; tokens come from gcloud, the metadata
//! server, IAM Credentials and so on. This endpoint is what the `fake-google
//! mint` command (and so a `command` credential source under test) calls, and
//! it exposes the knobs tests need: lifetime, length, trailing padding and
//! scopes.

use std::time::Duration;

use serde::Serialize;

use crate::http::{Request, Response};
use crate::state::{DEFAULT_SCOPE, DEFAULT_TOKEN_LENGTH, MintOptions, State};

/// Upper bound on `length`: PostgreSQL accepts passwords up to 64 KiB and
/// the fake LDAP server reads messages up to the same size.
const MAX_LENGTH: usize = 60 * 1024;
/// Upper bound on `padding`; real tokens carry at most a few dots.
const MAX_PADDING: usize = 1024;

#[derive(Serialize)]
struct MintResponse<'a> {
    access_token: &'a str,
    expires_in: u64,
    token_type: &'static str,
    principal: &'a str,
    /// The granted scopes, space-separated, as OAuth2 token answers give them.
    scope: String,
}

pub(crate) fn mint(state: &State, request: &Request) -> Result<Response, Response> {
    let params = request.params();
    let principal = params.get("principal").map(str::trim).unwrap_or("");
    if principal.is_empty() {
        return Err(Response::invalid_request("principal is required"));
    }
    let lifetime_secs: u64 = params.parse_or("lifetime_secs", 3600)?;
    let length: usize = params.parse_or("length", DEFAULT_TOKEN_LENGTH)?;
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
    let scopes: Vec<&str> = params
        .get("scope")
        .unwrap_or(DEFAULT_SCOPE)
        .split_whitespace()
        .collect();
    let opts = MintOptions::new(principal)
        .lifetime(Duration::from_secs(lifetime_secs))
        .length(length)
        .padding(padding)
        .scopes(&scopes);
    let token = state.mint(&opts);
    Ok(Response::json(
        200,
        &MintResponse {
            access_token: &token,
            expires_in: lifetime_secs,
            token_type: "Bearer",
            principal,
            scope: if scopes.is_empty() {
                crate::state::DEFAULT_SCOPE.to_string()
            } else {
                scopes.join(" ")
            },
        },
    ))
}
