//! State shared by every fake service: the token table, fault injection
//! settings and the counters that tests assert on.
//!
//! The HTTP endpoints and the LDAP server all read and write this one
//! structure, so a token minted over HTTP is immediately usable as a
//! PostgreSQL password, and revoking it in a test is immediately visible to
//! both. Everything is behind `Mutex`es or atomics; a poisoned lock (a
//! panicking handler thread) is recovered rather than propagated, because a
//! test double that stops answering after one bad request hides the real
//! failure behind a cascade of unrelated ones.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Scope requested when the caller names none: the one AlloyDB and Cloud SQL
/// IAM database authentication require.
pub const DEFAULT_SCOPE: &str = "https://www.googleapis.com/auth/alloydb.login";

/// Default token length. Real user access tokens are usually 160–250
/// characters; service-account tokens can be far longer.
pub const DEFAULT_TOKEN_LENGTH: usize = 180;

/// Prefix of Google OAuth2 access tokens. Kept so that code which (wrongly or
/// not) recognises tokens by shape sees something realistic.
pub const TOKEN_PREFIX: &str = "ya29.";

/// Default token lifetime, matching Google's one hour.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// How many LDAP bind outcomes are remembered for [`crate::FakeGoogle::ldap_bind_log`].
const LDAP_LOG_LIMIT: usize = 1000;

/// URL-safe alphabet; 64 symbols so a random byte maps onto it without bias.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// What the fake knows about one issued token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// E-mail of the user or service account the token was issued to.
    pub principal: String,
    /// When the token was issued.
    pub issued_at: SystemTime,
    /// When the token stops being accepted.
    pub expires_at: SystemTime,
    /// OAuth2 scopes granted to the token.
    pub scopes: Vec<String>,
    /// Whether `/tokeninfo` reveals the principal's e-mail. Google only does
    /// so when the token carries an e-mail scope (or belongs to a service
    /// account); turning this off lets tests exercise the fallback paths of
    /// code that derives the database user from tokeninfo.
    pub email_in_tokeninfo: bool,
    /// Set by [`crate::FakeGoogle::revoke`].
    pub revoked: bool,
}

impl TokenRecord {
    /// True when the token is unrevoked and not yet expired at `now`.
    pub fn is_live_at(&self, now: SystemTime) -> bool {
        !self.revoked && now < self.expires_at
    }

    /// Whole seconds left before expiry at `now` (0 once expired).
    pub fn remaining_secs_at(&self, now: SystemTime) -> u64 {
        self.expires_at
            .duration_since(now)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// Everything that can be chosen when minting a token.
///
/// Built with [`MintOptions::new`] and the chained setters, e.g.
/// `MintOptions::new("kai@altostrat.com").length(2048).padding(2)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MintOptions {
    /// E-mail of the user or service account.
    pub principal: String,
    /// Time until expiry; `Duration::ZERO` yields an already-expired token.
    pub lifetime: Duration,
    /// Granted scopes; empty means `DEFAULT_SCOPE` (AlloyDB login).
    pub scopes: Vec<String>,
    /// Token length in characters, `ya29.` prefix included and padding
    /// excluded. Lengths not longer than the prefix get no prefix.
    pub length: usize,
    /// Number of `.` characters appended after the random part. Real Google
    /// tokens sometimes end in dots, which trips naive parsers and escaping.
    pub padding: usize,
    /// See [`TokenRecord::email_in_tokeninfo`].
    pub email_in_tokeninfo: bool,
}

impl MintOptions {
    /// Options for a one-hour, 180-character token with the AlloyDB login scope.
    pub fn new(principal: impl Into<String>) -> Self {
        MintOptions {
            principal: principal.into(),
            lifetime: DEFAULT_LIFETIME,
            scopes: Vec::new(),
            length: DEFAULT_TOKEN_LENGTH,
            padding: 0,
            email_in_tokeninfo: true,
        }
    }

    /// Sets the lifetime.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Sets the scopes (empty means `DEFAULT_SCOPE` (AlloyDB login)).
    pub fn scopes<S: AsRef<str>>(mut self, scopes: &[S]) -> Self {
        self.scopes = scopes.iter().map(|s| s.as_ref().to_owned()).collect();
        self
    }

    /// Sets the length (prefix included, padding excluded).
    pub fn length(mut self, length: usize) -> Self {
        self.length = length;
        self
    }

    /// Sets how many `.` are appended.
    pub fn padding(mut self, padding: usize) -> Self {
        self.padding = padding;
        self
    }

    /// Sets whether `/tokeninfo` reveals the e-mail.
    pub fn email_in_tokeninfo(mut self, yes: bool) -> Self {
        self.email_in_tokeninfo = yes;
        self
    }
}

/// One LDAP simple bind as the fake LDAP server judged it. The password is
/// deliberately not kept: these records end up in test failure output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LdapBind {
    /// The bind DN exactly as received, e.g. `cn=kai@altostrat.com`.
    pub dn: String,
    /// Whether the bind succeeded.
    pub accepted: bool,
    /// The diagnosticMessage sent back (empty on success).
    pub diagnostic: String,
}

/// Pending injected HTTP failures.
#[derive(Debug, Default)]
struct Faults {
    remaining: usize,
    status: u16,
}

/// Why an LDAP bind was refused; the texts are AlloyDB's own, because
/// PostgreSQL copies them into its log and people search for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LoginRefusal {
    /// Unknown, expired or revoked token (or no password at all).
    InvalidCredentials,
    /// A live token, but for a principal that maps to another database user.
    PrincipalMismatch,
}

impl LoginRefusal {
    pub(crate) fn message(self) -> &'static str {
        match self {
            LoginRefusal::InvalidCredentials => "Request had invalid authentication credentials.",
            LoginRefusal::PrincipalMismatch => "IAM principal does not match database user.",
        }
    }
}

/// The shared state. Crate-private: tests reach it through
/// [`crate::FakeGoogle`]'s methods so its layout can change freely.
#[derive(Default)]
pub(crate) struct State {
    tokens: Mutex<HashMap<String, TokenRecord>>,
    minted: AtomicUsize,
    route_hits: Mutex<BTreeMap<&'static str, usize>>,
    faults: Mutex<Faults>,
    delay: Mutex<Duration>,
    ldap_accepted: AtomicUsize,
    ldap_rejected: AtomicUsize,
    ldap_log: Mutex<Vec<LdapBind>>,
    /// Accounts, grants and settings of the Google services beyond the
    /// token table; see [`crate::directory`].
    pub(crate) directory: Mutex<crate::directory::Directory>,
}

/// Locks a mutex, recovering the data if another thread panicked while
/// holding it (see the module documentation for why).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// Issues a token and records it. Returns the token string.
    pub(crate) fn mint(&self, opts: &MintOptions) -> String {
        let now = SystemTime::now();
        let scopes = if opts.scopes.is_empty() {
            vec![DEFAULT_SCOPE.to_owned()]
        } else {
            opts.scopes.clone()
        };
        let record = TokenRecord {
            principal: opts.principal.clone(),
            issued_at: now,
            expires_at: now.checked_add(opts.lifetime).unwrap_or(now),
            scopes,
            email_in_tokeninfo: opts.email_in_tokeninfo,
            revoked: false,
        };
        let mut tokens = lock(&self.tokens);
        // Retry on the (astronomically unlikely for sane lengths) collision;
        // for absurdly short tokens give up after a few tries and let the new
        // record replace the old one rather than loop forever.
        let mut token = random_token(opts.length, opts.padding);
        for _ in 0..16 {
            if !tokens.contains_key(&token) {
                break;
            }
            token = random_token(opts.length, opts.padding);
        }
        tokens.insert(token.clone(), record);
        self.minted.fetch_add(1, Ordering::SeqCst);
        token
    }

    pub(crate) fn lookup(&self, token: &str) -> Option<TokenRecord> {
        lock(&self.tokens).get(token).cloned()
    }

    /// Looks a token up and returns it only if it is live now.
    pub(crate) fn live(&self, token: &str) -> Option<TokenRecord> {
        self.lookup(token)
            .filter(|r| r.is_live_at(SystemTime::now()))
    }

    pub(crate) fn revoke(&self, token: &str) -> bool {
        self.update_token(token, |record| record.revoked = true)
    }

    /// Applies `change` to a token's record; returns whether it was known.
    pub(crate) fn update_token(&self, token: &str, change: impl FnOnce(&mut TokenRecord)) -> bool {
        match lock(&self.tokens).get_mut(token) {
            Some(record) => {
                change(record);
                true
            }
            None => false,
        }
    }

    pub(crate) fn minted(&self) -> usize {
        self.minted.load(Ordering::SeqCst)
    }

    pub(crate) fn record_hit(&self, route: &'static str) {
        *lock(&self.route_hits).entry(route).or_insert(0) += 1;
    }

    pub(crate) fn hits(&self, route: &str) -> usize {
        lock(&self.route_hits).get(route).copied().unwrap_or(0)
    }

    pub(crate) fn all_hits(&self) -> BTreeMap<&'static str, usize> {
        lock(&self.route_hits).clone()
    }

    pub(crate) fn set_failures(&self, count: usize, status: u16) {
        *lock(&self.faults) = Faults {
            remaining: count,
            status,
        };
    }

    /// Consumes one injected failure, if any is pending.
    pub(crate) fn take_failure(&self) -> Option<u16> {
        let mut faults = lock(&self.faults);
        if faults.remaining == 0 {
            return None;
        }
        faults.remaining -= 1;
        Some(faults.status)
    }

    pub(crate) fn set_delay(&self, delay: Duration) {
        *lock(&self.delay) = delay;
    }

    pub(crate) fn delay(&self) -> Duration {
        *lock(&self.delay)
    }

    /// Decides an LDAP login the way AlloyDB decides an IAM login: the
    /// password must be a live token and the token's principal must map to
    /// the requested database user.
    pub(crate) fn check_login(&self, db_user: &str, password: &str) -> Result<(), LoginRefusal> {
        if password.is_empty() {
            return Err(LoginRefusal::InvalidCredentials);
        }
        let record = self
            .live(password)
            .ok_or(LoginRefusal::InvalidCredentials)?;
        if crate::database_user_for(&record.principal) == db_user {
            Ok(())
        } else {
            Err(LoginRefusal::PrincipalMismatch)
        }
    }

    pub(crate) fn record_ldap_bind(&self, bind: LdapBind) {
        if bind.accepted {
            self.ldap_accepted.fetch_add(1, Ordering::SeqCst);
        } else {
            self.ldap_rejected.fetch_add(1, Ordering::SeqCst);
        }
        let mut log = lock(&self.ldap_log);
        if log.len() >= LDAP_LOG_LIMIT {
            log.remove(0);
        }
        log.push(bind);
    }

    pub(crate) fn ldap_binds(&self) -> (usize, usize) {
        (
            self.ldap_accepted.load(Ordering::SeqCst),
            self.ldap_rejected.load(Ordering::SeqCst),
        )
    }

    pub(crate) fn ldap_log(&self) -> Vec<LdapBind> {
        lock(&self.ldap_log).clone()
    }
}

/// Seconds since the Unix epoch (0 for times before it).
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `t` as an RFC 3339 UTC timestamp with whole seconds, e.g.
/// `2026-11-29T01:02:03Z`, the form Google's JSON APIs use for times.
pub(crate) fn rfc3339_utc(t: SystemTime) -> String {
    let secs = i64::try_from(unix_secs(t)).unwrap_or(i64::MAX);
    jiff::Timestamp::from_second(secs)
        .unwrap_or(jiff::Timestamp::MAX)
        .to_string()
}

/// `length` characters drawn uniformly from `alphabet` (at most 256
/// symbols; fewer than 256 that do not divide it are drawn with a slight
/// bias, which is irrelevant for test identifiers).
pub(crate) fn random_string(alphabet: &[u8], length: usize) -> String {
    random_bytes(length)
        .into_iter()
        .map(|b| char::from(alphabet[usize::from(b) % alphabet.len()]))
        .collect()
}

/// A random token of `length` characters (prefix included) plus `padding` dots.
fn random_token(length: usize, padding: usize) -> String {
    let mut token = String::with_capacity(length + padding);
    let random_len = if length > TOKEN_PREFIX.len() {
        token.push_str(TOKEN_PREFIX);
        length - TOKEN_PREFIX.len()
    } else {
        length
    };
    for byte in random_bytes(random_len) {
        token.push(char::from(ALPHABET[usize::from(byte & 63)]));
    }
    token.extend(std::iter::repeat_n('.', padding));
    token
}

/// Random bytes: tokens only need to be unguessable enough that tests
/// cannot produce a valid one by accident.
pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    // The system's generator fails only on a broken system; zeros then.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut buf);
    buf
}
