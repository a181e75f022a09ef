//! One module per subcommand; each turns parsed arguments into work on the library.

mod add;
mod completions;
mod discover;
mod doctor;
mod exec;
mod export;
mod man;
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
    // The commands that need no configuration, or make it.
    match &cli.command {
        Command::Completions(args) => return completions::run(args),
        Command::Add(args) => return add::run(cli.config.as_deref(), args),
        Command::Discover(args) => return discover::run(cli.config.as_deref(), args),
        Command::Man(args) => return man::run(args),
        Command::Services => return Ok(completions::services(cli.config.as_deref())),
        _ => {}
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
        Command::Add(args) => add::run(Some(&path), &args),
        Command::Discover(args) => discover::run(Some(&path), &args),
        Command::Man(args) => man::run(&args),
        Command::Services => Ok(completions::services(Some(&path))),
        Command::Export(args) => export::run(&config, &args),
        Command::Doctor(args) => doctor::run(&config, &args),
    }
}
