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

use google_tokens::Breadth;
use jiff::Timestamp;
use libpq_files::Tag;
use libpq_files::locked_file::{self, Contents};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};
use crate::paths;

/// Everything remembered. Read leniently: a part in an older or unknown shape is left
/// out (and rewritten in this shape by the next change), never an error, since all of
/// it can be learned again.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// What each configuration's services went through, by the configuration's tag
    /// (as its entries carry it), then by service: two configurations with a service
    /// of the same name never see each other's records.
    #[serde(default, deserialize_with = "lenient_map")]
    pub configurations: BTreeMap<String, BTreeMap<String, ServiceRecord>>,
    /// The e-mail of user credentials, by a digest of the credential.
    #[serde(default, deserialize_with = "lenient_map")]
    pub principals: BTreeMap<String, String>,
    /// Instances resolved through the Admin APIs, by
    /// [`crate::config::InstanceSettings::cache_key`].
    #[serde(default, deserialize_with = "lenient_map")]
    pub instances: BTreeMap<String, CachedInstance>,
}

/// One service of one configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// Why its last refresh failed; cleared by the next one that writes a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
    /// How broad its current token is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breadth: Option<Breadth>,
    /// When it last got a new token.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_timestamp"
    )]
    pub last_refreshed: Option<Timestamp>,
    /// The user's password-file lines its entry hides that were already reported, so
    /// each is reported once per change.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub shadows_reported: BTreeSet<ShadowKey>,
}

/// A hidden line as reported: where it is and the connection it is for (never its
/// password).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ShadowKey {
    pub line: usize,
    pub connection: String,
}

/// An instance's last good resolution: what the files say for its services until the
/// next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedInstance {
    /// When the Admin API gave this answer.
    #[serde(with = "timestamp")]
    pub resolved_at: Timestamp,
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
    #[serde(with = "timestamp")]
    pub at: Timestamp,
    pub message: String,
    /// Whether retrying can help (absent in records written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<crate::error::Kind>,
}

impl LastError {
    /// `message`, redacted, as of now.
    pub fn now(message: &str) -> LastError {
        LastError {
            at: now(),
            message: google_tokens::redact(message, &[]),
            kind: None,
        }
    }

    /// `error`, redacted, as of now, with its kind.
    pub fn of(error: &Error) -> LastError {
        LastError {
            kind: Some(error.kind()),
            ..LastError::now(&error.to_string())
        }
    }
}

/// The time now, to the second, as stored.
pub fn now() -> Timestamp {
    let now = crate::clock::now();
    now.round(jiff::Unit::Second).unwrap_or(now)
}

/// Timestamps as RFC 3339 text, as every earlier state file held them.
mod timestamp {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &Timestamp, out: S) -> Result<S::Ok, S::Error> {
        out.collect_str(at)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(input)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

mod optional_timestamp {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &Option<Timestamp>, out: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => out.collect_str(at),
            None => out.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Option<Timestamp>, D::Error> {
        Ok(Option::<String>::deserialize(input)?.and_then(|t| t.parse().ok()))
    }
}

/// A map of which every entry that does not read as `T` is left out, and that is empty
/// when it is not a map at all.
fn lenient_map<'de, D, T>(input: D) -> std::result::Result<BTreeMap<String, T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = serde_json::Value::deserialize(input)?;
    let serde_json::Value::Object(entries) = value else {
        return Ok(BTreeMap::new());
    };
    Ok(entries
        .into_iter()
        .filter_map(|(key, value)| Some((key, serde_json::from_value(value).ok()?)))
        .collect())
}

const FILE_NAME: &str = "state.json";

fn file() -> Result<PathBuf> {
    Ok(paths::private_state_dir()?.join(FILE_NAME))
}

impl State {
    /// Loads the state; a missing or unreadable file is an empty state (it is a cache of
    /// diagnostics, not data), and parts of it in an older shape are left out. A state
    /// directory that is not private is an error.
    pub fn load() -> Result<State> {
        let Some(dir) = paths::existing_state_dir()? else {
            return Ok(State::default());
        };
        Ok(std::fs::read(dir.join(FILE_NAME))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default())
    }

    /// What is remembered of `service` of the configuration `config`.
    pub fn service(&self, config: &Tag, service: &str) -> Option<&ServiceRecord> {
        self.configurations.get(&config.to_string())?.get(service)
    }

    /// The record of `service` of `config`, made empty if there is none yet.
    pub fn service_mut(&mut self, config: &Tag, service: &str) -> &mut ServiceRecord {
        self.configurations
            .entry(config.to_string())
            .or_default()
            .entry(service.to_string())
            .or_default()
    }

    pub fn set_error(&mut self, config: &Tag, service: &str, error: &Error) {
        self.service_mut(config, service).last_error = Some(LastError::of(error));
    }

    /// A new token of `breadth` was written for `service`.
    pub fn set_refreshed(&mut self, config: &Tag, service: &str, breadth: Breadth) {
        let record = self.service_mut(config, service);
        record.last_error = None;
        record.breadth = Some(breadth);
        record.last_refreshed = Some(now());
    }

    pub fn clear_error(&mut self, config: &Tag, service: &str) {
        if let Some(record) = self
            .configurations
            .get_mut(&config.to_string())
            .and_then(|services| services.get_mut(service))
        {
            record.last_error = None;
        }
    }

    /// Forgets the errors of every service of `config`.
    pub fn clear_errors(&mut self, config: &Tag) {
        for record in self
            .configurations
            .get_mut(&config.to_string())
            .into_iter()
            .flat_map(|services| services.values_mut())
        {
            record.last_error = None;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_or_damaged_state_file_is_read_for_what_still_fits() {
        let old = r#"{
            "last_errors": {"db": {"at": "2026-01-01T00:00:00Z", "message": "x"}},
            "breadth": {"db": "broad"},
            "principals": {"k": "a@b.c"},
            "instances": {
                "good": {"resolved_at": "2026-01-01T00:00:00Z", "host": "h", "port": 5432, "sslmode": "require"},
                "bad": {"resolved_at": "yesterday", "host": "h", "port": 5432, "sslmode": "require"}
            },
            "configurations": {"0123abcd": {"db": {"breadth": "login-only", "last_refreshed": "garbage"}}, "x": 7}
        }"#;
        let state: State = serde_json::from_str(old).expect("lenient");
        assert_eq!(state.principals.get("k").map(String::as_str), Some("a@b.c"));
        assert_eq!(
            state.instances.keys().collect::<Vec<_>>(),
            ["good"],
            "the entry that does not fit is left out"
        );
        let record = state
            .configurations
            .get("0123abcd")
            .and_then(|c| c.get("db"))
            .expect("record");
        assert_eq!(record.breadth, Some(Breadth::LoginOnly));
        assert_eq!(record.last_refreshed, None);
        assert!(serde_json::from_str::<State>(r#"{"instances": 3}"#).is_ok());
    }

    #[test]
    fn records_are_kept_per_configuration() {
        let (a, b) = (Tag::of(b"a"), Tag::of(b"b"));
        let mut state = State::default();
        state.set_error(&a, "db", &Error::Runtime("broken".into()));
        state.set_refreshed(&b, "db", Breadth::LoginOnly);
        assert!(
            state
                .service(&a, "db")
                .is_some_and(|r| r.last_error.is_some())
        );
        assert!(
            state
                .service(&b, "db")
                .is_some_and(|r| r.last_error.is_none())
        );
        let text = serde_json::to_string(&state).expect("encode");
        let again: State = serde_json::from_str(&text).expect("decode");
        assert_eq!(again.service(&b, "db"), state.service(&b, "db"));
    }
}
