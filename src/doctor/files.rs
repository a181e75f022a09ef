//! The two files, as libpq will read them: the password file it opens (and whether it
//! opens it at all), the line it takes for each connection, the service file it really
//! reads and the section in it; and what other readers (node-postgres, pgjdbc, old libpq
//! releases) would make of the same bytes.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use google_tokens::{
    ALLOYDB_LOGIN_SCOPE, CLOUD_PLATFORM_SCOPE, Context, Secret, TokenInfo, TokenInfoError, Universe,
};
use jiff::Timestamp;
use libpq_files::locked_file;
use libpq_files::pgpass::{self, ManagedEntry, OLD_LIBPQ_MAX_LINE_BYTES, PgpassFile, Shadowed};
use libpq_files::service_file::ServiceFile;
use libpq_files::version::PgVersion;

use super::{Check, run_bounded, service_table, time_left};
use crate::config::{Config, Service};
use crate::files::Files;
use crate::paths;
use crate::refresh::{Target, desired_section};

/// What the machine's PostgreSQL installation says, asked once.
pub struct Machine {
    /// The libpq releases the client programs on PATH report.
    libpq: Vec<(&'static str, PgVersion)>,
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
    fn old_libpq(&self) -> Vec<&(&'static str, PgVersion)> {
        self.libpq
            .iter()
            .filter(|(_, v)| !v.reads_long_pgpass_lines())
            .collect()
    }
}

/// A program's first line of output for one argument, if it runs and succeeds.
fn program_says(program: &str, arg: &str) -> Option<String> {
    let out = run_bounded(Command::new(program).arg(arg), VERSION_TIMEOUT).ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().map(str::to_string)
}

/// What tokeninfo says about the token written for a service.
#[derive(Clone)]
pub enum WrittenToken {
    Live(TokenInfo),
    /// tokeninfo refused it: revoked, expired or not a Google token.
    Rejected,
    /// tokeninfo could not be asked (unreachable, odd answer): why.
    Unknown(String),
}

impl WrittenToken {
    pub fn ask(ctx: &Context<'_>, token: &str, universe: &Universe) -> WrittenToken {
        WrittenToken::from_answer(google_tokens::tokeninfo(ctx, &Secret::new(token), universe))
    }

    /// Only tokeninfo's refusal of the token is a verdict on it; a tokeninfo that could
    /// not be asked (down, rate-limiting, misconfigured) says nothing.
    fn from_answer(answer: Result<TokenInfo, TokenInfoError>) -> WrittenToken {
        match answer {
            Ok(info) => WrittenToken::Live(info),
            Err(TokenInfoError::Rejected(_)) => WrittenToken::Rejected,
            Err(e @ TokenInfoError::Unanswered(_)) => WrittenToken::Unknown(e.to_string()),
        }
    }
}

/// The service a group of checks is about, and where it connects (unknown for an
/// instance not resolved yet).
#[derive(Clone, Copy)]
pub struct Subject<'a> {
    pub service: &'a Service,
    pub target: Option<&'a Target>,
}

/// What a service's file checks found, for the login check.
pub struct Facts {
    pub entry: Option<ManagedEntry>,
    pub section: bool,
    pub written: Option<WrittenToken>,
}

/// Both files as read and parsed once at the start, shared by every service's checks:
/// with many services, parsing per service would cost as many readings of each file.
pub struct OnDisk {
    files: Option<Files>,
    /// The password file, when there is one libpq can use.
    pgpass: Option<Pgpass>,
    /// The service file (empty when there is none, or it cannot be read).
    service_file: ServiceFile,
    /// The section names the user wrote in the service file.
    foreign_sections: Vec<String>,
    /// Sections the system-wide service file defines.
    system_sections: Vec<String>,
}

/// The password file's bytes (libpq's first match is found in them), parsed.
struct Pgpass {
    bytes: Vec<u8>,
    parsed: PgpassFile,
    /// The user's lines below the block that match an entry's connection.
    shadowed: Vec<Shadowed>,
}

impl OnDisk {
    /// Reads both files (and the system-wide service file), adding the checks about the
    /// files as a whole to `out`.
    pub fn read(config: &Config, machine: &Machine, out: &mut Vec<Check>) -> OnDisk {
        let files = match Files::of(config) {
            Ok(files) => files,
            Err(e) => {
                out.push(Check::problem(
                    "pgpass.file",
                    e.to_string(),
                    format!(
                        "point `pgpass` and `service_file` in {} at files you can read",
                        config.path.display()
                    ),
                ));
                return OnDisk {
                    files: None,
                    pgpass: None,
                    service_file: ServiceFile::default(),
                    foreign_sections: Vec::new(),
                    system_sections: Vec::new(),
                };
            }
        };
        out.push(pgpass_file_check(&files));
        let pgpass = locked_file::read(&files.pgpass_real)
            .ok()
            .flatten()
            .map(|s| {
                let parsed = PgpassFile::parse(&s.bytes);
                Pgpass {
                    shadowed: parsed.shadowed(),
                    parsed,
                    bytes: s.bytes,
                }
            });
        out.push(service_file_location_check(config));
        let service_file = match locked_file::read(&files.service_file_real) {
            Ok(snapshot) => snapshot.map(|s| ServiceFile::parse(&s.bytes)),
            Err(e) => {
                out.push(Check::problem(
                    "service_file.read",
                    e.to_string(),
                    "see the message",
                ));
                None
            }
        };
        let (check, system_sections) = system_file_check(machine);
        out.push(check);
        out.push(libpq_version_check(machine));
        let service_file = service_file.unwrap_or_default();
        OnDisk {
            files: Some(files),
            pgpass,
            foreign_sections: service_file.foreign_section_names(),
            service_file,
            system_sections,
        }
    }

    /// The file checks of one service. `ask` asks tokeninfo about a written token (the
    /// caller asks once per distinct token).
    pub fn service_checks(
        &self,
        subject: Subject<'_>,
        config: &Config,
        machine: &Machine,
        now: Timestamp,
        ask: impl FnOnce(&str) -> WrittenToken,
        out: &mut Vec<Check>,
    ) -> Facts {
        let Subject { service, target } = subject;
        let mut facts = Facts {
            entry: None,
            section: false,
            written: None,
        };
        let Some(files) = &self.files else {
            return facts;
        };
        let name = service.name.as_str();
        let refresh = format!("alloydb-cred refresh --service {name}");
        let Some(pgpass) = &self.pgpass else {
            out.push(Check::problem(
                "pgpass.entry",
                format!(
                    "there is no password file libpq can use at {} (see pgpass.file)",
                    files.pgpass.display()
                ),
                refresh,
            ));
            self.section_checks(subject, config, files, None, out, &mut facts);
            return facts;
        };
        let parsed = &pgpass.parsed;
        let entry = match self.entry_of(service, config) {
            None => {
                out.push(Check::problem(
                    "pgpass.entry",
                    format!("{} has no entry for service {name}", files.pgpass.display()),
                    refresh.clone(),
                ));
                None
            }
            Some((e, false)) => {
                out.push(Check::problem(
                    "pgpass.entry",
                    format!(
                        "the entry for service {name} in {} belongs to another alloydb-cred configuration (owner={})",
                        files.pgpass.display(),
                        e.owner.as_ref().map(|o| o.to_string()).unwrap_or_default()
                    ),
                    "rename the service in one of the configurations, or give them different `pgpass` files",
                ));
                None
            }
            Some((e, true)) => Some(e),
        };
        if let Some(entry) = entry {
            out.push(entry_check(entry, service, target, files, now, &refresh));
            if entry.expires_at > now {
                let written = ask(entry.password.expose());
                out.push(written_token_check(&written, entry, service));
                facts.written = Some(written);
            }
            out.push(first_match_check(
                &pgpass.bytes,
                parsed,
                entry,
                service,
                files,
            ));
            out.push(last_match_check(&pgpass.shadowed, entry, files));
            out.push(line_length_check(entry, machine));
            facts.entry = Some(entry.clone());
        }
        self.section_checks(subject, config, files, entry, out, &mut facts);
        facts
    }

    /// The entry libpq would be given for `service`: this configuration's own if there
    /// is one (`true`), else another configuration's of the same name (`false`).
    fn entry_of(&self, service: &Service, config: &Config) -> Option<(&ManagedEntry, bool)> {
        let ours = |e: &ManagedEntry| e.owner.as_ref().is_none_or(|o| *o == config.owner);
        self.pgpass
            .as_ref()?
            .parsed
            .managed()
            .iter()
            .filter(|e| e.service == *service.name.as_str())
            .min_by_key(|e| !ours(e))
            .map(|e| (e, ours(e)))
    }

    /// The unexpired token written for `service` that [`OnDisk::service_checks`] will ask
    /// tokeninfo about, so the question can be asked beforehand, beside the others.
    pub fn written_token(
        &self,
        service: &Service,
        config: &Config,
        now: Timestamp,
    ) -> Option<&str> {
        self.entry_of(service, config)
            .filter(|(e, ours)| *ours && e.expires_at > now)
            .map(|(e, _)| e.password.expose())
    }

    fn section_checks(
        &self,
        subject: Subject<'_>,
        config: &Config,
        files: &Files,
        entry: Option<&ManagedEntry>,
        out: &mut Vec<Check>,
        facts: &mut Facts,
    ) {
        let Subject { service, target } = subject;
        let name = service.name.as_str();
        let path = files.service_file.display();
        let parsed = &self.service_file;
        let mine = parsed
            .get(name)
            .filter(|s| s.owner.as_ref().is_none_or(|o| o.tag == config.owner));
        let check = if self.foreign_sections.iter().any(|n| n == name) {
            Check::problem(
                "service_file.section",
                format!(
                    "{path} has a section [{name}] that you wrote; alloydb-cred leaves it alone and writes none there"
                ),
                format!(
                    "rename the service in {}, or delete or rename that section",
                    config.path.display()
                ),
            )
        } else if let Some(section) = mine {
            facts.section = true;
            let wanted = entry
                .zip(target)
                .and_then(|(e, t)| desired_section(service, t, e.user.as_str(), files).ok());
            let current = wanted
                .as_ref()
                .is_none_or(|w| w.keywords == section.keywords && !section.edited);
            let summary: Vec<String> = section
                .keywords
                .iter()
                .filter(|(k, _)| ["host", "port", "dbname", "user"].contains(&k.as_str()))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            if current {
                Check::ok(
                    "service_file.section",
                    format!("[{name}] in {path}: {}", summary.join(" ")),
                )
            } else {
                Check::warning(
                    "service_file.section",
                    format!(
                        "[{name}] in {path} differs from what the configuration says (edited by hand, or the configuration changed)"
                    ),
                    format!("alloydb-cred refresh --service {name} rewrites it"),
                )
            }
        } else if parsed.get(name).is_some() {
            Check::problem(
                "service_file.section",
                format!("[{name}] in {path} belongs to another alloydb-cred configuration"),
                "rename the service in one of the configurations, or give them different `service_file`s",
            )
        } else {
            Check::problem(
                "service_file.section",
                format!("{path} has no section [{name}], so `PGSERVICE={name}` finds nothing"),
                format!("alloydb-cred refresh --service {name}"),
            )
        };
        out.push(check);
        if let Some(section) = mine {
            let rejects: Vec<&str> = section
                .pgjdbc_rejects()
                .into_iter()
                .filter(|k| *k != "passfile")
                .collect();
            out.push(if rejects.is_empty() {
                Check::ok(
                    "service_file.pgjdbc",
                    "every keyword in the section is one pgjdbc (DBeaver, DataGrip) accepts too",
                )
            } else {
                Check::warning(
                    "service_file.pgjdbc",
                    format!(
                        "pgjdbc (DBeaver, DataGrip) refuses the whole service because of {} (\"Unable to parse URL\"); libpq clients are not affected",
                        rejects.join(", ")
                    ),
                    format!(
                        "if pgjdbc clients use this service, remove {} from `libpq` in {}",
                        rejects.join(", "),
                        service_table(service, config)
                    ),
                )
            });
            let passfile = section
                .keywords
                .iter()
                .find(|(k, _)| k.as_str() == "passfile")
                .map(|(_, v)| v.as_str().to_string());
            out.push(match passfile {
                None => Check::ok(
                    "service_file.passfile",
                    "no passfile=: every reader finds the password file where it looks by default",
                ),
                Some(passfile) => Check::warning(
                    "service_file.passfile",
                    format!(
                        "the section names the password file with passfile={passfile}, because it is not where libpq looks by default; pgjdbc (DBeaver, DataGrip) rejects that keyword, so those clients cannot use this section, and they (and node-postgres) find the password file only through PGPASSFILE"
                    ),
                    format!(
                        "for those clients set PGPASSFILE={passfile} (and connect with host, port and user), or remove `pgpass` from {} so the default ~/.pgpass is used",
                        config.path.display()
                    ),
                ),
            });
        }
        if self.system_sections.iter().any(|s| s == name) {
            out.push(Check::warning(
                "service_file.system",
                format!(
                    "the system-wide service file also defines [{name}]: libpq reads yours first, but a program run with another HOME or PGSERVICEFILE (cron, sudo, a container), and libpq when your section is missing, get that one"
                ),
                "rename the service in one of the two files",
            ));
        }
    }
}

fn pgpass_file_check(files: &Files) -> Check {
    const NAME: &str = "pgpass.file";
    let path = &files.pgpass;
    let via = if files.pgpass_real != files.pgpass {
        format!(" (through a symlink to {})", files.pgpass_real.display())
    } else {
        String::new()
    };
    let meta = match std::fs::metadata(&files.pgpass_real) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Check::problem(
                NAME,
                format!("{}{via} does not exist yet", path.display()),
                "alloydb-cred refresh",
            );
        }
        Err(e) => {
            return Check::problem(
                NAME,
                format!("cannot inspect {}{via}: {e}", path.display()),
                "make the file readable to you, or point `pgpass` in the configuration elsewhere",
            );
        }
    };
    if !meta.is_file() {
        return Check::problem(
            NAME,
            format!(
                "{}{via} is not a regular file; libpq ignores it",
                path.display()
            ),
            "move it away (alloydb-cred refresh then creates the file), or point `pgpass` in the configuration at a regular file",
        );
    }
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Check::problem(
            NAME,
            format!(
                "{}{via} belongs to user id {}, not to you (user id {me}); libpq opens it as you, and alloydb-cred cannot keep another user's file private",
                path.display(),
                meta.uid()
            ),
            format!("chown \"$(id -u)\" {}", files.pgpass_real.display()),
        );
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Check::problem(
            NAME,
            format!(
                "{}{via} has mode {mode:04o}: libpq (and asyncpg and node-postgres) ignore a password file that group or others can read",
                path.display()
            ),
            format!("chmod 600 {}", files.pgpass_real.display()),
        );
    }
    Check::ok(
        NAME,
        format!(
            "{}{via} is a regular file of yours with mode {mode:04o}",
            path.display()
        ),
    )
}

fn service_file_location_check(config: &Config) -> Check {
    const NAME: &str = "service_file.location";
    let written = &config.service_file;
    let by = if std::env::var_os("PGSERVICEFILE").is_some_and(|v| !v.is_empty()) {
        "PGSERVICEFILE"
    } else {
        "the per-user default"
    };
    match paths::default_service_file() {
        Ok(_) if paths::is_libpq_default_service_file(written) => Check::ok(
            NAME,
            format!(
                "libpq reads {} ({by}), the file alloydb-cred writes",
                written.display()
            ),
        ),
        Ok(read) => Check::warning(
            NAME,
            format!(
                "libpq reads {} ({by}), but alloydb-cred writes {}: `PGSERVICE=NAME psql` finds these services only with PGSERVICEFILE={} (as `alloydb-cred exec` sets it)",
                read.display(),
                written.display(),
                written.display()
            ),
            format!(
                "export PGSERVICEFILE={} where the clients run, or remove `service_file` from {}",
                written.display(),
                config.path.display()
            ),
        ),
        Err(e) => Check::warning(
            NAME,
            format!("cannot tell which service file libpq reads: {e}"),
            "set HOME, or PGSERVICEFILE",
        ),
    }
}

fn system_file_check(machine: &Machine) -> (Check, Vec<String>) {
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

fn libpq_version_check(machine: &Machine) -> Check {
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

fn entry_check(
    entry: &ManagedEntry,
    service: &Service,
    target: Option<&Target>,
    files: &Files,
    now: Timestamp,
    refresh: &str,
) -> Check {
    const NAME: &str = "pgpass.entry";
    let path = files.pgpass.display();
    let expires = entry.expires_at;
    if expires <= now {
        return Check::problem(
            NAME,
            format!(
                "the entry for service {} in {path} expired at {expires}",
                service.name
            ),
            format!(
                "{refresh}; to keep it fresh run `alloydb-cred -q refresh` every 5 minutes (cron, or the alloydb-cred-refresh.timer systemd user unit)"
            ),
        );
    }
    if let Some(target) = target.filter(|t| entry.host != t.host || entry.port != t.port) {
        return Check::warning(
            NAME,
            format!(
                "the entry in {path} is for {}:{}, but the service now connects to {}:{}",
                entry.host, entry.port, target.host, target.port
            ),
            refresh.to_string(),
        );
    }
    let due = if expires.duration_since(now).as_secs()
        < i64::try_from(service.refresh_window.as_secs()).unwrap_or(i64::MAX)
    {
        "; due for refresh"
    } else {
        ""
    };
    Check::ok(
        NAME,
        format!(
            "{path} has an entry for {}:{} user {:?}, valid until {expires} ({} left{due})",
            entry.host,
            entry.port,
            entry.user.as_str(),
            time_left(expires, now)
        ),
    )
}

fn written_token_check(written: &WrittenToken, entry: &ManagedEntry, service: &Service) -> Check {
    const NAME: &str = "pgpass.token";
    let refresh = format!("alloydb-cred refresh --force --service {}", service.name);
    match written {
        WrittenToken::Rejected => Check::problem(
            NAME,
            "tokeninfo rejects the token in the password file (revoked, or not a Google access token): AlloyDB would answer \"Request had invalid authentication credentials.\"",
            refresh,
        ),
        WrittenToken::Unknown(why) => Check::warning(
            NAME,
            format!("tokeninfo could not be asked about the token in the password file: {why}"),
            "make sure tokeninfo is reachable (`tokeninfo` in the [endpoints] table)",
        ),
        WrittenToken::Live(info) => {
            if !info
                .scopes
                .iter()
                .any(|s| s == ALLOYDB_LOGIN_SCOPE || s == CLOUD_PLATFORM_SCOPE)
            {
                return Check::problem(
                    NAME,
                    "the token in the password file carries neither alloydb.login nor cloud-platform: AlloyDB would answer \"Request had insufficient scopes.\"",
                    format!("fix the credential's scopes (see credentials.scopes), then {refresh}"),
                );
            }
            if let Some(email) = &info.email {
                let user = google_tokens::database_user(email).unwrap_or_default();
                if user != entry.user.as_str() {
                    return Check::problem(
                        NAME,
                        format!(
                            "IAM principal does not match database user: the token in the password file is {email}'s (database user {user:?}), but its entry logs in as {:?}",
                            entry.user.as_str()
                        ),
                        refresh,
                    );
                }
            }
            Check::ok(
                NAME,
                format!(
                    "tokeninfo accepts the token in the password file (it expires {})",
                    info.expires_at
                        .round(jiff::Unit::Second)
                        .unwrap_or(info.expires_at)
                ),
            )
        }
    }
}

fn first_match_check(
    bytes: &[u8],
    parsed: &PgpassFile,
    entry: &ManagedEntry,
    service: &Service,
    files: &Files,
) -> Check {
    const NAME: &str = "pgpass.first_match";
    let path = files.pgpass.display();
    // libpq's default database is the user name.
    let database = service
        .dbname
        .as_ref()
        .map_or(entry.user.as_str(), |d| d.as_str());
    let found = pgpass::first_match(
        bytes,
        entry.host.as_str(),
        entry.port,
        database,
        entry.user.as_str(),
    );
    let Some(found) = found else {
        return Check::problem(
            NAME,
            format!("libpq finds no line in {path} for this connection"),
            format!("alloydb-cred refresh --force --service {}", service.name),
        );
    };
    if found.password == entry.password.expose().as_bytes() {
        return Check::ok(
            NAME,
            format!(
                "libpq takes line {} of {path}, the entry's (the first match wins)",
                found.line
            ),
        );
    }
    if let Some(other) = parsed
        .managed()
        .iter()
        .find(|e| e.password.expose().as_bytes() == found.password)
    {
        return Check::ok(
            NAME,
            format!(
                "libpq takes line {} of {path}, the entry of service {} for the same connection (valid until {})",
                found.line, other.service, other.expires_at
            ),
        );
    }
    Check::problem(
        NAME,
        format!(
            "line {} of {path} ({}) comes before the entry and matches the same connection: libpq takes the first match and sends that line's password instead of the token",
            found.line, found.connection
        ),
        format!(
            "delete line {} of {path}, or move it below the managed block (`alloydb-cred refresh --force --service {}` puts the block back on top)",
            found.line, service.name
        ),
    )
}

fn last_match_check(shadowed: &[Shadowed], entry: &ManagedEntry, files: &Files) -> Check {
    const NAME: &str = "pgpass.last_match";
    let path = files.pgpass.display();
    let below: Vec<String> = shadowed
        .iter()
        .filter(|s| s.service == entry.service)
        .map(|s| format!("line {} ({})", s.line, s.connection))
        .collect();
    if below.is_empty() {
        return Check::ok(
            NAME,
            "no line below the entry matches the same connection (node-postgres 8 would take the last match)",
        );
    }
    Check::warning(
        NAME,
        format!(
            "{} of {path} also match{} this connection: libpq never reads {} for this connection, but node-postgres 8 (pgpass 1.0.5) takes the last matching line and would send that password instead of the token",
            below.join(", "),
            if below.len() == 1 { "es" } else { "" },
            if below.len() == 1 { "it" } else { "them" }
        ),
        format!(
            "delete or change {} in {path} if node-postgres connects here, or have it ask pgpass 1.0.6 or later (first match)",
            below.join(", ")
        ),
    )
}

fn line_length_check(entry: &ManagedEntry, machine: &Machine) -> Check {
    const NAME: &str = "pgpass.line_length";
    let bytes = entry.line_bytes();
    if bytes <= OLD_LIBPQ_MAX_LINE_BYTES {
        return Check::ok(
            NAME,
            format!("the entry's line is {bytes} bytes, short enough for every libpq release"),
        );
    }
    let old = machine.old_libpq();
    if old.is_empty() {
        return Check::ok(
            NAME,
            format!(
                "the entry's line is {bytes} bytes; libpq before 13.0, 12.5, 11.10, 10.15, 9.6.20 and 9.5.24 would read only {OLD_LIBPQ_MAX_LINE_BYTES}, but {}",
                if machine.libpq.is_empty() {
                    "no such release was found here".to_string()
                } else {
                    format!(
                        "the one found here ({}) reads lines of any length",
                        machine
                            .libpq
                            .iter()
                            .map(|(p, v)| format!("{p} {v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ),
        );
    }
    let found: Vec<String> = old
        .iter()
        .map(|(program, version)| match version.long_line_fix() {
            Some(fix) => format!("{program} {version} (fixed in {fix})"),
            None => format!("{program} {version}"),
        })
        .collect();
    Check::warning(
        NAME,
        format!(
            "the entry's line is {bytes} bytes, but {} here read{} at most {OLD_LIBPQ_MAX_LINE_BYTES} bytes of a password-file line and would send a cut token",
            found.join(" and "),
            if found.len() == 1 { "s" } else { "" }
        ),
        "upgrade PostgreSQL's client library (libpq) to 13 or later (or 12.5, 11.10, 10.15, 9.6.20, 9.5.24); until then give such clients the token with `alloydb-cred token`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UserSpec;

    #[test]
    fn only_a_rejection_by_tokeninfo_condemns_the_written_token() {
        let svc = crate::refresh::tests::service(UserSpec::Auto);
        let entry = ManagedEntry {
            service: svc.name.clone(),
            expires_at: Timestamp::UNIX_EPOCH,
            host: libpq_files::Host::new("h").expect("host"),
            port: 5432,
            user: libpq_files::Role::new("u").expect("role"),
            password: libpq_files::Password::new("t").expect("token"),
            credential: libpq_files::Tag::of(b"c"),
            owner: None,
        };
        let rejected = WrittenToken::from_answer(Err(TokenInfoError::Rejected("no".into())));
        assert!(matches!(rejected, WrittenToken::Rejected));
        let check = written_token_check(&rejected, &entry, &svc);
        assert_eq!(check.status, super::super::Status::Problem, "{check:?}");

        // tokeninfo down (a 5xx after the retries) or rate-limiting: a warning, not a
        // verdict on the token.
        let down = WrittenToken::from_answer(Err(TokenInfoError::Unanswered(
            google_tokens::Error::Source("tokeninfo at https://t answered HTTP 503 3 times".into()),
        )));
        assert!(matches!(&down, WrittenToken::Unknown(why) if why.contains("HTTP 503")));
        let check = written_token_check(&down, &entry, &svc);
        assert_eq!(check.status, super::super::Status::Warning, "{check:?}");
        assert!(check.message.contains("could not be asked"), "{check:?}");
    }
}
