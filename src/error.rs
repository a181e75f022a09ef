//! The binary's error: its own configuration and usage errors, and those of the two
//! library crates, each of a [`Kind`] that decides the exit code, told about the service
//! it belongs to where there is one, with the original error as its `source()`. Every
//! message is a sentence a user can act on: it names the file or service involved and
//! what to do.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::exit_codes::ExitCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration (or the command line) is wrong; exit code 2.
    #[error("{0}")]
    Config(String),
    /// The configuration file is wrong at one line; exit code 2. Kept in its parts so
    /// that `add` can name the flag that set the key rather than a line of a file the
    /// user did not write.
    #[error("{0}")]
    ConfigAt(Box<ConfigAt>),
    /// Something at run time failed; exit code 1.
    #[error("{0}")]
    Runtime(String),
    /// The password or service file could not be read or written.
    #[error(transparent)]
    Files(#[from] libpq_files::Error),
    /// A token could not be minted.
    #[error(transparent)]
    Token(#[from] google_tokens::Error),
    /// The failure of one service: `source` says what went wrong, and decides the kind.
    #[error("service {service}: {source}")]
    Service {
        service: String,
        #[source]
        source: Box<Error>,
    },
}

/// Where in a configuration file an error is, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigAt {
    pub path: PathBuf,
    /// Counted from 1.
    pub line: usize,
    /// The key set on that line, if one is.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}", self.path.display(), self.line)?;
        if let Some(key) = &self.key {
            write!(f, ", key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What kind of failure an error is: what the user has to do about it, and so the exit
/// code. Stored with each service's last error and shown by `status --json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Retrying cannot help: the configuration, the command line or a file the user
    /// wrote must change first (exit code 2).
    Config,
    /// It may pass: an endpoint, a credential program, the file system (exit code 1).
    Runtime,
}

impl Error {
    pub fn kind(&self) -> Kind {
        let needs_user = match self {
            Error::Config(_) | Error::ConfigAt(_) => true,
            Error::Runtime(_) => false,
            Error::Files(e) => e.needs_user(),
            Error::Token(e) => e.needs_user(),
            Error::Service { source, .. } => return source.kind(),
        };
        if needs_user {
            Kind::Config
        } else {
            Kind::Runtime
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self.kind() {
            Kind::Config => ExitCode::UsageOrConfig,
            Kind::Runtime => ExitCode::RuntimeFailure,
        }
    }

    /// This error, as `service`'s, keeping it as the source.
    pub fn in_service(self, service: &str) -> Error {
        match self {
            // Already that service's: no second prefix.
            Error::Service { service: ref s, .. } if s == service => self,
            other => Error::Service {
                service: service.to_string(),
                source: Box::new(other),
            },
        }
    }

    /// The same failure, told about one service, when one failure is shared by several
    /// (a whole run that failed): same kind and message, without the source.
    pub fn for_service(&self, service: &str) -> Error {
        let message = match self.kind() {
            Kind::Config => Error::Config(self.to_string()),
            Kind::Runtime => Error::Runtime(self.to_string()),
        };
        message.in_service(service)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_service_error_keeps_its_kind_its_message_and_its_cause() {
        let cause = google_tokens::Error::Config("the key file is not JSON".into());
        let err = Error::from(cause.clone()).in_service("db");
        assert_eq!(err.kind(), Kind::Config);
        assert_eq!(err.exit_code(), ExitCode::UsageOrConfig);
        assert!(matches!(&err, Error::Service { service, .. } if service == "db"));
        assert_eq!(err.to_string(), "service db: the key file is not JSON");
        let source = err.source().map(|s| s.to_string());
        assert_eq!(source.as_deref(), Some("the key file is not JSON"));
        // Told about the same service again, it is not prefixed twice.
        assert_eq!(
            err.in_service("db").to_string(),
            "service db: the key file is not JSON"
        );
        let runtime = Error::Runtime("the endpoint timed out".into()).for_service("db");
        assert_eq!(runtime.kind(), Kind::Runtime);
        assert!(matches!(&runtime, Error::Service { service, .. } if service == "db"));
    }
}
