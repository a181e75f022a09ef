//! Exclusive locks on the lock file beside each target, shared by every writer of the
//! directory, in a fixed order, re-entrant within one thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs2::FileExt;

use super::{PRIVATE_MODE, not_regular};
use crate::error::{Error, Result};

/// An exclusive lock on one target's lock file, held until the last guard for that file
/// on this thread is dropped.
#[derive(Debug)]
pub struct FileLock {
    identity: (u64, u64),
    /// Held by the thread that took it: the registry below is per thread.
    _not_send: std::marker::PhantomData<*const ()>,
}

thread_local! {
    /// The lock files this thread holds, by identity, with how many guards share each.
    /// flock counts two descriptors of one file as two holders, so without this a nested
    /// lock of the same file (the state directory may be the password file's own
    /// directory) would wait for itself until `lock_timeout`.
    static HELD: RefCell<HashMap<(u64, u64), (File, usize)>> = RefCell::new(HashMap::new());
}

impl Drop for FileLock {
    fn drop(&mut self) {
        HELD.with(|held| {
            let mut held = held.borrow_mut();
            if let Some((_, guards)) = held.get_mut(&self.identity) {
                *guards -= 1;
                if *guards == 0 {
                    // Closing the descriptor releases the lock.
                    held.remove(&self.identity);
                }
            }
        });
    }
}

/// The lock file beside a target: one per directory, shared by every target in it.
const LOCK_NAME: &str = ".alloydb-cred.lock";

/// Takes exclusive locks on every target, in a fixed order (by the lock files' identity)
/// so two processes locking the same pair cannot deadlock. A lock file lives beside its
/// target. Gives up after `timeout`, naming the lock and its holder. A lock this thread
/// already holds is granted at once and released with its last guard.
pub fn lock_all(reals: &[&Path], timeout: Duration) -> Result<Vec<FileLock>> {
    let mut opened = Vec::with_capacity(reals.len());
    for real in reals {
        let (file, path) = open_lock_file(real)?;
        let meta = file
            .metadata()
            .map_err(|e| Error::io("inspect", &path, e))?;
        opened.push(((meta.dev(), meta.ino()), file, path));
    }
    opened.sort_by_key(|(identity, _, _)| *identity);
    opened.dedup_by_key(|(identity, _, _)| *identity);
    let deadline = Instant::now() + timeout;
    let mut locks = Vec::with_capacity(opened.len());
    for (identity, file, path) in opened {
        let nested = HELD.with(|held| {
            held.borrow_mut()
                .get_mut(&identity)
                .map(|(_, guards)| *guards += 1)
                .is_some()
        });
        let identity = if nested {
            identity
        } else {
            let (identity, file) = acquire_named(file, identity, &path, deadline, timeout)?;
            HELD.with(|held| {
                let mut held = held.borrow_mut();
                match held.get_mut(&identity) {
                    // Replaced by a lock file this thread already holds: share it.
                    Some((_, guards)) => *guards += 1,
                    None => {
                        held.insert(identity, (file, 1));
                    }
                }
            });
            identity
        };
        locks.push(FileLock {
            identity,
            _not_send: std::marker::PhantomData,
        });
    }
    Ok(locks)
}

/// Opens (creating it private, never through a symlink) the lock file for `real`. A
/// directory that cannot hold one cannot hold the new version of the file either, so
/// that is an error here, named with the lock file.
fn open_lock_file(real: &Path) -> Result<(File, PathBuf)> {
    let dir = match real.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let path = dir.join(LOCK_NAME);
    let file = open_lock_path(&path)?;
    Ok((file, path))
}

fn open_lock_path(path: &Path) -> Result<File> {
    match open_no_follow(path) {
        Ok(file) => checked_lock_file(file, path),
        Err(e) => Err(lock_open_error(path, e)),
    }
}

/// Locks `file` (opened from `path`, of `identity`) and makes sure `path` still names
/// it. A lock file deleted or replaced while this process waited is a lock nobody else
/// will ever take again: holding it would let this process write alongside whoever
/// locked the new file at `path`. So the lock is dropped and the new file is locked
/// instead, until `path` names the file held (or the deadline passes).
fn acquire_named(
    mut file: File,
    mut identity: (u64, u64),
    path: &Path,
    deadline: Instant,
    timeout: Duration,
) -> Result<((u64, u64), File)> {
    loop {
        file = acquire(file, path, deadline, timeout)?;
        match std::fs::symlink_metadata(path) {
            Ok(meta) if (meta.dev(), meta.ino()) == identity => {
                record_holder(&mut file, path);
                return Ok((identity, file));
            }
            Ok(_) => log::debug!("{} was replaced while waiting for it", path.display()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                log::debug!("{} was deleted while waiting for it", path.display());
            }
            Err(e) => return Err(Error::io("inspect", path, e)),
        }
        // Closing the descriptor releases the stale lock.
        drop(file);
        if Instant::now() >= deadline {
            return Err(Error::Unusable(format!(
                "gave up after {timeout:?}: the lock {} kept being deleted or replaced while alloydb-cred waited for it; find what removes it",
                path.display()
            )));
        }
        file = open_lock_path(path)?;
        let meta = file.metadata().map_err(|e| Error::io("inspect", path, e))?;
        identity = (meta.dev(), meta.ino());
    }
}

fn open_no_follow(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(PRIVATE_MODE)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

fn lock_open_error(path: &Path, e: io::Error) -> Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        return Error::Unusable(format!(
            "{} is a symbolic link; a lock file is never followed through one (it could make alloydb-cred create or write a file elsewhere): remove the link",
            path.display()
        ));
    }
    Error::io("create the lock file", path, e)
}

/// A lock file must be a regular file: anything else was put there by someone else.
fn checked_lock_file(file: File, path: &Path) -> Result<File> {
    let meta = file.metadata().map_err(|e| Error::io("inspect", path, e))?;
    if !meta.is_file() {
        return Err(not_regular(path, &meta));
    }
    Ok(file)
}

/// Waits for the lock on `file` until `deadline`.
fn acquire(file: File, path: &Path, deadline: Instant, timeout: Duration) -> Result<File> {
    let mut pause = Duration::from_millis(10);
    loop {
        match file.try_lock_exclusive() {
            Ok(()) => break,
            Err(e) if e.kind() == fs2::lock_contended_error().kind() => {
                if Instant::now() >= deadline {
                    let holder = holder_of(&file)
                        .map(|pid| format!(" (held by process {pid})"))
                        .unwrap_or_default();
                    return Err(Error::Unusable(format!(
                        "gave up after {timeout:?} waiting for the lock {}{holder}: another alloydb-cred is writing the same files, or is hung; check it, or raise `lock_timeout` in the config",
                        path.display()
                    )));
                }
                std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
                pause = (pause * 2).min(Duration::from_millis(250));
            }
            Err(e) => return Err(Error::io("lock", path, e)),
        }
    }
    Ok(file)
}

/// Writes this process's pid into the lock file it holds, for the message of a waiter
/// that gives up.
fn record_holder(file: &mut File, path: &Path) {
    let recorded = file
        .set_len(0)
        .and_then(|()| file.seek(io::SeekFrom::Start(0)))
        .and_then(|_| writeln!(file, "{}", std::process::id()));
    if let Err(e) = recorded {
        log::debug!("cannot record the lock holder in {}: {e}", path.display());
    }
}

/// The pid the holder wrote into the lock file, if it did.
fn holder_of(file: &File) -> Option<u32> {
    let mut text = String::new();
    io::Read::read_to_string(&mut &*file, &mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn locks_meet_however_the_path_is_spelled_time_out_and_name_the_holder() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let real = dir.path().join("data");
        fs::create_dir(&real).unwrap_or_else(|e| panic!("{e}"));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap_or_else(|e| panic!("{e}"));
        let held = lock_all(&[&real.join("pgpass")], Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{e}"));
        // Another thread is another holder (this one would get its own lock again).
        let other = link.join("pgpass");
        let err = std::thread::scope(|scope| {
            scope
                .spawn(|| lock_all(&[&other], Duration::from_millis(200)).err())
                .join()
                .ok()
                .flatten()
        })
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("gave up after 200ms waiting"), "{err}");
        assert!(
            err.contains(&format!("held by process {}", std::process::id())),
            "{err}"
        );
        drop(held);
        assert!(lock_all(&[&link.join("pgpass")], Duration::from_secs(1)).is_ok());
        assert_eq!(
            fs::metadata(real.join(LOCK_NAME))
                .map(|m| m.mode() & 0o777)
                .ok(),
            Some(0o600)
        );
    }

    #[test]
    fn a_thread_holding_a_lock_gets_it_again_and_keeps_it_until_the_last_guard() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let pgpass = dir.path().join("pgpass");
        let state = dir.path().join("state.json");
        let contend = || {
            std::thread::scope(|scope| {
                scope
                    .spawn(|| lock_all(&[&state], Duration::from_millis(100)).is_ok())
                    .join()
                    .unwrap_or(false)
            })
        };
        let outer = lock_all(&[&pgpass], Duration::from_secs(1)).unwrap_or_else(|e| panic!("{e}"));
        // The state file in the same directory: the same lock file, granted at once.
        let started = Instant::now();
        let inner = lock_all(&[&state], Duration::from_secs(5)).unwrap_or_else(|e| panic!("{e}"));
        assert!(started.elapsed() < Duration::from_secs(1));
        drop(inner);
        assert!(!contend(), "still held by the outer guard");
        drop(outer);
        assert!(contend(), "released with the last guard");
    }

    #[test]
    fn a_lock_file_deleted_while_waiting_is_not_held_alongside_its_replacement() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let real = dir.path().join("pgpass");
        // Opened, as a waiter opens it, before someone deletes it.
        let (stale, path) = open_lock_file(&real).unwrap_or_else(|e| panic!("{e}"));
        let meta = stale.metadata().unwrap_or_else(|e| panic!("{e}"));
        let stale_identity = (meta.dev(), meta.ino());
        fs::remove_file(&path).unwrap_or_else(|e| panic!("{e}"));
        // Another writer creates the lock file anew and holds it for a while.
        let (taken, release) = (std::sync::Barrier::new(2), Duration::from_millis(400));
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let held = lock_all(&[&real], Duration::from_secs(5));
                assert!(held.is_ok());
                taken.wait();
                std::thread::sleep(release);
                drop(held);
            });
            taken.wait();
            let started = Instant::now();
            let deadline = started + Duration::from_secs(5);
            let got = acquire_named(
                stale,
                stale_identity,
                &path,
                deadline,
                Duration::from_secs(5),
            );
            let (identity, _file) = got.unwrap_or_else(|e| panic!("{e}"));
            // The deleted file's lock was free at once; holding it would have meant two
            // writers. The new one was waited for.
            assert!(started.elapsed() >= release, "waited for the new lock file");
            let now = fs::metadata(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(identity, (now.dev(), now.ino()));
            assert_ne!(identity, stale_identity);
        });
    }

    #[test]
    fn a_planted_symlink_is_never_followed() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let elsewhere = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&elsewhere, dir.path().join(LOCK_NAME))
            .unwrap_or_else(|e| panic!("{e}"));
        let err = lock_all(&[&dir.path().join("pgpass")], Duration::from_secs(1))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("symbolic link"), "{err}");
        assert!(!elsewhere.exists(), "nothing was created through the link");
    }
}
