//! `add NAME`: a new `[services.NAME]` table in the configuration, validated by the
//! configuration's own loader and checked against the files it would write (a section of
//! that name the user wrote, or another configuration's entry) before anything is
//! written, then (unless --no-refresh) a refresh of that service and `doctor`'s check of
//! it. A refresh that fails for a reason no retry fixes takes the table out again: a
//! service that can never be refreshed would make every later `refresh` fail.

mod edit;
mod write;

use std::path::Path;

use crate::cli::{AddArgs, DoctorArgs};
use crate::config;
use crate::error::{Error, Kind, Result};
use crate::exit_codes::ExitCode;
use write::Restored;

pub fn run(explicit: Option<&Path>, args: &AddArgs) -> Result<ExitCode> {
    let path = config::locate(explicit)?;
    let real = write::real_path(&path)?;
    // Validated as the loader will read it: relative paths in it anchored where the
    // loader anchors them, and owned (for the files' markers) by the file it will be.
    let anchor = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
    let edited = write::edit(&real, |before| {
        let text = edit::add_service(before.unwrap_or(""), &real, args)?;
        let table_line = edit::table_line(before, &text);
        let mut config = config::parse(&text, &anchor)
            .map_err(|e| edit::in_flag_terms(e, &anchor, table_line, args))?;
        let owner = owner_path(&real);
        config.owner = libpq_files::Tag::of(owner.as_os_str().as_encoded_bytes());
        let service = config.single(Some(&args.name))?;
        crate::refresh::check_claim(&config, service)?;
        Ok(text)
    })?;
    println!("added service {} to {}", args.name, path.display());
    if args.no_refresh {
        return Ok(ExitCode::Success);
    }

    let config = config::load(&path)?;
    let service = config.single(Some(&args.name))?;
    let failure = match crate::refresh::run(&config, &[service], false) {
        Ok(outcome) => outcome.failed.into_iter().next().map(|(_, e)| e),
        Err(err) => Some(err),
    };
    if let Some(err) = &failure {
        crate::logging::error(err);
        if err.kind() == Kind::Config {
            undo(&real, &path, &edited, args);
            return Ok(err.exit_code());
        }
    }
    let doctor = DoctorArgs {
        services: vec![args.name.clone()],
        connect: false,
        json: false,
    };
    let checked = super::doctor::run(&config, &doctor)?;
    // The refresh's failure is the one to act on; doctor's check says more about it.
    Ok(failure.map_or(checked, |err| err.exit_code()))
}

/// The path the configuration's owner tag is made from once the file exists: its real
/// path (as [`config::load`] finds it), with a directory not there yet taken as given.
fn owner_path(real: &Path) -> std::path::PathBuf {
    if let Ok(canonical) = real.canonicalize() {
        return canonical;
    }
    let absolute = std::path::absolute(real).unwrap_or_else(|_| real.to_path_buf());
    match (absolute.parent(), absolute.file_name()) {
        (Some(dir), Some(name)) => dir
            .canonicalize()
            .map_or_else(|_| absolute.clone(), |dir| dir.join(name)),
        _ => absolute,
    }
}

/// Takes the table out again after a refresh that no retry can fix, and says what became
/// of the configuration.
fn undo(real: &Path, path: &Path, edited: &write::Edited, args: &AddArgs) {
    let name = &args.name;
    match write::restore(real, edited) {
        Ok(Restored::AsBefore) if edited.before.is_none() => crate::logging::error(&format!(
            "so service {name} is taken out again: {} is removed, as there was none before; fix the cause above, then run add again",
            path.display()
        )),
        Ok(Restored::AsBefore) => crate::logging::error(&format!(
            "so service {name} is taken out again: {} is as it was before; fix the cause above, then run add again",
            path.display()
        )),
        Ok(Restored::TableRemoved) => crate::logging::error(&format!(
            "so service {name} is taken out again: its table is gone from {} (what was added to the file since is kept); fix the cause above, then run add again",
            path.display()
        )),
        Ok(Restored::Changed) => crate::logging::error(&format!(
            "{} changed since add wrote it, so [services.{name}] is still there: until the cause above is fixed, `refresh` fails for it; remove that table or fix it",
            path.display()
        )),
        Err(e) => crate::logging::error(&format!(
            "[services.{name}] is still in {}, and `refresh` fails for it until the cause above is fixed: it could not be taken out ({e}); remove that table or fix it",
            path.display()
        )),
    }
}

/// A `--credentials` value as the configuration writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// `adc`, `metadata` or `gcloud`.
    Named(&'static str),
    /// A service-account key file, made absolute: the configuration anchors relative
    /// paths at its own directory, the user meant the current one.
    KeyFile(std::path::PathBuf),
}

impl Source {
    pub(crate) fn parse(text: &str) -> Result<Source> {
        match text {
            "adc" => return Ok(Source::Named("adc")),
            "metadata" => return Ok(Source::Named("metadata")),
            "gcloud" => return Ok(Source::Named("gcloud")),
            _ => {}
        }
        let path = Path::new(text);
        if !path.is_file() {
            return Err(Error::Config(format!(
                "--credentials {text}: not adc, metadata or gcloud, and no key file is there"
            )));
        }
        let path = std::path::absolute(path)
            .map_err(|e| Error::Config(format!("--credentials {text}: {e}")))?;
        Ok(Source::KeyFile(path))
    }
}
