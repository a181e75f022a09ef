//! `POST /gcloud/token`: where the fake `gcloud` (`fake-google gcloud ...`)
//! gets its tokens. Not a Google endpoint; it stands in for gcloud's own
//! credential store plus, with `impersonate`, its call to IAM Credentials.
//!
//! Form fields: `principal` (the gcloud account) and optional `impersonate`
//! (a service account). Answers `{"access_token", "expires_in",
//! "token_expiry", "id_token"}`, or IAM's 403 when impersonation is not
//! allowed.

use std::time::Duration;

use serde_json::json;

use crate::directory::{CLOUD_PLATFORM_SCOPE, OPENID_SCOPE, USERINFO_EMAIL_SCOPE};
use crate::endpoints::iam;
use crate::http::{Request, Response};
use crate::state::{State, rfc3339_utc};

/// Scopes of tokens the fake gcloud prints for its account.
pub(crate) const GCLOUD_USER_SCOPES: &[&str] =
    &[OPENID_SCOPE, USERINFO_EMAIL_SCOPE, CLOUD_PLATFORM_SCOPE];
/// Scopes gcloud asks IAM Credentials for when impersonating.
pub(crate) const GCLOUD_IMPERSONATION_SCOPES: &[&str] =
    &[CLOUD_PLATFORM_SCOPE, USERINFO_EMAIL_SCOPE];
/// The OAuth client ID gcloud signs users in with, the audience of its ID
/// tokens.
const GCLOUD_CLIENT_ID: &str = "32555940559.apps.googleusercontent.com";

pub(crate) fn handle(state: &State, request: &Request) -> Result<Response, Response> {
    let params = request.params();
    let principal = params.get("principal").map(str::trim).unwrap_or("");
    if principal.is_empty() {
        return Err(Response::invalid_request("principal is required"));
    }
    let lifetime = crate::ISSUED_TOKEN_LIFETIME;
    let to_strings = |scopes: &[&str]| scopes.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let (subject, token) = match params.get("impersonate").map(str::trim) {
        Some(target) if !target.is_empty() => {
            if !iam::chain_allowed(state, principal, &[], target) {
                return Err(iam::permission_denied());
            }
            let scopes = to_strings(GCLOUD_IMPERSONATION_SCOPES);
            (target, state.issue_service_token(target, &scopes, lifetime))
        }
        _ => {
            let scopes = to_strings(GCLOUD_USER_SCOPES);
            (
                principal,
                state.issue_user_token(principal, &scopes, lifetime),
            )
        }
    };
    let expiry = state
        .lookup(&token)
        .map(|r| rfc3339_utc(r.expires_at))
        .unwrap_or_default();
    Ok(Response::json(
        200,
        &json!({
            "access_token": token,
            "expires_in": lifetime.as_secs(),
            "token_expiry": expiry,
            "id_token": state.id_token(subject, GCLOUD_CLIENT_ID, Duration::from_secs(3600)),
        }),
    ))
}
