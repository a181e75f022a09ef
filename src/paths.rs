//! Where files live by default, following libpq's own search rules, and `~` expansion.

use std::env;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::ownership::{self, Owner};

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

/// Whether libpq reads `service_file` first, as the per-user service file.
pub fn is_libpq_default_service_file(service_file: &Path) -> bool {
    default_service_file().is_ok_and(|default| same_file_path(&default, service_file))
}

/// Whether `path` is `~/NAME`, where a client started from a desktop menu, with no
/// `PGPASSFILE` or `PGSERVICEFILE` of its own, looks (`.pgpass`, `.pg_service.conf`).
pub fn is_in_home_as(path: &Path, name: &str) -> bool {
    home().is_ok_and(|home| same_file_path(&home.join(name), path))
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

/// The state directory, made private (0700) if it is new, and refused — as ssh refuses
/// its own files — when someone else owns it or could write to it: whoever can plant files
/// there could redirect the tool's locks or feed it remembered principals.
pub fn private_state_dir() -> Result<PathBuf> {
    let dir = state_dir()?;
    create_private(&dir, "create the state directory")?;
    check_private(&dir)?;
    Ok(dir)
}

/// Creates `dir` (and its parents) with mode 0700 where they do not exist yet.
fn create_private(dir: &Path, what: &str) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| libpq_files::Error::io(what, dir, e))?;
    Ok(())
}

/// The state directory if it exists (checked as [`private_state_dir`] does), without
/// creating it: for commands that only read.
pub fn existing_state_dir() -> Result<Option<PathBuf>> {
    let dir = state_dir()?;
    if !dir.exists() {
        return Ok(None);
    }
    check_private(&dir)?;
    Ok(Some(dir))
}

fn check_private(dir: &Path) -> Result<()> {
    let meta = std::fs::metadata(dir)
        .map_err(|e| libpq_files::Error::io("inspect the state directory", dir, e))?;
    ownership::check_private(dir, &meta, "the state directory", Owner::Me).map_err(|e| {
        e.into_error("whoever can change it could redirect the locks or feed alloydb-cred remembered principals; use your own (set ALLOYDB_CRED_STATE_DIR) or fix it")
    })
}

/// Where the server CA certificates of instances are kept for libpq (`sslrootcert=`):
/// `server-ca` in the state directory, as an absolute path, since sections name it.
/// Nothing is created here: the nothing-due path only reads.
pub fn server_ca_dir() -> Result<PathBuf> {
    let dir = state_dir()?;
    let dir = std::path::absolute(&dir)
        .map_err(|e| libpq_files::Error::io("find the state directory", &dir, e))?;
    Ok(dir.join("server-ca"))
}

/// [`server_ca_dir`], created private (inside the private state directory) if it is new.
pub fn private_server_ca_dir() -> Result<PathBuf> {
    private_state_dir()?;
    let dir = server_ca_dir()?;
    create_private(&dir, "create the server CA directory")?;
    Ok(dir)
}
