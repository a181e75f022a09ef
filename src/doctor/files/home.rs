//! Where clients that do not take `~` from `$HOME` look for the files. libpq and most
//! drivers expand `~` from `$HOME`; pgx (Go's `os/user`) and pgjdbc (Java's `user.home`)
//! take the home directory from the user database instead. When the two differ (sudo
//! keeping HOME, containers, service managers), those clients look for `.pgpass` and
//! `.pg_service.conf` elsewhere unless PGPASSFILE and PGSERVICEFILE name the files.

use std::ffi::{CStr, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::super::Check;
use crate::config::Config;

const NAME: &str = "files.home";

/// One of the two files, as a client that takes `~` from the user database would miss it.
struct Located<'a> {
    path: &'a Path,
    /// Its name in the home directory, where clients look by default.
    default_name: &'static str,
    /// The variable that points clients at it, and whether it is set.
    variable: &'static str,
    variable_set: bool,
}

pub(super) fn home_check(config: &Config) -> Option<Check> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    let account = account_home()?;
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    let files = [
        Located {
            path: &config.pgpass,
            default_name: ".pgpass",
            variable: "PGPASSFILE",
            variable_set: set("PGPASSFILE"),
        },
        Located {
            path: &config.service_file,
            default_name: ".pg_service.conf",
            variable: "PGSERVICEFILE",
            variable_set: set("PGSERVICEFILE"),
        },
    ];
    Some(judge(Path::new(&home), &account, &files))
}

fn judge(home: &Path, account: &Path, files: &[Located<'_>]) -> Check {
    if same_directory(home, account) {
        return Check::ok(
            NAME,
            format!(
                "HOME is {}, the home directory of the user database: clients that take ~ from there (pgx, pgjdbc) look in the same place",
                home.display()
            ),
        );
    }
    // Found through ~ by libpq, and so missed by the others when no variable says where.
    let missed: Vec<&Located<'_>> = files
        .iter()
        .filter(|f| f.path == home.join(f.default_name) && !f.variable_set)
        .collect();
    if missed.is_empty() {
        return Check::ok(
            NAME,
            format!(
                "HOME ({}) is not the user database's home directory ({}), but no file is found through ~ alone",
                home.display(),
                account.display()
            ),
        );
    }
    let wrong: Vec<String> = missed
        .iter()
        .map(|f| account.join(f.default_name).display().to_string())
        .collect();
    let exports: Vec<String> = missed
        .iter()
        .map(|f| format!("{}={}", f.variable, f.path.display()))
        .collect();
    Check::warning(
        NAME,
        format!(
            "HOME is {} but the user database gives {} as the home directory: pgx (Go) and pgjdbc (DBeaver, DataGrip) take ~ from the user database, so they look for {} instead; libpq clients are not affected",
            home.display(),
            account.display(),
            wrong.join(" and ")
        ),
        format!(
            "where those clients run, set {} (or run them with HOME and the user database agreeing)",
            exports.join(" and ")
        ),
    )
}

/// The same directory, also through symlinks.
fn same_directory(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(a), Ok(b)) if a == b
        )
}

/// The home directory the user database gives this process's real user, as Go's
/// `os/user` and Java's `user.home` find it.
fn account_home() -> Option<PathBuf> {
    // SAFETY: getuid(2) cannot fail and touches no memory.
    let uid = unsafe { libc::getuid() };
    let mut buffer = vec![0u8; 1024];
    loop {
        // SAFETY: an all-zero passwd is a valid value (null pointers, zero ids).
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is to memory owned here that outlives the call, and
        // buffer.len() is the size of the buffer; the strings in `entry` point into it.
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                &mut entry,
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                &mut found,
            )
        };
        if rc == libc::ERANGE && buffer.len() < 1 << 20 {
            buffer.resize(buffer.len() * 4, 0);
            continue;
        }
        if rc != 0 || found.is_null() || entry.pw_dir.is_null() {
            return None;
        }
        // SAFETY: getpwuid_r succeeded, so pw_dir is a NUL-terminated string in `buffer`.
        let dir = unsafe { CStr::from_ptr(entry.pw_dir) };
        let dir: OsString = OsStr::from_bytes(dir.to_bytes()).to_os_string();
        return (!dir.is_empty()).then(|| PathBuf::from(dir));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    fn located<'a>(path: &'a Path, pgpass: bool, set: bool) -> Located<'a> {
        Located {
            path,
            default_name: if pgpass {
                ".pgpass"
            } else {
                ".pg_service.conf"
            },
            variable: if pgpass {
                "PGPASSFILE"
            } else {
                "PGSERVICEFILE"
            },
            variable_set: set,
        }
    }

    #[test]
    fn a_home_the_user_database_agrees_with_is_fine() {
        let pgpass = Path::new("/home/kai/.pgpass");
        let check = judge(
            Path::new("/home/kai"),
            Path::new("/home/kai"),
            &[located(pgpass, true, false)],
        );
        assert_eq!(check.status, Status::Ok, "{}", check.message);
    }

    #[test]
    fn another_home_hides_the_files_found_through_it() {
        let pgpass = Path::new("/tmp/h/.pgpass");
        let services = Path::new("/tmp/h/.pg_service.conf");
        let check = judge(
            Path::new("/tmp/h"),
            Path::new("/root"),
            &[
                located(pgpass, true, false),
                located(services, false, false),
            ],
        );
        assert_eq!(check.status, Status::Warning, "{}", check.message);
        assert!(
            check
                .message
                .contains("/root/.pgpass and /root/.pg_service.conf")
                && check.message.contains("pgx"),
            "{}",
            check.message
        );
        let fix = check.fix.unwrap_or_default();
        assert!(
            fix.contains("PGPASSFILE=/tmp/h/.pgpass and PGSERVICEFILE=/tmp/h/.pg_service.conf"),
            "{fix}"
        );
    }

    #[test]
    fn variables_or_other_places_are_not_found_through_home() {
        let pgpass = Path::new("/tmp/h/.pgpass");
        let services = Path::new("/etc/db/services");
        let check = judge(
            Path::new("/tmp/h"),
            Path::new("/root"),
            &[located(pgpass, true, true), located(services, false, false)],
        );
        assert_eq!(check.status, Status::Ok, "{}", check.message);
    }
}
