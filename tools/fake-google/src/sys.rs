//! The handful of POSIX calls std does not expose, declared directly against
//! the C library std already links, so the crate needs no `libc` dependency.
//!
//! All of them are plain system calls that cannot violate memory safety,
//! which is why most are declared `safe`.

use std::ffi::c_int;
use std::io;

/// SIGQUIT: PostgreSQL's "immediate shutdown" request.
pub(crate) const SIGQUIT: c_int = 3;

unsafe extern "C" {
    pub(crate) safe fn geteuid() -> u32;
    safe fn kill(pid: i32, sig: c_int) -> c_int;
    safe fn flock(fd: c_int, operation: c_int) -> c_int;
    #[cfg(target_os = "linux")]
    safe fn getppid() -> i32;
    #[cfg(target_os = "linux")]
    fn prctl(option: c_int, ...) -> c_int;
}

/// Whether the process runs with root's effective uid, under which
/// PostgreSQL refuses to start.
pub(crate) fn is_root() -> bool {
    geteuid() == 0
}

/// Sends `sig` to process `pid`, if it still exists.
pub(crate) fn signal(pid: u32, sig: c_int) {
    if let Ok(pid) = i32::try_from(pid) {
        kill(pid, sig);
    }
}

/// Takes an exclusive `flock` on `file` without waiting; false when another open file
/// description holds one. The kernel lets go when the holder's last descriptor closes,
/// which includes the holding process dying however it dies, in whatever PID namespace.
pub(crate) fn try_lock(file: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    const LOCK_EX: c_int = 2;
    const LOCK_NB: c_int = 4;
    flock(file.as_raw_fd(), LOCK_EX | LOCK_NB) == 0
}

/// Arranges for the child spawned by `cmd` to receive `sig` when the thread
/// that spawns it ends, which includes the whole process dying, even by
/// SIGKILL. This is what keeps a PostgreSQL server from outliving a test run
/// that was killed. The hook runs after std has switched uid (a uid change
/// clears the setting, so the order matters).
#[cfg(target_os = "linux")]
pub(crate) fn die_with_spawning_thread(cmd: &mut std::process::Command, sig: c_int) {
    use std::os::unix::process::CommandExt;
    const PR_SET_PDEATHSIG: c_int = 1;
    let parent = i32::try_from(std::process::id()).unwrap_or(0);
    let hook = move || {
        // SAFETY: prctl(PR_SET_PDEATHSIG) only stores a signal number in the
        // calling process; it is async-signal-safe.
        if unsafe {
            prctl(
                PR_SET_PDEATHSIG,
                std::ffi::c_ulong::from(sig.unsigned_abs()),
            )
        } != 0
        {
            return Err(io::Error::last_os_error());
        }
        // The parent may have died between fork and prctl; then no signal
        // will ever come, so refuse to start instead. (ESRCH, built without
        // allocating: this runs between fork and exec.)
        if getppid() != parent {
            return Err(io::Error::from_raw_os_error(3));
        }
        Ok(())
    };
    // SAFETY: the hook only makes async-signal-safe calls and never
    // allocates.
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// Elsewhere there is no equivalent; the server is stopped on drop only.
#[cfg(not(target_os = "linux"))]
pub(crate) fn die_with_spawning_thread(_cmd: &mut std::process::Command, _sig: c_int) {}
