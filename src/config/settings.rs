//! The resolved settings: every default applied, every path expanded. This is what the
//! rest of the program reads.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use google_tokens::{CredentialSpec, Endpoints, InstanceName, IpType};
use libpq_files::{Host, Keyword, Role, SectionValue, ServiceName, Tag};

use super::load::{located, service_key_offset};
use super::raw::{RawConfig, RawService, RawSource};
use super::values::DbUser;
use crate::error::{Error, Result};
use crate::paths;

/// The scope that restricts a token to AlloyDB login: the default.
const DEFAULT_SCOPE: &str = google_tokens::ALLOYDB_LOGIN_SCOPE;
/// The default for services naming a Cloud SQL instance.
const CLOUD_SQL_SCOPE: &str = google_tokens::SQLSERVICE_LOGIN_SCOPE;
/// PostgreSQL's port, for services given a `host`.
const DEFAULT_PORT: u16 = 5432;
/// Refresh when less than this much validity remains.
pub const DEFAULT_REFRESH_WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long a writer waits for another's lock before giving up: cron must not hang.
const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, for messages.
    pub path: PathBuf,
    /// Which configuration this is, in the files' markers: a digest of the file's real
    /// path, so that two configurations sharing a password file keep their entries apart.
    pub owner: Tag,
    pub pgpass: PathBuf,
    pub service_file: PathBuf,
    pub endpoints: Endpoints,
    pub lock_timeout: Duration,
    /// Sorted by name.
    pub services: Vec<Service>,
}

/// One `[services.NAME]` table with the defaults applied. Every value that reaches a
/// file is already one of the file engine's checked types.
#[derive(Debug, Clone)]
pub struct Service {
    pub name: ServiceName,
    pub server: Server,
    pub dbname: Option<SectionValue>,
    pub user: UserSpec,
    /// Further connection keywords for the service file, in the order they are written
    /// (`sslmode`, `sslrootcert`, …, then the `libpq` table).
    pub keywords: Vec<(Keyword, SectionValue)>,
    /// Shared by every service with equal settings: minting, digests and sharing key on
    /// this one value, so a thousand services with one credential cost one.
    pub credential: Arc<CredentialSpec>,
    pub refresh_window: Duration,
}

/// Where a service connects.
#[derive(Debug, Clone)]
pub enum Server {
    /// `host` and `port`, written as configured.
    Host { host: Host, port: u16 },
    /// `instance`, resolved through an Admin API.
    Instance(InstanceSettings),
}

/// A service's `instance` and what decides how it is resolved.
#[derive(Debug, Clone)]
pub struct InstanceSettings {
    pub name: InstanceName,
    pub ip_type: IpType,
    /// AlloyDB's managed connection pooling (port 6432).
    pub pooled: bool,
    /// `port` from the configuration, which overrides the resolved one.
    pub port: Option<u16>,
}

impl InstanceSettings {
    /// Everything the resolution depends on, as the key it is cached under: changing any
    /// of it in the configuration makes the service resolve again.
    pub fn cache_key(&self) -> String {
        format!(
            "{} ip_type={} pooled={}",
            self.name,
            self.ip_type.as_str(),
            self.pooled
        )
    }
}

impl Service {
    /// The instance the service names, if it names one.
    pub fn instance(&self) -> Option<&InstanceSettings> {
        match &self.server {
            Server::Instance(instance) => Some(instance),
            Server::Host { .. } => None,
        }
    }
}

/// Which database user a service logs in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSpec {
    /// Derived from the credential's principal by Google's rule.
    Auto,
    Named(Role),
}

impl RawConfig {
    /// Applies the defaults to every service and expands paths against the directory of
    /// `path`, the file the configuration was read from.
    pub(super) fn resolve(self, path: &Path, text: &str) -> Result<Config> {
        let base_dir = path.parent().unwrap_or(Path::new("."));
        let defaults = self.defaults;

        let pgpass = match defaults.pgpass {
            Some(p) => paths::expand(&p.into_inner(), base_dir)?,
            None => paths::default_pgpass()?,
        };
        let service_file = match defaults.service_file {
            Some(p) => paths::expand(&p.into_inner(), base_dir)?,
            None => paths::default_service_file()?,
        };

        let mut services = Vec::with_capacity(self.services.len());
        let mut credentials: Vec<Arc<CredentialSpec>> = Vec::new();
        let mut inherited: Vec<(&str, Arc<CredentialSpec>)> = Vec::new();
        for (name, svc) in self.services {
            let name = name.into_inner();
            // Errors that need two keys name the line of the second, found in the text.
            let at = |key: Option<&str>, message: String| match service_key_offset(
                text,
                name.as_str(),
                key,
            )
            .or_else(|| service_key_offset(text, name.as_str(), None))
            {
                Some(offset) => located(text, path, offset, &message),
                None => Error::Config(format!("{}: {message}", path.display())),
            };
            let server = server(&name, &svc, at)?;
            let default_scope = match &server {
                Server::Instance(i) if i.name.is_cloud_sql() => CLOUD_SQL_SCOPE,
                _ => DEFAULT_SCOPE,
            };
            // Most services say nothing of credentials: they share the defaults' one
            // value, built once (per default scope) rather than once per service.
            let inherits = svc.credentials.is_none()
                && svc.impersonate.is_none()
                && svc.delegates.is_none()
                && svc.scopes.is_none();
            let known = inherited
                .iter()
                .find(|(scope, _)| inherits && *scope == default_scope)
                .map(|(_, spec)| Arc::clone(spec));
            let credential = match known {
                Some(spec) => spec,
                None => {
                    let source = svc
                        .credentials
                        .or_else(|| defaults.credentials.clone())
                        .unwrap_or(RawSource::Adc);
                    let credential = CredentialSpec {
                        source: source.resolve(base_dir)?,
                        impersonate: svc
                            .impersonate
                            .or_else(|| defaults.impersonate.clone())
                            .map(|e| e.into_inner().to_string()),
                        delegates: svc
                            .delegates
                            .or_else(|| defaults.delegates.clone())
                            .unwrap_or_default()
                            .into_iter()
                            .map(|e| e.into_inner().to_string())
                            .collect(),
                        scopes: svc
                            .scopes
                            .or_else(|| defaults.scopes.clone())
                            .map(|s| s.into_iter().map(|s| s.into_inner()).collect())
                            .unwrap_or_else(|| vec![default_scope.to_string()]),
                    };
                    if !credential.delegates.is_empty() && credential.impersonate.is_none() {
                        return Err(Error::Config(format!(
                            "{}: service {name} sets `delegates` without `impersonate`; add the service account to impersonate",
                            path.display()
                        )));
                    }
                    let spec = shared(&mut credentials, credential);
                    if inherits {
                        inherited.push((default_scope, Arc::clone(&spec)));
                    }
                    spec
                }
            };
            let mut keywords = Vec::new();
            if let Some(mode) = svc.sslmode {
                keywords.push(keyword(&name, "sslmode", &mode.into_inner(), path)?);
            }
            for (key, value) in [
                ("sslrootcert", svc.sslrootcert),
                ("sslcert", svc.sslcert),
                ("sslkey", svc.sslkey),
            ] {
                if let Some(value) = value {
                    let expanded = paths::expand(&value.into_inner(), base_dir)?;
                    keywords.push(keyword(&name, key, &expanded.display().to_string(), path)?);
                }
            }
            if let Some(options) = svc.options {
                keywords.push(keyword(
                    &name,
                    "options",
                    options.into_inner().as_str(),
                    path,
                )?);
            }
            for (key, value) in svc.libpq.unwrap_or_default() {
                keywords.push((key.into_inner(), value.into_inner()));
            }
            services.push(Service {
                name,
                server,
                dbname: svc.dbname.map(|d| d.into_inner()),
                user: user_spec(svc.user),
                keywords,
                credential,
                refresh_window: svc
                    .refresh_window
                    .or(defaults.refresh_window)
                    .map_or(DEFAULT_REFRESH_WINDOW, |w| w.get()),
            });
        }

        // The real path names the configuration whichever way it was reached.
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        Ok(Config {
            path: path.to_path_buf(),
            owner: Tag::of(real.as_os_str().as_encoded_bytes()),
            pgpass,
            service_file,
            endpoints: self.endpoints.resolve(),
            lock_timeout: defaults
                .lock_timeout
                .map_or(DEFAULT_LOCK_TIMEOUT, |t| t.get()),
            services,
        })
    }
}

/// A service's `host` or `instance`, exactly one of them, with the keys that go with each.
fn server(
    name: &ServiceName,
    svc: &RawService,
    at: impl Fn(Option<&str>, String) -> Error,
) -> Result<Server> {
    let port = svc.port.map(|p| p.get());
    match (&svc.host, &svc.instance) {
        (Some(_), Some(_)) => Err(at(
            Some("instance"),
            format!("service {name} sets both `host` and `instance`; keep one"),
        )),
        (None, None) => Err(at(
            None,
            format!(
                "service {name} needs `host` (an address) or `instance` (an AlloyDB instance, projects/P/locations/R/clusters/C/instances/I, or a Cloud SQL connection name, PROJECT:REGION:INSTANCE)"
            ),
        )),
        (Some(host), None) => {
            let stray = [
                ("ip_type", svc.ip_type.is_some()),
                ("pooled", svc.pooled.is_some()),
            ];
            if let Some((key, _)) = stray.into_iter().find(|(_, set)| *set) {
                return Err(at(
                    Some(key),
                    format!(
                        "service {name}: `{key}` applies to services with an `instance`, not a `host`"
                    ),
                ));
            }
            Ok(Server::Host {
                host: host.clone().into_inner(),
                port: port.unwrap_or(DEFAULT_PORT),
            })
        }
        (None, Some(instance)) => {
            let instance_name = instance.clone().into_inner();
            let pooled = svc.pooled;
            if instance_name.is_cloud_sql() && pooled == Some(true) {
                return Err(at(
                    Some("pooled"),
                    format!(
                        "service {name}: `pooled` is for AlloyDB instances (managed connection pooling); this is a Cloud SQL instance"
                    ),
                ));
            }
            Ok(Server::Instance(InstanceSettings {
                name: instance_name,
                ip_type: svc
                    .ip_type
                    .as_ref()
                    .map(|t| t.clone().into_inner())
                    .unwrap_or_default(),
                pooled: pooled.unwrap_or(false),
                port,
            }))
        }
    }
}

/// The one shared value equal to `spec`: the distinct credentials of a configuration
/// are few, so a linear search is cheap.
fn shared(known: &mut Vec<Arc<CredentialSpec>>, spec: CredentialSpec) -> Arc<CredentialSpec> {
    if let Some(same) = known.iter().find(|k| ***k == spec) {
        return Arc::clone(same);
    }
    let spec = Arc::new(spec);
    known.push(Arc::clone(&spec));
    spec
}

fn user_spec(user: Option<DbUser>) -> UserSpec {
    match user.and_then(DbUser::into_inner) {
        None => UserSpec::Auto,
        Some(role) => UserSpec::Named(role),
    }
}

/// A `keyword=value` pair for a service's section from a setting whose text is known
/// only now (an expanded path).
fn keyword(
    service: &ServiceName,
    key: &str,
    value: &str,
    path: &Path,
) -> Result<(Keyword, SectionValue)> {
    let bad = |e: libpq_files::InvalidValue| {
        Error::Config(format!(
            "{}: service {service}, `{key}`: {e}",
            path.display()
        ))
    };
    Ok((
        Keyword::new(key).map_err(bad)?,
        SectionValue::new(value).map_err(bad)?,
    ))
}

impl Config {
    /// Whether a region whose marker names `owner` is this configuration's. Regions
    /// written before markers named owners belong to whoever reads them.
    pub fn owns(&self, owner: Option<&Tag>) -> bool {
        owner.is_none_or(|o| *o == self.owner)
    }

    /// The services named on the command line, or all of them when none is named.
    /// An unknown name is a usage error that lists the configured ones.
    pub fn select(&self, names: &[String]) -> Result<Vec<&Service>> {
        if self.services.is_empty() {
            return Err(Error::Config(format!(
                "{} configures no services; add a [services.NAME] table",
                self.path.display()
            )));
        }
        if names.is_empty() {
            return Ok(self.services.iter().collect());
        }
        let mut selected = Vec::new();
        for name in names {
            match self.services.iter().find(|s| s.name == *name.as_str()) {
                Some(service) if !selected.iter().any(|s: &&Service| s.name == *name.as_str()) => {
                    selected.push(service)
                }
                Some(_) => {}
                None => {
                    let known: Vec<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
                    return Err(Error::Config(format!(
                        "{} has no service {name:?}; configured services: {}",
                        self.path.display(),
                        known.join(", ")
                    )));
                }
            }
        }
        Ok(selected)
    }

    /// The one service a command that acts on a single service works on: the named one,
    /// or the only one configured.
    pub fn single(&self, name: Option<&str>) -> Result<&Service> {
        match name {
            Some(name) => Ok(self.select(&[name.to_string()])?[0]),
            None => match self.services.as_slice() {
                [only] => Ok(only),
                [] => Err(Error::Config(format!(
                    "{} configures no services; add a [services.NAME] table",
                    self.path.display()
                ))),
                _ => Err(Error::Config(format!(
                    "{} configures several services; say which with --service NAME",
                    self.path.display()
                ))),
            },
        }
    }
}
