//! `fake-google gcloud`: a stand-in for the `gcloud` CLI.
//!
//! ```sh
//! fake-google gcloud --url URL --account EMAIL [--impersonatable SA]... \
//!     [--fail-with CODE] -- <gcloud arguments>
//! ```
//!
//! A test puts a script named `gcloud` on `PATH` that runs
//! `exec fake-google gcloud --url ... --account ... -- "$@"`. Exactly these
//! gcloud invocations are understood, with gcloud's output formats, exit
//! codes and error texts:
//!
//! * `auth print-access-token [--impersonate-service-account=SA]`
//! * `config config-helper --format=json [--force-auth-refresh]
//!   [--impersonate-service-account=SA]`
//!
//! Tokens come from the fake's `POST /gcloud/token`. `--impersonatable SA`
//! grants the account Token Creator on `SA` first (like
//! `FakeGoogle::grant_token_creator`); without a grant, impersonation fails
//! like gcloud's does. `--fail-with CODE` simulates gcloud whose stored
//! credentials no longer refresh.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use crate::http::{Body, post};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(30);
const PROJECT: &str = "demo-project";

/// What the wrapper's own options ask for.
struct Wrapper<'a> {
    url: &'a str,
    account: &'a str,
    impersonatable: Vec<&'a str>,
    fail_with: Option<u8>,
}

/// The gcloud command understood.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    PrintAccessToken,
    ConfigHelper,
}

impl Command {
    /// How gcloud names the command in its error messages.
    fn path(&self) -> &'static str {
        match self {
            Command::PrintAccessToken => "gcloud.auth.print-access-token",
            Command::ConfigHelper => "gcloud.config.config-helper",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Invocation {
    command: Command,
    impersonate: Option<String>,
}

/// A gcloud-style refusal of the command line: message (without the
/// `ERROR: ` prefix) and exit status 2.
#[derive(Debug, PartialEq, Eq)]
struct Refusal(String);

pub(crate) fn main(argv: &[String]) -> ExitCode {
    let (wrapper, gcloud_args) = match parse_wrapper(argv) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("fake-google gcloud: {message}");
            eprintln!(
                "usage: fake-google gcloud --url URL --account EMAIL [--impersonatable SA]... [--fail-with CODE] -- GCLOUD_ARGS..."
            );
            return ExitCode::from(2);
        }
    };
    let invocation = match parse_gcloud(gcloud_args, wrapper.account) {
        Ok(invocation) => invocation,
        Err(Refusal(message)) => {
            eprintln!("ERROR: {message}");
            return ExitCode::from(2);
        }
    };
    let command = invocation.command.path();
    if let Some(code) = wrapper.fail_with {
        eprint!(
            "{}",
            refresh_failure(
                command,
                "('invalid_grant: Bad Request', {'error': 'invalid_grant', 'error_description': 'Bad Request'})"
            )
        );
        return ExitCode::from(code);
    }
    if let Some(target) = &invocation.impersonate {
        eprintln!(
            "WARNING: This command is using service account impersonation. All API calls will be executed as [{target}]."
        );
    }
    let credential = match fetch(&wrapper, invocation.impersonate.as_deref()) {
        Ok(credential) => credential,
        Err(message) => {
            eprint!("{}", message.replace("{COMMAND}", command));
            return ExitCode::from(1);
        }
    };
    let output = match invocation.command {
        Command::PrintAccessToken => format!(
            "{}\n",
            credential["access_token"].as_str().unwrap_or_default()
        ),
        Command::ConfigHelper => {
            let mut properties = json!({
                "core": {"account": wrapper.account, "project": PROJECT},
            });
            if let Some(target) = &invocation.impersonate {
                properties["auth"] = json!({"impersonate_service_account": target});
            }
            let helper = json!({
                "configuration": {
                    "active_configuration": "default",
                    "properties": properties,
                },
                "credential": {
                    "access_token": credential["access_token"],
                    "id_token": credential["id_token"],
                    "token_expiry": credential["token_expiry"],
                },
                "sentinels": {"config_sentinel": "/nonexistent/config_sentinel"},
            });
            format!(
                "{}\n",
                serde_json::to_string_pretty(&helper).unwrap_or_default()
            )
        }
    };
    let mut out = io::stdout().lock();
    if out
        .write_all(output.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn parse_wrapper(argv: &[String]) -> Result<(Wrapper<'_>, &[String]), String> {
    let mut wrapper = Wrapper {
        url: "",
        account: "",
        impersonatable: Vec::new(),
        fail_with: None,
    };
    let mut args = argv.iter().enumerate();
    let mut rest: Option<&[String]> = None;
    while let Some((i, arg)) = args.next() {
        let mut value = || {
            args.next()
                .map(|(_, v)| v.as_str())
                .ok_or_else(|| format!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--url" => wrapper.url = value()?,
            "--account" => wrapper.account = value()?,
            "--impersonatable" => wrapper.impersonatable.push(value()?),
            "--fail-with" => {
                let v = value()?;
                wrapper.fail_with = Some(
                    v.parse()
                        .map_err(|_| format!("--fail-with: not an exit status: {v}"))?,
                );
            }
            "--" => {
                rest = Some(&argv[i + 1..]);
                break;
            }
            other => {
                return Err(format!(
                    "unknown argument {other} (gcloud arguments go after --)"
                ));
            }
        }
    }
    if wrapper.url.is_empty() {
        return Err("--url is required".into());
    }
    if wrapper.account.is_empty() {
        return Err("--account is required".into());
    }
    let rest = rest.ok_or("-- and the gcloud arguments are required")?;
    Ok((wrapper, rest))
}

fn parse_gcloud(args: &[String], account: &str) -> Result<Invocation, Refusal> {
    let mut impersonate = None;
    let mut format = None;
    let mut force_refresh = false;
    let mut positionals: Vec<&str> = Vec::new();
    let mut unknown: Vec<&str> = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let arg = arg.as_str();
        if let Some(v) = arg.strip_prefix("--impersonate-service-account=") {
            impersonate = Some(v.to_owned());
        } else if arg == "--impersonate-service-account" {
            match iter.next() {
                Some(v) => impersonate = Some(v.clone()),
                None => {
                    return Err(Refusal(
                        "(gcloud) argument --impersonate-service-account: expected one argument"
                            .into(),
                    ));
                }
            }
        } else if let Some(v) = arg.strip_prefix("--format=") {
            format = Some(v.to_owned());
        } else if arg == "--format" {
            match iter.next() {
                Some(v) => format = Some(v.clone()),
                None => {
                    return Err(Refusal(
                        "(gcloud) argument --format: expected one argument".into(),
                    ));
                }
            }
        } else if arg == "--force-auth-refresh" {
            force_refresh = true;
        } else if arg.starts_with('-') {
            unknown.push(arg);
        } else {
            positionals.push(arg);
        }
    }
    if impersonate.as_deref() == Some("") {
        return Err(Refusal(
            "(gcloud) argument --impersonate-service-account: expected one argument".into(),
        ));
    }

    let group = positionals
        .first()
        .ok_or_else(|| Refusal("(gcloud) Command name argument expected.".into()))?;
    let command = match *group {
        "auth" => match positionals.get(1) {
            Some(&"print-access-token") => Command::PrintAccessToken,
            Some(other) => {
                return Err(Refusal(format!("(gcloud.auth) Invalid choice: '{other}'.")));
            }
            None => {
                return Err(Refusal(
                    "(gcloud.auth) Command name argument expected.".into(),
                ));
            }
        },
        "config" => match positionals.get(1) {
            Some(&"config-helper") => Command::ConfigHelper,
            Some(other) => {
                return Err(Refusal(format!(
                    "(gcloud.config) Invalid choice: '{other}'."
                )));
            }
            None => {
                return Err(Refusal(
                    "(gcloud.config) Command name argument expected.".into(),
                ));
            }
        },
        other => return Err(Refusal(format!("(gcloud) Invalid choice: '{other}'."))),
    };

    // `print-access-token` takes the account as an optional positional.
    let mut extra: Vec<String> = positionals[2..]
        .iter()
        .enumerate()
        .filter(|&(i, p)| !(command == Command::PrintAccessToken && i == 0 && *p == account))
        .map(|(_, p)| (*p).to_owned())
        .collect();
    extra.extend(unknown.iter().map(|u| (*u).to_owned()));
    match command {
        Command::PrintAccessToken => {
            if let Some(f) = &format {
                extra.push(format!("--format={f}"));
            }
            if force_refresh {
                extra.push("--force-auth-refresh".into());
            }
        }
        Command::ConfigHelper => {}
    }
    if !extra.is_empty() {
        return Err(Refusal(format!(
            "({}) unrecognized arguments: {}",
            command.path(),
            extra.join(" ")
        )));
    }
    if command == Command::ConfigHelper && format.as_deref() != Some("json") {
        return Err(Refusal(format!(
            "({}) this fake gcloud prints only --format=json",
            command.path()
        )));
    }
    Ok(Invocation {
        command,
        impersonate,
    })
}

/// gcloud's message when stored credentials cannot be refreshed.
fn refresh_failure(command: &str, detail: &str) -> String {
    format!(
        "ERROR: ({command}) There was a problem refreshing your current auth tokens: {detail}\n\
         Please run:\n\n  $ gcloud auth login\n\nto obtain new credentials.\n\n\
         If you have already logged in with a different account, run:\n\n  \
         $ gcloud config set account ACCOUNT\n\nto select an already authenticated account to use.\n"
    )
}

/// Gets a credential from the fake; on failure, the gcloud-style stderr
/// text with `{COMMAND}` standing for the command path.
fn fetch(wrapper: &Wrapper<'_>, impersonate: Option<&str>) -> Result<Value, String> {
    let mut fields = vec![("principal", wrapper.account)];
    if let Some(target) = impersonate {
        fields.push(("impersonate", target));
    }
    fields.extend(wrapper.impersonatable.iter().map(|sa| ("grant", *sa)));
    let endpoint = format!("{}/gcloud/token", wrapper.url.trim_end_matches('/'));
    let (status, text) = post(&endpoint, Body::Form(&fields), TIMEOUT)
        .map_err(|e| refresh_failure("{COMMAND}", &format!("cannot reach {endpoint}: {e}")))?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    match status {
        200 if body["access_token"].is_string() => Ok(body),
        403 if impersonate.is_some() => {
            let error = &body["error"];
            let mut text = format!(
                "ERROR: ({{COMMAND}}) {}: {} This command is authenticated as {} which is the active account specified by the [core/account] property.\n",
                error["status"].as_str().unwrap_or("PERMISSION_DENIED"),
                error["message"].as_str().unwrap_or_default(),
                wrapper.account
            );
            if let Some(details) = error["details"].as_array() {
                for detail in details {
                    text.push_str(&detail_yaml(detail));
                }
            }
            Err(text)
        }
        status => Err(refresh_failure(
            "{COMMAND}",
            &format!("HTTP {status}: {}", text.trim()),
        )),
    }
}

/// One error detail the way gcloud prints it, as a YAML list item.
fn detail_yaml(detail: &Value) -> String {
    let Some(fields) = detail.as_object() else {
        return String::new();
    };
    let mut keys: Vec<&String> = fields.keys().collect();
    keys.sort();
    let mut out = String::new();
    for (i, key) in keys.iter().enumerate() {
        let lead = if i == 0 { "- " } else { "  " };
        let shown = if key.starts_with('@') {
            format!("'{key}'")
        } else {
            (*key).clone()
        };
        match &fields[key.as_str()] {
            Value::Object(inner) => {
                out.push_str(&format!("{lead}{shown}:\n"));
                let mut inner_keys: Vec<&String> = inner.keys().collect();
                inner_keys.sort();
                for k in inner_keys {
                    let v = &inner[k.as_str()];
                    out.push_str(&format!(
                        "    {k}: {}\n",
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                    ));
                }
            }
            v => out.push_str(&format!(
                "{lead}{shown}: {}\n",
                v.as_str().map_or_else(|| v.to_string(), str::to_owned)
            )),
        }
    }
    out
}
