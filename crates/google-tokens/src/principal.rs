//! From a Google principal to the PostgreSQL role it logs in as: an IAM user logs in as
//! its e-mail address, a service account as its e-mail without `.gserviceaccount.com`.

use crate::error::{Error, Result};

const SERVICE_ACCOUNT_SUFFIX: &str = ".gserviceaccount.com";
/// PostgreSQL's NAMEDATALEN - 1: longer role names are silently truncated by the server,
/// and a truncated name never matches the IAM principal.
pub const MAX_ROLE_BYTES: usize = 63;

/// An IAM user logs in as their full e-mail address; a service account logs in as its
/// e-mail without the `.gserviceaccount.com` suffix.
pub fn database_user(principal: &str) -> Result<String> {
    let user = principal
        .strip_suffix(SERVICE_ACCOUNT_SUFFIX)
        .unwrap_or(principal);
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

    #[test]
    fn user_account_keeps_full_address() {
        assert_eq!(
            database_user("kai@altostrat.com").ok().as_deref(),
            Some("kai@altostrat.com")
        );
    }

    #[test]
    fn service_account_drops_suffix() {
        assert_eq!(
            database_user("my-service@my-project.iam.gserviceaccount.com")
                .ok()
                .as_deref(),
            Some("my-service@my-project.iam")
        );
    }

    #[test]
    fn too_long_is_an_error_that_says_why() {
        let principal = format!("{}@p.iam.gserviceaccount.com", "a".repeat(60));
        let err = database_user(&principal).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("truncates")));
    }
}
