//! Listing the instances a principal can see, for `discover`: AlloyDB's aggregated list
//! (every location and cluster of a project) and Cloud SQL's instance list (PostgreSQL
//! only), every page of each. As with resolution, every field of an answer is untrusted:
//! a name that is not an instance name, or an address that is neither an IP address nor a
//! DNS name, drops that instance (counted, never quoted) instead of reaching the output.

use serde::Deserialize;

use super::answer::{AlloyDbInstance, CloudSqlSettings, DnsNameMapping, IpMapping};
use super::{AdminClient, InstanceName, IpType, api_name};
use crate::endpoints::AdminApi;
use crate::error::{Error, Result};
use crate::oauth::oauth_error;

/// More pages than any project has: a server that keeps answering a next page is
/// broken, and the listing stops instead of looping.
const MAX_PAGES: usize = 1000;

/// Which product an instance is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceKind {
    AlloyDb,
    CloudSql,
}

impl InstanceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceKind::AlloyDb => "alloydb",
            InstanceKind::CloudSql => "cloudsql",
        }
    }
}

/// One listed instance, every field checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedInstance {
    /// As a service's `instance` (and `add --instance`) takes it.
    pub name: InstanceName,
    pub kind: InstanceKind,
    /// AlloyDB: PRIMARY, READ_POOL or SECONDARY; Cloud SQL: the version (POSTGRES_16).
    pub detail: Option<String>,
    /// READY, RUNNABLE, STOPPED… (upper-case words only).
    pub state: Option<String>,
    /// Each address type the instance has, in the order private, public, psc.
    pub addresses: Vec<(IpType, String)>,
    /// Whether the instance's IAM login flag is on.
    pub iam_authentication: bool,
    /// Whether it refuses direct connections (only the Auth Proxy and connectors).
    pub connectors_only: bool,
}

/// What a list answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub instances: Vec<ListedInstance>,
    /// Locations the API could not list (AlloyDB's `unreachable`; Cloud SQL's warnings).
    pub unreachable: Vec<String>,
    /// Instances left out because a field of theirs was unusable.
    pub dropped: usize,
    /// The API is not enabled on the project (403 `SERVICE_DISABLED`): it has no
    /// instances of this product, and nothing was listed.
    pub api_disabled: bool,
}

/// Whether `text` is a project ID as `--project` takes it: lower-case letters, digits and
/// hyphens, optionally after a domain and a colon.
pub fn is_project_id(text: &str) -> bool {
    super::name::is_project(text)
}

/// How a listing of pages ended.
enum Pages {
    Done,
    /// The API is not enabled on the project.
    Disabled,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlloyDbPage {
    #[serde(default)]
    instances: Vec<AlloyDbInstance>,
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default)]
    unreachable: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CloudSqlPage {
    #[serde(default)]
    items: Vec<CloudSqlInstance>,
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default)]
    warnings: Vec<ApiWarning>,
}

#[derive(Deserialize)]
struct ApiWarning {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    region: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CloudSqlInstance {
    #[serde(default)]
    connection_name: Option<String>,
    #[serde(default)]
    database_version: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    ip_addresses: Vec<IpMapping>,
    #[serde(default)]
    dns_names: Vec<DnsNameMapping>,
    #[serde(default)]
    dns_name: Option<String>,
    #[serde(default)]
    settings: Option<CloudSqlSettings>,
}

impl AdminClient<'_> {
    /// Every AlloyDB instance of `project`, in every location and cluster.
    pub fn list_alloydb(&self, project: &str) -> Result<Listing> {
        check_project(project)?;
        let path = format!("/v1/projects/{project}/locations/-/clusters/-/instances");
        let mut listing = Listing::default();
        let pages = self.pages(AdminApi::AlloyDb, project, &path, |body| {
            let page: AlloyDbPage = body.parse(api_name(AdminApi::AlloyDb))?;
            for location in page.unreachable {
                let location = word(&location, |c| {
                    c.is_ascii_alphanumeric() || matches!(c, '-' | '/' | '_')
                });
                // One the answer spells unusably is still a location that is missing.
                let location = location.unwrap_or_else(|| "a location".to_string());
                if !listing.unreachable.contains(&location) {
                    listing.unreachable.push(location);
                }
            }
            for instance in page.instances {
                match alloydb_instance(instance) {
                    Some(listed) => listing.instances.push(listed),
                    None => listing.dropped += 1,
                }
            }
            Ok(page.next_page_token)
        })?;
        listing.api_disabled = matches!(pages, Pages::Disabled);
        Ok(listing)
    }

    /// Every Cloud SQL for PostgreSQL instance of `project` (other engines are left out).
    pub fn list_cloud_sql(&self, project: &str) -> Result<Listing> {
        check_project(project)?;
        let path = format!("/v1/projects/{project}/instances");
        let mut listing = Listing::default();
        let pages = self.pages(AdminApi::SqlAdmin, project, &path, |body| {
            let page: CloudSqlPage = body.parse(api_name(AdminApi::SqlAdmin))?;
            for warning in page.warnings {
                if warning.code.as_deref() != Some("REGION_UNREACHABLE") {
                    continue;
                }
                let region = warning
                    .region
                    .as_deref()
                    .and_then(|r| word(r, |c| c.is_ascii_alphanumeric() || c == '-'))
                    .unwrap_or_else(|| "a region".to_string());
                if !listing.unreachable.contains(&region) {
                    listing.unreachable.push(region);
                }
            }
            for instance in page.items {
                let postgres = instance
                    .database_version
                    .as_deref()
                    .is_some_and(|v| v.starts_with("POSTGRES_"));
                if !postgres {
                    continue;
                }
                match cloud_sql_instance(instance) {
                    Some(listed) => listing.instances.push(listed),
                    None => listing.dropped += 1,
                }
            }
            Ok(page.next_page_token)
        })?;
        listing.api_disabled = matches!(pages, Pages::Disabled);
        Ok(listing)
    }

    /// GETs `path` and each next page, handing every 200 answer to `page`, which returns
    /// the next page's token. A token seen before would list the same pages again: the
    /// listing stops there, however long the cycle.
    fn pages(
        &self,
        api: AdminApi,
        project: &str,
        path: &str,
        mut page: impl FnMut(&crate::http::Answer) -> Result<Option<String>>,
    ) -> Result<Pages> {
        let mut token: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            let url = match &token {
                None => path.to_string(),
                Some(t) => format!("{path}?pageToken={}", query_escape(t)),
            };
            let answer = self.get(api, &url)?;
            if answer.status == 403 && service_disabled(&answer.body) {
                return Ok(Pages::Disabled);
            }
            if answer.status != 200 {
                return Err(self.list_refused(api, &answer, project));
            }
            match page(&answer)?.filter(|t| !t.is_empty()) {
                None => return Ok(Pages::Done),
                Some(next) if !seen.insert(next.clone()) => {
                    return Err(Error::Source(format!(
                        "{} answered a page it had answered before; the list is incomplete",
                        api_name(api)
                    )));
                }
                Some(next) => token = Some(next),
            }
        }
        Err(Error::Source(format!(
            "{} answered more than {MAX_PAGES} pages; the list is incomplete",
            api_name(api)
        )))
    }

    fn list_refused(&self, api: AdminApi, answer: &crate::http::Answer, project: &str) -> Error {
        let what = api_name(api);
        let summary = match oauth_error(answer, what) {
            Ok(err) => err.summary(),
            Err(_) => format!("HTTP {}", answer.status),
        };
        let role = match api {
            AdminApi::AlloyDb => "roles/alloydb.viewer",
            AdminApi::SqlAdmin => "roles/cloudsql.viewer",
        };
        match answer.status {
            401 => Error::Source(format!(
                "{what} rejected the credential's token ({summary}); refresh or recreate the credential"
            )),
            403 => {
                let who = self
                    .token
                    .principal()
                    .map_or_else(|| "the credential".to_string(), |p| p.to_string());
                Error::Source(format!(
                    "{who} may not list the instances of project {project} ({summary}); it needs {role} (or more) on the project, and the API enabled there"
                ))
            }
            404 => Error::Config(format!(
                "project {project} was not found ({summary}); check --project"
            )),
            _ => Error::Source(format!(
                "{what} answered {summary} listing project {project}"
            )),
        }
    }
}

/// Whether a 403 says the API is not enabled on the project (Google's `ErrorInfo` with
/// reason `SERVICE_DISABLED`), rather than that the principal may not list.
fn service_disabled(body: &str) -> bool {
    #[derive(Deserialize)]
    struct Body {
        error: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        #[serde(default)]
        details: Vec<Detail>,
    }
    #[derive(Deserialize)]
    struct Detail {
        #[serde(default)]
        reason: Option<String>,
    }
    serde_json::from_str::<Body>(body).is_ok_and(|b| {
        b.error
            .details
            .iter()
            .any(|d| d.reason.as_deref() == Some("SERVICE_DISABLED"))
    })
}

fn check_project(project: &str) -> Result<()> {
    if super::name::is_project(project) {
        Ok(())
    } else {
        Err(Error::Config(
            "not a project ID: lower-case letters, digits and hyphens (optionally after a domain and a colon)"
                .to_string(),
        ))
    }
}

/// `text` when every character passes `allowed` and it is short, else nothing: what
/// reaches the output from an answer is never anything but a plain word.
fn word(text: &str, allowed: impl Fn(char) -> bool) -> Option<String> {
    (!text.is_empty() && text.len() <= 200 && text.chars().all(allowed)).then(|| text.to_string())
}

fn upper_word(text: Option<&str>) -> Option<String> {
    text.and_then(|t| {
        word(t, |c| {
            c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'
        })
    })
}

/// Page tokens are opaque; anything but unreserved characters is percent-encoded.
fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The addresses that are present, each checked; `None` when one present is unusable.
fn checked(candidates: Vec<(IpType, Option<String>)>) -> Option<Vec<(IpType, String)>> {
    let mut out = Vec::new();
    for (kind, text) in candidates {
        let Some(text) = text.filter(|t| !t.is_empty()) else {
            continue;
        };
        let address = crate::untrusted::check_address(&text).ok()?;
        if !out.iter().any(|(k, _)| *k == kind) {
            out.push((kind, address));
        }
    }
    Some(out)
}

fn alloydb_instance(instance: AlloyDbInstance) -> Option<ListedInstance> {
    let name = InstanceName::parse(instance.name.as_deref()?).ok()?;
    if name.is_cloud_sql() {
        return None;
    }
    let psc = instance
        .psc_instance_config
        .and_then(|c| c.psc_dns_name)
        .map(|n| n.trim_end_matches('.').to_string());
    let addresses = checked(vec![
        (IpType::Private, instance.ip_address),
        (IpType::Public, instance.public_ip_address),
        (IpType::Psc, psc),
    ])?;
    let flag = instance.database_flags.get("alloydb.iam_authentication");
    Some(ListedInstance {
        name,
        kind: InstanceKind::AlloyDb,
        detail: upper_word(instance.instance_type.as_deref()),
        state: upper_word(instance.state.as_deref()),
        addresses,
        iam_authentication: flag.is_some_and(|v| is_on(v)),
        connectors_only: instance
            .client_connection_config
            .is_some_and(|c| c.require_connectors),
    })
}

fn cloud_sql_instance(instance: CloudSqlInstance) -> Option<ListedInstance> {
    let name = InstanceName::parse(instance.connection_name.as_deref()?).ok()?;
    if !name.is_cloud_sql() {
        return None;
    }
    let settings = instance.settings;
    let address = |wanted: &str| {
        instance
            .ip_addresses
            .iter()
            .find(|m| m.kind.as_deref() == Some(wanted))
            .and_then(|m| m.ip_address.clone())
    };
    let psc_enabled = settings
        .as_ref()
        .and_then(|s| s.ip_configuration.as_ref())
        .and_then(|c| c.psc_config.as_ref())
        .is_some_and(|c| c.psc_enabled);
    let psc = instance
        .dns_names
        .iter()
        .find(|d| d.connection_type.as_deref() == Some("PRIVATE_SERVICE_CONNECT"))
        .and_then(|d| d.name.clone())
        .or_else(|| instance.dns_name.clone().filter(|_| psc_enabled))
        .map(|n| n.trim_end_matches('.').to_string());
    let addresses = checked(vec![
        (IpType::Private, address("PRIVATE")),
        (IpType::Public, address("PRIMARY")),
        (IpType::Psc, psc),
    ])?;
    let iam = settings.as_ref().is_some_and(|s| {
        s.database_flags.iter().any(|f| {
            f.name.as_deref() == Some("cloudsql.iam_authentication")
                && f.value.as_deref().is_some_and(is_on)
        })
    });
    // Trusted client certificates rule out a token login as much as enforced connectors.
    let connectors_only = settings.as_ref().is_some_and(|s| {
        s.connector_enforcement.as_deref() == Some("REQUIRED")
            || s.ip_configuration
                .as_ref()
                .and_then(|c| c.ssl_mode.as_deref())
                == Some("TRUSTED_CLIENT_CERTIFICATE_REQUIRED")
    });
    Some(ListedInstance {
        name,
        kind: InstanceKind::CloudSql,
        detail: upper_word(instance.database_version.as_deref()),
        state: upper_word(instance.state.as_deref()),
        addresses,
        iam_authentication: iam,
        connectors_only,
    })
}

fn is_on(value: &str) -> bool {
    value.eq_ignore_ascii_case("on") || value.eq_ignore_ascii_case("true")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_fields_drop_the_instance_and_plain_ones_pass() {
        let good: AlloyDbInstance = serde_json::from_value(serde_json::json!({
            "name": "projects/p/locations/r/clusters/c/instances/i",
            "ipAddress": "10.0.0.5",
            "pscInstanceConfig": {"pscDnsName": "x.r.alloydb-psc.goog."},
            "databaseFlags": {"alloydb.iam_authentication": "on"},
            "state": "READY\nx",
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let listed = alloydb_instance(good).unwrap_or_else(|| panic!("dropped"));
        assert_eq!(
            listed.addresses,
            [
                (IpType::Private, "10.0.0.5".to_string()),
                (IpType::Psc, "x.r.alloydb-psc.goog".to_string())
            ]
        );
        assert!(listed.iam_authentication);
        assert_eq!(listed.state, None);
        for hostile in [
            serde_json::json!({"name": "projects/p/../x", "ipAddress": "10.0.0.5"}),
            serde_json::json!({"name": "projects/p/locations/r/clusters/c/instances/i", "ipAddress": "10.0.0.5 host=evil"}),
            serde_json::json!({"ipAddress": "10.0.0.5"}),
        ] {
            let instance: AlloyDbInstance =
                serde_json::from_value(hostile).unwrap_or_else(|e| panic!("{e}"));
            assert!(alloydb_instance(instance).is_none());
        }
    }

    #[test]
    fn cloud_sql_flags_and_enforcement() {
        let instance: CloudSqlInstance = serde_json::from_value(serde_json::json!({
            "connectionName": "p:us-central1:db",
            "databaseVersion": "POSTGRES_16",
            "ipAddresses": [{"type": "PRIMARY", "ipAddress": "34.1.2.3"}, {"type": "OUTGOING", "ipAddress": "34.9.9.9"}],
            "settings": {"connectorEnforcement": "REQUIRED",
                "databaseFlags": [{"name": "cloudsql.iam_authentication", "value": "on"}]},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let listed = cloud_sql_instance(instance).unwrap_or_else(|| panic!("dropped"));
        assert_eq!(listed.addresses, [(IpType::Public, "34.1.2.3".to_string())]);
        assert!(listed.iam_authentication && listed.connectors_only);
        assert_eq!(query_escape("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn a_disabled_api_is_told_from_a_refusal() {
        let disabled = r#"{"error":{"code":403,"message":"AlloyDB API has not been used in project 1 before or it is disabled.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SERVICE_DISABLED","domain":"googleapis.com"}]}}"#;
        assert!(service_disabled(disabled));
        for refused in [
            r#"{"error":{"code":403,"message":"Permission denied","status":"PERMISSION_DENIED"}}"#,
            r#"{"error":{"code":403,"details":[{"reason":"IAM_PERMISSION_DENIED"}]}}"#,
            "SERVICE_DISABLED",
        ] {
            assert!(!service_disabled(refused), "{refused}");
        }
    }
}
