//! HTTP endpoint handlers, one module per emulated service.
//!
//! Each module exposes `routes()`, which [`crate::http::default_router`]
//! collects. A future module for, say, the metadata server adds its own
//! `routes()` with `PathMatch::Prefix("/computeMetadata/v1/")` and registers
//! it there; handlers share state only through [`crate::state::State`].

pub(crate) mod mint;
pub(crate) mod stats;
pub(crate) mod tokeninfo;
