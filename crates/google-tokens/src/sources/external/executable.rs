//! Executable-sourced credentials (`credential_source.executable`): a program of the
//! user's prints the subject token (an OIDC ID token or a SAML response) as JSON, in the
//! format Google's client libraries specify.
//!
//! As in those libraries: the program runs only when
//! `GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1`; its command is split like a shell's
//! words (quotes honoured) but never given to a shell; it gets the
//! `GOOGLE_EXTERNAL_ACCOUNT_*` variables; `timeout_millis` (5 to 120 s, 30 s by default)
//! bounds it; and `output_file`, which the program writes, is read first and used while
//! its token is unexpired. A cached answer that is expired, a failure or malformed is
//! passed over and the program runs: a stale cache never stops a refresh.

use std::path::PathBuf;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::input_file;
use crate::process::Program;
use crate::secret::{Secret, redact};
use crate::untrusted::json_problem;

/// The variable that must be `1` before any credential file may run a program.
const ALLOW: &str = "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES";
const DEFAULT_TIMEOUT_MILLIS: u64 = 30_000;
const TIMEOUT_MILLIS: std::ops::RangeInclusive<u64> = 5_000..=120_000;
/// The one version of the response format.
const VERSION: i64 = 1;
/// A cached token this close to its expiry is not worth sending: it may expire on the way.
const CACHE_MARGIN: SignedDuration = SignedDuration::from_secs(30);
/// How much of a program's own error message is shown.
const MAX_MESSAGE: usize = 300;

pub(super) const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
pub(super) const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
pub(super) const SAML2: &str = "urn:ietf:params:oauth:token-type:saml2";

/// `credential_source.executable` as the file has it.
#[derive(Deserialize)]
pub(super) struct ExecutableConfig {
    command: String,
    #[serde(default)]
    timeout_millis: Option<u64>,
    #[serde(default)]
    output_file: Option<String>,
}

/// A checked executable source.
pub(super) struct ExecutableSource {
    argv: Vec<String>,
    timeout: Duration,
    output_file: Option<PathBuf>,
    /// The credential file, for messages.
    origin: String,
}

/// What the program (or its cache) is told, from the credential file.
pub(super) struct Request<'a> {
    pub audience: &'a str,
    pub token_type: &'a str,
    pub impersonated: Option<&'a str>,
}

impl ExecutableSource {
    /// Checks the configuration: a command that splits into words, a timeout in range,
    /// and a subject token type an executable can answer.
    pub(super) fn new(
        config: ExecutableConfig,
        subject_token_type: &str,
        origin: &str,
    ) -> Result<ExecutableSource> {
        let argv = split_command(&config.command).map_err(|why| {
            Error::Config(format!(
                "{origin}: credential_source.executable.command {why}"
            ))
        })?;
        // 0, like a missing value, means the default in Google's libraries.
        let millis = match config.timeout_millis {
            None | Some(0) => DEFAULT_TIMEOUT_MILLIS,
            Some(millis) if TIMEOUT_MILLIS.contains(&millis) => millis,
            Some(millis) => {
                return Err(Error::Config(format!(
                    "{origin}: credential_source.executable.timeout_millis is {millis}; it must be between 5000 and 120000 (5 s to 2 min)"
                )));
            }
        };
        if ![JWT, ID_TOKEN, SAML2].contains(&subject_token_type) {
            return Err(Error::Config(format!(
                "{origin}: an executable-sourced credential's subject_token_type must be {JWT}, {ID_TOKEN} or {SAML2}"
            )));
        }
        Ok(ExecutableSource {
            argv,
            timeout: Duration::from_millis(millis),
            output_file: config
                .output_file
                .filter(|f| !f.is_empty())
                .map(PathBuf::from),
            origin: origin.to_string(),
        })
    }

    /// The subject token: from the output file while it holds an unexpired one, else from
    /// a run of the program.
    pub(super) fn subject_token(&self, request: &Request<'_>) -> Result<Secret> {
        if std::env::var(ALLOW).as_deref() != Ok("1") {
            return Err(Error::Config(format!(
                "{} names a program to run for its subject token (credential_source.executable), and such programs run only when the environment sets {ALLOW} to 1, as in Google's client libraries; set it if you trust the program the file names",
                self.origin
            )));
        }
        if let Some(token) = self.cached(request) {
            return Ok(token);
        }
        self.run(request)
    }

    fn program(&self) -> &str {
        self.argv.first().map_or("", String::as_str)
    }

    /// The output file's token, if it holds a successful, unexpired answer.
    fn cached(&self, request: &Request<'_>) -> Option<Secret> {
        let path = self.output_file.as_ref()?;
        let bytes = match input_file::read(path) {
            Ok(bytes) if !bytes.is_empty() => bytes,
            Ok(_) => return None,
            Err(err) => {
                log::debug!("no cached subject token in {}: {err}", path.display());
                return None;
            }
        };
        match parse(
            &bytes,
            request.token_type,
            true,
            Timestamp::now() + CACHE_MARGIN,
        ) {
            Ok(Answer::Token(token)) => {
                log::debug!("using the cached subject token in {}", path.display());
                Some(token)
            }
            Ok(Answer::Failed { .. }) => {
                log::debug!("{} holds a failure; running the program", path.display());
                None
            }
            Err(why) => {
                log::debug!(
                    "passing over the cached subject token in {} ({why}); running the program",
                    path.display()
                );
                None
            }
        }
    }

    fn run(&self, request: &Request<'_>) -> Result<Secret> {
        let output_file = self
            .output_file
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        let mut env = vec![
            ("GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE", request.audience),
            ("GOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE", request.token_type),
            ("GOOGLE_EXTERNAL_ACCOUNT_INTERACTIVE", "0"),
        ];
        if let Some(email) = request.impersonated {
            env.push(("GOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL", email));
        }
        if let Some(file) = &output_file {
            env.push(("GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE", file));
        }
        let fix = format!("credential_source.executable.command in {}", self.origin);
        let setting = format!(
            "credential_source.executable.timeout_millis in {}",
            self.origin
        );
        let program = Program {
            argv: &self.argv,
            env: &env,
            timeout: self.timeout,
            what: "the credential program",
            fix: &fix,
            timeout_setting: &setting,
        };
        let finished = program.finish()?;
        let origin = format!("the credential program {:?}", self.program());
        // A program may say why it failed in the response format, whatever its exit status.
        let mut stdout = finished.stdout.clone();
        if !finished.success() {
            return Err(
                match parse(&stdout, request.token_type, false, Timestamp::now()) {
                    Ok(Answer::Failed { code, message }) => failed(&origin, &code, &message),
                    _ => program.failure(&finished),
                },
            );
        }
        // The program may have written its answer to the output file only.
        if stdout.iter().all(u8::is_ascii_whitespace) {
            if let Some(path) = &self.output_file {
                stdout = input_file::read(path).map_err(|err| {
                    Error::Source(format!(
                        "{origin} printed nothing and its output file {} cannot be read: {err}",
                        path.display()
                    ))
                })?;
            }
        }
        match parse(
            &stdout,
            request.token_type,
            self.output_file.is_some(),
            Timestamp::now(),
        ) {
            Ok(Answer::Token(token)) => Ok(token),
            Ok(Answer::Failed { code, message }) => Err(failed(&origin, &code, &message)),
            Err(why) => Err(Error::Source(format!("{origin} printed {why}"))),
        }
    }
}

/// The program's own report of a failure: its code and message, redacted and on one line.
fn failed(origin: &str, code: &str, message: &str) -> Error {
    Error::Source(format!(
        "{origin} reported a failure (code {}): {}",
        one_line(code, 40),
        one_line(message, MAX_MESSAGE)
    ))
}

/// Text from a program, with secrets redacted, control characters (which could forge
/// log lines) turned to spaces, and cut to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let clean: String = redact(text, &[])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match clean.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &clean[..at]),
        None => clean,
    }
}

/// Splits the command into words as Google's Python library does (POSIX shell quoting,
/// nothing expanded). No shell ever sees it.
pub(super) fn split_command(command: &str) -> std::result::Result<Vec<String>, &'static str> {
    let words = shlex::split(command).ok_or("has an unclosed quote")?;
    if words.is_empty() {
        return Err("is empty");
    }
    Ok(words)
}

/// The response format.
#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    version: Option<i64>,
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expiration_time: Option<i64>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    saml_response: Option<String>,
    #[serde(default)]
    code: Option<Code>,
    #[serde(default)]
    message: Option<String>,
}

/// Error codes are strings in the specification; some programs print numbers.
#[derive(Deserialize)]
#[serde(untagged)]
enum Code {
    Text(String),
    Number(i64),
}

enum Answer {
    Token(Secret),
    Failed { code: String, message: String },
}

/// Reads a response: a token of `token_type` that is still valid at `valid_at`, or the
/// program's failure; otherwise what is wrong with it (never quoting a value).
/// `expiry_required`: with an output file the token's expiry must be given.
fn parse(
    bytes: &[u8],
    token_type: &str,
    expiry_required: bool,
    valid_at: Timestamp,
) -> std::result::Result<Answer, String> {
    let response: Response = serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => format!(
            "a response that does not fit the format ({})",
            json_problem(&e, "")
        ),
        _ => "output that is not the JSON response of Google's executable-sourced credentials"
            .to_string(),
    })?;
    match response.version {
        None => return Err("a response without \"version\"".into()),
        Some(VERSION) => {}
        Some(other) => {
            return Err(format!(
                "a response of version {other}, and only 1 is known"
            ));
        }
    }
    match response.success {
        None => return Err("a response without \"success\"".into()),
        Some(false) => {
            let code = match response.code {
                Some(Code::Text(code)) => code,
                Some(Code::Number(n)) => n.to_string(),
                None => String::new(),
            };
            let message = response.message.unwrap_or_default();
            if code.is_empty() || message.is_empty() {
                return Err("a failure without \"code\" and \"message\"".into());
            }
            return Ok(Answer::Failed { code, message });
        }
        Some(true) => {}
    }
    let Some(kind) = response.token_type else {
        return Err("a response without \"token_type\"".into());
    };
    if kind != token_type {
        return Err(format!(
            "a token whose token_type is {}, but the credential file's subject_token_type is {token_type}",
            if [JWT, ID_TOKEN, SAML2].contains(&kind.as_str()) {
                kind.as_str()
            } else {
                "not one of jwt, id_token and saml2"
            }
        ));
    }
    match response.expiration_time {
        None if expiry_required => {
            return Err(
                "a response without \"expiration_time\", which is required with an output_file"
                    .into(),
            );
        }
        None => {}
        Some(seconds) => {
            let expires = Timestamp::from_second(seconds)
                .map_err(|_| "an expiration_time out of range".to_string())?;
            if expires <= valid_at {
                return Err(format!("a token that has expired (at {expires})"));
            }
        }
    }
    let (field, token) = if kind == SAML2 {
        ("saml_response", response.saml_response)
    } else {
        ("id_token", response.id_token)
    };
    match token {
        Some(token) if kind == SAML2 && !token.trim().is_empty() => {
            Ok(Answer::Token(Secret::new(token)))
        }
        Some(token) if !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Answer::Token(Secret::new(token)))
        }
        Some(_) => Err(format!("an empty or malformed \"{field}\"")),
        None => Err(format!("a response without \"{field}\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_like_google_python_library_without_a_shell() {
        let split = |c: &str| split_command(c).unwrap_or_else(|e| panic!("{c}: {e}"));
        assert_eq!(
            split("/path/to/get/credentials.sh --arg1=value1 --arg2=value2"),
            [
                "/path/to/get/credentials.sh",
                "--arg1=value1",
                "--arg2=value2"
            ]
        );
        assert_eq!(split("  /bin/x\t a  \n b "), ["/bin/x", "a", "b"]);
        assert_eq!(
            split(r#"'/opt/my tools/get' "--audience=a b" c\ d"#),
            ["/opt/my tools/get", "--audience=a b", "c d"]
        );
        // Nothing a shell would expand is expanded.
        assert_eq!(
            split("/bin/echo $HOME `id` $(id) ; rm -rf / | x > y"),
            [
                "/bin/echo",
                "$HOME",
                "`id`",
                "$(id)",
                ";",
                "rm",
                "-rf",
                "/",
                "|",
                "x",
                ">",
                "y"
            ]
        );
        assert!(split_command("/bin/x 'open").is_err());
        assert!(split_command("   ").is_err());
    }

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn parsed(json: &str, expiry_required: bool) -> std::result::Result<Answer, String> {
        parse(json.as_bytes(), JWT, expiry_required, now())
    }

    fn token(json: &str) -> String {
        match parsed(json, false) {
            Ok(Answer::Token(t)) => t.expose().to_string(),
            Ok(Answer::Failed { .. }) => panic!("failure: {json}"),
            Err(e) => panic!("{e}: {json}"),
        }
    }

    fn problem(json: &str, expiry_required: bool) -> String {
        match parsed(json, expiry_required) {
            Ok(_) => panic!("accepted: {json}"),
            Err(e) => {
                assert!(!e.contains("SECRET"), "{e}");
                e
            }
        }
    }

    #[test]
    fn responses_are_read_strictly() {
        assert_eq!(
            token(&format!(
                r#"{{"version":1,"success":true,"token_type":"{JWT}","id_token":"eyJ.SECRET.x","expiration_time":1800000100}}"#
            )),
            "eyJ.SECRET.x"
        );
        // Without an output file the expiry is optional.
        assert_eq!(
            token(&format!(
                r#"{{"version":1,"success":true,"token_type":"{JWT}","id_token":"a.b.c"}}"#
            )),
            "a.b.c"
        );
        let saml = parse(
            br#"{"version":1,"success":true,"token_type":"urn:ietf:params:oauth:token-type:saml2","saml_response":"PHNhbWw+","expiration_time":1800000100}"#,
            SAML2,
            true,
            now(),
        );
        assert!(matches!(saml, Ok(Answer::Token(t)) if t.expose() == "PHNhbWw+"));

        let ok =
            |rest: &str| format!(r#"{{"version":1,"success":true,"token_type":"{JWT}"{rest}}}"#);
        assert!(problem(&ok(r#","id_token":"SECRET""#), true).contains("expiration_time"));
        assert!(
            problem(
                &ok(r#","id_token":"SECRET","expiration_time":1799999999"#),
                false
            )
            .contains("expired")
        );
        assert!(problem(&ok(r#","expiration_time":1800000100"#), false).contains("id_token"));
        assert!(problem(&ok(r#","id_token":"SE CRET""#), false).contains("malformed"));
        assert!(
            problem(&ok(r#","id_token":7"#), false)
                .contains("does not fit the format (a field has the wrong type")
        );
        assert!(
            problem(
                &format!(r#"{{"version":1,"success":true,"token_type":"{SAML2}","saml_response":"SECRET"}}"#),
                false
            )
            .contains("subject_token_type")
        );
        assert!(
            problem(
                r#"{"version":1,"success":true,"token_type":"SECRET","id_token":"x"}"#,
                false
            )
            .contains("not one of")
        );
        assert!(problem(r#"{"success":true,"id_token":"SECRET"}"#, false).contains("version"));
        assert!(problem(r#"{"version":2,"success":true}"#, false).contains("version 2"));
        assert!(problem(r#"{"version":1,"id_token":"SECRET"}"#, false).contains("success"));
        assert!(problem(r#"{"version":1,"success":false}"#, false).contains("code"));
        assert!(problem(r#"{"id_token":"SECRET""#, false).contains("not the JSON response"));
        assert!(problem("SECRET", false).contains("not the JSON response"));

        match parsed(
            r#"{"version":1,"success":false,"code":401,"message":"Caller not authorized."}"#,
            false,
        ) {
            Ok(Answer::Failed { code, message }) => {
                assert_eq!(
                    (code.as_str(), message.as_str()),
                    ("401", "Caller not authorized.")
                );
            }
            _ => panic!("not a failure"),
        }
    }

    #[test]
    fn failure_messages_are_redacted_and_kept_to_one_line() {
        let err = failed(
            "the credential program \"x\"",
            "E\n1",
            "denied for ya29.SECRETTOKEN\n[evil] forged line",
        )
        .to_string();
        assert_eq!(
            err,
            "the credential program \"x\" reported a failure (code E 1): denied for <redacted> [evil] forged line"
        );
        assert!(one_line(&"x".repeat(500), 10).ends_with("xxx…"));
    }

    #[test]
    fn configuration_is_checked() {
        let config = |command: &str, timeout: Option<u64>| ExecutableConfig {
            command: command.into(),
            timeout_millis: timeout,
            output_file: None,
        };
        let build = |c: ExecutableConfig, t: &str| ExecutableSource::new(c, t, "f.json");
        assert!(
            build(config("/bin/x", None), JWT).is_ok_and(|s| s.timeout == Duration::from_secs(30))
        );
        assert!(build(config("/bin/x", Some(5000)), ID_TOKEN).is_ok());
        assert!(build(config("/bin/x", Some(120_000)), SAML2).is_ok());
        for (c, t) in [
            (config("/bin/x", Some(4999)), JWT),
            (config("/bin/x", Some(120_001)), JWT),
            (config("", None), JWT),
            (
                config("/bin/x", None),
                "urn:ietf:params:aws:token-type:aws4_request",
            ),
        ] {
            assert!(build(c, t).is_err_and(|e| e.needs_user()));
        }
    }
}
