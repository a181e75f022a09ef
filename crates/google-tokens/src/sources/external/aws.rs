//! AWS-sourced credentials (`credential_source.environment_id = "aws1"`): the subject
//! token is a signed AWS STS `GetCallerIdentity` request, which Google's STS forwards to
//! AWS to learn the caller's AWS identity.
//!
//! As in Google's client libraries: the region comes from `AWS_REGION` or
//! `AWS_DEFAULT_REGION`, else from the instance metadata's availability zone; the
//! credentials from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, else
//! from the instance role; the metadata service is asked nothing when the environment
//! gives both, and with `imdsv2_session_token_url` every metadata request carries an
//! IMDSv2 session token. Every metadata answer is checked before use.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::sigv4::{self, AwsCredentials};
use crate::error::{Error, Result};
use crate::http::{Body, Http, Method, Request, is_instance_metadata_url};
use crate::secret::Secret;
use crate::untrusted::json_problem;

/// The only version of the AWS source there is.
const ENVIRONMENT_ID: &str = "aws1";
/// How long an IMDSv2 session token is asked for: it is used at once.
const SESSION_TTL_SECONDS: &str = "300";
/// AWS role credentials last at most this long (the longest role session); an answer
/// claiming more is not believed.
const MAX_ROLE_CREDENTIALS_LIFETIME: SignedDuration = SignedDuration::from_hours(12);
/// Longest IAM role name.
const MAX_ROLE_NAME: usize = 64;
/// AWS's own limits for access key IDs.
const ACCESS_KEY_ID_LENGTH: std::ops::RangeInclusive<usize> = 16..=128;
/// Longer answers are not session tokens or secrets.
const MAX_SECRET: usize = 8192;
const METADATA: &str = "the AWS instance metadata service";

/// What the credential file says about the AWS environment.
pub(super) struct AwsSource {
    region_url: Option<String>,
    /// `.../iam/security-credentials`: the role name, then `/{role}` its credentials.
    credentials_url: Option<String>,
    /// The `GetCallerIdentity` URL to sign, with `{region}` to fill in.
    verification_url: String,
    imdsv2_url: Option<String>,
}

/// The AWS part of a credential file's `credential_source`.
pub(super) struct AwsFields {
    pub environment_id: String,
    pub region_url: Option<String>,
    pub url: Option<String>,
    pub regional_cred_verification_url: Option<String>,
    pub imdsv2_session_token_url: Option<String>,
}

/// A subject token and the secrets it was made with, which no message may show.
pub(super) struct Signed {
    pub token: Secret,
    pub secrets: Vec<Secret>,
}

impl AwsSource {
    pub(super) fn new(fields: AwsFields, origin: &str) -> Result<AwsSource> {
        if fields.environment_id != ENVIRONMENT_ID {
            return Err(Error::Config(format!(
                "{origin}: credential_source.environment_id {:?} is not supported (only \"aws1\" is); create the file again with `gcloud iam workload-identity-pools create-cred-config --aws`",
                fields.environment_id
            )));
        }
        let verification_url = fields
            .regional_cred_verification_url
            .filter(|url| !url.is_empty())
            .ok_or_else(|| {
                Error::Config(format!(
                    "{origin}: an AWS credential_source needs regional_cred_verification_url; create the file again with `gcloud iam workload-identity-pools create-cred-config --aws`"
                ))
            })?;
        // Signed, never sent: it must be an https:// URL with a host to sign for.
        if let Err(why) = sigv4::check_url(&verification_url.replace("{region}", "us-east-1")) {
            return Err(Error::Config(format!(
                "{origin}: regional_cred_verification_url cannot be signed ({why}); create the file again with `gcloud iam workload-identity-pools create-cred-config --aws`"
            )));
        }
        let nonempty = |url: Option<String>| url.filter(|u| !u.is_empty());
        Ok(AwsSource {
            region_url: nonempty(fields.region_url),
            credentials_url: nonempty(fields.url),
            verification_url,
            imdsv2_url: nonempty(fields.imdsv2_session_token_url),
        })
    }

    /// The serialised, signed `GetCallerIdentity` request for `audience`, signed now.
    pub(super) fn subject_token(&self, http: &Http, audience: &str) -> Result<Signed> {
        let region = env_region()?;
        let credentials = env_credentials()?;
        let mut imds = Imds {
            http,
            session_url: self.imdsv2_url.as_deref(),
            session: None,
        };
        let region = match region {
            Some(region) => region,
            None => self.metadata_region(&mut imds)?,
        };
        let credentials = match credentials {
            Some(credentials) => credentials,
            None => self.role_credentials(&mut imds)?,
        };
        let url = self.verification_url.replace("{region}", &region);
        let now = crate::clock::now();
        let signed = sigv4::sign(
            "POST",
            &url,
            // Signed too, as Google recommends, so the request cannot be replayed against
            // another workload identity provider.
            &[("x-goog-cloud-target-resource", audience)],
            &credentials,
            &region,
            &amz_date(now),
        )
        .map_err(|why| {
            Error::Config(format!(
                "the credential file's regional_cred_verification_url cannot be signed: {why}"
            ))
        })?;
        let token = Secret::new(serialise(&signed));
        let mut secrets = vec![credentials.secret_access_key];
        secrets.extend(credentials.session_token);
        secrets.extend(imds.session);
        Ok(Signed { token, secrets })
    }

    /// The region from the availability zone the metadata service names (`us-east-2b`
    /// is in `us-east-2`).
    fn metadata_region(&self, imds: &mut Imds<'_>) -> Result<String> {
        let url = self.region_url.as_deref().ok_or_else(|| {
            Error::Config(
                "cannot tell the AWS region: AWS_REGION and AWS_DEFAULT_REGION are not set and the credential file has no region_url; set AWS_REGION".into(),
            )
        })?;
        let zone = imds.get(url, "the availability zone")?;
        zone.trim()
            .strip_suffix(|c: char| c.is_ascii_lowercase())
            .filter(|region| is_region(region))
            .map(str::to_string)
            .ok_or_else(|| {
                Error::Source(format!(
                    "{METADATA} at {url} answered something that is not an availability zone of an AWS region; nothing was sent (set AWS_REGION if this machine is in a Local Zone)"
                ))
            })
    }

    /// The instance role's temporary credentials: its name, then its credentials.
    fn role_credentials(&self, imds: &mut Imds<'_>) -> Result<AwsCredentials> {
        let base = self.credentials_url.as_deref().ok_or_else(|| {
            Error::Config(
                "no AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set and the credential file has no credential_source.url for the instance role; set them".into(),
            )
        })?;
        let base = base.trim_end_matches('/');
        let name = imds.get(base, "the instance role's name")?;
        let role = role_name(&name).ok_or_else(|| {
            Error::Source(format!(
                "{METADATA} at {base} answered something that is not one IAM role name (a single path segment of letters, digits and +=,.@_-); nothing was sent"
            ))
        })?;
        let url = format!("{base}/{role}");
        let answer = imds.get(&url, "the instance role's credentials")?;
        role_credentials(&answer, crate::clock::now()).map_err(|why| {
            Error::Source(format!(
                "{METADATA} at {url} answered role credentials that cannot be used ({why}); nothing was sent"
            ))
        })
    }
}

/// The instance metadata service, with an IMDSv2 session once one is needed.
struct Imds<'a> {
    http: &'a Http,
    session_url: Option<&'a str>,
    session: Option<Secret>,
}

impl Imds<'_> {
    /// The text answered at `url` (`what` names it), with the session token when the file
    /// names an IMDSv2 session token URL.
    fn get(&mut self, url: &str, what: &str) -> Result<String> {
        let session = self.session()?.cloned();
        let headers: Vec<(&str, &str)> = session
            .as_ref()
            .map(|token| ("X-aws-ec2-metadata-token", token.expose()))
            .into_iter()
            .collect();
        let answer = self.http.get_instance_metadata(METADATA, url, &headers)?;
        if answer.status != 200 {
            let hint = match answer.status {
                401 => "; the IMDSv2 session token was refused",
                404 => {
                    "; is this an EC2 instance with an instance profile (IAM role)? Elsewhere set AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                }
                _ => "",
            };
            return Err(Error::Source(format!(
                "{METADATA} at {url} answered HTTP {} when asked for {what}{hint}",
                answer.status
            )));
        }
        Ok(answer.body)
    }

    /// The IMDSv2 session token, asked for once (a PUT with its lifetime).
    fn session(&mut self) -> Result<Option<&Secret>> {
        let Some(url) = self.session_url else {
            return Ok(None);
        };
        if self.session.is_none() {
            let answer = self.http.send(&Request {
                what: METADATA,
                method: Method::Put,
                url,
                headers: &[("X-aws-ec2-metadata-token-ttl-seconds", SESSION_TTL_SECONDS)],
                body: Body::Empty,
                to_metadata_server: is_instance_metadata_url(url),
            })?;
            if answer.status != 200 {
                return Err(Error::Source(format!(
                    "{METADATA} at {url} answered HTTP {} when asked for an IMDSv2 session token",
                    answer.status
                )));
            }
            let token = answer.body.trim();
            if !is_secret_text(token) {
                return Err(Error::Source(format!(
                    "{METADATA} at {url} answered an IMDSv2 session token that is empty, too long or not printable text"
                )));
            }
            self.session = Some(Secret::new(token));
        }
        Ok(self.session.as_ref())
    }
}

/// A variable of the environment, when set and not empty.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `AWS_REGION`, else `AWS_DEFAULT_REGION`.
fn env_region() -> Result<Option<String>> {
    let found = env("AWS_REGION")
        .map(|region| ("AWS_REGION", region))
        .or_else(|| env("AWS_DEFAULT_REGION").map(|region| ("AWS_DEFAULT_REGION", region)));
    match found {
        Some((name, region)) if !is_region(&region) => Err(Error::Config(format!(
            "{name}={region:?} is not an AWS region name such as us-east-1"
        ))),
        found => Ok(found.map(|(_, region)| region)),
    }
}

/// Credentials from the environment, when both the key ID and the secret are set.
fn env_credentials() -> Result<Option<AwsCredentials>> {
    let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) else {
        return Ok(None);
    };
    credentials(id, secret, env("AWS_SESSION_TOKEN"))
        .map(Some)
        .map_err(|why| {
            Error::Config(format!(
                "the AWS credentials in the environment cannot be used: {why}"
            ))
        })
}

/// Checks credentials wherever they come from; the reason never quotes a value.
fn credentials(
    id: String,
    secret: String,
    token: Option<String>,
) -> std::result::Result<AwsCredentials, &'static str> {
    if !ACCESS_KEY_ID_LENGTH.contains(&id.len()) || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("the access key ID is not 16 to 128 letters and digits");
    }
    if !is_secret_text(&secret) {
        return Err("the secret access key is empty, too long or not printable text");
    }
    if token.as_deref().is_some_and(|t| !is_secret_text(t)) {
        return Err("the session token is too long or not printable text");
    }
    Ok(AwsCredentials {
        access_key_id: id,
        secret_access_key: Secret::new(secret),
        session_token: token.map(Secret::new),
    })
}

/// Non-empty printable ASCII without white space, of a sane length: what AWS's secrets,
/// session tokens and IMDSv2 tokens are, and what can go into a header.
fn is_secret_text(text: &str) -> bool {
    !text.is_empty() && text.len() <= MAX_SECRET && text.bytes().all(|b| b.is_ascii_graphic())
}

/// A plausible AWS region name: letter groups joined by `-`, ending in a number
/// (`us-east-1`, `us-gov-west-1`, `ap-southeast-4`, `eusc-de-east-1`).
fn is_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    text.len() <= 32
        && words.len() >= 2
        && words
            .iter()
            .all(|w| w.len() >= 2 && w.bytes().all(|b| b.is_ascii_lowercase()))
        && (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// The role name the metadata service answered, if it is one IAM role name: it becomes
/// a path segment of the next URL, so nothing that could leave that segment passes.
fn role_name(answer: &str) -> Option<&str> {
    let name = answer.trim();
    let ok = (1..=MAX_ROLE_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
        && !name.bytes().all(|b| b == b'.');
    ok.then_some(name)
}

/// `iam/security-credentials/{role}`'s answer.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoleCredentials {
    #[serde(default)]
    code: Option<String>,
    access_key_id: String,
    secret_access_key: String,
    token: String,
    expiration: String,
}

/// Checks the role credentials' answer: every field there, `Code` `Success`, and an
/// expiry in the future but no more than 12 hours ahead.
fn role_credentials(answer: &str, now: Timestamp) -> std::result::Result<AwsCredentials, String> {
    let parsed: RoleCredentials =
        serde_json::from_str(answer).map_err(|e| json_problem(&e, "it is not JSON"))?;
    if parsed.code.as_deref().is_some_and(|code| code != "Success") {
        return Err("its Code is not \"Success\"".into());
    }
    let expires: Timestamp = parsed
        .expiration
        .parse()
        .map_err(|_| "its Expiration is not an RFC 3339 time".to_string())?;
    if expires <= now {
        return Err(format!("they expired at {expires}"));
    }
    if expires.duration_since(now) > MAX_ROLE_CREDENTIALS_LIFETIME {
        return Err(format!(
            "they are said to be valid until {expires}, more than 12 hours ahead, which AWS role credentials never are"
        ));
    }
    credentials(
        parsed.access_key_id,
        parsed.secret_access_key,
        Some(parsed.token),
    )
    .map_err(str::to_string)
}

/// Google's serialisation of a signed request: the JSON
/// `{"url", "method", "headers": [{"key", "value"}…]}`, percent-encoded.
fn serialise(signed: &sigv4::SignedRequest) -> String {
    #[derive(Serialize)]
    struct Header<'a> {
        key: &'a str,
        value: &'a str,
    }
    #[derive(Serialize)]
    struct Request<'a> {
        url: &'a str,
        method: &'a str,
        headers: Vec<Header<'a>>,
    }
    let request = Request {
        url: &signed.url,
        method: &signed.method,
        headers: signed
            .headers
            .iter()
            .map(|(key, value)| Header { key, value })
            .collect(),
    };
    // Serialising strings into a Vec cannot fail.
    let json = serde_json::to_string(&request).unwrap_or_default();
    sigv4::percent_encode(&json)
}

/// SigV4's `x-amz-date`: basic ISO 8601 in UTC, whatever the local zone.
fn amz_date(at: Timestamp) -> String {
    at.strftime("%Y%m%dT%H%M%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        for good in [
            "us-east-1",
            "us-gov-west-1",
            "ap-southeast-4",
            "eusc-de-east-1",
            "cn-north-1",
        ] {
            assert!(is_region(good), "{good}");
        }
        for bad in [
            "",
            "us-east",
            "us-east-1a",
            "US-EAST-1",
            "us-west-2-lax-1",
            "us-east-1/../x",
            "us-east-123",
            "east-1",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }

    #[test]
    fn role_names_are_one_path_segment() {
        assert_eq!(role_name("ci-role\n"), Some("ci-role"));
        assert_eq!(role_name("a+b=c,d.e@f_g-h"), Some("a+b=c,d.e@f_g-h"));
        for bad in [
            "",
            "..",
            ".",
            "../../latest/api/token",
            "a/b",
            "a b",
            "a\nb",
            "a%2fb",
            "a?x=1",
            &"r".repeat(65),
        ] {
            assert_eq!(role_name(bad), None, "{bad:?}");
        }
    }

    fn answer(expiration: &str) -> String {
        format!(
            r#"{{"Code":"Success","LastUpdated":"2026-01-01T00:00:00Z","Type":"AWS-HMAC","AccessKeyId":"ASIAEXAMPLEEXAMPLE12","SecretAccessKey":"secret/key+VALUE","Token":"session-token-VALUE","Expiration":"{expiration}"}}"#
        )
    }

    #[test]
    fn role_credentials_are_checked_without_quoting_them() {
        let now: Timestamp = "2026-01-01T00:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let ok = role_credentials(&answer("2026-01-01T06:00:00Z"), now)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.access_key_id, "ASIAEXAMPLEEXAMPLE12");
        assert_eq!(ok.secret_access_key.expose(), "secret/key+VALUE");
        assert_eq!(
            ok.session_token.as_ref().map(Secret::expose),
            Some("session-token-VALUE")
        );
        let errors = [
            role_credentials(&answer("2066-01-01T00:00:00Z"), now),
            role_credentials(&answer("2025-12-31T23:00:00Z"), now),
            role_credentials(&answer("soon"), now),
            role_credentials(
                r#"{"AccessKeyId":"ASIAEXAMPLEEXAMPLE12","Token":"session-token-VALUE","Expiration":"2026-01-01T06:00:00Z"}"#,
                now,
            ),
            role_credentials(
                &answer("2026-01-01T06:00:00Z").replace("Success", "Failed"),
                now,
            ),
            role_credentials(
                &answer("2026-01-01T06:00:00Z").replace("ASIAEXAMPLEEXAMPLE12", "ASIA/../x"),
                now,
            ),
            role_credentials("<html>", now),
        ];
        let texts: Vec<String> = errors
            .into_iter()
            .map(|r| match r {
                Ok(_) => panic!("accepted"),
                Err(e) => e,
            })
            .collect();
        assert!(texts[0].contains("more than 12 hours"), "{}", texts[0]);
        assert!(texts[1].contains("expired"), "{}", texts[1]);
        assert!(texts[2].contains("RFC 3339"), "{}", texts[2]);
        assert!(
            texts[3].contains("missing field `SecretAccessKey`"),
            "{}",
            texts[3]
        );
        assert!(texts[4].contains("Code"), "{}", texts[4]);
        assert!(texts[5].contains("access key ID"), "{}", texts[5]);
        assert!(texts[6].contains("not JSON"), "{}", texts[6]);
        for text in &texts {
            assert!(!text.contains("VALUE"), "{text}");
        }
    }

    #[test]
    fn serialised_as_google_specifies() {
        let signed = sigv4::SignedRequest {
            url: "https://sts.us-east-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
                .into(),
            method: "POST".into(),
            headers: vec![
                (
                    "Authorization".into(),
                    "AWS4-HMAC-SHA256 Credential=A/x".into(),
                ),
                ("host".into(), "sts.us-east-1.amazonaws.com".into()),
            ],
        };
        let token = serialise(&signed);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"%-_.~".contains(&b))
        );
        assert!(
            token.starts_with("%7B%22url%22%3A%22https%3A%2F%2Fsts.us-east-1"),
            "{token}"
        );
        assert!(token.contains("%7B%22key%22%3A%22Authorization%22%2C%22value%22%3A%22AWS4-HMAC-SHA256%20Credential%3DA%2Fx%22%7D"), "{token}");
    }

    #[test]
    fn amz_dates_are_utc() {
        let t: Timestamp = "2020-08-11T08:55:22+02:00"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        assert_eq!(amz_date(t), "20200811T065522Z");
    }
}
