//! Cloud SQL Admin API, shaped like `https://sqladmin.googleapis.com`, for
//! instances registered with [`crate::FakeGoogle::add_cloudsql_instance`]:
//!
//! * `GET /v1/projects/{p}/instances/{i}/connectSettings`: the
//!   `ConnectSettings` resource connectors read (server CA, addresses,
//!   region, version, DNS names, CA mode); needs
//!   `cloudsql.instances.connect`;
//! * `GET /v1/projects/{p}/instances/{i}`: the `DatabaseInstance`, whose
//!   `settings.ipConfiguration.sslMode` (and legacy `requireSsl`) is the
//!   only place that says whether trusted client certificates are
//!   required; needs `cloudsql.instances.get`.
//!
//! Callers need a live token with the cloud-platform or sqlservice.admin
//! scope. Missing permissions get Cloud SQL's own 403 ("The client is not
//! authorized to make this request.", reason `notAuthorized`), whether or
//! not the instance exists; unknown instances then get its 404
//! (`instanceDoesNotExist`).

use serde_json::json;

use crate::directory::CLOUD_PLATFORM_SCOPE;
use crate::endpoints::google_api;
use crate::http::{Request, Response};
use crate::state::State;

/// The Cloud SQL Admin scope, which the API takes besides cloud-platform.
pub(crate) const SQLSERVICE_ADMIN_SCOPE: &str = "https://www.googleapis.com/auth/sqlservice.admin";
pub(crate) const SCOPES: &[&str] = &[CLOUD_PLATFORM_SCOPE, SQLSERVICE_ADMIN_SCOPE];
/// Permission `connectSettings` needs (in the Cloud SQL Client role).
pub(crate) const CONNECT: &str = "cloudsql.instances.connect";
/// Permission reading the instance needs (Cloud SQL Client and Viewer).
pub(crate) const GET: &str = "cloudsql.instances.get";

/// `(project, instance, is connectSettings)` of
/// `/v1/projects/{p}/instances/{i}[/connectSettings]`.
pub(crate) fn parse(path: &str) -> Option<(&str, &str, bool)> {
    let rest = path.strip_prefix("/v1/projects/")?;
    let (project, rest) = rest.split_once("/instances/")?;
    let (instance, connect) = match rest.strip_suffix("/connectSettings") {
        Some(instance) => (instance, true),
        None => (rest, false),
    };
    let segment = |s: &str| !s.is_empty() && !s.contains(['/', ':']);
    (segment(project) && segment(instance)).then_some((project, instance, connect))
}

/// Cloud SQL's error shape: the JSON API error plus the legacy `errors`
/// list whose `reason` discovery-based clients print.
fn sql_error(code: u16, status: &str, message: &str, reason: &str) -> Response {
    Response::json(
        code,
        &json!({"error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": status,
        }}),
    )
}

/// The refusal of a caller without the permission.
pub(crate) fn not_authorized() -> Response {
    sql_error(
        403,
        "PERMISSION_DENIED",
        "The client is not authorized to make this request.",
        "notAuthorized",
    )
}

/// Checks the caller and `permission`, then answers `answer(instance)`.
fn describe(
    state: &State,
    request: &Request,
    permission: &str,
    answer: impl FnOnce(&crate::instances::CloudSqlInstance, &str, &str) -> serde_json::Value,
) -> Result<Response, Response> {
    let (project, instance, _) = parse(&request.path).unwrap_or(("", "", false));
    let caller = google_api::authenticate(state, request, SCOPES)?;
    let dir = state.directory();
    if !dir
        .cloudsql_grants
        .contains(&(caller.principal.clone(), permission.to_owned()))
    {
        return Err(not_authorized());
    }
    match dir
        .cloudsql_instances
        .get(&(project.to_owned(), instance.to_owned()))
    {
        Some(found) => Ok(Response::json(200, &answer(found, project, instance))),
        None => Err(sql_error(
            404,
            "NOT_FOUND",
            "The Cloud SQL instance does not exist.",
            "instanceDoesNotExist",
        )),
    }
}

pub(crate) fn connect_settings(state: &State, request: &Request) -> Result<Response, Response> {
    describe(state, request, CONNECT, |i, _, _| i.connect_settings())
}

pub(crate) fn get_instance(state: &State, request: &Request) -> Result<Response, Response> {
    describe(state, request, GET, |i, p, n| i.resource(p, n))
}
