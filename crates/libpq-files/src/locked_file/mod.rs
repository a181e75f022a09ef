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
//! - Editors and `echo >>` take no lock. Just before the rename (or the in-place rewrite)
//!   the target is compared with what was read; if it changed, nothing is written and the
//!   caller gets [`Error::ChangedSinceRead`], to read and merge again.

mod in_place;
mod lock;

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub use lock::{FileLock, lock_all};

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
    /// (device, inode) of the file read: a file renamed over it is another file, even
    /// with the same bytes, and may carry another owner or mode.
    pub identity: (u64, u64),
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
        identity: (meta.dev(), meta.ino()),
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
/// to keep; a new file gets mode 0600. When `real` is no longer what `previous`
/// describes (`None`: it must still be missing), nothing is written and the error is
/// [`Error::ChangedSinceRead`].
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

    // Last moment before the rename. What is left is the window between this check and
    // the rename (microseconds), which no lock can close against a program that takes none.
    if !unchanged(real, previous)? {
        // Dropping `temp` removes it.
        return Err(Error::ChangedSinceRead {
            path: real.to_path_buf(),
        });
    }
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
            in_place::write_in_place(real, bytes, previous, mode)
        }
        Err(err) => Err(Error::io("replace", real, err.error)),
    }
}

/// Whether `real` is still the file `previous` describes: same identity, length and
/// bytes, or still missing when there was none.
fn unchanged(real: &Path, previous: Option<&Snapshot>) -> Result<bool> {
    let file = match open_for_check(real) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(previous.is_none()),
        Err(e) => return Err(Error::io("read", real, e)),
    };
    let Some(prev) = previous else {
        return Ok(false);
    };
    same_file_as(&file, prev).map_err(|e| Error::io("read", real, e))
}

/// Opens without blocking (something put a FIFO there?) and without following a link
/// planted since the read: [`resolve`] already followed the user's links.
fn open_for_check(real: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(real)
}

/// Whether the open `file` is the one `prev` was read from, with the same content.
fn same_file_as(file: &File, prev: &Snapshot) -> io::Result<bool> {
    let meta = file.metadata()?;
    if !meta.is_file()
        || (meta.dev(), meta.ino()) != prev.identity
        || meta.len() != prev.bytes.len() as u64
    {
        return Ok(false);
    }
    // One byte more than expected is enough to see that it grew since the fstat.
    let mut bytes = Vec::with_capacity(prev.bytes.len() + 1);
    io::Read::read_to_end(
        &mut io::Read::take(file, prev.bytes.len() as u64 + 1),
        &mut bytes,
    )?;
    Ok(bytes == prev.bytes)
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

/// Makes the rename durable. Some file systems refuse fsync on a directory; the rename
/// itself has already happened, so that is only logged.
fn sync_dir(dir: &Path) {
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        log::debug!("cannot fsync directory {}: {e}", dir.display());
    }
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
        let snap = read(&target).unwrap_or_else(|e| panic!("{e}"));
        write(&target, b"new", snap.as_ref(), Contents::Plain).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            fs::symlink_metadata(&link)
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false)
        );
        assert_eq!(fs::read(&link).unwrap_or_default(), b"new");
    }

    fn changed(result: Result<()>) -> bool {
        matches!(result, Err(Error::ChangedSinceRead { .. }))
    }

    fn only_file(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn an_edit_made_after_the_read_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("pgpass");
        fs::write(&path, b"mine\n").unwrap_or_else(|e| panic!("{e}"));
        let snap = read(&path).unwrap_or_else(|e| panic!("{e}"));
        // `echo >> ~/.pgpass`: same file, longer.
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{e}"));
        file.write_all(b"added\n").unwrap_or_else(|e| panic!("{e}"));
        let err = write(&path, b"ours\n", snap.as_ref(), Contents::Secret);
        assert!(changed(err), "an appended line is a change");
        assert_eq!(fs::read(&path).unwrap_or_default(), b"mine\nadded\n");
        assert_eq!(only_file(dir.path()), ["pgpass"], "no temp file left");

        // Same length, other bytes (an editor changing one character in place).
        let snap = read(&path).unwrap_or_else(|e| panic!("{e}"));
        fs::write(&path, b"mine\nadder\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(changed(write(&path, b"x", snap.as_ref(), Contents::Secret)));
        assert_eq!(fs::read(&path).unwrap_or_default(), b"mine\nadder\n");
    }

    #[test]
    fn a_file_replaced_by_rename_with_the_same_bytes_is_a_change() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("pgpass");
        fs::write(&path, b"same\n").unwrap_or_else(|e| panic!("{e}"));
        let snap = read(&path).unwrap_or_else(|e| panic!("{e}"));
        // An editor's save: a new file renamed over the old one.
        let other = dir.path().join("other");
        fs::write(&other, b"same\n").unwrap_or_else(|e| panic!("{e}"));
        fs::rename(&other, &path).unwrap_or_else(|e| panic!("{e}"));
        assert!(changed(write(&path, b"x", snap.as_ref(), Contents::Secret)));
        assert_eq!(fs::read(&path).unwrap_or_default(), b"same\n");
    }

    #[test]
    fn a_missing_file_must_still_be_missing_and_a_removed_one_stays_removed() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("pgpass");
        assert!(read(&path).unwrap_or_else(|e| panic!("{e}")).is_none());
        fs::write(&path, b"created meanwhile\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(changed(write(&path, b"x", None, Contents::Secret)));
        assert_eq!(fs::read(&path).unwrap_or_default(), b"created meanwhile\n");

        let snap = read(&path).unwrap_or_else(|e| panic!("{e}"));
        fs::remove_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(changed(write(&path, b"x", snap.as_ref(), Contents::Secret)));
        assert!(!path.exists());
        assert!(only_file(dir.path()).is_empty(), "no temp file left");

        // Unchanged: written, and the error is not one the user must act on.
        assert!(write(&path, b"x", None, Contents::Secret).is_ok());
        assert!(
            !Error::ChangedSinceRead { path: path.clone() }.needs_user(),
            "a retry fixes it"
        );
    }

    #[test]
    fn directory_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let err = read(dir.path()).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("not a regular file")));
    }
}
