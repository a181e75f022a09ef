//! Extended attributes carried from a file to its replacement: POSIX ACLs
//! (`system.posix_acl_access`), SELinux labels (`security.selinux`) and the user's own
//! (`user.*`). A rename replaces the inode, and with it everything stored on it.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Copies every extended attribute of `from` (not following a symlink: the caller
/// resolved it) onto the open file `to`. One that cannot be set (a `trusted.*` one for
/// a user, a label the policy refuses) is logged and left out; the rest still go.
pub(super) fn copy(from: &Path, to: &File) -> io::Result<()> {
    let path = CString::new(from.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL"))?;
    let names = list(&path)?;
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let Ok(name) = CString::new(name) else {
            continue;
        };
        match get(&path, &name).and_then(|value| set(to, &name, &value)) {
            Ok(()) => {}
            Err(e) => log::debug!(
                "cannot carry {} of {} over to its replacement: {e}",
                name.to_string_lossy(),
                from.display()
            ),
        }
    }
    Ok(())
}

/// The names, NUL-separated. A file system without extended attributes has none.
fn list(path: &CStr) -> io::Result<Vec<u8>> {
    sized(|buf, len| {
        // SAFETY: llistxattr(2) writes at most `len` bytes into `buf` (or only returns
        // the size when `len` is 0) and reads the NUL-terminated path.
        unsafe { libc::llistxattr(path.as_ptr(), buf.cast(), len) }
    })
    .or_else(|e| match e.raw_os_error() {
        Some(libc::ENOTSUP) => Ok(Vec::new()),
        _ => Err(e),
    })
}

fn get(path: &CStr, name: &CStr) -> io::Result<Vec<u8>> {
    sized(|buf, len| {
        // SAFETY: as for llistxattr: at most `len` bytes into `buf`, NUL-terminated
        // path and name.
        unsafe { libc::lgetxattr(path.as_ptr(), name.as_ptr(), buf.cast(), len) }
    })
}

fn set(to: &File, name: &CStr, value: &[u8]) -> io::Result<()> {
    // SAFETY: fsetxattr(2) reads `value.len()` bytes of `value` and the NUL-terminated
    // name; the descriptor is open for as long as `to` lives.
    let done = unsafe {
        libc::fsetxattr(
            to.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Calls `call(buf, len)` the way the *xattr functions want: once for the size, then
/// with a buffer that large, again if it grew meanwhile.
fn sized(mut call: impl FnMut(*mut u8, usize) -> isize) -> io::Result<Vec<u8>> {
    for _ in 0..4 {
        let size = call(std::ptr::null_mut(), 0);
        let Ok(size) = usize::try_from(size) else {
            return Err(io::Error::last_os_error());
        };
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; size];
        let got = call(buf.as_mut_ptr(), buf.len());
        match usize::try_from(got) {
            Ok(got) => {
                buf.truncate(got);
                return Ok(buf);
            }
            Err(_) if io::Error::last_os_error().raw_os_error() == Some(libc::ERANGE) => {}
            Err(_) => return Err(io::Error::last_os_error()),
        }
    }
    Err(io::Error::other("extended attributes kept changing size"))
}
