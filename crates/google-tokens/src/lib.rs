//! Google OAuth2 access tokens, each with its **real** expiry and, where it can be known,
//! the principal it speaks for, from every kind of Google credential: Application Default
//! Credentials (service-account keys, user logins, impersonated service accounts,
//! workload identity federation), the metadata server, the gcloud CLI, a token command,
//! and IAM impersonation on top of any of them.
//!
//! What this crate owns: finding and reading credentials, talking to Google's token
//! endpoints and to the Admin APIs that describe database instances ([`AdminClient`]),
//! with one lazily built HTTP client, validating every answer, and keeping secrets out of
//! every message ([`Secret`], [`redact`]).
//!
//! What it must never do: know about libpq's files or the tool's configuration file,
//! assume an expiry it was not told, or put a secret into an error, a log line or a
//! `Debug` print.

pub mod clock;
mod credential;
mod endpoints;
mod error;
mod http;
mod input_file;
mod instance;
mod oauth;
mod principal;
pub mod process;
mod secret;
mod sources;
mod token;
mod tokeninfo;
mod untrusted;

pub use credential::{CredentialSpec, SourceSpec};
pub use endpoints::{Endpoints, Universe};
pub use error::{Error, Result};
pub use http::is_loopback_http;
pub use instance::{
    AdminClient, InstanceKind, InstanceName, InstanceRequest, IpType, ListedInstance, Listing,
    Resolution, ServerCa, ServerTls, default_project, is_project_id,
};
pub use oauth::{ADC_LOGIN_ADVICE, ADC_LOGIN_WITH_ALLOYDB_SCOPE, IF_APP_BLOCKED};
pub use principal::{Principal, database_user};
pub use secret::{Secret, redact};
pub use sources::{AdcOrigin, build, metadata_host};
pub use token::{Breadth, Context, MintedToken, PrincipalMemory, TokenSource};
pub use tokeninfo::{TokenInfo, TokenInfoError, lookup as tokeninfo};

/// The scope that restricts a token to AlloyDB login.
pub const ALLOYDB_LOGIN_SCOPE: &str = "https://www.googleapis.com/auth/alloydb.login";
/// The scope that restricts a token to Cloud SQL login.
pub const SQLSERVICE_LOGIN_SCOPE: &str = "https://www.googleapis.com/auth/sqlservice.login";
/// The scope every Google API accepts; the IAM Credentials API requires it of callers.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
