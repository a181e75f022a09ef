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
mod tls;
mod wire;

use std::collections::{BTreeMap, HashMap};

use google_tokens::{Context, CredentialSpec, Universe};
use jiff::Timestamp;

use crate::clock;
use crate::config::{Config, Service};
use crate::refresh::{Resolutions, Target, parallel};
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
/// whole, then each service's, then (before the first refresh) the one line that says
/// the files were never written, after the causes that would make a refresh fail.
#[derive(Debug)]
pub struct Report {
    pub checks: Vec<Check>,
    pub services: Vec<ServiceReport>,
    pub pending: Option<Check>,
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
            .chain(&self.pending)
    }
}

/// Runs every check for `services`; with `connect`, one real login per service.
///
/// The questions are independent, so they are asked side by side (at most
/// [`parallel::MAX_PARALLEL`] at once), each once per run: first every distinct
/// credential is minted (one base token per credential however many impersonations are
/// built on it, see [`Context`]) while the files are read, the machine's libpq is asked
/// and instances are resolved; then tokeninfo about each written token and each distinct
/// server beside one another; then the logins. The checks are put together afterwards,
/// in the services' order.
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

    // Principals learned here are not saved: doctor writes nothing.
    let principals = Principals::from(&state);
    let ctx = Context::new(&config.endpoints, &principals);
    let resolutions = match Resolutions::from_state(state.clone()) {
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
    let mut specs: Vec<&CredentialSpec> = Vec::new();
    for service in services {
        if !specs.contains(&&*service.credential) {
            specs.push(&service.credential);
        }
    }

    // Round one: credentials, beside the files, the machine and the instances.
    let (examined, (machine, on_disk, file_checks), instances) = std::thread::scope(|scope| {
        let files = scope.spawn(|| {
            let machine = files::Machine::inspect();
            let mut checks = Vec::new();
            let on_disk = files::OnDisk::read(config, &machine, &mut checks);
            (machine, on_disk, checks)
        });
        let instances = scope.spawn(|| {
            let Some(mut resolutions) = resolutions else {
                return services.iter().map(|_| (Vec::new(), None)).collect();
            };
            // One after another: the Admin API look-ups share the cache they fill.
            services
                .iter()
                .map(|service| {
                    let mut checks = Vec::new();
                    let target = instance_check(service, &mut resolutions, &ctx, &mut checks);
                    (checks, target)
                })
                .collect::<Vec<_>>()
        });
        let examined = parallel::map(&specs, |spec| credentials::Credential::examine(spec, &ctx));
        (examined, join(files), join(instances))
    });
    general.extend(file_checks);
    let (instance_checks, targets): (Vec<Vec<Check>>, Vec<Option<Target>>) =
        instances.into_iter().unzip();
    let credentials: BTreeMap<&CredentialSpec, credentials::Credential> =
        specs.iter().copied().zip(examined).collect();

    // Round two: tokeninfo about each written token, and each distinct server.
    let tls: Vec<Option<wire::Tls>> = services
        .iter()
        .zip(&targets)
        .map(|(service, target)| target.as_ref().map(|t| wire::Tls::of(service, t)))
        .collect();
    let mut questions: Vec<Question<'_>> = Vec::new();
    for ((service, target), tls) in services.iter().zip(&targets).zip(&tls) {
        if let Some(token) = on_disk.written_token(service, config, now) {
            let universe = &credentials[&*service.credential].universe;
            if !questions
                .iter()
                .any(|q| matches!(q, Question::Written(t, _) if *t == token))
            {
                questions.push(Question::Written(token, universe));
            }
        }
        if let (Some(target), Some(tls)) = (target, tls) {
            let probe = Question::Probe(target.host.as_str(), target.port, tls);
            if !questions.contains(&probe) {
                questions.push(probe);
            }
        }
    }
    let answers = parallel::map(&questions, |question| match *question {
        Question::Written(token, universe) => {
            Answered::Written(files::WrittenToken::ask(&ctx, token, universe))
        }
        Question::Probe(host, port, tls) => Answered::Probe(network::Reach::probe(host, port, tls)),
    });
    let mut written_tokens: HashMap<&str, files::WrittenToken> = HashMap::new();
    let mut reachability: HashMap<(&str, u16, &wire::Tls), network::Reach> = HashMap::new();
    for (question, answer) in questions.iter().zip(answers) {
        match (question, answer) {
            (Question::Written(token, _), Answered::Written(w)) => {
                written_tokens.insert(token, w);
            }
            (Question::Probe(host, port, tls), Answered::Probe(reach)) => {
                reachability.insert((host, *port, tls), reach);
            }
            _ => {}
        }
    }

    // The checks, in the services' order, from what was asked.
    let mut reports = Vec::with_capacity(services.len());
    let mut evidence = Vec::with_capacity(services.len());
    let per_service = services.iter().zip(instance_checks).zip(&targets).zip(&tls);
    for (((&service, instance_checks), target), tls) in per_service {
        let credential = &credentials[&*service.credential];
        let mut checks = Vec::new();
        let user = credential.checks(service, config, &mut checks);
        checks.extend(instance_checks);
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
                    .get(token)
                    .cloned()
                    .unwrap_or_else(|| files::WrittenToken::Unknown("it was not asked".to_string()))
            },
            &mut checks,
        );
        let reachable = match (target, tls) {
            (Some(target), Some(tls)) => {
                match reachability.get(&(target.host.as_str(), target.port, tls)) {
                    Some(reach) => {
                        checks.extend(reach.checks(service, config, target));
                        reach.reachable()
                    }
                    None => false,
                }
            }
            _ => false,
        };
        reports.push((service.name.to_string(), checks));
        evidence.push((service, facts, reachable, user));
    }
    let never_written: Vec<&str> = services
        .iter()
        .filter(|s| on_disk.never_written(s))
        .map(|s| s.name.as_str())
        .collect();
    if let Some(missing) = &on_disk.pgpass_missing {
        if never_written.len() < services.len() {
            general.push(missing.clone());
        }
    }
    let pending = not_refreshed(config, &never_written, services.len(), &reports, &general);
    if connect {
        // Each login is its own psql against its own server: side by side too.
        let logins = parallel::map(&evidence, |(service, facts, reachable, user)| {
            if never_written.contains(&service.name.as_str()) {
                return None;
            }
            Some(login::check(
                service,
                config,
                &login::Evidence {
                    entry: facts.entry.as_ref(),
                    section: facts.section,
                    reachable: *reachable,
                    written: facts.written.as_ref(),
                    user: user.as_deref(),
                },
            ))
        });
        for ((_, checks), login) in reports.iter_mut().zip(logins) {
            checks.extend(login);
        }
    }

    // Redact with every token this run has seen named, on top of the redactor's shapes.
    let mut known: Vec<&str> = credentials
        .values()
        .filter_map(|c| c.minted.as_ref().ok())
        .map(|t| t.secret().expose())
        .collect();
    known.extend(written_tokens.keys().copied());
    Report {
        checks: general.into_iter().map(|c| c.redacted(&known)).collect(),
        services: reports
            .into_iter()
            .map(|(name, checks)| ServiceReport {
                name,
                checks: checks.into_iter().map(|c| c.redacted(&known)).collect(),
            })
            .collect(),
        pending: pending.map(|c| c.redacted(&known)),
    }
}

/// The one line for services no refresh has written yet (`names`, of `checked`): with
/// problems found above, the refresh comes after their fixes.
fn not_refreshed(
    config: &Config,
    names: &[&str],
    checked: usize,
    reports: &[(String, Vec<Check>)],
    general: &[Check],
) -> Option<Check> {
    if names.is_empty() {
        return None;
    }
    let which = match names {
        _ if names.len() == checked && checked > 1 => format!("any of the {checked} services"),
        [one] => format!("service {one}"),
        _ => format!("{} services ({})", names.len(), names.join(", ")),
    };
    let blocked = general
        .iter()
        .chain(reports.iter().flat_map(|(_, c)| c))
        .any(|c| c.status == Status::Problem);
    Some(Check::problem(
        "refresh",
        format!(
            "not refreshed yet: {} has no entry and {} no section for {which}",
            config.pgpass.display(),
            config.service_file.display()
        ),
        {
            let mut command = "alloydb-cred refresh".to_string();
            if names.len() < checked {
                for name in names {
                    command.push_str(&format!(" --service {name}"));
                }
            }
            if blocked {
                format!("fix the problems above, then run `{command}`")
            } else {
                command
            }
        },
    ))
}

/// One network question of the second round.
#[derive(PartialEq)]
enum Question<'a> {
    /// tokeninfo about a token in the password file.
    Written(&'a str, &'a Universe),
    /// A host, port and TLS setting.
    Probe(&'a str, u16, &'a wire::Tls),
}

enum Answered {
    Written(files::WrittenToken),
    Probe(network::Reach),
}

/// A scoped thread's result; its panic goes on in the caller.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
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
            lock_timeout: std::time::Duration::from_secs(1),
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
            pending: None,
        };
        assert_eq!(report.worst(), Status::Warning);
        assert_eq!(report.count(Status::Ok), 2);
        let secret = Check::problem("d", "token ya29.abcdef-secret rejected", "x")
            .redacted(&["ya29.abcdef-secret"]);
        assert!(!secret.message.contains("abcdef"), "{}", secret.message);
    }
}
