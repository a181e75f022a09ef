//! Writing the configuration: replaced in one rename (a reader sees the old file or the
//! new one, never half), or created readable by its owner alone in a directory only the
//! owner can enter. The modes are given to open(2) and mkdir(2) themselves, so there is
//! no moment in which the umask's wider default applies.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const PRIVATE_FILE: u32 = 0o600;
const PRIVATE_DIR: u32 = 0o700;

/// The file a symbolic link at `path` points to (the link stays a link), else `path`.
pub(super) fn real_path(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The configuration's text, or `None` when there is no file yet.
pub(super) fn read_existing(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Runtime(format!(
            "cannot read configuration {}: {e}",
            path.display()
        ))),
    }
}

/// Creates the configuration (and any missing directories) privately.
pub(super) fn create(path: &Path, text: &str) -> Result<()> {
    let failed =
        |what: &str, e: io::Error| Error::Runtime(format!("cannot {what} {}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(PRIVATE_DIR)
            .create(dir)
            .map_err(|e| failed("create the directory of", e))?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE)
        .open(path)
        .map_err(|e| failed("create", e))?;
    write_all(&mut file, text).map_err(|e| failed("write", e))?;
    sync_dir(path).map_err(|e| failed("sync the directory of", e))
}

/// Replaces the configuration with `text`, keeping its permission bits.
pub(super) fn replace(path: &Path, text: &str) -> Result<()> {
    let failed =
        |what: &str, e: io::Error| Error::Runtime(format!("cannot {what} {}: {e}", path.display()));
    let mode = fs::metadata(path)
        .map_err(|e| failed("read", e))?
        .permissions()
        .mode()
        & 0o7777;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let temp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.as_deref().unwrap_or("config"),
        std::process::id()
    ));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)?;
        write_all(&mut file, text)?;
        fs::rename(&temp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(failed("replace", e));
    }
    sync_dir(path).map_err(|e| failed("sync the directory of", e))
}

fn write_all(file: &mut File, text: &str) -> io::Result<()> {
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Makes the new directory entry durable.
fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)?.sync_all(),
        None => File::open(".")?.sync_all(),
    }
}
