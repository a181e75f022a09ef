//! The values the files are made of, each a type that can only be built by checking it.
//!
//! Both files are line-based and libpq reads them with simple rules: a newline ends an
//! entry, a `[` starts a section, `key=value` sets a keyword, `*` matches anything. A value
//! that carried a newline, white space at its ends or a lone `*` would change what the
//! file means to libpq, so the writers take only these types, whoever produced the text:
//! the user's configuration, a token endpoint, a metadata server or a program.

use std::fmt;

/// Why a value cannot be written. The message says what is wrong and never quotes the
/// value, which may be a secret or hostile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {why}")]
pub struct InvalidValue {
    what: &'static str,
    why: &'static str,
}

impl InvalidValue {
    fn new(what: &'static str, why: &'static str) -> InvalidValue {
        InvalidValue { what, why }
    }
}

/// PostgreSQL truncates role names longer than this (NAMEDATALEN - 1), so a longer one
/// never matches the role it was meant for.
pub(crate) const MAX_ROLE_BYTES: usize = 63;
/// Longest host name DNS allows, and more than any address needs.
const MAX_HOST_BYTES: usize = 253;
/// libpq before PostgreSQL 14 reads service-file lines of at most 255 bytes.
pub(crate) const MAX_SECTION_LINE_BYTES: usize = 253;

/// Checks shared by every value: non-empty, no control character (a newline would end
/// the entry), optionally no white space inside.
fn plain(text: &str, what: &'static str, allow_inner_space: bool) -> Result<(), InvalidValue> {
    if text.is_empty() {
        return Err(InvalidValue::new(what, "is empty"));
    }
    // The common case, printable ASCII without spaces (every token, address and e-mail),
    // in one pass over the bytes: this check runs for every entry a nothing-due pass reads.
    // A fold without an early exit, so the compiler can test many bytes at once.
    let graphic = text
        .bytes()
        .fold(true, |all, b| all & (b.wrapping_sub(b'!') <= b'~' - b'!'));
    if graphic {
        return Ok(());
    }
    if text.chars().any(char::is_control) {
        return Err(InvalidValue::new(
            what,
            "contains a control character (a newline would start a new line in the file)",
        ));
    }
    if text.starts_with(char::is_whitespace) || text.ends_with(char::is_whitespace) {
        return Err(InvalidValue::new(
            what,
            "starts or ends with white space, which libpq would drop",
        ));
    }
    if !allow_inner_space && text.contains(char::is_whitespace) {
        return Err(InvalidValue::new(what, "contains white space"));
    }
    Ok(())
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

text_type!(
    /// A service name: the `[section]` name and a word in marker comments, so a plain
    /// identifier (letters, digits, `_`, `-`, `.`, starting with a letter or `_`).
    ServiceName
);

impl ServiceName {
    pub fn new(text: &str) -> Result<ServiceName, InvalidValue> {
        Self::check(text)?;
        Ok(ServiceName(text.to_string()))
    }

    /// What [`ServiceName::new`] checks, without making a value: for reading files.
    pub(crate) fn check(text: &str) -> Result<(), InvalidValue> {
        let what = "the service name";
        let valid = !text.is_empty()
            && text.len() <= 63
            && text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid {
            return Err(InvalidValue::new(
                what,
                "is not a plain identifier (letters, digits, `_`, `-`, `.`, starting with a letter or `_`, at most 63 characters)",
            ));
        }
        if text.eq_ignore_ascii_case("default") {
            return Err(InvalidValue::new(
                what,
                "may not be DEFAULT (some service-file readers treat it specially)",
            ));
        }
        Ok(())
    }
}

text_type!(
    /// The host field: one host name or address, written literally (the password file
    /// escapes `:` and `\` itself).
    Host
);

impl Host {
    pub fn new(text: &str) -> Result<Host, InvalidValue> {
        Self::check(text)?;
        Ok(Host(text.to_string()))
    }

    /// What [`Host::new`] checks, without making a value: for reading files.
    pub(crate) fn check(text: &str) -> Result<(), InvalidValue> {
        let what = "the host";
        plain(text, what, false)?;
        if text == "*" {
            return Err(InvalidValue::new(
                what,
                "is `*`, which would match every server in the password file",
            ));
        }
        if text.contains(',') {
            return Err(InvalidValue::new(
                what,
                "is a list; libpq matches password-file entries host by host, so give one host per service",
            ));
        }
        // The host is the first field of a password-file line, and libpq skips every
        // line that starts with `#` as a comment: such an entry would never be read.
        if text.starts_with('#') {
            return Err(InvalidValue::new(
                what,
                "starts with `#`; libpq would read its password-file line as a comment and never use it",
            ));
        }
        if text.len() > MAX_HOST_BYTES {
            return Err(InvalidValue::new(what, "is longer than a host name can be"));
        }
        Ok(())
    }
}

text_type!(
    /// A database role (user) name.
    Role
);

impl Role {
    pub fn new(text: &str) -> Result<Role, InvalidValue> {
        Self::check(text)?;
        Ok(Role(text.to_string()))
    }

    /// What [`Role::new`] checks, without making a value: for reading files.
    pub(crate) fn check(text: &str) -> Result<(), InvalidValue> {
        let what = "the database user";
        plain(text, what, false)?;
        if text == "*" {
            return Err(InvalidValue::new(what, "is `*`, which is no role"));
        }
        if text.len() > MAX_ROLE_BYTES {
            return Err(InvalidValue::new(
                what,
                "is longer than 63 bytes; PostgreSQL truncates role names, so the login would fail",
            ));
        }
        Ok(())
    }
}

text_type!(
    /// The value of a `keyword=value` line in the service file. White space inside is
    /// allowed (`options=-c search_path=a`); at the ends it is not, nor control characters.
    SectionValue
);

impl SectionValue {
    pub fn new(text: &str) -> Result<SectionValue, InvalidValue> {
        Self::check(text)?;
        Ok(SectionValue(text.to_string()))
    }

    /// What [`SectionValue::new`] checks, without making a value: for reading files.
    pub(crate) fn check(text: &str) -> Result<(), InvalidValue> {
        plain(text, "a service-file value", true)?;
        if text.len() > MAX_SECTION_LINE_BYTES {
            return Err(InvalidValue::new(
                "a service-file value",
                "is longer than libpq before PostgreSQL 14 reads in one line",
            ));
        }
        Ok(())
    }
}

text_type!(
    /// A connection keyword of a service-file line: lowercase letters and `_`.
    Keyword
);

impl Keyword {
    pub fn new(text: &str) -> Result<Keyword, InvalidValue> {
        Self::check(text)?;
        Ok(Keyword(text.to_string()))
    }

    /// What [`Keyword::new`] checks, without making a value: for reading files.
    pub(crate) fn check(text: &str) -> Result<(), InvalidValue> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(InvalidValue::new(
                "a service-file keyword",
                "is not a libpq keyword (lowercase letters and `_`)",
            ));
        }
        Ok(())
    }
}

/// Checks a password (for this tool, an access token): non-empty, no white space or
/// control characters, which would end or split the password-file line.
pub(crate) fn check_password(text: &str) -> Result<(), InvalidValue> {
    plain(text, "the password", false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_values_are_refused_without_quoting_them() {
        let hostile = "kai@altostrat.com\n[evil]\nhost=attacker.example";
        for err in [
            Role::new(hostile).err(),
            Host::new(hostile).err(),
            SectionValue::new(hostile).err(),
            ServiceName::new(hostile).err(),
            check_password(hostile).err(),
        ] {
            let err = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(!err.is_empty() && !err.contains("attacker"), "{err}");
        }
    }

    #[test]
    fn the_rules() {
        assert!(Role::new("kai@altostrat.com").is_ok());
        assert!(Role::new(&"a".repeat(64)).is_err());
        assert!(Role::new("*").is_err());
        assert!(Role::new("a b").is_err());
        assert!(Host::new("::1").is_ok());
        assert!(Host::new("a,b").is_err());
        assert!(Host::new("*").is_err());
        assert!(Host::new("#db.example").is_err());
        assert!(Host::new("db#1.example").is_ok());
        assert!(SectionValue::new("-c search_path=a").is_ok());
        assert!(SectionValue::new(" x").is_err());
        assert!(SectionValue::new("x\r").is_err());
        assert!(Keyword::new("sslmode").is_ok());
        assert!(Keyword::new("Host").is_err());
        assert!(ServiceName::new("prod-1.eu").is_ok());
        assert!(ServiceName::new("default").is_err());
        assert!(ServiceName::new("1x").is_err());
        assert!(check_password("ya29.a0AfB_....").is_ok());
        assert!(check_password("").is_err());
    }
}
