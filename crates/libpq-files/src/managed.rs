//! A file shared with the user: the helper's own regions, and everything else.
//!
//! Both files work the same way. A region of ours starts with a line that begins with a
//! distinctive marker; everything that is not a complete, well-formed region of ours is
//! the user's (*foreign*) and is kept byte for byte, in order. Regions are recognised
//! anywhere in the file and always written as one block on top. Removing every region
//! therefore gives back the user's bytes exactly.
//!
//! Only lines starting with the marker are looked at, found with a vectorised substring
//! search: this scan is most of what a nothing-due refresh does.

use crate::digest::Tag;

/// One kind of managed region (a password-file entry, a service-file section).
pub trait Region: Sized {
    /// Every region of this kind starts with a line beginning with this text.
    const MARKER: &'static str;

    /// The service the region belongs to.
    fn name(&self) -> &str;

    /// The configuration that wrote the region, when its marker names one.
    fn owner(&self) -> Option<&Tag>;

    /// Reads one region beginning at `start` (a line starting with [`Region::MARKER`])
    /// and returns it with the offset just past it, or `None` when it is not exactly
    /// ours, in which case its lines stay the user's.
    fn parse_at(bytes: &[u8], start: usize) -> Option<(Self, usize)>;

    /// Appends the region's lines, each ending in `\n`.
    fn render_into(&self, out: &mut Vec<u8>);
}

/// A parsed file: the managed regions (in file order, which is also the order they are
/// written in) and the user's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedFile<R> {
    pub(crate) managed: Vec<R>,
    foreign: Vec<u8>,
}

impl<R> Default for ManagedFile<R> {
    fn default() -> Self {
        ManagedFile {
            managed: Vec::new(),
            foreign: Vec::new(),
        }
    }
}

impl<R: Region> ManagedFile<R> {
    /// Splits `bytes` into managed regions and foreign bytes. Never fails: anything that
    /// is not exactly a region of ours is foreign.
    pub fn parse(bytes: &[u8]) -> Self {
        split(bytes)
    }

    /// Only the managed regions: what planning and status reports need, without copying
    /// the user's (possibly large) part of the file.
    pub fn managed_in(bytes: &[u8]) -> Vec<R> {
        scan(bytes, R::MARKER, R::parse_at)
    }

    /// The managed block followed by the foreign bytes.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.foreign.len() + self.managed.len() * 300);
        for region in &self.managed {
            region.render_into(&mut out);
        }
        out.extend_from_slice(&self.foreign);
        out
    }

    pub fn managed(&self) -> &[R] {
        &self.managed
    }

    /// The user's bytes, in order.
    pub fn foreign(&self) -> &[u8] {
        &self.foreign
    }

    /// The region of `service`, if there is one.
    pub fn get(&self, service: &str) -> Option<&R> {
        self.managed.iter().find(|r| r.name() == service)
    }

    /// Removes the regions `owner` owns — of the named services, or all of them — and
    /// returns how many went. Regions whose marker names no owner (written before markers
    /// did) count as everyone's; regions of other owners are left alone.
    pub fn remove_owned(&mut self, owner: &Tag, services: Option<&[&str]>) -> usize {
        let before = self.managed.len();
        self.managed.retain(|r| {
            let ours = r.owner().is_none_or(|o| o == owner);
            let named = services.is_none_or(|names| names.contains(&r.name()));
            !(ours && named)
        });
        before - self.managed.len()
    }

    /// Removes every managed region, whoever owns it; returns how many went.
    pub fn remove_all(&mut self) -> usize {
        std::mem::take(&mut self.managed).len()
    }

    /// Replaces the region of `region.name()` (all of them, if a hand edit duplicated it)
    /// or adds it, keeping the block ordered by `key`.
    pub(crate) fn insert_ordered<K: Ord>(&mut self, region: R, key: impl Fn(&R) -> K) {
        self.managed.retain(|r| r.name() != region.name());
        let wanted = key(&region);
        let at = self.managed.partition_point(|r| key(r) < wanted);
        self.managed.insert(at, region);
    }
}

/// The regions of `bytes` that start with a line beginning with `marker`, as `parse`
/// reads them (see [`Region::parse_at`]); a region never starts inside the one before.
pub(crate) fn scan<'a, T>(
    bytes: &'a [u8],
    marker: &str,
    parse: impl Fn(&'a [u8], usize) -> Option<(T, usize)>,
) -> Vec<T> {
    let mut found = Vec::new();
    each_region(bytes, marker, parse, |_, region, _| found.push(region));
    found
}

/// Calls `visit(start, region, end)` for each region [`scan`] finds, in file order.
fn each_region<'a, T>(
    bytes: &'a [u8],
    marker: &str,
    parse: impl Fn(&'a [u8], usize) -> Option<(T, usize)>,
    mut visit: impl FnMut(usize, T, usize),
) {
    let mut after = 0;
    for start in line_starts_with(bytes, marker.as_bytes()) {
        if start < after {
            continue;
        }
        if let Some((region, end)) = parse(bytes, start) {
            visit(start, region, end);
            after = end;
        }
    }
}

fn split<R: Region>(bytes: &[u8]) -> ManagedFile<R> {
    let mut managed = Vec::new();
    let mut foreign = Vec::with_capacity(bytes.len());
    let mut copied = 0;
    each_region(bytes, R::MARKER, R::parse_at, |start, region, end| {
        foreign.extend_from_slice(&bytes[copied..start]);
        managed.push(region);
        copied = end;
    });
    foreign.extend_from_slice(&bytes[copied..]);
    ManagedFile { managed, foreign }
}

/// Offsets of the lines of `bytes` that start with `prefix`.
pub(crate) fn line_starts_with<'a>(
    bytes: &'a [u8],
    prefix: &'a [u8],
) -> impl Iterator<Item = usize> + 'a {
    memchr::memmem::find_iter(bytes, prefix).filter(move |&at| at == 0 || bytes[at - 1] == b'\n')
}

/// The offset just past the newline ending the line that starts at `start`, or `None`
/// when that line has no newline (our lines always have one).
pub(crate) fn line_end(bytes: &[u8], start: usize) -> Option<usize> {
    memchr::memchr(b'\n', bytes.get(start..)?).map(|i| start + i + 1)
}

/// The line starting at `start` without its newline, as UTF-8, and the offset after it.
pub(crate) fn line_at(bytes: &[u8], start: usize) -> Option<(&str, usize)> {
    let end = line_end(bytes, start)?;
    let text = std::str::from_utf8(&bytes[start..end - 1]).ok()?;
    Some((text, end))
}
