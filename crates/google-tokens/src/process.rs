//! Running a credential program (a token command, gcloud, the command of an
//! executable-sourced credential) with a deadline, without a shell, and turning its
//! failure into one sentence that carries its stderr.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

use crate::error::{Error, Result};
use crate::secret::redact;

/// Output beyond this is not a token; reading stops so a runaway program cannot fill memory.
const MAX_OUTPUT: u64 = 1 << 20;

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
        let err_text = redact(String::from_utf8_lossy(&finished.stderr).trim(), &known);
        let err_text = last_chars(&err_text, 600);
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
        let deadline = Instant::now() + timeout;
        let mut child = Command::new(program)
            .args(args)
            .envs(self.env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that a timeout stops whatever it started too.
            .process_group(0)
            .spawn()
            .map_err(|err| {
                Error::Source(format!("cannot run {what} {program:?}: {err}; check {fix}"))
            })?;
        // Drain both pipes on their own threads: a program that fills one pipe while we
        // wait on the other would otherwise deadlock with us.
        let stdout = child.stdout.take().map(drain);
        let stderr = child.stderr.take().map(drain);
        let status = match child.wait_timeout(timeout) {
            Ok(Some(status)) => status,
            Ok(None) => {
                kill_group(child.id());
                let _ = child.wait();
                return Err(Error::Source(format!(
                    "{what} {program:?} did not finish within {}s and was stopped; raise {} or fix the program",
                    timeout.as_secs_f64(),
                    self.timeout_setting
                )));
            }
            Err(err) => {
                return Err(Error::Source(format!(
                    "cannot wait for {what} {program:?}: {err}"
                )));
            }
        };
        // The program has exited, but something it left in the background may still hold
        // the pipes open: wait for their end only until the deadline, then stop the group.
        let collect = |rx: Option<mpsc::Receiver<Vec<u8>>>| -> Result<Vec<u8>> {
            let Some(rx) = rx else {
                return Ok(Vec::new());
            };
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.max(Duration::from_millis(100))) {
                Ok(bytes) => Ok(bytes),
                Err(_) => {
                    kill_group(child.id());
                    rx.recv_timeout(Duration::from_secs(1)).map_err(|_| {
                        Error::Source(format!(
                            "{what} {program:?} exited but left a process holding its output open past the {}s timeout; make it close stdout and stderr",
                            timeout.as_secs_f64()
                        ))
                    })
                }
            }
        };
        Ok(Finished {
            code: status.code(),
            stdout: collect(stdout)?,
            stderr: collect(stderr)?,
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

fn last_chars(text: &str, n: usize) -> String {
    let count = text.chars().count();
    if count <= n {
        text.to_string()
    } else {
        let tail: String = text.chars().skip(count - n).collect();
        format!("…{tail}")
    }
}
