//! `status`: each service's user, host, expiry, time left, token breadth and last error.
//! Never a token. Only this configuration's entries are reported.

use std::io::Write;

use google_tokens::Breadth;
use jiff::Timestamp;
use libpq_files::pgpass::{PgpassFile, Shadowed};
use libpq_files::service_file::ServiceFile;
use serde::Serialize;

use crate::cli::StatusArgs;
use crate::config::{Config, Server, UserSpec};
use crate::error::{Error, Result};
use crate::exit_codes::ExitCode;
use crate::files::{Files, bytes_of};
use crate::refresh::describe_shadow;
use crate::state::State;

/// One row of the report, and one element of `services` in `status --json`: the field
/// names and types here are that document's shape, which scripts rely on (documented in
/// the man page): add fields, never rename or drop them.
#[derive(Serialize)]
struct Row {
    name: String,
    user: String,
    /// What the files say (for an instance: its last resolution; none before the first).
    host: Option<String>,
    port: Option<u16>,
    /// The instance the service names, if any, and its last failed resolution.
    instance: Option<String>,
    #[serde(rename = "instance_last_failure")]
    instance_failure: Option<String>,
    dbname: Option<String>,
    credentials: String,
    #[serde(serialize_with = "optional_text")]
    expires_at: Option<Timestamp>,
    seconds_left: Option<i64>,
    /// missing, expired, due or valid.
    state: &'static str,
    /// login-only, broad or unknown, as recorded when the token was minted.
    token_scope: Option<Breadth>,
    #[serde(rename = "service_section")]
    section: bool,
    #[serde(rename = "last_refreshed_at", serialize_with = "optional_text")]
    last_refreshed: Option<Timestamp>,
    last_error: Option<String>,
    /// `config` (retrying cannot help) or `runtime`, for the last error.
    last_error_kind: Option<crate::error::Kind>,
}

/// `status --json`, whole.
#[derive(Serialize)]
struct Document<'a> {
    config: String,
    pgpass: String,
    service_file: String,
    pgjdbc_needs_pgpassfile: bool,
    services: &'a [Row],
    unconfigured_entries: &'a [String],
    entries_of_other_configurations: usize,
    shadowed_lines: Vec<ShadowedLine>,
}

/// A user's password-file line that a managed entry hides (never its password).
#[derive(Serialize)]
struct ShadowedLine {
    service: String,
    line: usize,
    connection: String,
}

fn optional_text<S: serde::Serializer, T: std::fmt::Display>(
    value: &Option<T>,
    out: S,
) -> std::result::Result<S::Ok, S::Error> {
    match value {
        Some(value) => out.collect_str(value),
        None => out.serialize_none(),
    }
}

/// `text` with every control character (escape sequences from a file or a message
/// included) replaced, so nothing status prints can drive the terminal.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Everything `status` reports.
struct Report {
    rows: Vec<Row>,
    /// This configuration's entries for services it no longer configures.
    orphans: Vec<String>,
    /// Entries in the same password file that other configurations own.
    others: usize,
    shadowed: Vec<Shadowed>,
    needs_pgpassfile: bool,
}

pub fn run(config: &Config, args: &StatusArgs) -> Result<ExitCode> {
    let selected = if args.services.is_empty() {
        config.services.iter().collect()
    } else {
        config.select(&args.services)?
    };
    if args.check {
        let min_left = match &args.min_left {
            Some(text) => crate::config::parse_duration(text)
                .map_err(|why| Error::Config(format!("--min-left: {why}")))?,
            None => std::time::Duration::ZERO,
        };
        return check(config, &selected, min_left);
    }
    let report = gather(config, &selected)?;
    let text = if args.json {
        render_json(config, &report)
    } else {
        render_table(config, &report)
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| Error::Runtime(format!("cannot write to stdout: {e}")))?;
    Ok(ExitCode::Success)
}

/// `--check`: silent when every selected service has an unexpired entry with at least
/// `min_left` of it left; otherwise one line per failing service and exit code 1. A probe
/// runs this every few seconds: it reads the password file and nothing else (not the
/// state directory, whose trouble is no reason to restart a working sidecar).
fn check(
    config: &Config,
    selected: &[&crate::config::Service],
    min_left: std::time::Duration,
) -> Result<ExitCode> {
    let min_left = i64::try_from(min_left.as_secs()).unwrap_or(i64::MAX);
    let files = Files::of(config)?;
    let snapshot = libpq_files::locked_file::read(&files.pgpass_real)?;
    let entries = PgpassFile::managed_in(bytes_of(&snapshot));
    let now = crate::clock::now().as_second();
    let failing: Vec<String> = selected
        .iter()
        .map(|svc| {
            let left = entries
                .iter()
                .find(|e| e.service == svc.name && config.owns(e.owner.as_ref()))
                .map(|e| e.expires_at.as_second() - now);
            (svc.name.as_str(), left)
        })
        .filter_map(|(name, left)| match left {
            None => Some(format!("{name}: no entry")),
            Some(left) if left <= 0 => Some(format!("{name}: {}", human_left(left))),
            Some(left) if left < min_left => Some(format!(
                "{name}: {} left, less than the {} asked for",
                human_left(left),
                human_left(min_left)
            )),
            Some(_) => None,
        })
        .collect();
    if failing.is_empty() {
        return Ok(ExitCode::Success);
    }
    let mut text = failing.join("\n");
    text.push('\n');
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| Error::Runtime(format!("cannot write to stdout: {e}")))?;
    Ok(ExitCode::RuntimeFailure)
}

fn gather(config: &Config, selected: &[&crate::config::Service]) -> Result<Report> {
    let files = Files::of(config)?;
    let snapshots = files.read()?;
    let pgpass = PgpassFile::parse(bytes_of(&snapshots.pgpass));
    let sections = ServiceFile::managed_in(bytes_of(&snapshots.service_file));
    let state = State::load()?;
    let now = crate::clock::now();
    let entries: Vec<_> = pgpass
        .managed()
        .iter()
        .filter(|e| config.owns(e.owner.as_ref()))
        .collect();

    let rows = selected
        .iter()
        .map(|svc| {
            let entry = entries.iter().find(|e| e.service == svc.name);
            let seconds_left = entry.map(|e| e.expires_at.as_second() - now.as_second());
            let window = i64::try_from(svc.refresh_window.as_secs()).unwrap_or(i64::MAX);
            let state_word = match seconds_left {
                None => "missing",
                Some(s) if s <= 0 => "expired",
                Some(s) if s < window => "due",
                Some(_) => "valid",
            };
            let name = svc.name.to_string();
            let record = state.service(&config.owner, &name);
            let (host, port, instance, instance_failure) = match &svc.server {
                Server::Host { host, port } => (Some(host.to_string()), Some(*port), None, None),
                Server::Instance(i) => {
                    let cached = state.instances.get(&i.cache_key());
                    let (host, port) = match (entry, cached) {
                        (Some(e), _) => (Some(e.host.to_string()), Some(e.port)),
                        (None, Some(c)) => (Some(c.host.clone()), Some(i.port.unwrap_or(c.port))),
                        (None, None) => (None, i.port),
                    };
                    let failure = cached.and_then(|c| {
                        let f = c.last_failure.as_ref()?;
                        Some(google_tokens::redact(
                            &format!(
                                "{} ({}); using the address resolved at {}",
                                f.message, f.at, c.resolved_at
                            ),
                            &[],
                        ))
                    });
                    (host, port, Some(i.name.to_string()), failure)
                }
            };
            let printable_opt = |t: Option<String>| t.as_deref().map(printable);
            Row {
                user: printable(&match (entry, &svc.user) {
                    (Some(e), _) => e.user.to_string(),
                    (None, UserSpec::Named(u)) => u.to_string(),
                    (None, UserSpec::Auto) => "auto".into(),
                }),
                host: printable_opt(host),
                port,
                instance: printable_opt(instance),
                instance_failure: printable_opt(instance_failure),
                dbname: svc.dbname.as_ref().map(|d| printable(d.as_str())),
                credentials: printable(&svc.credential.source.to_string()),
                expires_at: entry.map(|e| e.expires_at),
                seconds_left,
                state: state_word,
                token_scope: entry.and_then(|_| record?.breadth),
                section: sections
                    .iter()
                    .any(|s| s.name == svc.name && config.owns(s.owner.as_ref().map(|o| &o.tag))),
                last_refreshed: record.and_then(|r| r.last_refreshed),
                last_error: record.and_then(|r| r.last_error.as_ref()).map(|e| {
                    printable(&google_tokens::redact(
                        &format!("{} ({})", e.message, e.at),
                        &[],
                    ))
                }),
                last_error_kind: record.and_then(|r| r.last_error.as_ref()?.kind),
                name: printable(&name),
            }
        })
        .collect();
    let orphans = entries
        .iter()
        .map(|e| e.service.to_string())
        .filter(|n| !config.services.iter().any(|s| s.name == *n.as_str()))
        .map(|n| printable(&n))
        .collect();
    let others = pgpass.managed().len() - entries.len();
    let shadowed = pgpass
        .shadowed()
        .into_iter()
        .filter(|s| selected.iter().any(|svc| svc.name == s.service))
        .collect();
    Ok(Report {
        rows,
        orphans,
        others,
        shadowed,
        needs_pgpassfile: files.needs_passfile,
    })
}

fn render_json(config: &Config, report: &Report) -> String {
    let doc = Document {
        config: printable(&config.path.display().to_string()),
        pgpass: printable(&config.pgpass.display().to_string()),
        service_file: printable(&config.service_file.display().to_string()),
        pgjdbc_needs_pgpassfile: report.needs_pgpassfile,
        services: &report.rows,
        unconfigured_entries: &report.orphans,
        entries_of_other_configurations: report.others,
        shadowed_lines: report
            .shadowed
            .iter()
            .map(|s| ShadowedLine {
                service: s.service.to_string(),
                line: s.line,
                connection: printable(&s.connection),
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

fn render_table(config: &Config, report: &Report) -> String {
    const COLUMNS: usize = 7;
    let mut table = vec![[
        "SERVICE".to_string(),
        "USER".into(),
        "HOST".into(),
        "EXPIRES (UTC)".into(),
        "LEFT".into(),
        "TOKEN".into(),
        "STATE".into(),
    ]];
    for r in &report.rows {
        table.push([
            r.name.clone(),
            r.user.clone(),
            host_cell(r),
            r.expires_at
                .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|| "-".into()),
            r.seconds_left.map(human_left).unwrap_or_else(|| "-".into()),
            r.token_scope.map_or("-", Breadth::as_str).to_string(),
            format!(
                "{}{}",
                r.state,
                if r.section || r.state == "missing" {
                    ""
                } else {
                    ", no section"
                }
            ),
        ]);
    }
    let widths: Vec<usize> = (0..COLUMNS)
        .map(|i| {
            table
                .iter()
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in &table {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        text.push_str(line.join("  ").trim_end());
        text.push('\n');
    }
    text.push_str(&format!("\npgpass:       {}\n", config.pgpass.display()));
    text.push_str(&format!(
        "service file: {}\n",
        config.service_file.display()
    ));
    if report
        .rows
        .iter()
        .any(|r| r.token_scope == Some(Breadth::Broad))
    {
        text.push_str(
            "note: a broad token can act on Google Cloud APIs, not only log in; it sits in a plain file that GUI tools read. Use login-only scopes where the source allows (`scopes` in `alloydb-cred man alloydb-cred.toml | man -l -`)\n",
        );
    }
    if report.needs_pgpassfile {
        text.push_str(&format!(
            "note: the password file is not where libpq looks by default, so sections carry passfile=; \
pgjdbc clients (DBeaver, DataGrip) need PGPASSFILE={} and cannot use these services from the service file\n",
            config.pgpass.display()
        ));
    }
    for shadow in &report.shadowed {
        text.push_str(&format!(
            "note: {}\n",
            describe_shadow(shadow, &config.pgpass)
        ));
    }
    for r in &report.rows {
        if let (Some(instance), Some(failure)) = (&r.instance, &r.instance_failure) {
            text.push_str(&format!(
                "note: {}: instance {instance} could not be resolved again: {failure}\n",
                r.name
            ));
        }
        if let Some(err) = &r.last_error {
            text.push_str(&format!("last error of {}: {err}\n", r.name));
        }
    }
    if !report.orphans.is_empty() {
        text.push_str(&format!(
            "entries for services no longer configured: {} (remove them with `alloydb-cred remove --service NAME`)\n",
            report.orphans.join(", ")
        ));
    }
    if report.others > 0 {
        text.push_str(&format!(
            "{} more entries in the password file belong to other alloydb-cred configurations\n",
            report.others
        ));
    }
    // Paths and messages come from files others may write: nothing reaches the terminal
    // as a control character.
    text.split('\n')
        .map(printable)
        .collect::<Vec<_>>()
        .join("\n")
}

/// `host:port` (`[v6]:port`), and the instance it stands for.
fn host_cell(r: &Row) -> String {
    let address = match (&r.host, r.port) {
        (Some(host), Some(port)) if host.contains(':') => format!("[{host}]:{port}"),
        (Some(host), Some(port)) => format!("{host}:{port}"),
        _ => "-".to_string(),
    };
    match &r.instance {
        Some(instance) => format!("{address} ({instance})"),
        None => address,
    }
}

/// "42m 10s", "1h 2m", "expired 3m ago" style, to the second.
fn human_left(seconds: i64) -> String {
    let (neg, s) = (seconds < 0, seconds.unsigned_abs());
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let text = if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {sec}s")
    } else {
        format!("{sec}s")
    };
    if neg {
        format!("expired {text} ago")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human() {
        assert_eq!(human_left(3723), "1h 2m");
        assert_eq!(human_left(610), "10m 10s");
        assert_eq!(human_left(-5), "expired 5s ago");
    }
}
