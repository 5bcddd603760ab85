//! Monthly partitions of `calls` and `call_bodies`.
//!
//! A partition holds one calendar month (UTC) of `created_at`, and is named after it
//! (`calls_y2026m11`). Partitions are created when a batch needs one that is not known to
//! exist, in a short transaction of its own under an advisory lock, so that gateways creating
//! the same month at once do not collide. Retention drops whole months ([`drop_before`]).

use std::collections::BTreeSet;

use sqlx::{PgPool, Row};

/// The advisory lock held while partitions are created or dropped.
const PARTITION_LOCK: i64 = 0x63616e6f_70790002;

/// The tables partitioned by month.
const TABLES: [&str; 2] = ["calls", "call_bodies"];

/// A calendar month, counted from January 1970 (month 0).
pub(crate) type Month = i64;

/// The month (UTC) that the Unix millisecond `ms` falls in.
pub(crate) fn month_of(ms: i64) -> Month {
    let days = ms.div_euclid(86_400_000);
    let (year, month, _) = civil_from_days(days);
    (year - 1970) * 12 + (month - 1)
}

/// The first Unix millisecond of `month`.
pub(crate) fn month_start(month: Month) -> i64 {
    let year = 1970 + month.div_euclid(12);
    let m = month.rem_euclid(12) + 1;
    days_from_civil(year, m, 1) * 86_400_000
}

/// The partition name suffix of `month`: `y2026m11`.
fn suffix(month: Month) -> String {
    let year = 1970 + month.div_euclid(12);
    format!("y{year:04}m{:02}", month.rem_euclid(12) + 1)
}

/// Parses a partition suffix back into its month.
fn parse_suffix(suffix: &str) -> Option<Month> {
    let rest = suffix.strip_prefix('y')?;
    let (year, month) = rest.split_once('m')?;
    let (year, month): (i64, i64) = (year.parse().ok()?, month.parse().ok()?);
    (1..=12)
        .contains(&month)
        .then(|| (year - 1970) * 12 + month - 1)
}

/// Creates the partitions of `months` that do not exist yet.
pub(crate) async fn ensure(pool: &PgPool, months: &BTreeSet<Month>) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(PARTITION_LOCK)
        .execute(&mut *tx)
        .await?;
    for &month in months {
        let (from, to) = (month_start(month), month_start(month + 1));
        let suffix = suffix(month);
        for table in TABLES {
            // Names and bounds are computed here from integers, never taken from input.
            let statement = format!(
                "CREATE TABLE IF NOT EXISTS {table}_{suffix} PARTITION OF {table} \
                 FOR VALUES FROM ({from}) TO ({to})"
            );
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await
}

/// The months that have a `calls` partition, oldest first.
pub(crate) async fn existing(pool: &PgPool) -> sqlx::Result<Vec<Month>> {
    let rows = sqlx::query(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'calls'",
    )
    .fetch_all(pool)
    .await?;
    let mut months: Vec<Month> = rows
        .iter()
        .filter_map(|row| {
            let name: String = row.get(0);
            parse_suffix(name.strip_prefix("calls_")?)
        })
        .collect();
    months.sort_unstable();
    Ok(months)
}

/// Drops every month that ends at or before `before_ms` (calls and bodies), and returns how
/// many calls went with them.
pub(crate) async fn drop_before(pool: &PgPool, before_ms: i64) -> sqlx::Result<u64> {
    let mut dropped = 0;
    for month in existing(pool).await? {
        if month_start(month + 1) > before_ms {
            break;
        }
        let suffix = suffix(month);
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(PARTITION_LOCK)
            .execute(&mut *tx)
            .await?;
        let count: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM calls_{suffix}"
        )))
        .fetch_one(&mut *tx)
        .await?
        .get(0);
        for table in TABLES {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP TABLE IF EXISTS {table}_{suffix}"
            )))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        dropped += u64::try_from(count).unwrap_or(0);
    }
    Ok(dropped)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day counted from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_round_trip_through_their_bounds_and_names() {
        // 2026-11-30T17:00:00Z.
        let ms = 1_796_058_000_000;
        let month = month_of(ms);
        assert_eq!(suffix(month), "y2026m11");
        assert!(month_start(month) <= ms && ms < month_start(month + 1));
        assert_eq!(
            month_start(month),
            1_793_491_200_000,
            "2026-11-01T00:00:00Z"
        );
        assert_eq!(parse_suffix("y2026m11"), Some(month));
        assert_eq!(suffix(month_of(0)), "y1970m01");
        assert_eq!(suffix(month_of(-1)), "y1969m12");
        assert_eq!(parse_suffix("y2026m13"), None);
        for m in -30..600 {
            assert_eq!(month_of(month_start(m)), m);
            assert_eq!(month_of(month_start(m + 1) - 1), m);
        }
    }
}
