//! Hermetic stand-ins for the Google services `alloydb-cred` talks to, plus
//! an "AlloyDB-like" PostgreSQL server, for integration tests and demos.
//!
//! Real AlloyDB IAM authentication accepts an OAuth2 access token as the
//! PostgreSQL password when the token is live and its principal maps to the
//! database user. [`FakeGoogle`] reproduces that without a network or a
//! Google account:
//!
//! * an HTTP server issuing tokens (`POST /mint`) and describing them
//!   (`/tokeninfo`, shaped like Google's), with injectable failures and
//!   delays;
//! * on the same server, stand-ins for the Google endpoints real credential
//!   sources talk to, speaking Google's wire formats: the OAuth2 token
//!   endpoint (`POST /token`: service-account JWT assertions and refresh
//!   tokens), the Compute Engine metadata server (`/computeMetadata/v1/...`),
//!   IAM Credentials (`generateAccessToken`, with a Token Creator permission
//!   model) and STS (`POST /v1/token`, workload identity federation,
//!   including SigV4-signed AWS subject tokens), the AlloyDB Admin and
//!   Cloud SQL Admin APIs' instance descriptions, the EC2 instance metadata
//!   service, plus the backend of a fake `gcloud` (`fake-google gcloud ...`);
//! * optionally the same endpoints over HTTPS, with a certificate from a
//!   throw-away CA ([`tls`]), also valid for a name only a proxy resolves
//!   ([`TLS_TEST_NAME`], reached through [`proxy::ConnectProxy`]);
//! * an LDAP server that PostgreSQL's `ldap` authentication method consults,
//!   accepting a bind only when the password is a live token for the
//!   principal that owns the database user (see [`database_user_for`]);
//! * [`pg::PgServer`], a real PostgreSQL wired to that LDAP server, with or
//!   without TLS.
//!
//! Everything binds to loopback on ephemeral ports, so tests can run in
//! parallel. The crate is Unix-only (it manages PostgreSQL processes).
//!
//! ```no_run
//! use std::time::Duration;
//! use fake_google::{FakeGoogle, pg::PgServer};
//!
//! let google = FakeGoogle::start()?;
//! let pg = PgServer::start(google.ldap_port(), &["kai@altostrat.com"])?;
//! let token = google.mint("kai@altostrat.com", Duration::from_secs(3600), &[], 180);
//! // `psql "host=127.0.0.1 port={pg.port()} dbname=appdb user=kai@altostrat.com"`
//! // with `token` as the password now logs in.
//! # Ok::<(), std::io::Error>(())
//! ```

mod aws;
pub mod cli;
mod directory;
mod endpoints;
mod http;
mod instances;
mod jwt;
mod ldap;
pub mod pg;
pub mod proxy;
mod state;
mod sys;
#[cfg(test)]
mod tests;
pub mod tls;

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

pub use aws::{AwsCredentials, AwsInstanceMetadata};
pub use directory::{CLOUD_PLATFORM_SCOPE, DEMO_PROJECT, ISSUED_TOKEN_LIFETIME};
pub use instances::{
    AlloyDbInstance, AlloyDbSslMode, CloudSqlInstance, CloudSqlSslMode, ServerCaCert, ServerCaMode,
};
pub use state::{LdapBind, MintOptions, TokenRecord};

/// Suffix Google drops from service-account e-mails to form database users.
const SERVICE_ACCOUNT_SUFFIX: &str = ".gserviceaccount.com";

/// The database user an IAM principal logs in as, by Google's rule for
/// AlloyDB and Cloud SQL: a service account `name@proj.iam.gserviceaccount.com`
/// becomes `name@proj.iam` (the `.gserviceaccount.com` suffix is dropped);
/// any other e-mail is used as is, exactly.
pub fn database_user_for(principal: &str) -> String {
    principal
        .strip_suffix(SERVICE_ACCOUNT_SUFFIX)
        .filter(|rest| rest.contains('@'))
        .unwrap_or(principal)
        .to_owned()
}

/// A name the HTTPS server's certificate ([`FakeGoogle::start_tls`]) also
/// covers that is not a loopback address: `.invalid` never resolves (RFC
/// 6761), so a client reaches `https://oauth2.test.invalid:<https port>`
/// only through a proxy that maps it to the fake, [`proxy::ConnectProxy`].
/// For clients that treat loopback addresses differently from the rest.
pub const TLS_TEST_NAME: &str = "oauth2.test.invalid";

/// The running fake Google services. Dropping it stops the servers.
pub struct FakeGoogle {
    state: Arc<state::State>,
    http: http::HttpServer,
    https: Option<(http::HttpServer, tls::ServerCert)>,
    ldap: ldap::LdapServer,
}

impl std::fmt::Debug for FakeGoogle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGoogle")
            .field("http_url", &self.http_url())
            .field("https_url", &self.https_url())
            .field("ldap_port", &self.ldap_port())
            .finish()
    }
}

impl FakeGoogle {
    /// Starts the HTTP and LDAP servers on 127.0.0.1 ephemeral ports, each
    /// in its own background thread.
    pub fn start() -> io::Result<FakeGoogle> {
        Self::start_with(None)
    }

    /// Like [`FakeGoogle::start`], and also serves every HTTP endpoint over
    /// HTTPS on another port ([`FakeGoogle::https_url`]), presenting a
    /// certificate from `ca` for `127.0.0.1`, `::1`, `localhost` and
    /// [`TLS_TEST_NAME`]. A client reaches it only if it trusts `ca` (e.g.
    /// with `SSL_CERT_FILE=<ca.cert_path()>`, if the client honours that).
    pub fn start_tls(ca: &tls::TestCa) -> io::Result<FakeGoogle> {
        Self::start_with(Some(ca.issue(&[
            "127.0.0.1",
            "::1",
            "localhost",
            TLS_TEST_NAME,
        ])?))
    }

    fn start_with(tls_cert: Option<tls::ServerCert>) -> io::Result<FakeGoogle> {
        let state = Arc::new(state::State::default());
        let router = Arc::new(http::default_router());
        let http = http::HttpServer::start(Arc::clone(&state), Arc::clone(&router), None)?;
        state.directory().base_url = format!("http://{}", http.addr());
        let https = match tls_cert {
            Some(cert) => {
                let config = cert.server_config()?;
                let server = http::HttpServer::start(Arc::clone(&state), router, Some(config))?;
                Some((server, cert))
            }
            None => None,
        };
        let ldap = ldap::LdapServer::start(Arc::clone(&state))?;
        Ok(FakeGoogle {
            state,
            http,
            https,
            ldap,
        })
    }

    /// Base URL of the HTTPS server of [`FakeGoogle::start_tls`], e.g.
    /// `https://127.0.0.1:41235`; `None` for [`FakeGoogle::start`].
    pub fn https_url(&self) -> Option<String> {
        self.https
            .as_ref()
            .map(|(server, _)| format!("https://{}", server.addr()))
    }

    /// Base URL of the HTTP server, e.g. `http://127.0.0.1:41234` (no
    /// trailing slash).
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http.addr())
    }

    /// The value for `GCE_METADATA_HOST` that points clients at the fake
    /// metadata server: `127.0.0.1:PORT`, without a scheme.
    pub fn metadata_host(&self) -> String {
        self.http.addr().to_string()
    }

    /// Port of the LDAP server on 127.0.0.1.
    pub fn ldap_port(&self) -> u16 {
        self.ldap.port
    }

    /// Issues a token for `principal`, valid for `lifetime` (zero gives an
    /// already-expired token), with `scopes` (empty means
    /// `DEFAULT_SCOPE` (AlloyDB login)) and `length` characters including the `ya29.`
    /// prefix. See [`FakeGoogle::mint_with`] for padding and the other knobs.
    pub fn mint(
        &self,
        principal: &str,
        lifetime: Duration,
        scopes: &[&str],
        length: usize,
    ) -> String {
        self.mint_with(
            &MintOptions::new(principal)
                .lifetime(lifetime)
                .scopes(scopes)
                .length(length),
        )
    }

    /// Issues a token with every option spelled out.
    pub fn mint_with(&self, options: &MintOptions) -> String {
        self.state.mint(options)
    }

    /// Number of tokens issued so far, through [`FakeGoogle::mint`],
    /// [`FakeGoogle::mint_with`] or `POST /mint`.
    pub fn mint_count(&self) -> usize {
        self.state.minted()
    }

    /// Number of `/tokeninfo` requests received (injected failures included).
    pub fn tokeninfo_calls(&self) -> usize {
        self.state.hits("tokeninfo")
    }

    /// Number of requests a route has received, injected failures and error
    /// answers included (0 for other names). The routes:
    ///
    ///
    /// | name | endpoint |
    /// |---|---|
    /// | `mint` | `POST /mint` |
    /// | `tokeninfo` | `GET`/`POST /tokeninfo` |
    /// | `stats` | `GET /stats` |
    /// | `token` | `POST /token` (OAuth2 token endpoint) |
    /// | `metadata_token` | `GET /computeMetadata/v1/instance/service-accounts/{account}/token` |
    /// | `metadata_email` | `GET /computeMetadata/v1/instance/service-accounts/{account}/email` |
    /// | `metadata` | any other metadata path, and `GET /` |
    /// | `generate_access_token` | `POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken` |
    /// | `sts_token` | `POST /v1/token` (STS) |
    /// | `gcloud_token` | `POST /gcloud/token` (the fake gcloud's backend) |
    /// | `alloydb_get_instance` | `GET /v1/projects/{p}/locations/{l}/clusters/{c}/instances/{i}` (AlloyDB Admin) |
    /// | `cloudsql_connect_settings` | `GET /v1/projects/{p}/instances/{i}/connectSettings` (Cloud SQL Admin) |
    /// | `cloudsql_get_instance` | `GET /v1/projects/{p}/instances/{i}` (Cloud SQL Admin) |
    /// | `alloydb_list_instances` | `GET /v1/projects/{p}/locations/{l}/clusters/-/instances` (AlloyDB Admin, paged) |
    /// | `cloudsql_list_instances` | `GET /v1/projects/{p}/instances` (Cloud SQL Admin, paged) |
    /// | `aws_imds_token` | `PUT /latest/api/token` (EC2 instance metadata) |
    /// | `aws_metadata` | `GET /latest/meta-data/...` (EC2 instance metadata) |
    pub fn hits(&self, route: &str) -> usize {
        self.state.hits(route)
    }

    /// What the fake knows about `token`, live or not.
    pub fn token_info(&self, token: &str) -> Option<TokenRecord> {
        self.state.lookup(token)
    }

    /// Revokes `token` for both tokeninfo and LDAP. Returns whether the
    /// token was known.
    pub fn revoke(&self, token: &str) -> bool {
        self.state.revoke(token)
    }

    /// Makes the next `count` requests to the Google endpoints (every route
    /// but `/stats`) fail with HTTP `status`, before any other check.
    /// `count` 0 clears it.
    pub fn set_failures(&self, count: usize, status: u16) {
        self.state.set_failures(count, status);
    }

    /// Makes every request to the Google endpoints wait `delay` before being
    /// answered, to exercise client timeouts. `Duration::ZERO` clears it.
    pub fn set_delay(&self, delay: Duration) {
        self.state.set_delay(delay);
    }

    // ----- OAuth2 token endpoint: service accounts -----

    /// Registers the service account `email` (again: no change) and returns
    /// its key file, as the Cloud console would download it: `type`
    /// `service_account`, `project_id` (from `name@PROJECT.iam.gserviceaccount.com`,
    /// else [`DEMO_PROJECT`]), a 40-hex-digit `private_key_id`, the fixture
    /// key `TEST_SERVICE_ACCOUNT_KEY_PEM` as `private_key`,
    /// `client_email`, a numeric `client_id`, `auth_uri`, `token_uri`
    /// (this fake's `/token`), the two certificate URLs and
    /// `universe_domain`.
    ///
    /// `POST /token` then accepts JWT assertions with `iss` = `email`
    /// signed by that key.
    pub fn add_service_account(&self, email: &str) -> Value {
        self.state.add_service_account(email, &self.http_url())
    }

    /// Makes service-account tokens (from JWT assertions, the metadata
    /// server, IAM Credentials and gcloud impersonation) end in `padding`
    /// `.` characters, as real ones sometimes do. 0 (the default) turns it
    /// off.
    pub fn set_token_padding(&self, padding: usize) {
        self.state.directory().token_padding = padding;
    }

    /// The claims of the last JWT assertion `/token` could decode, whether
    /// or not it was then accepted.
    pub fn last_jwt_claims(&self) -> Option<Value> {
        self.state.directory().last_jwt_claims.clone()
    }

    // ----- OAuth2 token endpoint: users -----

    /// Issues a refresh token for the user `email` with `granted_scopes` and
    /// returns the ADC `authorized_user` file gcloud would write for it:
    /// `account` (empty), `client_id`, `client_secret`, `quota_project_id`,
    /// `refresh_token`, `type`, `universe_domain`. Like real files it has
    /// no `token_uri`; point the client at `<http_url>/token` some other
    /// way. All users share one OAuth client.
    pub fn add_user(&self, email: &str, granted_scopes: &[&str]) -> Value {
        self.state.add_user(email, granted_scopes)
    }

    /// Revokes a refresh token, so `/token` answers `invalid_grant`.
    /// Returns whether it was known. Access tokens already issued stay live
    /// (use [`FakeGoogle::revoke`] for those).
    pub fn revoke_refresh_token(&self, refresh_token: &str) -> bool {
        match self.state.directory().refresh_tokens.get_mut(refresh_token) {
            Some(grant) => {
                grant.revoked = true;
                true
            }
            None => false,
        }
    }

    // ----- Metadata server -----

    /// Makes the metadata server serve `email` as the VM's default service
    /// account (and under its own name). Until then token and e-mail
    /// requests get 404. Changing the account forgets cached tokens.
    pub fn set_metadata_account(&self, email: &str) {
        let mut dir = self.state.directory();
        if dir.metadata_account.as_deref() != Some(email) {
            dir.metadata_cache.clear();
        }
        dir.metadata_account = Some(email.to_owned());
    }

    /// Makes the metadata server's cached tokens (the default-scope one is
    /// fetched first if none is cached) expire `remaining` from now, as if
    /// time had passed. With at least `METADATA_REFRESH_MARGIN` (300 s)
    /// left the server keeps handing the token out; with less, the next
    /// request gets a new one. Does nothing without a metadata account.
    pub fn set_metadata_token_remaining(&self, remaining: Duration) {
        let Some(account) = self.state.directory().metadata_account.clone() else {
            return;
        };
        if self.state.directory().metadata_cache.is_empty() {
            let scopes: Vec<String> = endpoints::metadata::METADATA_DEFAULT_SCOPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            endpoints::metadata::cached_token(&self.state, &account, &scopes);
        }
        let tokens: Vec<String> = self
            .state
            .directory()
            .metadata_cache
            .values()
            .cloned()
            .collect();
        let expires_at = SystemTime::now() + remaining;
        for token in tokens {
            self.state.set_expiry(&token, expires_at);
        }
    }

    // ----- IAM Credentials -----

    /// Grants `member` (a user or service account e-mail, or a
    /// `principal://...` federated identity) "Service Account Token
    /// Creator" on the service account `target_sa`: it may then call
    /// `generateAccessToken` for `target_sa`, or name it as the next link
    /// of a delegation chain.
    pub fn grant_token_creator(&self, member: &str, target_sa: &str) {
        self.state
            .directory()
            .token_creators
            .insert((member.to_owned(), target_sa.to_owned()));
    }

    /// The last `generateAccessToken` request that got past authentication
    /// and JSON parsing: `{"caller": principal of the bearer token,
    /// "target": e-mail from the path, "body": the JSON body}`.
    pub fn last_generate_access_token_request(&self) -> Option<Value> {
        self.state
            .directory()
            .last_generate_access_token_request
            .clone()
    }

    /// A `service_account_impersonation_url` of this fake for `target`.
    pub fn impersonation_url(&self, target: &str) -> String {
        directory::impersonation_url(&self.http_url(), target)
    }

    /// An ADC file for impersonation, as
    /// `gcloud auth application-default login --impersonate-service-account`
    /// writes it: `{"type": "impersonated_service_account",
    /// "service_account_impersonation_url", "delegates": [e-mails as given],
    /// "source_credentials": source}`.
    pub fn impersonated_service_account_file(
        &self,
        source: Value,
        target: &str,
        delegates: &[&str],
    ) -> Value {
        json!({
            "type": "impersonated_service_account",
            "service_account_impersonation_url": self.impersonation_url(target),
            "delegates": delegates,
            "source_credentials": source,
        })
    }

    // ----- STS -----

    /// Makes STS accept `subject_token` for `audience` (a provider's full
    /// resource name, `//iam.googleapis.com/projects/...`) and issue tokens
    /// for `federated_principal` (e.g.
    /// `principal://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/subject/alice`).
    pub fn add_external_subject(
        &self,
        subject_token: &str,
        audience: &str,
        federated_principal: &str,
    ) {
        self.state.directory().external_subjects.insert(
            subject_token.to_owned(),
            directory::ExternalSubject {
                audience: audience.to_owned(),
                principal: federated_principal.to_owned(),
            },
        );
    }

    /// Makes STS accept AWS subject tokens (`subject_token_type`
    /// `urn:ietf:params:aws:token-type:aws4_request`) signed with
    /// `credentials` for `audience`, issuing tokens for
    /// `federated_principal` (e.g.
    /// `principal://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/aws-pool/subject/arn:aws:sts::123456789012:assumed-role/ci-role/i-0abc`).
    /// The signature is checked with `credentials.secret_access_key`; a
    /// session token, if the credentials have one, must be sent (and
    /// signed) as `x-amz-security-token`.
    pub fn add_aws_identity(
        &self,
        credentials: &AwsCredentials,
        audience: &str,
        federated_principal: &str,
    ) {
        self.state.directory().aws_identities.insert(
            credentials.access_key_id.clone(),
            directory::AwsIdentity {
                credentials: credentials.clone(),
                audience: audience.to_owned(),
                principal: federated_principal.to_owned(),
            },
        );
    }

    /// Makes the EC2 instance metadata stand-in serve `instance` (until
    /// then its paths answer 404).
    pub fn set_aws_instance(&self, instance: AwsInstanceMetadata) {
        self.state.directory().aws_instance = Some(instance);
    }

    /// Base URL of the EC2 instance metadata stand-in, the fake's HTTP
    /// server; `{aws_metadata_url}/latest/api/token` and so on.
    pub fn aws_metadata_url(&self) -> String {
        self.http_url()
    }

    /// The `credential_source` of an AWS-sourced `external_account` file
    /// (`environment_id` `aws1`) pointing at the metadata stand-in:
    /// `region_url`, `url`, `regional_cred_verification_url` and, with
    /// `imdsv2`, `imdsv2_session_token_url`.
    pub fn aws_credential_source(&self, imdsv2: bool) -> Value {
        let base = self.aws_metadata_url();
        let mut source = json!({
            "environment_id": "aws1",
            "region_url": format!("{base}/latest/meta-data/placement/availability-zone"),
            "url": format!("{base}/latest/meta-data/iam/security-credentials"),
            "regional_cred_verification_url": aws::GET_CALLER_IDENTITY_URL,
        });
        if imdsv2 {
            source["imdsv2_session_token_url"] = format!("{base}/latest/api/token").into();
        }
        source
    }

    /// An AWS-sourced `external_account` credential file like
    /// `gcloud iam workload-identity-pools create-cred-config --aws`
    /// writes, with this fake's STS as `token_url` and, with
    /// `impersonate`, its IAM Credentials as
    /// `service_account_impersonation_url`.
    pub fn aws_external_account_file(
        &self,
        audience: &str,
        impersonate: Option<&str>,
        imdsv2: bool,
    ) -> Value {
        self.external_account(
            audience,
            aws::AWS_TOKEN_TYPE,
            self.aws_credential_source(imdsv2),
            impersonate,
        )
    }

    /// An `external_account` file for this fake's STS (and IAM Credentials).
    fn external_account(
        &self,
        audience: &str,
        subject_token_type: &str,
        credential_source: Value,
        impersonate: Option<&str>,
    ) -> Value {
        let mut file = json!({
            "type": "external_account",
            "audience": audience,
            "subject_token_type": subject_token_type,
            "token_url": format!("{}/v1/token", self.http_url()),
            "credential_source": credential_source,
            "universe_domain": directory::UNIVERSE_DOMAIN,
        });
        if let Some(target) = impersonate {
            file["service_account_impersonation_url"] = self.impersonation_url(target).into();
        }
        file
    }

    /// A file-sourced `external_account` credential file like
    /// `gcloud iam workload-identity-pools create-cred-config` writes, with
    /// this fake's STS as `token_url` and, with `impersonate`, its IAM
    /// Credentials as `service_account_impersonation_url`.
    pub fn external_account_file(
        &self,
        audience: &str,
        subject_token_path: impl AsRef<Path>,
        impersonate: Option<&str>,
    ) -> Value {
        let source = json!({
            "file": subject_token_path.as_ref().to_string_lossy(),
            "format": {"type": "text"},
        });
        self.external_account(audience, directory::JWT_TOKEN_TYPE, source, impersonate)
    }

    // ----- AlloyDB Admin API -----

    /// Registers (or replaces) the AlloyDB instance `name`, a full resource
    /// name `projects/P/locations/L/clusters/C/instances/I`, for
    /// `GET {http_url}/v1/{name}` to describe.
    pub fn add_alloydb_instance(&self, name: &str, instance: AlloyDbInstance) {
        self.state
            .directory()
            .alloydb_instances
            .insert(name.to_owned(), instance);
    }

    /// Grants `member` (e-mail or `principal://...`) `alloydb.instances.get`
    /// on every AlloyDB instance, like `roles/alloydb.viewer` (or
    /// `roles/alloydb.client`) on the project.
    pub fn grant_alloydb_viewer(&self, member: &str) {
        self.state
            .directory()
            .alloydb_viewers
            .insert(member.to_owned());
    }

    /// Makes the AlloyDB aggregated list report `locations` (e.g.
    /// `projects/p/locations/asia-east1`) as unreachable.
    pub fn set_alloydb_unreachable(&self, locations: &[&str]) {
        self.state.directory().alloydb_unreachable =
            locations.iter().map(|l| l.to_string()).collect();
    }

    // ----- Cloud SQL Admin API -----

    /// Registers (or replaces) the Cloud SQL instance `instance` of
    /// `project` (connection name `project:region:instance`), for
    /// `GET {http_url}/v1/projects/{project}/instances/{instance}` and its
    /// `/connectSettings`.
    pub fn add_cloudsql_instance(&self, project: &str, instance: &str, settings: CloudSqlInstance) {
        self.state
            .directory()
            .cloudsql_instances
            .insert((project.to_owned(), instance.to_owned()), settings);
    }

    /// Grants `member` `cloudsql.instances.connect` and
    /// `cloudsql.instances.get` on every Cloud SQL instance, like
    /// `roles/cloudsql.client` on the project.
    pub fn grant_cloudsql_client(&self, member: &str) {
        let mut dir = self.state.directory();
        for permission in [endpoints::cloudsql::CONNECT, endpoints::cloudsql::GET] {
            dir.cloudsql_grants
                .insert((member.to_owned(), permission.to_owned()));
        }
    }

    /// Grants `member` only `cloudsql.instances.get`, like
    /// `roles/cloudsql.viewer`: it may read the instance but not its
    /// connectSettings.
    pub fn grant_cloudsql_viewer(&self, member: &str) {
        self.state
            .directory()
            .cloudsql_grants
            .insert((member.to_owned(), endpoints::cloudsql::GET.to_owned()));
    }

    /// LDAP binds so far: (accepted, rejected).
    pub fn ldap_binds(&self) -> (usize, usize) {
        self.state.ldap_binds()
    }

    /// The most recent LDAP binds (up to 1,000), oldest first, without
    /// passwords; handy in assertion messages.
    pub fn ldap_bind_log(&self) -> Vec<LdapBind> {
        self.state.ldap_log()
    }
}
