//! Errors of the token sources. Every message is one sentence that says what to do, and
//! none carries a secret: credential files are never quoted, program output is redacted.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The credential itself is unusable (a missing or malformed file, an unsupported
    /// kind): the user must change something before trying again.
    #[error("{0}")]
    Config(String),
    /// Minting failed (an endpoint or a program refused or failed); it may pass.
    #[error("{0}")]
    Source(String),
}

impl Error {
    /// Whether the user has to change something before trying again.
    pub fn needs_user(&self) -> bool {
        matches!(self, Error::Config(_))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
