//! `GET /stats`: counters for tests and the demo, outside Google's API.
//!
//! Not subject to injected failures or delays, so a test can watch the fake
//! while it is misbehaving on purpose.

use serde_json::json;

use crate::http::{Request, Response};
use crate::state::State;

/// Tokens minted, and requests per route name.
pub(crate) fn handle(state: &State, _request: &Request) -> Result<Response, Response> {
    let answer = json!({"minted": state.minted(), "requests": state.all_hits()});
    Ok(Response::json(200, &answer))
}
