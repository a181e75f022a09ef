//! The binary's error: its own configuration and usage errors, and those of the two
//! library crates, each mapped to an exit code. Every message is a sentence a user can act
//! on: it names the file or service involved and what to do.

use crate::exit_codes::ExitCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration (or the command line) is wrong; exit code 2.
    #[error("{0}")]
    Config(String),
    /// Something at run time failed; exit code 1.
    #[error("{0}")]
    Runtime(String),
    /// The password or service file could not be read or written.
    #[error(transparent)]
    Files(#[from] libpq_files::Error),
    /// A token could not be minted.
    #[error(transparent)]
    Token(#[from] google_tokens::Error),
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        let needs_user = match self {
            Error::Config(_) => true,
            Error::Runtime(_) => false,
            Error::Files(e) => e.needs_user(),
            Error::Token(e) => e.needs_user(),
        };
        if needs_user {
            ExitCode::UsageOrConfig
        } else {
            ExitCode::RuntimeFailure
        }
    }

    /// The same failure, told about one service: services sharing a credential each
    /// report the one failed mint.
    pub fn for_service(&self, service: &str) -> Error {
        let message = format!("service {service}: {self}");
        match self.exit_code() {
            ExitCode::UsageOrConfig => Error::Config(message),
            _ => Error::Runtime(message),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
