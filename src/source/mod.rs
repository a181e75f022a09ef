//! Token sources: everything that can mint an access token.
//!
//! The seam is [`TokenSource`]: whatever the origin (a command, Google's metadata server,
//! a key, gcloud), a source yields the token, its **real** expiry and, when it can know it,
//! the principal. Expiry is never assumed: a source that cannot say must ask tokeninfo.

mod adc;
mod command;
mod external;
mod gcloud;
mod impersonate;
mod metadata;
mod oauth;
mod process;
mod service_account;
pub mod tokeninfo;
mod user;

use jiff::Timestamp;

use crate::config::{CredentialSpec, Endpoints, SourceSpec};
use crate::error::{Error, Result};
use crate::http::Http;
use crate::secret::Secret;

pub use command::CommandSource;
use gcloud::GcloudSource;
use impersonate::Impersonation;
use metadata::MetadataSource;

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

/// Builds the source for a credential spec: the base source, with impersonation on top
/// when the spec asks for it (the base then mints a cloud-platform token, which the IAM
/// Credentials API requires). gcloud impersonates by itself.
pub fn build<'a>(spec: &CredentialSpec, ctx: &'a Context<'a>) -> Result<Box<dyn TokenSource + 'a>> {
    let base_scopes = match spec.impersonate {
        Some(_) => vec![oauth::CLOUD_PLATFORM.to_string()],
        None => spec.scopes.clone(),
    };
    let base: Box<dyn TokenSource + 'a> = match &spec.source {
        SourceSpec::Gcloud => {
            return Ok(Box::new(GcloudSource::new(
                spec.impersonate.clone(),
                spec.delegates.clone(),
                ctx,
            )));
        }
        SourceSpec::Command { argv, timeout } => {
            Box::new(CommandSource::new(argv.clone(), *timeout, ctx))
        }
        SourceSpec::Metadata => Box::new(MetadataSource::new(base_scopes, ctx)),
        SourceSpec::KeyFile(path) => adc::key_file(path, base_scopes, ctx)?,
        SourceSpec::Adc => adc::build(base_scopes, ctx)?,
    };
    Ok(match &spec.impersonate {
        Some(target) => Box::new(Impersonation::new(
            base,
            target.clone(),
            spec.delegates.clone(),
            spec.scopes.clone(),
            None,
            ctx,
        )),
        None => base,
    })
}

/// Reads a credentials file's fields. Errors name a missing field but never quote a
/// value: the file holds secrets.
fn credential_fields<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    origin: &str,
    kind: &str,
    fix: &str,
) -> Result<T> {
    serde_json::from_value(value).map_err(|e| {
        let message = e.to_string();
        let why = match message.strip_prefix("missing field ") {
            Some(rest) => format!(
                "missing field {}",
                rest.split(' ').next().unwrap_or_default()
            ),
            None => "a field has the wrong type".to_string(),
        };
        Error::Config(format!("{origin} is not a usable {kind} ({why}); {fix}"))
    })
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
