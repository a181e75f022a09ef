//! Every source, and the one function that picks the right one for a credential.

mod adc;
mod command;
mod external;
mod gcloud;
mod impersonate;
mod metadata;
mod service_account;
mod user;

use crate::CLOUD_PLATFORM_SCOPE;
use crate::credential::{CredentialSpec, SourceSpec};
use crate::error::Result;
use crate::principal::Principal;
use crate::token::{Context, TokenSource};

use command::CommandSource;
use gcloud::GcloudSource;
use impersonate::Impersonation;
use metadata::MetadataSource;

pub use adc::AdcOrigin;
pub use metadata::host as metadata_host;

/// Builds the source for a credential spec: the base source, with impersonation on top
/// when the spec asks for it (the base then mints a cloud-platform token, which the IAM
/// Credentials API requires). gcloud impersonates by itself.
pub fn build<'a>(spec: &CredentialSpec, ctx: &'a Context<'a>) -> Result<Box<dyn TokenSource + 'a>> {
    let base_scopes = match spec.impersonate {
        Some(_) => vec![CLOUD_PLATFORM_SCOPE.to_string()],
        None => spec.scopes.clone(),
    };
    let base: Box<dyn TokenSource + 'a> = match &spec.source {
        SourceSpec::Gcloud => {
            return Ok(Box::new(GcloudSource::new(
                spec.impersonate.clone(),
                spec.delegates.clone(),
                ctx,
            )));
        }
        SourceSpec::Command { argv, timeout } => {
            Box::new(CommandSource::new(argv.clone(), *timeout, ctx))
        }
        SourceSpec::Metadata => Box::new(MetadataSource::new(base_scopes, ctx)),
        SourceSpec::KeyFile(path) => adc::key_file(path, base_scopes, ctx)?,
        SourceSpec::Adc => adc::build(base_scopes, ctx)?,
    };
    Ok(match &spec.impersonate {
        Some(target) => Box::new(Impersonation::new(
            base,
            Principal::parse(target, "`impersonate` in the configuration")?,
            spec.delegates.clone(),
            spec.scopes.clone(),
            None,
            ctx,
        )),
        None => base,
    })
}
