//! `refresh --watch` as a service manager runs it: short-lived tokens kept valid through
//! several refreshes (psql logs in all along) without spinning, SIGHUP picking up a new
//! service and surviving a broken configuration, SIGTERM and SIGINT ending it at once
//! with exit 0, a failing token source retried with backoff and recovered before the
//! entry expires, a wall clock that jumps ahead noticed at once, and systemd's notify
//! protocol.

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::common::*;
use fake_google::FakeGoogle;
use fake_google::pg::PgServer;
use libpq_files::pgpass::PgpassFile;

const SA: &str = "watcher@proj.iam.gserviceaccount.com";
const USER: &str = "watcher@proj.iam";

/// One stand-in Google and one AlloyDB-like server for the whole binary.
struct Shared {
    google: FakeGoogle,
    pg: PgServer,
}

fn shared() -> MutexGuard<'static, Shared> {
    static SHARED: OnceLock<Mutex<Shared>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let google = FakeGoogle::start().expect("fake google");
            let pg = PgServer::start(google.ldap_port(), &[USER]).expect("postgres");
            Mutex::new(Shared { google, pg })
        })
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// A `command` credential that mints `lifetime`-second tokens, fails while `down` exists,
/// and counts its runs in `count`.
fn credentials(env: &Env, lifetime: u32) -> (String, PathBuf, PathBuf) {
    let down = env.dir.path().join("down");
    let count = env.dir.path().join("mints");
    let argv = [
        "sh".to_string(),
        "-c".into(),
        format!(
            "echo x >> '{}'; if [ -e '{}' ]; then echo 'the broker is down' >&2; exit 1; fi; exec \"$0\" \"$@\"",
            count.display(),
            down.display()
        ),
        fake_google_bin().display().to_string(),
        "mint".into(),
        "--url".into(),
        shared().google.http_url(),
        "--principal".into(),
        SA.into(),
        "--lifetime".into(),
        lifetime.to_string(),
    ];
    (
        format!("{{ command = {} }}", toml_array(&argv)),
        down,
        count,
    )
}

fn service(name: &str, window: &str) -> String {
    format!(
        "[services.{name}]\nhost = \"127.0.0.1\"\nport = {}\ndbname = \"appdb\"\nrefresh_window = \"{window}\"\n",
        shared().pg.port()
    )
}

/// `alloydb-cred refresh --watch`, its stderr in a file.
struct Watch {
    child: Child,
    log: PathBuf,
}

impl Watch {
    fn start(env: &Env, extra_env: &[(&str, &Path)]) -> Watch {
        let log = env.dir.path().join("watch.log");
        let mut cmd = env.cmd();
        cmd.args(["refresh", "--watch"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("log file"));
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        Watch {
            child: cmd.spawn().expect("start the loop"),
            log,
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// `signal` (SIGTERM as a service manager sends, SIGINT as Ctrl-C does), and how long
    /// the process took to exit and with what status.
    fn stop(mut self, signal: &str) -> (Duration, Option<i32>) {
        self.signal(signal);
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "did not stop:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        (started.elapsed(), status.code())
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits up to `limit` for `condition`.
fn eventually(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn entries(env: &Env) -> Vec<libpq_files::pgpass::ManagedEntry> {
    PgpassFile::managed_in(&fs::read(env.pgpass()).unwrap_or_default())
}

fn count(path: &Path) -> usize {
    fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

fn psql(env: &Env, service: &str) -> std::process::Output {
    let program = shared().pg.client("psql");
    env.client(&program)
        .args(["-X", "-A", "-t", "-w", "-c", "select current_user"])
        .env("PGSERVICE", service)
        .output()
        .expect("psql")
}

#[test]
fn short_lived_tokens_stay_valid_through_several_refreshes_without_spinning() {
    let env = Env::new();
    let (credentials, _, mints) = credentials(&env, 8);
    env.write_config(&format!(
        "[defaults]\ncredentials = {credentials}\n{}",
        service("db", "4s")
    ));
    let watch = Watch::start(&env, &[]);
    eventually(Duration::from_secs(10), "the first token", || {
        !entries(&env).is_empty()
    });
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(18) {
        let out = psql(&env, "db");
        assert!(
            out.status.success(),
            "login failed at {:?}: {}\n{}",
            started.elapsed(),
            stderr(&out),
            watch.log()
        );
        assert_eq!(stdout(&out).trim(), USER);
        std::thread::sleep(Duration::from_millis(700));
    }
    // Tokens live 8 s and are renewed with 4 s left: about one mint every 4 s.
    let minted = count(&mints);
    assert!(
        (4..=9).contains(&minted),
        "{minted} mints in ~20 s\n{}",
        watch.log()
    );
    let log = watch.log();
    assert_eq!(
        log.matches("refreshed (").count(),
        minted,
        "one line per refresh:\n{log}"
    );
    assert!(!log.contains("ya29."), "{log}");
    let (took, code) = watch.stop("-TERM");
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(1), "stopped in {took:?}");
}

#[test]
fn sighup_reloads_the_configuration_and_keeps_the_old_one_when_the_new_is_broken() {
    let env = Env::new();
    let (credentials, _, _) = credentials(&env, 3600);
    let config = |services: &str| format!("[defaults]\ncredentials = {credentials}\n{services}");
    env.write_config(&config(&service("one", "15m")));
    let watch = Watch::start(&env, &[]);
    eventually(Duration::from_secs(10), "service one", || {
        entries(&env).len() == 1
    });

    env.write_config(&config(&format!(
        "{}{}",
        service("one", "15m"),
        service("two", "15m")
    )));
    watch.signal("-HUP");
    eventually(Duration::from_secs(10), "service two after SIGHUP", || {
        entries(&env).len() == 2
    });
    assert!(ok(psql(&env, "two")).contains(USER));

    // A reload that moves a service takes effect at once, not when its token runs out.
    env.write_config(&config(&format!(
        "{}{}",
        service("one", "15m").replace("127.0.0.1", "localhost"),
        service("two", "15m")
    )));
    watch.signal("-HUP");
    eventually(
        Duration::from_secs(10),
        "service one moved after SIGHUP",
        || {
            entries(&env)
                .iter()
                .any(|e| e.service.as_str() == "one" && e.host.as_str() == "localhost")
        },
    );
    assert!(ok(psql(&env, "one")).contains(USER));

    env.write_config("[services.broken\n");
    watch.signal("-HUP");
    eventually(Duration::from_secs(5), "the broken config reported", || {
        watch.log().contains("was not reloaded")
    });
    // Ctrl-C ends the loop as cleanly as SIGTERM does.
    let (took, code) = watch.stop("-INT");
    assert_eq!(
        code,
        Some(0),
        "still running on the old configuration until stopped by SIGINT"
    );
    assert!(took < Duration::from_secs(1), "stopped in {took:?}");
}

#[test]
fn a_failing_source_is_retried_with_backoff_and_recovers_before_the_entry_expires() {
    let env = Env::new();
    let (credentials, down, mints) = credentials(&env, 12);
    env.write_config(&format!(
        "[defaults]\ncredentials = {credentials}\n{}",
        service("db", "6s")
    ));
    let watch = Watch::start(&env, &[]);
    eventually(Duration::from_secs(10), "the first token", || {
        !entries(&env).is_empty()
    });
    let first = entries(&env)[0].expires_at;
    // The source fails from before the entry is due until a little after.
    fs::write(&down, "").expect("down");
    eventually(
        Duration::from_secs(15),
        "a failed refresh and a retry",
        || watch.log().contains("retrying in"),
    );
    let failures = count(&mints);
    std::thread::sleep(Duration::from_secs(1));
    fs::remove_file(&down).expect("up again");
    eventually(Duration::from_secs(10), "recovery", || {
        entries(&env).first().is_some_and(|e| e.expires_at > first)
    });
    assert!(
        jiff::Timestamp::now() < first,
        "recovered before the old entry expired\n{}",
        watch.log()
    );
    assert!(ok(psql(&env, "db")).contains(USER));
    // Backoff, not a spin: a handful of attempts while the source was down.
    assert!(count(&mints) - failures <= 4, "{}", watch.log());
    assert!(
        watch.log().contains("the broker is down"),
        "{}",
        watch.log()
    );
}

#[test]
fn a_wall_clock_jumping_ahead_is_noticed_at_once() {
    let env = Env::new();
    let (credentials, _, mints) = credentials(&env, 120);
    env.write_config(&format!(
        "[defaults]\ncredentials = {credentials}\n{}",
        service("db", "20s")
    ));
    let offset = env.dir.path().join("clock-offset");
    fs::write(&offset, "0").expect("offset");
    let watch = Watch::start(&env, &[("ALLOYDB_CRED_CLOCK_OFFSET_FILE", &offset)]);
    eventually(Duration::from_secs(10), "the first token", || {
        count(&mints) == 1
    });
    // The next refresh is ~100 s away. The clock jumps 95 s ahead (a laptop resuming):
    // the loop notices within its slice and refreshes without waiting out its old sleep.
    fs::write(&offset, "95").expect("jump");
    let jumped = Instant::now();
    eventually(Duration::from_secs(12), "the jump noticed", || {
        let log = watch.log();
        log.contains("the clock moved 9") && log.contains("s ahead")
    });
    eventually(Duration::from_secs(8), "a refresh after the jump", || {
        count(&mints) == 2
    });
    assert!(
        jumped.elapsed() < Duration::from_secs(10),
        "{}",
        watch.log()
    );
}

#[test]
fn systemd_hears_ready_status_watchdog_and_stopping() {
    let env = Env::new();
    let (credentials, _, _) = credentials(&env, 3600);
    env.write_config(&format!(
        "[defaults]\ncredentials = {credentials}\n{}",
        service("db", "15m")
    ));
    let socket_path = env.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let log = env.dir.path().join("watch.log");
    // systemd names the watched process in WATCHDOG_PID: a shell that execs keeps its pid.
    let mut cmd = Command::new("sh");
    env.apply_env(&mut cmd);
    let child = cmd
        .args(["-c", "WATCHDOG_PID=$$ exec \"$@\"", "sh", BIN, "--config"])
        .arg(env.config_path())
        .args(["refresh", "--watch"])
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "1000000")
        .stdin(Stdio::null())
        .stderr(fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start");
    let watch = Watch { child, log };
    let mut heard = Vec::new();
    let mut buf = [0u8; 4096];
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10)
        && !["READY=1", "STATUS=services watched: 1", "WATCHDOG=1"]
            .iter()
            .all(|m| heard.iter().any(|h: &String| h.contains(m)))
    {
        if let Ok(n) = socket.recv(&mut buf) {
            heard.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    for wanted in ["READY=1", "STATUS=services watched: 1", "WATCHDOG=1"] {
        assert!(
            heard.iter().any(|h| h.contains(wanted)),
            "{wanted} not heard: {heard:?}\n{}",
            watch.log()
        );
    }
    let (_, code) = watch.stop("-TERM");
    assert_eq!(code, Some(0));
    let mut stopping = false;
    while let Ok(n) = socket.recv(&mut buf) {
        if String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1") {
            stopping = true;
            break;
        }
    }
    assert!(stopping, "STOPPING=1 not heard");
}
