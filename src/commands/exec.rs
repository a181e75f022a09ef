//! `exec`: run a program with a valid token where libpq will look for it.

use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::cli::ExecArgs;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::exit_codes::ExitCode;
use crate::refresh;

pub fn run(config: &Config, args: &ExecArgs) -> Result<ExitCode> {
    let service = config.single(args.service.as_deref())?;
    refresh::ensure_valid(config, service)?;
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| Error::Config("exec needs a command after `--`".into()))?;
    let err = Command::new(program)
        .args(rest)
        .env("PGSERVICE", service.name.as_str())
        .env("PGSERVICEFILE", &config.service_file)
        .env("PGPASSFILE", &config.pgpass)
        .exec();
    // exec only returns on failure.
    let code = if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    crate::logging::error(&format!("cannot run {}: {err}", program.to_string_lossy()));
    std::process::exit(code);
}
