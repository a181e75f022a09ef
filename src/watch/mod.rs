//! `refresh --watch`: one process that keeps every configured service valid.
//!
//! The loop sleeps until the earliest entry enters its refresh window — in slices of at
//! most [`SLICE`], so that it notices a wall clock that jumped ahead (a suspended laptop
//! resuming, a stepped clock) and checks at once instead of sleeping on a stale deadline,
//! while staying nearly idle (one wake-up per slice). Each pass goes through the same
//! steps as `refresh` (its plan decides what is due, one mint per credential, locked
//! writes, records for `status`), so a reload that changes a host or a user takes effect
//! at once, not when the old token runs out. Failures are retried with jittered exponential
//! backoff (see [`schedule`]); entries that are still valid are left alone. Except at
//! start: a first pass that meets an error no retry can fix (exit code 2's kind: an
//! ownership clash, a section the user wrote) ends the process with exit code 2.
//!
//! Signals arrive as messages between passes, never in the middle of a write: SIGHUP
//! re-reads the configuration (a broken one is reported and the old one kept), SIGTERM and
//! SIGINT end the loop with exit code 0. Under systemd, readiness, status and watchdog
//! pings go to `NOTIFY_SOCKET`.

mod notify;
mod schedule;

use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use libpq_files::pgpass::PgpassFile;

use crate::clock;
use crate::config::{self, Config, Service};
use crate::error::{Error, Result};
use crate::exit_codes::ExitCode;
use crate::files::{Files, bytes_of};
use crate::refresh;
use notify::Notifier;
use schedule::{Entry, Schedule};

/// The longest single sleep: how late a clock jump may be noticed, and the idle wake-up
/// rate (one per slice).
const SLICE: Duration = Duration::from_secs(8);
/// A difference between wall-clock and monotonic time larger than this is a jump.
const JUMP: SignedDuration = SignedDuration::from_secs(2);

/// What interrupts the sleep.
enum Event {
    Reload,
    Stop(&'static str),
}

/// Runs the loop for the services `names` (all when empty) of the configuration at
/// `path`, until SIGTERM or SIGINT.
pub fn run(path: &Path, config: Config, names: &[String]) -> Result<ExitCode> {
    let events = listen()?;
    let mut notifier = Notifier::from_env();
    let mut config = config;
    let count = config.select(names)?.len();
    let mut schedule = Schedule::default();
    let mut ready = false;
    let mut next = clock::now();
    let (mut wall, mut mono) = (clock::now(), Instant::now());
    log::info!("keeping {count} services valid");
    loop {
        // Sleep until `next`, one slice at a time.
        while clock::now() < next {
            let left = next.duration_since(clock::now()).unsigned_abs();
            let slice = left.min(SLICE).min(notifier.ping_interval());
            match events.recv_timeout(slice) {
                Ok(Event::Stop(signal)) => {
                    log::info!("stopping ({signal})");
                    notifier.stopping();
                    return Ok(ExitCode::Success);
                }
                Ok(Event::Reload) => {
                    notifier.reloading();
                    config = reload(path, config, names);
                    schedule.retain(|name| config.services.iter().any(|s| s.name == *name));
                    next = clock::now();
                    notifier.ready();
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::Runtime("the signal listener stopped".into()));
                }
            }
            notifier.ping();
            let (now_wall, now_mono) = (clock::now(), Instant::now());
            let moved = now_wall.duration_since(wall)
                - SignedDuration::try_from(now_mono - mono).unwrap_or(SignedDuration::ZERO);
            (wall, mono) = (now_wall, now_mono);
            if moved > JUMP {
                log::info!(
                    "the clock moved {}s ahead (a suspend, or the clock was set): checking now",
                    moved.as_secs()
                );
                next = now_wall;
            } else if moved < -JUMP {
                log::info!(
                    "the clock moved {}s back: checking the schedule again",
                    moved.as_secs().unsigned_abs()
                );
                next = now_wall;
            }
        }

        let services = config.select(names)?;
        let unfixable;
        (next, unfixable) = pass(&config, &services, &mut schedule);
        if !ready && unfixable {
            // No retry can fix a configuration error (an ownership clash, a section the
            // user wrote): exit with its code at start, so that a supervisor told not to
            // restart on it (systemd's RestartPreventExitStatus=2) does not. After a
            // reload the old configuration's services keep running, as a reload that
            // fails to load does.
            log::error!(
                "stopping: the configuration has an error that retrying cannot fix; fix it and start again"
            );
            notifier.stopping();
            return Ok(ExitCode::UsageOrConfig);
        }
        notifier.status(&format!(
            "services watched: {}; next check {}",
            services.len(),
            next.strftime("%Y-%m-%d %H:%M:%S UTC")
        ));
        if !ready {
            notifier.ready();
            ready = true;
        }
    }
}

/// One pass: hands every service not waiting out a retry or a hold to `refresh`, whose
/// plan decides what is due (an entry entering its window, but also a host, user or
/// credential a reload changed, or a section edited by hand); updates the schedule from
/// what happened, and returns when the next pass is needed, and whether a service failed
/// for a reason that no retry can fix (exit code 2's kind).
fn pass(config: &Config, services: &[&Service], schedule: &mut Schedule) -> (Timestamp, bool) {
    let now = clock::now();
    let ready: Vec<&Service> = services
        .iter()
        .copied()
        .filter(|s| !schedule.waiting(s.name.as_str(), now))
        .collect();
    let (minted, failed) = if ready.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        match refresh::run(config, &ready, false) {
            Ok(outcome) => (
                outcome.minted.into_iter().map(|(n, _)| n).collect(),
                outcome.failed,
            ),
            Err(err) => (
                Vec::new(),
                ready
                    .iter()
                    .map(|s| (s.name.to_string(), err.for_service(s.name.as_str())))
                    .collect(),
            ),
        }
    };
    let entries = own_entries(config);
    let expiry_of = |name: &str| {
        entries
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, at)| *at)
    };
    for name in &minted {
        if let (Some(service), Some(expires_at)) = (
            ready.iter().find(|s| s.name == *name.as_str()),
            expiry_of(name),
        ) {
            schedule.minted(name, expires_at, service.refresh_window, now);
        }
    }
    let unfixable = failed
        .iter()
        .any(|(_, err)| err.exit_code() == ExitCode::UsageOrConfig);
    for (name, err) in &failed {
        let wait = schedule.failed(name, expiry_of(name), now, jitter());
        crate::logging::error(err);
        log::warn!("{name}: retrying in {}s", wait.as_secs().max(1));
    }
    // The next pass: the earliest service, but never sooner than a second from now, so
    // that an entry exactly at its window's edge cannot make the loop spin.
    let now = clock::now();
    let next = services
        .iter()
        .map(|s| {
            let entry = expiry_of(s.name.as_str()).map(|expires_at| Entry {
                expires_at,
                window: s.refresh_window,
            });
            schedule.next_for(s.name.as_str(), entry.as_ref(), now)
        })
        .min()
        .unwrap_or(now + SignedDuration::from_secs(3600))
        .max(now + SignedDuration::from_secs(1));
    (next, unfixable)
}

/// This configuration's entries in the password file, by service: name and expiry. A file
/// that cannot be read counts as empty (the next refresh reports why).
fn own_entries(config: &Config) -> Vec<(String, Timestamp)> {
    let Ok(files) = Files::of(config) else {
        return Vec::new();
    };
    let Ok(snapshot) = libpq_files::locked_file::read(&files.pgpass_real) else {
        return Vec::new();
    };
    PgpassFile::managed_in(bytes_of(&snapshot))
        .into_iter()
        .filter(|e| config.owns(e.owner.as_ref()))
        .map(|e| (e.service.to_string(), e.expires_at))
        .collect()
}

/// The configuration at `path` again; when it does not load (or lacks a named service),
/// the error is reported and `old` kept.
fn reload(path: &Path, old: Config, names: &[String]) -> Config {
    let checked = config::load(path).and_then(|new| {
        new.select(names)?;
        Ok(new)
    });
    match checked {
        Ok(new) => {
            log::info!(
                "configuration reloaded from {}: {} services",
                path.display(),
                new.services.len()
            );
            new
        }
        Err(err) => {
            crate::logging::error(&format!(
                "the configuration was not reloaded, the previous one stays in use: {err}"
            ));
            old
        }
    }
}

/// SIGHUP, SIGTERM and SIGINT, as messages on a channel: a thread of signal-hook's waits
/// for them, so the loop sees them between passes.
fn listen() -> Result<Receiver<Event>> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGHUP, SIGINT, SIGTERM])
        .map_err(|e| Error::Runtime(format!("cannot listen for signals: {e}")))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            let event = match signal {
                SIGHUP => Event::Reload,
                SIGINT => Event::Stop("SIGINT"),
                _ => Event::Stop("SIGTERM"),
            };
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

/// A factor in [0.5, 1.5), different for every call and every process: enough to spread
/// retries. std's hasher keys are random per process and change per `RandomState`; the
/// clock's low digits would not do (some systems' clocks tick in whole microseconds).
fn jitter() -> f64 {
    use std::hash::BuildHasher;
    let bits = std::hash::RandomState::new().hash_one(0u8);
    0.5 + (bits % 1000) as f64 / 1000.0
}
