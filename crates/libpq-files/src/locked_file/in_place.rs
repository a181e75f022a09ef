//! Rewriting a file in place, for targets a rename cannot replace.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use fs2::FileExt;

use super::{Snapshot, same_file_as};
use crate::error::{Error, Result};

/// The bind-mount fallback, under the lock. The space is reserved first, so that a full
/// disk or a file-size limit fails before a byte of the old content is overwritten; if
/// writing fails anyway, the old content is put back.
pub(super) fn write_in_place(
    real: &Path,
    bytes: &[u8],
    previous: Option<&Snapshot>,
    mode: Option<u32>,
) -> Result<()> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(real)
        .map_err(|e| Error::io("write", real, e))?;
    // Checked on the descriptor that is about to be written: nothing can swap it now.
    let unchanged = match previous {
        Some(prev) => same_file_as(&file, prev).map_err(|e| Error::io("read", real, e))?,
        None => false,
    };
    if !unchanged {
        return Err(Error::ChangedSinceRead {
            path: real.to_path_buf(),
        });
    }
    if let (Some(prev), Some(mode)) = (previous, mode) {
        if mode != prev.mode {
            file.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(|e| Error::io("restrict the permissions of", real, e))?;
        }
    }
    let old_len = previous.map_or(0, |p| p.bytes.len());
    if bytes.len() > old_len {
        if let Err(e) = file.allocate(bytes.len() as u64) {
            match e.kind() {
                io::ErrorKind::StorageFull
                | io::ErrorKind::FileTooLarge
                | io::ErrorKind::QuotaExceeded => {
                    // fallocate may have grown the file without writing: shrink it back.
                    let _ = file.set_len(old_len as u64);
                    return Err(Error::io("write", real, e));
                }
                _ => log::debug!("cannot reserve space for {}: {e}", real.display()),
            }
        }
    }
    let overwrite = |file: &mut File, content: &[u8]| -> io::Result<()> {
        file.seek(io::SeekFrom::Start(0))?;
        file.write_all(content)?;
        file.set_len(content.len() as u64)?;
        file.sync_all()
    };
    match overwrite(&mut file, bytes) {
        Ok(()) => Ok(()),
        Err(e) => {
            let restored = previous.is_some_and(|p| overwrite(&mut file, &p.bytes).is_ok());
            Err(Error::Unusable(format!(
                "cannot write {} in place: {e}; {}",
                real.display(),
                if restored {
                    "its previous content was put back"
                } else {
                    "putting its previous content back failed too, so check the file by hand"
                }
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locked_file::read;

    #[test]
    fn a_stale_snapshot_writes_nothing_in_place() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("pgpass");
        fs::write(&path, b"old\n").unwrap_or_else(|e| panic!("{e}"));
        let snap = read(&path).unwrap_or_else(|e| panic!("{e}"));
        fs::write(&path, b"old\nadded\n").unwrap_or_else(|e| panic!("{e}"));
        let result = write_in_place(&path, b"new\n", snap.as_ref(), Some(0o600));
        assert!(matches!(result, Err(Error::ChangedSinceRead { .. })));
        assert_eq!(fs::read(&path).unwrap_or_default(), b"old\nadded\n");

        let snap = read(&path).unwrap_or_else(|e| panic!("{e}"));
        let result = write_in_place(&path, b"new\n", snap.as_ref(), Some(0o600));
        assert!(result.is_ok());
        assert_eq!(fs::read(&path).unwrap_or_default(), b"new\n");
    }
}
