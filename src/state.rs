//! What the tool remembers between runs beyond the files: the last error of each service
//! (for `status`) and the principal of each user credential (so tokeninfo is asked once
//! per credential, not once per refresh). A small JSON file in the state directory that
//! never holds a token or a credential: errors are built without them, and principals
//! are keyed by digests.
//!
//! It is read once at the start of a run and written once at its end ([`update`]), under
//! its own lock, so that concurrent runs merge their records instead of overwriting them.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;

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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastError {
    pub at: String,
    pub message: String,
}

fn file() -> Result<PathBuf> {
    Ok(paths::state_dir()?.join("state.json"))
}

impl State {
    /// Loads the state; a missing or unreadable file is an empty state (it is a cache of
    /// diagnostics, not data).
    pub fn load() -> State {
        file()
            .ok()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn set_error(&mut self, service: &str, message: &str) {
        self.last_errors.insert(
            service.to_string(),
            LastError {
                at: jiff::Timestamp::now()
                    .round(jiff::Unit::Second)
                    .map_or_else(|_| String::new(), |t| t.to_string()),
                message: message.to_string(),
            },
        );
    }

    pub fn clear_error(&mut self, service: &str) {
        self.last_errors.remove(service);
    }
}

/// Applies `change` to the state on disk, under the state's lock: the one place the state
/// file is written. Best effort for callers: a state directory that cannot be written must
/// not fail work that succeeded, so they log the error and go on.
pub fn update(change: impl FnOnce(&mut State)) -> Result<()> {
    let path = file()?;
    let dir = paths::state_dir()?;
    std::fs::create_dir_all(&dir).map_err(|e| libpq_files::Error::io("create", &dir, e))?;
    let _lock = locked_file::lock_all(&paths::lock_dir()?, &[&path])?;
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
    locked_file::write(&path, &bytes, previous.as_ref(), Contents::Plain)?;
    Ok(())
}

/// The principals remembered before this run, and those learned during it (to be
/// written by the run's last step).
pub struct Principals {
    known: BTreeMap<String, String>,
    learned: RefCell<BTreeMap<String, String>>,
}

impl Principals {
    pub fn from(state: &State) -> Principals {
        Principals {
            known: state.principals.clone(),
            learned: RefCell::new(BTreeMap::new()),
        }
    }

    /// What was learned during this run.
    pub fn learned(&self) -> BTreeMap<String, String> {
        self.learned.borrow().clone()
    }
}

impl google_tokens::PrincipalMemory for Principals {
    fn recall(&self, key: &str) -> Option<String> {
        self.learned
            .borrow()
            .get(key)
            .or_else(|| self.known.get(key))
            .cloned()
    }

    fn remember(&self, key: &str, principal: &str) {
        self.learned
            .borrow_mut()
            .insert(key.to_string(), principal.to_string());
    }
}
