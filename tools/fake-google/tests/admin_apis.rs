//! The AlloyDB Admin and Cloud SQL Admin API stand-ins: resources with
//! Google's field names, and the authentication, permission and not-found
//! answers in the order Google gives them.

mod common;

use common::{T, assert_google_error, keys, ok_json};
use fake_google::client::{self, HttpAnswer};
use fake_google::tls::TestCa;
use fake_google::{
    AlloyDbInstance, AlloyDbSslMode, CLOUD_PLATFORM_SCOPE, CloudSqlInstance, CloudSqlSslMode,
    FakeGoogle, MintOptions, ServerCaCert, ServerCaMode,
};
use serde_json::json;

const USER: &str = "kai@altostrat.com";
const ALLOYDB: &str = "projects/demo-project/locations/us-central1/clusters/main/instances/primary";
const SQLSERVICE_ADMIN: &str = "https://www.googleapis.com/auth/sqlservice.admin";

fn get(url: &str, bearer: Option<&str>) -> HttpAnswer {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    client::request_with_headers("GET", url, &headers, None, T).unwrap()
}

fn token(google: &FakeGoogle, scopes: &[&str]) -> String {
    google.mint_with(&MintOptions::new(USER).scopes(scopes))
}

/// The 401s and the scope 403 every Google API answers the same way.
#[track_caller]
fn assert_authentication_checked(google: &FakeGoogle, url: &str) {
    common::assert_google_authentication(
        google,
        USER,
        CLOUD_PLATFORM_SCOPE,
        "https://www.googleapis.com/auth/alloydb.login",
        |bearer| get(url, bearer),
    );
}

#[test]
fn alloydb_instance() {
    let google = FakeGoogle::start().unwrap();
    google.add_alloydb_instance(
        ALLOYDB,
        AlloyDbInstance {
            ip_address: Some("10.1.2.3".into()),
            public_ip_address: Some("203.0.113.7".into()),
            psc_dns_name: Some("abc123.us-central1.alloydb-psc.goog".into()),
            require_connectors: true,
            pooling_enabled: true,
            ..AlloyDbInstance::default()
        },
    );
    let url = format!("{}/v1/{ALLOYDB}", google.http_url());
    assert_authentication_checked(&google, &url);

    let bearer = token(&google, &[CLOUD_PLATFORM_SCOPE]);
    let denied = format!(
        "Permission 'alloydb.instances.get' denied on resource '//alloydb.googleapis.com/{ALLOYDB}' (or it may not exist)."
    );
    let body = assert_google_error(&get(&url, Some(&bearer)), 403, "PERMISSION_DENIED", &denied);
    assert_eq!(
        body["error"]["details"][0]["reason"],
        "IAM_PERMISSION_DENIED"
    );
    // Without the grant, a missing instance looks the same.
    let missing_url = url.replace("primary", "nope");
    assert_eq!(get(&missing_url, Some(&bearer)).status, 403);

    google.grant_alloydb_viewer(USER);
    let instance = ok_json(&get(&url, Some(&bearer)));
    assert_eq!(instance["name"], ALLOYDB);
    assert_eq!(instance["state"], "READY");
    assert_eq!(instance["instanceType"], "PRIMARY");
    assert_eq!(instance["ipAddress"], "10.1.2.3");
    assert_eq!(instance["publicIpAddress"], "203.0.113.7");
    assert_eq!(
        instance["pscInstanceConfig"]["pscDnsName"],
        "abc123.us-central1.alloydb-psc.goog"
    );
    assert_eq!(
        instance["clientConnectionConfig"]["requireConnectors"],
        true
    );
    assert_eq!(
        instance["clientConnectionConfig"]["sslConfig"]["sslMode"],
        "ENCRYPTED_ONLY"
    );
    assert_eq!(instance["connectionPoolConfig"]["enabled"], true);
    assert_eq!(instance["uid"].as_str().unwrap().len(), 36);

    assert_google_error(
        &get(&missing_url, Some(&bearer)),
        404,
        "NOT_FOUND",
        &format!(
            "Resource '{}' was not found",
            ALLOYDB.replace("primary", "nope")
        ),
    );
    assert_eq!(google.hits("alloydb_get_instance"), 9);

    // False and empty fields are left out, as in Google's JSON.
    google.add_alloydb_instance(
        ALLOYDB,
        AlloyDbInstance {
            ip_address: Some("10.1.2.3".into()),
            ssl_mode: AlloyDbSslMode::AllowUnencryptedAndEncrypted,
            ..AlloyDbInstance::default()
        },
    );
    let instance = ok_json(&get(&url.replace("/v1/", "/v1beta/"), Some(&bearer)));
    assert!(instance.get("publicIpAddress").is_none(), "{instance}");
    assert!(instance.get("pscInstanceConfig").is_none(), "{instance}");
    assert!(instance.get("connectionPoolConfig").is_none(), "{instance}");
    assert_eq!(
        instance["clientConnectionConfig"],
        json!({"sslConfig": {"sslMode": "ALLOW_UNENCRYPTED_AND_ENCRYPTED", "caSource": "CA_SOURCE_MANAGED"}})
    );
}

#[test]
fn cloudsql_connect_settings_and_instance() {
    let google = FakeGoogle::start().unwrap();
    let ca = TestCa::new("Google Cloud SQL Server CA").unwrap();
    let next_ca = TestCa::new("Google Cloud SQL Server CA (next)").unwrap();
    google.add_cloudsql_instance(
        "demo-project",
        "orders",
        CloudSqlInstance {
            region: "europe-west1".into(),
            public_ip: Some("203.0.113.9".into()),
            private_ip: Some("10.9.8.7".into()),
            dns_name: Some("abc.europe-west1.sql.goog.".into()),
            server_ca_mode: ServerCaMode::GoogleManagedCasCa,
            ssl_mode: CloudSqlSslMode::TrustedClientCertificateRequired,
            server_ca_cert: ServerCaCert::from_cas(&[&ca, &next_ca]),
            ..CloudSqlInstance::default()
        },
    );
    let base = google.http_url();
    let settings_url = format!("{base}/v1/projects/demo-project/instances/orders/connectSettings");
    let instance_url = format!("{base}/v1/projects/demo-project/instances/orders");
    assert_authentication_checked(&google, &settings_url);

    let bearer = token(&google, &[SQLSERVICE_ADMIN]);
    let denied = "The client is not authorized to make this request.";
    for url in [&settings_url, &instance_url] {
        let body = assert_google_error(&get(url, Some(&bearer)), 403, "PERMISSION_DENIED", denied);
        assert_eq!(body["error"]["errors"][0]["reason"], "notAuthorized");
    }
    // A viewer may read the instance, not its connect settings.
    google.grant_cloudsql_viewer(USER);
    assert_eq!(get(&settings_url, Some(&bearer)).status, 403);
    let instance = ok_json(&get(&instance_url, Some(&bearer)));
    let ip = &instance["settings"]["ipConfiguration"];
    assert_eq!(ip["sslMode"], "TRUSTED_CLIENT_CERTIFICATE_REQUIRED");
    assert_eq!(ip["requireSsl"], true);
    assert_eq!(ip["serverCaMode"], "GOOGLE_MANAGED_CAS_CA");
    assert_eq!(
        instance["connectionName"],
        "demo-project:europe-west1:orders"
    );
    assert_eq!(instance["kind"], "sql#instance");
    assert_eq!(
        instance["settings"]["databaseFlags"],
        json!([{"name": "cloudsql.iam_authentication", "value": "on"}])
    );

    google.grant_cloudsql_client(USER);
    let settings = ok_json(&get(&settings_url, Some(&bearer)));
    assert_eq!(
        keys(&settings),
        [
            "backendType",
            "connectionName",
            "databaseVersion",
            "dnsName",
            "dnsNames",
            "ipAddresses",
            "kind",
            "region",
            "serverCaCert",
            "serverCaMode",
        ]
    );
    assert_eq!(settings["kind"], "sql#connectSettings");
    assert_eq!(settings["backendType"], "SECOND_GEN");
    assert_eq!(settings["databaseVersion"], "POSTGRES_15");
    assert_eq!(settings["region"], "europe-west1");
    assert_eq!(
        settings["ipAddresses"],
        json!([
            {"type": "PRIMARY", "ipAddress": "203.0.113.9"},
            {"type": "PRIVATE", "ipAddress": "10.9.8.7"},
        ])
    );
    assert_eq!(
        settings["dnsNames"][0]["name"],
        "abc.europe-west1.sql.goog."
    );
    let ca_cert = &settings["serverCaCert"];
    assert_eq!(ca_cert["kind"], "sql#sslCert");
    assert_eq!(ca_cert["instance"], "orders");
    assert_eq!(ca_cert["commonName"], "Google Cloud SQL Server CA");
    assert_eq!(ca_cert["sha1Fingerprint"], ca.sha1_fingerprint());
    assert_eq!(ca_cert["certSerialNumber"], ca.serial_number());
    assert_eq!(ca_cert["expirationTime"], "2049-12-31T00:00:00Z");
    let pem = ca_cert["cert"].as_str().unwrap();
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2);
    assert!(pem.starts_with(ca.cert_pem()) && pem.ends_with(next_ca.cert_pem()));

    // The discovery path the Go connector uses answers the same.
    let v1beta4 = settings_url.replace("/v1/", "/sql/v1beta4/");
    assert_eq!(ok_json(&get(&v1beta4, Some(&bearer))), settings);

    let missing = instance_url.replace("orders", "nope");
    let body = assert_google_error(
        &get(&missing, Some(&bearer)),
        404,
        "NOT_FOUND",
        "The Cloud SQL instance does not exist.",
    );
    assert_eq!(body["error"]["errors"][0]["reason"], "instanceDoesNotExist");
    assert_eq!(google.hits("cloudsql_connect_settings"), 9);
    assert_eq!(google.hits("cloudsql_get_instance"), 3);
}

#[test]
fn cloudsql_defaults_leave_out_what_is_not_set() {
    let google = FakeGoogle::start().unwrap();
    google.add_cloudsql_instance("p", "i", CloudSqlInstance::default());
    google.grant_cloudsql_client(USER);
    let bearer = token(&google, &[CLOUD_PLATFORM_SCOPE]);
    let url = format!(
        "{}/v1/projects/p/instances/i/connectSettings",
        google.http_url()
    );
    let settings = ok_json(&get(&url, Some(&bearer)));
    assert_eq!(
        settings,
        json!({
            "kind": "sql#connectSettings",
            "region": "us-central1",
            "databaseVersion": "POSTGRES_15",
            "backendType": "SECOND_GEN",
            "serverCaMode": "GOOGLE_MANAGED_INTERNAL_CA",
            "connectionName": "p:us-central1:i",
        })
    );
    let url = url.replace("/connectSettings", "");
    let ip = ok_json(&get(&url, Some(&bearer)))["settings"]["ipConfiguration"].clone();
    assert_eq!(ip["sslMode"], "ENCRYPTED_ONLY");
    assert!(ip.get("requireSsl").is_none(), "{ip}");
}

#[test]
fn faults_apply_to_the_admin_apis() {
    let google = FakeGoogle::start().unwrap();
    google.set_failures(2, 503);
    let url = format!("{}/v1/{ALLOYDB}", google.http_url());
    assert_eq!(get(&url, None).status, 503);
    let url = format!(
        "{}/v1/projects/p/instances/i/connectSettings",
        google.http_url()
    );
    assert_eq!(get(&url, None).status, 503);
    assert_eq!(get(&url, None).status, 401);
}
