//! The configuration file, in stages: where it is ([`load`]), what it may say (`raw`, the
//! TOML shape, built from validated value types in `values`), and the resolved per-service
//! settings the rest of the program reads ([`settings`]).
//!
//! Validation happens while deserializing, through the small types in `values`, so that
//! every rejection carries the span of the offending key or value and the message can
//! name the file, the line and the key. Nothing downstream re-validates.

mod load;
mod raw;
mod settings;
mod values;

pub use load::{load, locate, parse, read_trusted_file};
#[cfg(test)]
pub use settings::DEFAULT_REFRESH_WINDOW;
pub use settings::{Config, InstanceSettings, Server, Service, UserSpec};
pub use values::parse_duration;
