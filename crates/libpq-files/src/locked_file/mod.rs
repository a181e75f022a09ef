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
//!   sits on another device (EXDEV), or when the target has more than one hard link (a
//!   rename would leave the other names with the old content), the content is written
//!   in place, still under the lock.
//! - A replacement carries the old file's extended attributes: POSIX ACLs, the SELinux
//!   label, user attributes.
//! - Editors and `echo >>` take no lock. Just before the rename (or the in-place rewrite)
//!   the target is compared with what was read; if it changed, nothing is written and the
//!   caller gets [`Error::ChangedSinceRead`], to read and merge again. For the password
//!   file, whose lines stand alone, bytes only appended meanwhile are instead carried
//!   into the replacement ([`write_carrying_appends`]).

mod in_place;
mod lock;
mod xattrs;

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
    /// Its number of hard links: with more than one, it is rewritten in place, so that
    /// every name sees the new content.
    pub links: u64,
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
        links: meta.nlink(),
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
    replace(real, bytes, previous, contents, false).map(|_| ())
}

/// [`write()`], for a file of independent lines (the password file): when the only change
/// since `previous` is bytes appended at its end (`echo >> ~/.pgpass` while we wrote),
/// they are appended to the replacement too, instead of refusing it. Returns how many
/// bytes were carried over that way.
///
/// A program that appends steadily would otherwise make every attempt fail: each one
/// spends milliseconds writing and syncing, and a line every few milliseconds always
/// lands inside that. Carrying a tail over takes microseconds. Only for whole-line
/// files: in the service file an appended `key=value` belongs to the last section, which
/// need not be the same one in the replacement.
pub fn write_carrying_appends(
    real: &Path,
    bytes: &[u8],
    previous: Option<&Snapshot>,
    contents: Contents,
) -> Result<usize> {
    replace(real, bytes, previous, contents, true)
}

/// Rounds of carrying appended bytes over before giving up on a file that never stops
/// growing.
const CARRY_ROUNDS: usize = 100;

fn replace(
    real: &Path,
    bytes: &[u8],
    previous: Option<&Snapshot>,
    contents: Contents,
    carry_appends: bool,
) -> Result<usize> {
    let dir = match real.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = real
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    remove_stale_temps(dir, &name);
    let mode = previous.map(|prev| kept_mode(real, prev, contents));
    if let Some(prev) = previous.filter(|prev| prev.links > 1) {
        // A rename would give this name a new inode and leave the other links with the
        // old tokens for ever.
        log::debug!(
            "{} has {} hard links; writing it in place under the lock",
            real.display(),
            prev.links
        );
        return in_place::write_in_place(real, bytes, previous, mode).map(|()| 0);
    }
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
            // ACLs, SELinux label, user attributes. First, because setting an ACL sets
            // the group bits of the mode too: the mode below is the one that counts.
            if let Err(e) = xattrs::copy(real, file) {
                log::debug!(
                    "cannot read the extended attributes of {}: {e}",
                    real.display()
                );
            }
            file.set_permissions(fs::Permissions::from_mode(mode))?;
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
    let mut carried: Vec<u8> = Vec::new();
    let mut ends_with_newline = bytes.last().is_none_or(|b| *b == b'\n');
    for round in 0.. {
        match compare(real, previous, &carried)? {
            Comparison::Same => break,
            Comparison::Appended(tail) if carry_appends && round < CARRY_ROUNDS => {
                // The tail is the user's, written without a lock and never synced by
                // them: it gets the same durability here (synced after the rename).
                let file = temp.as_file_mut();
                let result = (|| -> io::Result<()> {
                    if !ends_with_newline {
                        file.write_all(b"\n")?;
                    }
                    file.write_all(&tail)
                })();
                result.map_err(|e| Error::io("write", real, e))?;
                ends_with_newline = tail.last().is_none_or(|b| *b == b'\n');
                carried.extend_from_slice(&tail);
            }
            // Dropping `temp` removes it.
            _ => {
                return Err(Error::ChangedSinceRead {
                    path: real.to_path_buf(),
                });
            }
        }
    }
    if !carried.is_empty() {
        log::debug!(
            "{} grew by {} bytes while it was rewritten; they are in the new file too",
            real.display(),
            carried.len()
        );
    }
    match temp.persist(real) {
        Ok(file) => {
            if !carried.is_empty() {
                if let Err(e) = file.sync_all() {
                    log::debug!("cannot sync {}: {e}", real.display());
                }
            }
            sync_dir(dir);
            Ok(carried.len())
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
            // `err.file` (the temp file) is removed when dropped. In place, the check
            // is strict again: nothing carried over is written.
            in_place::write_in_place(real, bytes, previous, mode).map(|()| 0)
        }
        Err(err) => Err(Error::io("replace", real, err.error)),
    }
}

/// What became of a file since it was read.
enum Comparison {
    /// Same identity, length and bytes, or still missing when there was none.
    Same,
    /// The same file with these bytes added at its end, and nothing else changed.
    Appended(Vec<u8>),
    /// Anything else.
    Changed,
}

/// Compares `real` with `previous` followed by the `carried` bytes already taken over.
fn compare(real: &Path, previous: Option<&Snapshot>, carried: &[u8]) -> Result<Comparison> {
    let file = match open_for_check(real) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(if previous.is_none() {
                Comparison::Same
            } else {
                Comparison::Changed
            });
        }
        Err(e) => return Err(Error::io("read", real, e)),
    };
    let Some(prev) = previous else {
        return Ok(Comparison::Changed);
    };
    compare_file(&file, prev, carried).map_err(|e| Error::io("read", real, e))
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
    Ok(matches!(compare_file(file, prev, &[])?, Comparison::Same))
}

/// More than any password file grows by while one is rewritten: a bigger tail is not
/// taken over (the write is refused and the caller merges anew).
const MAX_TAIL: u64 = 1 << 20;

fn compare_file(file: &File, prev: &Snapshot, carried: &[u8]) -> io::Result<Comparison> {
    let meta = file.metadata()?;
    let expected = (prev.bytes.len() + carried.len()) as u64;
    if !meta.is_file() || (meta.dev(), meta.ino()) != prev.identity || meta.len() < expected {
        return Ok(Comparison::Changed);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0) + 1);
    io::Read::read_to_end(
        &mut io::Read::take(file, expected + MAX_TAIL + 1),
        &mut bytes,
    )?;
    let (Some(head), Some(tail)) = (bytes.get(..prev.bytes.len()), bytes.get(prev.bytes.len()..))
    else {
        return Ok(Comparison::Changed);
    };
    if head != prev.bytes || !tail.starts_with(carried) {
        return Ok(Comparison::Changed);
    }
    let new = &tail[carried.len()..];
    Ok(match new.len() as u64 {
        0 => Comparison::Same,
        n if n <= MAX_TAIL => Comparison::Appended(new.to_vec()),
        _ => Comparison::Changed,
    })
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
mod tests;
