//! What the process does for itself at start-up: no core dumps and no ptrace by the
//! same user (it holds tokens, client secrets and refresh tokens in memory), and the
//! programs it runs stopped with it when it is told to stop.

use signal_hook::consts::{SIGINT, SIGTERM};

/// Core dumps off (soft limit 0) and the process not dumpable, which on Linux also
/// keeps other processes of the same user from attaching with ptrace or reading its
/// memory through /proc. Failure is logged, never fatal: the tool works without.
///
/// Only the soft limit is lowered: not being dumpable is what stops a dump, and a hard
/// limit of 0 would be inherited by the program `exec` runs, which the user chose.
pub fn harden() {
    let limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: current_core_limit(),
    };
    // SAFETY: setrlimit(2) reads the struct passed by reference, nothing else.
    if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &limit) } != 0 {
        log::debug!(
            "cannot turn core dumps off: {}",
            std::io::Error::last_os_error()
        );
    }
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(2) with PR_SET_DUMPABLE takes an integer flag, no memory.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0) } != 0 {
        log::debug!(
            "cannot mark the process not dumpable: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn current_core_limit() -> libc::rlim_t {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes into the struct passed by reference.
    if unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut limit) } != 0 {
        return 0;
    }
    limit.rlim_max
}

/// On SIGTERM and SIGINT, kills the process group of every program running (see
/// `google_tokens::process::stop_all`); then, when `exit` is set, exits at once with
/// 128 + the signal, as the default action would have. A daemon that handles the
/// signals itself (`refresh --watch`) passes `false` and stops in its own time, no
/// longer waiting for a program.
///
/// Exiting from the handler loses nothing: files are only ever replaced by rename, the
/// kernel releases the locks, and a temp file left behind is swept by the next writer.
pub fn stop_programs_on_signals(exit: bool) {
    for signal in [SIGTERM, SIGINT] {
        let action = move || {
            google_tokens::process::stop_all();
            if exit {
                signal_hook::low_level::exit(128 + signal);
            }
        };
        // SAFETY: the action only reads atomics, calls kill(2) and _exit(2), all
        // async-signal-safe; it allocates nothing and takes no lock.
        if let Err(e) = unsafe { signal_hook::low_level::register(signal, action) } {
            log::debug!("cannot handle signal {signal}: {e}");
        }
    }
}
