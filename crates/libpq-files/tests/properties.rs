//! Property tests of the two file engines: whatever the user's file holds and whatever we
//! write, parsing gives back what we wrote, libpq's lookup finds our token, and removing
//! our part gives back the user's bytes exactly.

use jiff::Timestamp;
use libpq_files::pgpass::{self, EntryView, ManagedEntry, PgpassFile};
use libpq_files::service_file::{ManagedSection, Owner, SectionIndex, ServiceFile};
use libpq_files::{Host, Keyword, Password, Role, SectionValue, ServiceName, Tag};
use proptest::prelude::*;

fn service_name() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_.-]{0,20}"
}

/// Hosts as users write them: names, IPv4, IPv6 (with `:`), and odd ones with `\`.
fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9.-]{0,30}",
        "(10|192)\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
        "(::1|fe80::[0-9a-f]{1,4}|2001:db8::[0-9a-f]{1,4}:[0-9a-f]{1,4})",
        "[a-z:\\\\]{1,12}",
    ]
}

fn user() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9.-]{0,20}@[a-z]{1,10}\\.(com|iam)",
        "[a-z:\\\\]{1,20}",
    ]
}

/// Tokens: no white space or control characters, may contain `.` padding, `:` and `\`.
fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._:\\\\-]{1,300}"
}

fn entry() -> impl Strategy<Value = ManagedEntry> {
    (
        service_name(),
        host(),
        1u16..,
        user(),
        token(),
        1_700_000_000i64..2_000_000_000,
        "[0-9a-f]{8}",
        prop::option::of("[a-z]{1,8}"),
    )
        .prop_filter_map(
            "values the writer refuses are not entries",
            |(service, host, port, user, token, secs, credential, owner)| {
                Some(ManagedEntry {
                    service: ServiceName::new(&service).ok()?,
                    expires_at: Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH),
                    host: Host::new(&host).ok()?,
                    port,
                    user: Role::new(&user).ok()?,
                    password: Password::new(&token).ok()?,
                    credential: Tag::of(credential.as_bytes()),
                    owner: owner.map(|o| Tag::of(o.as_bytes())),
                })
            },
        )
}

/// Arbitrary bytes a user's file may hold: lines of text with CRLF, comments, blank
/// lines, non-UTF-8 bytes, and no final newline.
fn foreign_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            Just(b"\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"# comment: with colons\n".to_vec()),
            Just(b"[section]\n".to_vec()),
            "[a-z*:\\\\]{0,40}\n?".prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..40),
        ],
        0..20,
    )
    .prop_map(|chunks| chunks.concat())
}

/// A user's service file: arbitrary bytes, or the same after a section header of the
/// user's own, so that half the cases hold no settings outside sections (which make the
/// engine refuse to add any) and the writes themselves get exercised.
fn foreign_service_file() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        foreign_bytes(),
        foreign_bytes().prop_map(|bytes| [b"[mine]\n".as_slice(), &bytes].concat()),
    ]
}

/// A section as the tool writes one, or `None` when a value is one the writer refuses.
fn section(name: &str, host: &str, user: &str, owner: Option<Owner>) -> Option<ManagedSection> {
    let keyword = |k: &str| Keyword::new(k).expect("keyword");
    Some(ManagedSection {
        name: ServiceName::new(name).ok()?,
        keywords: vec![
            (keyword("host"), SectionValue::new(host).ok()?),
            (keyword("port"), SectionValue::new("5432").expect("port")),
            (keyword("user"), SectionValue::new(user).ok()?),
        ],
        owner,
        edited: false,
    })
}

/// Sets the byte at `at` (if there is one) to `byte`.
fn damage(bytes: &mut [u8], at: prop::sample::Index, byte: u8) {
    if !bytes.is_empty() {
        bytes[at.index(bytes.len())] = byte;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn pgpass_round_trip_keeps_foreign_bytes(foreign in foreign_bytes(), entries in prop::collection::vec(entry(), 0..8)) {
        // Start from the user's file alone, as the tool would find it.
        let mut file = PgpassFile::parse(&foreign);
        prop_assume!(file.managed().is_empty());
        prop_assert_eq!(file.render(), foreign.clone());

        let mut expected: Vec<ManagedEntry> = Vec::new();
        for e in entries {
            expected.retain(|x| x.service != e.service);
            expected.push(e.clone());
            file.upsert(e);
        }
        // Freshest first, then by service.
        expected.sort_by(|a, b| b.expires_at.cmp(&a.expires_at).then_with(|| a.service.cmp(&b.service)));
        let written = file.render();
        prop_assert!(written.ends_with(&foreign));

        let mut reread = PgpassFile::parse(&written);
        prop_assert_eq!(reread.managed(), expected.as_slice());
        prop_assert_eq!(reread.foreign(), foreign.as_slice());

        // libpq's own matching finds our token for the first entry of each host/port/user.
        for e in &expected {
            let first = expected
                .iter()
                .find(|x| x.host == e.host && x.port == e.port && x.user == e.user)
                .map(|x| x.password.expose().as_bytes().to_vec());
            let found = pgpass::lookup(&written, e.host.as_str(), e.port, "anydb", e.user.as_str());
            prop_assert_eq!(found, first);
        }

        reread.remove_all();
        prop_assert_eq!(reread.render(), foreign);
    }

    #[test]
    fn pgpass_escape_round_trips_through_libpq_lookup(host in host(), user in user(), token in token()) {
        let line = format!("{}:5432:*:{}:{}\n", pgpass::escape(&host), pgpass::escape(&user), pgpass::escape(&token));
        prop_assert_eq!(pgpass::lookup(line.as_bytes(), &host, 5432, "db", &user), Some(token.into_bytes()));
    }

    #[test]
    fn service_file_round_trip_keeps_foreign_bytes(
        foreign in foreign_service_file(),
        sections in prop::collection::vec((service_name(), host(), user()), 0..6),
    ) {
        let mut file = ServiceFile::parse(&foreign);
        prop_assume!(file.managed().is_empty());
        let mut expected: Vec<ManagedSection> = Vec::new();
        for (name, host, user) in sections {
            let Some(section) = section(&name, &host, &user, None) else {
                continue;
            };
            let before = file.render();
            match file.upsert(section.clone(), "svc") {
                Ok(()) => {
                    expected.retain(|s| s.name != *name.as_str());
                    expected.push(section);
                }
                // Refused (a user section of that name, settings outside sections): the
                // file must be exactly as before the attempt.
                Err(_) => {
                    prop_assert!(file.foreign_section_names().contains(&name) || !foreign.is_empty());
                    prop_assert_eq!(file.render(), before);
                }
            }
        }
        expected.sort_by(|a, b| a.name.cmp(&b.name));
        let written = file.render();
        prop_assert!(written.ends_with(&foreign));
        let mut reread = ServiceFile::parse(&written);
        prop_assert_eq!(reread.managed(), expected.as_slice());
        reread.remove_all();
        prop_assert_eq!(reread.render(), foreign);
    }

    /// The nothing-due pass reads entries in place; it must see exactly the entries the
    /// parser sees, in a file as written and in one with a byte changed anywhere.
    #[test]
    fn entry_views_agree_with_the_parser(
        foreign in foreign_bytes(),
        entries in prop::collection::vec(entry(), 0..6),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut file = PgpassFile::parse(&foreign);
        for e in entries {
            file.upsert(e);
        }
        let mut bytes = file.render();
        for damaged in [false, true] {
            if damaged {
                damage(&mut bytes, at, byte);
            }
            let parsed = PgpassFile::parse(&bytes);
            let views = EntryView::all_in(&bytes);
            prop_assert_eq!(views.len(), parsed.managed().len());
            for (view, entry) in views.iter().zip(parsed.managed()) {
                prop_assert_eq!(view.service, entry.service.as_str());
                prop_assert_eq!(view.expires_at, entry.expires_at);
                prop_assert_eq!(&*view.host, entry.host.as_str());
                prop_assert_eq!(view.port, entry.port);
                prop_assert_eq!(&*view.user, entry.user.as_str());
                prop_assert_eq!(view.credential, entry.credential);
                prop_assert_eq!(view.owner, entry.owner);
            }
        }
    }

    /// The nothing-due pass asks the index whether a section is exactly what would be
    /// written; the answer must be what parsing the file would say, before and after a
    /// byte changes anywhere.
    #[test]
    fn the_section_index_agrees_with_the_parser(
        foreign in foreign_service_file(),
        sections in prop::collection::vec((service_name(), host(), user(), any::<bool>()), 0..6),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut file = ServiceFile::parse(&foreign);
        let mut written = Vec::new();
        for (name, host, user, owned) in sections {
            let owner = owned.then(|| Owner::new(Tag::of(b"config"), "/etc/alloydb-cred/config.toml"));
            let Some(section) = section(&name, &host, &user, owner) else {
                continue;
            };
            if file.upsert(section.clone(), "svc").is_ok() {
                written.retain(|s: &ManagedSection| s.name != section.name);
                written.push(section);
            }
        }
        let mut bytes = file.render();
        for damaged in [false, true] {
            if damaged {
                damage(&mut bytes, at, byte);
            }
            let parsed = ServiceFile::parse(&bytes);
            let index = SectionIndex::of(&bytes);
            for section in &written {
                let keywords = section.keywords.iter().map(|(k, v)| (k.as_str(), v.as_str()));
                let holds = index.holds(section.name.as_str(), section.owner.as_ref(), keywords);
                prop_assert_eq!(holds, parsed.get(section.name.as_str()) == Some(section));
                if !damaged {
                    prop_assert!(holds);
                }
            }
        }
    }
}
