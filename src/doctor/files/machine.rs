//! What the machine's PostgreSQL installation says: the libpq releases its client
//! programs report, and the system-wide service file libpq falls back to.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use libpq_files::locked_file;
use libpq_files::pgpass::OLD_LIBPQ_MAX_LINE_BYTES;
use libpq_files::service_file::ServiceFile;
use libpq_files::version::PgVersion;

use google_tokens::process::run_bounded;

use super::super::Check;

/// What the machine's PostgreSQL installation says, asked once.
pub struct Machine {
    /// The libpq releases the client programs on PATH report.
    pub(super) libpq: Vec<(&'static str, PgVersion)>,
    /// The system-wide service file libpq falls back to, when it can be located.
    system_file: Option<PathBuf>,
}

/// How long a `--version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(5);

impl Machine {
    pub fn inspect() -> Machine {
        let libpq = ["psql", "pg_config"]
            .into_iter()
            .filter_map(|program| {
                let text = program_says(program, "--version")?;
                Some((program, PgVersion::parse(&text)?))
            })
            .collect();
        // libpq's own rule: $PGSYSCONFDIR, else the directory it was built with, which
        // pg_config reports.
        let sysconfdir = std::env::var_os("PGSYSCONFDIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| program_says("pg_config", "--sysconfdir").map(|d| PathBuf::from(d.trim())));
        Machine {
            libpq,
            system_file: sysconfdir.map(|d| d.join("pg_service.conf")),
        }
    }

    /// The libpq releases found that split long password-file lines.
    pub(super) fn old_libpq(&self) -> Vec<&(&'static str, PgVersion)> {
        self.libpq
            .iter()
            .filter(|(_, v)| !v.reads_long_pgpass_lines())
            .collect()
    }
}

/// A program's first line of output for one argument, if it runs and succeeds.
fn program_says(program: &str, arg: &str) -> Option<String> {
    let out = run_bounded(Command::new(program).arg(arg), VERSION_TIMEOUT).ok()?;
    if !out.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().map(str::to_string)
}

pub(super) fn system_file_check(machine: &Machine) -> (Check, Vec<String>) {
    const NAME: &str = "service_file.system";
    let Some(path) = &machine.system_file else {
        return (
            Check::ok(
                NAME,
                "no system-wide service file to consider (PGSYSCONFDIR is not set and pg_config is not on PATH)",
            ),
            Vec::new(),
        );
    };
    match locked_file::read(path) {
        Ok(Some(snapshot)) => {
            let parsed = ServiceFile::parse(&snapshot.bytes);
            let mut sections = parsed.foreign_section_names();
            sections.extend(parsed.managed().iter().map(|s| s.name.to_string()));
            (
                Check::ok(
                    NAME,
                    format!(
                        "the system-wide service file {} defines {} section{}; libpq reads it for services the user's file does not define",
                        path.display(),
                        sections.len(),
                        if sections.len() == 1 { "" } else { "s" }
                    ),
                ),
                sections,
            )
        }
        Ok(None) => (
            Check::ok(
                NAME,
                format!("no system-wide service file at {}", path.display()),
            ),
            Vec::new(),
        ),
        Err(e) => (
            Check::warning(
                NAME,
                format!("cannot read the system-wide service file: {e}"),
                "make it readable, or ignore this if no service is defined there",
            ),
            Vec::new(),
        ),
    }
}

pub(super) fn libpq_version_check(machine: &Machine) -> Check {
    const NAME: &str = "libpq.version";
    if machine.libpq.is_empty() {
        return Check::ok(
            NAME,
            "no psql or pg_config on PATH, so which libpq clients use here cannot be told",
        );
    }
    let found: Vec<String> = machine
        .libpq
        .iter()
        .map(|(program, version)| format!("{program} {version}"))
        .collect();
    let old = machine.old_libpq();
    if old.is_empty() {
        Check::ok(
            NAME,
            format!(
                "{}: libpq reads password-file lines of any length",
                found.join(", ")
            ),
        )
    } else {
        Check::ok(
            NAME,
            format!(
                "{}: {} reads at most {OLD_LIBPQ_MAX_LINE_BYTES} bytes of a password-file line (releases before 13.0, 12.5, 11.10, 10.15, 9.6.20 and 9.5.24 do); see each service's pgpass.line_length",
                found.join(", "),
                old.iter()
                    .map(|(p, _)| *p)
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        )
    }
}
