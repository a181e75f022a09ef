//! Validated value types: each can only be built by checking its text. Values that end up
//! in libpq's files are checked by the file engine's own types (the configuration accepts
//! exactly what the writers accept); the rest by the rules here. Messages say what is
//! wrong without quoting the value.

use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer};

/// Defines a newtype around a checked type of another crate: its `Deserialize` reads a
/// string and builds the inner value with `$new`, whose error becomes the message.
macro_rules! checked {
    ($(#[$doc:meta])* $name:ident($inner:ty), $new:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
        pub(super) struct $name($inner);

        impl $name {
            pub(super) fn into_inner(self) -> $inner {
                self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                let new: fn(&str) -> std::result::Result<$inner, String> = $new;
                new(&text).map($name).map_err(de::Error::custom)
            }
        }
    };
}

checked!(
    /// A service name: a `[section]` name and a marker word.
    ServiceName(libpq_files::ServiceName),
    |t| libpq_files::ServiceName::new(t).map_err(|e| e.to_string())
);

checked!(
    /// The host of a service, as written into both files.
    Host(libpq_files::Host),
    |t| libpq_files::Host::new(t).map_err(|e| e.to_string())
);

checked!(
    /// A value written as-is into the service file (`dbname`, `options`, `libpq` values).
    Text(libpq_files::SectionValue),
    |t| libpq_files::SectionValue::new(t).map_err(|e| e.to_string())
);

checked!(
    /// `user`: `"auto"` (derived from the credential's principal), or a role name.
    DbUser(Option<libpq_files::Role>),
    |t| match t {
        "auto" => Ok(None),
        role => libpq_files::Role::new(role).map(Some).map_err(|e| {
            format!("{e}; use \"auto\" to derive the user from the credential")
        }),
    }
);

checked!(
    /// An e-mail address of a Google account (`impersonate`, `delegates`).
    Email(google_tokens::Principal),
    |t| google_tokens::Principal::new(t)
        .map_err(|why| format!("not a Google account's e-mail address ({why})"))
);

checked!(
    /// A program or argument of a token command: anything but control characters.
    Arg(String),
    |t| match t.chars().any(char::is_control) {
        true => Err("contains a control character".to_string()),
        false => Ok(t.to_string()),
    }
);

checked!(
    /// An OAuth scope URL.
    Scope(String),
    |t| match t.starts_with("https://") && !t.contains(char::is_whitespace) {
        true => Ok(t.to_string()),
        false => Err(format!(
            "not a scope URL (for example {:?})",
            google_tokens::ALLOYDB_LOGIN_SCOPE
        )),
    }
);

checked!(
    /// A path (expanded later, against the configuration's directory).
    PathText(String),
    |t| match (t.is_empty(), t.chars().any(char::is_control)) {
        (true, _) => Err("the path is empty".to_string()),
        (_, true) => Err("the path contains a control character".to_string()),
        _ => Ok(t.to_string()),
    }
);

checked!(
    /// `sslmode`: one of libpq's modes.
    SslMode(String),
    |t| {
        const MODES: [&str; 6] = [
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ];
        match MODES.contains(&t) {
            true => Ok(t.to_string()),
            false => Err(format!("sslmode is not one of {}", MODES.join(", "))),
        }
    }
);

checked!(
    /// A libpq connection keyword for the `libpq` table. The dedicated keys, and the ones
    /// that would put secrets or our own settings in the service file, are refused.
    LibpqKeyword(libpq_files::Keyword),
    |key| {
        const OWN: [&str; 10] = [
            "host", "port", "dbname", "user", "sslmode", "sslrootcert", "sslcert", "sslkey",
            "options", "service",
        ];
        if OWN.contains(&key) {
            return Err(format!(
                "set `{key}` directly in the service table, not under `libpq`"
            ));
        }
        if key == "password" || key == "passfile" {
            return Err(format!(
                "`{key}` is managed by alloydb-cred (tokens never go into the service file)"
            ));
        }
        if !libpq_files::service_file::LIBPQ_KEYWORDS.contains(&key) {
            return Err(format!("`{key}` is not a libpq connection keyword"));
        }
        libpq_files::Keyword::new(key).map_err(|e| e.to_string())
    }
);

checked!(
    /// An endpoint URL: `https://`, or `http://` to a loopback address (a local stand-in,
    /// a tunnel). Tokens and credentials travel to these, so nothing else is plain text.
    Url(String),
    check_url
);

fn check_url(t: &str) -> std::result::Result<String, String> {
    if t.contains(char::is_whitespace) || t.chars().any(char::is_control) {
        return Err("not a URL (it contains white space)".to_string());
    }
    if t.starts_with("https://") || google_tokens::is_loopback_http(t) {
        Ok(t.to_string())
    } else {
        Err("not an https:// URL; plain http:// is allowed only to a loopback address (127.0.0.1, ::1, localhost), because tokens travel to it".to_string())
    }
}

checked!(
    /// `instance`: an AlloyDB instance's resource name or a Cloud SQL connection name.
    Instance(google_tokens::InstanceName),
    google_tokens::InstanceName::parse
);

checked!(
    /// `ip_type`: which of an instance's addresses to connect to.
    IpTypeValue(google_tokens::IpType),
    google_tokens::IpType::parse
);

checked!(
    /// An Admin API's base URL: a [`Url`] of scheme, host and port only, since the tool
    /// adds the versioned path itself.
    BaseUrl(String),
    |t| {
        let url = check_url(t)?;
        let after_scheme = url.split_once("://").map_or("", |(_, rest)| rest);
        let path = after_scheme
            .find(['/', '?', '#'])
            .map_or("", |at| &after_scheme[at..]);
        match path {
            "" | "/" => Ok(url.trim_end_matches('/').to_string()),
            _ => Err("give only the scheme, host and port (like \"https://alloydb.googleapis.com\"); the versioned path is added by alloydb-cred".to_string()),
        }
    }
);

/// A port, 1 to 65535.
#[derive(Debug, Clone, Copy)]
pub(super) struct Port(u16);

impl Port {
    pub(super) fn get(self) -> u16 {
        self.0
    }
}

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
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let parsed: jiff::SignedDuration = text.trim().parse().map_err(|_| {
        format!("{text:?} is not a duration (write it like \"15m\", \"90s\" or \"1h 30m\")")
    })?;
    Duration::try_from(parsed).map_err(|_| format!("{text:?} is negative"))
}

/// Defines a duration setting with bounds; the message names the key and the bounds.
macro_rules! bounded_duration {
    ($(#[$doc:meta])* $name:ident, $key:literal, $min:expr, $max:expr, $bounds:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(super) struct $name(Duration);

        impl $name {
            pub(super) fn get(self) -> Duration {
                self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                let value = parse_duration(&text).map_err(de::Error::custom)?;
                if value < $min || value > $max {
                    return Err(de::Error::custom(format!(
                        concat!($key, " {:?} must be ", $bounds),
                        text
                    )));
                }
                Ok($name(value))
            }
        }
    };
}

bounded_duration!(
    /// `refresh_window`: tokens live about an hour; a window this long would refresh on
    /// every run.
    Window,
    "refresh_window",
    Duration::from_secs(1),
    Duration::from_secs(55 * 60),
    "more than 0 and at most 55m (tokens live about an hour)"
);

bounded_duration!(
    /// `[endpoints] timeout`: how long one request may take.
    RequestTimeout,
    "timeout",
    Duration::from_secs(1),
    Duration::from_secs(300),
    "between 1s and 5m"
);

bounded_duration!(
    /// A token command's `timeout`.
    CommandTimeout,
    "timeout",
    Duration::from_millis(1),
    Duration::from_secs(3600),
    "more than 0 and at most 1h"
);

bounded_duration!(
    /// `lock_timeout`: how long to wait for another refresher's lock before giving up.
    LockTimeout,
    "lock_timeout",
    Duration::from_secs(1),
    Duration::from_secs(3600),
    "between 1s and 1h"
);
