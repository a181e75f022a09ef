//! Writes alloydb-cred's man pages and shell completions, which are committed in `man/`
//! and `completions/`, from one source each:
//!
//! - the command line as the binary defines it: the `cli` module of the product's library
//!   target (`alloydb_cred::cli`, the one the binary parses with), with the version and
//!   description of the product's Cargo.toml, as clap's `#[command(version, about)]`
//!   reads them when the binary is built;
//! - the prose clap cannot say (files, environment, exit status, examples, the
//!   configuration file's keys): plain-text sources in docs/man/, built in with
//!   `include_str!` (the `content` module) and parsed by the `markup` module.
//!
//! `cargo run -p docgen` writes every file; `cargo test -p docgen` fails when a committed
//! one differs from what would be written.

mod content;
mod markup;
mod pages;
mod synopsis;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use alloydb_cred::cli;
use clap::CommandFactory;
use clap_complete::Shell;

/// The directories whose every file the generator writes; anything else in them is stale.
pub const DIRS: [&str; 2] = ["man", "completions"];

/// The shells whose completion scripts are committed (and packaged). Others are a
/// command away: `alloydb-cred completions SHELL`.
const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// The product's manifest, read for its version and description.
const PRODUCT_MANIFEST: &str = include_str!("../../../Cargo.toml");

/// The product's `[package]` version and description.
fn product_metadata() -> Result<(String, String), String> {
    let manifest: toml::Table = PRODUCT_MANIFEST
        .parse()
        .map_err(|e| format!("the product's Cargo.toml: {e}"))?;
    let field = |key: &str| {
        manifest
            .get("package")
            .and_then(|p| p.get(key))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("the product's Cargo.toml has no package.{key}"))
    };
    Ok((field("version")?, field("description")?))
}

/// The command line as the binary defines it, not yet built.
fn product_command(version: &str, description: &str) -> clap::Command {
    // clap's builder keeps `&'static str`s; the generator runs once, so leaking is fine.
    let version: &'static str = version.to_owned().leak();
    let description: &'static str = description.to_owned().leak();
    cli::Cli::command().version(version).about(description)
}

/// Every generated file, by path relative to the repository root.
pub fn outputs() -> Result<BTreeMap<PathBuf, Vec<u8>>, String> {
    let (version, description) = product_metadata()?;
    let cmd = product_command(&version, &description);
    let mut out = BTreeMap::new();

    // The `help` subcommand gets no page: it only repeats `--help`.
    let mut pages_cmd = cmd.clone().disable_help_subcommand(true);
    pages_cmd.build();
    let man = Path::new("man");
    out.insert(
        man.join(format!("{}.1", pages::PROGRAM)),
        pages::program_page(&pages_cmd, &version)?.into_bytes(),
    );
    for sub in pages::subcommands(&pages_cmd) {
        out.insert(
            man.join(format!("{}.1", pages::subcommand_page_name(sub))),
            pages::command_page(sub, &version)?.into_bytes(),
        );
    }
    out.insert(
        man.join(format!("{}.5", content::CONFIG_PAGE)),
        pages::config_page(&pages_cmd, &version)?.into_bytes(),
    );

    for shell in SHELLS {
        let script = cli::completion_script(shell, &mut cmd.clone());
        out.insert(
            Path::new("completions")
                .join(clap_complete::Generator::file_name(&shell, pages::PROGRAM)),
            script,
        );
    }
    for (path, bytes) in &out {
        if !bytes.is_ascii() {
            return Err(format!(
                "{} would hold non-ASCII text; write it in ASCII (roff and older man readers expect it)",
                path.display()
            ));
        }
    }
    Ok(out)
}

/// What [`write()`] changed.
#[derive(Debug, Default)]
pub struct Changes {
    /// Files written because they were missing or different.
    pub written: Vec<PathBuf>,
    /// Files in [`DIRS`] the generator no longer writes, removed.
    pub removed: Vec<PathBuf>,
}

/// Writes every generated file under `root` (the repository root, or any directory),
/// and removes the files in [`DIRS`] it would not write.
pub fn write(root: &Path) -> Result<Changes, String> {
    let outputs = outputs()?;
    let mut changes = Changes::default();
    for dir in DIRS {
        let dir = root.join(dir);
        fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    }
    for (path, bytes) in &outputs {
        let target = root.join(path);
        if fs::read(&target).ok().as_deref() != Some(bytes.as_slice()) {
            fs::write(&target, bytes).map_err(|e| format!("write {}: {e}", target.display()))?;
            changes.written.push(path.clone());
        }
    }
    for path in files_in(root).map_err(|e| format!("list {}: {e}", root.display()))? {
        if !outputs.contains_key(&path) {
            let target = root.join(&path);
            fs::remove_file(&target).map_err(|e| format!("remove {}: {e}", target.display()))?;
            changes.removed.push(path);
        }
    }
    Ok(changes)
}

/// The files in [`DIRS`] under `root`, relative to `root`; a missing directory is empty.
pub fn files_in(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for dir in DIRS {
        let entries = match fs::read_dir(root.join(dir)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                files.push(Path::new(dir).join(entry.file_name()));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The repository root: where `cargo run -p docgen` writes by default.
pub fn repository_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .nth(2)
        .unwrap_or(manifest_dir)
        .to_path_buf()
}
