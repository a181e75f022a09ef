//! The one place the program reads the wall clock, so that every decision about expiry
//! (planning, status, the refresh loop) sees the same time as the token sources' checks:
//! both read [`google_tokens::clock::now`] (which honours the tests' clock offset file).

use jiff::Timestamp;

/// Now, by the wall clock.
pub fn now() -> Timestamp {
    google_tokens::clock::now()
}
