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

mod keywords;
mod lines;

use std::collections::HashMap;

use crate::digest::Tag;
use crate::error::{Error, Result};
use crate::managed::{self, ManagedFile, Region};
use crate::value::{Keyword, MAX_SECTION_LINE_BYTES, SectionValue, ServiceName};

pub use keywords::LIBPQ_KEYWORDS;
use keywords::PGJDBC_KEYWORDS;
use lines::{LibpqLine, header_names, libpq_line};

const BEGIN_PREFIX: &str = "# alloydb-cred begin service=";
const OWNER_WORD: &str = " owner=";
const MANAGED_BY: &str = " (managed by alloydb-cred";
const OWNED_BY: &str = " for ";
const BEGIN_SUFFIX: &str = "; edits here are overwritten)";
const END_PREFIX: &str = "# alloydb-cred end service=";

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

    /// Keywords in this section that pgjdbc would reject, but `passfile`: that one is
    /// there because the password file is not where every reader looks, a fact about the
    /// file rather than this section, told once (refresh's note, doctor's check of it).
    pub fn pgjdbc_rejects_but_passfile(&self) -> Vec<&str> {
        let mut rejects = self.pgjdbc_rejects();
        rejects.retain(|k| *k != "passfile");
        rejects
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
    /// Section names the user wrote, each once, in file order: every name libpq would
    /// take a header line for, and every name pgjdbc would (see `header_names`).
    pub fn foreign_section_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for line in self.foreign().split(|&b| b == b'\n') {
            for name in header_names(line) {
                let name = String::from_utf8_lossy(name);
                if !names.iter().any(|n| *n == name) {
                    names.push(name.into_owned());
                }
            }
        }
        names
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
            match libpq_line(line) {
                LibpqLine::Blank => continue,
                LibpqLine::Header(_) => return Ok(()),
                LibpqLine::Setting(setting) => {
                    // Never the line itself: it may hold a password, or bytes that a
                    // terminal would obey. A key is named only when it is libpq's own.
                    let key = setting
                        .iter()
                        .position(|&b| b == b'=')
                        .map(|at| &setting[..at])
                        .and_then(|key| std::str::from_utf8(key).ok())
                        .filter(|key| LIBPQ_KEYWORDS.contains(key))
                        .map(|key| format!("`{key}` "))
                        .unwrap_or_default();
                    return Err(Error::Conflict(format!(
                        "{path_for_messages} has a setting outside any [section] ({key}on line {} of the part alloydb-cred did not write); libpq would attach it to the section above it, so alloydb-cred will not add sections there: move it into a section or delete it",
                        n + 1
                    )));
                }
            }
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
        if !header_names(line.as_bytes()).is_empty()
            || matches!(libpq_line(line.as_bytes()), LibpqLine::Header(_))
        {
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
pub(crate) mod tests;
