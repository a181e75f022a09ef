//! libpq's password file (`~/.pgpass`), read and written by libpq's rules.
//!
//! The tool owns only *managed entries*: a marker comment naming the service and the
//! token's expiry, followed by one `host:port:*:user:token` line. Managed entries are
//! recognised anywhere in the file, and always written as one block at the top, because
//! every reader takes the first matching line. All other bytes are *foreign*: they are
//! kept exactly as found, in order (comments, CRLF, blank lines, non-UTF-8, a missing
//! final newline). Removing every managed entry therefore gives back the original bytes.
//!
//! Marker comments start in column 0 and contain no `:` (node-postgres parses column-0
//! comment lines as data), so the expiry is ISO 8601 basic UTC: `20261129T010203Z`.
//!
//! ```text
//! # alloydb-cred service=prod expires=20261129T010203Z cred=1f0c9a2e sum=6b1d04c7 owner=5d41402a
//! 10.1.2.3:5432:*:kai@altostrat.com:ya29.…
//! ```
//!
//! `cred` is a digest of the credential settings (a changed credential makes the entry
//! due); `sum` is a digest of the entry line itself, so a marker never claims a line it
//! did not write — say, a user's own line that ended up under it after a hand edit;
//! `owner` is a digest of the configuration that wrote it, so two configurations sharing
//! one file can tell their entries apart (markers written before it existed have none).
//!
//! Entries are ordered freshest first: when two services share host, port and user,
//! libpq's first match is then the token with the most time left.

use std::borrow::Cow;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use crate::digest::{self, Tag};
use crate::managed::{self, ManagedFile, Region};
use crate::password::Password;
use crate::value::{Host, Role, ServiceName, check_password};

const MARKER_PREFIX: &str = "# alloydb-cred service=";
const MARKER_EXPIRES: &str = " expires=";
const MARKER_CRED: &str = " cred=";
const MARKER_SUM: &str = " sum=";
const MARKER_OWNER: &str = " owner=";

/// One token the tool wrote for one service. Every field is a checked type, so an entry
/// always renders as exactly one marker line and one five-field line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedEntry {
    pub service: ServiceName,
    pub expires_at: Timestamp,
    pub host: Host,
    pub port: u16,
    pub user: Role,
    pub password: Password,
    /// What minted the token.
    pub credential: Tag,
    /// The configuration that wrote the entry; `None` for entries written before
    /// markers named one.
    pub owner: Option<Tag>,
}

/// A parsed password file: the managed entries and everything else, byte for byte.
pub type PgpassFile = ManagedFile<ManagedEntry>;

impl ManagedFile<ManagedEntry> {
    /// Replaces the entry of `entry.service` (all of them, if a hand edit duplicated it)
    /// or adds it. The block stays ordered by expiry, latest first (then by service, so
    /// output is deterministic): libpq takes the first match.
    pub fn upsert(&mut self, entry: ManagedEntry) {
        self.insert_ordered(entry, |e| {
            (std::cmp::Reverse(e.expires_at), e.service.clone())
        });
    }

    /// The user's own lines that match the same connection as a managed entry (host,
    /// port and user, literally or by `*`; any database). libpq never reads them for that
    /// connection, since the managed block comes first; a reader that takes the last match
    /// (node-postgres) would. Line numbers are those of the rendered file.
    pub fn shadowed(&self) -> Vec<Shadowed> {
        let mut found = Vec::new();
        let managed_lines = 2 * self.managed().len();
        for (index, line) in self.foreign().split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            let Some(fields) = split_fields(line) else {
                continue;
            };
            // Shown in warnings and `status`: a control character from the file (an
            // escape sequence) must not reach a terminal.
            let field = |i: usize| printable(&fields[i]);
            let matches =
                |wanted: &str, i: usize| *fields[i] == *b"*" || *fields[i] == *wanted.as_bytes();
            for entry in self.managed() {
                if matches(entry.host.as_str(), 0)
                    && matches(&entry.port.to_string(), 1)
                    && matches(entry.user.as_str(), 3)
                {
                    found.push(Shadowed {
                        service: entry.service.clone(),
                        line: managed_lines + index + 1,
                        connection: format!("{}:{}:{}:{}", field(0), field(1), field(2), field(3)),
                    });
                }
            }
        }
        found
    }
}

/// Bytes from the user's file as text for messages and `status`: a control character
/// (an escape sequence a terminal would obey) becomes `?`.
fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A user's line that a managed entry hides from libpq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadowed {
    /// The service whose entry hides it.
    pub service: ServiceName,
    /// Its line number in the file as rendered (1-based).
    pub line: usize,
    /// Its first four fields, `host:port:database:user`, unescaped; never the password.
    pub connection: String,
}

impl Region for ManagedEntry {
    const MARKER: &'static str = MARKER_PREFIX;

    fn name(&self) -> &str {
        self.service.as_str()
    }

    fn owner(&self) -> Option<&Tag> {
        self.owner.as_ref()
    }

    /// A marker line and the entry line under it.
    fn parse_at(bytes: &[u8], start: usize) -> Option<(ManagedEntry, usize)> {
        let (view, end) = EntryView::parse_at(bytes, start)?;
        // The view checked every field; making the owned values cannot fail.
        let entry = ManagedEntry {
            service: ServiceName::new(view.service).ok()?,
            expires_at: view.expires_at,
            host: Host::new(&view.host).ok()?,
            port: view.port,
            user: Role::new(&view.user).ok()?,
            password: Password::new(&view.password).ok()?,
            credential: view.credential,
            owner: view.owner,
        };
        Some((entry, end))
    }

    fn render_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(render_entry(self).as_bytes());
    }
}

/// A managed entry as it stands in a file, borrowing from the file's bytes: what the
/// nothing-due pass reads, without copying a token or making a value per field. It is
/// accepted by exactly the rules [`ManagedEntry`] is (a view exists where an entry would).
#[derive(Debug, Clone)]
pub struct EntryView<'a> {
    pub service: &'a str,
    pub expires_at: Timestamp,
    pub host: Cow<'a, str>,
    pub port: u16,
    pub user: Cow<'a, str>,
    password: Cow<'a, str>,
    pub credential: Tag,
    pub owner: Option<Tag>,
}

impl<'a> EntryView<'a> {
    /// Every managed entry of `bytes`, in file order.
    pub fn all_in(bytes: &'a [u8]) -> Vec<EntryView<'a>> {
        managed::scan(bytes, MARKER_PREFIX, EntryView::parse_at)
    }

    fn parse_at(bytes: &'a [u8], start: usize) -> Option<(EntryView<'a>, usize)> {
        let (marker, entry_start) = managed::line_at(bytes, start)?;
        let marker = parse_marker(marker)?;
        let entry_end = managed::line_end(bytes, entry_start)?;
        let line = &bytes[entry_start..entry_end - 1];
        if digest::fnv32(line) != marker.sum {
            return None;
        }
        let [host, port, database, user, password] = split_fields(line)?;
        if *database != *b"*" {
            return None;
        }
        let text = |field: Cow<'a, [u8]>| -> Option<Cow<'a, str>> {
            match field {
                Cow::Borrowed(b) => std::str::from_utf8(b).ok().map(Cow::Borrowed),
                Cow::Owned(b) => String::from_utf8(b).ok().map(Cow::Owned),
            }
        };
        let (host, user, password) = (text(host)?, text(user)?, text(password)?);
        Host::check(&host).ok()?;
        Role::check(&user).ok()?;
        check_password(&password).ok()?;
        let view = EntryView {
            service: marker.service,
            expires_at: marker.expires_at,
            host,
            port: std::str::from_utf8(&port).ok()?.parse().ok()?,
            user,
            password,
            credential: marker.credential,
            owner: marker.owner,
        };
        Some((view, entry_end))
    }
}

/// Old libpq releases (before 13.0, 12.5, 11.10, 10.15, 9.6.20 and 9.5.24) read a
/// password-file line into a buffer of 320 bytes: a longer line is split there, and a
/// long token never matches. See [`crate::version::PgVersion::reads_long_pgpass_lines`].
pub const OLD_LIBPQ_MAX_LINE_BYTES: usize = 319;

impl ManagedEntry {
    /// The length in bytes of the entry's line as written, without its newline: what
    /// to hold against [`OLD_LIBPQ_MAX_LINE_BYTES`].
    pub fn line_bytes(&self) -> usize {
        entry_line(self).len()
    }
}

/// `host:port:*:user:password`, escaped.
fn entry_line(entry: &ManagedEntry) -> String {
    format!(
        "{}:{}:*:{}:{}",
        escape(entry.host.as_str()),
        entry.port,
        escape(entry.user.as_str()),
        escape(entry.password.expose()),
    )
}

fn render_entry(entry: &ManagedEntry) -> String {
    let line = entry_line(entry);
    let owner = entry
        .owner
        .as_ref()
        .map(|o| format!("{MARKER_OWNER}{o}"))
        .unwrap_or_default();
    format!(
        "{MARKER_PREFIX}{}{MARKER_EXPIRES}{}{MARKER_CRED}{}{MARKER_SUM}{}{owner}\n{line}\n",
        entry.service,
        basic_utc(entry.expires_at),
        entry.credential,
        digest::short(line.as_bytes()),
    )
}

/// What a marker line says.
struct Marker<'a> {
    service: &'a str,
    expires_at: Timestamp,
    credential: Tag,
    sum: u32,
    owner: Option<Tag>,
}

/// `# alloydb-cred service=S expires=E cred=C sum=X [owner=O]`: words after the prefix,
/// in this order (a service name has no white space).
fn parse_marker(text: &str) -> Option<Marker<'_>> {
    let rest = text.strip_prefix(MARKER_PREFIX)?;
    let mut words = rest.split(' ');
    let service = words.next()?;
    let expires = words.next()?.strip_prefix(&MARKER_EXPIRES[1..])?;
    let credential = words.next()?.strip_prefix(&MARKER_CRED[1..])?;
    let sum = words.next()?.strip_prefix(&MARKER_SUM[1..])?;
    let owner = match words.next() {
        Some(word) => Some(Tag::parse(word.strip_prefix(&MARKER_OWNER[1..])?)?),
        None => None,
    };
    if words.next().is_some() {
        return None;
    }
    ServiceName::check(service).ok()?;
    Some(Marker {
        service,
        expires_at: parse_basic_utc(expires)?,
        credential: Tag::parse(credential)?,
        sum: digest::parse_short(sum)?,
        owner,
    })
}

/// Splits a line into its five unescaped fields, or `None` when it has another count.
/// Fields without a `\` are borrowed, not copied: a token is most of the line.
fn split_fields(body: &[u8]) -> Option<[Cow<'_, [u8]>; 5]> {
    let mut fields: [Cow<'_, [u8]>; 5] = Default::default();
    let mut index = 0;
    let mut start = 0;
    let mut owned: Option<Vec<u8>> = None;
    let mut at = 0;
    loop {
        match memchr::memchr2(b':', b'\\', &body[at..]).map(|i| at + i) {
            Some(i) if body[i] == b'\\' => {
                // An escape: this field needs its own copy, without the backslashes.
                let next = *body.get(i + 1)?;
                let buf = owned.get_or_insert_with(Vec::new);
                buf.extend_from_slice(&body[start..i]);
                buf.push(next);
                start = i + 2;
                at = i + 2;
            }
            found => {
                let end = found.unwrap_or(body.len());
                let field = match owned.take() {
                    Some(mut buf) => {
                        buf.extend_from_slice(&body[start..end]);
                        Cow::Owned(buf)
                    }
                    None => Cow::Borrowed(&body[start..end]),
                };
                *fields.get_mut(index)? = field;
                index += 1;
                match found {
                    Some(i) => {
                        start = i + 1;
                        at = i + 1;
                    }
                    None => return (index == 5).then_some(fields),
                }
            }
        }
    }
}

/// Escapes a field for the password file: `\` as `\\` and `:` as `\:`, nothing else
/// (every reader unescapes exactly these two).
pub fn escape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    for c in field.chars() {
        if c == '\\' || c == ':' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `20261129T010203Z`: ISO 8601 basic format, UTC, whole seconds. The marker must not
/// contain `:`, which node-postgres would read as a field separator.
fn basic_utc(ts: Timestamp) -> String {
    ts.to_zoned(TimeZone::UTC)
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// Parses what [`basic_utc`] writes; anything else is `None`.
fn parse_basic_utc(text: &str) -> Option<Timestamp> {
    let body = text.strip_suffix('Z')?;
    if body.len() != 15 || body.as_bytes()[8] != b'T' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = body.get(r)?;
        if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let dt = DateTime::new(
        i16::try_from(digits(0..4)?).ok()?,
        i8::try_from(digits(4..6)?).ok()?,
        i8::try_from(digits(6..8)?).ok()?,
        i8::try_from(digits(9..11)?).ok()?,
        i8::try_from(digits(11..13)?).ok()?,
        i8::try_from(digits(13..15)?).ok()?,
        0,
    )
    .ok()?;
    dt.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp())
}

/// The password libpq would use for a connection, by libpq's own matching: lines in
/// order, `#` comments skipped, trailing CR/LF ignored, `*` matching any value, escapes
/// honoured, the first match wins. The tests use it to check
/// what clients will really see.
pub fn lookup(bytes: &[u8], host: &str, port: u16, database: &str, user: &str) -> Option<Vec<u8>> {
    first_match(bytes, host, port, database, user).map(|m| m.password)
}

/// The line libpq takes for a connection (see [`lookup`]), and its password.
#[derive(Clone, PartialEq, Eq)]
pub struct FirstMatch {
    /// The line's number in the file (1-based).
    pub line: usize,
    /// Its first four fields, `host:port:database:user`, unescaped; never the password.
    pub connection: String,
    pub password: Vec<u8>,
}

impl std::fmt::Debug for FirstMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstMatch")
            .field("line", &self.line)
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

/// Which line libpq takes for a connection, by the rules of [`lookup`]: so that a
/// diagnosis can name the line that comes first when it is not the expected one.
pub fn first_match(
    bytes: &[u8],
    host: &str,
    port: u16,
    database: &str,
    user: &str,
) -> Option<FirstMatch> {
    let port = port.to_string();
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let mut line = line;
        while let Some(rest) = line.strip_suffix(b"\r") {
            line = rest;
        }
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        let mut rest = line;
        let mut matched = true;
        for wanted in [host, port.as_str(), database, user] {
            match match_field(rest, wanted.as_bytes()) {
                Some(after) => rest = after,
                None => {
                    matched = false;
                    break;
                }
            }
        }
        if matched {
            // The password runs to the next unescaped ':' or the end of the line.
            let mut password = Vec::new();
            let mut bytes = rest.iter();
            while let Some(&b) = bytes.next() {
                match b {
                    b'\\' => match bytes.next() {
                        Some(&next) => password.push(next),
                        None => break,
                    },
                    b':' => break,
                    _ => password.push(b),
                }
            }
            let fields = &line[..line.len() - rest.len() - 1];
            return Some(FirstMatch {
                line: index + 1,
                connection: printable(&unescape(fields)),
                password,
            });
        }
    }
    None
}

/// Removes libpq's `\` escapes (keeping the escaped `:` as a plain character).
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut bytes = field.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'\\' => out.extend(bytes.next()),
            _ => out.push(b),
        }
    }
    out
}

/// Matches one field at the start of `line` (libpq's `pwdfMatchesString`), returning
/// what follows its `:`.
fn match_field<'a>(line: &'a [u8], wanted: &[u8]) -> Option<&'a [u8]> {
    if let Some(rest) = line.strip_prefix(b"*:") {
        return Some(rest);
    }
    let mut i = 0;
    let mut w = 0;
    while i < line.len() {
        let mut b = line[i];
        if b == b':' {
            return (w == wanted.len()).then(|| &line[i + 1..]);
        }
        if b == b'\\' && i + 1 < line.len() {
            i += 1;
            b = line[i];
        }
        if w >= wanted.len() || wanted[w] != b {
            return None;
        }
        i += 1;
        w += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn ok<T>(value: Result<T, crate::value::InvalidValue>) -> T {
        value.unwrap_or_else(|e| panic!("{e}"))
    }

    /// A forged entry: a marker whose sum matches `line`, so only the value checks stand
    /// between the line and the plan.
    fn forged(line: &str) -> Vec<u8> {
        format!(
            "{MARKER_PREFIX}prod{MARKER_EXPIRES}20261129T010203Z{MARKER_CRED}0123abcd{MARKER_SUM}{}\n{line}\n",
            digest::short(line.as_bytes())
        )
        .into_bytes()
    }

    #[test]
    fn forged_lines_with_matching_sums_are_refused_by_views_and_parser_alike() {
        let good = forged("h:5432:*:u:tok");
        assert_eq!(EntryView::all_in(&good).len(), 1);
        assert_eq!(PgpassFile::parse(&good).managed().len(), 1);
        for line in [
            "h:5432:*:u:tok en",    // white space in the password
            "h:5432:*:u:tok\ten",   // a control character
            "h:5432:*:u\x01:tok",   // in the user
            "h h:5432:*:u:tok",     // in the host
            "h:5432:*:u:",          // an empty password
            "h:5432:db:u:tok",      // a database other than `*`
            "h:99999:*:u:tok",      // a port out of range
            "h:5432:*:u:tok:extra", // six fields
        ] {
            let bytes = forged(line);
            assert!(EntryView::all_in(&bytes).is_empty(), "{line:?}");
            assert!(PgpassFile::parse(&bytes).managed().is_empty(), "{line:?}");
        }
    }

    fn entry(service: &str, host: &str, user: &str, token: &str) -> ManagedEntry {
        ManagedEntry {
            service: ok(ServiceName::new(service)),
            expires_at: ts("2026-11-29T01:02:03Z"),
            host: ok(Host::new(host)),
            port: 5432,
            user: ok(Role::new(user)),
            password: ok(Password::new(token)),
            credential: Tag::parse("0123abcd").unwrap_or_else(|| Tag::of(b"")),
            owner: None,
        }
    }

    #[test]
    fn renders_marker_without_colons_and_escaped_fields() {
        let mut file = PgpassFile::parse(b"");
        file.upsert(entry("prod", "::1", "kai@altostrat.com", "to:k\\en"));
        let text = String::from_utf8(file.render()).unwrap_or_default();
        assert_eq!(
            text,
            "# alloydb-cred service=prod expires=20261129T010203Z cred=0123abcd sum=e63f59c7\n\\:\\:1:5432:*:kai@altostrat.com:to\\:k\\\\en\n"
        );
        let marker = text.lines().next().unwrap_or_default();
        assert!(!marker.contains(':'));
    }

    #[test]
    fn foreign_bytes_are_kept_and_removal_restores_them() {
        let original: &[u8] = b"# mine\r\nh:1:db:u:p\r\n\n\xff\xfe odd\nlast:line:no:newline:x";
        let mut file = PgpassFile::parse(original);
        assert!(file.managed().is_empty());
        file.upsert(entry("b", "h2", "u", "t1"));
        file.upsert(entry("a", "h1", "u", "t2"));
        let written = file.render();
        assert!(written.ends_with(original));
        let mut again = PgpassFile::parse(&written);
        assert_eq!(again.managed().len(), 2);
        assert_eq!(
            again.managed()[0].service,
            "a",
            "same expiry: by service name"
        );
        assert_eq!(again.remove_all(), 2);
        assert_eq!(again.render(), original);
    }

    #[test]
    fn managed_entries_are_found_anywhere_and_moved_to_the_top() {
        let mut ours = PgpassFile::default();
        ours.upsert(entry("prod", "h", "u", "tok"));
        let pair = ours.render();
        let text = [&b"x:1:*:u:p\n"[..], &pair, b"y:2:*:u:q\n"].concat();
        let file = PgpassFile::parse(&text);
        assert_eq!(file.managed().len(), 1);
        assert_eq!(file.foreign(), b"x:1:*:u:p\ny:2:*:u:q\n");
        assert!(file.render().starts_with(b"# alloydb-cred service=prod"));
    }

    #[test]
    fn a_marker_never_claims_a_line_it_did_not_write() {
        // The user removed our token line by hand; their own line now sits under the
        // marker. The sum does not match, so both lines stay theirs.
        let mut ours = PgpassFile::default();
        ours.upsert(entry("prod", "h", "u", "tok"));
        let rendered = ours.render();
        let marker_end = rendered
            .iter()
            .position(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let text = [&rendered[..marker_end], b"myhost:5432:*:bob:bobspassword\n"].concat();
        let mut file = PgpassFile::parse(&text);
        assert!(file.managed().is_empty());
        file.remove_all();
        assert_eq!(file.render(), text);
    }

    #[test]
    fn freshest_entry_comes_first() {
        let mut file = PgpassFile::default();
        let mut older = entry("a", "h", "u", "old");
        older.expires_at = ts("2026-11-29T00:00:00Z");
        file.upsert(older);
        file.upsert(entry("b", "h", "u", "new"));
        let written = file.render();
        assert_eq!(
            lookup(&written, "h", 5432, "db", "u").as_deref(),
            Some(&b"new"[..])
        );
    }

    #[test]
    fn damaged_pairs_stay_foreign() {
        // Marker followed by a 4-field line, a marker at end of file, bad expiry.
        let text: &[u8] = b"# alloydb-cred service=a expires=20261129T010203Z\nh:1:*:u\n# alloydb-cred service=b expires=2026-11-29\nh:1:*:u:p\n# alloydb-cred service=c expires=20261129T010203Z\n";
        let file = PgpassFile::parse(text);
        assert!(file.managed().is_empty());
        assert_eq!(file.render(), text);
    }

    #[test]
    fn lookup_follows_libpq_rules() {
        let text = b"# c:o:m:m:ent\n*:5432:*:bob:first\r\nh:5432:*:bob:second\n\\:\\:1:5432:*:kai:v6\\:pw\n";
        assert_eq!(
            lookup(text, "h", 5432, "db", "bob").as_deref(),
            Some(&b"first"[..])
        );
        assert_eq!(
            lookup(text, "::1", 5432, "db", "kai").as_deref(),
            Some(&b"v6:pw"[..])
        );
        assert_eq!(lookup(text, "::1", 5433, "db", "kai"), None);
    }

    #[test]
    fn user_lines_for_the_same_connection_are_found_without_their_passwords() {
        let foreign = b"# mine\r\nh:5432:appdb:u:SECRET1\r\nother:5432:*:u:x\n*:*:*:u:SECRET2\nh:5432:*:v:y\nh:5432:\x1b[2J:u:z\n";
        let mut file = PgpassFile::parse(foreign);
        file.upsert(entry("prod", "h", "u", "tok"));
        let shadowed = file.shadowed();
        assert_eq!(
            shadowed
                .iter()
                .map(|s| (s.service.as_str(), s.line, s.connection.as_str()))
                .collect::<Vec<_>>(),
            [
                ("prod", 4, "h:5432:appdb:u"),
                ("prod", 6, "*:*:*:u"),
                ("prod", 8, "h:5432:?[2J:u")
            ]
        );
        let rendered = file.render();
        let lines: Vec<&[u8]> = rendered.split(|&b| b == b'\n').collect();
        assert!(lines[3].starts_with(b"h:5432:appdb:u:"));
        assert!(!format!("{shadowed:?}").contains("SECRET"));
    }

    #[test]
    fn first_match_names_the_line_libpq_takes() {
        let text = b"# c\r\nother:1:*:u:x\r\n*:5432:*:b\\:ob:SECRETPW\n\\:\\:1:5432:*:kai:v6\n";
        let found = first_match(text, "h", 5432, "db", "b:ob");
        assert_eq!(
            found
                .as_ref()
                .map(|m| (m.line, m.connection.as_str(), &m.password[..])),
            Some((3, "*:5432:*:b:ob", &b"SECRETPW"[..]))
        );
        assert!(
            !format!("{found:?}").contains("SECRETPW"),
            "no password in Debug"
        );
        let v6 = first_match(text, "::1", 5432, "db", "kai");
        assert_eq!(
            v6.map(|m| (m.line, m.connection)),
            Some((4, "::1:5432:*:kai".into()))
        );
        assert_eq!(first_match(text, "h", 5433, "db", "kai"), None);
    }

    #[test]
    fn line_bytes_counts_the_escaped_line() {
        let e = entry("prod", "::1", "u", "tok");
        assert_eq!(e.line_bytes(), "\\:\\:1:5432:*:u:tok".len());
    }

    #[test]
    fn basic_utc_round_trip() {
        let t = ts("2026-11-29T01:02:03Z");
        assert_eq!(basic_utc(t), "20261129T010203Z");
        assert_eq!(parse_basic_utc("20261129T010203Z"), Some(t));
        assert_eq!(parse_basic_utc("20261129T010203"), None);
        assert_eq!(parse_basic_utc("2026-11-29T01Z"), None);
        assert_eq!(parse_basic_utc("20261329T010203Z"), None);
    }

    #[test]
    fn upsert_replaces_and_removal_is_selective_by_service_and_owner() {
        let mut file = PgpassFile::default();
        file.upsert(entry("a", "h", "u", "1"));
        file.upsert(entry("b", "h", "u", "2"));
        file.upsert(entry("a", "h", "u", "3"));
        assert_eq!(file.managed().len(), 2);
        assert_eq!(file.get("a").map(|e| e.password.expose()), Some("3"));
        let mine = Tag::of(b"mine");
        assert_eq!(file.remove_owned(&mine, Some(&["a", "zzz"])), 1);
        assert_eq!(file.managed().len(), 1);
        let mut theirs = entry("c", "h", "u", "4");
        theirs.owner = Some(Tag::of(b"theirs"));
        file.upsert(theirs);
        assert_eq!(
            file.remove_owned(&mine, None),
            1,
            "b has no owner: anyone's"
        );
        assert_eq!(
            file.managed().len(),
            1,
            "c belongs to another configuration"
        );
        assert_eq!(file.remove_owned(&Tag::of(b"theirs"), None), 1);
    }
}
