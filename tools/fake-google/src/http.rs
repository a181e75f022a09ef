//! The HTTP side of the fake: a tiny_http server, a small router, and the
//! request/response types the endpoint modules work with.
//!
//! Endpoints live in [`crate::endpoints`], one module per Google service, and
//! each contributes a list of [`Route`]s. Adding another service means
//! adding a module and one line in [`default_router`]; nothing here changes.
//! Handlers see a plain [`Request`] rather than tiny_http's type so they can
//! be unit-tested without a socket and the server library could be swapped.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};

use serde::Serialize;

use crate::endpoints;
use crate::state::State;

/// Largest request body accepted. Bodies are tiny JSON or form documents;
/// anything bigger is a client bug worth surfacing as 413.
const MAX_BODY: usize = 1024 * 1024;

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
    router
}

/// The running HTTP server. Dropping it stops the accept loop; requests
/// already being answered finish on their own threads.
pub(crate) struct HttpServer {
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    pub fn start(state: Arc<State>) -> std::io::Result<HttpServer> {
        let server = tiny_http::Server::http("127.0.0.1:0").map_err(std::io::Error::other)?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("HTTP server is not on an IP socket"))?;
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let router = Arc::new(default_router());
        let thread = {
            let server = Arc::clone(&server);
            let stop = Arc::clone(&stop);
            thread::Builder::new()
                .name("fake-google-http".into())
                .spawn(move || accept_loop(&server, &stop, &state, &router))?
        };
        Ok(HttpServer {
            server,
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
        // `unblock` queues a wake-up, so it works even if the loop is not
        // blocked right now; joining therefore cannot hang.
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(
    server: &tiny_http::Server,
    stop: &AtomicBool,
    state: &Arc<State>,
    router: &Arc<Router>,
) {
    loop {
        match server.recv() {
            Ok(request) => {
                // One thread per request so an injected delay on one request
                // does not hold up the others (e.g. a `/stats` poll).
                let state = Arc::clone(state);
                let router = Arc::clone(router);
                let spawned = thread::Builder::new()
                    .name("fake-google-http-req".into())
                    .spawn(move || serve_one(request, &state, &router));
                if let Err(e) = spawned {
                    eprintln!("fake-google: cannot spawn HTTP handler thread: {e}");
                }
            }
            Err(_) if stop.load(Ordering::SeqCst) => return,
            // Accept errors (e.g. a client resetting mid-handshake) are not
            // fatal; back off briefly so a persistent one cannot spin.
            Err(_) => thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
}

fn serve_one(mut raw: tiny_http::Request, state: &State, router: &Router) {
    let response = match to_request(&mut raw) {
        Ok(request) => router.dispatch(state, &request),
        Err(response) => response,
    };
    let mut out = tiny_http::Response::from_data(response.body).with_status_code(response.status);
    let headers = std::iter::once(("Content-Type".to_owned(), response.content_type.to_owned()))
        .chain(response.headers);
    for (name, value) in headers {
        if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            out.add_header(header);
        }
    }
    // The client may have gone away (e.g. after its own timeout); nothing
    // useful can be done about that here.
    let _ = raw.respond(out);
}

fn to_request(raw: &mut tiny_http::Request) -> Result<Request, Response> {
    let url = raw.url().to_owned();
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p.to_owned(), parse_urlencoded(q)),
        None => (url, Vec::new()),
    };
    let headers = raw
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    raw.as_reader()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| Response::invalid_request(&format!("cannot read body: {e}")))?;
    if body.len() > MAX_BODY {
        return Err(Response::error(
            413,
            "invalid_request",
            "request body too large",
        ));
    }
    Ok(Request {
        method: raw.method().as_str().to_ascii_uppercase(),
        path,
        query,
        headers,
        body,
    })
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
