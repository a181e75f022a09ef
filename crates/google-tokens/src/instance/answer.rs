//! The Admin APIs' resources as far as this crate reads them, shared by resolving one
//! instance and listing many. Google leaves out `false` and empty fields, so every field
//! is optional; each value is checked where it is used, never here.

use std::collections::BTreeMap;

use serde::Deserialize;

/// AlloyDB's `Instance` resource.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AlloyDbInstance {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub instance_type: Option<String>,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub public_ip_address: Option<String>,
    #[serde(default)]
    pub psc_instance_config: Option<PscInstanceConfig>,
    #[serde(default)]
    pub client_connection_config: Option<ClientConnectionConfig>,
    #[serde(default)]
    pub connection_pool_config: Option<ConnectionPoolConfig>,
    #[serde(default)]
    pub database_flags: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PscInstanceConfig {
    #[serde(default)]
    pub psc_dns_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClientConnectionConfig {
    #[serde(default)]
    pub require_connectors: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConnectionPoolConfig {
    #[serde(default)]
    pub enabled: bool,
}

/// Cloud SQL's `IpMapping`: one address and its type (`PRIMARY`, `PRIVATE`, …).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IpMapping {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub ip_address: Option<String>,
}

/// Cloud SQL's `DnsNameMapping`: one DNS name and the connection type it serves.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DnsNameMapping {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub connection_type: Option<String>,
}

/// Cloud SQL's `Settings` of a `DatabaseInstance`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CloudSqlSettings {
    #[serde(default)]
    pub ip_configuration: Option<IpConfiguration>,
    #[serde(default)]
    pub database_flags: Vec<Flag>,
    #[serde(default)]
    pub connector_enforcement: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IpConfiguration {
    #[serde(default)]
    pub ssl_mode: Option<String>,
    #[serde(default)]
    pub require_ssl: bool,
    #[serde(default)]
    pub psc_config: Option<PscConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PscConfig {
    #[serde(default)]
    pub psc_enabled: bool,
}

/// A database flag (`cloudsql.iam_authentication`, …) and its value.
#[derive(Debug, Deserialize)]
pub(super) struct Flag {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}
