//! One module per subcommand; each turns parsed arguments into work on the library.

mod completions;
mod doctor;
mod exec;
mod refresh;
mod remove;
mod status;
mod token;

use crate::cli::{Cli, Command};
use crate::config;
use crate::error::Result;
use crate::exit_codes::ExitCode;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    // The one command that needs no configuration.
    if let Command::Completions(args) = &cli.command {
        return completions::run(args);
    }
    let path = config::locate(cli.config.as_deref())?;
    let config = config::load(&path)?;
    match cli.command {
        Command::Refresh(args) if args.watch => crate::watch::run(&path, config, &args.services),
        Command::Refresh(args) => refresh::run(&config, &args),
        Command::Token(args) => token::run(&config, args.service.as_deref()),
        Command::Exec(args) => exec::run(&config, &args),
        Command::Status(args) => status::run(&config, &args),
        Command::Remove(args) => remove::run(&config, &args),
        // Answered above, before any configuration is read; listed for the match.
        Command::Completions(args) => completions::run(&args),
        Command::Doctor(args) => doctor::run(&config, &args),
    }
}
