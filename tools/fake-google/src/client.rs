//! A deliberately tiny HTTP/1.1 client over `std::net::TcpStream`.
//!
//! It exists so the `fake-google mint` command and the tests can talk to the
//! fake without pulling an HTTP client stack into a test-support crate. It
//! speaks plain `http://` only, sends `Connection: close` and reads the
//! answer to end of stream, which is all a loopback fake needs.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Largest answer accepted.
const MAX_RESPONSE: u64 = 16 * 1024 * 1024;

/// A received HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Headers in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body, de-chunked.
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> io::Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// First value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// First value of header `name` (any case) in `headers`, whose names are
/// already lower-cased; shared by answers here and requests the fake serves.
pub(crate) fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `GET url`.
pub fn get(url: &str, timeout: Duration) -> io::Result<HttpAnswer> {
    request("GET", url, None, timeout)
}

/// `POST url` with a JSON body.
pub fn post_json(url: &str, body: &serde_json::Value, timeout: Duration) -> io::Result<HttpAnswer> {
    let body = body.to_string();
    request(
        "POST",
        url,
        Some(("application/json", body.as_bytes())),
        timeout,
    )
}

/// `POST url` with an `application/x-www-form-urlencoded` body.
pub fn post_form(url: &str, fields: &[(&str, &str)], timeout: Duration) -> io::Result<HttpAnswer> {
    let body = form_encode(fields);
    request(
        "POST",
        url,
        Some(("application/x-www-form-urlencoded", body.as_bytes())),
        timeout,
    )
}

/// Encodes `a=1&b=x%40y` with everything but unreserved characters escaped.
pub fn form_encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes all but RFC 3986 unreserved characters.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sends one request. `timeout` bounds connecting and each read and write;
/// exceeding it is an error of kind `TimedOut` or `WouldBlock`.
pub fn request(
    method: &str,
    url: &str,
    body: Option<(&str, &[u8])>,
    timeout: Duration,
) -> io::Result<HttpAnswer> {
    request_with_headers(method, url, &[], body, timeout)
}

/// [`request`] with extra headers, e.g. `("Metadata-Flavor", "Google")` or
/// `("Authorization", "Bearer ...")`. Names or values containing CR or LF
/// are refused.
pub fn request_with_headers(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
    timeout: Duration,
) -> io::Result<HttpAnswer> {
    let target = Target::parse(url)?;
    if headers
        .iter()
        .any(|(k, v)| k.contains(['\r', '\n', ':']) || v.contains(['\r', '\n']))
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "header names and values must be single lines",
        ));
    }
    let mut stream = connect(&target, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;

    let mut head = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json\r\nUser-Agent: fake-google\r\n",
        target.path, target.host_header
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    match body {
        Some((content_type, bytes)) => {
            head.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                bytes.len()
            ));
        }
        None if method == "POST" || method == "PUT" => head.push_str("Content-Length: 0\r\n"),
        None => {}
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if let Some((_, bytes)) = body {
        stream.write_all(bytes)?;
    }
    stream.flush()?;

    let mut raw = Vec::new();
    stream.take(MAX_RESPONSE).read_to_end(&mut raw)?;
    parse_response(&raw)
}

/// Where a URL points.
struct Target {
    host: String,
    port: u16,
    host_header: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> io::Result<Target> {
        let bad = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad URL {url:?}: {why}"),
            )
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// is supported"))?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad("bad port"))?,
                None if after.is_empty() => 80,
                None => return Err(bad("junk after ]")),
            };
            (host.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad("bad port"))?),
                None => (authority.to_owned(), 80),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Target {
            host,
            port,
            host_header: authority.to_owned(),
            path,
        })
    }
}

fn connect(target: &Target, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in (target.host.as_str(), target.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} resolves to nothing", target.host),
        )
    }))
}

fn parse_response(raw: &[u8]) -> io::Result<HttpAnswer> {
    let bad = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad HTTP response: {why}"),
        )
    };
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status code"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let header = |name: &str| find_header(&headers, name);
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body).ok_or_else(|| bad("malformed chunked body"))?;
    } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        if body.len() < len {
            return Err(bad("body shorter than Content-Length"));
        }
        body.truncate(len);
    }
    Ok(HttpAnswer {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 8080, "/")
        );
        let t = Target::parse("http://[::1]:9/a/b?c=d").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("::1", 9, "/a/b?c=d")
        );
        let t = Target::parse("http://localhost?x").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/?x"));
        assert!(Target::parse("https://x").is_err());
        assert!(Target::parse("http://:80").is_err());
    }

    #[test]
    fn responses() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX: y\r\n\r\nhi!").unwrap();
        assert_eq!(
            (r.status, r.body.as_slice(), r.header("x")),
            (200, &b"hi"[..], Some("y"))
        );
        let r = parse_response(b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x\r\nde\r\n0\r\n\r\n")
            .unwrap();
        assert_eq!((r.status, r.text().as_str()), (500, "abcde"));
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn encoding() {
        assert_eq!(form_encode(&[("a b", "x@y.z/~")]), "a%20b=x%40y.z%2F~");
    }
}
