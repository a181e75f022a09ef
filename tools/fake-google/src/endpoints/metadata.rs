//! The Compute Engine metadata server, as far as credentials need it:
//!
//! * `GET /computeMetadata/v1/instance/service-accounts/{account}/token`
//!   (optional `?scopes=a,b`) answers `{"access_token", "expires_in",
//!   "token_type"}`;
//! * `GET /computeMetadata/v1/instance/service-accounts/{account}/email`
//!   answers the e-mail as text;
//! * `GET /computeMetadata/v1/project/project-id`.
//!
//! `{account}` is `default` or the account's e-mail. Clients reach the fake
//! with `GCE_METADATA_HOST=127.0.0.1:PORT`, so the paths sit at the root of
//! the fake's HTTP server. Like the real server, every request must carry
//! `Metadata-Flavor: Google` and must not carry `X-Forwarded-For`, and every
//! answer carries `Metadata-Flavor: Google`.
//!
//! Tokens are cached like the real server caches them: the same token is
//! handed out, with its remaining lifetime as `expires_in`, until less than
//! [`METADATA_REFRESH_MARGIN`] of it remains; then a fresh one is issued.

use std::time::SystemTime;

use serde_json::json;

use crate::directory::{
    CLOUD_PLATFORM_SCOPE, DEMO_PROJECT, ISSUED_TOKEN_LIFETIME, METADATA_REFRESH_MARGIN,
};
use crate::http::{Request, Response};
use crate::state::State;

const ACCOUNTS_PREFIX: &str = "/computeMetadata/v1/instance/service-accounts/";
const TEXT: &str = "application/text";

/// The `{account}` of `.../service-accounts/{account}/{leaf}`.
pub(crate) fn account_segment<'a>(path: &'a str, leaf: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(ACCOUNTS_PREFIX)?;
    let (account, tail) = rest.split_once('/')?;
    (tail == leaf && !account.is_empty()).then_some(account)
}

/// The refusals every metadata request is checked for first.
fn refuse(request: &Request) -> Result<(), Response> {
    if request.header("x-forwarded-for").is_some() {
        return Err(Response::text(
            403,
            "text/plain; charset=utf-8",
            "Request contains a X-Forwarded-For header and was rejected.\n",
        ));
    }
    if request.header("metadata-flavor") != Some("Google") {
        return Err(Response::text(
            403,
            "text/plain; charset=utf-8",
            "Missing required header \"Metadata-Flavor\": \"Google\"\n",
        ));
    }
    Ok(())
}

/// The metadata server's 404 page, abridged.
fn not_found() -> Response {
    Response::text(
        404,
        "text/html; charset=UTF-8",
        "<!DOCTYPE html>\n<html lang=en>\n  <title>Error 404 (Not Found)!!1</title>\n  <p><b>404.</b> <ins>That\u{2019}s an error.</ins>\n  <p>The requested URL was not found on this server.\n",
    )
}

/// The configured account if `.../{account}/{leaf}` names it (by e-mail or
/// as `default`), else the 404.
fn account_for(state: &State, request: &Request, leaf: &str) -> Result<String, Response> {
    refuse(request)?;
    let segment = account_segment(&request.path, leaf).unwrap_or("");
    let account = state.directory().metadata_account.clone();
    account
        .filter(|account| segment == "default" || segment == account)
        .ok_or_else(not_found)
}

pub(crate) fn email(state: &State, request: &Request) -> Result<Response, Response> {
    let account = account_for(state, request, "email")?;
    Ok(Response::text(200, TEXT, account))
}

pub(crate) fn token(state: &State, request: &Request) -> Result<Response, Response> {
    let account = account_for(state, request, "token")?;
    let mut scopes: Vec<String> = request
        .query
        .iter()
        .filter(|(k, _)| k == "scopes")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        // Those of a VM created with full Cloud API access.
        scopes = vec![CLOUD_PLATFORM_SCOPE.to_owned()];
    }
    scopes.sort();
    scopes.dedup();
    let (token, remaining) = cached_token(state, &account, &scopes);
    Ok(Response::json(
        200,
        &json!({
            "access_token": token,
            "expires_in": remaining,
            "token_type": "Bearer",
        }),
    ))
}

/// The cached token for `scopes` if it still has at least the refresh
/// margin left, else a fresh one; with its whole seconds remaining.
pub(crate) fn cached_token(state: &State, account: &str, scopes: &[String]) -> (String, u64) {
    let cached = state.directory().metadata_cache.get(scopes).cloned();
    let now = SystemTime::now();
    if let Some(token) = cached {
        if let Some(record) = state.live(&token) {
            let still_good = record
                .expires_at
                .duration_since(now)
                .is_ok_and(|left| left >= METADATA_REFRESH_MARGIN);
            if record.principal == account && still_good {
                return (token, record.remaining_secs_at(now));
            }
        }
    }
    let token = state.issue_service_token(account, scopes, ISSUED_TOKEN_LIFETIME);
    state
        .directory()
        .metadata_cache
        .insert(scopes.to_vec(), token.clone());
    (token, ISSUED_TOKEN_LIFETIME.as_secs())
}

pub(crate) fn other(_state: &State, request: &Request) -> Result<Response, Response> {
    refuse(request)?;
    match request.path.as_str() {
        "/computeMetadata/v1/project/project-id" => Ok(Response::text(200, TEXT, DEMO_PROJECT)),
        _ => Err(not_found()),
    }
}
