//! Google's OAuth2 answers: the token response and its errors, turned into a token with
//! its real expiry, or into one sentence that says what to run.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Deserializer};

use crate::error::{Error, Result};
use crate::http::Answer;
use crate::secret::{Secret, redact, redact_excerpt};

/// The command literal, for [`ADC_LOGIN_WITH_ALLOYDB_SCOPE`] and [`ADC_LOGIN_ADVICE`].
macro_rules! adc_login {
    () => {
        "gcloud auth application-default login --scopes=https://www.googleapis.com/auth/alloydb.login,https://www.googleapis.com/auth/cloud-platform,https://www.googleapis.com/auth/userinfo.email,openid"
    };
}

/// The one-time command that gives a user's ADC login the AlloyDB scope: the one gcloud
/// login every message advises. gcloud refuses `--scopes` without cloud-platform, and the
/// e-mail scopes let tokeninfo name the user, whose database user is derived from it.
pub const ADC_LOGIN_WITH_ALLOYDB_SCOPE: &str = adc_login!();

/// The text of [`IF_APP_BLOCKED`], for [`ADC_LOGIN_ADVICE`] too.
macro_rules! if_app_blocked {
    () => {
        "if Google answers \"This app is blocked\" for that scope, run plain `gcloud auth application-default login` and set scopes = [\"https://www.googleapis.com/auth/cloud-platform\"] on the service instead, which writes a broad token: one that can act on every Google Cloud API the user may use, not only log in"
    };
}

/// What to do when Google's consent screen answers "This app is blocked" for the AlloyDB
/// scope (an organisation's policy can block gcloud from asking for it): log in without
/// it and accept a broad token.
pub const IF_APP_BLOCKED: &str = if_app_blocked!();

/// The advice of every error that sends the user to a gcloud login: the command, and
/// what to do when it is blocked.
/// No "; " inside: messages end in "…; ADVICE", and readers split the remedy off there.
pub const ADC_LOGIN_ADVICE: &str = concat!("run `", adc_login!(), "` (", if_app_blocked!(), ")");

/// An OAuth2 or Google API error answer.
#[derive(Debug, Clone)]
pub(crate) struct OAuthError {
    pub status: u16,
    pub code: String,
    pub description: String,
}

/// `{"access_token", "expires_in", "scope"}`: the answer of the OAuth2 token endpoint, STS
/// and the metadata server.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(deserialize_with = "seconds")]
    expires_in: i64,
    #[serde(default)]
    scope: Option<String>,
}

/// A token an endpoint granted. Not yet a [`crate::MintedToken`]: the source adds what it
/// knows and [`crate::MintedToken::new`] checks the whole.
pub(crate) struct Granted {
    pub secret: Secret,
    pub expires_at: Timestamp,
    /// The scopes the endpoint says it granted, if it says.
    pub scopes: Option<Vec<String>>,
}

/// Reads a token answer: the token and its expiry, or the endpoint's refusal.
pub(crate) fn token_answer(
    answer: &Answer,
    what: &str,
    now: Timestamp,
) -> Result<std::result::Result<Granted, OAuthError>> {
    if answer.status != 200 {
        return Ok(Err(oauth_error(answer, what)?));
    }
    let response: TokenResponse = answer.parse(what)?;
    let expires_at = now
        .checked_add(SignedDuration::from_secs(response.expires_in))
        .map_err(|_| Error::Source(format!("{what} answered an out-of-range expires_in")))?;
    Ok(Ok(Granted {
        secret: Secret::new(response.access_token),
        expires_at,
        scopes: response
            .scope
            .map(|s| s.split_whitespace().map(str::to_string).collect()),
    }))
}

/// Google's two error shapes: OAuth2's flat `{"error": "…", "error_description": "…"}`
/// and the APIs' `{"error": {"code", "message", "status"}}`.
#[derive(Deserialize)]
struct ErrorResponse {
    error: ErrorField,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorField {
    Code(String),
    Api {
        #[serde(default)]
        status: Option<String>,
        #[serde(default)]
        message: Option<String>,
    },
}

/// Reads an error answer; a body in neither shape is reported with its status alone.
pub(crate) fn oauth_error(answer: &Answer, what: &str) -> Result<OAuthError> {
    let parsed: ErrorResponse = match serde_json::from_str(&answer.body) {
        Ok(parsed) => parsed,
        Err(_) if !answer.body.trim_start().starts_with('{') => {
            return Err(Error::Source(format!(
                "{what} answered HTTP {} with a body that is not JSON",
                answer.status
            )));
        }
        Err(_) => {
            return Ok(OAuthError {
                status: answer.status,
                code: String::new(),
                description: String::new(),
            });
        }
    };
    let (code, description) = match parsed.error {
        ErrorField::Code(code) => (code, parsed.error_description.unwrap_or_default()),
        ErrorField::Api { status, message } => {
            (status.unwrap_or_default(), message.unwrap_or_default())
        }
    };
    Ok(OAuthError {
        status: answer.status,
        code: redact(&code, &[]),
        description: redact_excerpt(&description, &[], 1000, false),
    })
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

/// A number of seconds, which Google writes as a JSON number or as a string of digits.
pub(crate) fn seconds<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Seconds {
        Number(i64),
        Text(String),
    }
    match Seconds::deserialize(d)? {
        Seconds::Number(n) => Ok(n),
        Seconds::Text(text) => text
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom("not a number of seconds")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advice_is_the_command_then_the_way_around_a_block() {
        assert_eq!(
            ADC_LOGIN_ADVICE,
            format!("run `{ADC_LOGIN_WITH_ALLOYDB_SCOPE}` ({IF_APP_BLOCKED})")
        );
        assert!(!ADC_LOGIN_ADVICE.contains("; "));
        assert!(ADC_LOGIN_WITH_ALLOYDB_SCOPE.contains(
            "--scopes=https://www.googleapis.com/auth/alloydb.login,https://www.googleapis.com/auth/cloud-platform"
        ));
        assert!(IF_APP_BLOCKED.contains("This app is blocked") && IF_APP_BLOCKED.contains("broad"));
    }

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            body: body.to_string(),
        }
    }

    #[test]
    fn token_answers_in_both_number_spellings() {
        let now = Timestamp::UNIX_EPOCH;
        for body in [
            r#"{"access_token":"ya29.a","expires_in":3599}"#,
            r#"{"access_token":"ya29.a","expires_in":"3599","token_type":"Bearer"}"#,
        ] {
            let got = token_answer(&answer(200, body), "t", now);
            match got {
                Ok(Ok(granted)) => {
                    assert_eq!(granted.secret.expose(), "ya29.a");
                    assert_eq!(granted.expires_at.as_second(), 3599);
                }
                _ => panic!("not accepted: {body}"),
            }
        }
        let missing = token_answer(&answer(200, r#"{"access_token":"ya29.a"}"#), "t", now);
        assert!(missing.is_err_and(|e| e.to_string().contains("missing field `expires_in`")));
    }

    #[test]
    fn both_error_shapes() {
        let flat = oauth_error(
            &answer(
                400,
                r#"{"error":"invalid_grant","error_description":"Bad."}"#,
            ),
            "t",
        );
        assert_eq!(
            flat.map(|e| e.summary()).ok().as_deref(),
            Some("HTTP 400 invalid_grant: Bad.")
        );
        let api = oauth_error(
            &answer(
                403,
                r#"{"error":{"code":403,"message":"Denied.","status":"PERMISSION_DENIED"}}"#,
            ),
            "t",
        );
        assert_eq!(
            api.map(|e| e.summary()).ok().as_deref(),
            Some("HTTP 403 PERMISSION_DENIED: Denied.")
        );
        assert!(oauth_error(&answer(502, "<html>"), "t").is_err());
        assert_eq!(
            oauth_error(&answer(400, r#"{"other":1}"#), "t")
                .map(|e| e.summary())
                .ok()
                .as_deref(),
            Some("HTTP 400")
        );
    }
}
