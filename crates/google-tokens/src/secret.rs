//! A wrapper that keeps access tokens out of logs, errors and debug prints.

use std::fmt;

/// An access token. Its `Debug` and `Display` never show the value, so a token cannot
/// leak through `{:?}` in a log line or an error built with `format!`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The token itself. Call sites are few and grep-able: writing the pgpass line,
    /// printing for `token`, and sending it to tokeninfo in a request body.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Replaces anything that looks like a Google access token (`ya29.` and what follows)
/// and every exact occurrence of `known` secrets in `text`. Used on text we did not
/// write ourselves, such as a failing token command's stderr, before it reaches an error.
pub fn redact(text: &str, known: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in known {
        if secret.len() >= 8 {
            out = out.replace(secret, "<redacted>");
        }
    }
    let mut result = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(pos) = rest.find("ya29.") {
        result.push_str(&rest[..pos]);
        result.push_str("<redacted>");
        let after = &rest[pos..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
            .unwrap_or(after.len());
        rest = &after[end..];
    }
    result.push_str(rest);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("ya29.very-secret");
        assert!(!format!("{s:?}").contains("very-secret"));
        assert!(!format!("{s}").contains("very-secret"));
    }

    #[test]
    fn redact_hides_google_tokens_and_known_values() {
        let text = "failed: token ya29.abc-DEF_1.. rejected; other=supersecretvalue end";
        let red = redact(text, &["supersecretvalue"]);
        assert_eq!(
            red,
            "failed: token <redacted> rejected; other=<redacted> end"
        );
    }
}
