//! Retention: old calls and then empty sessions go, a few hundred rows per transaction, so
//! that the writer connection is never held long and writes go on between steps.

use async_trait::async_trait;
use canopy_store::{Purged, Result, Retain, StoreError};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::SqliteStore;

/// Rows removed per transaction.
const STEP: i64 = 500;

fn err(source: sqlx::Error) -> StoreError {
    StoreError::Write {
        rows: 0,
        source: source.into(),
    }
}

#[async_trait]
impl Retain for SqliteStore {
    #[tracing::instrument(skip_all)]
    async fn purge(&self, before_ms: i64) -> Result<Purged> {
        let mut purged = Purged::default();
        loop {
            let n = self.purge_calls(before_ms).await.map_err(err)?;
            purged.calls += n;
            if n < STEP as u64 {
                break;
            }
            tokio::task::yield_now().await;
        }
        loop {
            let n = self.purge_sessions(before_ms).await.map_err(err)?;
            purged.sessions += n;
            if n < STEP as u64 {
                break;
            }
            tokio::task::yield_now().await;
        }
        Ok(purged)
    }
}

impl SqliteStore {
    /// Removes the oldest calls before `before_ms`, at most [`STEP`], with their bodies and
    /// scores; returns how many.
    async fn purge_calls(&self, before_ms: i64) -> sqlx::Result<u64> {
        let mut tx = self.writer.begin().await?;
        let rows = sqlx::query(
            "SELECT rowid, org_id, id FROM calls WHERE created_at < ? ORDER BY created_at LIMIT ?",
        )
        .bind(before_ms)
        .bind(STEP)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let keys: Vec<(i64, String, String)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        for (table, id_column) in [("call_scores", "call_id"), ("call_bodies", "id")] {
            let mut q = QueryBuilder::<Sqlite>::new(format!(
                "DELETE FROM {table} WHERE (org_id, {id_column}) IN (VALUES "
            ));
            let mut list = q.separated(", ");
            for (_, org, id) in &keys {
                list.push("(")
                    .push_bind_unseparated(org.as_str())
                    .push_unseparated(", ")
                    .push_bind_unseparated(id.as_str())
                    .push_unseparated(")");
            }
            q.push(")");
            q.build().execute(&mut *tx).await?;
        }
        let mut q = QueryBuilder::<Sqlite>::new("DELETE FROM calls WHERE rowid IN (");
        let mut list = q.separated(", ");
        for (rowid, _, _) in &keys {
            list.push_bind(*rowid);
        }
        q.push(")");
        let done = q.build().execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Removes sessions whose latest call started before `before_ms`, at most [`STEP`], with
    /// their tags and users; returns how many.
    async fn purge_sessions(&self, before_ms: i64) -> sqlx::Result<u64> {
        let mut tx = self.writer.begin().await?;
        let rows = sqlx::query(
            "SELECT rowid, org_id, session_id FROM sessions WHERE last_request_at < ? LIMIT ?",
        )
        .bind(before_ms)
        .bind(STEP)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let keys: Vec<(i64, String, String)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        for table in ["session_tags", "session_users"] {
            let mut q = QueryBuilder::<Sqlite>::new(format!(
                "DELETE FROM {table} WHERE (org_id, session_id) IN (VALUES "
            ));
            let mut list = q.separated(", ");
            for (_, org, session) in &keys {
                list.push("(")
                    .push_bind_unseparated(org.as_str())
                    .push_unseparated(", ")
                    .push_bind_unseparated(session.as_str())
                    .push_unseparated(")");
            }
            q.push(")");
            q.build().execute(&mut *tx).await?;
        }
        let mut q = QueryBuilder::<Sqlite>::new("DELETE FROM sessions WHERE rowid IN (");
        let mut list = q.separated(", ");
        for (rowid, _, _) in &keys {
            list.push_bind(*rowid);
        }
        q.push(")");
        let done = q.build().execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}
