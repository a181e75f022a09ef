//! Database instances the admin API stand-ins describe: what tests register
//! ([`AlloyDbInstance`], [`CloudSqlInstance`]) and the JSON resources
//! Google's APIs answer for them, with Google's field names.
//!
//! Like Google's JSON (proto3 mapping), fields holding `false`, an empty
//! string or nothing are left out rather than sent as defaults, so clients
//! must treat a missing `requireConnectors` as false.

use serde_json::{Map, Value, json};

use crate::endpoints::google_api::{self, ApiMethod};
use crate::http::{Request, Response};
use crate::state::State;
use crate::tls::TestCa;

/// An AlloyDB instance's SSL mode (`clientConnectionConfig.sslConfig.sslMode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AlloyDbSslMode {
    #[default]
    EncryptedOnly,
    AllowUnencryptedAndEncrypted,
}

impl AlloyDbSslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AlloyDbSslMode::EncryptedOnly => "ENCRYPTED_ONLY",
            AlloyDbSslMode::AllowUnencryptedAndEncrypted => "ALLOW_UNENCRYPTED_AND_ENCRYPTED",
        }
    }
}

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
    pub ssl_mode: AlloyDbSslMode,
    /// `READY` (the default), `STOPPED`, ...
    pub state: String,
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
            ssl_mode: AlloyDbSslMode::default(),
            state: "READY".into(),
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

/// A stable UUID-shaped identifier derived from `name`.
fn uid(name: &str) -> String {
    let id = crate::directory::numeric_id(name);
    let hex: String = id
        .bytes()
        .map(|b| char::from(b"0123456789abcdef"[usize::from(b) % 16]))
        .chain("0123456789ab".chars())
        .take(32)
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// When the fake says instances were created.
const CREATE_TIME: &str = "2026-01-05T09:30:00.000000Z";

impl AlloyDbInstance {
    /// The `Instance` resource named `name`
    /// (`projects/P/locations/R/clusters/C/instances/I`).
    pub(crate) fn resource(&self, name: &str) -> Value {
        object(vec![
            ("name", name.into()),
            ("uid", uid(name).into()),
            ("createTime", CREATE_TIME.into()),
            ("updateTime", CREATE_TIME.into()),
            ("state", self.state.as_str().into()),
            ("instanceType", self.instance_type.as_str().into()),
            ("machineConfig", json!({"cpuCount": 2})),
            ("availabilityType", "REGIONAL".into()),
            ("databaseFlags", json!({"alloydb.iam_authentication": "on"})),
            ("ipAddress", self.ip_address.clone().into()),
            ("publicIpAddress", self.public_ip_address.clone().into()),
            (
                "networkConfig",
                object(vec![(
                    "enablePublicIp",
                    self.public_ip_address.is_some().into(),
                )]),
            ),
            (
                "clientConnectionConfig",
                object(vec![
                    ("requireConnectors", self.require_connectors.into()),
                    (
                        "sslConfig",
                        json!({"sslMode": self.ssl_mode.as_str(), "caSource": "CA_SOURCE_MANAGED"}),
                    ),
                ]),
            ),
            (
                "pscInstanceConfig",
                object(vec![("pscDnsName", self.psc_dns_name.clone().into())]),
            ),
            (
                "connectionPoolConfig",
                object(vec![
                    ("enabled", self.pooling_enabled.into()),
                    (
                        "poolerCount",
                        if self.pooling_enabled {
                            1.into()
                        } else {
                            Value::Null
                        },
                    ),
                ]),
            ),
            ("etag", format!("\"{}\"", &uid(name)[..8]).into()),
        ])
    }
}

/// A Cloud SQL instance's SSL mode (`settings.ipConfiguration.sslMode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CloudSqlSslMode {
    AllowUnencryptedAndEncrypted,
    #[default]
    EncryptedOnly,
    /// Clients must present a certificate Cloud SQL issued (the Auth Proxy
    /// or a connector); plain libpq with IAM tokens cannot log in. The
    /// legacy `requireSsl` is true only in this mode.
    TrustedClientCertificateRequired,
}

impl CloudSqlSslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CloudSqlSslMode::AllowUnencryptedAndEncrypted => "ALLOW_UNENCRYPTED_AND_ENCRYPTED",
            CloudSqlSslMode::EncryptedOnly => "ENCRYPTED_ONLY",
            CloudSqlSslMode::TrustedClientCertificateRequired => {
                "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"
            }
        }
    }
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
    CustomerManagedCasCa,
}

impl ServerCaMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerCaMode::GoogleManagedInternalCa => "GOOGLE_MANAGED_INTERNAL_CA",
            ServerCaMode::GoogleManagedCasCa => "GOOGLE_MANAGED_CAS_CA",
            ServerCaMode::CustomerManagedCasCa => "CUSTOMER_MANAGED_CAS_CA",
        }
    }
}

/// The `serverCaCert` of a Cloud SQL instance: the PEM of one or more CA
/// certificates (more than one while a CA rotation is under way) and the
/// details of the first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerCaCert {
    pub cert: String,
    pub cert_serial_number: String,
    pub common_name: String,
    pub sha1_fingerprint: String,
    /// RFC 3339.
    pub expiration_time: String,
}

impl ServerCaCert {
    /// The certificates of `cas`, in order, described by the first; `None`
    /// when `cas` is empty.
    pub fn from_cas(cas: &[&TestCa]) -> Option<ServerCaCert> {
        let first = cas.first()?;
        Some(ServerCaCert {
            cert: cas.iter().map(|ca| ca.cert_pem()).collect(),
            cert_serial_number: first.serial_number(),
            common_name: first.common_name().to_owned(),
            sha1_fingerprint: first.sha1_fingerprint(),
            expiration_time: first.expiration_time(),
        })
    }

    fn resource(&self, instance: &str) -> Value {
        json!({
            "kind": "sql#sslCert",
            "certSerialNumber": self.cert_serial_number,
            "cert": self.cert,
            "commonName": self.common_name,
            "sha1Fingerprint": self.sha1_fingerprint,
            "instance": instance,
            "createTime": CREATE_TIME,
            "expirationTime": self.expiration_time,
        })
    }
}

/// What the Cloud SQL Admin API reports about an instance; the default is
/// PostgreSQL 15 in `us-central1`, ENCRYPTED_ONLY, no addresses, no server
/// CA. Fields are the API's, in snake case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudSqlInstance {
    pub region: String,
    pub database_version: String,
    /// The `PRIMARY`, `PRIVATE` and `OUTGOING` entries of `ipAddresses`.
    pub public_ip: Option<String>,
    pub private_ip: Option<String>,
    pub outgoing_ip: Option<String>,
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
            region: "us-central1".into(),
            database_version: "POSTGRES_15".into(),
            public_ip: None,
            private_ip: None,
            outgoing_ip: None,
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
        let entries: Vec<Value> = [
            ("PRIMARY", &self.public_ip),
            ("OUTGOING", &self.outgoing_ip),
            ("PRIVATE", &self.private_ip),
        ]
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
            .map(|name| {
                json!({
                    "name": name,
                    "connectionType": connection_type,
                    "dnsScope": "INSTANCE",
                    "recordManager": "CUSTOMER",
                })
            })
            .collect::<Vec<_>>()
            .into()
    }

    fn server_ca(&self, instance: &str) -> Value {
        self.server_ca_cert
            .as_ref()
            .map(|c| c.resource(instance))
            .unwrap_or(Value::Null)
    }

    /// The `ConnectSettings` resource (`sql#connectSettings`).
    pub(crate) fn connect_settings(&self, project: &str, instance: &str) -> Value {
        object(vec![
            ("kind", "sql#connectSettings".into()),
            ("serverCaCert", self.server_ca(instance)),
            ("ipAddresses", self.ip_addresses()),
            ("region", self.region.as_str().into()),
            ("databaseVersion", self.database_version.as_str().into()),
            ("backendType", "SECOND_GEN".into()),
            ("pscEnabled", self.psc_enabled.into()),
            ("dnsName", self.dns_name.clone().into()),
            ("dnsNames", self.dns_names()),
            ("serverCaMode", self.server_ca_mode.as_str().into()),
            (
                "connectionName",
                format!("{project}:{}:{instance}", self.region).into(),
            ),
        ])
    }

    /// The `DatabaseInstance` resource (`sql#instance`), as far as clients
    /// connecting to it care.
    pub(crate) fn resource(&self, project: &str, instance: &str, base_path: &str) -> Value {
        let ip_configuration = object(vec![
            ("ipv4Enabled", self.public_ip.is_some().into()),
            (
                "privateNetwork",
                self.private_ip
                    .as_ref()
                    .map(|_| format!("projects/{project}/global/networks/default"))
                    .into(),
            ),
            (
                "requireSsl",
                (self.ssl_mode == CloudSqlSslMode::TrustedClientCertificateRequired).into(),
            ),
            ("sslMode", self.ssl_mode.as_str().into()),
            ("serverCaMode", self.server_ca_mode.as_str().into()),
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
                    ("kind", "sql#settings".into()),
                    ("tier", "db-custom-2-7680".into()),
                    ("activationPolicy", "ALWAYS".into()),
                    ("ipConfiguration", ip_configuration),
                    ("databaseFlags", flags.into()),
                ]),
            ),
            ("ipAddresses", self.ip_addresses()),
            ("serverCaCert", self.server_ca(instance)),
            ("instanceType", "CLOUD_SQL_INSTANCE".into()),
            ("project", project.into()),
            ("backendType", "SECOND_GEN".into()),
            (
                "selfLink",
                format!("https://sqladmin.googleapis.com{base_path}/projects/{project}/instances/{instance}")
                    .into(),
            ),
            (
                "connectionName",
                format!("{project}:{}:{instance}", self.region).into(),
            ),
            ("name", instance.into()),
            ("region", self.region.as_str().into()),
            ("gceZone", format!("{}-a", self.region).into()),
            ("dnsName", self.dns_name.clone().into()),
            ("dnsNames", self.dns_names()),
            ("createTime", CREATE_TIME.into()),
        ])
    }
}

/// Items per page of the list stand-ins when the caller sends no `pageSize`: small, so
/// that a client which does not follow `nextPageToken` misses instances.
const LIST_PAGE_SIZE: usize = 2;

const LIST_ALLOYDB: ApiMethod = ApiMethod {
    service: "alloydb.googleapis.com",
    method: "google.cloud.alloydb.v1.AlloyDBAdmin.ListInstances",
    scopes: google_api::CLOUD_PLATFORM,
};
const LIST_CLOUDSQL: ApiMethod = ApiMethod {
    service: "sqladmin.googleapis.com",
    method: "google.cloud.sql.v1.SqlInstancesService.List",
    scopes: &[
        crate::directory::CLOUD_PLATFORM_SCOPE,
        crate::endpoints::cloudsql::SQLSERVICE_ADMIN_SCOPE,
    ],
};

/// The list APIs: AlloyDB's `GET /v1/projects/P/locations/L/clusters/-/instances`
/// (`L` may be `-`: every location; `unreachable` names what could not be listed) and
/// Cloud SQL's `GET /v1/projects/P/instances`, both paged with `pageToken` /
/// `nextPageToken`. Listing needs what reading an instance needs.
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
    let caller = LIST_ALLOYDB.authenticate(state, request)?;
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
    let caller = LIST_CLOUDSQL.authenticate(state, request)?;
    let dir = state.directory();
    let allowed = dir.cloudsql_grants.contains(&(
        caller.principal.clone(),
        crate::endpoints::cloudsql::GET.to_owned(),
    ));
    if !allowed {
        return Err(Response::google_error(
            403,
            "PERMISSION_DENIED",
            "The client is not authorized to make this request.",
            None,
        ));
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
        .map(|n| {
            dir.cloudsql_instances[&(project.to_owned(), (*n).clone())].resource(project, n, "/v1")
        })
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
