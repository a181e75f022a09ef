//! Validated value types: each can only be built by checking its text, so a value that
//! made it into the configuration is known to be writable into libpq's line-based files.

use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer};

/// Google access tokens live an hour; a window this long would refresh on every run.
const MAX_REFRESH_WINDOW: Duration = Duration::from_secs(55 * 60);

/// Defines a string newtype whose `Deserialize` runs a check and reports its message.
macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
        pub(super) struct $name(String);

        impl $name {
            pub(super) fn into_string(self) -> String {
                self.0
            }
        }

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

/// libpq before PostgreSQL 14 reads service-file lines of at most 255 bytes; a value this
/// long leaves room for its keyword.
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
            "scope {scope:?} is not a scope URL (for example {:?})",
            google_tokens::ALLOYDB_LOGIN_SCOPE
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
        if !libpq_files::service_file::LIBPQ_KEYWORDS.contains(&key) {
            return Err(format!("`{key}` is not a libpq connection keyword"));
        }
        Ok(())
    }
);

/// A URL for an endpoint override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Url(String);

impl Url {
    pub(super) fn into_string(self) -> String {
        self.0
    }
}

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
pub(super) fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let parsed: jiff::SignedDuration = text.trim().parse().map_err(|_| {
        format!("{text:?} is not a duration (write it like \"15m\", \"90s\" or \"1h 30m\")")
    })?;
    Duration::try_from(parsed).map_err(|_| format!("{text:?} is negative"))
}

/// `refresh_window`: more than 0, at most 55 minutes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window(Duration);

impl Window {
    pub(super) fn get(self) -> Duration {
        self.0
    }
}

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

/// `[endpoints] timeout`: a duration from 1 second to 5 minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RequestTimeout(Duration);

impl RequestTimeout {
    pub(super) fn get(self) -> Duration {
        self.0
    }
}

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
