//! Diagnostics on stderr, one line each, prefixed with the program's name.
//!
//! `-v` and `-vv` raise the level of this program's own crates only: the HTTP and TLS
//! libraries' internals (every header, every handshake step) would drown our lines, so
//! they stay at warnings until `-vvv`, and even then never go below debug: at trace level
//! the HTTP library dumps the raw bytes it sends and receives, tokens and keys included.

/// The crates whose lines `-v`/`-vv` show.
const OWN_CRATES: [&str; 3] = ["alloydb_cred", "libpq_files", "google_tokens"];

pub fn init(verbose: u8, quiet: bool) {
    use log::LevelFilter;
    let (ours, theirs) = match (quiet, verbose) {
        (true, _) => (LevelFilter::Error, LevelFilter::Error),
        (false, 0) => (LevelFilter::Warn, LevelFilter::Warn),
        (false, 1) => (LevelFilter::Info, LevelFilter::Warn),
        (false, 2) => (LevelFilter::Debug, LevelFilter::Warn),
        (false, _) => (LevelFilter::Trace, LevelFilter::Debug),
    };
    let mut builder = env_logger::Builder::new();
    builder.filter_level(theirs);
    for krate in OWN_CRATES {
        builder.filter_module(krate, ours);
    }
    builder
        .format(|buf, record| {
            use std::io::Write;
            // Every line passes the redactor: a message may quote a server's or a
            // program's words, and those may carry a secret.
            writeln!(
                buf,
                "alloydb-cred: {}: {}",
                record.level().as_str().to_lowercase(),
                google_tokens::redact(&record.args().to_string(), &[])
            )
        })
        .target(env_logger::Target::Stderr)
        .init();
}

/// Reports an error on stderr as one line, through the redactor like every log line.
pub fn error(err: &dyn std::fmt::Display) {
    eprintln!(
        "alloydb-cred: error: {}",
        google_tokens::redact(&err.to_string(), &[])
    );
}
