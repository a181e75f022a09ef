//! A throwaway real PostgreSQL server whose logins are checked by the fake
//! LDAP server, i.e. "like AlloyDB with IAM authentication", so tests
//! exercise the real libpq: `.pgpass` and `pg_service.conf` lookup,
//! escaping, password limits and error messages.
//!
//! Everything lives in a fresh temporary directory. The superuser
//! `postgres` logs in over the Unix socket with `trust`; every other login
//! goes through LDAP. PostgreSQL refuses to run as root, so as root the
//! server runs as the `postgres` system user (or `nobody`).

use std::fs;
use std::io::{self, Write};
use std::net::TcpListener;
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use crate::sys;
use crate::tls::ServerCert;

/// Database created for tests, with a one-row table `t(x int)` readable by
/// every role, so a freshly created IAM role can `SELECT` and `pg_dump`.
pub const APP_DATABASE: &str = "appdb";

/// Settings for a fast, quiet, disposable server.
const SETTINGS: &[&str] = &[
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "shared_buffers=8MB",
    "max_connections=30",
    "max_wal_senders=0",
    "wal_level=minimal",
    "autovacuum=off",
    "logging_collector=off",
    "log_connections=on",
    "unix_socket_permissions=0777",
    // Fail a stuck LDAP exchange well before a test's own timeout.
    "authentication_timeout=20s",
];

/// A running PostgreSQL server; dropping it stops the server and deletes
/// its directory.
#[derive(Debug)]
pub struct PgServer {
    child: Child,
    /// Dropping it ends the thread that spawned the server; see [`spawn_kept`].
    keeper: Option<mpsc::Sender<()>>,
    port: u16,
    has_ipv6: bool,
    bin_dir: PathBuf,
    dir: Arc<tempfile::TempDir>,
    /// Locked while this process lives: see [`remove_abandoned`].
    _owner: Arc<fs::File>,
}

impl PgServer {
    /// Creates, starts and provisions a server whose logins are checked by
    /// the LDAP server on 127.0.0.1:`ldap_port` ([`crate::FakeGoogle::ldap_port`]).
    /// Each of `roles` is created with `LOGIN` and no password, so the only
    /// way in is a token the fake accepts. Also creates [`APP_DATABASE`].
    pub fn start(ldap_port: u16, roles: &[&str]) -> io::Result<PgServer> {
        Self::start_inner(ldap_port, roles, None)
    }

    /// Like [`PgServer::start`], with `ssl=on` presenting `cert`, and TCP
    /// logins accepted only over TLS (`hostssl`), as AlloyDB and Cloud SQL
    /// accept them by default.
    pub fn start_with_tls(
        ldap_port: u16,
        roles: &[&str],
        cert: &ServerCert,
    ) -> io::Result<PgServer> {
        Self::start_inner(ldap_port, roles, Some(cert))
    }

    fn start_inner(
        ldap_port: u16,
        roles: &[&str],
        cert: Option<&ServerCert>,
    ) -> io::Result<PgServer> {
        let bin_dir = find_bin_dir()?;
        let run_as = if sys::is_root() {
            Some(unprivileged_user()?)
        } else {
            None
        };
        // Unix socket paths are limited to about 100 bytes, and as root the
        // directory must be reachable by the server's user.
        let tmp = std::env::temp_dir();
        let base = if run_as.is_some() || tmp.as_os_str().len() > 60 {
            PathBuf::from("/tmp")
        } else {
            tmp
        };
        let dir = Arc::new(
            tempfile::Builder::new()
                .prefix(DIR_PREFIX)
                .tempdir_in(&base)?,
        );
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
        let (data, socket) = (dir.path().join("data"), dir.path().join("socket"));
        let ldap = format!(
            "ldap ldapserver=127.0.0.1 ldapport={ldap_port} ldapprefix=\"cn=\" ldapsuffix=\"\""
        );
        let host = if cert.is_some() { "hostssl" } else { "host" };
        let hba = format!(
            "local all postgres trust\nlocal all all {ldap}\n{host} all all 127.0.0.1/32 {ldap}\n{host} all all ::1/128 {ldap}\n"
        );
        let mut files = vec![("pg_hba.conf", hba, 0o644)];
        if let Some(cert) = cert {
            files.push(("server.crt", cert.cert_pem().to_owned(), 0o644));
            files.push(("server.key", cert.key_pem().to_owned(), 0o600));
        }
        for (name, text, mode) in files {
            let path = dir.path().join(name);
            fs::write(&path, text)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
        }
        for d in [&data, &socket] {
            fs::create_dir(d)?;
            fs::set_permissions(d, fs::Permissions::from_mode(0o700))?;
        }
        fs::set_permissions(&socket, fs::Permissions::from_mode(0o755))?;
        if let Some((uid, gid)) = run_as {
            for entry in fs::read_dir(dir.path())? {
                chown(entry?.path(), Some(uid), Some(gid))?;
            }
        }
        let owner = Arc::new(hold_owner_lock(dir.path())?);
        let command = |program: &str| {
            let mut cmd = Command::new(bin_dir.join(program));
            cmd.current_dir(dir.path()).stdin(Stdio::null());
            clean_env(&mut cmd);
            if let Some((uid, gid)) = run_as {
                cmd.uid(uid).gid(gid);
            }
            cmd
        };
        // A copy of one cluster initialised for the whole process: `initdb` was most of a
        // server's start-up cost, and every server starts from the same empty cluster.
        let template = template_cluster(&bin_dir, &base, run_as)?;
        let mut copy = Command::new("cp");
        copy.arg("-a").arg(template.join(".")).arg(&data);
        if let Some((uid, gid)) = run_as {
            copy.uid(uid).gid(gid);
        }
        run_to_end(copy, "copying the initialised cluster")?;
        let has_ipv6 = TcpListener::bind(("::1", 0)).is_ok();
        let mut settings: Vec<String> = SETTINGS.iter().map(|s| (*s).to_owned()).collect();
        settings.push(format!(
            "listen_addresses=127.0.0.1{}",
            if has_ipv6 { ",::1" } else { "" }
        ));
        settings.push(format!(
            "hba_file={}",
            dir.path().join("pg_hba.conf").display()
        ));
        if cert.is_none() {
            settings.push("ssl=off".into());
        } else {
            for (key, file) in [
                ("ssl_cert_file", "server.crt"),
                ("ssl_key_file", "server.key"),
            ] {
                settings.push(format!("{key}={}", dir.path().join(file).display()));
            }
            settings.push("ssl=on".into());
        }
        // The port is picked by binding port 0 and releasing it, so another
        // process may take it first: try a few.
        let mut last = io::Error::other("no free port");
        for _ in 0..3 {
            let port = free_port(has_ipv6)?;
            let log = fs::File::create(dir.path().join("postgres.log"))?;
            let mut cmd = command("postgres");
            cmd.arg("-D")
                .arg(&data)
                .args(["-p", &port.to_string(), "-k"])
                .arg(&socket)
                .args(settings.iter().flat_map(|s| ["-c", s]))
                .stdout(log.try_clone()?)
                .stderr(log)
                // Own process group: a terminal's Ctrl-C reaches only us.
                .process_group(0);
            sys::die_with_spawning_thread(&mut cmd, sys::SIGQUIT);
            let (child, keeper) = spawn_kept(cmd)?;
            let mut server = PgServer {
                child,
                keeper: Some(keeper),
                port,
                has_ipv6,
                bin_dir: bin_dir.clone(),
                dir: Arc::clone(&dir),
                _owner: Arc::clone(&owner),
            };
            match server.wait_ready() {
                Ok(()) => {
                    server.admin_sql(&provisioning(roles))?;
                    return Ok(server);
                }
                Err(e) => {
                    let log = server.log_contents();
                    server.stop();
                    last = io::Error::other(format!("{e}:\n{log}"));
                    if !log.contains("could not bind") {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }

    /// Waits until the server accepts connections, or fails when it exits
    /// or could not bind every address (a half-listening server would make
    /// IPv6 tests fail mysteriously).
    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "postgres exited during startup ({status})"
                )));
            }
            if self.admin_sql("SELECT 1").is_ok() {
                return match self.log_contents().contains("could not bind") {
                    true => Err(io::Error::other("postgres could not bind every address")),
                    false => Ok(()),
                };
            }
            thread::sleep(Duration::from_millis(100));
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "postgres not ready after 30 s",
        ))
    }

    /// The same on 127.0.0.1 and (if available) ::1.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn has_ipv6(&self) -> bool {
        self.has_ipv6
    }

    /// The data directory, for `pg_ctl -D` if the owning process is gone.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The server log so far; PostgreSQL writes the LDAP server's
    /// diagnosticMessage into it on failed logins.
    pub fn log_contents(&self) -> String {
        fs::read(self.dir.path().join("postgres.log"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Path of a client program such as `psql` or `pg_dump`: the one next
    /// to the server if present (an older `pg_dump` refuses a newer server),
    /// otherwise the bare name for a `PATH` lookup.
    pub fn client(&self, name: &str) -> PathBuf {
        let local = self.bin_dir.join(name);
        if local.is_file() {
            local
        } else {
            PathBuf::from(name)
        }
    }

    /// Runs `sql` as the superuser over the Unix socket and returns psql's
    /// unaligned, tuples-only output; the first error fails.
    fn admin_sql(&self, sql: &str) -> io::Result<String> {
        let mut cmd = Command::new(self.client("psql"));
        cmd.arg("-h").arg(self.dir.path().join("socket"));
        cmd.args([
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
        ])
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-"])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        clean_env(&mut cmd);
        let mut child = cmd.spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(sql.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "psql failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Immediate shutdown, then SIGKILL if it lingers.
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            sys::signal(self.child.id(), sys::SIGQUIT);
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        self.keeper = None;
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A cluster `initdb` made once for this process, and its directory's owner lock.
type Template = (tempfile::TempDir, fs::File);
static TEMPLATE: Mutex<Option<Template>> = Mutex::new(None);

/// The data directory of [`TEMPLATE`], made on first use in a directory of its own. It
/// lives until [`remove_template`] or the process's end (then it is swept like a
/// server's directory).
fn template_cluster(
    bin_dir: &Path,
    base: &Path,
    run_as: Option<(u32, u32)>,
) -> io::Result<PathBuf> {
    let mut template = TEMPLATE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((dir, _)) = template.as_ref() {
        return Ok(dir.path().join("data"));
    }
    // Once per process, like the template: what earlier processes left.
    remove_abandoned(base);
    let dir = tempfile::Builder::new()
        .prefix(DIR_PREFIX)
        .tempdir_in(base)?;
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
    let data = dir.path().join("data");
    fs::create_dir(&data)?;
    fs::set_permissions(&data, fs::Permissions::from_mode(0o700))?;
    if let Some((uid, gid)) = run_as {
        chown(&data, Some(uid), Some(gid))?;
    }
    let owner = hold_owner_lock(dir.path())?;
    let mut cmd = Command::new(bin_dir.join("initdb"));
    cmd.current_dir(dir.path())
        .arg("-D")
        .arg(&data)
        .args(INITDB_ARGS.split(' '));
    clean_env(&mut cmd);
    if let Some((uid, gid)) = run_as {
        cmd.uid(uid).gid(gid);
    }
    run_to_end(cmd, "initdb")?;
    *template = Some((dir, owner));
    Ok(data)
}

/// A small cluster of one encoding and the C locale, with no fsync for a throwaway.
const INITDB_ARGS: &str = "-U postgres -A trust -E UTF8 --locale=C -N";

/// Runs `cmd` to its end, with what it printed on stderr as the error when it fails.
fn run_to_end(mut cmd: Command, what: &str) -> io::Result<()> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(io::Error::other(format!(
        "{what} failed ({}): {stderr}",
        out.status
    )))
}

/// Deletes the cluster servers are copied from, for a process that starts no more of
/// them and should leave nothing behind (`fake-google serve`).
pub fn remove_template() {
    drop(TEMPLATE.lock().unwrap_or_else(|e| e.into_inner()).take());
}

/// Each server's directory: `fake-google-pg.XXXXXX`, holding `owner.lock`, which the
/// process that made it keeps locked (`flock`) for as long as it lives.
const DIR_PREFIX: &str = "fake-google-pg.";
const OWNER_FILE: &str = "owner.lock";

/// Creates `dir`'s owner file already locked: it is locked under another name and
/// renamed into place, so that no sweep ever sees it unlocked.
fn hold_owner_lock(dir: &Path) -> io::Result<fs::File> {
    let draft = dir.join(".owner.lock.new");
    let file = fs::File::create(&draft)?;
    if !sys::try_lock(&file) {
        return Err(io::Error::other("cannot lock a file just made"));
    }
    fs::rename(&draft, dir.join(OWNER_FILE))?;
    Ok(file)
}

/// Deletes the server directories in `base` that no living process holds. A server kept
/// for a whole test binary in a static is never dropped, and a killed test run drops
/// nothing: without this every run would leave tens of megabytes behind. The servers
/// themselves died with their process (see [`sys::die_with_spawning_thread`]).
///
/// The owner file's lock says whether its process lives, wherever that process runs
/// (a PID could be another namespace's, or reused). Only directories of this user are
/// touched; one without an owner file is being made, or was left by a version that
/// made none, and is deleted only a day after it was last changed.
fn remove_abandoned(base: &Path) {
    use std::os::unix::fs::MetadataExt;
    const UNOWNED_KEPT: Duration = Duration::from_secs(24 * 3600);
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        let ours = meta.is_dir() && meta.uid() == sys::geteuid();
        if !ours || !entry.file_name().to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let abandoned = match fs::File::open(entry.path().join(OWNER_FILE)) {
            Ok(owner) => sys::try_lock(&owner),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let age = meta.modified().ok().and_then(|m| m.elapsed().ok());
                age.is_some_and(|age| age > UNOWNED_KEPT)
            }
            Err(_) => false,
        };
        if abandoned {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// The roles, and [`APP_DATABASE`] with its table.
fn provisioning(roles: &[&str]) -> String {
    let mut sql: String = roles
        .iter()
        .map(|role| format!("CREATE ROLE \"{}\" LOGIN;\n", role.replace('"', "\"\"")))
        .collect();
    sql.push_str(&format!(
        "CREATE DATABASE {APP_DATABASE};\nGRANT CONNECT, TEMPORARY ON DATABASE {APP_DATABASE} TO PUBLIC;\n\
         \\connect {APP_DATABASE}\nCREATE TABLE t (x int);\nINSERT INTO t VALUES (1);\nGRANT SELECT ON t TO PUBLIC;\n"
    ));
    sql
}

/// Removes libpq and server variables (`PGHOST`, `PGDATA`...) that would
/// redirect our commands, and pins messages to English.
fn clean_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") && key != "PGCONNECT_TIMEOUT" {
            cmd.env_remove(&key);
        }
    }
    cmd.env("LC_ALL", "C");
}

/// Spawns `cmd` from a thread that lives until the returned sender is
/// dropped, because Linux's parent-death signal fires when the spawning
/// *thread* ends, and test threads end early.
fn spawn_kept(mut cmd: Command) -> io::Result<(Child, mpsc::Sender<()>)> {
    let (child_tx, child_rx) = mpsc::channel();
    let (stop, stop_rx) = mpsc::channel::<()>();
    thread::Builder::new()
        .name("fake-google-pg-keeper".into())
        .spawn(move || {
            let _ = child_tx.send(cmd.spawn());
            let _ = stop_rx.recv();
        })?;
    let child = child_rx
        .recv()
        .map_err(|_| io::Error::other("spawning thread died"))??;
    Ok((child, stop))
}

/// A port free on 127.0.0.1 (and ::1 when used) right now.
fn free_port(ipv6: bool) -> io::Result<u16> {
    for _ in 0..10 {
        let port = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
        if !ipv6 || TcpListener::bind(("::1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(io::Error::other("no free port"))
}

/// The PostgreSQL server programs: `$PG_BINDIR`, the
/// newest `/usr/lib/postgresql/*/bin` (Debian keeps them off `PATH`), or
/// the directory of `initdb` on `PATH`.
fn find_bin_dir() -> io::Result<PathBuf> {
    let has_server = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("PG_BINDIR").filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        return match has_server(&dir) {
            true => Ok(dir),
            false => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "PG_BINDIR={} contains no initdb and postgres",
                    dir.display()
                ),
            )),
        };
    }
    let mut versioned: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .collect();
    versioned.sort();
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("initdb"))
            .find(|p| p.is_file())
            .and_then(|p| fs::canonicalize(p).ok()?.parent().map(Path::to_path_buf))
    });
    versioned
        .into_iter()
        .rev()
        .map(|(_, dir)| dir)
        .chain(on_path)
        .find(|d| has_server(d))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "PostgreSQL server programs (initdb, postgres) not found: set PG_BINDIR, put \
                 initdb on PATH, or install PostgreSQL (e.g. apt-get install postgresql)",
            )
        })
}

/// uid and gid of `postgres`, else `nobody` (`getent` prints the users it
/// finds in the order asked).
fn unprivileged_user() -> io::Result<(u32, u32)> {
    let out = Command::new("getent")
        .args(["passwd", "postgres", "nobody"])
        .output()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?))
        })
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "running as root, and no postgres or nobody user",
            )
        })
}
