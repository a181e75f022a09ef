//! Service-account impersonation on top of any source, through the IAM Credentials API's
//! `generateAccessToken` (with an optional delegation chain). The source's token needs
//! the cloud-platform scope; the new token gets the configured scopes, its expiry is the
//! API's `expireTime`, and its principal is the impersonated service account.

use jiff::Timestamp;

use super::oauth::{OAuthError, oauth_error};
use super::{Context, MintedToken, TokenSource, check_token};
use crate::error::{Error, Result};
use crate::http::{Body, Method, Request};
use crate::secret::Secret;

pub const DEFAULT_BASE: &str = "https://iamcredentials.googleapis.com";

pub struct Impersonation<'a> {
    inner: Box<dyn TokenSource + 'a>,
    target: String,
    delegates: Vec<String>,
    scopes: Vec<String>,
    /// The full generateAccessToken URL.
    url: String,
    ctx: &'a Context<'a>,
}

impl<'a> Impersonation<'a> {
    /// `url`: the URL named in a credential file, if any; `[endpoints] iamcredentials`
    /// wins over it, Google's default comes last.
    pub fn new(
        inner: Box<dyn TokenSource + 'a>,
        target: String,
        delegates: Vec<String>,
        scopes: Vec<String>,
        url: Option<String>,
        ctx: &'a Context<'a>,
    ) -> Self {
        let url = match (&ctx.endpoints.iamcredentials, url) {
            (Some(base), _) => generate_url(&base.0, &target),
            (None, Some(url)) => url,
            (None, None) => generate_url(DEFAULT_BASE, &target),
        };
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

pub fn generate_url(base: &str, target: &str) -> String {
    format!(
        "{}/v1/projects/-/serviceAccounts/{target}:generateAccessToken",
        base.trim_end_matches('/')
    )
}

/// The service account an impersonation URL names.
pub fn target_of(url: &str) -> Option<String> {
    let rest = url.split("/serviceAccounts/").nth(1)?;
    let email = rest.strip_suffix(":generateAccessToken")?;
    email.contains('@').then(|| email.to_string())
}

impl TokenSource for Impersonation<'_> {
    fn mint(&self) -> Result<MintedToken> {
        let source = self.inner.mint()?;
        let caller = source
            .principal
            .clone()
            .unwrap_or_else(|| "the source credential".into());
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
        let bearer = format!("Bearer {}", source.secret.expose());
        let what = "the IAM Credentials API";
        let answer = self.ctx.http.send(&Request {
            what,
            method: Method::Post,
            url: &self.url,
            headers: &[("Authorization", &bearer)],
            body: Body::Json(&body),
        })?;
        let json = answer.json(what)?;
        if answer.status != 200 {
            return Err(explain(
                &oauth_error(answer.status, &json),
                &self.target,
                &caller,
                &self.delegates,
            ));
        }
        let token = json
            .get("accessToken")
            .and_then(|v| v.as_str())
            .ok_or_else(|| Error::Source(format!("{what} answered without accessToken")))?;
        check_token(token, what)?;
        let expires_at: Timestamp = json
            .get("expireTime")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::Source(format!("{what} answered without a valid expireTime")))?;
        Ok(MintedToken {
            secret: Secret::new(token),
            expires_at,
            principal: Some(self.target.clone()),
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = generate_url(
            "https://iamcredentials.googleapis.com/",
            "sa@p.iam.gserviceaccount.com",
        );
        assert_eq!(
            url,
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken"
        );
        assert_eq!(
            target_of(&url).as_deref(),
            Some("sa@p.iam.gserviceaccount.com")
        );
        assert_eq!(target_of("https://x/v1/other"), None);
    }
}
