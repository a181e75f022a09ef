//! HTTP endpoint handlers, one module per emulated service, and [`ROUTES`],
//! the table the server dispatches on; handlers share state only through
//! [`crate::state::State`].

pub(crate) mod alloydb;
pub(crate) mod aws_metadata;
pub(crate) mod cloudsql;
pub(crate) mod google_api;
pub(crate) mod iam;
pub(crate) mod metadata;
pub(crate) mod mint;
pub(crate) mod oauth2;
pub(crate) mod stats;
pub(crate) mod sts;
pub(crate) mod tokeninfo;

use crate::http::Route;
use crate::instances;

/// Every endpoint: the first route whose method and path match answers.
/// The names are those `FakeGoogle::hits` counts under (README.md lists them).
pub(crate) const ROUTES: &[Route] = &[
    Route("mint", "POST", |p| p == "/mint", mint::mint),
    Route("tokeninfo", "GET", |p| p == "/tokeninfo", tokeninfo::handle),
    Route(
        "tokeninfo",
        "POST",
        |p| p == "/tokeninfo",
        tokeninfo::handle,
    ),
    Route("stats", "GET", |p| p == "/stats", stats::handle),
    Route("token", "POST", |p| p == "/token", oauth2::handle),
    Route(
        "metadata_token",
        "GET",
        |p| metadata::account_segment(p, "token").is_some(),
        metadata::token,
    ),
    Route(
        "metadata_email",
        "GET",
        |p| metadata::account_segment(p, "email").is_some(),
        metadata::email,
    ),
    Route(
        "metadata",
        "GET",
        |p| p.starts_with("/computeMetadata/"),
        metadata::other,
    ),
    Route(
        "generate_access_token",
        "POST",
        |p| p.starts_with(iam::PREFIX),
        iam::generate,
    ),
    Route("sts_token", "POST", |p| p == "/v1/token", sts::handle),
    Route(
        "alloydb_get_instance",
        "GET",
        |p| alloydb::instance_name(p).is_some(),
        alloydb::get_instance,
    ),
    Route(
        "cloudsql_connect_settings",
        "GET",
        |p| matches!(cloudsql::parse(p), Some((_, _, true))),
        cloudsql::connect_settings,
    ),
    Route(
        "cloudsql_get_instance",
        "GET",
        |p| matches!(cloudsql::parse(p), Some((_, _, false))),
        cloudsql::get_instance,
    ),
    Route(
        "alloydb_list_instances",
        "GET",
        |p| instances::alloydb_list_scope(p).is_some(),
        instances::list_alloydb,
    ),
    Route(
        "cloudsql_list_instances",
        "GET",
        |p| instances::cloudsql_list_project(p).is_some(),
        instances::list_cloudsql,
    ),
    Route(
        "aws_imds_token",
        "PUT",
        |p| p == aws_metadata::TOKEN_PATH,
        aws_metadata::session_token,
    ),
    Route(
        "aws_metadata",
        "GET",
        |p| p.starts_with("/latest/meta-data/"),
        aws_metadata::metadata,
    ),
];
