//! One token per distinct credential, shared by every due service that uses it, minted
//! side by side with the other credentials' and turned into each service's password-file
//! entry.

use std::collections::{BTreeMap, BTreeSet};

use google_tokens::{Breadth, Context, CredentialSpec, MintedToken};
use libpq_files::pgpass::ManagedEntry;
use libpq_files::{Password, Role, Tag};

use super::instances::Target;
use super::plan::credential_tag;
use crate::config::{Service, UserSpec};
use crate::error::{Error, Result};

/// A service's new entry, and how broad its token is.
pub struct Minted {
    pub entry: ManagedEntry,
    pub breadth: Breadth,
}

/// Mints for every due service (with where it connects), asking each credential once,
/// different credentials side by side. Returns each service's new entry, or why it has
/// none, in the order of `due`.
pub fn once_per_credential<'s>(
    due: &[(&'s Service, Target)],
    ctx: &Context<'_>,
    owner: &Tag,
) -> Vec<(&'s Service, Result<Minted>)> {
    let credentials: BTreeSet<&CredentialSpec> = due
        .iter()
        .map(|(service, _)| &*service.credential)
        .collect();
    let credentials: Vec<&CredentialSpec> = credentials.into_iter().collect();
    let minted = super::parallel::map(&credentials, |spec| {
        google_tokens::build(spec, ctx).and_then(|source| source.mint())
    });
    let tokens: BTreeMap<&CredentialSpec, google_tokens::Result<MintedToken>> =
        credentials.into_iter().zip(minted).collect();
    due.iter()
        .map(|&(service, ref target)| {
            let entry = match tokens.get(&*service.credential) {
                Some(Ok(token)) => entry_for(service, target, token, owner).map(|entry| Minted {
                    entry,
                    breadth: token.breadth(),
                }),
                Some(Err(e)) => Err(Error::from(e.clone()).for_service(service.name.as_str())),
                None => Err(Error::Runtime(format!(
                    "service {}: its credential was not minted",
                    service.name
                ))),
            };
            (service, entry)
        })
        .collect()
}

/// The entry for `service` from a fresh token: works out the user and checks it against
/// the principal, so we never write an entry AlloyDB is bound to refuse.
fn entry_for(
    service: &Service,
    target: &Target,
    token: &MintedToken,
    owner: &Tag,
) -> Result<ManagedEntry> {
    let derived = token
        .principal()
        .map(google_tokens::database_user)
        .transpose()
        .map_err(|e| Error::from(e).for_service(service.name.as_str()))?;
    let user = match (&service.user, derived) {
        (UserSpec::Named(user), Some(derived)) if user.as_str() != derived => {
            return Err(Error::Config(format!(
                "service {}: the token's principal {} logs in as {derived:?}, but the service sets user = {:?}; AlloyDB would refuse it (\"IAM principal does not match database user.\"): set user = \"auto\" or use that user's credentials",
                service.name,
                token.principal().map(|p| p.as_str()).unwrap_or_default(),
                user.as_str()
            )));
        }
        (UserSpec::Named(user), _) => user.clone(),
        (UserSpec::Auto, Some(derived)) => Role::new(&derived).map_err(|e| {
            Error::Runtime(format!(
                "service {}: the database user derived from the token's principal cannot be written: {e}",
                service.name
            ))
        })?,
        (UserSpec::Auto, None) if token.is_federated() => {
            return Err(Error::Config(format!(
                "service {}: user = \"auto\", but the credential is workload identity federation without service-account impersonation: a federated identity has no e-mail, so it cannot log in as a database user mapped from its principal; impersonate a service account (create the credential file with `gcloud iam workload-identity-pools create-cred-config --service-account=…`, or set `impersonate`), or set user = \"…\" in the service",
                service.name
            )));
        }
        (UserSpec::Auto, None) => {
            return Err(Error::Config(format!(
                "service {}: user = \"auto\" but the credential does not say which principal the token belongs to; set user = \"…\" in the service (or have the token command print \"principal\")",
                service.name
            )));
        }
    };
    let password = Password::new(token.secret().expose()).map_err(|e| {
        Error::Runtime(format!(
            "service {}: the token cannot be written into the password file: {e}",
            service.name
        ))
    })?;
    Ok(ManagedEntry {
        service: service.name.clone(),
        expires_at: token.expires_at(),
        host: target.host.clone(),
        port: target.port,
        user,
        password,
        credential: credential_tag(&service.credential),
        owner: Some(*owner),
    })
}
