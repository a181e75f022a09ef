//! A throwaway real PostgreSQL server that authenticates TCP logins against
//! the fake LDAP server, i.e. "like AlloyDB with IAM authentication".
//!
//! Using the real server (rather than a protocol mock) means tests exercise
//! the real libpq: its `.pgpass` and `pg_service.conf` lookup, escaping,
//! password length limits and error messages, which are exactly what the
//! project's tool has to get right.
//!
//! The server lives in a fresh temporary directory: data directory, Unix
//! socket directory, `pg_hba.conf` and log. The superuser [`SUPERUSER`] logs
//! in over the Unix socket with `trust`; every other login, over TCP on
//! 127.0.0.1 or ::1 or over the socket, goes through LDAP. PostgreSQL
//! refuses to run as root, so when this process is root the server runs as
//! the `postgres` system user (or `nobody`). [`PgServer::start_with_tls`]
//! adds TLS with a certificate from a [`crate::tls::TestCa`].

use std::env;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::sys;

/// Name of the bootstrap superuser created by initdb.
pub const SUPERUSER: &str = "postgres";

/// Database created for tests, with a one-row table `t(x int)` readable by
/// every role, so a freshly created IAM role can `SELECT` and `pg_dump`.
pub const APP_DATABASE: &str = "appdb";

/// How long to wait for the server to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How many free-port guesses to try: the port is picked by binding port 0
/// and releasing it, so another process can grab it before PostgreSQL does.
const PORT_ATTEMPTS: usize = 3;

/// The unprivileged account the server runs as when we are root.
#[derive(Debug, Clone)]
struct RunAs {
    name: String,
    uid: u32,
    gid: u32,
}

/// Keeps the thread that spawned the postmaster alive; see
/// [`sys::die_with_spawning_thread`]. Dropping `stop` ends the thread.
struct Keeper {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

/// A running PostgreSQL server; dropping it stops the server and deletes
/// its directory.
pub struct PgServer {
    child: Option<Child>,
    keeper: Option<Keeper>,
    port: u16,
    has_ipv6: bool,
    bin_dir: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_path: PathBuf,
    hba_path: PathBuf,
    /// Certificate and key files, when serving TLS.
    tls_files: Option<(PathBuf, PathBuf)>,
    run_as: Option<RunAs>,
    // Declared last so it is removed after everything above is dropped.
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for PgServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgServer")
            .field("port", &self.port)
            .field("has_ipv6", &self.has_ipv6)
            .field("bin_dir", &self.bin_dir)
            .field("data_dir", &self.data_dir)
            .field("socket_dir", &self.socket_dir)
            .field("has_tls", &self.has_tls())
            .field("run_as", &self.run_as.as_ref().map(|r| &r.name))
            .finish()
    }
}

impl PgServer {
    /// Creates, starts and provisions a server whose TCP logins are checked
    /// by the LDAP server on 127.0.0.1:`ldap_port` (normally
    /// [`crate::FakeGoogle::ldap_port`]).
    ///
    /// Each of `roles` is created with `LOGIN` and no password, so the only
    /// way in is a token the fake accepts. Also creates
    /// [`APP_DATABASE`]. Takes a couple of seconds, mostly initdb.
    pub fn start(ldap_port: u16, roles: &[&str]) -> io::Result<PgServer> {
        Self::start_inner(ldap_port, roles, None)
    }

    /// Like [`PgServer::start`], with TLS: `ssl=on` with `cert` and its key
    /// (copied into the server's directory), and TCP logins accepted only
    /// over TLS (`hostssl`), as AlloyDB and Cloud SQL accept them by
    /// default. `psql "... sslmode=verify-ca sslrootcert=<CA file>"` then
    /// succeeds only with the CA that issued `cert`. For `verify-full`,
    /// libpq matches the `host` it was given against the certificate's
    /// names (IP address names included); to check a DNS name while
    /// connecting to 127.0.0.1, give both, `host=db.example.test
    /// hostaddr=127.0.0.1`, with a certificate issued for that name.
    pub fn start_with_tls(
        ldap_port: u16,
        roles: &[&str],
        cert: &crate::tls::ServerCert,
    ) -> io::Result<PgServer> {
        Self::start_inner(ldap_port, roles, Some(cert))
    }

    fn start_inner(
        ldap_port: u16,
        roles: &[&str],
        cert: Option<&crate::tls::ServerCert>,
    ) -> io::Result<PgServer> {
        let bin_dir = find_bin_dir()?;
        let run_as = if sys::is_root() {
            Some(unprivileged_user()?)
        } else {
            None
        };
        let dir = make_base_dir(run_as.is_some())?;
        let data_dir = dir.path().join("data");
        let socket_dir = dir.path().join("socket");
        fs::create_dir(&data_dir)?;
        fs::create_dir(&socket_dir)?;
        fs::set_permissions(&data_dir, fs::Permissions::from_mode(0o700))?;
        fs::set_permissions(&socket_dir, fs::Permissions::from_mode(0o755))?;
        if let Some(user) = &run_as {
            for d in [&data_dir, &socket_dir] {
                std::os::unix::fs::chown(d, Some(user.uid), Some(user.gid))?;
            }
        }
        let hba_path = dir.path().join("pg_hba.conf");
        fs::write(&hba_path, hba_conf(ldap_port, cert.is_some()))?;
        let tls_files = match cert {
            Some(cert) => Some(install_tls_files(dir.path(), cert, run_as.as_ref())?),
            None => None,
        };
        let mut server = PgServer {
            child: None,
            keeper: None,
            port: 0,
            // If ::1 cannot be bound here, PostgreSQL could not either.
            has_ipv6: TcpListener::bind(("::1", 0)).is_ok(),
            bin_dir,
            log_path: dir.path().join("postgres.log"),
            data_dir,
            socket_dir,
            hba_path,
            tls_files,
            run_as,
            dir,
        };
        server.init_db()?;
        server.launch()?;
        server.provision(roles)?;
        Ok(server)
    }

    /// TCP port, the same on 127.0.0.1 and (if available) ::1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the server speaks TLS (and TCP logins need it); see
    /// [`PgServer::start_with_tls`].
    pub fn has_tls(&self) -> bool {
        self.tls_files.is_some()
    }

    /// Whether the server also listens on ::1.
    pub fn has_ipv6(&self) -> bool {
        self.has_ipv6
    }

    /// Directory of the Unix socket (a valid libpq `host`).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The data directory, for `pg_ctl -D` if the owning process is gone.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Directory of the PostgreSQL programs in use.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// Path of the server log.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The server log so far; PostgreSQL writes the LDAP server's
    /// diagnosticMessage into it on failed logins.
    pub fn log_contents(&self) -> String {
        fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// libpq connection string for `user` over TCP on 127.0.0.1 to
    /// [`APP_DATABASE`], without a password.
    pub fn conninfo(&self, user: &str) -> String {
        format!(
            "host=127.0.0.1 port={} dbname={APP_DATABASE} user='{}'",
            self.port,
            user.replace('\\', "\\\\").replace('\'', "\\'")
        )
    }

    /// Path of a client program such as `psql` or `pg_dump`: the one next
    /// to the server if present (a `pg_dump` older than the server refuses
    /// to dump it), otherwise the bare name for a `PATH` lookup.
    pub fn client(&self, name: &str) -> PathBuf {
        self.program(name)
    }

    /// A PostgreSQL program from [`PgServer::bin_dir`], else from `PATH`.
    fn program(&self, name: &str) -> PathBuf {
        let local = self.bin_dir.join(name);
        if local.is_file() {
            local
        } else {
            PathBuf::from(name)
        }
    }

    /// Runs `sql` as the superuser in the `postgres` database and returns
    /// psql's unaligned, tuples-only output. Statements run one by one (so
    /// `CREATE DATABASE` works) and the first error aborts with an error.
    pub fn admin_sql(&self, sql: &str) -> io::Result<String> {
        self.admin_sql_in("postgres", sql)
    }

    /// Like [`PgServer::admin_sql`], in database `db`.
    pub fn admin_sql_in(&self, db: &str, sql: &str) -> io::Result<String> {
        let mut cmd = self.superuser_client("psql", db);
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| context(e, "cannot run psql"))?;
        // Feed stdin from another thread so a large result cannot deadlock
        // against a full stdin pipe.
        let writer = child.stdin.take().map(|mut stdin| {
            let sql = sql.to_owned();
            thread::spawn(move || {
                let _ = stdin.write_all(sql.as_bytes());
            })
        });
        let out = child.wait_with_output()?;
        if let Some(writer) = writer {
            let _ = writer.join();
        }
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "psql as {SUPERUSER} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A client program connecting as [`SUPERUSER`] to database `db` over
    /// the Unix socket, with a clean environment.
    fn superuser_client(&self, program: &str, db: &str) -> Command {
        let mut cmd = Command::new(self.client(program));
        cmd.arg("-h")
            .arg(&self.socket_dir)
            .args(["-p", &self.port.to_string(), "-U", SUPERUSER, "-d", db])
            .env("PGCONNECT_TIMEOUT", "10");
        clean_env(&mut cmd);
        cmd
    }

    /// A command for a server-side program, run as the unprivileged user
    /// when we are root.
    fn server_command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.program(program));
        cmd.current_dir(self.dir.path()).stdin(Stdio::null());
        clean_env(&mut cmd);
        if let Some(user) = &self.run_as {
            // std drops supplementary groups before setuid when root.
            cmd.uid(user.uid).gid(user.gid);
        }
        cmd
    }

    fn init_db(&self) -> io::Result<()> {
        let out = self
            .server_command("initdb")
            .arg("-D")
            .arg(&self.data_dir)
            .args([
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "-N",
            ])
            .output()
            .map_err(|e| context(e, "cannot run initdb"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "initdb failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }

    /// Starts the postmaster on a free port, retrying with another port if
    /// the chosen one was taken in the meantime.
    fn launch(&mut self) -> io::Result<()> {
        let mut last = None;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port(self.has_ipv6)?;
            match self.launch_on(port) {
                Ok(()) => return Ok(()),
                Err(Launch::PortTaken(e)) => last = Some(e),
                Err(Launch::Failed(e)) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no free port found")))
    }

    fn launch_on(&mut self, port: u16) -> Result<(), Launch> {
        let log_start = fs::metadata(&self.log_path).map(|m| m.len()).unwrap_or(0);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(Launch::Failed)?;
        let log_err = log.try_clone().map_err(Launch::Failed)?;
        let listen = if self.has_ipv6 {
            "127.0.0.1,::1"
        } else {
            "127.0.0.1"
        };
        let mut cmd = self.server_command("postgres");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .args(["-p", &port.to_string(), "-k"])
            .arg(&self.socket_dir)
            .arg("-c")
            .arg(format!("hba_file={}", self.hba_path.display()))
            .args(["-c", &format!("listen_addresses={listen}")])
            .args(SERVER_SETTINGS.iter().flat_map(|s| ["-c", s]))
            .args(self.ssl_settings().iter().flat_map(|s| ["-c", s]))
            .stdout(log)
            .stderr(log_err)
            // Own process group: a terminal's Ctrl-C reaches only us, and we
            // shut the server down in order.
            .process_group(0);
        sys::die_with_spawning_thread(&mut cmd, sys::SIGQUIT);
        let (child, keeper) =
            spawn_kept(cmd).map_err(|e| Launch::Failed(context(e, "cannot start postgres")))?;
        self.child = Some(child);
        self.keeper = Some(keeper);
        self.port = port;

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let exited = match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(None)) => None,
                Some(Ok(Some(status))) => Some(status.to_string()),
                Some(Err(e)) => Some(e.to_string()),
                None => Some("lost".to_owned()),
            };
            if let Some(status) = exited {
                self.stop_server();
                let log = read_from(&self.log_path, log_start);
                let err =
                    io::Error::other(format!("postgres exited during startup ({status}):\n{log}"));
                let taken =
                    log.contains("could not bind") || log.contains("Address already in use");
                return Err(if taken {
                    Launch::PortTaken(err)
                } else {
                    Launch::Failed(err)
                });
            }
            if self.is_ready() {
                // PostgreSQL carries on when only some listen addresses
                // could be bound; a half-listening server would make IPv6
                // tests fail mysteriously, so treat it as a port conflict.
                let log = read_from(&self.log_path, log_start);
                if log.contains("could not bind") {
                    self.stop_server();
                    return Err(Launch::PortTaken(io::Error::other(format!(
                        "postgres could not bind every address:\n{log}"
                    ))));
                }
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.stop_server();
                let log = read_from(&self.log_path, log_start);
                return Err(Launch::Failed(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("postgres not ready after {READY_TIMEOUT:?}:\n{log}"),
                )));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// `ssl=...` and, with TLS, the certificate and key files.
    fn ssl_settings(&self) -> Vec<String> {
        match &self.tls_files {
            Some((cert, key)) => vec![
                "ssl=on".to_owned(),
                format!("ssl_cert_file={}", cert.display()),
                format!("ssl_key_file={}", key.display()),
            ],
            None => vec!["ssl=off".to_owned()],
        }
    }

    /// Whether the server accepts connections on its socket.
    fn is_ready(&self) -> bool {
        let mut cmd = self.superuser_client("pg_isready", "postgres");
        cmd.args(["-q", "-t", "2"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match cmd.status() {
            Ok(status) => status.success(),
            // No pg_isready (some minimal installs): ask psql instead.
            Err(_) => self.admin_sql("SELECT 1").is_ok(),
        }
    }

    fn provision(&self, roles: &[&str]) -> io::Result<()> {
        let mut sql = String::new();
        for role in roles {
            sql.push_str(&format!("CREATE ROLE {} LOGIN;\n", quote_ident(role)));
        }
        sql.push_str(&format!(
            "CREATE DATABASE {db};\n\
             GRANT CONNECT, TEMPORARY ON DATABASE {db} TO PUBLIC;\n\
             \\connect {db}\n\
             CREATE TABLE t (x int);\n\
             INSERT INTO t VALUES (1);\n\
             GRANT SELECT ON t TO PUBLIC;\n",
            db = APP_DATABASE
        ));
        self.admin_sql(&sql).map(|_| ())
    }

    /// Stops the postmaster (immediate shutdown, then SIGKILL if it lingers)
    /// and ends its keeper thread. Idempotent.
    fn stop_server(&mut self) {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = sys::signal(child.id(), sys::SIGQUIT);
                let deadline = Instant::now() + Duration::from_secs(10);
                while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(20));
                }
                if matches!(child.try_wait(), Ok(None)) {
                    let _ = child.kill();
                }
            }
            let _ = child.wait();
        }
        if let Some(keeper) = self.keeper.take() {
            drop(keeper.stop);
            let _ = keeper.thread.join();
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop_server();
    }
}

/// Settings for a fast, quiet, disposable server. Durability is pointless
/// for a database that is deleted after the test.
const SERVER_SETTINGS: &[&str] = &[
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "shared_buffers=8MB",
    "max_connections=30",
    "max_wal_senders=0",
    "wal_level=minimal",
    "autovacuum=off",
    "huge_pages=off",
    "logging_collector=off",
    "log_destination=stderr",
    "log_connections=on",
    "unix_socket_permissions=0777",
    // Fail a stuck LDAP exchange well before a test's own timeout.
    "authentication_timeout=20s",
];

enum Launch {
    PortTaken(io::Error),
    Failed(io::Error),
}

/// `pg_hba.conf`: trust for the superuser on the socket (administration),
/// and LDAP simple bind with DN `cn=<user>` for every other login, so no
/// role but the superuser gets in without a token the fake accepts. With
/// `tls_only`, TCP logins must use TLS.
fn hba_conf(ldap_port: u16, tls_only: bool) -> String {
    let ldap = format!(
        "ldap ldapserver=127.0.0.1 ldapport={ldap_port} ldapprefix=\"cn=\" ldapsuffix=\"\""
    );
    let host = if tls_only { "hostssl" } else { "host" };
    format!(
        "# Generated by fake-google: IAM-style logins via the fake LDAP server.\n\
         local all {SUPERUSER} trust\n\
         local all all {ldap}\n\
         {host} all all 127.0.0.1/32 {ldap}\n\
         {host} all all ::1/128 {ldap}\n"
    )
}

/// Copies `cert`'s certificate and key into `dir` for the server, which
/// insists that the key be private to the user it runs as.
fn install_tls_files(
    dir: &Path,
    cert: &crate::tls::ServerCert,
    run_as: Option<&RunAs>,
) -> io::Result<(PathBuf, PathBuf)> {
    let cert_path = dir.join("server.crt");
    let key_path = dir.join("server.key");
    fs::write(&cert_path, cert.cert_pem())?;
    fs::write(&key_path, cert.key_pem())?;
    fs::set_permissions(&cert_path, fs::Permissions::from_mode(0o644))?;
    fs::set_permissions(&key_path, fs::Permissions::from_mode(0o600))?;
    if let Some(user) = run_as {
        for path in [&cert_path, &key_path] {
            std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))?;
        }
    }
    Ok((cert_path, key_path))
}

/// Double-quotes an SQL identifier. Role names here contain `@` and `.`.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Removes libpq and server environment variables (`PGHOST`, `PGDATA`,
/// `PGSERVICE`...) that would redirect our commands, and pins messages to
/// English, which the startup code matches on.
fn clean_env(cmd: &mut Command) {
    for (key, _) in env::vars_os() {
        if key.to_string_lossy().starts_with("PG") && key != OsStr::new("PGCONNECT_TIMEOUT") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("LC_ALL", "C");
}

fn context(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn read_from(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let mut bytes = Vec::new();
        if f.seek(SeekFrom::Start(offset)).is_ok() && f.read_to_end(&mut bytes).is_ok() {
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    text
}

/// Spawns `cmd` from a dedicated thread that lives until the returned
/// [`Keeper`] is dropped, because Linux's parent-death signal fires when
/// the spawning *thread* ends, and test threads end early.
fn spawn_kept(mut cmd: Command) -> io::Result<(Child, Keeper)> {
    let (child_tx, child_rx) = mpsc::channel();
    let (stop, stop_rx) = mpsc::channel::<()>();
    let thread = thread::Builder::new()
        .name("fake-google-pg-keeper".into())
        .spawn(move || {
            let _ = child_tx.send(cmd.spawn());
            // Returns once the sender is dropped.
            let _ = stop_rx.recv();
        })?;
    match child_rx.recv() {
        Ok(Ok(child)) => Ok((child, Keeper { stop, thread })),
        Ok(Err(e)) => {
            drop(stop);
            let _ = thread.join();
            Err(e)
        }
        Err(_) => Err(io::Error::other("spawning thread died")),
    }
}

/// A port free on 127.0.0.1 (and ::1 when used) right now.
fn free_port(ipv6: bool) -> io::Result<u16> {
    let mut last = None;
    for _ in 0..10 {
        let port = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
        if !ipv6 {
            return Ok(port);
        }
        match TcpListener::bind(("::1", port)) {
            Ok(_) => return Ok(port),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free port")))
}

/// Where to put the server's directory. As root it must be reachable by
/// the unprivileged user, so it goes under /tmp with mode 0755 whatever
/// TMPDIR says. A long TMPDIR is also avoided: Unix socket paths are limited
/// to about 100 bytes.
fn make_base_dir(for_other_user: bool) -> io::Result<tempfile::TempDir> {
    let tmp = env::temp_dir();
    let base = if for_other_user || tmp.as_os_str().len() > 60 {
        PathBuf::from("/tmp")
    } else {
        tmp
    };
    let dir = tempfile::Builder::new()
        .prefix("fake-google-pg.")
        .tempdir_in(&base)
        .map_err(|e| {
            context(
                e,
                &format!("cannot create a directory in {}", base.display()),
            )
        })?;
    if for_other_user {
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
    }
    Ok(dir)
}

/// Locates the PostgreSQL server programs: `$PG_BINDIR`, then
/// `pg_config --bindir`, then the newest `/usr/lib/postgresql/*/bin`
/// (Debian and Ubuntu keep them off `PATH`), then `initdb` on `PATH`.
pub fn find_bin_dir() -> io::Result<PathBuf> {
    let has_server = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    if let Some(dir) = env::var_os("PG_BINDIR").filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        return if has_server(&dir) {
            Ok(dir)
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "PG_BINDIR={} contains no initdb and postgres",
                    dir.display()
                ),
            ))
        };
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_server(&dir) {
            return Ok(dir);
        }
    }
    if let Some(dir) = newest_versioned_bin_dir(Path::new("/usr/lib/postgresql"), &has_server) {
        return Ok(dir);
    }
    if let Some(initdb) = search_path("initdb") {
        // Follow symlinks (e.g. /usr/local/bin/initdb) to the real install,
        // which has postgres and the clients next to it.
        let real_dir = fs::canonicalize(&initdb)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        if let Some(dir) = real_dir.filter(|d| has_server(d)) {
            return Ok(dir);
        }
        if let Some(dir) = initdb.parent() {
            return Ok(dir.to_path_buf());
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        "PostgreSQL server programs (initdb, postgres) not found: set PG_BINDIR, put pg_config \
         or initdb on PATH, or install PostgreSQL (e.g. apt-get install postgresql)",
    ))
}

fn newest_versioned_bin_dir(root: &Path, has_server: &dyn Fn(&Path) -> bool) -> Option<PathBuf> {
    let mut best: Option<(Vec<u32>, PathBuf)> = None;
    for entry in fs::read_dir(root).ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(version) = name
            .split('.')
            .map(str::parse)
            .collect::<Result<Vec<u32>, _>>()
        else {
            continue;
        };
        let bin = entry.path().join("bin");
        if has_server(&bin) && best.as_ref().is_none_or(|(v, _)| version > *v) {
            best = Some((version, bin));
        }
    }
    best.map(|(_, dir)| dir)
}

fn search_path(program: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The account to run the server as when we are root: `postgres` if it
/// exists (it owns the packaged install), otherwise `nobody`.
fn unprivileged_user() -> io::Result<RunAs> {
    ["postgres", "nobody"]
        .into_iter()
        .find_map(lookup_user)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as",
            )
        })
}

/// uid and gid of `name`, via `getent` (which sees NSS sources) or
/// `/etc/passwd`.
fn lookup_user(name: &str) -> Option<RunAs> {
    let from_getent = Command::new("getent")
        .args(["passwd", name])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let text = from_getent.or_else(|| fs::read_to_string("/etc/passwd").ok())?;
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [user, _, uid, gid, ..] if *user == name => Some(RunAs {
                name: name.to_owned(),
                uid: uid.parse().ok()?,
                gid: gid.parse().ok()?,
            }),
            _ => None,
        }
    })
}
