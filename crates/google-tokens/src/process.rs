//! The one way a program is run: a credential program (a token command, gcloud, the
//! command of an executable-sourced credential) and anything else the binary starts and
//! waits for (doctor's psql). Every program runs without a shell, in a process group of
//! its own, with a deadline, its output capped, and `PR_SET_PDEATHSIG` so that it dies
//! with us. While it runs its group is registered, so that [`stop_all`] (called from a
//! SIGTERM/SIGINT handler) can kill it. [`Program`] turns a failure into one sentence
//! that carries its stderr, redacted.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

use crate::error::{Error, Result};
use crate::secret::redact_excerpt;

/// Output beyond this is not a token; reading stops so a runaway program cannot fill memory.
pub const MAX_OUTPUT: u64 = 1 << 20;

/// Why [`run_bounded`] has no [`Finished`] to give.
#[derive(Debug)]
pub enum RunError {
    /// The program could not be started (`NotFound`: not on PATH).
    Spawn(io::Error),
    /// Waiting for it failed.
    Wait(io::Error),
    /// It did not finish within the deadline; its whole group was killed.
    TimedOut,
    /// It exited, but something it left behind held its output open past the deadline;
    /// the group was killed.
    OutputHeldOpen,
}

/// Runs `cmd` to its end, or kills its whole process group at `timeout`. stdin is
/// `/dev/null`, stdout and stderr are captured up to [`MAX_OUTPUT`] each. For callers
/// that want the raw outcome; credential programs go through [`Program`].
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> Result<Finished, RunError> {
    let deadline = Instant::now() + timeout;
    // SAFETY: getpid(2) cannot fail and touches no memory.
    let parent = unsafe { libc::getpid() };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a timeout or our SIGTERM stops whatever it
        // started too.
        .process_group(0);
    // SAFETY: the closure runs in the child between fork and exec and calls only
    // async-signal-safe functions (prctl, getppid, _exit), allocating nothing.
    unsafe {
        cmd.pre_exec(move || {
            die_with_parent(parent);
            Ok(())
        });
    }
    let (mut child, running) = spawn_registered(cmd)?;
    // Drain both pipes on their own threads: a program that fills one pipe while we
    // wait on the other would otherwise deadlock with us.
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let status = match child.wait_timeout(timeout) {
        Ok(Some(status)) => status,
        Ok(None) => {
            kill_group(child.id());
            let _ = child.wait();
            return Err(RunError::TimedOut);
        }
        Err(err) => {
            kill_group(child.id());
            let _ = child.wait();
            return Err(RunError::Wait(err));
        }
    };
    // The program has exited, but something it left in the background may still hold
    // the pipes open: wait for their end only until the deadline, then stop the group.
    let collect = |rx: Option<mpsc::Receiver<Vec<u8>>>| -> Result<Vec<u8>, RunError> {
        let Some(rx) = rx else {
            return Ok(Vec::new());
        };
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left.max(Duration::from_millis(100))) {
            Ok(bytes) => Ok(bytes),
            Err(_) => {
                kill_group(child.id());
                rx.recv_timeout(Duration::from_secs(1))
                    .map_err(|_| RunError::OutputHeldOpen)
            }
        }
    };
    let finished = Finished {
        code: status.code(),
        stdout: collect(stdout)?,
        stderr: collect(stderr)?,
    };
    drop(running);
    Ok(finished)
}

/// Starts `cmd` and registers its group for [`stop_all`], with no moment in between at
/// which a SIGTERM could miss it: between `spawn` returning and the registration, a
/// handler would find nothing to kill and the process would exit, leaving the program's
/// own children running (the parent-death signal reaches only the direct child). So this
/// thread blocks the signals for that moment (the kernel then hands them to another
/// thread, or holds them until the registration is done), and [`stop_all`] waits for any
/// registration in progress before it kills.
fn spawn_registered(cmd: &mut Command) -> Result<(std::process::Child, Running), RunError> {
    let _blocked = BlockedStopSignals::new();
    SPAWNING.fetch_add(1, Ordering::SeqCst);
    let spawned = cmd.spawn();
    let registered = spawned.map(|child| {
        let running = Running::register(child.id());
        (child, running)
    });
    SPAWNING.fetch_sub(1, Ordering::SeqCst);
    registered.map_err(RunError::Spawn)
}

/// How many threads are between starting a program and registering it.
static SPAWNING: AtomicI32 = AtomicI32::new(0);

/// SIGTERM and SIGINT blocked for the calling thread while it lives. The child does not
/// inherit the mask: the standard library resets it between fork and exec.
struct BlockedStopSignals(Option<libc::sigset_t>);

impl BlockedStopSignals {
    fn new() -> BlockedStopSignals {
        // SAFETY: sigemptyset/sigaddset/pthread_sigmask only write the sets passed by
        // reference, which live on this stack frame.
        unsafe {
            let mut block: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut block);
            libc::sigaddset(&mut block, libc::SIGTERM);
            libc::sigaddset(&mut block, libc::SIGINT);
            if libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old) == 0 {
                BlockedStopSignals(Some(old))
            } else {
                BlockedStopSignals(None)
            }
        }
    }
}

impl Drop for BlockedStopSignals {
    fn drop(&mut self) {
        if let Some(old) = self.0 {
            // SAFETY: restores the mask saved in `new`; reads only that set.
            unsafe {
                libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            }
        }
    }
}

/// In the child, before exec: SIGKILL when the thread that started it ends (and so
/// when this process dies, however it dies). If the parent is already gone, the signal
/// would never come: give up at once instead.
fn die_with_parent(parent: libc::pid_t) {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(2) with PR_SET_PDEATHSIG takes a signal number; getppid(2) and
    // _exit(2) cannot fail. All three are async-signal-safe.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != parent {
            libc::_exit(1);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = parent;
}

/// The process groups of programs running now, for [`stop_all`]. Fixed slots of
/// atomics, because a signal handler may read them: no lock, no allocation. More
/// programs than slots at once (far more than the parallelism any caller uses) are
/// still bounded by their deadlines, just not stopped by a signal.
static RUNNING: [AtomicI32; 64] = [const { AtomicI32::new(0) }; 64];

/// A program's slot in [`RUNNING`], freed when it has been waited for.
struct Running(Option<usize>);

impl Running {
    fn register(pid: u32) -> Running {
        let Ok(pid) = i32::try_from(pid) else {
            return Running(None);
        };
        let slot = RUNNING.iter().position(|slot| {
            slot.compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        });
        if slot.is_none() {
            log::debug!("more programs running than can be stopped by a signal");
        }
        Running(slot)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(slot) = self.0 {
            RUNNING[slot].store(0, Ordering::SeqCst);
        }
    }
}

/// SIGKILLs the process group of every program running now. Async-signal-safe (atomic
/// loads and kill(2) only): meant for a SIGTERM or SIGINT handler, after which the
/// process exits, or, under a loop that handles the signal itself, the waits return at
/// once with the programs killed.
pub fn stop_all() {
    // A program being started now is registered within moments; wait for that (2 s at
    // most, in 1 ms steps: nanosleep is async-signal-safe) so that it is killed too.
    for _ in 0..2000 {
        if SPAWNING.load(Ordering::SeqCst) == 0 {
            break;
        }
        let pause = libc::timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000,
        };
        // SAFETY: nanosleep(2) reads the timespec on this stack frame.
        unsafe {
            libc::nanosleep(&pause, std::ptr::null_mut());
        }
    }
    for slot in &RUNNING {
        let pgid = slot.load(Ordering::SeqCst);
        if pgid > 0 {
            // SAFETY: kill(2) with a negative pid signals that process group; no memory
            // is involved. The group is one of ours: its leader was started by us and
            // has not been waited for yet, so its id cannot have been reused.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

/// Runs `argv` and returns its stdout. `what` names the program's role in messages
/// ("token command", "gcloud"); `fix` says where it is configured.
pub fn run(argv: &[String], timeout: Duration, what: &str, fix: &str) -> Result<Vec<u8>> {
    Program {
        argv,
        env: &[],
        timeout,
        what,
        fix,
        timeout_setting: "its `timeout`",
    }
    .run()
}

/// A credential program to run: no shell, its own process group, a deadline.
pub struct Program<'a> {
    pub argv: &'a [String],
    /// Variables set for it on top of the environment it inherits.
    pub env: &'a [(&'a str, &'a str)],
    pub timeout: Duration,
    /// Its role in messages ("token command", "gcloud").
    pub what: &'a str,
    /// Where it is configured, for the message when it cannot be started.
    pub fix: &'a str,
    /// The setting to raise when it runs out of time.
    pub timeout_setting: &'a str,
}

/// How a program that ran to its end ended, and what it printed.
pub struct Finished {
    /// Its exit status, or `None` when a signal killed it.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl Program<'_> {
    /// Runs the program and returns its stdout, or an error carrying its stderr (redacted)
    /// when it fails.
    pub fn run(&self) -> Result<Vec<u8>> {
        let finished = self.finish()?;
        if finished.success() {
            return Ok(finished.stdout);
        }
        Err(self.failure(&finished))
    }

    /// The error for a program that ended unsuccessfully: its exit status and the end of
    /// its stderr, with anything like a secret (and every word of its stdout) redacted.
    pub fn failure(&self, finished: &Finished) -> Error {
        let program = self.program();
        let out_text = String::from_utf8_lossy(&finished.stdout);
        let known: Vec<&str> = out_text.split_whitespace().collect();
        let err_text = redact_excerpt(
            String::from_utf8_lossy(&finished.stderr).trim(),
            &known,
            600,
            true,
        );
        let how = match finished.code {
            Some(code) => format!("exited with status {code}"),
            None => "was killed by a signal".to_string(),
        };
        let what = self.what;
        Error::Source(if err_text.is_empty() {
            format!("{what} {program:?} {how} and printed nothing on stderr")
        } else {
            format!("{what} {program:?} {how}: {err_text}")
        })
    }

    fn program(&self) -> &str {
        self.argv.first().map_or("", String::as_str)
    }

    /// Runs the program to its end within the deadline: an error only when it cannot be
    /// started or does not finish in time.
    pub fn finish(&self) -> Result<Finished> {
        let (what, fix, timeout) = (self.what, self.fix, self.timeout);
        let Some((program, args)) = self.argv.split_first() else {
            return Err(Error::Config(format!("{what}: no program given in {fix}")));
        };
        let mut cmd = Command::new(program);
        cmd.args(args).envs(self.env.iter().copied());
        run_bounded(&mut cmd, timeout).map_err(|err| match err {
            RunError::Spawn(err) => {
                Error::Source(format!("cannot run {what} {program:?}: {err}; check {fix}"))
            }
            RunError::Wait(err) => {
                Error::Source(format!("cannot wait for {what} {program:?}: {err}"))
            }
            RunError::TimedOut => Error::Source(format!(
                "{what} {program:?} did not finish within {}s and was stopped; raise {} or fix the program",
                timeout.as_secs_f64(),
                self.timeout_setting
            )),
            RunError::OutputHeldOpen => Error::Source(format!(
                "{what} {program:?} exited but left a process holding its output open past the {}s timeout; make it close stdout and stderr",
                timeout.as_secs_f64()
            )),
        })
    }
}

/// Reads a pipe to its end on a thread of its own; the bytes arrive on the channel.
fn drain<R: Read + Send + 'static>(reader: R) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = reader.take(MAX_OUTPUT).read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// SIGKILL to the program's whole process group (its id: it leads the group).
fn kill_group(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is
    // involved. The group is ours: the child was started as its leader.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}
