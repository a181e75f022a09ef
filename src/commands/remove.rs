use std::path::Path;

use crate::cli::RemoveArgs;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::exit_codes::ExitCode;
use crate::locked_file::{self, Contents};
use crate::pgpass::PgpassFile;
use crate::refresh::Files;
use crate::service_file::ServiceFile;
use crate::state::State;

pub fn run(config: &Config, args: &RemoveArgs) -> Result<ExitCode> {
    let files = Files::of(config)?;
    // Names need not be configured: removing a service from the config and then its
    // entries is the natural order.
    let names: Vec<&str> = args.services.iter().map(String::as_str).collect();
    let _locks = locked_file::lock_all(&[&files.pgpass_real, &files.service_file_real])?;

    // Both files are cleaned even when one fails: a token must not stay behind because
    // the service file could not be written, nor the other way round.
    let mut removed = 0;
    let mut first_error = None;
    for (path, real, contents) in [
        (&files.pgpass, &files.pgpass_real, Contents::Secret),
        (
            &files.service_file,
            &files.service_file_real,
            Contents::Plain,
        ),
    ] {
        match remove_from(path, real, contents, args.all, &names) {
            Ok(count) => removed += count,
            Err(e) => {
                eprintln!("alloydb-cred: error: {e}");
                first_error.get_or_insert(e);
            }
        }
    }
    let mut state = State::load();
    if args.all {
        state.last_errors.clear();
    } else {
        for name in &names {
            state.clear_error(name);
        }
    }
    let _ = state.save();
    log::info!("removed {removed} managed entries and sections");
    match first_error {
        // Already reported above; the exit code still says it failed.
        Some(e) => Ok(e.exit_code()),
        None => Ok(ExitCode::Success),
    }
}

/// Removes our part of one file; returns how many entries or sections went.
fn remove_from(
    path: &Path,
    real: &Path,
    contents: Contents,
    all: bool,
    names: &[&str],
) -> Result<usize> {
    let Some(snap) = locked_file::read(real)? else {
        return Ok(0);
    };
    let (count, bytes) = match contents {
        Contents::Secret => {
            let mut file = PgpassFile::parse(&snap.bytes);
            let n = if all {
                file.remove_all()
            } else {
                file.remove_services(names)
            };
            (n, file.render())
        }
        Contents::Plain => {
            let mut file = ServiceFile::parse(&snap.bytes);
            let n = if all {
                file.remove_all()
            } else {
                file.remove_services(names)
            };
            (n, file.render())
        }
    };
    if count == 0 {
        return Ok(0);
    }
    // A file the tool alone filled is deleted, unless it is reached through a symlink
    // (the link and its target are the user's) or cannot be unlinked (a bind mount):
    // then it is emptied instead.
    let deleted = bytes.is_empty()
        && path == real
        && match std::fs::remove_file(real) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::ResourceBusy => false,
            Err(e) => return Err(Error::io("remove", real, e)),
        };
    if !deleted {
        locked_file::write(real, &bytes, Some(&snap), contents)?;
    }
    Ok(count)
}
