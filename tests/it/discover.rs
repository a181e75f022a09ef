//! `discover` against the stand-in Admin APIs: every page of both lists (the stand-in
//! answers two instances a page), an unreachable AlloyDB location reported, other engines
//! and other projects left out, the flags and connector settings told, the project taken
//! from the credential when none is given, and the printed `add` command accepted by `add`.

use std::fs;

use crate::common::*;
use fake_google::{AlloyDbInstance, CloudSqlInstance, FakeGoogle};
use serde_json::Value;

const SA: &str = "lister@proj.iam.gserviceaccount.com";

struct Lab {
    google: FakeGoogle,
    env: Env,
    key: std::path::PathBuf,
}

fn lab() -> Lab {
    let google = FakeGoogle::start().expect("fake google");
    let env = Env::new();
    let key = env.dir.path().join("key.json");
    fs::write(&key, google.add_service_account(SA).to_string()).expect("key");
    google.grant_alloydb_viewer(SA);
    google.grant_cloudsql_client(SA);
    let alloydb = |name: &str, instance: AlloyDbInstance| {
        google.add_alloydb_instance(&format!("projects/{name}"), instance);
    };
    let private = |ip: &str| AlloyDbInstance {
        ip_address: Some(ip.into()),
        ..AlloyDbInstance::default()
    };
    alloydb(
        "proj/locations/us-central1/clusters/main/instances/primary",
        private("10.0.0.5"),
    );
    alloydb(
        "proj/locations/us-central1/clusters/main/instances/reports",
        AlloyDbInstance {
            instance_type: "READ_POOL".into(),
            ..private("10.0.0.6")
        },
    );
    alloydb(
        "proj/locations/europe-west1/clusters/eu/instances/edge",
        AlloyDbInstance {
            public_ip_address: Some("203.0.113.7".into()),
            ..AlloyDbInstance::default()
        },
    );
    alloydb(
        "proj/locations/europe-west1/clusters/eu/instances/locked",
        AlloyDbInstance {
            require_connectors: true,
            psc_dns_name: Some("abc.europe-west1.alloydb-psc.goog.".into()),
            ..AlloyDbInstance::default()
        },
    );
    alloydb(
        "elsewhere/locations/us-central1/clusters/c/instances/theirs",
        private("10.9.0.1"),
    );
    google.set_alloydb_unreachable(&["projects/proj/locations/asia-east1"]);
    let sql = |ip: &str| CloudSqlInstance {
        private_ip: Some(ip.into()),
        ..CloudSqlInstance::default()
    };
    google.add_cloudsql_instance("proj", "orders", sql("10.1.0.1"));
    google.add_cloudsql_instance(
        "proj",
        "legacy",
        CloudSqlInstance {
            iam_authentication: false,
            ..sql("10.1.0.2")
        },
    );
    google.add_cloudsql_instance("proj", "billing", sql("10.1.0.3"));
    google.add_cloudsql_instance(
        "proj",
        "mysql",
        CloudSqlInstance {
            database_version: "MYSQL_8_0".into(),
            ..sql("10.1.0.4")
        },
    );
    let url = google.http_url();
    env.write_config(&format!(
        "[endpoints]\ntoken = \"{url}/token\"\nalloydb_admin = \"{url}\"\nsqladmin = \"{url}\"\ntimeout = \"2s\"\n"
    ));
    Lab { google, env, key }
}

impl Lab {
    fn discover(&self, extra: &[&str]) -> std::process::Output {
        let mut cmd = self.env.cmd();
        cmd.arg("discover").arg("--credentials").arg(&self.key);
        cmd.args(extra);
        cmd.env("CLOUDSDK_CONFIG", self.env.dir.path().join("no-gcloud"))
            .env_remove("CLOUDSDK_CORE_PROJECT")
            .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .env("GCE_METADATA_HOST", "127.0.0.1:9");
        cmd.output().expect("run discover")
    }
}

#[test]
fn discover_lists_every_page_of_both_apis_and_reports_unreachable_locations() {
    let lab = lab();
    let out = lab.discover(&["--project", "proj", "--json"]);
    let err = stderr(&out);
    let doc: Value = serde_json::from_str(&ok(out)).expect("json");
    let items = doc.as_array().expect("an array");
    let mut names: Vec<&str> = items
        .iter()
        .filter_map(|i| i["instance"].as_str())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "proj:us-central1:billing",
            "proj:us-central1:legacy",
            "proj:us-central1:orders",
            "projects/proj/locations/europe-west1/clusters/eu/instances/edge",
            "projects/proj/locations/europe-west1/clusters/eu/instances/locked",
            "projects/proj/locations/us-central1/clusters/main/instances/primary",
            "projects/proj/locations/us-central1/clusters/main/instances/reports",
        ]
    );
    // Four AlloyDB instances and three Cloud SQL ones at two a page.
    assert_eq!(lab.google.hits("alloydb_list_instances"), 2);
    assert_eq!(lab.google.hits("cloudsql_list_instances"), 2);
    assert!(
        err.contains("projects/proj/locations/asia-east1") && err.contains("could not be listed"),
        "{err}"
    );
    let find = |name: &str| {
        items
            .iter()
            .find(|i| i["instance"].as_str().is_some_and(|n| n.ends_with(name)))
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let primary = find("/primary");
    assert_eq!(primary["kind"], "alloydb");
    assert_eq!(primary["iam_authentication"], true);
    assert_eq!(primary["connectors_only"], false);
    assert_eq!(primary["addresses"]["private"], "10.0.0.5");
    assert_eq!(find("/reports")["type"], "READ_POOL");
    let edge = find("/edge");
    assert_eq!(edge["addresses"]["public"], "203.0.113.7");
    assert!(
        edge["add"]
            .as_str()
            .is_some_and(|a| a.ends_with("--ip-type public")),
        "{edge}"
    );
    let locked = find("/locked");
    assert_eq!(locked["connectors_only"], true);
    assert_eq!(
        locked["addresses"]["psc"],
        "abc.europe-west1.alloydb-psc.goog"
    );
    assert_eq!(find(":legacy")["iam_authentication"], false);
    assert_eq!(find(":orders")["kind"], "cloudsql");
    assert_eq!(
        find(":orders")["add"],
        "alloydb-cred add orders --instance proj:us-central1:orders"
    );
}

#[test]
fn discover_takes_the_project_from_the_credential_and_its_add_command_works() {
    let lab = lab();
    let mut cmd = lab.env.cmd();
    cmd.args(["discover", "--credentials"]).arg(&lab.key);
    // The key file names project `proj`; nothing else names a project.
    cmd.env("CLOUDSDK_CONFIG", lab.env.dir.path().join("no-gcloud"))
        .env_remove("CLOUDSDK_CORE_PROJECT")
        .env("GOOGLE_APPLICATION_CREDENTIALS", &lab.key)
        .env("GCE_METADATA_HOST", "127.0.0.1:9");
    let text = ok(cmd.output().expect("run"));
    assert!(text.contains("project proj:"), "{text}");
    assert!(
        text.contains("IAM login: off") && text.contains("connectors only: yes"),
        "{text}"
    );
    let add = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("add: alloydb-cred "))
        .find(|l| l.contains("/edge"))
        .unwrap_or_else(|| panic!("no add line for edge:\n{text}"));
    let mut args: Vec<&str> = add.split_whitespace().collect();
    args.push("--no-refresh");
    ok(lab.env.run(&args));
    let config = fs::read_to_string(lab.env.config_path()).expect("config");
    assert!(
        config.ends_with("[services.edge]\ninstance = \"projects/proj/locations/europe-west1/clusters/eu/instances/edge\"\nip_type = \"public\"\n"),
        "{config}"
    );
}

#[test]
fn discover_without_any_project_says_how_to_name_one() {
    let lab = lab();
    let err = fails_with(lab.discover(&[]), 2);
    assert!(err.contains("--project"), "{err}");
}

#[test]
fn discover_reads_no_fifo_or_device_for_the_default_project() {
    let lab = lab();
    let fifo = lab.env.dir.path().join("adc.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    for adc in [fifo.as_path(), std::path::Path::new("/dev/zero")] {
        let mut cmd = lab.env.cmd();
        cmd.args(["discover", "--credentials"]).arg(&lab.key);
        cmd.env("CLOUDSDK_CONFIG", lab.env.dir.path().join("no-gcloud"))
            .env_remove("CLOUDSDK_CORE_PROJECT")
            .env("GOOGLE_APPLICATION_CREDENTIALS", adc)
            .env("GCE_METADATA_HOST", "127.0.0.1:9");
        let out = output_within(cmd, std::time::Duration::from_secs(20));
        let err = fails_with(out.unwrap_or_else(|| panic!("{adc:?}: discover hung")), 2);
        assert!(err.contains("--project"), "{adc:?}: {err}");
    }
}

/// A lab whose Admin APIs are `answer` (a stand-in for answers the stand-in Google never
/// gives); tokens still come from the stand-in.
fn hostile(answer: fn(&str) -> Answer) -> Lab {
    let lab = lab();
    let admin = Responder::start(answer);
    lab.env.write_config(&format!(
        "[endpoints]\ntoken = \"{}/token\"\nalloydb_admin = \"{}\"\nsqladmin = \"{}\"\ntimeout = \"5s\"\n",
        lab.google.http_url(),
        admin.url,
        admin.url
    ));
    lab
}

fn json(body: &str) -> Answer {
    (
        200,
        vec![("content-type", "application/json".into())],
        body.into(),
    )
}

/// The AlloyDB list (`/locations/-/…`) answers `alloydb`; Cloud SQL's lists nothing.
fn alloydb_only(path: &str, alloydb: impl FnOnce(&str) -> Answer) -> Answer {
    if path.contains("/locations/") {
        alloydb(path)
    } else {
        json("{}")
    }
}

#[test]
fn discover_never_calls_a_failed_listing_no_instances() {
    let lab = hostile(|path| {
        alloydb_only(path, |_| {
            (
                403,
                vec![],
                r#"{"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}}"#.into(),
            )
        })
    });
    let out = lab.discover(&["--project", "p"]);
    let text = stdout(&out);
    let err = fails_with(out, 1);
    assert!(err.contains("may not list"), "{err}");
    assert!(!text.contains("no AlloyDB"), "{text}");
    assert!(
        text.contains("project p: AlloyDB could not be listed (see the errors above); no Cloud SQL for PostgreSQL instances"),
        "{text}"
    );
}

#[test]
fn discover_of_a_project_without_the_alloydb_api_lists_its_cloud_sql() {
    let lab = hostile(|path| {
        if path.contains("/locations/") {
            return (
                403,
                vec![],
                r#"{"error":{"code":403,"message":"AlloyDB API has not been used in project p before or it is disabled.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SERVICE_DISABLED"}]}}"#.into(),
            );
        }
        json(
            r#"{"items":[{"connectionName":"p:us-central1:db","databaseVersion":"POSTGRES_16","ipAddresses":[{"type":"PRIVATE","ipAddress":"10.1.0.9"}]}]}"#,
        )
    });
    let text = ok(lab.discover(&["--project", "p"]));
    assert!(text.contains("p:us-central1:db"), "{text}");
    assert!(
        text.contains("(the AlloyDB Admin API is not enabled there: no AlloyDB instances)"),
        "{text}"
    );
}

static CYCLE_HITS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn discover_stops_at_a_page_token_seen_before_however_long_the_cycle() {
    let lab = hostile(|path| {
        alloydb_only(path, |path| {
            CYCLE_HITS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let next = if path.ends_with("pageToken=A") {
                "B"
            } else {
                "A"
            };
            json(&format!(r#"{{"nextPageToken":"{next}"}}"#))
        })
    });
    let err = fails_with(lab.discover(&["--project", "p"]), 1);
    assert!(
        err.contains("answered a page it had answered before"),
        "{err}"
    );
    assert_eq!(CYCLE_HITS.load(std::sync::atomic::Ordering::SeqCst), 3);
}

static HUGE_HITS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn discover_asks_once_for_an_answer_too_large() {
    let lab = hostile(|path| {
        alloydb_only(path, |_| {
            HUGE_HITS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            json(&format!(r#"{{"x":"{}"}}"#, "a".repeat(1 << 20)))
        })
    });
    let err = fails_with(lab.discover(&["--project", "p"]), 1);
    assert!(err.contains("answered more than 1 MiB"), "{err}");
    assert!(!err.contains("cannot reach"), "{err}");
    assert_eq!(HUGE_HITS.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn discover_counts_an_unusable_unreachable_entry_as_a_location() {
    let lab = hostile(|path| {
        alloydb_only(path, |_| {
            json(
                r#"{"unreachable":["projects/p/locations/evil\nline host=x","projects/p/locations/us-east1"]}"#,
            )
        })
    });
    let out = lab.discover(&["--project", "p"]);
    let err = stderr(&out);
    ok(out);
    assert!(
        err.contains("could not be listed")
            && err.contains("a location")
            && err.contains("projects/p/locations/us-east1"),
        "{err}"
    );
    assert!(!err.contains("evil"), "{err}");
}

#[test]
fn discover_redacts_and_cuts_a_huge_refusal_quickly() {
    let lab = hostile(|path| {
        alloydb_only(path, |_| {
            let message = "password ".repeat(110_000);
            (
                403,
                vec![],
                format!(
                    r#"{{"error":{{"code":403,"message":"{message} password=Qz7vKp9wLm","status":"PERMISSION_DENIED"}}}}"#
                ),
            )
        })
    });
    // How long redaction takes is measured in the google-tokens bench `redact`.
    let err = fails_with(lab.discover(&["--project", "p"]), 1);
    assert!(err.len() < 4000, "{} bytes", err.len());
    assert!(
        err.contains("may not list") && err.contains("password password"),
        "{err}"
    );
    assert!(!err.contains("Qz7vKp9wLm"));
}

#[test]
fn discover_refuses_a_bad_project_before_minting_and_lists_each_project_once() {
    let lab = lab();
    let out = lab.discover(&["--project", "My_Proj"]);
    let err = fails_with(out, 2);
    assert!(
        err.contains("--project \"My_Proj\" is not a project ID"),
        "{err}"
    );
    assert_eq!(err.matches("My_Proj").count(), 1, "{err}");
    assert_eq!(lab.google.hits("token"), 0);
    ok(lab.discover(&["--project", "proj", "--project", "proj"]));
    // Two pages of AlloyDB instances, listed once.
    assert_eq!(lab.google.hits("alloydb_list_instances"), 2);
}
