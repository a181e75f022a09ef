//! The EC2 instance metadata service (IMDS), as far as AWS-sourced
//! workload identity federation uses it, configured with
//! [`crate::FakeGoogle::set_aws_instance`]:
//!
//! * `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds`
//!   (1 to 21600) answers an IMDSv2 session token;
//! * `GET /latest/meta-data/placement/availability-zone`;
//! * `GET /latest/meta-data/iam/security-credentials/` answers the role
//!   name, and `.../security-credentials/{role}` its temporary credentials
//!   as JSON (`Code`, `LastUpdated`, `Type`, `AccessKeyId`,
//!   `SecretAccessKey`, `Token`, `Expiration`).
//!
//! The real service sits at `http://169.254.169.254`; clients reach the
//! stand-in through the URLs in their credential file, which point at the
//! fake's HTTP server. A session token, when sent, must be one this server
//! issued and unexpired (401 otherwise); with `require_imdsv2` it must be
//! sent. Token requests carrying `X-Forwarded-For` are refused (403), as
//! the real service refuses them.

use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::aws::AwsInstanceMetadata;
use crate::http::{Request, Response};
use crate::state::{State, random_string, rfc3339_utc};

pub(crate) const TOKEN_PATH: &str = "/latest/api/token";
const CREDENTIALS_PREFIX: &str = "/latest/meta-data/iam/security-credentials/";
const TEXT: &str = "text/plain";
/// Longest session token lifetime IMDS grants: six hours.
const MAX_TTL: u64 = 21_600;
/// How long the role credentials are said to last.
const CREDENTIALS_LIFETIME: Duration = Duration::from_secs(6 * 3600);

fn unauthorized() -> Response {
    Response::text(401, TEXT, "")
}

fn not_found() -> Response {
    Response::text(
        404,
        "text/html",
        "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<html><head><title>404 - Not Found</title></head><body><h1>404 - Not Found</h1></body></html>\n",
    )
}

fn instance(state: &State) -> Result<AwsInstanceMetadata, Response> {
    state.directory().aws_instance.clone().ok_or_else(not_found)
}

pub(crate) fn session_token(state: &State, request: &Request) -> Result<Response, Response> {
    if request.header("x-forwarded-for").is_some() {
        return Err(Response::text(403, TEXT, ""));
    }
    let ttl = request
        .header("x-aws-ec2-metadata-token-ttl-seconds")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ttl| (1..=MAX_TTL).contains(ttl))
        .ok_or_else(|| Response::text(400, TEXT, ""))?;
    instance(state)?;
    let token = format!(
        "AQAEA{}==",
        random_string(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
            51
        )
    );
    state
        .directory()
        .imds_tokens
        .insert(token.clone(), SystemTime::now() + Duration::from_secs(ttl));
    Ok(Response::text(200, TEXT, token.clone())
        .with_header("X-aws-ec2-metadata-token-ttl-seconds", &ttl.to_string()))
}

pub(crate) fn metadata(state: &State, request: &Request) -> Result<Response, Response> {
    let instance = instance(state)?;
    match request.header("x-aws-ec2-metadata-token") {
        Some(token) => {
            let live = state
                .directory()
                .imds_tokens
                .get(token)
                .is_some_and(|expiry| *expiry > SystemTime::now());
            if !live {
                return Err(unauthorized());
            }
        }
        None if instance.require_imdsv2 => return Err(unauthorized()),
        None => {}
    }
    let zone = &instance.availability_zone;
    let text = |body: String| Ok(Response::text(200, TEXT, body));
    match request.path.as_str() {
        "/latest/meta-data/placement/availability-zone" => text(zone.clone()),
        "/latest/meta-data/iam/security-credentials"
        | "/latest/meta-data/iam/security-credentials/" => text(instance.role_name.clone()),
        path if path.strip_prefix(CREDENTIALS_PREFIX) == Some(instance.role_name.as_str()) => {
            let now = SystemTime::now();
            let credentials = &instance.credentials;
            Ok(Response::text(
                200,
                TEXT,
                json!({
                    "Code": "Success",
                    "LastUpdated": rfc3339_utc(now),
                    "Type": "AWS-HMAC",
                    "AccessKeyId": credentials.access_key_id,
                    "SecretAccessKey": credentials.secret_access_key,
                    "Token": credentials.session_token.clone().unwrap_or_default(),
                    "Expiration": rfc3339_utc(now + CREDENTIALS_LIFETIME),
                })
                .to_string(),
            ))
        }
        _ => Err(not_found()),
    }
}
