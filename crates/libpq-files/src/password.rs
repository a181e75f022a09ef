//! The password of a managed entry: kept out of every log, error and debug print.

use std::fmt;

/// A password (for this tool, an access token). `Debug` and `Display` never show the
/// value, so it cannot leak through `{:?}` in a log line or an error built with `format!`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(value: impl Into<String>) -> Self {
        Password(value.into())
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
        let p = Password::new("ya29.very-secret");
        assert!(!format!("{p:?}").contains("very-secret"));
        assert!(!format!("{p}").contains("very-secret"));
    }
}
