//! The TLS handshake doctor completes where a service verifies the server
//! (`verify-ca`, `verify-full`), judged as libpq judges it, and bounded in time.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConnection, DigitallySignedStruct, RootCertStore};

use super::wire::ANSWER_TIMEOUT;

/// How long the whole TLS handshake may take: a server that sends a byte now and then
/// (each within [`ANSWER_TIMEOUT`]) must not hold doctor, or `add` after it, for ever.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

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
