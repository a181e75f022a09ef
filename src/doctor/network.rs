//! The network: the host resolves, the port accepts a TCP connection, a PostgreSQL
//! server answers there ([`wire::ssl_request`]) and, where the service verifies the
//! server, its certificate passes against the CA file libpq reads ([`super::tls::handshake`]).
//! No startup message is sent, so no login is attempted and no sign-in quota is spent.

use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use super::tls::{Deadline, HANDSHAKE_DEADLINE};
use super::wire::{self, ANSWER_TIMEOUT, Answer, Tls};
use super::{Check, service_table};
use crate::config::{Config, Service};
use crate::refresh::Target;

/// How long a name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long each address may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Addresses tried per host, at most.
const MAX_ADDRESSES: usize = 4;

/// What the network said about one host, port and TLS setting. Asked once per run for
/// all the services that connect there alike; the checks, whose fixes name one service's
/// table, are built from it for each service ([`Reach::checks`]).
pub struct Reach {
    host: String,
    tls: Tls,
    outcome: Outcome,
}

enum Outcome {
    /// libpq takes a host starting with `/` for a Unix-domain socket directory.
    Socket {
        path: PathBuf,
        /// What the socket said to the SSLRequest; `None` when it does not exist.
        answer: Option<Answer>,
    },
    Unresolved(String),
    Resolved {
        addresses: Vec<SocketAddr>,
        /// The address that accepted a connection and what it answered, or why each
        /// address did not accept one.
        tcp: Result<Server, Vec<(SocketAddr, std::io::Error)>>,
    },
}

/// The address that accepted, what it answered, and the handshake (when verified).
struct Server {
    address: SocketAddr,
    answer: Answer,
    /// `Some` when the service verifies the server and it offered TLS.
    handshake: Option<Result<PathBuf, (Option<PathBuf>, String)>>,
}

impl Reach {
    /// Resolves `host`, connects to `port`, sends the SSLRequest and, for `verify-ca` and
    /// `verify-full`, completes the TLS handshake; then closes the connection.
    pub fn probe(host: &str, port: u16, tls: &Tls) -> Reach {
        let outcome = if host.starts_with('/') {
            let path = std::path::Path::new(host).join(format!(".s.PGSQL.{port}"));
            let answer = UnixStream::connect(&path).ok().map(|mut s| {
                let _ = s.set_read_timeout(Some(ANSWER_TIMEOUT));
                let _ = s.set_write_timeout(Some(ANSWER_TIMEOUT));
                wire::ssl_request(&mut s)
            });
            Outcome::Socket { path, answer }
        } else {
            match resolve(host, port) {
                Ok(addresses) => {
                    let tcp = connect(&addresses).map(|(address, mut stream)| {
                        let _ = stream.set_read_timeout(Some(ANSWER_TIMEOUT));
                        let _ = stream.set_write_timeout(Some(ANSWER_TIMEOUT));
                        let answer = wire::ssl_request(&mut stream);
                        let handshake = match (&answer, tls.verify()) {
                            (Answer::Tls, Some(verify)) => {
                                let mut bounded = Deadline::new(&mut stream, HANDSHAKE_DEADLINE);
                                Some(wire::verified(&mut bounded, host, tls, verify))
                            }
                            _ => None,
                        };
                        Server {
                            address,
                            answer,
                            handshake,
                        }
                    });
                    Outcome::Resolved { addresses, tcp }
                }
                Err(why) => Outcome::Unresolved(why),
            }
        };
        Reach {
            host: host.to_string(),
            tls: tls.clone(),
            outcome,
        }
    }

    /// Whether a PostgreSQL server answers there.
    pub fn reachable(&self) -> bool {
        let postgres = |a: &Answer| matches!(a, Answer::Tls | Answer::Plain);
        match &self.outcome {
            Outcome::Socket { answer, .. } => answer.as_ref().is_some_and(postgres),
            Outcome::Unresolved(_) => false,
            Outcome::Resolved { tcp, .. } => tcp.as_ref().is_ok_and(|s| postgres(&s.answer)),
        }
    }

    /// The checks of `service`, which connects here.
    pub fn checks(&self, service: &Service, config: &Config, target: &Target) -> Vec<Check> {
        let host = self.host.as_str();
        let table = service_table(service, config);
        match &self.outcome {
            Outcome::Socket { path, answer: None } => vec![Check::problem(
                "network.socket",
                format!(
                    "there is no Unix-domain socket {} that accepts a connection",
                    path.display()
                ),
                format!("check `host` and `port` in {table}"),
            )],
            Outcome::Socket {
                path,
                answer: Some(answer),
            } => vec![
                Check::ok(
                    "network.socket",
                    format!(
                        "the Unix-domain socket {} accepts connections",
                        path.display()
                    ),
                ),
                self.postgres_check(&path.display().to_string(), answer, &table),
            ],
            Outcome::Unresolved(why) => vec![Check::problem(
                "network.resolve",
                format!("{host} does not resolve: {why}"),
                format!("check `host` in {table} and this machine's DNS (or VPN)"),
            )],
            Outcome::Resolved { addresses, tcp } => {
                let listed: Vec<String> = addresses.iter().map(|a| a.ip().to_string()).collect();
                let resolved = Check::ok(
                    "network.resolve",
                    if host.parse::<IpAddr>().is_ok() {
                        format!("{host} is an address")
                    } else {
                        format!("{host} resolves to {}", listed.join(", "))
                    },
                );
                let server = match tcp {
                    Ok(server) => server,
                    Err(failures) => return vec![resolved, unreachable(failures, &table)],
                };
                let mut checks = vec![
                    resolved,
                    Check::ok(
                        "network.tcp",
                        format!("{} accepts TCP connections", server.address),
                    ),
                    self.postgres_check(&server.address.to_string(), &server.answer, &table),
                ];
                if let Some(handshake) = &server.handshake {
                    checks.push(self.tls_check(handshake, service, config, target));
                }
                checks
            }
        }
    }

    fn postgres_check(&self, at: &str, answer: &Answer, table: &str) -> Check {
        const NAME: &str = "network.postgres";
        let mode = &self.tls.mode;
        match answer {
            Answer::Tls => Check::ok(
                NAME,
                format!(
                    "a PostgreSQL server answers at {at} and offers TLS (asked without logging in)"
                ),
            ),
            Answer::Plain if self.tls.required() => Check::problem(
                NAME,
                format!(
                    "a PostgreSQL server answers at {at}, but without TLS, and sslmode={mode} needs it: libpq would refuse (\"server does not support SSL, but SSL was required\")"
                ),
                format!(
                    "check `host` and `port` in {table} (AlloyDB and Cloud SQL always offer TLS), or, for a server of your own, enable TLS on it"
                ),
            ),
            Answer::Plain if self.is_local() => Check::ok(
                NAME,
                format!(
                    "a PostgreSQL server answers at {at}, without TLS (asked without logging in)"
                ),
            ),
            Answer::Plain => Check::warning(
                NAME,
                format!(
                    "a PostgreSQL server answers at {at}, but without TLS: with sslmode={mode} the token would cross the network unencrypted"
                ),
                format!(
                    "set sslmode = \"require\" (or verify-ca) in {table} once the server offers TLS"
                ),
            ),
            Answer::NotPostgres(what) => Check::problem(
                NAME,
                format!(
                    "{at} accepts TCP connections but does not answer as PostgreSQL: {what} to PostgreSQL's first message (SSLRequest)"
                ),
                format!(
                    "check `host` and `port` in {table}: something else listens there (AlloyDB listens on 5432, 6432 with managed connection pooling); an instance that accepts connectors only closes direct connections: connect through the AlloyDB Auth Proxy (or Cloud SQL Auth Proxy), or switch that requirement off"
                ),
            ),
        }
    }

    fn tls_check(
        &self,
        handshake: &Result<PathBuf, (Option<PathBuf>, String)>,
        service: &Service,
        config: &Config,
        target: &Target,
    ) -> Check {
        const NAME: &str = "network.tls";
        let mode = &self.tls.mode;
        match handshake {
            Ok(file) => Check::ok(
                NAME,
                format!(
                    "the TLS handshake completes: the server's certificate is signed by a CA in {}{} (sslmode={mode}, checked without logging in)",
                    file.display(),
                    if mode == "verify-full" {
                        format!(" and issued for {}", self.host)
                    } else {
                        String::new()
                    }
                ),
            ),
            Err((file, why)) => {
                let file = file
                    .as_ref()
                    .map_or_else(|| "sslrootcert".to_string(), |f| f.display().to_string());
                let fix = if target.server_ca.is_some() {
                    format!(
                        "alloydb-cred refresh --force --service {} writes the instance's current server CA",
                        service.name
                    )
                } else {
                    format!(
                        "set `sslrootcert` in {} to the file of the CA that signed the server's certificate{}",
                        service_table(service, config),
                        if mode == "verify-full" {
                            ", and `host` to a name the certificate is issued for"
                        } else {
                            ""
                        }
                    )
                };
                Check::problem(
                    NAME,
                    format!(
                        "with sslmode={mode} against {file}, libpq would refuse the server: {why}"
                    ),
                    fix,
                )
            }
        }
    }

    fn is_local(&self) -> bool {
        match &self.outcome {
            Outcome::Resolved { tcp: Ok(s), .. } => s.address.ip().is_loopback(),
            _ => true,
        }
    }
}

/// Resolves `host` with a deadline: the system resolver has none of its own.
fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let (send, receive) = mpsc::channel();
    let target = (host.to_string(), port);
    std::thread::spawn(move || {
        let result = target
            .to_socket_addrs()
            .map(|a| a.take(MAX_ADDRESSES).collect::<Vec<_>>());
        let _ = send.send(result);
    });
    match receive.recv_timeout(RESOLVE_TIMEOUT) {
        Ok(Ok(addresses)) if addresses.is_empty() => Err("no address".to_string()),
        Ok(Ok(addresses)) => Ok(addresses),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", RESOLVE_TIMEOUT.as_secs())),
    }
}

/// Connects to each address until one accepts: that one and its connection, or why
/// each failed.
fn connect(
    addresses: &[SocketAddr],
) -> Result<(SocketAddr, TcpStream), Vec<(SocketAddr, std::io::Error)>> {
    let mut failures = Vec::new();
    for &address in addresses {
        match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok((address, stream)),
            Err(e) => failures.push((address, e)),
        }
    }
    Err(failures)
}

/// Why no address accepted a connection, and what to do; `table` names the service's
/// settings.
fn unreachable(failures: &[(SocketAddr, std::io::Error)], table: &str) -> Check {
    const NAME: &str = "network.tcp";
    let described: Vec<String> = failures
        .iter()
        .map(|(address, e)| format!("{address}: {e}"))
        .collect();
    let refused = failures
        .iter()
        .all(|(_, e)| e.kind() == std::io::ErrorKind::ConnectionRefused);
    let private = failures.iter().find(|(a, _)| is_private(a.ip()));
    if refused {
        Check::problem(
            NAME,
            format!(
                "the connection was refused ({}): nothing listens on that port",
                described.join("; ")
            ),
            format!(
                "check `host` and `port` in {table}: AlloyDB listens on 5432 (6432 with managed connection pooling)"
            ),
        )
    } else if let Some((address, _)) = private {
        Check::problem(
            NAME,
            format!(
                "no TCP connection ({}); {} is a private address: an instance reached only through private IP needs a path into its VPC network",
                described.join("; "),
                address.ip()
            ),
            "connect from a machine in the instance's VPC network (or one joined to it by VPN, Interconnect or peering), or enable a public IP or Private Service Connect and set `host` accordingly",
        )
    } else {
        Check::problem(
            NAME,
            format!(
                "no TCP connection ({}): a firewall, a missing route or a stopped instance",
                described.join("; ")
            ),
            format!(
                "check `host` and `port` in {table}, the instance's state and the firewalls between here and there (for a public IP: the instance's authorized networks)"
            ),
        )
    }
}

/// Addresses reachable only from inside a private network: RFC 1918, shared (RFC 6598)
/// and IPv6 unique-local addresses, which is where AlloyDB's private IPs live.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private() || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unanswered_private_addresses_get_the_vpc_hint_and_refusals_do_not() {
        use std::io::{Error, ErrorKind};
        let private: SocketAddr = ([10, 1, 2, 3], 5432).into();
        let public: SocketAddr = ([34, 1, 2, 3], 5432).into();
        let timed_out = unreachable(&[(private, Error::from(ErrorKind::TimedOut))], "[t]");
        assert!(
            timed_out.message.contains("10.1.2.3 is a private address"),
            "{timed_out:?}"
        );
        assert!(timed_out.fix.is_some_and(|f| f.contains("VPC network")));
        let refused = unreachable(
            &[(private, Error::from(ErrorKind::ConnectionRefused))],
            "[t]",
        );
        assert!(refused.message.contains("refused") && !refused.message.contains("VPC"));
        let elsewhere = unreachable(&[(public, Error::from(ErrorKind::TimedOut))], "[t]");
        assert!(elsewhere.message.contains("firewall") && !elsewhere.message.contains("VPC"));
        assert!(
            elsewhere
                .fix
                .is_some_and(|f| f.contains("check `host` and `port` in [t]"))
        );
    }

    #[test]
    fn one_probe_gives_each_service_its_own_fix() {
        // A socket directory that does not exist: probed without any network.
        let dir = "/nonexistent-doctor-test-dir";
        let tls = wire::Tls {
            mode: "prefer".into(),
            rootcert: None,
        };
        let reach = Reach::probe(dir, 5432, &tls);
        assert!(!reach.reachable());
        let target = Target {
            host: libpq_files::Host::new(dir).expect("host"),
            port: 5432,
            keywords: vec![],
            server_ca: None,
        };
        let config = crate::doctor::tests::config();
        let first = crate::refresh::tests::service(crate::config::UserSpec::Auto);
        let mut second = first.clone();
        second.name = libpq_files::ServiceName::new("second").expect("name");
        for svc in [&first, &second] {
            let checks = reach.checks(svc, &config, &target);
            let table = format!("[services.{}] of /c.toml", svc.name);
            assert!(
                checks
                    .iter()
                    .all(|c| c.fix.as_deref().is_some_and(|f| f.contains(&table))),
                "{checks:?}"
            );
        }
    }

    #[test]
    fn private_addresses_are_told_apart() {
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.9.9",
            "100.64.0.1",
            "fd12::1",
        ] {
            assert!(
                is_private(private.parse().unwrap_or(IpAddr::from([0; 4]))),
                "{private}"
            );
        }
        for public in ["34.1.2.3", "127.0.0.1", "100.128.0.1", "::1", "2001:db8::1"] {
            assert!(
                !is_private(public.parse().unwrap_or(IpAddr::from([10, 0, 0, 1]))),
                "{public}"
            );
        }
    }
}
