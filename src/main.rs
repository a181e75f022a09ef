//! `alloydb-cred`: keeps Google IAM database tokens for AlloyDB and Cloud SQL in libpq's
//! password file and connection service file.
//!
//! This binary only wires two library crates together: `google-tokens` mints tokens,
//! `libpq-files` keeps them in libpq's files. What is its own: the command line ([`cli`]),
//! the configuration ([`config`]), deciding what is due and doing it ([`refresh`]), one
//! module per subcommand ([`commands`]), and the checks of `doctor` ([`doctor`]).
//! docs/ARCHITECTURE.md draws the whole picture.

mod clock;
mod commands;
mod config;
mod doctor;
mod error;
mod exit_codes;
mod files;
mod lifecycle;
mod logging;
mod ownership;
mod paths;
mod refresh;
mod state;
mod watch;

use alloydb_cred::cli;
use clap::Parser;

fn main() -> std::process::ExitCode {
    // First, before any secret is in memory.
    lifecycle::harden();
    let cli = cli::Cli::parse();
    let long_running = matches!(&cli.command, cli::Command::Refresh(args) if args.watch);
    logging::init(cli.verbose, cli.quiet, long_running);
    lifecycle::stop_programs_on_signals(!long_running);
    let code = commands::run(cli).unwrap_or_else(|err| {
        logging::error(&err);
        err.exit_code()
    });
    code.into()
}
