//! Making entries valid: the heart of `refresh`, `token` and `exec`, in four steps.
//!
//! 1. **Plan** ([`plan`]) from the files alone, without a lock and without the network:
//!    when nothing is due (the common cron case) the run ends here, having read two small
//!    files (and, for services naming an instance, the state file and their server CA
//!    files: see [`instances`]).
//! 2. Otherwise take both files' locks, re-read them and plan again: another refresher
//!    may have done the work while we waited. That is what makes concurrent refreshers
//!    mint once. A service another configuration owns in these files is refused here,
//!    before anything is minted. Instances are resolved again where due, then **mint**
//!    ([`mint`]) one token per distinct credential.
//! 3. **Write** both files under the locks: the password file first, so a section never
//!    points at a password that is not there yet.
//! 4. **Record** each service's outcome in the state file, for `status`, and report what
//!    is new (a user's line that a managed entry hides).

mod instances;
mod mint;
mod plan;

use std::path::Path;

use google_tokens::{Breadth, Context};
use libpq_files::Tag;
use libpq_files::locked_file::{self, Contents};
use libpq_files::pgpass::{ManagedEntry, PgpassFile, Shadowed};
use libpq_files::service_file::ServiceFile;

use crate::config::{Config, Service};
use crate::error::{Error, Result};
use crate::files::{Files, bytes_of};
use crate::state::{self, Principals, State};

pub use instances::{Resolutions, Target};
pub use plan::desired_section;

/// What a refresh did, per service.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Services that got a new token, and how broad it is.
    pub minted: Vec<(String, Breadth)>,
    /// Services that could not be refreshed. A failed mint leaves the old entry (and its
    /// section) as they were; a failure after the mint (the server CA or the section
    /// could not be written) keeps the new entry, which is valid, and reports the rest.
    pub failed: Vec<(String, Error)>,
    /// The user's own lines that the managed entries hide.
    pub shadowed: Vec<Shadowed>,
}

/// Makes the entries of `services` valid. `force` mints even when not due. An error
/// that stops the whole refresh (a file that cannot be read or written) is also
/// recorded, as each service's last error.
pub fn run(config: &Config, services: &[&Service], force: bool) -> Result<Outcome> {
    let files = Files::of(config)?;
    if !force && nothing_due(&files, services)? {
        log::debug!("nothing is due");
        return Ok(Outcome::default());
    }
    let principals = Principals::from(&State::load()?);
    let result = match refresh_locked(config, &files, services, force, &principals) {
        // Another refresher did the work while this one waited for the locks.
        Ok(None) => return Ok(Outcome::default()),
        Ok(Some(outcome)) => Ok(outcome),
        Err(e) => Err(e),
    };
    record(config, &files, services, &result, &principals);
    result
}

/// Step 1: the plan from the files as they are, without lock or network.
fn nothing_due(files: &Files, services: &[&Service]) -> Result<bool> {
    let pgpass = locked_file::read(&files.pgpass_real)?;
    let service_file = locked_file::read(&files.service_file_real)?;
    let plan = plan::make(
        services,
        bytes_of(&pgpass),
        bytes_of(&service_file),
        files,
        &Resolutions::load(services)?,
        crate::clock::now(),
        false,
    );
    Ok(plan.is_empty())
}

/// Steps 2 and 3: under both locks, plan again from what is on disk now, mint once per
/// credential, and write what changed. `None` when the new plan is empty: another
/// refresher did the work while this one waited, and nothing is written or recorded.
fn refresh_locked(
    config: &Config,
    files: &Files,
    services: &[&Service],
    force: bool,
    principals: &Principals,
) -> Result<Option<Outcome>> {
    let _locks = files.lock(config.lock_timeout)?;
    let snapshots = files.read()?;
    let mut pgpass = PgpassFile::parse(bytes_of(&snapshots.pgpass));
    let mut service_file = ServiceFile::parse(bytes_of(&snapshots.service_file));
    // Read again under the locks, like the files: another refresher may have resolved.
    let mut resolutions = Resolutions::load(services)?;
    let plan = plan::make(
        services,
        bytes_of(&snapshots.pgpass),
        bytes_of(&snapshots.service_file),
        files,
        &resolutions,
        crate::clock::now(),
        force,
    );
    if plan.is_empty() {
        log::debug!("nothing is due any more: another refresher did it");
        return Ok(None);
    }

    let mut outcome = Outcome::default();
    let mut due = Vec::with_capacity(plan.due.len());
    let mut reasons = Vec::with_capacity(plan.due.len());
    for (service, reason) in plan.due {
        match claim(service, &pgpass, &service_file, files, config) {
            Ok(()) => {
                log::debug!("{}: refreshing ({reason})", service.name);
                due.push(service);
                reasons.push((service.name.as_str(), reason));
            }
            Err(e) => outcome.failed.push((service.name.to_string(), e)),
        }
    }
    let ctx = Context::new(&config.endpoints, principals);
    outcome
        .failed
        .extend(resolutions.refresh(&due, force, &ctx, config.lock_timeout));
    let due: Vec<(&Service, Target)> = due
        .into_iter()
        .filter(|s| {
            !outcome
                .failed
                .iter()
                .any(|(name, _)| s.name == name.as_str())
        })
        .filter_map(|s| resolutions.target(s).map(|target| (s, target)))
        .collect();
    for (service, minted) in mint::once_per_credential(&due, &ctx, files.owner_tag()) {
        let reason = reasons
            .iter()
            .find(|(name, _)| service.name == *name)
            .map_or("due", |(_, reason)| *reason);
        match minted {
            Ok(minted) => {
                // One line per refresh: what a log reader (journald, docker logs) needs.
                log::info!(
                    "{}: refreshed ({reason}): a {} token for {}, valid until {}",
                    service.name,
                    minted.breadth.as_str(),
                    minted.entry.user,
                    minted.entry.expires_at
                );
                pgpass.upsert(minted.entry);
                outcome
                    .minted
                    .push((service.name.to_string(), minted.breadth));
            }
            Err(e) => outcome.failed.push((service.name.to_string(), e)),
        }
    }
    let sections = Sections {
        files,
        resolutions: &resolutions,
        lock_timeout: config.lock_timeout,
    };
    update_sections(
        &mut service_file,
        &pgpass,
        services,
        &sections,
        &mut outcome,
    );
    outcome.shadowed = pgpass
        .shadowed()
        .into_iter()
        .filter(|s| services.iter().any(|svc| svc.name == s.service))
        .collect();

    // The password file first: a section must never point at a password not yet there.
    write_if_changed(
        &files.pgpass_real,
        &pgpass.render(),
        &snapshots.pgpass,
        Contents::Secret,
    )?;
    write_if_changed(
        &files.service_file_real,
        &service_file.render(),
        &snapshots.service_file,
        Contents::Plain,
    )?;
    Ok(Some(outcome))
}

/// Replaces `real` with `bytes` unless that is what it already holds.
fn write_if_changed(
    real: &Path,
    bytes: &[u8],
    snapshot: &Option<libpq_files::locked_file::Snapshot>,
    contents: Contents,
) -> Result<()> {
    if bytes != bytes_of(snapshot) {
        locked_file::write(real, bytes, snapshot.as_ref(), contents)?;
    }
    Ok(())
}

/// Whether this configuration may write `service`'s entry and section. Another
/// configuration's entry or section for the same service in the same files is a
/// conflict, unless that configuration's file is gone (then its regions are taken over).
/// Regions written before owners were recorded belong to whoever writes next.
fn claim(
    service: &Service,
    pgpass: &PgpassFile,
    service_file: &ServiceFile,
    files: &Files,
    config: &Config,
) -> Result<()> {
    let mine = files.owner_tag();
    let section = service_file.get(service.name.as_str());
    let other: Option<&Tag> = pgpass
        .get(service.name.as_str())
        .and_then(|e| e.owner.as_ref())
        .filter(|o| *o != mine)
        .or_else(|| {
            section
                .and_then(|s| s.owner.as_ref())
                .map(|o| &o.tag)
                .filter(|t| *t != mine)
        });
    let Some(other) = other else {
        return Ok(());
    };
    let other_name = section
        .and_then(|s| s.owner.as_ref())
        .filter(|o| &o.tag == other)
        .and_then(|o| o.name.as_deref());
    match other_name {
        Some(path) if !Path::new(path).exists() => {
            log::warn!(
                "service {}: taking over its entry and section from the configuration {path}, which no longer exists",
                service.name
            );
            Ok(())
        }
        Some(path) => Err(Error::Config(format!(
            "service {}: {} already holds this service for another configuration, {path} (this one is {}); two configurations must not manage one service in the same files: rename the service in one of them, or give them different `pgpass`/`service_file`",
            service.name,
            files.pgpass.display(),
            config.path.display()
        ))),
        None => Err(Error::Config(format!(
            "service {}: {} already holds this service for another configuration (its marker says owner={other}; this one, {}, is owner={mine}); rename the service in one of them, or give them different files; if that configuration no longer exists, delete the service's two lines from {} by hand",
            service.name,
            files.pgpass.display(),
            config.path.display(),
            files.pgpass.display()
        ))),
    }
}

/// What deciding a section takes besides the service.
struct Sections<'a> {
    files: &'a Files,
    resolutions: &'a Resolutions,
    lock_timeout: std::time::Duration,
}

/// Gives every selected service that has an entry of this configuration the section it
/// should have (and the server CA file it names), warning once about keywords pgjdbc
/// rejects.
fn update_sections(
    service_file: &mut ServiceFile,
    pgpass: &PgpassFile,
    services: &[&Service],
    sections: &Sections<'_>,
    outcome: &mut Outcome,
) {
    let files = sections.files;
    let path = files.service_file.display().to_string();
    let mut needs_passfile = false;
    for &service in services {
        let Some(entry) = pgpass
            .get(service.name.as_str())
            .filter(|e| e.owner.as_ref().is_none_or(|o| o == files.owner_tag()))
        else {
            continue;
        };
        // An instance without a resolution (it failed, and there was none before) keeps
        // the section it has: that service is reported failed already.
        let Some(target) = sections.resolutions.target(service) else {
            continue;
        };
        // The entry is still for another address (the host moved but the new token could
        // not be minted): the section keeps pointing where that entry's password works.
        if entry.host != target.host || entry.port != target.port {
            continue;
        }
        if let Some(ca) = &target.server_ca {
            if let Err(e) = ca.write(sections.lock_timeout) {
                outcome.minted.retain(|(n, _)| service.name != n.as_str());
                outcome.failed.push((service.name.to_string(), e));
                continue;
            }
        }
        let section = match desired_section(service, &target, entry.user.as_str(), files) {
            Ok(section) => section,
            Err(e) => {
                outcome.minted.retain(|(n, _)| service.name != n.as_str());
                outcome.failed.push((
                    service.name.to_string(),
                    Error::Config(format!("service {}: {e}", service.name)),
                ));
                continue;
            }
        };
        let rejects: Vec<&str> = section
            .pgjdbc_rejects()
            .into_iter()
            .filter(|k| *k != "passfile")
            .collect();
        if !rejects.is_empty() {
            log::warn!(
                "service {}: {} in {path} is not accepted by pgjdbc (DBeaver, DataGrip); those clients cannot use this service",
                service.name,
                rejects.join(", ")
            );
        }
        needs_passfile |= section
            .keywords
            .iter()
            .any(|(k, _)| k.as_str() == "passfile");
        if let Err(e) = service_file.upsert(section, &path) {
            outcome.minted.retain(|(n, _)| service.name != n.as_str());
            outcome.failed.push((service.name.to_string(), e.into()));
        }
    }
    if needs_passfile {
        log::warn!(
            "{} is not where libpq looks by default, so the sections in {path} name it with passfile=; pgjdbc (DBeaver, DataGrip) rejects that keyword: for those clients keep the password file at the default place or set PGPASSFILE",
            files.pgpass.display()
        );
    }
}

/// How a shadowed line is named, in warnings and in the record of those already given.
pub fn describe_shadow(shadow: &Shadowed, pgpass: &Path) -> String {
    format!(
        "line {} of {} ({}) is for the same connection as service {}; libpq reads alloydb-cred's entry above it, so that line's password is never used for it — but node-postgres 8 takes the last match and would send it: remove or change the line",
        shadow.line,
        pgpass.display(),
        shadow.connection,
        shadow.service
    )
}

/// Step 4: remembers each service's last error (or its absence), how broad its token is,
/// the principals learned, and which shadowed lines were reported, for `status` and the
/// next run. Best effort: a state directory we cannot write must not fail a refresh that
/// worked.
fn record(
    config: &Config,
    files: &Files,
    services: &[&Service],
    result: &Result<Outcome>,
    principals: &Principals,
) {
    let learned = principals.learned();
    let saved = state::update(config.lock_timeout, |state| {
        state.principals.extend(learned);
        match result {
            Ok(outcome) => {
                for (name, breadth) in &outcome.minted {
                    state.set_refreshed(name);
                    state
                        .breadth
                        .insert(name.clone(), breadth.as_str().to_string());
                }
                for (name, err) in &outcome.failed {
                    state.set_error(name, &err.to_string());
                }
                report_new_shadows(state, services, &outcome.shadowed, files);
            }
            Err(err) => {
                for service in services {
                    state.set_error(service.name.as_str(), &err.to_string());
                }
            }
        }
    });
    if let Err(e) = saved {
        log::debug!("cannot save state: {e}");
    }
}

/// Warns about each shadowed line not reported before, and remembers the current set.
fn report_new_shadows(
    state: &mut State,
    services: &[&Service],
    shadows: &[Shadowed],
    files: &Files,
) {
    let reported = std::mem::take(&mut state.shadows_reported);
    // Keep what other services' runs reported; this run's services start afresh.
    state.shadows_reported = reported
        .iter()
        .filter(|key| {
            !services
                .iter()
                .any(|s| key.starts_with(&format!("{} ", s.name)))
        })
        .cloned()
        .collect();
    for shadow in shadows {
        let key = format!("{} {} {}", shadow.service, shadow.line, shadow.connection);
        if !reported.contains(&key) {
            log::warn!("{}", describe_shadow(shadow, &files.pgpass));
        }
        state.shadows_reported.insert(key);
    }
}

/// Refreshes `service` if due and returns its entry, for `token` and `exec`. When the
/// refresh fails but the current token has not expired yet, that token is still the best
/// a client can get: warn and use it.
pub fn ensure_valid(config: &Config, service: &Service) -> Result<ManagedEntry> {
    // A refresh that fails as a whole (say, the directory is read-only) is no reason to
    // withhold a token that is still valid.
    let failure = match run(config, &[service], false) {
        Ok(outcome) => outcome.failed.into_iter().next().map(|(_, e)| e),
        Err(e) => Some(e),
    };
    let real = locked_file::resolve(&config.pgpass)?;
    let bytes = locked_file::read(&real)?
        .map(|s| s.bytes)
        .unwrap_or_default();
    let entry = PgpassFile::parse(&bytes)
        .get(service.name.as_str())
        .filter(|e| config.owns(e.owner.as_ref()))
        .cloned();
    match (entry, failure) {
        (Some(entry), None) => Ok(entry),
        (Some(entry), Some(err)) if entry.expires_at > crate::clock::now() => {
            log::warn!(
                "{err}; using the current token, valid until {}",
                entry.expires_at
            );
            Ok(entry)
        }
        (_, Some(err)) => Err(err),
        (None, None) => Err(Error::Runtime(format!(
            "service {}: no entry in {} after refreshing; is another program rewriting it?",
            service.name,
            config.pgpass.display()
        ))),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use google_tokens::{CredentialSpec, SourceSpec};

    use crate::config::{Service, UserSpec};

    /// A service `prod` on host `h` with ADC credentials, for unit tests.
    pub(crate) fn service(user: UserSpec) -> Service {
        Service {
            name: libpq_files::ServiceName::new("prod").expect("name"),
            server: crate::config::Server::Host {
                host: libpq_files::Host::new("h").expect("host"),
                port: 5432,
            },
            dbname: None,
            user,
            keywords: vec![],
            credential: Arc::new(CredentialSpec {
                source: SourceSpec::Adc,
                impersonate: None,
                delegates: vec![],
                scopes: vec![],
            }),
            refresh_window: Duration::from_secs(900),
        }
    }
}
