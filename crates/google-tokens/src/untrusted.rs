//! Every answer from a server or a program, and every credential file, is untrusted
//! until checked here. Checks explain what is wrong without ever quoting the value: it
//! may be a secret.

use crate::error::{Error, Result};

/// Reads a credentials file's fields. Errors name a missing field but never quote a
/// value: the file holds secrets.
pub(crate) fn credential_fields<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    origin: &str,
    kind: &str,
    fix: &str,
) -> Result<T> {
    serde_json::from_value(value).map_err(|e| {
        let why = json_problem(&e, "it is not JSON");
        Error::Config(format!("{origin} is not a usable {kind} ({why}); {fix}"))
    })
}

/// What is wrong with a JSON document, in words that never quote a value from it (serde's
/// own messages do: "invalid type: string \"ya29…\""). `not_json` describes a syntax error.
pub(crate) fn json_problem(err: &serde_json::Error, not_json: &str) -> String {
    use serde_json::error::Category;
    match err.classify() {
        Category::Data => {
            let message = err.to_string();
            match message.strip_prefix("missing field ") {
                Some(rest) => format!(
                    "missing field {}",
                    rest.split(' ').next().unwrap_or_default()
                ),
                None => "a field has the wrong type or value".to_string(),
            }
        }
        Category::Io | Category::Syntax | Category::Eof => not_json.to_string(),
    }
}

/// Whether `text` is a DNS name of at least two labels: letters, digits and inner `-`,
/// separated by dots, at most 253 bytes. Used wherever a name from outside becomes part
/// of a URL or an address.
pub(crate) fn is_domain_name(text: &str) -> bool {
    text.len() <= 253
        && text.split('.').count() >= 2
        && text.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Checks that a token can be written as a password: non-empty, no white space or
/// control characters (which would end or corrupt the password-file line).
pub(crate) fn check_token(token: &str, origin: &str) -> Result<()> {
    if token.is_empty() {
        return Err(Error::Source(format!("{origin} returned an empty token")));
    }
    if let Some(c) = token.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::Source(format!(
            "{origin} returned a token containing {c:?}; a token is a single word without white space or control characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_problems_never_quote_values() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct T {
            a: u32,
            b: String,
        }
        let wrong = serde_json::from_str::<T>(r#"{"a": "ya29.SECRET", "b": "x"}"#);
        let missing = serde_json::from_str::<T>(r#"{"a": 1}"#);
        let broken = serde_json::from_str::<T>(r#"{"a": "ya29.SECRET"#);
        let text: Vec<String> = [wrong, missing, broken]
            .iter()
            .map(|r| match r {
                Ok(v) => panic!("parsed: {v:?}"),
                Err(e) => json_problem(e, "not JSON"),
            })
            .collect();
        assert_eq!(
            text,
            [
                "a field has the wrong type or value",
                "missing field `b`",
                "not JSON"
            ]
        );
    }
}
