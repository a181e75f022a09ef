use std::os::unix::process::CommandExt;
use std::process::Command;

use jiff::Timestamp;

use crate::cli::ExecArgs;
use crate::config::{Config, Service};
use crate::error::{Error, Result};
use crate::exit_codes::ExitCode;
use crate::locked_file;
use crate::pgpass::{ManagedEntry, PgpassFile};
use crate::refresh;

/// Refreshes `service` if due and returns its entry. When the refresh fails but the
/// current token has not expired yet, that token is still the best a client can get:
/// warn and use it.
pub fn ensure_valid(config: &Config, service: &Service) -> Result<ManagedEntry> {
    // A refresh that fails as a whole (say, the directory is read-only) is no reason to
    // withhold a token that is still valid.
    let failure = match refresh::run(config, &[service], false) {
        Ok(outcome) => outcome.failed.into_iter().next().map(|(_, e)| e),
        Err(e) => Some(e),
    };
    let real = locked_file::resolve(&config.pgpass)?;
    let bytes = locked_file::read(&real)?
        .map(|s| s.bytes)
        .unwrap_or_default();
    let entry = PgpassFile::parse(&bytes).entry(&service.name).cloned();
    match (entry, failure) {
        (Some(entry), None) => Ok(entry),
        (Some(entry), Some(err)) if entry.expires_at > Timestamp::now() => {
            log::warn!(
                "{err}; using the current token, valid until {}",
                entry.expires_at
            );
            Ok(entry)
        }
        (_, Some(err)) => Err(err),
        (None, None) => Err(Error::Runtime(format!(
            "service {}: no entry in {} after refreshing; is another program rewriting it?",
            service.name,
            config.pgpass.display()
        ))),
    }
}

pub fn run(config: &Config, args: &ExecArgs) -> Result<ExitCode> {
    let service = config.single(args.service.as_deref())?;
    ensure_valid(config, service)?;
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| Error::Config("exec needs a command after `--`".into()))?;
    let err = Command::new(program)
        .args(rest)
        .env("PGSERVICE", &service.name)
        .env("PGSERVICEFILE", &config.service_file)
        .env("PGPASSFILE", &config.pgpass)
        .exec();
    // exec only returns on failure.
    let code = if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    eprintln!(
        "alloydb-cred: error: cannot run {}: {err}",
        program.to_string_lossy()
    );
    std::process::exit(code);
}
