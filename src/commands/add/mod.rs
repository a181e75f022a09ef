//! `add NAME`: a new `[services.NAME]` table in the configuration, validated by the
//! configuration's own loader before anything is written, then (unless --no-refresh) a
//! refresh of that service and `doctor`'s check of it.

mod edit;
mod write;

use std::path::Path;

use crate::cli::{AddArgs, DoctorArgs};
use crate::config;
use crate::error::{Error, Result};
use crate::exit_codes::ExitCode;

pub fn run(explicit: Option<&Path>, args: &AddArgs) -> Result<ExitCode> {
    let path = config::locate(explicit)?;
    let target = write::real_path(&path);
    let existing = write::read_existing(&target)?;
    let text = edit::add_service(existing.as_deref().unwrap_or(""), &target, args)?;
    // The loader decides what is valid; anything it refuses is never written.
    config::parse(&text, &target)?;
    match existing {
        Some(_) => write::replace(&target, &text)?,
        None => write::create(&target, &text)?,
    }
    println!("added service {} to {}", args.name, path.display());
    if args.no_refresh {
        return Ok(ExitCode::Success);
    }

    let config = config::load(&path)?;
    let services = config.select(std::slice::from_ref(&args.name))?;
    let mut refresh_failed = None;
    match crate::refresh::run(&config, &services, false) {
        Ok(outcome) => {
            for (_, err) in &outcome.failed {
                crate::logging::error(err);
                refresh_failed = Some(err.exit_code());
            }
        }
        Err(err) => {
            crate::logging::error(&err);
            refresh_failed = Some(err.exit_code());
        }
    }
    let doctor = DoctorArgs {
        services: vec![args.name.clone()],
        connect: false,
        json: false,
    };
    let checked = super::doctor::run(&config, &doctor)?;
    Ok(match (checked, refresh_failed) {
        (ExitCode::Success, Some(_)) => ExitCode::RuntimeFailure,
        (code, _) => code,
    })
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
