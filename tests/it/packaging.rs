//! Checks of `packaging/` that run without a service manager, launchd, Docker or a
//! Kubernetes cluster: systemd units through `systemd-analyze verify` (and its offline
//! security review), launchd plists through python3's plistlib, Kubernetes manifests
//! through PyYAML and the Kubernetes API schema (kubernetes-validate), the Dockerfile
//! through a small lint, the cron line's schedule and command, and the Debian and RPM
//! package metadata against the files it installs.
//!
//! A missing tool fails its check, naming what to install (`scripts/test.sh` installs
//! them all), unless `ALLOYDB_CRED_TEST_SKIP_MISSING` asks to skip it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_alloydb-cred");

/// The repository root: the nearest ancestor of this package that holds `packaging/`.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("packaging").is_dir() && dir.join("Cargo.lock").is_file())
        .expect("repository root with packaging/ and Cargo.lock")
        .to_path_buf()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

/// Whether a prerequisite is there (see the harness's rule: missing, it fails the check
/// unless skips are asked for).
#[track_caller]
fn prerequisite(present: bool, what: &str) -> bool {
    crate::common::prerequisite(present, what, "its check")
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| {
            path.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn have_python_with_yaml() -> bool {
    Command::new("python3")
        .args(["-c", "import yaml"])
        .output()
        .is_ok_and(|out| out.status.success())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn check_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Runs a python3 program that prints one JSON document, and returns that document.
fn python_json(program: &str, args: &[&Path]) -> Value {
    let out = Command::new("python3")
        .arg("-c")
        .arg(program)
        .args(args)
        .output()
        .expect("run python3");
    check_success(&out, "python3");
    serde_json::from_slice(&out.stdout).expect("python3 printed JSON")
}

fn as_str<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"))
}

fn as_array<'a>(value: &'a Value, what: &str) -> &'a Vec<Value> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{what} is not a list: {value}"))
}

fn strings(value: &Value, what: &str) -> Vec<String> {
    as_array(value, what)
        .iter()
        .map(|v| as_str(v, what).to_owned())
        .collect()
}

/// Runs a scheduler's shell command as the scheduler would (`/bin/sh -c`, a bare
/// environment with HOME and a short PATH), with a stand-in `alloydb-cred` in
/// `~/.cargo/bin` that records its arguments, and `dirs` created in the home
/// directory; returns the recorded lines and the home directory.
fn run_in_scheduler_home(script: &str, dirs: &[&str]) -> (String, TempDir) {
    let home = TempDir::new().expect("temp home");
    for dir in dirs {
        fs::create_dir_all(home.path().join(dir)).expect("create dir in home");
    }
    let bin_dir = home.path().join(".cargo/bin");
    fs::create_dir_all(&bin_dir).expect("create bin dir");
    let log = home.path().join("args.log");
    let bin = bin_dir.join("alloydb-cred");
    fs::write(
        &bin,
        format!("#!/bin/sh\necho \"$*\" >> '{}'\n", log.display()),
    )
    .expect("write the stand-in binary");
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = Command::new("/bin/sh")
        .args(["-c", script])
        .env_clear()
        .env("HOME", home.path())
        .env("PATH", "/usr/bin:/bin")
        .output()
        .expect("run /bin/sh");
    check_success(&out, script);
    (read(&log), home)
}

/// The files in `dir` whose names end in `.ext`.
fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let files: Vec<PathBuf> = files_in(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    assert!(!files.is_empty(), "no .{ext} file in {}", dir.display());
    files
}

// ---------------------------------------------------------------------------------
// systemd

/// A unit file's settings: section -> key -> every value assigned, in order.
type Unit = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn parse_unit(path: &Path) -> Unit {
    let mut unit = Unit::new();
    let mut section = String::new();
    for line in read(path).lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        assert!(
            !line.ends_with('\\'),
            "{}: continuation lines are not used here",
            path.display()
        );
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{}: not a setting: {line}", path.display()));
        assert!(
            !section.is_empty(),
            "{}: {line} outside a section",
            path.display()
        );
        unit.entry(section.clone())
            .or_default()
            .entry(key.trim().to_owned())
            .or_default()
            .push(value.trim().to_owned());
    }
    unit
}

/// The last value of a setting (the one systemd uses for single-valued settings).
fn setting<'a>(unit: &'a Unit, section: &str, key: &str) -> Option<&'a str> {
    unit.get(section)?.get(key)?.last().map(String::as_str)
}

fn expect_setting<'a>(unit: &'a Unit, name: &str, section: &str, key: &str) -> &'a str {
    setting(unit, section, key).unwrap_or_else(|| panic!("{name}: [{section}] {key}= is missing"))
}

/// `Environment=` assignments, later ones winning.
fn environment(unit: &Unit) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for line in unit
        .get("Service")
        .and_then(|s| s.get("Environment"))
        .into_iter()
        .flatten()
    {
        for assignment in line.split_whitespace() {
            let (k, v) = assignment.split_once('=').expect("NAME=value");
            env.insert(k.to_owned(), v.to_owned());
        }
    }
    env
}

fn unit_dir(kind: &str) -> PathBuf {
    repo().join("packaging/systemd").join(kind)
}

/// Copies units to `dir`, pointing an absolute `/usr/bin/alloydb-cred` at the built
/// binary: `systemd-analyze verify` insists that ExecStart= names an executable.
fn stage_units(kind: &str, dir: &Path) -> Vec<PathBuf> {
    files_in(&unit_dir(kind))
        .iter()
        .map(|path| {
            let staged = dir.join(file_name(path));
            fs::write(&staged, read(path).replace("/usr/bin/alloydb-cred", BIN))
                .expect("stage unit");
            staged
        })
        .collect()
}

fn systemd_analyze(args: &[&str], units: &[PathBuf], runtime_dir: &Path) -> Output {
    Command::new("systemd-analyze")
        .args(args)
        .args(units)
        // A --user manager needs a runtime directory, even only to verify units.
        .env("XDG_RUNTIME_DIR", runtime_dir)
        .output()
        .expect("run systemd-analyze")
}

/// `verify` exits 0 even for an unknown key or a value it cannot parse (it prints a
/// warning and ignores the line), so any output counts as a failure too.
fn check_verified(out: &Output, what: &str) {
    check_success(out, what);
    let stderr = text(&out.stderr);
    assert!(
        stderr.trim().is_empty(),
        "{what} warned:\n{stderr}\nstdout:\n{}",
        text(&out.stdout)
    );
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    if !prerequisite(
        on_path("systemd-analyze").is_some(),
        "systemd-analyze (apt-get install systemd)",
    ) {
        return;
    }
    let tmp = TempDir::new().expect("temp dir");
    let runtime = tmp.path().join("runtime");
    let user_dir = tmp.path().join("user");
    let system_dir = tmp.path().join("system");
    for dir in [&runtime, &user_dir, &system_dir] {
        fs::create_dir_all(dir).expect("create dir");
    }
    fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).expect("chmod");

    let user_units = stage_units("user", &user_dir);
    assert!(!user_units.is_empty());
    let out = systemd_analyze(&["--user", "verify", "--man=no"], &user_units, &runtime);
    check_verified(&out, "systemd-analyze --user verify");

    // A template is verified through an instance of it.
    let staged = stage_units("system", &system_dir);
    let instances: Vec<PathBuf> = staged
        .iter()
        .map(|path| {
            let name = file_name(path);
            match name.split_once("@.") {
                Some((prefix, suffix)) => system_dir.join(format!("{prefix}@app.{suffix}")),
                None => path.clone(),
            }
        })
        .collect();
    assert!(!instances.is_empty());
    let out = systemd_analyze(&["verify", "--man=no"], &instances, &runtime);
    check_verified(&out, "systemd-analyze verify");

    // The system service runs unattended on servers: its sandbox must stay tight.
    // --threshold is in tenths: 20 means an exposure level of at most 2.0 ("OK").
    for instance in &instances {
        let out = systemd_analyze(
            &["security", "--offline=yes", "--threshold=20", "--no-pager"],
            std::slice::from_ref(instance),
            &runtime,
        );
        check_success(&out, "systemd-analyze security --threshold=20");
    }
}

#[test]
fn systemd_units_name_existing_man_pages() {
    for kind in ["user", "system"] {
        for path in files_in(&unit_dir(kind)) {
            let unit = parse_unit(&path);
            let docs = expect_setting(&unit, &file_name(&path), "Unit", "Documentation");
            for doc in docs.split_whitespace() {
                let page = doc
                    .strip_prefix("man:")
                    .and_then(|p| p.strip_suffix(')'))
                    .and_then(|p| p.split_once('('))
                    .map(|(name, section)| format!("{name}.{section}"));
                if let Some(page) = page {
                    assert!(
                        repo().join("man").join(&page).is_file(),
                        "{}: Documentation= names man/{page}, which does not exist",
                        path.display()
                    );
                }
            }
        }
    }
}

#[test]
fn user_loop_unit_is_a_hardened_notify_service() {
    let name = "alloydb-cred.service";
    let unit = parse_unit(&unit_dir("user").join(name));
    let get = |section, key| expect_setting(&unit, name, section, key);
    assert_eq!(get("Service", "Type"), "notify");
    assert!(get("Service", "ExecStart").ends_with("alloydb-cred refresh --watch"));
    assert!(get("Service", "ExecReload").contains("-HUP $MAINPID"));
    assert_eq!(get("Service", "Restart"), "on-failure");
    assert!(!get("Service", "WatchdogSec").is_empty());
    // A configuration error (exit 2) is not fixed by restarting.
    assert_eq!(get("Service", "RestartPreventExitStatus"), "2");
    assert_eq!(get("Service", "NoNewPrivileges"), "yes");
    assert_eq!(get("Service", "ProtectSystem"), "strict");
    assert_eq!(get("Service", "PrivateTmp"), "yes");
    assert_eq!(get("Service", "UMask"), "0077");
    // Files are replaced by rename: their directory (home) must stay writable.
    assert!(
        get("Service", "ReadWritePaths")
            .split_whitespace()
            .any(|p| p == "%h")
    );
    assert_eq!(setting(&unit, "Service", "ProtectHome"), None);
    assert_eq!(get("Install", "WantedBy"), "default.target");
    // The loop replaces the timer; the two are not meant to run side by side.
    let timer = "alloydb-cred-refresh.timer";
    assert!(
        get("Unit", "Conflicts")
            .split_whitespace()
            .any(|u| u == timer)
    );
    assert!(unit_dir("user").join(timer).is_file());
}

#[test]
fn user_timer_starts_the_one_shot_service() {
    let timer = parse_unit(&unit_dir("user").join("alloydb-cred-refresh.timer"));
    // Without Unit=, a timer starts the service of its own name.
    assert_eq!(setting(&timer, "Timer", "Unit"), None);
    assert!(setting(&timer, "Timer", "OnUnitActiveSec").is_some());
    assert_eq!(
        setting(&timer, "Install", "WantedBy"),
        Some("timers.target")
    );
    let name = "alloydb-cred-refresh.service";
    let service = parse_unit(&unit_dir("user").join(name));
    assert_eq!(expect_setting(&service, name, "Service", "Type"), "oneshot");
    let exec = expect_setting(&service, name, "Service", "ExecStart");
    assert!(exec.ends_with("alloydb-cred refresh"), "{exec}");
    // The timer, not the service, is what gets enabled.
    assert!(!service.contains_key("Install"));
}

#[test]
fn system_template_runs_as_the_consuming_account_and_writes_only_its_state_dir() {
    let name = "alloydb-cred@.service";
    let unit = parse_unit(&unit_dir("system").join(name));
    let get = |key| expect_setting(&unit, name, "Service", key);
    assert_eq!(get("Type"), "notify");
    // libpq reads only a 0600 password file: refresher and consumer are one user.
    assert_eq!(get("User"), "%i");
    assert_eq!(setting(&unit, "Service", "DynamicUser"), None);
    assert_eq!(
        get("ExecStart"),
        "/usr/bin/alloydb-cred refresh --watch",
        "the packages install the binary in /usr/bin"
    );
    assert_eq!(get("Restart"), "on-failure");
    assert!(!get("WatchdogSec").is_empty());
    assert_eq!(get("ProtectSystem"), "strict");
    assert_eq!(get("ProtectHome"), "yes");
    assert_eq!(get("NoNewPrivileges"), "yes");
    assert_eq!(get("StateDirectoryMode"), "0700");
    assert_eq!(setting(&unit, "Service", "ReadWritePaths"), None);

    // Under ProtectSystem=strict only the state directory is writable, so both
    // files and the state must live in it.
    let state = format!("/var/lib/{}/", get("StateDirectory"));
    let env = environment(&unit);
    for var in ["PGPASSFILE", "PGSERVICEFILE", "ALLOYDB_CRED_STATE_DIR"] {
        let value = env
            .get(var)
            .unwrap_or_else(|| panic!("{name}: Environment={var}= is missing"));
        assert!(
            value.starts_with(&state),
            "{var}={value} is outside {state}"
        );
    }
    let config = env.get("ALLOYDB_CRED_CONFIG").expect("ALLOYDB_CRED_CONFIG");
    let config_dir = format!("/etc/{}/", get("ConfigurationDirectory"));
    assert!(
        config.starts_with(&config_dir),
        "{config} is outside {config_dir}"
    );
    assert_eq!(
        setting(&unit, "Install", "WantedBy"),
        Some("multi-user.target")
    );
}

// ---------------------------------------------------------------------------------
// launchd

#[test]
fn launchd_agent_runs_the_loop_under_keepalive() {
    if !prerequisite(
        on_path("python3").is_some(),
        "python3 (apt-get install python3)",
    ) {
        return;
    }
    for path in files_with_extension(&repo().join("packaging/launchd"), "plist") {
        let plist = python_json(
            "import json, plistlib, sys\n\
             with open(sys.argv[1], 'rb') as f:\n    print(json.dumps(plistlib.load(f)))",
            &[&path],
        );
        let stem = path.file_stem().expect("stem").to_string_lossy();
        assert_eq!(as_str(&plist["Label"], "Label"), stem, "Label = file name");
        assert_eq!(plist["RunAtLoad"], Value::Bool(true));
        // A loop is kept alive, not started on an interval.
        assert!(plist.get("StartInterval").is_none());
        assert_eq!(plist["KeepAlive"]["SuccessfulExit"], Value::Bool(false));
        assert!(plist["ThrottleInterval"].as_u64().is_some_and(|s| s >= 10));

        let argv = strings(&plist["ProgramArguments"], "ProgramArguments");
        assert_eq!(argv[..2], ["/bin/sh", "-c"], "{argv:?}");
        assert_eq!(argv.len(), 3, "{argv:?}");
        // The job's command finds the binary in ~/.cargo/bin, which it puts on PATH,
        // and appends to its log.
        let (recorded, home) = run_in_scheduler_home(&argv[2], &["Library/Logs"]);
        assert_eq!(recorded, "refresh --watch\n");
        assert!(home.path().join("Library/Logs/alloydb-cred.log").is_file());
    }
}

// ---------------------------------------------------------------------------------
// cron

fn check_cron_field(value: &str, min: u32, max: u32, line: &str) {
    for item in value.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        if let Some(step) = step {
            let step: u32 = step
                .parse()
                .unwrap_or_else(|_| panic!("bad step in {line}"));
            assert!(step >= 1 && step <= max, "bad step in {line}");
        }
        if range == "*" {
            continue;
        }
        let (low, high) = range.split_once('-').unwrap_or((range, range));
        let parse =
            |n: &str| -> u32 { n.parse().unwrap_or_else(|_| panic!("bad field in {line}")) };
        let (low, high) = (parse(low), parse(high));
        assert!(
            min <= low && low <= high && high <= max,
            "field out of range in {line}"
        );
    }
}

/// Splits a crontab line into its five schedule fields and its command.
fn cron_entry(line: &str) -> ([String; 5], String) {
    let mut rest = line.trim();
    let mut fields: [String; 5] = Default::default();
    for (field, (min, max)) in fields
        .iter_mut()
        .zip([(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)])
    {
        let (value, tail) = rest
            .split_once(char::is_whitespace)
            .unwrap_or_else(|| panic!("not a crontab line: {line}"));
        check_cron_field(value, min, max, line);
        *field = value.to_owned();
        rest = tail.trim_start();
    }
    (fields, rest.to_owned())
}

/// Runs a crontab command as cron runs it: `/bin/sh -c` with cron's environment (HOME,
/// LOGNAME, SHELL=/bin/sh and PATH=/usr/bin:/bin, Debian's cron default) and nothing
/// else, with a stand-in `alloydb-cred` that records its arguments in `bin_dir` (a
/// directory of the home, or a stand-in for /usr/bin put first on cron's PATH). Returns
/// the recorded arguments.
fn run_as_cron(command: &str, package: bool) -> String {
    let home = TempDir::new().expect("temp home");
    let scratch = TempDir::new().expect("temp dir");
    let (bin_dir, path) = if package {
        let usr_bin = scratch.path().join("usr/bin");
        (
            usr_bin.clone(),
            format!("{}:/usr/bin:/bin", usr_bin.display()),
        )
    } else {
        (home.path().join(".cargo/bin"), "/usr/bin:/bin".to_string())
    };
    fs::create_dir_all(&bin_dir).expect("create bin dir");
    let log = scratch.path().join("args.log");
    let bin = bin_dir.join("alloydb-cred");
    fs::write(
        &bin,
        format!("#!/bin/sh\necho \"$*\" >> '{}'\n", log.display()),
    )
    .expect("write the stand-in binary");
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = Command::new("/bin/sh")
        .args(["-c", command])
        .env_clear()
        .env("HOME", home.path())
        .env("LOGNAME", "someone")
        .env("SHELL", "/bin/sh")
        .env("PATH", path)
        .output()
        .expect("run /bin/sh");
    check_success(&out, command);
    read(&log)
}

#[test]
fn cron_line_runs_the_one_shot_refresh_every_five_minutes_for_either_install() {
    let path = repo().join("packaging/cron/alloydb-cred");
    let content = read(&path);
    let active: Vec<&str> = content
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    assert_eq!(active.len(), 1, "one crontab line: {active:?}");
    let (schedule, command) = cron_entry(active[0]);
    assert_eq!(schedule.join(" "), "*/5 * * * *");
    assert!(
        !command.contains("--watch"),
        "cron runs the one-shot: {command}"
    );
    // The line as written, under cron's PATH: it finds the binary of a package (in
    // /usr/bin, on that PATH) and of `cargo install` (in ~/.cargo/bin, not on it).
    for package in [true, false] {
        let install = if package {
            "a package"
        } else {
            "cargo install"
        };
        assert_eq!(
            run_as_cron(&command, package),
            "-q refresh\n",
            "installed by {install}: {command}"
        );
    }
    // No second, commented-out line to pick from.
    let variants: Vec<&str> = content
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .filter(|l| l.trim_start().starts_with("*/"))
        .collect();
    assert!(variants.is_empty(), "{variants:?}");
}

// ---------------------------------------------------------------------------------
// Container image

/// One Dockerfile instruction: the keyword in upper case and its arguments.
struct Instruction {
    keyword: String,
    args: String,
}

struct Stage {
    image: String,
    name: Option<String>,
    instructions: Vec<Instruction>,
}

impl Stage {
    fn all(&self, keyword: &str) -> impl Iterator<Item = &str> {
        self.instructions
            .iter()
            .filter(move |i| i.keyword == keyword)
            .map(|i| i.args.as_str())
    }

    fn last(&self, keyword: &str) -> Option<&str> {
        self.all(keyword).last()
    }
}

fn parse_dockerfile(content: &str) -> Vec<Stage> {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in content.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    assert!(
        current.is_empty(),
        "Dockerfile ends inside a continued line"
    );

    let mut stages: Vec<Stage> = Vec::new();
    for line in logical {
        let (keyword, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let keyword = keyword.to_ascii_uppercase();
        let args = args.trim().to_owned();
        if keyword == "FROM" {
            let words: Vec<&str> = args.split_whitespace().collect();
            let name = match words.as_slice() {
                [_] => None,
                [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => Some((*name).to_owned()),
                _ => panic!("unexpected FROM {args}"),
            };
            stages.push(Stage {
                image: words[0].to_owned(),
                name,
                instructions: Vec::new(),
            });
        } else {
            let stage = stages.last_mut().expect("an instruction before FROM");
            stage.instructions.push(Instruction { keyword, args });
        }
    }
    stages
}

/// The arguments of an exec-form (JSON array) instruction.
fn exec_form(args: &str, what: &str) -> Vec<String> {
    let value: Value =
        serde_json::from_str(args).unwrap_or_else(|_| panic!("{what} is not in exec form: {args}"));
    strings(&value, what)
}

/// The Debian release a `debian:` or `rust:` image tag names, e.g. `bookworm`.
fn debian_release(image: &str) -> Option<&str> {
    let tag = image.split_once(':')?.1;
    ["bullseye", "bookworm", "trixie", "forky"]
        .into_iter()
        .find(|release| tag.split('-').any(|part| part == *release))
}

fn env_instructions(stage: &Stage) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for args in stage.all("ENV") {
        for assignment in args.split_whitespace() {
            let (k, v) = assignment
                .split_once('=')
                .unwrap_or_else(|| panic!("ENV {args}: use NAME=value"));
            env.insert(k.to_owned(), v.to_owned());
        }
    }
    env
}

/// The final stage's user as `uid`, which must be numeric (Kubernetes' runAsNonRoot
/// can only check a numeric user) and not root.
fn image_uid(stage: &Stage) -> u64 {
    let user = stage.last("USER").expect("the final stage sets USER");
    let uid = user.split(':').next().unwrap_or(user);
    let uid: u64 = uid
        .parse()
        .unwrap_or_else(|_| panic!("USER {user}: use a numeric uid"));
    assert_ne!(uid, 0, "the image must not run as root");
    uid
}

fn final_stage() -> Stage {
    let stages = parse_dockerfile(&read(&repo().join("packaging/container/Dockerfile")));
    stages.into_iter().last().expect("a FROM")
}

#[test]
fn dockerfile_builds_in_rust_and_runs_the_loop_as_non_root_on_debian() {
    let dir = repo().join("packaging/container");
    let stages = parse_dockerfile(&read(&dir.join("Dockerfile")));
    assert!(stages.len() >= 2, "a build stage and a run stage");
    let build = &stages[0];
    let run = stages.last().expect("final stage");
    assert!(
        build.image.starts_with("rust:"),
        "build on the official Rust image"
    );
    assert!(run.image.starts_with("debian:"), "run on Debian");
    // The binary links against the build stage's glibc: same release at run time.
    let release = debian_release(&run.image).expect("a Debian release in the run image tag");
    assert_eq!(
        debian_release(&build.image),
        Some(release),
        "{} vs {}",
        build.image,
        run.image
    );

    let build_cmd = build
        .all("RUN")
        .find(|r| r.contains("cargo build"))
        .expect("the build stage runs cargo build");
    for flag in ["--release", "--locked"] {
        assert!(build_cmd.contains(flag), "cargo build {flag}: {build_cmd}");
    }
    let workdir = build.last("WORKDIR").expect("the build stage sets WORKDIR");
    let built = format!(
        "{}/target/release/alloydb-cred",
        workdir.trim_end_matches('/')
    );

    // COPY: context sources exist; --from names an earlier stage and copies the
    // binary from where cargo put it.
    let mut binary_dest = None;
    for (index, stage) in stages.iter().enumerate() {
        for args in stage.all("COPY") {
            let words: Vec<&str> = args.split_whitespace().collect();
            let (flags, paths): (Vec<&str>, Vec<&str>) =
                words.iter().partition(|w| w.starts_with("--"));
            assert!(paths.len() >= 2, "COPY {args}");
            let (sources, dest) = paths.split_at(paths.len() - 1);
            match flags.iter().find_map(|f| f.strip_prefix("--from=")) {
                Some(from) => {
                    assert!(
                        stages[..index]
                            .iter()
                            .any(|s| s.name.as_deref() == Some(from)),
                        "COPY --from={from}: no earlier stage of that name"
                    );
                    if sources == [built.as_str()] {
                        binary_dest = Some(dest[0].to_owned());
                    }
                }
                None => {
                    for source in sources {
                        assert!(
                            repo().join(source).exists(),
                            "COPY {source}: not in the build context (the repository root)"
                        );
                    }
                }
            }
        }
    }
    let binary_dest = binary_dest.unwrap_or_else(|| panic!("no COPY --from of {built}"));
    assert!(
        ["/usr/bin/alloydb-cred", "/usr/local/bin/alloydb-cred"].contains(&binary_dest.as_str()),
        "the binary lands on the default PATH, not at {binary_dest}"
    );

    assert!(
        run.all("RUN").any(|r| r.contains("ca-certificates")),
        "the run stage installs ca-certificates (HTTPS to Google)"
    );
    image_uid(run);
    let entrypoint = exec_form(run.last("ENTRYPOINT").expect("ENTRYPOINT"), "ENTRYPOINT");
    assert_eq!(entrypoint, ["alloydb-cred"]);
    let cmd = exec_form(run.last("CMD").expect("CMD"), "CMD");
    assert_eq!(cmd, ["refresh", "--watch"]);
    let health = run.last("HEALTHCHECK").expect("HEALTHCHECK");
    let probe = health.split_once("CMD").expect("HEALTHCHECK ... CMD").1;
    let probe = exec_form(probe.trim(), "HEALTHCHECK CMD");
    assert_eq!(probe[..3], ["alloydb-cred", "status", "--check"]);

    // The context is the repository root: keep target/ (gigabytes) out of it.
    let ignore = read(&dir.join("Dockerfile.dockerignore"));
    assert!(
        ignore
            .lines()
            .any(|l| l.trim().trim_end_matches('/') == "target")
    );
}

// ---------------------------------------------------------------------------------
// Kubernetes

const LOAD_YAML: &str = "import json, sys, yaml\n\
    docs = {}\n\
    for path in sys.argv[1:]:\n\
    \x20   with open(path) as f:\n\
    \x20       docs[path.rsplit('/', 1)[-1]] = [d for d in yaml.safe_load_all(f) if d is not None]\n\
    print(json.dumps(docs))";

fn env_map(container: &Value) -> BTreeMap<String, String> {
    as_array(&container["env"], "env")
        .iter()
        .map(|e| {
            (
                as_str(&e["name"], "env name").to_owned(),
                as_str(&e["value"], "env value").to_owned(),
            )
        })
        .collect()
}

/// mountPath of `volume` in `container`, if it mounts it.
fn mount_path(container: &Value, volume: &str) -> Option<String> {
    container["volumeMounts"]
        .as_array()?
        .iter()
        .find(|m| m["name"] == volume)
        .map(|m| as_str(&m["mountPath"], "mountPath").to_owned())
}

fn check_probe(probe: &Value, what: &str) {
    let command = strings(&probe["exec"]["command"], what);
    assert_eq!(
        command[..3],
        ["alloydb-cred", "status", "--check"],
        "{what}"
    );
    let min_left = command
        .iter()
        .position(|a| a == "--min-left")
        .and_then(|i| command.get(i + 1))
        .unwrap_or_else(|| panic!("{what}: --min-left DURATION"));
    let minutes: u64 = min_left
        .strip_suffix('m')
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("{what}: --min-left {min_left}: expected minutes"));
    // Below the metadata server's five minutes, above zero.
    assert!((1..5).contains(&minutes), "{what}: --min-left {min_left}");
}

#[test]
fn kubernetes_example_shares_the_files_with_the_app_and_probes_status_check() {
    if !prerequisite(
        have_python_with_yaml(),
        "python3 with PyYAML (pip install -r tests/clients/requirements.txt)",
    ) {
        return;
    }
    let files = files_with_extension(&repo().join("packaging/kubernetes"), "yaml");
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let docs = python_json(LOAD_YAML, &refs);
    let by_kind = |kind: &str| -> Vec<Value> {
        docs.as_object()
            .expect("files")
            .values()
            .flat_map(|d| as_array(d, "documents").clone())
            .filter(|d| d["kind"] == kind)
            .collect()
    };

    // kustomization.yaml lists every other manifest.
    let kustomization = by_kind("Kustomization");
    assert_eq!(kustomization.len(), 1);
    let listed: BTreeSet<String> = strings(&kustomization[0]["resources"], "resources")
        .into_iter()
        .collect();
    let present: BTreeSet<String> = files
        .iter()
        .map(|p| file_name(p))
        .filter(|n| n != "kustomization.yaml")
        .collect();
    assert_eq!(listed, present);

    let deployments = by_kind("Deployment");
    assert_eq!(deployments.len(), 1);
    let pod = &deployments[0]["spec"]["template"]["spec"];

    // The native sidecar: a restartable init container running the loop.
    let init = as_array(&pod["initContainers"], "initContainers");
    let sidecar = init
        .iter()
        .find(|c| c["restartPolicy"] == "Always")
        .expect("an init container with restartPolicy: Always");
    let args = strings(&sidecar["args"], "sidecar args");
    assert_eq!(args, ["refresh", "--watch"]);
    check_probe(&sidecar["startupProbe"], "startupProbe");
    check_probe(&sidecar["readinessProbe"], "readinessProbe");
    assert!(sidecar.get("livenessProbe").is_none());
    assert_eq!(sidecar["securityContext"]["readOnlyRootFilesystem"], true);

    let apps = as_array(&pod["containers"], "containers");
    assert_eq!(apps.len(), 1);
    let app = &apps[0];

    // The shared emptyDir, mounted in both at the same place...
    let volumes = as_array(&pod["volumes"], "volumes");
    let shared = volumes
        .iter()
        .find(|v| v.get("emptyDir").is_some())
        .expect("an emptyDir volume");
    let shared_name = as_str(&shared["name"], "volume name");
    let sidecar_mount = mount_path(sidecar, shared_name).expect("sidecar mounts the emptyDir");
    let app_mount = mount_path(app, shared_name).expect("app mounts the emptyDir");
    assert_eq!(sidecar_mount, app_mount);
    let under_mount = |path: &str| path.starts_with(&format!("{}/", sidecar_mount));

    // ...with both files in it, named alike in both containers.
    let sidecar_env = env_map(sidecar);
    let app_env = env_map(app);
    for var in ["PGPASSFILE", "PGSERVICEFILE"] {
        let value = sidecar_env
            .get(var)
            .unwrap_or_else(|| panic!("sidecar {var}"));
        assert!(under_mount(value), "sidecar {var}={value}");
        assert_eq!(app_env.get(var), Some(value), "app {var}");
    }
    let state = &sidecar_env["ALLOYDB_CRED_STATE_DIR"];
    assert!(under_mount(state), "ALLOYDB_CRED_STATE_DIR={state}");
    assert!(app_env.contains_key("PGSERVICE"));

    // Both containers run as the image's user: the password file is mode 0600.
    let security = &pod["securityContext"];
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(
        security["runAsUser"].as_u64(),
        Some(image_uid(&final_stage()))
    );
    for container in [sidecar, app] {
        assert!(container["securityContext"].get("runAsUser").is_none());
    }
    // The image's defaults name the same places.
    let image_env = env_instructions(&final_stage());
    for var in [
        "PGPASSFILE",
        "PGSERVICEFILE",
        "ALLOYDB_CRED_STATE_DIR",
        "ALLOYDB_CRED_CONFIG",
    ] {
        assert_eq!(
            image_env.get(var),
            sidecar_env.get(var),
            "{var}: image vs sidecar"
        );
    }

    // Workload identity: the pod's service account is the annotated one.
    let accounts = by_kind("ServiceAccount");
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["metadata"]["name"], pod["serviceAccountName"]);
    let gsa = as_str(
        &accounts[0]["metadata"]["annotations"]["iam.gke.io/gcp-service-account"],
        "iam.gke.io/gcp-service-account",
    );
    assert!(gsa.ends_with(".iam.gserviceaccount.com"), "{gsa}");

    // The configuration comes from the ConfigMap, mounted where ALLOYDB_CRED_CONFIG
    // points, and the binary accepts it.
    let config_path = &sidecar_env["ALLOYDB_CRED_CONFIG"];
    let (config_dir, config_file) = config_path.rsplit_once('/').expect("a path");
    let config_volume = volumes
        .iter()
        .find(|v| mount_path(sidecar, as_str(&v["name"], "name")).as_deref() == Some(config_dir))
        .unwrap_or_else(|| panic!("no volume mounted at {config_dir}"));
    let map_name = &config_volume["configMap"]["name"];
    let maps = by_kind("ConfigMap");
    let map = maps
        .iter()
        .find(|m| &m["metadata"]["name"] == map_name)
        .unwrap_or_else(|| panic!("no ConfigMap {map_name}"));
    let config = as_str(&map["data"][config_file], "config.toml");
    assert!(config.contains("credentials = \"metadata\""), "{config}");

    let tmp = TempDir::new().expect("temp dir");
    let config_path = tmp.path().join(config_file);
    fs::write(&config_path, config).expect("write config");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config_path)
        .arg("status")
        .env_clear()
        .env("HOME", tmp.path())
        .env("PGPASSFILE", tmp.path().join("pgpass"))
        .env("PGSERVICEFILE", tmp.path().join("pg_service.conf"))
        .env("ALLOYDB_CRED_STATE_DIR", tmp.path().join("state"))
        .output()
        .expect("run alloydb-cred status");
    check_success(
        &out,
        "alloydb-cred status with the ConfigMap's configuration",
    );
    assert!(text(&out.stdout).contains("prod"), "{}", text(&out.stdout));
}

/// Validates every manifest but the Kustomization (it has no API schema) against
/// the Kubernetes API schema, strictly (an unknown field is an error), and prints the
/// errors as a JSON list.
const VALIDATE_SCHEMA: &str = "import json, sys, yaml, kubernetes_validate as kv\n\
    version, errors = sys.argv[1], []\n\
    for path in sys.argv[2:]:\n\
    \x20   with open(path) as f:\n\
    \x20       for doc in yaml.safe_load_all(f):\n\
    \x20           if doc is None or doc.get('kind') == 'Kustomization':\n\
    \x20               continue\n\
    \x20           try:\n\
    \x20               kv.validate(doc, version, strict=True)\n\
    \x20           except kv.ValidationError as e:\n\
    \x20               at = '.'.join(str(p) for p in e.absolute_path)\n\
    \x20               errors.append(f'{path}: {doc[\"kind\"]} {at}: {e.message}')\n\
    print(json.dumps(errors))";

#[test]
fn kubernetes_manifests_match_the_api_schema_of_the_first_release_with_native_sidecars() {
    let present = Command::new("python3")
        .args(["-c", "import yaml, kubernetes_validate"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !prerequisite(
        present,
        "python3 with PyYAML and kubernetes-validate (pip install -r tests/clients/requirements.txt)",
    ) {
        return;
    }
    let files = files_with_extension(&repo().join("packaging/kubernetes"), "yaml");
    let out = Command::new("python3")
        .args(["-c", VALIDATE_SCHEMA, "1.29"])
        .args(&files)
        .output()
        .expect("run python3");
    check_success(&out, "kubernetes-validate");
    let errors: Vec<String> = serde_json::from_slice(&out.stdout).expect("a JSON list");
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

// ---------------------------------------------------------------------------------
// Debian and RPM package metadata

fn cargo_metadata_table(table: &str) -> toml::Table {
    let manifest: toml::Table = read(&repo().join("Cargo.toml"))
        .parse()
        .expect("Cargo.toml is TOML");
    manifest["package"]["metadata"][table]
        .as_table()
        .unwrap_or_else(|| panic!("[package.metadata.{table}]"))
        .clone()
}

/// One installed file or glob: where it comes from, where it goes, its mode.
struct Asset {
    source: String,
    dest: String,
    mode: u32,
}

fn assets(table: &str, parse: impl Fn(&toml::Value) -> Asset) -> Vec<Asset> {
    cargo_metadata_table(table)["assets"]
        .as_array()
        .unwrap_or_else(|| panic!("[package.metadata.{table}] assets"))
        .iter()
        .map(parse)
        .collect()
}

fn octal(mode: &str) -> u32 {
    u32::from_str_radix(mode, 8).unwrap_or_else(|_| panic!("mode {mode} is not octal"))
}

/// cargo-deb's assets: `[source, dest, mode]`, dest relative to the root.
fn deb_assets() -> Vec<Asset> {
    assets("deb", |a| {
        let a = a.as_array().expect("[source, dest, mode]");
        assert_eq!(a.len(), 3, "[source, dest, mode]: {a:?}");
        let field = |i: usize| a[i].as_str().expect("string").to_owned();
        Asset {
            source: field(0),
            dest: format!("/{}", field(1)),
            mode: octal(&field(2)),
        }
    })
}

/// Files a source pattern matches: `*` is allowed in the last component only, as
/// both packagers accept it.
fn matches(pattern: &str) -> Vec<PathBuf> {
    let path = repo().join(pattern);
    let name = file_name(&path);
    let Some((prefix, suffix)) = name.split_once('*') else {
        return if path.is_file() { vec![path] } else { vec![] };
    };
    assert!(!suffix.contains('*'), "one * per pattern: {pattern}");
    files_in(path.parent().expect("parent"))
        .into_iter()
        .filter(|p| {
            let n = file_name(p);
            n.len() >= prefix.len() + suffix.len() && n.starts_with(prefix) && n.ends_with(suffix)
        })
        .collect()
}

/// Where each repository file lands: source file -> installed path.
fn installed(assets: &[Asset]) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    for asset in assets {
        if asset.source.starts_with("target/") {
            continue;
        }
        let files = matches(&asset.source);
        // Both packagers refuse a source that matches nothing.
        assert!(!files.is_empty(), "asset {} matches no file", asset.source);
        assert!(
            !asset.source.contains('*') || asset.dest.ends_with('/'),
            "a glob installs into a directory: {} -> {}",
            asset.source,
            asset.dest
        );
        for file in files {
            let dest = if asset.dest.ends_with('/') {
                format!("{}{}", asset.dest, file_name(&file))
            } else {
                asset.dest.clone()
            };
            assert!(out.insert(file, dest).is_none(), "a file packaged twice");
        }
    }
    out
}

/// Checks that a package installs the binary, every man page, unit and completion
/// script where the units, man and the shells look for them. `installed_at` maps a
/// repository file to where the package puts it (a man page: before compression).
fn check_package_layout(kind: &str, installed_at: &dyn Fn(&Path) -> String) {
    let repo = repo();
    // Every man page, in the directory of its section (the pages are generated, so a
    // new one must not be forgotten here).
    for page in files_in(&repo.join("man")) {
        let name = file_name(&page);
        let section = name.rsplit('.').next().expect("section");
        assert_eq!(
            installed_at(&page),
            format!("/usr/share/man/man{section}/{name}"),
            "{kind}: man page"
        );
    }
    for unit in files_in(&unit_dir("user")) {
        assert_eq!(
            installed_at(&unit),
            format!("/usr/lib/systemd/user/{}", file_name(&unit))
        );
    }
    for unit in files_in(&unit_dir("system")) {
        assert_eq!(
            installed_at(&unit),
            format!("/usr/lib/systemd/system/{}", file_name(&unit))
        );
    }
    let completions = repo.join("completions");
    assert_eq!(
        installed_at(&completions.join("alloydb-cred.bash")),
        "/usr/share/bash-completion/completions/alloydb-cred",
        "bash-completion loads completions/<command> on demand"
    );
    assert!(installed_at(&completions.join("_alloydb-cred")).starts_with("/usr/share/zsh/"));
    assert_eq!(
        installed_at(&completions.join("alloydb-cred.fish")),
        "/usr/share/fish/vendor_completions.d/alloydb-cred.fish"
    );
    for file in files_in(&completions) {
        installed_at(&file);
    }
}

/// The package's version, synopsis and licence, from `[package]` in Cargo.toml.
fn cargo_package(key: &str) -> String {
    let manifest: toml::Table = read(&repo().join("Cargo.toml"))
        .parse()
        .expect("Cargo.toml is TOML");
    manifest["package"][key]
        .as_str()
        .unwrap_or_else(|| panic!("[package] {key}"))
        .to_owned()
}

/// A maintainer or packager: `Name <user@host>`.
fn assert_contact(what: &str, contact: &str) {
    let (name, address) = contact
        .strip_suffix('>')
        .and_then(|c| c.split_once(" <"))
        .unwrap_or_else(|| panic!("{what} {contact:?} is `Name <address>`"));
    assert!(!name.trim().is_empty(), "{what} {contact:?} has a name");
    let (user, host) = address
        .split_once('@')
        .unwrap_or_else(|| panic!("{what} {contact:?}: an e-mail address"));
    assert!(!user.is_empty() && host.contains('.'), "{what} {contact:?}");
}

#[test]
fn deb_metadata_installs_binary_pages_completions_and_units() {
    let deb = cargo_metadata_table("deb");
    for key in ["section", "extended-description"] {
        assert!(deb.contains_key(key), "[package.metadata.deb] {key}");
    }
    let assets = deb_assets();
    // The binary, executable, in /usr/bin (the units run /usr/bin/alloydb-cred).
    let binaries: Vec<&Asset> = assets
        .iter()
        .filter(|a| a.source.starts_with("target/release/"))
        .collect();
    assert_eq!(binaries.len(), 1, "one binary");
    assert_eq!(binaries[0].source, "target/release/alloydb-cred");
    assert_eq!(binaries[0].dest, "/usr/bin/");
    assert_eq!(binaries[0].mode, 0o755);
    for asset in assets.iter().filter(|a| a.source != binaries[0].source) {
        assert_eq!(asset.mode, 0o644, "{} is data", asset.source);
    }
    let installed = installed(&assets);
    check_package_layout("deb", &|file| {
        installed
            .get(file)
            .unwrap_or_else(|| panic!("deb: {} is not packaged", file.display()))
            .clone()
    });
    // Debian compresses documentation: scripts/package.sh writes README.md.gz, and
    // cargo-deb gzips the man pages and the changelog itself.
    let readme = assets
        .iter()
        .find(|a| a.source.ends_with("README.md.gz"))
        .expect("the README, compressed");
    assert_eq!(readme.dest, "/usr/share/doc/alloydb-cred/");
    let script = read(&repo().join("scripts/package.sh"));
    assert!(
        script.contains(&format!("gzip -9nc README.md >{}", readme.source)),
        "scripts/package.sh writes {}",
        readme.source
    );
}

#[test]
fn deb_metadata_has_contact_changelog_copyright_synopsis_and_maintainer_scripts() {
    let deb = cargo_metadata_table("deb");
    let field = |key: &str| {
        deb[key]
            .as_str()
            .unwrap_or_else(|| panic!("[package.metadata.deb] {key}"))
            .to_owned()
    };
    assert_contact("Maintainer", &field("maintainer"));
    // The synopsis is Cargo's description; cargo-deb cuts it after 79 characters, so it
    // must be one line that fits.
    let synopsis = cargo_package("description");
    assert!(
        synopsis.len() <= 79 && !synopsis.contains('\n'),
        "{synopsis:?}"
    );
    assert!(!synopsis.ends_with('.'), "a synopsis is not a sentence");

    // The changelog's latest entry is this version, revision 1, signed by the maintainer.
    let changelog = read(&repo().join(field("changelog")));
    let first = changelog.lines().next().expect("a changelog entry");
    let version = cargo_package("version");
    assert!(
        first.starts_with(&format!("alloydb-cred ({version}-1) ")),
        "{first}"
    );
    let trailer = changelog
        .lines()
        .find(|l| l.starts_with(" -- "))
        .expect("a trailer line");
    assert!(
        trailer.starts_with(&format!(" -- {}  ", field("maintainer"))),
        "{trailer}"
    );

    // Machine-readable copyright (DEP-5): a Files: paragraph with a year, and the
    // licence by its short name, pointing at Debian's copy of its text.
    let copyright = read(&repo().join(field("license-file")));
    assert!(copyright.starts_with(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
    ));
    let files = copyright
        .split("\n\n")
        .find(|p| p.starts_with("Files: *\n"))
        .expect("a Files: * paragraph");
    let holder = files
        .lines()
        .find_map(|l| l.strip_prefix("Copyright: "))
        .expect("a Copyright: line");
    assert!(
        holder.len() > 5 && holder[..4].bytes().all(|b| b.is_ascii_digit()),
        "Copyright: YEAR HOLDER, not {holder:?}"
    );
    assert!(files.contains(&format!("License: {}", cargo_package("license"))));
    assert!(copyright.contains("/usr/share/common-licenses/Apache-2.0"));

    // The maintainer scripts reload systemd and restart or stop running instances,
    // and enable or start nothing (scripts/package.sh runs them).
    let scripts = repo().join(field("maintainer-scripts"));
    for name in ["postinst", "prerm", "postrm"] {
        let path = scripts.join(name);
        let mode = path
            .metadata()
            .expect("a maintainer script")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755, "{name} is executable");
        let text = read(&path);
        assert!(text.starts_with("#!/bin/sh\n"), "{name}");
        assert!(text.contains("set -e\n"), "{name}");
        assert!(
            !text.contains("enable") || text.contains("Nothing is enabled"),
            "{name}"
        );
    }
    assert!(read(&scripts.join("postinst")).contains("try-restart 'alloydb-cred@*.service'"));
    assert!(read(&scripts.join("prerm")).contains("stop 'alloydb-cred@*.service'"));
    assert!(read(&scripts.join("postrm")).contains("daemon-reload"));
}

/// The spec's header tags (`Name:` ...), its `%files` list with the macros expanded,
/// and its first `%changelog` line.
struct Spec {
    tags: BTreeMap<String, String>,
    files: Vec<String>,
    changelog: String,
}

fn rpm_spec() -> Spec {
    let text = read(&repo().join("packaging/rpm/alloydb-cred.spec"));
    let macros = [
        ("%{_bindir}", "/usr/bin"),
        ("%{_mandir}", "/usr/share/man"),
        ("%{_datadir}", "/usr/share"),
        ("%{_prefix}", "/usr"),
    ];
    let mut tags = BTreeMap::new();
    let mut files = Vec::new();
    let mut changelog = None;
    let mut section = "";
    for line in text.lines() {
        if line.starts_with('%') && !line.starts_with("%{") {
            let word = line.split_whitespace().next().unwrap_or("");
            if [
                "%files",
                "%changelog",
                "%install",
                "%prep",
                "%build",
                "%description",
            ]
            .contains(&word)
                || ["%post", "%preun", "%postun"].contains(&word)
            {
                section = word;
                continue;
            }
        }
        match section {
            "" => {
                if let Some((tag, value)) = line.split_once(':')
                    && !tag.starts_with(['#', '%'])
                    && !tag.contains(' ')
                {
                    tags.insert(tag.to_owned(), value.trim().to_owned());
                }
            }
            "%files" if !line.trim().is_empty() => {
                let mut path = line.to_owned();
                for (name, value) in macros {
                    path = path.replace(name, value);
                }
                files.push(path);
            }
            "%changelog" if line.starts_with("* ") && changelog.is_none() => {
                changelog = Some(line.to_owned());
            }
            _ => {}
        }
    }
    Spec {
        tags,
        files,
        changelog: changelog.expect("a %changelog entry"),
    }
}

/// `*` matches any run of characters within one path component.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .take_while(|&i| !rest[..i].contains('/'))
                .any(|i| rest.is_char_boundary(i) && glob(tail, &rest[i..]))
        }
    }
}

#[test]
fn rpm_spec_installs_what_the_deb_installs() {
    let spec = rpm_spec();
    let tag = |name: &str| {
        spec.tags
            .get(name)
            .unwrap_or_else(|| panic!("spec: no {name}:"))
            .as_str()
    };
    assert_eq!(tag("Name"), "alloydb-cred");
    assert_eq!(tag("Version"), cargo_package("version"));
    assert_eq!(tag("Summary"), cargo_package("description"));
    assert_eq!(tag("License"), cargo_package("license"));
    assert!(tag("URL").starts_with("https://"), "URL: {}", tag("URL"));
    let maintainer = cargo_metadata_table("deb")["maintainer"]
        .as_str()
        .expect("maintainer")
        .to_owned();
    assert!(
        spec.changelog.ends_with(&format!(
            " {maintainer} - {}-{}",
            tag("Version"),
            tag("Release")
        )),
        "the latest %changelog entry is this version-release, by the maintainer: {}",
        spec.changelog
    );

    // The spec lists in %files what it installs in %install; each repository file the
    // .deb installs must be listed, the man pages compressed.
    let listed = |path: &str| spec.files.iter().any(|pattern| glob(pattern, path));
    assert!(listed("/usr/bin/alloydb-cred"));
    let installed = installed(&deb_assets());
    check_package_layout("rpm", &|file| {
        let mut dest = installed
            .get(file)
            .unwrap_or_else(|| panic!("{} is not packaged", file.display()))
            .clone();
        if file.starts_with(repo().join("completions/_alloydb-cred")) {
            // Fedora's zsh looks in site-functions; Debian's in vendor-completions.
            dest = "/usr/share/zsh/site-functions/_alloydb-cred".to_owned();
        }
        let shipped = if dest.starts_with("/usr/share/man/") {
            format!("{dest}.gz")
        } else {
            dest.clone()
        };
        assert!(listed(&shipped), "rpm: %files does not list {shipped}");
        dest
    });
    for doc in ["%license LICENSE", "%doc README.md"] {
        assert!(spec.files.iter().any(|f| f == doc), "rpm: {doc}");
    }
}

#[test]
fn packaged_completions_are_what_the_binary_prints() {
    let completions = repo().join("completions");
    for (shell, file) in [
        ("bash", "alloydb-cred.bash"),
        ("zsh", "_alloydb-cred"),
        ("fish", "alloydb-cred.fish"),
    ] {
        let out = Command::new(BIN)
            .args(["completions", shell])
            .output()
            .expect("run alloydb-cred completions");
        check_success(&out, "alloydb-cred completions");
        assert!(
            out.stdout == fs::read(completions.join(file)).expect("read a completion script"),
            "completions/{file} differs from `alloydb-cred completions {shell}`; run `cargo run -p docgen`"
        );
    }
}
