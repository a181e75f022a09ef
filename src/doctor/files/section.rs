//! The service file: the file libpq really reads, the service's section in it, and what
//! pgjdbc and a system-wide file make of it.

use super::super::{Check, service_table};
use super::{Facts, OnDisk, Subject};
use crate::config::Config;
use crate::files::Files;
use crate::paths;
use crate::refresh::desired_section;
use libpq_files::pgpass::ManagedEntry;

impl OnDisk {
    pub(super) fn section_checks(
        &self,
        subject: Subject<'_>,
        config: &Config,
        files: &Files,
        entry: Option<&ManagedEntry>,
        out: &mut Vec<Check>,
        facts: &mut Facts,
    ) {
        let Subject { service, target } = subject;
        let name = service.name.as_str();
        let path = files.service_file.display();
        let parsed = &self.service_file;
        let mine = parsed
            .get(name)
            .filter(|s| s.owner.as_ref().is_none_or(|o| o.tag == config.owner));
        let check = if self.foreign_sections.iter().any(|n| n == name) {
            Check::problem(
                "service_file.section",
                format!(
                    "{path} has a section [{name}] that you wrote; alloydb-cred leaves it alone and writes none there"
                ),
                format!(
                    "rename the service in {}, or delete or rename that section",
                    config.path.display()
                ),
            )
        } else if let Some(section) = mine {
            facts.section = true;
            let wanted = entry
                .zip(target)
                .and_then(|(e, t)| desired_section(service, t, e.user.as_str(), files).ok());
            let current = wanted
                .as_ref()
                .is_none_or(|w| w.keywords == section.keywords && !section.edited);
            let summary: Vec<String> = section
                .keywords
                .iter()
                .filter(|(k, _)| ["host", "port", "dbname", "user"].contains(&k.as_str()))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            if current {
                Check::ok(
                    "service_file.section",
                    format!("[{name}] in {path}: {}", summary.join(" ")),
                )
            } else {
                Check::warning(
                    "service_file.section",
                    format!(
                        "[{name}] in {path} differs from what the configuration says (edited by hand, or the configuration changed)"
                    ),
                    format!("alloydb-cred refresh --service {name} rewrites it"),
                )
            }
        } else if parsed.get(name).is_some() {
            Check::problem(
                "service_file.section",
                format!("[{name}] in {path} belongs to another alloydb-cred configuration"),
                "rename the service in one of the configurations, or give them different `service_file`s",
            )
        } else {
            Check::problem(
                "service_file.section",
                format!("{path} has no section [{name}], so `PGSERVICE={name}` finds nothing"),
                format!("alloydb-cred refresh --service {name}"),
            )
        };
        out.push(check);
        if let Some(section) = mine {
            let rejects = section.pgjdbc_rejects_but_passfile();
            out.push(if rejects.is_empty() {
                Check::ok(
                    "service_file.pgjdbc",
                    "every keyword in the section is one pgjdbc (DBeaver, DataGrip) accepts too",
                )
            } else {
                Check::warning(
                    "service_file.pgjdbc",
                    format!(
                        "pgjdbc (DBeaver, DataGrip) refuses the whole service because of {} (\"Unable to parse URL\"); libpq clients are not affected",
                        rejects.join(", ")
                    ),
                    format!(
                        "if pgjdbc clients use this service, remove {} from `libpq` in {}",
                        rejects.join(", "),
                        service_table(service, config)
                    ),
                )
            });
            let passfile = section
                .keywords
                .iter()
                .find(|(k, _)| k.as_str() == "passfile")
                .map(|(_, v)| v.as_str().to_string());
            out.push(match passfile {
                None => Check::ok(
                    "service_file.passfile",
                    "no passfile=: every reader finds the password file where it looks by default",
                ),
                Some(passfile) => Check::warning(
                    "service_file.passfile",
                    format!(
                        "the section names the password file with passfile={passfile}, because it is not where libpq looks by default; pgjdbc (DBeaver, DataGrip) rejects that keyword, so those clients cannot use this section, and they (and node-postgres) find the password file only through PGPASSFILE"
                    ),
                    format!(
                        "for those clients set PGPASSFILE={passfile} (and connect with host, port and user), or remove `pgpass` from {} so the default ~/.pgpass is used",
                        config.path.display()
                    ),
                ),
            });
        }
        out.extend(self.system_duplicate(name));
    }

    /// A warning when the system-wide service file defines `name` too.
    pub(super) fn system_duplicate(&self, name: &str) -> Option<Check> {
        self.system_sections.iter().any(|s| s == name).then(|| {
            Check::warning(
                "service_file.system",
                format!(
                    "the system-wide service file also defines [{name}]: libpq reads yours first, but a program run with another HOME or PGSERVICEFILE (cron, sudo, a container), and libpq when your section is missing, get that one"
                ),
                "rename the service in one of the two files",
            )
        })
    }
}

pub(super) fn service_file_location_check(config: &Config) -> Check {
    const NAME: &str = "service_file.location";
    let written = &config.service_file;
    let by = if std::env::var_os("PGSERVICEFILE").is_some_and(|v| !v.is_empty()) {
        "PGSERVICEFILE"
    } else {
        "the per-user default"
    };
    match paths::default_service_file() {
        Ok(_) if paths::is_libpq_default_service_file(written) => Check::ok(
            NAME,
            format!(
                "libpq reads {} ({by}), the file alloydb-cred writes",
                written.display()
            ),
        ),
        Ok(read) => Check::warning(
            NAME,
            format!(
                "libpq reads {} ({by}), but alloydb-cred writes {}: `PGSERVICE=NAME psql` finds these services only with PGSERVICEFILE={} (as `alloydb-cred exec` sets it)",
                read.display(),
                written.display(),
                written.display()
            ),
            format!(
                "export PGSERVICEFILE={} where the clients run, or remove `service_file` from {}",
                written.display(),
                config.path.display()
            ),
        ),
        Err(e) => Check::warning(
            NAME,
            format!("cannot tell which service file libpq reads: {e}"),
            "set HOME, or PGSERVICEFILE",
        ),
    }
}
