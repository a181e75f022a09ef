//! What the pages say beyond the command-line definition: the text sources in docs/man/
//! (one per page, in the syntax of [`crate::markup`]) and the names that go with them.
//!
//! docs/man/README.md says which file holds what, and how the tests keep it true.

use crate::markup::{self, Section};

/// One text source: its path in the repository, for messages, and its text.
pub struct Source {
    pub path: &'static str,
    pub text: &'static str,
}

impl Source {
    /// The source's sections; an error names the file and line.
    pub fn sections(&self) -> Result<Vec<Section>, String> {
        markup::parse(self.path, self.text)
    }
}

/// The source `docs/man/FILE`, read when the generator is built.
macro_rules! source {
    ($file:expr) => {
        Source {
            path: concat!("docs/man/", $file),
            text: include_str!(concat!("../../../docs/man/", $file)),
        }
    };
}

/// alloydb-cred(1): its DESCRIPTION and OPTIONS go on after what the command line says,
/// the other sections follow OPTIONS.
pub const PROGRAM: Source = source!("alloydb-cred.1.txt");

/// alloydb-cred.toml(5): the whole page but NAME and SEE ALSO.
pub const CONFIG: Source = source!("alloydb-cred.toml.5.txt");

/// A command's name and the source `docs/man/alloydb-cred-NAME.1.txt`.
macro_rules! command {
    ($name:literal) => {
        ($name, source!(concat!("alloydb-cred-", $name, ".1.txt")))
    };
}

/// The commands whose pages have sections beyond their options, with the source of
/// those sections. A command not listed here (a new one) gets a page all the same, from
/// its definition alone.
pub const COMMANDS: &[(&str, Source)] = &[
    command!("refresh"),
    command!("token"),
    command!("exec"),
    command!("status"),
    command!("completions"),
    command!("remove"),
];

/// The page of the configuration file (and its file name, with `.5`).
pub const CONFIG_PAGE: &str = "alloydb-cred.toml";

/// The NAME line's summary of the configuration file's page.
pub const CONFIG_SUMMARY: &str = "configuration file of alloydb-cred";

/// Pages named in alloydb-cred(1)'s SEE ALSO after the program's own.
pub const SEE_ALSO: &[(&str, &str)] = &[("psql", "1"), ("pg_dump", "1"), ("crontab", "5")];

/// PostgreSQL's own pages, for the SEE ALSO of pages about libpq's files.
pub const SEE_ALSO_LIBPQ: &[(&str, &str)] = &[("psql", "1"), ("pg_dump", "1")];

/// Every source, for the tests.
#[cfg(test)]
pub fn all() -> impl Iterator<Item = &'static Source> {
    [&PROGRAM, &CONFIG]
        .into_iter()
        .chain(COMMANDS.iter().map(|(_, source)| source))
}
