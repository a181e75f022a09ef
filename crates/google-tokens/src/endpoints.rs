//! Where each request goes. One rule for every Google API: the URL the user configured
//! (private access, restricted VIPs, tests), else the URL the credential file names, else
//! Google's default in the credential's universe (`googleapis.com`, or the
//! `universe_domain` a credential file names for a sovereign cloud).

use std::borrow::Cow;
use std::time::Duration;

use crate::error::{Error, Result};

/// The domain Google's APIs live under for a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Universe(Cow<'static, str>);

impl Universe {
    /// Google's public cloud.
    pub const DEFAULT: Universe = Universe(Cow::Borrowed("googleapis.com"));

    /// The `universe_domain` of a credential file: a DNS name, since it becomes part of
    /// every default URL. `origin` names the file in errors.
    pub(crate) fn parse(text: Option<&str>, origin: &str) -> Result<Universe> {
        let Some(text) = text.filter(|t| !t.is_empty()) else {
            return Ok(Universe::DEFAULT);
        };
        if !crate::untrusted::is_domain_name(text) {
            return Err(Error::Config(format!(
                "{origin}: universe_domain is not a domain name; create the credential file again"
            )));
        }
        Ok(Universe(Cow::Owned(text.to_ascii_lowercase())))
    }

    fn default_url(&self, service: &str, path: &str) -> String {
        format!("https://{service}.{}{path}", self.0)
    }
}

/// URLs replacing Google's, from the user's configuration. They win over URLs named in
/// credential files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// The OAuth2 token endpoint (full URL).
    pub token: Option<String>,
    /// The tokeninfo endpoint (full URL).
    pub tokeninfo: Option<String>,
    /// The IAM Credentials API (base URL: scheme, host, port).
    pub iamcredentials: Option<String>,
    /// The Security Token Service's token endpoint (full URL).
    pub sts: Option<String>,
    /// The AlloyDB Admin API (base URL: scheme, host, port; the versioned path is added).
    pub alloydb_admin: Option<String>,
    /// The Cloud SQL Admin API (base URL: scheme, host, port; the versioned path is added).
    pub sqladmin: Option<String>,
    /// How long one request may take before it is abandoned (and retried).
    pub timeout: Option<Duration>,
}

/// The Admin APIs that describe database instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AdminApi {
    AlloyDb,
    SqlAdmin,
}

/// The Google APIs the sources call.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Api<'a> {
    /// The OAuth2 token endpoint.
    Token,
    /// tokeninfo: expiry, scopes and e-mail of a token.
    TokenInfo,
    /// The Security Token Service (workload identity federation).
    Sts,
    /// IAM Credentials `generateAccessToken` for the given service account.
    GenerateAccessToken(&'a str),
}

impl Endpoints {
    /// The URL for `api`: configured, else `named_in_file`, else Google's default in
    /// `universe`.
    pub(crate) fn url(
        &self,
        api: Api<'_>,
        named_in_file: Option<&str>,
        universe: &Universe,
    ) -> String {
        let (configured, default) = match api {
            Api::Token => (&self.token, universe.default_url("oauth2", "/token")),
            Api::TokenInfo => (
                &self.tokeninfo,
                universe.default_url("oauth2", "/tokeninfo"),
            ),
            Api::Sts => (&self.sts, universe.default_url("sts", "/v1/token")),
            Api::GenerateAccessToken(target) => {
                // Configured and default are base URLs; a credential file names the full one.
                return match (&self.iamcredentials, named_in_file) {
                    (Some(base), _) => generate_access_token_url(base, target),
                    (None, Some(url)) => url.to_string(),
                    (None, None) => generate_access_token_url(
                        &universe.default_url("iamcredentials", ""),
                        target,
                    ),
                };
            }
        };
        match configured.as_deref().or(named_in_file) {
            Some(url) => url.to_string(),
            None => default,
        }
    }

    /// The base URL (scheme, host, port, no trailing `/`) of an Admin API: configured,
    /// else Google's in `universe`. Callers add the versioned path.
    pub(crate) fn admin_base(&self, api: AdminApi, universe: &Universe) -> String {
        let (configured, service) = match api {
            AdminApi::AlloyDb => (&self.alloydb_admin, "alloydb"),
            AdminApi::SqlAdmin => (&self.sqladmin, "sqladmin"),
        };
        match configured {
            Some(base) => base.trim_end_matches('/').to_string(),
            None => universe.default_url(service, ""),
        }
    }

    /// The universe's own token endpoint, which is also what a service-account assertion
    /// must name as its audience whatever URL the request is sent to.
    pub(crate) fn default_token_uri(universe: &Universe) -> String {
        universe.default_url("oauth2", "/token")
    }
}

fn generate_access_token_url(base: &str, target: &str) -> String {
    format!(
        "{}/v1/projects/-/serviceAccounts/{target}:generateAccessToken",
        base.trim_end_matches('/')
    )
}

/// The service account an impersonation URL names.
pub(crate) fn impersonation_target(url: &str) -> Option<String> {
    let rest = url.split("/serviceAccounts/").nth(1)?;
    let email = rest.strip_suffix(":generateAccessToken")?;
    email.contains('@').then(|| email.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "https://oauth2.googleapis.com/token";
    const U: &Universe = &Universe::DEFAULT;
    const SA: &str = "sa@p.iam.gserviceaccount.com";

    #[test]
    fn universes_name_their_default_endpoints_and_are_checked() {
        let sovereign = Universe::parse(Some("apis-tpc.example.net"), "key.json")
            .unwrap_or_else(|e| panic!("{e}"));
        let none = Endpoints::default();
        assert_eq!(
            none.url(Api::Sts, None, &sovereign),
            "https://sts.apis-tpc.example.net/v1/token"
        );
        assert_eq!(
            none.url(Api::GenerateAccessToken(SA), None, &sovereign),
            format!(
                "https://iamcredentials.apis-tpc.example.net/v1/projects/-/serviceAccounts/{SA}:generateAccessToken"
            )
        );
        assert_eq!(Universe::parse(None, "k"), Ok(Universe::DEFAULT));
        for hostile in [
            "evil.example/steal?x=",
            "a",
            "x..y",
            "évil.example",
            "a b.example",
        ] {
            assert!(Universe::parse(Some(hostile), "k").is_err(), "{hostile}");
        }
    }

    #[test]
    fn configured_then_file_then_default() {
        let none = Endpoints::default();
        assert_eq!(none.url(Api::Token, None, U), TOKEN);
        assert_eq!(
            none.url(Api::Token, Some("https://f/token"), U),
            "https://f/token"
        );
        let set = Endpoints {
            token: Some("https://c/token".into()),
            iamcredentials: Some("https://c/".into()),
            ..Endpoints::default()
        };
        assert_eq!(
            set.url(Api::Token, Some("https://f/token"), U),
            "https://c/token"
        );
        assert_eq!(
            set.url(Api::GenerateAccessToken(SA), Some("https://f/x"), U),
            format!("https://c/v1/projects/-/serviceAccounts/{SA}:generateAccessToken")
        );
        let url = none.url(Api::GenerateAccessToken(SA), None, U);
        assert_eq!(
            url,
            format!(
                "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{SA}:generateAccessToken"
            )
        );
        assert_eq!(impersonation_target(&url).as_deref(), Some(SA));
        assert_eq!(impersonation_target("https://x/v1/other"), None);
    }

    #[test]
    fn admin_apis_are_base_urls() {
        let none = Endpoints::default();
        assert_eq!(
            none.admin_base(AdminApi::AlloyDb, U),
            "https://alloydb.googleapis.com"
        );
        assert_eq!(
            none.admin_base(AdminApi::SqlAdmin, U),
            "https://sqladmin.googleapis.com"
        );
        let set = Endpoints {
            sqladmin: Some("http://127.0.0.1:8080/".into()),
            ..Endpoints::default()
        };
        assert_eq!(
            set.admin_base(AdminApi::SqlAdmin, U),
            "http://127.0.0.1:8080"
        );
    }
}
