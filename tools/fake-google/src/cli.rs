//! The `fake-google` command line (its binary only calls [`main`]).
//!
//! * `fake-google mint --url URL --principal EMAIL ...` asks a running fake
//!   for a token. It is the kind of program `alloydb-cred`'s `command`
//!   credential source runs, so tests and the demo use it as one.
//! * `fake-google serve ...` runs the fake (and optionally PostgreSQL) until
//!   told to stop, publishing its addresses as shell variables.
//! * `fake-google gcloud ... -- ARGS` behaves like the `gcloud` CLI for the
//!   few commands credential tools run (see the `gcloud` module).
//!
//! Arguments are parsed by hand to keep the crate's dependencies small.

use std::ffi::c_int;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use crate::FakeGoogle;
use crate::http::{Body, post};
use crate::pg::PgServer;
use crate::tls::TestCa;

const USAGE: &str = "\
usage:
  fake-google mint --url URL --principal EMAIL [--lifetime SECS] [--length N]
                   [--padding N] [--scope SCOPES] [--no-email] [--timeout SECS] [--bare]
      Ask the fake at URL for an access token and print the JSON answer
      (with --bare, only the token). Exits 1 if the fake answers an error.

  fake-google serve [--env-file PATH] [--postgres] [--role NAME]...
                    [--metadata-account EMAIL] [--tls] [--delay MS]
                    [--token-creator MEMBER=TARGET]...
      Start the fake (with --postgres also a PostgreSQL server whose TCP
      logins are checked against it, with a LOGIN role per --role) and print
      FAKE_GOOGLE_URL=... style lines once ready, also to --env-file.
      --metadata-account makes its metadata server (GCE_METADATA_HOST set to
      FAKE_GOOGLE_METADATA_HOST) hand out tokens for that service account.
      --delay makes every Google endpoint wait MS milliseconds before it
      answers (a round trip to a distant region, for benchmarks).
      --token-creator lets MEMBER impersonate the service account TARGET.
      --tls makes a throw-away CA (FAKE_GOOGLE_CA_FILE), serves the
      endpoints over HTTPS too (FAKE_GOOGLE_HTTPS_URL) and, with
      --postgres, makes PostgreSQL require TLS with a certificate from that
      CA for localhost, 127.0.0.1 and ::1.
      Runs until SIGTERM, SIGINT or SIGHUP, or until standard input reaches
      end of file when it is a pipe; then stops PostgreSQL and exits 0.

  fake-google gcloud --url URL --account EMAIL [--impersonatable SA]...
                     [--fail-with CODE] -- GCLOUD_ARGS...
      Act as `gcloud GCLOUD_ARGS...` logged in as EMAIL, for
      `auth print-access-token [--impersonate-service-account=SA]` and
      `config config-helper --format=json`, with tokens from the fake at URL.
      --impersonatable grants EMAIL Token Creator on SA; --fail-with makes
      every command fail with exit status CODE like gcloud with stale
      credentials.
";

/// Runs `fake-google ARGS...` (without the program name).
pub fn main(args: &[String]) -> ExitCode {
    let result = match args.first().map(String::as_str) {
        Some("mint") => mint(&args[1..]),
        Some("serve") => serve(&args[1..]),
        Some("gcloud") => return crate::gcloud::main(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Err(Failure::Usage(
            "expected a subcommand: mint, serve or gcloud".into(),
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("fake-google: {msg}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(msg)) => {
            eprintln!("fake-google: {msg}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    /// Bad command line: exit 2 with usage.
    Usage(String),
    /// Anything else: exit 1.
    Runtime(String),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Runtime(e.to_string())
    }
}

/// A tiny `--flag value` / `--switch` scanner.
struct Args<'a> {
    rest: std::slice::Iter<'a, String>,
}

impl<'a> Args<'a> {
    fn value(&mut self, flag: &str) -> Result<&'a str, Failure> {
        self.rest
            .next()
            .map(String::as_str)
            .ok_or_else(|| Failure::Usage(format!("{flag} needs a value")))
    }

    fn number<T: std::str::FromStr>(&mut self, flag: &str) -> Result<T, Failure> {
        let v = self.value(flag)?;
        v.parse()
            .map_err(|_| Failure::Usage(format!("{flag}: not a valid number: {v}")))
    }
}

fn mint(argv: &[String]) -> Result<(), Failure> {
    let mut args = Args { rest: argv.iter() };
    let mut url = None;
    let mut body = serde_json::Map::new();
    let mut bare = false;
    let mut timeout = Duration::from_secs(30);
    while let Some(arg) = args.rest.next() {
        match arg.as_str() {
            "--url" => url = Some(args.value(arg)?),
            "--principal" => {
                body.insert("principal".into(), args.value(arg)?.into());
            }
            "--lifetime" => {
                body.insert("lifetime_secs".into(), args.number::<u64>(arg)?.into());
            }
            "--length" => {
                body.insert("length".into(), args.number::<u64>(arg)?.into());
            }
            "--padding" => {
                body.insert("padding".into(), args.number::<u64>(arg)?.into());
            }
            "--scope" => {
                body.insert("scope".into(), args.value(arg)?.into());
            }
            "--no-email" => {
                body.insert("email_in_tokeninfo".into(), false.into());
            }
            "--timeout" => timeout = Duration::from_secs_f64(args.number::<f64>(arg)?.max(0.001)),
            "--bare" => bare = true,
            other => return Err(Failure::Usage(format!("mint: unknown argument {other}"))),
        }
    }
    let url = url.ok_or_else(|| Failure::Usage("mint: --url is required".into()))?;
    if !body.contains_key("principal") {
        return Err(Failure::Usage("mint: --principal is required".into()));
    }
    let endpoint = format!("{}/mint", url.trim_end_matches('/'));
    let (status, text) = post(&endpoint, Body::Json(&body.into()), timeout)
        .map_err(|e| Failure::Runtime(format!("cannot reach {endpoint}: {e}")))?;
    if status != 200 {
        return Err(Failure::Runtime(format!(
            "{endpoint} answered HTTP {status}: {}",
            text.trim()
        )));
    }
    let mut out = io::stdout().lock();
    if bare {
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Failure::Runtime(format!("answer is not JSON: {e}")))?;
        let token = json
            .get("access_token")
            .and_then(|t| t.as_str())
            .ok_or_else(|| Failure::Runtime("answer has no access_token".into()))?;
        writeln!(out, "{token}")?;
    } else {
        writeln!(out, "{}", text.trim_end())?;
    }
    out.flush()?;
    Ok(())
}

/// Set from the signal handler; polled by the main thread.
static STOP: AtomicBool = AtomicBool::new(false);

unsafe extern "C" {
    // glibc's and the BSDs' `signal` install a persistent handler with
    // SA_RESTART semantics, which is all that is needed here.
    fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
}

extern "C" fn request_stop(_signum: c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

const SIGHUP: c_int = 1;
const SIGINT: c_int = 2;
const SIGTERM: c_int = 15;

fn serve(argv: &[String]) -> Result<(), Failure> {
    let mut args = Args { rest: argv.iter() };
    let mut env_file: Option<PathBuf> = None;
    let mut postgres = false;
    let mut roles: Vec<&str> = Vec::new();
    let mut metadata_account: Option<&str> = None;
    let mut tls = false;
    let mut delay = Duration::ZERO;
    let mut token_creators: Vec<(&str, &str)> = Vec::new();
    while let Some(arg) = args.rest.next() {
        match arg.as_str() {
            "--env-file" => env_file = Some(PathBuf::from(args.value(arg)?)),
            "--postgres" => postgres = true,
            "--tls" => tls = true,
            "--metadata-account" => metadata_account = Some(args.value(arg)?),
            "--role" => roles.push(args.value(arg)?),
            "--delay" => delay = Duration::from_millis(args.number(arg)?),
            "--token-creator" => {
                let grant = args.value(arg)?;
                let pair = grant.split_once('=').ok_or_else(|| {
                    Failure::Usage(format!(
                        "serve: --token-creator takes MEMBER=TARGET, not {grant}"
                    ))
                })?;
                token_creators.push(pair);
            }
            other => return Err(Failure::Usage(format!("serve: unknown argument {other}"))),
        }
    }
    if !roles.is_empty() && !postgres {
        return Err(Failure::Usage("serve: --role needs --postgres".into()));
    }

    // Handlers first, so a stop request during the slow PostgreSQL start is
    // not lost; it is honoured as soon as startup finishes.
    for sig in [SIGHUP, SIGINT, SIGTERM] {
        // SAFETY: the handler only performs an atomic store.
        unsafe {
            signal(sig, request_stop);
        }
    }

    let ca = if tls {
        Some(TestCa::new("fake-google test CA")?)
    } else {
        None
    };
    let google = match &ca {
        Some(ca) => FakeGoogle::start_tls(ca)?,
        None => FakeGoogle::start()?,
    };
    if let Some(email) = metadata_account {
        google.set_metadata_account(email);
    }
    google.set_delay(delay);
    for (member, target) in token_creators {
        google.grant_token_creator(member, target);
    }
    let pg = match (postgres, &ca) {
        (false, _) => None,
        (true, None) => Some(PgServer::start(google.ldap_port(), &roles)?),
        (true, Some(ca)) => {
            let cert = ca.issue(&["localhost", "127.0.0.1", "::1"])?;
            Some(PgServer::start_with_tls(google.ldap_port(), &roles, &cert)?)
        }
    };

    let mut vars = vec![
        ("FAKE_GOOGLE_URL", google.http_url()),
        ("FAKE_GOOGLE_METADATA_HOST", google.metadata_host()),
        ("FAKE_AWS_METADATA_URL", google.aws_metadata_url()),
        ("FAKE_GOOGLE_LDAP_PORT", google.ldap_port().to_string()),
        ("FAKE_GOOGLE_PID", std::process::id().to_string()),
    ];
    if let (Some(ca), Some(url)) = (&ca, google.https_url()) {
        vars.extend([
            ("FAKE_GOOGLE_HTTPS_URL", url),
            ("FAKE_GOOGLE_CA_FILE", ca.cert_path().display().to_string()),
        ]);
    }
    if let Some(pg) = &pg {
        vars.extend([
            ("PGHOST_TEST", "127.0.0.1".to_owned()),
            ("PGPORT_TEST", pg.port().to_string()),
            ("PG_SOCKET_DIR", pg.socket_dir().display().to_string()),
            ("PG_DATA_DIR", pg.data_dir().display().to_string()),
            ("PG_BINDIR", pg.bin_dir().display().to_string()),
            (
                "PG_HAS_IPV6",
                if pg.has_ipv6() { "1" } else { "0" }.to_owned(),
            ),
        ]);
    }
    let text: String = vars
        .iter()
        .map(|(k, v)| format!("{k}={}\n", shell_quote(v)))
        .collect();
    if let Some(path) = &env_file {
        write_atomically(path, &text)?;
    }
    {
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
    }

    watch_stdin();
    while !STOP.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(100));
    }

    // Stop PostgreSQL before the LDAP server it depends on; then the values
    // in the env file are stale, so remove it.
    drop(pg);
    drop(google);
    drop(ca);
    if let Some(path) = &env_file {
        let _ = fs::remove_file(path);
    }
    Ok(())
}

/// When standard input is a pipe or socket, treat its end as a stop request,
/// so a parent that spawned us with a pipe can stop us by closing it, or by
/// dying. Other kinds are ignored: a background job's stdin is often
/// /dev/null, which would otherwise stop us immediately.
fn watch_stdin() {
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    let stdin = io::stdin();
    let is_stream = stdin
        .as_fd()
        .try_clone_to_owned()
        .map(fs::File::from)
        .and_then(|f| f.metadata())
        .map(|m| m.file_type().is_fifo() || m.file_type().is_socket())
        .unwrap_or(false);
    if !is_stream {
        return;
    }
    let spawned = thread::Builder::new()
        .name("stdin-watch".into())
        .spawn(move || {
            let mut buf = [0u8; 4096];
            let mut stdin = stdin.lock();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            STOP.store(true, Ordering::SeqCst);
        });
    if let Err(e) = spawned {
        eprintln!("fake-google: cannot watch standard input: {e}");
    }
}

/// Single-quotes a value for POSIX shells when it needs it.
fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:@%+=,".contains(&b));
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', "'\\''"))
    }
}

/// Writes via a temporary file and rename, so a script polling for the env
/// file never reads it half-written.
fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.flush()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
