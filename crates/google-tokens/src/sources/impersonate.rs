//! Service-account impersonation on top of any source, through the IAM Credentials API's
//! `generateAccessToken` (with an optional delegation chain). The source's token needs
//! the cloud-platform scope; the new token gets the configured scopes, its expiry is the
//! API's `expireTime`, and its principal is the impersonated service account.

use jiff::Timestamp;
use serde::Deserialize;

use crate::endpoints::Api;
use crate::error::{Error, Result};
use crate::http::{Body, Method, Request};
use crate::oauth::{OAuthError, oauth_error};
use crate::principal::Principal;
use crate::secret::Secret;
use crate::token::{Context, MintedToken, TokenSource};

/// `generateAccessToken`'s answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Generated {
    access_token: String,
    expire_time: String,
}

pub struct Impersonation<'a> {
    inner: Box<dyn TokenSource + 'a>,
    target: Principal,
    delegates: Vec<String>,
    scopes: Vec<String>,
    /// The full generateAccessToken URL.
    url: String,
    ctx: &'a Context<'a>,
}

impl<'a> Impersonation<'a> {
    /// `url`: the URL named in a credential file, if any; a configured endpoint wins
    /// over it, Google's default comes last.
    pub fn new(
        inner: Box<dyn TokenSource + 'a>,
        target: Principal,
        delegates: Vec<String>,
        scopes: Vec<String>,
        url: Option<String>,
        ctx: &'a Context<'a>,
    ) -> Self {
        let url = ctx.endpoints.url(
            Api::GenerateAccessToken(target.as_str()),
            url.as_deref(),
            inner.universe(),
        );
        Impersonation {
            inner,
            target,
            delegates,
            scopes,
            url,
            ctx,
        }
    }
}

impl TokenSource for Impersonation<'_> {
    fn mint(&self) -> Result<MintedToken> {
        let source = self.inner.mint()?;
        let caller = source
            .principal()
            .map_or_else(|| "the source credential".into(), |p| p.to_string());
        let delegates: Vec<String> = self
            .delegates
            .iter()
            .map(|d| {
                if d.starts_with("projects/") {
                    d.clone()
                } else {
                    format!("projects/-/serviceAccounts/{d}")
                }
            })
            .collect();
        let body = serde_json::json!({
            "delegates": delegates,
            "scope": self.scopes,
            "lifetime": "3600s",
        });
        let bearer = format!("Bearer {}", source.secret().expose());
        let what = "the IAM Credentials API";
        let answer = self.ctx.http.send(&Request {
            what,
            method: Method::Post,
            url: &self.url,
            headers: &[("Authorization", &bearer)],
            body: Body::Json(&body),
            to_metadata_server: false,
        })?;
        if answer.status != 200 {
            return Err(explain(
                &oauth_error(&answer, what)?,
                self.target.as_str(),
                &caller,
                &self.delegates,
            ));
        }
        let generated: Generated = answer.parse(what)?;
        let expires_at: Timestamp = generated
            .expire_time
            .parse()
            .map_err(|_| Error::Source(format!("{what} answered without a valid expireTime")))?;
        Ok(
            MintedToken::new(Secret::new(generated.access_token), expires_at, what)?
                .with_principal(Some(self.target.clone()))
                .with_scopes(Some(self.scopes.clone())),
        )
    }
}

fn explain(err: &OAuthError, target: &str, caller: &str, delegates: &[String]) -> Error {
    let fix = if err.status == 403 && err.description.contains("getAccessToken") {
        let first = delegates.first().map_or(target, String::as_str);
        let member = if caller.ends_with(".gserviceaccount.com") {
            format!("serviceAccount:{caller}")
        } else if caller.contains('@') {
            format!("user:{caller}")
        } else {
            "MEMBER".to_string()
        };
        format!(
            "{caller} may not impersonate {first}; grant it the Service Account Token Creator role: gcloud iam service-accounts add-iam-policy-binding {first} --member={member} --role=roles/iam.serviceAccountTokenCreator{}",
            if delegates.is_empty() {
                ""
            } else {
                ", and likewise along the delegation chain"
            }
        )
    } else if err.status == 403 {
        "the source credential's token lacks the cloud-platform scope the IAM Credentials API requires".to_string()
    } else if err.status == 401 {
        "the source credential's token was rejected: refresh or recreate the source credentials"
            .to_string()
    } else {
        "check `impersonate` and `delegates` in the config".to_string()
    };
    Error::Source(format!(
        "impersonating {target} failed ({}); {fix}",
        err.summary()
    ))
}
