//! `doctor`: every reason a login would fail, found before the user tries.
//!
//! AlloyDB says why an IAM login failed only in the server's log, and every failed attempt
//! counts against the instance's sign-in quota; the user sees a bare "authentication
//! failed". So the checks here look at each link of the chain without logging in:
//! the credential ([`credentials`]: its source, a fresh token, its scopes, its principal
//! and the database user that principal logs in as), the two files ([`files`]: what
//! libpq will really read, and whether it finds the entry and the section), and the
//! network ([`network`]: the host resolves, the port accepts a TCP connection). Only
//! `--connect` logs in ([`login`]), once per service, and explains a refusal.
//!
//! Nothing here writes: a fresh token is minted in memory to prove the credential works
//! and is dropped at the end; the files and the state are only read. Every message and
//! fix passes the redactor, with every token seen in this run named to it.

mod credentials;
mod files;
mod login;
mod network;
mod wire;

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use google_tokens::{Context, CredentialSpec};
use jiff::Timestamp;

use crate::clock;
use crate::config::{Config, Service};
use crate::refresh::{Resolutions, Target};
use crate::state::{Principals, State};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    /// Something some clients or some runs trip over; logins with libpq work.
    Warning,
    /// A login would fail (or the tool cannot keep the entry fresh).
    Problem,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Problem => "problem",
        }
    }
}

/// One check's outcome: a stable name, a sentence, and for anything but `ok` the
/// command or edit that fixes it.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub message: String,
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, message: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Ok,
            message: message.into(),
            fix: None,
        }
    }

    fn warning(name: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Warning,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }

    fn problem(name: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Problem,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }

    /// The same check with every secret in its texts redacted.
    fn redacted(self, known: &[&str]) -> Check {
        Check {
            message: google_tokens::redact(&self.message, known),
            fix: self.fix.map(|f| google_tokens::redact(&f, known)),
            ..self
        }
    }
}

/// The checks of one service.
#[derive(Debug)]
pub struct ServiceReport {
    pub name: String,
    pub checks: Vec<Check>,
}

/// Everything `doctor` found: checks about the configuration and the machine as a
/// whole, then each service's.
#[derive(Debug)]
pub struct Report {
    pub checks: Vec<Check>,
    pub services: Vec<ServiceReport>,
}

impl Report {
    /// The worst status of any check.
    pub fn worst(&self) -> Status {
        self.all().map(|c| c.status).max().unwrap_or(Status::Ok)
    }

    /// How many checks came out with `status`.
    pub fn count(&self, status: Status) -> usize {
        self.all().filter(|c| c.status == status).count()
    }

    fn all(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .chain(self.services.iter().flat_map(|s| &s.checks))
    }
}

/// Runs every check for `services`; with `connect`, one real login per service.
pub fn examine(config: &Config, services: &[&Service], connect: bool) -> Report {
    let now = clock::now();
    let mut general = vec![Check::ok(
        "config",
        format!(
            "{} loads: {} service{} configured, {} checked",
            config.path.display(),
            config.services.len(),
            if config.services.len() == 1 { "" } else { "s" },
            services.len()
        ),
    )];
    let state = match State::load() {
        Ok(state) => {
            general.push(Check::ok(
                "state",
                "the state directory is private (or not created yet)",
            ));
            state
        }
        Err(e) => {
            general.push(Check::problem(
                "state",
                format!("{e}"),
                "see the message: make the state directory private, or set ALLOYDB_CRED_STATE_DIR",
            ));
            State::default()
        }
    };
    let machine = files::Machine::inspect();
    let on_disk = files::OnDisk::read(config, &machine, &mut general);

    // One mint (and one tokeninfo question) per distinct credential, as refresh does;
    // principals learned here are not saved: doctor writes nothing.
    let principals = Principals::from(&state);
    let ctx = Context::new(&config.endpoints, &principals);
    let mut credentials: BTreeMap<&CredentialSpec, credentials::Credential> = BTreeMap::new();
    let mut written_tokens: HashMap<String, files::WrittenToken> = HashMap::new();
    // What the network says about a host and port, asked once per run; the checks are
    // built per service, since their fixes name the service's own table.
    let mut reachability: HashMap<(String, u16, wire::Tls), network::Reach> = HashMap::new();
    let mut resolutions = match Resolutions::from_state(state.clone()) {
        Ok(resolutions) => Some(resolutions),
        Err(e) => {
            general.push(Check::problem(
                "instances",
                e.to_string(),
                "see the message: the state directory holds the instances' resolutions",
            ));
            None
        }
    };
    let mut reports = Vec::with_capacity(services.len());
    for &service in services {
        let credential = credentials
            .entry(&*service.credential)
            .or_insert_with(|| credentials::Credential::examine(&service.credential, &ctx));
        let mut checks = Vec::new();
        let user = credential.checks(service, config, &mut checks);
        let target = match resolutions.as_mut() {
            Some(resolutions) => instance_check(service, resolutions, &ctx, &mut checks),
            None => None,
        };
        let facts = on_disk.service_checks(
            files::Subject {
                service,
                target: target.as_ref(),
            },
            config,
            &machine,
            now,
            |token| {
                written_tokens
                    .entry(token.to_string())
                    .or_insert_with(|| files::WrittenToken::ask(&ctx, token, &credential.universe))
                    .clone()
            },
            &mut checks,
        );
        let reachable = match &target {
            Some(target) => {
                let tls = wire::Tls::of(service, target);
                let reach = reachability
                    .entry((target.host.to_string(), target.port, tls.clone()))
                    .or_insert_with(|| {
                        network::Reach::probe(target.host.as_str(), target.port, &tls)
                    });
                checks.extend(reach.checks(service, config, target));
                reach.reachable()
            }
            None => false,
        };
        if connect {
            checks.push(login::check(
                service,
                config,
                &login::Evidence {
                    entry: facts.entry.as_ref(),
                    section: facts.section,
                    reachable,
                    written: facts.written.as_ref(),
                    user: user.as_deref(),
                },
            ));
        }
        reports.push((service.name.to_string(), checks));
    }

    // Redact with every token this run has seen named, on top of the redactor's shapes.
    let mut known: Vec<&str> = credentials
        .values()
        .filter_map(|c| c.minted.as_ref().ok())
        .map(|t| t.secret().expose())
        .collect();
    known.extend(written_tokens.keys().map(String::as_str));
    Report {
        checks: general.into_iter().map(|c| c.redacted(&known)).collect(),
        services: reports
            .into_iter()
            .map(|(name, checks)| ServiceReport {
                name,
                checks: checks.into_iter().map(|c| c.redacted(&known)).collect(),
            })
            .collect(),
    }
}

/// For a service that names an instance: where the Admin API says it is now (kept in
/// memory only), against the resolution the last refresh wrote. Returns where the
/// service connects, when that is known.
fn instance_check(
    service: &Service,
    resolutions: &mut Resolutions,
    ctx: &Context<'_>,
    checks: &mut Vec<Check>,
) -> Option<Target> {
    let Some(instance) = service.instance() else {
        return resolutions.target(service);
    };
    let cached = resolutions
        .cached(instance)
        .map(|c| (c.host.clone(), c.port));
    match resolutions.resolve_now(service, ctx) {
        Ok(Some(now)) if cached.as_ref().is_some_and(|c| *c != now) => {
            checks.push(Check::warning(
                "instance",
                format!(
                    "instance {} is now at {}:{}, but the files were written for {}:{}",
                    instance.name,
                    now.0,
                    now.1,
                    cached.as_ref().map_or("", |c| c.0.as_str()),
                    cached.as_ref().map_or(0, |c| c.1)
                ),
                "run `alloydb-cred refresh --force` to write the new address",
            ));
        }
        Ok(Some(now)) => checks.push(Check::ok(
            "instance",
            format!("instance {} is at {}:{}", instance.name, now.0, now.1),
        )),
        Ok(None) => {}
        Err(e) => checks.push(Check::problem(
            "instance",
            format!("instance {} cannot be resolved: {e}", instance.name),
            "see the message; until it resolves, the last good address (if any) stays in use",
        )),
    }
    resolutions.target(service)
}

/// Runs a program with its output captured, killing it if it runs longer than `limit`:
/// a client stuck on a silent server must not hang the diagnosis.
fn run_bounded(cmd: &mut Command, limit: Duration) -> io::Result<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Drain both pipes while waiting, so a chatty program cannot block on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("it did not finish within {} s", limit.as_secs()),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// `[services.NAME] of CONFIG`: where an edit goes.
fn service_table(service: &Service, config: &Config) -> String {
    format!("[services.{}] of {}", service.name, config.path.display())
}

/// "42 min", "3 h 5 min", "10 s": how long until `at`.
fn time_left(at: Timestamp, now: Timestamp) -> String {
    let secs = at.as_second() - now.as_second();
    let (h, m) = (secs / 3600, (secs % 3600) / 60);
    match (h, m) {
        (0, 0) => format!("{secs} s"),
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A configuration at /c.toml, for unit tests.
    pub(crate) fn config() -> Config {
        Config {
            path: "/c.toml".into(),
            owner: libpq_files::Tag::of(b"c"),
            pgpass: "/p".into(),
            service_file: "/s".into(),
            endpoints: Default::default(),
            lock_timeout: Duration::from_secs(1),
            services: vec![],
        }
    }

    #[test]
    fn time_left_reads_naturally() {
        let now = Timestamp::UNIX_EPOCH;
        let at = |s: i64| Timestamp::from_second(s).unwrap_or(now);
        assert_eq!(time_left(at(42), now), "42 s");
        assert_eq!(time_left(at(3599), now), "59 min");
        assert_eq!(time_left(at(3 * 3600 + 300), now), "3 h 5 min");
        assert_eq!(time_left(at(3600 + 59), now), "1 h");
    }

    #[test]
    fn the_worst_status_decides() {
        let report = Report {
            checks: vec![Check::ok("a", "fine")],
            services: vec![ServiceReport {
                name: "s".into(),
                checks: vec![Check::warning("b", "meh", "do x"), Check::ok("c", "fine")],
            }],
        };
        assert_eq!(report.worst(), Status::Warning);
        assert_eq!(report.count(Status::Ok), 2);
        let secret = Check::problem("d", "token ya29.abcdef-secret rejected", "x")
            .redacted(&["ya29.abcdef-secret"]);
        assert!(!secret.message.contains("abcdef"), "{}", secret.message);
    }
}
