//! Step two of a refresh: one token per distinct credential, shared by every due service
//! that uses it, turned into each service's password-file entry.

use std::collections::BTreeMap;

use google_tokens::{Context, CredentialSpec, MintedToken};
use libpq_files::Password;
use libpq_files::pgpass::ManagedEntry;

use super::plan::credential_tag;
use crate::config::{Service, UserSpec};
use crate::error::{Error, Result};

/// Mints for every due service, asking each credential once. Returns each service's new
/// entry, or why it has none.
pub fn once_per_credential<'s>(
    due: &[(&'s Service, &'static str)],
    ctx: &Context<'_>,
) -> Vec<(&'s Service, Result<ManagedEntry>)> {
    let mut tokens: BTreeMap<&CredentialSpec, Result<MintedToken, google_tokens::Error>> =
        BTreeMap::new();
    due.iter()
        .map(|&(service, reason)| {
            log::info!("{}: refreshing ({reason})", service.name);
            let minted = tokens.entry(&*service.credential).or_insert_with(|| {
                google_tokens::build(&service.credential, ctx).and_then(|s| s.mint())
            });
            let entry = match minted {
                Ok(token) => entry_for(service, token),
                Err(e) => Err(Error::from(e.clone()).for_service(&service.name)),
            };
            (service, entry)
        })
        .collect()
}

/// The entry for `service` from a fresh token: works out the user and checks it against
/// the principal, so we never write an entry AlloyDB is bound to refuse.
fn entry_for(service: &Service, token: &MintedToken) -> Result<ManagedEntry> {
    let derived = token
        .principal
        .as_deref()
        .map(google_tokens::database_user)
        .transpose()?;
    let user = match (&service.user, derived) {
        (UserSpec::Named(user), Some(derived)) if *user != derived => {
            return Err(Error::Config(format!(
                "service {}: the token's principal {} logs in as {derived:?}, but the service sets user = {user:?}; AlloyDB would refuse it (\"IAM principal does not match database user.\"): set user = \"auto\" or use that user's credentials",
                service.name,
                token.principal.as_deref().unwrap_or_default()
            )));
        }
        (UserSpec::Named(user), _) => user.clone(),
        (UserSpec::Auto, Some(derived)) => derived,
        (UserSpec::Auto, None) => {
            return Err(Error::Config(format!(
                "service {}: user = \"auto\" but the credential does not say which principal the token belongs to; set user = \"…\" in the service (or have the token command print \"principal\")",
                service.name
            )));
        }
    };
    Ok(ManagedEntry {
        service: service.name.clone(),
        expires_at: token.expires_at,
        host: service.host.clone(),
        port: service.port,
        user,
        password: Password::new(token.secret.expose()),
        credential: credential_tag(&service.credential),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::tests::service;
    use google_tokens::Secret;
    use jiff::Timestamp;

    fn token(principal: Option<&str>) -> MintedToken {
        MintedToken {
            secret: Secret::new("t"),
            expires_at: Timestamp::UNIX_EPOCH,
            principal: principal.map(str::to_string),
        }
    }

    #[test]
    fn user_rules() {
        let auto = service(UserSpec::Auto);
        let sa = token(Some("x@p.iam.gserviceaccount.com"));
        assert_eq!(
            entry_for(&auto, &sa).map(|e| e.user).ok().as_deref(),
            Some("x@p.iam")
        );
        assert!(entry_for(&auto, &token(None)).is_err());
        let named = service(UserSpec::Named("bob@example.com".into()));
        assert!(entry_for(&named, &sa).is_err());
        assert_eq!(
            entry_for(&named, &token(None))
                .map(|e| e.user)
                .ok()
                .as_deref(),
            Some("bob@example.com")
        );
    }
}
