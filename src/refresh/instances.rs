//! Services that name an instance instead of a host.
//!
//! What the files say for such a service depends on how its instance was last resolved,
//! and that resolution is cached in the state file (with its time), so the plan decides
//! from the two files, the state file and the server CA files alone whether anything is
//! due: no lock, no network. A service whose instance has no cached resolution is due.
//!
//! Before minting (and with no file lock held), a due service's instance is resolved again (the Admin API asked, with
//! a broad token of the service's own credential) when it never was, on `--force`, or when
//! the cached answer is an hour old: the token is being re-minted anyway, and instances
//! rarely move. A failed re-resolution keeps the last good answer, with a warning. The
//! new answers are saved before the files are written, so the next plan sees both.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use google_tokens::{AdminClient, Context, InstanceRequest, Resolution};
use jiff::{SignedDuration, Timestamp};
use libpq_files::Host;
use libpq_files::locked_file::{self, Contents};

use crate::config::{InstanceSettings, Server, Service};
use crate::error::{Error, Result};
use crate::paths;
use crate::state::{self, CachedInstance, LastError, State};

/// How old a resolution may be before a re-mint also resolves again.
const MAX_AGE: SignedDuration = SignedDuration::from_hours(1);

/// Where a service connects, as both files say it.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: Host,
    pub port: u16,
    /// Keywords the resolution adds to the section (`sslmode`, `sslrootcert`), where the
    /// service does not set them itself.
    pub keywords: Vec<(&'static str, String)>,
    /// The server CA file the section names, and what it must hold.
    pub server_ca: Option<ServerCaFile>,
}

/// A file of server CA certificates that libpq reads (`sslrootcert=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCaFile {
    pub path: PathBuf,
    pub pem: String,
}

impl ServerCaFile {
    /// Whether the file holds exactly what it should.
    pub fn is_current(&self) -> bool {
        std::fs::read(&self.path).is_ok_and(|bytes| bytes == self.pem.as_bytes())
    }

    /// Writes the file if it does not hold what it should, under its own lock, by the same
    /// temp-file-and-rename as the other files (readers never see half a certificate).
    pub fn write(&self, lock_timeout: Duration) -> Result<()> {
        paths::private_server_ca_dir()?;
        let _lock = locked_file::lock_all(&[&self.path], lock_timeout)?;
        let previous = locked_file::read(&self.path)?;
        if previous
            .as_ref()
            .is_some_and(|p| p.bytes == self.pem.as_bytes())
        {
            return Ok(());
        }
        locked_file::write(
            &self.path,
            self.pem.as_bytes(),
            previous.as_ref(),
            Contents::Plain,
        )?;
        Ok(())
    }
}

/// The cached resolutions a run works with.
pub struct Resolutions {
    cache: BTreeMap<String, CachedInstance>,
    ca_dir: PathBuf,
}

impl Resolutions {
    /// The cache as the state file holds it, read without a lock. Read only when one of
    /// `services` names an instance: configurations of hosts never open the state file
    /// on the nothing-due path.
    pub fn load(services: &[&Service]) -> Result<Resolutions> {
        if !services.iter().any(|s| s.instance().is_some()) {
            return Ok(Resolutions {
                cache: BTreeMap::new(),
                ca_dir: PathBuf::new(),
            });
        }
        Resolutions::from_state(State::load()?)
    }

    /// The cache from a state already read.
    pub fn from_state(state: State) -> Result<Resolutions> {
        Ok(Resolutions {
            cache: state.instances,
            ca_dir: paths::server_ca_dir()?,
        })
    }

    /// The last good resolution of an instance.
    pub fn cached(&self, instance: &InstanceSettings) -> Option<&CachedInstance> {
        self.cache.get(&instance.cache_key())
    }

    /// Where `service` connects: its host, or what its instance was resolved to; `None`
    /// when the instance has no usable resolution yet.
    pub fn target(&self, service: &Service) -> Option<Target> {
        let instance = match &service.server {
            Server::Host { host, port } => {
                return Some(Target {
                    host: host.clone(),
                    port: *port,
                    keywords: Vec::new(),
                    server_ca: None,
                });
            }
            Server::Instance(instance) => instance,
        };
        let cached = self.cached(instance)?;
        // The state directory is private and only this tool writes it, but what reaches
        // the files is checked by their own types whatever its origin.
        let host = Host::new(&cached.host).ok()?;
        let sets = |key: &str| service.keywords.iter().any(|(k, _)| k.as_str() == key);
        let mut keywords = Vec::new();
        if !sets("sslmode") {
            keywords.push(("sslmode", cached.sslmode.clone()));
        }
        let server_ca = match &cached.server_ca {
            Some(pem) if !sets("sslrootcert") => {
                let file = ServerCaFile {
                    path: self.ca_dir.join(format!(
                        "{}-{}.pem",
                        instance.name.file_stem(),
                        instance.ip_type.as_str()
                    )),
                    pem: pem.clone(),
                };
                keywords.push(("sslrootcert", file.path.display().to_string()));
                Some(file)
            }
            _ => None,
        };
        Some(Target {
            host,
            port: instance.port.unwrap_or(cached.port),
            keywords,
            server_ca,
        })
    }

    /// Asks the Admin API where `service`'s instance is now and keeps the answer in memory
    /// only: for `doctor`, which writes nothing. Returns the answer's host and port.
    pub fn resolve_now(
        &mut self,
        service: &Service,
        ctx: &Context<'_>,
    ) -> google_tokens::Result<Option<(String, u16)>> {
        let Some(instance) = service.instance() else {
            return Ok(None);
        };
        let resolution = AdminClient::new(&service.credential, ctx)?.resolve(&InstanceRequest {
            name: &instance.name,
            ip_type: instance.ip_type,
            pooled: instance.pooled,
        })?;
        let entry = cache_entry(&resolution, crate::clock::now())?;
        let found = (entry.host.clone(), entry.port);
        self.cache.insert(instance.cache_key(), entry);
        Ok(Some(found))
    }

    /// Resolves the instances of `due` services that need it (never resolved, `--force`,
    /// or an answer an hour old), once per instance and side by side (the Admin API token
    /// of a credential is minted once, see [`Context`]), and saves the new answers in the
    /// state file. Returns the services that cannot be refreshed: no answer now and none
    /// before, in the order of `due`.
    pub fn refresh(
        &mut self,
        due: &[&Service],
        force: bool,
        ctx: &Context<'_>,
        lock_timeout: Duration,
    ) -> Vec<(String, Error)> {
        let now = crate::clock::now();
        // What to ask: each instance once, for the first service that names it.
        let mut asked: BTreeSet<String> = BTreeSet::new();
        let mut ask: Vec<(String, &Service, &InstanceSettings)> = Vec::new();
        for &service in due {
            let Some(instance) = service.instance() else {
                continue;
            };
            let key = instance.cache_key();
            let cached = self.cache.get(&key);
            let usable = cached.is_some() && self.target(service).is_some();
            let young = cached.is_some_and(|c| age(c, now) < MAX_AGE);
            if asked.contains(&key) || (usable && young && !force) {
                continue;
            }
            asked.insert(key.clone());
            ask.push((key, service, instance));
        }
        let answers = super::parallel::map(&ask, |(_, service, instance)| {
            AdminClient::new(&service.credential, ctx)
                .and_then(|client| {
                    client.resolve(&InstanceRequest {
                        name: &instance.name,
                        ip_type: instance.ip_type,
                        pooled: instance.pooled,
                    })
                })
                .and_then(|resolution| cache_entry(&resolution, now))
        });

        let mut failures: BTreeMap<String, google_tokens::Error> = BTreeMap::new();
        let mut changed: BTreeMap<String, CachedInstance> = BTreeMap::new();
        for ((key, service, instance), answer) in ask.into_iter().zip(answers) {
            let usable = self.target(service).is_some();
            match (answer, self.cache.get(&key)) {
                (Ok(entry), _) => {
                    log::info!(
                        "{}: instance {} is at {}:{} ({})",
                        service.name,
                        instance.name,
                        entry.host,
                        entry.port,
                        entry.sslmode
                    );
                    self.cache.insert(key.clone(), entry.clone());
                    changed.insert(key, entry);
                }
                (Err(err), Some(last)) if usable => {
                    log::warn!(
                        "service {}: cannot resolve instance {} again ({err}); keeping the address resolved at {}: {}:{}",
                        service.name,
                        instance.name,
                        last.resolved_at,
                        last.host,
                        last.port
                    );
                    let mut kept = last.clone();
                    kept.last_failure = Some(LastError::now(&err.to_string()));
                    self.cache.insert(key.clone(), kept.clone());
                    changed.insert(key, kept);
                }
                (Err(err), _) => {
                    failures.insert(key, err);
                }
            }
        }
        let failed = due
            .iter()
            .filter_map(|&service| {
                let err = failures.get(&service.instance()?.cache_key())?;
                Some(fail(service, err))
            })
            .collect();
        if !changed.is_empty() {
            let saved = state::update(lock_timeout, |state| state.instances.extend(changed));
            if let Err(e) = saved {
                log::warn!(
                    "cannot save how the instances were resolved ({e}); the next refresh will ask the Admin API again"
                );
            }
        }
        failed
    }
}

fn fail(service: &Service, err: &google_tokens::Error) -> (String, Error) {
    (
        service.name.to_string(),
        Error::from(err.clone()).for_service(service.name.as_str()),
    )
}

/// How long ago `cached` was resolved; a time that cannot be read is as old as can be.
fn age(cached: &CachedInstance, now: Timestamp) -> SignedDuration {
    cached
        .resolved_at
        .parse::<Timestamp>()
        .map_or(SignedDuration::MAX, |at| now.duration_since(at))
}

/// What is cached of a resolution, once its host passed the file engine's check too.
fn cache_entry(resolution: &Resolution, now: Timestamp) -> google_tokens::Result<CachedInstance> {
    Host::new(&resolution.host).map_err(|e| {
        google_tokens::Error::Source(format!(
            "the Admin API answered an address that cannot be written ({e}); nothing was written"
        ))
    })?;
    for note in &resolution.notes {
        log::warn!("{note}");
    }
    Ok(CachedInstance {
        resolved_at: now.round(jiff::Unit::Second).unwrap_or(now).to_string(),
        host: resolution.host.clone(),
        port: resolution.port,
        sslmode: resolution.tls.sslmode().to_string(),
        server_ca: resolution.tls.ca().map(|ca| ca.pem().to_string()),
        last_failure: None,
    })
}
