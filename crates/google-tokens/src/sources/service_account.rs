//! Service-account keys: a real OAuth2 access token from the key's `token_uri` through the
//! JWT-bearer grant (RFC 7523), as gcloud and Google's AlloyDB connectors obtain it — not
//! a self-signed JWT. The expiry is the endpoint's `expires_in`; the principal is the key's
//! `client_email`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;

use crate::endpoints::{Api, Endpoints, Universe};
use crate::error::{Error, Result};
use crate::oauth::{OAuthError, token_answer};
use crate::principal::Principal;
use crate::token::{Context, MintedToken, TokenSource};
use crate::untrusted::credential_fields;
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The longest assertion Google accepts.
const ASSERTION_LIFETIME_SECS: i64 = 3600;

/// The fields of a key file we use. The private key never leaves this struct except as
/// a signature; `Debug` is not derived so it cannot be printed by accident.
#[derive(Deserialize)]
pub struct ServiceAccountKey {
    pub client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default)]
    token_uri: Option<String>,
    #[serde(default)]
    universe_domain: Option<String>,
}

impl ServiceAccountKey {
    /// Parses a key file's JSON; `origin` names the file in errors.
    pub fn from_json(value: serde_json::Value, origin: &str) -> Result<ServiceAccountKey> {
        credential_fields(
            value,
            origin,
            "service-account key",
            "download a new JSON key for the service account",
        )
    }
}

pub struct ServiceAccountSource<'a> {
    key: ServiceAccountKey,
    key_pair: RsaKeyPair,
    universe: Universe,
    /// The key's own token URI, else its universe's: also the assertion's audience.
    token_uri: String,
    origin: String,
    scopes: Vec<String>,
    ctx: &'a Context<'a>,
}

impl<'a> ServiceAccountSource<'a> {
    pub fn new(
        key: ServiceAccountKey,
        origin: String,
        scopes: Vec<String>,
        ctx: &'a Context<'a>,
    ) -> Result<Self> {
        // Only the PEM parser's verdict is reported: its input is the private key.
        let der = PrivatePkcs8KeyDer::from_pem_slice(key.private_key.as_bytes()).map_err(|_| {
            Error::Config(format!(
                "{origin}: private_key is not a PEM \"PRIVATE KEY\" block; download a new JSON key"
            ))
        })?;
        let universe = Universe::parse(key.universe_domain.as_deref(), &origin)?;
        let token_uri = key
            .token_uri
            .clone()
            .unwrap_or_else(|| Endpoints::default_token_uri(&universe));
        let key_pair = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(|e| {
            Error::Config(format!(
                "{origin}: private_key is not an RSA PKCS#8 key ({e}); download a new JSON key"
            ))
        })?;
        Ok(ServiceAccountSource {
            key,
            key_pair,
            universe,
            token_uri,
            origin,
            scopes,
            ctx,
        })
    }

    /// The signed assertion: header.claims.signature, each base64url without padding.
    fn assertion(&self, now: Timestamp) -> Result<String> {
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key.private_key_id {
            header["kid"] = serde_json::Value::String(kid.clone());
        }
        let iat = now.as_second();
        let claims = serde_json::json!({
            "iss": self.key.client_email,
            "scope": self.scopes.join(" "),
            "aud": self.token_uri,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key_pair.public().modulus_len()];
        self.key_pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| Error::Source(format!("cannot sign with the key in {}", self.origin)))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

impl TokenSource for ServiceAccountSource<'_> {
    fn mint(&self) -> Result<MintedToken> {
        let now = crate::clock::now();
        let assertion = self.assertion(now)?;
        // `[endpoints] token` redirects the request (private access); the audience stays
        // the key's token URI, which is what Google checks.
        let url = self
            .ctx
            .endpoints
            .url(Api::Token, Some(&self.token_uri), &self.universe);
        let what = "the OAuth2 token endpoint";
        let answer = self.ctx.http.post_form(
            what,
            &url,
            &[("grant_type", JWT_BEARER), ("assertion", &assertion)],
        )?;
        match token_answer(&answer, what, now)? {
            Ok(granted) => {
                let principal = Principal::parse(&self.key.client_email, &self.origin)?;
                let scopes = granted.scopes.or_else(|| Some(self.scopes.clone()));
                Ok(MintedToken::new(granted.secret, granted.expires_at, what)?
                    .with_principal(Some(principal))
                    .with_scopes(scopes))
            }
            Err(err) => Err(explain(&err, &self.key.client_email, &self.origin)),
        }
    }

    fn universe(&self) -> &Universe {
        &self.universe
    }
}

fn explain(err: &OAuthError, email: &str, origin: &str) -> Error {
    let fix = match err.code.as_str() {
        "invalid_grant" if err.description.contains("account not found") => {
            format!(
                "the service account {email} does not exist (any more); create a key for an existing one"
            )
        }
        "invalid_grant" if err.description.contains("Signature") => format!(
            "the key in {origin} was deleted or disabled; create a new key: gcloud iam service-accounts keys create KEY.json --iam-account={email}"
        ),
        "invalid_grant" => {
            "check that this machine's clock is right (the assertion carries the time)".to_string()
        }
        "invalid_scope" => "check `scopes` in the config".to_string(),
        _ => "check the key file and the token endpoint".to_string(),
    };
    Error::Source(format!(
        "the token endpoint refused the key of {email} ({}); {fix}",
        err.summary()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_instead_of_a_pem_key_is_refused_without_quoting_it() {
        for junk in [
            "no pem here SECRET-MATERIAL",
            "-----BEGIN PRIVATE KEY-----\n!!SECRET-MATERIAL!!\n-----END PRIVATE KEY-----\n",
            "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n",
        ] {
            let key = ServiceAccountKey {
                client_email: "a@b.iam.gserviceaccount.com".into(),
                private_key: junk.into(),
                private_key_id: None,
                token_uri: None,
                universe_domain: None,
            };
            let endpoints = Endpoints::default();
            let memory = crate::token::tests::NoMemory;
            let ctx = Context::new(&endpoints, &memory);
            match ServiceAccountSource::new(key, "key.json".into(), vec![], &ctx) {
                Ok(_) => panic!("accepted {junk:?}"),
                Err(e) => {
                    let e = e.to_string();
                    assert!(e.contains("not a PEM") && !e.contains("SECRET"), "{e}");
                }
            }
        }
    }

    #[test]
    fn key_errors_never_quote_the_key() {
        let err = ServiceAccountKey::from_json(
            serde_json::json!({"private_key": "SECRET-MATERIAL"}),
            "key.json",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            err.contains("client_email") && !err.contains("SECRET"),
            "{err}"
        );
    }
}
