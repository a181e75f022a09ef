//! The password of a managed entry: kept out of every log, error and debug print.

use std::fmt;

use crate::value::{InvalidValue, check_password};

/// A password (for this tool, an access token): non-empty, without white space or control
/// characters. `Debug` and `Display` never show the value, so it cannot leak through
/// `{:?}` in a log line or an error built with `format!`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(value: &str) -> Result<Self, InvalidValue> {
        check_password(value)?;
        Ok(Password(value.to_string()))
    }

    /// The password itself. Call sites are few and grep-able: rendering the entry line,
    /// and handing the token to a client that asked for it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Password(<{} bytes redacted>)", self.0.len())
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let p = Password::new("ya29.very-secret").unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{p:?}").contains("very-secret"));
        assert!(!format!("{p}").contains("very-secret"));
    }
}
