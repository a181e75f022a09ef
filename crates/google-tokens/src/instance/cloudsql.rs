//! Cloud SQL for PostgreSQL: `GET {sqladmin}/v1/projects/P/instances/I/connectSettings`
//! gives the addresses, DNS names and server CA; `GET {sqladmin}/v1/projects/P/instances/I`
//! says whether the instance demands trusted client certificates, which connectSettings
//! does not, and which rules out a direct login with a token.
//!
//! The server is verified: with the instance's own (internal) CA, `verify-ca` (its
//! certificate names the instance, not an address); with a CA from Certificate Authority
//! Service, whose certificates carry the instance's DNS name, `verify-full` against that
//! name.

use serde::Deserialize;

use super::answer::{CloudSqlSettings, DnsNameMapping, IpMapping};
use super::{
    AdminClient, InstanceRequest, IpType, Resolution, ServerTls, address, available, server_ca,
};
use crate::endpoints::AdminApi;
use crate::error::{Error, Result};

const PORT: u16 = 5432;
/// CA modes whose server certificates carry the instance's DNS name.
const CAS_MODES: [&str; 2] = ["GOOGLE_MANAGED_CAS_CA", "CUSTOMER_MANAGED_CAS_CA"];
const TRUSTED_CLIENT_CERTIFICATES: &str = "TRUSTED_CLIENT_CERTIFICATE_REQUIRED";

/// `ConnectSettings`, as far as a direct connection needs it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectSettings {
    #[serde(default)]
    server_ca_cert: Option<SslCert>,
    #[serde(default)]
    ip_addresses: Vec<IpMapping>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    database_version: Option<String>,
    #[serde(default)]
    psc_enabled: bool,
    #[serde(default)]
    dns_name: Option<String>,
    #[serde(default)]
    dns_names: Vec<DnsNameMapping>,
    #[serde(default)]
    server_ca_mode: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SslCert {
    #[serde(default)]
    cert: Option<String>,
}

/// `DatabaseInstance`: its SSL settings and flags.
#[derive(Debug, Default, Deserialize)]
struct DatabaseInstance {
    #[serde(default)]
    settings: Option<CloudSqlSettings>,
}

pub(super) fn resolve(
    client: &AdminClient<'_>,
    request: &InstanceRequest<'_>,
    (project, _, instance): (&str, &str, &str),
) -> Result<Resolution> {
    let api = AdminApi::SqlAdmin;
    let what = "the Cloud SQL Admin API";
    let path = format!("/v1/projects/{project}/instances/{instance}");
    let answer = client.get(api, &format!("{path}/connectSettings"))?;
    if answer.status != 200 {
        return Err(client.refused(api, &answer, request.name));
    }
    let settings: ConnectSettings = answer.parse(what)?;
    let answer = client.get(api, &path)?;
    if answer.status != 200 {
        return Err(client.refused(api, &answer, request.name));
    }
    let database: DatabaseInstance = answer.parse(what)?;
    decide(&settings, &database, request)
}

fn decide(
    settings: &ConnectSettings,
    database: &DatabaseInstance,
    request: &InstanceRequest<'_>,
) -> Result<Resolution> {
    let name = request.name;
    let (_, region, _) = name.cloud_sql_parts().unwrap_or_default();
    match settings.region.as_deref() {
        Some(r) if r == region => {}
        other => {
            return Err(Error::Config(format!(
                "instance {name} is in {}, not in {region}; fix the region in the connection name",
                describe(other, "another region", |c| c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || c == '-')
            )));
        }
    }
    let version = settings.database_version.as_deref().unwrap_or_default();
    if !version.starts_with("POSTGRES_") {
        return Err(Error::Config(format!(
            "instance {name} runs {}, not PostgreSQL; alloydb-cred logs in to PostgreSQL only",
            describe(
                Some(version).filter(|v| !v.is_empty()),
                "an unknown engine",
                |c| { c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' }
            )
        )));
    }
    let ssl = database
        .settings
        .as_ref()
        .and_then(|s| s.ip_configuration.as_ref());
    let client_certificates = ssl.is_some_and(|c| match c.ssl_mode.as_deref() {
        Some(mode) => mode == TRUSTED_CLIENT_CERTIFICATES,
        None => c.require_ssl,
    });
    if client_certificates {
        return Err(Error::Config(format!(
            "instance {name} requires trusted client certificates (its SSL mode is {TRUSTED_CLIENT_CERTIFICATES}), which only the Cloud SQL Auth Proxy and the connectors present, so a direct IAM login would be refused; set its SSL mode to ENCRYPTED_ONLY (gcloud sql instances patch ... --ssl-mode=ENCRYPTED_ONLY) or connect through the Auth Proxy"
        )));
    }

    let ip = |kind: &str| {
        settings
            .ip_addresses
            .iter()
            .find(|m| m.kind.as_deref() == Some(kind))
            .and_then(|m| m.ip_address.as_deref())
            .filter(|a| !a.is_empty())
    };
    let psc_name = settings
        .psc_enabled
        .then(|| dns_name(settings, "PRIVATE_SERVICE_CONNECT"))
        .flatten();
    let candidates = [
        (IpType::Private, ip("PRIVATE"), "the PRIVATE address"),
        (IpType::Public, ip("PRIMARY"), "the PRIMARY address"),
        (
            IpType::Psc,
            psc_name,
            "the Private Service Connect DNS name",
        ),
    ];
    let has: Vec<IpType> = candidates
        .iter()
        .filter(|(_, a, _)| a.is_some())
        .map(|(t, _, _)| *t)
        .collect();
    let Some((_, Some(text), field)) = candidates
        .iter()
        .find(|(t, a, _)| *t == request.ip_type && a.is_some())
    else {
        return Err(Error::Config(format!(
            "instance {name} has no {} address ({}); set ip_type accordingly",
            request.ip_type.as_str(),
            available(&has)
        )));
    };
    let mut host = address(text, field, name, AdminApi::SqlAdmin)?;

    let pem = settings
        .server_ca_cert
        .as_ref()
        .and_then(|c| c.cert.as_deref())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            Error::Source(format!(
                "the Cloud SQL Admin API gave no server CA certificate for instance {name}, so the server could not be verified; nothing was written"
            ))
        })?;
    let ca = server_ca(pem, name)?;
    let mut notes = Vec::new();
    let cas = settings
        .server_ca_mode
        .as_deref()
        .is_some_and(|m| CAS_MODES.contains(&m));
    let tls = match (cas, request.ip_type) {
        (false, _) => ServerTls::VerifyCa(ca),
        (true, IpType::Psc) => ServerTls::VerifyFull(ca),
        (true, ip_type) => {
            let wanted = match ip_type {
                IpType::Public => "PUBLIC",
                _ => "PRIVATE_SERVICES_ACCESS",
            };
            match dns_name(settings, wanted) {
                Some(text) => {
                    host = address(text, "DNS name", name, AdminApi::SqlAdmin)?;
                    ServerTls::VerifyFull(ca)
                }
                None => {
                    notes.push(format!(
                        "instance {name}: its server certificate comes from a CA other instances share, and the Admin API names no DNS name for its {} address, so the server is checked against the CA only (verify-ca), not by name",
                        ip_type.as_str()
                    ));
                    ServerTls::VerifyCa(ca)
                }
            }
        }
    };
    let flags = database.settings.as_ref().map(|s| &s.database_flags);
    if flags.is_some_and(|flags| {
        !flags.iter().any(|f| {
            f.name.as_deref() == Some("cloudsql.iam_authentication")
                && f.value.as_deref() == Some("on")
        })
    }) {
        notes.push(format!(
            "instance {name} does not have the database flag cloudsql.iam_authentication=on, so it will refuse IAM logins until the flag is set"
        ));
    }
    Ok(Resolution {
        host,
        port: PORT,
        tls,
        notes,
    })
}

/// The DNS name of `connection_type` in `dnsNames`; when the answer has no `dnsNames`
/// (older instances), the legacy `dnsName`.
fn dns_name<'s>(settings: &'s ConnectSettings, connection_type: &str) -> Option<&'s str> {
    if settings.dns_names.is_empty() {
        return settings.dns_name.as_deref().filter(|n| !n.is_empty());
    }
    settings
        .dns_names
        .iter()
        .find(|d| d.connection_type.as_deref() == Some(connection_type))
        .and_then(|d| d.name.as_deref())
        .filter(|n| !n.is_empty())
}

/// An enum-like value from an answer, quoted only when it looks like one.
fn describe(value: Option<&str>, otherwise: &str, allowed: fn(char) -> bool) -> String {
    match value {
        Some(v) if !v.is_empty() && v.len() <= 40 && v.chars().all(allowed) => v.to_string(),
        _ => otherwise.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::InstanceName;

    fn name() -> InstanceName {
        InstanceName::parse("p:us-central1:db").unwrap_or_else(|e| panic!("{e}"))
    }

    /// A throw-away self-signed CA (P-256).
    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBhjCCASugAwIBAgIUcFxqIOBxDivn/4I5bZlSV1W+BpcwCgYIKoZIzj0EAwIw\nFzEVMBMGA1UEAwwMdW5pdCB0ZXN0IENBMCAXDTI2MTEyOTA0MjIyOVoYDzIwNTYx\nMTIxMDQyMjI5WjAXMRUwEwYDVQQDDAx1bml0IHRlc3QgQ0EwWTATBgcqhkjOPQIB\nBggqhkjOPQMBBwNCAATg2zVpXVf7DZVtNLukCvLetzSFH4Pg7/HS7+5/qnT/JNUc\n1b13aDXgQIndZ7O+1rs+RT0rM+YabmmGgmG//lMeo1MwUTAdBgNVHQ4EFgQUjhkS\nd8v12wx4pIn1w0yQsS8L1XswHwYDVR0jBBgwFoAUjhkSd8v12wx4pIn1w0yQsS8L\n1XswDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEAxoP/tvTPqOax\n7Ys6dCvMIqKpYhBAlLqCe2Ukt7z7aaACIQDaGiMJoQ5n/8EamAaDYG9U0DJwntim\ndbE+Q9hnj7YCmA==\n-----END CERTIFICATE-----\n";

    fn decide_json(
        settings: serde_json::Value,
        database: serde_json::Value,
        ip_type: IpType,
    ) -> std::result::Result<Resolution, String> {
        let settings: ConnectSettings =
            serde_json::from_value(settings).unwrap_or_else(|e| panic!("{e}"));
        let database: DatabaseInstance =
            serde_json::from_value(database).unwrap_or_else(|e| panic!("{e}"));
        let name = name();
        decide(
            &settings,
            &database,
            &InstanceRequest {
                name: &name,
                ip_type,
                pooled: false,
            },
        )
        .map_err(|e| e.to_string())
    }

    fn base() -> serde_json::Value {
        serde_json::json!({
            "region": "us-central1", "databaseVersion": "POSTGRES_15",
            "ipAddresses": [{"type": "PRIMARY", "ipAddress": "34.1.2.3"},
                            {"type": "PRIVATE", "ipAddress": "10.0.0.9"}],
            "serverCaCert": {"cert": CA},
            "serverCaMode": "GOOGLE_MANAGED_INTERNAL_CA",
        })
    }

    #[test]
    fn internal_ca_verifies_the_chain_at_the_chosen_address() {
        let got = decide_json(base(), serde_json::json!({}), IpType::Private);
        let got = got.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((got.host.as_str(), got.port), ("10.0.0.9", 5432));
        assert_eq!(got.tls.sslmode(), "verify-ca");
        assert_eq!(got.tls.ca().map(|c| c.count()), Some(1));
        // Re-encoded: the same PEM when it was canonical already.
        assert_eq!(got.tls.ca().map(|c| c.pem()), Some(CA));
        let err = decide_json(base(), serde_json::json!({}), IpType::Psc).err();
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("no psc address (it has: private, public)")),
            "{err:?}"
        );
    }

    #[test]
    fn cas_with_a_dns_name_verifies_the_name() {
        let mut settings = base();
        settings["serverCaMode"] = "GOOGLE_MANAGED_CAS_CA".into();
        settings["dnsName"] = "abc.us-central1.sql.goog.".into();
        settings["dnsNames"] = serde_json::json!([
            {"name": "abc.us-central1.sql.goog.", "connectionType": "PUBLIC", "dnsScope": "INSTANCE"}
        ]);
        let public = decide_json(settings.clone(), serde_json::json!({}), IpType::Public)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(public.host, "abc.us-central1.sql.goog");
        assert_eq!(public.tls.sslmode(), "verify-full");
        // No DNS name for the private address: the chain only, and a note says so.
        let private = decide_json(settings, serde_json::json!({}), IpType::Private)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(private.host, "10.0.0.9");
        assert_eq!(private.tls.sslmode(), "verify-ca");
        assert_eq!(private.notes.len(), 1);
    }

    #[test]
    fn every_certificate_of_a_rotation_is_kept_and_nothing_else() {
        let mut settings = base();
        settings["serverCaCert"]["cert"] = format!("{CA}junk between\n{CA}").into();
        let got = decide_json(settings, serde_json::json!({}), IpType::Private)
            .unwrap_or_else(|e| panic!("{e}"));
        let ca = got.tls.ca().map(|c| (c.count(), c.pem().to_string()));
        assert_eq!(ca, Some((2, format!("{CA}{CA}"))));
    }

    #[test]
    fn refusals() {
        let mut wrong_region = base();
        wrong_region["region"] = "europe-west1".into();
        let err = decide_json(wrong_region, serde_json::json!({}), IpType::Private).err();
        assert!(err.is_some_and(|e| e.contains("in europe-west1, not in us-central1")));
        let mut mysql = base();
        mysql["databaseVersion"] = "MYSQL_8_0".into();
        let err = decide_json(mysql, serde_json::json!({}), IpType::Private).err();
        assert!(err.is_some_and(|e| e.contains("runs MYSQL_8_0, not PostgreSQL")));
        for ip_configuration in [
            serde_json::json!({"sslMode": "TRUSTED_CLIENT_CERTIFICATE_REQUIRED", "requireSsl": true}),
            serde_json::json!({"requireSsl": true}),
        ] {
            let database = serde_json::json!({"settings": {"ipConfiguration": ip_configuration}});
            let err = decide_json(base(), database, IpType::Private).err();
            assert!(err.is_some_and(|e| e.contains("trusted client certificates")));
        }
        let allowed =
            serde_json::json!({"settings": {"ipConfiguration": {"sslMode": "ENCRYPTED_ONLY"}}});
        assert!(decide_json(base(), allowed, IpType::Private).is_ok());
        let mut junk_ca = base();
        junk_ca["serverCaCert"]["cert"] = "not a certificate".into();
        let err = decide_json(junk_ca, serde_json::json!({}), IpType::Private).err();
        assert!(err.is_some_and(|e| e.contains("no PEM certificate")));
        let mut fake_pem = base();
        fake_pem["serverCaCert"]["cert"] =
            "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n".into();
        let err = decide_json(fake_pem, serde_json::json!({}), IpType::Private).err();
        assert!(err.is_some_and(|e| e.contains("not an X.509 certificate")));
        let mut no_ca = base();
        no_ca.as_object_mut().map(|o| o.remove("serverCaCert"));
        assert!(decide_json(no_ca, serde_json::json!({}), IpType::Private).is_err());
    }
}
