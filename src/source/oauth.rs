//! Google's OAuth2 answers: the token response and its errors, turned into a token with
//! its real expiry, or into one sentence that says what to run.

use jiff::{SignedDuration, Timestamp};

use super::check_token;
use crate::error::{Error, Result};
use crate::http::Answer;
use crate::secret::Secret;

/// The scope every Google API accepts; the IAM Credentials API requires it of callers.
pub const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The one-time command that gives a user's ADC login the AlloyDB scope (FACTS.md).
pub const ADC_LOGIN_WITH_ALLOYDB_SCOPE: &str = "gcloud auth application-default login --scopes=https://www.googleapis.com/auth/alloydb.login,https://www.googleapis.com/auth/cloud-platform,https://www.googleapis.com/auth/userinfo.email,openid";

/// An OAuth2 error answer (`{"error": "invalid_grant", "error_description": "…"}`).
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub status: u16,
    pub code: String,
    pub description: String,
}

/// A token answer `{"access_token", "expires_in"}` (OAuth2, STS and the metadata server).
pub fn token_answer(
    answer: &Answer,
    what: &str,
    now: Timestamp,
) -> Result<std::result::Result<(Secret, Timestamp), OAuthError>> {
    let json = answer.json(what)?;
    if answer.status != 200 {
        return Ok(Err(oauth_error(answer.status, &json)));
    }
    let token = json
        .get("access_token")
        .and_then(|v| v.as_str())
        .ok_or_else(|| Error::Source(format!("{what} answered without an access_token")))?;
    check_token(token, what)?;
    let secs = json
        .get("expires_in")
        .and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .ok_or_else(|| Error::Source(format!("{what} answered without expires_in")))?;
    let expires_at = now
        .checked_add(SignedDuration::from_secs(secs))
        .map_err(|_| Error::Source(format!("{what} answered an out-of-range expires_in")))?;
    Ok(Ok((Secret::new(token), expires_at)))
}

/// Reads an error answer in either of Google's shapes: OAuth2's flat
/// `{"error": "…", "error_description": "…"}` or the API's `{"error": {"code", "message", "status"}}`.
pub fn oauth_error(status: u16, json: &serde_json::Value) -> OAuthError {
    let error = json.get("error");
    let (code, description) = match error {
        Some(serde_json::Value::String(code)) => (
            code.clone(),
            json.get("error_description")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
        ),
        Some(serde_json::Value::Object(obj)) => (
            obj.get("status")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            obj.get("message")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
        ),
        _ => (String::new(), String::new()),
    };
    OAuthError {
        status,
        code,
        description: crate::secret::redact(&description, &[]),
    }
}

impl OAuthError {
    /// "HTTP 400 invalid_grant: Token has been expired or revoked."
    pub fn summary(&self) -> String {
        match (self.code.is_empty(), self.description.is_empty()) {
            (true, true) => format!("HTTP {}", self.status),
            (false, true) => format!("HTTP {} {}", self.status, self.code),
            (true, false) => format!("HTTP {}: {}", self.status, self.description),
            (false, false) => format!("HTTP {} {}: {}", self.status, self.code, self.description),
        }
    }
}
