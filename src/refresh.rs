//! Deciding what is due and making it valid: the heart of `refresh`, `token` and `exec`.
//!
//! The plan is made twice. First without a lock and without the network: when nothing
//! is due (the common cron case) we stop there, having read two small files. Otherwise
//! we lock both files, re-read them and plan again, because another refresher may have
//! done the work while we waited: that is what makes concurrent refreshers mint once.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use jiff::{SignedDuration, Timestamp};

use crate::config::{Config, CredentialSpec, Service, UserSpec};
use crate::error::{Error, Result};
use crate::http::Http;
use crate::locked_file::{self, Contents, Snapshot};
use crate::paths;
use crate::pgpass::{ManagedEntry, PgpassFile};
use crate::principal;
use crate::service_file::{ManagedSection, ServiceFile};
use crate::source::{self, MintedToken};
use crate::state::State;

/// Both files, as configured and as really written (symlinks followed).
#[derive(Debug, Clone)]
pub struct Files {
    pub pgpass: PathBuf,
    pub pgpass_real: PathBuf,
    pub service_file: PathBuf,
    pub service_file_real: PathBuf,
    /// Whether sections must name the password file (`passfile=`): only when libpq
    /// would not find it by itself. Worked out once, not per service.
    pub needs_passfile: bool,
}

impl Files {
    pub fn of(config: &Config) -> Result<Files> {
        Ok(Files {
            pgpass_real: locked_file::resolve(&config.pgpass)?,
            pgpass: config.pgpass.clone(),
            service_file_real: locked_file::resolve(&config.service_file)?,
            service_file: config.service_file.clone(),
            needs_passfile: !paths::is_libpq_default_pgpass(&config.pgpass),
        })
    }
}

/// What a refresh did, per service.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Services that got a new token.
    pub minted: Vec<String>,
    /// Services that could not be refreshed; their old entries are untouched.
    pub failed: Vec<(String, Error)>,
}

/// The bytes of a file as read; a missing file is empty.
fn bytes_of(snap: &Option<Snapshot>) -> &[u8] {
    snap.as_ref().map_or(&[], |s| &s.bytes)
}

/// Why a service's pgpass entry must be replaced, or `None` when it is still good.
/// `credential` is the fingerprint of the service's credential spec.
fn due_reason(
    entry: Option<&ManagedEntry>,
    service: &Service,
    credential: &str,
    now: Timestamp,
) -> Option<&'static str> {
    let Some(entry) = entry else {
        return Some("no entry yet");
    };
    if entry.host != service.host || entry.port != service.port {
        return Some("host or port changed");
    }
    if entry.credential != credential {
        return Some("credentials changed");
    }
    if let UserSpec::Named(user) = &service.user {
        if &entry.user != user {
            return Some("user changed");
        }
    }
    let left = entry.expires_at.duration_since(now);
    let window = SignedDuration::try_from(service.refresh_window).unwrap_or(SignedDuration::MAX);
    if left < window {
        return Some("inside the refresh window");
    }
    None
}

/// The section a service should have, given the user its entry logs in as.
pub fn desired_section(service: &Service, user: &str, files: &Files) -> ManagedSection {
    let mut keywords = vec![
        ("host".to_string(), service.host.clone()),
        ("port".to_string(), service.port.to_string()),
    ];
    if let Some(db) = &service.dbname {
        keywords.push(("dbname".to_string(), db.clone()));
    }
    keywords.push(("user".to_string(), user.to_string()));
    keywords.extend(service.keywords.iter().cloned());
    if files.needs_passfile {
        keywords.push(("passfile".to_string(), files.pgpass.display().to_string()));
    }
    ManagedSection {
        name: service.name.clone(),
        keywords,
        edited: false,
    }
}

/// The plan for one pass over the files.
struct Plan<'a> {
    /// Services needing a token, with the reason (for -v).
    due: Vec<(&'a Service, &'static str)>,
    /// Whether some section differs from what it should be (no token needed for that).
    sections_stale: bool,
}

fn plan<'a>(
    services: &[&'a Service],
    entries: &[ManagedEntry],
    sections: &[ManagedSection],
    files: &Files,
    now: Timestamp,
    force: bool,
) -> Plan<'a> {
    // Indexed by name: a thousand services must not cost a million comparisons.
    let entries: HashMap<&str, &ManagedEntry> = entries
        .iter()
        .rev()
        .map(|e| (e.service.as_str(), e))
        .collect();
    let sections: HashMap<&str, &ManagedSection> = sections
        .iter()
        .rev()
        .map(|s| (s.name.as_str(), s))
        .collect();
    // Services mostly share a few credentials: digest each once.
    let mut fingerprints: HashMap<&CredentialSpec, String> = HashMap::new();
    let mut due = Vec::new();
    let mut sections_stale = false;
    for &service in services {
        let entry = entries.get(service.name.as_str()).copied();
        let reason = if force {
            Some("--force")
        } else {
            let credential = fingerprints
                .entry(&service.credential)
                .or_insert_with(|| service.credential.fingerprint());
            due_reason(entry, service, credential, now)
        };
        match (reason, entry) {
            (Some(reason), _) => due.push((service, reason)),
            (None, Some(entry)) => {
                let want = desired_section(service, &entry.user, files);
                if sections.get(service.name.as_str()) != Some(&&want) {
                    sections_stale = true;
                }
            }
            (None, None) => {}
        }
    }
    Plan {
        due,
        sections_stale,
    }
}

/// Makes the entries of `services` valid. `force` mints even when not due. An error
/// that stops the whole refresh (a file that cannot be read or written) is also
/// remembered for `status`, as each service's last error.
pub fn run(config: &Config, services: &[&Service], force: bool) -> Result<Outcome> {
    let result = refresh(config, services, force);
    if let Err(err) = &result {
        let mut state = State::load();
        for service in services {
            state.set_error(&service.name, &err.to_string());
        }
        if let Err(e) = state.save() {
            log::debug!("cannot save state: {e}");
        }
    }
    result
}

fn refresh(config: &Config, services: &[&Service], force: bool) -> Result<Outcome> {
    let files = Files::of(config)?;
    let now = Timestamp::now();

    // Pass 1: no lock, no network.
    {
        let pg_snap = locked_file::read(&files.pgpass_real)?;
        let svc_snap = locked_file::read(&files.service_file_real)?;
        let first = plan(
            services,
            &PgpassFile::managed_in(bytes_of(&pg_snap)),
            &ServiceFile::managed_in(bytes_of(&svc_snap)),
            &files,
            now,
            force,
        );
        if first.due.is_empty() && !first.sections_stale {
            log::debug!("nothing is due");
            return Ok(Outcome::default());
        }
    }

    // Pass 2: under the locks, from what is on disk now.
    let _locks = locked_file::lock_all(&[&files.pgpass_real, &files.service_file_real])?;
    let pg_snap = locked_file::read(&files.pgpass_real)?;
    let svc_snap = locked_file::read(&files.service_file_real)?;
    let mut pgpass = PgpassFile::parse(bytes_of(&pg_snap));
    let mut service_file = ServiceFile::parse(bytes_of(&svc_snap));
    let now = Timestamp::now();
    let second = plan(
        services,
        pgpass.managed(),
        service_file.managed(),
        &files,
        now,
        force,
    );

    let mut outcome = Outcome::default();

    // One token per distinct credential.
    let http = Http::with_timeout(
        config
            .endpoints
            .timeout
            .map_or(crate::http::DEFAULT_TIMEOUT, |t| t.0),
    );
    let ctx = source::Context {
        http: &http,
        endpoints: &config.endpoints,
    };
    let mut tokens: BTreeMap<&CredentialSpec, Result<MintedToken>> = BTreeMap::new();
    for &(service, reason) in &second.due {
        log::info!("{}: refreshing ({reason})", service.name);
        let minted = tokens
            .entry(&service.credential)
            .or_insert_with(|| source::build(&service.credential, &ctx).and_then(|s| s.mint()));
        let result = match minted {
            Ok(token) => entry_for(service, token),
            Err(e) => Err(e.for_service(&service.name)),
        };
        match result {
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

    // Sections for every selected service whose entry exists now.
    let svc_path = files.service_file.display().to_string();
    let mut needs_passfile = false;
    for &service in services {
        if let Some(entry) = pgpass.entry(&service.name) {
            let section = desired_section(service, &entry.user, &files);
            let rejects: Vec<&str> = section
                .pgjdbc_rejects()
                .into_iter()
                .filter(|k| *k != "passfile")
                .collect();
            if !rejects.is_empty() {
                log::warn!(
                    "service {}: {} in {svc_path} is not accepted by pgjdbc (DBeaver, DataGrip); those clients cannot use this service",
                    service.name,
                    rejects.join(", ")
                );
            }
            if section.keywords.iter().any(|(k, _)| k == "passfile") {
                needs_passfile = true;
            }
            if let Err(e) = service_file.upsert(section, &svc_path) {
                outcome.minted.retain(|n| n != &service.name);
                outcome.failed.push((service.name.clone(), e));
            }
        }
    }

    if needs_passfile {
        log::warn!(
            "{} is not where libpq looks by default, so the sections in {svc_path} name it with passfile=; pgjdbc (DBeaver, DataGrip) rejects that keyword: for those clients keep the password file at the default place or set PGPASSFILE",
            files.pgpass.display()
        );
    }

    // pgpass first: a section must never point at a password that is not there yet.
    let new_pg = pgpass.render();
    if new_pg != bytes_of(&pg_snap) {
        locked_file::write(
            &files.pgpass_real,
            &new_pg,
            pg_snap.as_ref(),
            Contents::Secret,
        )?;
    }
    let new_svc = service_file.render();
    if new_svc != bytes_of(&svc_snap) {
        locked_file::write(
            &files.service_file_real,
            &new_svc,
            svc_snap.as_ref(),
            Contents::Plain,
        )?;
    }

    record_state(&outcome);
    Ok(outcome)
}

/// Remembers each service's last error (or its absence) for `status`. Best effort: a
/// state directory we cannot write must not fail a refresh that worked.
fn record_state(outcome: &Outcome) {
    let mut state = State::load();
    for name in &outcome.minted {
        state.clear_error(name);
    }
    for (name, err) in &outcome.failed {
        state.set_error(name, &err.to_string());
    }
    if let Err(e) = state.save() {
        log::debug!("cannot save state: {e}");
    }
}

/// The pgpass entry for `service` from a fresh token: works out the user and checks it
/// against the principal, so we never write an entry AlloyDB is bound to refuse.
fn entry_for(service: &Service, token: &MintedToken) -> Result<ManagedEntry> {
    let derived = token
        .principal
        .as_deref()
        .map(principal::database_user)
        .transpose()?;
    let user = match (&service.user, derived) {
        (UserSpec::Named(user), Some(derived)) if *user != derived => {
            return Err(Error::Config(format!(
                "service {}: the token's principal {} logs in as {derived:?}, but the service sets user = {user:?}; AlloyDB would refuse it (\"IAM principal does not match database user.\"): set user = \"auto\" or use that user's credentials",
                service.name,
                token.principal.as_deref().unwrap_or_default()
            )));
        }
        (UserSpec::Named(user), _) => user.clone(),
        (UserSpec::Auto, Some(derived)) => derived,
        (UserSpec::Auto, None) => {
            return Err(Error::Config(format!(
                "service {}: user = \"auto\" but the credential does not say which principal the token belongs to; set user = \"…\" in the service (or have the token command print \"principal\")",
                service.name
            )));
        }
    };
    Ok(ManagedEntry {
        service: service.name.clone(),
        expires_at: token.expires_at,
        host: service.host.clone(),
        port: service.port,
        user,
        password: token.secret.clone(),
        credential: service.credential.fingerprint(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use std::time::Duration;

    fn service(user: UserSpec) -> Service {
        Service {
            name: "prod".into(),
            host: "h".into(),
            port: 5432,
            dbname: None,
            user,
            keywords: vec![],
            credential: CredentialSpec {
                source: crate::config::SourceSpec::Adc,
                impersonate: None,
                delegates: vec![],
                scopes: vec![],
            },
            refresh_window: Duration::from_secs(900),
        }
    }

    fn token(principal: Option<&str>) -> MintedToken {
        MintedToken {
            secret: Secret::new("t"),
            expires_at: Timestamp::UNIX_EPOCH,
            principal: principal.map(str::to_string),
        }
    }

    #[test]
    fn due_by_window_and_by_changed_fields() {
        let now = Timestamp::from_second(1_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let svc = service(UserSpec::Auto);
        let mut entry = ManagedEntry {
            service: "prod".into(),
            expires_at: now + SignedDuration::from_secs(901),
            host: "h".into(),
            port: 5432,
            user: "u".into(),
            password: Secret::new("t"),
            credential: svc.credential.fingerprint(),
        };
        let fp = svc.credential.fingerprint();
        assert_eq!(due_reason(Some(&entry), &svc, &fp, now), None);
        entry.expires_at = now + SignedDuration::from_secs(899);
        assert!(due_reason(Some(&entry), &svc, &fp, now).is_some());
        entry.expires_at = now + SignedDuration::from_secs(3600);
        entry.port = 1;
        assert!(due_reason(Some(&entry), &svc, &fp, now).is_some());
        entry.port = 5432;
        assert!(
            due_reason(
                Some(&entry),
                &service(UserSpec::Named("v".into())),
                &fp,
                now
            )
            .is_some()
        );
        assert!(due_reason(None, &svc, &fp, now).is_some());
        let mut other = entry.clone();
        other.credential = "ffffffff".into();
        assert_eq!(
            due_reason(Some(&other), &svc, &fp, now),
            Some("credentials changed")
        );
    }

    #[test]
    fn user_rules() {
        let auto = service(UserSpec::Auto);
        let sa = token(Some("x@p.iam.gserviceaccount.com"));
        assert_eq!(
            entry_for(&auto, &sa).map(|e| e.user).ok().as_deref(),
            Some("x@p.iam")
        );
        assert!(entry_for(&auto, &token(None)).is_err());
        let named = service(UserSpec::Named("bob@example.com".into()));
        assert!(entry_for(&named, &sa).is_err());
        assert_eq!(
            entry_for(&named, &token(None))
                .map(|e| e.user)
                .ok()
                .as_deref(),
            Some("bob@example.com")
        );
    }
}
