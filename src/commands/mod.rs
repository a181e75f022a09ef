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
use std::path::PathBuf;

use crate::config::{self, Config};
use crate::error::Result;
use crate::exit_codes::ExitCode;

/// Runs the parsed command line. Each command that works on the configuration loads it
/// itself; those that need none, or make it, never read it.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let explicit = cli.config.as_deref();
    let loaded = || -> Result<(PathBuf, Config)> {
        let path = config::locate(explicit)?;
        let config = config::load(&path)?;
        Ok((path, config))
    };
    match &cli.command {
        Command::Completions(args) => completions::run(args),
        Command::Add(args) => add::run(explicit, args),
        Command::Discover(args) => discover::run(explicit, args),
        Command::Man(args) => man::run(args),
        Command::Services => Ok(completions::services(explicit)),
        Command::Refresh(args) => {
            let (path, config) = loaded()?;
            if args.watch {
                crate::watch::run(&path, config, &args.services)
            } else {
                refresh::run(&config, args)
            }
        }
        Command::Token(args) => token::run(&loaded()?.1, args.service.as_deref()),
        Command::Exec(args) => exec::run(&loaded()?.1, args),
        Command::Status(args) => status::run(&loaded()?.1, args),
        Command::Remove(args) => remove::run(&loaded()?.1, args),
        Command::Export(args) => export::run(&loaded()?.1, args),
        Command::Doctor(args) => doctor::run(&loaded()?.1, args),
    }
}
