//! `man [PAGE]`: the manual pages, embedded when the binary is built, for installs that
//! put no pages on the system (`cargo install`).

use std::io::Write;

use crate::cli::ManArgs;
use crate::error::{Error, Result};
use crate::exit_codes::ExitCode;

macro_rules! pages {
    ($($name:literal => $file:literal),* $(,)?) => {
        /// Every page in man/, by name; a test checks that none is missing.
        const PAGES: &[(&str, &str)] = &[$(($name, include_str!(concat!("../../man/", $file)))),*];
    };
}

pages! {
    "alloydb-cred" => "alloydb-cred.1",
    "alloydb-cred-add" => "alloydb-cred-add.1",
    "alloydb-cred-completions" => "alloydb-cred-completions.1",
    "alloydb-cred-discover" => "alloydb-cred-discover.1",
    "alloydb-cred-doctor" => "alloydb-cred-doctor.1",
    "alloydb-cred-exec" => "alloydb-cred-exec.1",
    "alloydb-cred-export" => "alloydb-cred-export.1",
    "alloydb-cred-man" => "alloydb-cred-man.1",
    "alloydb-cred-refresh" => "alloydb-cred-refresh.1",
    "alloydb-cred-remove" => "alloydb-cred-remove.1",
    "alloydb-cred-status" => "alloydb-cred-status.1",
    "alloydb-cred-token" => "alloydb-cred-token.1",
    "alloydb-cred.toml" => "alloydb-cred.toml.5",
}

pub fn run(args: &ManArgs) -> Result<ExitCode> {
    let text = if args.list {
        PAGES
            .iter()
            .map(|(name, _)| format!("{name}\n"))
            .collect::<String>()
    } else {
        // `man 5 alloydb-cred.toml` spells it with a section; accept `NAME.5` too.
        let wanted = args
            .page
            .strip_suffix(".1")
            .or_else(|| args.page.strip_suffix(".5"))
            .unwrap_or(&args.page);
        let wanted = match wanted {
            "config" | "toml" => "alloydb-cred.toml".to_string(),
            w if !w.starts_with("alloydb-cred") => format!("alloydb-cred-{w}"),
            w => w.to_string(),
        };
        match PAGES.iter().find(|(name, _)| *name == wanted) {
            Some((_, page)) => page.to_string(),
            None => {
                return Err(Error::Config(format!(
                    "no manual page {}; `alloydb-cred man --list` names them",
                    args.page
                )));
            }
        }
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| Error::Runtime(format!("cannot write to stdout: {e}")))?;
    Ok(ExitCode::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_in_man_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut embedded: Vec<String> = PAGES
            .iter()
            .map(|(name, page)| {
                let section = if page.contains(".TH ALLOYDB-CRED.TOML 5") {
                    5
                } else {
                    1
                };
                format!("{name}.{section}")
            })
            .collect();
        embedded.sort();
        assert_eq!(
            files, embedded,
            "add the new page to PAGES in src/commands/man.rs"
        );
    }
}
