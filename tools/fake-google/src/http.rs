//! The HTTP side of the fake: a small HTTP/1.1 server (over plain TCP or
//! rustls, so the same endpoints can be served over HTTPS), a router, and
//! the request/response types the endpoint modules work with.
//!
//! Endpoints live in [`crate::endpoints`], one module per Google service, and
//! each contributes a list of [`Route`]s. Adding another service means
//! adding a module and one line in [`default_router`]; nothing here changes.
//! Handlers see a plain [`Request`], so they can be unit-tested without a
//! socket.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde::Serialize;

use crate::endpoints;
use crate::state::State;

/// Largest request body accepted. Bodies are tiny JSON or form documents;
/// anything bigger is a client bug worth surfacing as 413.
const MAX_BODY: usize = 1024 * 1024;
/// Longest request or header line.
const MAX_LINE: usize = 64 * 1024;
/// Most headers in one request.
const MAX_HEADERS: usize = 100;
/// How long a connection may sit idle (or a client take to send a request)
/// before it is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A request as handlers see it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Request {
    /// Upper-case method, e.g. `POST`.
    pub method: String,
    /// Path without the query string, not percent-decoded.
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Headers with lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// First value of a header (name matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::client::find_header(&self.headers, name)
    }

    /// The token of an `Authorization: Bearer <token>` header, if any (the
    /// scheme is matched case-insensitively).
    pub fn bearer_token(&self) -> Option<&str> {
        let value = self.header("authorization")?.trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    }

    /// Query parameters followed by body parameters. The body may be JSON
    /// (an object) or `application/x-www-form-urlencoded`: Google's endpoints
    /// accept both, and clients differ in which they send.
    pub fn params(&self) -> Result<Params, Response> {
        let mut all = self.query.clone();
        if !self.body.is_empty() {
            let content_type = self.header("content-type").unwrap_or("");
            let looks_json = content_type.contains("json")
                || self.body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
            if looks_json {
                all.extend(json_params(&self.body)?);
            } else {
                all.extend(parse_urlencoded(&String::from_utf8_lossy(&self.body)));
            }
        }
        Ok(Params(all))
    }
}

/// Flat name/value parameters; later values win, so the body overrides the
/// query string.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The first of several names that is present (e.g. `grant_type` or,
    /// in a JSON body, `grantType`).
    pub fn get_any(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| self.get(n))
    }

    /// A parsed parameter, `default` when absent, or a 400 answer naming it.
    pub fn parse_or<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, Response> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| {
                Response::invalid_request(&format!("parameter {name} has an invalid value"))
            }),
        }
    }

    /// A boolean parameter accepting `true/false/1/0/yes/no`.
    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, Response> {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes") => Ok(true),
            Some(v) if matches!(v.as_str(), "false" | "0" | "no") => Ok(false),
            Some(_) => Err(Response::invalid_request(&format!(
                "parameter {name} must be true or false"
            ))),
        }
    }
}

/// Turns a JSON object body into parameters. Numbers and booleans become
/// their text; arrays of strings are joined with spaces (the OAuth2 `scope`
/// convention).
fn json_params(body: &[u8]) -> Result<Vec<(String, String)>, Response> {
    let bad = || Response::invalid_request("body is not a JSON object");
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| bad())?;
    let object = value.as_object().ok_or_else(bad)?;
    let mut out = Vec::with_capacity(object.len());
    for (key, value) in object {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect::<Vec<_>>()
                .join(" "),
            serde_json::Value::Null => continue,
            other => other.to_string(),
        };
        out.push((key.clone(), text));
    }
    Ok(out)
}

/// An answer to send.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON answer. Serialising our own plain structs cannot fail; if it
    /// somehow did, the client gets a 500 rather than the server a panic.
    pub fn json<T: Serialize>(status: u16, value: &T) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response {
                status,
                content_type: "application/json; charset=utf-8",
                headers: Vec::new(),
                body,
            },
            Err(e) => Response::error(500, "internal", &e.to_string()),
        }
    }

    /// Google's OAuth2 error shape: `{"error": ..., "error_description": ...}`.
    pub fn error(status: u16, error: &str, description: &str) -> Response {
        let body = serde_json::json!({ "error": error, "error_description": description });
        Response {
            status,
            content_type: "application/json; charset=utf-8",
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }

    /// `400 invalid_request`, the OAuth2 refusal of a malformed request.
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

    /// A plain-text (or other non-JSON) answer.
    pub fn text(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
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

/// Which paths a route serves.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PathMatch {
    /// Exactly this path.
    Exact(&'static str),
    /// This path and everything below it; for endpoints with parameters in
    /// the path, such as
    /// `/v1/projects/-/serviceAccounts/{email}:generateAccessToken`.
    Prefix(&'static str),
    /// Paths this function accepts, for patterns a prefix cannot express
    /// (`/computeMetadata/v1/instance/service-accounts/{account}/token`).
    Matches(fn(&str) -> bool),
}

impl PathMatch {
    fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Exact(p) => path == *p,
            PathMatch::Prefix(p) => path.starts_with(p),
            PathMatch::Matches(f) => f(path),
        }
    }
}

/// One endpoint.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Route {
    /// Name under which hits are counted (and reported by `/stats`).
    pub name: &'static str,
    pub method: &'static str,
    pub path: PathMatch,
    /// Whether injected failures and delays apply. True for the emulated
    /// Google endpoints, false for the fake's own control endpoints so tests
    /// can still observe it while it is misbehaving.
    pub faultable: bool,
    /// Headers added to every answer on this route, injected failures
    /// included (the metadata server's `Metadata-Flavor: Google`).
    pub headers: &'static [(&'static str, &'static str)],
    pub handler: Handler,
}

impl Route {
    /// An emulated Google endpoint: injected faults apply, no extra headers.
    pub const fn new(
        name: &'static str,
        method: &'static str,
        path: PathMatch,
        handler: Handler,
    ) -> Route {
        Route {
            name,
            method,
            path,
            faultable: true,
            headers: &[],
            handler,
        }
    }

    /// Exempts the route from injected faults (the fake's own control
    /// endpoints).
    pub const fn control(mut self) -> Route {
        self.faultable = false;
        self
    }

    /// Adds `headers` to every answer on the route.
    pub const fn with_headers(mut self, headers: &'static [(&'static str, &'static str)]) -> Route {
        self.headers = headers;
        self
    }
}

/// Dispatches requests to the first matching route.
#[derive(Debug, Default)]
pub(crate) struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub fn add(&mut self, routes: impl IntoIterator<Item = Route>) {
        self.routes.extend(routes);
    }

    pub fn dispatch(&self, state: &State, request: &Request) -> Response {
        let on_path: Vec<&Route> = self
            .routes
            .iter()
            .filter(|r| r.path.matches(&request.path))
            .collect();
        if on_path.is_empty() {
            return Response::error(404, "not_found", "no such endpoint in fake-google");
        }
        let Some(route) = on_path.iter().find(|r| r.method == request.method) else {
            let mut allow: Vec<&str> = Vec::new();
            for route in &on_path {
                if !allow.contains(&route.method) {
                    allow.push(route.method);
                }
            }
            return Response::error(405, "method_not_allowed", "method not allowed")
                .with_header("Allow", &allow.join(", "));
        };
        state.record_hit(route.name);
        let mut response = Self::answer(route, state, request);
        for (name, value) in route.headers {
            response = response.with_header(name, value);
        }
        response
    }

    fn answer(route: &Route, state: &State, request: &Request) -> Response {
        if route.faultable {
            let delay = state.delay();
            if !delay.is_zero() {
                thread::sleep(delay);
            }
            if let Some(status) = state.take_failure() {
                return Response::error(status, "backend_error", "injected failure");
            }
        }
        (route.handler)(state, request).unwrap_or_else(|refusal| refusal)
    }
}

/// All endpoints the fake serves.
pub(crate) fn default_router() -> Router {
    let mut router = Router::default();
    router.add(endpoints::mint::routes());
    router.add(endpoints::tokeninfo::routes());
    router.add(endpoints::stats::routes());
    router.add(endpoints::oauth2::routes());
    router.add(endpoints::metadata::routes());
    router.add(endpoints::iam::routes());
    router.add(endpoints::sts::routes());
    router.add(endpoints::gcloud::routes());
    router.add(endpoints::alloydb::routes());
    router.add(endpoints::cloudsql::routes());
    router.add(crate::instances::list_routes());
    router.add(endpoints::aws_metadata::routes());
    router
}

/// The running HTTP (or HTTPS) server. Dropping it stops the accept loop;
/// requests already being answered finish on their own threads, and
/// kept-alive connections are closed before their next request.
pub(crate) struct HttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Serves `router` on 127.0.0.1, over TLS when `tls` is given.
    pub fn start(
        state: Arc<State>,
        router: Arc<Router>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<HttpServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            thread::Builder::new()
                .name("fake-google-http".into())
                .spawn(move || accept_loop(&listener, &stop, &state, &router, tls.as_ref()))?
        };
        Ok(HttpServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocked accept; it sees the flag and returns. Should the
        // wake-up fail, the thread is left behind rather than waited for
        // forever.
        let woken = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if let Some(thread) = self.thread.take().filter(|_| woken) {
            let _ = thread.join();
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    stop: &Arc<AtomicBool>,
    state: &Arc<State>,
    router: &Arc<Router>,
    tls: Option<&Arc<rustls::ServerConfig>>,
) {
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((stream, _)) => {
                // One thread per connection so an injected delay on one
                // request does not hold up the others (e.g. a `/stats` poll).
                let state = Arc::clone(state);
                let router = Arc::clone(router);
                let stop = Arc::clone(stop);
                let tls = tls.cloned();
                let spawned = thread::Builder::new()
                    .name("fake-google-http-conn".into())
                    .spawn(move || serve_connection(stream, tls, &stop, &state, &router));
                if let Err(e) = spawned {
                    eprintln!("fake-google: cannot spawn HTTP handler thread: {e}");
                }
            }
            // Accept errors (e.g. a client resetting mid-handshake) are not
            // fatal; back off briefly so a persistent one cannot spin.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn serve_connection(
    tcp: TcpStream,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: &AtomicBool,
    state: &State,
    router: &Router,
) {
    // A silent client must not pin a thread forever.
    if tcp.set_read_timeout(Some(IDLE_TIMEOUT)).is_err() {
        return;
    }
    let _ = tcp.set_nodelay(true);
    match tls {
        Some(config) => match rustls::ServerConnection::new(config) {
            Ok(conn) => {
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                serve_stream(&mut tls, stop, state, router);
                // A TLS peer expects to be told the end is deliberate.
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
            Err(e) => eprintln!("fake-google: TLS setup failed: {e}"),
        },
        None => serve_stream(&mut { tcp }, stop, state, router),
    }
}

/// Answers requests on one connection until the client closes it, asks to
/// close it, sends something unparseable, or the server stops.
fn serve_stream<S: Read + Write>(
    stream: &mut S,
    stop: &AtomicBool,
    state: &State,
    router: &Router,
) {
    let mut reader = BufReader::new(stream);
    loop {
        let (response, keep_alive) = match read_request(&mut reader) {
            Ok(None) => return,
            Ok(Some(_)) if stop.load(Ordering::SeqCst) => return,
            Ok(Some((request, keep_alive))) => (router.dispatch(state, &request), keep_alive),
            Err(ReadError::Io) => return,
            Err(ReadError::Answer(response)) => (response, false),
        };
        // The client may have gone away (e.g. after its own timeout);
        // nothing useful can be done about that here.
        if write_response(reader.get_mut(), response, keep_alive).is_err() || !keep_alive {
            return;
        }
    }
}

/// Why no request could be read.
enum ReadError {
    /// The connection failed or timed out: just close it.
    Io,
    /// The request was malformed: send this, then close.
    Answer(Response),
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        ReadError::Io
    }
}

fn bad_request(why: &str) -> ReadError {
    ReadError::Answer(Response::invalid_request(why))
}

/// One line without its CRLF (or LF), at most [`MAX_LINE`] bytes; `None`
/// at end of stream.
fn read_line<R: BufRead>(reader: &mut R) -> Result<Option<String>, ReadError> {
    let mut line = Vec::new();
    let n = reader
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(bad_request("header line too long or truncated"));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| bad_request("header is not UTF-8"))
}

/// Reads one request and whether the connection may be kept open after
/// it; `None` when the client closed the connection between requests.
fn read_request<S: Read + Write>(
    reader: &mut BufReader<S>,
) -> Result<Option<(Request, bool)>, ReadError> {
    // Stray empty lines before a request are allowed (RFC 9112 2.2).
    let start = loop {
        match read_line(reader)? {
            None => return Ok(None),
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let mut parts = start.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad_request("malformed request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(bad_request("only HTTP/1.x is spoken here"));
    }
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?.ok_or(ReadError::Io)?;
        if line.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(bad_request("too many headers"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad_request("malformed header"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let header = |name: &str| crate::client::find_header(&headers, name);
    let connection = header("connection").unwrap_or("").to_ascii_lowercase();
    let keep_alive = if version == "HTTP/1.0" {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    if header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        reader
            .get_mut()
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        reader.get_mut().flush()?;
    }
    let chunked =
        header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        read_chunked(reader)?
    } else {
        let length = match header("content-length") {
            None => 0,
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| bad_request("bad Content-Length"))?,
        };
        if length > MAX_BODY {
            return Err(too_large());
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    };
    // Absolute-form targets (`http://host/path`) are reduced to the path;
    // an origin-form one may carry `://` in its query.
    let target = match target.split_once("://") {
        Some((_, rest)) if !target.starts_with('/') => match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('?') => format!("/{}", &rest[i..]),
            Some(i) => rest[i..].to_owned(),
            None => "/".to_owned(),
        },
        _ => target.to_owned(),
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), parse_urlencoded(q)),
        None => (target, Vec::new()),
    };
    let request = Request {
        method: method.to_ascii_uppercase(),
        path,
        query,
        headers,
        body,
    };
    Ok(Some((request, keep_alive)))
}

fn too_large() -> ReadError {
    ReadError::Answer(Response::error(
        413,
        "invalid_request",
        "request body too large",
    ))
}

/// A `Transfer-Encoding: chunked` body (trailers are read and dropped).
fn read_chunked<S: Read + Write>(reader: &mut BufReader<S>) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?.ok_or(ReadError::Io)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| bad_request("bad chunk size"))?;
        if size == 0 {
            while !read_line(reader)?.ok_or(ReadError::Io)?.is_empty() {}
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(too_large());
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        if !read_line(reader)?.ok_or(ReadError::Io)?.is_empty() {
            return Err(bad_request("chunk longer than its size"));
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn write_response<W: Write>(out: &mut W, response: Response, keep_alive: bool) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    // Header values are the fake's own, but a line break in one would
    // corrupt the answer, so such a header is dropped.
    for (name, value) in &response.headers {
        if !name.contains(['\r', '\n', ':']) && !value.contains(['\r', '\n']) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    if !keep_alive {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.write_all(&response.body)?;
    out.flush()
}

/// Parses `a=1&b=two+words&c=%2E`, decoding `+` and percent escapes.
pub(crate) fn parse_urlencoded(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded() {
        assert_eq!(
            parse_urlencoded("a=1&b=two+words&c=%2E%2e&d&e=%zz&f=%4"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "two words".into()),
                ("c".into(), "..".into()),
                ("d".into(), "".into()),
                ("e".into(), "%zz".into()),
                ("f".into(), "%4".into()),
            ]
        );
    }

    #[test]
    fn json_body_params() {
        let req = Request {
            method: "POST".into(),
            body: br#"{"principal":"a@b.c","lifetime_secs":5,"scope":["x","y"],"n":null}"#.to_vec(),
            ..Request::default()
        };
        let p = req.params().map_err(|r| r.status).unwrap();
        assert_eq!(p.get("principal"), Some("a@b.c"));
        assert_eq!(p.get("lifetime_secs"), Some("5"));
        assert_eq!(p.get("scope"), Some("x y"));
        assert_eq!(p.get("n"), None);
    }

    /// Reads one request from `raw`.
    fn parse(raw: &str) -> Option<(Request, bool)> {
        let mut reader = BufReader::new(std::io::Cursor::new(raw.as_bytes().to_vec()));
        read_request(&mut reader).ok().flatten()
    }

    #[test]
    fn request_targets() {
        let (r, keep) =
            parse("GET /a/token?scopes=https://x.test/s,b HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        assert_eq!(r.path, "/a/token");
        assert_eq!(
            r.query,
            [("scopes".to_owned(), "https://x.test/s,b".to_owned())]
        );
        assert!(keep);
        let (r, _) = parse("GET http://h:1/p/q?x=1 HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!((r.path.as_str(), r.query.len()), ("/p/q", 1));
        let (r, _) = parse("GET http://h:1?x=1 HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!((r.path.as_str(), r.query.len()), ("/", 1));
        let (_, keep) = parse("GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(!keep);
        let (r, keep) = parse(
            "POST /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.body.as_slice(), keep), (&b"abcde"[..], false));
        assert!(parse("GARBAGE\r\n\r\n").is_none());
    }

    #[test]
    fn route_names_are_documented() {
        let mut names: Vec<&str> = default_router().routes.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        let mut documented = crate::ROUTE_NAMES.to_vec();
        documented.sort_unstable();
        assert_eq!(names, documented);
    }

    #[test]
    fn router_statuses() {
        let state = State::default();
        let router = default_router();
        let get = |path: &str, method: &str| Request {
            method: method.into(),
            path: path.into(),
            ..Request::default()
        };
        assert_eq!(router.dispatch(&state, &get("/nope", "GET")).status, 404);
        let r = router.dispatch(&state, &get("/mint", "GET"));
        assert_eq!(r.status, 405);
        assert!(r.headers.iter().any(|(k, v)| k == "Allow" && v == "POST"));
        assert_eq!(router.dispatch(&state, &get("/stats", "GET")).status, 200);
    }
}
