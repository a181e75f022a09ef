//! What decides which token is minted: the source, impersonation and the scopes.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that determines which token is minted. Services with equal specs share one
/// token per run, so this is the key of that sharing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CredentialSpec {
    pub source: SourceSpec,
    /// A service account to impersonate through the IAM Credentials API.
    pub impersonate: Option<String>,
    /// The delegation chain to reach `impersonate` through.
    pub delegates: Vec<String>,
    pub scopes: Vec<String>,
}

/// Where tokens come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceSpec {
    /// Application Default Credentials: `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's file,
    /// the metadata server.
    Adc,
    /// The GCE / GKE / Cloud Run metadata server.
    Metadata,
    /// The gcloud CLI's own login.
    Gcloud,
    /// A service-account key file.
    KeyFile(PathBuf),
    /// Any program that prints a token (bare, or JSON with its expiry).
    Command {
        argv: Vec<String>,
        timeout: Duration,
    },
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Adc => f.write_str("adc"),
            SourceSpec::Metadata => f.write_str("metadata"),
            SourceSpec::Gcloud => f.write_str("gcloud"),
            SourceSpec::KeyFile(path) => write!(f, "key_file {}", path.display()),
            SourceSpec::Command { argv, .. } => {
                write!(
                    f,
                    "command {}",
                    argv.first().map(String::as_str).unwrap_or("")
                )
            }
        }
    }
}
