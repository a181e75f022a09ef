//! The `fake-google` command line (its binary only calls [`main`]):
//!
//! * `fake-google serve ...` runs the fake (and optionally PostgreSQL) until
//!   told to stop, publishing its addresses as shell variables;
//! * `fake-google mint --url URL --principal EMAIL ...` asks a running fake
//!   for a token, the kind of program `alloydb-cred`'s `command` credential
//!   source runs;
//! * `fake-google gcloud ... -- ARGS` acts as `gcloud` for the two commands
//!   `alloydb-cred` runs.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, SystemTime};

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

use crate::FakeGoogle;
use crate::http::{Body, post};
use crate::pg::PgServer;

#[derive(Parser)]
#[command(
    name = "fake-google",
    about = "Hermetic stand-ins for Google's token services, for tests and demos"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the fake and print FAKE_GOOGLE_URL=... style lines once ready.
    ///
    /// Runs until SIGTERM, SIGINT or SIGHUP; then stops PostgreSQL and exits 0.
    Serve(Serve),
    /// Ask the fake at URL for an access token and print the JSON answer.
    Mint(Mint),
    /// Act as `gcloud GCLOUD_ARGS...` logged in as EMAIL, for `auth
    /// print-access-token [--impersonate-service-account=SA]` and `config
    /// config-helper --format=json`.
    Gcloud(Gcloud),
}

#[derive(Args)]
struct Serve {
    /// Also write the variables to this file (removed on exit).
    #[arg(long)]
    env_file: Option<PathBuf>,
    /// Also start a PostgreSQL server whose logins are checked against the fake.
    #[arg(long)]
    postgres: bool,
    /// A LOGIN role to create in PostgreSQL.
    #[arg(long, requires = "postgres")]
    role: Vec<String>,
    /// Make the metadata server hand out tokens for this service account.
    #[arg(long)]
    metadata_account: Option<String>,
    /// Make every Google endpoint wait this many milliseconds.
    #[arg(long, default_value_t = 0)]
    delay: u64,
    /// Let MEMBER impersonate the service account TARGET.
    #[arg(long, value_name = "MEMBER=TARGET", value_parser = member_target)]
    token_creator: Vec<(String, String)>,
}

/// The fields of `POST /mint`, which checks them.
#[derive(Args)]
struct Mint {
    #[arg(long)]
    url: String,
    #[arg(long)]
    principal: String,
    #[arg(long)]
    lifetime: Option<String>,
    #[arg(long)]
    length: Option<String>,
    #[arg(long)]
    padding: Option<String>,
    #[arg(long)]
    scope: Option<String>,
    /// Print only the token.
    #[arg(long)]
    bare: bool,
}

#[derive(Args)]
struct Gcloud {
    #[arg(long)]
    url: String,
    #[arg(long, value_name = "EMAIL")]
    account: String,
    #[arg(last = true, required = true)]
    gcloud_args: Vec<String>,
}

fn member_target(text: &str) -> Result<(String, String), String> {
    let (member, target) = text.split_once('=').ok_or("expected MEMBER=TARGET")?;
    Ok((member.to_owned(), target.to_owned()))
}

/// Runs `fake-google ARGS...` (without the program name).
pub fn main(args: &[String]) -> ExitCode {
    let cli = match Cli::try_parse_from(
        std::iter::once("fake-google").chain(args.iter().map(String::as_str)),
    ) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Serve(args) => serve(&args),
        Command::Mint(args) => mint(&args),
        Command::Gcloud(args) => return gcloud(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("fake-google: {message}");
            ExitCode::from(1)
        }
    }
}

fn mint(args: &Mint) -> Result<(), String> {
    let fields: Vec<(&str, &str)> = [
        ("principal", Some(&args.principal)),
        ("lifetime_secs", args.lifetime.as_ref()),
        ("length", args.length.as_ref()),
        ("padding", args.padding.as_ref()),
        ("scope", args.scope.as_ref()),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some((name, value?.as_str())))
    .collect();
    let endpoint = format!("{}/mint", args.url.trim_end_matches('/'));
    let (status, text) = post(&endpoint, None, Body::Form(&fields))
        .map_err(|e| format!("cannot reach {endpoint}: {e}"))?;
    if status != 200 {
        return Err(format!(
            "{endpoint} answered HTTP {status}: {}",
            text.trim()
        ));
    }
    let output = if args.bare {
        let answer: Value =
            serde_json::from_str(&text).map_err(|e| format!("answer is not JSON: {e}"))?;
        answer["access_token"]
            .as_str()
            .ok_or("answer has no access_token")?
            .to_owned()
    } else {
        text.trim_end().to_owned()
    };
    writeln!(io::stdout(), "{output}").map_err(|e| e.to_string())
}

fn serve(args: &Serve) -> Result<(), String> {
    // Handlers first, so a stop request during the slow PostgreSQL start is
    // not lost; it is honoured as soon as startup finishes.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).map_err(|e| e.to_string())?;
    }
    let io_error = |e: io::Error| e.to_string();
    let google = FakeGoogle::start().map_err(io_error)?;
    if let Some(email) = &args.metadata_account {
        google.set_metadata_account(email);
    }
    google.set_delay(Duration::from_millis(args.delay));
    for (member, target) in &args.token_creator {
        google.grant_token_creator(member, target);
    }
    let roles: Vec<&str> = args.role.iter().map(String::as_str).collect();
    let pg = match args.postgres {
        false => None,
        true => {
            let server = PgServer::start(google.ldap_port(), &roles).map_err(io_error);
            // One server: the cluster it was copied from is of no further use.
            crate::pg::remove_template();
            Some(server?)
        }
    };
    let mut vars = vec![
        ("FAKE_GOOGLE_URL", google.http_url()),
        ("FAKE_GOOGLE_METADATA_HOST", google.metadata_host()),
        ("FAKE_GOOGLE_PID", std::process::id().to_string()),
    ];
    if let Some(pg) = &pg {
        vars.extend([
            ("PGPORT_TEST", pg.port().to_string()),
            ("PG_DATA_DIR", pg.data_dir().display().to_string()),
            ("PG_BINDIR", pg.bin_dir().display().to_string()),
        ]);
    }
    // Single-quoted for POSIX shells.
    let text: String = vars
        .iter()
        .map(|(k, v)| format!("{k}='{}'\n", v.replace('\'', "'\\''")))
        .collect();
    if let Some(path) = &args.env_file {
        // Via a temporary file, so a script polling for it never reads half of it.
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_error)?;
        tmp.write_all(text.as_bytes()).map_err(io_error)?;
        tmp.persist(path).map_err(|e| e.error.to_string())?;
    }
    print!("{text}");
    io::stdout().flush().map_err(io_error)?;
    while !stop.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(100));
    }
    // PostgreSQL before the LDAP server it depends on; then the env file is stale.
    drop(pg);
    drop(google);
    if let Some(path) = &args.env_file {
        let _ = fs::remove_file(path);
    }
    Ok(())
}

/// Scopes of the tokens of gcloud's own login.
const GCLOUD_SCOPES: &str = "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/cloud-platform";

/// `fake-google gcloud`: the account's token from the fake's `/mint`, and
/// with impersonation, as gcloud does, the target's from IAM Credentials;
/// with gcloud's output formats and exit statuses.
fn gcloud(args: &Gcloud) -> ExitCode {
    let account = &args.account;
    let mut impersonate = None;
    let mut words = Vec::new();
    for arg in &args.gcloud_args {
        match arg.strip_prefix("--impersonate-service-account=") {
            Some(target) => impersonate = Some(target),
            None => words.push(arg.as_str()),
        }
    }
    let (name, config_helper) = match words[..] {
        ["auth", "print-access-token"] => ("gcloud.auth.print-access-token", false),
        ["config", "config-helper", "--format=json"] => ("gcloud.config.config-helper", true),
        _ => {
            eprintln!(
                "ERROR: (gcloud) this fake understands only `auth print-access-token` and `config config-helper --format=json`"
            );
            return ExitCode::from(2);
        }
    };
    if let Some(target) = impersonate {
        eprintln!(
            "WARNING: This command is using service account impersonation. All API calls will be executed as [{target}]."
        );
    }
    let (token, expiry) = match gcloud_token(args.url.trim_end_matches('/'), account, impersonate) {
        Ok(answer) => answer,
        Err((403, message)) => {
            eprintln!(
                "ERROR: ({name}) PERMISSION_DENIED: {message} This command is authenticated as {account} which is the active account specified by the [core/account] property."
            );
            return ExitCode::from(1);
        }
        Err((_, detail)) => {
            eprintln!(
                "ERROR: ({name}) There was a problem refreshing your current auth tokens: {detail}"
            );
            eprintln!("Please run:\n\n  $ gcloud auth login\n\nto obtain new credentials.");
            return ExitCode::from(1);
        }
    };
    let output = if config_helper {
        let mut properties = json!({"core": {"account": account, "project": crate::DEMO_PROJECT}});
        if let Some(target) = impersonate {
            properties["auth"] = json!({"impersonate_service_account": target});
        }
        let helper = json!({
            "configuration": {"active_configuration": "default", "properties": properties},
            "credential": {"access_token": token, "token_expiry": expiry},
            "sentinels": {"config_sentinel": "/nonexistent/config_sentinel"},
        });
        serde_json::to_string_pretty(&helper).unwrap_or_default()
    } else {
        token
    };
    match writeln!(io::stdout(), "{output}") {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(1),
    }
}

/// The access token and its RFC 3339 expiry; else the HTTP status (0 if
/// the fake did not answer) and what went wrong, for a 403 IAM's message.
fn gcloud_token(
    base: &str,
    account: &str,
    impersonate: Option<&str>,
) -> Result<(String, String), (u16, String)> {
    let answer = |sent: Result<(u16, String), String>| match sent {
        Ok((200, text)) => Ok(serde_json::from_str::<Value>(&text).unwrap_or_default()),
        Ok((403, text)) => {
            let error: Value = serde_json::from_str(&text).unwrap_or_default();
            Err((
                403,
                error["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
            ))
        }
        Ok((status, text)) => Err((status, format!("HTTP {status}: {}", text.trim()))),
        Err(e) => Err((0, format!("cannot reach {base}: {e}"))),
    };
    let fields = [("principal", account), ("scope", GCLOUD_SCOPES)];
    let user = answer(post(&format!("{base}/mint"), None, Body::Form(&fields)))?;
    let token = user["access_token"].as_str().unwrap_or_default();
    let Some(target) = impersonate else {
        let lifetime = Duration::from_secs(user["expires_in"].as_u64().unwrap_or(0));
        let expiry = crate::state::rfc3339_utc(SystemTime::now() + lifetime);
        return Ok((token.to_owned(), expiry));
    };
    let scopes =
        json!({"scope": [crate::CLOUD_PLATFORM_SCOPE, crate::directory::USERINFO_EMAIL_SCOPE]});
    let url = crate::directory::impersonation_url(base, target);
    let impersonated = answer(post(&url, Some(token), Body::Json(&scopes)))?;
    let text = |field: &str| impersonated[field].as_str().unwrap_or_default().to_owned();
    Ok((text("accessToken"), text("expireTime")))
}
