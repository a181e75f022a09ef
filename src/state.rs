//! What the tool remembers between runs beyond the files: the last error of each service
//! and how broad its token is (for `status`), the principal of each user credential (so
//! tokeninfo is asked once per credential, not once per refresh), which shadowed lines
//! were already reported, and how each named instance was last resolved (so the Admin
//! APIs are asked about once an hour, not on every refresh). A small JSON file (mode 0600)
//! in the private state directory that never holds a token or a credential: every message
//! is redacted before it is stored, and principals are keyed by digests.
//!
//! Every change goes through [`update`]: read, change and write under the state file's
//! own lock, so that concurrent runs merge their records instead of overwriting them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use libpq_files::locked_file::{self, Contents};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::paths;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub last_errors: BTreeMap<String, LastError>,
    /// The e-mail of user credentials, by a digest of the credential.
    #[serde(default)]
    pub principals: BTreeMap<String, String>,
    /// How broad each service's current token is: login-only, broad or unknown.
    #[serde(default)]
    pub breadth: BTreeMap<String, String>,
    /// When each service last got a new token (RFC 3339).
    #[serde(default)]
    pub last_refreshed: BTreeMap<String, String>,
    /// Shadowed password-file lines already reported by `refresh` (service, line number
    /// and connection), so each is reported once per change.
    #[serde(default)]
    pub shadows_reported: BTreeSet<String>,
    /// Instances resolved through the Admin APIs, by
    /// [`crate::config::InstanceSettings::cache_key`].
    #[serde(default)]
    pub instances: BTreeMap<String, CachedInstance>,
}

/// An instance's last good resolution: what the files say for its services until the
/// next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedInstance {
    /// When the Admin API gave this answer (RFC 3339).
    pub resolved_at: String,
    pub host: String,
    pub port: u16,
    /// `require`, `verify-ca` or `verify-full`.
    pub sslmode: String,
    /// The server CA certificates (PEM; public, not secret), for the verify modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_ca: Option<String>,
    /// The last attempt to resolve it again that failed, when this answer was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<LastError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    pub at: String,
    pub message: String,
}

impl LastError {
    /// `message`, redacted, as of now.
    pub fn now(message: &str) -> LastError {
        LastError {
            at: now_text(),
            message: google_tokens::redact(message, &[]),
        }
    }
}

/// The time now, to the second, as stored.
pub fn now_text() -> String {
    crate::clock::now()
        .round(jiff::Unit::Second)
        .map_or_else(|_| String::new(), |t| t.to_string())
}

const FILE_NAME: &str = "state.json";

fn file() -> Result<PathBuf> {
    Ok(paths::private_state_dir()?.join(FILE_NAME))
}

impl State {
    /// Loads the state; a missing or unreadable file is an empty state (it is a cache of
    /// diagnostics, not data). A state directory that is not private is an error.
    pub fn load() -> Result<State> {
        let Some(dir) = paths::existing_state_dir()? else {
            return Ok(State::default());
        };
        Ok(std::fs::read(dir.join(FILE_NAME))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default())
    }

    pub fn set_error(&mut self, service: &str, message: &str) {
        self.last_errors
            .insert(service.to_string(), LastError::now(message));
    }

    /// A new token was written for `service`.
    pub fn set_refreshed(&mut self, service: &str) {
        self.last_errors.remove(service);
        self.last_refreshed.insert(service.to_string(), now_text());
    }

    pub fn clear_error(&mut self, service: &str) {
        self.last_errors.remove(service);
    }
}

/// Applies `change` to the state on disk, under the state's lock: the one place the state
/// file is written. Best effort for callers: a state directory that cannot be written must
/// not fail work that succeeded, so they log the error and go on.
pub fn update(lock_timeout: Duration, change: impl FnOnce(&mut State)) -> Result<()> {
    let path = file()?;
    let _lock = locked_file::lock_all(&[&path], lock_timeout)?;
    let previous = locked_file::read(&path).ok().flatten();
    let mut state: State = previous
        .as_ref()
        .and_then(|p| serde_json::from_slice(&p.bytes).ok())
        .unwrap_or_default();
    change(&mut state);
    let bytes = serde_json::to_vec_pretty(&state)
        .map_err(|e| Error::Runtime(format!("cannot encode the state: {e}")))?;
    if previous.as_ref().is_some_and(|p| p.bytes == bytes) {
        return Ok(());
    }
    locked_file::write(&path, &bytes, previous.as_ref(), Contents::Secret)?;
    Ok(())
}

/// The principals remembered before this run, and those learned during it (to be
/// written by the run's last step).
pub struct Principals {
    known: BTreeMap<String, String>,
    learned: Mutex<BTreeMap<String, String>>,
}

impl Principals {
    pub fn from(state: &State) -> Principals {
        Principals {
            known: state.principals.clone(),
            learned: Mutex::new(BTreeMap::new()),
        }
    }

    /// What was learned during this run.
    pub fn learned(&self) -> BTreeMap<String, String> {
        self.learned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl google_tokens::PrincipalMemory for Principals {
    fn recall(&self, key: &str) -> Option<String> {
        self.learned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .or_else(|| self.known.get(key))
            .cloned()
    }

    fn remember(&self, key: &str, principal: &str) {
        self.learned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_string(), principal.to_string());
    }
}
