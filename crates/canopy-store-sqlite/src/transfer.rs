//! Reading the whole store out and writing one in, for `canopy store copy`.
//!
//! Calls are read in (start, organisation, id) order along the `calls_created` index, a page
//! at a time after a cursor; they are written through [`canopy_store::Ingest`], not here.
//! Every import is idempotent: organisations and keys are kept by id, scores and tags by their
//! keys, so running one twice changes nothing.

use std::collections::BTreeMap;

use async_trait::async_trait;
use canopy_core::{CallId, CallRecord};
use canopy_store::sql::{Sql, transfer};
use canopy_store::transfer::{
    CallCursor, OrgRow, OrgTotals, ScoreRow, SessionMarks, StoredKey, Transfer,
};
use canopy_store::{Result, StoreError};
use sqlx::Row;

use crate::SqliteStore;
use crate::dialect::{DIALECT, query};
use crate::read::{CALL_JSON, CALLS_WITH_BODIES, call_from_row, corrupt, read_err};

fn write_err(rows: usize) -> impl Fn(sqlx::Error) -> StoreError {
    move |source| StoreError::Write {
        rows,
        source: source.into(),
    }
}

#[async_trait]
impl Transfer for SqliteStore {
    #[tracing::instrument(skip_all)]
    async fn export_orgs(&self) -> Result<Vec<OrgRow>> {
        let rows = sqlx::query("SELECT id, name, created_at FROM orgs ORDER BY id")
            .fetch_all(&self.readers)
            .await
            .map_err(read_err("export_orgs"))?;
        Ok(rows
            .iter()
            .map(|r| OrgRow {
                id: r.get(0),
                name: r.get(1),
                created_at_ms: r.get(2),
            })
            .collect())
    }

    #[tracing::instrument(skip_all)]
    async fn export_keys(&self) -> Result<Vec<StoredKey>> {
        let rows = sqlx::query(
            "SELECT id, org_id, key_hash, key_prefix, created_at, revoked_at FROM api_keys \
             ORDER BY id",
        )
        .fetch_all(&self.readers)
        .await
        .map_err(read_err("export_keys"))?;
        Ok(rows
            .iter()
            .map(|r| StoredKey {
                id: r.get(0),
                org_id: r.get(1),
                hash: r.get(2),
                prefix: r.get(3),
                created_at_ms: r.get(4),
                revoked_at_ms: r.get(5),
            })
            .collect())
    }

    #[tracing::instrument(skip_all, fields(limit))]
    async fn export_calls(
        &self,
        after: Option<&CallCursor>,
        limit: u32,
    ) -> Result<Vec<CallRecord>> {
        let order = "ORDER BY c.created_at, c.org_id, c.id LIMIT ?";
        // Built from constants only; every value is bound.
        let rows = match after {
            None => {
                let sql = format!("SELECT {CALL_JSON} FROM {CALLS_WITH_BODIES} {order}");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(i64::from(limit))
                    .fetch_all(&self.readers)
                    .await
            }
            Some(cursor) => {
                let sql = format!(
                    "SELECT {CALL_JSON} FROM {CALLS_WITH_BODIES} WHERE (c.created_at, c.org_id, c.id) > (?, ?, ?) \
                     {order}"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(cursor.created_at_ms)
                    .bind(&cursor.org_id)
                    .bind(cursor.id.to_string())
                    .bind(i64::from(limit))
                    .fetch_all(&self.readers)
                    .await
            }
        }
        .map_err(read_err("export_calls"))?;
        rows.iter().map(call_from_row).collect()
    }

    #[tracing::instrument(skip_all)]
    async fn export_scores(&self) -> Result<Vec<ScoreRow>> {
        let rows = sqlx::query(
            "SELECT org_id, call_id, name, value, created_at FROM call_scores \
             ORDER BY org_id, call_id, name",
        )
        .fetch_all(&self.readers)
        .await
        .map_err(read_err("export_scores"))?;
        rows.iter()
            .map(|r| {
                let id: String = r.get(1);
                Ok(ScoreRow {
                    org_id: r.get(0),
                    call_id: CallId::parse(&id).ok_or_else(|| corrupt("score call id", &id))?,
                    name: r.get(2),
                    value: r.get(3),
                    created_at_ms: r.get(4),
                })
            })
            .collect()
    }

    #[tracing::instrument(skip_all)]
    async fn export_session_marks(&self) -> Result<Vec<SessionMarks>> {
        let feedback = sqlx::query(
            "SELECT org_id, session_id, feedback FROM sessions WHERE feedback IS NOT NULL",
        )
        .fetch_all(&self.readers)
        .await
        .map_err(read_err("export_session_marks"))?;
        let tags = sqlx::query(
            "SELECT org_id, session_id, tag, created_at FROM session_tags \
             ORDER BY org_id, session_id, created_at, tag",
        )
        .fetch_all(&self.readers)
        .await
        .map_err(read_err("export_session_marks"))?;
        let mut marks: BTreeMap<(String, String), SessionMarks> = BTreeMap::new();
        for r in &feedback {
            let key = (r.get::<String, _>(0), r.get::<String, _>(1));
            let mark = marks.entry(key.clone()).or_insert_with(|| blank(key));
            mark.feedback = r.get::<Option<i64>, _>(2).map(|f| f != 0);
        }
        for r in &tags {
            let key = (r.get::<String, _>(0), r.get::<String, _>(1));
            let mark = marks.entry(key.clone()).or_insert_with(|| blank(key));
            mark.tags.push((r.get(2), r.get(3)));
        }
        Ok(marks.into_values().collect())
    }

    #[tracing::instrument(skip_all, fields(rows = orgs.len()))]
    async fn import_orgs(&self, orgs: &[OrgRow]) -> Result<()> {
        self.run_all(transfer::import_orgs(&DIALECT, orgs), orgs.len())
            .await
    }

    #[tracing::instrument(skip_all, fields(rows = keys.len()))]
    async fn import_keys(&self, keys: &[StoredKey]) -> Result<()> {
        self.run_all(transfer::import_keys(&DIALECT, keys), keys.len())
            .await
    }

    #[tracing::instrument(skip_all, fields(rows = scores.len()))]
    async fn import_scores(&self, scores: &[ScoreRow]) -> Result<()> {
        self.run_all(transfer::import_scores(&DIALECT, scores), scores.len())
            .await
    }

    #[tracing::instrument(skip_all, fields(rows = marks.len()))]
    async fn import_session_marks(&self, marks: &[SessionMarks]) -> Result<()> {
        let fail = write_err(marks.len());
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(&fail)?;
        for mark in marks {
            if let Some(feedback) = mark.feedback {
                sqlx::query("UPDATE sessions SET feedback = ? WHERE org_id = ? AND session_id = ?")
                    .bind(i64::from(feedback))
                    .bind(&mark.org_id)
                    .bind(&mark.session_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(&fail)?;
            }
        }
        for statement in transfer::import_tags(&DIALECT, marks) {
            query(&statement).execute(&mut *tx).await.map_err(&fail)?;
        }
        tx.commit().await.map_err(&fail)
    }

    #[tracing::instrument(skip_all)]
    async fn totals(&self) -> Result<Vec<OrgTotals>> {
        let rows = sqlx::query(
            "SELECT org_id, sum(calls), sum(sessions), sum(requests), sum(cost), \
               sum(in_sessions), sum(in_sessions_cost) FROM ( \
               SELECT org_id, count(*) AS calls, 0 AS sessions, 0 AS requests, 0 AS cost, \
               count(session_id) AS in_sessions, \
               coalesce(sum(CASE WHEN session_id IS NOT NULL THEN max(cost_nano, 0) END), 0) \
               AS in_sessions_cost FROM calls GROUP BY org_id \
               UNION ALL \
               SELECT org_id, 0, count(*), sum(request_count), sum(cost_nano), 0, 0 \
               FROM sessions GROUP BY org_id \
             ) GROUP BY org_id ORDER BY org_id",
        )
        .fetch_all(&self.readers)
        .await
        .map_err(read_err("totals"))?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(rows
            .iter()
            .map(|r| OrgTotals {
                org_id: r.get(0),
                calls: count(r.get(1)),
                sessions: count(r.get(2)),
                session_requests: count(r.get(3)),
                session_cost_nano: r.get(4),
                calls_in_sessions: count(r.get(5)),
                calls_in_sessions_cost_nano: r.get(6),
            })
            .collect())
    }
}

/// Marks with nothing in them yet, for the session `key` (organisation, session).
fn blank((org_id, session_id): (String, String)) -> SessionMarks {
    SessionMarks {
        org_id,
        session_id,
        feedback: None,
        tags: Vec::new(),
    }
}

impl SqliteStore {
    /// Runs `statements` in one transaction.
    async fn run_all(&self, statements: Vec<Sql<'_>>, rows: usize) -> Result<()> {
        let fail = write_err(rows);
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(&fail)?;
        for statement in &statements {
            query(statement).execute(&mut *tx).await.map_err(&fail)?;
        }
        tx.commit().await.map_err(&fail)
    }
}
