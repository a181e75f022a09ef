//! `refresh`: make every (or the named) service's entry valid.

use crate::cli::RefreshArgs;
use crate::config::Config;
use crate::error::Result;
use crate::exit_codes::ExitCode;
use crate::refresh;

pub fn run(config: &Config, args: &RefreshArgs) -> Result<ExitCode> {
    let services = config.select(&args.services)?;
    let outcome = refresh::run(config, &services, args.force)?;
    let mut code = ExitCode::Success;
    for (_, err) in &outcome.failed {
        crate::logging::error(err);
        if code == ExitCode::Success || err.exit_code() == ExitCode::UsageOrConfig {
            code = err.exit_code();
        }
    }
    Ok(code)
}
