//! The configuration file: where it is, what it may say, and the resolved per-service
//! settings the rest of the program works from.
//!
//! Validation happens while deserializing (through small newtypes), so that every
//! rejection carries the span of the offending key or value and we can name the file,
//! the line and the key. Nothing downstream re-validates.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::error::{Error, Result};
use crate::paths;

/// The scope that restricts a token to AlloyDB login (FACTS.md, step 2).
pub const DEFAULT_SCOPE: &str = "https://www.googleapis.com/auth/alloydb.login";
/// Refresh when less than this much validity remains.
pub const DEFAULT_REFRESH_WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long a token command may run before it is killed.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Google access tokens live an hour; a window this long would refresh on every run.
const MAX_REFRESH_WINDOW: Duration = Duration::from_secs(55 * 60);

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, for messages.
    pub path: PathBuf,
    pub pgpass: PathBuf,
    pub service_file: PathBuf,
    pub endpoints: Endpoints,
    /// Sorted by name.
    pub services: Vec<Service>,
}

/// One `[services.NAME]` table with the defaults applied.
#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub dbname: Option<String>,
    pub user: UserSpec,
    /// Further connection keywords for the service file, in the order they are written
    /// (`sslmode`, `sslrootcert`, …, then the `libpq` table).
    pub keywords: Vec<(String, String)>,
    pub credential: CredentialSpec,
    pub refresh_window: Duration,
}

/// Which database user a service logs in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSpec {
    /// Derived from the credential's principal by Google's rule.
    Auto,
    Named(String),
}

/// Everything that determines which token is minted. Services with equal specs share
/// one token per run, so this is the key of that sharing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CredentialSpec {
    pub source: SourceSpec,
    pub impersonate: Option<String>,
    pub delegates: Vec<String>,
    pub scopes: Vec<String>,
}

impl CredentialSpec {
    /// A short, stable digest of everything that decides which token is minted, kept in
    /// each pgpass marker so that a changed credential makes the entry due at once.
    pub fn fingerprint(&self) -> String {
        crate::fingerprint::short(format!("{self:?}").as_bytes())
    }
}

/// Where tokens come from (`credentials = …`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceSpec {
    Adc,
    Metadata,
    Gcloud,
    KeyFile(PathBuf),
    Command {
        argv: Vec<String>,
        timeout: Duration,
    },
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Adc => f.write_str("adc"),
            SourceSpec::Metadata => f.write_str("metadata"),
            SourceSpec::Gcloud => f.write_str("gcloud"),
            SourceSpec::KeyFile(path) => write!(f, "key_file {}", path.display()),
            SourceSpec::Command { argv, .. } => {
                write!(
                    f,
                    "command {}",
                    argv.first().map(String::as_str).unwrap_or("")
                )
            }
        }
    }
}

/// Redirections of Google's endpoints (private access, restricted VIPs, tests).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    pub token: Option<Url>,
    pub tokeninfo: Option<Url>,
    pub iamcredentials: Option<Url>,
    pub sts: Option<Url>,
    pub alloydb_admin: Option<Url>,
    /// How long one request may take before it is abandoned (and retried).
    #[serde(default)]
    pub timeout: Option<RequestTimeout>,
}

/// `[endpoints] timeout`: a duration of at least a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTimeout(pub Duration);

impl<'de> Deserialize<'de> for RequestTimeout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let timeout = parse_duration(&text).map_err(de::Error::custom)?;
        if timeout < Duration::from_secs(1) || timeout > Duration::from_secs(300) {
            return Err(de::Error::custom(format!(
                "timeout {text:?} must be between 1s and 5m"
            )));
        }
        Ok(RequestTimeout(timeout))
    }
}

/// Where the configuration is read from: `--config`, else `$ALLOYDB_CRED_CONFIG`, else the
/// platform's config directory.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    if let Some(path) = std::env::var_os("ALLOYDB_CRED_CONFIG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    dirs::config_dir()
        .map(|dir| dir.join("alloydb-cred").join("config.toml"))
        .ok_or_else(|| {
            Error::Config(
                "cannot find a configuration directory; pass --config PATH or set ALLOYDB_CRED_CONFIG"
                    .into(),
            )
        })
}

/// Reads and validates the configuration at `path`.
pub fn load(path: &Path) -> Result<Config> {
    // Relative paths in the file are anchored at its directory, so that directory must
    // be absolute: a `passfile=` written from `--config ./x.toml` has to work elsewhere.
    let absolute = std::path::absolute(path);
    let path = absolute.as_deref().unwrap_or(path);
    let text = std::fs::read_to_string(path).map_err(|err| {
        if err.kind() == std::io::ErrorKind::NotFound {
            Error::Config(format!(
                "no configuration at {}; create it (see `man alloydb-cred` or the README) or pass --config PATH",
                path.display()
            ))
        } else {
            Error::Config(format!("cannot read configuration {}: {err}", path.display()))
        }
    })?;
    parse(&text, path)
}

/// Parses configuration text; `path` names the file in messages and anchors relative paths.
pub fn parse(text: &str, path: &Path) -> Result<Config> {
    let raw: RawConfig =
        toml::from_str(text).map_err(|err| describe_toml_error(&err, text, path))?;
    let base_dir = path.parent().unwrap_or(Path::new("."));
    let defaults = raw.defaults;

    let pgpass = match defaults.pgpass {
        Some(p) => paths::expand(&p.0, base_dir)?,
        None => paths::default_pgpass()?,
    };
    let service_file = match defaults.service_file {
        Some(p) => paths::expand(&p.0, base_dir)?,
        None => paths::default_service_file()?,
    };

    let mut services = Vec::with_capacity(raw.services.len());
    for (ServiceName(name), svc) in raw.services {
        let source = svc
            .credentials
            .or_else(|| defaults.credentials.clone())
            .unwrap_or(RawSource::Adc);
        let credential = CredentialSpec {
            source: source.resolve(base_dir)?,
            impersonate: svc
                .impersonate
                .or_else(|| defaults.impersonate.clone())
                .map(|e| e.0),
            delegates: svc
                .delegates
                .or_else(|| defaults.delegates.clone())
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.0)
                .collect(),
            scopes: svc
                .scopes
                .or_else(|| defaults.scopes.clone())
                .map(|s| s.into_iter().map(|s| s.0).collect())
                .unwrap_or_else(|| vec![DEFAULT_SCOPE.to_string()]),
        };
        if !credential.delegates.is_empty() && credential.impersonate.is_none() {
            return Err(Error::Config(format!(
                "{}: service {name} sets `delegates` without `impersonate`; add the service account to impersonate",
                path.display()
            )));
        }
        let mut keywords = Vec::new();
        if let Some(mode) = svc.sslmode {
            keywords.push(("sslmode".to_string(), mode.0));
        }
        for (key, value) in [
            ("sslrootcert", svc.sslrootcert),
            ("sslcert", svc.sslcert),
            ("sslkey", svc.sslkey),
        ] {
            if let Some(value) = value {
                let expanded = paths::expand(&value.0, base_dir)?;
                keywords.push((key.to_string(), expanded.display().to_string()));
            }
        }
        if let Some(options) = svc.options {
            keywords.push(("options".to_string(), options.0));
        }
        for (LibpqKeyword(key), value) in svc.libpq.unwrap_or_default() {
            keywords.push((key, value.0));
        }
        services.push(Service {
            name,
            host: svc.host.0,
            port: svc.port.map_or(5432, |p| p.0),
            dbname: svc.dbname.map(|d| d.0),
            user: match svc.user {
                None => UserSpec::Auto,
                Some(DbUser(u)) if u == "auto" => UserSpec::Auto,
                Some(DbUser(u)) => UserSpec::Named(u),
            },
            keywords,
            credential,
            refresh_window: svc
                .refresh_window
                .or(defaults.refresh_window)
                .map_or(DEFAULT_REFRESH_WINDOW, |w| w.0),
        });
    }

    Ok(Config {
        path: path.to_path_buf(),
        pgpass,
        service_file,
        endpoints: raw.endpoints,
        services,
    })
}

impl Config {
    /// The services named on the command line, or all of them when none is named.
    /// An unknown name is a usage error that lists the configured ones.
    pub fn select(&self, names: &[String]) -> Result<Vec<&Service>> {
        if self.services.is_empty() {
            return Err(Error::Config(format!(
                "{} configures no services; add a [services.NAME] table",
                self.path.display()
            )));
        }
        if names.is_empty() {
            return Ok(self.services.iter().collect());
        }
        let mut selected = Vec::new();
        for name in names {
            match self.services.iter().find(|s| &s.name == name) {
                Some(service) if !selected.iter().any(|s: &&Service| s.name == *name) => {
                    selected.push(service)
                }
                Some(_) => {}
                None => {
                    let known: Vec<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
                    return Err(Error::Config(format!(
                        "{} has no service {name:?}; configured services: {}",
                        self.path.display(),
                        known.join(", ")
                    )));
                }
            }
        }
        Ok(selected)
    }

    /// The one service a command that acts on a single service works on: the named one,
    /// or the only one configured.
    pub fn single(&self, name: Option<&str>) -> Result<&Service> {
        match name {
            Some(name) => Ok(self.select(&[name.to_string()])?[0]),
            None => match self.services.as_slice() {
                [only] => Ok(only),
                [] => Err(Error::Config(format!(
                    "{} configures no services; add a [services.NAME] table",
                    self.path.display()
                ))),
                _ => Err(Error::Config(format!(
                    "{} configures several services; say which with --service NAME",
                    self.path.display()
                ))),
            },
        }
    }
}

/// Turns a toml/serde error into "FILE line N, key K: message".
fn describe_toml_error(err: &toml::de::Error, text: &str, path: &Path) -> Error {
    let message = err.message().trim_end();
    let Some(span) = err.span() else {
        return Error::Config(format!("{}: {message}", path.display()));
    };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = &text[line_start..line_end];
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    match key {
        Some(key) => Error::Config(format!(
            "{} line {line_no}, key `{key}`: {message}",
            path.display()
        )),
        None => Error::Config(format!("{} line {line_no}: {message}", path.display())),
    }
}

// ---------------------------------------------------------------------------------------
// The raw file shape. Each newtype validates one kind of value.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    services: BTreeMap<ServiceName, RawService>,
    #[serde(default)]
    endpoints: Endpoints,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    credentials: Option<RawSource>,
    impersonate: Option<Email>,
    delegates: Option<Vec<Email>>,
    scopes: Option<Vec<Scope>>,
    refresh_window: Option<Window>,
    pgpass: Option<PathText>,
    service_file: Option<PathText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    host: Host,
    port: Option<Port>,
    dbname: Option<Text>,
    user: Option<DbUser>,
    sslmode: Option<SslMode>,
    sslrootcert: Option<PathText>,
    sslcert: Option<PathText>,
    sslkey: Option<PathText>,
    options: Option<Text>,
    libpq: Option<BTreeMap<LibpqKeyword, Text>>,
    credentials: Option<RawSource>,
    impersonate: Option<Email>,
    delegates: Option<Vec<Email>>,
    scopes: Option<Vec<Scope>>,
    refresh_window: Option<Window>,
}

/// Defines a string newtype whose `Deserialize` runs a check and reports its message.
macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
        struct $name(String);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let value = String::deserialize(d)?;
                let check: fn(&str) -> std::result::Result<(), String> = $check;
                check(&value).map_err(de::Error::custom)?;
                Ok($name(value))
            }
        }
    };
}

/// Characters that would break a line-oriented file (newline, NUL, other controls).
fn reject_controls(value: &str) -> std::result::Result<(), String> {
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(format!(
            "{value:?} contains the control character {c:?}; the service and password files are line-based"
        ));
    }
    Ok(())
}

/// Service-file lines must stay under 254 bytes (FACTS.md rule 8).
const MAX_VALUE_BYTES: usize = 200;

fn plain_value(value: &str) -> std::result::Result<(), String> {
    reject_controls(value)?;
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "value is {} bytes; keep it under {MAX_VALUE_BYTES} (libpq reads service-file lines of limited length)",
            value.len()
        ));
    }
    Ok(())
}

checked_string!(
    /// A service name: becomes a `[section]` name and a marker word, so a plain identifier.
    ServiceName,
    |name| {
        let valid = !name.is_empty()
            && name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid {
            return Err(format!(
                "service name {name:?} is not a plain identifier (letters, digits, `_`, `-`, `.`, starting with a letter or `_`, at most 63 characters)"
            ));
        }
        if name.eq_ignore_ascii_case("default") {
            return Err("a service may not be named DEFAULT (some service-file readers treat it specially)".into());
        }
        Ok(())
    }
);

checked_string!(Host, |host| {
    if host.is_empty() {
        return Err("host is empty".into());
    }
    plain_value(host)?;
    if host.contains(char::is_whitespace) {
        return Err(format!("host {host:?} contains white space"));
    }
    if host == "*" {
        return Err(
            "host \"*\" would match every server in the password file; name the instance".into(),
        );
    }
    Ok(())
});

checked_string!(Text, plain_value);

checked_string!(DbUser, |user| {
    plain_value(user)?;
    if user.is_empty() || user == "*" {
        return Err(format!(
            "user {user:?} is not a role name; use \"auto\" to derive it from the credential"
        ));
    }
    if user.len() > 63 {
        return Err(format!(
            "user {user:?} is {} bytes; PostgreSQL truncates role names to 63 bytes, so the login would fail",
            user.len()
        ));
    }
    Ok(())
});

checked_string!(Email, |email| {
    plain_value(email)?;
    if !email.contains('@') || email.contains(char::is_whitespace) {
        return Err(format!("{email:?} is not an e-mail address"));
    }
    Ok(())
});

checked_string!(Scope, |scope| {
    if !scope.starts_with("https://") || scope.contains(char::is_whitespace) {
        return Err(format!(
            "scope {scope:?} is not a scope URL (for example {DEFAULT_SCOPE:?})"
        ));
    }
    Ok(())
});

checked_string!(PathText, |p| {
    reject_controls(p)?;
    if p.is_empty() {
        return Err("path is empty".into());
    }
    Ok(())
});

checked_string!(SslMode, |mode| {
    const MODES: [&str; 6] = [
        "disable",
        "allow",
        "prefer",
        "require",
        "verify-ca",
        "verify-full",
    ];
    if MODES.contains(&mode) {
        Ok(())
    } else {
        Err(format!(
            "sslmode {mode:?} is not one of {}",
            MODES.join(", ")
        ))
    }
});

checked_string!(
    /// A libpq connection keyword for the `libpq` table. The dedicated keys, and the
    /// ones that would put secrets or our own settings in the service file, are refused.
    LibpqKeyword,
    |key| {
        const OWN: [&str; 10] = [
            "host", "port", "dbname", "user", "sslmode", "sslrootcert", "sslcert", "sslkey", "options",
            "service",
        ];
        if OWN.contains(&key) {
            return Err(format!("set `{key}` directly in the service table, not under `libpq`"));
        }
        if key == "password" || key == "passfile" {
            return Err(format!(
                "`{key}` is managed by alloydb-cred (tokens never go into the service file)"
            ));
        }
        if !crate::service_file::LIBPQ_KEYWORDS.contains(&key) {
            return Err(format!("`{key}` is not a libpq connection keyword"));
        }
        Ok(())
    }
);

/// A URL for an endpoint override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url(pub String);

impl<'de> Deserialize<'de> for Url {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = String::deserialize(d)?;
        if !(value.starts_with("https://") || value.starts_with("http://"))
            || value.contains(char::is_whitespace)
        {
            return Err(de::Error::custom(format!(
                "{value:?} is not an http:// or https:// URL"
            )));
        }
        Ok(Url(value))
    }
}

#[derive(Debug, Clone, Copy)]
struct Port(u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = i64::deserialize(d)?;
        match u16::try_from(value) {
            Ok(port) if port != 0 => Ok(Port(port)),
            _ => Err(de::Error::custom(format!(
                "port {value} is not between 1 and 65535"
            ))),
        }
    }
}

/// A human duration such as "15m", "90s" or "1h 30m".
fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let parsed: jiff::SignedDuration = text.trim().parse().map_err(|_| {
        format!("{text:?} is not a duration (write it like \"15m\", \"90s\" or \"1h 30m\")")
    })?;
    Duration::try_from(parsed).map_err(|_| format!("{text:?} is negative"))
}

#[derive(Debug, Clone, Copy)]
struct Window(Duration);

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let window = parse_duration(&text).map_err(de::Error::custom)?;
        if window.is_zero() || window > MAX_REFRESH_WINDOW {
            return Err(de::Error::custom(format!(
                "refresh_window {text:?} must be more than 0 and at most 55m (tokens live about an hour)"
            )));
        }
        Ok(Window(window))
    }
}

/// `credentials = "adc" | "metadata" | "gcloud" | { key_file = "…" } | { command = […] }`.
#[derive(Debug, Clone)]
enum RawSource {
    Adc,
    Metadata,
    Gcloud,
    KeyFile(String),
    Command {
        argv: Vec<String>,
        timeout: Duration,
    },
}

impl RawSource {
    fn resolve(self, base_dir: &Path) -> Result<SourceSpec> {
        Ok(match self {
            RawSource::Adc => SourceSpec::Adc,
            RawSource::Metadata => SourceSpec::Metadata,
            RawSource::Gcloud => SourceSpec::Gcloud,
            RawSource::KeyFile(path) => SourceSpec::KeyFile(paths::expand(&path, base_dir)?),
            RawSource::Command { argv, timeout } => SourceSpec::Command { argv, timeout },
        })
    }
}

impl<'de> Deserialize<'de> for RawSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(SourceVisitor)
    }
}

struct SourceVisitor;

const SOURCE_EXPECTED: &str = "\"adc\", \"metadata\", \"gcloud\", { key_file = \"PATH\" } or { command = [\"PROGRAM\", \"ARG\"…] }";

impl<'de> Visitor<'de> for SourceVisitor {
    type Value = RawSource;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SOURCE_EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<RawSource, E> {
        match v {
            "adc" => Ok(RawSource::Adc),
            "metadata" => Ok(RawSource::Metadata),
            "gcloud" => Ok(RawSource::Gcloud),
            other => Err(E::custom(format!(
                "unknown credentials {other:?}; expected {SOURCE_EXPECTED}"
            ))),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<RawSource, A::Error> {
        let mut key_file: Option<PathText> = None;
        let mut command: Option<Vec<Text>> = None;
        let mut timeout: Option<String> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "key_file" => key_file = Some(map.next_value()?),
                "command" => command = Some(map.next_value()?),
                "timeout" => timeout = Some(map.next_value()?),
                other => {
                    return Err(de::Error::custom(format!(
                        "unknown key `{other}` in credentials; expected `key_file`, or `command` with an optional `timeout`"
                    )));
                }
            }
        }
        match (key_file, command) {
            (Some(path), None) if timeout.is_none() => Ok(RawSource::KeyFile(path.0)),
            (None, Some(argv)) => {
                let argv: Vec<String> = argv.into_iter().map(|t| t.0).collect();
                if argv.first().is_none_or(|p| p.is_empty()) {
                    return Err(de::Error::custom(
                        "credentials `command` needs at least the program to run",
                    ));
                }
                let timeout = match timeout {
                    Some(text) => {
                        let t = parse_duration(&text).map_err(de::Error::custom)?;
                        if t.is_zero() {
                            return Err(de::Error::custom("command timeout must be more than 0"));
                        }
                        t
                    }
                    None => DEFAULT_COMMAND_TIMEOUT,
                };
                Ok(RawSource::Command { argv, timeout })
            }
            _ => Err(de::Error::custom(format!(
                "credentials must be exactly one of {SOURCE_EXPECTED}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Config {
        match parse(text, Path::new("/etc/test/config.toml")) {
            Ok(c) => c,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    fn parse_err(text: &str) -> String {
        match parse(text, Path::new("/etc/test/config.toml")) {
            Ok(_) => panic!("config was accepted:\n{text}"),
            Err(e) => {
                assert_eq!(e.exit_code().code(), 2, "config errors exit 2: {e}");
                e.to_string()
            }
        }
    }

    const MINIMAL: &str = r#"
[defaults]
credentials = { command = ["mint-token", "--json"] }
pgpass = "/tmp/x/pgpass"
service_file = "/tmp/x/services"

[services.prod]
host = "10.1.2.3"
dbname = "appdb"
"#;

    #[test]
    fn defaults_apply_and_per_service_overrides_win() {
        let text = format!(
            "{MINIMAL}\n[services.dev]\nhost = \"::1\"\nport = 6432\nuser = \"kai@altostrat.com\"\nrefresh_window = \"5m\"\nscopes = [\"https://www.googleapis.com/auth/cloud-platform\"]\ncredentials = {{ command = [\"other\"], timeout = \"3s\" }}\nsslmode = \"require\"\n"
        );
        let cfg = parse_ok(&text);
        assert_eq!(cfg.services.len(), 2);
        let dev = &cfg.services[0];
        let prod = &cfg.services[1];
        assert_eq!(dev.name, "dev");
        assert_eq!(dev.port, 6432);
        assert_eq!(dev.user, UserSpec::Named("kai@altostrat.com".into()));
        assert_eq!(dev.refresh_window, Duration::from_secs(300));
        assert_eq!(
            dev.credential.source,
            SourceSpec::Command {
                argv: vec!["other".into()],
                timeout: Duration::from_secs(3)
            }
        );
        assert_eq!(dev.keywords, vec![("sslmode".into(), "require".into())]);
        assert_eq!(prod.port, 5432);
        assert_eq!(prod.user, UserSpec::Auto);
        assert_eq!(prod.refresh_window, DEFAULT_REFRESH_WINDOW);
        assert_eq!(prod.credential.scopes, vec![DEFAULT_SCOPE.to_string()]);
        assert_eq!(cfg.pgpass, PathBuf::from("/tmp/x/pgpass"));
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let err = parse_err("[services.prod]\nhost = \"h\"\nhots = \"x\"\n");
        assert!(err.contains("/etc/test/config.toml line 3"), "{err}");
        assert!(err.contains("hots"), "{err}");
    }

    #[test]
    fn bad_duration_names_line_and_key() {
        let err = parse_err("[defaults]\nrefresh_window = \"15x\"\n");
        assert!(err.contains("line 2, key `refresh_window`"), "{err}");
        assert!(err.contains("not a duration"), "{err}");
    }

    #[test]
    fn window_longer_than_a_token_is_refused() {
        let err = parse_err("[defaults]\nrefresh_window = \"2h\"\n");
        assert!(err.contains("at most 55m"), "{err}");
    }

    #[test]
    fn service_name_must_be_plain_identifier() {
        let err = parse_err("[services.\"prod db\"]\nhost = \"h\"\n");
        assert!(err.contains("line 1"), "{err}");
        assert!(err.contains("not a plain identifier"), "{err}");
        let err = parse_err("[services.DEFAULT]\nhost = \"h\"\n");
        assert!(err.contains("DEFAULT"), "{err}");
    }

    #[test]
    fn host_with_newline_is_refused() {
        let err = parse_err("[services.prod]\nhost = \"a\\nb\"\n");
        assert!(err.contains("line 2, key `host`"), "{err}");
        assert!(err.contains("control character"), "{err}");
    }

    #[test]
    fn long_user_is_refused() {
        let user = "a".repeat(64);
        let err = parse_err(&format!(
            "[services.prod]\nhost = \"h\"\nuser = \"{user}\"\n"
        ));
        assert!(err.contains("63 bytes"), "{err}");
    }

    #[test]
    fn credentials_forms() {
        let err = parse_err("[defaults]\ncredentials = \"adcx\"\n");
        assert!(err.contains("unknown credentials"), "{err}");
        let err = parse_err("[defaults]\ncredentials = { command = [] }\n");
        assert!(err.contains("at least the program"), "{err}");
        let err = parse_err("[defaults]\ncredentials = { key_file = \"k\", command = [\"x\"] }\n");
        assert!(err.contains("exactly one"), "{err}");
        let cfg = parse_ok(
            "[defaults]\ncredentials = { key_file = \"keys/sa.json\" }\n[services.a]\nhost = \"h\"\n",
        );
        assert_eq!(
            cfg.services[0].credential.source,
            SourceSpec::KeyFile(PathBuf::from("/etc/test/keys/sa.json"))
        );
    }

    #[test]
    fn libpq_table_refuses_secrets_and_unknown_keywords() {
        let err = parse_err("[services.a]\nhost = \"h\"\nlibpq = { password = \"x\" }\n");
        assert!(err.contains("tokens never go"), "{err}");
        let err = parse_err("[services.a]\nhost = \"h\"\nlibpq = { colour = \"x\" }\n");
        assert!(err.contains("not a libpq connection keyword"), "{err}");
        let cfg = parse_ok("[services.a]\nhost = \"h\"\nlibpq = { application_name = \"x\" }\n");
        assert_eq!(
            cfg.services[0].keywords,
            vec![("application_name".into(), "x".into())]
        );
    }

    #[test]
    fn select_reports_unknown_services() {
        let cfg = parse_ok(MINIMAL);
        let err = match cfg.select(&["nope".into()]) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains("no service \"nope\"") && err.contains("prod"),
            "{err}"
        );
        assert_eq!(cfg.single(None).map(|s| s.name.as_str()).ok(), Some("prod"));
    }

    #[test]
    fn port_range_checked() {
        let err = parse_err("[services.a]\nhost = \"h\"\nport = 70000\n");
        assert!(err.contains("line 3, key `port`"), "{err}");
    }
}
