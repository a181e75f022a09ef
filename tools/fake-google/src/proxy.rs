//! A stand-in for a corporate HTTP proxy: [`ConnectProxy`] answers `CONNECT
//! host:port` by opening a tunnel to `127.0.0.1:port`, whatever the host, so a
//! client told to use it (`HTTPS_PROXY=http://127.0.0.1:<port>`) reaches the
//! fake's HTTPS server under a name that resolves nowhere else, such as
//! [`crate::TLS_TEST_NAME`]. It records every request line it is sent, so a
//! test can tell which requests went through it and which did not.
//!
//! Anything but `CONNECT` is recorded and refused with 405; the proxy never
//! relays plain HTTP requests.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::http::Acceptor;
use crate::state::lock;

/// Longest request head read before the proxy gives up on a client.
const MAX_HEAD: usize = 8 * 1024;

/// The running proxy. Dropping it stops accepting; tunnels already open
/// run until either side closes.
pub struct ConnectProxy {
    acceptor: Acceptor,
    requests: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    /// Listens on 127.0.0.1 on an ephemeral port.
    pub fn start() -> io::Result<ConnectProxy> {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        let acceptor = Acceptor::start(move |client| {
            if let Err(e) = serve(client, &log) {
                eprintln!("fake-google proxy: {e}");
            }
        })?;
        Ok(ConnectProxy { acceptor, requests })
    }

    /// The value for `HTTPS_PROXY`: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.acceptor.addr)
    }

    /// Every request line received so far, in order, without the HTTP version:
    /// `CONNECT oauth2.test.invalid:443`.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.requests).clone()
    }
}

/// Reads one request head, records its request line, and tunnels a CONNECT.
fn serve(mut client: TcpStream, requests: &Mutex<Vec<String>>) -> io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let head = read_head(&mut client)?;
    let line = head.lines().next().unwrap_or_default();
    let mut words = line.split(' ');
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    lock(requests).push(format!("{method} {target}"));
    let port = target
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok());
    let Some(port) = port.filter(|_| method == "CONNECT") else {
        return client.write_all(
            b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
    };
    let upstream = match TcpStream::connect(("127.0.0.1", port)) {
        Ok(upstream) => upstream,
        Err(e) => {
            client.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")?;
            return Err(e);
        }
    };
    client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    // The tunnel carries whatever it is sent, for as long as both ends want.
    client.set_read_timeout(None)?;
    let (client_in, upstream_out) = (client.try_clone()?, upstream.try_clone()?);
    let up = thread::Builder::new()
        .name("fake-google-proxy-up".into())
        .spawn(move || pipe(client_in, upstream_out))?;
    pipe(upstream, client);
    let _ = up.join();
    Ok(())
}

/// The request head, up to and including the blank line, read byte by byte so
/// that nothing the client sends after it is taken from the tunnel.
fn read_head(client: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD || client.read(&mut byte)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "no complete request head",
            ));
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// Copies `from` to `to` until `from` ends, then ends `to`'s writing side.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}
