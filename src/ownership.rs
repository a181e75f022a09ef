//! Whether a file or directory is safe to trust: owned by the user (or, where that is
//! allowed, root) and writable by nobody else, as ssh's StrictModes decides for its own
//! files. One check for the configuration, the state directory and `doctor`.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::Error;

/// Why a path is not trusted, and the command that fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Untrusted {
    /// A sentence naming the path and what is wrong with it.
    pub problem: String,
    /// A shell command that makes it right.
    pub fix: String,
}

impl Untrusted {
    /// The configuration error a command stops with (exit 2): the problem, `why` it
    /// matters, and the fix.
    pub(crate) fn into_error(self, why: &str) -> Error {
        Error::Config(format!("{}; {why}: {}", self.problem, self.fix))
    }
}

/// Who besides the user may own what is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The user only (what the tool itself creates and writes).
    Me,
    /// The user or root (what an administrator may provide, like `/etc` files).
    MeOrRoot,
}

/// The effective user id of this process.
pub(crate) fn my_uid() -> u32 {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// `meta` (of `path`, called `what` in messages) belongs to the user (or root, when
/// `owner` allows) and can be written by nobody else.
pub(crate) fn check_private(
    path: &Path,
    meta: &Metadata,
    what: &str,
    owner: Owner,
) -> Result<(), Untrusted> {
    check_owner(path, meta, what, owner)?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Untrusted {
            problem: format!(
                "{what} {} can be changed by group or others (mode {:04o})",
                path.display(),
                mode & 0o777
            ),
            // A directory of the user's own is best made private; a file only needs
            // to lose write access for others.
            fix: if meta.is_dir() {
                format!("chmod 700 {}", quoted(path))
            } else {
                format!("chmod go-w {}", quoted(path))
            },
        });
    }
    Ok(())
}

fn check_owner(path: &Path, meta: &Metadata, what: &str, owner: Owner) -> Result<(), Untrusted> {
    let me = my_uid();
    let uid = meta.uid();
    if uid == me || (owner == Owner::MeOrRoot && uid == 0) {
        return Ok(());
    }
    let allowed = match owner {
        Owner::Me => format!("you (user id {me})"),
        Owner::MeOrRoot => format!("you (user id {me}) or root"),
    };
    Err(Untrusted {
        problem: format!(
            "{what} {} belongs to user id {uid}, not to {allowed}",
            path.display()
        ),
        fix: format!("chown \"$(id -u)\" {}", quoted(path)),
    })
}

/// Every directory above the file at `real` (a path without symlinks, as
/// `canonicalize` gives it), up to `/`, is one that only the user or root can change
/// entries of: owned by one of them and not writable by group or others, or else
/// sticky. This is where the check is looser than ssh's, which refuses sticky
/// directories too (a file kept directly in `/tmp`): in a sticky directory only an
/// entry's owner can rename or delete it, and the owner of the entry below is checked
/// in turn, so nobody else can swap anything on the path.
pub(crate) fn check_ancestors(real: &Path, what: &str) -> Result<(), Untrusted> {
    for dir in real.ancestors().skip(1) {
        if dir.as_os_str().is_empty() {
            break;
        }
        let meta = match std::fs::metadata(dir) {
            Ok(meta) => meta,
            Err(e) => {
                return Err(Untrusted {
                    problem: format!(
                        "cannot inspect {}, a directory above {what} {}: {e}",
                        dir.display(),
                        real.display()
                    ),
                    fix: format!("chmod o+x {}", quoted(dir)),
                });
            }
        };
        let holder = format!("the directory above {what} {}:", real.display());
        check_owner(dir, &meta, &holder, Owner::MeOrRoot)?;
        let mode = meta.mode();
        if mode & 0o022 != 0 && mode & libc::S_ISVTX == 0 {
            return Err(Untrusted {
                problem: format!(
                    "{what} {} is in {}, which group or others can write to (mode {:04o}): they could replace it",
                    real.display(),
                    dir.display(),
                    mode & 0o777
                ),
                fix: format!("chmod go-w {}", quoted(dir)),
            });
        }
    }
    Ok(())
}

/// A path as a shell word, so that the fix can be pasted even with spaces in it.
pub(crate) fn quoted(path: &Path) -> String {
    let text = path.display().to_string();
    if text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+@%,:=".contains(&b))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn a_file_others_can_change_is_refused_with_the_chmod_that_fixes_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("my config.toml");
        fs::write(&file, "").unwrap_or_else(|e| panic!("{e}"));
        for (mode, ok) in [(0o600, true), (0o644, true), (0o664, false), (0o646, false)] {
            chmod(&file, mode);
            let meta = fs::metadata(&file).unwrap_or_else(|e| panic!("{e}"));
            let result = check_private(&file, &meta, "the configuration", Owner::MeOrRoot);
            assert_eq!(result.is_ok(), ok, "mode {mode:o}: {result:?}");
            if let Err(e) = result {
                assert_eq!(e.fix, format!("chmod go-w '{}'", file.display()));
            }
        }
    }

    #[test]
    fn writable_directories_are_refused_unless_sticky() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap_or_else(|e| panic!("{e}"));
        let file = sub.join("config.toml");
        fs::write(&file, "").unwrap_or_else(|e| panic!("{e}"));
        let real = file.canonicalize().unwrap_or_else(|e| panic!("{e}"));
        assert!(check_ancestors(&real, "the configuration").is_ok());
        chmod(&sub, 0o777);
        let err = check_ancestors(&real, "the configuration").err();
        assert!(
            err.as_ref().is_some_and(|e| e.fix
                == format!(
                    "chmod go-w {}",
                    real.parent()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                )),
            "{err:?}"
        );
        chmod(&sub, 0o1777);
        assert!(check_ancestors(&real, "the configuration").is_ok());
        chmod(&sub, 0o700);
    }

    #[test]
    fn paths_are_quoted_for_the_shell_only_when_needed() {
        assert_eq!(quoted(Path::new("/a/b.toml")), "/a/b.toml");
        assert_eq!(quoted(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }
}
