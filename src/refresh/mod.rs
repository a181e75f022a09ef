//! Making entries valid: the heart of `refresh`, `token` and `exec`. No network call and
//! no credential program ever runs while the password file or the service file is
//! locked: the locks are held for a read, a merge and a write, milliseconds.
//!
//! 1. **Plan** ([`plan`]) from the files read without a lock and without the network:
//!    when nothing is due (the common cron case) the run ends here, having read two small
//!    files (and, for services naming an instance, the state file and their server CA
//!    files: see [`instances`]). A service another configuration owns in these files is
//!    refused here, before anything is minted.
//! 2. Take the **credential locks** ([`locks`]) of the due services' credentials, read the
//!    files again (still without their locks) and plan again: a refresher that held a lock
//!    before us has written its tokens by now. That is what makes concurrent refreshers
//!    mint once.
//! 3. **Resolve** the instances that need it and **mint** ([`mint`]) one token per
//!    distinct credential, different credentials side by side (at most
//!    [`parallel::MAX_PARALLEL`] at once), with no file lock held.
//! 4. **Write** ([`apply`]): lock both files, read them again, apply the managed edits to
//!    what they hold now and write them, the password file first, so a section never
//!    points at a password that is not there yet.
//! 5. **Record** each service's outcome in the state file, for `status`, and report what
//!    is new (a user's line that a managed entry hides).
//!
//! Each service's progress through these steps is one value ([`progress::Stage`]).

mod apply;
mod instances;
mod locks;
mod mint;
pub(crate) mod parallel;
mod plan;
mod progress;

use std::collections::BTreeSet;
use std::path::Path;

use google_tokens::{Breadth, Context};
use libpq_files::locked_file;
use libpq_files::pgpass::{ManagedEntry, PgpassFile, Shadowed};
use libpq_files::service_file::ServiceFile;

use crate::config::{Config, Service};
use crate::error::{Error, Result};
use crate::files::{Files, bytes_of};
use crate::state::{self, Principals, State};
use progress::{Progress, Stage};

pub use instances::{Resolutions, Target};
pub use plan::desired_section;

/// What a refresh did, per service.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Services that got a new token, and how broad it is.
    pub minted: Vec<(String, Breadth)>,
    /// Services that could not be refreshed, in the configuration's order. Neither file
    /// changed for them: a failed mint, or a section that cannot be written, leaves the
    /// old entry and section as they were.
    pub failed: Vec<(String, Error)>,
    /// The user's own lines that the managed entries hide.
    pub shadowed: Vec<Shadowed>,
}

/// Makes the entries of `services` valid. `force` mints even when not due. An error
/// that stops the whole refresh (a file that cannot be read or written) is also
/// recorded, as each service's last error.
pub fn run(config: &Config, services: &[&Service], force: bool) -> Result<Outcome> {
    let files = Files::of(config)?;
    let snapshots = files.read()?;
    let plan = plan::make(
        services,
        bytes_of(&snapshots.pgpass),
        bytes_of(&snapshots.service_file),
        &files,
        &Resolutions::load(services)?,
        crate::clock::now(),
        force,
    );
    if plan.is_empty() {
        log::debug!("nothing is due");
        return Ok(Outcome::default());
    }
    let mut progress = Progress::new(services, &plan.due);
    let pgpass = PgpassFile::parse(bytes_of(&snapshots.pgpass));
    let service_file = ServiceFile::parse(bytes_of(&snapshots.service_file));
    for service in progress.at(|s| matches!(s, Stage::Planned)) {
        if let Err(e) = apply::claim(service, &pgpass, &service_file, &files, config, false) {
            progress.fail(service, e);
        }
    }
    drop((snapshots, pgpass, service_file));

    let principals = Principals::from(&State::load()?);
    let result = match refresh(config, &files, services, force, progress, &principals) {
        // Another refresher did the work while this one waited for the credential locks.
        Ok(None) => return Ok(Outcome::default()),
        Ok(Some(outcome)) => Ok(outcome),
        Err(e) => Err(e),
    };
    record(config, &files, services, &result, &principals);
    result
}

/// What a refresh would refuse `service` for, asked before anything is minted or
/// written (`add` asks before the service is even configured): an entry or section of
/// that name another configuration owns in these files ([`apply::claim`]), or a section
/// of that name the user wrote in the service file, or anything else that stops a
/// section being added there ([`ServiceFile::upsert`]). Reads both files, no lock.
pub fn check_claim(config: &Config, service: &Service) -> Result<()> {
    let files = Files::of(config)?;
    let snapshots = files.read()?;
    let pgpass = PgpassFile::parse(bytes_of(&snapshots.pgpass));
    let mut service_file = ServiceFile::parse(bytes_of(&snapshots.service_file));
    apply::claim(service, &pgpass, &service_file, &files, config, false)?;
    // The same checks a write makes, on a copy, with a section holding nothing yet.
    let probe = libpq_files::service_file::ManagedSection {
        name: service.name.clone(),
        keywords: Vec::new(),
        owner: Some(files.owner.clone()),
        edited: false,
    };
    service_file
        .upsert(probe, &files.service_file.display().to_string())
        .map_err(|e| Error::from(e).in_service(service.name.as_str()))
}

/// Steps 2 to 4. `None` when the plan made under the credential locks is empty: another
/// refresher did the work, and nothing is written or recorded.
fn refresh<'s>(
    config: &Config,
    files: &Files,
    services: &[&'s Service],
    force: bool,
    mut progress: Progress<'s>,
    principals: &Principals,
) -> Result<Option<Outcome>> {
    let credentials: BTreeSet<_> = progress
        .at(|s| matches!(s, Stage::Planned))
        .iter()
        .map(|s| plan::credential_tag(&s.credential))
        .collect();
    // Held until the files are written: whoever waits for them then finds the work done.
    let _credential_locks = locks::take(files, &credentials, config.lock_timeout)?;
    if !force && !credentials.is_empty() {
        let snapshots = files.read()?;
        let plan = plan::make(
            services,
            bytes_of(&snapshots.pgpass),
            bytes_of(&snapshots.service_file),
            files,
            &Resolutions::load(services)?,
            crate::clock::now(),
            false,
        );
        if plan.is_empty() {
            log::debug!("nothing is due any more: another refresher did it");
            return Ok(None);
        }
        // A service due only now has a credential whose lock this run does not hold: the
        // next run takes it.
        let due: Vec<_> = plan
            .due
            .into_iter()
            .filter(|(s, _)| credentials.contains(&plan::credential_tag(&s.credential)))
            .collect();
        progress.replan(&due);
    }

    // Read again, like the files: another refresher may have resolved an instance.
    let mut resolutions = Resolutions::load(services)?;
    let ctx = Context::new(&config.endpoints, principals);
    let planned = progress.at(|s| matches!(s, Stage::Planned));
    for service in &planned {
        log::debug!(
            "{}: refreshing ({})",
            service.name,
            progress.reason(service)
        );
    }
    for (name, e) in resolutions.refresh(&planned, force, &ctx, config.lock_timeout) {
        if let Some(&service) = planned.iter().find(|s| s.name.as_str() == name) {
            progress.fail(service, e);
        }
    }
    for service in progress.at(|s| matches!(s, Stage::Planned)) {
        match resolutions.target(service) {
            Some(target) => progress.set(service, Stage::Resolved(target)),
            None => progress.fail(
                service,
                Error::Runtime(format!(
                    "service {}: its instance has no address to connect to",
                    service.name
                )),
            ),
        }
    }
    let resolved: Vec<(&Service, Target)> = progress
        .at(|s| matches!(s, Stage::Resolved(_)))
        .into_iter()
        .filter_map(|s| match progress.take(s) {
            Stage::Resolved(target) => Some((s, target)),
            _ => None,
        })
        .collect();
    for ((service, target), (_, minted)) in resolved.iter().zip(mint::once_per_credential(
        &resolved,
        &ctx,
        files.owner_tag(),
    )) {
        match minted {
            Ok(minted) => progress.set(service, Stage::Minted(target.clone(), minted)),
            Err(e) => progress.fail(service, e),
        }
    }

    let shadowed = apply::write(&mut progress, files, &resolutions, config)?;
    Ok(Some(progress.finish(shadowed)))
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

/// Step 5: remembers each service's last error (or its absence), how broad its token is,
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
    let owner = files.owner_tag();
    let saved = state::update(config.lock_timeout, |state| {
        state.principals.extend(learned);
        match result {
            Ok(outcome) => {
                for (name, breadth) in &outcome.minted {
                    state.set_refreshed(owner, name, *breadth);
                }
                for (name, err) in &outcome.failed {
                    state.set_error(owner, name, err);
                }
                report_new_shadows(state, owner, services, &outcome.shadowed, files);
            }
            Err(err) => {
                for service in services {
                    state.set_error(owner, service.name.as_str(), err);
                }
            }
        }
    });
    if let Err(e) = saved {
        log::debug!("cannot save state: {e}");
    }
}

/// Warns about each shadowed line not reported before, and remembers the current set of
/// this run's services (other services keep what their runs reported).
fn report_new_shadows(
    state: &mut State,
    owner: &libpq_files::Tag,
    services: &[&Service],
    shadows: &[Shadowed],
    files: &Files,
) {
    for service in services {
        let name = service.name.as_str();
        let current: BTreeSet<state::ShadowKey> = shadows
            .iter()
            .filter(|s| s.service.as_str() == name)
            .map(|s| state::ShadowKey {
                line: s.line,
                connection: s.connection.clone(),
            })
            .collect();
        let record = state.service_mut(owner, name);
        for shadow in shadows.iter().filter(|s| s.service.as_str() == name) {
            let key = state::ShadowKey {
                line: shadow.line,
                connection: shadow.connection.clone(),
            };
            if !record.shadows_reported.contains(&key) {
                log::warn!("{}", describe_shadow(shadow, &files.pgpass));
            }
        }
        record.shadows_reported = current;
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
