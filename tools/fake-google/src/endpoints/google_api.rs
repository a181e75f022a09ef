//! What Google's JSON APIs (IAM Credentials, AlloyDB Admin, Cloud SQL
//! Admin) have in common: bearer-token authentication with a scope check
//! in front of every method, and errors shaped
//! `{"error": {"code", "message", "status", "details"?}}`.

use serde_json::{Value, json};

use crate::directory::CLOUD_PLATFORM_SCOPE;
use crate::http::{Request, Response};
use crate::state::{State, TokenRecord};

const SEE: &str = "Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
const REALM: &str = "Bearer realm=\"https://accounts.google.com/\"";

/// One method of one API, as its errors name it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ApiMethod {
    /// E.g. `alloydb.googleapis.com`.
    pub service: &'static str,
    /// E.g. `google.cloud.alloydb.v1.AlloyDBAdmin.GetInstance`.
    pub method: &'static str,
    /// Scopes of which the bearer token needs one.
    pub scopes: &'static [&'static str],
}

/// `details` with one `google.rpc.ErrorInfo`.
pub(crate) fn error_info(reason: &str, domain: &str, metadata: Value) -> Value {
    json!([{
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": domain,
        "metadata": metadata,
    }])
}

impl ApiMethod {
    fn metadata(&self) -> Value {
        json!({"service": self.service, "method": self.method})
    }

    fn unauthenticated(&self, message: &str, reason: &str, www_authenticate: &str) -> Response {
        Response::google_error(
            401,
            "UNAUTHENTICATED",
            message,
            Some(error_info(reason, "googleapis.com", self.metadata())),
        )
        .with_header("WWW-Authenticate", www_authenticate)
    }

    /// The principal of the request's live bearer token, which must carry
    /// one of the method's scopes; otherwise Google's 401 or 403.
    pub fn authenticate(&self, state: &State, request: &Request) -> Result<TokenRecord, Response> {
        let Some(bearer) = request.bearer_token() else {
            return Err(self.unauthenticated(
                &format!("Request is missing required authentication credential. {SEE}"),
                "CREDENTIALS_MISSING",
                REALM,
            ));
        };
        let Some(caller) = state.live(bearer) else {
            let reason = if state.lookup(bearer).is_some() {
                "ACCESS_TOKEN_EXPIRED"
            } else {
                "ACCESS_TOKEN_TYPE_UNSUPPORTED"
            };
            return Err(self.unauthenticated(
                &format!("Request had invalid authentication credentials. {SEE}"),
                reason,
                &format!("{REALM}, error=\"invalid_token\""),
            ));
        };
        if !caller
            .scopes
            .iter()
            .any(|s| self.scopes.contains(&s.as_str()))
        {
            return Err(Response::google_error(
                403,
                "PERMISSION_DENIED",
                "Request had insufficient authentication scopes.",
                Some(error_info(
                    "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                    "googleapis.com",
                    self.metadata(),
                )),
            )
            .with_header(
                "WWW-Authenticate",
                &format!(
                    "{REALM}, error=\"insufficient_scope\", scope=\"{}\"",
                    self.scopes.join(" ")
                ),
            ));
        }
        Ok(caller)
    }
}

/// IAM's refusal of a missing permission: 403 "Permission 'P' denied on
/// resource 'R' (or it may not exist)." (or without a resource name, as
/// IAM Credentials words it).
pub(crate) fn permission_denied(permission: &str, resource: Option<&str>) -> Response {
    let message = match resource {
        Some(resource) => {
            format!(
                "Permission '{permission}' denied on resource '{resource}' (or it may not exist)."
            )
        }
        None => format!("Permission '{permission}' denied on resource (or it may not exist)."),
    };
    let mut metadata = json!({"permission": permission});
    if let Some(resource) = resource {
        metadata["resource"] = resource.into();
    }
    Response::google_error(
        403,
        "PERMISSION_DENIED",
        &message,
        Some(error_info(
            "IAM_PERMISSION_DENIED",
            "iam.googleapis.com",
            metadata,
        )),
    )
}

/// The scopes the admin APIs accept besides their own.
pub(crate) const CLOUD_PLATFORM: &[&str] = &[CLOUD_PLATFORM_SCOPE];
