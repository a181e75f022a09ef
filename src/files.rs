//! The two files a configuration manages: where they are configured, where they really
//! are (symlinks followed), how to lock them and read them together.

use std::path::PathBuf;

use libpq_files::Tag;
use libpq_files::locked_file::{self, FileLock, Snapshot};
use libpq_files::service_file::Owner;

use crate::config::Config;
use crate::error::Result;
use crate::paths;

/// Both files, as configured and as really written.
#[derive(Debug, Clone)]
pub struct Files {
    pub pgpass: PathBuf,
    pub pgpass_real: PathBuf,
    /// `pgpass` as written into `passfile=`, made once.
    pub pgpass_text: String,
    pub service_file: PathBuf,
    pub service_file_real: PathBuf,
    /// Whether sections must name the password file (`passfile=`): only when libpq
    /// would not find it by itself. Worked out once, not per service.
    pub needs_passfile: bool,
    /// The configuration whose entries and sections these are (see [`Config::owner`]),
    /// with its path for section markers and messages.
    pub owner: Owner,
}

/// What both files held when read: `None` for a file that does not exist yet.
pub struct Snapshots {
    pub pgpass: Option<Snapshot>,
    pub service_file: Option<Snapshot>,
}

impl Files {
    pub fn of(config: &Config) -> Result<Files> {
        Ok(Files {
            pgpass_real: locked_file::resolve(&config.pgpass)?,
            pgpass: config.pgpass.clone(),
            pgpass_text: config.pgpass.display().to_string(),
            service_file_real: locked_file::resolve(&config.service_file)?,
            service_file: config.service_file.clone(),
            needs_passfile: !paths::is_libpq_default_pgpass(&config.pgpass),
            owner: Owner::new(config.owner, &config.path.display().to_string()),
        })
    }

    /// The tag of the owning configuration, as entry markers carry it.
    pub fn owner_tag(&self) -> &Tag {
        &self.owner.tag
    }

    /// Exclusive locks on both files, held until dropped. Every writer takes them before
    /// reading what it will rewrite.
    pub fn lock(&self, timeout: std::time::Duration) -> Result<Vec<FileLock>> {
        Ok(locked_file::lock_all(
            &[&self.pgpass_real, &self.service_file_real],
            timeout,
        )?)
    }

    pub fn read(&self) -> Result<Snapshots> {
        Ok(Snapshots {
            pgpass: locked_file::read(&self.pgpass_real)?,
            service_file: locked_file::read(&self.service_file_real)?,
        })
    }
}

/// The bytes of a file as read; a missing file is empty.
pub fn bytes_of(snapshot: &Option<Snapshot>) -> &[u8] {
    snapshot.as_ref().map_or(&[], |s| &s.bytes)
}
