//! Reliability: concurrent refreshers, SIGKILL mid-write, a read-only directory, a full
//! disk, a pgpass that is a directory, symlinks, failing and hanging token sources. In
//! every failure the user's file must be exactly as before.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use fake_google::FakeGoogle;
use libpq_files::pgpass::PgpassFile;

const SA: &str = "robot@proj.iam.gserviceaccount.com";
const FOREIGN: &[u8] =
    b"# my own passwords\r\nlegacy.example.com:5432:*:alice:s3cret\r\n\n*:*:*:bob:x\\:y";

fn config_for(env: &Env, url: &str, services: usize) -> String {
    let mut text = format!(
        "[defaults]\ncredentials = {{ command = {} }}\n",
        mint_command(url, SA, &[])
    );
    for i in 0..services {
        text.push_str(&format!(
            "\n[services.db{i}]\nhost = \"10.0.{}.{}\"\ndbname = \"appdb\"\n",
            i / 250,
            i % 250 + 1
        ));
    }
    let _ = env;
    text
}

/// Checks that `bytes` is a complete file: the foreign part intact and either no managed
/// entries (before the first write) or all of them.
fn assert_complete(bytes: &[u8], services: usize) {
    let file = PgpassFile::parse(bytes);
    assert_eq!(file.foreign(), FOREIGN, "foreign bytes changed");
    let n = file.managed().len();
    assert!(
        n == 0 || n == services,
        "partial block: {n} of {services} entries"
    );
}

#[test]
fn concurrent_refreshers_mint_once_and_readers_always_see_a_whole_file() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    fs::write(env.pgpass(), FOREIGN).expect("seed pgpass");
    fs::set_permissions(env.pgpass(), fs::Permissions::from_mode(0o600)).expect("chmod");
    env.write_config(&config_for(&env, &google.http_url(), 3));

    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (stop, reads, path) = (stop.clone(), reads.clone(), env.pgpass());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let bytes = fs::read(&path).expect("pgpass always exists");
                assert_complete(&bytes, 3);
                reads.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let children: Vec<_> = (0..24)
        .map(|_| {
            env.cmd()
                .arg("refresh")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn refresh")
        })
        .collect();
    for child in children {
        ok(child.wait_with_output().expect("wait"));
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().expect("reader saw only whole files");

    assert_eq!(
        google.mint_count(),
        1,
        "24 refreshers, one credential: one mint"
    );
    assert!(reads.load(Ordering::Relaxed) > 0);
    assert_complete(&fs::read(env.pgpass()).expect("read"), 3);
    assert_eq!(
        PgpassFile::parse(&fs::read(env.pgpass()).expect("read"))
            .managed()
            .len(),
        3
    );
}

/// Takes an exclusive lock on `path` the way another alloydb-cred does (flock, its pid
/// written in the file), held until the returned file is dropped.
fn hold_lock(path: &Path) -> fs::File {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let mut file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .expect("open the lock file");
    // SAFETY: flock on a descriptor that `file` owns and keeps open.
    let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(taken, 0, "flock: {}", std::io::Error::last_os_error());
    file.set_len(0).expect("truncate");
    writeln!(file, "{}", std::process::id()).expect("record the holder");
    file
}

/// Everything in `dirs`, with each file's bytes and modification time.
fn snapshot(dirs: &[PathBuf]) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
    let mut all: Vec<_> = dirs
        .iter()
        .flat_map(|dir| fs::read_dir(dir).expect("list").flatten())
        .map(|e| {
            let path = e.path();
            let meta = fs::metadata(&path).expect("stat");
            (
                path.clone(),
                fs::read(&path).expect("read"),
                meta.modified().expect("mtime"),
            )
        })
        .collect();
    all.sort();
    all
}

#[test]
fn a_refresh_with_nothing_due_takes_no_lock_and_a_forced_one_waits_for_it() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    let config = config_for(&env, &google.http_url(), 2).replacen(
        "[defaults]\n",
        "[defaults]\nlock_timeout = \"1s\"\n",
        1,
    );
    env.write_config(&config);
    ok(env.run(&["refresh"]));
    assert_eq!(
        PgpassFile::parse(&fs::read(env.pgpass()).expect("read"))
            .managed()
            .len(),
        2
    );

    let lock = env.home().join(".alloydb-cred.lock");
    let held = hold_lock(&lock);
    let dirs = [env.home(), env.state_dir()];
    let before = snapshot(&dirs);
    let snapshot_of_home = snapshot(&dirs[..1]);

    // Valid entries: the cron case reads the files and ends, never waiting for the lock.
    let started = Instant::now();
    ok(env.run(&["refresh"]));
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "waited {took:?} (lock_timeout is 1s)"
    );
    assert_eq!(
        snapshot(&dirs),
        before,
        "nothing written, not even the lock file"
    );

    // Forced, it needs the lock: it waits lock_timeout and names the lock and its holder.
    let started = Instant::now();
    let err = fails_with(env.run(&["refresh", "--force"]), 1);
    let waited = started.elapsed();
    assert!(
        err.contains("gave up after 1s waiting for the lock"),
        "{err}"
    );
    assert!(err.contains(&lock.display().to_string()), "{err}");
    assert!(
        err.contains(&format!("held by process {}", std::process::id())),
        "{err}"
    );
    assert!(
        (Duration::from_secs(1)..Duration::from_secs(10)).contains(&waited),
        "waited {waited:?}"
    );
    // The files are untouched (the state directory records the failure, for status).
    assert_eq!(snapshot(&dirs[..1]), snapshot_of_home, "files untouched");

    // Released, the forced refresh goes through.
    drop(held);
    ok(env.run(&["refresh", "--force"]));
    assert_ne!(
        snapshot(&dirs[..1]),
        snapshot_of_home,
        "written once the lock is free"
    );
}

#[test]
fn sigkill_at_random_points_never_leaves_a_partial_file() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    fs::write(env.pgpass(), FOREIGN).expect("seed pgpass");
    fs::set_permissions(env.pgpass(), fs::Permissions::from_mode(0o600)).expect("chmod");
    // Many services make the write itself take long enough to be hit.
    env.write_config(&config_for(&env, &google.http_url(), 400));

    // Kill points spread over a whole run, as long as the slowest of three measured here.
    let span = (0..3)
        .map(|_| {
            let started = Instant::now();
            ok(env.run(&["refresh", "--force"]));
            started.elapsed().as_micros() as u64
        })
        .max()
        .unwrap_or(1)
        .max(1);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut killed_after_write = 0;
    const RUNS: u64 = 60;
    for run in 0..RUNS {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Half the kills anywhere in the run, half in its last stretch, where the
        // files are written.
        let delay = if run % 2 == 0 {
            Duration::from_micros(seed % span)
        } else {
            Duration::from_micros(span * 6 / 10 + seed % (span * 6 / 10).max(1))
        };
        let before = fs::read(env.pgpass()).expect("read");
        let mut child = env
            .cmd()
            .args(["refresh", "--force"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let status = child.wait().expect("wait");
        let after = fs::read(env.pgpass()).expect("pgpass still exists");
        assert_complete(&after, 400);
        if status.success() || after != before {
            killed_after_write += 1;
        }
        let mode = fs::metadata(env.pgpass()).expect("stat").mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // A clean run afterwards succeeds and sweeps any temp file a killed writer left.
    ok(env.run(&["refresh", "--force"]));
    assert_complete(&fs::read(env.pgpass()).expect("read"), 400);
    let leftovers: Vec<_> = fs::read_dir(env.home())
        .expect("home")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("alloydb-cred-"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    eprintln!("{killed_after_write} of {RUNS} runs had replaced the file when killed");
}

/// Runs the binary as an unprivileged user when the tests run as root (root ignores
/// directory permissions), so that a read-only directory really is read-only.
fn as_unprivileged(env: &Env, args: &[&str]) -> std::process::Output {
    if !is_root() {
        return env.run(args);
    }
    // Everything the unprivileged user needs must be theirs.
    let status = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(env.dir.path())
        .status()
        .expect("chown");
    assert!(status.success());
    fs::set_permissions(env.dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(BIN)
        .arg("--config")
        .arg(env.config_path())
        .args(args);
    env.apply_env(&mut cmd);
    cmd.output().expect("setpriv")
}

#[test]
fn read_only_directory_gives_a_clear_error_and_keeps_the_file() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    fs::write(env.pgpass(), FOREIGN).expect("seed");
    fs::set_permissions(env.pgpass(), fs::Permissions::from_mode(0o600)).expect("chmod");
    env.write_config(&config_for(&env, &google.http_url(), 2));
    // The token command must be reachable for the unprivileged user too.
    let bin_dir = fake_google_bin();
    assert!(fs::metadata(&bin_dir).expect("stat").mode() & 0o001 != 0);
    // Make the state directory first so only HOME is read-only.
    fs::create_dir_all(env.state_dir()).expect("state");
    if is_root() {
        Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(env.dir.path())
            .status()
            .expect("chown");
    }
    fs::set_permissions(env.home(), fs::Permissions::from_mode(0o555)).expect("chmod home");
    let out = as_unprivileged(&env, &["refresh"]);
    let err = fails_with(out, 1);
    assert!(err.contains(&env.home().display().to_string()), "{err}");
    assert!(err.contains("Permission denied"), "{err}");
    assert_eq!(fs::read(env.pgpass()).expect("read"), FOREIGN);
    fs::set_permissions(env.home(), fs::Permissions::from_mode(0o755)).expect("chmod back");
}

#[test]
fn full_disk_gives_a_clear_error_and_keeps_the_file() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    // A file bigger than the limit, so that any rewrite of it exceeds the limit.
    let mut big = FOREIGN.to_vec();
    big.extend(std::iter::repeat_n(b"# padding line for a big file\n".as_slice(), 400).flatten());
    fs::write(env.pgpass(), &big).expect("seed");
    fs::set_permissions(env.pgpass(), fs::Permissions::from_mode(0o600)).expect("chmod");
    env.write_config(&config_for(&env, &google.http_url(), 2));
    // RLIMIT_FSIZE of 8 KiB (16 blocks of 512 bytes for dash), SIGXFSZ ignored so that the
    // write fails with EFBIG as on a full disk instead of killing the process.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -f 16 && trap '' XFSZ && exec \"$@\"")
        .arg("sh")
        .arg(BIN)
        .arg("--config")
        .arg(env.config_path())
        .arg("refresh");
    env.apply_env(&mut cmd);
    let err = fails_with(cmd.output().expect("run"), 1);
    assert!(err.contains(&env.pgpass().display().to_string()), "{err}");
    assert!(err.contains("free some space"), "{err}");
    assert_eq!(fs::read(env.pgpass()).expect("read"), big);
    let leftovers: Vec<_> = fs::read_dir(env.home())
        .expect("home")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".alloydb-cred.lock" && n != ".alloydb-cred.mint.lock")
        .collect();
    assert_eq!(leftovers, [".pgpass"], "no temp file left behind");
}

#[test]
fn pgpass_that_is_a_directory_is_refused() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    fs::create_dir(env.pgpass()).expect("mkdir");
    env.write_config(&config_for(&env, &google.http_url(), 1));
    let err = fails_with(env.run(&["refresh"]), 1);
    assert!(
        err.contains("is not a regular file (it is a directory)"),
        "{err}"
    );
    assert!(err.contains(".pgpass"), "{err}");
    assert_eq!(
        google.mint_count(),
        0,
        "nothing minted for a file we cannot write"
    );
}

#[test]
fn symlinked_pgpass_is_followed_and_the_link_kept() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    let real = env.dir.path().join("dotfiles-pgpass");
    fs::write(&real, FOREIGN).expect("seed");
    fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).expect("chmod");
    std::os::unix::fs::symlink(&real, env.pgpass()).expect("symlink");
    env.write_config(&config_for(&env, &google.http_url(), 1));
    ok(env.run(&["refresh"]));
    assert!(
        fs::symlink_metadata(env.pgpass())
            .expect("lstat")
            .file_type()
            .is_symlink()
    );
    let bytes = fs::read(&real).expect("read");
    assert!(bytes.ends_with(FOREIGN));
    assert_eq!(PgpassFile::parse(&bytes).managed().len(), 1);
    ok(env.run(&["remove", "--all"]));
    assert_eq!(fs::read(&real).expect("read"), FOREIGN);
}

#[test]
fn failing_and_hanging_sources_leave_entries_untouched() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    env.write_config(&config_for(&env, &google.http_url(), 1));
    ok(env.run(&["refresh"]));
    let good = fs::read(env.pgpass()).expect("read");

    // A command that fails, with its stderr in the error (tokens redacted).
    let failing = env.script(
        "failing.sh",
        "echo 'broker says: no; leaked ya29.SECRETSECRET' >&2; exit 3",
    );
    env.write_config(&format!(
        "[defaults]\ncredentials = {{ command = [\"{}\"] }}\n[services.db0]\nhost = \"10.0.0.1\"\ndbname = \"appdb\"\n",
        failing.display()
    ));
    let err = fails_with(env.run(&["refresh", "--force"]), 1);
    assert!(err.contains("exited with status 3"), "{err}");
    assert!(err.contains("broker says: no"), "{err}");
    assert!(!err.contains("SECRETSECRET"), "{err}");
    assert!(err.contains("service db0"), "{err}");
    assert_eq!(fs::read(env.pgpass()).expect("read"), good);

    // A command that hangs is stopped at its timeout.
    let hanging = env.script("hanging.sh", "exec sleep 30");
    env.write_config(&format!(
        "[defaults]\ncredentials = {{ command = [\"{}\"], timeout = \"1s\" }}\n[services.db0]\nhost = \"10.0.0.1\"\ndbname = \"appdb\"\n",
        hanging.display()
    ));
    let started = Instant::now();
    let err = fails_with(env.run(&["refresh", "--force"]), 1);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(err.contains("did not finish within 1s"), "{err}");
    assert_eq!(fs::read(env.pgpass()).expect("read"), good);

    // status reports the last error, never a token.
    let status = ok(env.run(&["status"]));
    assert!(status.contains("did not finish"), "{status}");
    let token = PgpassFile::parse(&good).managed()[0]
        .password
        .expose()
        .to_string();
    assert!(!status.contains(&token));

    // A command that leaves a background process holding its output open: the timeout
    // still bounds the run, and what it printed before exiting is used.
    let json =
        format!("{{\"access_token\":\"ya29.bg\",\"expires_in\":3600,\"principal\":\"{SA}\"}}");
    let lingering = env.script("lingering.sh", &format!("sleep 30 &\necho '{json}'"));
    env.write_config(&format!(
        "[defaults]\ncredentials = {{ command = [\"{}\"], timeout = \"2s\" }}\n[services.db0]\nhost = \"10.0.0.1\"\ndbname = \"appdb\"\n",
        lingering.display()
    ));
    let started = Instant::now();
    ok(env.run(&["refresh", "--force"]));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let good = fs::read(env.pgpass()).expect("read");
    assert_eq!(
        PgpassFile::parse(&good).managed()[0].password.expose(),
        "ya29.bg"
    );
}

#[test]
fn bare_tokens_get_their_expiry_from_tokeninfo_with_retries() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    let url = google.http_url();
    env.write_config(&format!(
        "[defaults]\ncredentials = {{ command = {} }}\n[endpoints]\ntokeninfo = \"{url}/tokeninfo\"\n[services.db0]\nhost = \"10.0.0.1\"\n",
        mint_command(&url, SA, &["--bare", "--lifetime", "1234"])
    ));
    // The mint itself succeeds; then tokeninfo answers 500 twice before it works.
    // (Failures count every endpoint, so mint first by hand is not possible here:
    // instead fail only after the token exists, via a wrapper that sets them.)
    ok(env.run(&["refresh"]));
    let file = PgpassFile::parse(&fs::read(env.pgpass()).expect("read"));
    let entry = &file.managed()[0];
    let left = entry.expires_at.as_second() - jiff::Timestamp::now().as_second();
    assert!(
        (1200..=1234).contains(&left),
        "expiry from tokeninfo: {left}s left"
    );
    assert_eq!(
        entry.user, "robot@proj.iam",
        "principal from tokeninfo's email"
    );
    assert!(google.tokeninfo_calls() >= 1);

    // With tokeninfo failing twice (HTTP 500), the third attempt succeeds.
    let calls_before = google.tokeninfo_calls();
    let bare = google.mint(SA, Duration::from_secs(3000), &[], 180);
    let printer = env.script("print.sh", &format!("echo {bare}"));
    env.write_config(&format!(
        "[defaults]\ncredentials = {{ command = [\"{}\"] }}\n[endpoints]\ntokeninfo = \"{url}/tokeninfo\"\n[services.db0]\nhost = \"10.0.0.1\"\n",
        printer.display()
    ));
    google.set_failures(2, 500);
    ok(env.run(&["refresh", "--force"]));
    assert_eq!(google.tokeninfo_calls() - calls_before, 3);

    // A tokeninfo that never answers in time: clear error, file untouched.
    let before = fs::read(env.pgpass()).expect("read");
    google.set_failures(10, 503);
    let err = fails_with(env.run(&["refresh", "--force"]), 1);
    assert!(err.contains("tokeninfo") && err.contains("503"), "{err}");
    assert_eq!(fs::read(env.pgpass()).expect("read"), before);
    google.set_failures(0, 500);
}

/// Whether this process can make private mount namespaces (root, as in CI). A missing
/// capability fails the test (see `prerequisite`) rather than skipping it silently.
fn private_mounts(what: &str) -> bool {
    let available = is_root()
        && Command::new("unshare")
            .args(["-m", "true"])
            .status()
            .is_ok_and(|s| s.success());
    prerequisite(available, "root and mount namespaces", what)
}

/// Runs `script` with `sh -c` in a private mount namespace, with `args` as $1, $2, …
/// and this user's environment.
fn in_mount_namespace(env: &Env, script: &str, args: &[&std::ffi::OsStr]) -> std::process::Output {
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "sh", "-c", script, "sh"]).args(args);
    env.apply_env(&mut cmd);
    cmd.output().expect("unshare")
}

#[test]
fn single_file_bind_mount_is_written_in_place() {
    // A container that bind-mounts one file: rename onto the mount point fails with
    // EBUSY, so the tool must rewrite the file in place.
    if !private_mounts("bind-mount fallback") {
        return;
    }
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    let outside = env.dir.path().join("host-pgpass");
    fs::write(&outside, FOREIGN).expect("seed");
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o600)).expect("chmod");
    fs::write(env.pgpass(), b"").expect("mount point");
    env.write_config(&config_for(&env, &google.http_url(), 2));
    // In one private mount namespace: bind the file, refresh, copy what the tool wrote,
    // then remove --all (which must empty the mount point, not fail on unlinking it).
    let copy = env.dir.path().join("after-refresh");
    let script = "mount --bind \"$1\" \"$2\" && \"$3\" -v --config \"$4\" refresh && cp \"$2\" \"$5\" && \"$3\" --config \"$4\" remove --all";
    let (pgpass, config) = (env.pgpass(), env.config_path());
    let out = in_mount_namespace(
        &env,
        script,
        &[
            outside.as_os_str(),
            pgpass.as_os_str(),
            BIN.as_ref(),
            config.as_os_str(),
            copy.as_os_str(),
        ],
    );
    let err = stderr(&out);
    ok(out);
    assert!(err.contains("writing it in place"), "{err}");
    let bytes = fs::read(&copy).expect("read");
    assert!(bytes.ends_with(FOREIGN));
    assert_eq!(PgpassFile::parse(&bytes).managed().len(), 2);
    assert_eq!(
        fs::read(&outside).expect("read"),
        FOREIGN,
        "remove --all restored the bytes"
    );
}

#[test]
fn full_disk_under_a_bind_mount_keeps_every_byte() {
    // The in-place path on a full file system: it must fail before overwriting anything.
    if !private_mounts("full-disk in-place path") {
        return;
    }
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    let disk = env.dir.path().join("disk");
    fs::create_dir(&disk).expect("mkdir");
    let mut original = FOREIGN.to_vec();
    original.extend(
        std::iter::repeat_n(
            b"userhost.example.com:5432:*:someone:a-password\n".as_slice(),
            150,
        )
        .flatten(),
    );
    let seed = env.dir.path().join("seed");
    fs::write(&seed, &original).expect("seed");
    fs::write(env.pgpass(), b"").expect("mount point");
    env.write_config(&config_for(&env, &google.http_url(), 20));
    let copy = env.dir.path().join("after");
    // A 64 KiB tmpfs holding the user's file, filled to the brim, bind-mounted as ~/.pgpass.
    let script = "mount -t tmpfs -o size=64k none \"$1\" && cp \"$2\" \"$1/pgpass\" && chmod 600 \"$1/pgpass\" \
        && (dd if=/dev/zero of=\"$1/fill\" bs=1k count=128 2>/dev/null; true) \
        && mount --bind \"$1/pgpass\" \"$3\" \
        && { \"$4\" --config \"$5\" refresh; echo \"exit=$?\"; cp \"$1/pgpass\" \"$6\"; }";
    let (pgpass, config) = (env.pgpass(), env.config_path());
    let out = in_mount_namespace(
        &env,
        script,
        &[
            disk.as_os_str(),
            seed.as_os_str(),
            pgpass.as_os_str(),
            BIN.as_ref(),
            config.as_os_str(),
            copy.as_os_str(),
        ],
    );
    let text = stdout(&out);
    let err = stderr(&out);
    assert!(
        text.contains("exit=1"),
        "refresh must fail on a full disk: {text} {err}"
    );
    assert!(err.contains("No space left"), "{err}");
    assert_eq!(
        fs::read(&copy).expect("copy"),
        original,
        "not a byte of the user's file lost"
    );
}
