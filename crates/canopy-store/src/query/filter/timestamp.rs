//! Timestamps in filter values: ISO-8601 spellings and Unix milliseconds, read without a
//! date library (the core stays dependency-light).

/// Parses an ISO-8601 date or date-time into Unix milliseconds.
///
/// Accepts `2025-01-01`, `2025-01-01T00:00:00Z`, `2025-01-01 00:00:00` (UTC when no offset is
/// given, as Helicone's ClickHouse reads it), an optional fraction of any length (cut to
/// milliseconds) and an offset as `Z`, `+01:00`, `+0100` or `+01`.
pub fn parse_timestamp_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |at: usize, len: usize| -> Option<i64> {
        let part = b.get(at..at + len)?;
        part.iter().try_fold(0i64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let sep = |at: usize, chars: &[u8]| b.get(at).is_some_and(|c| chars.contains(c));
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let leap = i64::from((year % 4 == 0 && year % 100 != 0) || year % 400 == 0);
    let month_days = [31, 28 + leap, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let days = usize::try_from(month - 1)
        .ok()
        .and_then(|i| month_days.get(i))?;
    if !sep(4, b"-") || !sep(7, b"-") || !(1..=*days).contains(&day) {
        return None;
    }
    let mut ms = days_from_civil(year, month, day) * 86_400_000;
    if b.len() == 10 {
        return Some(ms);
    }
    let (hour, minute) = (num(11, 2)?, num(14, 2)?);
    if !sep(10, b"Tt ") || !sep(13, b":") || hour > 23 || minute > 59 {
        return None;
    }
    let mut at = 16;
    let mut second = 0;
    if sep(at, b":") {
        second = num(at + 1, 2).filter(|s| *s <= 59)?;
        at += 3;
    }
    ms += ((hour * 60 + minute) * 60 + second) * 1000;
    if sep(at, b".,") {
        let digits = b[at + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        let frac = num(at + 1, digits.min(3))?;
        ms += frac * [100, 10, 1][digits.min(3) - 1];
        at += 1 + digits;
    }
    let offset_minutes = match &b[at..] {
        b"" | b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), ..] => {
            let hours = num(at + 1, 2).filter(|h| *h <= 23)?;
            let rest = &b[at + 3..];
            let minutes = match rest {
                [] => 0,
                [b':', _, _] => num(at + 4, 2)?,
                [_, _] => num(at + 3, 2)?,
                _ => return None,
            };
            if minutes > 59 {
                return None;
            }
            let total = hours * 60 + minutes;
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    Some(ms - offset_minutes * 60_000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
