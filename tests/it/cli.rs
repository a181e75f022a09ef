//! The command line as users meet it: configuration errors, exit codes, `status`,
//! `remove`, the nothing-to-do path, and a token never shown where it should not be.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::common::*;
use fake_google::FakeGoogle;
use libpq_files::pgpass::PgpassFile;

const SA: &str = "robot@proj.iam.gserviceaccount.com";

fn basic_config(url: &str) -> String {
    format!(
        r#"[defaults]
credentials = {{ command = {} }}

[services.prod]
host = "10.1.2.3"
dbname = "appdb"
sslmode = "require"

[services.v6]
host = "2001:db8::7"
port = 6432
"#,
        mint_command(url, SA, &[])
    )
}

#[test]
fn configuration_errors_name_file_line_and_key_and_exit_2() {
    let env = Env::new();
    let cases = [
        (
            "[services.prod]\nhost = \"h\"\nhots = \"x\"\n",
            "line 3",
            "hots",
        ),
        (
            "[defaults]\nrefresh_window = \"ten minutes\"\n",
            "line 2",
            "refresh_window",
        ),
        (
            "[services.\"bad name\"]\nhost = \"h\"\n",
            "line 1",
            "not a plain identifier",
        ),
        ("[services.prod]\nhost = \"a\\nb\"\n", "line 2", "host"),
        (
            "[services.prod]\nhost = \"h\"\nport = 0\n",
            "line 3",
            "port",
        ),
        // Errors that need two keys: the line of the second, in the right table.
        (
            "[services.other]\ninstance = \"p:r:i\"\n\n[services.prod] # main\nhost = \"h\"\ndbname = \"d\"\ninstance = \"p:r:i\"\n",
            "line 7",
            "sets both `host` and `instance`",
        ),
        (
            "[services.prod]\nhost = \"h\"\n  pooled=true\n",
            "line 3",
            "`pooled` applies to services with an `instance`",
        ),
        (
            "[services.prod]\ndbname = \"d\"\n",
            "line 1",
            "needs `host`",
        ),
    ];
    for (text, line, key) in cases {
        env.write_config(text);
        let err = fails_with(env.run(&["refresh"]), 2);
        let path = env.config_path().display().to_string();
        assert!(err.contains(&path), "{err}");
        assert!(err.contains(line), "{err}");
        assert!(err.contains(key), "{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
    // A missing configuration says where it looked and what to do.
    fs::remove_file(env.config_path()).expect("rm");
    let err = fails_with(env.run(&["status"]), 2);
    assert!(err.contains("no configuration at"), "{err}");
    // An unknown service lists the configured ones.
    env.write_config("[services.prod]\nhost = \"h\"\n");
    let err = fails_with(env.run(&["refresh", "--service", "nope"]), 2);
    assert!(err.contains("configured services: prod"), "{err}");
    // Usage errors from the parser are exit 2 as well.
    fails_with(env.run(&["remove"]), 2);
}

#[test]
fn help_teaches_the_commands() {
    let env = Env::new();
    let help = ok(env.run(&["--help"]));
    for word in [
        "refresh",
        "token",
        "exec",
        "status",
        "remove",
        "Exit codes",
        "PGSERVICE=prod psql",
    ] {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
    let help = ok(env.run(&["refresh", "--help"]));
    assert!(
        help.contains("--force") && help.contains("refresh_window"),
        "{help}"
    );
}

#[test]
fn refresh_status_remove_round_trip_restores_the_users_bytes() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    let original: &[u8] =
        b"# mine\r\nold.example.com:5432:*:alice:pw\r\n\xe9t\xe9\nno-final-newline:1:*:u:p";
    let original_services: &[u8] = b"# my services\n[legacy]\nhost=old.example.com\n";
    fs::write(env.pgpass(), original).expect("seed");
    fs::set_permissions(env.pgpass(), fs::Permissions::from_mode(0o600)).expect("chmod");
    fs::write(env.service_file(), original_services).expect("seed");
    env.write_config(&basic_config(&google.http_url()));

    ok(env.run(&["refresh"]));
    assert_eq!(google.mint_count(), 1, "two services, one credential");
    let pgpass = fs::read(env.pgpass()).expect("read");
    assert!(pgpass.ends_with(original));
    let text = String::from_utf8_lossy(&pgpass);
    assert!(
        text.starts_with("# alloydb-cred service=prod expires="),
        "{text}"
    );
    assert!(
        text.contains("\n2001\\:db8\\:\\:7:6432:*:robot@proj.iam:"),
        "{text}"
    );
    let services = fs::read_to_string(env.service_file()).expect("read");
    assert!(
        services.contains(
            "[prod]\nhost=10.1.2.3\nport=5432\ndbname=appdb\nuser=robot@proj.iam\nsslmode=require\n"
        ),
        "{services}"
    );
    assert!(
        !services.contains("passfile"),
        "default pgpass needs no passfile=:\n{services}"
    );
    assert!(services.ends_with("# my services\n[legacy]\nhost=old.example.com\n"));

    // status: table and JSON, never the token.
    let token = PgpassFile::parse(&pgpass).managed()[0]
        .password
        .expose()
        .to_string();
    let table = ok(env.run(&["status"]));
    assert!(
        table.contains("prod") && table.contains("robot@proj.iam") && table.contains("valid"),
        "{table}"
    );
    assert!(table.contains("[2001:db8::7]:6432"), "{table}");
    assert!(!table.contains(&token));
    let json: serde_json::Value =
        serde_json::from_str(&ok(env.run(&["status", "--json"]))).expect("json");
    assert_eq!(json["services"][0]["name"], "prod");
    assert_eq!(json["services"][0]["state"], "valid");
    assert!(
        json["services"][0]["seconds_left"]
            .as_i64()
            .is_some_and(|s| s > 3500)
    );
    assert_eq!(json["pgjdbc_needs_pgpassfile"], false);
    assert!(!json.to_string().contains(&token));

    // Removing one service keeps the other; removing all gives back the user's bytes.
    ok(env.run(&["remove", "--service", "v6"]));
    let file = PgpassFile::parse(&fs::read(env.pgpass()).expect("read"));
    assert_eq!(file.managed().len(), 1);
    ok(env.run(&["remove", "--all"]));
    assert_eq!(fs::read(env.pgpass()).expect("read"), original);
    assert_eq!(
        fs::read(env.service_file()).expect("read"),
        original_services
    );
}

#[test]
fn remove_all_deletes_files_the_tool_created() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    env.write_config(&basic_config(&google.http_url()));
    ok(env.run(&["refresh"]));
    let mode = |p: std::path::PathBuf| fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode(env.pgpass()).ok(), Some(0o600));
    assert_eq!(mode(env.service_file()).ok(), Some(0o600));
    ok(env.run(&["remove", "--all"]));
    assert!(!env.pgpass().exists() && !env.service_file().exists());
}

#[test]
fn nothing_due_touches_no_network_and_mints_nothing() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    // The token command is a script whose body can change without the configuration
    // (and so the credential) changing.
    let url = google.http_url();
    let mint = env.script(
        "mint.sh",
        &format!(
            "exec {} mint --url {url} --principal {SA}",
            fake_google_bin().display()
        ),
    );
    let config = basic_config(&url).replace(
        &mint_command(&url, SA, &[]),
        &format!("[\"{}\"]", mint.display()),
    );
    env.write_config(&config);
    ok(env.run(&["refresh"]));
    let before = fs::read(env.pgpass()).expect("read");
    assert_eq!(google.mint_count(), 1);
    // The source now fails, and the stand-in is gone: a refresh that needed either would
    // fail.
    env.script("mint.sh", "exit 9");
    drop(google);
    let out = env.run(&["-vv", "refresh"]);
    let err = stderr(&out);
    ok(out);
    assert!(err.contains("nothing is due"), "{err}");
    assert!(!err.contains("building HTTP client"), "{err}");
    assert_eq!(fs::read(env.pgpass()).expect("read"), before);
    // But --force does go to the source, and fails without touching the file.
    let err = fails_with(env.run(&["refresh", "--force"]), 1);
    assert!(err.contains("exited with status 9"), "{err}");
    assert_eq!(fs::read(env.pgpass()).expect("read"), before);
}

#[test]
fn a_section_the_user_wrote_is_never_overwritten() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    let mine: &[u8] = b"[prod]\nhost=my-own-host\n";
    fs::write(env.service_file(), mine).expect("seed");
    env.write_config(&basic_config(&google.http_url()));
    let err = fails_with(env.run(&["refresh"]), 2);
    assert!(err.contains("already has a section [prod]"), "{err}");
    assert!(
        err.contains(&env.service_file().display().to_string()),
        "{err}"
    );
    assert!(
        fs::read(env.service_file()).expect("read").ends_with(mine),
        "the user's section is intact"
    );
    // The other service was still written.
    let services = fs::read_to_string(env.service_file()).expect("read");
    assert!(services.contains("[v6]"), "{services}");
}

#[test]
fn pgpass_outside_libpqs_default_gets_passfile_and_a_note() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    let custom = env.dir.path().join("tokens.pgpass");
    env.write_config(&format!(
        "[defaults]\npgpass = \"{}\"\ncredentials = {{ command = {} }}\n[services.prod]\nhost = \"10.1.2.3\"\n",
        custom.display(),
        mint_command(&google.http_url(), SA, &[])
    ));
    let out = env.run(&["refresh"]);
    let err = stderr(&out);
    ok(out);
    assert!(
        err.contains("pgjdbc") && err.matches("warn").count() == 1,
        "{err}"
    );
    let services = fs::read_to_string(env.service_file()).expect("read");
    assert!(
        services.contains(&format!("passfile={}\n", custom.display())),
        "{services}"
    );
    let status = ok(env.run(&["status"]));
    assert!(status.contains("PGPASSFILE"), "{status}");
}

#[test]
fn a_group_readable_pgpass_is_tightened_before_it_holds_tokens() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    fs::write(env.pgpass(), b"h:1:*:u:p\n").expect("seed");
    fs::set_permissions(env.pgpass(), fs::Permissions::from_mode(0o644)).expect("chmod");
    env.write_config(&basic_config(&google.http_url()));
    let out = env.run(&["refresh"]);
    assert!(stderr(&out).contains("readable by group or others"));
    ok(out);
    let mode = fs::metadata(env.pgpass())
        .expect("stat")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_changed_credential_makes_the_entry_due_at_once() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    env.write_config(&basic_config(&google.http_url()));
    ok(env.run(&["refresh"]));
    assert_eq!(google.mint_count(), 1);
    // Same services, another principal: no --force needed.
    env.write_config(
        &basic_config(&google.http_url()).replace(SA, "other@proj.iam.gserviceaccount.com"),
    );
    let out = env.run(&["-v", "refresh"]);
    assert!(
        stderr(&out).contains("credentials changed"),
        "{}",
        stderr(&out)
    );
    ok(out);
    assert_eq!(google.mint_count(), 2);
    let file = PgpassFile::parse(&fs::read(env.pgpass()).expect("read"));
    assert!(file.managed().iter().all(|e| e.user == "other@proj.iam"));
}

#[test]
fn status_check_is_a_silent_probe_with_a_line_per_failing_service() {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    env.write_config(&basic_config(&google.http_url()));
    // Before any refresh: both fail, one line each.
    let out = env.run(&["status", "--check"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains("prod: no entry") && text.contains("v6: no entry"),
        "{text}"
    );
    ok(env.run(&["refresh"]));
    // Valid now: silent, exit 0; a minimum longer than a token's life fails.
    assert_eq!(ok(env.run(&["status", "--check", "--min-left", "5m"])), "");
    let out = env.run(&["status", "--check", "--min-left", "2h", "--service", "prod"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.starts_with("prod: ") && text.contains("less than the 2h 0m"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "only the named service: {text}");
    // The probe reads the password file alone: a state directory `status` refuses (not
    // private) is no reason to report a working service as failing.
    let state = env.state_dir();
    fs::set_permissions(&state, fs::Permissions::from_mode(0o777)).expect("chmod");
    fails_with(env.run(&["status"]), 2);
    assert_eq!(ok(env.run(&["status", "--check"])), "");
    fs::set_permissions(&state, fs::Permissions::from_mode(0o700)).expect("chmod");
    // A bad duration or service is a usage error.
    fails_with(env.run(&["status", "--check", "--min-left", "soon"]), 2);
    fails_with(env.run(&["status", "--check", "--service", "nope"]), 2);
    fails_with(env.run(&["status", "--min-left", "5m"]), 2);
}

#[test]
fn completions_need_no_configuration() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let script = ok(env.run(&["completions", shell]));
        assert!(
            script.contains("refresh") && script.contains("watch"),
            "{shell}"
        );
    }
    fails_with(env.run(&["completions", "tcsh"]), 2);
}

/// The code spans (`...`) of a text, its lines joined first (`--help` wraps them).
fn code_spans(text: &str) -> Vec<String> {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    joined
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Every pointer to documentation the binary prints (each command's `--help`, the error
/// without a configuration, the note on a broad token, a page that does not exist, and
/// the pages themselves) leads to something the binary itself prints: `cargo install`
/// installs no man pages, no README and no other file of the repository.
#[test]
fn every_documentation_pointer_leads_to_what_the_binary_prints() {
    let env = Env::new();
    let pages: Vec<String> = ok(env.run(&["man", "--list"]))
        .lines()
        .map(str::to_owned)
        .collect();
    let mut texts: Vec<(String, String)> = Vec::new();
    texts.push(("--help".into(), ok(env.run(&["--help"]))));
    for page in &pages {
        if let Some(command) = page.strip_prefix("alloydb-cred-") {
            let help = ok(env.run(&[command, "--help"]));
            texts.push((format!("{command} --help"), help));
        }
    }
    texts.push((
        "no configuration".into(),
        fails_with(env.run(&["status"]), 2),
    ));
    texts.push((
        "an unknown page".into(),
        fails_with(env.run(&["man", "no-such-page"]), 2),
    ));
    // A token broader than login-only: status adds a note with a pointer.
    let token = env.dir.path().join("token.json");
    fs::write(
        &token,
        r#"{"access_token": "ya29.broad-token", "expires_in": 3600, "scope": "https://www.googleapis.com/auth/cloud-platform"}"#,
    )
    .expect("token");
    env.write_config(&format!(
        "[defaults]\ncredentials = {{ command = [\"cat\", {:?}] }}\n\n\
         [services.db]\nhost = \"127.0.0.1\"\nuser = \"someone@example.com\"\n",
        token.display().to_string()
    ));
    ok(env.run(&["refresh"]));
    let status = ok(env.run(&["status"]));
    assert!(status.contains("note: a broad token"), "{status}");
    texts.push(("status with a broad token".into(), status));

    let mut followed = 0;
    for (what, text) in &texts {
        assert!(
            !text.contains("README") && !text.contains("packaging/") && !text.contains("docs/"),
            "{what} points to a file a `cargo install` does not install:\n{text}"
        );
        let spans = code_spans(text);
        for span in &spans {
            if let Some(rest) = span.strip_prefix("alloydb-cred man ") {
                let args: Vec<&str> = rest.split_whitespace().take_while(|w| *w != "|").collect();
                let mut cmd = env.cmd();
                let out = cmd.arg("man").args(&args).output().expect("run man");
                let page = ok(out);
                assert!(
                    page.contains(".TH ") || args == ["--list"],
                    "{what}: `{span}` prints no page"
                );
                followed += 1;
            } else if let Some(rest) = span.strip_prefix("man ") {
                // `man NAME` works where a package installed the pages; the same text
                // must say how to read that page without them.
                let name = rest.split_whitespace().last().unwrap_or_default();
                assert!(pages.iter().any(|p| p == name), "{what}: `{span}`");
                assert!(
                    spans
                        .iter()
                        .any(|s| s.starts_with(&format!("alloydb-cred man {name} "))
                            || *s == format!("alloydb-cred man {name}")),
                    "{what}: `{span}` without `alloydb-cred man {name}` beside it:\n{text}"
                );
            }
        }
    }
    // The texts above that point somewhere: --help, the missing configuration, the
    // unknown page, the broad token.
    assert!(followed >= 5, "{followed} pointers followed");

    // The pages refer to each other as NAME(SECTION): each of ours is one of them.
    for page in &pages {
        let text = ok(env.run(&["man", page]));
        assert!(!text.contains("README"), "{page} points to the README");
        for word in text.split(|c: char| c.is_whitespace() || c == ',') {
            let word = word
                .replace("\\fB", "")
                .replace("\\fR", "")
                .replace("\\-", "-");
            if let Some((name, _)) = word.split_once('(') {
                if name.starts_with("alloydb-cred") && word.ends_with(')') {
                    assert!(pages.iter().any(|p| p == name), "{page} names {word}");
                }
            }
        }
    }
}
