//! The network: the host resolves and the port accepts a TCP connection. Nothing is
//! sent: a connection that is opened is closed at once, so no login is attempted and no
//! sign-in quota is spent.

use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use super::{Check, service_table};
use crate::config::{Config, Service};

/// How long a name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long each address may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Addresses tried per host, at most.
const MAX_ADDRESSES: usize = 4;

/// What the network said about one host and port. Asked once per run for all the
/// services that connect there; the checks, whose fixes name one service's table, are
/// built from it for each service ([`Reach::checks`]).
pub struct Reach {
    host: String,
    outcome: Outcome,
}

enum Outcome {
    /// libpq takes a host starting with `/` for a Unix-domain socket directory.
    Socket {
        path: PathBuf,
        exists: bool,
    },
    Unresolved(String),
    Resolved {
        addresses: Vec<SocketAddr>,
        /// The address that accepted a connection, or why each one did not.
        tcp: Result<SocketAddr, Vec<(SocketAddr, std::io::Error)>>,
    },
}

impl Reach {
    /// Resolves `host` and opens (and closes at once) a TCP connection to `port`.
    pub fn probe(host: &str, port: u16) -> Reach {
        let outcome = if host.starts_with('/') {
            let path = std::path::Path::new(host).join(format!(".s.PGSQL.{port}"));
            let exists = path.exists();
            Outcome::Socket { path, exists }
        } else {
            match resolve(host, port) {
                Ok(addresses) => {
                    let tcp = connect(&addresses);
                    Outcome::Resolved { addresses, tcp }
                }
                Err(why) => Outcome::Unresolved(why),
            }
        };
        Reach {
            host: host.to_string(),
            outcome,
        }
    }

    /// Whether the port accepted a connection (or the socket exists).
    pub fn reachable(&self) -> bool {
        match &self.outcome {
            Outcome::Socket { exists, .. } => *exists,
            Outcome::Unresolved(_) => false,
            Outcome::Resolved { tcp, .. } => tcp.is_ok(),
        }
    }

    /// The checks of `service`, which connects here.
    pub fn checks(&self, service: &Service, config: &Config) -> Vec<Check> {
        let host = self.host.as_str();
        match &self.outcome {
            Outcome::Socket { path, exists: true } => vec![Check::ok(
                "network.socket",
                format!("the Unix-domain socket {} exists", path.display()),
            )],
            Outcome::Socket {
                path,
                exists: false,
            } => vec![Check::problem(
                "network.socket",
                format!("there is no Unix-domain socket {}", path.display()),
                format!(
                    "check `host` and `port` in {}",
                    service_table(service, config)
                ),
            )],
            Outcome::Unresolved(why) => vec![Check::problem(
                "network.resolve",
                format!("{host} does not resolve: {why}"),
                format!(
                    "check `host` in {} and this machine's DNS (or VPN)",
                    service_table(service, config)
                ),
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
                let tcp = match tcp {
                    Ok(address) => Check::ok(
                        "network.tcp",
                        format!("{address} accepts TCP connections (checked without logging in)"),
                    ),
                    Err(failures) => unreachable(failures, &service_table(service, config)),
                };
                vec![resolved, tcp]
            }
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

/// Opens and closes a TCP connection to each address until one accepts: the one that
/// did, or why each failed.
fn connect(addresses: &[SocketAddr]) -> Result<SocketAddr, Vec<(SocketAddr, std::io::Error)>> {
    let mut failures = Vec::new();
    for &address in addresses {
        match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
            Ok(stream) => {
                drop(stream);
                return Ok(address);
            }
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
        let reach = Reach::probe("/nonexistent-doctor-test-dir", 5432);
        assert!(!reach.reachable());
        let config = crate::doctor::tests::config();
        let first = crate::refresh::tests::service(crate::config::UserSpec::Auto);
        let mut second = first.clone();
        second.name = libpq_files::ServiceName::new("second").expect("name");
        for svc in [&first, &second] {
            let checks = reach.checks(svc, &config);
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
