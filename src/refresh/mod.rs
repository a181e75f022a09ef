//! Making entries valid: the heart of `refresh`, `token` and `exec`, in four steps.
//!
//! 1. **Plan** ([`plan`]) from the files alone, without a lock and without the network:
//!    when nothing is due (the common cron case) the run ends here, having read two small
//!    files.
//! 2. Otherwise take both files' locks, re-read them and plan again: another refresher
//!    may have done the work while we waited. That is what makes concurrent refreshers
//!    mint once. Then **mint** ([`mint`]) one token per distinct credential.
//! 3. **Write** both files under the locks: the password file first, so a section never
//!    points at a password that is not there yet.
//! 4. **Record** each service's outcome in the state file, for `status`.

mod mint;
mod plan;

use google_tokens::Context;
use jiff::Timestamp;
use libpq_files::locked_file::{self, Contents};
use libpq_files::pgpass::{ManagedEntry, PgpassFile};
use libpq_files::service_file::ServiceFile;

use crate::config::{Config, Service};
use crate::error::{Error, Result};
use crate::files::{Files, bytes_of};
use crate::state::{self, Principals, State};

pub use plan::desired_section;

/// What a refresh did, per service.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Services that got a new token.
    pub minted: Vec<String>,
    /// Services that could not be refreshed; their old entries are untouched.
    pub failed: Vec<(String, Error)>,
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
    let principals = Principals::from(&State::load());
    let result = refresh_locked(config, &files, services, force, &principals);
    record(services, &result, &principals);
    result
}

/// Step 1: the plan from the files as they are, without lock or network.
fn nothing_due(files: &Files, services: &[&Service]) -> Result<bool> {
    let pgpass = locked_file::read(&files.pgpass_real)?;
    let service_file = locked_file::read(&files.service_file_real)?;
    let plan = plan::make(
        services,
        &PgpassFile::managed_in(bytes_of(&pgpass)),
        &ServiceFile::managed_in(bytes_of(&service_file)),
        files,
        Timestamp::now(),
        false,
    );
    Ok(plan.is_empty())
}

/// Steps 2 and 3: under both locks, plan again from what is on disk now, mint once per
/// credential, and write what changed.
fn refresh_locked(
    config: &Config,
    files: &Files,
    services: &[&Service],
    force: bool,
    principals: &Principals,
) -> Result<Outcome> {
    let _locks = files.lock()?;
    let snapshots = files.read()?;
    let mut pgpass = PgpassFile::parse(bytes_of(&snapshots.pgpass));
    let mut service_file = ServiceFile::parse(bytes_of(&snapshots.service_file));
    let plan = plan::make(
        services,
        pgpass.managed(),
        service_file.managed(),
        files,
        Timestamp::now(),
        force,
    );

    let ctx = Context::new(&config.endpoints, principals);
    let mut outcome = Outcome::default();
    for (service, entry) in mint::once_per_credential(&plan.due, &ctx) {
        match entry {
            Ok(entry) => {
                log::info!(
                    "{}: new token for {} valid until {}",
                    service.name,
                    entry.user,
                    entry.expires_at
                );
                pgpass.upsert(entry);
                outcome.minted.push(service.name.clone());
            }
            Err(e) => outcome.failed.push((service.name.clone(), e)),
        }
    }
    update_sections(&mut service_file, &pgpass, services, files, &mut outcome);

    let new_pgpass = pgpass.render();
    if new_pgpass != bytes_of(&snapshots.pgpass) {
        locked_file::write(
            &files.pgpass_real,
            &new_pgpass,
            snapshots.pgpass.as_ref(),
            Contents::Secret,
        )?;
    }
    let new_service_file = service_file.render();
    if new_service_file != bytes_of(&snapshots.service_file) {
        locked_file::write(
            &files.service_file_real,
            &new_service_file,
            snapshots.service_file.as_ref(),
            Contents::Plain,
        )?;
    }
    Ok(outcome)
}

/// Gives every selected service that has an entry the section it should have, warning
/// once about keywords pgjdbc rejects.
fn update_sections(
    service_file: &mut ServiceFile,
    pgpass: &PgpassFile,
    services: &[&Service],
    files: &Files,
    outcome: &mut Outcome,
) {
    let path = files.service_file.display().to_string();
    let mut needs_passfile = false;
    for &service in services {
        let Some(entry) = pgpass.get(&service.name) else {
            continue;
        };
        let section = desired_section(service, &entry.user, files);
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
        needs_passfile |= section.keywords.iter().any(|(k, _)| k == "passfile");
        if let Err(e) = service_file.upsert(section, &path) {
            outcome.minted.retain(|n| n != &service.name);
            outcome.failed.push((service.name.clone(), e.into()));
        }
    }
    if needs_passfile {
        log::warn!(
            "{} is not where libpq looks by default, so the sections in {path} name it with passfile=; pgjdbc (DBeaver, DataGrip) rejects that keyword: for those clients keep the password file at the default place or set PGPASSFILE",
            files.pgpass.display()
        );
    }
}

/// Step 4: remembers each service's last error (or its absence) and the principals
/// learned, for `status` and the next run. Best effort: a state directory we cannot
/// write must not fail a refresh that worked.
fn record(services: &[&Service], result: &Result<Outcome>, principals: &Principals) {
    let learned = principals.learned();
    let saved = state::update(|state| {
        state.principals.extend(learned);
        match result {
            Ok(outcome) => {
                for name in &outcome.minted {
                    state.clear_error(name);
                }
                for (name, err) in &outcome.failed {
                    state.set_error(name, &err.to_string());
                }
            }
            Err(err) => {
                for service in services {
                    state.set_error(&service.name, &err.to_string());
                }
            }
        }
    });
    if let Err(e) = saved {
        log::debug!("cannot save state: {e}");
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
    let entry = PgpassFile::parse(&bytes).get(&service.name).cloned();
    match (entry, failure) {
        (Some(entry), None) => Ok(entry),
        (Some(entry), Some(err)) if entry.expires_at > Timestamp::now() => {
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
    use std::time::Duration;

    use google_tokens::{CredentialSpec, SourceSpec};

    use crate::config::{Service, UserSpec};

    /// A service `prod` on host `h` with ADC credentials, for unit tests.
    pub(crate) fn service(user: UserSpec) -> Service {
        Service {
            name: "prod".into(),
            host: "h".into(),
            port: 5432,
            dbname: None,
            user,
            keywords: vec![],
            credential: std::sync::Arc::new(CredentialSpec {
                source: SourceSpec::Adc,
                impersonate: None,
                delegates: vec![],
                scopes: vec![],
            }),
            refresh_window: Duration::from_secs(900),
        }
    }
}
