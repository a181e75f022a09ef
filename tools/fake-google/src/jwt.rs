//! The test key and the bits of JOSE the fake needs: decoding compact JWTs,
//! checking RS256 signatures and signing its own ID tokens.
//!
//! Every fake service account shares one throwaway RSA key
//! ([`TEST_SERVICE_ACCOUNT_KEY_PEM`]), so a key file handed out by
//! [`crate::FakeGoogle::add_service_account`] signs assertions that the
//! fake's `/token` endpoint can verify, exactly as Google verifies them with
//! the public half of the account's key.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, KeyPair as _, RsaKeyPair};
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;

/// The private key of every fake service account: a 2048-bit RSA key in
/// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), generated for these tests and
/// worthless anywhere else. It is the `private_key` of the key files the
/// fake hands out, and tests may use it to sign their own assertions.
pub const TEST_SERVICE_ACCOUNT_KEY_PEM: &str =
    include_str!("../testdata/test-service-account-key.pem");

/// The fixture key, parsed once.
fn key_pair() -> &'static RsaKeyPair {
    static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| {
        let der = PrivatePkcs8KeyDer::from_pem_slice(TEST_SERVICE_ACCOUNT_KEY_PEM.as_bytes())
            .expect("fixture key is PEM");
        RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).expect("fixture key is an RSA PKCS#8 key")
    })
}

/// Base64url without padding, as JWS uses.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWT taken apart. Nothing has been verified yet.
#[derive(Debug, Clone)]
pub(crate) struct DecodedJwt {
    pub header: serde_json::Map<String, Value>,
    pub claims: serde_json::Map<String, Value>,
    /// `base64url(header) "." base64url(claims)`: what the signature covers.
    pub signing_input: String,
    pub signature: Vec<u8>,
}

/// Splits and decodes `header.claims.signature`; `None` unless there are
/// exactly three unpadded base64url segments and the first two are JSON
/// objects.
pub(crate) fn decode(compact: &str) -> Option<DecodedJwt> {
    let mut parts = compact.split('.');
    let (header, claims, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let object = |segment: &str| -> Option<serde_json::Map<String, Value>> {
        let bytes = URL_SAFE_NO_PAD.decode(segment.as_bytes()).ok()?;
        match serde_json::from_slice(&bytes).ok()? {
            Value::Object(map) => Some(map),
            _ => None,
        }
    };
    Some(DecodedJwt {
        header: object(header)?,
        claims: object(claims)?,
        signing_input: format!("{header}.{claims}"),
        signature: URL_SAFE_NO_PAD.decode(signature.as_bytes()).ok()?,
    })
}

/// Whether `signature` is a valid RSASSA-PKCS1-v1_5 SHA-256 signature of
/// `message` by the fixture key.
pub(crate) fn verify_rs256(message: &[u8], signature: &[u8]) -> bool {
    let public = key_pair().public_key().as_ref();
    signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, public)
        .verify(message, signature)
        .is_ok()
}

/// A compact RS256 JWT of `header` (its `alg` is forced to RS256) and
/// `claims`, signed with the fixture key.
pub(crate) fn sign_rs256(header: &Value, claims: &Value) -> String {
    let mut header = header.clone();
    if let Value::Object(map) = &mut header {
        map.insert("alg".into(), "RS256".into());
    }
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let key = key_pair();
    let mut signature = vec![0u8; key.public().modulus_len()];
    // PKCS#1 v1.5 signing is deterministic and cannot fail for a buffer of
    // the modulus length; `rng` is only part of ring's general interface.
    match key.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    ) {
        Ok(()) => format!("{signing_input}.{}", b64url(&signature)),
        Err(_) => format!("{signing_input}."),
    }
}
