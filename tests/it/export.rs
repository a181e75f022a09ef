//! `export`: pgAdmin's servers.json and DBeaver's data-sources.json from the sections
//! `refresh` wrote, with the connection each entry describes made for real: libpq
//! through the service (as pgAdmin's `Service` entry connects), and host, port and user
//! with the password the entry's exec command prints (as pgAdmin's `--passexec` entry
//! connects), the password file out of reach. Also the manual pages printed by the
//! binary itself.

use std::process::Command;

use crate::common::*;
use serde_json::Value;

const SA: &str = "gui@proj.iam.gserviceaccount.com";
const SA_USER: &str = "gui@proj.iam";

fn refreshed_world() -> World {
    let w = World::start(&[SA_USER]);
    let url = w.google.http_url();
    let credentials = format!("{{ command = {} }}", mint_command(&url, SA, &[]));
    w.env.write_config(&w.config_text("", &credentials, ""));
    ok(w.env.run(&["refresh"]));
    w
}

fn json_of(out: std::process::Output) -> Value {
    serde_json::from_str(&ok(out)).expect("json")
}

#[test]
fn export_pgadmin_service_entries_connect_through_the_files() {
    let w = refreshed_world();
    let doc = json_of(w.env.run(&["export", "pgadmin"]));
    let server = &doc["Servers"]["1"];
    assert_eq!(server["Name"], "db");
    assert_eq!(server["Group"], "alloydb-cred");
    assert_eq!(server["Service"], "db");
    assert_eq!(server["MaintenanceDB"], "appdb");
    assert!(server.get("PasswordExecCommand").is_none(), "{doc}");
    assert!(!doc.to_string().contains("ya29."), "{doc}");
    // What pgAdmin hands libpq for this entry: the service and the maintenance database.
    let login = w
        .env
        .client(&w.pg.client("psql"))
        .args(["-X", "-A", "-t", "-w", "-c", "select current_user"])
        .arg("service=db dbname=appdb")
        .output()
        .expect("psql");
    assert_eq!(stdout(&login).trim(), SA_USER, "{}", stderr(&login));
}

#[test]
fn export_pgadmin_passexec_runs_token_and_expires_before_it() {
    let w = refreshed_world();
    let doc = json_of(
        w.env
            .run(&["export", "pgadmin", "--passexec", "--service", "db"]),
    );
    let server = &doc["Servers"]["1"];
    assert!(server.get("Service").is_none(), "{doc}");
    assert_eq!(server["Host"], "127.0.0.1");
    assert_eq!(server["Port"], w.pg.port());
    assert_eq!(server["Username"], SA_USER);
    let command = server["PasswordExecCommand"].as_str().expect("a command");
    assert!(
        command.starts_with(BIN)
            && command.contains("--config")
            && command.ends_with("token --service db"),
        "{command}"
    );
    // The default refresh window is 15 minutes: what `token` prints lasts at least that.
    let expiration = server["PasswordExecExpiration"].as_u64().expect("a number");
    assert!(expiration > 0 && expiration < 15 * 60, "{expiration}");

    // pgAdmin runs the command through a shell and logs in with what it prints.
    let mut shell = Command::new("sh");
    w.env.apply_env(&mut shell);
    let token = ok(shell
        .args(["-c", command])
        .output()
        .expect("run the command"));
    let login = w
        .env
        .client(&w.pg.client("psql"))
        .args(["-X", "-A", "-t", "-w", "-c", "select current_user"])
        .arg(format!(
            "host=127.0.0.1 port={} user={SA_USER} dbname=appdb",
            w.pg.port()
        ))
        .env("PGPASSWORD", token.trim())
        .env("PGPASSFILE", "/dev/null")
        .output()
        .expect("psql");
    assert_eq!(stdout(&login).trim(), SA_USER, "{}", stderr(&login));
}

#[test]
fn export_dbeaver_uses_the_section_and_the_pgpass_model() {
    let w = refreshed_world();
    let doc = json_of(w.env.run(&["export", "dbeaver"]));
    let connection = &doc["connections"]["postgres-jdbc-alloydb-cred-db"];
    assert_eq!(connection["provider"], "postgresql");
    assert_eq!(connection["driver"], "postgres-jdbc");
    assert_eq!(connection["folder"], "alloydb-cred");
    let configuration = &connection["configuration"];
    assert_eq!(configuration["auth-model"], "postgres_pgpass");
    assert_eq!(configuration["host"], "127.0.0.1");
    assert_eq!(configuration["port"], w.pg.port().to_string());
    assert_eq!(configuration["user"], SA_USER);
    assert_eq!(
        configuration["url"],
        format!("jdbc:postgresql://127.0.0.1:{}/appdb", w.pg.port())
    );
    assert!(doc["folders"]["alloydb-cred"].is_object(), "{doc}");
}

#[test]
fn export_refuses_services_never_refreshed_and_passexec_for_dbeaver() {
    let env = Env::new();
    env.write_config("[services.fresh]\nhost = \"127.0.0.1\"\n");
    let err = fails_with(env.run(&["export", "pgadmin"]), 2);
    assert!(err.contains("refresh") && err.contains("fresh"), "{err}");
    let err = fails_with(env.run(&["export", "dbeaver", "--passexec"]), 2);
    assert!(err.contains("pgadmin only"), "{err}");
}

#[test]
fn the_binary_prints_its_manual_pages() {
    let env = Env::new();
    let list = ok(env.run(&["man", "--list"]));
    assert!(
        list.lines().any(|l| l == "alloydb-cred.toml")
            && list.lines().any(|l| l == "alloydb-cred-refresh"),
        "{list}"
    );
    let page = ok(env.run(&["man", "alloydb-cred.toml"]));
    assert!(
        page.contains(".TH ALLOYDB-CRED.TOML 5"),
        "{}",
        &page[..page.len().min(300)]
    );
    assert!(ok(env.run(&["man", "refresh"])).contains("refresh_window"));
    fails_with(env.run(&["man", "nothing-like-it"]), 2);
    // The error a user without a configuration gets names the way to that page.
    let err = fails_with(env.run(&["status"]), 2);
    assert!(err.contains("alloydb-cred man alloydb-cred.toml"), "{err}");
}

/// A password or service file that is not where the client looks is said so on stderr,
/// with the variable to set; the default places and `--passexec` need nothing.
#[test]
fn export_says_how_a_client_finds_files_that_are_not_where_it_looks() {
    let w = refreshed_world();
    for client in ["pgadmin", "dbeaver"] {
        let out = w.env.run(&["export", client]);
        assert_eq!(stderr(&out), "", "{client}: the default places");
        ok(out);
    }
    let elsewhere = w.env.dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("dir");
    let url = w.google.http_url();
    let credentials = format!("{{ command = {} }}", mint_command(&url, SA, &[]));
    let files = format!(
        "pgpass = \"{0}/pgpass\"\nservice_file = \"{0}/services.conf\"",
        elsewhere.display()
    );
    w.env.write_config(&w.config_text(&files, &credentials, ""));
    ok(w.env.run(&["refresh"]));
    let cases = [
        (&["export", "pgadmin"][..], Some("PGSERVICEFILE=")),
        (&["export", "dbeaver"][..], Some("PGPASSFILE=")),
        (&["export", "pgadmin", "--passexec"][..], None),
    ];
    for (args, says) in cases {
        // A variable in this shell is not one in the client's: it still warns.
        let out = w
            .env
            .cmd()
            .args(args)
            .env("PGSERVICEFILE", elsewhere.join("services.conf"))
            .env("PGPASSFILE", elsewhere.join("pgpass"))
            .output()
            .expect("run alloydb-cred");
        let err = stderr(&out);
        ok(out);
        match says {
            Some(variable) => assert!(
                err.contains(&format!("{variable}{}", elsewhere.display())),
                "{args:?}: {err}"
            ),
            None => assert_eq!(err, "", "{args:?}"),
        }
    }
}
