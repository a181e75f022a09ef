//! Hermetic stand-ins for the Google services `alloydb-cred` talks to, and a
//! real PostgreSQL whose logins an LDAP server checks against the tokens the
//! fake issued, as AlloyDB's IAM authentication does. What each endpoint
//! fakes, and how to use it from tests and the command line: README.md.
//! Everything binds to loopback on ephemeral ports, so tests can run in
//! parallel. Unix-only (it manages PostgreSQL processes).

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
    AlloyDbInstance, CloudSqlInstance, CloudSqlSslMode, ServerCaCert, ServerCaMode,
};
pub use state::{LdapBind, MintOptions, TokenRecord};

/// The database user an IAM principal logs in as, by Google's rule for
/// AlloyDB and Cloud SQL: `name@proj.iam.gserviceaccount.com` becomes
/// `name@proj.iam`; any other e-mail is used as is.
pub fn database_user_for(principal: &str) -> String {
    principal
        .strip_suffix(".gserviceaccount.com")
        .filter(|rest| rest.contains('@'))
        .unwrap_or(principal)
        .to_owned()
}

/// A name the HTTPS certificate also covers that is not a loopback address,
/// for clients that treat loopback differently: `.invalid` never resolves
/// (RFC 6761), so it is reached only through [`proxy::ConnectProxy`].
pub const TLS_TEST_NAME: &str = "oauth2.test.invalid";

/// The running fake Google services. Dropping it stops the servers.
pub struct FakeGoogle {
    state: Arc<state::State>,
    http: http::HttpServer,
    https: Option<http::Acceptor>,
    ldap: http::Acceptor,
}

impl FakeGoogle {
    /// Starts the HTTP and LDAP servers on 127.0.0.1.
    pub fn start() -> io::Result<FakeGoogle> {
        Self::start_with(None)
    }

    /// Like [`FakeGoogle::start`], and also serves every HTTP endpoint over
    /// HTTPS ([`FakeGoogle::https_url`]) with a certificate from `ca` for
    /// `127.0.0.1`, `::1`, `localhost` and [`TLS_TEST_NAME`].
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
        let http = http::HttpServer::start(Arc::clone(&state))?;
        state.directory().base_url = format!("http://{}", http.addr());
        let https = match tls_cert {
            Some(cert) => Some(http::start_tls(cert.server_config()?, http.addr())?),
            None => None,
        };
        let ldap = ldap::start(Arc::clone(&state))?;
        Ok(FakeGoogle {
            state,
            http,
            https,
            ldap,
        })
    }

    /// `https://127.0.0.1:PORT` after [`FakeGoogle::start_tls`].
    pub fn https_url(&self) -> Option<String> {
        self.https
            .as_ref()
            .map(|tls| format!("https://{}", tls.addr))
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http.addr())
    }

    /// The value for `GCE_METADATA_HOST`: `127.0.0.1:PORT`, no scheme.
    pub fn metadata_host(&self) -> String {
        self.http.addr().to_string()
    }

    pub fn ldap_port(&self) -> u16 {
        self.ldap.addr.port()
    }

    /// Issues a token; see [`MintOptions`] for what each argument means.
    pub fn mint(
        &self,
        principal: &str,
        lifetime: Duration,
        scopes: &[&str],
        length: usize,
    ) -> String {
        self.mint_with(&MintOptions {
            lifetime,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            length,
            ..MintOptions::new(principal)
        })
    }

    pub fn mint_with(&self, options: &MintOptions) -> String {
        self.state.mint(options)
    }

    /// Tokens issued through [`FakeGoogle::mint`] or `POST /mint`.
    pub fn mint_count(&self) -> usize {
        self.state.minted()
    }

    pub fn tokeninfo_calls(&self) -> usize {
        self.state.hits("tokeninfo")
    }

    /// Requests a route has received, injected failures and refusals
    /// included (the route names: README.md). A name no route has panics,
    /// so a misspelled one cannot make a test's count pass.
    pub fn hits(&self, route: &str) -> usize {
        assert!(
            endpoints::ROUTES.iter().any(|r| r.0 == route),
            "fake-google has no route {route:?}"
        );
        self.state.hits(route)
    }

    pub fn token_info(&self, token: &str) -> Option<TokenRecord> {
        self.state.lookup(token)
    }

    /// Revokes `token` for tokeninfo and LDAP; false if it is unknown.
    pub fn revoke(&self, token: &str) -> bool {
        self.state
            .update_token(token, |record| record.revoked = true)
    }

    /// Makes the next `count` requests to every route but `/stats` fail
    /// with HTTP `status`, before any other check.
    pub fn set_failures(&self, count: usize, status: u16) {
        self.state.set_failures(count, status);
    }

    /// Makes every route but `/stats` wait `delay` before answering.
    pub fn set_delay(&self, delay: Duration) {
        self.state.set_delay(delay);
    }

    /// Registers the service account `email` and returns its key file, as
    /// the Cloud console downloads it, with this fake's `/token` as
    /// `token_uri`; `POST /token` then accepts JWTs it signs.
    pub fn add_service_account(&self, email: &str) -> Value {
        self.state.add_service_account(email, &self.http_url())
    }

    /// Makes service-account tokens end in `padding` dots, as real ones
    /// sometimes do.
    pub fn set_token_padding(&self, padding: usize) {
        self.state.directory().token_padding = padding;
    }

    /// The claims of the last JWT assertion `/token` decoded, accepted or not.
    pub fn last_jwt_claims(&self) -> Option<Value> {
        self.state.directory().last_jwt_claims.clone()
    }

    /// Issues a refresh token for the user `email` and returns the ADC
    /// `authorized_user` file gcloud would write. Like real ones it has no
    /// `token_uri`: point the client at `<http_url>/token` some other way.
    pub fn add_user(&self, email: &str, granted_scopes: &[&str]) -> Value {
        self.state.add_user(email, granted_scopes)
    }

    /// Revokes a refresh token (not the access tokens it gave); false if
    /// unknown.
    pub fn revoke_refresh_token(&self, refresh_token: &str) -> bool {
        let mut dir = self.state.directory();
        let grant = dir.refresh_tokens.get_mut(refresh_token);
        grant.map(|grant| grant.revoked = true).is_some()
    }

    /// Makes the metadata server serve `email` as the VM's default service
    /// account (until then, 404). Changing it forgets cached tokens.
    pub fn set_metadata_account(&self, email: &str) {
        let mut dir = self.state.directory();
        if dir.metadata_account.as_deref() != Some(email) {
            dir.metadata_cache.clear();
        }
        dir.metadata_account = Some(email.to_owned());
    }

    /// Makes the metadata server's cached tokens (fetching the default one
    /// if none is) expire `remaining` from now, as if time had passed; with
    /// less than `METADATA_REFRESH_MARGIN` left the next request gets a new one.
    pub fn set_metadata_token_remaining(&self, remaining: Duration) {
        let Some(account) = self.state.directory().metadata_account.clone() else {
            return;
        };
        if self.state.directory().metadata_cache.is_empty() {
            let scopes = [CLOUD_PLATFORM_SCOPE.to_owned()];
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
            self.state
                .update_token(&token, |record| record.expires_at = expires_at);
        }
    }

    /// Grants `member` (an e-mail or `principal://...`) Service Account
    /// Token Creator on `target_sa`, also as a link of a delegation chain.
    pub fn grant_token_creator(&self, member: &str, target_sa: &str) {
        self.state
            .directory()
            .token_creators
            .insert((member.to_owned(), target_sa.to_owned()));
    }

    /// The last authenticated `generateAccessToken` request:
    /// `{"caller", "target", "body"}`.
    pub fn last_generate_access_token_request(&self) -> Option<Value> {
        self.state
            .directory()
            .last_generate_access_token_request
            .clone()
    }

    pub fn impersonation_url(&self, target: &str) -> String {
        directory::impersonation_url(&self.http_url(), target)
    }

    /// An ADC file as `gcloud auth application-default login
    /// --impersonate-service-account` writes it.
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

    /// Makes STS accept `subject_token` for `audience` (a provider's full
    /// resource name) and issue tokens for `federated_principal`.
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

    /// Makes STS accept AWS subject tokens signed with `credentials` (a
    /// session token, if any, sent and signed as `x-amz-security-token`)
    /// for `audience`, issuing tokens for `federated_principal`.
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
    /// then, 404).
    pub fn set_aws_instance(&self, instance: AwsInstanceMetadata) {
        self.state.directory().aws_instance = Some(instance);
    }

    /// An `external_account` file as `gcloud iam workload-identity-pools
    /// create-cred-config --aws` writes it, for this fake.
    pub fn aws_external_account_file(
        &self,
        audience: &str,
        impersonate: Option<&str>,
        imdsv2: bool,
    ) -> Value {
        let base = self.http_url();
        let mut source = json!({
            "environment_id": "aws1",
            "region_url": format!("{base}/latest/meta-data/placement/availability-zone"),
            "url": format!("{base}/latest/meta-data/iam/security-credentials"),
            "regional_cred_verification_url": aws::GET_CALLER_IDENTITY_URL,
        });
        if imdsv2 {
            source["imdsv2_session_token_url"] = format!("{base}/latest/api/token").into();
        }
        self.external_account(audience, aws::AWS_TOKEN_TYPE, source, impersonate)
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

    /// A file-sourced `external_account` file, as `gcloud iam
    /// workload-identity-pools create-cred-config` writes it, for this fake.
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

    /// Registers (or replaces) the AlloyDB instance `name`
    /// (`projects/P/locations/L/clusters/C/instances/I`).
    pub fn add_alloydb_instance(&self, name: &str, instance: AlloyDbInstance) {
        self.state
            .directory()
            .alloydb_instances
            .insert(name.to_owned(), instance);
    }

    /// Grants `member` `alloydb.instances.get` on every AlloyDB instance.
    pub fn grant_alloydb_viewer(&self, member: &str) {
        self.state
            .directory()
            .alloydb_viewers
            .insert(member.to_owned());
    }

    /// Makes the AlloyDB aggregated list report `locations` unreachable.
    pub fn set_alloydb_unreachable(&self, locations: &[&str]) {
        self.state.directory().alloydb_unreachable =
            locations.iter().map(|l| l.to_string()).collect();
    }

    /// Registers (or replaces) the Cloud SQL instance `project`'s `instance`.
    pub fn add_cloudsql_instance(&self, project: &str, instance: &str, settings: CloudSqlInstance) {
        self.state
            .directory()
            .cloudsql_instances
            .insert((project.to_owned(), instance.to_owned()), settings);
    }

    /// Grants `member` `roles/cloudsql.client` (connect and get) on every
    /// Cloud SQL instance.
    pub fn grant_cloudsql_client(&self, member: &str) {
        let mut dir = self.state.directory();
        for permission in [endpoints::cloudsql::CONNECT, endpoints::cloudsql::GET] {
            dir.cloudsql_grants
                .insert((member.to_owned(), permission.to_owned()));
        }
    }

    /// Grants `member` only `cloudsql.instances.get`, not connectSettings.
    pub fn grant_cloudsql_viewer(&self, member: &str) {
        self.state
            .directory()
            .cloudsql_grants
            .insert((member.to_owned(), endpoints::cloudsql::GET.to_owned()));
    }

    /// LDAP binds so far: (accepted, rejected).
    pub fn ldap_binds(&self) -> (usize, usize) {
        let log = self.state.ldap_log();
        let accepted = log.iter().filter(|bind| bind.accepted).count();
        (accepted, log.len() - accepted)
    }

    /// The LDAP binds so far, oldest first, without passwords.
    pub fn ldap_bind_log(&self) -> Vec<LdapBind> {
        self.state.ldap_log().clone()
    }
}
