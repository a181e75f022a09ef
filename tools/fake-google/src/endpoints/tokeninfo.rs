//! `GET|POST /tokeninfo`, shaped like `https://oauth2.googleapis.com/tokeninfo`.
//!
//! Tools call tokeninfo to learn which principal a token belongs to (and so
//! which database user to log in as) and when it expires. Google answers
//! with every value as a JSON *string*, including `exp` and `expires_in`;
//! the fake does the same so clients that assume numbers fail here first.

use std::time::SystemTime;

use serde_json::json;

use crate::http::{Request, Response};
use crate::state::{State, unix_secs};

/// OAuth client the fake pretends issued every token. Real tokens carry the
/// issuing client's ID (for gcloud user tokens) or the service account's
/// numeric ID; nothing in this project interprets the value.
pub(crate) const FAKE_CLIENT_ID: &str = "000000000000-fakegoogle.apps.googleusercontent.com";

fn invalid() -> Response {
    Response::error(400, "invalid_token", "Invalid Value")
}

pub(crate) fn handle(state: &State, request: &Request) -> Result<Response, Response> {
    let params = request.params();
    let token = params.get("access_token").ok_or_else(invalid)?;
    let now = SystemTime::now();
    let record = state
        .lookup(token)
        .filter(|r| r.is_live_at(now))
        .ok_or_else(invalid)?;
    let mut info = json!({
        "azp": FAKE_CLIENT_ID,
        "aud": FAKE_CLIENT_ID,
        "scope": record.scopes.join(" "),
        "exp": unix_secs(record.expires_at).to_string(),
        "expires_in": record.remaining_secs_at(now).to_string(),
        "access_type": "online",
    });
    if record.email_in_tokeninfo {
        info["email"] = record.principal.into();
        info["email_verified"] = "true".into();
    }
    Ok(Response::json(200, &info))
}
