//! How libpq, and pgjdbc, read the lines of a service file: which lines are section
//! headers, and of which service.

/// What libpq makes of one service-file line (`parseServiceFile` in fe-connect.c).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum LibpqLine<'a> {
    /// Empty, blanks only, or a comment.
    Blank,
    /// A line starting with `[`: it ends the section before it, and starts the section
    /// of the name inside (`None`: no `]`, a section no service can select).
    Header(Option<&'a [u8]>),
    /// Anything else, blanks trimmed: `keyword=value`, or a syntax error.
    Setting(&'a [u8]),
}

/// libpq reads a line as a C string (up to its first NUL), trims `isspace` blanks at
/// both ends, skips it if empty or starting with `#`, and takes it as the header of
/// service S when it starts with `[`, then S, then `]`. Whatever follows that `]` is
/// ignored: `[prod] # note`, `[prod]x` and `[prod]]` all select `prod`. Service names
/// never hold a `]`, so the name a header selects is what lies before its first `]`.
pub(super) fn libpq_line(line: &[u8]) -> LibpqLine<'_> {
    let line = match memchr::memchr(0, line) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let start = line.iter().position(|&b| !c_isspace(b));
    let end = line.iter().rposition(|&b| !c_isspace(b));
    let line = match (start, end) {
        (Some(start), Some(end)) => &line[start..=end],
        _ => return LibpqLine::Blank,
    };
    match line.first() {
        Some(b'#') => LibpqLine::Blank,
        Some(b'[') => {
            let inner = &line[1..];
            LibpqLine::Header(memchr::memchr(b']', inner).map(|close| &inner[..close]))
        }
        _ => LibpqLine::Setting(line),
    }
}

/// `isspace` in the C locale, which libpq runs its parser in.
fn c_isspace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The section names one line (split at `\n`) is a header of, for libpq and for pgjdbc;
/// either reader taking it for a service makes that section the user's.
///
/// pgjdbc reads differently: it splits lines at a lone `\r` too, trims every byte up to
/// the space (control characters included), and takes only a whole line `[name]` as a
/// header, with `name` running to the *last* `]`. So `[prod] # note` and `[prod]x` are
/// not headers there (inside a selected section, pgjdbc rejects them as syntax errors),
/// `[prod]]` is the section `prod]`, and `\x01[prod]` or `[a]\r[prod]` select `prod` for
/// pgjdbc but not for libpq.
pub(super) fn header_names(line: &[u8]) -> Vec<&[u8]> {
    let mut names = Vec::new();
    if let LibpqLine::Header(Some(name)) = libpq_line(line) {
        names.push(name);
    }
    for piece in line.split(|&b| b == b'\r') {
        let start = piece.iter().position(|&b| b > b' ');
        let end = piece.iter().rposition(|&b| b > b' ');
        let (Some(start), Some(end)) = (start, end) else {
            continue;
        };
        let name = piece[start..=end]
            .strip_prefix(b"[")
            .and_then(|rest| rest.strip_suffix(b"]"));
        if let Some(name) = name.filter(|name| !names.contains(name)) {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::service_file::ServiceFile;
    use crate::service_file::tests::section;

    #[test]
    fn a_header_libpq_reads_as_the_users_section_is_a_clash() {
        // Each of these selects `prod` in libpq (or, the last three, in pgjdbc).
        let headers: &[&[u8]] = &[
            b"[prod]",
            b"[prod] # my comment",
            b"[prod]x",
            b"[prod]]",
            b"[prod][other]",
            b"   [prod]",
            b"\t [prod]  ",
            b"\x0b\x0c[prod]\r",
            b"[prod]\0 ignored by libpq",
            b"\x01[prod]",
            b"[old]\r[prod]",
            b"[prod]\x01",
            b"\0[prod]",
        ];
        for header in headers {
            let mut text = header.to_vec();
            text.extend_from_slice(b"\nhost=mine\n");
            let mut file = ServiceFile::parse(&text);
            let err = file.upsert(section("prod"), "svc");
            assert!(
                matches!(err, Err(Error::Conflict(_))),
                "{:?} is the user's prod",
                String::from_utf8_lossy(header)
            );
            assert_eq!(file.render(), text, "nothing changes");
        }
    }

    #[test]
    fn lines_that_select_no_prod_are_not_a_clash() {
        let lines: &[&[u8]] = &[
            b"[prodx]", b"[ prod]", b"[prod", b"#[prod]", b"x[prod]", b"[pro]d]",
        ];
        for line in lines {
            let mut text = b"[first]\n".to_vec();
            text.extend_from_slice(line);
            text.extend_from_slice(b"\n");
            let mut file = ServiceFile::parse(&text);
            assert!(
                file.upsert(section("prod"), "svc").is_ok(),
                "{:?} is not prod",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn libpq_lines_are_classified_as_libpq_reads_them() {
        assert_eq!(libpq_line(b"  # c"), LibpqLine::Blank);
        assert_eq!(libpq_line(b"\x0b\r"), LibpqLine::Blank);
        assert_eq!(libpq_line(b"\0[a]"), LibpqLine::Blank);
        assert_eq!(libpq_line(b" [a] x"), LibpqLine::Header(Some(&b"a"[..])));
        assert_eq!(libpq_line(b"[a"), LibpqLine::Header(None));
        assert_eq!(libpq_line(b" k=v \r"), LibpqLine::Setting(&b"k=v"[..]));
        // Not C blanks: U+00A0 and \x01 start a setting line for libpq.
        assert_eq!(
            libpq_line("\u{a0}[a]".as_bytes()),
            LibpqLine::Setting("\u{a0}[a]".as_bytes())
        );
        assert_eq!(
            ServiceFile::parse(b"[a] #\n[b]]\n[a]\n\x01[c]\n").foreign_section_names(),
            vec!["a", "b", "b]", "c"]
        );
    }
}
