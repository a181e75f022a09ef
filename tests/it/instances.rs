//! Services that name an instance instead of a host: AlloyDB instance names and Cloud SQL
//! connection names resolved through stand-ins of the Admin APIs, every resolution ending
//! in a real psql login through the written files against a PostgreSQL that, like both
//! products, takes logins over TLS only. Then what the Admin APIs cost (a cache, and a
//! nothing-due run that asks nothing), a failed re-resolution that keeps the last good
//! address, and every refusal: connectors-only instances, missing pooling or address
//! types, 403 and 404, trusted client certificates, other engines and regions, hostile
//! answers.
//!
//! Each API has one test with its own stand-in Google and server: what the stand-in
//! counts per route must not mix with another test's requests.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::process::Output;

use crate::common::*;
use fake_google::pg::PgServer;
use fake_google::tls::TestCa;
use fake_google::{
    AlloyDbInstance, CloudSqlInstance, CloudSqlSslMode, FakeGoogle, ServerCaCert, ServerCaMode,
};
use libpq_files::pgpass::PgpassFile;
use libpq_files::service_file::ServiceFile;
use serde_json::Value;
use serde_json::Value::Null;

const SA: &str = "app@proj.iam.gserviceaccount.com";
const SA_USER: &str = "app@proj.iam";
/// A service account nobody granted anything.
const STRANGER: &str = "stranger@proj.iam.gserviceaccount.com";
/// An address nothing listens on: a service resolved to it could not log in.
const NOWHERE: &str = "10.255.255.1";

fn alloydb(name: &str) -> String {
    format!("projects/proj/locations/us-central1/clusters/main/instances/{name}")
}

/// A stand-in Google, a TLS PostgreSQL whose logins it checks, a user, and a key file.
struct Lab {
    world: World,
    ca: TestCa,
    key: PathBuf,
}

impl Lab {
    fn start() -> Lab {
        let google = FakeGoogle::start().expect("fake google");
        let ca = TestCa::new("server CA").expect("CA");
        let cert = ca
            .issue(&["127.0.0.1", "localhost", "::1"])
            .expect("server certificate");
        let pg = PgServer::start_with_tls(google.ldap_port(), &[SA_USER], &cert).expect("postgres");
        let env = Env::new();
        let key = env.dir.path().join("key.json");
        fs::write(&key, google.add_service_account(SA).to_string()).expect("key");
        let stranger = env.dir.path().join("stranger.json");
        fs::write(&stranger, google.add_service_account(STRANGER).to_string()).expect("key");
        Lab {
            world: World { google, pg, env },
            ca,
            key,
        }
    }

    fn google(&self) -> &FakeGoogle {
        &self.world.google
    }

    fn env(&self) -> &Env {
        &self.world.env
    }

    /// A config with the key's credential, both Admin APIs at the stand-in, and `services`
    /// (TOML tables); `{port}` in them becomes the server's port.
    fn config(&self, services: &str) {
        self.config_with(services, &self.google().http_url());
    }

    /// Like [`Lab::config`], with the Admin APIs at `admin`.
    fn config_with(&self, services: &str, admin: &str) {
        self.env().write_config(&format!(
            "[defaults]\ncredentials = {{ key_file = {:?} }}\n\n[endpoints]\nalloydb_admin = \"{admin}\"\nsqladmin = \"{admin}\"\ntimeout = \"2s\"\n\n{}",
            self.key.display().to_string(),
            services.replace("{port}", &self.world.pg.port().to_string())
        ));
    }

    fn run(&self, args: &[&str]) -> Output {
        self.env().run(args)
    }

    /// psql through the files alone, as `current_user`; the output on failure.
    fn login(&self, service: &str) -> Result<String, String> {
        let out = self.world.psql(service, "select current_user");
        match out.status.success() {
            true => Ok(stdout(&out).trim().to_string()),
            false => Err(stderr(&out)),
        }
    }

    /// The keywords of a service's managed section.
    fn section(&self, service: &str) -> BTreeMap<String, String> {
        let bytes = fs::read(self.env().service_file()).unwrap_or_default();
        ServiceFile::managed_in(&bytes)
            .into_iter()
            .find(|s| s.name == service)
            .map(|s| {
                s.keywords
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn entry(&self, service: &str) -> Option<libpq_files::pgpass::ManagedEntry> {
        PgpassFile::parse(&fs::read(self.env().pgpass()).unwrap_or_default())
            .get(service)
            .cloned()
    }

    fn files(&self) -> (Vec<u8>, Vec<u8>) {
        (
            fs::read(self.env().pgpass()).unwrap_or_default(),
            fs::read(self.env().service_file()).unwrap_or_default(),
        )
    }

    fn state(&self) -> serde_json::Value {
        let bytes = fs::read(self.env().state_dir().join("state.json")).expect("state");
        serde_json::from_slice(&bytes).expect("state JSON")
    }

    fn status_json(&self) -> Value {
        serde_json::from_str(&ok(self.run(&["status", "--json"]))).expect("status JSON")
    }

    /// Makes every cached resolution look two hours old.
    fn age_cache(&self) {
        let mut state = self.state();
        for (_, cached) in state["instances"]
            .as_object_mut()
            .expect("instances")
            .iter_mut()
        {
            cached["resolved_at"] = "2020-01-01T00:00:00Z".into();
        }
        fs::write(
            self.env().state_dir().join("state.json"),
            serde_json::to_vec(&state).expect("json"),
        )
        .expect("write state");
    }

    /// `refresh --service NAME` must fail with `code`, saying all of `words`, and leave
    /// both files as they were.
    #[track_caller]
    fn refused(&self, service: &str, code: i32, words: &[&str]) {
        let before = self.files();
        let err = fails_with(self.run(&["refresh", "--service", service]), code);
        for word in words {
            assert!(err.contains(word), "{service}: no {word:?} in: {err}");
        }
        assert!(
            !err.contains("evil") && !err.contains("ya29."),
            "{service}: {err}"
        );
        assert_eq!(self.files(), before, "{service}: the files changed");
    }
}

/// `field` of `service` in `status --json`, which must have it (null or not).
#[track_caller]
fn field(status: &Value, service: &str, field: &str) -> Value {
    let services = status["services"].as_array().expect("services");
    let found = services
        .iter()
        .find(|s| s["name"] == service)
        .unwrap_or_else(|| panic!("no {service} in {status:#}"));
    found
        .get(field)
        .cloned()
        .unwrap_or_else(|| panic!("no {field} for {service} in {status:#}"))
}

#[test]
fn alloydb_instances_are_resolved_cached_and_refused_when_they_cannot_work() {
    let lab = Lab::start();
    let g = lab.google();
    g.grant_alloydb_viewer(SA);
    // One instance per address type, each reachable only through the chosen one.
    g.add_alloydb_instance(
        &alloydb("private"),
        AlloyDbInstance {
            ip_address: Some("127.0.0.1".into()),
            public_ip_address: Some(NOWHERE.into()),
            ..AlloyDbInstance::default()
        },
    );
    g.add_alloydb_instance(
        &alloydb("public"),
        AlloyDbInstance {
            ip_address: Some(NOWHERE.into()),
            public_ip_address: Some("127.0.0.1".into()),
            pooling_enabled: true,
            ..AlloyDbInstance::default()
        },
    );
    g.add_alloydb_instance(
        &alloydb("psc"),
        AlloyDbInstance {
            ip_address: Some(NOWHERE.into()),
            psc_dns_name: Some("localhost.".into()),
            ..AlloyDbInstance::default()
        },
    );
    let services = format!(
        r#"[services.private]
instance = "{}"
port = {{port}}
dbname = "appdb"

[services.public]
instance = "{}"
ip_type = "public"
port = {{port}}
dbname = "appdb"

[services.psc]
instance = "{}"
ip_type = "psc"
port = {{port}}
dbname = "appdb"

[services.pooled]
instance = "{}"
ip_type = "public"
pooled = true
port = {{port}}
dbname = "appdb"

[services.plain]
host = "127.0.0.1"
port = {{port}}
dbname = "appdb"
sslmode = "require"
"#,
        alloydb("private"),
        alloydb("public"),
        alloydb("psc"),
        alloydb("public"),
    );
    lab.config(&services);
    let err = fails_with(lab.run(&["-v", "refresh"]), 0);
    assert!(
        err.contains(&format!(
            "instance {} is at 127.0.0.1:6432 (require)",
            alloydb("public")
        )),
        "pooled: the pooler's port, before the configured port overrides it: {err}"
    );
    assert!(
        err.contains(&format!(
            "instance {} is at 127.0.0.1:5432 (require)",
            alloydb("public")
        )),
        "{err}"
    );
    for service in ["private", "public", "psc", "pooled", "plain"] {
        assert_eq!(lab.login(service).as_deref(), Ok(SA_USER), "{service}");
    }
    let private = lab.section("private");
    assert_eq!(private["host"], "127.0.0.1");
    assert_eq!(private["sslmode"], "require", "encrypted, not verifiable");
    assert!(!private.contains_key("sslrootcert"));
    assert_eq!(lab.section("public")["host"], "127.0.0.1");
    assert_eq!(lab.section("psc")["host"], "localhost");
    assert_eq!(
        lab.entry("psc").map(|e| e.host.to_string()).as_deref(),
        Some("localhost")
    );
    // One call per instance and settings: the pooled and the direct service of one
    // instance each ask once.
    let calls = g.hits("alloydb_get_instance");
    assert_eq!(calls, 4);

    // The login token keeps its narrow scope; the Admin API's broad one is written nowhere.
    let login_token = lab.entry("private").expect("entry").password;
    let info = g
        .token_info(login_token.expose())
        .expect("a token of the stand-in");
    assert_eq!(
        info.scopes,
        ["https://www.googleapis.com/auth/alloydb.login"]
    );
    let everything = [
        fs::read(lab.env().pgpass()).unwrap_or_default(),
        fs::read(lab.env().service_file()).unwrap_or_default(),
        fs::read(lab.env().state_dir().join("state.json")).unwrap_or_default(),
    ]
    .concat();
    let tokens = String::from_utf8_lossy(&everything)
        .matches("ya29.")
        .count();
    assert_eq!(tokens, 5, "one login token per service, nothing else");

    // Status names the instance beside the host.
    let table = ok(lab.run(&["status"]));
    let port = lab.world.pg.port();
    assert!(
        table.contains(&format!("127.0.0.1:{port} ({})", alloydb("private"))),
        "{table}"
    );
    let json = lab.status_json();
    assert_eq!(field(&json, "psc", "instance"), alloydb("psc"));
    assert_eq!(field(&json, "psc", "host"), "localhost");
    // A host service names no instance; no resolution has failed yet.
    assert_eq!(field(&json, "plain", "instance"), Null);
    for service in ["private", "public", "psc", "pooled", "plain"] {
        assert_eq!(
            field(&json, service, "instance_last_failure"),
            Null,
            "{service}"
        );
    }

    // Nothing due: no Admin API call, no token, no lock.
    let tokens_minted = g.hits("token");
    let err = stderr(&lab.run(&["-vv", "refresh"]));
    assert!(err.contains("nothing is due"), "{err}");
    assert_eq!(g.hits("alloydb_get_instance"), calls);
    assert_eq!(g.hits("token"), tokens_minted);

    // An old cache alone asks nothing either: only a token being minted does.
    lab.age_cache();
    ok(lab.run(&["refresh"]));
    assert_eq!(g.hits("alloydb_get_instance"), calls);
    // A re-mint with a young cache does not ask; with an old one it does.
    ok(lab.run(&["refresh", "--force"]));
    let calls = g.hits("alloydb_get_instance");
    assert_eq!(calls, 8, "--force resolves again");
    ok(lab.run(&["remove", "--service", "private"]));
    ok(lab.run(&["refresh"]));
    assert_eq!(
        g.hits("alloydb_get_instance"),
        calls,
        "a young cache is used"
    );
    lab.age_cache();
    ok(lab.run(&["remove", "--service", "private"]));
    ok(lab.run(&["refresh"]));
    assert_eq!(
        g.hits("alloydb_get_instance"),
        calls + 1,
        "an hour-old one is not"
    );
    assert_eq!(lab.login("private").as_deref(), Ok(SA_USER));

    // The instance moves: a changed ip_type in the config resolves again at once.
    lab.config(&services.replacen("ip_type = \"psc\"", "ip_type = \"private\"", 1));
    g.add_alloydb_instance(
        &alloydb("psc"),
        AlloyDbInstance {
            ip_address: Some("127.0.0.1".into()),
            ..AlloyDbInstance::default()
        },
    );
    ok(lab.run(&["refresh"]));
    assert_eq!(g.hits("alloydb_get_instance"), calls + 2);
    assert_eq!(lab.section("psc")["host"], "127.0.0.1");
    assert_eq!(lab.login("psc").as_deref(), Ok(SA_USER));

    // The Admin API answers something hostile: the last good address is kept, said so,
    // and the token is still renewed.
    let hostile = Responder::start(|_| {
        (
            200,
            vec![("content-type", "application/json".into())],
            r#"{"ipAddress": "10.0.0.1\n[evil]\nhost=evil.example"}"#.into(),
        )
    });
    lab.config_with(&services, &hostile.url);
    let old_token = lab.entry("private").expect("entry").password;
    let out = lab.run(&["refresh", "--force", "--service", "private"]);
    let err = fails_with(out, 0);
    assert!(
        err.contains("cannot resolve instance") && err.contains("keeping the address"),
        "{err}"
    );
    assert!(!err.contains("evil"), "{err}");
    let entry = lab.entry("private").expect("entry");
    assert_ne!(entry.password, old_token, "the token was renewed");
    assert_eq!(entry.host, "127.0.0.1");
    assert_eq!(lab.login("private").as_deref(), Ok(SA_USER));
    let status = ok(lab.run(&["status"]));
    assert!(
        status.contains("could not be resolved again") && !status.contains("evil"),
        "{status}"
    );
    // status --json says so for that instance alone, and never for a host service.
    let json = lab.status_json();
    let failure = field(&json, "private", "instance_last_failure");
    let failure = failure.as_str().unwrap_or_else(|| panic!("{json:#}"));
    assert!(
        failure.contains("using the address resolved at") && !failure.contains("evil"),
        "{failure}"
    );
    for service in ["public", "psc", "plain"] {
        assert_eq!(
            field(&json, service, "instance_last_failure"),
            Null,
            "{service}"
        );
    }
    assert_eq!(field(&json, "plain", "instance"), Null);
    // Resolved again, the failure is forgotten.
    lab.config(&services);
    ok(lab.run(&["refresh", "--force", "--service", "private"]));
    assert_eq!(
        field(&lab.status_json(), "private", "instance_last_failure"),
        Null
    );

    // What cannot work is refused before anything is written.
    let refusals = [
        (
            "connectors",
            AlloyDbInstance {
                ip_address: Some("127.0.0.1".into()),
                require_connectors: true,
                ..AlloyDbInstance::default()
            },
        ),
        (
            "nopool",
            AlloyDbInstance {
                ip_address: Some("127.0.0.1".into()),
                ..AlloyDbInstance::default()
            },
        ),
        (
            "newline",
            AlloyDbInstance {
                ip_address: Some("127.0.0.1\nhost=evil.example".into()),
                ..AlloyDbInstance::default()
            },
        ),
        (
            "bracket",
            AlloyDbInstance {
                ip_address: Some("[x]".into()),
                ..AlloyDbInstance::default()
            },
        ),
    ];
    let mut refused_services = String::new();
    for (name, instance) in refusals {
        g.add_alloydb_instance(&alloydb(name), instance);
        refused_services.push_str(&format!(
            "[services.{name}]\ninstance = \"{}\"\n{}\n",
            alloydb(name),
            if name == "nopool" {
                "pooled = true"
            } else {
                ""
            }
        ));
    }
    // Resolutions are cached per instance whoever asked: the stranger asks about one
    // nobody resolved yet.
    g.add_alloydb_instance(
        &alloydb("secret"),
        AlloyDbInstance {
            ip_address: Some("127.0.0.1".into()),
            ..AlloyDbInstance::default()
        },
    );
    refused_services.push_str(&format!(
        "[services.missing]\ninstance = \"{}\"\n[services.nopublic]\ninstance = \"{}\"\nip_type = \"public\"\n[services.stranger]\ninstance = \"{}\"\ncredentials = {{ key_file = {:?} }}\n",
        alloydb("gone"),
        alloydb("nopool"),
        alloydb("secret"),
        lab.env().dir.path().join("stranger.json").display().to_string(),
    ));
    lab.config(&format!("{services}\n{refused_services}"));
    lab.refused("connectors", 2, &["Auth Proxy", "requireConnectors"]);
    lab.refused("nopool", 2, &["pooled = false", "connectionPoolConfig"]);
    lab.refused("nopublic", 2, &["no public address (it has: private)"]);
    lab.refused("missing", 2, &["does not exist", "HTTP 404"]);
    lab.refused(
        "stranger",
        1,
        &[
            "roles/alloydb.client",
            "--member=serviceAccount:stranger@proj.iam.gserviceaccount.com",
            "HTTP 403",
        ],
    );
    lab.refused("newline", 1, &["unusable ipAddress"]);
    lab.refused("bracket", 1, &["neither an IP address nor a DNS name"]);

    // doctor asks the Admin API again (writing nothing) and finds the files agree.
    let calls = g.hits("alloydb_get_instance");
    let before = lab.files();
    let doctor = lab.run(&["doctor", "--service", "private"]);
    let report = stdout(&doctor);
    assert!(
        report.contains(&format!("instance {} is at 127.0.0.1:", alloydb("private"))),
        "{report}"
    );
    assert_eq!(doctor.status.code(), Some(0), "{report}");
    assert_eq!(lab.files(), before, "doctor writes nothing");
    assert_eq!(g.hits("alloydb_get_instance"), calls + 1);
}

#[test]
fn cloud_sql_instances_are_verified_with_the_server_ca_the_admin_api_gives() {
    let lab = Lab::start();
    let g = lab.google();
    g.grant_cloudsql_client(SA);
    let other_ca = TestCa::new("another CA").expect("CA");
    let internal = |ca: &[&TestCa]| CloudSqlInstance {
        private_ip: Some("127.0.0.1".into()),
        public_ip: Some(NOWHERE.into()),
        server_ca_cert: ServerCaCert::from_cas(ca),
        ..CloudSqlInstance::default()
    };
    g.add_cloudsql_instance("proj", "db", internal(&[&lab.ca]));
    // A CA from Certificate Authority Service and a DNS name the server's certificate
    // carries: verified by name.
    g.add_cloudsql_instance(
        "proj",
        "named",
        CloudSqlInstance {
            private_ip: Some(NOWHERE.into()),
            public_ip: Some(NOWHERE.into()),
            dns_name: Some("localhost.".into()),
            server_ca_mode: ServerCaMode::GoogleManagedCasCa,
            server_ca_cert: ServerCaCert::from_cas(&[&lab.ca]),
            ..CloudSqlInstance::default()
        },
    );
    g.add_cloudsql_instance(
        "proj",
        "psc",
        CloudSqlInstance {
            private_ip: Some(NOWHERE.into()),
            psc_enabled: true,
            dns_name: Some("localhost".into()),
            server_ca_cert: ServerCaCert::from_cas(&[&lab.ca]),
            ..CloudSqlInstance::default()
        },
    );
    let services = r#"[services.db]
instance = "proj:us-central1:db"
port = {port}
dbname = "appdb"

[services.named]
instance = "proj:us-central1:named"
ip_type = "public"
port = {port}
dbname = "appdb"

[services.psc]
instance = "proj:us-central1:psc"
ip_type = "psc"
port = {port}
dbname = "appdb"
"#;
    lab.config(services);
    ok(lab.run(&["refresh"]));
    let db = lab.section("db");
    assert_eq!(db["host"], "127.0.0.1");
    assert_eq!(db["sslmode"], "verify-ca");
    let ca_file = PathBuf::from(&db["sslrootcert"]);
    assert!(
        ca_file.starts_with(lab.env().state_dir()),
        "{}",
        ca_file.display()
    );
    assert_eq!(
        fs::read_to_string(&ca_file).expect("CA file"),
        lab.ca.cert_pem()
    );
    assert_eq!(lab.login("db").as_deref(), Ok(SA_USER));
    let named = lab.section("named");
    assert_eq!(
        (named["host"].as_str(), named["sslmode"].as_str()),
        ("localhost", "verify-full")
    );
    assert_eq!(lab.login("named").as_deref(), Ok(SA_USER));
    let psc = lab.section("psc");
    assert_eq!(
        (psc["host"].as_str(), psc["sslmode"].as_str()),
        ("localhost", "verify-ca")
    );
    assert_eq!(lab.login("psc").as_deref(), Ok(SA_USER));
    let token = lab.entry("db").expect("entry").password;
    let info = g
        .token_info(token.expose())
        .expect("a token of the stand-in");
    assert_eq!(
        info.scopes,
        ["https://www.googleapis.com/auth/sqlservice.login"]
    );
    let calls = (
        g.hits("cloudsql_connect_settings"),
        g.hits("cloudsql_get_instance"),
    );
    assert_eq!(calls, (3, 3));

    // Nothing due: nothing asked. A deleted CA file is put back from the cache, still
    // without asking.
    ok(lab.run(&["refresh"]));
    fs::remove_file(&ca_file).expect("remove CA file");
    ok(lab.run(&["refresh"]));
    assert_eq!(
        fs::read_to_string(&ca_file).expect("CA file"),
        lab.ca.cert_pem()
    );
    assert_eq!(
        (
            g.hits("cloudsql_connect_settings"),
            g.hits("cloudsql_get_instance")
        ),
        calls
    );

    // The Admin API names another CA: libpq now refuses the server, whose certificate
    // that CA did not sign.
    g.add_cloudsql_instance("proj", "db", internal(&[&other_ca]));
    ok(lab.run(&["refresh", "--force", "--service", "db"]));
    assert_eq!(
        fs::read_to_string(&ca_file).expect("CA file"),
        other_ca.cert_pem()
    );
    let refused = lab.login("db").expect_err("a server the CA did not sign");
    assert!(refused.contains("certificate verify failed"), "{refused}");
    // During a rotation both CAs are given, both kept: the server is trusted again.
    g.add_cloudsql_instance("proj", "db", internal(&[&other_ca, &lab.ca]));
    ok(lab.run(&["refresh", "--force", "--service", "db"]));
    let both = fs::read_to_string(&ca_file).expect("CA file");
    assert_eq!(
        both,
        format!("{}{}", other_ca.cert_pem(), lab.ca.cert_pem())
    );
    assert_eq!(lab.login("db").as_deref(), Ok(SA_USER));

    // What cannot work is refused before anything is written.
    let refusals = [
        (
            "clientcerts",
            CloudSqlInstance {
                ssl_mode: CloudSqlSslMode::TrustedClientCertificateRequired,
                ..internal(&[&lab.ca])
            },
        ),
        (
            "mysql",
            CloudSqlInstance {
                database_version: "MYSQL_8_0".into(),
                ..internal(&[&lab.ca])
            },
        ),
        (
            "junkca",
            CloudSqlInstance {
                server_ca_cert: Some(ServerCaCert {
                    cert: "-----BEGIN CERTIFICATE-----\nZXZpbA==\n-----END CERTIFICATE-----\n"
                        .into(),
                }),
                ..internal(&[&lab.ca])
            },
        ),
        (
            "noca",
            CloudSqlInstance {
                server_ca_cert: None,
                ..internal(&[&lab.ca])
            },
        ),
    ];
    let mut refused_services = String::new();
    for (name, instance) in refusals {
        g.add_cloudsql_instance("proj", name, instance);
        refused_services.push_str(&format!(
            "[services.{name}]\ninstance = \"proj:us-central1:{name}\"\n"
        ));
    }
    let viewer = lab.env().dir.path().join("viewer.json");
    const VIEWER: &str = "viewer@proj.iam.gserviceaccount.com";
    fs::write(&viewer, g.add_service_account(VIEWER).to_string()).expect("key");
    g.grant_cloudsql_viewer(VIEWER);
    // Resolutions are cached per instance whoever asked: the viewer asks about one
    // nobody resolved yet.
    g.add_cloudsql_instance("proj", "secret", internal(&[&lab.ca]));
    refused_services.push_str(&format!(
        "[services.region]\ninstance = \"proj:europe-west1:db\"\n[services.missing]\ninstance = \"proj:us-central1:gone\"\n[services.nopsc]\ninstance = \"proj:us-central1:db\"\nip_type = \"psc\"\n[services.viewer]\ninstance = \"proj:us-central1:secret\"\ncredentials = {{ key_file = {:?} }}\n",
        viewer.display().to_string()
    ));
    lab.config(&format!("{services}\n{refused_services}"));
    lab.refused(
        "clientcerts",
        2,
        &["trusted client certificates", "Auth Proxy"],
    );
    lab.refused("mysql", 2, &["MYSQL_8_0, not PostgreSQL"]);
    lab.refused("region", 2, &["in us-central1, not in europe-west1"]);
    lab.refused("missing", 2, &["does not exist", "HTTP 404"]);
    lab.refused("nopsc", 2, &["no psc address (it has: private, public)"]);
    lab.refused(
        "viewer",
        1,
        &[
            "roles/cloudsql.client",
            "--member=serviceAccount:viewer@proj.iam.gserviceaccount.com",
        ],
    );
    lab.refused(
        "junkca",
        1,
        &["unusable server CA certificate", "not an X.509 certificate"],
    );
    lab.refused("noca", 1, &["no server CA certificate"]);
    assert_eq!(
        lab.login("db").as_deref(),
        Ok(SA_USER),
        "the good services are untouched"
    );
}
