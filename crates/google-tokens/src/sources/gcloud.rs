//! The gcloud CLI as a source, for people whose only login is `gcloud auth login`.
//! `gcloud config config-helper --format=json` gives the token with its real expiry and
//! the account; with `impersonate`, `gcloud auth print-access-token
//! --impersonate-service-account=DELEGATES…,TARGET` gives the service account's token,
//! whose expiry comes from tokeninfo.

use std::time::Duration;

use jiff::Timestamp;

use serde::Deserialize;

use crate::endpoints::Universe;
use crate::error::{Error, Result};
use crate::principal::Principal;
use crate::secret::Secret;
use crate::token::{Context, MintedToken, TokenSource};
use crate::untrusted::{check_token, json_problem};
use crate::{CLOUD_PLATFORM_SCOPE, process, tokeninfo};

/// gcloud starts a Python interpreter and may refresh its own tokens: give it time.
const TIMEOUT: Duration = Duration::from_secs(60);
const PROGRAM: &str = "gcloud";
const FIX: &str = "that gcloud is installed and on PATH, and `gcloud auth login` has been run";

pub struct GcloudSource<'a> {
    /// Delegates then target, when impersonating.
    chain: Vec<String>,
    ctx: &'a Context<'a>,
}

impl<'a> GcloudSource<'a> {
    pub fn new(impersonate: Option<String>, delegates: Vec<String>, ctx: &'a Context<'a>) -> Self {
        let chain = match impersonate {
            Some(target) => delegates.into_iter().chain([target]).collect(),
            None => Vec::new(),
        };
        GcloudSource { chain, ctx }
    }

    fn run(&self, args: &[&str]) -> Result<String> {
        let argv: Vec<String> = std::iter::once(PROGRAM)
            .chain(args.iter().copied())
            .map(str::to_string)
            .collect();
        let out = process::run(&argv, TIMEOUT, "gcloud", FIX)?;
        String::from_utf8(out)
            .map_err(|_| Error::Source("gcloud printed bytes that are not UTF-8".into()))
    }
}

impl TokenSource for GcloudSource<'_> {
    fn mint(&self) -> Result<MintedToken> {
        if let Some(target) = self.chain.last() {
            let flag = format!("--impersonate-service-account={}", self.chain.join(","));
            let out = self.run(&["auth", "print-access-token", &flag])?;
            let secret = Secret::new(out.trim());
            check_token(secret.expose(), "gcloud")?;
            let info = tokeninfo::lookup(self.ctx, &secret, &Universe::DEFAULT)?;
            return Ok(MintedToken::new(secret, info.expires_at, "gcloud")?
                .with_principal(Some(Principal::parse(target, "the configuration")?))
                .with_scopes(Some(info.scopes)));
        }
        let out = self.run(&["config", "config-helper", "--format=json"])?;
        parse_config_helper(&out)
    }
}

/// What `gcloud config config-helper --format=json` prints, as far as it matters here.
#[derive(Deserialize)]
struct ConfigHelper {
    credential: HelperCredential,
    #[serde(default)]
    configuration: Option<HelperConfiguration>,
}

#[derive(Deserialize)]
struct HelperCredential {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    token_expiry: Option<String>,
}

#[derive(Deserialize)]
struct HelperConfiguration {
    properties: HelperProperties,
}

#[derive(Deserialize)]
struct HelperProperties {
    core: HelperCore,
}

#[derive(Deserialize)]
struct HelperCore {
    #[serde(default)]
    account: Option<String>,
}

/// Reads `gcloud config config-helper --format=json`.
fn parse_config_helper(out: &str) -> Result<MintedToken> {
    let helper: ConfigHelper = serde_json::from_str(out).map_err(|e| {
        Error::Source(format!(
            "gcloud config config-helper printed {}",
            json_problem(&e, "something that is not JSON")
        ))
    })?;
    let token = helper.credential.access_token.ok_or_else(|| {
        Error::Source(
            "gcloud config config-helper printed no access_token; run `gcloud auth login`".into(),
        )
    })?;
    let expires_at: Timestamp = helper
        .credential
        .token_expiry
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            Error::Source("gcloud config config-helper printed no valid token_expiry".into())
        })?;
    let principal = match helper.configuration.and_then(|c| c.properties.core.account) {
        Some(account) => Some(Principal::parse(&account, "gcloud's configuration")?),
        None => None,
    };
    // gcloud's own login always carries the cloud-platform scope.
    Ok(MintedToken::new(Secret::new(token), expires_at, "gcloud")?
        .with_principal(principal)
        .with_scopes(Some(vec![CLOUD_PLATFORM_SCOPE.to_string()])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_helper_output() {
        let expiry = Timestamp::now() + jiff::SignedDuration::from_secs(3000);
        let out = format!(
            r#"{{"configuration":{{"active_configuration":"default","properties":{{"core":{{"account":"kai@altostrat.com","project":"p"}}}}}},
            "credential":{{"access_token":"ya29.abc","id_token":"x","token_expiry":"{expiry}"}},"sentinels":{{}}}}"#
        );
        let t = parse_config_helper(&out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.secret().expose(), "ya29.abc");
        assert_eq!(t.principal().map(|p| p.as_str()), Some("kai@altostrat.com"));
        assert_eq!(t.breadth(), crate::Breadth::Broad);
        assert!(parse_config_helper("{}").is_err());
    }
}
