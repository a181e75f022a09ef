//! One lock per credential: what makes concurrent refreshers mint once without holding
//! the password file and the service file while they wait on the network. A refresher
//! takes the locks of the credentials it is about to mint for, then reads the files again
//! (without their locks): whoever held a lock before it has written its tokens by then,
//! and what it finds current it does not mint again. Refreshers of other credentials,
//! and readers of the files, never wait for it.
//!
//! The locks live beside the password file, not in the state directory: every writer of
//! one password file must see them, whichever state directory (or path to the file) it
//! uses. They are byte-range locks on one file, `.alloydb-cred.mint.lock`, one byte per
//! credential (at the offset of its tag), so no file is made per credential. They are
//! open-file-description locks where the system has them: independent of the `flock` on
//! the files' own lock file, and released when the descriptor closes, even on a crash.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libpq_files::Tag;

use crate::error::{Error, Result};
use crate::files::Files;

const NAME: &str = ".alloydb-cred.mint.lock";

/// The credential locks a run holds; dropping it releases them all.
pub struct CredentialLocks {
    _file: File,
}

/// Exclusive locks on every credential in `credentials` (by the tag entries carry for it)
/// for `files`, held until dropped. They are taken one by one in the tags' order, so two
/// refreshers sharing credentials cannot deadlock; and always before the files' locks,
/// never while holding them. `None` when there is nothing to lock.
pub fn take(
    files: &Files,
    credentials: &BTreeSet<Tag>,
    timeout: Duration,
) -> Result<Option<CredentialLocks>> {
    if credentials.is_empty() {
        return Ok(None);
    }
    let path = lock_path(&files.pgpass_real);
    let file = open(&path)?;
    let deadline = Instant::now() + timeout;
    for tag in credentials {
        acquire(&file, offset(tag), &path, deadline, timeout)?;
    }
    Ok(Some(CredentialLocks { _file: file }))
}

fn lock_path(pgpass_real: &Path) -> PathBuf {
    match pgpass_real.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(NAME),
        _ => PathBuf::from(NAME),
    }
}

/// A tag's byte: its 32-bit value (two credentials sharing one only wait for each other).
fn offset(tag: &Tag) -> libc::off_t {
    u32::from_str_radix(&tag.to_string(), 16).map_or(0, libc::off_t::from)
}

/// Opens (creating it private, never through a symlink) the lock file; anything but a
/// regular file there was put there by someone else.
fn open(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                Error::Runtime(format!(
                    "{} is a symbolic link; a lock file is never followed through one: remove the link",
                    path.display()
                ))
            } else {
                libpq_files::Error::io("create the lock file", path, e).into()
            }
        })?;
    let meta = file
        .metadata()
        .map_err(|e| libpq_files::Error::io("inspect", path, e))?;
    if !meta.is_file() {
        return Err(Error::Runtime(format!(
            "{} is not a regular file; move it away so alloydb-cred can use it as a lock",
            path.display()
        )));
    }
    Ok(file)
}

#[cfg(target_os = "linux")]
const SET_LOCK: libc::c_int = libc::F_OFD_SETLK;
#[cfg(not(target_os = "linux"))]
const SET_LOCK: libc::c_int = libc::F_SETLK;

/// Waits until `deadline` for the write lock on byte `at` of `file`.
fn acquire(
    file: &File,
    at: libc::off_t,
    path: &Path,
    deadline: Instant,
    timeout: Duration,
) -> Result<()> {
    let mut pause = Duration::from_millis(10);
    loop {
        // SAFETY: `flock` is plain data; all-zero is a valid value that is filled in below.
        let mut range: libc::flock = unsafe { std::mem::zeroed() };
        range.l_type = libc::F_WRLCK as _;
        range.l_whence = libc::SEEK_SET as _;
        range.l_start = at;
        range.l_len = 1;
        // SAFETY: fcntl on a descriptor `file` owns, with a pointer to a live `flock`.
        let done = unsafe { libc::fcntl(file.as_raw_fd(), SET_LOCK, &range) };
        if done == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        let busy = matches!(err.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES));
        if !busy {
            return Err(libpq_files::Error::io("lock", path, err).into());
        }
        if Instant::now() >= deadline {
            return Err(Error::Runtime(format!(
                "gave up after {timeout:?} waiting for the lock {}: another alloydb-cred is minting a token of the same credential for the same files, or is hung; check it, or raise `lock_timeout` in the config",
                path.display()
            )));
        }
        std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}
