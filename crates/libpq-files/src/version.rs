//! PostgreSQL release numbers, as `psql --version` and `pg_config --version` print them,
//! and what a libpq of that release can read.

use std::fmt;

/// A PostgreSQL release: `9.6.20` (before 10, the first two numbers name the major
/// release) or `15.18` (from 10 on, the first number does). Pre-releases (`17beta1`,
/// `18devel`) count as the major release's first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PgVersion {
    /// `(9, 6)` for 9.6.x, `(15, 0)` for 15.x.
    pub major: (u32, u32),
    /// The minor (patch) release within the major one.
    pub minor: u32,
}

/// The first minor release of each major release that reads password-file lines of any
/// length (the 2020 fix, "Teach libpq to handle arbitrary-length lines in .pgpass files",
/// was back-patched to these). Majors from 13 on have it from the start; majors before
/// 9.5 never got it.
const LONG_LINE_FIX: [((u32, u32), u32); 5] = [
    ((12, 0), 5),
    ((11, 0), 10),
    ((10, 0), 15),
    ((9, 6), 20),
    ((9, 5), 24),
];

impl PgVersion {
    /// Finds the release number in a program's `--version` output, e.g.
    /// `psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` or `PostgreSQL 12.4`.
    pub fn parse(text: &str) -> Option<PgVersion> {
        let after = text
            .split_once("PostgreSQL)")
            .or_else(|| text.split_once("PostgreSQL"))
            .map_or(text, |(_, rest)| rest);
        let word = after.split_whitespace().next()?;
        let numeric: String = word
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let mut numbers = numeric
            .split('.')
            .map(|n| n.parse::<u32>().ok())
            .collect::<Option<Vec<u32>>>()?
            .into_iter();
        let first = numbers.next()?;
        match first {
            0..=9 => Some(PgVersion {
                major: (first, numbers.next()?),
                minor: numbers.next().unwrap_or(0),
            }),
            _ => Some(PgVersion {
                major: (first, 0),
                minor: numbers.next().unwrap_or(0),
            }),
        }
    }

    /// Whether a libpq of this release reads password-file lines longer than
    /// [`crate::pgpass::OLD_LIBPQ_MAX_LINE_BYTES`] whole.
    pub fn reads_long_pgpass_lines(&self) -> bool {
        if self.major >= (13, 0) {
            return true;
        }
        LONG_LINE_FIX
            .iter()
            .find(|(major, _)| *major == self.major)
            .is_some_and(|(_, fixed)| self.minor >= *fixed)
    }

    /// The first release of this major release that has the long-line fix, if any.
    pub fn long_line_fix(&self) -> Option<PgVersion> {
        if self.major >= (13, 0) {
            return Some(*self);
        }
        LONG_LINE_FIX
            .iter()
            .find(|(major, _)| *major == self.major)
            .map(|&(major, minor)| PgVersion { major, minor })
    }
}

impl fmt::Display for PgVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.major {
            (major, 0) if major >= 10 => write!(f, "{major}.{}", self.minor),
            (major, sub) => write!(f, "{major}.{sub}.{}", self.minor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> PgVersion {
        PgVersion::parse(text).unwrap_or_else(|| panic!("{text}"))
    }

    #[test]
    fn parses_what_the_programs_print() {
        assert_eq!(
            v("psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)").to_string(),
            "15.18"
        );
        assert_eq!(v("PostgreSQL 9.6.20").to_string(), "9.6.20");
        assert_eq!(v("psql (PostgreSQL) 17beta1").to_string(), "17.0");
        assert_eq!(v("PostgreSQL 18devel").to_string(), "18.0");
        assert_eq!(v("psql (PostgreSQL) 12.4\n").to_string(), "12.4");
        assert_eq!(PgVersion::parse("psql: command not found"), None);
        assert_eq!(PgVersion::parse(""), None);
    }

    #[test]
    fn the_long_line_fix_by_release() {
        for (text, fixed) in [
            ("PostgreSQL 16.2", true),
            ("PostgreSQL 13.0", true),
            ("PostgreSQL 12.4", false),
            ("PostgreSQL 12.5", true),
            ("PostgreSQL 11.9", false),
            ("PostgreSQL 11.10", true),
            ("PostgreSQL 10.14", false),
            ("PostgreSQL 10.15", true),
            ("PostgreSQL 9.6.19", false),
            ("PostgreSQL 9.6.20", true),
            ("PostgreSQL 9.5.24", true),
            ("PostgreSQL 9.5.23", false),
            ("PostgreSQL 9.4.26", false),
        ] {
            assert_eq!(v(text).reads_long_pgpass_lines(), fixed, "{text}");
        }
        assert_eq!(
            v("PostgreSQL 11.2").long_line_fix().map(|f| f.to_string()),
            Some("11.10".into())
        );
        assert_eq!(v("PostgreSQL 9.4.1").long_line_fix(), None);
    }
}
