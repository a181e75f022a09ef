//! `remove`: delete the entries and sections the tool manages, and nothing else.

use std::path::Path;

use libpq_files::locked_file::{self, Contents};
use libpq_files::pgpass::ManagedEntry;
use libpq_files::service_file::ManagedSection;
use libpq_files::{ManagedFile, Region, Tag};

use crate::cli::RemoveArgs;
use crate::config::Config;
use crate::error::Result;
use crate::exit_codes::ExitCode;
use crate::files::Files;
use crate::state;

pub fn run(config: &Config, args: &RemoveArgs) -> Result<ExitCode> {
    let files = Files::of(config)?;
    // Names need not be configured: removing a service from the config and then its
    // entries is the natural order.
    let names: Vec<&str> = args.services.iter().map(String::as_str).collect();
    let which = (!args.all).then_some(names.as_slice());
    let _locks = files.lock(config.lock_timeout)?;

    // Both files are cleaned even when one fails: a token must not stay behind because
    // the service file could not be written, nor the other way round.
    let mut removed = 0;
    let mut first_error = None;
    for result in [
        remove_from::<ManagedEntry>(
            &files.pgpass,
            &files.pgpass_real,
            Contents::Secret,
            &config.owner,
            which,
        ),
        remove_from::<ManagedSection>(
            &files.service_file,
            &files.service_file_real,
            Contents::Plain,
            &config.owner,
            which,
        ),
    ] {
        match result {
            Ok(count) => removed += count,
            Err(e) => {
                crate::logging::error(&e);
                first_error.get_or_insert(e);
            }
        }
    }
    let saved = state::update(config.lock_timeout, |state| {
        if args.all {
            state.clear_errors(&config.owner);
        } else {
            for name in &names {
                state.clear_error(&config.owner, name);
            }
        }
    });
    if let Err(e) = saved {
        log::debug!("cannot save state: {e}");
    }
    log::info!("removed {removed} managed entries and sections");
    match first_error {
        // Already reported above; the exit code still says it failed.
        Some(e) => Ok(e.exit_code()),
        None => Ok(ExitCode::Success),
    }
}

/// Removes our part of one file; returns how many entries or sections went.
/// `services`: the named ones, or `None` for all of this configuration's.
fn remove_from<R: Region>(
    path: &Path,
    real: &Path,
    contents: Contents,
    owner: &Tag,
    services: Option<&[&str]>,
) -> Result<usize> {
    let Some(snap) = locked_file::read(real)? else {
        return Ok(0);
    };
    let mut file = ManagedFile::<R>::parse(&snap.bytes);
    let count = file.remove_owned(owner, services);
    let bytes = file.render();
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
            Err(e) => return Err(libpq_files::Error::io("remove", real, e).into()),
        };
    if !deleted {
        locked_file::write(real, &bytes, Some(&snap), contents)?;
    }
    Ok(count)
}
