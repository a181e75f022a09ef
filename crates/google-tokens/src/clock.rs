//! The one wall clock of the whole program: every expiry this crate checks or computes,
//! and every decision the binary makes about what is due, read the same time.
//!
//! `ALLOYDB_CRED_CLOCK_OFFSET_FILE` names a file holding a number of seconds to add to the
//! clock, read at every call: the tests use it to make the wall clock jump under a running
//! process, as a suspended laptop or a stepped clock would. Not for users.

use jiff::{SignedDuration, Timestamp};

const OFFSET_FILE: &str = "ALLOYDB_CRED_CLOCK_OFFSET_FILE";

/// Now, by the wall clock (and the test offset, when one is set).
pub fn now() -> Timestamp {
    let real = Timestamp::now();
    match std::env::var_os(OFFSET_FILE) {
        None => real,
        Some(path) => {
            let offset = std::fs::read_to_string(path)
                .ok()
                .and_then(|text| text.trim().parse::<i64>().ok())
                .unwrap_or(0);
            real.checked_add(SignedDuration::from_secs(offset))
                .unwrap_or(real)
        }
    }
}
