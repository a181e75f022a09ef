//! A user's Application Default Credentials (`authorized_user`, from
//! `gcloud auth application-default login`): the refresh-token grant at the token
//! endpoint. The expiry is the endpoint's `expires_in`; the principal comes from tokeninfo
//! once, and is remembered per credential so later refreshes make one request, not two.

use jiff::Timestamp;
use serde::Deserialize;

use crate::endpoints::{Api, Universe};
use crate::error::{Error, Result};
use crate::oauth::{ADC_LOGIN_ADVICE, Granted, OAuthError, token_answer};
use crate::principal::Principal;
use crate::secret::Secret;
use crate::token::{Context, MintedToken, TokenSource};
use crate::untrusted::credential_fields;
use crate::{ALLOYDB_LOGIN_SCOPE, tokeninfo};

/// Lets tokeninfo report the user's e-mail.
const EMAIL_SCOPE: &str = "https://www.googleapis.com/auth/userinfo.email";

#[derive(Deserialize)]
pub struct AuthorizedUser {
    client_id: String,
    client_secret: String,
    refresh_token: String,
    #[serde(default)]
    token_uri: Option<String>,
    #[serde(default)]
    universe_domain: Option<String>,
}

impl AuthorizedUser {
    pub fn from_json(value: serde_json::Value, origin: &str) -> Result<AuthorizedUser> {
        credential_fields(value, origin, "user credentials file", ADC_LOGIN_ADVICE)
    }

    /// A stable name for this credential that reveals nothing of it: the key under which
    /// its principal is remembered. A cryptographic digest, because its input is a secret.
    fn memory_key(&self) -> String {
        let mut input = self.client_id.as_bytes().to_vec();
        input.push(0);
        input.extend_from_slice(self.refresh_token.as_bytes());
        let digest = ring::digest::digest(&ring::digest::SHA256, &input);
        let hex: String = digest.as_ref()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("user-{hex}")
    }
}

pub struct UserSource<'a> {
    user: AuthorizedUser,
    universe: Universe,
    origin: String,
    scopes: Vec<String>,
    ctx: &'a Context<'a>,
}

impl<'a> UserSource<'a> {
    pub fn new(
        user: AuthorizedUser,
        origin: String,
        scopes: Vec<String>,
        ctx: &'a Context<'a>,
    ) -> Result<Self> {
        Ok(UserSource {
            universe: Universe::parse(user.universe_domain.as_deref(), &origin)?,
            user,
            origin,
            scopes,
            ctx,
        })
    }

    fn request(
        &self,
        scopes: &[String],
        now: Timestamp,
    ) -> Result<std::result::Result<Granted, OAuthError>> {
        let url =
            self.ctx
                .endpoints
                .url(Api::Token, self.user.token_uri.as_deref(), &self.universe);
        let scope = scopes.join(" ");
        let what = "the OAuth2 token endpoint";
        let answer = self.ctx.http.post_form(
            what,
            &url,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &self.user.client_id),
                ("client_secret", &self.user.client_secret),
                ("refresh_token", &self.user.refresh_token),
                ("scope", &scope),
            ],
        )?;
        token_answer(&answer, what, now)
    }

    /// The principal remembered from an earlier run, checked again: the memory is a file.
    fn remembered_principal(&self) -> Option<Principal> {
        let text = self.ctx.principals.recall(&self.user.memory_key())?;
        Principal::parse(&text, "the remembered principal").ok()
    }

    /// Asks tokeninfo for the e-mail behind `token` and remembers it.
    fn learn_principal(&self, token: &Secret) -> Result<Option<Principal>> {
        let info = tokeninfo::lookup(self.ctx, token, &self.universe)?;
        if let Some(email) = &info.email {
            self.ctx
                .principals
                .remember(&self.user.memory_key(), email.as_str());
        }
        Ok(info.email)
    }
}

impl TokenSource for UserSource<'_> {
    fn mint(&self) -> Result<MintedToken> {
        let now = crate::clock::now();
        // Tokeninfo names the user only for a token with the e-mail scope, so the first
        // token of a credential asks for it too; once the e-mail is remembered, tokens
        // carry only the configured scopes. A login that was not granted the e-mail scope
        // is asked again without it. The configured scopes themselves are never widened:
        // a token written to a file must not be able to do more than the user chose.
        let remembered = self.remembered_principal();
        let mut attempts = vec![self.scopes.clone()];
        if remembered.is_none() && !self.scopes.iter().any(|s| s == EMAIL_SCOPE) {
            let mut with_email = self.scopes.clone();
            with_email.push(EMAIL_SCOPE.to_string());
            attempts.insert(0, with_email);
        }
        let mut refusal = None;
        let mut granted = None;
        for attempt in &attempts {
            match self.request(attempt, now)? {
                Ok(token) => {
                    granted = Some(token);
                    break;
                }
                Err(err) if err.code == "invalid_scope" => refusal = Some(err),
                Err(err) => return Err(explain(&err, &self.origin)),
            }
        }
        let Some(granted) = granted else {
            return Err(match refusal {
                Some(err) if self.asks_for_alloydb_scope() => Error::Source(format!(
                    "the user credentials in {} were not granted the AlloyDB login scope ({}); {ADC_LOGIN_ADVICE}",
                    self.origin,
                    err.summary()
                )),
                Some(err) => explain(&err, &self.origin),
                None => Error::Source(format!(
                    "the token endpoint gave no token for {}",
                    self.origin
                )),
            });
        };
        let principal = match remembered {
            Some(email) => Some(email),
            None => self.learn_principal(&granted.secret)?,
        };
        let scopes = granted.scopes.or_else(|| Some(self.scopes.clone()));
        Ok(MintedToken::new(
            granted.secret,
            granted.expires_at,
            "the OAuth2 token endpoint",
        )?
        .with_principal(principal)
        .with_scopes(scopes))
    }

    fn universe(&self) -> &Universe {
        &self.universe
    }
}

impl UserSource<'_> {
    /// Whether the configured scopes ask for AlloyDB login: the scope a login made with
    /// plain `gcloud auth application-default login` does not have.
    fn asks_for_alloydb_scope(&self) -> bool {
        self.scopes.iter().any(|s| s == ALLOYDB_LOGIN_SCOPE)
    }
}

fn explain(err: &OAuthError, origin: &str) -> Error {
    let fix = match err.code.as_str() {
        "invalid_grant" => format!("the login has expired or was revoked: {ADC_LOGIN_ADVICE}"),
        "invalid_client" => format!("the OAuth client in the file is unknown: {ADC_LOGIN_ADVICE}"),
        "invalid_scope" => {
            "the login was not granted these scopes: check `scopes` in the config, or log in again with them".to_string()
        }
        _ => ADC_LOGIN_ADVICE.to_string(),
    };
    Error::Source(format!(
        "the token endpoint refused the user credentials in {origin} ({}); {fix}",
        err.summary()
    ))
}
