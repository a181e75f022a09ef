//! Step one of a refresh: what is due, decided from the files alone (no lock, no
//! network), and what each service's section should say.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

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
    // Services mostly share a few credentials (one shared value each, see the config):
    // digest each once.
    let mut tags: HashMap<*const CredentialSpec, CredentialTag> = HashMap::new();
    let mut due = Vec::new();
    let mut sections_stale = false;
    for &service in services {
        let entry = entries.get(service.name.as_str()).copied();
        let reason = if force {
            Some("--force")
        } else {
            let tag = tags
                .entry(Arc::as_ptr(&service.credential))
                .or_insert_with(|| credential_tag(&service.credential));
            due_reason(entry, service, tag, now)
        };
        match (reason, entry) {
            (Some(reason), _) => due.push((service, reason)),
            (None, Some(entry)) => {
                let current = sections.get(service.name.as_str()).copied();
                if !current.is_some_and(|s| section_is_current(s, service, &entry.user, files)) {
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
    ManagedSection {
        name: service.name.clone(),
        keywords: desired_keywords(service, user, files)
            .map(|(key, value)| (key.to_string(), value.into_owned()))
            .collect(),
        edited: false,
    }
}

/// Whether `section` is exactly what [`desired_section`] would write, without building
/// it: the nothing-due pass asks this of every service.
fn section_is_current(
    section: &ManagedSection,
    service: &Service,
    user: &str,
    files: &Files,
) -> bool {
    if section.edited || section.name != service.name {
        return false;
    }
    let mut wanted = desired_keywords(service, user, files);
    for (key, value) in &section.keywords {
        match wanted.next() {
            Some((k, v)) if k == key && v == value.as_str() => {}
            _ => return false,
        }
    }
    wanted.next().is_none()
}

/// A service's section keywords, in the order they are written.
fn desired_keywords<'a>(
    service: &'a Service,
    user: &'a str,
    files: &'a Files,
) -> impl Iterator<Item = (&'a str, Cow<'a, str>)> {
    let fixed = [
        Some(("host", Cow::Borrowed(service.host.as_str()))),
        Some(("port", Cow::Owned(service.port.to_string()))),
        service
            .dbname
            .as_deref()
            .map(|db| ("dbname", Cow::Borrowed(db))),
        Some(("user", Cow::Borrowed(user))),
    ];
    let own = service
        .keywords
        .iter()
        .map(|(k, v)| (k.as_str(), Cow::Borrowed(v.as_str())));
    let passfile = files
        .needs_passfile
        .then_some(("passfile", Cow::Borrowed(files.pgpass_text.as_str())));
    fixed.into_iter().flatten().chain(own).chain(passfile)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::tests::service;
    use libpq_files::Password;

    #[test]
    fn a_section_is_current_only_when_it_says_exactly_what_would_be_written() {
        let mut svc = service(UserSpec::Auto);
        svc.keywords = vec![("sslmode".into(), "require".into())];
        let files = Files {
            pgpass: "/p".into(),
            pgpass_real: "/p".into(),
            pgpass_text: "/p".into(),
            service_file: "/s".into(),
            service_file_real: "/s".into(),
            needs_passfile: true,
        };
        let section = desired_section(&svc, "u", &files);
        assert_eq!(
            section
                .keywords
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>(),
            ["host", "port", "user", "sslmode", "passfile"]
        );
        assert!(section_is_current(&section, &svc, "u", &files));
        assert!(!section_is_current(&section, &svc, "v", &files));
        let mut longer = section.clone();
        longer.keywords.push(("options".into(), "x".into()));
        assert!(!section_is_current(&longer, &svc, "u", &files));
        let mut shorter = section.clone();
        shorter.keywords.pop();
        assert!(!section_is_current(&shorter, &svc, "u", &files));
        let mut edited = section;
        edited.edited = true;
        assert!(!section_is_current(&edited, &svc, "u", &files));
    }

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
