//! The GCE / GKE / Cloud Run metadata server. It caches a token and hands out the same
//! one until about five minutes before it expires, so the expiry is taken from each
//! answer's `expires_in`, never assumed: a token with 5 minutes left gets an entry that
//! says 5 minutes. The principal is the e-mail the server reports.

use crate::error::{Error, Result};
use crate::http::{Answer, Body, Method, Request};
use crate::oauth::token_answer;
use crate::principal::Principal;
use crate::token::{Context, MintedToken, TokenSource};

const DEFAULT_HOST: &str = "metadata.google.internal";
const ACCOUNT_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default";
const FLAVOR: (&str, &str) = ("Metadata-Flavor", "Google");

/// The metadata server's host: `GCE_METADATA_HOST` (`host[:port]`), as in Google's own
/// libraries, else Google's name for it.
pub fn host() -> String {
    std::env::var("GCE_METADATA_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| DEFAULT_HOST.to_string())
}

pub struct MetadataSource<'a> {
    base: String,
    scopes: Vec<String>,
    ctx: &'a Context<'a>,
}

impl<'a> MetadataSource<'a> {
    /// `GCE_METADATA_HOST` (host[:port]) redirects it, as in Google's own libraries.
    pub fn new(scopes: Vec<String>, ctx: &'a Context<'a>) -> Self {
        MetadataSource {
            base: format!("http://{}{ACCOUNT_PATH}", host()),
            scopes,
            ctx,
        }
    }

    fn get(&self, what: &str, url: &str) -> Result<Answer> {
        self.ctx.http.send(&Request {
            what,
            method: Method::Get,
            url,
            headers: &[FLAVOR],
            body: Body::Empty,
            to_metadata_server: true,
        })
    }
}

impl TokenSource for MetadataSource<'_> {
    fn mint(&self) -> Result<MintedToken> {
        let now = crate::clock::now();
        let what = "the metadata server";
        let url = format!("{}/token?scopes={}", self.base, self.scopes.join(","));
        let answer = self.get(what, &url)?;
        let granted = token_answer(&answer, what, now)?.map_err(|err| {
            Error::Source(format!(
                "the metadata server refused a token ({}); check that the instance has a service account with the scopes {} (or cloud-platform)",
                err.summary(),
                self.scopes.join(",")
            ))
        })?;
        let email_answer = self.get(what, &format!("{}/email", self.base))?;
        if email_answer.status != 200 {
            return Err(Error::Source(format!(
                "the metadata server did not report the service account's e-mail (HTTP {})",
                email_answer.status
            )));
        }
        let principal = Principal::parse(email_answer.body.trim(), what)?;
        // The server grants the scopes asked for (within the instance's access scopes).
        let scopes = granted.scopes.or_else(|| Some(self.scopes.clone()));
        Ok(MintedToken::new(granted.secret, granted.expires_at, what)?
            .with_principal(Some(principal))
            .with_scopes(scopes))
    }
}
