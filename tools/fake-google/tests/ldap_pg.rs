//! End to end: real `psql` and `pg_dump` against a real PostgreSQL whose
//! logins are judged by the fake LDAP server, like AlloyDB IAM logins.
//!
//! Everything runs against one server, because starting PostgreSQL is the
//! slow part (initdb) and the scenarios do not interfere.

use std::process::{Command, Output};
use std::time::Duration;

use fake_google::pg::PgServer;
use fake_google::tls::TestCa;
use fake_google::{FakeGoogle, MintOptions};

const USER: &str = "kai@altostrat.com";
const SERVICE_ACCOUNT: &str = "my-service@my-project.iam.gserviceaccount.com";
const SERVICE_ACCOUNT_USER: &str = "my-service@my-project.iam";
const HOUR: Duration = Duration::from_secs(3600);

/// Runs a libpq client with `password`, isolated from the environment:
/// no password file, service file or stray `PG*` settings.
fn client(pg: &PgServer, program: &str, password: &str) -> Command {
    let mut cmd = Command::new(pg.client(program));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(key);
        }
    }
    cmd.env("PGPASSWORD", password)
        .env("PGPASSFILE", "/nonexistent/pgpass")
        .env("PGSERVICEFILE", "/nonexistent/pg_service.conf")
        .env("PGSYSCONFDIR", "/nonexistent")
        // Deterministic single attempt per login (no SSL/GSS retry).
        .env("PGSSLMODE", "disable")
        .env("PGGSSENCMODE", "disable")
        .env("PGCONNECT_TIMEOUT", "10");
    cmd
}

fn psql(pg: &PgServer, host: &str, user: &str, password: &str) -> Output {
    psql_with(pg, &format!("host={host}"), user, password)
}

/// psql with `extra` connection parameters (`host=...` among them).
fn psql_with(pg: &PgServer, extra: &str, user: &str, password: &str) -> Output {
    let conninfo = format!("{extra} port={} dbname=appdb user={user}", pg.port());
    client(pg, "psql", password)
        .args(["-X", "-At", "-d", &conninfo, "-c", "select current_user"])
        .output()
        .expect("run psql")
}

#[track_caller]
fn assert_login(out: &Output, expected_user: &str, google: &FakeGoogle) {
    assert!(
        out.status.success(),
        "login as {expected_user} failed: {}\nLDAP binds: {:?}",
        String::from_utf8_lossy(&out.stderr),
        google.ldap_bind_log()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected_user);
}

#[track_caller]
fn assert_refused(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{what}: login unexpectedly succeeded"
    );
    assert!(
        stderr.contains("LDAP authentication failed"),
        "{what}: unexpected error: {stderr}"
    );
}

#[test]
fn iam_logins_like_alloydb() {
    let google = FakeGoogle::start().expect("start fake google");
    let pg =
        PgServer::start(google.ldap_port(), &[USER, SERVICE_ACCOUNT_USER]).expect("start postgres");

    // A user principal logs in as itself.
    let token = google.mint(USER, HOUR, &[], 180);
    assert_login(&psql(&pg, "127.0.0.1", USER, &token), USER, &google);

    // A service account logs in without `.gserviceaccount.com`.
    let sa_token = google.mint(SERVICE_ACCOUNT, HOUR, &[], 180);
    assert_login(
        &psql(&pg, "127.0.0.1", SERVICE_ACCOUNT_USER, &sa_token),
        SERVICE_ACCOUNT_USER,
        &google,
    );

    // Long tokens need BER long-form lengths all the way through.
    let long = google.mint(USER, HOUR, &[], 2048);
    assert_eq!(long.len(), 2048);
    assert_login(&psql(&pg, "127.0.0.1", USER, &long), USER, &google);

    // Trailing dots, as real tokens sometimes have.
    let padded = google.mint_with(&MintOptions::new(USER).padding(2));
    assert!(padded.ends_with(".."));
    assert_login(&psql(&pg, "127.0.0.1", USER, &padded), USER, &google);

    let (accepted_so_far, rejected_so_far) = google.ldap_binds();
    assert_eq!((accepted_so_far, rejected_so_far), (4, 0));

    // Expired.
    let expired = google.mint(USER, Duration::ZERO, &[], 180);
    assert_refused(&psql(&pg, "127.0.0.1", USER, &expired), "expired token");

    // A live token for someone else.
    let other = google.mint("someone-else@altostrat.com", HOUR, &[], 180);
    assert_refused(&psql(&pg, "127.0.0.1", USER, &other), "other principal");

    // A service-account token used for a user role, and vice versa.
    assert_refused(
        &psql(&pg, "127.0.0.1", USER, &sa_token),
        "service account as user",
    );
    assert_refused(
        &psql(&pg, "127.0.0.1", SERVICE_ACCOUNT_USER, &token),
        "user as service account",
    );

    // Not a token at all.
    assert_refused(&psql(&pg, "127.0.0.1", USER, "hunter2"), "unknown password");

    // Revoked.
    let revoked = google.mint(USER, HOUR, &[], 180);
    assert!(google.revoke(&revoked));
    assert_refused(&psql(&pg, "127.0.0.1", USER, &revoked), "revoked token");

    assert_eq!(google.ldap_binds(), (4, 6), "{:?}", google.ldap_bind_log());

    // PostgreSQL logs AlloyDB's diagnostic messages.
    let log = pg.log_contents();
    assert!(
        log.contains("IAM principal does not match database user."),
        "{log}"
    );
    assert!(
        log.contains("Request had invalid authentication credentials."),
        "{log}"
    );

    // IPv6 loopback, when the machine has it.
    if pg.has_ipv6() {
        assert_login(&psql(&pg, "::1", USER, &token), USER, &google);
    } else {
        eprintln!("::1 unavailable; IPv6 login not tested");
    }

    // Over the Unix socket an IAM role still needs a token.
    let socket = pg.socket_dir().to_str().unwrap().to_owned();
    assert_login(&psql(&pg, &socket, USER, &token), USER, &google);
    assert_refused(&psql(&pg, &socket, USER, "hunter2"), "socket without token");

    // pg_dump by an IAM role.
    let dump = client(&pg, "pg_dump", &token)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &pg.port().to_string(),
            "-U",
            USER,
            "-t",
            "t",
            "appdb",
        ])
        .output()
        .expect("run pg_dump");
    let dump_text = String::from_utf8_lossy(&dump.stdout);
    assert!(
        dump.status.success() && dump_text.contains("CREATE TABLE public.t"),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&dump.stderr)
    );

    // The superuser path used for setup still works.
    assert_eq!(
        pg.admin_sql_in("appdb", "select count(*) from t")
            .unwrap()
            .trim(),
        "1"
    );
    let roles = pg
        .admin_sql("select rolname from pg_roles where rolname like '%@%' order by 1")
        .unwrap();
    assert_eq!(
        roles.lines().collect::<Vec<_>>(),
        [USER, SERVICE_ACCOUNT_USER]
    );
}

#[test]
fn server_is_gone_after_drop() {
    let google = FakeGoogle::start().unwrap();
    let pg = PgServer::start(google.ldap_port(), &[]).unwrap();
    let data_dir = pg.data_dir().to_path_buf();
    let port = pg.port();
    assert!(data_dir.join("PG_VERSION").is_file());
    drop(pg);
    assert!(
        !data_dir.exists(),
        "data dir {} left behind",
        data_dir.display()
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "something still listens on {port}"
    );
}

#[test]
fn tls_logins_verify_the_server() {
    let google = FakeGoogle::start().unwrap();
    let ca = TestCa::new("AlloyDB-like test CA").unwrap();
    let cert = ca.issue(&["db.example.test", "127.0.0.1"]).unwrap();
    let pg = PgServer::start_with_tls(google.ldap_port(), &[USER], &cert).unwrap();
    assert!(pg.has_tls());
    let token = google.mint(USER, HOUR, &[], 180);
    let root = |ca: &TestCa| format!("sslrootcert={}", ca.cert_path().display());

    // verify-ca with the issuing CA; verify-full by IP address, and by DNS
    // name while connecting to 127.0.0.1 through hostaddr.
    for extra in [
        format!("host=127.0.0.1 sslmode=verify-ca {}", root(&ca)),
        format!("host=127.0.0.1 sslmode=verify-full {}", root(&ca)),
        format!(
            "host=db.example.test hostaddr=127.0.0.1 sslmode=verify-full {}",
            root(&ca)
        ),
    ] {
        assert_login(&psql_with(&pg, &extra, USER, &token), USER, &google);
    }

    // Another CA, a name the certificate lacks, or no TLS: no login.
    let other = TestCa::new("some other CA").unwrap();
    let out = psql_with(
        &pg,
        &format!("host=127.0.0.1 sslmode=verify-ca {}", root(&other)),
        USER,
        &token,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "other CA accepted");
    assert!(stderr.contains("certificate verify failed"), "{stderr}");
    let out = psql_with(
        &pg,
        &format!(
            "host=other.example.test hostaddr=127.0.0.1 sslmode=verify-full {}",
            root(&ca)
        ),
        USER,
        &token,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "wrong name accepted");
    assert!(stderr.contains("does not match host name"), "{stderr}");
    let out = psql_with(&pg, "host=127.0.0.1 sslmode=disable", USER, &token);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "plain TCP accepted");
    assert!(stderr.contains("no encryption"), "{stderr}");
}
