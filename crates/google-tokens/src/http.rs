//! The HTTP client, built on first use only: the nothing-to-do refresh path and every
//! command that just reads files never pay for TLS set-up.
//!
//! Every request has a deadline; transport errors and 5xx answers are retried with
//! jittered exponential backoff; 4xx answers are returned for the caller to explain.
//! Request bodies and headers (which carry tokens and assertions) never appear in
//! messages: only the endpoint's name and URL do.
//!
//! Transport rules, checked here for every request whoever builds it (a configured
//! endpoint, or a URL read from a credential file, which is not trusted):
//! - `https://` only, except to a loopback address and to a metadata server, which is
//!   plain HTTP by design and always reached directly, never through a proxy. Only the
//!   caller knows a request is for one (GCE's, at `GCE_METADATA_HOST`; or the link-local
//!   instance metadata address a credential file names for AWS or Azure, see
//!   [`is_instance_metadata_url`]): a URL from a credential file pointing at that address
//!   for anything else still needs `https://`;
//! - certificates are checked against the operating system's trust store (honouring
//!   `SSL_CERT_FILE` and `SSL_CERT_DIR`), as gcloud and Google's libraries do, so networks
//!   that inspect TLS with their own CA work;
//! - `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` and `NO_PROXY` are honoured;
//! - redirects are never followed: every request here carries a secret or asks for one.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ureq::http::Uri;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use crate::error::{Error, Result};

/// Per-request limit unless the endpoints say otherwise: a hung endpoint must not hang
/// cron.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts for 5xx answers and transport errors.
const ATTEMPTS: u32 = 3;
/// Larger answers are not token responses.
const MAX_BODY: u64 = 1 << 20;

/// Lazily built HTTP agents shared by every source in one run: one for plain HTTP to the
/// metadata server and loopback (no TLS roots to load), one for TLS reached directly
/// (loopback), one for TLS through the environment's proxy.
pub(crate) struct Http {
    plain: OnceLock<ureq::Agent>,
    tls_direct: OnceLock<std::result::Result<ureq::Agent, String>>,
    tls_proxied: OnceLock<std::result::Result<ureq::Agent, String>>,
    roots: OnceLock<std::result::Result<RootCerts, String>>,
    timeout: Duration,
}

/// A finished HTTP exchange: status and body text.
/// No `Debug`: the body may be a token endpoint's answer.
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
    /// The request goes to the metadata server: plain HTTP is expected, and it is never
    /// sent through a proxy.
    pub to_metadata_server: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    /// Only for IMDSv2 session tokens, which AWS's instance metadata service hands out
    /// to PUT requests alone.
    Put,
}

impl Http {
    /// A client whose every request is abandoned after `timeout`. Nothing is built yet.
    pub fn with_timeout(timeout: Duration) -> Http {
        Http {
            plain: OnceLock::new(),
            tls_direct: OnceLock::new(),
            tls_proxied: OnceLock::new(),
            roots: OnceLock::new(),
            timeout,
        }
    }

    fn config(&self) -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
        ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
    }

    /// The agent for a request on `route`.
    fn agent(&self, route: Route) -> std::result::Result<&ureq::Agent, String> {
        match route {
            Route::Plain => Ok(self.plain.get_or_init(|| {
                log::debug!("building HTTP client (plain, direct)");
                self.config().proxy(None).build().into()
            })),
            Route::TlsDirect => self
                .tls_direct
                .get_or_init(|| self.tls_agent(false))
                .as_ref()
                .map_err(Clone::clone),
            Route::TlsProxied => self
                .tls_proxied
                .get_or_init(|| self.tls_agent(true))
                .as_ref()
                .map_err(Clone::clone),
        }
    }

    fn tls_agent(&self, proxied: bool) -> std::result::Result<ureq::Agent, String> {
        log::debug!(
            "building HTTP client (TLS, {})",
            if proxied {
                "proxy from the environment"
            } else {
                "direct"
            }
        );
        let roots = self.roots.get_or_init(system_roots).clone()?;
        let tls = TlsConfig::builder().root_certs(roots).build();
        let proxy = if proxied {
            ureq::Proxy::try_from_env()
        } else {
            None
        };
        Ok(self.config().tls_config(tls).proxy(proxy).build().into())
    }

    /// POSTs a form (the OAuth2 endpoints' way).
    pub fn post_form(&self, what: &str, url: &str, form: &[(&str, &str)]) -> Result<Answer> {
        self.send(&Request {
            what,
            method: Method::Post,
            url,
            headers: &[],
            body: Body::Form(form),
            to_metadata_server: false,
        })
    }

    /// GETs `url` with `headers` from an instance metadata service a credential file
    /// names (AWS's, Azure's): plain HTTP only when `url` is on the link-local metadata
    /// address (or loopback), `https://` anywhere else.
    pub fn get_instance_metadata(
        &self,
        what: &str,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<Answer> {
        self.send(&Request {
            what,
            method: Method::Get,
            url,
            headers,
            body: Body::Empty,
            to_metadata_server: is_instance_metadata_url(url),
        })
    }

    /// Sends `request`, retrying transport errors and 5xx answers. A redirect is an error:
    /// it is never followed.
    pub fn send(&self, request: &Request<'_>) -> Result<Answer> {
        let (what, url) = (request.what, request.url);
        let route = route(url, request.to_metadata_server).map_err(|why| {
            Error::Source(format!(
                "refusing to send a request to {what} at {url}: {why}"
            ))
        })?;
        let agent = self.agent(route).map_err(Error::Source)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match send_once(agent, request) {
                Ok(answer) if (300..400).contains(&answer.status) => {
                    return Err(Error::Source(format!(
                        "{what} at {url} answered with a redirect (HTTP {}); requests that carry credentials never follow redirects: configure the final URL",
                        answer.status
                    )));
                }
                Ok(answer) if answer.status < 500 => return Ok(answer),
                // The same request would get the same answer: no use asking again.
                Err(Failure::TooLarge) => {
                    return Err(Error::Source(format!(
                        "{what} at {url} answered more than {} MiB, more than any answer it should give",
                        MAX_BODY >> 20
                    )));
                }
                Ok(answer) if attempt >= ATTEMPTS => {
                    return Err(Error::Source(format!(
                        "{what} at {url} answered HTTP {} {ATTEMPTS} times; try again later",
                        answer.status
                    )));
                }
                Err(Failure::Transport(err)) if attempt >= ATTEMPTS => {
                    return Err(Error::Source(format!(
                        "cannot reach {what} at {url} after {ATTEMPTS} attempts: {err}"
                    )));
                }
                Ok(answer) => log::warn!("{what} answered HTTP {}; retrying", answer.status),
                Err(Failure::Transport(err)) => {
                    log::warn!("{what} request failed ({err}); retrying")
                }
            }
            std::thread::sleep(backoff(attempt));
        }
    }
}

/// Why one request got no answer.
enum Failure {
    /// The connection or the exchange failed; worth another attempt.
    Transport(String),
    /// The answer was larger than [`MAX_BODY`].
    TooLarge,
}

fn send_once(agent: &ureq::Agent, request: &Request<'_>) -> std::result::Result<Answer, Failure> {
    {
        let response = match request.method {
            Method::Get => {
                let mut builder = agent.get(request.url);
                for (name, value) in request.headers {
                    builder = builder.header(*name, *value);
                }
                builder.call()
            }
            Method::Post | Method::Put => {
                let mut builder = if request.method == Method::Put {
                    agent.put(request.url)
                } else {
                    agent.post(request.url)
                };
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
        let mut response = response.map_err(|e| Failure::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => Failure::TooLarge,
                e => Failure::Transport(e.to_string()),
            })?;
        Ok(Answer { status, body })
    }
}

/// How a request travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// Plain HTTP, directly: the metadata server, or a loopback address.
    Plain,
    /// TLS to a loopback address, directly.
    TlsDirect,
    /// TLS, through the environment's proxy if it names one.
    TlsProxied,
}

/// Decides how `url` may be reached, or why it may not.
fn route(url: &str, to_metadata_server: bool) -> std::result::Result<Route, String> {
    let uri: Uri = url.parse().map_err(|_| "it is not a URL".to_string())?;
    let authority = uri.authority().ok_or("it names no host")?;
    if authority.as_str().contains('@') {
        return Err("it carries a user name in the URL".into());
    }
    let host = authority.host();
    let direct = is_loopback_host(host) || is_instance_metadata_host(host);
    match uri.scheme_str() {
        Some("https") if direct => Ok(Route::TlsDirect),
        Some("https") => Ok(Route::TlsProxied),
        Some("http") if to_metadata_server || is_loopback_host(host) => Ok(Route::Plain),
        Some("http") => Err(
            "it is plain http://, and only https:// is allowed except to a loopback address or a metadata server (tokens travel in these requests)"
                .into(),
        ),
        _ => Err("its scheme is neither https:// nor http://".into()),
    }
}

/// `localhost`, `127.0.0.0/8` or `::1`.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The link-local instance-metadata addresses cloud VMs answer on (GCE, AWS, Azure):
/// not routable beyond the machine's own link, and plain HTTP by design.
fn is_instance_metadata_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    matches!(host, "169.254.169.254" | "fd00:ec2::254")
}

/// Whether `url` is on the link-local instance metadata address (AWS's IMDS, Azure's
/// IMDS): where a credential file may send a metadata request over plain HTTP.
pub(crate) fn is_instance_metadata_url(url: &str) -> bool {
    url.parse::<Uri>()
        .is_ok_and(|uri| uri.host().is_some_and(is_instance_metadata_host))
}

/// Whether `url` is plain `http://` to a loopback address: the one plain-text endpoint a
/// configuration may name.
pub fn is_loopback_http(url: &str) -> bool {
    url.parse::<Uri>().is_ok_and(|uri| {
        uri.scheme_str() == Some("http") && uri.host().is_some_and(is_loopback_host)
    })
}

/// The operating system's trusted roots (`SSL_CERT_FILE`/`SSL_CERT_DIR` when set).
fn system_roots() -> std::result::Result<RootCerts, String> {
    let found = rustls_native_certs::load_native_certs();
    for err in &found.errors {
        log::debug!("while loading trusted certificates: {err}");
    }
    if found.certs.is_empty() {
        return Err("no trusted root certificates were found in the system's store; install the ca-certificates package, or set SSL_CERT_FILE to a bundle of PEM certificates".into());
    }
    log::debug!(
        "trusting {} certificates from the system's store",
        found.certs.len()
    );
    let certs: Vec<Certificate<'static>> = found
        .certs
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    Ok(RootCerts::Specific(Arc::new(certs)))
}

/// 200 ms, 400 ms, 800 ms… each scaled by a jitter in [0.5, 1.5) so that many clients
/// failing together do not retry together.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(200) * 2u32.saturating_pow(attempt.saturating_sub(1));
    // std's hasher keys are random per process and change per `RandomState`: a cheap
    // random number (the clock's low digits are not, where it ticks in microseconds).
    let bits = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), attempt);
    let jitter = 0.5 + (bits % 1000) as f64 / 1000.0;
    base.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route("https://oauth2.googleapis.com/token", false),
            Ok(Route::TlsProxied)
        );
        assert_eq!(
            route("https://127.0.0.1:8443/token", false),
            Ok(Route::TlsDirect)
        );
        assert_eq!(
            route("http://127.0.0.1:8080/token", false),
            Ok(Route::Plain)
        );
        assert_eq!(route("http://[::1]:8080/token", false), Ok(Route::Plain));
        assert_eq!(route("http://localhost/token", false), Ok(Route::Plain));
        assert_eq!(
            route("http://169.254.169.254/computeMetadata/v1/x", true),
            Ok(Route::Plain)
        );
        for refused in [
            "http://oauth2.googleapis.com/token",
            "http://127.0.0.1.evil.example/token",
            "https://127.0.0.1@evil.example/token",
            "ftp://127.0.0.1/token",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(route(refused, false).is_err(), "{refused}");
        }
        // The link-local metadata address takes plain HTTP only for a metadata request:
        // a credential file's token URL pointing there must not carry secrets in clear.
        assert!(route("http://169.254.169.254/token", false).is_err());
        assert_eq!(
            route("http://169.254.169.254/latest/api/token", true),
            Ok(Route::Plain)
        );
        assert_eq!(
            route("https://169.254.169.254/token", false),
            Ok(Route::TlsDirect)
        );
        assert!(is_instance_metadata_url(
            "http://169.254.169.254/latest/meta-data/"
        ));
        assert!(is_instance_metadata_url(
            "http://[fd00:ec2::254]/latest/meta-data/"
        ));
        assert!(!is_instance_metadata_url(
            "http://169.254.169.254.evil.example/"
        ));
        assert!(!is_instance_metadata_url("http://127.0.0.1/"));
        assert!(is_loopback_http("http://127.0.0.1:1/x"));
        assert!(!is_loopback_http("http://169.254.169.254/x"));
        assert!(!is_loopback_http("https://127.0.0.1:1/x"));
    }
}
