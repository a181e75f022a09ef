//! Writing the configuration: read as the loader reads it (the same refusals), edited and
//! replaced under an exclusive lock (the lock file beside it that every writer of that
//! directory takes), so that concurrent `add`s each re-read what the one before wrote;
//! replaced by one rename (a reader sees the old file or the new one, never half), with
//! its mode, owner and extended attributes kept, and only if it is still what was read
//! (an editor that saved meanwhile is not overwritten). A missing configuration is
//! created readable by its owner alone, in a directory only the owner can enter; the
//! modes are given to mkdir(2) and set on the descriptor, so the umask never applies.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use libpq_files::locked_file::{self, Contents, Snapshot};

use crate::config;
use crate::error::{Error, Result};
use crate::ownership;

const PRIVATE_DIR: u32 = 0o700;

/// How long an `add` waits for another writer of the configuration's directory. Each
/// holds the lock for a read, an edit and a write: milliseconds.
const LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// How often the file is read and edited again when something that takes no lock (an
/// editor) replaced it between the read and the write.
const ATTEMPTS: usize = 5;

/// The file that really holds the configuration at `path`: a symbolic link is followed
/// (and stays a link). A link that points where nothing is gets its target created, when
/// the directory it points into is there.
pub(super) fn real_path(path: &Path) -> Result<PathBuf> {
    let real = locked_file::resolve(path).map_err(|e| match e {
        // A symlink loop: nothing to retry.
        libpq_files::Error::Unusable(message) => Error::Config(message),
        other => other.into(),
    })?;
    if real != path && !exists(&real)? {
        let dir = real.parent().filter(|d| !d.as_os_str().is_empty());
        if dir.is_some_and(|d| !d.is_dir()) {
            return Err(Error::Config(format!(
                "the configuration {} is a symbolic link to {}, which does not exist, and neither does its directory; fix the link (or remove it and run add again), or create that directory",
                path.display(),
                real.display()
            )));
        }
    }
    Ok(real)
}

fn exists(path: &Path) -> Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::Config(format!(
            "cannot read configuration {}: {e}",
            path.display()
        ))),
    }
}

/// The configuration as read: its text, and what its replacement must keep.
pub(super) struct Existing {
    pub(super) text: String,
    snapshot: Snapshot,
}

/// Reads the configuration at `real` as the loader does (not blocking on a FIFO, a
/// regular file, bounded, refused unless only its user or root can change it), and
/// refuses one that `add` cannot or may not replace. `None` when there is none.
fn read(real: &Path) -> Result<Option<Existing>> {
    let Some((text, meta)) = config::read_trusted_file(real)? else {
        return Ok(None);
    };
    let mode = meta.mode() & 0o7777;
    if meta.uid() != ownership::my_uid() {
        return Err(Error::Config(format!(
            "the configuration {} belongs to another user (uid {}); add changes only a configuration of your own: edit it as its owner",
            real.display(),
            meta.uid()
        )));
    }
    if mode & 0o200 == 0 {
        return Err(Error::Config(format!(
            "the configuration {} is read-only (mode {:04o}), so add leaves it alone: make it writable with `chmod u+w {}` and run add again, or add the table by hand",
            real.display(),
            mode,
            ownership::quoted(real)
        )));
    }
    Ok(Some(Existing {
        snapshot: Snapshot {
            bytes: text.clone().into_bytes(),
            mode,
            uid: meta.uid(),
            gid: meta.gid(),
            identity: (meta.dev(), meta.ino()),
            links: meta.nlink(),
        },
        text,
    }))
}

/// What [`edit`] did: the text before (`None`: there was no file) and the text written.
pub(super) struct Edited {
    pub(super) before: Option<String>,
    pub(super) written: String,
}

/// Under the lock: reads the configuration at `real`, asks `change` for the new text
/// (an error leaves the file as it is) and writes it. Missing directories are created
/// first, private, so that the lock file has somewhere to go; `check` is asked
/// beforehand what `change` would say of a missing file, so nothing is created for an
/// edit that is refused.
pub(super) fn edit(real: &Path, change: impl Fn(Option<&str>) -> Result<String>) -> Result<Edited> {
    let failed =
        |what: &str, e: io::Error| Error::Runtime(format!("cannot {what} {}: {e}", real.display()));
    if let Some(dir) = real.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            change(None)?;
            DirBuilder::new()
                .recursive(true)
                .mode(PRIVATE_DIR)
                .create(dir)
                .map_err(|e| failed("create the directory of", e))?;
        }
    }
    // Refusals first, before a lock file is made beside a file add will not touch.
    read(real)?;
    let _lock = locked_file::lock_all(&[real], LOCK_TIMEOUT)?;
    let mut attempt = 1;
    loop {
        let existing = read(real)?;
        let before = existing.as_ref().map(|e| e.text.as_str());
        let written = change(before)?;
        let previous = existing.as_ref().map(|e| &e.snapshot);
        match locked_file::write(real, written.as_bytes(), previous, Contents::Plain) {
            Ok(()) => {
                return Ok(Edited {
                    before: existing.map(|e| e.text),
                    written,
                });
            }
            Err(libpq_files::Error::ChangedSinceRead { .. }) if attempt < ATTEMPTS => {
                log::debug!(
                    "{} changed while it was being written; reading it again",
                    real.display()
                );
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// What [`restore`] could do.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Restored {
    /// The file is byte for byte what it was before the edit (or gone again, if the
    /// edit created it).
    AsBefore,
    /// Someone appended to it since (another `add`): the table is taken out, their
    /// text is kept.
    TableRemoved,
    /// It changed otherwise since: left as it is.
    Changed,
}

/// Undoes `edited` under the lock, if the file still holds what it wrote.
pub(super) fn restore(real: &Path, edited: &Edited) -> Result<Restored> {
    let _lock = locked_file::lock_all(&[real], LOCK_TIMEOUT)?;
    let Some(now) = read(real)? else {
        return Ok(Restored::Changed);
    };
    let before = edited.before.as_deref();
    if now.text == edited.written {
        match before {
            Some(text) => {
                locked_file::write(real, text.as_bytes(), Some(&now.snapshot), Contents::Plain)?
            }
            None => fs::remove_file(real)
                .map_err(|e| Error::Runtime(format!("cannot remove {}: {e}", real.display())))?,
        }
        return Ok(Restored::AsBefore);
    }
    let Some(appended) = now.text.strip_prefix(&edited.written) else {
        return Ok(Restored::Changed);
    };
    let text = match before {
        Some(text) => format!("{text}{appended}"),
        None => appended.trim_start_matches('\n').to_string(),
    };
    locked_file::write(real, text.as_bytes(), Some(&now.snapshot), Contents::Plain)?;
    Ok(Restored::TableRemoved)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const BEFORE: &str = "# mine\n[services.a]\nhost = \"h\"\n";
    const OURS: &str = "\n[services.b]\nhost = \"h\"\n";
    const THEIRS: &str = "\n[services.c]\nhost = \"h\"\n";

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("config.toml");
        fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640))
            .unwrap_or_else(|e| panic!("{e}"));
        (dir, path)
    }

    fn edited(before: Option<&str>) -> Edited {
        Edited {
            before: before.map(str::to_string),
            written: format!("{}{OURS}", before.unwrap_or("")),
        }
    }

    fn restored(path: &Path, edited: &Edited) -> Restored {
        restore(path, edited).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn an_editor_saving_between_read_and_write_is_not_overwritten() {
        let (dir, path) = file(BEFORE);
        let calls = std::cell::Cell::new(0);
        let saved = "# saved by an editor\n[services.a]\nhost = \"h2\"\n";
        let edit = edit(&path, |before| {
            calls.set(calls.get() + 1);
            if calls.get() == 1 {
                // An editor saves (a new file renamed over it) while add edits.
                let temp = dir.path().join("editor.tmp");
                fs::write(&temp, saved).unwrap_or_else(|e| panic!("{e}"));
                fs::rename(&temp, &path).unwrap_or_else(|e| panic!("{e}"));
            }
            Ok(format!("{}{OURS}", before.unwrap_or("")))
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(calls.get(), 2, "read and edited again");
        assert_eq!(edit.before.as_deref(), Some(saved));
        let text = fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(text, format!("{saved}{OURS}"));
    }

    #[test]
    fn restore_puts_back_the_bytes_and_the_mode() {
        let edit = edited(Some(BEFORE));
        let (_dir, path) = file(&edit.written);
        assert_eq!(restored(&path, &edit), Restored::AsBefore);
        assert_eq!(fs::read_to_string(&path).ok().as_deref(), Some(BEFORE));
        let mode = fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o640));
    }

    #[test]
    fn restore_removes_a_file_the_edit_created() {
        let edit = edited(None);
        let (_dir, path) = file(&edit.written);
        assert_eq!(restored(&path, &edit), Restored::AsBefore);
        assert!(!path.exists());
    }

    #[test]
    fn restore_keeps_what_was_appended_since_and_leaves_other_changes() {
        let edit = edited(Some(BEFORE));
        let (_dir, path) = file(&format!("{}{THEIRS}", edit.written));
        assert_eq!(restored(&path, &edit), Restored::TableRemoved);
        let text = fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(text, format!("{BEFORE}{THEIRS}"));
        assert!(crate::config::parse(&text, &path).is_ok(), "{text}");

        let edit = edited(Some(BEFORE));
        let changed = edit.written.replace("# mine", "# edited");
        let (_dir, path) = file(&changed);
        assert_eq!(restored(&path, &edit), Restored::Changed);
        assert_eq!(fs::read_to_string(&path).ok(), Some(changed));
    }
}
