//! Database instances named instead of addressed: an AlloyDB instance's resource name or a
//! Cloud SQL connection name, resolved through Google's Admin APIs to the address, port
//! and TLS settings a plain libpq connection needs, with every check the connectors make
//! before they connect (connectors-only instances, pooling, region, engine, trusted client
//! certificates).
//!
//! The Admin APIs take broad (`cloud-platform`) tokens only, while the token written for
//! login keeps its narrow scope. [`AdminClient::new`] mints that broad token from the same
//! credential and keeps it inside the client, in memory: it is never returned, logged or
//! written anywhere.
//!
//! Every field of an answer is untrusted: addresses must be IP addresses or DNS names,
//! server CAs must be X.509 certificates (and are re-encoded, so nothing else reaches the
//! file libpq reads), and errors never quote a value.

mod alloydb;
mod answer;
mod cloudsql;
mod list;
mod name;
mod project;

pub use list::{InstanceKind, ListedInstance, Listing, is_project_id};
pub use name::{InstanceName, IpType};
pub use project::default_project;

use crate::CLOUD_PLATFORM_SCOPE;
use crate::credential::CredentialSpec;
use crate::endpoints::{AdminApi, Universe};
use crate::error::{Error, Result};
use crate::http::{Answer, Body, Method, Request};
use crate::oauth::oauth_error;
use crate::token::{Context, MintedToken};

/// What to resolve: the instance, which of its addresses, and (AlloyDB) whether to go
/// through managed connection pooling.
#[derive(Debug, Clone, Copy)]
pub struct InstanceRequest<'a> {
    pub name: &'a InstanceName,
    pub ip_type: IpType,
    pub pooled: bool,
}

/// Where and how to connect to an instance directly with libpq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// An IP address or a DNS name (checked).
    pub host: String,
    /// 5432 for direct connections, 6432 for AlloyDB's managed pooling.
    pub port: u16,
    pub tls: ServerTls,
    /// Things worth telling the user that do not stop the connection.
    pub notes: Vec<String>,
}

/// How the server can be verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerTls {
    /// Encrypted, but Google publishes no CA to verify the server by (AlloyDB's direct
    /// connections): `sslmode=require`.
    Unverified,
    /// The server's certificate chains to `ca` (`sslmode=verify-ca`).
    VerifyCa(ServerCa),
    /// It also names the host connected to (`sslmode=verify-full`).
    VerifyFull(ServerCa),
}

impl ServerTls {
    /// The `sslmode` that gives this verification.
    pub fn sslmode(&self) -> &'static str {
        match self {
            ServerTls::Unverified => "require",
            ServerTls::VerifyCa(_) => "verify-ca",
            ServerTls::VerifyFull(_) => "verify-full",
        }
    }

    /// The server CA to trust, when there is one.
    pub fn ca(&self) -> Option<&ServerCa> {
        match self {
            ServerTls::Unverified => None,
            ServerTls::VerifyCa(ca) | ServerTls::VerifyFull(ca) => Some(ca),
        }
    }
}

/// One or more server CA certificates (several while a CA rotation is under way), each
/// checked to be an X.509 certificate and re-encoded as PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCa {
    pem: String,
    count: usize,
}

impl ServerCa {
    /// The certificates, PEM-encoded, nothing else.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// How many certificates there are.
    pub fn count(&self) -> usize {
        self.count
    }
}

/// A client for the Admin APIs that holds a broad token of one credential.
pub struct AdminClient<'a> {
    ctx: &'a Context<'a>,
    token: MintedToken,
    universe: Universe,
}

impl<'a> AdminClient<'a> {
    /// Mints a `cloud-platform` token from `spec`'s credential (the same account as the
    /// login token, other scopes). It stays inside the client.
    pub fn new(spec: &CredentialSpec, ctx: &'a Context<'a>) -> Result<AdminClient<'a>> {
        let source = crate::sources::build(&spec.with_scopes(&[CLOUD_PLATFORM_SCOPE]), ctx)?;
        let token = source.mint().map_err(|e| {
            let message = format!(
                "cannot get a cloud-platform token for the Admin API from the service's credential: {e}"
            );
            match e {
                Error::Config(_) => Error::Config(message),
                Error::Source(_) => Error::Source(message),
            }
        })?;
        Ok(AdminClient {
            ctx,
            universe: source.universe().clone(),
            token,
        })
    }

    /// Describes the instance and works out how to connect to it.
    pub fn resolve(&self, request: &InstanceRequest<'_>) -> Result<Resolution> {
        match request.name.cloud_sql_parts() {
            None => alloydb::resolve(self, request),
            Some(parts) => cloudsql::resolve(self, request, parts),
        }
    }

    /// GETs `path` (starting with `/v1/`) from `api`.
    fn get(&self, api: AdminApi, path: &str) -> Result<Answer> {
        let url = format!(
            "{}{path}",
            self.ctx.endpoints.admin_base(api, &self.universe)
        );
        let bearer = format!("Bearer {}", self.token.secret().expose());
        self.ctx.http.send(&Request {
            what: api_name(api),
            method: Method::Get,
            url: &url,
            headers: &[("Authorization", &bearer)],
            body: Body::Empty,
            to_metadata_server: false,
        })
    }

    /// Explains an answer other than 200: what was refused and what to do.
    fn refused(&self, api: AdminApi, answer: &Answer, name: &InstanceName) -> Error {
        let what = api_name(api);
        let summary = match oauth_error(answer, what) {
            Ok(err) => err.summary(),
            Err(_) => format!("HTTP {}", answer.status),
        };
        let (roles, role) = match api {
            AdminApi::AlloyDb => (
                "roles/alloydb.client (or roles/alloydb.viewer)",
                "roles/alloydb.client",
            ),
            AdminApi::SqlAdmin => (
                "roles/cloudsql.client (roles/cloudsql.viewer alone cannot read connection settings)",
                "roles/cloudsql.client",
            ),
        };
        let caller = self.token.principal();
        match answer.status {
            401 => Error::Source(format!(
                "{what} rejected the credential's token ({summary}); refresh or recreate the credential"
            )),
            403 if summary.contains("insufficient authentication scopes") => {
                Error::Source(format!(
                    "{what} needs a token with the cloud-platform scope, and the service's credential gave one without it ({summary}); a token command must print a cloud-platform token to resolve `instance`, or give the service `host` instead"
                ))
            }
            403 => {
                let who = caller.map_or_else(|| "the credential".to_string(), |p| p.to_string());
                let member = match caller {
                    Some(p) if p.is_service_account() => format!("serviceAccount:{p}"),
                    Some(p) => format!("user:{p}"),
                    None => "MEMBER".to_string(),
                };
                Error::Source(format!(
                    "{who} may not read instance {name} ({summary}); grant it {roles} on the project: gcloud projects add-iam-policy-binding {} --member={member} --role={role}",
                    name.project()
                ))
            }
            404 => Error::Config(format!(
                "instance {name} does not exist ({summary}); check `instance` in the configuration"
            )),
            _ => Error::Source(format!("{what} answered {summary} for instance {name}")),
        }
    }
}

fn api_name(api: AdminApi) -> &'static str {
    match api {
        AdminApi::AlloyDb => "the AlloyDB Admin API",
        AdminApi::SqlAdmin => "the Cloud SQL Admin API",
    }
}

/// An address from an answer, checked; `field` names where it was.
fn address(text: &str, field: &str, name: &InstanceName, api: AdminApi) -> Result<String> {
    crate::untrusted::check_address(text).map_err(|why| {
        Error::Source(format!(
            "{} answered an unusable {field} for instance {name} ({why}); nothing was written",
            api_name(api)
        ))
    })
}

/// The server CA from an answer, checked.
fn server_ca(pem: &str, name: &InstanceName) -> Result<ServerCa> {
    let (pem, count) = crate::untrusted::check_ca_pem(pem).map_err(|why| {
        Error::Source(format!(
            "the Cloud SQL Admin API answered an unusable server CA certificate for instance {name} ({why}); nothing was written"
        ))
    })?;
    Ok(ServerCa { pem, count })
}

/// "it has: private, public" or "it has no address yet".
fn available(types: &[IpType]) -> String {
    match types {
        [] => "it has no address at all yet".to_string(),
        _ => format!(
            "it has: {}",
            types
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
