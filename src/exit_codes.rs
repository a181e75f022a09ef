//! Process exit codes: the contract scripts and cron jobs rely on.

use std::process::ExitCode as StdExitCode;

/// What the process tells its caller when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything asked for was done.
    Success,
    /// Something at run time failed: a token endpoint or command, file I/O.
    RuntimeFailure,
    /// The command line or the configuration is wrong; retrying will not help.
    UsageOrConfig,
    /// `doctor` found a problem: a login would fail until its fix is made.
    DoctorFoundProblem,
}

impl ExitCode {
    /// The numeric code, as documented in the README and man page.
    pub fn code(self) -> u8 {
        match self {
            ExitCode::Success => 0,
            ExitCode::RuntimeFailure => 1,
            ExitCode::UsageOrConfig => 2,
            ExitCode::DoctorFoundProblem => 3,
        }
    }
}

impl From<ExitCode> for StdExitCode {
    fn from(code: ExitCode) -> Self {
        StdExitCode::from(code.code())
    }
}
