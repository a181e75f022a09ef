//! Throw-away certificates for testing TLS verification: a test
//! certificate authority ([`TestCa`]) and server certificates it signs
//! ([`ServerCert`]) for DNS names and IP addresses.
//!
//! Everything is generated at run time (ECDSA P-256), so no key ever sits in
//! the repository. Both types also write their PEM files into a private
//! temporary directory that lives as long as they do, because the programs
//! under test (libpq's `sslrootcert`, `SSL_CERT_FILE`, PostgreSQL's
//! `ssl_cert_file`) want paths.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};

/// Certificates are valid from this day...
const NOT_BEFORE: (i32, u8, u8) = (2020, 1, 1);
/// ...until this one, long enough for any test run and representable as
/// an X.509 UTCTime.
const NOT_AFTER: (i32, u8, u8) = (2049, 12, 31);

/// Distinct serial numbers within one process (and, by the time part,
/// across processes).
fn next_serial() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (seconds << 20) | (COUNTER.fetch_add(1, Ordering::Relaxed) & 0xF_FFFF)
}

fn tls_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("certificate generation failed: {e}"))
}

fn validity(params: &mut CertificateParams) {
    params.not_before = rcgen::date_time_ymd(NOT_BEFORE.0, NOT_BEFORE.1, NOT_BEFORE.2);
    params.not_after = rcgen::date_time_ymd(NOT_AFTER.0, NOT_AFTER.1, NOT_AFTER.2);
}

/// A test certificate authority. Its certificate is written to
/// [`TestCa::cert_path`], for `sslrootcert=` or `SSL_CERT_FILE=`.
pub struct TestCa {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
    cert_path: PathBuf,
    // Last, so the files go after everything else.
    _dir: tempfile::TempDir,
}

impl TestCa {
    /// A self-signed CA, `CN=<common_name>`.
    pub fn new(common_name: &str) -> io::Result<TestCa> {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(SerialNumber::from(next_serial()));
        validity(&mut params);
        let key = KeyPair::generate().map_err(tls_error)?;
        let cert = params.self_signed(&key).map_err(tls_error)?;
        let dir = tempfile::Builder::new()
            .prefix("fake-google-ca.")
            .tempdir()?;
        let cert_pem = cert.pem();
        let cert_path = dir.path().join("ca.pem");
        fs::write(&cert_path, &cert_pem)?;
        Ok(TestCa {
            cert_pem,
            issuer: Issuer::new(params, key),
            cert_path,
            _dir: dir,
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Path of a file holding [`TestCa::cert_pem`].
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// Issues a server certificate for `names`: DNS names (`localhost`,
    /// `db.example.test`) and IP address literals (`127.0.0.1`, `::1`).
    pub fn issue(&self, names: &[&str]) -> io::Result<ServerCert> {
        server_cert(names, Some(&self.issuer))
    }
}

/// A self-signed server certificate for `names` that is also a CA (basic constraints
/// `CA:TRUE`), as `openssl req -x509` makes one: the usual self-hosted setup, where the
/// certificate is its own `sslrootcert`.
pub fn self_signed(names: &[&str]) -> io::Result<ServerCert> {
    server_cert(names, None)
}

/// A certificate for `names`, all subject alternative names, the first also
/// the common name: signed by `issuer`, or else self-signed.
fn server_cert(
    names: &[&str],
    issuer: Option<&Issuer<'static, KeyPair>>,
) -> io::Result<ServerCert> {
    let owned: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(owned).map_err(tls_error)?;
    if let Some(first) = names.first() {
        params.distinguished_name.push(DnType::CommonName, *first);
    }
    params.serial_number = Some(SerialNumber::from(next_serial()));
    validity(&mut params);
    let key = KeyPair::generate().map_err(tls_error)?;
    let cert = match issuer {
        Some(issuer) => {
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            params.use_authority_key_identifier_extension = true;
            params.signed_by(&key, issuer)
        }
        None => {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.self_signed(&key)
        }
    }
    .map_err(tls_error)?;
    Ok(ServerCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().to_vec(),
        key_der: key.serialize_der(),
    })
}

/// A server certificate and its private key, signed by a [`TestCa`] (or by itself).
pub struct ServerCert {
    cert_pem: String,
    key_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl ServerCert {
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key, PKCS#8 PEM.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    pub(crate) fn server_config(&self) -> io::Result<Arc<rustls::ServerConfig>> {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(self.cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
            )
            .map_err(tls_error)?;
        Ok(Arc::new(config))
    }
}
