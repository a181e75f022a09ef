//! `status`: each service's user, host, expiry, time left and last error. Never a token.

use std::io::Write;

use jiff::Timestamp;
use libpq_files::pgpass::PgpassFile;
use libpq_files::service_file::ServiceFile;
use serde_json::json;

use crate::cli::StatusArgs;
use crate::config::{Config, UserSpec};
use crate::error::{Error, Result};
use crate::exit_codes::ExitCode;
use crate::files::{Files, bytes_of};
use crate::state::State;

/// One row of the report.
struct Row {
    name: String,
    user: String,
    host: String,
    port: u16,
    dbname: Option<String>,
    credentials: String,
    expires_at: Option<Timestamp>,
    seconds_left: Option<i64>,
    state: &'static str,
    section: bool,
    last_error: Option<String>,
}

pub fn run(config: &Config, args: &StatusArgs) -> Result<ExitCode> {
    let files = Files::of(config)?;
    let snapshots = files.read()?;
    let entries = PgpassFile::managed_in(bytes_of(&snapshots.pgpass));
    let sections = ServiceFile::managed_in(bytes_of(&snapshots.service_file));
    let state = State::load();
    let now = Timestamp::now();

    let rows: Vec<Row> = config
        .services
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
            Row {
                name: svc.name.clone(),
                user: match (entry, &svc.user) {
                    (Some(e), _) => e.user.clone(),
                    (None, UserSpec::Named(u)) => u.clone(),
                    (None, UserSpec::Auto) => "auto".into(),
                },
                host: svc.host.clone(),
                port: svc.port,
                dbname: svc.dbname.clone(),
                credentials: svc.credential.source.to_string(),
                expires_at: entry.map(|e| e.expires_at),
                seconds_left,
                state: state_word,
                section: sections.iter().any(|s| s.name == svc.name),
                last_error: state
                    .last_errors
                    .get(&svc.name)
                    .map(|e| format!("{} ({})", e.message, e.at)),
            }
        })
        .collect();
    let orphans: Vec<String> = entries
        .iter()
        .map(|e| e.service.clone())
        .filter(|n| !config.services.iter().any(|s| &s.name == n))
        .collect();
    let pgjdbc_needs_pgpassfile = files.needs_passfile;

    let mut out = std::io::stdout().lock();
    let text = if args.json {
        render_json(config, &rows, &orphans, pgjdbc_needs_pgpassfile)
    } else {
        render_table(config, &rows, &orphans, pgjdbc_needs_pgpassfile)
    };
    out.write_all(text.as_bytes())
        .map_err(|e| Error::Runtime(format!("cannot write to stdout: {e}")))?;
    Ok(ExitCode::Success)
}

fn render_json(config: &Config, rows: &[Row], orphans: &[String], needs_env: bool) -> String {
    let services: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "user": r.user,
                "host": r.host,
                "port": r.port,
                "dbname": r.dbname,
                "credentials": r.credentials,
                "expires_at": r.expires_at.map(|t| t.to_string()),
                "seconds_left": r.seconds_left,
                "state": r.state,
                "service_section": r.section,
                "last_error": r.last_error,
            })
        })
        .collect();
    let doc = json!({
        "config": config.path.display().to_string(),
        "pgpass": config.pgpass.display().to_string(),
        "service_file": config.service_file.display().to_string(),
        "pgjdbc_needs_pgpassfile": needs_env,
        "services": services,
        "unconfigured_entries": orphans,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

fn render_table(config: &Config, rows: &[Row], orphans: &[String], needs_env: bool) -> String {
    let mut table = vec![[
        "SERVICE".to_string(),
        "USER".into(),
        "HOST".into(),
        "EXPIRES (UTC)".into(),
        "LEFT".into(),
        "STATE".into(),
    ]];
    for r in rows {
        table.push([
            r.name.clone(),
            r.user.clone(),
            if r.host.contains(':') {
                format!("[{}]:{}", r.host, r.port)
            } else {
                format!("{}:{}", r.host, r.port)
            },
            r.expires_at
                .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|| "-".into()),
            r.seconds_left.map(human_left).unwrap_or_else(|| "-".into()),
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
    let widths: Vec<usize> = (0..6)
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
    if needs_env {
        text.push_str(&format!(
            "note: the password file is not where libpq looks by default, so sections carry passfile=; \
pgjdbc clients (DBeaver, DataGrip) need PGPASSFILE={} and cannot use these services from the service file\n",
            config.pgpass.display()
        ));
    }
    for r in rows {
        if let Some(err) = &r.last_error {
            text.push_str(&format!("last error of {}: {err}\n", r.name));
        }
    }
    if !orphans.is_empty() {
        text.push_str(&format!(
            "entries for services no longer configured: {} (remove them with `alloydb-cred remove --service NAME`)\n",
            orphans.join(", ")
        ));
    }
    text
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
