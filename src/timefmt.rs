//! Time formats: ISO 8601 basic UTC for marker comments (no `:`), and short human
//! durations for `status`.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// `20261129T010203Z`: ISO 8601 basic format, UTC, whole seconds.
pub fn basic_utc(ts: Timestamp) -> String {
    ts.to_zoned(TimeZone::UTC)
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// Parses what [`basic_utc`] writes; anything else is `None`.
pub fn parse_basic_utc(text: &str) -> Option<Timestamp> {
    let body = text.strip_suffix('Z')?;
    if body.len() != 15 || body.as_bytes()[8] != b'T' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = body.get(r)?;
        if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let dt = DateTime::new(
        i16::try_from(digits(0..4)?).ok()?,
        i8::try_from(digits(4..6)?).ok()?,
        i8::try_from(digits(6..8)?).ok()?,
        i8::try_from(digits(9..11)?).ok()?,
        i8::try_from(digits(11..13)?).ok()?,
        i8::try_from(digits(13..15)?).ok()?,
        0,
    )
    .ok()?;
    dt.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp())
}

/// "42m 10s", "1h 2m", "expired 3m ago" style, to the second.
pub fn human_left(seconds: i64) -> String {
    let (neg, s) = (seconds < 0, seconds.unsigned_abs());
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let text = if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {sec}s")
    } else {
        format!("{sec}s")
    };
    if neg {
        format!("expired {text} ago")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_round_trip() {
        let ts: Timestamp = "2026-11-29T01:02:03Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        assert_eq!(basic_utc(ts), "20261129T010203Z");
        assert_eq!(parse_basic_utc("20261129T010203Z"), Some(ts));
        assert_eq!(parse_basic_utc("20261129T010203"), None);
        assert_eq!(parse_basic_utc("2026-11-29T01Z"), None);
        assert_eq!(parse_basic_utc("20261329T010203Z"), None);
    }

    #[test]
    fn human() {
        assert_eq!(human_left(3723), "1h 2m");
        assert_eq!(human_left(610), "10m 10s");
        assert_eq!(human_left(-5), "expired 5s ago");
    }
}
