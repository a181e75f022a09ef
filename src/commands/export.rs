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

/// The group (pgAdmin) or folder (DBeaver) the entries go in.
const GROUP: &str = "alloydb-cred";
/// How long before the refresh window runs out pgAdmin asks again, when the window is
/// long enough (see [`exec_expiration`]).
const EXEC_MARGIN_SECONDS: u64 = 60;

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
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| Error::Runtime(format!("cannot write to stdout: {e}")))?;
    Ok(ExitCode::Success)
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

/// How many seconds pgAdmin may reuse what `token` printed. `token` refreshes when less
/// than the refresh window is left, so what it prints is good for at least the window:
/// pgAdmin must ask again sooner, a minute sooner where the window is long enough, else
/// after half of it (a second at the least: pgAdmin counts whole seconds).
fn exec_expiration(window: Duration) -> u64 {
    let window = window.as_secs();
    if window > 2 * EXEC_MARGIN_SECONDS {
        window - EXEC_MARGIN_SECONDS
    } else {
        (window / 2).max(1)
    }
}

/// This program's absolute path, and `--config PATH` unless the configuration is the
/// default one, which pgAdmin's environment would not name.
fn token_command_prefix(config: &Config) -> Result<String> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Runtime(format!("cannot find this program's own path: {e}")))?;
    let mut command = shell_word(&exe.to_string_lossy());
    let default: Option<PathBuf> =
        dirs::config_dir().map(|d| d.join("alloydb-cred").join("config.toml"));
    if default.as_deref() != Some(config.path.as_path()) {
        command.push_str(&format!(
            " --config {}",
            shell_word(&absolute(&config.path).to_string_lossy())
        ));
    }
    Ok(command)
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
            format!("jdbc:postgresql://{}:{port}/{dbname}", url_host(host)).into(),
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
        assert_eq!(secs(15 * 60), 14 * 60);
        assert_eq!(secs(121), 61);
        assert_eq!(secs(120), 60);
        assert_eq!(secs(60), 30);
        assert_eq!(secs(4), 2);
        assert_eq!(secs(1), 1);
    }
}
