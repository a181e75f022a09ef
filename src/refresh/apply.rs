//! The last step of a refresh, the only one that holds the files' locks: read both files
//! again, apply this run's managed edits to what they hold *now* (a line the user added
//! while the run waited on the network is in there), and write them, the password file
//! first. Milliseconds, with no network and no credential program.
//!
//! A service whose edit cannot be made changes neither file: its section is checked and
//! placed before its entry is, so a section that cannot be written leaves its old entry
//! (and the old token) as they were.

use std::path::Path;
use std::time::Duration;

use libpq_files::Tag;
use libpq_files::locked_file::{self, Contents, Snapshot};
use libpq_files::pgpass::{PgpassFile, Shadowed};
use libpq_files::service_file::ServiceFile;

use super::instances::{Resolutions, Target};
use super::plan::desired_section;
use super::progress::{Progress, Stage};
use crate::config::{Config, Service};
use crate::error::{Error, Result};
use crate::files::{Files, bytes_of};

/// How often the files are read and merged again when one changed between the read and
/// the write (a program that does not take our lock wrote it): each retry takes
/// milliseconds, and a program writing ten times in a row inside that window is one
/// that never stops.
const ATTEMPTS: usize = 10;

/// Locks both files, merges `progress`'s edits into what they hold now and writes them.
/// Services written move to `Written`, those whose edit could not be made to `Failed`.
/// Returns the user's lines that the managed entries hide.
pub fn write(
    progress: &mut Progress<'_>,
    files: &Files,
    resolutions: &Resolutions,
    config: &Config,
) -> Result<Vec<Shadowed>> {
    let mut attempt = 1;
    loop {
        let _locks = files.lock(config.lock_timeout)?;
        let snapshots = files.read()?;
        let merged = merge(
            progress,
            bytes_of(&snapshots.pgpass),
            bytes_of(&snapshots.service_file),
            files,
            config,
            resolutions,
        );
        let written = (|| -> Result<()> {
            let pgpass = write_if_changed(
                &files.pgpass_real,
                &merged.pgpass.render(),
                &snapshots.pgpass,
                Kind::PasswordFile,
            )?;
            let service_file = write_if_changed(
                &files.service_file_real,
                &merged.service_file.render(),
                &snapshots.service_file,
                Kind::ServiceFile,
            )?;
            // Last look before the locks go: a line that reached a replaced file while
            // the other one was written.
            for mut replaced in pgpass.into_iter().chain(service_file) {
                replaced.catch_up()?;
            }
            Ok(())
        })();
        match written {
            Ok(()) => return Ok(merged.finish(progress)),
            Err(e) if changed_since_read(&e) && attempt < ATTEMPTS => {
                log::debug!("{e}; reading it again and merging anew");
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether a write was refused because the file changed after it was read.
fn changed_since_read(e: &Error) -> bool {
    matches!(e, Error::Files(libpq_files::Error::ChangedSinceRead { .. }))
}

/// Replaces `real` with `bytes` unless that is what it already holds.
///
/// The file engine refuses the rename when the file changed since `snapshot`, but a
/// program that appends without our lock (`echo >>`) can still write into the old file
/// in the instant between that check and the rename, or through a descriptor it opened
/// just before. Such lines would vanish with the old file, so the old file is kept open
/// and looked at after the rename (and again before the locks are released): whatever
/// was appended to it is added to the new file, under the lock, so no line is lost.
fn write_if_changed<'a>(
    real: &'a Path,
    bytes: &[u8],
    snapshot: &'a Option<Snapshot>,
    kind: Kind,
) -> Result<Option<Replaced<'a>>> {
    if bytes == bytes_of(snapshot) {
        return Ok(None);
    }
    let old = snapshot.as_ref().and_then(|s| open_same(real, s));
    // Bytes appended to the old file before the rename and already in the new one.
    let carried = kind.write(real, bytes, snapshot.as_ref())?;
    let (Some(old), Some(snapshot)) = (old, snapshot.as_ref()) else {
        return Ok(None);
    };
    let mut replaced = Replaced {
        real,
        old,
        read: &snapshot.bytes,
        seen: snapshot.bytes.len() + carried,
        kind,
    };
    replaced.catch_up()?;
    Ok(Some(replaced))
}

/// Which of the two files: they differ in mode and in how an append made meanwhile is
/// taken over.
#[derive(Clone, Copy)]
enum Kind {
    PasswordFile,
    ServiceFile,
}

impl Kind {
    /// Writes `bytes` over `real` (see `locked_file::write`). The password file's lines
    /// stand alone, so bytes appended to it since the read are carried into the
    /// replacement (their count is returned) instead of failing the attempt.
    fn write(self, real: &Path, bytes: &[u8], previous: Option<&Snapshot>) -> Result<usize> {
        Ok(match self {
            Kind::PasswordFile => {
                locked_file::write_carrying_appends(real, bytes, previous, Contents::Secret)?
            }
            Kind::ServiceFile => {
                locked_file::write(real, bytes, previous, Contents::Plain)?;
                0
            }
        })
    }
}

/// A file just replaced, still open, and how much of it the new file holds.
struct Replaced<'a> {
    real: &'a Path,
    old: std::fs::File,
    read: &'a [u8],
    seen: usize,
    kind: Kind,
}

impl Replaced<'_> {
    /// Adds to the new file what was appended to the old one since it was read. Bounded:
    /// an appender that never stops gets its lines in over a few rounds, and the next
    /// run takes the rest.
    fn catch_up(&mut self) -> Result<()> {
        for _ in 0..ATTEMPTS {
            let Some(tail) = appended_since(&self.old, self.read, self.seen) else {
                return Ok(());
            };
            log::debug!(
                "{} grew by {} bytes while it was replaced; adding them to the new file",
                self.real.display(),
                tail.len()
            );
            let current = locked_file::read(self.real)?;
            let mut merged = bytes_of(&current).to_vec();
            if !merged.is_empty() && !merged.ends_with(b"\n") {
                merged.push(b'\n');
            }
            merged.extend_from_slice(&tail);
            match self.kind.write(self.real, &merged, current.as_ref()) {
                Ok(_) => self.seen += tail.len(),
                // Written to meanwhile: read it again in the next round.
                Err(e) if changed_since_read(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The file at `real`, opened for reading, if it is still the one `snapshot` was read
/// from.
fn open_same(real: &Path, snapshot: &Snapshot) -> Option<std::fs::File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(real)
        .ok()?;
    let meta = file.metadata().ok()?;
    (meta.is_file() && (meta.dev(), meta.ino()) == snapshot.identity).then_some(file)
}

/// What was appended to the replaced file beyond its first `seen` bytes, when the part
/// read before is unchanged (anything else is not an append, and is not guessed at).
fn appended_since(old: &std::fs::File, read: &[u8], seen: usize) -> Option<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut old = old;
    old.seek(SeekFrom::Start(0)).ok()?;
    let mut now = Vec::new();
    old.take(MAX_FILE_BYTES).read_to_end(&mut now).ok()?;
    if now.len() <= seen || !now.starts_with(read) {
        return None;
    }
    now.get(seen..).map(<[u8]>::to_vec)
}

/// More than any password or service file: a replaced file is read no further.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// Both files with this run's edits, and what became of each service, not applied to
/// the progress until the files are written.
struct Merged<'s> {
    pgpass: PgpassFile,
    service_file: ServiceFile,
    failed: Vec<(&'s Service, Error)>,
    /// Warnings to give once the files are written (not once per attempt).
    notes: Vec<String>,
}

impl<'s> Merged<'s> {
    fn finish(self, progress: &mut Progress<'s>) -> Vec<Shadowed> {
        for note in &self.notes {
            log::warn!("{note}");
        }
        for (service, error) in self.failed {
            progress.fail(service, error);
        }
        for service in progress.at(|s| matches!(s, Stage::Minted(..))) {
            let reason = progress.reason(service);
            if let Stage::Minted(_, minted) = progress.take(service) {
                // One line per refresh: what a log reader (journald, docker logs) needs.
                log::info!(
                    "{}: refreshed ({reason}): a {} token for {}, valid until {}",
                    service.name,
                    minted.breadth.as_str(),
                    minted.entry.user,
                    minted.entry.expires_at
                );
                progress.set(service, Stage::Written(minted.breadth));
            }
        }
        let names: Vec<&str> = progress.iter().map(|(s, _)| s.name.as_str()).collect();
        self.pgpass
            .shadowed()
            .into_iter()
            .filter(|s| names.contains(&s.service.as_str()))
            .collect()
    }
}

/// Applies the edits of every service in `progress` to the files' current bytes.
fn merge<'s>(
    progress: &Progress<'s>,
    pgpass: &[u8],
    service_file: &[u8],
    files: &Files,
    config: &Config,
    resolutions: &Resolutions,
) -> Merged<'s> {
    let mut merged = Merged {
        pgpass: PgpassFile::parse(pgpass),
        service_file: ServiceFile::parse(service_file),
        failed: Vec::new(),
        notes: Vec::new(),
    };
    let path = files.service_file.display().to_string();
    let mut needs_passfile = false;
    for (service, stage) in progress.iter() {
        let edit = match stage {
            Stage::Minted(target, minted) => {
                // The files may have changed hands since the plan read them.
                if let Err(e) = claim(
                    service,
                    &merged.pgpass,
                    &merged.service_file,
                    files,
                    config,
                    true,
                ) {
                    merged.failed.push((service, e));
                    continue;
                }
                Some((target.clone(), minted.entry.user.to_string(), Some(minted)))
            }
            Stage::Current => {
                current_entry(service, &merged.pgpass, files.owner_tag(), resolutions)
                    .map(|(target, user)| (target, user, None))
            }
            _ => None,
        };
        let Some((target, user, minted)) = edit else {
            continue;
        };
        match section_for(service, &target, &user, files, config.lock_timeout) {
            Ok(section) => {
                let rejects: Vec<String> = section
                    .pgjdbc_rejects_but_passfile()
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                let passfile = section
                    .keywords
                    .iter()
                    .any(|(k, _)| k.as_str() == "passfile");
                if let Err(e) = merged.service_file.upsert(section, &path) {
                    merged.failed.push((service, e.into()));
                    continue;
                }
                if !rejects.is_empty() {
                    merged.notes.push(format!(
                        "service {}: {} in {path} is not accepted by pgjdbc (DBeaver, DataGrip); those clients cannot use this service",
                        service.name,
                        rejects.join(", ")
                    ));
                }
                needs_passfile |= passfile;
                // Only now, with its section in place, does the new entry go in.
                if let Some(minted) = minted {
                    merged.pgpass.upsert(minted.entry.clone());
                }
            }
            Err(e) => merged.failed.push((service, e)),
        }
    }
    if needs_passfile {
        merged.notes.push(format!(
            "{} is not where libpq looks by default, so the sections in {path} name it with passfile=; pgjdbc (DBeaver, DataGrip) rejects that keyword: for those clients keep the password file at the default place or set PGPASSFILE",
            files.pgpass.display()
        ));
    }
    merged
}

/// Where a service that is not due connects and as whom, from its entry of this
/// configuration, when its section should be checked.
fn current_entry(
    service: &Service,
    pgpass: &PgpassFile,
    owner: &Tag,
    resolutions: &Resolutions,
) -> Option<(Target, String)> {
    let entry = pgpass
        .get(service.name.as_str())
        .filter(|e| e.owner.as_ref().is_none_or(|o| o == owner))?;
    // An instance without a resolution (it failed, and there was none before) keeps the
    // section it has.
    let target = resolutions.target(service)?;
    // The entry is still for another address (the host moved but the new token could not
    // be minted): the section keeps pointing where that entry's password works.
    if entry.host != target.host || entry.port != target.port {
        return None;
    }
    Some((target, entry.user.to_string()))
}

/// The section `service` should have, with the server CA file it names written first.
fn section_for(
    service: &Service,
    target: &Target,
    user: &str,
    files: &Files,
    lock_timeout: Duration,
) -> Result<libpq_files::service_file::ManagedSection> {
    if let Some(ca) = &target.server_ca {
        ca.write(lock_timeout)?;
    }
    desired_section(service, target, user, files)
        .map_err(|e| Error::Config(format!("service {}: {e}", service.name)))
}

/// Whether this configuration may write `service`'s entry and section. Another
/// configuration's entry or section for the same service in the same files is a
/// conflict, unless that configuration's file is gone (then its regions are taken over).
/// Regions written before owners were recorded belong to whoever writes next. A take-over
/// is logged when `writing` (the plan's early check says nothing: the write will).
pub fn claim(
    service: &Service,
    pgpass: &PgpassFile,
    service_file: &ServiceFile,
    files: &Files,
    config: &Config,
    writing: bool,
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
            if !writing {
                return Ok(());
            }
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
