//! AWS Signature Version 4, as far as AWS-sourced workload identity federation needs it:
//! a request without a body (`POST` to STS `GetCallerIdentity`), signed over its host,
//! its date, the session token and any extra headers, so that Google's STS can hand the
//! request to AWS and learn who signed it. HMAC-SHA256 and SHA-256 come from ring.

use ring::{digest, hmac};
use ureq::http::Uri;

use crate::secret::Secret;

/// The one algorithm SigV4 defines.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Ends every credential scope.
const TERMINATOR: &str = "aws4_request";

/// AWS credentials: an access key ID, its secret and, for temporary credentials (an
/// instance role's, or `AWS_SESSION_TOKEN`), a session token.
pub(crate) struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

/// A signed request: its URL, method and every header (`Authorization` first, then the
/// signed ones by name), as Google's STS wants them listed.
pub(crate) struct SignedRequest {
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
}

/// Signs a request without a body: `method` on `url` (which must be `https://`), at
/// `amz_date` (`YYYYMMDDTHHMMSSZ`, UTC), for `region`, with `extra` headers signed as
/// well. The service is the host's first label (`sts` for `sts.us-east-1.amazonaws.com`),
/// as Google's client libraries derive it.
pub(crate) fn sign(
    method: &str,
    url: &str,
    extra: &[(&str, &str)],
    credentials: &AwsCredentials,
    region: &str,
    amz_date: &str,
) -> Result<SignedRequest, &'static str> {
    let uri = signable(url)?;
    let host = uri.host().unwrap_or_default();
    let service = host.split('.').next().unwrap_or(host);
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), host.into()),
        ("x-amz-date".into(), amz_date.into()),
    ];
    if let Some(token) = &credentials.session_token {
        headers.push(("x-amz-security-token".into(), token.expose().into()));
    }
    for (name, value) in extra {
        headers.push((name.to_ascii_lowercase(), (*value).into()));
    }
    headers.sort();
    let authorization = authorization(
        method,
        uri.path(),
        uri.query().unwrap_or(""),
        &headers,
        credentials,
        &Scope {
            date: amz_date.get(..8).ok_or("bad date")?,
            region,
            service,
        },
        amz_date,
    );
    headers.insert(0, ("Authorization".into(), authorization));
    Ok(SignedRequest {
        url: url.to_string(),
        method: method.to_string(),
        headers,
    })
}

/// Checks that `url` can be signed: an `https://` URL with a host.
pub(crate) fn check_url(url: &str) -> Result<(), &'static str> {
    signable(url).map(drop)
}

fn signable(url: &str) -> Result<Uri, &'static str> {
    let uri: Uri = url.parse().map_err(|_| "it is not a URL")?;
    if uri.scheme_str() != Some("https") {
        return Err("it is not an https:// URL");
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("it names no host");
    }
    Ok(uri)
}

/// `date/region/service/aws4_request`.
struct Scope<'a> {
    date: &'a str,
    region: &'a str,
    service: &'a str,
}

impl Scope<'_> {
    fn text(&self) -> String {
        format!(
            "{}/{}/{}/{TERMINATOR}",
            self.date, self.region, self.service
        )
    }
}

/// The `Authorization` header for a bodiless request with `headers` (lower-case names,
/// sorted), every one of them signed.
fn authorization(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    credentials: &AwsCredentials,
    scope: &Scope<'_>,
    amz_date: &str,
) -> String {
    let signed: Vec<&str> = headers.iter().map(|(name, _)| name.as_str()).collect();
    let canonical = canonical_request(method, path, query, headers);
    let to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{}\n{}",
        scope.text(),
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let key = [scope.date, scope.region, scope.service, TERMINATOR]
        .iter()
        .fold(
            hmac::Key::new(
                hmac::HMAC_SHA256,
                format!("AWS4{}", credentials.secret_access_key.expose()).as_bytes(),
            ),
            |key, part| {
                hmac::Key::new(
                    hmac::HMAC_SHA256,
                    hmac::sign(&key, part.as_bytes()).as_ref(),
                )
            },
        );
    let signature = hex(hmac::sign(&key, to_sign.as_bytes()).as_ref());
    format!(
        "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={signature}",
        credentials.access_key_id,
        scope.text(),
        signed.join(";")
    )
}

/// The canonical request: method, path (`/` when empty), sorted canonical query, each
/// header as `name:value` with white space runs folded, the signed names, and the hash of
/// the empty body.
fn canonical_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let mut out = format!("{method}\n{path}\n{}\n", canonical_query(query));
    for (name, value) in headers {
        out.push_str(name);
        out.push(':');
        out.push_str(&value.split_whitespace().collect::<Vec<_>>().join(" "));
        out.push('\n');
    }
    let names: Vec<&str> = headers.iter().map(|(name, _)| name.as_str()).collect();
    out.push('\n');
    out.push_str(&names.join(";"));
    out.push('\n');
    out.push_str(&hex(digest::digest(&digest::SHA256, b"").as_ref()));
    out
}

/// Names and values decoded, encoded again leaving only unreserved characters as they
/// are, and sorted (by name, then value).
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_encode(&percent_decode(name)),
                percent_encode(&percent_decode(value)),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `%XX` for every byte but RFC 3986's unreserved characters (`A-Z a-z 0-9 - _ . ~`).
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Undoes `%XX` (and `+`, a space in a query); a malformed escape stays as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, byte) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fictitious key AWS's documentation and SigV4 test suite use.
    const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn credentials(secret: &str, token: Option<&str>) -> AwsCredentials {
        AwsCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new(secret),
            session_token: token.map(Secret::new),
        }
    }

    fn signature(authorization: &str) -> &str {
        authorization
            .rsplit_once("Signature=")
            .map_or("", |(_, signature)| signature)
    }

    /// AWS's SigV4 test suite (2015 edition): `get-vanilla`, `post-vanilla`,
    /// `get-vanilla-query-order-key-case`, all for service `service` in us-east-1.
    #[test]
    fn aws_test_suite_vectors() {
        let headers = vec![
            ("host".to_string(), "example.amazonaws.com".to_string()),
            ("x-amz-date".to_string(), "20150830T123600Z".to_string()),
        ];
        let scope = Scope {
            date: "20150830",
            region: "us-east-1",
            service: "service",
        };
        let creds = credentials(SUITE_SECRET, None);
        for (name, method, query, expected) in [
            (
                "get-vanilla",
                "GET",
                "",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                "post-vanilla",
                "POST",
                "",
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
            (
                "get-vanilla-query-order-key-case",
                "GET",
                "Param2=value2&Param1=value1",
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
        ] {
            let auth = authorization(
                method,
                "/",
                query,
                &headers,
                &creds,
                &scope,
                "20150830T123600Z",
            );
            assert_eq!(signature(&auth), expected, "{name}");
            assert!(
                auth.starts_with(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature="
                ),
                "{auth}"
            );
        }
        // The canonical request of get-vanilla, as the suite publishes it.
        assert_eq!(
            canonical_request("GET", "", "", &headers),
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// The signed `GetCallerIdentity` requests in Google's client library tests (AWS's
    /// fictitious credentials), without and with a session token.
    #[test]
    fn get_caller_identity_vectors() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let token = "AQoEXAMPLEH4aoAH0gNCAPyJxz4BlCFFxWNE1OPTgk5TthT+FvwqnKwRcOIfrRh3c/LTo6UDdyJwOOvEVPvLXCrrrUtdnniCEXAMPLE/IvU1dYUg2RVAJBanLiHb4IgRmpRV3zrkuWJOgQs8IZZaIv2BXIa2R4OlgkBN9bkUDNCJiBeb/AXlzBBko7b15fjrBs2+cTQtpZ3CYWFXG8C5zqx37wnOE49mRl/+OtkIKGO7fAE";
        let url = "https://sts.us-east-2.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15";
        for (session, expected, signed) in [
            (
                None,
                "9e722e5b7bfa163447e2a14df118b45ebd283c5aea72019bdf921d6e7dc01a9a",
                "host;x-amz-date",
            ),
            (
                Some(token),
                "596aa990b792d763465d73703e684ca273c45536c6d322c31be01a41d02e5b60",
                "host;x-amz-date;x-amz-security-token",
            ),
        ] {
            let creds = credentials(secret, session);
            let signed_request = sign("POST", url, &[], &creds, "us-east-2", "20200811T065522Z")
                .unwrap_or_else(|e| panic!("{e}"));
            let (name, auth) = &signed_request.headers[0];
            assert_eq!(name, "Authorization");
            assert_eq!(
                auth.as_str(),
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20200811/us-east-2/sts/aws4_request, SignedHeaders={signed}, Signature={expected}"
                )
            );
            let names: Vec<&str> = signed_request.headers[1..]
                .iter()
                .map(|(n, _)| n.as_str())
                .collect();
            assert_eq!(names.join(";"), signed);
            assert_eq!(signed_request.url, url);
        }
    }

    #[test]
    fn extra_headers_are_signed_and_bad_urls_refused() {
        let creds = credentials(SUITE_SECRET, None);
        let url = "https://sts.eu-west-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15";
        let signed = sign(
            "POST",
            url,
            &[("X-Goog-Cloud-Target-Resource", "//iam.googleapis.com/x")],
            &creds,
            "eu-west-1",
            "20200811T065522Z",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(signed.headers[0].1.contains(
            "/eu-west-1/sts/aws4_request, SignedHeaders=host;x-amz-date;x-goog-cloud-target-resource,"
        ));
        for bad in [
            "http://sts.eu-west-1.amazonaws.com?Action=GetCallerIdentity",
            "not a url",
            "/relative?x=1",
        ] {
            assert!(
                sign("POST", bad, &[], &creds, "eu-west-1", "20200811T065522Z").is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn queries_and_encoding() {
        assert_eq!(canonical_query("b=2&a=x%2Fy&a=1"), "a=1&a=x%2Fy&b=2");
        assert_eq!(canonical_query("a=b c&d=%7e"), "a=b%20c&d=~");
        assert_eq!(canonical_query(""), "");
        assert_eq!(
            percent_encode("{\"a\": \"/b+\"}"),
            "%7B%22a%22%3A%20%22%2Fb%2B%22%7D"
        );
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
