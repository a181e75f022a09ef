//! Running a credential program (a token command, gcloud) with a deadline, without a
//! shell, and turning its failure into one sentence that carries its stderr.

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use wait_timeout::ChildExt;

use crate::error::{Error, Result};
use crate::secret::redact;

/// Output beyond this is not a token; reading stops so a runaway program cannot fill memory.
const MAX_OUTPUT: u64 = 1 << 20;

/// Runs `argv` and returns its stdout. `what` names the program's role in messages
/// ("token command", "gcloud"); `fix` says where it is configured.
pub fn run(argv: &[String], timeout: Duration, what: &str, fix: &str) -> Result<Vec<u8>> {
    let Some((program, args)) = argv.split_first() else {
        return Err(Error::Config(format!("{what}: no program given in {fix}")));
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
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
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Source(format!(
                "{what} {program:?} did not finish within {}s and was stopped; raise its `timeout` or fix the program",
                timeout.as_secs_f64()
            )));
        }
        Err(err) => {
            return Err(Error::Source(format!(
                "cannot wait for {what} {program:?}: {err}"
            )));
        }
    };
    let stdout = stdout.map(join).unwrap_or_default();
    let stderr = stderr.map(join).unwrap_or_default();
    if !status.success() {
        let out_text = String::from_utf8_lossy(&stdout);
        let known: Vec<&str> = out_text.split_whitespace().collect();
        let err_text = redact(String::from_utf8_lossy(&stderr).trim(), &known);
        let err_text = last_chars(&err_text, 600);
        let how = match status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "was killed by a signal".to_string(),
        };
        return Err(Error::Source(if err_text.is_empty() {
            format!("{what} {program:?} {how} and printed nothing on stderr")
        } else {
            format!("{what} {program:?} {how}: {err_text}")
        }));
    }
    Ok(stdout)
}

fn drain<R: Read + Send + 'static>(reader: R) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = reader.take(MAX_OUTPUT).read_to_end(&mut buf);
        buf
    })
}

fn join(handle: thread::JoinHandle<Vec<u8>>) -> Vec<u8> {
    handle.join().unwrap_or_default()
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
