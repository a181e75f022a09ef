//! The command line. Names and flags are part of the public contract (scripts and
//! systemd units depend on them), so they change only with a major version.
//!
//! The man pages and completions in man/ and completions/ are generated from this
//! definition by tools/docgen, which reads it through the library target (src/lib.rs),
//! where this module stands alone: clap, clap_complete and std only. The doc comments are the commands'
//! `--help` and their man pages' descriptions; `code` in backticks is set in bold there,
//! so a literal `*` or backtick belongs inside backticks. After changing them, run
//! `cargo run -p docgen`.

pub use crate::completion::completion_script;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{ArgAction, ArgGroup, Args, Parser, Subcommand, ValueHint};

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
`PGSERVICE=prod psql`, `pg_dump service=prod` or pgAdmin and nothing else; JDBC tools \
such as DBeaver use `jdbc:postgresql://?service=prod`.\n\n\
Tokens live about an hour. Run `alloydb-cred refresh` from cron or a systemd timer every \
few minutes (when nothing is due it reads its files and exits without touching the \
network), or keep `alloydb-cred refresh --watch` running under a service manager or \
as a sidecar container.",
    after_help = "Configuration: --config PATH, else $ALLOYDB_CRED_CONFIG, else \
alloydb-cred/config.toml in the platform's config directory (~/.config on Linux). \
See `alloydb-cred man alloydb-cred.toml | man -l -` for its keys and \
`alloydb-cred man alloydb-cred | man -l -` for the rest (or `man alloydb-cred.toml` and \
`man alloydb-cred`, where a package installed the pages).\n\n\
Exit codes: 0 success, 1 runtime failure (token source, I/O; for status --check: a \
service is not valid), 2 usage or configuration error, 3 doctor found a problem.",
    propagate_version = true
)]
pub struct Cli {
    /// Configuration file to use.
    ///
    /// Default: $ALLOYDB_CRED_CONFIG if set, else alloydb-cred/config.toml in the
    /// platform's configuration directory (~/.config on Linux).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Say more: -v reports what is refreshed and why, -vv adds debugging detail.
    ///
    /// -vvv adds the HTTP library's debugging lines (never the bytes it sends). Tokens
    /// are never logged. Without -v, warnings and errors are reported, and refresh --watch
    /// also reports each refresh (it counts one -v more: there -vv adds the HTTP lines).
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
    /// A service is due when its entry is missing, when its host, port, credential
    /// settings or a user named in the configuration changed, or when less than its
    /// refresh_window of validity is left. Only due services get a token, one per
    /// distinct credential; a service-file section that differs from the configuration is
    /// rewritten without one. When nothing is due it reads the two files and exits,
    /// without a lock and without the network. Safe to run from many places at once:
    /// writers take a lock and decide again under it.
    ///
    /// A service whose token cannot be had keeps its previous entry, and the others are
    /// still written. An unknown service name is a usage error that lists the configured
    /// services. On success it prints nothing but warnings.
    ///
    /// With --watch it stays up and keeps every (or every named) service valid: it sleeps
    /// until the earliest entry enters its refresh window (or a reload) and refreshes only
    /// what is due. A failure is retried with exponential backoff (from 2 seconds,
    /// doubling, up to 5 minutes, each wait scaled by a random 0.5 to 1.5), sooner as a
    /// still-valid entry nears its expiry, and valid entries are left alone. A source that
    /// hands out a token already inside the window (as a metadata server does in its last
    /// minutes) is asked again only after half of that token's remaining life, not at
    /// once. A wall clock that jumps (a resumed laptop) makes it check at once. SIGHUP re-reads the configuration (a broken one is reported and the
    /// old one kept); SIGTERM and SIGINT end it with exit code 0, never in the middle of a
    /// write. It logs one line per refresh or failure. Under systemd (Type=notify) it
    /// reports readiness and status and pets the watchdog.
    Refresh(RefreshArgs),

    /// Print a valid token for a service on stdout, and nothing else.
    ///
    /// Refreshes first if the entry is due. When that fails but the current token has not
    /// expired yet, it warns on stderr and prints the current token. Useful as pgAdmin's
    /// "Password exec command", or for clients that cannot read the password file.
    Token(ServiceArg),

    /// Run a command with PGSERVICE, PGSERVICEFILE and PGPASSFILE set for a service.
    ///
    /// Refreshes the service first if it is due (using the current token, with a warning,
    /// when that fails but the token has not expired yet), then replaces itself with the
    /// command, looked up in PATH, so the command's exit status is the exit status.
    /// PGSERVICE is the service's name; PGSERVICEFILE and PGPASSFILE are the configured
    /// files.
    Exec(ExecArgs),

    /// Show each service's user, host, expiry, time left, token breadth and last error,
    /// never its token.
    ///
    /// A service is valid (more than its refresh_window left), due (less), expired, or
    /// missing (no entry). The TOKEN column says whether its token can only log in
    /// (login-only), can also act on Google Cloud APIs (broad), or was minted by a source
    /// that did not say (unknown). It only reads: it never refreshes, and it reports only
    /// this configuration's entries.
    ///
    /// With --check it prints nothing and exits 0 when every (or every named) service has an
    /// unexpired entry with at least --min-left of it left, else exits 1 with one line per
    /// failing service: a probe for Kubernetes, monitoring or a script.
    Status(StatusArgs),

    /// Find every reason a login would fail, before anyone tries.
    ///
    /// Checks the configuration, each credential (its source, a fresh token minted in
    /// memory only, its scopes, its principal and database user), the password and
    /// service files as libpq and other clients read them, and the network (the host
    /// resolves, a PostgreSQL server answers its first message, and where the service
    /// verifies the server, its certificate passes; no login). Writes nothing. Exit codes: 0 when
    /// all is well (warnings alone included), 3 when a problem was found, 2 when the
    /// configuration does not load.
    Doctor(DoctorArgs),

    /// Add a service to the configuration, then refresh it and check it as `doctor` does.
    ///
    /// The configuration is edited in place: every comment, the order of the tables and
    /// their formatting are kept, and the new `[services.NAME]` table is added at the end.
    /// When there is no configuration yet, it is created (the file readable by you alone,
    /// in a directory only you can enter). A name that is already configured, or a value
    /// the configuration would refuse, is a usage error (exit code 2) and changes nothing.
    /// The file is replaced in one step, so a reader sees the old or the new one.
    ///
    /// Then, unless --no-refresh, the service is refreshed and `doctor` checks it: the
    /// exit code is 0 when it is ready to log in, 1 when the refresh failed, 3 when the
    /// check found a problem; the service stays configured in every case.
    Add(AddArgs),

    /// List the AlloyDB and Cloud SQL for PostgreSQL instances a credential can see, with
    /// the `add` command for each.
    ///
    /// AlloyDB instances of every location and cluster, and Cloud SQL instances running
    /// PostgreSQL, every page of both lists. For each: the name `add --instance` takes,
    /// its kind, its addresses by type, whether IAM login is switched on (the database
    /// flag alloydb.iam_authentication or cloudsql.iam_authentication), whether it
    /// accepts the Auth Proxy and connectors only, and the `add` command to run.
    /// Locations the API could not reach are reported on stderr.
    ///
    /// The project is --project (repeatable), else gcloud's configured project
    /// ($CLOUDSDK_CORE_PROJECT, or the active configuration's), else the Application
    /// Default Credentials file's quota_project_id or project_id, else the metadata
    /// server's. The credential is --credentials (default: adc), asked for a
    /// cloud-platform token held in memory only; `[endpoints]` of the configuration, when
    /// there is one, are used. Nothing is written.
    Discover(DiscoverArgs),

    /// Print connection entries for a GUI client, from the sections `refresh` wrote.
    ///
    /// pgadmin prints a servers.json that pgAdmin 4 imports (`setup.py load-servers
    /// FILE`, or Tools, Import/Export Servers): one server per service, in a group named
    /// alloydb-cred, connecting through the service (libpq reads both files, so there is
    /// no password prompt). pgAdmin must see the same files: run it as the same user, or
    /// give it PGSERVICEFILE and PGPASSFILE. With --passexec each server is given
    /// host, port and user instead, and a password exec command that runs this
    /// program's `token` (with an absolute --config), with an expiration of half the
    /// refresh window and two minutes at most, so that pgAdmin asks again before its
    /// cached token runs out.
    ///
    /// pgAdmin in server mode drops the password exec command unless its configuration
    /// sets ENABLE_SERVER_PASS_EXEC_CMD = True, and it looks a `passfile` connection
    /// parameter up inside its own storage directory, not where the tool writes it.
    ///
    /// dbeaver prints a data-sources.json for DBeaver's PostgreSQL driver: host, port,
    /// database and user from the service's section, with DBeaver's PgPass
    /// authentication, which reads the password file. Services that were never
    /// refreshed are refused: their sections do not exist yet.
    ///
    /// When the service file (for pgadmin) or the password file (for dbeaver) is not
    /// where a client started from a menu looks (~/.pg_service.conf, ~/.pgpass), a
    /// warning names the variable to set in the client's environment.
    Export(ExportArgs),

    /// Print a manual page on stdout, for installs that come without them.
    ///
    /// The pages are those the packages install: alloydb-cred (the default), one per
    /// command (alloydb-cred-refresh, ...), and alloydb-cred.toml, the configuration
    /// reference. Read one with `alloydb-cred man alloydb-cred.toml | man -l -`.
    /// `--list` prints the names.
    Man(ManArgs),

    /// The configured services' names, one a line, for the completion scripts: nothing
    /// (and exit 0) when the configuration cannot be read.
    #[command(name = "__services", hide = true)]
    Services,

    /// Print a shell completion script on stdout.
    ///
    /// Needs no configuration. The packages install the scripts for bash, zsh and fish.
    /// To install one by hand, for example for bash: `alloydb-cred completions bash >
    /// ~/.local/share/bash-completion/completions/alloydb-cred`.
    Completions(CompletionsArgs),

    /// Delete the entries and sections alloydb-cred manages, and nothing else.
    ///
    /// Lines and sections you wrote yourself, and those of other alloydb-cred
    /// configurations sharing the files, are never touched. A file left empty is deleted
    /// (or emptied, when it is reached through a symbolic link or is a bind mount), so
    /// after `remove --all` the files hold the bytes they held before alloydb-cred first
    /// wrote to them. Both files are cleaned even when one of them fails, and the last
    /// errors recorded for the removed services are forgotten. The empty lock files beside
    /// them (`.alloydb-cred.lock`, `.alloydb-cred.mint.lock`) stay: deleting one that
    /// another process holds or waits on would let two writers in at once.
    Remove(RemoveArgs),
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// Only this service (repeatable). Default: every configured service.
    #[arg(long = "service", value_name = "NAME", value_hint = ValueHint::Other)]
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
    #[arg(long, value_name = "NAME", value_hint = ValueHint::Other)]
    pub service: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The service; may be left out when only one is configured.
    #[arg(long, value_name = "NAME", value_hint = ValueHint::Other)]
    pub service: Option<String>,

    /// The command and its arguments, after --.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of a table (stable field names, for monitoring).
    #[arg(long, conflicts_with = "check")]
    pub json: bool,

    /// Print nothing; exit 0 only when every (or every named) service's entry is unexpired
    /// with at least --min-left left, else 1 with a line per failing service.
    #[arg(long)]
    pub check: bool,

    /// With --check: how much validity must be left, like "5m" or "90s" (default: any).
    #[arg(long, value_name = "DURATION", requires = "check", value_hint = ValueHint::Other)]
    pub min_left: Option<String>,

    /// Only this service (repeatable). Default: every configured service.
    #[arg(long = "service", value_name = "NAME", value_hint = ValueHint::Other)]
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("server").required(true).args(["instance", "host"])))]
pub struct AddArgs {
    /// The service's name, as clients name it: `PGSERVICE=NAME psql`.
    #[arg(value_name = "NAME", value_hint = ValueHint::Other)]
    pub name: String,

    /// The instance to connect to, resolved through Google's Admin API: an AlloyDB
    /// instance (projects/P/locations/R/clusters/C/instances/I) or a Cloud SQL connection
    /// name (P:R:I), as `discover` prints them.
    #[arg(long, value_name = "INSTANCE", value_hint = ValueHint::Other)]
    pub instance: Option<String>,

    /// The address to connect to instead: an IP address or a DNS name.
    #[arg(long, value_name = "HOST", value_hint = ValueHint::Hostname)]
    pub host: Option<String>,

    /// With --instance: which of its addresses to use (default: private).
    #[arg(long, value_name = "TYPE", requires = "instance", value_parser = ["private", "public", "psc"])]
    pub ip_type: Option<String>,

    /// The port (default: 5432, or what the instance's resolution says).
    #[arg(long, value_name = "N", value_hint = ValueHint::Other)]
    pub port: Option<u16>,

    /// The database to connect to.
    #[arg(long, value_name = "DB", value_hint = ValueHint::Other)]
    pub dbname: Option<String>,

    /// The database user (default: derived from the credential's account).
    #[arg(long, value_name = "USER", value_hint = ValueHint::Username)]
    pub user: Option<String>,

    /// Where its tokens come from: adc, metadata, gcloud, or the path of a service-account
    /// key file (default: the configuration's default, else adc).
    #[arg(long, value_name = "SOURCE", value_hint = ValueHint::FilePath)]
    pub credentials: Option<String>,

    /// A service account to impersonate for its tokens.
    #[arg(long, value_name = "SA", value_hint = ValueHint::EmailAddress)]
    pub impersonate: Option<String>,

    /// Only write the configuration: no refresh, no check.
    #[arg(long)]
    pub no_refresh: bool,
}

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// The project to list (repeatable). Default: the credential's project.
    #[arg(long = "project", value_name = "PROJECT", value_hint = ValueHint::Other)]
    pub projects: Vec<String>,

    /// Print a JSON array (fields: instance, kind, project, state, addresses,
    /// iam_authentication, connectors_only, add).
    #[arg(long)]
    pub json: bool,

    /// The credential to list with: adc, metadata, gcloud, or the path of a
    /// service-account key file (default: adc).
    #[arg(long, value_name = "SOURCE", value_hint = ValueHint::FilePath)]
    pub credentials: Option<String>,

    /// A service account to impersonate for listing.
    #[arg(long, value_name = "SA", value_hint = ValueHint::EmailAddress)]
    pub impersonate: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The client to write entries for.
    #[arg(value_enum)]
    pub client: ExportClient,

    /// Only this service (repeatable). Default: every configured service.
    #[arg(long = "service", value_name = "NAME", value_hint = ValueHint::Other)]
    pub services: Vec<String>,

    /// pgadmin only: host, port, user and a password exec command running `token`,
    /// instead of the service.
    #[arg(long)]
    pub passexec: bool,
}

/// The clients `export` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportClient {
    /// pgAdmin 4's servers.json.
    Pgadmin,
    /// DBeaver's data-sources.json.
    Dbeaver,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The page: alloydb-cred, alloydb-cred-COMMAND or alloydb-cred.toml.
    #[arg(value_name = "PAGE", default_value = "alloydb-cred", value_hint = ValueHint::Other)]
    pub page: String,

    /// Print the names of the pages instead.
    #[arg(long)]
    pub list: bool,
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
    #[arg(long = "service", value_name = "NAME", value_hint = ValueHint::Other)]
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
    /// Remove this service's entry and section (repeatable); it need not be configured
    /// any more.
    #[arg(long = "service", value_name = "NAME", value_hint = ValueHint::Other)]
    pub services: Vec<String>,

    /// Remove every entry and section of this configuration in the configured files,
    /// including those of services no longer in it.
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
