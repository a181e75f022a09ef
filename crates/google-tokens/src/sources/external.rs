//! Workload identity federation (`external_account` files): a subject token from a file
//! or URL is exchanged at Google's Security Token Service for an access token. A federated
//! identity has no e-mail, so without impersonation the service needs an explicit `user`;
//! with `service_account_impersonation_url` the token is exchanged once more for the
//! service account's.

use jiff::Timestamp;
use serde::Deserialize;

use crate::CLOUD_PLATFORM_SCOPE;
use crate::endpoints::{Api, Universe};
use crate::error::{Error, Result};
use crate::http::{Body, Method, Request};
use crate::oauth::token_answer;
use crate::token::{Context, MintedToken, TokenSource};
use crate::untrusted::credential_fields;

#[derive(Deserialize)]
pub struct ExternalAccount {
    audience: String,
    subject_token_type: String,
    #[serde(default)]
    token_url: Option<String>,
    credential_source: CredentialSource,
    #[serde(default)]
    pub service_account_impersonation_url: Option<String>,
    #[serde(default)]
    universe_domain: Option<String>,
}

#[derive(Deserialize)]
struct CredentialSource {
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    headers: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    format: Option<Format>,
    #[serde(default)]
    executable: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    environment_id: Option<String>,
}

#[derive(Deserialize)]
struct Format {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    subject_token_field_name: Option<String>,
}

impl ExternalAccount {
    pub fn from_json(value: serde_json::Value, origin: &str) -> Result<ExternalAccount> {
        let account: ExternalAccount = credential_fields(
            value,
            origin,
            "external_account file",
            "create it again with `gcloud iam workload-identity-pools create-cred-config`",
        )?;
        let source = &account.credential_source;
        if source.executable.is_some() || source.environment_id.is_some() {
            return Err(Error::Config(format!(
                "{origin}: executable- and AWS/Azure-sourced external accounts are not supported; use a file- or URL-sourced credential, or credentials = {{ command = … }}"
            )));
        }
        if source.file.is_none() && source.url.is_none() {
            return Err(Error::Config(format!(
                "{origin}: credential_source names neither a file nor a url"
            )));
        }
        Ok(account)
    }
}

pub struct ExternalSource<'a> {
    account: ExternalAccount,
    universe: Universe,
    origin: String,
    scopes: Vec<String>,
    ctx: &'a Context<'a>,
}

impl<'a> ExternalSource<'a> {
    /// `scopes`: what the STS token is for; with impersonation the caller asks for
    /// cloud-platform here and the configured scopes from IAM Credentials.
    pub fn new(
        account: ExternalAccount,
        origin: String,
        scopes: Vec<String>,
        ctx: &'a Context<'a>,
    ) -> Result<Self> {
        Ok(ExternalSource {
            universe: Universe::parse(account.universe_domain.as_deref(), &origin)?,
            account,
            origin,
            scopes,
            ctx,
        })
    }

    fn subject_token(&self) -> Result<String> {
        let source = &self.account.credential_source;
        let raw = if let Some(path) = &source.file {
            std::fs::read_to_string(path).map_err(|e| {
                Error::Source(format!(
                    "cannot read the subject token file {path} named in {}: {e}",
                    self.origin
                ))
            })?
        } else if let Some(url) = &source.url {
            let headers: Vec<(&str, &str)> = source
                .headers
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let answer = self.ctx.http.send(&Request {
                what: "the subject token URL",
                method: Method::Get,
                url,
                headers: &headers,
                body: Body::Empty,
                to_metadata_server: false,
            })?;
            if answer.status != 200 {
                return Err(Error::Source(format!(
                    "the subject token URL {url} answered HTTP {}",
                    answer.status
                )));
            }
            answer.body
        } else {
            String::new()
        };
        let format = source.format.as_ref();
        let token = match format.and_then(|f| f.kind.as_deref()) {
            Some("json") => {
                let field = format
                    .and_then(|f| f.subject_token_field_name.as_deref())
                    .unwrap_or("access_token");
                // The field's name comes from the file, so the answer is a map of names.
                serde_json::from_str::<std::collections::HashMap<String, serde_json::Value>>(&raw)
                    .ok()
                    .and_then(|mut fields| match fields.remove(field) {
                        Some(serde_json::Value::String(token)) => Some(token),
                        _ => None,
                    })
                    .ok_or_else(|| {
                        Error::Source(format!(
                            "the subject token source of {} is not JSON with a {field:?} field",
                            self.origin
                        ))
                    })?
            }
            _ => raw.trim().to_string(),
        };
        if token.is_empty() {
            return Err(Error::Source(format!(
                "the subject token of {} is empty",
                self.origin
            )));
        }
        Ok(token)
    }
}

impl TokenSource for ExternalSource<'_> {
    fn mint(&self) -> Result<MintedToken> {
        let now = Timestamp::now();
        let subject = self.subject_token()?;
        let url =
            self.ctx
                .endpoints
                .url(Api::Sts, self.account.token_url.as_deref(), &self.universe);
        let scope = self.scopes.join(" ");
        let what = "the Security Token Service";
        let answer = self.ctx.http.post_form(
            what,
            &url,
            &[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("audience", &self.account.audience),
                ("scope", &scope),
                (
                    "requested_token_type",
                    "urn:ietf:params:oauth:token-type:access_token",
                ),
                ("subject_token", &subject),
                ("subject_token_type", &self.account.subject_token_type),
            ],
        )?;
        let granted = token_answer(&answer, what, now)?.map_err(|err| {
            Error::Source(format!(
                "the Security Token Service refused the subject token of {} ({}); check the workload identity pool, its provider and the audience",
                self.origin,
                err.summary()
            ))
        })?;
        // A federated identity has no e-mail: without impersonation the service names
        // its database user itself.
        let scopes = granted.scopes.or_else(|| Some(self.scopes.clone()));
        Ok(MintedToken::new(granted.secret, granted.expires_at, what)?.with_scopes(scopes))
    }

    fn universe(&self) -> &Universe {
        &self.universe
    }
}

/// The scopes to ask STS for: cloud-platform when the token is only a step towards
/// impersonation.
pub fn sts_scopes(account: &ExternalAccount, configured: &[String]) -> Vec<String> {
    if account.service_account_impersonation_url.is_some() {
        vec![CLOUD_PLATFORM_SCOPE.to_string()]
    } else {
        configured.to_vec()
    }
}
