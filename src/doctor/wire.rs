//! PostgreSQL's first message, and TLS, without logging in.
//!
//! An open port proves only that something listens: a proxy, a web server or a stopped
//! instance's load balancer all accept TCP. The one message a PostgreSQL server answers
//! before any login is the SSLRequest, with a single byte: `S` (it offers TLS) or `N`
//! (it does not). Where the service verifies the server, the TLS handshake is completed
//! against the CA file libpq would read; then the connection is closed. No startup
//! message is sent, so no sign-in is attempted and none counts against a quota.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Service;
use crate::refresh::Target;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConnection, DigitallySignedStruct, RootCertStore};

/// How long the server may take to answer the SSLRequest, or any one step of the
/// handshake.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);

/// How long the whole TLS handshake may take: a server that sends a byte now and then
/// (each within [`ANSWER_TIMEOUT`]) must not hold doctor, or `add` after it, for ever.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

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

/// How the server's certificate is judged, as libpq's `sslmode` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// `verify-ca`: signed by a trusted CA; the name in it is not compared.
    Ca,
    /// `verify-full`: signed by a trusted CA and issued for the host connected to.
    Full,
}

/// Completes a TLS handshake on `stream` (after the server answered `S`), trusting the
/// certificates in `ca_pem`, then closes the session. The error is a phrase naming what
/// libpq would refuse.
pub fn handshake(
    stream: &mut (impl Read + Write),
    host: &str,
    ca_pem: &[u8],
    verify: Verify,
) -> Result<(), String> {
    let mut roots = RootCertStore::empty();
    let mut pinned = Vec::new();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert =
            cert.map_err(|e| format!("it holds something that is not a certificate ({e})"))?;
        pinned.push(cert.clone());
        roots
            .add(cert)
            .map_err(|e| format!("it holds a certificate that cannot be used as a CA ({e})"))?;
    }
    if roots.is_empty() {
        return Err("it holds no certificate".into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = Arc::new(roots);
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("no TLS version to offer ({e})"))?;
    let inner = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| format!("its certificates cannot be used ({e})"))?;
    let verifier = AsLibpq {
        inner,
        provider,
        pinned,
        check_name: verify == Verify::Full,
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // libpq sends an IP address or a name as it is; a host rustls cannot take is refused
    // here exactly as a certificate for it would be.
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| format!("{host} is neither a host name nor an address TLS can check"))?;
    let mut tls = ClientConnection::new(Arc::new(config), name)
        .map_err(|e| format!("the TLS session cannot start ({e})"))?;
    while tls.is_handshaking() {
        tls.complete_io(stream)
            .map_err(|e| handshake_error(&e, host))?;
    }
    tls.send_close_notify();
    let _ = tls.complete_io(stream);
    Ok(())
}

/// What a failed handshake means for libpq, in words.
fn handshake_error(e: &io::Error, host: &str) -> String {
    let cause = e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
    match cause {
        Some(rustls::Error::InvalidCertificate(why)) => match why {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                "the server's certificate is not signed by a CA in that file".into()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("the server's certificate is not issued for {host}")
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the server's certificate has expired".into()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet (is this machine's clock right?)".into()
            }
            CertificateError::BadEncoding => "the server's certificate cannot be read".into(),
            CertificateError::Revoked => "the server's certificate is revoked".into(),
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                "the server's certificate is not issued for a TLS server".into()
            }
            other => format!("the server's certificate is refused ({other:?})"),
        },
        Some(other) => format!("the TLS handshake failed ({other})"),
        None if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) =>
        {
            format!(
                "the TLS handshake did not finish in time ({} s for each answer, {} s in all)",
                ANSWER_TIMEOUT.as_secs(),
                HANDSHAKE_DEADLINE.as_secs()
            )
        }
        None => format!("the TLS handshake failed ({e})"),
    }
}

/// The server's certificate judged as libpq (OpenSSL) judges it, where that differs
/// from the web's rules:
/// - `verify-ca` (`check_name` off): the chain must lead to a trusted CA, but the name in
///   the certificate is not compared with the host (AlloyDB's certificates name the
///   instance, not its address);
/// - a certificate that is itself in the CA file (a self-signed server certificate, the
///   usual self-hosted setup) is trusted as it is, as OpenSSL trusts it, where webpki
///   refuses a CA certificate used as a server's; for `verify-full` its name must still
///   match the host.
#[derive(Debug)]
struct AsLibpq {
    inner: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
    pinned: Vec<CertificateDer<'static>>,
    check_name: bool,
}

impl ServerCertVerifier for AsLibpq {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|c| c.as_ref() == end_entity.as_ref())
        {
            if self.check_name {
                webpki::EndEntityCert::try_from(end_entity)
                    .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?
                    .verify_is_valid_for_subject_name(server_name)
                    .map_err(|_| {
                        rustls::Error::InvalidCertificate(CertificateError::NotValidForName)
                    })?;
            }
            return Ok(ServerCertVerified::assertion());
        }
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A TCP stream whose reads and writes together end at a deadline: each waits at most
/// [`ANSWER_TIMEOUT`] and never past the deadline, after which they fail as timed out.
pub struct Deadline<'a> {
    stream: &'a mut TcpStream,
    end: Instant,
}

impl<'a> Deadline<'a> {
    pub fn new(stream: &'a mut TcpStream, limit: Duration) -> Deadline<'a> {
        Deadline {
            stream,
            end: Instant::now() + limit,
        }
    }

    /// Sets the socket's timeouts to what is left, or fails when nothing is.
    fn arm(&mut self) -> io::Result<()> {
        let left = self.end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::from(io::ErrorKind::TimedOut));
        }
        let wait = Some(left.min(ANSWER_TIMEOUT));
        self.stream.set_read_timeout(wait)?;
        self.stream.set_write_timeout(wait)
    }
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        self.stream.read(buf)
    }
}

impl Write for Deadline<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        self.stream.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
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
