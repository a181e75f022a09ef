//! AWS Signature Version 4, as far as workload identity federation uses it:
//! a client signs an STS `GetCallerIdentity` request with its AWS
//! credentials and hands Google the serialised request as its subject
//! token; Google (here, the fake STS) checks the signature.
//!
//! The fake keeps the secret keys, so it verifies by signing again with
//! [`signature`] and comparing. [`subject_token`] builds a token the way
//! Google's client libraries do, for the fake's own tests.

use std::time::SystemTime;

use ring::{digest, hmac};
#[cfg(test)]
use serde_json::{Value, json};

use crate::http::percent_encode;

/// The only algorithm SigV4 defines.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// `subject_token_type` of AWS subject tokens.
pub const AWS_TOKEN_TYPE: &str = "urn:ietf:params:aws:token-type:aws4_request";
/// The request workload identity federation signs, with `{region}` to
/// fill in.
pub const GET_CALLER_IDENTITY_URL: &str =
    "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15";

/// AWS credentials: an access key, its secret and, for temporary
/// credentials, a session token.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    /// E.g. `AKIAIOSFODNN7EXAMPLE` (or `ASIA...` for temporary ones).
    pub access_key_id: String,
    /// The secret the signature is keyed with.
    pub secret_access_key: String,
    /// Sent as `x-amz-security-token` with temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    // Secrets stay out of test output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("session_token", &self.session_token.as_ref().map(|_| "..."))
            .finish()
    }
}

/// What the EC2 instance metadata stand-in serves, set with
/// [`crate::FakeGoogle::set_aws_instance`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsInstanceMetadata {
    /// `placement/availability-zone`, e.g. `us-east-1b`; clients drop the
    /// last letter to get the region.
    pub availability_zone: String,
    /// The instance profile's role, listed by `iam/security-credentials/`.
    pub role_name: String,
    /// What `iam/security-credentials/{role}` hands out.
    pub credentials: AwsCredentials,
    /// Whether every request needs an IMDSv2 session token
    /// (`X-aws-ec2-metadata-token`), as with `HttpTokens=required`;
    /// otherwise it is checked only when sent.
    pub require_imdsv2: bool,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

fn hmac_sha256(key: &[u8], data: &str) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
}

/// The time an `x-amz-date` value stands for, if it is well formed.
pub(crate) fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let utc = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", text)
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()?;
    Some(SystemTime::from(utc.timestamp()))
}

/// The canonical query string: names and values decoded, re-encoded with
/// only unreserved characters left as they are, and sorted.
pub(crate) fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = crate::http::parse_urlencoded(query)
        .into_iter()
        .map(|(k, v)| (percent_encode(&k), percent_encode(&v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A header value as SigV4 canonicalises it: trimmed, inner runs of spaces
/// collapsed to one.
fn canonical_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical request of SigV4: `signed_headers` (lower-case, sorted)
/// are looked up in `headers` (names in any case; repeated headers are
/// joined with commas).
pub(crate) fn canonical_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    signed_headers: &[String],
    payload: &[u8],
) -> String {
    let mut canonical_headers = String::new();
    for name in signed_headers {
        let values: Vec<String> = headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| canonical_value(v))
            .collect();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let path = if path.is_empty() { "/" } else { path };
    format!(
        "{method}\n{path}\n{}\n{canonical_headers}\n{}\n{}",
        canonical_query(query),
        signed_headers.join(";"),
        sha256_hex(payload)
    )
}

/// The credential scope `DATE/REGION/SERVICE/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scope {
    pub date: String,
    pub region: String,
    pub service: String,
}

impl Scope {
    fn text(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// The hex signature of `canonical_request` made at `amz_date` in `scope`
/// with `secret`.
pub(crate) fn signature(
    secret: &str,
    amz_date: &str,
    scope: &Scope,
    canonical_request: &str,
) -> String {
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{}\n{}",
        scope.text(),
        sha256_hex(canonical_request.as_bytes())
    );
    let mut key = hmac_sha256(format!("AWS4{secret}").as_bytes(), &scope.date);
    for part in [
        scope.region.as_str(),
        scope.service.as_str(),
        "aws4_request",
    ] {
        key = hmac_sha256(key.as_ref(), part);
    }
    hex(hmac_sha256(key.as_ref(), &string_to_sign).as_ref())
}

/// A parsed `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authorization {
    pub access_key_id: String,
    pub scope: Scope,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

impl Authorization {
    pub fn parse(value: &str) -> Option<Authorization> {
        let rest = value.trim().strip_prefix(ALGORITHM)?.trim_start();
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let (name, value) = part.trim().split_once('=')?;
            match name {
                "Credential" => credential = Some(value),
                "SignedHeaders" => signed = Some(value),
                "Signature" => signature = Some(value),
                _ => return None,
            }
        }
        let mut credential = credential?.split('/');
        let access_key_id = credential.next()?.to_owned();
        let scope = Scope {
            date: credential.next()?.to_owned(),
            region: credential.next()?.to_owned(),
            service: credential.next()?.to_owned(),
        };
        if credential.next()? != "aws4_request" || credential.next().is_some() {
            return None;
        }
        let signed_headers: Vec<String> = signed?.split(';').map(str::to_owned).collect();
        let signature = signature?.to_owned();
        let well_formed = !access_key_id.is_empty()
            && signed_headers.iter().all(|h| !h.is_empty())
            && signature.len() == 64
            && signature.bytes().all(|b| b.is_ascii_hexdigit());
        well_formed.then_some(Authorization {
            access_key_id,
            scope,
            signed_headers,
            signature,
        })
    }
}

#[cfg(test)]
/// A subject token for STS, as Google's client libraries build it: the
/// `GetCallerIdentity` request for `region`, signed at `now` with
/// `credentials`, with a signed `x-goog-cloud-target-resource: audience`,
/// serialised as JSON and percent-encoded.
pub(crate) fn subject_token(
    credentials: &AwsCredentials,
    region: &str,
    audience: &str,
    now: SystemTime,
) -> String {
    let url = GET_CALLER_IDENTITY_URL.replace("{region}", region);
    let host = format!("sts.{region}.amazonaws.com");
    let date = crate::state::rfc3339_utc(now).replace(['-', ':'], "");
    let mut headers = vec![
        ("host".to_owned(), host),
        ("x-amz-date".to_owned(), date.clone()),
    ];
    if let Some(token) = &credentials.session_token {
        headers.push(("x-amz-security-token".to_owned(), token.clone()));
    }
    headers.push((
        "x-goog-cloud-target-resource".to_owned(),
        audience.to_owned(),
    ));
    let mut signed: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
    signed.sort();
    let scope = Scope {
        date: date[..8].to_owned(),
        region: region.to_owned(),
        service: "sts".to_owned(),
    };
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    let canonical = canonical_request("POST", "/", query, &headers, &signed, b"");
    let authorization = format!(
        "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={}",
        credentials.access_key_id,
        scope.text(),
        signed.join(";"),
        signature(&credentials.secret_access_key, &date, &scope, &canonical)
    );
    headers.push(("Authorization".to_owned(), authorization));
    let request: Value = json!({
        "url": url,
        "method": "POST",
        "headers": headers
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect::<Vec<_>>(),
    });
    percent_encode(&request.to_string())
}
