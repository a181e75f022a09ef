//! When each service needs attention next: its entry's own refresh time, pushed back by
//! backoff after a failure, or held back when its source keeps handing out a token that
//! is already inside the window. Pure: the loop feeds it times and outcomes.

use std::collections::HashMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// Backoff after a failure starts here and doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The shortest hold after a mint that gave a token already inside the window.
const MIN_HOLD: SignedDuration = SignedDuration::from_secs(5);
/// The shortest wait before a retry.
const MIN_RETRY: SignedDuration = SignedDuration::from_secs(1);

/// What the loop remembers about one service between passes.
#[derive(Debug, Clone, Default)]
struct ServiceState {
    failures: u32,
    /// After a failure: not before this.
    retry_at: Option<Timestamp>,
    /// After a mint whose token was already inside the window: not before this.
    hold_until: Option<Timestamp>,
}

/// The schedule of every service, by name.
#[derive(Debug, Default)]
pub struct Schedule {
    services: HashMap<String, ServiceState>,
}

/// What the loop knows about one service's entry when it plans.
pub struct Entry {
    pub expires_at: Timestamp,
    pub window: Duration,
}

impl Schedule {
    /// When `service` needs attention: now when it has no entry, else when its entry
    /// enters the refresh window; never before a pending retry or hold.
    pub fn next_for(&self, service: &str, entry: Option<&Entry>, now: Timestamp) -> Timestamp {
        let natural = match entry {
            None => now,
            Some(e) => e
                .expires_at
                .checked_sub(SignedDuration::try_from(e.window).unwrap_or(SignedDuration::MAX))
                .unwrap_or(now),
        };
        let state = self.services.get(service);
        [
            Some(natural),
            state.and_then(|s| s.retry_at),
            state.and_then(|s| s.hold_until),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(natural)
    }

    /// Whether `service` is waiting out a retry after a failure, or a hold after a token
    /// that was already inside its window: then it is not asked for again yet.
    pub fn waiting(&self, service: &str, now: Timestamp) -> bool {
        self.services.get(service).is_some_and(|s| {
            s.retry_at.is_some_and(|at| at > now) || s.hold_until.is_some_and(|at| at > now)
        })
    }

    /// A service got a new token expiring at `expires_at`. If that token is already inside
    /// the window (a metadata server handing out its cached token in its last minutes),
    /// asking again at once would give the same token: wait half of what is left.
    pub fn minted(
        &mut self,
        service: &str,
        expires_at: Timestamp,
        window: Duration,
        now: Timestamp,
    ) {
        let left = expires_at.duration_since(now);
        let window = SignedDuration::try_from(window).unwrap_or(SignedDuration::MAX);
        let hold_until = (left < window).then(|| now + (left / 2).max(MIN_HOLD));
        self.services.insert(
            service.to_string(),
            ServiceState {
                failures: 0,
                retry_at: None,
                hold_until,
            },
        );
    }

    /// A service failed; `expires_at` is when its current entry (if any) runs out.
    /// Returns how long until the retry.
    pub fn failed(
        &mut self,
        service: &str,
        expires_at: Option<Timestamp>,
        now: Timestamp,
        jitter: f64,
    ) -> SignedDuration {
        let state = self.services.entry(service.to_string()).or_default();
        state.failures = state.failures.saturating_add(1);
        state.hold_until = None;
        let mut wait = SignedDuration::try_from(backoff(state.failures, jitter))
            .unwrap_or(SignedDuration::from_secs(300));
        // A still-valid entry must not run out while a retry could have saved it: retry
        // within half of what is left, so retries come closer together towards expiry.
        if let Some(expires_at) = expires_at {
            let left = expires_at.duration_since(now);
            if left > SignedDuration::ZERO {
                wait = wait.min((left / 2).max(MIN_RETRY));
            }
        }
        state.retry_at = Some(now + wait);
        wait
    }

    /// Forgets services no longer configured.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.services.retain(|name, _| keep(name));
    }
}

/// 2 s, 4 s, 8 s… capped at 5 minutes, scaled by `jitter` (0.5 to 1.5) so that many
/// refreshers failing together do not retry together.
pub fn backoff(failures: u32, jitter: f64) -> Duration {
    let base = FIRST_BACKOFF.saturating_mul(2u32.saturating_pow(failures.saturating_sub(1)));
    base.min(MAX_BACKOFF).mul_f64(jitter.clamp(0.5, 1.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn an_entry_is_due_when_it_enters_its_window_and_a_missing_one_now() {
        let schedule = Schedule::default();
        let entry = Entry {
            expires_at: at(3600),
            window: Duration::from_secs(900),
        };
        assert_eq!(schedule.next_for("a", Some(&entry), at(0)), at(2700));
        assert_eq!(schedule.next_for("a", None, at(5)), at(5));
    }

    #[test]
    fn backoff_doubles_is_capped_and_never_outlasts_a_valid_entry() {
        assert_eq!(backoff(1, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(3, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(30, 1.0), MAX_BACKOFF);
        assert_eq!(backoff(30, 9.0), MAX_BACKOFF.mul_f64(1.5));
        let mut schedule = Schedule::default();
        for _ in 0..20 {
            schedule.failed("a", None, at(0), 1.0);
        }
        assert_eq!(schedule.next_for("a", None, at(0)), at(300));
        // With an entry 100 s from expiry, the retry comes within half of that, not in 5 min.
        let wait = schedule.failed("a", Some(at(100)), at(0), 1.0);
        assert_eq!(wait, SignedDuration::from_secs(50));
        schedule.minted("a", at(3600), Duration::from_secs(900), at(0));
        let entry = Entry {
            expires_at: at(3600),
            window: Duration::from_secs(900),
        };
        assert_eq!(
            schedule.next_for("a", Some(&entry), at(0)),
            at(2700),
            "reset"
        );
    }

    #[test]
    fn the_same_short_lived_token_again_is_not_asked_for_in_a_loop() {
        let mut schedule = Schedule::default();
        let window = Duration::from_secs(900);
        // The metadata server hands out its cached token with 4 minutes left.
        schedule.minted("a", at(240), window, at(0));
        let entry = Entry {
            expires_at: at(240),
            window,
        };
        assert_eq!(schedule.next_for("a", Some(&entry), at(0)), at(120));
        schedule.minted("a", at(240), window, at(120));
        assert_eq!(schedule.next_for("a", Some(&entry), at(120)), at(180));
    }

    #[test]
    fn a_service_waits_out_its_retry_and_its_hold_and_nothing_else() {
        let mut schedule = Schedule::default();
        assert!(!schedule.waiting("a", at(0)), "never seen");
        schedule.failed("a", None, at(0), 1.0);
        assert!(schedule.waiting("a", at(1)));
        assert!(!schedule.waiting("a", at(2)), "retry due");
        schedule.minted("a", at(240), Duration::from_secs(900), at(0));
        assert!(schedule.waiting("a", at(119)), "held");
        assert!(!schedule.waiting("a", at(120)));
        schedule.minted("a", at(3600), Duration::from_secs(900), at(0));
        assert!(!schedule.waiting("a", at(0)), "a good mint clears both");
    }
}
