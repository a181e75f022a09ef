//! The short digests marker comments carry. They must agree across builds, platforms and
//! releases (a changed digest would disown every entry already written), so they use
//! FNV-1a, whose values are fixed, rather than std's hasher, which may change.

use std::fmt;
use std::hash::Hasher;

/// The low 32 bits of FNV-1a 64 over `bytes`, as 8 hex digits: short enough for a marker
/// comment. Not for secrets: where one is digested (an entry line), only these 32 bits
/// are kept, which reveal nothing useful.
pub(crate) fn short(bytes: &[u8]) -> String {
    format!("{:08x}", fnv32(bytes))
}

/// The value [`short`] writes, as a number.
pub(crate) fn fnv32(bytes: &[u8]) -> u32 {
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(bytes);
    (hasher.finish() & 0xffff_ffff) as u32
}

/// Reads what [`short`] writes: exactly 8 hex digits.
pub(crate) fn parse_short(text: &str) -> Option<u32> {
    if text.len() != 8 {
        return None;
    }
    // By hand rather than `from_str_radix`, which also takes a sign: three of these are
    // read per entry on every pass.
    text.bytes().try_fold(0u32, |value, b| {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return None,
        };
        Some(value << 4 | u32::from(digit))
    })
}

/// A short digest kept in marker comments: of whatever decides which token an entry holds
/// (`cred=`: when the caller's tag differs, the entry is stale whatever its expiry says),
/// and of the configuration that owns a region (`owner=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(u32);

impl Tag {
    /// The tag of a stable description (the caller must make sure the description does
    /// not change between releases for the same settings).
    pub fn of(description: &[u8]) -> Tag {
        Tag(fnv32(description))
    }

    /// Reads a tag from a marker: exactly 8 hex digits.
    pub(crate) fn parse(text: &str) -> Option<Tag> {
        parse_short(text).map(Tag)
    }

    /// The tag as [`Display`](fmt::Display) writes it, without the formatting machinery:
    /// the nothing-due pass compares one per service.
    pub(crate) fn hex(&self) -> [u8; 8] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0; 8];
        for (i, digit) in out.iter_mut().enumerate() {
            *digit = DIGITS[((self.0 >> (28 - 4 * i)) & 0xf) as usize];
        }
        out
    }
}

/// As written in markers: 8 lower-case hex digits.
impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_what_display_writes() {
        for tag in [
            Tag(0),
            Tag(0xdead_beef),
            Tag(0x0000_00a0),
            Tag(u32::MAX),
            Tag::of(b"x"),
        ] {
            assert_eq!(String::from_utf8_lossy(&tag.hex()), tag.to_string());
        }
    }

    #[test]
    fn values_are_fnv1a_and_stable() {
        assert_eq!(short(b""), "84222325");
        assert_eq!(short(b"a"), "8601ec8c");
        assert_eq!(parse_short("8601ec8c"), Some(fnv32(b"a")));
        assert_eq!(parse_short("+601ec8c"), None);
        assert_eq!(parse_short("ffffffff"), Some(u32::MAX));
        assert_eq!(parse_short("00000000"), Some(0));
        assert_eq!(parse_short("0000é00"), None);
        assert_eq!(Tag::of(b"a").to_string(), "8601ec8c");
        assert_eq!(
            Tag::parse("8601EC8C").map(|t| t.to_string()).as_deref(),
            Some("8601ec8c")
        );
        assert!(Tag::parse("0123abcd").is_some());
        assert!(Tag::parse("0123abc").is_none());
        assert!(Tag::parse("0123abcg").is_none());
    }
}
