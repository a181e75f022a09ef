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

    /// The secret itself, for where it must go: a request's body or `Authorization`
    /// header, a signature, the password-file line, `token`'s output. Grep for `expose`
    /// to see every such place; nothing else can read it.
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

/// What replaces a secret.
const REDACTED: &str = "<redacted>";

/// Prefixes that start a secret, with the characters that may follow in it: Google
/// access tokens (`ya29.`), refresh tokens (`1//`), JWTs and ID tokens (`eyJ`, the
/// base64 of `{"`), OAuth client secrets (`GOCSPX-`) and API keys (`AIza`).
const SECRET_PREFIXES: [&str; 5] = ["ya29.", "1//", "eyJ", "GOCSPX-", "AIza"];

/// Names whose value is a secret wherever they appear: `name=value`, `name: value`,
/// `"name": "value"` (matched without regard to case, so AWS's `SecretAccessKey` too).
const SECRET_NAMES: [&str; 12] = [
    "client_secret",
    "refresh_token",
    "access_token",
    "id_token",
    "private_key",
    "subject_token",
    "assertion",
    "password",
    "secret_access_key",
    "secretaccesskey",
    "session_token",
    "sessiontoken",
];

/// A run of characters this long from base64's and hex's alphabets, mixing letters and
/// digits, is taken for a key or token even without a known shape.
const LONG_RUN: usize = 32;

/// The one redactor: every text that can reach a log line, an error, the state file or
/// `status` and that the tool did not write itself (a program's stderr, an endpoint's
/// error description) goes through it. It removes every exact occurrence of `known`
/// secrets (8 characters or more), PEM blocks, tokens of the shapes Google issues, values
/// of secret-named fields, and long base64 or hex runs.
pub fn redact(text: &str, known: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in known {
        if secret.len() >= 8 {
            out = out.replace(secret, REDACTED);
        }
    }
    let out = redact_pem_blocks(&out);
    let out = redact_named_values(&out);
    let out = redact_prefixed(&out);
    redact_runs(&out)
}

/// A secret prefix and the token characters after it (`/` included: refresh tokens have
/// it, and nothing after a prefix is worth keeping up to the next space or quote).
fn redact_prefixed(text: &str) -> String {
    let is_token_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '+' | '=');
    let mut result = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((at, len)) = SECRET_PREFIXES
        .iter()
        .filter_map(|p| rest.find(p).map(|at| (at, p.len())))
        .min()
    {
        result.push_str(&rest[..at]);
        result.push_str(REDACTED);
        let after = &rest[at + len..];
        let end = after
            .find(|c: char| !is_token_char(c))
            .unwrap_or(after.len());
        rest = &after[end..];
    }
    result.push_str(rest);
    result
}

/// `-----BEGIN …-----` to the matching `-----END …-----` (or to the end of the text, when
/// it was cut short).
fn redact_pem_blocks(text: &str) -> String {
    let mut result = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN") {
        result.push_str(&rest[..start]);
        result.push_str("<redacted PEM block>");
        let after = &rest[start..];
        rest = match after.find("-----END") {
            Some(end) => {
                let tail = &after[end + "-----END".len()..];
                match tail.find("-----") {
                    Some(close) => &tail[close + "-----".len()..],
                    None => "",
                }
            }
            None => "",
        };
    }
    result.push_str(rest);
    result
}

/// The value after a secret-named field: skips `"`, `:`, `=` and spaces after the name,
/// then removes up to the next quote, white space, `&`, `,` or `}`.
fn redact_named_values(text: &str) -> String {
    let mut result = String::with_capacity(text.len());
    let mut rest = text;
    'scan: loop {
        let lower = rest.to_ascii_lowercase();
        let next = SECRET_NAMES
            .iter()
            .filter_map(|name| lower.find(name).map(|at| (at, name.len())))
            .min();
        let Some((at, len)) = next else { break 'scan };
        let after_name = at + len;
        result.push_str(&rest[..after_name]);
        let tail = &rest[after_name..];
        let separator = tail
            .find(|c: char| !matches!(c, '"' | '\'' | ':' | '=' | ' '))
            .unwrap_or(tail.len());
        let has_separator = tail[..separator].contains([':', '=']);
        result.push_str(&tail[..separator]);
        let value = &tail[separator..];
        let end = value
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '&' | ',' | '}'))
            .unwrap_or(value.len());
        if has_separator && end > 0 {
            result.push_str(REDACTED);
        } else {
            result.push_str(&value[..end]);
        }
        rest = &value[end..];
    }
    result.push_str(rest);
    result
}

/// Known token shapes, and long runs of base64 or hex.
fn redact_runs(text: &str) -> String {
    let is_run_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '=' | '_' | '-' | '.');
    let mut result = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let start = rest.find(is_run_char).unwrap_or(rest.len());
        result.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(|c: char| !is_run_char(c)).unwrap_or(rest.len());
        let word = &rest[..end];
        result.push_str(&redact_word(word));
        rest = &rest[end..];
    }
    result
}

/// One run of token characters: a long mixed run of base64 or hex (split at `.`, which
/// separates DNS labels and file extensions) hides that part.
fn redact_word(word: &str) -> String {
    word.split('.')
        .map(|part| {
            let long = part.len() >= LONG_RUN;
            let mixed = part.bytes().any(|b| b.is_ascii_digit())
                && part.bytes().any(|b| b.is_ascii_alphabetic());
            if long && mixed { REDACTED } else { part }
        })
        .collect::<Vec<_>>()
        .join(".")
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
    fn every_kind_of_secret_is_redacted_and_ordinary_text_is_not() {
        let secrets = [
            "ya29.a0AfB_byC-very.secret..",
            "1//0gSECRETrefreshTOKEN-abc_def",
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl",
            "GOCSPX-AbCdEfGhIjKlMnOpQrStUvWxYz12",
            "QWxhZGRpbjpvcGVuIHNlc2FtZTEyMzQ1Njc4OTBhYmNkZWY=",
            "0123456789abcdef0123456789abcdef01234567",
        ];
        for secret in secrets {
            let red = redact(&format!("error: got {secret} here"), &[]);
            assert!(!red.contains(&secret[4..12]), "{secret}: {red}");
            assert!(
                red.starts_with("error: got ") && red.ends_with(" here"),
                "{red}"
            );
        }
        let pem = "key: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nabc\n-----END PRIVATE KEY-----\n done";
        assert_eq!(redact(pem, &[]), "key: <redacted PEM block>\n done");
        let cut = "-----BEGIN RSA PRIVATE KEY-----\nMIIEvQIBADANBgk";
        assert_eq!(redact(cut, &[]), "<redacted PEM block>");
        for named in [
            r#"{"client_secret": "hunter2-short", "x": 1}"#,
            "client_secret=hunter2-short&grant_type=refresh_token",
            "password: hunter2-short",
            r#"{"AccessKeyId": "AKIA", "SecretAccessKey": "hunter2-short"}"#,
            "AWS_SESSION_TOKEN=hunter2-short",
            r#"{"SessionToken":"hunter2-short"}"#,
        ] {
            let red = redact(named, &[]);
            assert!(!red.contains("hunter2"), "{named}: {red}");
        }
        // What errors are made of stays readable.
        for plain in [
            "cannot write /tmp/alloydb-cred-test.AbC123/home/.pgpass: No space left on device",
            "service prod: the token endpoint at http://127.0.0.1:40123/token answered HTTP 500",
            "kai@altostrat.com logs in as my-service@my-project.iam",
            "grant_type refresh_token was refused",
            "expires=20261129T010203Z cred=1f0c9a2e",
        ] {
            assert_eq!(redact(plain, &[]), plain);
        }
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
