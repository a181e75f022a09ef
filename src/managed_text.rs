//! Finding the tool's own regions in a file it shares with the user.
//!
//! Both files work the same way: a region of ours starts with a line that begins with a
//! distinctive marker, and everything that is not a complete, well-formed region of ours
//! is the user's, to be kept byte for byte. Only lines starting with the marker are looked
//! at, found with a vectorised substring search: this scan is most of what a nothing-due
//! refresh does.

/// A file split into our regions (parsed) and the user's bytes (in order).
pub struct Split<T> {
    pub managed: Vec<T>,
    pub foreign: Vec<u8>,
}

/// Splits `bytes`. `parse(bytes, start)` reads one region beginning at `start` (a line
/// that starts with `marker`) and returns it with the offset just past it, or `None` when
/// it is not exactly ours, in which case its lines stay the user's. With `keep_foreign`
/// false the user's bytes are skipped, not copied (planning and `status` need only ours).
pub fn split<T>(
    bytes: &[u8],
    marker: &str,
    keep_foreign: bool,
    parse: impl Fn(&[u8], usize) -> Option<(T, usize)>,
) -> Split<T> {
    let mut managed = Vec::new();
    let mut foreign = Vec::with_capacity(if keep_foreign { bytes.len() } else { 0 });
    let mut copied = 0;
    for start in line_starts_with(bytes, marker.as_bytes()) {
        if start < copied {
            continue;
        }
        if let Some((region, end)) = parse(bytes, start) {
            if keep_foreign {
                foreign.extend_from_slice(&bytes[copied..start]);
            }
            managed.push(region);
            copied = end;
        }
    }
    if keep_foreign {
        foreign.extend_from_slice(&bytes[copied..]);
    }
    Split { managed, foreign }
}

/// Offsets of the lines of `bytes` that start with `prefix`.
fn line_starts_with<'a>(bytes: &'a [u8], prefix: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    memchr::memmem::find_iter(bytes, prefix).filter(move |&at| at == 0 || bytes[at - 1] == b'\n')
}

/// The offset just past the newline ending the line that starts at `start`, or `None`
/// when that line has no newline (our lines always have one).
pub fn line_end(bytes: &[u8], start: usize) -> Option<usize> {
    memchr::memchr(b'\n', bytes.get(start..)?).map(|i| start + i + 1)
}

/// The line starting at `start` without its newline, as UTF-8, and the offset after it.
pub fn line_at(bytes: &[u8], start: usize) -> Option<(&str, usize)> {
    let end = line_end(bytes, start)?;
    let text = std::str::from_utf8(&bytes[start..end - 1]).ok()?;
    Some((text, end))
}
