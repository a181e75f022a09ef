//! `export pgadmin|dbeaver`: connection entries for GUI clients, built from the sections
//! `refresh` wrote (so a service named by instance exports the address it resolved to),
//! never holding a token.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use libpq_files::service_file::{ManagedSection, ServiceFile};
use serde_json::{Map, Value, json};

use crate::cli::{ExportArgs, ExportClient};
use crate::config::{Config, Service};
use crate::error::{Error, Result};
use crate::exit_codes::ExitCode;
use crate::files::{Files, bytes_of};
use crate::paths;

/// The group (pgAdmin) or folder (DBeaver) the entries go in.
const GROUP: &str = "alloydb-cred";
/// The longest pgAdmin may reuse what `token` printed (see [`exec_expiration`]).
const EXEC_EXPIRATION_MAX_SECONDS: u64 = 120;

/// One service's section, as clients need it.
struct Target<'a> {
    service: &'a Service,
    keywords: Vec<(String, String)>,
}

impl Target<'_> {
    fn get(&self, keyword: &str) -> Option<&str> {
        self.keywords
            .iter()
            .find(|(k, _)| k == keyword)
            .map(|(_, v)| v.as_str())
    }
}

pub fn run(config: &Config, args: &ExportArgs) -> Result<ExitCode> {
    if args.passexec && args.client != ExportClient::Pgadmin {
        return Err(Error::Config("--passexec is for pgadmin only".into()));
    }
    let services = config.select(&args.services)?;
    let files = Files::of(config)?;
    let snapshots = files.read()?;
    let sections: Vec<ManagedSection> = ServiceFile::managed_in(bytes_of(&snapshots.service_file))
        .into_iter()
        .filter(|s| config.owns(s.owner.as_ref().map(|o| &o.tag)))
        .collect();
    let mut targets = Vec::new();
    let mut missing = Vec::new();
    for service in services {
        match sections.iter().find(|s| s.name == service.name) {
            Some(section) => targets.push(Target {
                service,
                keywords: section
                    .keywords
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.as_str().to_string()))
                    .collect(),
            }),
            None => missing.push(service.name.to_string()),
        }
    }
    if !missing.is_empty() {
        return Err(Error::Config(format!(
            "no section in {} for {}; run `alloydb-cred refresh` first",
            config.service_file.display(),
            missing.join(", ")
        )));
    }
    let doc = match args.client {
        ExportClient::Pgadmin => pgadmin(config, &targets, args.passexec)?,
        ExportClient::Dbeaver => dbeaver(&targets),
    };
    if let Some(warning) = where_the_client_looks(config, args) {
        log::warn!("{warning}");
    }
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| Error::Runtime(format!("cannot write to stdout: {e}")))?;
    Ok(ExitCode::Success)
}

/// What the client must be told when a file its entries rely on is not where it looks.
/// pgAdmin's `Service` entries are resolved by its libpq, which reads the per-user
/// service file at `PGSERVICEFILE` or `~/.pg_service.conf` (the section names a password
/// file elsewhere itself, with `passfile=`); DBeaver's pgpass model reads `PGPASSFILE` or
/// `~/.pgpass`. A client started from a menu has neither variable, whatever this shell
/// has, so only the places in the home directory count. The `--passexec` entries run
/// `token` with this configuration, so they find everything.
fn where_the_client_looks(config: &Config, args: &ExportArgs) -> Option<String> {
    match args.client {
        ExportClient::Pgadmin if args.passexec => None,
        ExportClient::Pgadmin
            if !paths::is_in_home_as(&config.service_file, ".pg_service.conf") =>
        {
            Some(format!(
                "pgAdmin finds these services in ~/.pg_service.conf unless PGSERVICEFILE is set in its own environment, and they are in {0}: start pgAdmin with PGSERVICEFILE={0}, or export with --passexec",
                config.service_file.display()
            ))
        }
        ExportClient::Dbeaver if !paths::is_in_home_as(&config.pgpass, ".pgpass") => Some(format!(
            "DBeaver reads passwords from ~/.pgpass unless PGPASSFILE is set in its own environment, and the tokens are in {0}: start DBeaver with PGPASSFILE={0}",
            config.pgpass.display()
        )),
        _ => None,
    }
}

fn port_of(target: &Target<'_>) -> u16 {
    target
        .get("port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(5432)
}

/// servers.json: `{"Servers": {"1": {...}, ...}}`.
fn pgadmin(config: &Config, targets: &[Target<'_>], passexec: bool) -> Result<Value> {
    let mut servers = Map::new();
    let command_prefix = if passexec {
        Some(token_command_prefix(config)?)
    } else {
        None
    };
    for (i, target) in targets.iter().enumerate() {
        let name = target.service.name.to_string();
        let dbname = target.get("dbname").unwrap_or("postgres");
        let mut server = Map::new();
        server.insert("Name".into(), name.clone().into());
        server.insert("Group".into(), GROUP.into());
        server.insert("MaintenanceDB".into(), dbname.into());
        match &command_prefix {
            None => {
                // libpq takes host, port, user and TLS settings from the section, and
                // the password from the password file: pgAdmin asks for nothing.
                server.insert("Service".into(), name.clone().into());
            }
            Some(prefix) => {
                server.insert("Host".into(), target.get("host").unwrap_or("").into());
                server.insert("Port".into(), port_of(target).into());
                server.insert(
                    "Username".into(),
                    target.get("user").unwrap_or("postgres").into(),
                );
                let mut parameters = Map::new();
                for keyword in ["sslmode", "sslrootcert", "sslcert", "sslkey"] {
                    if let Some(value) = target.get(keyword) {
                        parameters.insert(keyword.into(), value.into());
                    }
                }
                server.insert("ConnectionParameters".into(), parameters.into());
                server.insert(
                    "PasswordExecCommand".into(),
                    format!("{prefix} token --service {}", shell_word(&name)).into(),
                );
                server.insert(
                    "PasswordExecExpiration".into(),
                    exec_expiration(target.service.refresh_window).into(),
                );
            }
        }
        servers.insert((i + 1).to_string(), server.into());
    }
    Ok(json!({ "Servers": servers }))
}

/// How many seconds pgAdmin may reuse what `token` printed: half the refresh window, and
/// never more than two minutes (a second at the least: pgAdmin counts whole seconds).
///
/// `token` refreshes when less than the window is left, so what it prints is usually
/// good for the whole window; but a source whose tokens live less than the window (a
/// metadata server handing out a cached token with minutes left), or a refresh that
/// fails while the old token is still valid, prints one with less. Asking again costs
/// pgAdmin a file read when nothing is due, so a short bound is cheap and safe.
fn exec_expiration(window: Duration) -> u64 {
    (window.as_secs() / 2).clamp(1, EXEC_EXPIRATION_MAX_SECONDS)
}

/// This program's absolute path and `--config PATH`, always: pgAdmin started from a
/// desktop menu need not have the environment (`XDG_CONFIG_HOME`, `HOME`) that made the
/// default configuration path what it is here.
fn token_command_prefix(config: &Config) -> Result<String> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Runtime(format!("cannot find this program's own path: {e}")))?;
    Ok(format!(
        "{} --config {}",
        shell_word(&exe.to_string_lossy()),
        shell_word(&absolute(&config.path).to_string_lossy())
    ))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `text` as one word for a POSIX shell (pgAdmin runs the command through one).
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:@,".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// data-sources.json: a folder and one PostgreSQL connection per service, authenticated
/// by DBeaver's PgPass model (it reads the password file by host, port, database, user).
fn dbeaver(targets: &[Target<'_>]) -> Value {
    let mut connections = Map::new();
    for target in targets {
        let name = target.service.name.to_string();
        let host = target.get("host").unwrap_or("");
        let port = port_of(target);
        let dbname = target.get("dbname").unwrap_or("postgres");
        let mut configuration = Map::new();
        configuration.insert("host".into(), host.into());
        configuration.insert("port".into(), port.to_string().into());
        configuration.insert("database".into(), dbname.into());
        configuration.insert(
            "url".into(),
            format!(
                "jdbc:postgresql://{}:{port}/{}",
                url_host(host),
                url_path_segment(dbname)
            )
            .into(),
        );
        if let Some(user) = target.get("user") {
            configuration.insert("user".into(), user.into());
        }
        configuration.insert("type".into(), "dev".into());
        configuration.insert("auth-model".into(), "postgres_pgpass".into());
        let mut properties = Map::new();
        for keyword in ["sslmode", "sslrootcert", "sslcert", "sslkey"] {
            if let Some(value) = target.get(keyword) {
                properties.insert(keyword.into(), value.into());
            }
        }
        configuration.insert("properties".into(), properties.into());
        connections.insert(
            format!("postgres-jdbc-{GROUP}-{name}"),
            json!({
                "provider": "postgresql",
                "driver": "postgres-jdbc",
                "name": name,
                "folder": GROUP,
                "save-password": false,
                "configuration": configuration,
            }),
        );
    }
    json!({
        "folders": { GROUP: {} },
        "connections": connections,
    })
}

/// An IPv6 address in brackets, as URLs write it.
/// A database name as one segment of a JDBC URL's path: percent-encoded, so that `?`,
/// `/`, `#`, `%`, `&` or a space in it cannot start pgjdbc's parameters or another part.
fn url_path_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn url_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("/usr/bin/alloydb-cred"), "/usr/bin/alloydb-cred");
        assert_eq!(shell_word("/home/a b/it's"), r"'/home/a b/it'\''s'");
        assert_eq!(url_host("::1"), "[::1]");
    }

    #[test]
    fn pgadmin_asks_again_before_the_window_runs_out() {
        let secs = |s| exec_expiration(Duration::from_secs(s));
        assert_eq!(secs(15 * 60), 120);
        assert_eq!(secs(241), 120);
        assert_eq!(secs(120), 60);
        assert_eq!(secs(60), 30);
        assert_eq!(secs(4), 2);
        assert_eq!(secs(1), 1);
        assert_eq!(secs(0), 1);
    }

    #[test]
    fn database_names_cannot_add_to_a_jdbc_url() {
        assert_eq!(url_path_segment("appdb"), "appdb");
        assert_eq!(url_path_segment("a?b/c d"), "a%3Fb%2Fc%20d");
        assert_eq!(url_path_segment("x&ssl=false#%"), "x%26ssl%3Dfalse%23%25");
        assert_eq!(url_path_segment("é"), "%C3%A9");
    }
}
