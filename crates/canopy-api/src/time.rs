//! Times on the wire: ISO-8601 UTC with milliseconds out, several spellings in.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// `2026-11-21T20:14:42.123Z`.
pub fn iso(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// Reads an RFC 3339 time, `YYYY-MM-DD HH:MM:SS[.fff]` (UTC), a date (its midnight, UTC),
/// or a number of Unix seconds or milliseconds.
pub fn parse(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(n) = text.parse::<i64>() {
        return Some(if n.abs() < 100_000_000_000 {
            n * 1000
        } else {
            n
        });
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_common_spellings() {
        let ms = 1_700_000_000_123;
        assert_eq!(iso(ms), "2023-11-14T22:13:20.123Z");
        assert_eq!(parse(&iso(ms)), Some(ms));
        assert_eq!(parse("2023-11-14 22:13:20.123"), Some(ms));
        assert_eq!(parse("2025-01-01"), Some(1_735_689_600_000));
        assert_eq!(parse("1735689600"), Some(1_735_689_600_000));
        assert_eq!(parse("1735689600000"), Some(1_735_689_600_000));
        assert_eq!(parse("yesterday"), None);
    }
}
