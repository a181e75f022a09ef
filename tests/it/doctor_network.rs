//! `doctor` speaks PostgreSQL's first message: an open port is not enough. Loopback
//! listeners that are not PostgreSQL (one closes at once, one answers as a web server),
//! the test PostgreSQL without TLS, and one with TLS whose certificate is checked against
//! the right CA file and a wrong one, one whose self-signed certificate is its own CA
//! file, and a TLS server that answers a byte at a time.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;

use crate::common::*;
use crate::doctor_case::*;
use fake_google::tls::TestCa;

const ROBOT: &str = "robot@proj.iam.gserviceaccount.com";
const ROBOT_USER: &str = "robot@proj.iam";

/// A loopback port where every connection is accepted and handled by `answer`.
fn listener(answer: fn(std::net::TcpStream)) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            answer(stream);
        }
    });
    port
}

/// Accepts TCP and closes it, as a proxy with nothing behind it does.
fn closes(stream: std::net::TcpStream) {
    drop(stream);
}

/// Answers whatever it is sent as an HTTP server answers a request it cannot parse.
fn web_server(mut stream: std::net::TcpStream) {
    let mut request = [0u8; 8];
    let _ = stream.read(&mut request);
    let _ = stream
        .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
}

/// Something that accepts TCP but is not PostgreSQL is a problem, named as such; the
/// test PostgreSQL (no TLS) answers, and a service that requires TLS of it is told it
/// would be refused. Run in the shared world of the doctor tests.
pub fn not_postgresql(w: &World) {
    let c = Case::new(w);
    let (closed, web) = (listener(closes), listener(web_server));
    c.config(
        &c.command(ROBOT, &[]),
        &format!(
            "\n[services.closes]\nhost = \"127.0.0.1\"\nport = {closed}\n\n[services.web]\nhost = \"127.0.0.1\"\nport = {web}\n\n[services.needs_tls]\nhost = \"127.0.0.1\"\nport = {}\nsslmode = \"require\"\n",
            w.pg.port()
        ),
    );
    c.refresh(&[]);
    let report = c.diagnose(&["--connect"], &[], 3);
    for service in ["closes", "web"] {
        report.expect(
            service,
            "network.tcp",
            "ok",
            &["accepts TCP connections"],
            &[],
        );
        report.expect(
            service,
            "network.postgres",
            "problem",
            &["accepts TCP connections but does not answer as PostgreSQL"],
            &[&format!("`host` and `port` in [services.{service}] of")],
        );
        report.expect(service, "login", "warning", &["not tried"], &[]);
    }
    report.expect(
        "closes",
        "network.postgres",
        "problem",
        &["closed the connection without answering"],
        &[],
    );
    report.expect(
        "web",
        "network.postgres",
        "problem",
        &["it answered \"HTTP/1.1 400 Bad Request\""],
        &[],
    );
    report.expect(
        "db",
        "network.postgres",
        "ok",
        &["a PostgreSQL server answers", "without TLS"],
        &[],
    );
    report.expect(
        "needs_tls",
        "network.postgres",
        "problem",
        &["without TLS", "sslmode=require"],
        &["[services.needs_tls]"],
    );
    // db's login is the one; none is spent where no PostgreSQL answers, and libpq
    // refuses the plaintext server for needs_tls before it signs in.
    assert_eq!(binds_for(w, ROBOT_USER), 1, "db's login only");
}

/// `verify-ca` and `verify-full` complete the TLS handshake against the CA file the
/// service names: the right CA passes (with the host name for verify-full), another
/// CA is refused as libpq would refuse it, and `require` only needs the offer.
#[test]
fn doctor_checks_the_servers_certificate_against_the_ca_file() {
    let google = fake_google::FakeGoogle::start().expect("fake google");
    let ca = TestCa::new("server CA").expect("CA");
    let other = TestCa::new("another CA").expect("CA");
    let cert = ca.issue(&["127.0.0.1", "localhost", "::1"]).expect("cert");
    let pg = fake_google::pg::PgServer::start_with_tls(google.ldap_port(), &[ROBOT_USER], &cert)
        .expect("postgres");
    let w = World {
        google,
        pg,
        env: Env::new(),
    };
    let c = Case::new(&w);
    let table = |name: &str, mode: &str, ca: &TestCa| {
        format!(
            "\n[services.{name}]\nhost = \"127.0.0.1\"\nport = {}\nsslmode = \"{mode}\"\nsslrootcert = {}\n",
            w.pg.port(),
            toml_path(ca.cert_path())
        )
    };
    c.config(
        &c.command(ROBOT, &[]),
        &format!(
            "sslmode = \"require\"\n{}{}{}",
            table("right_ca", "verify-ca", &ca),
            table("full", "verify-full", &ca),
            table("wrong_ca", "verify-ca", &other)
        ),
    );
    let report = c.diagnose(&[], &[], 3);
    report.expect("db", "network.postgres", "ok", &["offers TLS"], &[]);
    let db = report.0["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "db"));
    assert!(
        db.and_then(|s| s["checks"].as_array())
            .is_some_and(|checks| checks.iter().all(|c| c["name"] != "network.tls")),
        "sslmode=require does not verify: {:#}",
        report.0
    );
    let ca_file = ca.cert_path().display().to_string();
    report.expect(
        "right_ca",
        "network.tls",
        "ok",
        &["handshake completes", &ca_file],
        &[],
    );
    report.expect(
        "full",
        "network.tls",
        "ok",
        &["handshake completes", "issued for 127.0.0.1"],
        &[],
    );
    report.expect(
        "wrong_ca",
        "network.tls",
        "problem",
        &[
            &other.cert_path().display().to_string(),
            "not signed by a CA in that file",
        ],
        &["`sslrootcert` in [services.wrong_ca]"],
    );
    assert_eq!(binds_for(&w, ROBOT_USER), 0, "no login was attempted");
}

/// A self-signed server certificate that is its own `sslrootcert` (CA:TRUE, as `openssl
/// req -x509` makes it): libpq trusts it, so doctor must too, for `verify-ca` and, when
/// the name matches, `verify-full`.
#[test]
fn doctor_trusts_a_self_signed_certificate_that_is_its_own_ca_file() {
    let google = fake_google::FakeGoogle::start().expect("fake google");
    let cert = fake_google::tls::self_signed(&["localhost"]).expect("cert");
    let pg = fake_google::pg::PgServer::start_with_tls(google.ldap_port(), &[ROBOT_USER], &cert)
        .expect("postgres");
    let w = World {
        google,
        pg,
        env: Env::new(),
    };
    let ca_file = w.env.dir.path().join("server.crt");
    std::fs::write(&ca_file, cert.cert_pem()).expect("write the CA file");
    let c = Case::new(&w);
    let table = |name: &str, host: &str, mode: &str| {
        format!(
            "\n[services.{name}]\nhost = \"{host}\"\nport = {}\nsslmode = \"{mode}\"\nsslrootcert = {}\n",
            w.pg.port(),
            toml_path(&ca_file)
        )
    };
    c.config(
        &c.command(ROBOT, &[]),
        &format!(
            "sslmode = \"require\"\n{}{}{}",
            table("by_ca", "127.0.0.1", "verify-ca"),
            table("by_name", "localhost", "verify-full"),
            table("wrong_name", "127.0.0.1", "verify-full")
        ),
    );
    let report = c.diagnose(&[], &[], 3);
    report.expect("by_ca", "network.tls", "ok", &["handshake completes"], &[]);
    report.expect(
        "by_name",
        "network.tls",
        "ok",
        &["handshake completes"],
        &[],
    );
    report.expect(
        "wrong_name",
        "network.tls",
        "problem",
        &["not issued for 127.0.0.1"],
        &[],
    );
}

/// Answers the SSLRequest with `S`, then sends the start of a TLS record one byte every
/// two seconds: each read is within the answer timeout, the handshake never ends.
fn trickles(mut stream: std::net::TcpStream) {
    let mut request = [0u8; 8];
    let _ = stream.read(&mut request);
    let _ = stream.write_all(b"S");
    for byte in [0x16u8, 0x03, 0x03, 0x40, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00] {
        std::thread::sleep(std::time::Duration::from_secs(2));
        if stream.write_all(&[byte]).is_err() {
            return;
        }
    }
}

/// A server that keeps the handshake going a byte at a time is given up on at the
/// handshake's deadline, named as such, instead of holding doctor (and `add`) for ever.
#[test]
fn doctor_gives_up_on_a_handshake_that_trickles() {
    let google = fake_google::FakeGoogle::start().expect("fake google");
    let pg = fake_google::pg::PgServer::start(google.ldap_port(), &[ROBOT_USER]).expect("pg");
    let w = World {
        google,
        pg,
        env: Env::new(),
    };
    let ca = TestCa::new("some CA").expect("CA");
    let port = listener(trickles);
    let c = Case::new(&w);
    c.config(
        &c.command(ROBOT, &[]),
        &format!(
            "\n[services.slow]\nhost = \"127.0.0.1\"\nport = {port}\nsslmode = \"verify-full\"\nsslrootcert = {}\n",
            toml_path(ca.cert_path())
        ),
    );
    // Without the deadline each read would be answered in time and the handshake would
    // end only when the server gives up (20 s), with another error.
    let report = c.diagnose(&["--service", "slow"], &[], 3);
    report.expect(
        "slow",
        "network.tls",
        "problem",
        &["did not finish in time"],
        &[],
    );
}
