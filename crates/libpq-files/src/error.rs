//! Errors of the file engine. Every message names the file and says what to do; none
//! quotes a password or a value that might be one.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file holds something the engine will not touch without the user (a section
    /// of the same name the user wrote, a setting outside any section). Retrying cannot
    /// help.
    #[error("{0}")]
    Conflict(String),
    /// A value cannot be written as asked (a line longer than libpq reads).
    #[error("{0}")]
    Invalid(String),
    /// Reading or writing failed.
    #[error("{context}: {source}{hint}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
        hint: &'static str,
    },
    /// The path is not something the engine writes (a directory, a FIFO, a symlink
    /// loop), or an in-place write failed.
    #[error("{0}")]
    Unusable(String),
    /// The file is no longer what was read before the rewrite (a program that takes no
    /// lock, an editor or `echo >>`, changed or replaced it): nothing was written. Read
    /// it again, merge again and write again.
    #[error(
        "{} changed while it was being rewritten; nothing was written",
        path.display()
    )]
    ChangedSinceRead { path: PathBuf },
}

impl Error {
    /// Whether the user has to change something (a configuration, a hand-written
    /// section) before trying again, as opposed to a failure that may pass.
    pub fn needs_user(&self) -> bool {
        matches!(self, Error::Conflict(_) | Error::Invalid(_))
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
