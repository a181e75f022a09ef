//! The `command` source: any program that prints a token. It is the escape hatch for
//! custom token brokers and the seam the tests drive.
//!
//! Output is either a bare token, or JSON
//! `{"access_token": "…", "expires_in": N | "expiry": "RFC 3339", "principal": "e-mail"}`.
//! What the program does not say (expiry, principal) is asked of tokeninfo.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use serde::Deserialize;

use crate::endpoints::Universe;
use crate::error::{Error, Result};
use crate::principal::Principal;
use crate::secret::Secret;
use crate::token::{Context, MintedToken, TokenSource};
use crate::untrusted::{check_token, json_problem};
use crate::{process, tokeninfo};

pub struct CommandSource<'a> {
    argv: Vec<String>,
    timeout: Duration,
    ctx: &'a Context<'a>,
}

/// What the program printed, before tokeninfo filled the gaps.
#[derive(Debug)]
struct Printed {
    secret: Secret,
    expires_at: Option<Timestamp>,
    principal: Option<Principal>,
    scopes: Option<Vec<String>>,
}

impl<'a> CommandSource<'a> {
    pub fn new(argv: Vec<String>, timeout: Duration, ctx: &'a Context<'a>) -> Self {
        CommandSource { argv, timeout, ctx }
    }

    fn program(&self) -> &str {
        self.argv.first().map_or("", String::as_str)
    }
}

impl TokenSource for CommandSource<'_> {
    fn mint(&self) -> Result<MintedToken> {
        let stdout = process::run(
            &self.argv,
            self.timeout,
            "token command",
            "`credentials = { command = … }`",
        )?;
        let origin = format!("token command {:?}", self.program());
        let printed = parse_output(&stdout, crate::clock::now(), &origin)?;
        let (expires_at, principal, scopes) = match printed.expires_at {
            Some(expiry) => (expiry, printed.principal, printed.scopes),
            None => {
                log::debug!("{origin} gave no expiry; asking tokeninfo");
                let info = tokeninfo::lookup(self.ctx, &printed.secret, &Universe::DEFAULT)?;
                (
                    info.expires_at,
                    printed.principal.or(info.email),
                    Some(info.scopes),
                )
            }
        };
        Ok(MintedToken::new(printed.secret, expires_at, &origin)?
            .with_principal(principal)
            .with_scopes(scopes))
    }
}

/// Parses the program's stdout: JSON when it starts with `{`, else one bare token.
fn parse_output(stdout: &[u8], now: Timestamp, origin: &str) -> Result<Printed> {
    let text = std::str::from_utf8(stdout)
        .map_err(|_| Error::Source(format!("{origin} printed bytes that are not UTF-8")))?
        .trim();
    if !text.starts_with('{') {
        check_token(text, origin)?;
        return Ok(Printed {
            secret: Secret::new(text),
            expires_at: None,
            principal: None,
            scopes: None,
        });
    }
    // Errors below never quote the JSON: it holds the token.
    let printed: PrintedJson = serde_json::from_str(text).map_err(|err| {
        Error::Source(match err.classify() {
            serde_json::error::Category::Data => format!(
                "{origin} printed JSON that is not a token answer ({})",
                json_problem(&err, "")
            ),
            _ => format!(
                "{origin} printed invalid JSON (line {}, column {})",
                err.line(),
                err.column()
            ),
        })
    })?;
    check_token(&printed.access_token, origin)?;
    let expires_at = match (printed.expires_in, printed.expiry) {
        (Some(secs), _) => {
            let secs = match secs {
                Number::Seconds(s) => Some(s),
                Number::Text(text) => text.trim().parse().ok(),
            }
            .filter(|s: &f64| s.is_finite())
            .ok_or_else(|| {
                Error::Source(format!(
                    "{origin} printed an \"expires_in\" that is not a number"
                ))
            })?;
            let secs = SignedDuration::try_from_secs_f64(secs).map_err(|_| {
                Error::Source(format!("{origin} printed an out-of-range \"expires_in\""))
            })?;
            Some(now.checked_add(secs).map_err(|_| {
                Error::Source(format!("{origin} printed an out-of-range \"expires_in\""))
            })?)
        }
        (None, Some(text)) => Some(text.parse::<Timestamp>().map_err(|_| {
            Error::Source(format!(
                "{origin} printed \"expiry\": {text:?}, which is not an RFC 3339 time such as \"2026-11-29T01:02:03Z\""
            ))
        })?),
        (None, None) => None,
    };
    let principal = match printed.principal {
        None => None,
        Some(p) => Some(Principal::parse(&p, origin)?),
    };
    Ok(Printed {
        secret: Secret::new(printed.access_token),
        expires_at,
        principal,
        scopes: printed
            .scope
            .map(|s| s.split_whitespace().map(str::to_string).collect()),
    })
}

/// The JSON a token command may print.
#[derive(Deserialize)]
struct PrintedJson {
    access_token: String,
    #[serde(default)]
    expires_in: Option<Number>,
    #[serde(default)]
    expiry: Option<String>,
    #[serde(default)]
    principal: Option<String>,
    /// The token's scopes, space-separated as OAuth2 writes them (optional).
    #[serde(default)]
    scope: Option<String>,
}

/// `expires_in` as a number or a string of digits (programs differ).
#[derive(Deserialize)]
#[serde(untagged)]
enum Number {
    Seconds(f64),
    Text(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn ok(out: &str) -> Printed {
        parse_output(out.as_bytes(), now(), "test").unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(out: &str) -> String {
        match parse_output(out.as_bytes(), now(), "test") {
            Ok(p) => panic!("accepted: {p:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bare_token_with_trailing_newline_and_padding() {
        let p = ok("ya29.abc-def_123....\n");
        assert_eq!(p.secret.expose(), "ya29.abc-def_123....");
        assert!(p.expires_at.is_none() && p.principal.is_none());
    }

    #[test]
    fn json_with_expires_in_and_principal() {
        let p = ok(
            r#"{"access_token":"tok","expires_in":3599,"principal":"a@b.iam.gserviceaccount.com"}"#,
        );
        assert_eq!(p.secret.expose(), "tok");
        assert_eq!(p.expires_at.map(|t| t.as_second()), Some(1_800_003_599));
        assert_eq!(
            p.principal.map(|p| p.to_string()).as_deref(),
            Some("a@b.iam.gserviceaccount.com")
        );
    }

    #[test]
    fn json_with_rfc3339_expiry() {
        let p = ok(r#"{"access_token":"tok","expiry":"2027-01-15T08:00:00+01:00"}"#);
        assert_eq!(
            p.expires_at.map(|t| t.to_string()).as_deref(),
            Some("2027-01-15T07:00:00Z")
        );
    }

    #[test]
    fn rejects_bad_tokens_without_echoing_them() {
        assert!(err("").contains("empty"));
        assert!(err("two words").contains("white space"));
        let e = err(r#"{"access_token":"secret-value","expires_in":"soon"}"#);
        assert!(
            e.contains("not a number") && !e.contains("secret-value"),
            "{e}"
        );
        let e = err(r#"{"access_token":"secret-value", broken"#);
        assert!(
            e.contains("invalid JSON") && !e.contains("secret-value"),
            "{e}"
        );
        assert!(err(r#"{"token":"x"}"#).contains("access_token"));
        assert!(err(r#"{"access_token":"x","expiry":"tomorrow"}"#).contains("RFC 3339"));
        assert!(err(r#"{"access_token":"x","principal":"nobody"}"#).contains("e-mail"));
        let e = err(r#"{"access_token":"x","principal":"a@b.com\n[evil]\nhost=attacker.example"}"#);
        assert!(
            e.contains("not a Google account") && !e.contains("attacker"),
            "{e}"
        );
        let e = err(r#"{"access_token":"x","principal":"ya29.SECRETSECRET@x","expiry":5}"#);
        assert!(!e.contains("SECRETSECRET"), "{e}");
        assert!(err("tok\u{7}en").contains("control") || err("tok\u{7}en").contains("white"));
    }
}
