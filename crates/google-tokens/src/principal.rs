//! Google principals and the database users they log in as.
//!
//! A principal's e-mail reaches the password and service files as the database user, and
//! it comes from places this crate does not control (tokeninfo, the metadata server,
//! gcloud, a token command). So it is a type that can only be built by checking that the
//! text looks like a Google account's e-mail address.

use std::fmt;

use crate::error::{Error, Result};

const SERVICE_ACCOUNT_SUFFIX: &str = ".gserviceaccount.com";
/// PostgreSQL's NAMEDATALEN - 1: longer role names are silently truncated by the server,
/// and a truncated name never matches the IAM principal.
pub(crate) const MAX_ROLE_BYTES: usize = 63;
/// The longest e-mail address (RFC 5321's path limit).
const MAX_EMAIL_BYTES: usize = 254;

/// The e-mail address of a Google user or service account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal(String);

impl Principal {
    /// Checks `text`; `origin` names who said it, for the error. The error never quotes
    /// the text: a hostile answer may carry anything.
    pub fn parse(text: &str, origin: &str) -> Result<Principal> {
        Principal::new(text).map_err(|why| {
            Error::Source(format!(
                "{origin} named a principal that is not a Google account's e-mail address ({why}); nothing was written"
            ))
        })
    }

    /// Checks `text`, saying why it is refused (without quoting it).
    pub fn new(text: &str) -> std::result::Result<Principal, &'static str> {
        match why_not_an_email(text) {
            None => Ok(Principal(text.to_string())),
            Some(why) => Err(why),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a service account (its database user drops the domain suffix).
    pub fn is_service_account(&self) -> bool {
        self.0.ends_with(SERVICE_ACCOUNT_SUFFIX)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What makes `text` unlike an e-mail address Google issues, if anything: ASCII only,
/// one `@`, a local part of letters, digits and `._%+-`, a domain of at least two labels
/// of letters, digits and `-`.
fn why_not_an_email(text: &str) -> Option<&'static str> {
    if text.is_empty() || text.len() > MAX_EMAIL_BYTES {
        return Some("empty or too long");
    }
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Some("it contains white space or a control character");
    }
    let Some((local, domain)) = text.split_once('@') else {
        return Some("no `@`");
    };
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b));
    if !local_ok {
        return Some("unexpected characters before the `@`");
    }
    if !crate::untrusted::is_domain_name(domain) {
        return Some("not a domain after the `@`");
    }
    None
}

/// The database user a principal logs in as: an IAM user logs in as their full e-mail
/// address, a service account as its e-mail without the `.gserviceaccount.com` suffix.
pub fn database_user(principal: &Principal) -> Result<String> {
    let user = principal
        .0
        .strip_suffix(SERVICE_ACCOUNT_SUFFIX)
        .unwrap_or(&principal.0);
    if user.len() > MAX_ROLE_BYTES {
        return Err(Error::Config(format!(
            "the database user for principal {principal} would be {user:?} ({} bytes), but PostgreSQL truncates role names to {MAX_ROLE_BYTES} bytes, so the login would fail; use a principal with a shorter e-mail address",
            user.len()
        )));
    }
    Ok(user.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(text: &str) -> Principal {
        Principal::parse(text, "test").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn user_account_keeps_full_address() {
        assert_eq!(
            database_user(&principal("kai@altostrat.com"))
                .ok()
                .as_deref(),
            Some("kai@altostrat.com")
        );
    }

    #[test]
    fn service_account_drops_suffix() {
        assert_eq!(
            database_user(&principal("my-service@my-project.iam.gserviceaccount.com"))
                .ok()
                .as_deref(),
            Some("my-service@my-project.iam")
        );
    }

    #[test]
    fn too_long_is_an_error_that_says_why() {
        let p = principal(&format!("{}@p.iam.gserviceaccount.com", "a".repeat(60)));
        let err = database_user(&p).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("truncates")));
    }

    #[test]
    fn hostile_principals_are_refused_without_quoting_them() {
        for hostile in [
            "kai@altostrat.com\n[evil]\nhost=attacker.example",
            "kai@altostrat.com host=attacker.example",
            "attacker.example",
            "a@b",
            "a@-b.com",
            "ke:i@altostrat.com",
            "kai@alto\\strat.com",
            "kai@altostrat.com\r",
            "\u{202e}kai@altostrat.com",
        ] {
            let err = Principal::parse(hostile, "tokeninfo at https://x")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                err.starts_with("tokeninfo at https://x named"),
                "{hostile:?}: {err}"
            );
            assert!(!err.contains("attacker") && !err.contains("kai"), "{err}");
        }
        assert!(Principal::parse("robot+x_1@proj-1.iam.gserviceaccount.com", "t").is_ok());
    }
}
