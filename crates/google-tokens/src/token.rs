//! The seam every source sits behind: whatever the origin (a command, Google's metadata
//! server, a key, gcloud), a source yields the token, its **real** expiry and, when it can
//! know it, the principal. Expiry is never assumed: a source that cannot say asks tokeninfo.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use jiff::{SignedDuration, Timestamp};

use crate::credential::CredentialSpec;

use crate::endpoints::{Endpoints, Universe};
use crate::error::{Error, Result};
use crate::http::{DEFAULT_TIMEOUT, Http};
use crate::principal::Principal;
use crate::secret::Secret;
use crate::untrusted::check_token;

/// Google's longest access-token lifetime: an issuer claiming more is not to be believed.
pub(crate) const MAX_TOKEN_LIFETIME: SignedDuration = SignedDuration::from_hours(12);

/// A freshly minted access token. It can only be made by `MintedToken::new`, which
/// checks what every source's answer must satisfy, so no source can skip a check.
#[derive(Debug, Clone)]
pub struct MintedToken {
    secret: Secret,
    expires_at: Timestamp,
    principal: Option<Principal>,
    scopes: Option<Vec<String>>,
    federated: bool,
}

/// How much a token may do, as far as the tool can tell. Serialised as
/// [`Breadth::as_str`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Breadth {
    /// Its scopes allow logging in to a database and naming the user, nothing more.
    LoginOnly,
    /// It carries a scope that acts on Google Cloud APIs (cloud-platform or another).
    Broad,
    /// Its issuer did not say (a token command that printed no scope).
    Unknown,
}

impl Breadth {
    /// How much a token carrying `scopes` may do.
    pub fn of_scopes(scopes: &[String]) -> Breadth {
        if scopes.iter().all(|s| LOGIN_SCOPES.contains(&s.as_str())) {
            Breadth::LoginOnly
        } else {
            Breadth::Broad
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Breadth::LoginOnly => "login-only",
            Breadth::Broad => "broad",
            Breadth::Unknown => "unknown",
        }
    }
}

/// Scopes that only let a token log in (and tell who it is).
const LOGIN_SCOPES: [&str; 5] = [
    crate::ALLOYDB_LOGIN_SCOPE,
    crate::SQLSERVICE_LOGIN_SCOPE,
    "https://www.googleapis.com/auth/userinfo.email",
    "openid",
    "email",
];

impl MintedToken {
    /// A token from `origin` (named in errors): non-empty and a single word, and expiring
    /// in the future but no more than 12 hours ahead.
    pub(crate) fn new(secret: Secret, expires_at: Timestamp, origin: &str) -> Result<MintedToken> {
        check_token(secret.expose(), origin)?;
        let now = crate::clock::now();
        if expires_at <= now {
            return Err(Error::Source(format!(
                "{origin} returned a token that has already expired (at {expires_at}); nothing was written"
            )));
        }
        if expires_at.duration_since(now) > MAX_TOKEN_LIFETIME {
            return Err(Error::Source(format!(
                "{origin} returned a token said to be valid until {expires_at}, more than 12 hours ahead; Google's access tokens never live that long, so the answer is not believed and nothing was written"
            )));
        }
        Ok(MintedToken {
            secret,
            expires_at,
            principal: None,
            scopes: None,
            federated: false,
        })
    }

    /// The principal the token speaks for (already checked by [`Principal::parse`]).
    pub(crate) fn with_principal(mut self, principal: Option<Principal>) -> MintedToken {
        self.principal = principal;
        self
    }

    /// The scopes the token carries, when the issuer said or honours what was asked.
    pub(crate) fn with_scopes(mut self, scopes: Option<Vec<String>>) -> MintedToken {
        self.scopes = scopes;
        self
    }

    /// Marks a token of a federated identity (workload identity federation without
    /// impersonation).
    pub(crate) fn federated(mut self) -> MintedToken {
        self.federated = true;
        self
    }

    /// Whether the token speaks for a federated identity, which has no e-mail and so
    /// cannot log in to AlloyDB or Cloud SQL as a database user mapped from its principal:
    /// such a credential must impersonate a service account, or the service must name its
    /// user.
    pub fn is_federated(&self) -> bool {
        self.federated
    }

    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref()
    }

    /// The scopes the issuer said the token carries (or that it honours as asked), if
    /// known; tokeninfo is the authority when it matters.
    pub fn scopes(&self) -> Option<&[String]> {
        self.scopes.as_deref()
    }

    /// Whether the token can do more than log in.
    pub fn breadth(&self) -> Breadth {
        self.scopes
            .as_deref()
            .map_or(Breadth::Unknown, Breadth::of_scopes)
    }
}

/// Something that can mint access tokens for one credential.
pub trait TokenSource {
    fn mint(&self) -> Result<MintedToken>;

    /// The universe the credential belongs to: where Google's default endpoints are for
    /// anything built on top of it (impersonation).
    fn universe(&self) -> &Universe {
        &Universe::DEFAULT
    }
}

/// Remembers, across runs, which principal a credential belongs to, for sources that
/// could otherwise only learn it by asking tokeninfo on every mint (user logins). Keys
/// are digests that reveal nothing of the credential. The caller decides where this is
/// kept and when it is written; sources only read and add. `Sync`, because one run mints
/// for several credentials at once.
pub trait PrincipalMemory: Sync {
    fn recall(&self, key: &str) -> Option<String>;
    fn remember(&self, key: &str, principal: &str);
}

/// What sources need from the outside world: the HTTP client (built on the first request
/// only), the endpoints, the principal memory, and the tokens already minted in this run.
///
/// One `Context` serves a whole run and may be shared by several threads (it is `Sync`):
/// every source built on it mints each token once, however many services, impersonation
/// chains or Admin API clients are built on the same credential, and however many threads
/// ask at the same moment.
pub struct Context<'a> {
    pub(crate) http: Http,
    pub(crate) endpoints: &'a Endpoints,
    pub(crate) principals: &'a dyn PrincipalMemory,
    pub(crate) minted: MintedThisRun,
}

impl<'a> Context<'a> {
    /// Nothing is built here: a run that mints nothing pays for no HTTP or TLS set-up.
    pub fn new(endpoints: &'a Endpoints, principals: &'a dyn PrincipalMemory) -> Self {
        Context {
            http: Http::with_timeout(endpoints.timeout.unwrap_or(DEFAULT_TIMEOUT)),
            endpoints,
            principals,
            minted: MintedThisRun::default(),
        }
    }
}

/// One slot per credential: the first caller mints while later callers (other threads
/// included) wait for its outcome instead of minting again. A failure is kept as well, so
/// a refused credential is asked once per run, not once per service built on it.
type Slot = Arc<OnceLock<Result<MintedToken>>>;

/// The tokens minted in one run, keyed by everything that decides which token a source
/// mints. It lives as long as its [`Context`], which is one run: a long-running caller
/// builds a new context for each round, so nothing here outlives the run that minted it.
#[derive(Default)]
pub(crate) struct MintedThisRun {
    slots: Mutex<HashMap<CredentialSpec, Slot>>,
}

impl MintedThisRun {
    /// The token for `key`, minted by `mint` if no one in this run has minted it yet.
    pub(crate) fn get_or_mint(
        &self,
        key: &CredentialSpec,
        mint: impl FnOnce() -> Result<MintedToken>,
    ) -> Result<MintedToken> {
        // The map's lock is held only to find the slot, never while minting: other
        // credentials mint at the same time.
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(slots.entry(key.clone()).or_default())
        };
        slot.get_or_init(mint).clone()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn expiry_in_the_past_or_beyond_twelve_hours_is_refused() {
        let now = Timestamp::now();
        let token = |at: Timestamp| MintedToken::new(Secret::new("ya29.x"), at, "the issuer");
        assert!(token(now + SignedDuration::from_secs(3599)).is_ok());
        let past = token(now - SignedDuration::from_secs(1))
            .err()
            .map(|e| e.to_string());
        assert!(past.is_some_and(|e| e.contains("already expired")));
        let far = token(now + SignedDuration::from_hours(13))
            .err()
            .map(|e| e.to_string());
        assert!(far.is_some_and(|e| e.contains("more than 12 hours")));
        assert!(
            MintedToken::new(Secret::new("a b"), now + SignedDuration::from_secs(60), "x").is_err()
        );
    }

    #[test]
    fn breadth_from_scopes() {
        let at = Timestamp::now() + SignedDuration::from_secs(60);
        let token = |scopes: Option<&[&str]>| {
            MintedToken::new(Secret::new("t"), at, "x")
                .map(|t| t.with_scopes(scopes.map(|s| s.iter().map(|s| s.to_string()).collect())))
                .map(|t| t.breadth())
                .ok()
        };
        assert_eq!(
            token(Some(&[crate::ALLOYDB_LOGIN_SCOPE])),
            Some(Breadth::LoginOnly)
        );
        assert_eq!(
            token(Some(&[
                crate::ALLOYDB_LOGIN_SCOPE,
                crate::CLOUD_PLATFORM_SCOPE
            ])),
            Some(Breadth::Broad)
        );
        assert_eq!(token(None), Some(Breadth::Unknown));
    }

    fn spec(scope: &str) -> CredentialSpec {
        CredentialSpec {
            source: crate::SourceSpec::Metadata,
            impersonate: None,
            delegates: vec![],
            scopes: vec![scope.to_string()],
        }
    }

    #[test]
    fn context_can_be_shared_by_threads() {
        fn shared<T: Sync>() {}
        shared::<Context<'_>>();
    }

    #[test]
    fn threads_asking_for_one_credential_at_once_mint_it_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let endpoints = Endpoints::default();
        let ctx = Context::new(&endpoints, &NoMemory);
        let mints = AtomicUsize::new(0);
        let mint = || {
            mints.fetch_add(1, Ordering::SeqCst);
            // Long enough that every thread arrives while the first is still minting.
            std::thread::sleep(std::time::Duration::from_millis(200));
            MintedToken::new(
                Secret::new("ya29.shared"),
                Timestamp::now() + SignedDuration::from_secs(600),
                "x",
            )
        };
        let secrets: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| ctx.minted.get_or_mint(&spec("a"), mint)))
                .collect();
            handles
                .into_iter()
                .map(|h| match h.join() {
                    Ok(Ok(token)) => token.secret().expose().to_string(),
                    _ => String::new(),
                })
                .collect()
        });
        assert_eq!(mints.load(Ordering::SeqCst), 1);
        assert!(secrets.iter().all(|s| s == "ya29.shared"), "{secrets:?}");

        // Another key is another credential: minted on its own.
        assert!(ctx.minted.get_or_mint(&spec("b"), mint).is_ok());
        assert_eq!(mints.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_failure_is_shared_too_not_retried_within_the_run() {
        let endpoints = Endpoints::default();
        let ctx = Context::new(&endpoints, &NoMemory);
        let mut calls = 0;
        for _ in 0..3 {
            let got = ctx.minted.get_or_mint(&spec("a"), || {
                calls += 1;
                Err(Error::Source("refused".into()))
            });
            assert_eq!(got.err(), Some(Error::Source("refused".into())));
        }
        assert_eq!(calls, 1);
    }

    /// A principal memory that remembers nothing, for unit tests.
    pub(crate) struct NoMemory;

    impl PrincipalMemory for NoMemory {
        fn recall(&self, _: &str) -> Option<String> {
            None
        }
        fn remember(&self, _: &str, _: &str) {}
    }
}
