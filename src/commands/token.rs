//! `token`: print a valid token, for programs that want the password itself.

use std::io::Write;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::exit_codes::ExitCode;
use crate::refresh;

pub fn run(config: &Config, service: Option<&str>) -> Result<ExitCode> {
    let service = config.single(service)?;
    let token = refresh::ensure_valid(config, service)?.password;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", token.expose())
        .and_then(|()| out.flush())
        .map_err(|e| Error::Runtime(format!("cannot write the token to stdout: {e}")))?;
    Ok(ExitCode::Success)
}
