//! The seam every source sits behind: whatever the origin (a command, Google's metadata
//! server, a key, gcloud), a source yields the token, its **real** expiry and, when it can
//! know it, the principal. Expiry is never assumed: a source that cannot say asks tokeninfo.

use jiff::Timestamp;

use crate::endpoints::Endpoints;
use crate::error::Result;
use crate::http::{DEFAULT_TIMEOUT, Http};
use crate::secret::Secret;

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
}
