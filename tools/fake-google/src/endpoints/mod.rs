//! HTTP endpoint handlers, one module per emulated service.
//!
//! Each module exposes `routes()`, which [`crate::http::default_router`]
//! collects; handlers share state only through [`crate::state::State`].

pub(crate) mod alloydb;
pub(crate) mod aws_metadata;
pub(crate) mod cloudsql;
pub(crate) mod gcloud;
pub(crate) mod google_api;
pub(crate) mod iam;
pub(crate) mod metadata;
pub(crate) mod mint;
pub(crate) mod oauth2;
pub(crate) mod stats;
pub(crate) mod sts;
pub(crate) mod tokeninfo;
