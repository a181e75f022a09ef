//! Application Default Credentials, found the way Google's libraries find them:
//! `GOOGLE_APPLICATION_CREDENTIALS`, else gcloud's application-default file, else the
//! metadata server. Each file type becomes the matching source.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::external::{ExternalAccount, ExternalSource, sts_scopes};
use super::impersonate::Impersonation;
use super::metadata::MetadataSource;
use super::service_account::{ServiceAccountKey, ServiceAccountSource};
use super::user::{AuthorizedUser, UserSource};
use crate::CLOUD_PLATFORM_SCOPE;
use crate::endpoints::impersonation_target;
use crate::error::{Error, Result};
use crate::principal::Principal;
use crate::token::{Context, TokenSource};
use crate::untrusted::credential_fields;

/// The source for ADC with `scopes`.
pub fn build<'a>(scopes: Vec<String>, ctx: &'a Context<'a>) -> Result<Box<dyn TokenSource + 'a>> {
    if let Some(path) = std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS").filter(|p| !p.is_empty())
    {
        let path = PathBuf::from(path);
        log::debug!("ADC: GOOGLE_APPLICATION_CREDENTIALS={}", path.display());
        return from_file(&path, scopes, ctx);
    }
    let well_known = well_known_file();
    if let Some(path) = well_known.as_ref().filter(|p| p.is_file()) {
        log::debug!("ADC: {}", path.display());
        return from_file(path, scopes, ctx);
    }
    log::debug!("ADC: no credentials file; using the metadata server");
    Ok(Box::new(MetadataFallback {
        inner: MetadataSource::new(scopes, ctx),
        well_known,
    }))
}

/// The metadata server as ADC's last resort: when it is not there either, the error
/// says everything that was tried.
struct MetadataFallback<'a> {
    inner: MetadataSource<'a>,
    well_known: Option<PathBuf>,
}

impl TokenSource for MetadataFallback<'_> {
    fn mint(&self) -> Result<crate::token::MintedToken> {
        self.inner.mint().map_err(|err| {
            Error::Source(format!(
                "no Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS is not set, {} does not exist, and the metadata server did not help ({err}); run `gcloud auth application-default login`, or set `credentials` in the config",
                self.well_known
                    .as_ref()
                    .map_or_else(|| "gcloud's credentials file".to_string(), |p| p.display().to_string())
            ))
        })
    }
}

/// gcloud's application-default file: `$CLOUDSDK_CONFIG`, else `~/.config/gcloud`.
fn well_known_file() -> Option<PathBuf> {
    let dir = match std::env::var_os("CLOUDSDK_CONFIG").filter(|p| !p.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => dirs::home_dir()?.join(".config").join("gcloud"),
    };
    Some(dir.join("application_default_credentials.json"))
}

/// Reads a credentials file and builds its source.
pub fn from_file<'a>(
    path: &Path,
    scopes: Vec<String>,
    ctx: &'a Context<'a>,
) -> Result<Box<dyn TokenSource + 'a>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Config(format!(
            "cannot read credentials file {}: {e}; fix the path or run `gcloud auth application-default login`",
            path.display()
        ))
    })?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::Config(format!(
            "{} is not JSON (line {}): not a credentials file",
            path.display(),
            e.line()
        ))
    })?;
    from_json(json, &path.display().to_string(), scopes, ctx)
}

/// The `type` every Google credentials file names.
#[derive(Deserialize)]
struct Kind {
    #[serde(rename = "type", default)]
    kind: String,
}

/// An `impersonated_service_account` file, as
/// `gcloud auth application-default login --impersonate-service-account` writes it.
#[derive(Deserialize)]
struct ImpersonatedFile {
    service_account_impersonation_url: String,
    #[serde(default)]
    delegates: Vec<String>,
    source_credentials: serde_json::Value,
}

fn from_json<'a>(
    json: serde_json::Value,
    origin: &str,
    scopes: Vec<String>,
    ctx: &'a Context<'a>,
) -> Result<Box<dyn TokenSource + 'a>> {
    let Kind { kind } = credential_fields(
        json.clone(),
        origin,
        "credentials file",
        "it is not a Google credentials file",
    )?;
    let origin_owned = origin.to_string();
    match kind.as_str() {
        "service_account" => {
            let key = ServiceAccountKey::from_json(json, origin)?;
            Ok(Box::new(ServiceAccountSource::new(
                key,
                origin_owned,
                scopes,
                ctx,
            )?))
        }
        "authorized_user" => {
            let user = AuthorizedUser::from_json(json, origin)?;
            Ok(Box::new(UserSource::new(user, origin_owned, scopes, ctx)?))
        }
        "impersonated_service_account" => {
            let file: ImpersonatedFile = credential_fields(
                json,
                origin,
                "impersonated_service_account file",
                "run `gcloud auth application-default login --impersonate-service-account=…` again",
            )?;
            let url = file.service_account_impersonation_url;
            let target = target_in(&url, origin)?;
            let inner = from_json(
                file.source_credentials,
                &format!("{origin} (source_credentials)"),
                vec![CLOUD_PLATFORM_SCOPE.to_string()],
                ctx,
            )?;
            Ok(Box::new(Impersonation::new(
                inner,
                target,
                file.delegates,
                scopes,
                Some(url),
                ctx,
            )))
        }
        "external_account" => {
            let account = ExternalAccount::from_json(json, origin)?;
            let url = account.service_account_impersonation_url.clone();
            let sts = sts_scopes(&account, &scopes);
            let inner: Box<dyn TokenSource + 'a> = Box::new(ExternalSource::new(
                account,
                origin_owned.clone(),
                sts,
                ctx,
            )?);
            match url {
                Some(url) => {
                    let target = target_in(&url, origin)?;
                    Ok(Box::new(Impersonation::new(
                        inner,
                        target,
                        Vec::new(),
                        scopes,
                        Some(url),
                        ctx,
                    )))
                }
                None => Ok(inner),
            }
        }
        "" => Err(Error::Config(format!(
            "{origin} has no \"type\"; it is not a Google credentials file"
        ))),
        other => Err(Error::Config(format!(
            "{origin} has type {other:?}, which is not supported (service_account, authorized_user, impersonated_service_account, external_account)"
        ))),
    }
}

/// The service account an impersonation URL in a credential file names.
fn target_in(url: &str, origin: &str) -> Result<Principal> {
    let target = impersonation_target(url).ok_or_else(|| {
        Error::Config(format!(
            "{origin}: cannot find the service account in {url}"
        ))
    })?;
    Principal::parse(&target, origin)
}

/// The `key_file` source: a file that must be a service-account key.
pub fn key_file<'a>(
    path: &Path,
    scopes: Vec<String>,
    ctx: &'a Context<'a>,
) -> Result<Box<dyn TokenSource + 'a>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read key_file {}: {e}", path.display())))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|_| Error::Config(format!("key_file {} is not JSON", path.display())))?;
    let is_key =
        serde_json::from_value::<Kind>(json.clone()).is_ok_and(|k| k.kind == "service_account");
    if !is_key {
        return Err(Error::Config(format!(
            "key_file {} is not a service-account key (its \"type\" is not \"service_account\"); use credentials = \"adc\" for other credential files",
            path.display()
        )));
    }
    let origin = path.display().to_string();
    let key = ServiceAccountKey::from_json(json, &origin)?;
    Ok(Box::new(ServiceAccountSource::new(
        key, origin, scopes, ctx,
    )?))
}
