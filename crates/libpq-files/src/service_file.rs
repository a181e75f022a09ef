//! libpq's connection service file (`~/.pg_service.conf`).
//!
//! Each service the tool manages is one section framed by marker comments:
//!
//! ```text
//! # alloydb-cred begin service=prod owner=5d41402a (managed by alloydb-cred for /home/kai/.config/alloydb-cred/config.toml; edits here are overwritten)
//! [prod]
//! host=10.1.2.3
//! port=5432
//! user=kai@altostrat.com
//! # alloydb-cred end service=prod
//! ```
//!
//! As with the password file, managed sections are recognised anywhere and written as
//! one block at the top; every other byte is foreign and kept exactly. A section the user
//! wrote is never touched: a managed section of the same name is a conflict, reported
//! instead of written. Only keywords that pgjdbc (DBeaver, DataGrip) also accepts are
//! written by default, because pgjdbc rejects the whole service on an unknown key.
//!
//! The begin marker names the configuration that owns the section, as a tag and, when
//! the line stays short enough for old libpq, by its path, so that a second configuration
//! claiming the same service can be told whose it is. Markers written before owners were
//! recorded (`# alloydb-cred begin service=prod (managed by alloydb-cred; …)`) are read
//! as having no owner.

use std::collections::HashMap;

use crate::digest::Tag;
use crate::error::{Error, Result};
use crate::managed::{self, ManagedFile, Region};
use crate::value::{Keyword, MAX_SECTION_LINE_BYTES, SectionValue, ServiceName};

const BEGIN_PREFIX: &str = "# alloydb-cred begin service=";
const OWNER_WORD: &str = " owner=";
const MANAGED_BY: &str = " (managed by alloydb-cred";
const OWNED_BY: &str = " for ";
const BEGIN_SUFFIX: &str = "; edits here are overwritten)";
const END_PREFIX: &str = "# alloydb-cred end service=";

/// libpq's connection keywords (PostgreSQL 16's list; older servers' clients ignore none
/// of the ones a user is likely to set).
pub const LIBPQ_KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "require_auth",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "sslmode",
    "requiressl",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "service",
    "target_session_attrs",
    "load_balance_hosts",
];

/// Keywords pgjdbc's service-file parser accepts (tried against pgjdbc 42.5.5). Any other
/// key in a selected section makes pgjdbc refuse the connection ("Unable to parse URL").
const PGJDBC_KEYWORDS: &[&str] = &[
    "host",
    "port",
    "dbname",
    "user",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "password",
    "options",
    "sslpassword",
    "gsslib",
    "replication",
];

/// One section the tool wrote. Every field is a checked type, so a section always renders
/// as exactly its frame, its header and one line per keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedSection {
    pub name: ServiceName,
    /// `keyword=value` pairs in file order.
    pub keywords: Vec<(Keyword, SectionValue)>,
    /// The configuration that wrote the section; `None` for sections written before
    /// markers named one.
    pub owner: Option<Owner>,
    /// Someone added lines that are not `keyword=value` (comments, odd keys) inside
    /// the frame; they are dropped at the next write, as the begin marker says.
    pub edited: bool,
}

/// Who owns a section: a tag, and a readable name (a path) when it fits the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub tag: Tag,
    /// What to call the owner in messages; never holds a control character or `;`.
    pub name: Option<String>,
}

impl Owner {
    /// An owner; a `name` that could break the marker line is left out.
    pub fn new(tag: Tag, name: &str) -> Owner {
        let usable = !name.is_empty()
            && !name.contains(|c: char| c.is_control() || c == ';')
            && !name.ends_with(' ');
        Owner {
            tag,
            name: usable.then(|| name.to_string()),
        }
    }
}

impl ManagedSection {
    /// Keywords in this section that pgjdbc would reject.
    pub fn pgjdbc_rejects(&self) -> Vec<&str> {
        self.keywords
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !PGJDBC_KEYWORDS.contains(k))
            .collect()
    }
}

/// A parsed service file: managed sections and everything else, byte for byte.
pub type ServiceFile = ManagedFile<ManagedSection>;

impl Region for ManagedSection {
    const MARKER: &'static str = BEGIN_PREFIX;

    fn name(&self) -> &str {
        self.name.as_str()
    }

    fn owner(&self) -> Option<&Tag> {
        self.owner.as_ref().map(|o| &o.tag)
    }

    /// A framed section: begin marker, `[name]`, `keyword=value` lines, end marker.
    fn parse_at(bytes: &[u8], start: usize) -> Option<(ManagedSection, usize)> {
        parse_section(bytes, start)
    }

    fn render_into(&self, out: &mut Vec<u8>) {
        write_section(
            out,
            self.name.as_str(),
            self.owner.as_ref(),
            self.keywords.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
    }
}

/// Where [`write_section`] puts a section's bytes: the file being written, or a
/// comparison with a file's bytes.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Compares what would be written with bytes already in a file, piece by piece, without
/// copying: the nothing-due pass asks this of every service.
struct SameAs<'a> {
    rest: Option<&'a [u8]>,
}

impl Sink for SameAs<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.rest = self.rest.and_then(|rest| rest.strip_prefix(bytes));
    }
}

/// A section's lines: the begin marker, `[name]`, one `keyword=value` line per keyword,
/// the end marker. The one renderer, for written sections and for comparing a section
/// with what it should be ([`SectionIndex::holds`]). The begin marker names the owner's
/// path only when the line stays short enough for libpq before PostgreSQL 14, which reads
/// comment lines with the same buffer.
fn write_section(
    out: &mut impl Sink,
    name: &str,
    owner: Option<&Owner>,
    keywords: impl IntoIterator<Item = (impl AsRef<str>, impl AsRef<str>)>,
) {
    out.put(BEGIN_PREFIX.as_bytes());
    out.put(name.as_bytes());
    let mut length = BEGIN_PREFIX.len() + name.len() + MANAGED_BY.len() + BEGIN_SUFFIX.len();
    if let Some(owner) = owner {
        out.put(OWNER_WORD.as_bytes());
        out.put(&owner.tag.hex());
        length += OWNER_WORD.len() + 8;
    }
    out.put(MANAGED_BY.as_bytes());
    if let Some(path) = owner.and_then(|o| o.name.as_deref()) {
        if length + OWNED_BY.len() + path.len() <= MAX_SECTION_LINE_BYTES {
            out.put(OWNED_BY.as_bytes());
            out.put(path.as_bytes());
        }
    }
    out.put(BEGIN_SUFFIX.as_bytes());
    out.put(b"\n[");
    out.put(name.as_bytes());
    out.put(b"]\n");
    for (key, value) in keywords {
        out.put(key.as_ref().as_bytes());
        out.put(b"=");
        out.put(value.as_ref().as_bytes());
        out.put(b"\n");
    }
    out.put(END_PREFIX.as_bytes());
    out.put(name.as_bytes());
    out.put(b"\n");
}

/// Where each managed section starts in a service file, by service, found from the begin
/// markers alone: for asking whether a section is exactly what it should be without
/// parsing any (the nothing-due pass asks this of every service).
pub struct SectionIndex<'a> {
    bytes: &'a [u8],
    starts: HashMap<&'a str, usize>,
}

impl<'a> SectionIndex<'a> {
    pub fn of(bytes: &'a [u8]) -> SectionIndex<'a> {
        let found: Vec<usize> = managed::line_starts_with(bytes, BEGIN_PREFIX.as_bytes()).collect();
        let mut starts = HashMap::with_capacity(found.len());
        for start in found {
            let rest = &bytes[start + BEGIN_PREFIX.len()..];
            let end = memchr::memchr2(b' ', b'\n', rest).unwrap_or(rest.len());
            if let Ok(name) = std::str::from_utf8(&rest[..end]) {
                // The first frame of a name is the one readers see.
                starts.entry(name).or_insert(start);
            }
        }
        SectionIndex { bytes, starts }
    }

    /// Whether the file holds, as the section of `name`, exactly what writing a section
    /// with this owner and these keywords would write (an edited section does not).
    pub fn holds(
        &self,
        name: &str,
        owner: Option<&Owner>,
        keywords: impl IntoIterator<Item = (impl AsRef<str>, impl AsRef<str>)>,
    ) -> bool {
        let Some(&start) = self.starts.get(name) else {
            return false;
        };
        let mut same = SameAs {
            rest: Some(&self.bytes[start..]),
        };
        write_section(&mut same, name, owner, keywords);
        same.rest.is_some()
    }
}

impl ManagedFile<ManagedSection> {
    /// Section names the user wrote, as libpq and pgjdbc see them.
    pub fn foreign_section_names(&self) -> Vec<String> {
        self.foreign()
            .split(|&b| b == b'\n')
            .filter_map(|line| {
                let text = String::from_utf8_lossy(line);
                let t = text.trim();
                t.strip_prefix('[')
                    .and_then(|r| r.strip_suffix(']'))
                    .map(str::to_string)
            })
            .collect()
    }

    /// Replaces or adds the managed section `section.name`, after checking that it can be
    /// written without touching the user's own sections and that every line fits libpq.
    pub fn upsert(&mut self, section: ManagedSection, path_for_messages: &str) -> Result<()> {
        if self
            .foreign_section_names()
            .iter()
            .any(|n| section.name == *n.as_str())
        {
            return Err(Error::Conflict(format!(
                "{path_for_messages} already has a section [{}] that alloydb-cred did not write; it is left alone: rename the service in the alloydb-cred config, or delete or rename that section",
                section.name
            )));
        }
        for (key, value) in &section.keywords {
            let length = key.as_str().len() + value.as_str().len() + 1;
            if length > MAX_SECTION_LINE_BYTES {
                return Err(Error::Invalid(format!(
                    "service {}: the line `{key}=…` would be {length} bytes, longer than libpq before PostgreSQL 14 reads ({MAX_SECTION_LINE_BYTES}); shorten it",
                    section.name,
                )));
            }
        }
        self.check_no_orphan_settings(path_for_messages)?;
        self.insert_ordered(section, |s| s.name.clone());
        Ok(())
    }

    /// Settings above the user's first section would be read as part of our last
    /// section once our block sits on top; refuse rather than change their meaning.
    fn check_no_orphan_settings(&self, path_for_messages: &str) -> Result<()> {
        for (n, line) in self.foreign().split(|&b| b == b'\n').enumerate() {
            let text = String::from_utf8_lossy(line);
            let t = text.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            if t.starts_with('[') {
                return Ok(());
            }
            // Name the key only: the value may be a password.
            let key = t.split('=').next().unwrap_or_default().trim();
            return Err(Error::Conflict(format!(
                "{path_for_messages} has a setting outside any [section] (`{}` on line {} of its own content); libpq would attach it to the section above it, so alloydb-cred will not add sections there: move it into a section or delete it",
                key.chars().take(40).collect::<String>(),
                n + 1
            )));
        }
        Ok(())
    }
}

/// Tries to read one framed managed section starting at offset `start`; returns it and
/// the offset just past its end marker.
fn parse_section(bytes: &[u8], start: usize) -> Option<(ManagedSection, usize)> {
    let mut at = start;
    let mut next_line = || -> Option<&str> {
        let (line, end) = managed::line_at(bytes, at)?;
        at = end;
        Some(line)
    };
    let (name, owner) = parse_begin(next_line()?)?;
    let header = next_line()?;
    if header.strip_prefix('[')?.strip_suffix(']')? != name.as_str() {
        return None;
    }
    let mut keywords = Vec::new();
    let mut edited = false;
    loop {
        let line = next_line()?;
        if line.strip_prefix(END_PREFIX) == Some(name.as_str()) {
            let section = ManagedSection {
                name,
                keywords,
                owner,
                edited,
            };
            return Some((section, at));
        }
        // A section header inside the frame is the user's own section: the frame is
        // then not ours to rewrite.
        if line.trim_start().starts_with('[') {
            return None;
        }
        let pair = line.split_once('=').and_then(|(key, value)| {
            Some((Keyword::new(key).ok()?, SectionValue::new(value).ok()?))
        });
        match pair {
            Some(pair) => keywords.push(pair),
            None => edited = true,
        }
    }
}

/// Reads a begin marker, in either form (with or without an owner).
fn parse_begin(line: &str) -> Option<(ServiceName, Option<Owner>)> {
    let rest = line
        .strip_prefix(BEGIN_PREFIX)?
        .strip_suffix(BEGIN_SUFFIX)?;
    let (head, by) = rest.split_once(MANAGED_BY)?;
    let (name, tag) = match head.split_once(OWNER_WORD) {
        Some((name, tag)) => (name, Some(Tag::parse(tag)?)),
        None => (head, None),
    };
    let owner_name = match by {
        "" => None,
        by => Some(by.strip_prefix(OWNED_BY)?),
    };
    let owner = match (tag, owner_name) {
        (Some(tag), name) => Some(Owner::new(tag, name.unwrap_or_default())),
        (None, None) => None,
        (None, Some(_)) => return None,
    };
    Some((ServiceName::new(name).ok()?, owner))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<T>(value: std::result::Result<T, crate::value::InvalidValue>) -> T {
        value.unwrap_or_else(|e| panic!("{e}"))
    }

    fn kw(key: &str, value: &str) -> (Keyword, SectionValue) {
        (ok(Keyword::new(key)), ok(SectionValue::new(value)))
    }

    fn section(name: &str) -> ManagedSection {
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
    }

    #[test]
    fn overlong_lines_are_refused() {
        let mut s = section("x");
        s.keywords
            .push(kw("options", &("-c x=".to_string() + &"y".repeat(248))));
        let mut file = ServiceFile::default();
        assert!(file.upsert(s, "svc").is_err());
    }
}
