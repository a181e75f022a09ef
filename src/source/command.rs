//! The `command` source: any program that prints a token. It is the escape hatch for
//! custom token brokers and the seam the tests drive.
//!
//! Output is either a bare token, or JSON
//! `{"access_token": "…", "expires_in": N | "expiry": "RFC 3339", "principal": "e-mail"}`.
//! What the program does not say (expiry, principal) is asked of tokeninfo.

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use wait_timeout::ChildExt;

use super::{Context, MintedToken, TokenSource, check_token, tokeninfo};
use crate::error::{Error, Result};
use crate::secret::{Secret, redact};

/// Output beyond this is not a token; reading stops so a runaway program cannot fill memory.
const MAX_OUTPUT: u64 = 1 << 20;

pub struct CommandSource<'a> {
    argv: Vec<String>,
    timeout: Duration,
    ctx: &'a Context<'a>,
}

/// What the program printed, before tokeninfo filled the gaps.
#[derive(Debug)]
struct Printed {
    secret: Secret,
    expires_at: Option<Timestamp>,
    principal: Option<String>,
}

impl<'a> CommandSource<'a> {
    pub fn new(argv: Vec<String>, timeout: Duration, ctx: &'a Context<'a>) -> Self {
        CommandSource { argv, timeout, ctx }
    }

    fn program(&self) -> &str {
        self.argv.first().map_or("", String::as_str)
    }

    /// Runs the program with a deadline and returns its stdout.
    fn run(&self) -> Result<Vec<u8>> {
        let program = self.program();
        let mut child = Command::new(program)
            .args(&self.argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| {
                Error::Source(format!(
                    "cannot run token command {program:?}: {err}; check `credentials = {{ command = … }}` in the config"
                ))
            })?;
        // Drain both pipes on their own threads: a program that fills one pipe while
        // we wait on the other would otherwise deadlock with us.
        let stdout = child.stdout.take().map(drain);
        let stderr = child.stderr.take().map(drain);
        let status = match child.wait_timeout(self.timeout) {
            Ok(Some(status)) => status,
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::Source(format!(
                    "token command {program:?} did not finish within {}s and was stopped; raise `timeout` in its credentials or fix the program",
                    self.timeout.as_secs_f64()
                )));
            }
            Err(err) => {
                return Err(Error::Source(format!(
                    "cannot wait for token command {program:?}: {err}"
                )));
            }
        };
        let stdout = stdout.map(join_drain).unwrap_or_default();
        let stderr = stderr.map(join_drain).unwrap_or_default();
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
                format!("token command {program:?} {how} and printed nothing on stderr")
            } else {
                format!("token command {program:?} {how}: {err_text}")
            }));
        }
        Ok(stdout)
    }
}

impl TokenSource for CommandSource<'_> {
    fn mint(&self) -> Result<MintedToken> {
        let stdout = self.run()?;
        let origin = format!("token command {:?}", self.program());
        let printed = parse_output(&stdout, Timestamp::now(), &origin)?;
        let (expires_at, principal) = match (printed.expires_at, printed.principal) {
            (Some(expiry), principal) => (expiry, principal),
            (None, principal) => {
                log::debug!("{origin} gave no expiry; asking tokeninfo");
                let info = tokeninfo::lookup(self.ctx.http, self.ctx.endpoints, &printed.secret)?;
                (info.expires_at, principal.or(info.email))
            }
        };
        if expires_at <= Timestamp::now() {
            return Err(Error::Source(format!(
                "{origin} returned a token that has already expired (at {expires_at})"
            )));
        }
        Ok(MintedToken {
            secret: printed.secret,
            expires_at,
            principal,
        })
    }
}

fn drain<R: Read + Send + 'static>(reader: R) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = reader.take(MAX_OUTPUT).read_to_end(&mut buf);
        buf
    })
}

fn join_drain(handle: thread::JoinHandle<Vec<u8>>) -> Vec<u8> {
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

/// Parses the program's stdout: JSON when it starts with `{`, else one bare token.
fn parse_output(stdout: &[u8], now: Timestamp, origin: &str) -> Result<Printed> {
    let text = std::str::from_utf8(stdout)
        .map_err(|_| Error::Source(format!("{origin} printed bytes that are not UTF-8")))?
        .trim();
    if !text.starts_with('{') {
        check_token(text, origin)?;
        return Ok(Printed {
            secret: Secret::new(text),
            expires_at: None,
            principal: None,
        });
    }
    // Errors below never quote the JSON: it holds the token.
    let value: serde_json::Value = serde_json::from_str(text).map_err(|err| {
        Error::Source(format!(
            "{origin} printed invalid JSON (line {}, column {})",
            err.line(),
            err.column()
        ))
    })?;
    let token = value
        .get("access_token")
        .and_then(|v| v.as_str())
        .ok_or_else(|| {
            Error::Source(format!(
                "{origin} printed JSON without a string \"access_token\""
            ))
        })?;
    check_token(token, origin)?;
    let expires_at = match (value.get("expires_in"), value.get("expiry")) {
        (Some(secs), _) => {
            let secs = secs
                .as_f64()
                .or_else(|| secs.as_str().and_then(|s| s.parse().ok()))
                .filter(|s| s.is_finite())
                .ok_or_else(|| {
                    Error::Source(format!(
                        "{origin} printed an \"expires_in\" that is not a number"
                    ))
                })?;
            let secs = SignedDuration::try_from_secs_f64(secs).map_err(|_| {
                Error::Source(format!("{origin} printed an out-of-range \"expires_in\""))
            })?;
            Some(now.checked_add(secs).map_err(|_| {
                Error::Source(format!("{origin} printed an out-of-range \"expires_in\""))
            })?)
        }
        (None, Some(expiry)) => {
            let text = expiry.as_str().ok_or_else(|| {
                Error::Source(format!(
                    "{origin} printed an \"expiry\" that is not a string"
                ))
            })?;
            Some(text.parse::<Timestamp>().map_err(|_| {
                Error::Source(format!(
                    "{origin} printed \"expiry\": {text:?}, which is not an RFC 3339 time such as \"2026-11-29T01:02:03Z\""
                ))
            })?)
        }
        (None, None) => None,
    };
    let principal = match value.get("principal") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(p))
            if p.contains('@') && !p.contains(char::is_whitespace) =>
        {
            Some(p.clone())
        }
        Some(_) => {
            return Err(Error::Source(format!(
                "{origin} printed a \"principal\" that is not an e-mail address"
            )));
        }
    };
    Ok(Printed {
        secret: Secret::new(token),
        expires_at,
        principal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn ok(out: &str) -> Printed {
        parse_output(out.as_bytes(), now(), "test").unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(out: &str) -> String {
        match parse_output(out.as_bytes(), now(), "test") {
            Ok(p) => panic!("accepted: {p:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bare_token_with_trailing_newline_and_padding() {
        let p = ok("ya29.abc-def_123....\n");
        assert_eq!(p.secret.expose(), "ya29.abc-def_123....");
        assert!(p.expires_at.is_none() && p.principal.is_none());
    }

    #[test]
    fn json_with_expires_in_and_principal() {
        let p = ok(
            r#"{"access_token":"tok","expires_in":3599,"principal":"a@b.iam.gserviceaccount.com"}"#,
        );
        assert_eq!(p.secret.expose(), "tok");
        assert_eq!(p.expires_at.map(|t| t.as_second()), Some(1_800_003_599));
        assert_eq!(p.principal.as_deref(), Some("a@b.iam.gserviceaccount.com"));
    }

    #[test]
    fn json_with_rfc3339_expiry() {
        let p = ok(r#"{"access_token":"tok","expiry":"2027-01-15T08:00:00+01:00"}"#);
        assert_eq!(
            p.expires_at.map(|t| t.to_string()).as_deref(),
            Some("2027-01-15T07:00:00Z")
        );
    }

    #[test]
    fn rejects_bad_tokens_without_echoing_them() {
        assert!(err("").contains("empty"));
        assert!(err("two words").contains("white space"));
        let e = err(r#"{"access_token":"secret-value","expires_in":"soon"}"#);
        assert!(
            e.contains("not a number") && !e.contains("secret-value"),
            "{e}"
        );
        let e = err(r#"{"access_token":"secret-value", broken"#);
        assert!(
            e.contains("invalid JSON") && !e.contains("secret-value"),
            "{e}"
        );
        assert!(err(r#"{"token":"x"}"#).contains("access_token"));
        assert!(err(r#"{"access_token":"x","expiry":"tomorrow"}"#).contains("RFC 3339"));
        assert!(err(r#"{"access_token":"x","principal":"nobody"}"#).contains("e-mail"));
        assert!(err("tok\u{7}en").contains("control") || err("tok\u{7}en").contains("white"));
    }
}
