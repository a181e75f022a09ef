//! Database instances the admin API stand-ins describe: what tests register
//! ([`AlloyDbInstance`], [`CloudSqlInstance`]) and the JSON resources
//! Google's APIs answer for them, with Google's field names.
//!
//! Like Google's JSON (proto3 mapping), fields holding `false`, an empty
//! string or nothing are left out rather than sent as defaults, so clients
//! must treat a missing `requireConnectors` as false.

use serde_json::{Map, Value, json};

use crate::endpoints::google_api;
use crate::http::{Request, Response};
use crate::state::State;
use crate::tls::TestCa;

/// What the AlloyDB Admin API reports about an instance; the default is a
/// READY primary instance with nothing set. Fields are the API's, in snake
/// case (`psc_dns_name` is `pscInstanceConfig.pscDnsName`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlloyDbInstance {
    pub ip_address: Option<String>,
    pub public_ip_address: Option<String>,
    pub psc_dns_name: Option<String>,
    /// Only the AlloyDB Auth Proxy and connectors may connect, so a plain
    /// libpq client cannot.
    pub require_connectors: bool,
    /// `connectionPoolConfig.enabled`.
    pub pooling_enabled: bool,
    /// `PRIMARY` (the default), `READ_POOL` or `SECONDARY`.
    pub instance_type: String,
}

impl Default for AlloyDbInstance {
    fn default() -> Self {
        AlloyDbInstance {
            ip_address: None,
            public_ip_address: None,
            psc_dns_name: None,
            require_connectors: false,
            pooling_enabled: false,
            instance_type: "PRIMARY".into(),
        }
    }
}

/// A JSON object from pairs, leaving out `false`, `""`, `null`, `{}` and `[]`.
fn object(pairs: Vec<(&str, Value)>) -> Value {
    let empty = |value: &Value| match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Number(_) => false,
    };
    let map: Map<String, Value> = pairs
        .into_iter()
        .filter(|(_, v)| !empty(v))
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    Value::Object(map)
}

/// When the fake says instances were created. Like `kind` in Cloud SQL's
/// answers, a field clients do not read, as real answers have many.
const CREATE_TIME: &str = "2026-01-05T09:30:00.000000Z";

impl AlloyDbInstance {
    /// The `Instance` resource named `name`
    /// (`projects/P/locations/R/clusters/C/instances/I`), with the fields
    /// clients read.
    pub(crate) fn resource(&self, name: &str) -> Value {
        object(vec![
            ("name", name.into()),
            ("createTime", CREATE_TIME.into()),
            ("state", "READY".into()),
            ("instanceType", self.instance_type.as_str().into()),
            ("databaseFlags", json!({"alloydb.iam_authentication": "on"})),
            ("ipAddress", self.ip_address.clone().into()),
            ("publicIpAddress", self.public_ip_address.clone().into()),
            (
                "clientConnectionConfig",
                object(vec![("requireConnectors", self.require_connectors.into())]),
            ),
            (
                "pscInstanceConfig",
                object(vec![("pscDnsName", self.psc_dns_name.clone().into())]),
            ),
            (
                "connectionPoolConfig",
                object(vec![("enabled", self.pooling_enabled.into())]),
            ),
        ])
    }
}

/// A Cloud SQL instance's SSL mode (`settings.ipConfiguration.sslMode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CloudSqlSslMode {
    #[default]
    EncryptedOnly,
    /// Clients must present a certificate Cloud SQL issued (the Auth Proxy
    /// or a connector); plain libpq with IAM tokens cannot log in. The
    /// legacy `requireSsl` is true only in this mode.
    TrustedClientCertificateRequired,
}

/// Who signs a Cloud SQL instance's server certificate (`serverCaMode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServerCaMode {
    /// `GOOGLE_MANAGED_INTERNAL_CA`: a per-instance CA; the server
    /// certificate names the instance, not its address.
    #[default]
    GoogleManagedInternalCa,
    /// `GOOGLE_MANAGED_CAS_CA`: a regional CA hierarchy; the server
    /// certificate carries the instance's DNS name.
    GoogleManagedCasCa,
}

/// The `serverCaCert` of a Cloud SQL instance: the PEM of one or more CA
/// certificates (more than one while a CA rotation is under way).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerCaCert {
    pub cert: String,
}

impl ServerCaCert {
    /// The certificates of `cas`, in order; `None` when `cas` is empty.
    pub fn from_cas(cas: &[&TestCa]) -> Option<ServerCaCert> {
        (!cas.is_empty()).then(|| ServerCaCert {
            cert: cas.iter().map(|ca| ca.cert_pem()).collect(),
        })
    }
}

/// Every Cloud SQL instance's region.
const REGION: &str = "us-central1";

/// What the Cloud SQL Admin API reports about an instance, in
/// [`REGION`]; the default is PostgreSQL 15, ENCRYPTED_ONLY, no addresses,
/// no server CA. Fields are the API's, in snake case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudSqlInstance {
    pub database_version: String,
    /// The `PRIMARY` and `PRIVATE` entries of `ipAddresses`.
    pub public_ip: Option<String>,
    pub private_ip: Option<String>,
    pub psc_enabled: bool,
    /// Also listed in `dnsNames`, as a Private Service Connect name when
    /// `psc_enabled`, else a public one.
    pub dns_name: Option<String>,
    pub server_ca_mode: ServerCaMode,
    pub ssl_mode: CloudSqlSslMode,
    pub server_ca_cert: Option<ServerCaCert>,
    /// The `cloudsql.iam_authentication` database flag.
    pub iam_authentication: bool,
}

impl Default for CloudSqlInstance {
    fn default() -> Self {
        CloudSqlInstance {
            database_version: "POSTGRES_15".into(),
            public_ip: None,
            private_ip: None,
            psc_enabled: false,
            dns_name: None,
            server_ca_mode: ServerCaMode::default(),
            ssl_mode: CloudSqlSslMode::default(),
            server_ca_cert: None,
            iam_authentication: true,
        }
    }
}

impl CloudSqlInstance {
    fn ip_addresses(&self) -> Value {
        let entries: Vec<Value> = [("PRIMARY", &self.public_ip), ("PRIVATE", &self.private_ip)]
            .into_iter()
            .filter_map(|(kind, ip)| ip.as_ref().map(|ip| json!({"type": kind, "ipAddress": ip})))
            .collect();
        entries.into()
    }

    fn dns_names(&self) -> Value {
        let connection_type = if self.psc_enabled {
            "PRIVATE_SERVICE_CONNECT"
        } else {
            "PUBLIC"
        };
        self.dns_name
            .iter()
            .map(|name| json!({"name": name, "connectionType": connection_type}))
            .collect::<Vec<_>>()
            .into()
    }

    /// The `ConnectSettings` resource (`sql#connectSettings`), with the
    /// fields connectors read.
    pub(crate) fn connect_settings(&self) -> Value {
        let server_ca_mode = match self.server_ca_mode {
            ServerCaMode::GoogleManagedInternalCa => "GOOGLE_MANAGED_INTERNAL_CA",
            ServerCaMode::GoogleManagedCasCa => "GOOGLE_MANAGED_CAS_CA",
        };
        object(vec![
            ("kind", "sql#connectSettings".into()),
            (
                "serverCaCert",
                self.server_ca_cert
                    .as_ref()
                    .map(|ca| json!({"kind": "sql#sslCert", "cert": ca.cert}))
                    .into(),
            ),
            ("ipAddresses", self.ip_addresses()),
            ("region", REGION.into()),
            ("databaseVersion", self.database_version.as_str().into()),
            ("pscEnabled", self.psc_enabled.into()),
            ("dnsName", self.dns_name.clone().into()),
            ("dnsNames", self.dns_names()),
            ("serverCaMode", server_ca_mode.into()),
        ])
    }

    /// The `DatabaseInstance` resource (`sql#instance`), as far as clients
    /// connecting to it or listing it read it.
    pub(crate) fn resource(&self, project: &str, instance: &str) -> Value {
        let trusted_client_certificates =
            self.ssl_mode == CloudSqlSslMode::TrustedClientCertificateRequired;
        let ssl_mode = if trusted_client_certificates {
            "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"
        } else {
            "ENCRYPTED_ONLY"
        };
        let ip_configuration = object(vec![
            ("requireSsl", trusted_client_certificates.into()),
            ("sslMode", ssl_mode.into()),
            (
                "pscConfig",
                object(vec![("pscEnabled", self.psc_enabled.into())]),
            ),
        ]);
        let flags: Vec<Value> = if self.iam_authentication {
            vec![json!({"name": "cloudsql.iam_authentication", "value": "on"})]
        } else {
            Vec::new()
        };
        object(vec![
            ("kind", "sql#instance".into()),
            ("state", "RUNNABLE".into()),
            ("databaseVersion", self.database_version.as_str().into()),
            (
                "settings",
                object(vec![
                    ("ipConfiguration", ip_configuration),
                    ("databaseFlags", flags.into()),
                ]),
            ),
            ("ipAddresses", self.ip_addresses()),
            (
                "connectionName",
                format!("{project}:{REGION}:{instance}").into(),
            ),
            ("dnsName", self.dns_name.clone().into()),
            ("dnsNames", self.dns_names()),
        ])
    }
}

// The list APIs: AlloyDB's `GET /v1/projects/P/locations/L/clusters/-/instances`
// (`L` may be `-`: every location; `unreachable` names what could not be listed) and
// Cloud SQL's `GET /v1/projects/P/instances`, both paged with `pageToken` /
// `nextPageToken`. Listing needs what reading an instance needs.

/// Items per page of the list stand-ins when the caller sends no `pageSize`: small, so
/// that a client which does not follow `nextPageToken` misses instances.
const LIST_PAGE_SIZE: usize = 2;

/// `(project, location)` of `/v1/projects/P/locations/L/clusters/-/instances`.
pub(crate) fn alloydb_list_scope(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v1/projects/")?;
    let (project, rest) = rest.split_once("/locations/")?;
    let location = rest.strip_suffix("/clusters/-/instances")?;
    let segment = |s: &str| !s.is_empty() && !s.contains(['/', ':']);
    (segment(project) && segment(location)).then_some((project, location))
}

/// `P` of `/v1/projects/P/instances`.
pub(crate) fn cloudsql_list_project(path: &str) -> Option<&str> {
    let project = path
        .strip_prefix("/v1/projects/")?
        .strip_suffix("/instances")?;
    (!project.is_empty() && !project.contains(['/', ':'])).then_some(project)
}

/// The page `pageToken` (an offset) and `pageSize` ask for, and the next page's token.
fn page<T: Clone>(request: &Request, items: &[T]) -> Result<(Vec<T>, Option<String>), Response> {
    let params = request.params();
    let size = params
        .get("pageSize")
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(LIST_PAGE_SIZE);
    let start = match params.get("pageToken").filter(|t| !t.is_empty()) {
        None => 0,
        Some(token) => token
            .strip_prefix("offset-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| {
                Response::google_error(400, "INVALID_ARGUMENT", "Invalid page token.", None)
            })?,
    };
    let end = (start + size).min(items.len());
    let next = (end < items.len()).then(|| format!("offset-{end}"));
    Ok((items[start..end].to_vec(), next))
}

pub(crate) fn list_alloydb(state: &State, request: &Request) -> Result<Response, Response> {
    let (project, location) = alloydb_list_scope(&request.path).unwrap_or(("", ""));
    let caller = google_api::authenticate(state, request, google_api::CLOUD_PLATFORM)?;
    let dir = state.directory();
    let parent = format!("projects/{project}/locations/{location}");
    if !dir.alloydb_viewers.contains(&caller.principal) {
        return Err(google_api::permission_denied(
            "alloydb.instances.list",
            Some(&format!("//alloydb.googleapis.com/{parent}")),
        ));
    }
    let prefix = if location == "-" {
        format!("projects/{project}/locations/")
    } else {
        format!("{parent}/")
    };
    let mut names: Vec<&String> = dir
        .alloydb_instances
        .keys()
        .filter(|n| n.starts_with(&prefix))
        .collect();
    names.sort();
    let (names, next) = page(request, &names)?;
    let instances: Vec<Value> = names
        .iter()
        .map(|n| dir.alloydb_instances[*n].resource(n))
        .collect();
    let unreachable: Vec<Value> = dir
        .alloydb_unreachable
        .iter()
        .filter(|l| l.starts_with(&format!("projects/{project}/")))
        .map(|l| l.as_str().into())
        .collect();
    Ok(Response::json(
        200,
        &object(vec![
            ("instances", instances.into()),
            ("nextPageToken", next.into()),
            ("unreachable", unreachable.into()),
        ]),
    ))
}

pub(crate) fn list_cloudsql(state: &State, request: &Request) -> Result<Response, Response> {
    let project = cloudsql_list_project(&request.path).unwrap_or("");
    let caller = google_api::authenticate(state, request, crate::endpoints::cloudsql::SCOPES)?;
    let dir = state.directory();
    let allowed = dir.cloudsql_grants.contains(&(
        caller.principal.clone(),
        crate::endpoints::cloudsql::GET.to_owned(),
    ));
    if !allowed {
        return Err(crate::endpoints::cloudsql::not_authorized());
    }
    let mut names: Vec<&String> = dir
        .cloudsql_instances
        .keys()
        .filter(|(p, _)| p == project)
        .map(|(_, i)| i)
        .collect();
    names.sort();
    let (names, next) = page(request, &names)?;
    let items: Vec<Value> = names
        .iter()
        .map(|n| dir.cloudsql_instances[&(project.to_owned(), (*n).clone())].resource(project, n))
        .collect();
    Ok(Response::json(
        200,
        &object(vec![
            ("kind", "sql#instancesList".into()),
            ("items", items.into()),
            ("nextPageToken", next.into()),
        ]),
    ))
}
