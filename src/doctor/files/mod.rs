//! The two files, as libpq will read them: the password file it opens (and whether it
//! opens it at all), the line it takes for each connection, the service file it really
//! reads and the section in it; and what other readers (node-postgres, pgjdbc, old libpq
//! releases) would make of the same bytes.
//!
//! [`machine`] asks the installation (libpq's version, the system-wide service file),
//! [`home`] where clients that take `~` from the user database look, [`pgpass`] checks the password file and its entry, [`section`] the service file and
//! its section.

mod home;
mod machine;
mod pgpass;
mod section;

use jiff::Timestamp;
use libpq_files::locked_file;
use libpq_files::pgpass::{ManagedEntry, PgpassFile, Shadowed};
use libpq_files::service_file::ServiceFile;

pub use machine::Machine;
use machine::{libpq_version_check, system_file_check};
pub use pgpass::WrittenToken;
use pgpass::{
    entry_check, first_match_check, last_match_check, line_length_check, pgpass_file_check,
    written_token_check,
};
use section::service_file_location_check;

use super::Check;
use crate::config::{Config, Service};
use crate::files::Files;
use crate::refresh::Target;

/// The service a group of checks is about, and where it connects (unknown for an
/// instance not resolved yet).
#[derive(Clone, Copy)]
pub struct Subject<'a> {
    pub service: &'a Service,
    pub target: Option<&'a Target>,
}

/// What a service's file checks found, for the login check.
pub struct Facts {
    pub entry: Option<ManagedEntry>,
    pub section: bool,
    pub written: Option<WrittenToken>,
}

/// Both files as read and parsed once at the start, shared by every service's checks:
/// with many services, parsing per service would cost as many readings of each file.
pub struct OnDisk {
    files: Option<Files>,
    /// The password file, when there is one libpq can use.
    pgpass: Option<Pgpass>,
    /// The service file (empty when there is none, or it cannot be read).
    service_file: ServiceFile,
    /// The section names the user wrote in the service file.
    foreign_sections: Vec<String>,
    /// Sections the system-wide service file defines.
    system_sections: Vec<String>,
    /// "The password file does not exist yet", held back: before the first refresh it is
    /// said once, by the caller's "not refreshed yet" (see [`OnDisk::never_written`]).
    pub pgpass_missing: Option<Check>,
}

/// The password file's bytes (libpq's first match is found in them), parsed.
struct Pgpass {
    bytes: Vec<u8>,
    parsed: PgpassFile,
    /// The user's lines below the block that match an entry's connection.
    shadowed: Vec<Shadowed>,
}

impl OnDisk {
    /// Reads both files (and the system-wide service file), adding the checks about the
    /// files as a whole to `out`.
    pub fn read(config: &Config, machine: &Machine, out: &mut Vec<Check>) -> OnDisk {
        let files = match Files::of(config) {
            Ok(files) => files,
            Err(e) => {
                out.push(Check::problem(
                    "pgpass.file",
                    e.to_string(),
                    format!(
                        "point `pgpass` and `service_file` in {} at files you can read",
                        config.path.display()
                    ),
                ));
                return OnDisk {
                    files: None,
                    pgpass: None,
                    service_file: ServiceFile::default(),
                    foreign_sections: Vec::new(),
                    system_sections: Vec::new(),
                    pgpass_missing: None,
                };
            }
        };
        let pgpass_check = pgpass_file_check(&files);
        let pgpass_missing = match std::fs::metadata(&files.pgpass_real) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(pgpass_check),
            _ => {
                out.push(pgpass_check);
                None
            }
        };
        let pgpass = locked_file::read(&files.pgpass_real)
            .ok()
            .flatten()
            .map(|s| {
                let parsed = PgpassFile::parse(&s.bytes);
                Pgpass {
                    shadowed: parsed.shadowed(),
                    parsed,
                    bytes: s.bytes,
                }
            });
        out.push(service_file_location_check(config));
        out.extend(home::home_check(config));
        let service_file = match locked_file::read(&files.service_file_real) {
            Ok(snapshot) => snapshot.map(|s| ServiceFile::parse(&s.bytes)),
            Err(e) => {
                out.push(Check::problem(
                    "service_file.read",
                    e.to_string(),
                    "see the message",
                ));
                None
            }
        };
        let (check, system_sections) = system_file_check(machine);
        out.push(check);
        out.push(libpq_version_check(machine));
        let service_file = service_file.unwrap_or_default();
        OnDisk {
            files: Some(files),
            pgpass,
            foreign_sections: service_file.foreign_section_names(),
            service_file,
            system_sections,
            pgpass_missing,
        }
    }

    /// Whether no refresh ever wrote `service`: no entry of that name in the password
    /// file (or no password file) and no section of that name in the service file. Its
    /// missing entry and section are then one fact, "not refreshed yet", which the
    /// caller says once for all such services instead of as problems of each.
    pub fn never_written(&self, service: &Service) -> bool {
        let name = service.name.as_str();
        self.files.is_some()
            && self
                .pgpass
                .as_ref()
                .is_none_or(|p| p.parsed.managed().iter().all(|e| e.service != *name))
            && self.service_file.get(name).is_none()
            && !self.foreign_sections.iter().any(|n| n == name)
    }

    /// The file checks of one service. `ask` asks tokeninfo about a written token (the
    /// caller asks once per distinct token).
    pub fn service_checks(
        &self,
        subject: Subject<'_>,
        config: &Config,
        machine: &Machine,
        now: Timestamp,
        ask: impl FnOnce(&str) -> WrittenToken,
        out: &mut Vec<Check>,
    ) -> Facts {
        let Subject { service, target } = subject;
        let mut facts = Facts {
            entry: None,
            section: false,
            written: None,
        };
        let Some(files) = &self.files else {
            return facts;
        };
        let name = service.name.as_str();
        if self.never_written(service) {
            out.extend(self.system_duplicate(name));
            return facts;
        }
        let refresh = format!("alloydb-cred refresh --service {name}");
        let Some(pgpass) = &self.pgpass else {
            out.push(Check::problem(
                "pgpass.entry",
                format!(
                    "there is no password file libpq can use at {} (see pgpass.file)",
                    files.pgpass.display()
                ),
                refresh,
            ));
            self.section_checks(subject, config, files, None, out, &mut facts);
            return facts;
        };
        let parsed = &pgpass.parsed;
        let entry = match self.entry_of(service, config) {
            None => {
                out.push(Check::problem(
                    "pgpass.entry",
                    format!("{} has no entry for service {name}", files.pgpass.display()),
                    refresh.clone(),
                ));
                None
            }
            Some((e, false)) => {
                out.push(Check::problem(
                    "pgpass.entry",
                    format!(
                        "the entry for service {name} in {} belongs to another alloydb-cred configuration (owner={})",
                        files.pgpass.display(),
                        e.owner.as_ref().map(|o| o.to_string()).unwrap_or_default()
                    ),
                    "rename the service in one of the configurations, or give them different `pgpass` files",
                ));
                None
            }
            Some((e, true)) => Some(e),
        };
        if let Some(entry) = entry {
            out.push(entry_check(entry, service, target, files, now, &refresh));
            if entry.expires_at > now {
                let written = ask(entry.password.expose());
                out.push(written_token_check(&written, entry, service));
                facts.written = Some(written);
            }
            out.push(first_match_check(
                &pgpass.bytes,
                parsed,
                entry,
                service,
                files,
            ));
            out.push(last_match_check(&pgpass.shadowed, entry, files));
            out.push(line_length_check(entry, machine));
            facts.entry = Some(entry.clone());
        }
        self.section_checks(subject, config, files, entry, out, &mut facts);
        facts
    }

    /// The entry libpq would be given for `service`: this configuration's own if there
    /// is one (`true`), else another configuration's of the same name (`false`).
    fn entry_of(&self, service: &Service, config: &Config) -> Option<(&ManagedEntry, bool)> {
        let ours = |e: &ManagedEntry| e.owner.as_ref().is_none_or(|o| *o == config.owner);
        self.pgpass
            .as_ref()?
            .parsed
            .managed()
            .iter()
            .filter(|e| e.service == *service.name.as_str())
            .min_by_key(|e| !ours(e))
            .map(|e| (e, ours(e)))
    }

    /// The unexpired token written for `service` that [`OnDisk::service_checks`] will ask
    /// tokeninfo about, so the question can be asked beforehand, beside the others.
    pub fn written_token(
        &self,
        service: &Service,
        config: &Config,
        now: Timestamp,
    ) -> Option<&str> {
        self.entry_of(service, config)
            .filter(|(e, ours)| *ours && e.expires_at > now)
            .map(|(e, _)| e.password.expose())
    }
}
