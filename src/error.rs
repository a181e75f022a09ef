//! The one error type. Every message is a sentence a user can act on: it names the
//! file or service involved and what to do. Variants exist only to pick the exit code.

use std::io;
use std::path::Path;

use crate::exit_codes::ExitCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration (or the command line) is wrong; exit code 2.
    #[error("{0}")]
    Config(String),
    /// A file the tool must write is in a state it will not touch without the user
    /// (a hand-written section of the same name, settings before the first section);
    /// retrying cannot help, so it is reported like a configuration error.
    #[error("{0}")]
    Conflict(String),
    /// A token source failed (command, endpoint); exit code 1.
    #[error("{0}")]
    Source(String),
    /// Reading or writing a file failed; exit code 1.
    #[error("{context}: {source}{hint}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
        hint: &'static str,
    },
    /// Something else at run time failed; exit code 1.
    #[error("{0}")]
    Runtime(String),
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Config(_) | Error::Conflict(_) => ExitCode::UsageOrConfig,
            Error::Source(_) | Error::Io { .. } | Error::Runtime(_) => ExitCode::RuntimeFailure,
        }
    }

    /// The same failure, told about one service: services sharing a credential each
    /// report the one failed mint.
    pub fn for_service(&self, service: &str) -> Error {
        let message = format!("service {service}: {self}");
        match self.exit_code() {
            ExitCode::UsageOrConfig => Error::Config(message),
            _ => Error::Source(message),
        }
    }

    /// An I/O error about `path`, with a hint for the common causes. Matched by kind,
    /// not errno, so that errors wrapped by other crates (tempfile) keep their hint.
    pub fn io(action: &str, path: &Path, source: io::Error) -> Error {
        let hint = match source.kind() {
            io::ErrorKind::StorageFull
            | io::ErrorKind::FileTooLarge
            | io::ErrorKind::QuotaExceeded => {
                "; free some space (or raise the file size limit) and run again; the previous file is unchanged"
            }
            io::ErrorKind::ReadOnlyFilesystem => {
                "; the file system is read-only: point `pgpass`/`service_file` in the config somewhere writable"
            }
            io::ErrorKind::PermissionDenied => {
                "; check the permissions of the file and its directory; the previous file is unchanged"
            }
            _ => "",
        };
        Error::Io {
            context: format!("cannot {action} {}", path.display()),
            source,
            hint,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
