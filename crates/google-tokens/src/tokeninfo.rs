//! Google's tokeninfo endpoint: the one authority on a token's expiry and principal when
//! the source itself did not say.

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use crate::endpoints::{Api, Universe};
use crate::error::{Error, Result};
use crate::oauth::seconds;
use crate::principal::Principal;
use crate::secret::Secret;
use crate::token::Context;
use crate::untrusted::json_problem;

/// What tokeninfo tells about a token.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub expires_at: Timestamp,
    /// The e-mail tokeninfo names (checked), when the token has the e-mail scope.
    pub email: Option<Principal>,
    pub scopes: Vec<String>,
}

/// tokeninfo's answer. Google sends numbers as strings here (`"expires_in": "3599"`);
/// both spellings are accepted.
#[derive(Deserialize)]
struct Answer {
    #[serde(default, deserialize_with = "optional_seconds")]
    expires_in: Option<i64>,
    #[serde(default, deserialize_with = "optional_seconds")]
    exp: Option<i64>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

fn optional_seconds<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<i64>, D::Error> {
    seconds(d).map(Some)
}

/// Why tokeninfo told nothing about a token. Only [`TokenInfoError::Rejected`] says
/// something about the token itself; callers that judge a token (doctor) must not read
/// an unreachable or overloaded tokeninfo as a revoked token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenInfoError {
    /// tokeninfo answered that the token is invalid (HTTP 400 or 401): expired, revoked
    /// or not a Google access token. Asking again gives the same answer.
    #[error("{0}")]
    Rejected(String),
    /// tokeninfo could not be asked, or gave no usable answer (a transport failure,
    /// HTTP 429, 5xx or another status, an answer that is not tokeninfo's): nothing is
    /// known about the token.
    #[error(transparent)]
    Unanswered(#[from] Error),
}

/// The token sources only need to fail: for them both kinds are a failed mint.
impl From<TokenInfoError> for Error {
    fn from(e: TokenInfoError) -> Error {
        match e {
            TokenInfoError::Rejected(message) => Error::Source(message),
            TokenInfoError::Unanswered(e) => e,
        }
    }
}

/// Asks tokeninfo about `token`. The token goes in the POST body, never in the URL,
/// so no proxy or server access log records it.
pub fn lookup(
    ctx: &Context<'_>,
    token: &Secret,
    universe: &Universe,
) -> Result<TokenInfo, TokenInfoError> {
    let url = ctx.endpoints.url(Api::TokenInfo, None, universe);
    let answer = ctx
        .http
        .post_form("tokeninfo", &url, &[("access_token", token.expose())])?;
    if let Some(refusal) = refusal(answer.status, &url) {
        return Err(refusal);
    }
    Ok(parse(
        &answer.body,
        crate::clock::now(),
        &format!("tokeninfo at {url}"),
    )?)
}

/// What a status other than 200 means. Google answers 400 (`invalid_token`) for a token
/// it does not know or no longer honours, and 401 means the same; any other status (429,
/// a 5xx the HTTP client gave up retrying, a 404 from a misconfigured endpoint) says
/// only that tokeninfo could not be asked.
fn refusal(status: u16, url: &str) -> Option<TokenInfoError> {
    match status {
        200 => None,
        400 | 401 => Some(TokenInfoError::Rejected(format!(
            "tokeninfo at {url} rejected the token (HTTP {status}): it is expired, revoked or not a Google access token"
        ))),
        _ => Some(TokenInfoError::Unanswered(Error::Source(format!(
            "tokeninfo at {url} answered HTTP {status}, which says nothing about the token; try again later"
        )))),
    }
}

/// Parses a tokeninfo answer; `origin` names the endpoint in errors.
pub(crate) fn parse(body: &str, now: Timestamp, origin: &str) -> Result<TokenInfo> {
    let unusable = |why: &str| Error::Source(format!("{origin} gave an unusable answer: {why}"));
    let answer: Answer =
        serde_json::from_str(body).map_err(|e| unusable(&json_problem(&e, "it is not JSON")))?;
    let expires_at = match (answer.expires_in, answer.exp) {
        (Some(secs), _) => now
            .checked_add(SignedDuration::from_secs(secs))
            .map_err(|_| unusable("an out-of-range expires_in"))?,
        (None, Some(exp)) => {
            Timestamp::from_second(exp).map_err(|_| unusable("an out-of-range exp"))?
        }
        (None, None) => return Err(unusable("it has neither expires_in nor exp")),
    };
    let email = match answer.email.filter(|e| !e.is_empty()) {
        Some(email) => Some(Principal::parse(&email, origin)?),
        None => None,
    };
    Ok(TokenInfo {
        expires_at,
        email,
        scopes: answer
            .scope
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_google_string_numbers() {
        let now = Timestamp::from_second(1_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let info = parse(
            r#"{"azp":"x","scope":"a b","exp":"1003599","expires_in":"3599","email":"kai@altostrat.com"}"#,
            now,
            "tokeninfo",
        );
        let info = info.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(info.expires_at.as_second(), 1_003_599);
        assert_eq!(
            info.email.map(|e| e.to_string()).as_deref(),
            Some("kai@altostrat.com")
        );
        assert_eq!(info.scopes, vec!["a", "b"]);
    }

    #[test]
    fn only_400_and_401_reject_the_token() {
        let url = "https://tokeninfo.example";
        assert_eq!(refusal(200, url), None);
        for status in [400, 401] {
            assert!(
                matches!(refusal(status, url), Some(TokenInfoError::Rejected(_))),
                "{status}"
            );
        }
        for status in [403, 404, 429, 500, 503] {
            let unanswered = refusal(status, url);
            assert!(
                matches!(unanswered, Some(TokenInfoError::Unanswered(_))),
                "{status}"
            );
            let text = unanswered.map(|e| e.to_string()).unwrap_or_default();
            assert!(!text.contains("rejected"), "{status}: {text}");
        }
        // The token sources see either as a failed mint, with the same message.
        let rejected = refusal(401, url).map(Error::from);
        assert!(matches!(rejected, Some(Error::Source(m)) if m.contains("HTTP 401")));
    }

    #[test]
    fn falls_back_to_exp_and_rejects_neither() {
        let now = Timestamp::UNIX_EPOCH;
        let info = parse(r#"{"exp": 42}"#, now, "t").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(info.expires_at.as_second(), 42);
        assert!(info.email.is_none());
        assert!(parse(r#"{"scope":"a"}"#, now, "t").is_err());
        let hostile =
            r#"{"expires_in":"3599","email":"kai@altostrat.com\n[evil]\nhost=attacker.example"}"#;
        let err = parse(hostile, now, "tokeninfo at https://x")
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("not a Google account") && !e.contains("attacker")));
    }
}
