//! Reading and replacing the files we share with the user and with libpq, safely.
//!
//! - Writers take an exclusive `fs2` lock first, on the lock file beside the real target
//!   (one per directory), so that concurrent refreshers serialise and the one that waits
//!   re-reads what the first wrote. A thread that already holds a lock file's lock gets
//!   it again at once (see [`lock_all`]).
//! - A new version is written to a temp file in the target's directory (created
//!   `O_EXCL` with mode 0600, so a token is never readable by others, not even for an
//!   instant), fsynced, renamed over the target, and the directory is fsynced. Readers see
//!   the old file or the new one, never a mix.
//! - A symlinked target is followed, and the link is left in place.
//! - When rename is refused because the target is a single-file bind mount (EBUSY) or
//!   sits on another device (EXDEV), the content is written in place, still under the lock.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs2::FileExt;

use crate::error::{Error, Result};

/// Mode of every file we create: they hold tokens, and libpq ignores a pgpass that
/// group or others can read.
const PRIVATE_MODE: u32 = 0o600;

/// A file as read: its bytes and what must survive a rewrite.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub bytes: Vec<u8>,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Follows symlinks to the file that really holds the content, so we replace that file
/// and leave the user's link alone. A dangling link resolves to where it points.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&current)
                    .map_err(|e| Error::io("read the symlink", &current, e))?;
                current = match current.parent() {
                    Some(parent) if target.is_relative() => parent.join(target),
                    _ => target,
                };
            }
            Ok(_) => return Ok(current),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(Error::io("inspect", &current, e)),
        }
    }
    Err(Error::Unusable(format!(
        "{} is a symlink loop; point the config at a real file",
        path.display()
    )))
}

/// Reads the real target (see [`resolve`]). `None` when it does not exist yet; an error
/// when it is a directory, FIFO, device or anything else that is not a regular file.
pub fn read(real: &Path) -> Result<Option<Snapshot>> {
    // Look before opening: opening a FIFO for reading would block until a writer comes.
    match fs::metadata(real) {
        Ok(meta) if !meta.is_file() => return Err(not_regular(real, &meta)),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("inspect", real, e)),
    }
    let file = match File::open(real) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", real, e)),
    };
    let meta = file.metadata().map_err(|e| Error::io("inspect", real, e))?;
    if !meta.is_file() {
        return Err(not_regular(real, &meta));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    io::Read::read_to_end(&mut &file, &mut bytes).map_err(|e| Error::io("read", real, e))?;
    Ok(Some(Snapshot {
        bytes,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
    }))
}

fn not_regular(real: &Path, meta: &fs::Metadata) -> Error {
    Error::Unusable(format!(
        "{} is not a regular file (it is a {}); alloydb-cred writes only regular files: move it away or point the config elsewhere",
        real.display(),
        describe_type(meta)
    ))
}

fn describe_type(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_block_device() || t.is_char_device() {
        "device"
    } else {
        "special file"
    }
}

/// Whether a file holds tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contents {
    /// Tokens: group and others never get access, whatever the old file allowed
    /// (libpq ignores such a password file anyway, so nothing that worked breaks).
    Secret,
    /// No secrets: the old file's mode is kept as it was.
    Plain,
}

/// Replaces `real` with `bytes`; the caller holds `real`'s lock (see [`lock_all`]).
/// `previous` (what [`read`] returned under the same lock) supplies the mode and owner
/// to keep; a new file gets mode 0600.
pub fn write(
    real: &Path,
    bytes: &[u8],
    previous: Option<&Snapshot>,
    contents: Contents,
) -> Result<()> {
    let dir = match real.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = real
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    remove_stale_temps(dir, &name);
    let mode = previous.map(|prev| kept_mode(real, prev, contents));
    // tempfile creates with O_CREAT|O_EXCL and mode 0600: no window with a wider mode.
    let mut temp = tempfile::Builder::new()
        .prefix(&temp_prefix(&name))
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, e))?;
    let result = (|| -> io::Result<()> {
        // Through the raw file: tempfile's own Write wraps errors and hides the errno.
        temp.as_file_mut().write_all(bytes)?;
        if let (Some(prev), Some(mode)) = (previous, mode) {
            let file = temp.as_file();
            if mode != PRIVATE_MODE {
                file.set_permissions(fs::Permissions::from_mode(mode))?;
            }
            let meta = file.metadata()?;
            if meta.uid() != prev.uid || meta.gid() != prev.gid {
                // Only root can give a file away; anyone else keeps ownership, which
                // is what the previous file had in every case that matters.
                if let Err(e) = std::os::unix::fs::fchown(file, Some(prev.uid), Some(prev.gid)) {
                    log::debug!("cannot keep owner of {}: {e}", real.display());
                }
            }
        }
        temp.as_file().sync_all()
    })();
    result.map_err(|e| Error::io("write", real, e))?;

    match temp.persist(real) {
        Ok(_) => {
            sync_dir(dir);
            Ok(())
        }
        Err(err)
            if matches!(
                err.error.kind(),
                io::ErrorKind::ResourceBusy | io::ErrorKind::CrossesDevices
            ) =>
        {
            log::info!(
                "{} cannot be replaced by rename ({}); writing it in place under the lock",
                real.display(),
                err.error
            );
            // `err.file` (the temp file) is removed when dropped.
            write_in_place(real, bytes, previous, mode)
        }
        Err(err) => Err(Error::io("replace", real, err.error)),
    }
}

const TEMP_SUFFIX: &str = ".tmp";

/// Temp files are named `.<target>.alloydb-cred-XXXXXX.tmp` (the target's name whole, so
/// `pgpass` and `.pgpass` in one directory never share a prefix): distinctive enough that
/// removing leftovers can never hit a file the user made.
fn temp_prefix(target_name: &str) -> String {
    format!(".{target_name}.alloydb-cred-")
}

/// Removes temp files a killed writer left behind. Only called with the target's lock
/// held, and every writer holds that lock for as long as its temp file exists, so any
/// temp file seen here belongs to a process that is gone.
fn remove_stale_temps(dir: &Path, target_name: &str) {
    let prefix = temp_prefix(target_name);
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(TEMP_SUFFIX) {
            match fs::remove_file(entry.path()) {
                Ok(()) => log::info!(
                    "removed {}, left by an interrupted write",
                    entry.path().display()
                ),
                Err(e) => log::debug!("cannot remove {}: {e}", entry.path().display()),
            }
        }
    }
}

/// The mode a rewritten file gets: the previous one, except that a file holding tokens
/// loses group and other access.
fn kept_mode(real: &Path, prev: &Snapshot, contents: Contents) -> u32 {
    match contents {
        Contents::Secret if prev.mode & 0o077 != 0 => {
            log::warn!(
                "{} was readable by group or others (mode {:o}); it now holds tokens, so it is written with mode {:o}",
                real.display(),
                prev.mode,
                prev.mode & !0o077
            );
            prev.mode & !0o077
        }
        _ => prev.mode,
    }
}

/// The bind-mount fallback, under the lock. The space is reserved first, so that a full
/// disk or a file-size limit fails before a byte of the old content is overwritten; if
/// writing fails anyway, the old content is put back.
fn write_in_place(
    real: &Path,
    bytes: &[u8],
    previous: Option<&Snapshot>,
    mode: Option<u32>,
) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .open(real)
        .map_err(|e| Error::io("write", real, e))?;
    if let (Some(prev), Some(mode)) = (previous, mode) {
        if mode != prev.mode {
            file.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(|e| Error::io("restrict the permissions of", real, e))?;
        }
    }
    let old_len = previous.map_or(0, |p| p.bytes.len());
    if bytes.len() > old_len {
        if let Err(e) = file.allocate(bytes.len() as u64) {
            match e.kind() {
                io::ErrorKind::StorageFull
                | io::ErrorKind::FileTooLarge
                | io::ErrorKind::QuotaExceeded => {
                    // fallocate may have grown the file without writing: shrink it back.
                    let _ = file.set_len(old_len as u64);
                    return Err(Error::io("write", real, e));
                }
                _ => log::debug!("cannot reserve space for {}: {e}", real.display()),
            }
        }
    }
    let overwrite = |file: &mut File, content: &[u8]| -> io::Result<()> {
        file.seek(io::SeekFrom::Start(0))?;
        file.write_all(content)?;
        file.set_len(content.len() as u64)?;
        file.sync_all()
    };
    match overwrite(&mut file, bytes) {
        Ok(()) => Ok(()),
        Err(e) => {
            let restored = previous.is_some_and(|p| overwrite(&mut file, &p.bytes).is_ok());
            Err(Error::Unusable(format!(
                "cannot write {} in place: {e}; {}",
                real.display(),
                if restored {
                    "its previous content was put back"
                } else {
                    "putting its previous content back failed too, so check the file by hand"
                }
            )))
        }
    }
}

/// Makes the rename durable. Some file systems refuse fsync on a directory; the rename
/// itself has already happened, so that is only logged.
fn sync_dir(dir: &Path) {
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        log::debug!("cannot fsync directory {}: {e}", dir.display());
    }
}

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
        if !nested {
            let file = acquire(file, &path, deadline, timeout)?;
            HELD.with(|held| held.borrow_mut().insert(identity, (file, 1)));
        }
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
    match open_no_follow(&path) {
        Ok(file) => checked_lock_file(file, path),
        Err(e) => Err(lock_open_error(&path, e)),
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
fn checked_lock_file(file: File, path: PathBuf) -> Result<(File, PathBuf)> {
    let meta = file
        .metadata()
        .map_err(|e| Error::io("inspect", &path, e))?;
    if !meta.is_file() {
        return Err(not_regular(&path, &meta));
    }
    Ok((file, path))
}

/// Waits for the lock until `deadline`, then records this process as the holder.
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
    let mut file = file;
    let recorded = file
        .set_len(0)
        .and_then(|()| file.seek(io::SeekFrom::Start(0)))
        .and_then(|_| writeln!(file, "{}", std::process::id()));
    if let Err(e) = recorded {
        log::debug!("cannot record the lock holder in {}: {e}", path.display());
    }
    Ok(file)
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

    #[test]
    fn new_file_is_private_and_existing_mode_is_kept() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("pgpass");
        write(&path, b"a\n", None, Contents::Secret).unwrap_or_else(|e| panic!("{e}"));
        let meta = fs::metadata(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(meta.mode() & 0o777, 0o600);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640))
            .unwrap_or_else(|e| panic!("{e}"));
        let snap = read(&path).unwrap_or_else(|e| panic!("{e}"));
        write(&path, b"b\n", snap.as_ref(), Contents::Plain).unwrap_or_else(|e| panic!("{e}"));
        let meta = fs::metadata(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(meta.mode() & 0o777, 0o640);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400))
            .unwrap_or_else(|e| panic!("{e}"));
        let snap = read(&path).unwrap_or_else(|e| panic!("{e}"));
        write(&path, b"c\n", snap.as_ref(), Contents::Secret).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            fs::metadata(&path).map(|m| m.mode() & 0o777).unwrap_or(0),
            0o400
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|e| panic!("{e}"));
        let snap = read(&path).unwrap_or_else(|e| panic!("{e}"));
        write(&path, b"d\n", snap.as_ref(), Contents::Secret).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            fs::metadata(&path).map(|m| m.mode() & 0o777).unwrap_or(0),
            0o600
        );
        assert_eq!(fs::read(&path).unwrap_or_default(), b"d\n");
        // No temp files left behind.
        assert_eq!(fs::read_dir(dir.path()).map(|d| d.count()).unwrap_or(0), 1);
    }

    #[test]
    fn symlink_is_followed_and_kept() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let real = dir.path().join("real");
        let link = dir.path().join("link");
        fs::write(&real, b"old").unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink("real", &link).unwrap_or_else(|e| panic!("{e}"));
        let target = resolve(&link).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(target, real);
        write(&target, b"new", None, Contents::Plain).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            fs::symlink_metadata(&link)
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false)
        );
        assert_eq!(fs::read(&link).unwrap_or_default(), b"new");
    }

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

    #[test]
    fn directory_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let err = read(dir.path()).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("not a regular file")));
    }
}
