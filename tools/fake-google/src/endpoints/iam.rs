//! IAM Service Account Credentials:
//! `POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken`, shaped
//! like `https://iamcredentials.googleapis.com`.
//!
//! The caller is the principal of the `Authorization: Bearer` token, which
//! must be live and carry the cloud-platform or iam scope. The body is
//! `{"delegates": ["projects/-/serviceAccounts/EMAIL", ...], "scope": [...],
//! "lifetime": "3600s"}`; caller, delegates and target form a chain in which
//! each must hold "Service Account Token Creator" on the next (granted with
//! [`crate::FakeGoogle::grant_token_creator`]). Errors use the JSON API
//! shape `{"error": {"code", "message", "status", "details"}}`.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::directory::{CLOUD_PLATFORM_SCOPE, IAM_SCOPE};
use crate::endpoints::google_api;
use crate::http::{Request, Response};
use crate::state::{State, rfc3339_utc};

pub(crate) const PREFIX: &str = "/v1/projects/-/serviceAccounts/";
const VERB: &str = ":generateAccessToken";
const RESOURCE_PREFIX: &str = "projects/-/serviceAccounts/";
/// Longest lifetime without the organisation policy that allows 12 hours.
const MAX_LIFETIME: Duration = Duration::from_secs(3600);
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// `generateAccessToken` takes the cloud-platform or the iam scope.
const SCOPES: &[&str] = &[IAM_SCOPE, CLOUD_PLATFORM_SCOPE];

fn invalid_argument(message: &str) -> Response {
    Response::google_error(400, "INVALID_ARGUMENT", message, None)
}

fn generic_invalid() -> Response {
    invalid_argument("Request contains an invalid argument.")
}

pub(crate) fn generate(state: &State, request: &Request) -> Result<Response, Response> {
    let rest = request.path.strip_prefix(PREFIX).unwrap_or("");
    let Some(target) = rest
        .strip_suffix(VERB)
        .filter(|t| !t.is_empty() && !t.contains('/'))
    else {
        return Err(Response::google_error(
            404,
            "NOT_FOUND",
            &format!("The requested URL {} was not found.", request.path),
            None,
        ));
    };
    // Clients may send `%40` for `@`.
    let target = percent_encoding::percent_decode_str(target)
        .decode_utf8_lossy()
        .into_owned();

    // Authentication and scope, as Google's front end checks them first.
    let caller = google_api::authenticate(state, request, SCOPES)?;

    let body: Value = if request.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&request.body)
            .map_err(|_| invalid_argument("Invalid JSON payload received. Unexpected token."))?
    };
    let Some(fields) = body.as_object() else {
        return Err(invalid_argument(
            "Invalid JSON payload received. Expected an object.",
        ));
    };
    state.directory().last_generate_access_token_request = Some(json!({
        "caller": caller.principal,
        "target": target,
        "body": body,
    }));
    if let Some(unknown) = fields
        .keys()
        .find(|k| !matches!(k.as_str(), "delegates" | "scope" | "lifetime"))
    {
        return Err(invalid_argument(&format!(
            "Invalid JSON payload received. Unknown name \"{unknown}\": Cannot find field."
        )));
    }
    let scopes = string_list(fields, "scope")?;
    if scopes.is_empty() {
        return Err(generic_invalid());
    }
    let mut delegates = Vec::new();
    for delegate in string_list(fields, "delegates")? {
        match delegate.strip_prefix(RESOURCE_PREFIX) {
            Some(email) if !email.is_empty() && !email.contains('/') => {
                delegates.push(email.to_owned())
            }
            _ => return Err(generic_invalid()),
        }
    }
    let lifetime = match fields.get("lifetime") {
        None | Some(Value::Null) => DEFAULT_LIFETIME,
        Some(value) => {
            let text = value.as_str().unwrap_or("");
            let lifetime = parse_duration(text).ok_or_else(|| {
                invalid_argument(&format!(
                    "Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration), {value}"
                ))
            })?;
            if lifetime.is_zero() || lifetime > MAX_LIFETIME {
                return Err(generic_invalid());
            }
            lifetime
        }
    };

    // The caller, then each delegate, must hold Token Creator on the next.
    let chain: Vec<&String> = std::iter::once(&caller.principal)
        .chain(&delegates)
        .chain([&target])
        .collect();
    let allowed = chain.windows(2).all(|w| {
        let link = (w[0].clone(), w[1].clone());
        state.directory().token_creators.contains(&link)
    });
    if !allowed {
        return Err(google_api::permission_denied(
            "iam.serviceAccounts.getAccessToken",
            None,
        ));
    }

    let token = state.issue_service_token(&target, &scopes, lifetime);
    let expires_at = SystemTime::now() + lifetime;
    Ok(Response::json(
        200,
        &json!({
            "accessToken": token,
            "expireTime": rfc3339_utc(expires_at),
        }),
    ))
}

/// A repeated string field: absent or null is empty; anything but an array
/// of strings is refused the way Google's JSON parser refuses it.
fn string_list(
    fields: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Vec<String>, Response> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_owned).ok_or_else(|| {
                    invalid_argument(&format!("Invalid value at '{name}' (TYPE_STRING), {item}"))
                })
            })
            .collect(),
        Some(other) => Err(invalid_argument(&format!(
            "Invalid value at '{name}' (TYPE_STRING), {other}"
        ))),
    }
}

/// A `google.protobuf.Duration` in JSON form: seconds with up to nine
/// fractional digits and an `s` suffix (`"3600s"`, `"1.5s"`). Fractions
/// are truncated to whole seconds.
fn parse_duration(text: &str) -> Option<Duration> {
    let number = text.strip_suffix('s')?;
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 9 {
        return None;
    }
    whole.parse().ok().map(Duration::from_secs)
}
