//! The seam every source sits behind: whatever the origin (a command, Google's metadata
//! server, a key, gcloud), a source yields the token, its **real** expiry and, when it can
//! know it, the principal. Expiry is never assumed: a source that cannot say asks tokeninfo.

mod adc;
mod command;
mod external;
mod gcloud;
mod impersonate;
mod metadata;
mod service_account;
mod user;

use jiff::Timestamp;

use crate::CLOUD_PLATFORM_SCOPE;
use crate::credential::{CredentialSpec, SourceSpec};
use crate::endpoints::Endpoints;
use crate::error::{Error, Result};
use crate::http::{DEFAULT_TIMEOUT, Http};
use crate::secret::Secret;

use command::CommandSource;
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

/// Remembers, across runs, which principal a credential belongs to, for sources that
/// could otherwise only learn it by asking tokeninfo on every mint (user logins). Keys
/// are digests that reveal nothing of the credential. The caller decides where this is
/// kept and when it is written; sources only read and add.
pub trait PrincipalMemory {
    fn recall(&self, key: &str) -> Option<String>;
    fn remember(&self, key: &str, principal: &str);
}

/// What sources need from the outside world: the HTTP client (built on the first request
/// only), the endpoints, and the principal memory.
pub struct Context<'a> {
    pub(crate) http: Http,
    pub(crate) endpoints: &'a Endpoints,
    pub(crate) principals: &'a dyn PrincipalMemory,
}

impl<'a> Context<'a> {
    /// Nothing is built here: a run that mints nothing pays for no HTTP or TLS set-up.
    pub fn new(endpoints: &'a Endpoints, principals: &'a dyn PrincipalMemory) -> Self {
        Context {
            http: Http::with_timeout(endpoints.timeout.unwrap_or(DEFAULT_TIMEOUT)),
            endpoints,
            principals,
        }
    }
}

/// Builds the source for a credential spec: the base source, with impersonation on top
/// when the spec asks for it (the base then mints a cloud-platform token, which the IAM
/// Credentials API requires). gcloud impersonates by itself.
pub fn build<'a>(spec: &CredentialSpec, ctx: &'a Context<'a>) -> Result<Box<dyn TokenSource + 'a>> {
    let base_scopes = match spec.impersonate {
        Some(_) => vec![CLOUD_PLATFORM_SCOPE.to_string()],
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
        let why = json_problem(&e, "it is not JSON");
        Error::Config(format!("{origin} is not a usable {kind} ({why}); {fix}"))
    })
}

/// What is wrong with a JSON document, in words that never quote a value from it (serde's
/// own messages do: "invalid type: string \"ya29…\""). `not_json` describes a syntax error.
pub(crate) fn json_problem(err: &serde_json::Error, not_json: &str) -> String {
    use serde_json::error::Category;
    match err.classify() {
        Category::Data => {
            let message = err.to_string();
            match message.strip_prefix("missing field ") {
                Some(rest) => format!(
                    "missing field {}",
                    rest.split(' ').next().unwrap_or_default()
                ),
                None => "a field has the wrong type or value".to_string(),
            }
        }
        Category::Io | Category::Syntax | Category::Eof => not_json.to_string(),
    }
}

/// Checks that a token can be written as a password: non-empty, no white space or
/// control characters (which would end or corrupt the password-file line).
pub(crate) fn check_token(token: &str, origin: &str) -> Result<()> {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A principal memory that remembers nothing, for unit tests.
    pub(crate) struct NoMemory;

    impl PrincipalMemory for NoMemory {
        fn recall(&self, _: &str) -> Option<String> {
            None
        }
        fn remember(&self, _: &str, _: &str) {}
    }

    #[test]
    fn json_problems_never_quote_values() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct T {
            a: u32,
            b: String,
        }
        let wrong = serde_json::from_str::<T>(r#"{"a": "ya29.SECRET", "b": "x"}"#);
        let missing = serde_json::from_str::<T>(r#"{"a": 1}"#);
        let broken = serde_json::from_str::<T>(r#"{"a": "ya29.SECRET"#);
        let text: Vec<String> = [wrong, missing, broken]
            .iter()
            .map(|r| match r {
                Ok(v) => panic!("parsed: {v:?}"),
                Err(e) => json_problem(e, "not JSON"),
            })
            .collect();
        assert_eq!(
            text,
            [
                "a field has the wrong type or value",
                "missing field `b`",
                "not JSON"
            ]
        );
    }
}
