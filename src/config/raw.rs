//! The raw shape of the TOML file: which tables and keys exist, each value a validated
//! type from `values`. Unknown keys are refused, with their line.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use google_tokens::{Endpoints, SourceSpec};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::values::{
    Arg, BaseUrl, CommandTimeout, DbUser, Email, Host, Instance, IpTypeValue, LibpqKeyword,
    LockTimeout, PathText, Port, RequestTimeout, Scope, ServiceName, SslMode, Text, Url, Window,
};
use crate::error::Result;
use crate::paths;

/// How long a token command may run before it is killed.
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) defaults: RawDefaults,
    #[serde(default)]
    pub(super) services: BTreeMap<ServiceName, RawService>,
    #[serde(default)]
    pub(super) endpoints: RawEndpoints,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    pub(super) credentials: Option<RawSource>,
    pub(super) impersonate: Option<Email>,
    pub(super) delegates: Option<Vec<Email>>,
    pub(super) scopes: Option<Vec<Scope>>,
    pub(super) refresh_window: Option<Window>,
    pub(super) pgpass: Option<PathText>,
    pub(super) service_file: Option<PathText>,
    pub(super) lock_timeout: Option<LockTimeout>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    /// Exactly one of `host` and `instance`. Errors that involve two keys find the line
    /// of the second in the text (see `load::service_key_offset`): spans from the parser
    /// would cost every service of a large configuration for the rare error.
    pub(super) host: Option<Host>,
    pub(super) instance: Option<Instance>,
    pub(super) ip_type: Option<IpTypeValue>,
    pub(super) pooled: Option<bool>,
    pub(super) port: Option<Port>,
    pub(super) dbname: Option<Text>,
    pub(super) user: Option<DbUser>,
    pub(super) sslmode: Option<SslMode>,
    pub(super) sslrootcert: Option<PathText>,
    pub(super) sslcert: Option<PathText>,
    pub(super) sslkey: Option<PathText>,
    pub(super) options: Option<Text>,
    pub(super) libpq: Option<BTreeMap<LibpqKeyword, Text>>,
    pub(super) credentials: Option<RawSource>,
    pub(super) impersonate: Option<Email>,
    pub(super) delegates: Option<Vec<Email>>,
    pub(super) scopes: Option<Vec<Scope>>,
    pub(super) refresh_window: Option<Window>,
}

/// `credentials = "adc" | "metadata" | "gcloud" | { key_file = "…" } | { command = […] }`.
#[derive(Debug, Clone)]
pub(super) enum RawSource {
    Adc,
    Metadata,
    Gcloud,
    KeyFile(String),
    Command {
        argv: Vec<String>,
        timeout: Duration,
    },
}

impl RawSource {
    pub(super) fn resolve(self, base_dir: &Path) -> Result<SourceSpec> {
        Ok(match self {
            RawSource::Adc => SourceSpec::Adc,
            RawSource::Metadata => SourceSpec::Metadata,
            RawSource::Gcloud => SourceSpec::Gcloud,
            RawSource::KeyFile(path) => SourceSpec::KeyFile(paths::expand(&path, base_dir)?),
            RawSource::Command { argv, timeout } => SourceSpec::Command { argv, timeout },
        })
    }
}

impl<'de> Deserialize<'de> for RawSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(SourceVisitor)
    }
}

struct SourceVisitor;

const SOURCE_EXPECTED: &str = "\"adc\", \"metadata\", \"gcloud\", { key_file = \"PATH\" } or { command = [\"PROGRAM\", \"ARG\"…] }";

impl<'de> Visitor<'de> for SourceVisitor {
    type Value = RawSource;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SOURCE_EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<RawSource, E> {
        match v {
            "adc" => Ok(RawSource::Adc),
            "metadata" => Ok(RawSource::Metadata),
            "gcloud" => Ok(RawSource::Gcloud),
            other => Err(E::custom(format!(
                "unknown credentials {other:?}; expected {SOURCE_EXPECTED}"
            ))),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<RawSource, A::Error> {
        let mut key_file: Option<PathText> = None;
        let mut command: Option<Vec<Arg>> = None;
        let mut timeout: Option<CommandTimeout> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "key_file" => key_file = Some(map.next_value()?),
                "command" => command = Some(map.next_value()?),
                "timeout" => timeout = Some(map.next_value()?),
                other => {
                    return Err(de::Error::custom(format!(
                        "unknown key `{other}` in credentials; expected `key_file`, or `command` with an optional `timeout`"
                    )));
                }
            }
        }
        match (key_file, command) {
            (Some(path), None) if timeout.is_none() => Ok(RawSource::KeyFile(path.into_inner())),
            (None, Some(argv)) => {
                let argv: Vec<String> = argv.into_iter().map(Arg::into_inner).collect();
                if argv.first().is_none_or(|p| p.is_empty()) {
                    return Err(de::Error::custom(
                        "credentials `command` needs at least the program to run",
                    ));
                }
                let timeout = timeout.map_or(DEFAULT_COMMAND_TIMEOUT, CommandTimeout::get);
                Ok(RawSource::Command { argv, timeout })
            }
            _ => Err(de::Error::custom(format!(
                "credentials must be exactly one of {SOURCE_EXPECTED}"
            ))),
        }
    }
}

/// `[endpoints]`: redirections of Google's endpoints (private access, restricted VIPs,
/// tests).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEndpoints {
    token: Option<Url>,
    tokeninfo: Option<Url>,
    iamcredentials: Option<Url>,
    sts: Option<Url>,
    alloydb_admin: Option<BaseUrl>,
    sqladmin: Option<BaseUrl>,
    timeout: Option<RequestTimeout>,
}

impl RawEndpoints {
    pub(super) fn resolve(self) -> Endpoints {
        Endpoints {
            token: self.token.map(Url::into_inner),
            tokeninfo: self.tokeninfo.map(Url::into_inner),
            iamcredentials: self.iamcredentials.map(Url::into_inner),
            sts: self.sts.map(Url::into_inner),
            alloydb_admin: self.alloydb_admin.map(BaseUrl::into_inner),
            sqladmin: self.sqladmin.map(BaseUrl::into_inner),
            timeout: self.timeout.map(RequestTimeout::get),
        }
    }
}
