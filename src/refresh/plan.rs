//! Step one of a refresh: what is due, decided from the files alone (no lock, no
//! network), and what each service's section should say. For services that name an
//! instance, "the files" include the cached resolution in the state file and the server
//! CA file it names (see [`super::instances`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use google_tokens::CredentialSpec;
use jiff::{SignedDuration, Timestamp};
use libpq_files::pgpass::EntryView;
use libpq_files::service_file::{ManagedSection, SectionIndex};
use libpq_files::{InvalidValue, Keyword, SectionValue, Tag};

use super::instances::{Resolutions, Target};
use crate::config::{Service, UserSpec};
use crate::files::Files;

/// The tag a service's entry carries for its credential: when the settings change, the
/// tag changes and the entry is due at once.
pub fn credential_tag(spec: &CredentialSpec) -> Tag {
    Tag::of(&spec.stable_description())
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

/// Works out what is due for `services`, given the two files' bytes and the instances'
/// cached resolutions. It reads the files in place, without making a value per field or
/// a section per service: with a thousand services this is most of a cron run's work.
pub fn make<'a>(
    services: &[&'a Service],
    pgpass: &[u8],
    service_file: &[u8],
    files: &Files,
    resolutions: &Resolutions,
    now: Timestamp,
    force: bool,
) -> Plan<'a> {
    // Indexed by name: a thousand services must not cost a million comparisons. The
    // first entry of a name is the one libpq reads.
    let entries: HashMap<&str, EntryView<'_>> = EntryView::all_in(pgpass)
        .into_iter()
        .rev()
        .map(|e| (e.service, e))
        .collect();
    let sections = SectionIndex::of(service_file);
    // Services mostly share a few credentials (one shared value each, see the config):
    // digest each once.
    let mut tags: HashMap<*const CredentialSpec, Tag> = HashMap::new();
    let mut due = Vec::new();
    let mut sections_stale = false;
    for &service in services {
        let entry = entries.get(service.name.as_str());
        let target = resolutions.target(service);
        let reason = match &target {
            _ if force => Some("--force"),
            None => Some("its instance is not resolved yet"),
            Some(target) => {
                let tag = tags
                    .entry(Arc::as_ptr(&service.credential))
                    .or_insert_with(|| credential_tag(&service.credential));
                due_reason(entry, service, target, tag, files.owner_tag(), now)
            }
        };
        match (reason, entry, target) {
            (Some(reason), _, _) => due.push((service, reason)),
            // One stale section is enough to take the locks; the rest need no check.
            (None, Some(entry), Some(target)) if !sections_stale => {
                let keywords = desired_keywords(service, &target, &entry.user, files);
                if !sections.holds(service.name.as_str(), Some(&files.owner), keywords)
                    || target.server_ca.as_ref().is_some_and(|ca| !ca.is_current())
                {
                    sections_stale = true;
                }
            }
            _ => {}
        }
    }
    Plan {
        due,
        sections_stale,
    }
}

/// Why a service's entry must be replaced, or `None` when it is still good.
fn due_reason(
    entry: Option<&EntryView<'_>>,
    service: &Service,
    target: &Target,
    credential: &Tag,
    owner: &Tag,
    now: Timestamp,
) -> Option<&'static str> {
    let Some(entry) = entry else {
        return Some("no entry yet");
    };
    if entry.owner.as_ref().is_some_and(|o| o != owner) {
        return Some("the entry belongs to another configuration");
    }
    if entry.host != target.host.as_str() || entry.port != target.port {
        return Some("host or port changed");
    }
    if &entry.credential != credential {
        return Some("credentials changed");
    }
    if let UserSpec::Named(user) = &service.user {
        if entry.user != user.as_str() {
            return Some("user changed");
        }
    }
    if entry.owner.is_none() {
        return Some("the entry names no owning configuration yet");
    }
    let left = entry.expires_at.duration_since(now);
    let window = SignedDuration::try_from(service.refresh_window).unwrap_or(SignedDuration::MAX);
    if left < window {
        return Some("inside the refresh window");
    }
    None
}

/// The section a service should have, given where it connects and the user its entry
/// logs in as. A value the service file cannot hold (a default password-file path with a
/// control character) is refused here, before anything is written.
pub fn desired_section(
    service: &Service,
    target: &Target,
    user: &str,
    files: &Files,
) -> Result<ManagedSection, InvalidValue> {
    let keywords = desired_keywords(service, target, user, files)
        .map(|(key, value)| Ok((Keyword::new(key)?, SectionValue::new(&value)?)))
        .collect::<Result<_, InvalidValue>>()?;
    Ok(ManagedSection {
        name: service.name.clone(),
        keywords,
        owner: Some(files.owner.clone()),
        edited: false,
    })
}

/// A service's section keywords, in the order they are written: where it connects, the
/// database and user, what the instance's resolution adds, the service's own keywords.
fn desired_keywords<'a>(
    service: &'a Service,
    target: &'a Target,
    user: &'a str,
    files: &'a Files,
) -> impl Iterator<Item = (&'a str, Cow<'a, str>)> {
    let fixed = [
        Some(("host", Cow::Borrowed(target.host.as_str()))),
        Some(("port", Cow::Owned(target.port.to_string()))),
        service
            .dbname
            .as_ref()
            .map(|db| ("dbname", Cow::Borrowed(db.as_str()))),
        Some(("user", Cow::Borrowed(user))),
    ];
    let resolved = target
        .keywords
        .iter()
        .map(|(k, v)| (*k, Cow::Borrowed(v.as_str())));
    let own = service
        .keywords
        .iter()
        .map(|(k, v)| (k.as_str(), Cow::Borrowed(v.as_str())));
    let passfile = files
        .needs_passfile
        .then_some(("passfile", Cow::Borrowed(files.pgpass_text.as_str())));
    fixed
        .into_iter()
        .flatten()
        .chain(resolved)
        .chain(own)
        .chain(passfile)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::tests::service;
    use libpq_files::pgpass::{ManagedEntry, PgpassFile};
    use libpq_files::service_file::ServiceFile;
    use libpq_files::{Host, Password};

    /// Whether a service file holding `section` is current for `svc` connecting to `to`
    /// as `user`, by the same check the plan makes.
    fn is_current(
        section: &ManagedSection,
        svc: &Service,
        to: &Target,
        user: &str,
        files: &Files,
    ) -> bool {
        let mut file = ServiceFile::default();
        // A refused write would make every answer below "not current" for the wrong reason.
        file.upsert(section.clone(), "s")
            .expect("an empty file takes any section");
        let bytes = file.render();
        let keywords = desired_keywords(svc, to, user, files);
        SectionIndex::of(&bytes).holds(svc.name.as_str(), Some(&files.owner), keywords)
    }

    /// Where the unit tests' service connects.
    fn target(host: &str) -> Target {
        Target {
            host: Host::new(host).expect("host"),
            port: 5432,
            keywords: vec![],
            server_ca: None,
        }
    }

    #[test]
    fn a_section_is_current_only_when_it_says_exactly_what_would_be_written() {
        let mut svc = service(UserSpec::Auto);
        svc.keywords = vec![(
            Keyword::new("sslmode").expect("keyword"),
            SectionValue::new("require").expect("value"),
        )];
        let files = files();
        let to = target("h");
        let section = desired_section(&svc, &to, "u", &files).expect("section");
        assert_eq!(
            section
                .keywords
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>(),
            ["host", "port", "user", "sslmode", "passfile"]
        );
        assert!(is_current(&section, &svc, &to, "u", &files));
        assert!(!is_current(&section, &svc, &to, "v", &files));
        let mut longer = section.clone();
        longer.keywords.push((
            Keyword::new("options").expect("keyword"),
            SectionValue::new("x").expect("value"),
        ));
        assert!(!is_current(&longer, &svc, &to, "u", &files));
        let mut shorter = section.clone();
        shorter.keywords.pop();
        assert!(!is_current(&shorter, &svc, &to, "u", &files));
        let mut unowned = section;
        unowned.owner = None;
        assert!(!is_current(&unowned, &svc, &to, "u", &files));
    }

    #[test]
    fn a_resolved_instance_gives_the_address_and_tls_keywords() {
        let svc = service(UserSpec::Auto);
        let files = files();
        let mut to = target("10.0.0.5");
        to.keywords = vec![
            ("sslmode", "verify-ca".into()),
            ("sslrootcert", "/state/server-ca/p_r_i-private.pem".into()),
        ];
        let section = desired_section(&svc, &to, "u", &files).expect("section");
        let text: Vec<String> = section
            .keywords
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            text,
            [
                "host=10.0.0.5",
                "port=5432",
                "user=u",
                "sslmode=verify-ca",
                "sslrootcert=/state/server-ca/p_r_i-private.pem",
                "passfile=/p"
            ]
        );
        assert!(is_current(&section, &svc, &to, "u", &files));
        // The instance moved: the section written for the old address is stale.
        assert!(!is_current(
            &section,
            &svc,
            &target("10.0.0.6"),
            "u",
            &files
        ));
    }

    fn files() -> Files {
        Files {
            pgpass: "/p".into(),
            pgpass_real: "/p".into(),
            pgpass_text: "/p".into(),
            service_file: "/s".into(),
            service_file_real: "/s".into(),
            needs_passfile: true,
            owner: libpq_files::service_file::Owner::new(Tag::of(b"config"), "/c.toml"),
        }
    }

    #[test]
    fn due_by_window_and_by_changed_fields() {
        let now = Timestamp::from_second(1_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let svc = service(UserSpec::Auto);
        let tag = credential_tag(&svc.credential);
        let owner = Tag::of(b"config");
        let mut entry = ManagedEntry {
            service: svc.name.clone(),
            expires_at: now + SignedDuration::from_secs(901),
            host: Host::new("h").expect("host"),
            port: 5432,
            user: libpq_files::Role::new("u").expect("role"),
            password: Password::new("t").expect("token"),
            credential: tag,
            owner: Some(owner),
        };
        let to = target("h");
        // The plan reads entries as they stand in the file: write this one, read it back.
        let due_in = |e: &ManagedEntry, s: &Service, to: &Target| {
            let mut file = PgpassFile::default();
            file.upsert(e.clone());
            let bytes = file.render();
            let views = EntryView::all_in(&bytes);
            assert_eq!(views.len(), 1, "{}", String::from_utf8_lossy(&bytes));
            due_reason(views.first(), s, to, &tag, &owner, now)
        };
        let due = |e: &ManagedEntry, s: &Service| due_in(e, s, &to);
        assert_eq!(due(&entry, &svc), None);
        entry.expires_at = now + SignedDuration::from_secs(899);
        assert!(due(&entry, &svc).is_some());
        entry.expires_at = now + SignedDuration::from_secs(3600);
        entry.port = 1;
        assert!(due(&entry, &svc).is_some());
        entry.port = 5432;
        let named = service(UserSpec::Named(libpq_files::Role::new("v").expect("role")));
        assert!(due(&entry, &named).is_some());
        assert!(due_reason(None, &svc, &to, &tag, &owner, now).is_some());
        let moved = target("10.9.9.9");
        assert_eq!(due_in(&entry, &svc, &moved), Some("host or port changed"));
        let mut other = entry.clone();
        other.credential = Tag::of(b"something else");
        assert_eq!(due(&other, &svc), Some("credentials changed"));
        let mut theirs = entry.clone();
        theirs.owner = Some(Tag::of(b"another config"));
        assert_eq!(
            due(&theirs, &svc),
            Some("the entry belongs to another configuration")
        );
    }
}
