//! Reading a file that a credential names (a credentials file, a `key_file`, a
//! federation `credential_source.file`, an executable's `output_file`): never blocking,
//! regular files only, bounded. Whoever can put a FIFO or `/dev/zero` at such a path
//! must not be able to hang the tool (and every writer waiting on its locks) or fill
//! its memory.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Larger than any credential file or subject token; reading stops here.
pub(crate) const MAX_BYTES: u64 = 1 << 20;

/// Why a credential's file cannot be used. Its message completes "cannot read PATH: …"
/// and never quotes the content.
#[derive(Debug)]
pub(crate) enum Problem {
    Io(io::Error),
    /// A FIFO, a device, a directory, a socket: only regular files hold credentials.
    NotRegular(&'static str),
    TooLarge,
    NotUtf8,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Io(e) => write!(f, "{e}"),
            Problem::NotRegular(kind) => write!(
                f,
                "it is a {kind}, not a regular file; credentials are read only from regular files"
            ),
            Problem::TooLarge => write!(
                f,
                "it is larger than {} MiB, more than any credential file",
                MAX_BYTES >> 20
            ),
            Problem::NotUtf8 => write!(f, "it is not UTF-8 text"),
        }
    }
}

/// The file's bytes. Symlinks are followed (a credentials file is often one), but what
/// they lead to must be a regular file, checked on the open descriptor.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, Problem> {
    let file = open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(Problem::Io)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(Problem::TooLarge);
    }
    Ok(bytes)
}

/// [`read`], as text.
pub(crate) fn read_to_string(path: &Path) -> Result<String, Problem> {
    String::from_utf8(read(path)?).map_err(|_| Problem::NotUtf8)
}

fn open(path: &Path) -> Result<File, Problem> {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, for
    // ever. (On a regular file it changes nothing.)
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
        .map_err(Problem::Io)?;
    let kind = file.metadata().map_err(Problem::Io)?.file_type();
    if kind.is_file() {
        return Ok(file);
    }
    Err(Problem::NotRegular(if kind.is_fifo() {
        "FIFO"
    } else if kind.is_char_device() || kind.is_block_device() {
        "device"
    } else if kind.is_dir() {
        "directory"
    } else if kind.is_socket() {
        "socket"
    } else {
        "special file"
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A directory removed when the test ends.
    struct Dir(PathBuf);

    impl Dir {
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn fifos_devices_directories_and_huge_files_are_refused_at_once() {
        let dir = Dir(std::env::temp_dir().join(format!("input-file-test-{}", std::process::id())));
        std::fs::create_dir_all(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        // SAFETY: mkfifo(3) reads the NUL-terminated path only.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let refused = |path: &Path| read(path).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(refused(&fifo).contains("FIFO"), "{}", refused(&fifo));
        assert!(refused(Path::new("/dev/zero")).contains("device"));
        assert!(refused(dir.path()).contains("directory"));
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b' '; (MAX_BYTES + 1) as usize])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(read(&big), Err(Problem::TooLarge)));
        // A symlink to a regular file is fine.
        let real = dir.path().join("real.json");
        std::fs::write(&real, b"{}").unwrap_or_else(|e| panic!("{e}"));
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_to_string(&link).ok().as_deref(), Some("{}"));
        assert!(matches!(
            read(&dir.path().join("missing")),
            Err(Problem::Io(_))
        ));
    }
}
