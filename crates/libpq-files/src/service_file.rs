//! libpq's connection service file (`~/.pg_service.conf`).
//!
//! Each service the tool manages is one section framed by marker comments:
//!
//! ```text
//! # alloydb-cred begin service=prod (managed by alloydb-cred; edits here are overwritten)
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

use std::fmt::Write as _;

use crate::error::{Error, Result};
use crate::managed::{self, ManagedFile, Region};

const BEGIN_PREFIX: &str = "# alloydb-cred begin service=";
const BEGIN_SUFFIX: &str = " (managed by alloydb-cred; edits here are overwritten)";
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
pub const PGJDBC_KEYWORDS: &[&str] = &[
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

/// libpq's service-file line buffer was 256 bytes before PostgreSQL 14.
const MAX_LINE_BYTES: usize = 253;

/// One section the tool wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedSection {
    pub name: String,
    /// `keyword=value` pairs in file order.
    pub keywords: Vec<(String, String)>,
    /// Someone added lines that are not `keyword=value` (comments, odd keys) inside
    /// the frame; they are dropped at the next write, as the begin marker says.
    pub edited: bool,
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
        &self.name
    }

    /// A framed section: begin marker, `[name]`, `keyword=value` lines, end marker.
    fn parse_at(bytes: &[u8], start: usize) -> Option<(ManagedSection, usize)> {
        parse_section(bytes, start)
    }

    fn render_into(&self, out: &mut Vec<u8>) {
        let mut text = String::new();
        let _ = writeln!(text, "{BEGIN_PREFIX}{}{BEGIN_SUFFIX}", self.name);
        let _ = writeln!(text, "[{}]", self.name);
        for (key, value) in &self.keywords {
            let _ = writeln!(text, "{key}={value}");
        }
        let _ = writeln!(text, "{END_PREFIX}{}", self.name);
        out.extend_from_slice(text.as_bytes());
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
        if self.foreign_section_names().contains(&section.name) {
            return Err(Error::Conflict(format!(
                "{path_for_messages} already has a section [{}] that alloydb-cred did not write; it is left alone: rename the service in the alloydb-cred config, or delete or rename that section",
                section.name
            )));
        }
        for (key, value) in &section.keywords {
            if key.len() + value.len() + 1 > MAX_LINE_BYTES {
                return Err(Error::Invalid(format!(
                    "service {}: the line `{key}=…` would be {} bytes, longer than libpq before PostgreSQL 14 reads ({MAX_LINE_BYTES}); shorten it",
                    section.name,
                    key.len() + value.len() + 1
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
    let name = next_line()?
        .strip_prefix(BEGIN_PREFIX)?
        .strip_suffix(BEGIN_SUFFIX)?;
    let header = next_line()?;
    if name.is_empty() || header.strip_prefix('[')?.strip_suffix(']')? != name {
        return None;
    }
    let mut keywords = Vec::new();
    let mut edited = false;
    loop {
        let line = next_line()?;
        if line.strip_prefix(END_PREFIX) == Some(name) {
            let section = ManagedSection {
                name: name.to_string(),
                keywords,
                edited,
            };
            return Some((section, at));
        }
        // A section header inside the frame is the user's own section: the frame is
        // then not ours to rewrite.
        if line.trim_start().starts_with('[') {
            return None;
        }
        match line.split_once('=') {
            Some((key, value))
                if !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') =>
            {
                keywords.push((key.to_string(), value.to_string()));
            }
            _ => edited = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(name: &str) -> ManagedSection {
        ManagedSection {
            name: name.into(),
            keywords: vec![
                ("host".into(), "10.1.2.3".into()),
                ("port".into(), "5432".into()),
                ("user".into(), "kai@altostrat.com".into()),
            ],
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
        s.keywords.push(("passfile".into(), "/p".into()));
        s.keywords.push(("application_name".into(), "a".into()));
        assert_eq!(s.pgjdbc_rejects(), vec!["passfile", "application_name"]);
    }

    #[test]
    fn overlong_lines_are_refused() {
        let mut s = section("x");
        s.keywords
            .push(("options".into(), "-c x=".to_string() + &"y".repeat(300)));
        let mut file = ServiceFile::default();
        assert!(file.upsert(s, "svc").is_err());
    }
}
