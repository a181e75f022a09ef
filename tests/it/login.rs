//! End to end: `alloydb-cred refresh` writes the files, and real psql and pg_dump log in
//! to a real PostgreSQL server through them alone. The server, like AlloyDB, accepts a
//! password only when it is a live token whose principal maps to the database user (its
//! LDAP authentication asks the stand-in token issuer).

use std::time::Duration;

use crate::common::*;

const SA: &str = "my-service@my-project.iam.gserviceaccount.com";
const SA_USER: &str = "my-service@my-project.iam";
const PERSON: &str = "kai@altostrat.com";

fn world() -> World {
    World::start(&[SA_USER, PERSON, "bob@example.com"])
}

#[test]
fn psql_and_pg_dump_log_in_through_the_generated_files() {
    let w = world();
    let url = w.google.http_url();
    let port = w.pg.port();
    let mut config = format!(
        r#"
[defaults]
credentials = {{ command = {sa} }}

[services.v4]
host = "127.0.0.1"
port = {port}
dbname = "appdb"

[services.person]
host = "127.0.0.1"
port = {port}
dbname = "appdb"
credentials = {{ command = {person} }}
"#,
        sa = mint_command(&url, SA, &[]),
        person = mint_command(&url, PERSON, &["--length", "2048", "--padding", "3"]),
    );
    if w.pg.has_ipv6() {
        config.push_str(&format!(
            "\n[services.v6]\nhost = \"::1\"\nport = {port}\ndbname = \"appdb\"\n"
        ));
    }
    w.env.write_config(&config);
    ok(w.env.run(&["refresh"]));
    // Two distinct credentials: two mints, however many services share them.
    assert_eq!(w.google.mint_count(), 2);

    let out = ok(w.psql("v4", "select current_user"));
    assert_eq!(out.trim(), SA_USER);

    // The 2,048-character token (ending in '.' padding) and an e-mail user name.
    let text = w.env.pgpass_text();
    let long_line = text
        .lines()
        .find(|l| l.contains(":kai@altostrat.com:"))
        .expect("entry for the person");
    assert!(
        long_line.len() > 2048 && long_line.ends_with("..."),
        "{long_line:.80}"
    );
    let out = ok(w.psql("person", "select current_user"));
    assert_eq!(out.trim(), PERSON);

    if prerequisite(w.pg.has_ipv6(), "IPv6 loopback (::1)", "IPv6 login") {
        assert!(
            text.contains("\\:\\:1:"),
            "IPv6 host escaped in pgpass:\n{text}"
        );
        let out = ok(w.psql("v6", "select current_user, inet_server_addr()"));
        assert_eq!(out.trim(), format!("{SA_USER}|::1"));
    }

    // pg_dump with the service named in the connection string.
    let dump = ok(w
        .env
        .client(&w.pg.client("pg_dump"))
        .args(["-w", "--schema-only", "-d", "service=v4"])
        .output()
        .expect("run pg_dump"));
    assert!(dump.contains("CREATE TABLE"), "{dump}");

    // exec: the command gets the service and files, and its exit status is ours.
    let out = ok(w
        .env
        .cmd()
        .args(["exec", "--service", "person", "--"])
        .arg(w.pg.client("psql"))
        .args(["-X", "-A", "-t", "-w", "-c", "select current_user"])
        .output()
        .expect("exec"));
    assert_eq!(out.trim(), PERSON);
    let out = w
        .env
        .cmd()
        .args(["exec", "--service", "v4", "--"])
        .arg(w.pg.client("psql"))
        .args([
            "-X",
            "-w",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "select * from no_such_table",
        ])
        .output()
        .expect("exec");
    assert_eq!(
        out.status.code(),
        Some(1),
        "psql's own exit status passes through"
    );

    // `token` prints exactly a live token and a newline.
    let printed = ok(w.env.run(&["token", "--service", "v4"]));
    let token = printed.strip_suffix('\n').expect("newline");
    assert!(
        w.google
            .token_info(token)
            .is_some_and(|t| t.principal == SA)
    );
    assert_eq!(w.google.mint_count(), 2, "token reused the fresh entry");
}

#[test]
fn a_principal_that_does_not_match_the_user_cannot_log_in() {
    let w = world();
    let url = w.google.http_url();
    let port = w.pg.port();
    // A broker that does not say whose token it is (the principal is hidden), with a
    // user that is not the token's principal: the file is written, the server refuses.
    let hide = w.env.script(
        "hide-principal.sh",
        &format!(
            "{} mint --url {url} --principal {PERSON} | sed 's/\"principal\"/\"who\"/'",
            fake_google_bin().display()
        ),
    );
    w.env.write_config(&format!(
        r#"
[services.wrong]
host = "127.0.0.1"
port = {port}
dbname = "appdb"
user = "bob@example.com"
credentials = {{ command = ["{}"] }}
"#,
        hide.display()
    ));
    ok(w.env.run(&["refresh"]));
    let out = w.psql("wrong", "select current_user");
    assert!(!out.status.success(), "login must fail");
    let err = stderr(&out);
    assert!(err.contains("authentication failed"), "{err}");
    let (_, rejected) = w.google.ldap_binds();
    assert!(rejected >= 1);
    assert!(
        w.pg.log_contents()
            .contains("IAM principal does not match database user"),
        "the server saw AlloyDB's reason"
    );

    // When the source does say the principal, the tool refuses to write an entry the
    // server is bound to reject (failed logins count against a quota).
    w.env.write_config(&format!(
        r#"
[services.wrong]
host = "127.0.0.1"
port = {port}
user = "bob@example.com"
credentials = {{ command = {} }}
"#,
        mint_command(&url, PERSON, &[])
    ));
    let err = fails_with(w.env.run(&["refresh", "--force"]), 2);
    assert!(
        err.contains("IAM principal does not match database user"),
        "{err}"
    );
    assert!(err.contains("service wrong"), "{err}");
}

#[test]
fn an_expired_token_in_the_file_is_replaced_before_clients_use_it() {
    let w = world();
    let url = w.google.http_url();
    let port = w.pg.port();
    // Tokens that live 2 s, with a 15 min window: every run finds them due. `alias`
    // shares host, port and user with `short` (and sorts before it by name).
    w.env.write_config(&format!(
        r#"
[defaults]
credentials = {{ command = {} }}

[services.short]
host = "127.0.0.1"
port = {port}
dbname = "appdb"

[services.alias]
host = "127.0.0.1"
port = {port}
dbname = "appdb"
"#,
        mint_command(&url, SA, &["--lifetime", "2"])
    ));
    ok(w.env.run(&["refresh"]));
    std::thread::sleep(Duration::from_secs(3));
    // The token in the file has expired: the server refuses it.
    assert!(!w.psql("short", "select 1").status.success());
    // exec refreshes what is due (only `short`) before running the client, and libpq's
    // first match is the fresh token, not `alias`'s expired one above it by name.
    let out = ok(w.exec_psql("short", "select current_user"));
    assert_eq!(out.trim(), SA_USER);
}

#[test]
fn a_host_change_whose_mint_fails_leaves_a_working_section_and_entry() {
    let w = world();
    let url = w.google.http_url();
    let port = w.pg.port();
    let config = |host: &str, credentials: &str| {
        format!(
            "[defaults]\ncredentials = {{ command = {credentials} }}\n\n[services.db]\nhost = \"{host}\"\nport = {port}\ndbname = \"appdb\"\n"
        )
    };
    w.env
        .write_config(&config("127.0.0.1", &mint_command(&url, SA, &[])));
    ok(w.env.run(&["refresh"]));

    // The service moves, but no new token can be had: the refresh fails, and the old
    // entry and its section stay together, so clients keep logging in where they did.
    w.env.write_config(&config("localhost", r#"["false"]"#));
    fails_with(w.env.run(&["refresh"]), 1);
    let section = std::fs::read_to_string(w.env.service_file()).expect("service file");
    assert!(section.contains("host=127.0.0.1\n"), "{section}");
    assert!(!section.contains("host=localhost"), "{section}");
    assert_eq!(ok(w.psql("db", "select current_user")).trim(), SA_USER);
}
