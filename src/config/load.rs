//! Finding the configuration file, reading it, and turning TOML errors into messages that
//! name the file, the line and the key.

use std::path::{Path, PathBuf};

use super::raw::RawConfig;
use super::settings::Config;
use crate::error::{ConfigAt, Error, Result};
use crate::ownership::{self, Owner, Untrusted};

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
    let text = read_trusted(path)?;
    parse(&text, path)
}

/// The configuration decides which programs run and where tokens are sent, so it is
/// refused (with the fix) unless only its user, or root, can change it: the file, and
/// every directory above it (see [`ownership::check_ancestors`]). The checks look at
/// the descriptor that is read, so the file cannot be swapped between check and read.
fn read_trusted(path: &Path) -> Result<String> {
    match read_trusted_file(path)? {
        Some((text, _)) => Ok(text),
        None => Err(Error::Config(format!(
            "no configuration at {}; create it with `alloydb-cred add NAME --instance INSTANCE`, or by hand (its reference: `alloydb-cred man alloydb-cred.toml | man -l -`), or pass --config PATH",
            path.display()
        ))),
    }
}

/// The configuration's text and the metadata of the descriptor it was read from, read
/// as [`load`] reads it (the same refusals); `None` when there is no file. For `add`,
/// which must not edit a file the loader would refuse to read.
pub fn read_trusted_file(path: &Path) -> Result<Option<(String, std::fs::Metadata)>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let cannot = |err: std::io::Error| {
        Error::Config(format!(
            "cannot read configuration {}: {err}",
            path.display()
        ))
    };
    // Non-blocking: a FIFO planted there must not hang every run.
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(cannot(e)),
    };
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(Error::Config(format!(
            "the configuration {} is not a regular file; point --config at the file itself",
            path.display()
        )));
    }
    const WHAT: &str = "the configuration";
    const WHY: &str = "it decides which programs run and where tokens are sent, so alloydb-cred does not use it until that is fixed";
    let refuse = |e: Untrusted| e.into_error(WHY);
    ownership::check_private(path, &meta, WHAT, Owner::MeOrRoot).map_err(refuse)?;
    let real = path.canonicalize().map_err(cannot)?;
    ownership::check_ancestors(&real, WHAT).map_err(refuse)?;
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(cannot)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(Error::Config(format!(
            "the configuration {} is larger than {} MiB; that is not a configuration file",
            path.display(),
            MAX_CONFIG_BYTES >> 20
        )));
    }
    Ok(Some((text, meta)))
}

/// Far more than any configuration needs: a bound, so `/dev/zero`-like files end fast.
const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// Parses configuration text; `path` names the file in messages and anchors relative paths.
pub fn parse(text: &str, path: &Path) -> Result<Config> {
    let raw: RawConfig =
        toml::from_str(text).map_err(|err| describe_toml_error(&err, text, path))?;
    raw.resolve(path, text)
}

/// Turns a toml/serde error into "FILE line N, key K: message".
fn describe_toml_error(err: &toml::de::Error, text: &str, path: &Path) -> Error {
    let message = err.message().trim_end();
    match err.span() {
        Some(span) => located(text, path, span.start, message),
        None => Error::Config(format!("{}: {message}", path.display())),
    }
}

/// Where the table of service `name` starts in `text`, and, when `key` is given and set
/// on a line of its own in that table, where that line starts. Used for errors only (a key
/// that needs another key), so a plain text search is enough: the file has already parsed.
pub(super) fn service_key_offset(text: &str, name: &str, key: Option<&str>) -> Option<usize> {
    let headers = [
        format!("[services.{name}]"),
        format!("[services.\"{name}\"]"),
    ];
    let mut offset = 0;
    let mut table = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        // A header may carry a comment; a service name never holds a `#`.
        let header = trimmed.split('#').next().unwrap_or_default().trim_end();
        match table {
            None if headers.iter().any(|h| h == header) => {
                table = Some(offset);
                if key.is_none() {
                    return table;
                }
            }
            Some(_) if trimmed.starts_with('[') => break,
            Some(_) => {
                let set = key.is_some_and(|key| {
                    trimmed
                        .strip_prefix(key)
                        .is_some_and(|rest| rest.trim_start().starts_with('='))
                });
                if set {
                    return Some(offset);
                }
            }
            None => {}
        }
        offset += line.len();
    }
    table
}

/// A configuration error at byte `at` of `text`: "FILE line N, key K: message", the key
/// being the one set on that line (none for a table header).
pub(super) fn located(text: &str, path: &Path, at: usize, message: &str) -> Error {
    let start = at.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = &text[line_start..line_end];
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    Error::ConfigAt(Box::new(ConfigAt {
        path: path.to_path_buf(),
        line: line_no,
        key,
        message: message.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use google_tokens::SourceSpec;

    use super::*;
    use crate::config::{DEFAULT_REFRESH_WINDOW, Server, UserSpec};

    const DEFAULT_SCOPE: &str = google_tokens::ALLOYDB_LOGIN_SCOPE;

    fn keywords(pairs: &[(libpq_files::Keyword, libpq_files::SectionValue)]) -> Vec<(&str, &str)> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

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
        assert!(matches!(dev.server, Server::Host { port: 6432, .. }));
        assert_eq!(
            dev.user,
            UserSpec::Named(libpq_files::Role::new("kai@altostrat.com").expect("role"))
        );
        assert_eq!(dev.refresh_window, Duration::from_secs(300));
        assert_eq!(
            dev.credential.source,
            SourceSpec::Command {
                argv: vec!["other".into()],
                timeout: Duration::from_secs(3)
            }
        );
        assert_eq!(keywords(&dev.keywords), [("sslmode", "require")]);
        assert!(matches!(prod.server, Server::Host { port: 5432, .. }));
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
    fn values_libpq_would_read_differently_in_the_password_file_are_refused() {
        let err = parse_err("[services.prod]\ndbname = \"d\"\nhost = \"#db.example\"\n");
        assert!(err.contains("line 3, key `host`"), "{err}");
        assert!(err.contains("as a comment"), "{err}");
        assert!(!err.contains("db.example"), "{err}");
        for (key, value) in [
            ("host", "*"),
            ("host", "a,b"),
            ("host", " h"),
            ("host", "h\\r"),
            ("user", "*"),
            ("user", "a b"),
        ] {
            let text = if key == "host" {
                format!("[services.prod]\nhost = \"{value}\"\n")
            } else {
                format!("[services.prod]\nhost = \"h\"\n{key} = \"{value}\"\n")
            };
            let err = parse_err(&text);
            assert!(
                err.contains(&format!("key `{key}`")) && !err.contains("duplicate"),
                "{key} = {value:?}: {err}"
            );
        }
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
            keywords(&cfg.services[0].keywords),
            [("application_name", "x")]
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
    fn instances_instead_of_hosts() {
        let cfg = parse_ok(
            "[services.a]\ninstance = \"projects/p/locations/r/clusters/c/instances/i\"\nip_type = \"psc\"\npooled = true\nport = 7000\n[services.b]\ninstance = \"p:us-central1:db\"\n",
        );
        let (a, b) = (&cfg.services[0], &cfg.services[1]);
        let Server::Instance(ai) = &a.server else {
            panic!("not an instance: {:?}", a.server)
        };
        assert_eq!(
            (ai.ip_type, ai.pooled, ai.port),
            (google_tokens::IpType::Psc, true, Some(7000))
        );
        assert_eq!(a.credential.scopes, vec![DEFAULT_SCOPE.to_string()]);
        let bi = b.instance().expect("instance");
        assert_eq!(
            (bi.ip_type, bi.pooled, bi.port),
            (google_tokens::IpType::Private, false, None)
        );
        assert_eq!(
            bi.cache_key(),
            "p:us-central1:db ip_type=private pooled=false"
        );
        assert_eq!(
            b.credential.scopes,
            vec![google_tokens::SQLSERVICE_LOGIN_SCOPE.to_string()]
        );
    }

    #[test]
    fn host_or_instance_exactly_and_their_keys_name_the_line() {
        let err = parse_err("[services.a]\nhost = \"h\"\ninstance = \"p:r:i\"\n");
        assert!(err.contains("line 3, key `instance`"), "{err}");
        assert!(err.contains("both `host` and `instance`"), "{err}");
        let err = parse_err("[defaults]\n\n[services.a]\ndbname = \"x\"\n");
        assert!(err.contains("/etc/test/config.toml line 3"), "{err}");
        assert!(err.contains("needs `host`"), "{err}");
        let err = parse_err("[services.a]\nhost = \"h\"\n\nip_type = \"public\"\n");
        assert!(err.contains("line 4, key `ip_type`"), "{err}");
        let err = parse_err("[services.a]\ninstance = \"p:r:i\"\npooled = true\n");
        assert!(err.contains("line 3, key `pooled`"), "{err}");
        assert!(err.contains("AlloyDB"), "{err}");
        let err = parse_err("[services.a]\ninstance = \"projects/p/x\"\n");
        assert!(err.contains("line 2, key `instance`"), "{err}");
        assert!(err.contains("PROJECT:REGION:INSTANCE"), "{err}");
        let err = parse_err("[services.a]\ninstance = \"p:r:i\"\nip_type = \"vpc\"\n");
        assert!(err.contains("line 3, key `ip_type`"), "{err}");
    }

    #[test]
    fn admin_endpoints_are_base_urls() {
        let cfg = parse_ok(
            "[endpoints]\nalloydb_admin = \"https://alloydb.example.test/\"\nsqladmin = \"http://127.0.0.1:9\"\n[services.a]\nhost = \"h\"\n",
        );
        assert_eq!(
            cfg.endpoints.alloydb_admin.as_deref(),
            Some("https://alloydb.example.test")
        );
        assert_eq!(
            cfg.endpoints.sqladmin.as_deref(),
            Some("http://127.0.0.1:9")
        );
        let err = parse_err("[endpoints]\nsqladmin = \"https://sqladmin.googleapis.com/v1\"\n");
        assert!(err.contains("line 2, key `sqladmin`"), "{err}");
        assert!(err.contains("versioned path"), "{err}");
        let err = parse_err("[endpoints]\nalloydb_admin = \"http://alloydb.googleapis.com\"\n");
        assert!(err.contains("https://"), "{err}");
    }

    #[test]
    fn located_errors_keep_their_line_and_key() {
        let path = Path::new("/etc/test/config.toml");
        let located = |text: &str| match parse(text, path) {
            Err(Error::ConfigAt(at)) => *at,
            Err(other) => panic!("not located: {other}"),
            Ok(_) => panic!("accepted:\n{text}"),
        };
        let at = located("[services.prod]\nhost = \"#h\"\n");
        assert_eq!((at.line, at.key.as_deref()), (2, Some("host")));
        assert!(at.message.contains("as a comment"), "{at:?}");
        assert_eq!(
            at.to_string(),
            format!("/etc/test/config.toml line 2, key `host`: {}", at.message)
        );
        let at = located("[defaults]\n\n[services.a]\ndbname = \"x\"\n");
        assert_eq!((at.line, at.key.as_deref()), (3, None));
        assert_eq!(
            at.to_string(),
            format!("/etc/test/config.toml line 3: {}", at.message)
        );
    }

    #[test]
    fn port_range_checked() {
        let err = parse_err("[services.a]\nhost = \"h\"\nport = 70000\n");
        assert!(err.contains("line 3, key `port`"), "{err}");
    }
}
