//! Retention: whole months of calls are dropped as partitions; the rest of the month that
//! straddles the cutoff, the scores left without a call and the sessions with no calls left go
//! a few thousand rows per statement, so that writes never wait long behind them.

use async_trait::async_trait;
use canopy_store::{Purged, Result, Retain, StoreError};
use sqlx::Row;

use crate::PostgresStore;
use crate::partition;

/// Rows removed per statement.
const STEP: i64 = 5_000;

fn err(source: sqlx::Error) -> StoreError {
    StoreError::Write {
        rows: 0,
        source: source.into(),
    }
}

#[async_trait]
impl Retain for PostgresStore {
    #[tracing::instrument(skip_all)]
    async fn purge(&self, before_ms: i64) -> Result<Purged> {
        let mut purged = Purged {
            calls: partition::drop_before(&self.pool, before_ms)
                .await
                .map_err(err)?,
            sessions: 0,
        };
        // A month dropped may be written again by a late call; it is then created anew.
        self.forget_partitions();
        // The calls of the month that straddles the cutoff, with their bodies.
        purged.calls += self
            .repeat(
                "WITH gone AS (DELETE FROM calls WHERE (org_id, id, created_at) IN \
                 (SELECT org_id, id, created_at FROM calls WHERE created_at < $1 \
                 ORDER BY created_at LIMIT $2) RETURNING org_id, id, created_at), \
                 bodies AS (DELETE FROM call_bodies b USING gone g WHERE b.org_id = g.org_id \
                 AND b.id = g.id AND b.created_at = g.created_at) SELECT count(*) FROM gone",
                Some(before_ms),
            )
            .await?;
        // Scores whose call is gone, by partition or above.
        self.repeat(
            "WITH gone AS (DELETE FROM call_scores WHERE (org_id, call_id) IN \
             (SELECT s.org_id, s.call_id FROM call_scores s WHERE NOT EXISTS \
             (SELECT 1 FROM calls c WHERE c.org_id = s.org_id AND c.id = s.call_id) \
             LIMIT $1) RETURNING 1) SELECT count(*) FROM gone",
            None,
        )
        .await?;
        // Sessions whose calls are all gone, with their tags and users.
        purged.sessions += self
            .repeat(
                "WITH gone AS (DELETE FROM sessions WHERE (org_id, session_id) IN \
                 (SELECT org_id, session_id FROM sessions WHERE last_request_at < $1 LIMIT $2) \
                 RETURNING org_id, session_id), \
                 tags AS (DELETE FROM session_tags t USING gone g WHERE t.org_id = g.org_id \
                 AND t.session_id = g.session_id), \
                 users AS (DELETE FROM session_users u USING gone g WHERE u.org_id = g.org_id \
                 AND u.session_id = g.session_id) SELECT count(*) FROM gone",
                Some(before_ms),
            )
            .await?;
        Ok(purged)
    }
}

impl PostgresStore {
    /// Runs `statement` until it removes fewer than a full step, and returns the total. The
    /// statement removes at most a step of rows and counts them; its parameters are the cutoff
    /// then the step, or the step alone when there is no cutoff.
    async fn repeat(&self, statement: &'static str, before_ms: Option<i64>) -> Result<u64> {
        let mut total = 0;
        loop {
            let q = sqlx::query(statement);
            let q = match before_ms {
                Some(cutoff) => q.bind(cutoff),
                None => q,
            };
            let n: i64 = q
                .bind(STEP)
                .fetch_one(&self.pool)
                .await
                .map_err(err)?
                .get(0);
            let n = u64::try_from(n).unwrap_or(0);
            total += n;
            if n < STEP as u64 {
                return Ok(total);
            }
        }
    }
}
