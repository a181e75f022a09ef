//! The service file, read and written.

use super::*;

fn ok<T>(value: std::result::Result<T, crate::value::InvalidValue>) -> T {
    value.unwrap_or_else(|e| panic!("{e}"))
}

fn kw(key: &str, value: &str) -> (Keyword, SectionValue) {
    (ok(Keyword::new(key)), ok(SectionValue::new(value)))
}

pub(crate) fn section(name: &str) -> ManagedSection {
    ManagedSection {
        name: ServiceName::new(name).unwrap_or_else(|e| panic!("{e}")),
        keywords: vec![
            kw("host", "10.1.2.3"),
            kw("port", "5432"),
            kw("user", "kai@altostrat.com"),
        ],
        owner: None,
        edited: false,
    }
}

#[test]
fn writes_framed_sections_on_top_and_round_trips() {
    let original: &[u8] = b"# my services\r\n[legacy]\r\nhost=old\r\n";
    let mut file = ServiceFile::parse(original);
    file.upsert(section("prod"), "svc")
        .unwrap_or_else(|e| panic!("{e}"));
    let written = file.render();
    let text = String::from_utf8_lossy(&written);
    assert!(text.starts_with("# alloydb-cred begin service=prod"));
    assert!(text.contains("\n[prod]\nhost=10.1.2.3\nport=5432\nuser=kai@altostrat.com\n# alloydb-cred end service=prod\n"));
    assert!(written.ends_with(original));
    let mut again = ServiceFile::parse(&written);
    assert_eq!(again.get("prod"), Some(&section("prod")));
    again.remove_all();
    assert_eq!(again.render(), original);
}

#[test]
fn user_section_of_same_name_is_a_conflict() {
    let original: &[u8] = b"[prod]\nhost=mine\n";
    let mut file = ServiceFile::parse(original);
    let err = file
        .upsert(section("prod"), "svc")
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("did not write")));
    assert_eq!(file.render(), original);
    // libpq trims white space around a section header.
    let mut file = ServiceFile::parse(b"  [prod]  \nhost=mine\n");
    assert!(file.upsert(section("prod"), "svc").is_err());
}

#[test]
fn settings_before_first_section_are_refused_without_quoting_values() {
    let mut file = ServiceFile::parse(b"# c\npassword=hunter2\n[a]\nport=1\n");
    let err = file
        .upsert(section("prod"), "svc")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("outside any [section]") && err.contains("`password`"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn a_setting_outside_any_section_is_named_by_line_only() {
    for text in [
        &b"hunter2-not-a-setting\n[a]\n"[..],
        b"\x1b]0;owned\x07=1\n[a]\n",
        b"# c\n\nsecret-key = x\n[a]\n",
    ] {
        let mut file = ServiceFile::parse(text);
        let err = file
            .upsert(section("prod"), "svc")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("outside any [section]"), "{err}");
        assert!(
            !err.contains("hunter2") && !err.contains("owned") && !err.contains("secret"),
            "{err}"
        );
        assert!(!err.contains(|c: char| c.is_control()), "{err:?}");
    }
    let mut file = ServiceFile::parse(b"# c\n\nsecret-key = x\n[a]\n");
    let err = file
        .upsert(section("prod"), "svc")
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("on line 3 ")));
}

#[test]
fn edits_inside_a_frame_are_marked_and_overwritten() {
    let mut file = ServiceFile::default();
    file.upsert(section("prod"), "svc")
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&file.render())
        .replace("port=5432\n", "port=5432\n# my note\nHost = x\n");
    let mut edited = ServiceFile::parse(text.as_bytes());
    let parsed = edited.get("prod").cloned();
    assert!(parsed.as_ref().is_some_and(|s| s.edited), "{parsed:?}");
    assert_ne!(
        parsed.as_ref(),
        Some(&section("prod")),
        "an edited section is rewritten"
    );
    edited
        .upsert(section("prod"), "svc")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!String::from_utf8_lossy(&edited.render()).contains("my note"));
    // A user's section header inside the frame makes it theirs.
    let theirs = text.replace("# my note\n", "[mine]\n");
    assert!(ServiceFile::parse(theirs.as_bytes()).managed().is_empty());
}

#[test]
fn owners_are_written_and_read_back_and_old_markers_still_parse() {
    let mut owned = section("prod");
    owned.owner = Some(Owner::new(
        Tag::of(b"config"),
        "/etc/alloydb-cred/config.toml",
    ));
    let mut file = ServiceFile::default();
    file.upsert(owned.clone(), "svc")
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&file.render()).into_owned();
    assert!(
        text.starts_with("# alloydb-cred begin service=prod owner="),
        "{text}"
    );
    assert!(
        text.contains(" for /etc/alloydb-cred/config.toml; edits"),
        "{text}"
    );
    assert_eq!(
        ServiceFile::parse(text.as_bytes()).get("prod"),
        Some(&owned)
    );

    // A name too long for old libpq's line buffer is left out; the tag stays.
    let mut long = section("prod");
    long.owner = Some(Owner::new(Tag::of(b"config"), &"/x".repeat(150)));
    let mut file = ServiceFile::default();
    file.upsert(long, "svc").unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&file.render()).into_owned();
    assert!(
        text.lines().all(|l| l.len() <= MAX_SECTION_LINE_BYTES),
        "{text}"
    );
    let parsed = ServiceFile::parse(text.as_bytes());
    let owner = parsed.get("prod").and_then(|s| s.owner.clone());
    assert_eq!(
        owner.map(|o| (o.tag, o.name)),
        Some((Tag::of(b"config"), None))
    );

    let old = b"# alloydb-cred begin service=prod (managed by alloydb-cred; edits here are overwritten)\n[prod]\nhost=10.1.2.3\nport=5432\nuser=kai@altostrat.com\n# alloydb-cred end service=prod\n";
    assert_eq!(ServiceFile::parse(old).get("prod"), Some(&section("prod")));
}

#[test]
fn the_index_finds_a_section_exactly_as_it_would_be_rendered() {
    let mut owned = section("prod");
    owned.owner = Some(Owner::new(
        Tag::of(b"config"),
        "/etc/alloydb-cred/config.toml",
    ));
    let mut file = ServiceFile::parse(b"# mine\n[legacy]\nhost=x\n");
    file.upsert(owned.clone(), "svc")
        .unwrap_or_else(|e| panic!("{e}"));
    file.upsert(section("other"), "svc")
        .unwrap_or_else(|e| panic!("{e}"));
    let bytes = file.render();
    let index = SectionIndex::of(&bytes);
    let holds = |index: &SectionIndex<'_>, s: &ManagedSection| {
        let keywords = s.keywords.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        index.holds(s.name.as_str(), s.owner.as_ref(), keywords)
    };
    assert!(holds(&index, &owned));
    assert!(holds(&index, &section("other")));
    let mut changed = owned.clone();
    changed.keywords.pop();
    assert!(!holds(&index, &changed));
    let mut longer = owned.clone();
    longer.keywords.push(kw("sslmode", "require"));
    assert!(!holds(&index, &longer));
    let mut unowned = owned.clone();
    unowned.owner = None;
    assert!(!holds(&index, &unowned));
    // The user's own section is never one of ours.
    assert!(!index.holds("legacy", None, [("host", "x")]));
    // A line the user added inside the region: not what would be written.
    let text = String::from_utf8_lossy(&bytes).replace("[prod]\n", "[prod]\n# note\n");
    assert!(!holds(&SectionIndex::of(text.as_bytes()), &owned));
}

#[test]
fn broken_frames_stay_foreign() {
    let text: &[u8] = b"# alloydb-cred begin service=prod (managed by alloydb-cred; edits here are overwritten)\n[prod]\nhost=x\n[other]\nport=1\n";
    let file = ServiceFile::parse(text);
    assert!(file.managed().is_empty());
    assert_eq!(file.render(), text);
    assert_eq!(file.foreign_section_names(), vec!["prod", "other"]);
}

#[test]
fn pgjdbc_rejects_lists_unknown_keys() {
    let mut s = section("x");
    s.keywords.push(kw("passfile", "/p"));
    s.keywords.push(kw("application_name", "a"));
    assert_eq!(s.pgjdbc_rejects(), vec!["passfile", "application_name"]);
    assert_eq!(s.pgjdbc_rejects_but_passfile(), vec!["application_name"]);
}

#[test]
fn overlong_lines_are_refused() {
    let mut s = section("x");
    s.keywords
        .push(kw("options", &("-c x=".to_string() + &"y".repeat(248))));
    let mut file = ServiceFile::default();
    assert!(file.upsert(s, "svc").is_err());
}
