//! The command line. Names and flags are part of the public contract (scripts and
//! systemd units depend on them), so they change only with a major version.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

/// Keeps short-lived Google IAM database tokens for AlloyDB and Cloud SQL where libpq
/// looks for passwords, so `PGSERVICE=prod psql` just works.
#[derive(Debug, Parser)]
#[command(
    name = "alloydb-cred",
    version,
    about,
    long_about = "Keeps short-lived Google IAM database tokens for AlloyDB and Cloud SQL \
for PostgreSQL in libpq's password file (~/.pgpass) and connection service file \
(~/.pg_service.conf). After `alloydb-cred refresh`, any libpq client connects with \
`PGSERVICE=prod psql`, `pg_dump service=prod`, pgAdmin or DBeaver and nothing else.\n\n\
Run it from cron or a systemd timer every few minutes: when nothing is due it reads two \
small files and exits without touching the network.",
    after_help = "Configuration: --config PATH, else $ALLOYDB_CRED_CONFIG, else \
alloydb-cred/config.toml in the platform's config directory (~/.config on Linux). \
See `man alloydb-cred` for its keys.\n\n\
Exit codes: 0 success, 1 runtime failure (token source, I/O; for status --check: a \
service is not valid), 2 usage or configuration error, 3 doctor found a problem.",
    propagate_version = true
)]
pub struct Cli {
    /// Configuration file to use.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Say more: -v reports what is refreshed and why, -vv adds debugging detail.
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Say nothing but errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make the entries of every (or the named) service valid.
    ///
    /// Mints a token only for services whose entry is missing, changed, or has less
    /// validity left than refresh_window; one token per distinct credential. Safe to run
    /// from many places at once: refreshers take a lock and re-check under it.
    ///
    /// With --watch it stays up and keeps every service valid: it sleeps until the
    /// earliest entry enters its refresh window, retries failures with jittered backoff,
    /// re-reads the configuration on SIGHUP, and exits 0 on SIGTERM or SIGINT. Under
    /// systemd (Type=notify) it reports readiness and pets the watchdog.
    Refresh(RefreshArgs),

    /// Print a valid token for a service on stdout, and nothing else.
    ///
    /// Refreshes first if the entry is due. Useful as pgAdmin's "password exec command",
    /// or for clients that cannot read the password file.
    Token(ServiceArg),

    /// Run a command with PGSERVICE, PGSERVICEFILE and PGPASSFILE set for a service.
    ///
    /// Refreshes the service first if it is due, then replaces itself with the command,
    /// so the command's exit status is the exit status.
    Exec(ExecArgs),

    /// Show each service: user, host, expiry, time left, token breadth, files, last error.
    /// Never a token.
    ///
    /// With --check it prints nothing and exits 0 when every (or every named) service has a
    /// valid entry with at least --min-left of it left, else exits 1 with one line per
    /// failing service: a probe for Kubernetes, monitoring or a script.
    Status(StatusArgs),

    /// Find every reason a login would fail, before anyone tries.
    ///
    /// Checks the configuration, each credential (its source, a fresh token minted in
    /// memory only, its scopes, its principal and database user), the password and
    /// service files as libpq and other clients read them, and the network (the host
    /// resolves, the port accepts a TCP connection). Writes nothing. Exit codes: 0 when
    /// all is well (warnings alone included), 3 when a problem was found, 2 when the
    /// configuration does not load.
    Doctor(DoctorArgs),

    /// Print a shell completion script (bash, zsh, fish, powershell) on stdout.
    ///
    /// For example: alloydb-cred completions bash > ~/.local/share/bash-completion/completions/alloydb-cred
    Completions(CompletionsArgs),

    /// Delete the entries and sections alloydb-cred manages, and nothing else.
    ///
    /// Lines and sections you wrote yourself are never touched; after `remove --all`
    /// the files hold the bytes they held before alloydb-cred first wrote to them, and
    /// a file it created (or that it alone filled) is deleted.
    Remove(RemoveArgs),
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// Only this service (repeatable). Default: every configured service.
    #[arg(long = "service", value_name = "NAME")]
    pub services: Vec<String>,

    /// Mint new tokens even when the current ones are still good.
    #[arg(long, conflicts_with = "watch")]
    pub force: bool,

    /// Stay up and keep the entries valid (a refresh loop for a service manager or a
    /// sidecar container).
    #[arg(long)]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct ServiceArg {
    /// The service; may be left out when only one is configured.
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The service; may be left out when only one is configured.
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,

    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of a table (stable field names, for monitoring).
    #[arg(long, conflicts_with = "check")]
    pub json: bool,

    /// Print nothing; exit 0 only when every (or every named) service's entry is valid
    /// with at least --min-left left, else 1 with a line per failing service.
    #[arg(long)]
    pub check: bool,

    /// With --check: how much validity must be left, like "5m" or "90s" (default: any).
    #[arg(long, value_name = "DURATION", requires = "check")]
    pub min_left: Option<String>,

    /// Only this service (repeatable). Default: every configured service.
    #[arg(long = "service", value_name = "NAME")]
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Only this service (repeatable). Default: every configured service.
    #[arg(long = "service", value_name = "NAME")]
    pub services: Vec<String>,

    /// Also log in once per service with psql through the written files (no retries:
    /// failed sign-ins count against the instance's quota), and explain a refusal.
    #[arg(long)]
    pub connect: bool,

    /// Print JSON instead of lines (stable names: services, checks, status, message, fix).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RemoveArgs {
    /// Remove this service's entry and section (repeatable).
    #[arg(long = "service", value_name = "NAME")]
    pub services: Vec<String>,

    /// Remove every entry and section alloydb-cred manages in the configured files,
    /// including those of services no longer in the configuration.
    #[arg(long)]
    pub all: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn remove_needs_service_or_all() {
        assert!(Cli::try_parse_from(["alloydb-cred", "remove"]).is_err());
        assert!(
            Cli::try_parse_from(["alloydb-cred", "remove", "--all", "--service", "a"]).is_err()
        );
        assert!(Cli::try_parse_from(["alloydb-cred", "remove", "--all"]).is_ok());
    }

    #[test]
    fn exec_takes_everything_after_double_dash() {
        let cli = Cli::try_parse_from([
            "alloydb-cred",
            "exec",
            "--service",
            "p",
            "--",
            "psql",
            "-c",
            "select 1",
        ]);
        match cli.map(|c| c.command) {
            Ok(Command::Exec(args)) => assert_eq!(args.command.len(), 3),
            other => panic!("{other:?}"),
        }
    }
}
