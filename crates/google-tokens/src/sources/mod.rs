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
use crate::endpoints::Universe;
use crate::error::Result;
use crate::principal::Principal;
use crate::token::{Context, MintedToken, TokenSource};

use command::CommandSource;
use gcloud::GcloudSource;
use impersonate::Impersonation;
use metadata::MetadataSource;

pub use adc::AdcOrigin;
pub use metadata::host as metadata_host;

/// Builds the source for a credential spec: the base source, with impersonation on top
/// when the spec asks for it (the base then mints a cloud-platform token, which the IAM
/// Credentials API requires). gcloud impersonates by itself.
///
/// Both the base and the finished source mint through `ctx`'s per-run memory, so every
/// service, impersonation chain and Admin API client built on one base credential (the
/// same source asked for the same scopes) shares one base token per run.
pub fn build<'a>(spec: &CredentialSpec, ctx: &'a Context<'a>) -> Result<Box<dyn TokenSource + 'a>> {
    let base_scopes = match spec.impersonate {
        Some(_) => vec![CLOUD_PLATFORM_SCOPE.to_string()],
        None => spec.scopes.clone(),
    };
    let base_spec = CredentialSpec {
        source: spec.source.clone(),
        impersonate: None,
        delegates: vec![],
        scopes: base_scopes.clone(),
    };
    let base: Box<dyn TokenSource + 'a> = match &spec.source {
        SourceSpec::Gcloud => {
            return Ok(shared(
                spec,
                Box::new(GcloudSource::new(
                    spec.impersonate.clone(),
                    spec.delegates.clone(),
                    ctx,
                )),
                ctx,
            ));
        }
        SourceSpec::Command { argv, timeout } => {
            Box::new(CommandSource::new(argv.clone(), *timeout, ctx))
        }
        SourceSpec::Metadata => Box::new(MetadataSource::new(base_scopes, ctx)),
        SourceSpec::KeyFile(path) => adc::key_file(path, base_scopes, ctx)?,
        SourceSpec::Adc => adc::build(base_scopes, ctx)?,
    };
    let base = shared(&base_spec, base, ctx);
    Ok(match &spec.impersonate {
        Some(target) => shared(
            spec,
            Box::new(Impersonation::new(
                base,
                Principal::parse(target, "`impersonate` in the configuration")?,
                spec.delegates.clone(),
                spec.scopes.clone(),
                None,
                ctx,
            )),
            ctx,
        ),
        None => base,
    })
}

fn shared<'a>(
    key: &CredentialSpec,
    inner: Box<dyn TokenSource + 'a>,
    ctx: &'a Context<'a>,
) -> Box<dyn TokenSource + 'a> {
    Box::new(Shared {
        key: key.clone(),
        inner,
        ctx,
    })
}

/// A source whose tokens are minted once per run and credential (`key`), through the
/// context.
struct Shared<'a> {
    key: CredentialSpec,
    inner: Box<dyn TokenSource + 'a>,
    ctx: &'a Context<'a>,
}

impl TokenSource for Shared<'_> {
    fn mint(&self) -> Result<MintedToken> {
        self.ctx.minted.get_or_mint(&self.key, || self.inner.mint())
    }

    fn universe(&self) -> &Universe {
        self.inner.universe()
    }
}
