//! The HTTP client, built on first use only: the nothing-to-do refresh path and every
//! command that just reads files never pay for TLS set-up.

use std::sync::OnceLock;
use std::time::Duration;

use crate::error::{Error, Result};

/// Per-request limit: a hung endpoint must not hang cron.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts for 5xx answers and transport errors, with jittered exponential backoff.
const ATTEMPTS: u32 = 3;

/// A lazily built HTTP agent shared by every source in one run.
#[derive(Default)]
pub struct Http {
    agent: OnceLock<ureq::Agent>,
}

/// A finished HTTP exchange: status and body text.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Http {
    fn agent(&self) -> &ureq::Agent {
        self.agent.get_or_init(|| {
            log::debug!("building HTTP client");
            ureq::Agent::config_builder()
                .timeout_global(Some(REQUEST_TIMEOUT))
                .http_status_as_error(false)
                .build()
                .into()
        })
    }

    /// POSTs a form, retrying transport errors and 5xx answers. `what` names the endpoint
    /// in messages; form values never appear in them.
    pub fn post_form(&self, what: &str, url: &str, form: &[(&str, &str)]) -> Result<Answer> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self
                .agent()
                .post(url)
                .send_form(form.iter().copied())
                .map_err(|e| e.to_string())
                .and_then(|mut resp| {
                    let status = resp.status().as_u16();
                    resp.body_mut()
                        .with_config()
                        .limit(1 << 20)
                        .read_to_string()
                        .map(|body| Answer { status, body })
                        .map_err(|e| e.to_string())
                });
            match outcome {
                Ok(answer) if answer.status < 500 => return Ok(answer),
                Ok(answer) if attempt >= ATTEMPTS => {
                    return Err(Error::Source(format!(
                        "{what} at {url} answered HTTP {} {} times; try again later",
                        answer.status, ATTEMPTS
                    )));
                }
                Err(err) if attempt >= ATTEMPTS => {
                    return Err(Error::Source(format!(
                        "cannot reach {what} at {url} after {ATTEMPTS} attempts: {err}"
                    )));
                }
                Ok(answer) => log::warn!("{what} answered HTTP {}; retrying", answer.status),
                Err(err) => log::warn!("{what} request failed ({err}); retrying"),
            }
            std::thread::sleep(backoff(attempt));
        }
    }
}

/// 200 ms, 400 ms, 800 ms… each scaled by a jitter in [0.5, 1.5) so that many clients
/// failing together do not retry together.
pub fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(200) * 2u32.saturating_pow(attempt.saturating_sub(1));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let jitter = 0.5 + f64::from(nanos % 1000) / 1000.0;
    base.mul_f64(jitter)
}
