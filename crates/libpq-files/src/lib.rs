//! libpq's password file (`~/.pgpass`) and connection service file (`~/.pg_service.conf`),
//! shared between a credential helper and the user who owns them.
//!
//! What this crate owns:
//! - reading both files by libpq's rules ([`pgpass::lookup`] is libpq's first-match
//!   search), and splitting each into the helper's *managed regions* and everything else;
//! - rendering: the managed regions as one block on top (every reader takes the first
//!   match), followed by every other byte exactly as it was found;
//! - what a libpq release can read ([`version`]: old releases split long password-file
//!   lines);
//! - replacing a file safely ([`locked_file`]): an exclusive lock, a temp file written
//!   with mode 0600 from creation on, fsync, rename, and an in-place fallback for
//!   single-file bind mounts.
//!
//! Every value written is one of the types in this crate that can only be built by
//! checking it ([`Host`], [`Role`], [`Password`], [`SectionValue`]…), so whatever produced
//! the text, it cannot add a line or a section or change what a line means.
//!
//! What it must never do: know where tokens come from (it is as usable by another cloud's
//! IAM helper as by this one), read a configuration file, or let a password reach a log,
//! an error or a `Debug` print ([`Password`] redacts itself).

mod digest;
mod error;
pub mod locked_file;
mod managed;
mod password;
pub mod pgpass;
pub mod service_file;
mod value;
pub mod version;

pub use digest::Tag;
pub use error::{Error, Result};
pub use managed::{ManagedFile, Region};
pub use password::Password;
pub use value::{Host, InvalidValue, Keyword, Role, SectionValue, ServiceName};
