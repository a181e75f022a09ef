//! Diagnostics on stderr, one line each, prefixed with the program's name — or, when
//! stderr is systemd's journal (`JOURNAL_STREAM`), with the syslog priority journald reads
//! (`<3>`…), since the journal records the program's name itself.
//!
//! A long-running `refresh --watch` logs one line per refresh by default (its info
//! level); one-shot commands stay quiet unless something is wrong.
//!
//! `-v` and `-vv` raise the level of this program's own crates only: the HTTP and TLS
//! libraries' internals (every header, every handshake step) would drown our lines, so
//! they stay at warnings until `-vvv`, and even then never go below debug: at trace level
//! the HTTP library dumps the raw bytes it sends and receives, tokens and keys included.

/// The crates whose lines `-v`/`-vv` show.
const OWN_CRATES: [&str; 3] = ["alloydb_cred", "libpq_files", "google_tokens"];

pub fn init(verbose: u8, quiet: bool, long_running: bool) {
    use log::LevelFilter;
    let verbose = verbose.saturating_add(u8::from(long_running));
    let (ours, theirs) = match (quiet, verbose) {
        (true, _) => (LevelFilter::Error, LevelFilter::Error),
        (false, 0) => (LevelFilter::Warn, LevelFilter::Warn),
        (false, 1) => (LevelFilter::Info, LevelFilter::Warn),
        (false, 2) => (LevelFilter::Debug, LevelFilter::Warn),
        (false, _) => (LevelFilter::Trace, LevelFilter::Debug),
    };
    let journal = stderr_is_journal();
    let mut builder = env_logger::Builder::new();
    builder.filter_level(theirs);
    for krate in OWN_CRATES {
        builder.filter_module(krate, ours);
    }
    builder
        .format(move |buf, record| {
            use std::io::Write;
            // Every line passes the redactor: a message may quote a server's or a
            // program's words, and those may carry a secret.
            let text = one_line(&google_tokens::redact(&record.args().to_string(), &[]));
            if journal {
                writeln!(buf, "<{}>{text}", syslog_priority(record.level()))
            } else {
                writeln!(
                    buf,
                    "alloydb-cred: {}: {text}",
                    record.level().as_str().to_lowercase()
                )
            }
        })
        .target(env_logger::Target::Stderr)
        .init();
}

/// Reports an error on stderr as one line, through the redactor like every log line.
pub fn error(err: &dyn std::fmt::Display) {
    let text = one_line(&google_tokens::redact(&err.to_string(), &[]));
    if stderr_is_journal() {
        eprintln!("<3>{text}");
    } else {
        eprintln!("alloydb-cred: error: {text}");
    }
}

/// `text` with every control character (a program's or a server's words may hold
/// newlines and terminal escapes) turned into one space: a message can then never start a
/// line of its own, which under journald would carry a `<N>` priority of its choosing.
fn one_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len());
    for c in text.chars() {
        if !c.is_control() {
            line.push(c);
        } else if !line.ends_with(' ') {
            line.push(' ');
        }
    }
    line.trim_end().to_string()
}

/// Whether stderr is connected to systemd's journal: `JOURNAL_STREAM` names the device
/// and inode of the stream systemd connected, which must still be stderr (a shell started
/// from the service would inherit the variable but not the stream).
fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let Ok(meta) = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|f| f.metadata())
    else {
        return false;
    };
    dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino())
}

/// syslog's priority numbers, which journald reads from a `<N>` prefix.
fn syslog_priority(level: log::Level) -> u8 {
    match level {
        log::Level::Error => 3,
        log::Level::Warn => 4,
        log::Level::Info => 6,
        log::Level::Debug | log::Level::Trace => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn messages_stay_on_one_line() {
        assert_eq!(
            one_line("gcloud failed: ERROR: (gcloud.auth)\n<0>forged entry\r\n\u{1b}[2Jgone\n"),
            "gcloud failed: ERROR: (gcloud.auth) <0>forged entry [2Jgone"
        );
        assert_eq!(
            one_line("plain words, kept as they are"),
            "plain words, kept as they are"
        );
    }
}
