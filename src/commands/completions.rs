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

/// `__services`: the configured services' names for the completion scripts. A
/// configuration that cannot be read lists nothing: completing must never print errors
/// into the command line being edited.
pub fn services(explicit: Option<&std::path::Path>) -> ExitCode {
    let names = crate::config::locate(explicit)
        .and_then(|path| crate::config::load(&path))
        .map(|config| {
            config
                .services
                .iter()
                .map(|s| format!("{}\n", s.name))
                .collect::<String>()
        })
        .unwrap_or_default();
    let _ = std::io::stdout().lock().write_all(names.as_bytes());
    ExitCode::Success
}
