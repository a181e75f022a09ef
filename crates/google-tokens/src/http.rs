//! The HTTP client, built on first use only: the nothing-to-do refresh path and every
//! command that just reads files never pay for TLS set-up.
//!
//! Every request has a deadline; transport errors and 5xx answers are retried with
//! jittered exponential backoff; 4xx answers are returned for the caller to explain.
//! Request bodies and headers (which carry tokens and assertions) never appear in
//! messages: only the endpoint's name and URL do.

use std::sync::OnceLock;
use std::time::Duration;

use crate::error::{Error, Result};

/// Per-request limit unless the endpoints say otherwise: a hung endpoint must not hang
/// cron.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts for 5xx answers and transport errors.
const ATTEMPTS: u32 = 3;
/// Larger answers are not token responses.
const MAX_BODY: u64 = 1 << 20;

/// A lazily built HTTP agent shared by every source in one run.
pub(crate) struct Http {
    agent: OnceLock<ureq::Agent>,
    timeout: Duration,
}

/// A finished HTTP exchange: status and body text.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    /// The body as the typed answer `T`, or an error naming the endpoint and what was
    /// wrong, never quoting the body: it may hold a token.
    pub fn parse<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T> {
        serde_json::from_str(&self.body).map_err(|e| {
            Error::Source(format!(
                "{what} answered HTTP {} with {}",
                self.status,
                crate::untrusted::json_problem(&e, "a body that is not JSON")
            ))
        })
    }
}

/// What a request sends.
pub(crate) enum Body<'a> {
    Empty,
    Form(&'a [(&'a str, &'a str)]),
    Json(&'a serde_json::Value),
}

/// One request: method, URL, extra headers, body.
pub(crate) struct Request<'a> {
    /// Names the endpoint in messages ("the metadata server", "tokeninfo").
    pub what: &'a str,
    pub method: Method,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Body<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
}

impl Http {
    /// A client whose every request is abandoned after `timeout`.
    pub fn with_timeout(timeout: Duration) -> Http {
        Http {
            agent: OnceLock::new(),
            timeout,
        }
    }

    fn agent(&self) -> &ureq::Agent {
        self.agent.get_or_init(|| {
            log::debug!("building HTTP client");
            ureq::Agent::config_builder()
                .timeout_global(Some(self.timeout))
                .http_status_as_error(false)
                .build()
                .into()
        })
    }

    /// POSTs a form (the OAuth2 endpoints' way).
    pub fn post_form(&self, what: &str, url: &str, form: &[(&str, &str)]) -> Result<Answer> {
        self.send(&Request {
            what,
            method: Method::Post,
            url,
            headers: &[],
            body: Body::Form(form),
        })
    }

    /// Sends `request`, retrying transport errors and 5xx answers.
    pub fn send(&self, request: &Request<'_>) -> Result<Answer> {
        let (what, url) = (request.what, request.url);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.send_once(request) {
                Ok(answer) if answer.status < 500 => return Ok(answer),
                Ok(answer) if attempt >= ATTEMPTS => {
                    return Err(Error::Source(format!(
                        "{what} at {url} answered HTTP {} {ATTEMPTS} times; try again later",
                        answer.status
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

    fn send_once(&self, request: &Request<'_>) -> std::result::Result<Answer, String> {
        let agent = self.agent();
        let response = match request.method {
            Method::Get => {
                let mut builder = agent.get(request.url);
                for (name, value) in request.headers {
                    builder = builder.header(*name, *value);
                }
                builder.call()
            }
            Method::Post => {
                let mut builder = agent.post(request.url);
                for (name, value) in request.headers {
                    builder = builder.header(*name, *value);
                }
                match &request.body {
                    Body::Empty => builder.send_empty(),
                    Body::Form(form) => builder.send_form(form.iter().copied()),
                    Body::Json(json) => builder.send_json(json),
                }
            }
        };
        let mut response = response.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| e.to_string())?;
        Ok(Answer { status, body })
    }
}

/// 200 ms, 400 ms, 800 ms… each scaled by a jitter in [0.5, 1.5) so that many clients
/// failing together do not retry together.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(200) * 2u32.saturating_pow(attempt.saturating_sub(1));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let jitter = 0.5 + f64::from(nanos % 1000) / 1000.0;
    base.mul_f64(jitter)
}
