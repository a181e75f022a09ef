//! `doctor` against the stand-in Google and the AlloyDB-like server: each broken setup is
//! built for real, and the diagnosis, the fix it names and the exit code are asserted.
//! One world (both servers) is shared by every case, each with its own HOME, and every
//! doctor run is checked for tokens in its output.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::thread;

use crate::common::*;
use crate::doctor_case::*;

const HEALTHY: &str = "healthy@proj.iam.gserviceaccount.com";
const HEALTHY_USER: &str = "healthy@proj.iam";
const FILES: &str = "files@proj.iam.gserviceaccount.com";
const FILES_USER: &str = "files@proj.iam";
const STALE: &str = "stale@proj.iam.gserviceaccount.com";
const STALE_USER: &str = "stale@proj.iam";
const NO_ROLE: &str = "norole@proj.iam.gserviceaccount.com";
const RESET: &str = "reset@proj.iam.gserviceaccount.com";
const KEY_SA: &str = "loader@proj.iam.gserviceaccount.com";
const TARGET: &str = "db-login@proj.iam.gserviceaccount.com";
const PERSON: &str = "kai@altostrat.com";
const OTHER_PERSON: &str = "ana@altostrat.com";
const ALLOYDB_SCOPE: &str = "https://www.googleapis.com/auth/alloydb.login";
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
const EMAIL_SCOPE: &str = "https://www.googleapis.com/auth/userinfo.email";
const ADC_LOGIN: &str = "gcloud auth application-default login --scopes=https://www.googleapis.com/auth/alloydb.login,https://www.googleapis.com/auth/cloud-platform,https://www.googleapis.com/auth/userinfo.email,openid";

/// A working setup: every check passes, `--connect` logs in exactly once, the text and
/// JSON forms agree.
fn healthy(w: &World) {
    let mut c = Case::new(w);
    let credentials = c.key_file(HEALTHY);
    c.config(&credentials, "");
    c.refresh(&[]);

    // The test's HOME is not the one the user database gives: clients that take ~ from
    // there (pgx, pgjdbc) would miss both files, which is the one warning. With the
    // variables it advises, nothing is left.
    let (code, report) = c.doctor(&[], &[]);
    let not_ok: Vec<_> = report
        .statuses()
        .into_iter()
        .filter(|(_, s)| s != "ok")
        .collect();
    assert_eq!(not_ok, [("files.home".to_string(), "warning".to_string())]);
    assert_eq!(code, 0);
    let home = report.check(None, "files.home");
    let (pgpass, services) = (c.env.pgpass(), c.env.service_file());
    let (pgpass, services) = (pgpass.to_string_lossy(), services.to_string_lossy());
    assert!(
        home["message"].as_str().is_some_and(|m| m.contains("pgx")),
        "{home:#}"
    );
    assert_eq!(
        home["fix"].as_str().unwrap_or_default(),
        format!(
            "where those clients run, set PGPASSFILE={pgpass} and PGSERVICEFILE={services} (or run them with HOME and the user database agreeing)"
        )
    );
    let vars = [("PGPASSFILE", &*pgpass), ("PGSERVICEFILE", &*services)];

    let (code, report) = c.doctor(&[], &vars);
    let not_ok: Vec<_> = report
        .statuses()
        .into_iter()
        .filter(|(_, s)| s != "ok")
        .collect();
    assert!(not_ok.is_empty() && code == 0, "{not_ok:?}: {:#}", report.0);
    report.expect(
        "db",
        "credentials.source",
        "ok",
        &["key_file", &format!("{HEALTHY}.json")],
        &[],
    );
    report.expect(
        "db",
        "credentials.token",
        "ok",
        &["not written", "login-only"],
        &[],
    );
    report.expect("db", "credentials.scopes", "ok", &["alloydb.login"], &[]);
    report.expect(
        "db",
        "credentials.principal",
        "ok",
        &[HEALTHY, HEALTHY_USER],
        &[],
    );
    report.expect("db", "pgpass.first_match", "ok", &["line 2"], &[]);
    report.expect("db", "network.tcp", "ok", &["accepts TCP connections"], &[]);
    report.expect(
        "db",
        "network.postgres",
        "ok",
        &["a PostgreSQL server answers", "without logging in"],
        &[],
    );
    assert_eq!(
        binds_for(w, HEALTHY_USER),
        0,
        "doctor without --connect logs in to nothing"
    );

    // The stable JSON shape.
    let doc = &report.0;
    for key in [
        "config", "status", "problems", "warnings", "checks", "services",
    ] {
        assert!(doc.get(key).is_some(), "no {key}: {doc:#}");
    }
    assert_eq!(doc["status"], "ok");
    assert_eq!(doc["services"][0]["name"], "db");
    assert_eq!(doc["services"][0]["status"], "ok");
    for check in doc["services"][0]["checks"].as_array().expect("checks") {
        let keys: Vec<&str> = check
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["fix", "message", "name", "status"], "{check:#}");
        assert!(check["fix"].is_null());
    }

    // The text form: one line per check, and a result line.
    let (code, text) = c.doctor_out(&[], &vars);
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with("configuration "), "{text}");
    assert!(text.contains("\nservice db\n"), "{text}");
    assert!(text.contains("  ok       credentials.token: "), "{text}");
    assert!(text.ends_with("result: all checks passed\n"), "{text}");
    let check_lines = text.lines().filter(|l| l.starts_with("  ok ")).count();
    assert_eq!(check_lines, report.statuses().len(), "{text}");

    // --connect: one real login through the files, no more.
    let report = c.diagnose(&["--connect"], &vars, 0);
    report.expect("db", "login", "ok", &[HEALTHY_USER, "one attempt"], &[]);
    assert_eq!(binds_for(w, HEALTHY_USER), 1, "exactly one login");
}

/// A user's login without the AlloyDB scope, and a token command whose tokens lack it.
fn wrong_scopes(w: &World) {
    let mut c = Case::new(w);
    let adc = w
        .google
        .add_user(PERSON, &[CLOUD_PLATFORM, EMAIL_SCOPE, "openid"]);
    let adc_path = c.write_json("adc.json", &adc);
    c.config("\"adc\"", "");
    let envs = [("GOOGLE_APPLICATION_CREDENTIALS", adc_path.as_str())];
    let report = c.diagnose(&[], &envs, 3);
    report.expect(
        "db",
        "credentials.source",
        "ok",
        &[
            "GOOGLE_APPLICATION_CREDENTIALS names",
            &adc_path,
            "a user's login",
        ],
        &[],
    );
    report.expect(
        "db",
        "credentials.token",
        "problem",
        &["Request had insufficient scopes."],
        &[ADC_LOGIN],
    );

    c.config(&c.command(PERSON, &["--scope", EMAIL_SCOPE]), "");
    let report = c.diagnose(&[], &[], 3);
    report.expect(
        "db",
        "credentials.scopes",
        "problem",
        &[
            "neither alloydb.login nor cloud-platform",
            "Request had insufficient scopes.",
        ],
        &["token command", ALLOYDB_SCOPE],
    );
}

/// A principal that is not the configured user, and one whose user is too long.
fn principal_mismatch(w: &World) {
    let mut c = Case::new(w);
    let credentials = c.key_file(KEY_SA);
    c.config(&credentials, &format!("user = \"{PERSON}\""));
    let report = c.diagnose(&[], &[], 3);
    report.expect(
        "db",
        "credentials.principal",
        "problem",
        &["IAM principal does not match database user", KEY_SA, PERSON],
        &["user = \"auto\""],
    );

    let long = format!("{}@proj.iam.gserviceaccount.com", "a".repeat(60));
    c.config(&c.command(&long, &[]), "");
    let report = c.diagnose(&[], &[], 3);
    report.expect(
        "db",
        "credentials.principal",
        "problem",
        &["63 bytes", "truncates"],
        &["shorter"],
    );
}

/// A revoked login, and impersonation without the Token Creator role.
fn revoked_and_impersonation(w: &World) {
    let mut c = Case::new(w);
    let adc = w
        .google
        .add_user(OTHER_PERSON, &[ALLOYDB_SCOPE, EMAIL_SCOPE]);
    let adc_path = c.write_json("adc.json", &adc);
    c.config("\"adc\"", "");
    let envs = [("GOOGLE_APPLICATION_CREDENTIALS", adc_path.as_str())];
    c.refresh(&envs);
    w.google
        .revoke_refresh_token(adc["refresh_token"].as_str().expect("refresh token"));
    let report = c.diagnose(&[], &envs, 3);
    report.expect(
        "db",
        "credentials.token",
        "problem",
        &["revoked or have expired", "invalid_grant"],
        &[ADC_LOGIN],
    );
    // The token written before the revocation is still a live one.
    report.expect("db", "pgpass.token", "ok", &["tokeninfo accepts"], &[]);

    let credentials = c.key_file(KEY_SA);
    c.config(&credentials, &format!("impersonate = \"{TARGET}\""));
    let report = c.diagnose(&[], &[], 3);
    report.expect(
        "db",
        "credentials.source",
        "ok",
        &[&format!("then impersonating {TARGET}")],
        &[],
    );
    report.expect(
        "db",
        "credentials.token",
        "problem",
        &["Token Creator"],
        &[&format!(
            "gcloud iam service-accounts add-iam-policy-binding {TARGET} --member=serviceAccount:{KEY_SA} --role=roles/iam.serviceAccountTokenCreator"
        )],
    );
}

/// The password file: mode 0644, a missing entry, an expired one, lines that match the
/// same connection above and below the managed block.
fn password_file(w: &World) {
    let c = Case::new(w);
    let port = w.pg.port();
    c.config(
        &c.command(FILES, &[]),
        &format!("\n[services.later]\nhost = \"127.0.0.1\"\nport = {port}\n"),
    );
    ok(c.run(&["refresh", "--service", "db"], &[]));
    let pgpass = c.env.pgpass();
    let pgpass_text = pgpass.display().to_string();

    fs::set_permissions(&pgpass, fs::Permissions::from_mode(0o644)).expect("chmod");
    let report = c.diagnose(&["--service", "db"], &[], 3);
    let file = report.check(None, "pgpass.file");
    assert_eq!(file["status"], "problem", "{file:#}");
    assert!(
        file["message"]
            .as_str()
            .unwrap_or_default()
            .contains("mode 0644"),
        "{file:#}"
    );
    assert_eq!(file["fix"], format!("chmod 600 {pgpass_text}"));
    fs::set_permissions(&pgpass, fs::Permissions::from_mode(0o600)).expect("chmod");

    // `later` was never refreshed: one line says so, not a missing entry and section.
    let report = c.diagnose(&[], &[], 3);
    report.expect("db", "pgpass.entry", "ok", &["valid until"], &[]);
    let pending = report.check(None, "refresh");
    assert_eq!(pending["status"], "problem", "{pending:#}");
    assert!(
        pending["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("not refreshed yet") && m.contains("service later")),
        "{pending:#}"
    );
    assert_eq!(pending["fix"], "alloydb-cred refresh --service later");
    assert!(
        !report
            .statuses()
            .iter()
            .any(|(name, _)| name == "later/pgpass.entry" || name == "later/service_file.section"),
        "{:#}",
        report.0
    );

    // Lines of the user's below the block, for the same connection and a catch-all:
    // libpq never reads them for it, node-postgres 8 would.
    let mut text = fs::read_to_string(&pgpass).expect("read");
    text.push_str(&format!(
        "127.0.0.1:{port}:*:{FILES_USER}:my-old-password\n*:*:*:*:catch-all\n"
    ));
    fs::write(&pgpass, &text).expect("write");
    ok(c.run(&["refresh", "--service", "later"], &[]));
    let report = c.diagnose(&["--service", "db"], &[], 0);
    report.expect(
        "db",
        "pgpass.last_match",
        "warning",
        &[
            &format!("line 5 (127.0.0.1:{port}:*:{FILES_USER})"),
            "line 6 (*:*:*:*)",
            "node-postgres 8",
        ],
        &["line 5", "line 6", "pgpass 1.0.6"],
    );
    report.expect("db", "pgpass.first_match", "ok", &["line 2"], &[]);

    // A line written above the managed block (by hand, after the refresh).
    let text = fs::read_to_string(&pgpass).expect("read");
    fs::write(&pgpass, format!("*:{port}:*:*:above\n{text}")).expect("write");
    let report = c.diagnose(&["--service", "db"], &[], 3);
    report.expect(
        "db",
        "pgpass.first_match",
        "problem",
        &[&format!(
            "line 1 of {pgpass_text} (*:{port}:*:*) comes before the entry"
        )],
        &["delete line 1", "alloydb-cred refresh --force --service db"],
    );
    ok(c.run(&["refresh", "--force"], &[]));
    let (_, report) = c.doctor(&["--service", "db"], &[]);
    report.expect("db", "pgpass.first_match", "ok", &[], &[]);

    // An entry past its expiry (the marker's expiry is what libpq users rely on).
    let text = fs::read_to_string(&pgpass).expect("read");
    let marker_at = text.find("service=db expires=").expect("marker") + "service=db expires=".len();
    let expired = format!(
        "{}20200101T000000Z{}",
        &text[..marker_at],
        &text[marker_at + 16..]
    );
    fs::write(&pgpass, expired).expect("write");
    let report = c.diagnose(&["--service", "db"], &[], 3);
    report.expect(
        "db",
        "pgpass.entry",
        "problem",
        &["expired at 2020-01-01T00:00:00Z"],
        &["alloydb-cred refresh --service db", "every 5 minutes"],
    );
}

/// The service file: passfile= in use, a keyword pgjdbc rejects, a system-wide file that
/// defines the same service, and a PGSERVICEFILE that is not the file written.
fn service_file(w: &World) {
    let c = Case::new(w);
    let custom = c.env.dir.path().join("elsewhere.pgpass");
    let custom_services = c.env.dir.path().join("services.conf");
    c.config_with(
        &format!(
            "pgpass = {}\nservice_file = {}",
            toml_path(&custom),
            toml_path(&custom_services)
        ),
        &c.command(FILES, &[]),
        "libpq = { application_name = \"reports\" }",
    );
    c.refresh(&[]);
    fs::write(
        c.sysconf().join("pg_service.conf"),
        "[db]\nhost=old.example\n",
    )
    .expect("write");

    let report = c.diagnose(&[], &[], 0);
    let custom_text = custom.display().to_string();
    report.expect(
        "db",
        "service_file.passfile",
        "warning",
        &[&format!("passfile={custom_text}"), "pgjdbc"],
        &[&format!("PGPASSFILE={custom_text}")],
    );
    report.expect(
        "db",
        "service_file.pgjdbc",
        "warning",
        &["application_name", "DBeaver"],
        &["remove application_name"],
    );
    report.expect(
        "db",
        "service_file.system",
        "warning",
        &["also defines [db]"],
        &["rename"],
    );
    let system = report.check(None, "service_file.system");
    assert!(
        system["message"]
            .as_str()
            .unwrap_or_default()
            .contains("defines 1 section"),
        "{system:#}"
    );
    report.expect("db", "pgpass.entry", "ok", &[&custom_text], &[]);

    // libpq reads ~/.pg_service.conf, not the file written, unless PGSERVICEFILE says so.
    let location = report.check(None, "service_file.location");
    let written = custom_services.display().to_string();
    assert_eq!(location["status"], "warning", "{location:#}");
    let home_file = c.env.service_file().display().to_string();
    assert!(
        location["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!(
                "libpq reads {home_file} (the per-user default), but alloydb-cred writes {written}"
            )),
        "{location:#}"
    );
    assert_eq!(
        location["fix"]
            .as_str()
            .map(|f| f.starts_with(&format!("export PGSERVICEFILE={written} "))),
        Some(true),
        "{location:#}"
    );
    let report = c.diagnose(&[], &[("PGSERVICEFILE", written.as_str())], 0);
    assert_eq!(report.check(None, "service_file.location")["status"], "ok");
}

/// Long tokens against a libpq that reads 319 bytes of a line.
fn old_libpq(w: &World) {
    let c = Case::new(w);
    let psql = c.bin().join("psql");
    fs::write(&psql, "#!/bin/sh\necho 'psql (PostgreSQL) 12.4'\n").expect("write");
    fs::set_permissions(&psql, fs::Permissions::from_mode(0o755)).expect("chmod");
    c.config(&c.command(FILES, &["--length", "400"]), "");
    c.refresh(&[]);
    let report = c.diagnose(&[], &[], 0);
    report.expect(
        "db",
        "pgpass.line_length",
        "warning",
        &["psql 12.4 (fixed in 12.5)", "319 bytes"],
        &["upgrade"],
    );
    let version = report.check(None, "libpq.version");
    assert!(
        version["message"]
            .as_str()
            .unwrap_or_default()
            .contains("psql 12.4"),
        "{version:#}"
    );
}

/// A closed port (for two services: the port is tried once, each fix names its own
/// service), and --connect not trying it. (Private addresses that do not answer cannot
/// be built on loopback; their diagnosis is unit-tested in src/doctor/network.rs.)
fn network(w: &World) {
    let c = Case::new(w);
    let port = closed_port();
    c.config(
        &c.command(FILES, &[]),
        &format!(
            "\n[services.closed]\nhost = \"127.0.0.1\"\nport = {port}\n\n[services.closed_too]\nhost = \"127.0.0.1\"\nport = {port}\n\n[services.nowhere]\nhost = \"db.nowhere.invalid\"\n"
        ),
    );
    c.refresh(&[]);
    let report = c.diagnose(
        &[
            "--connect",
            "--service",
            "closed",
            "--service",
            "closed_too",
            "--service",
            "nowhere",
        ],
        &[],
        3,
    );
    for service in ["closed", "closed_too"] {
        report.expect(
            service,
            "network.tcp",
            "problem",
            &["refused"],
            &[&format!("`host` and `port` in [services.{service}] of")],
        );
    }
    report.expect("closed", "login", "warning", &["not tried"], &[]);
    report.expect(
        "nowhere",
        "network.resolve",
        "problem",
        &["db.nowhere.invalid does not resolve"],
        &["check `host` in [services.nowhere]"],
    );
}

/// `--connect` refused: a revoked token in the file, a principal without a database
/// user, and a server that closes the connection before answering.
fn refused_logins(w: &World) {
    let mut c = Case::new(w);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let reset_port = listener.local_addr().expect("addr").port();
    thread::spawn(move || {
        // Accept and close at once, as a server that wants connectors or SSL might.
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    let port = w.pg.port();
    c.config(
        &c.command(STALE, &[]),
        &format!(
            "\n[services.norole]\nhost = \"127.0.0.1\"\nport = {port}\ndbname = \"appdb\"\ncredentials = {}\n\n[services.reset]\nhost = \"127.0.0.1\"\nport = {reset_port}\ncredentials = {}\n",
            c.command(NO_ROLE, &[]),
            c.command(RESET, &[]),
        ),
    );
    c.refresh(&[]);
    let stale = c.token("db");
    assert!(w.google.revoke(&stale));
    c.secrets.push(stale);

    let report = c.diagnose(&["--connect"], &[], 3);
    report.expect(
        "db",
        "pgpass.token",
        "problem",
        &[
            "tokeninfo rejects the token",
            "Request had invalid authentication credentials.",
        ],
        &["alloydb-cred refresh --force --service db"],
    );
    report.expect(
        "db",
        "login",
        "problem",
        &[
            "authentication failed",
            "\"Request had invalid authentication credentials.\"",
        ],
        &["alloydb-cred refresh --force --service db"],
    );
    assert_eq!(binds_for(w, STALE_USER), 1, "one login, no retry");
    assert!(
        w.pg.log_contents()
            .contains("Request had invalid authentication credentials."),
        "the server's log gives the same cause"
    );
    report.expect(
        "norole",
        "login",
        "problem",
        &["no user \"norole@proj.iam\""],
        &["gcloud alloydb users create norole@proj.iam"],
    );
    // Closed before PostgreSQL's first answer: named by the network check, and no
    // login is spent on it.
    report.expect(
        "reset",
        "network.postgres",
        "problem",
        &["does not answer as PostgreSQL"],
        &["connectors only", "Auth Proxy"],
    );
    report.expect("reset", "login", "warning", &["not tried"], &[]);

    // After the fix doctor names, the login works.
    ok(c.run(&["refresh", "--force", "--service", "db"], &[]));
    let (_, report) = c.doctor(&["--connect", "--service", "db"], &[]);
    report.expect("db", "login", "ok", &[STALE_USER], &[]);
}

/// What doctor refuses to run on: a configuration that does not load, an unknown service.
fn usage(w: &World) {
    let c = Case::new(w);
    c.env.write_config("[defaults]\nbogus = 1\n");
    let out = c.run(&["doctor"], &[]);
    let err = fails_with(out, 2);
    assert!(err.contains("bogus"), "{err}");
    c.config(&c.command(FILES, &[]), "");
    let err = fails_with(c.run(&["doctor", "--service", "nope"], &[]), 2);
    assert!(err.contains("no service \"nope\""), "{err}");
}

#[test]
fn doctor_finds_each_broken_setup_and_names_the_fix() {
    let w = World::start(&[
        HEALTHY_USER,
        FILES_USER,
        STALE_USER,
        PERSON,
        OTHER_PERSON,
        "reset@proj.iam",
    ]);
    let cases: &[(&str, CaseFn)] = &[
        ("healthy", healthy),
        ("wrong_scopes", wrong_scopes),
        ("principal_mismatch", principal_mismatch),
        ("revoked_and_impersonation", revoked_and_impersonation),
        ("password_file", password_file),
        ("service_file", service_file),
        ("old_libpq", old_libpq),
        ("network", network),
        ("not_postgresql", crate::doctor_network::not_postgresql),
        ("first_run", crate::doctor_first_run::first_run),
        ("refused_logins", refused_logins),
        ("usage", usage),
    ];
    // One after the other (the stand-ins are not shared across threads); a failing
    // case does not hide the others.
    let failed: Vec<&str> = cases
        .iter()
        .filter_map(|(name, case)| {
            let started = std::time::Instant::now();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&w)));
            eprintln!("{name}: {:.1} s", started.elapsed().as_secs_f64());
            outcome.is_err().then_some(*name)
        })
        .collect();
    assert!(
        failed.is_empty(),
        "cases that failed (messages above): {failed:?}"
    );
}
