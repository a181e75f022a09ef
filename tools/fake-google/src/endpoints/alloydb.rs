//! AlloyDB Admin API: `GET /v1/projects/{p}/locations/{l}/clusters/{c}/instances/{i}`,
//! shaped like `https://alloydb.googleapis.com`, answering the `Instance`
//! resource of an instance registered with
//! [`crate::FakeGoogle::add_alloydb_instance`].
//!
//! The caller needs a live token with the cloud-platform scope whose
//! principal was granted read access
//! ([`crate::FakeGoogle::grant_alloydb_viewer`]), checked before the
//! instance is looked up, as IAM does: without the grant even a missing
//! instance is a 403.

use crate::endpoints::google_api;
use crate::http::{Request, Response};
use crate::state::State;

/// `projects/P/locations/L/clusters/C/instances/I` from
/// `/v1/projects/P/locations/L/clusters/C/instances/I`.
pub(crate) fn instance_name(path: &str) -> Option<&str> {
    let name = path.strip_prefix("/v1/")?;
    let parts: Vec<&str> = name.split('/').collect();
    let shaped = parts.len() == 8
        && parts
            .iter()
            .step_by(2)
            .copied()
            .eq(["projects", "locations", "clusters", "instances"])
        && parts.iter().all(|p| !p.is_empty() && !p.contains(':'));
    shaped.then_some(name)
}

pub(crate) fn get_instance(state: &State, request: &Request) -> Result<Response, Response> {
    let name = instance_name(&request.path).unwrap_or("");
    let caller = google_api::authenticate(state, request, google_api::CLOUD_PLATFORM)?;
    let dir = state.directory();
    if !dir.alloydb_viewers.contains(&caller.principal) {
        return Err(google_api::permission_denied(
            "alloydb.instances.get",
            Some(&format!("//alloydb.googleapis.com/{name}")),
        ));
    }
    match dir.alloydb_instances.get(name) {
        Some(instance) => Ok(Response::json(200, &instance.resource(name))),
        None => Err(Response::google_error(
            404,
            "NOT_FOUND",
            &format!("Resource '{name}' was not found"),
            None,
        )),
    }
}
