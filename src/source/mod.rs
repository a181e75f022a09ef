//! Token sources: everything that can mint an access token.
//!
//! The seam is [`TokenSource`]: whatever the origin (a command, Google's metadata server,
//! a key, gcloud), a source yields the token, its **real** expiry and, when it can know it,
//! the principal. Expiry is never assumed: a source that cannot say must ask tokeninfo.

mod command;
pub mod tokeninfo;

use jiff::Timestamp;

use crate::config::{CredentialSpec, Endpoints, SourceSpec};
use crate::error::{Error, Result};
use crate::http::Http;
use crate::secret::Secret;

pub use command::CommandSource;

/// A freshly minted access token.
#[derive(Debug, Clone)]
pub struct MintedToken {
    pub secret: Secret,
    pub expires_at: Timestamp,
    /// The e-mail of the principal the token speaks for, when known.
    pub principal: Option<String>,
}

/// Something that can mint access tokens for one credential.
pub trait TokenSource {
    fn mint(&self) -> Result<MintedToken>;
}

/// What sources may need from the outside world: the (lazily built) HTTP client and
/// the endpoint overrides.
pub struct Context<'a> {
    pub http: &'a Http,
    pub endpoints: &'a Endpoints,
}

/// Builds the source for a credential spec.
pub fn build<'a>(spec: &CredentialSpec, ctx: &'a Context<'a>) -> Result<Box<dyn TokenSource + 'a>> {
    if spec.impersonate.is_some() {
        return Err(unsupported("impersonate"));
    }
    match &spec.source {
        SourceSpec::Command { argv, timeout } => {
            Ok(Box::new(CommandSource::new(argv.clone(), *timeout, ctx)))
        }
        other => Err(unsupported(&format!("credentials = {other}"))),
    }
}

fn unsupported(what: &str) -> Error {
    Error::Config(format!(
        "{what} is not supported by this version of alloydb-cred; use credentials = {{ command = [\"PROGRAM\", …] }} (for example a wrapper around `gcloud auth print-access-token`)"
    ))
}

/// Checks that a token can be written as a password: non-empty, no white space or
/// control characters (which would end or corrupt the pgpass line).
pub fn check_token(token: &str, origin: &str) -> Result<()> {
    if token.is_empty() {
        return Err(Error::Source(format!("{origin} returned an empty token")));
    }
    if let Some(c) = token.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::Source(format!(
            "{origin} returned a token containing {c:?}; a token is a single word without white space or control characters"
        )));
    }
    Ok(())
}
