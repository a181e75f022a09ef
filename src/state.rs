//! What `status` reports beyond the files: the last error of each service. Kept in the
//! state directory as a small JSON file that never holds a token or credential (errors are
//! built without them).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::locked_file;
use crate::paths;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub last_errors: BTreeMap<String, LastError>,
    /// The e-mail of user credentials, by a fingerprint of the credential (never the
    /// credential itself): tokeninfo is asked once per credential, not per refresh.
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

    pub fn save(&self) -> Result<()> {
        let path = file()?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| crate::error::Error::io("create", dir, e))?;
        }
        let bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        let _lock = locked_file::lock_all(&[&path])?;
        let previous = locked_file::read(&path).ok().flatten();
        if previous.as_ref().is_some_and(|p| p.bytes == bytes) {
            return Ok(());
        }
        locked_file::write(
            &path,
            &bytes,
            previous.as_ref(),
            locked_file::Contents::Plain,
        )
    }
}
