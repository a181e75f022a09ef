//! State shared by the HTTP endpoints and the LDAP server: the token table,
//! fault injection and the counters tests assert on. A poisoned lock (a
//! panicking handler thread) is recovered rather than propagated: a test
//! double that stops answering after one bad request hides the real failure
//! behind a cascade of unrelated ones.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The scope AlloyDB and Cloud SQL IAM logins require, the default.
pub const DEFAULT_SCOPE: &str = "https://www.googleapis.com/auth/alloydb.login";

/// Default token length. Real user access tokens are usually 160–250
/// characters; service-account tokens can be far longer.
pub const DEFAULT_TOKEN_LENGTH: usize = 180;

/// Prefix of Google OAuth2 access tokens, for code that recognises tokens
/// by shape.
const TOKEN_PREFIX: &str = "ya29.";

/// URL-safe alphabet; 64 symbols so a random byte maps onto it without bias.
pub(crate) const URL_SAFE: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Why an LDAP bind is refused: AlloyDB's own texts, because PostgreSQL
/// copies them into its log and people search for them.
pub(crate) const INVALID_CREDENTIALS: &str = "Request had invalid authentication credentials.";
/// A live token of a principal that maps to another database user.
pub(crate) const PRINCIPAL_MISMATCH: &str = "IAM principal does not match database user.";

/// What the fake knows about one issued token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// E-mail (or `principal://...`) the token was issued to.
    pub principal: String,
    pub expires_at: SystemTime,
    pub scopes: Vec<String>,
    /// Google shows the e-mail only for tokens with an e-mail scope or of a
    /// service account.
    pub email_in_tokeninfo: bool,
    pub revoked: bool,
}

impl TokenRecord {
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

/// What can be chosen when minting a token, e.g.
/// `MintOptions { length: 2048, padding: 2, ..MintOptions::new("kai@altostrat.com") }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MintOptions {
    pub principal: String,
    /// `Duration::ZERO` yields an already-expired token.
    pub lifetime: Duration,
    /// Granted scopes; empty means `DEFAULT_SCOPE` (AlloyDB login).
    pub scopes: Vec<String>,
    /// Token length in characters, `ya29.` prefix included and padding
    /// excluded. Lengths not longer than the prefix get no prefix.
    pub length: usize,
    /// Dots appended: real tokens sometimes end in some, which trips naive
    /// parsers and escaping.
    pub padding: usize,
    pub email_in_tokeninfo: bool,
}

impl MintOptions {
    /// An hour-long AlloyDB login token of the default length.
    pub fn new(principal: impl Into<String>) -> Self {
        MintOptions {
            principal: principal.into(),
            lifetime: Duration::from_secs(3600),
            scopes: Vec::new(),
            length: DEFAULT_TOKEN_LENGTH,
            padding: 0,
            email_in_tokeninfo: true,
        }
    }
}

/// One LDAP simple bind as the fake LDAP server judged it. The password is
/// deliberately not kept: these records end up in test failure output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LdapBind {
    /// As received, e.g. `cn=kai@altostrat.com`.
    pub dn: String,
    pub accepted: bool,
}

#[derive(Default)]
pub(crate) struct State {
    tokens: Mutex<HashMap<String, TokenRecord>>,
    minted: AtomicUsize,
    route_hits: Mutex<BTreeMap<&'static str, usize>>,
    /// How many more requests fail, and with which status.
    faults: Mutex<(usize, u16)>,
    delay: Mutex<Duration>,
    ldap_log: Mutex<Vec<LdapBind>>,
    pub(crate) directory: Mutex<crate::directory::Directory>,
}

/// Locks a mutex, recovering it if poisoned (see the module documentation).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    pub(crate) fn mint(&self, opts: &MintOptions) -> String {
        let now = SystemTime::now();
        let scopes = if opts.scopes.is_empty() {
            vec![DEFAULT_SCOPE.to_owned()]
        } else {
            opts.scopes.clone()
        };
        let record = TokenRecord {
            principal: opts.principal.clone(),
            expires_at: now.checked_add(opts.lifetime).unwrap_or(now),
            scopes,
            email_in_tokeninfo: opts.email_in_tokeninfo,
            revoked: false,
        };
        let prefix = if opts.length > TOKEN_PREFIX.len() {
            TOKEN_PREFIX
        } else {
            ""
        };
        let token = || {
            let random = random_string(URL_SAFE, opts.length - prefix.len());
            format!("{prefix}{random}{}", ".".repeat(opts.padding))
        };
        let mut tokens = lock(&self.tokens);
        // On a collision (likely only for absurdly short tokens) retry a few
        // times, then let the new record replace the old one.
        let mut minted = token();
        for _ in 0..16 {
            if !tokens.contains_key(&minted) {
                break;
            }
            minted = token();
        }
        tokens.insert(minted.clone(), record);
        self.minted.fetch_add(1, Ordering::SeqCst);
        minted
    }

    pub(crate) fn lookup(&self, token: &str) -> Option<TokenRecord> {
        lock(&self.tokens).get(token).cloned()
    }

    pub(crate) fn live(&self, token: &str) -> Option<TokenRecord> {
        self.lookup(token)
            .filter(|r| r.is_live_at(SystemTime::now()))
    }

    /// Applies `change` to the record of `token`; false if it is unknown.
    pub(crate) fn update_token(&self, token: &str, change: impl FnOnce(&mut TokenRecord)) -> bool {
        lock(&self.tokens).get_mut(token).map(change).is_some()
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
        *lock(&self.faults) = (count, status);
    }

    pub(crate) fn take_failure(&self) -> Option<u16> {
        let mut faults = lock(&self.faults);
        faults.0 = faults.0.checked_sub(1)?;
        Some(faults.1)
    }

    pub(crate) fn set_delay(&self, delay: Duration) {
        *lock(&self.delay) = delay;
    }

    pub(crate) fn delay(&self) -> Duration {
        *lock(&self.delay)
    }

    /// Decides an LDAP login as AlloyDB decides an IAM login.
    pub(crate) fn check_login(&self, db_user: &str, password: &str) -> Result<(), &'static str> {
        let record = self.live(password).ok_or(INVALID_CREDENTIALS)?;
        if crate::database_user_for(&record.principal) == db_user {
            Ok(())
        } else {
            Err(PRINCIPAL_MISMATCH)
        }
    }

    pub(crate) fn ldap_log(&self) -> MutexGuard<'_, Vec<LdapBind>> {
        lock(&self.ldap_log)
    }
}

pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `t` as Google's JSON APIs give times, e.g. `2026-11-29T01:02:03Z`.
pub(crate) fn rfc3339_utc(t: SystemTime) -> String {
    let secs = i64::try_from(unix_secs(t)).unwrap_or(i64::MAX);
    jiff::Timestamp::from_second(secs)
        .unwrap_or(jiff::Timestamp::MAX)
        .to_string()
}

/// `length` characters from `alphabet` (with a slight bias unless its size
/// divides 256, irrelevant for test identifiers).
pub(crate) fn random_string(alphabet: &[u8], length: usize) -> String {
    let mut buf = vec![0u8; length];
    // The system's generator fails only on a broken system; zeros then.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut buf);
    buf.into_iter()
        .map(|b| char::from(alphabet[usize::from(b) % alphabet.len()]))
        .collect()
}
