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
        self.purge_step(
            "SELECT rowid, org_id, id FROM calls WHERE created_at < ? ORDER BY created_at LIMIT ?",
            "calls",
            &[
                ("call_scores", Link::Key("call_id")),
                ("call_bodies", Link::Rowid("call_seq")),
            ],
            before_ms,
        )
        .await
    }

    /// Removes sessions whose latest call started before `before_ms`, at most [`STEP`], with
    /// their tags and users; returns how many.
    async fn purge_sessions(&self, before_ms: i64) -> sqlx::Result<u64> {
        self.purge_step(
            "SELECT rowid, org_id, session_id FROM sessions WHERE last_request_at < ? LIMIT ?",
            "sessions",
            &[
                ("session_tags", Link::Key("session_id")),
                ("session_users", Link::Key("session_id")),
            ],
            before_ms,
        )
        .await
    }

    /// One transaction: `select` picks at most [`STEP`] rows of `table` as (rowid, org_id, key);
    /// the rows of each dependent table that [`Link`] to them go first, then the picked rows.
    /// Returns how many rows of `table` went.
    async fn purge_step(
        &self,
        select: &'static str,
        table: &'static str,
        dependents: &[(&'static str, Link)],
        before_ms: i64,
    ) -> sqlx::Result<u64> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let rows = sqlx::query(select)
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
        for (dependent, link) in dependents {
            let mut q = match link {
                Link::Key(column) => delete_by_key(dependent, column, &keys),
                Link::Rowid(column) => delete_by_rowid(dependent, column, &keys),
            };
            q.build().execute(&mut *tx).await?;
        }
        let mut q = delete_by_rowid(table, "rowid", &keys);
        let done = q.build().execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

/// How a dependent table's rows belong to the rows being removed.
enum Link {
    /// The named column and `org_id` hold the removed row's organisation and key.
    Key(&'static str),
    /// The named column holds the removed row's rowid.
    Rowid(&'static str),
}

/// Deletes the rows of `table` whose `org_id` and `column` are those of one of `keys`.
fn delete_by_key(
    table: &str,
    column: &str,
    keys: &[(i64, String, String)],
) -> QueryBuilder<Sqlite> {
    let mut q = QueryBuilder::<Sqlite>::new(format!(
        "DELETE FROM {table} WHERE (org_id, {column}) IN (VALUES "
    ));
    let mut list = q.separated(", ");
    for (_, org, key) in keys {
        list.push("(")
            .push_bind_unseparated(org.as_str())
            .push_unseparated(", ")
            .push_bind_unseparated(key.as_str())
            .push_unseparated(")");
    }
    q.push(")");
    q
}

/// Deletes the rows of `table` whose `column` holds the rowid of one of `keys`.
fn delete_by_rowid(
    table: &str,
    column: &str,
    keys: &[(i64, String, String)],
) -> QueryBuilder<Sqlite> {
    let mut q = QueryBuilder::<Sqlite>::new(format!("DELETE FROM {table} WHERE {column} IN ("));
    let mut list = q.separated(", ");
    for (rowid, _, _) in keys {
        list.push_bind(*rowid);
    }
    q.push(")");
    q
}
