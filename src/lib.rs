//! `alloydb-cred`: keeps Google IAM database tokens for AlloyDB and Cloud SQL in libpq's
//! password file and connection service file.
//!
//! The binary only wires these modules together:
//! - [`config`]: the TOML configuration and the resolved per-service settings;
//! - [`source`]: token sources behind one trait (token + real expiry + principal);
//! - [`pgpass`] and [`service_file`]: the two libpq files, parsed so that every byte the
//!   tool does not own survives a rewrite;
//! - [`locked_file`]: locked, atomic replacement of those files;
//! - [`refresh`]: what is due, minting once per credential, writing both files;
//! - [`commands`]: one module per subcommand.

pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod exit_codes;
mod fingerprint;
pub mod http;
pub mod locked_file;
mod managed_text;
pub mod paths;
pub mod pgpass;
pub mod principal;
pub mod refresh;
pub mod secret;
pub mod service_file;
pub mod source;
pub mod state;
pub mod timefmt;

use exit_codes::ExitCode;

/// Runs the tool with parsed arguments: sets up logging, runs the command, reports an
/// error as one line on stderr, and returns the exit code.
pub fn main_with(cli: cli::Cli) -> ExitCode {
    init_logging(cli.verbose, cli.quiet);
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("alloydb-cred: error: {err}");
            err.exit_code()
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => log::LevelFilter::Error,
        (false, 0) => log::LevelFilter::Warn,
        (false, 1) => log::LevelFilter::Info,
        (false, _) => log::LevelFilter::Debug,
    };
    env_logger::Builder::new()
        .filter_level(level)
        .format(|buf, record| {
            use std::io::Write;
            writeln!(
                buf,
                "alloydb-cred: {}: {}",
                record.level().as_str().to_lowercase(),
                record.args()
            )
        })
        .target(env_logger::Target::Stderr)
        .init();
}
