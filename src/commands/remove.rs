use crate::cli::RemoveArgs;
use crate::config::Config;
use crate::error::Result;
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

    let mut removed = 0;
    for (real, is_pgpass) in [
        (&files.pgpass_real, true),
        (&files.service_file_real, false),
    ] {
        let Some(snap) = locked_file::read(real)? else {
            continue;
        };
        let (count, bytes) = if is_pgpass {
            let mut file = PgpassFile::parse(&snap.bytes);
            let n = if args.all {
                file.remove_all()
            } else {
                file.remove_services(&names)
            };
            (n, file.render())
        } else {
            let mut file = ServiceFile::parse(&snap.bytes);
            let n = if args.all {
                file.remove_all()
            } else {
                file.remove_services(&names)
            };
            (n, file.render())
        };
        if count == 0 {
            continue;
        }
        removed += count;
        if bytes.is_empty() {
            // The tool wrote everything that was in it: leave no empty file behind.
            std::fs::remove_file(real).map_err(|e| crate::error::Error::io("remove", real, e))?;
        } else {
            let contents = if is_pgpass {
                Contents::Secret
            } else {
                Contents::Plain
            };
            locked_file::write(real, &bytes, Some(&snap), contents)?;
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
    Ok(ExitCode::Success)
}
