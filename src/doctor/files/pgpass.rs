//! The password file: whether libpq opens it, the entry of each service, the token in
//! it (by tokeninfo), the line libpq takes for the connection, the lines other readers
//! would take, and line lengths old libpq releases cut.

use std::os::unix::fs::MetadataExt;

use google_tokens::{
    ALLOYDB_LOGIN_SCOPE, CLOUD_PLATFORM_SCOPE, Context, Secret, TokenInfo, TokenInfoError, Universe,
};
use jiff::Timestamp;
use libpq_files::pgpass::{self, ManagedEntry, OLD_LIBPQ_MAX_LINE_BYTES, PgpassFile, Shadowed};

use super::super::{Check, time_left};
use super::Machine;
use crate::config::Service;
use crate::files::Files;
use crate::ownership::{Owner, check_private};
use crate::refresh::Target;

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

pub(super) fn pgpass_file_check(files: &Files) -> Check {
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
    // The one ownership test of the tool; a file others may write to fails it too,
    // and is left to the mode check below, which names the mode libpq wants.
    if let Err(untrusted) = check_private(&files.pgpass_real, &meta, "the password file", Owner::Me)
    {
        if untrusted.fix.starts_with("chown") {
            return Check::problem(
                NAME,
                format!(
                    "{}{via}: libpq opens it as you, and alloydb-cred cannot keep another user's file private",
                    untrusted.problem
                ),
                untrusted.fix,
            );
        }
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

pub(super) fn entry_check(
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

pub(super) fn written_token_check(
    written: &WrittenToken,
    entry: &ManagedEntry,
    service: &Service,
) -> Check {
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

pub(super) fn first_match_check(
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

pub(super) fn last_match_check(
    shadowed: &[Shadowed],
    entry: &ManagedEntry,
    files: &Files,
) -> Check {
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

pub(super) fn line_length_check(entry: &ManagedEntry, machine: &Machine) -> Check {
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
        assert_eq!(check.status, crate::doctor::Status::Problem, "{check:?}");

        // tokeninfo down (a 5xx after the retries) or rate-limiting: a warning, not a
        // verdict on the token.
        let down = WrittenToken::from_answer(Err(TokenInfoError::Unanswered(
            google_tokens::Error::Source("tokeninfo at https://t answered HTTP 503 3 times".into()),
        )));
        assert!(matches!(&down, WrittenToken::Unknown(why) if why.contains("HTTP 503")));
        let check = written_token_check(&down, &entry, &svc);
        assert_eq!(check.status, crate::doctor::Status::Warning, "{check:?}");
        assert!(check.message.contains("could not be asked"), "{check:?}");
    }
}
