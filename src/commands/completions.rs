//! `completions SHELL`: a completion script generated from the command-line definition.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::Result;
use crate::exit_codes::ExitCode;

pub fn run(args: &CompletionsArgs) -> Result<ExitCode> {
    let mut command = Cli::command();
    clap_complete::generate(
        args.shell,
        &mut command,
        "alloydb-cred",
        &mut std::io::stdout().lock(),
    );
    Ok(ExitCode::Success)
}
