//! Step one of a refresh: what is due, decided from the files alone (no lock, no
//! network), and what each service's section should say.

use std::collections::HashMap;

use google_tokens::CredentialSpec;
use jiff::{SignedDuration, Timestamp};
use libpq_files::CredentialTag;
use libpq_files::pgpass::ManagedEntry;
use libpq_files::service_file::ManagedSection;

use crate::config::{Service, UserSpec};
use crate::files::Files;

/// The tag a service's entry carries for its credential: when the settings change, the
/// tag changes and the entry is due at once.
pub fn credential_tag(spec: &CredentialSpec) -> CredentialTag {
    CredentialTag::of(format!("{spec:?}").as_bytes())
}

/// The plan for one pass over the files.
pub struct Plan<'a> {
    /// Services needing a token, with the reason (for -v).
    pub due: Vec<(&'a Service, &'static str)>,
    /// Whether some section differs from what it should be (no token needed for that).
    pub sections_stale: bool,
}

impl Plan<'_> {
    pub fn is_empty(&self) -> bool {
        self.due.is_empty() && !self.sections_stale
    }
}

/// Works out what is due for `services`, given the entries and sections in the files.
pub fn make<'a>(
    services: &[&'a Service],
    entries: &[ManagedEntry],
    sections: &[ManagedSection],
    files: &Files,
    now: Timestamp,
    force: bool,
) -> Plan<'a> {
    // Indexed by name: a thousand services must not cost a million comparisons.
    let entries: HashMap<&str, &ManagedEntry> = entries
        .iter()
        .rev()
        .map(|e| (e.service.as_str(), e))
        .collect();
    let sections: HashMap<&str, &ManagedSection> = sections
        .iter()
        .rev()
        .map(|s| (s.name.as_str(), s))
        .collect();
    // Services mostly share a few credentials: digest each once.
    let mut tags: HashMap<&CredentialSpec, CredentialTag> = HashMap::new();
    let mut due = Vec::new();
    let mut sections_stale = false;
    for &service in services {
        let entry = entries.get(service.name.as_str()).copied();
        let reason = if force {
            Some("--force")
        } else {
            let tag = tags
                .entry(&service.credential)
                .or_insert_with(|| credential_tag(&service.credential));
            due_reason(entry, service, tag, now)
        };
        match (reason, entry) {
            (Some(reason), _) => due.push((service, reason)),
            (None, Some(entry)) => {
                let want = desired_section(service, &entry.user, files);
                if sections.get(service.name.as_str()) != Some(&&want) {
                    sections_stale = true;
                }
            }
            (None, None) => {}
        }
    }
    Plan {
        due,
        sections_stale,
    }
}

/// Why a service's entry must be replaced, or `None` when it is still good.
fn due_reason(
    entry: Option<&ManagedEntry>,
    service: &Service,
    credential: &CredentialTag,
    now: Timestamp,
) -> Option<&'static str> {
    let Some(entry) = entry else {
        return Some("no entry yet");
    };
    if entry.host != service.host || entry.port != service.port {
        return Some("host or port changed");
    }
    if &entry.credential != credential {
        return Some("credentials changed");
    }
    if let UserSpec::Named(user) = &service.user {
        if &entry.user != user {
            return Some("user changed");
        }
    }
    let left = entry.expires_at.duration_since(now);
    let window = SignedDuration::try_from(service.refresh_window).unwrap_or(SignedDuration::MAX);
    if left < window {
        return Some("inside the refresh window");
    }
    None
}

/// The section a service should have, given the user its entry logs in as.
pub fn desired_section(service: &Service, user: &str, files: &Files) -> ManagedSection {
    let mut keywords = vec![
        ("host".to_string(), service.host.clone()),
        ("port".to_string(), service.port.to_string()),
    ];
    if let Some(db) = &service.dbname {
        keywords.push(("dbname".to_string(), db.clone()));
    }
    keywords.push(("user".to_string(), user.to_string()));
    keywords.extend(service.keywords.iter().cloned());
    if files.needs_passfile {
        keywords.push(("passfile".to_string(), files.pgpass.display().to_string()));
    }
    ManagedSection {
        name: service.name.clone(),
        keywords,
        edited: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::tests::service;
    use libpq_files::Password;

    #[test]
    fn due_by_window_and_by_changed_fields() {
        let now = Timestamp::from_second(1_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let svc = service(UserSpec::Auto);
        let tag = credential_tag(&svc.credential);
        let mut entry = ManagedEntry {
            service: "prod".into(),
            expires_at: now + SignedDuration::from_secs(901),
            host: "h".into(),
            port: 5432,
            user: "u".into(),
            password: Password::new("t"),
            credential: tag.clone(),
        };
        assert_eq!(due_reason(Some(&entry), &svc, &tag, now), None);
        entry.expires_at = now + SignedDuration::from_secs(899);
        assert!(due_reason(Some(&entry), &svc, &tag, now).is_some());
        entry.expires_at = now + SignedDuration::from_secs(3600);
        entry.port = 1;
        assert!(due_reason(Some(&entry), &svc, &tag, now).is_some());
        entry.port = 5432;
        assert!(
            due_reason(
                Some(&entry),
                &service(UserSpec::Named("v".into())),
                &tag,
                now
            )
            .is_some()
        );
        assert!(due_reason(None, &svc, &tag, now).is_some());
        let mut other = entry.clone();
        other.credential = CredentialTag::of(b"something else");
        assert_eq!(
            due_reason(Some(&other), &svc, &tag, now),
            Some("credentials changed")
        );
    }
}
