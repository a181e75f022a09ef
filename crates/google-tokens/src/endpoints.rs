//! Where each request goes. One rule for every Google API: the URL the user configured
//! (private access, restricted VIPs, tests), else the URL the credential file names, else
//! Google's default.

use std::time::Duration;

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
    /// The AlloyDB Admin API (base URL).
    pub alloydb_admin: Option<String>,
    /// How long one request may take before it is abandoned (and retried).
    pub timeout: Option<Duration>,
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

const TOKEN: &str = "https://oauth2.googleapis.com/token";
const TOKENINFO: &str = "https://oauth2.googleapis.com/tokeninfo";
const STS: &str = "https://sts.googleapis.com/v1/token";
const IAMCREDENTIALS: &str = "https://iamcredentials.googleapis.com";

impl Endpoints {
    /// The URL for `api`: configured, else `named_in_file`, else Google's default.
    pub(crate) fn url(&self, api: Api<'_>, named_in_file: Option<&str>) -> String {
        let (configured, default) = match api {
            Api::Token => (&self.token, TOKEN),
            Api::TokenInfo => (&self.tokeninfo, TOKENINFO),
            Api::Sts => (&self.sts, STS),
            Api::GenerateAccessToken(target) => {
                // Configured and default are base URLs; a credential file names the full one.
                return match (&self.iamcredentials, named_in_file) {
                    (Some(base), _) => generate_access_token_url(base, target),
                    (None, Some(url)) => url.to_string(),
                    (None, None) => generate_access_token_url(IAMCREDENTIALS, target),
                };
            }
        };
        configured
            .as_deref()
            .or(named_in_file)
            .unwrap_or(default)
            .to_string()
    }

    /// Google's own token endpoint, which is also what a service-account assertion must
    /// name as its audience whatever URL the request is sent to.
    pub(crate) fn default_token_uri() -> &'static str {
        TOKEN
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

    #[test]
    fn configured_then_file_then_default() {
        let none = Endpoints::default();
        assert_eq!(none.url(Api::Token, None), TOKEN);
        assert_eq!(
            none.url(Api::Token, Some("https://f/token")),
            "https://f/token"
        );
        let set = Endpoints {
            token: Some("https://c/token".into()),
            iamcredentials: Some("https://c/".into()),
            ..Endpoints::default()
        };
        assert_eq!(
            set.url(Api::Token, Some("https://f/token")),
            "https://c/token"
        );
        assert_eq!(
            set.url(
                Api::GenerateAccessToken("sa@p.iam.gserviceaccount.com"),
                Some("https://f/x")
            ),
            "https://c/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken"
        );
        let url = none.url(
            Api::GenerateAccessToken("sa@p.iam.gserviceaccount.com"),
            None,
        );
        assert_eq!(
            url,
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken"
        );
        assert_eq!(
            impersonation_target(&url).as_deref(),
            Some("sa@p.iam.gserviceaccount.com")
        );
        assert_eq!(impersonation_target("https://x/v1/other"), None);
    }
}
