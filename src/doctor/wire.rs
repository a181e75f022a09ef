//! PostgreSQL's first message, and TLS, without logging in.
//!
//! An open port proves only that something listens: a proxy, a web server or a stopped
//! instance's load balancer all accept TCP. The one message a PostgreSQL server answers
//! before any login is the SSLRequest, with a single byte: `S` (it offers TLS) or `N`
//! (it does not). Where the service verifies the server, the TLS handshake is completed
//! against the CA file libpq would read; then the connection is closed. No startup
//! message is sent, so no sign-in is attempted and none counts against a quota.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Service;
use crate::refresh::Target;

use super::tls::{Verify, handshake};

/// How long the server may take to answer the SSLRequest, or any one step of the
/// handshake.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);

/// The SSLRequest: length 8, then the request code 80877103 (1234 << 16 | 5679).
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// The largest CA file read: a bundle of every public root is far smaller.
const MAX_CA_BYTES: u64 = 1 << 20;

/// Bytes of a foreign answer quoted in a message: enough to recognise `HTTP/1.1 400`.
const QUOTED_BYTES: usize = 24;

const CLOSED: &str = "it closed the connection without answering";

/// What the other end said to the SSLRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `S`: a PostgreSQL server that will speak TLS next.
    Tls,
    /// `N`: a PostgreSQL server without TLS.
    Plain,
    /// Anything else: what happened instead, as a phrase.
    NotPostgres(String),
}

/// Sends the SSLRequest on `stream` and reads the answer byte. With a one-byte answer,
/// the stream is then positioned for the TLS handshake (after `S`).
pub fn ssl_request(stream: &mut (impl Read + Write)) -> Answer {
    if let Err(e) = stream.write_all(&SSL_REQUEST).and_then(|()| stream.flush()) {
        return Answer::NotPostgres(match e.kind() {
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => CLOSED.into(),
            _ => format!("the connection failed when written to ({e})"),
        });
    }
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => Answer::NotPostgres(CLOSED.into()),
        // A peer that closed before reading the request resets the connection instead.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
            ) =>
        {
            Answer::NotPostgres(CLOSED.into())
        }
        Ok(_) if byte[0] == b'S' => Answer::Tls,
        Ok(_) if byte[0] == b'N' => Answer::Plain,
        Ok(_) => {
            // Not PostgreSQL: whatever follows is quoted so the user can tell what it is.
            let mut rest = [0u8; QUOTED_BYTES];
            let more = stream.read(&mut rest[1..]).unwrap_or(0);
            rest[0] = byte[0];
            Answer::NotPostgres(format!("it answered \"{}\"", quote(&rest[..=more])))
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Answer::NotPostgres(format!(
                "it sent nothing within {} s",
                ANSWER_TIMEOUT.as_secs()
            ))
        }
        Err(e) => Answer::NotPostgres(format!("the connection failed ({e})")),
    }
}

/// Printable ASCII as is, everything else as `\xNN`; stops at the first line break.
fn quote(bytes: &[u8]) -> String {
    let line = bytes
        .split(|b| *b == b'\r' || *b == b'\n')
        .next()
        .unwrap_or(bytes);
    line.iter()
        .map(|&b| match b {
            b'"' | b'\\' => format!("\\{}", b as char),
            0x20..=0x7e => (b as char).to_string(),
            _ => format!("\\x{b:02x}"),
        })
        .collect()
}

/// What a service's connection asks of the server's TLS: libpq's `sslmode` and
/// `sslrootcert`, from the service's own keywords or its instance's resolution.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tls {
    pub mode: String,
    pub rootcert: Option<String>,
}

impl Tls {
    /// The effective settings of `service` connecting to `target`; libpq's default
    /// `sslmode` is `prefer`.
    pub fn of(service: &Service, target: &Target) -> Tls {
        let find = |key: &str| {
            service
                .keywords
                .iter()
                .find(|(k, _)| k.as_str() == key)
                .map(|(_, v)| v.as_str().to_string())
                .or_else(|| {
                    target
                        .keywords
                        .iter()
                        .find(|(k, _)| *k == key)
                        .map(|(_, v)| v.clone())
                })
        };
        Tls {
            mode: find("sslmode").unwrap_or_else(|| "prefer".to_string()),
            rootcert: find("sslrootcert"),
        }
    }

    pub fn required(&self) -> bool {
        matches!(self.mode.as_str(), "require" | "verify-ca" | "verify-full")
    }

    pub fn verify(&self) -> Option<Verify> {
        match self.mode.as_str() {
            "verify-ca" => Some(Verify::Ca),
            "verify-full" => Some(Verify::Full),
            _ => None,
        }
    }

    /// The CA file libpq reads for verification: `sslrootcert`, else
    /// `~/.postgresql/root.crt`. `None` for `sslrootcert=system` (the system's roots,
    /// which this check does not load).
    fn ca_file(&self) -> Option<PathBuf> {
        match self.rootcert.as_deref() {
            Some("system") => None,
            Some(path) => Some(PathBuf::from(path)),
            None => Some(
                dirs::home_dir()
                    .unwrap_or_default()
                    .join(".postgresql/root.crt"),
            ),
        }
    }
}

/// Reads the CA file `tls` names and completes the handshake on `stream`: the file
/// trusted, or the file (when known) and why the server is refused.
pub fn verified(
    stream: &mut (impl Read + Write),
    host: &str,
    tls: &Tls,
    verify: Verify,
) -> Result<PathBuf, (Option<PathBuf>, String)> {
    let Some(file) = tls.ca_file() else {
        return Err((
            None,
            "sslrootcert=system names the system's CAs, which this check does not load".into(),
        ));
    };
    let pem = read_ca(&file).map_err(|why| (Some(file.clone()), why))?;
    handshake(stream, host, &pem, verify).map_err(|why| (Some(file.clone()), why))?;
    Ok(file)
}

/// A CA file's bytes: a regular file of bounded size (a FIFO there must not hang doctor).
fn read_ca(file: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(file).map_err(|e| format!("it cannot be read ({e})"))?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    if meta.len() > MAX_CA_BYTES {
        return Err(format!("it is larger than {MAX_CA_BYTES} bytes"));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_CA_BYTES).read_to_end(&mut bytes))
        .map_err(|e| format!("it cannot be read ({e})"))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that yields `answer` and records what was written.
    struct Scripted {
        answer: io::Cursor<Vec<u8>>,
        written: Vec<u8>,
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.answer.read(buf)
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn answer_to(bytes: &[u8]) -> (Answer, Vec<u8>) {
        let mut s = Scripted {
            answer: io::Cursor::new(bytes.to_vec()),
            written: Vec::new(),
        };
        (ssl_request(&mut s), s.written)
    }

    #[test]
    fn the_ssl_request_is_eight_bytes_with_its_code() {
        let (_, written) = answer_to(b"S");
        assert_eq!(written.len(), 8);
        assert_eq!(
            u32::from_be_bytes([written[0], written[1], written[2], written[3]]),
            8
        );
        assert_eq!(
            u32::from_be_bytes([written[4], written[5], written[6], written[7]]),
            80877103
        );
    }

    #[test]
    fn only_s_and_n_are_postgresql() {
        assert_eq!(answer_to(b"S").0, Answer::Tls);
        assert_eq!(answer_to(b"N").0, Answer::Plain);
        assert_eq!(
            answer_to(b"").0,
            Answer::NotPostgres("it closed the connection without answering".into())
        );
        assert_eq!(
            answer_to(b"HTTP/1.1 400 Bad Request\r\n\r\n").0,
            Answer::NotPostgres("it answered \"HTTP/1.1 400 Bad Request\"".into())
        );
        assert_eq!(
            answer_to(&[0x15, 0x03, 0x01]).0,
            Answer::NotPostgres("it answered \"\\x15\\x03\\x01\"".into())
        );
    }

    #[test]
    fn a_ca_file_without_certificates_is_named_as_such() {
        let mut s = Scripted {
            answer: io::Cursor::new(Vec::new()),
            written: Vec::new(),
        };
        let err = handshake(&mut s, "localhost", b"not a pem", Verify::Ca);
        assert_eq!(err, Err("it holds no certificate".into()));
        assert!(
            s.written.is_empty(),
            "nothing is sent before the CA is usable"
        );
    }
}
