//! Instance names as users write them: an AlloyDB instance's resource name, or a Cloud SQL
//! connection name. They become part of Admin API URLs, so only the characters Google's
//! names use are accepted.

use std::fmt;

/// An AlloyDB or Cloud SQL for PostgreSQL instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceName {
    text: String,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    /// `projects/P/locations/R/clusters/C/instances/I`.
    AlloyDb,
    /// `PROJECT:REGION:INSTANCE` (the project may itself be `domain:project`).
    CloudSql {
        project: String,
        region: String,
        instance: String,
    },
}

const ALLOYDB_SHAPE: &str = "projects/PROJECT/locations/REGION/clusters/CLUSTER/instances/INSTANCE";
const CLOUDSQL_SHAPE: &str = "PROJECT:REGION:INSTANCE";

impl InstanceName {
    /// Reads an instance name, saying what is wrong (without quoting it) otherwise.
    pub fn parse(text: &str) -> Result<InstanceName, String> {
        let expected = || {
            format!(
                "not an instance name: write an AlloyDB instance as {ALLOYDB_SHAPE}, or a Cloud SQL instance as its connection name {CLOUDSQL_SHAPE}"
            )
        };
        if text.starts_with("projects/") {
            let parts: Vec<&str> = text.split('/').collect();
            let shaped = parts.len() == 8
                && parts.iter().step_by(2).copied().eq([
                    "projects",
                    "locations",
                    "clusters",
                    "instances",
                ])
                && parts
                    .iter()
                    .skip(1)
                    .step_by(2)
                    .enumerate()
                    .all(|(i, p)| if i == 0 { is_project(p) } else { is_id(p) });
            return match shaped {
                true => Ok(InstanceName {
                    text: text.to_string(),
                    kind: Kind::AlloyDb,
                }),
                false => Err(expected()),
            };
        }
        let mut from_right = text.rsplitn(3, ':');
        let (Some(instance), Some(region), Some(project)) =
            (from_right.next(), from_right.next(), from_right.next())
        else {
            return Err(expected());
        };
        if !(is_project(project) && is_id(region) && is_id(instance)) {
            return Err(expected());
        }
        Ok(InstanceName {
            text: text.to_string(),
            kind: Kind::CloudSql {
                project: project.to_string(),
                region: region.to_string(),
                instance: instance.to_string(),
            },
        })
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is a Cloud SQL connection name (else an AlloyDB instance).
    pub fn is_cloud_sql(&self) -> bool {
        matches!(self.kind, Kind::CloudSql { .. })
    }

    /// `(project, region, instance)` of a Cloud SQL connection name.
    pub(crate) fn cloud_sql_parts(&self) -> Option<(&str, &str, &str)> {
        match &self.kind {
            Kind::CloudSql {
                project,
                region,
                instance,
            } => Some((project, region, instance)),
            Kind::AlloyDb => None,
        }
    }

    /// The project the instance belongs to, for the commands that grant access.
    pub(crate) fn project(&self) -> &str {
        match &self.kind {
            Kind::CloudSql { project, .. } => project,
            Kind::AlloyDb => self.text.split('/').nth(1).unwrap_or_default(),
        }
    }

    /// A file name stem naming this instance: the name's own characters, with `/` and `:`
    /// turned into `_`.
    pub fn file_stem(&self) -> String {
        let text = match &self.kind {
            Kind::AlloyDb => {
                let parts: Vec<&str> = self.text.split('/').skip(1).step_by(2).collect();
                parts.join("_")
            }
            Kind::CloudSql { .. } => self.text.clone(),
        };
        text.replace([':', '/'], "_")
    }
}

impl fmt::Display for InstanceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A region, cluster or instance ID: lowercase letters, digits and `-`.
fn is_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 100
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A project ID or number, optionally domain-scoped (`example.com:project`).
pub(super) fn is_project(text: &str) -> bool {
    let (domain, id) = match text.split_once(':') {
        Some((domain, id)) => (Some(domain), id),
        None => (None, text),
    };
    is_id(id)
        && domain.is_none_or(|d| {
            !d.is_empty()
                && d.len() <= 100
                && d.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b))
        })
}

/// Which of an instance's addresses a service connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum IpType {
    /// The address inside the VPC (AlloyDB `ipAddress`, Cloud SQL `PRIVATE`).
    #[default]
    Private,
    /// The public address (AlloyDB `publicIpAddress`, Cloud SQL `PRIMARY`).
    Public,
    /// The Private Service Connect DNS name.
    Psc,
}

impl IpType {
    /// Reads `private`, `public` or `psc`.
    pub fn parse(text: &str) -> Result<IpType, String> {
        match text {
            "private" => Ok(IpType::Private),
            "public" => Ok(IpType::Public),
            "psc" => Ok(IpType::Psc),
            _ => Err("ip_type is not one of private, public, psc".to_string()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IpType::Private => "private",
            IpType::Public => "public",
            IpType::Psc => "psc",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_both_kinds() {
        let alloydb =
            InstanceName::parse("projects/p-1/locations/us-central1/clusters/c/instances/i")
                .unwrap_or_else(|e| panic!("{e}"));
        assert!(!alloydb.is_cloud_sql());
        assert_eq!(alloydb.project(), "p-1");
        assert_eq!(alloydb.file_stem(), "p-1_us-central1_c_i");
        let sql =
            InstanceName::parse("example.com:p:europe-west1:db").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            sql.cloud_sql_parts(),
            Some(("example.com:p", "europe-west1", "db"))
        );
        assert_eq!(sql.file_stem(), "example.com_p_europe-west1_db");
        for bad in [
            "",
            "p:r",
            "p:r:i/../x",
            "p:r:I",
            "projects/p/locations/r/clusters/c/instances/i/x",
            "projects/p/locations/r/clusters/c/instances/",
            "projects/p/locations/r/clusters/c/instance/i",
            "projects/p/locations/r/clusters/c/instances/i?x",
            "p:r:i\n[evil]",
            "a:b:p:r:i",
        ] {
            assert!(InstanceName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ip_types() {
        assert_eq!(IpType::parse("psc"), Ok(IpType::Psc));
        assert_eq!(IpType::default(), IpType::Private);
        assert!(IpType::parse("PRIVATE").is_err());
    }
}
