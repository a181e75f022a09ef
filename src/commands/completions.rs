//! `completions SHELL`: a completion script generated from the command-line definition.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::{self, Cli, CompletionsArgs};
use crate::error::{Error, Result};
use crate::exit_codes::ExitCode;

pub fn run(args: &CompletionsArgs) -> Result<ExitCode> {
    let script = cli::completion_script(args.shell, &mut Cli::command());
    std::io::stdout()
        .lock()
        .write_all(&script)
        .map_err(|e| Error::Runtime(format!("cannot write to stdout: {e}")))?;
    Ok(ExitCode::Success)
}
