//! `cargo run -p docgen [-- DIR]`: writes the man pages and shell completions into `man/`
//! and `completions/` under DIR (default: the repository root), and removes files there
//! that it no longer writes.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = std::env::args_os()
        .nth(1)
        .map_or_else(docgen::repository_root, PathBuf::from);
    match docgen::write(&root) {
        Ok(changes) => {
            for path in &changes.written {
                println!("wrote {}", path.display());
            }
            for path in &changes.removed {
                println!("removed {}", path.display());
            }
            if changes.written.is_empty() && changes.removed.is_empty() {
                println!("man/ and completions/ are up to date");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("docgen: {err}");
            ExitCode::FAILURE
        }
    }
}
