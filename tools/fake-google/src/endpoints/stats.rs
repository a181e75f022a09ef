//! `GET /stats`: counters for tests and the demo, outside Google's API.
//!
//! Not subject to injected failures or delays, so a test can watch the fake
//! while it is misbehaving on purpose.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::http::{Request, Response};
use crate::state::State;

#[derive(Serialize)]
struct Stats {
    minted: usize,
    tokeninfo_calls: usize,
    ldap_accepted: usize,
    ldap_rejected: usize,
    /// Requests per route name, for endpoints without a dedicated counter.
    requests: BTreeMap<&'static str, usize>,
}

pub(crate) fn handle(state: &State, _request: &Request) -> Result<Response, Response> {
    let (ldap_accepted, ldap_rejected) = state.ldap_binds();
    Ok(Response::json(
        200,
        &Stats {
            minted: state.minted(),
            tokeninfo_calls: state.hits("tokeninfo"),
            ldap_accepted,
            ldap_rejected,
            requests: state.all_hits(),
        },
    ))
}
