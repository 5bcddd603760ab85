//! Reading the whole store out and writing one in, for `canopy store copy`.
//!
//! Calls are read in (start, organisation, id) order after a cursor, a page at a time, and
//! written through [`canopy_store::Ingest`], not here. Every import is idempotent: an
//! organisation or a tag already present is left as it is, and keys and scores are new row
//! versions that read as one.

use std::collections::BTreeMap;

use async_trait::async_trait;
use canopy_core::{CallId, CallRecord};
use canopy_store::Result;
use canopy_store::transfer::{
    CallCursor, OrgRow, OrgTotals, ScoreRow, SessionMarks, StoredKey, Transfer,
};
use serde::{Deserialize, Serialize};

use crate::annotate::SessionMark;
use crate::client::ChError;
use crate::dialect::sql;
use crate::keys::KeyLogRow;
use crate::read::{call_columns, corrupt, push_list};
use crate::write::json_line;
use crate::{ClickHouseStore, next_version, read_err, write_err};

#[async_trait]
impl Transfer for ClickHouseStore {
    #[tracing::instrument(skip_all)]
    async fn export_orgs(&self) -> Result<Vec<OrgRow>> {
        #[derive(Deserialize)]
        struct Org {
            id: String,
            name: String,
            created_at: i64,
        }
        let rows: Vec<Org> = self
            .client
            .rows(&sql(
                "SELECT id, name, created_at FROM org_names ORDER BY id",
            ))
            .await
            .map_err(read_err("export_orgs"))?;
        Ok(rows
            .into_iter()
            .map(|r| OrgRow {
                id: r.id,
                name: r.name,
                created_at_ms: r.created_at,
            })
            .collect())
    }

    #[tracing::instrument(skip_all)]
    async fn export_keys(&self) -> Result<Vec<StoredKey>> {
        let rows: Vec<KeyLogRow> = self
            .client
            .rows(&sql(format!(
                "SELECT {} FROM api_keys ORDER BY id",
                crate::keys::KEY_COLUMNS
            )))
            .await
            .map_err(read_err("export_keys"))?;
        Ok(rows
            .into_iter()
            .map(|r| StoredKey {
                id: r.id,
                org_id: r.org_id,
                hash: r.key_hash,
                prefix: r.key_prefix,
                created_at_ms: r.created_at,
                revoked_at_ms: r.revoked_at,
            })
            .collect())
    }

    #[tracing::instrument(skip_all, fields(limit))]
    async fn export_calls(
        &self,
        after: Option<&CallCursor>,
        limit: u32,
    ) -> Result<Vec<CallRecord>> {
        let mut q = sql(format!("SELECT {} FROM calls c", call_columns()));
        if let Some(cursor) = after {
            q.push(" WHERE (c.created_at, c.org_id, c.id) > (")
                .bind(cursor.created_at_ms)
                .push(", ")
                .bind(cursor.org_id.as_str())
                .push(", ")
                .bind(cursor.id.to_string())
                .push(")");
        }
        q.push(&format!(
            " ORDER BY c.created_at, c.org_id, c.id LIMIT {limit}"
        ));
        self.calls_with_bodies(&q, "export_calls").await
    }

    #[tracing::instrument(skip_all)]
    async fn export_scores(&self) -> Result<Vec<ScoreRow>> {
        #[derive(Deserialize)]
        struct Score {
            org_id: String,
            call_id: String,
            name: String,
            value: f64,
            created_at: i64,
        }
        let rows: Vec<Score> = self
            .client
            .rows(&sql(
                "SELECT org_id, call_id, name, value, created_at FROM call_scores \
                 ORDER BY org_id, call_id, name",
            ))
            .await
            .map_err(read_err("export_scores"))?;
        rows.into_iter()
            .map(|r| {
                Ok(ScoreRow {
                    call_id: CallId::parse(&r.call_id)
                        .ok_or_else(|| corrupt("score call id", &r.call_id))?,
                    org_id: r.org_id,
                    name: r.name,
                    value: r.value,
                    created_at_ms: r.created_at,
                })
            })
            .collect()
    }

    #[tracing::instrument(skip_all)]
    async fn export_session_marks(&self) -> Result<Vec<SessionMarks>> {
        #[derive(Deserialize)]
        struct Feedback {
            org_id: String,
            session_id: String,
            feedback: Option<bool>,
        }
        #[derive(Deserialize)]
        struct Tag {
            org_id: String,
            session_id: String,
            tag: String,
            created_at: i64,
        }
        let feedback: Vec<Feedback> = self
            .client
            .rows(&sql(
                "SELECT org_id, session_id, feedback FROM sessions WHERE feedback IS NOT NULL",
            ))
            .await
            .map_err(read_err("export_session_marks"))?;
        let tags: Vec<Tag> = self
            .client
            .rows(&sql(
                "SELECT org_id, session_id, tag, created_at FROM session_tags \
                 ORDER BY org_id, session_id, created_at, tag",
            ))
            .await
            .map_err(read_err("export_session_marks"))?;
        let mut marks: BTreeMap<(String, String), SessionMarks> = BTreeMap::new();
        for f in feedback {
            let key = (f.org_id.clone(), f.session_id.clone());
            marks
                .entry(key)
                .or_insert_with(|| blank(f.org_id, f.session_id))
                .feedback = f.feedback;
        }
        for t in tags {
            let key = (t.org_id.clone(), t.session_id.clone());
            marks
                .entry(key)
                .or_insert_with(|| blank(t.org_id, t.session_id))
                .tags
                .push((t.tag, t.created_at));
        }
        Ok(marks.into_values().collect())
    }

    #[tracing::instrument(skip_all, fields(rows = orgs.len()))]
    async fn import_orgs(&self, orgs: &[OrgRow]) -> Result<()> {
        #[derive(Serialize)]
        struct Org<'a> {
            id: &'a str,
            name: &'a str,
            created_at: i64,
        }
        let fail = write_err(orgs.len());
        let present = self.export_orgs().await?;
        let mut lines = Vec::new();
        for org in orgs {
            if present.iter().any(|p| p.id == org.id) {
                continue;
            }
            if present.iter().any(|p| p.name == org.name) {
                return Err(fail(ChError {
                    code: None,
                    message: format!(
                        "the organisation `{}` exists here under another id",
                        org.name
                    ),
                }));
            }
            json_line(
                &mut lines,
                &Org {
                    id: &org.id,
                    name: &org.name,
                    created_at: org.created_at_ms,
                },
            );
        }
        if lines.is_empty() {
            return Ok(());
        }
        self.client
            .insert("orgs", "id, name, created_at", lines, None)
            .await
            .map_err(fail)
    }

    #[tracing::instrument(skip_all, fields(rows = keys.len()))]
    async fn import_keys(&self, keys: &[StoredKey]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let rows: Vec<KeyLogRow> = keys
            .iter()
            .map(|k| KeyLogRow {
                id: k.id.clone(),
                org_id: k.org_id.clone(),
                key_hash: k.hash.clone(),
                key_prefix: k.prefix.clone(),
                created_at: k.created_at_ms,
                revoked_at: k.revoked_at_ms,
                version: next_version(),
            })
            .collect();
        self.insert_keys(&rows).await.map_err(write_err(keys.len()))
    }

    #[tracing::instrument(skip_all, fields(rows = scores.len()))]
    async fn import_scores(&self, scores: &[ScoreRow]) -> Result<()> {
        #[derive(Serialize)]
        struct Score<'a> {
            org_id: &'a str,
            call_id: String,
            name: &'a str,
            value: f64,
            created_at: i64,
            version: u64,
        }
        if scores.is_empty() {
            return Ok(());
        }
        let mut lines = Vec::new();
        for s in scores {
            json_line(
                &mut lines,
                &Score {
                    org_id: &s.org_id,
                    call_id: s.call_id.to_string(),
                    name: &s.name,
                    value: s.value,
                    created_at: s.created_at_ms,
                    version: next_version(),
                },
            );
        }
        self.client
            .insert(
                "call_score_log",
                "org_id, call_id, name, value, created_at, version",
                lines,
                None,
            )
            .await
            .map_err(write_err(scores.len()))
    }

    #[tracing::instrument(skip_all, fields(rows = marks.len()))]
    async fn import_session_marks(&self, marks: &[SessionMarks]) -> Result<()> {
        let fail = write_err(marks.len());
        if marks.is_empty() {
            return Ok(());
        }
        let mut feedback = Vec::new();
        let mut tags = Vec::new();
        for mark in marks {
            if !self.session_exists(&mark.org_id, &mark.session_id).await? {
                continue;
            }
            if let Some(rating) = mark.feedback {
                let row =
                    SessionMark::feedback(&mark.org_id, &mark.session_id, rating, next_version());
                json_line(&mut feedback, &row);
            }
            if !mark.tags.is_empty() {
                let mut q = sql("SELECT tag FROM session_tags WHERE org_id = ");
                q.bind(mark.org_id.as_str())
                    .push(" AND session_id = ")
                    .bind(mark.session_id.as_str())
                    .push(" AND tag IN (");
                push_list(&mut q, mark.tags.iter().map(|(tag, _)| tag.clone()));
                q.push(")");
                #[derive(Deserialize)]
                struct Tag {
                    tag: String,
                }
                let have: Vec<Tag> = self.client.rows(&q).await.map_err(&fail)?;
                for (tag, at) in &mark.tags {
                    if !have.iter().any(|h| &h.tag == tag) {
                        tags.push((
                            mark.org_id.as_str(),
                            mark.session_id.as_str(),
                            tag.as_str(),
                            *at,
                        ));
                    }
                }
            }
        }
        if !feedback.is_empty() {
            self.client
                .insert("session_totals", SessionMark::COLUMNS, feedback, None)
                .await
                .map_err(&fail)?;
        }
        self.insert_tags(&tags).await.map_err(&fail)
    }

    #[tracing::instrument(skip_all)]
    async fn totals(&self) -> Result<Vec<OrgTotals>> {
        #[derive(Deserialize)]
        struct Row {
            org_id: String,
            calls: u64,
            sessions: u64,
            requests: i64,
            cost: i64,
            in_sessions: u64,
            in_sessions_cost: i64,
        }
        let rows: Vec<Row> = self
            .client
            .rows(&sql(
                "SELECT org_id, sum(calls) AS calls, sum(sessions) AS sessions, \
                 sum(requests) AS requests, sum(cost) AS cost, sum(in_sessions) AS in_sessions, \
                 sum(in_sessions_cost) AS in_sessions_cost FROM ( \
                   SELECT org_id, count() AS calls, toUInt64(0) AS sessions, \
                   toInt64(0) AS requests, toInt64(0) AS cost, \
                   count(session_id) AS in_sessions, \
                   toInt64(sumIf(greatest(ifNull(cost_nano, 0), 0), session_id IS NOT NULL)) \
                   AS in_sessions_cost FROM calls GROUP BY org_id \
                   UNION ALL \
                   SELECT org_id, toUInt64(0), count(), toInt64(sum(request_count)), \
                   toInt64(sum(cost_nano)), toUInt64(0), toInt64(0) FROM sessions GROUP BY org_id \
                 ) GROUP BY org_id ORDER BY org_id",
            ))
            .await
            .map_err(read_err("totals"))?;
        Ok(rows
            .into_iter()
            .map(|r| OrgTotals {
                org_id: r.org_id,
                calls: r.calls,
                sessions: r.sessions,
                session_requests: u64::try_from(r.requests).unwrap_or(0),
                session_cost_nano: r.cost,
                calls_in_sessions: r.in_sessions,
                calls_in_sessions_cost_nano: r.in_sessions_cost,
            })
            .collect())
    }
}

/// Marks with nothing in them yet.
fn blank(org_id: String, session_id: String) -> SessionMarks {
    SessionMarks {
        org_id,
        session_id,
        feedback: None,
        tags: Vec::new(),
    }
}
