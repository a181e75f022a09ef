//! A wrapper that keeps access tokens out of logs, errors and debug prints.

use aho_corasick::{AhoCorasick, MatchKind};
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
    // Every pass below reads its input once, front to back: a message of a megabyte
    // full of secret names or prefixes costs milliseconds, not minutes.
    let out = redact_known(text, known);
    let out = redact_pem_blocks(&out);
    let out = redact_named_values(&out);
    let out = redact_prefixed(&out);
    redact_runs(&out)
}

/// [`redact`], then at most `max` characters of the result, from its end (`keep_end`:
/// a program's stderr, whose last lines say why it failed) or from its start (a server's
/// message). The cut is made after redacting, so a secret across it is already gone and
/// no part of it can survive; `…` marks the side that was cut.
pub(crate) fn redact_excerpt(text: &str, known: &[&str], max: usize, keep_end: bool) -> String {
    let red = redact(text, known);
    let count = red.chars().count();
    if count <= max {
        return red;
    }
    if keep_end {
        let tail: String = red.chars().skip(count - max).collect();
        format!("…{tail}")
    } else {
        let head: String = red.chars().take(max).collect();
        format!("{head}…")
    }
}

/// Every occurrence of the `known` secrets (8 bytes or more; shorter ones would hide
/// ordinary words), the longest first where they overlap, in one pass over the text
/// whatever their number (every word a program printed on stdout).
fn redact_known(text: &str, known: &[&str]) -> String {
    let mut secrets: Vec<&str> = known.iter().copied().filter(|s| s.len() >= 8).collect();
    if secrets.is_empty() {
        return text.to_string();
    }
    secrets.sort_unstable();
    secrets.dedup();
    match AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostLongest)
        .build(&secrets)
    {
        Ok(matcher) => matcher.replace_all(text, &vec![REDACTED; secrets.len()]),
        // Too many patterns for the automaton's limits: one at a time.
        Err(_) => secrets.iter().fold(text.to_string(), |out, secret| {
            out.replace(secret, REDACTED)
        }),
    }
}

/// The first occurrence of any of `needles` in `haystack` at or after `from`, as
/// (position, needle's length), the shortest needle first on a tie. `next` remembers
/// where each needle occurs next, so that a scan calling this with a rising `from`
/// searches the text once per needle in all, not once per call.
fn next_of(
    haystack: &str,
    needles: &[&str],
    next: &mut [Option<usize>],
    from: usize,
) -> Option<(usize, usize)> {
    for (needle, slot) in needles.iter().zip(next.iter_mut()) {
        if let Some(at) = *slot {
            if at < from {
                let mut start = from.min(haystack.len());
                while !haystack.is_char_boundary(start) {
                    start += 1;
                }
                *slot = haystack[start..].find(needle).map(|p| p + start);
            }
        }
    }
    needles
        .iter()
        .zip(next.iter())
        .filter_map(|(needle, at)| at.map(|at| (at, needle.len())))
        .min()
}

/// A secret prefix and the token characters after it (`/` included: refresh tokens have
/// it, and nothing after a prefix is worth keeping up to the next space or quote).
fn redact_prefixed(text: &str) -> String {
    let is_token_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '+' | '=');
    let mut result = String::with_capacity(text.len());
    let mut next = SECRET_PREFIXES.map(|p| text.find(p));
    let mut cursor = 0;
    while let Some((at, len)) = next_of(text, &SECRET_PREFIXES, &mut next, cursor) {
        result.push_str(&text[cursor..at]);
        result.push_str(REDACTED);
        let after = &text[at + len..];
        let end = after
            .find(|c: char| !is_token_char(c))
            .unwrap_or(after.len());
        cursor = at + len + end;
    }
    result.push_str(&text[cursor..]);
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
    // ASCII lowercasing keeps every byte where it was: positions in `lower` are
    // positions in `text`.
    let lower = text.to_ascii_lowercase();
    let mut result = String::with_capacity(text.len());
    let mut next = SECRET_NAMES.map(|name| lower.find(name));
    let mut cursor = 0;
    while let Some((at, len)) = next_of(&lower, &SECRET_NAMES, &mut next, cursor) {
        let after_name = at + len;
        result.push_str(&text[cursor..after_name]);
        let tail = &text[after_name..];
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
        cursor = after_name + separator + end;
    }
    result.push_str(&text[cursor..]);
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

    #[test]
    fn a_megabyte_of_secret_names_and_prefixes_is_redacted_in_one_pass() {
        // Each of these made the old passes search the rest of the text once per
        // occurrence: minutes for a megabyte.
        for unit in [
            "password ",
            "PASSWORD=x ",
            "eyJ ",
            "1//a ",
            "client_secret ",
            "zzzzzzzz ",
        ] {
            let text = unit.repeat((1 << 20) / unit.len());
            // Many secrets sharing their first bytes with each other and with the text.
            let known: Vec<String> = (0..100_000).map(|i| format!("{unit}{i:08}")).collect();
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            // How long this takes is measured in benches/redact.rs, not here.
            let red = redact(&text, &known);
            assert!(!red.contains("x "), "{unit:?}");
            assert!(red.len() <= text.len() * 4, "{unit:?}");
        }
        // A long text still loses every secret in it, wherever it is.
        let mut text = "password ".repeat(100_000);
        text.push_str("password=Qz7vKp9wLm ya29.TOKENtokenTOKEN knownSECRETvalue end");
        let red = redact(&text, &["knownSECRETvalue"]);
        for gone in ["Qz7vKp9wLm", "TOKENtoken", "knownSECRET"] {
            assert!(!red.contains(gone), "{gone}");
        }
        assert!(red.ends_with("password=<redacted> <redacted> <redacted> end"));
    }

    #[test]
    fn many_known_secrets_are_each_replaced_the_longest_first() {
        let red = redact(
            "a abcdefgh1 abcdefgh12 abcdefgh x abcdefgh",
            &["abcdefgh", "abcdefgh12", "abcdefgh", "short"],
        );
        assert_eq!(red, "a <redacted>1 <redacted> <redacted> x <redacted>");
        assert_eq!(redact("é-abcdefgh-é", &["abcdefgh"]), "é-<redacted>-é");
    }

    #[test]
    fn no_part_of_a_secret_cut_by_the_excerpt_survives() {
        // The secret sits across the cut at every offset; no 3 characters of it may be
        // left, at either end.
        let windows = |secret: &str| -> Vec<String> {
            let chars: Vec<char> = secret.chars().collect();
            chars.windows(3).map(|w| w.iter().collect()).collect()
        };
        for (secret, shape, known) in [
            ("Qz7vKp9wLm", "password: Qz7vKp9wLm", None),
            ("Qz7vKp9wLm", r#""password": "Qz7vKp9wLm""#, None),
            ("Qz7vKp9wLm", "password = Qz7vKp9wLm", None),
            ("Qz7vKp9wLmXy", "ya29.Qz7vKp9wLmXy", None),
            ("Qz7vKp9wLmXy", "token=Qz7vKp9wLmXy", Some("Qz7vKp9wLmXy")),
        ] {
            for pad in 0..40 {
                let filler = "b ".repeat(20);
                let text = format!("{}{shape}{filler}", "a".repeat(pad));
                let known: Vec<&str> = known.into_iter().collect();
                for keep_end in [true, false] {
                    let max = if keep_end {
                        filler.len() + 5
                    } else {
                        pad + shape.len() - 5
                    };
                    let red = redact_excerpt(&text, &known, max, keep_end);
                    assert!(red.contains('…'), "{red}");
                    for w in windows(secret) {
                        assert!(!red.contains(&w), "{shape} pad {pad}: {red}");
                    }
                }
            }
        }
        // Short enough: all of it, redacted.
        assert_eq!(
            redact_excerpt("password: hunter2", &[], 600, true),
            "password: <redacted>"
        );
    }
}
