//! What the pages say beyond the command-line definition, in the markup of
//! [`crate::markup`]: `code` in backticks, *terms* in asterisks.
//!
//! Keep it true: every statement here describes the code as it is (the configuration's
//! keys and limits are in src/config/, the files' formats in crates/libpq-files). The
//! tests check what can be checked mechanically: that every option and command named
//! here exists, and that the configuration page names every key.

pub mod commands;
pub mod config;
pub mod program;

/// PostgreSQL's own pages, for the SEE ALSO of pages about libpq's files.
pub const SEE_ALSO_LIBPQ: &[(&str, &str)] = &[("psql", "1"), ("pg_dump", "1")];
