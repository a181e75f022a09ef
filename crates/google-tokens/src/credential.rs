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

impl CredentialSpec {
    /// A description of everything that decides which token is minted, that stays the
    /// same across builds and releases for the same settings (unlike `Debug` output): the
    /// input of the digest kept beside each written token. Every field is length-prefixed,
    /// so no two specs describe alike.
    pub fn stable_description(&self) -> Vec<u8> {
        let mut out = b"credential-v1".to_vec();
        let mut field = |name: &str, value: &[u8]| {
            out.extend_from_slice(format!(";{name}={}:", value.len()).as_bytes());
            out.extend_from_slice(value);
        };
        match &self.source {
            SourceSpec::Adc => field("source", b"adc"),
            SourceSpec::Metadata => field("source", b"metadata"),
            SourceSpec::Gcloud => field("source", b"gcloud"),
            SourceSpec::KeyFile(path) => {
                field("source", b"key_file");
                field("path", path.as_os_str().as_encoded_bytes());
            }
            SourceSpec::Command { argv, timeout } => {
                field("source", b"command");
                for arg in argv {
                    field("arg", arg.as_bytes());
                }
                field("timeout_ms", timeout.as_millis().to_string().as_bytes());
            }
        }
        if let Some(target) = &self.impersonate {
            field("impersonate", target.as_bytes());
        }
        for delegate in &self.delegates {
            field("delegate", delegate.as_bytes());
        }
        for scope in &self.scopes {
            field("scope", scope.as_bytes());
        }
        out
    }
}

impl CredentialSpec {
    /// Whether the issuer is asked for `scopes`. A token command (without impersonation)
    /// and gcloud (which impersonates by itself, and whose login cannot be narrowed)
    /// decide their scopes themselves: what they hand back is theirs.
    pub fn asks_for_scopes(&self) -> bool {
        match self.source {
            SourceSpec::Gcloud => false,
            SourceSpec::Command { .. } => self.impersonate.is_some(),
            _ => true,
        }
    }

    /// The same credential asked for other scopes: the Admin APIs take only broad tokens,
    /// while the login token keeps its narrow scope. A token command and gcloud decide
    /// their scopes themselves, so for them (without impersonation) the spec is returned
    /// unchanged.
    pub(crate) fn with_scopes(&self, scopes: &[&str]) -> CredentialSpec {
        let ignores_scopes = self.impersonate.is_none()
            && matches!(self.source, SourceSpec::Command { .. } | SourceSpec::Gcloud);
        let mut spec = self.clone();
        if !ignores_scopes {
            spec.scopes = scopes.iter().map(|s| s.to_string()).collect();
        }
        spec
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_description_is_fixed_and_unambiguous() {
        let spec = CredentialSpec {
            source: SourceSpec::Command {
                argv: vec!["a".into(), "b c".into()],
                timeout: Duration::from_secs(3),
            },
            impersonate: Some("sa@p.iam.gserviceaccount.com".into()),
            delegates: vec![],
            scopes: vec!["s".into()],
        };
        assert_eq!(
            String::from_utf8_lossy(&spec.stable_description()),
            "credential-v1;source=7:command;arg=1:a;arg=3:b c;timeout_ms=4:3000;impersonate=28:sa@p.iam.gserviceaccount.com;scope=1:s"
        );
        let mut joined = spec.clone();
        joined.source = SourceSpec::Command {
            argv: vec!["a b".into(), "c".into()],
            timeout: Duration::from_secs(3),
        };
        assert_ne!(joined.stable_description(), spec.stable_description());
    }
}
