//! Messages to systemd for `Type=notify` services: readiness after the first pass, a status
//! line, reloading and stopping, and watchdog pings when `WATCHDOG_USEC` asks for them.
//! Without `NOTIFY_SOCKET` every call does nothing.

use std::time::{Duration, Instant};

use sd_notify::NotifyState;

pub struct Notifier {
    /// Whether systemd listens at all.
    enabled: bool,
    /// Half the watchdog interval, when there is a watchdog.
    ping_every: Option<Duration>,
    last_ping: Instant,
}

impl Notifier {
    pub fn from_env() -> Notifier {
        let enabled = std::env::var_os("NOTIFY_SOCKET").is_some_and(|s| !s.is_empty());
        let mut usec = 0;
        let watchdog = enabled && sd_notify::watchdog_enabled(false, &mut usec);
        Notifier {
            enabled,
            ping_every: watchdog.then(|| Duration::from_micros(usec) / 2),
            last_ping: Instant::now(),
        }
    }

    /// How long the loop may sleep without missing a watchdog ping.
    pub fn ping_interval(&self) -> Duration {
        self.ping_every.unwrap_or(Duration::MAX)
    }

    pub fn ready(&self) {
        self.send(&[NotifyState::Ready]);
    }

    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(_) => self.send(&[NotifyState::Reloading]),
        }
    }

    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping]);
    }

    pub fn status(&self, text: &str) {
        self.send(&[NotifyState::Status(text)]);
    }

    /// A watchdog ping, when one is due.
    pub fn ping(&mut self) {
        if let Some(every) = self.ping_every {
            if self.last_ping.elapsed() >= every {
                self.send(&[NotifyState::Watchdog]);
                self.last_ping = Instant::now();
            }
        }
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        if !self.enabled {
            return;
        }
        if let Err(e) = sd_notify::notify(false, states) {
            log::debug!("cannot notify systemd: {e}");
        }
    }
}
