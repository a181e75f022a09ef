//! What Google's JSON APIs (IAM Credentials, AlloyDB Admin, Cloud SQL
//! Admin) have in common: bearer-token authentication with a scope check
//! in front of every method, and errors shaped
//! `{"error": {"code", "message", "status", "details"?}}`.

use serde_json::json;

use crate::directory::CLOUD_PLATFORM_SCOPE;
use crate::http::{Request, Response};
use crate::state::{State, TokenRecord};

/// The scopes the admin APIs accept besides their own.
pub(crate) const CLOUD_PLATFORM: &[&str] = &[CLOUD_PLATFORM_SCOPE];

/// The record of the request's live bearer token, which must carry one of
/// `scopes`; otherwise Google's 401 or 403.
pub(crate) fn authenticate(
    state: &State,
    request: &Request,
    scopes: &[&str],
) -> Result<TokenRecord, Response> {
    const SEE: &str = "Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
    let Some(bearer) = request.bearer_token() else {
        return Err(Response::google_error(
            401,
            "UNAUTHENTICATED",
            &format!("Request is missing required authentication credential. {SEE}"),
            None,
        ));
    };
    let caller = state.live(bearer).ok_or_else(|| {
        Response::google_error(
            401,
            "UNAUTHENTICATED",
            &format!("Request had invalid authentication credentials. {SEE}"),
            None,
        )
    })?;
    if !caller.scopes.iter().any(|s| scopes.contains(&s.as_str())) {
        return Err(Response::google_error(
            403,
            "PERMISSION_DENIED",
            "Request had insufficient authentication scopes.",
            None,
        ));
    }
    Ok(caller)
}

/// IAM's refusal of a missing permission: 403 "Permission 'P' denied on
/// resource 'R' (or it may not exist)." (or without a resource name, as
/// IAM Credentials words it), with the `ErrorInfo` that tells it from a
/// disabled API.
pub(crate) fn permission_denied(permission: &str, resource: Option<&str>) -> Response {
    let on = resource.map(|r| format!(" '{r}'")).unwrap_or_default();
    let mut metadata = json!({"permission": permission});
    if let Some(resource) = resource {
        metadata["resource"] = resource.into();
    }
    Response::google_error(
        403,
        "PERMISSION_DENIED",
        &format!("Permission '{permission}' denied on resource{on} (or it may not exist)."),
        Some(json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "IAM_PERMISSION_DENIED",
            "domain": "iam.googleapis.com",
            "metadata": metadata,
        }])),
    )
}
