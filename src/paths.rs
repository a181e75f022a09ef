//! Where files live by default, following libpq's own search rules, and `~` expansion.

use std::env;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

fn home() -> Result<PathBuf> {
    dirs::home_dir().ok_or_else(|| {
        Error::Config(
            "cannot find the home directory; set HOME, or set pgpass and service_file in the config"
                .into(),
        )
    })
}

/// Expands a leading `~/` and anchors a relative path at `base` (the config's directory),
/// so that a config means the same from cron as from a shell.
pub fn expand(text: &str, base: &Path) -> Result<PathBuf> {
    if text == "~" {
        return home();
    }
    if let Some(rest) = text.strip_prefix("~/") {
        return Ok(home()?.join(rest));
    }
    let path = PathBuf::from(text);
    Ok(if path.is_absolute() {
        path
    } else {
        base.join(path)
    })
}

fn env_path(name: &str) -> Option<PathBuf> {
    env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The password file libpq reads when nothing else is said: `$PGPASSFILE`, else
/// `~/.pgpass`. Every pgpass reader finds this one without configuration. (The tool is
/// built for Unix only; libpq's Windows default would be `%APPDATA%\postgresql\pgpass.conf`.)
pub fn default_pgpass() -> Result<PathBuf> {
    if let Some(path) = env_path("PGPASSFILE") {
        return Ok(path);
    }
    Ok(home()?.join(".pgpass"))
}

/// The per-user service file libpq (and pgjdbc) read: `$PGSERVICEFILE`, else
/// `~/.pg_service.conf`.
pub fn default_service_file() -> Result<PathBuf> {
    if let Some(path) = env_path("PGSERVICEFILE") {
        return Ok(path);
    }
    Ok(home()?.join(".pg_service.conf"))
}

/// Whether libpq finds `pgpass` without a `passfile=` keyword.
pub fn is_libpq_default_pgpass(pgpass: &Path) -> bool {
    default_pgpass().is_ok_and(|default| same_file_path(&default, pgpass))
}

/// Compares two paths after resolving what can be resolved (symlinked home directories
/// are common).
fn same_file_path(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    match (resolve(a), resolve(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn resolve(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = path.canonicalize() {
        return Some(p);
    }
    let parent = path.parent()?.canonicalize().ok()?;
    Some(parent.join(path.file_name()?))
}

/// Per-user state: lock files, the last error of each service, remembered principals.
/// `$ALLOYDB_CRED_STATE_DIR`, else `$XDG_STATE_HOME/alloydb-cred` (`~/.local/state`) on
/// Linux; the cache directory elsewhere.
pub fn state_dir() -> Result<PathBuf> {
    if let Some(dir) = env_path("ALLOYDB_CRED_STATE_DIR") {
        return Ok(dir);
    }
    dirs::state_dir()
        .or_else(dirs::cache_dir)
        .map(|d| d.join("alloydb-cred"))
        .ok_or_else(|| {
            Error::Config("cannot find a state directory; set ALLOYDB_CRED_STATE_DIR".into())
        })
}

/// Where lock files live: a private directory inside the state directory.
pub fn lock_dir() -> Result<PathBuf> {
    Ok(state_dir()?.join("locks"))
}
