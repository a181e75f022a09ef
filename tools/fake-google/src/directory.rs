//! Who exists in the fake Google and what they may do, in one [`Directory`]
//! behind one mutex; issued access tokens go to the shared token table, so
//! `/tokeninfo` and the LDAP server know them. Lock order: the directory
//! before the token table, never the other way round.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::MutexGuard;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::jwt;
use crate::state::{MintOptions, State, URL_SAFE, lock, random_string, unix_secs};

pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The narrower scope IAM Credentials also accepts.
pub const IAM_SCOPE: &str = "https://www.googleapis.com/auth/iam";
/// The scope that makes tokeninfo reveal a user's e-mail.
pub const USERINFO_EMAIL_SCOPE: &str = "https://www.googleapis.com/auth/userinfo.email";
/// The OpenID Connect scope; user grants carrying it also get an ID token.
pub const OPENID_SCOPE: &str = "openid";

/// Google's `expires_in` of a fresh token.
pub const ISSUED_TOKEN_LIFETIME: Duration = Duration::from_secs(3599);

/// Service-account and federated tokens are far longer than user ones
/// (often about a kilobyte), which is worth exercising.
pub const SERVICE_ACCOUNT_TOKEN_LENGTH: usize = 1024;

/// The metadata server hands out its cached token until less than this much
/// validity remains, then fetches a new one.
pub const METADATA_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Project used where a real file names one and the fake has no better idea.
pub const DEMO_PROJECT: &str = "demo-project";

/// Google's real token endpoint, which JWT assertions may name as `aud`.
pub(crate) const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
pub(crate) const UNIVERSE_DOMAIN: &str = "googleapis.com";
pub(crate) const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

const DIGITS: &[u8] = b"0123456789";
const HEX: &[u8] = b"0123456789abcdef";
const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub user: String,
    pub scopes: Vec<String>,
    pub revoked: bool,
}

/// A subject token STS accepts, for one audience (provider).
#[derive(Debug, Clone)]
pub(crate) struct ExternalSubject {
    pub audience: String,
    pub principal: String,
}

/// The OAuth client every fake user credential names, like gcloud's.
#[derive(Debug, Clone)]
pub(crate) struct OAuthClient {
    pub id: String,
    pub secret: String,
}

#[derive(Debug, Default)]
pub(crate) struct Directory {
    pub base_url: String,
    /// Key files by e-mail.
    pub service_accounts: HashMap<String, Value>,
    pub oauth_client: Option<OAuthClient>,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    /// (member, target service account) pairs.
    pub token_creators: BTreeSet<(String, String)>,
    pub external_subjects: HashMap<String, ExternalSubject>,
    pub metadata_account: Option<String>,
    /// Sorted scope list -> cached access token.
    pub metadata_cache: BTreeMap<Vec<String>, String>,
    pub token_padding: usize,
    pub last_jwt_claims: Option<Value>,
    pub last_generate_access_token_request: Option<Value>,
    /// By full resource name.
    pub alloydb_instances: HashMap<String, crate::instances::AlloyDbInstance>,
    pub alloydb_viewers: BTreeSet<String>,
    pub alloydb_unreachable: Vec<String>,
    /// By (project, instance).
    pub cloudsql_instances: HashMap<(String, String), crate::instances::CloudSqlInstance>,
    /// (member, permission) pairs, valid for every Cloud SQL instance.
    pub cloudsql_grants: BTreeSet<(String, String)>,
    /// AWS identities STS accepts, by access key ID.
    pub aws_identities: HashMap<String, AwsIdentity>,
    pub aws_instance: Option<crate::AwsInstanceMetadata>,
    /// IMDSv2 session tokens and when they expire.
    pub imds_tokens: HashMap<String, SystemTime>,
}

#[derive(Debug, Clone)]
pub(crate) struct AwsIdentity {
    pub credentials: crate::aws::AwsCredentials,
    pub audience: String,
    pub principal: String,
}

/// The project a service account e-mail names:
/// `name@PROJECT.iam.gserviceaccount.com`.
fn project_of(email: &str) -> &str {
    email
        .split_once('@')
        .and_then(|(_, domain)| domain.strip_suffix(".iam.gserviceaccount.com"))
        .filter(|p| !p.is_empty())
        .unwrap_or(DEMO_PROJECT)
}

impl Directory {
    pub fn oauth_client(&mut self) -> OAuthClient {
        self.oauth_client
            .get_or_insert_with(|| OAuthClient {
                id: format!(
                    "{}-{}.apps.googleusercontent.com",
                    random_string(DIGITS, 12),
                    random_string(LOWER_ALNUM, 32)
                ),
                secret: format!("GOCSPX-{}", random_string(URL_SAFE, 28)),
            })
            .clone()
    }
}

impl State {
    pub(crate) fn directory(&self) -> MutexGuard<'_, Directory> {
        lock(&self.directory)
    }

    /// Issues a service-account access token: long, padded as configured,
    /// e-mail visible in tokeninfo. Federated (`principal://...`) tokens
    /// are as long, with no e-mail.
    pub(crate) fn issue_service_token(
        &self,
        principal: &str,
        scopes: &[String],
        lifetime: Duration,
    ) -> String {
        let federated = principal.starts_with("principal://");
        self.mint(&MintOptions {
            lifetime,
            scopes: scopes.to_vec(),
            length: SERVICE_ACCOUNT_TOKEN_LENGTH,
            padding: if federated {
                0
            } else {
                self.directory().token_padding
            },
            email_in_tokeninfo: !federated,
            ..MintOptions::new(principal)
        })
    }

    /// Issues a user access token; tokeninfo shows the e-mail only when the
    /// grant includes an e-mail scope, as Google does.
    pub(crate) fn issue_user_token(
        &self,
        principal: &str,
        scopes: &[String],
        lifetime: Duration,
    ) -> String {
        self.mint(&MintOptions {
            lifetime,
            scopes: scopes.to_vec(),
            email_in_tokeninfo: scopes
                .iter()
                .any(|s| s == USERINFO_EMAIL_SCOPE || s == "email"),
            ..MintOptions::new(principal)
        })
    }

    /// A signed OpenID Connect ID token for `subject`, shaped like Google's.
    pub(crate) fn id_token(&self, subject: &str, audience: &str, lifetime: Duration) -> String {
        let now = SystemTime::now();
        let iat = unix_secs(now);
        let mut claims = json!({
            "iss": "https://accounts.google.com",
            "azp": audience,
            "aud": audience,
            "sub": numeric_id(subject),
            "iat": iat,
            "exp": iat + lifetime.as_secs(),
        });
        if subject.contains('@') {
            claims["email"] = subject.into();
            claims["email_verified"] = true.into();
        }
        jwt::sign_rs256(
            &json!({"alg": "RS256", "kid": "fake-google-id-token-key", "typ": "JWT"}),
            &claims,
        )
    }

    pub(crate) fn add_service_account(&self, email: &str, base_url: &str) -> Value {
        let key = || {
            json!({
                "type": "service_account",
                "project_id": project_of(email),
                "private_key_id": random_string(HEX, 40),
                "private_key": jwt::TEST_SERVICE_ACCOUNT_KEY_PEM,
                "client_email": email,
                "client_id": format!("1{}", random_string(DIGITS, 20)),
                "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                "token_uri": format!("{base_url}/token"),
                "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
                "client_x509_cert_url": format!(
                    "https://www.googleapis.com/robot/v1/metadata/x509/{}",
                    crate::http::percent_encode(email)
                ),
                "universe_domain": UNIVERSE_DOMAIN,
            })
        };
        let mut dir = self.directory();
        let accounts = &mut dir.service_accounts;
        accounts.entry(email.to_owned()).or_insert_with(key).clone()
    }

    pub(crate) fn add_user(&self, email: &str, scopes: &[&str]) -> Value {
        let mut dir = self.directory();
        let client = dir.oauth_client();
        let refresh_token = format!("1//0{}", random_string(URL_SAFE, 99));
        dir.refresh_tokens.insert(
            refresh_token.clone(),
            RefreshGrant {
                user: email.to_owned(),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                revoked: false,
            },
        );
        json!({
            "account": "",
            "client_id": client.id,
            "client_secret": client.secret,
            "quota_project_id": DEMO_PROJECT,
            "refresh_token": refresh_token,
            "type": "authorized_user",
            "universe_domain": UNIVERSE_DOMAIN,
        })
    }
}

/// The `.../serviceAccounts/{email}:generateAccessToken` URL on `base_url`.
pub(crate) fn impersonation_url(base_url: &str, target: &str) -> String {
    format!("{base_url}/v1/projects/-/serviceAccounts/{target}:generateAccessToken")
}

/// A stable 21-digit identifier for a principal, like Google's numeric user
/// and service account IDs (the `sub` of ID tokens).
pub(crate) fn numeric_id(principal: &str) -> String {
    // FNV-1a: stable across runs and platforms, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in principal.bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("1{hash:020}")
}
