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
use crate::input_file;
use crate::oauth::ADC_LOGIN_ADVICE;
use crate::principal::Principal;
use crate::token::{Context, TokenSource};
use crate::untrusted::credential_fields;

/// Where Application Default Credentials come from on this machine, found the way
/// `build` finds them, without reading any secret: for a diagnosis that names the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdcOrigin {
    /// `GOOGLE_APPLICATION_CREDENTIALS` names this file.
    Variable(PathBuf),
    /// gcloud's application-default file (`gcloud auth application-default login`).
    GcloudFile(PathBuf),
    /// No file: the metadata server, at this host (`GCE_METADATA_HOST` or Google's).
    MetadataServer(String),
}

impl AdcOrigin {
    /// Where `adc` looks, in Google's order.
    pub fn find() -> AdcOrigin {
        if let Some(path) =
            std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS").filter(|p| !p.is_empty())
        {
            return AdcOrigin::Variable(PathBuf::from(path));
        }
        match well_known_file().filter(|p| p.is_file()) {
            Some(path) => AdcOrigin::GcloudFile(path),
            None => AdcOrigin::MetadataServer(super::metadata::host()),
        }
    }

    /// One phrase: where, and what kind of credential the file holds (its `type`; only
    /// that field is read, and only a known kind is named).
    pub fn describe(&self) -> String {
        match self {
            AdcOrigin::Variable(path) => format!(
                "GOOGLE_APPLICATION_CREDENTIALS names {} ({})",
                path.display(),
                file_kind(path)
            ),
            AdcOrigin::GcloudFile(path) => {
                format!("gcloud's file {} ({})", path.display(), file_kind(path))
            }
            AdcOrigin::MetadataServer(host) => format!(
                "no credentials file (GOOGLE_APPLICATION_CREDENTIALS is not set and gcloud's application-default file does not exist), so the metadata server at {host}"
            ),
        }
    }
}

/// What kind of credential a file holds, in words.
fn file_kind(path: &Path) -> &'static str {
    let Ok(text) = input_file::read_to_string(path) else {
        return "cannot be read";
    };
    let kind = serde_json::from_str::<Kind>(&text).map(|k| k.kind);
    match kind.as_deref() {
        Ok("service_account") => "a service-account key",
        Ok("authorized_user") => "a user's login",
        Ok("impersonated_service_account") => "a login that impersonates a service account",
        Ok("external_account") => "workload identity federation",
        Ok(_) => "not a credential type alloydb-cred knows",
        Err(_) => "not a JSON credentials file",
    }
}

/// The source for ADC with `scopes`.
pub fn build<'a>(scopes: Vec<String>, ctx: &'a Context<'a>) -> Result<Box<dyn TokenSource + 'a>> {
    match AdcOrigin::find() {
        AdcOrigin::Variable(path) => {
            log::debug!("ADC: GOOGLE_APPLICATION_CREDENTIALS={}", path.display());
            from_file(&path, scopes, ctx)
        }
        AdcOrigin::GcloudFile(path) => {
            log::debug!("ADC: {}", path.display());
            from_file(&path, scopes, ctx)
        }
        AdcOrigin::MetadataServer(_) => {
            log::debug!("ADC: no credentials file; using the metadata server");
            Ok(Box::new(MetadataFallback {
                inner: MetadataSource::new(scopes, ctx),
                well_known: well_known_file(),
            }))
        }
    }
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
                "no Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS is not set, {} does not exist, and the metadata server did not help ({err}); {ADC_LOGIN_ADVICE}, or set `credentials` in the config",
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
    let text = input_file::read_to_string(path).map_err(|e| {
        Error::Config(format!(
            "cannot read credentials file {}: {e}; fix the path, or {ADC_LOGIN_ADVICE}",
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
    let text = input_file::read_to_string(path)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_described_by_its_kind_and_never_by_its_secrets() {
        let dir = std::env::temp_dir().join(format!("adc-origin-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let cases = [
            (
                r#"{"type": "authorized_user", "refresh_token": "1//SECRETREFRESH"}"#,
                "a user's login",
            ),
            (r#"{"type": "service_account"}"#, "a service-account key"),
            (r#"{"type": "other"}"#, "not a credential type"),
            ("not json", "not a JSON credentials file"),
        ];
        for (i, (text, expected)) in cases.iter().enumerate() {
            let path = dir.join(format!("{i}.json"));
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
            let described = AdcOrigin::Variable(path.clone()).describe();
            assert!(
                described.starts_with(&format!(
                    "GOOGLE_APPLICATION_CREDENTIALS names {}",
                    path.display()
                )) && described.contains(expected),
                "{described}"
            );
            assert!(!described.contains("SECRET"), "{described}");
        }
        let missing = AdcOrigin::GcloudFile(dir.join("missing.json")).describe();
        assert!(missing.contains("cannot be read"), "{missing}");
        let metadata = AdcOrigin::MetadataServer("169.254.169.254".into()).describe();
        assert!(metadata.ends_with("the metadata server at 169.254.169.254"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
