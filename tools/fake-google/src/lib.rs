//! Hermetic stand-ins for the Google services `alloydb-cred` talks to, plus
//! an "AlloyDB-like" PostgreSQL server, for integration tests and demos.
//!
//! Real AlloyDB IAM authentication accepts an OAuth2 access token as the
//! PostgreSQL password when the token is live and its principal maps to the
//! database user. [`FakeGoogle`] reproduces that without a network or a
//! Google account:
//!
//! * an HTTP server issuing tokens (`POST /mint`) and describing them
//!   (`/tokeninfo`, shaped like Google's), with injectable failures and
//!   delays;
//! * an LDAP server that PostgreSQL's `ldap` authentication method consults,
//!   accepting a bind only when the password is a live token for the
//!   principal that owns the database user (see [`database_user_for`]);
//! * [`pg::PgServer`], a real PostgreSQL wired to that LDAP server.
//!
//! Everything binds to loopback on ephemeral ports, so tests can run in
//! parallel. The crate is Unix-only (it manages PostgreSQL processes).
//!
//! ```no_run
//! use std::time::Duration;
//! use fake_google::{FakeGoogle, pg::PgServer};
//!
//! let google = FakeGoogle::start()?;
//! let pg = PgServer::start(google.ldap_port(), &["kai@altostrat.com"])?;
//! let token = google.mint("kai@altostrat.com", Duration::from_secs(3600), &[], 180);
//! // `psql "host=127.0.0.1 port={pg.port()} dbname=appdb user=kai@altostrat.com"`
//! // with `token` as the password now logs in.
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod client;
mod endpoints;
mod http;
mod ldap;
pub mod pg;
mod state;
mod sys;

use std::io;
use std::sync::Arc;
use std::time::Duration;

pub use state::{
    DEFAULT_LIFETIME, DEFAULT_SCOPE, DEFAULT_TOKEN_LENGTH, LdapBind, MintOptions, TOKEN_PREFIX,
    TokenRecord,
};

/// Suffix Google drops from service-account e-mails to form database users.
const SERVICE_ACCOUNT_SUFFIX: &str = ".gserviceaccount.com";

/// The database user an IAM principal logs in as, by Google's rule for
/// AlloyDB and Cloud SQL: a service account `name@proj.iam.gserviceaccount.com`
/// becomes `name@proj.iam` (the `.gserviceaccount.com` suffix is dropped);
/// any other e-mail is used as is, exactly.
pub fn database_user_for(principal: &str) -> String {
    principal
        .strip_suffix(SERVICE_ACCOUNT_SUFFIX)
        .filter(|rest| rest.contains('@'))
        .unwrap_or(principal)
        .to_owned()
}

/// The running fake Google services. Dropping it stops the servers.
pub struct FakeGoogle {
    state: Arc<state::State>,
    http: http::HttpServer,
    ldap: ldap::LdapServer,
}

impl std::fmt::Debug for FakeGoogle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGoogle")
            .field("http_url", &self.http_url())
            .field("ldap_port", &self.ldap_port())
            .finish()
    }
}

impl FakeGoogle {
    /// Starts the HTTP and LDAP servers on 127.0.0.1 ephemeral ports, each
    /// in its own background thread.
    pub fn start() -> io::Result<FakeGoogle> {
        let state = Arc::new(state::State::default());
        let http = http::HttpServer::start(Arc::clone(&state))?;
        let ldap = ldap::LdapServer::start(Arc::clone(&state))?;
        Ok(FakeGoogle { state, http, ldap })
    }

    /// Base URL of the HTTP server, e.g. `http://127.0.0.1:41234` (no
    /// trailing slash).
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http.addr())
    }

    /// Port of the LDAP server on 127.0.0.1.
    pub fn ldap_port(&self) -> u16 {
        self.ldap.port()
    }

    /// Issues a token for `principal`, valid for `lifetime` (zero gives an
    /// already-expired token), with `scopes` (empty means
    /// [`DEFAULT_SCOPE`]) and `length` characters including the `ya29.`
    /// prefix. See [`FakeGoogle::mint_with`] for padding and the other knobs.
    pub fn mint(
        &self,
        principal: &str,
        lifetime: Duration,
        scopes: &[&str],
        length: usize,
    ) -> String {
        self.mint_with(
            &MintOptions::new(principal)
                .lifetime(lifetime)
                .scopes(scopes)
                .length(length),
        )
    }

    /// Issues a token with every option spelled out.
    pub fn mint_with(&self, options: &MintOptions) -> String {
        self.state.mint(options)
    }

    /// Number of tokens issued so far, through [`FakeGoogle::mint`],
    /// [`FakeGoogle::mint_with`] or `POST /mint`.
    pub fn mint_count(&self) -> usize {
        self.state.minted()
    }

    /// Number of `/tokeninfo` requests received (injected failures included).
    pub fn tokeninfo_calls(&self) -> usize {
        self.state.hits("tokeninfo")
    }

    /// What the fake knows about `token`, live or not.
    pub fn token_info(&self, token: &str) -> Option<TokenRecord> {
        self.state.lookup(token)
    }

    /// Revokes `token` for both tokeninfo and LDAP. Returns whether the
    /// token was known.
    pub fn revoke(&self, token: &str) -> bool {
        self.state.revoke(token)
    }

    /// Makes the next `count` requests to the Google endpoints (`/mint`,
    /// `/tokeninfo`) fail with HTTP `status`. `count` 0 clears it. `/stats`
    /// is never affected.
    pub fn set_failures(&self, count: usize, status: u16) {
        self.state.set_failures(count, status);
    }

    /// Makes every request to the Google endpoints wait `delay` before being
    /// answered, to exercise client timeouts. `Duration::ZERO` clears it.
    pub fn set_delay(&self, delay: Duration) {
        self.state.set_delay(delay);
    }

    /// LDAP binds so far: (accepted, rejected).
    pub fn ldap_binds(&self) -> (usize, usize) {
        self.state.ldap_binds()
    }

    /// The most recent LDAP binds (up to 1,000), oldest first, without
    /// passwords; handy in assertion messages.
    pub fn ldap_bind_log(&self) -> Vec<LdapBind> {
        self.state.ldap_log()
    }
}

#[cfg(test)]
mod tests {
    use super::database_user_for;

    #[test]
    fn database_users() {
        assert_eq!(database_user_for("kai@altostrat.com"), "kai@altostrat.com");
        assert_eq!(
            database_user_for("my-service@my-project.iam.gserviceaccount.com"),
            "my-service@my-project.iam"
        );
        assert_eq!(
            database_user_for("123-compute@developer.gserviceaccount.com"),
            "123-compute@developer"
        );
        // Case and other domains are left alone.
        assert_eq!(database_user_for("Kai@Altostrat.com"), "Kai@Altostrat.com");
        assert_eq!(
            database_user_for("x@gserviceaccount.com"),
            "x@gserviceaccount.com"
        );
    }
}
