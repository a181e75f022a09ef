//! The HTTP side of the fake: the request and response types of the
//! endpoints ([`crate::endpoints`]), dispatch on their route table, and
//! tiny_http, with a TLS relay in front of it for HTTPS; also the loopback
//! listener the LDAP server and the proxy share.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::endpoints;
use crate::state::State;

const MAX_BODY: u64 = 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub(crate) struct Request {
    /// Upper case.
    pub method: String,
    /// Without the query string, not percent-decoded.
    pub path: String,
    /// Decoded, in order.
    pub query: Vec<(String, String)>,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    pub fn bearer_token(&self) -> Option<&str> {
        let value = self.header("authorization")?.trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    }

    /// Query parameters followed by those of the form body, as the
    /// product's clients send them.
    pub fn params(&self) -> Params {
        let mut all = self.query.clone();
        all.extend(parse_urlencoded(&String::from_utf8_lossy(&self.body)));
        Params(all)
    }
}

/// Flat name/value parameters; later values win, so the body overrides the
/// query string.
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parsed parameter, `default` when absent, or a 400 naming it.
    pub fn parse_or<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, Response> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| {
                Response::invalid_request(&format!("parameter {name} has an invalid value"))
            }),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub status: u16,
    /// `Content-Type` first.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json<T: Serialize>(status: u16, value: &T) -> Response {
        // The answers are maps and structs of strings and numbers, which
        // always serialise.
        let body = serde_json::to_vec(value).unwrap_or_default();
        Response::text(status, "application/json; charset=utf-8", body)
    }

    /// Google's OAuth2 error shape: `{"error": ..., "error_description": ...}`.
    pub fn error(status: u16, error: &str, description: &str) -> Response {
        let body = serde_json::json!({ "error": error, "error_description": description });
        Response::json(status, &body)
    }

    pub fn invalid_request(description: &str) -> Response {
        Response::error(400, "invalid_request", description)
    }

    /// The error shape of Google's JSON APIs (IAM Credentials and the like):
    /// `{"error": {"code", "message", "status", "details"?}}`.
    pub fn google_error(
        code: u16,
        status: &str,
        message: &str,
        details: Option<serde_json::Value>,
    ) -> Response {
        let mut error = serde_json::json!({ "code": code, "message": message, "status": status });
        if let Some(details) = details {
            error["details"] = details;
        }
        Response::json(code, &serde_json::json!({ "error": error }))
    }

    pub fn text(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// Signature of every endpoint handler. Refusals are answers too, sent as
/// they are; returning them as `Err` lets handlers stop at the first failed
/// check with `?`.
pub(crate) type Handler = fn(&State, &Request) -> Result<Response, Response>;

/// One row of [`crate::endpoints::ROUTES`]: the name hits are counted
/// under, the method, which paths it serves, and its handler.
pub(crate) struct Route(
    pub &'static str,
    pub &'static str,
    pub fn(&str) -> bool,
    pub Handler,
);

/// Answers `request` from the route table. Injected failures and delays
/// apply to every route but `/stats`, so tests can observe the fake while
/// it misbehaves; every metadata server answer, injected failures
/// included, carries `Metadata-Flavor: Google`.
pub(crate) fn dispatch(state: &State, request: &Request) -> Response {
    let Some(Route(name, _, _, handler)) = endpoints::ROUTES
        .iter()
        .find(|r| r.1 == request.method && r.2(&request.path))
    else {
        return Response::error(404, "not_found", "no such endpoint in fake-google");
    };
    state.record_hit(name);
    let mut response = if *name == "stats" {
        None
    } else {
        thread::sleep(state.delay());
        state.take_failure()
    }
    .map(|status| Response::error(status, "backend_error", "injected failure"))
    .unwrap_or_else(|| handler(state, request).unwrap_or_else(|refusal| refusal));
    if name.starts_with("metadata") {
        response = response.with_header("Metadata-Flavor", "Google");
    }
    response
}

/// The plain HTTP server; dropping it stops it.
pub(crate) struct HttpServer {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    pub fn start(state: Arc<State>) -> io::Result<HttpServer> {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").map_err(io::Error::other)?);
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("not a TCP listener"))?;
        let thread = {
            let server = Arc::clone(&server);
            thread::Builder::new()
                .name("fake-google-http".into())
                .spawn(move || {
                    for request in server.incoming_requests() {
                        // One thread per request, so an injected delay on one
                        // does not hold up the others (e.g. a `/stats` poll).
                        let state = Arc::clone(&state);
                        let _ = thread::Builder::new()
                            .name("fake-google-req".into())
                            .spawn(move || answer(&state, request));
                    }
                })?
        };
        Ok(HttpServer {
            addr,
            server,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer(state: &State, mut raw: tiny_http::Request) {
    let mut body = Vec::new();
    let too_large = raw
        .as_reader()
        .take(MAX_BODY + 1)
        .read_to_end(&mut body)
        .is_err()
        || body.len() as u64 > MAX_BODY;
    let response = if too_large {
        Response::error(413, "invalid_request", "request body too large")
    } else {
        let (path, query) = raw.url().split_once('?').unwrap_or((raw.url(), ""));
        let headers = raw.headers().iter();
        dispatch(
            state,
            &Request {
                method: raw.method().as_str().to_ascii_uppercase(),
                path: path.to_owned(),
                query: parse_urlencoded(query),
                headers: headers
                    .map(|h| {
                        (
                            h.field.to_string().to_ascii_lowercase(),
                            h.value.to_string(),
                        )
                    })
                    .collect(),
                body,
            },
        )
    };
    let mut out = tiny_http::Response::from_data(response.body).with_status_code(response.status);
    for (name, value) in response.headers {
        if let Ok(header) = tiny_http::Header::from_bytes(name, value) {
            out.add_header(header);
        }
    }
    // The client may have gone away (e.g. after its own timeout).
    let _ = raw.respond(out);
}

/// A listener on 127.0.0.1 that hands each connection to `serve` on a
/// thread of its own. Dropping it stops accepting; connections already
/// open run on.
pub(crate) struct Acceptor {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Acceptor {
    pub fn start(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> io::Result<Acceptor> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, serve) = (Arc::clone(&stop), Arc::new(serve));
        thread::Builder::new()
            .name("fake-google-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if flag.load(Ordering::SeqCst) {
                        return;
                    }
                    let serve = Arc::clone(&serve);
                    let _ = stream.map(|s| thread::spawn(move || serve(s)));
                }
            })?;
        Ok(Acceptor { addr, stop })
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocked accept; it sees the flag and returns.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// Serves HTTPS by relaying each TLS connection, decrypted, to the plain
/// server at `backend`.
pub(crate) fn start_tls(
    config: Arc<rustls::ServerConfig>,
    backend: SocketAddr,
) -> io::Result<Acceptor> {
    Acceptor::start(move |tcp| {
        let _ = relay_tls(tcp, Arc::clone(&config), backend);
    })
}

/// One TLS connection, until either side closes or both have been quiet
/// for 30 s.
fn relay_tls(
    tcp: TcpStream,
    config: Arc<rustls::ServerConfig>,
    backend: SocketAddr,
) -> io::Result<()> {
    let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let ended = pump(&mut tls, TcpStream::connect(backend)?);
    tls.conn.send_close_notify();
    let _ = tls.flush();
    ended
}

/// Copies plaintext both ways. A rustls connection cannot be shared by two
/// threads, so one thread takes turns reading either side, each with a
/// short timeout.
fn pump(
    tls: &mut rustls::StreamOwned<rustls::ServerConnection, TcpStream>,
    mut plain: TcpStream,
) -> io::Result<()> {
    let turn = Some(Duration::from_millis(5));
    tls.sock.set_read_timeout(turn)?;
    plain.set_read_timeout(turn)?;
    let mut buf = [0u8; 16 * 1024];
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(30) {
        if let Some(n) = received(tls.read(&mut buf))? {
            plain.write_all(&buf[..n])?;
            quiet_since = Instant::now();
        }
        if let Some(n) = received(plain.read(&mut buf))? {
            tls.write_all(&buf[..n])?;
            tls.flush()?;
            quiet_since = Instant::now();
        }
    }
    Ok(())
}

/// What one timed read got: `None` when it timed out, an error at the end
/// of the stream.
fn received(read: io::Result<usize>) -> io::Result<Option<usize>> {
    match read {
        Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
        Ok(n) => Ok(Some(n)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Parses `a=1&b=two+words&c=%2E`, decoding `+` and percent escapes.
pub(crate) fn parse_urlencoded(text: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        percent_encoding::percent_decode_str(&s)
            .decode_utf8_lossy()
            .into_owned()
    };
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Percent-encodes all but RFC 3986 unreserved characters.
pub(crate) fn percent_encode(text: &str) -> String {
    const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, ESCAPED).to_string()
}

pub(crate) fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

pub(crate) enum Body<'a> {
    Form(&'a [(&'a str, &'a str)]),
    Json(&'a serde_json::Value),
}

/// `POST url`, with a bearer token if given, by the product's HTTP client,
/// ignoring proxy settings (the fake is on loopback); returns the status
/// and the body text.
pub(crate) fn post(url: &str, bearer: Option<&str>, body: Body) -> Result<(u16, String), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into();
    let mut request = agent.post(url);
    if let Some(token) = bearer {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let answer = match body {
        Body::Form(fields) => request.send_form(fields.iter().copied()),
        Body::Json(value) => request.send_json(value),
    };
    let mut answer = answer.map_err(|e| e.to_string())?;
    let status = answer.status().as_u16();
    let text = answer
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    Ok((status, text))
}
