//! Reading the whole store out and writing one in, for `canopy store copy`.
//!
//! Calls are read in (start, organisation, id) order along the `calls_created` index (calls
//! and their bodies come from every monthly partition), a page at a time after a cursor; the
//! organisation and id compare in the database's text order, which the cursor comparison
//! shares, so pages never skip or repeat a call. They are written through
//! [`canopy_store::Ingest`], not here.
//! Every import is idempotent: organisations and keys are kept by id, scores and tags by their
//! keys, so running one twice changes nothing.

use std::collections::BTreeMap;

use async_trait::async_trait;
use canopy_core::{CallId, CallRecord};
use canopy_store::transfer::{
    CallCursor, OrgRow, OrgTotals, ScoreRow, SessionMarks, StoredKey, Transfer,
};
use canopy_store::{Result, StoreError};
use sqlx::{Postgres, QueryBuilder, Row};

use crate::PostgresStore;
use crate::read::{CALL_COLUMNS, CALLS_WITH_BODIES, call_from_row, corrupt, read_err};

/// Rows per multi-row insert: well under PostgreSQL's limit of 65,535 bound values.
const ROWS_PER_INSERT: usize = 500;

fn write_err(rows: usize) -> impl Fn(sqlx::Error) -> StoreError {
    move |source| StoreError::Write {
        rows,
        source: source.into(),
    }
}

#[async_trait]
impl Transfer for PostgresStore {
    #[tracing::instrument(skip_all)]
    async fn export_orgs(&self) -> Result<Vec<OrgRow>> {
        let rows = sqlx::query("SELECT id, name, created_at FROM orgs ORDER BY id")
            .fetch_all(&self.pool)
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
        .fetch_all(&self.pool)
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
        let order = "ORDER BY c.created_at, c.org_id, c.id";
        // Built from constants only; every value is bound.
        let rows = match after {
            None => {
                let sql =
                    format!("SELECT {CALL_COLUMNS} FROM {CALLS_WITH_BODIES} {order} LIMIT $1");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
            }
            Some(cursor) => {
                let sql = format!(
                    "SELECT {CALL_COLUMNS} FROM {CALLS_WITH_BODIES} \
                     WHERE (c.created_at, c.org_id, c.id) > ($1, $2, $3) {order} LIMIT $4"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(cursor.created_at_ms)
                    .bind(&cursor.org_id)
                    .bind(cursor.id.to_string())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
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
        .fetch_all(&self.pool)
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
        .fetch_all(&self.pool)
        .await
        .map_err(read_err("export_session_marks"))?;
        let tags = sqlx::query(
            "SELECT org_id, session_id, tag, created_at FROM session_tags \
             ORDER BY org_id, session_id, created_at, tag",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(read_err("export_session_marks"))?;
        let mut marks: BTreeMap<(String, String), SessionMarks> = BTreeMap::new();
        for r in &feedback {
            let key = (r.get::<String, _>(0), r.get::<String, _>(1));
            let mark = marks.entry(key.clone()).or_insert_with(|| blank(key));
            mark.feedback = r.get::<Option<bool>, _>(2);
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
        let fail = write_err(orgs.len());
        let mut tx = self.pool.begin().await.map_err(&fail)?;
        for chunk in orgs.chunks(ROWS_PER_INSERT) {
            let mut q = QueryBuilder::<Postgres>::new("INSERT INTO orgs (id, name, created_at) ");
            q.push_values(chunk, |mut row, o| {
                row.push_bind(&o.id)
                    .push_bind(&o.name)
                    .push_bind(o.created_at_ms);
            });
            // By id only: the same name under another id is a different organisation, and
            // the insert fails rather than merge the two.
            q.push(" ON CONFLICT (id) DO NOTHING");
            q.build().execute(&mut *tx).await.map_err(&fail)?;
        }
        tx.commit().await.map_err(&fail)
    }

    #[tracing::instrument(skip_all, fields(rows = keys.len()))]
    async fn import_keys(&self, keys: &[StoredKey]) -> Result<()> {
        let fail = write_err(keys.len());
        let mut tx = self.pool.begin().await.map_err(&fail)?;
        for chunk in keys.chunks(ROWS_PER_INSERT) {
            let mut q = QueryBuilder::<Postgres>::new(
                "INSERT INTO api_keys (id, org_id, key_hash, key_prefix, created_at, revoked_at) ",
            );
            q.push_values(chunk, |mut row, k| {
                row.push_bind(&k.id)
                    .push_bind(&k.org_id)
                    .push_bind(&k.hash)
                    .push_bind(&k.prefix)
                    .push_bind(k.created_at_ms)
                    .push_bind(k.revoked_at_ms);
            });
            q.push(" ON CONFLICT (id) DO UPDATE SET revoked_at = excluded.revoked_at");
            q.build().execute(&mut *tx).await.map_err(&fail)?;
        }
        tx.commit().await.map_err(&fail)
    }

    #[tracing::instrument(skip_all, fields(rows = scores.len()))]
    async fn import_scores(&self, scores: &[ScoreRow]) -> Result<()> {
        let fail = write_err(scores.len());
        let mut tx = self.pool.begin().await.map_err(&fail)?;
        for chunk in scores.chunks(ROWS_PER_INSERT) {
            let mut q = QueryBuilder::<Postgres>::new(
                "INSERT INTO call_scores (org_id, call_id, name, value, created_at) ",
            );
            q.push_values(chunk, |mut row, s| {
                row.push_bind(&s.org_id)
                    .push_bind(s.call_id.to_string())
                    .push_bind(&s.name)
                    .push_bind(s.value)
                    .push_bind(s.created_at_ms);
            });
            q.push(
                " ON CONFLICT (org_id, call_id, name) DO UPDATE SET value = excluded.value, \
                 created_at = excluded.created_at",
            );
            q.build().execute(&mut *tx).await.map_err(&fail)?;
        }
        tx.commit().await.map_err(&fail)
    }

    #[tracing::instrument(skip_all, fields(rows = marks.len()))]
    async fn import_session_marks(&self, marks: &[SessionMarks]) -> Result<()> {
        let fail = write_err(marks.len());
        let mut tx = self.pool.begin().await.map_err(&fail)?;
        for mark in marks {
            if let Some(feedback) = mark.feedback {
                sqlx::query(
                    "UPDATE sessions SET feedback = $1 WHERE org_id = $2 AND session_id = $3",
                )
                .bind(feedback)
                .bind(&mark.org_id)
                .bind(&mark.session_id)
                .execute(&mut *tx)
                .await
                .map_err(&fail)?;
            }
            for (tag, at) in &mark.tags {
                sqlx::query(
                    "INSERT INTO session_tags (org_id, session_id, tag, created_at) \
                     SELECT org_id, session_id, $1, $2 FROM sessions \
                     WHERE org_id = $3 AND session_id = $4 ON CONFLICT DO NOTHING",
                )
                .bind(tag)
                .bind(at)
                .bind(&mark.org_id)
                .bind(&mark.session_id)
                .execute(&mut *tx)
                .await
                .map_err(&fail)?;
            }
        }
        tx.commit().await.map_err(&fail)
    }

    #[tracing::instrument(skip_all)]
    async fn totals(&self) -> Result<Vec<OrgTotals>> {
        let rows = sqlx::query(
            "SELECT org_id, sum(calls)::bigint, sum(sessions)::bigint, sum(requests)::bigint, \
               sum(cost)::bigint, sum(in_sessions)::bigint, sum(in_sessions_cost)::bigint \
             FROM ( \
               SELECT org_id, count(*) AS calls, 0::bigint AS sessions, 0::numeric AS requests, \
               0::numeric AS cost, count(session_id) AS in_sessions, \
               coalesce(sum(CASE WHEN session_id IS NOT NULL \
               THEN GREATEST(cost_nano, 0) END), 0)::numeric AS in_sessions_cost \
               FROM calls GROUP BY org_id \
               UNION ALL \
               SELECT org_id, 0, count(*), sum(request_count), sum(cost_nano), 0, 0 \
               FROM sessions GROUP BY org_id \
             ) t GROUP BY org_id ORDER BY org_id",
        )
        .fetch_all(&self.pool)
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
