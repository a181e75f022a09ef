//! Workload identity federation (`external_account` files): a subject token is exchanged
//! at Google's Security Token Service for an access token. The subject token comes from a
//! file or a URL (here), from AWS (a signed `GetCallerIdentity` request, [`aws`]) or from
//! a program (an OIDC or SAML token, [`executable`]). A federated identity has no e-mail,
//! so without impersonation the service needs an explicit `user`; with
//! `service_account_impersonation_url` the token is exchanged once more for the service
//! account's.

mod aws;
mod executable;
mod sigv4;

use std::collections::BTreeMap;
use std::path::Path;

use jiff::Timestamp;
use serde::Deserialize;

use crate::CLOUD_PLATFORM_SCOPE;
use crate::endpoints::{Api, Universe, impersonation_target};
use crate::error::{Error, Result};
use crate::input_file;
use crate::oauth::token_answer;
use crate::secret::{Secret, redact};
use crate::token::{Context, MintedToken, TokenSource};
use crate::untrusted::credential_fields;

use aws::{AwsFields, AwsSource};
use executable::{ExecutableConfig, ExecutableSource};

/// An `external_account` file as `gcloud iam workload-identity-pools create-cred-config`
/// writes it.
#[derive(Deserialize)]
struct AccountFile {
    audience: String,
    subject_token_type: String,
    #[serde(default)]
    token_url: Option<String>,
    credential_source: SourceFields,
    #[serde(default)]
    service_account_impersonation_url: Option<String>,
    #[serde(default)]
    universe_domain: Option<String>,
}

/// `credential_source`, every kind's fields together (`url` serves two kinds).
#[derive(Deserialize)]
struct SourceFields {
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    format: Option<Format>,
    #[serde(default)]
    executable: Option<ExecutableConfig>,
    #[serde(default)]
    environment_id: Option<String>,
    #[serde(default)]
    region_url: Option<String>,
    #[serde(default)]
    regional_cred_verification_url: Option<String>,
    #[serde(default)]
    imdsv2_session_token_url: Option<String>,
}

#[derive(Deserialize)]
struct Format {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    subject_token_field_name: Option<String>,
}

/// Where the subject token comes from.
enum Subject {
    File {
        path: String,
        format: Option<Format>,
    },
    Url {
        url: String,
        headers: BTreeMap<String, String>,
        format: Option<Format>,
    },
    Aws(AwsSource),
    Executable(ExecutableSource),
}

/// A checked `external_account` file.
pub struct ExternalAccount {
    audience: String,
    subject_token_type: String,
    token_url: Option<String>,
    subject: Subject,
    pub service_account_impersonation_url: Option<String>,
    universe_domain: Option<String>,
}

impl ExternalAccount {
    pub fn from_json(value: serde_json::Value, origin: &str) -> Result<ExternalAccount> {
        let file: AccountFile = credential_fields(
            value,
            origin,
            "external_account file",
            "create it again with `gcloud iam workload-identity-pools create-cred-config`",
        )?;
        let source = file.credential_source;
        // The kinds are told apart as Google's libraries tell them apart: AWS first,
        // then a program, then a file or URL.
        let subject = if let Some(environment_id) = source.environment_id {
            Subject::Aws(AwsSource::new(
                AwsFields {
                    environment_id,
                    region_url: source.region_url,
                    url: source.url,
                    regional_cred_verification_url: source.regional_cred_verification_url,
                    imdsv2_session_token_url: source.imdsv2_session_token_url,
                },
                origin,
            )?)
        } else if let Some(config) = source.executable {
            Subject::Executable(ExecutableSource::new(
                config,
                &file.subject_token_type,
                origin,
            )?)
        } else if let Some(path) = source.file {
            Subject::File {
                path,
                format: source.format,
            }
        } else if let Some(url) = source.url {
            Subject::Url {
                url,
                headers: source.headers.unwrap_or_default(),
                format: source.format,
            }
        } else {
            return Err(Error::Config(format!(
                "{origin}: credential_source names no file, url, executable or AWS environment_id"
            )));
        };
        Ok(ExternalAccount {
            audience: file.audience,
            subject_token_type: file.subject_token_type,
            token_url: file.token_url,
            subject,
            service_account_impersonation_url: file.service_account_impersonation_url,
            universe_domain: file.universe_domain,
        })
    }
}

pub struct ExternalSource<'a> {
    account: ExternalAccount,
    /// The service account the file impersonates, told to a credential program.
    impersonated: Option<String>,
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
            impersonated: account
                .service_account_impersonation_url
                .as_deref()
                .and_then(impersonation_target),
            account,
            origin,
            scopes,
            ctx,
        })
    }

    /// The subject token, and the secrets it was made with (which no message may show).
    fn subject_token(&self) -> Result<(Secret, Vec<Secret>)> {
        let (raw, format) = match &self.account.subject {
            Subject::Aws(aws) => {
                let signed = aws.subject_token(&self.ctx.http, &self.account.audience)?;
                return Ok((signed.token, signed.secrets));
            }
            Subject::Executable(program) => {
                let token = program.subject_token(&executable::Request {
                    audience: &self.account.audience,
                    token_type: &self.account.subject_token_type,
                    impersonated: self.impersonated.as_deref(),
                })?;
                return Ok((token, Vec::new()));
            }
            Subject::File { path, format } => (
                input_file::read_to_string(Path::new(path)).map_err(|e| {
                    Error::Source(format!(
                        "cannot read the subject token file {path} named in {}: {e}",
                        self.origin
                    ))
                })?,
                format,
            ),
            Subject::Url {
                url,
                headers,
                format,
            } => {
                let headers: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                // Azure's managed identity answers on the link-local metadata address.
                let answer =
                    self.ctx
                        .http
                        .get_instance_metadata("the subject token URL", url, &headers)?;
                if answer.status != 200 {
                    return Err(Error::Source(format!(
                        "the subject token URL {url} answered HTTP {}",
                        answer.status
                    )));
                }
                (answer.body, format)
            }
        };
        let format = format.as_ref();
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
        Ok((Secret::new(token), Vec::new()))
    }
}

impl TokenSource for ExternalSource<'_> {
    fn mint(&self) -> Result<MintedToken> {
        let now = Timestamp::now();
        let (subject, secrets) = self.subject_token()?;
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
                ("subject_token", subject.expose()),
                ("subject_token_type", &self.account.subject_token_type),
            ],
        )?;
        let granted = token_answer(&answer, what, now)?.map_err(|err| {
            // STS may quote parts of the subject token, which holds AWS secrets.
            let mut known: Vec<&str> = secrets.iter().map(Secret::expose).collect();
            known.push(subject.expose());
            let check = match self.account.subject {
                Subject::Aws(_) => {
                    "check the AWS credentials, the workload identity pool's AWS provider and the audience"
                }
                _ => "check the workload identity pool, its provider and the audience",
            };
            Error::Source(format!(
                "the Security Token Service refused the subject token of {} ({}); {check}",
                self.origin,
                redact(&err.summary(), &known)
            ))
        })?;
        // A federated identity has no e-mail: without impersonation the service names
        // its database user itself, and is told why when it does not.
        let scopes = granted.scopes.or_else(|| Some(self.scopes.clone()));
        Ok(MintedToken::new(granted.secret, granted.expires_at, what)?
            .with_scopes(scopes)
            .federated())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(credential_source: serde_json::Value, token_type: &str) -> serde_json::Value {
        serde_json::json!({
            "type": "external_account",
            "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q",
            "subject_token_type": token_type,
            "credential_source": credential_source,
        })
    }

    fn kind(credential_source: serde_json::Value, token_type: &str) -> Result<&'static str> {
        ExternalAccount::from_json(file(credential_source, token_type), "f.json").map(|a| {
            match a.subject {
                Subject::File { .. } => "file",
                Subject::Url { .. } => "url",
                Subject::Aws(_) => "aws",
                Subject::Executable(_) => "executable",
            }
        })
    }

    const AWS: &str = "urn:ietf:params:aws:token-type:aws4_request";

    #[test]
    fn every_kind_of_credential_source_is_told_apart_and_checked() {
        let verification =
            "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15";
        let aws = serde_json::json!({
            "environment_id": "aws1",
            "region_url": "http://169.254.169.254/latest/meta-data/placement/availability-zone",
            "url": "http://169.254.169.254/latest/meta-data/iam/security-credentials",
            "regional_cred_verification_url": verification,
        });
        assert_eq!(kind(aws.clone(), AWS).ok(), Some("aws"));
        assert_eq!(
            kind(
                serde_json::json!({"executable": {"command": "/bin/x"}}),
                executable::JWT
            )
            .ok(),
            Some("executable")
        );
        assert_eq!(
            kind(serde_json::json!({"file": "/t"}), executable::JWT).ok(),
            Some("file")
        );
        assert_eq!(
            kind(serde_json::json!({"url": "https://x/t"}), executable::JWT).ok(),
            Some("url")
        );

        let mut refused = Vec::new();
        for (name, value) in [
            ("environment_id", serde_json::json!("aws2")),
            ("environment_id", serde_json::json!("azure1")),
            ("regional_cred_verification_url", serde_json::Value::Null),
            (
                "regional_cred_verification_url",
                serde_json::json!("http://sts.{region}.amazonaws.com?Action=GetCallerIdentity"),
            ),
        ] {
            let mut source = aws.clone();
            source[name] = value;
            refused.push(kind(source, AWS));
        }
        refused.push(kind(
            serde_json::json!({"executable": {"command": "/bin/x", "timeout_millis": 1000}}),
            executable::JWT,
        ));
        refused.push(kind(
            serde_json::json!({"executable": {"command": "/bin/x"}}),
            AWS,
        ));
        refused.push(kind(serde_json::json!({"headers": {}}), executable::JWT));
        for result in refused {
            match result {
                Ok(kind) => panic!("accepted as {kind}"),
                Err(e) => assert!(e.needs_user() && e.to_string().starts_with("f.json"), "{e}"),
            }
        }
    }
}
