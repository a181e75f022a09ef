//! Google's tokeninfo endpoint: the one authority on a token's expiry and principal when
//! the source itself did not say.

use jiff::{SignedDuration, Timestamp};

use crate::config::Endpoints;
use crate::error::{Error, Result};
use crate::http::Http;
use crate::secret::Secret;

pub const DEFAULT_URL: &str = "https://oauth2.googleapis.com/tokeninfo";

/// What tokeninfo tells about a token.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub expires_at: Timestamp,
    pub email: Option<String>,
    pub scopes: Vec<String>,
}

/// Asks tokeninfo about `token`. The token goes in the POST body, never in the URL,
/// so no proxy or server access log records it.
pub fn lookup(http: &Http, endpoints: &Endpoints, token: &Secret) -> Result<TokenInfo> {
    let url = endpoints
        .tokeninfo
        .as_ref()
        .map_or(DEFAULT_URL, |u| u.0.as_str());
    let answer = http.post_form("tokeninfo", url, &[("access_token", token.expose())])?;
    if answer.status != 200 {
        return Err(Error::Source(format!(
            "tokeninfo at {url} rejected the token (HTTP {}): it is expired, revoked or not a Google access token",
            answer.status
        )));
    }
    parse(&answer.body, Timestamp::now())
        .map_err(|why| Error::Source(format!("tokeninfo at {url} gave an unusable answer: {why}")))
}

/// Parses a tokeninfo answer. Google sends numbers as strings here (`"expires_in": "3599"`);
/// both spellings are accepted.
pub fn parse(body: &str, now: Timestamp) -> std::result::Result<TokenInfo, String> {
    let value: serde_json::Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let number = |key: &str| -> Option<i64> {
        match value.get(key)? {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
    };
    let expires_at = if let Some(secs) = number("expires_in") {
        now.checked_add(SignedDuration::from_secs(secs))
            .map_err(|e| e.to_string())?
    } else if let Some(exp) = number("exp") {
        Timestamp::from_second(exp).map_err(|e| e.to_string())?
    } else {
        return Err("it has neither expires_in nor exp".into());
    };
    let email = value
        .get("email")
        .and_then(|v| v.as_str())
        .filter(|e| !e.is_empty())
        .map(str::to_string);
    let scopes = value
        .get("scope")
        .and_then(|v| v.as_str())
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    Ok(TokenInfo {
        expires_at,
        email,
        scopes,
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
        );
        let info = info.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(info.expires_at.as_second(), 1_003_599);
        assert_eq!(info.email.as_deref(), Some("kai@altostrat.com"));
        assert_eq!(info.scopes, vec!["a", "b"]);
    }

    #[test]
    fn falls_back_to_exp_and_rejects_neither() {
        let now = Timestamp::UNIX_EPOCH;
        let info = parse(r#"{"exp": 42}"#, now).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(info.expires_at.as_second(), 42);
        assert!(info.email.is_none());
        assert!(parse(r#"{"scope":"a"}"#, now).is_err());
    }
}
