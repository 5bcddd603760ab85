//! Annotations written after the fact, each as a new row version: call properties (the call's
//! row again), scores, session feedback (a row of session totals that adds nothing but the
//! rating) and tags.

use std::collections::BTreeMap;

use async_trait::async_trait;
use canopy_core::CallId;
use canopy_store::{Annotate, Result, now_ms};
use serde::{Deserialize, Serialize};

use crate::dialect::sql;
use crate::write::{CALL_LOG_COLUMNS, CallRow, json_line};
use crate::{ClickHouseStore, next_version, write_err};

#[derive(Deserialize)]
struct Count {
    n: u64,
}

/// A row of `session_totals` that adds nothing to a session but what its fields say.
#[derive(Serialize)]
pub(crate) struct SessionMark<'a> {
    pub org_id: &'a str,
    pub session_id: &'a str,
    pub latest_name: (i64, &'a str),
    pub first_request_at: i64,
    pub last_request_at: i64,
    pub last_response_at: i64,
    pub latest_feedback: (u64, i8),
}

impl<'a> SessionMark<'a> {
    pub(crate) const COLUMNS: &'static str = "org_id, session_id, latest_name, \
        first_request_at, last_request_at, last_response_at, latest_feedback";

    /// A rating of the session, as of `version`.
    pub(crate) fn feedback(
        org_id: &'a str,
        session_id: &'a str,
        rating: bool,
        version: u64,
    ) -> Self {
        Self {
            org_id,
            session_id,
            latest_name: (0, ""),
            first_request_at: i64::MAX,
            last_request_at: i64::MIN,
            last_response_at: i64::MIN,
            latest_feedback: (version, i8::from(rating)),
        }
    }
}

#[async_trait]
impl Annotate for ClickHouseStore {
    #[tracing::instrument(skip_all)]
    async fn set_property(&self, org_id: &str, id: CallId, key: &str, value: &str) -> Result<bool> {
        let fail = write_err(1);
        let mut q = sql(format!(
            "SELECT {CALL_LOG_COLUMNS} FROM call_log FINAL WHERE org_id = "
        ));
        q.bind(org_id).push(" AND id = ").bind(id.to_string());
        let rows: Vec<CallRow> = self.client.rows(&q).await.map_err(&fail)?;
        if rows.is_empty() {
            return Ok(false);
        }
        let mut lines = Vec::new();
        for mut row in rows {
            row.properties.insert(key.to_owned(), value.to_owned());
            row.version = next_version().max(row.version + 1);
            row.edited = true;
            json_line(&mut lines, &row);
        }
        self.client
            .insert("call_log", CALL_LOG_COLUMNS, lines, None)
            .await
            .map_err(&fail)?;
        Ok(true)
    }

    #[tracing::instrument(skip_all)]
    async fn set_scores(&self, org_id: &str, id: CallId, scores: &[(String, f64)]) -> Result<bool> {
        #[derive(Serialize)]
        struct ScoreRow<'a> {
            org_id: &'a str,
            call_id: String,
            name: &'a str,
            value: f64,
            created_at: i64,
            version: u64,
        }
        let fail = write_err(1);
        let mut q = sql("SELECT count() AS n FROM call_log WHERE org_id = ");
        q.bind(org_id).push(" AND id = ").bind(id.to_string());
        let found: Count = self.client.row(&q).await.map_err(&fail)?;
        if found.n == 0 {
            return Ok(false);
        }
        // The last value given for a name wins, as it would one statement at a time.
        let latest: BTreeMap<&str, f64> = scores.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        let (now, version) = (now_ms(), next_version());
        let mut lines = Vec::new();
        for (name, value) in latest {
            let row = ScoreRow {
                org_id,
                call_id: id.to_string(),
                name,
                value,
                created_at: now,
                version,
            };
            json_line(&mut lines, &row);
        }
        if !lines.is_empty() {
            self.client
                .insert(
                    "call_score_log",
                    "org_id, call_id, name, value, created_at, version",
                    lines,
                    None,
                )
                .await
                .map_err(&fail)?;
        }
        Ok(true)
    }

    #[tracing::instrument(skip_all)]
    async fn set_session_feedback(
        &self,
        org_id: &str,
        session_id: &str,
        rating: bool,
    ) -> Result<bool> {
        let fail = write_err(1);
        if !self.session_exists(org_id, session_id).await? {
            return Ok(false);
        }
        let mut line = Vec::new();
        json_line(
            &mut line,
            &SessionMark::feedback(org_id, session_id, rating, next_version()),
        );
        self.client
            .insert("session_totals", SessionMark::COLUMNS, line, None)
            .await
            .map_err(&fail)?;
        Ok(true)
    }

    #[tracing::instrument(skip_all)]
    async fn add_session_tag(&self, org_id: &str, session_id: &str, tag: &str) -> Result<bool> {
        let fail = write_err(1);
        if !self.session_exists(org_id, session_id).await? {
            return Ok(false);
        }
        let mut q = sql("SELECT count() AS n FROM session_tag_log WHERE org_id = ");
        q.bind(org_id)
            .push(" AND session_id = ")
            .bind(session_id)
            .push(" AND tag = ")
            .bind(tag);
        let present: Count = self.client.row(&q).await.map_err(&fail)?;
        if present.n == 0 {
            self.insert_tags(&[(org_id, session_id, tag, now_ms())])
                .await
                .map_err(&fail)?;
        }
        Ok(true)
    }
}

impl ClickHouseStore {
    pub(crate) async fn session_exists(&self, org_id: &str, session_id: &str) -> Result<bool> {
        let mut q = sql("SELECT count() AS n FROM session_totals WHERE org_id = ");
        q.bind(org_id).push(" AND session_id = ").bind(session_id);
        let found: Count = self.client.row(&q).await.map_err(write_err(1))?;
        Ok(found.n > 0)
    }

    /// Adds tags as (organisation, session, tag, when).
    pub(crate) async fn insert_tags(
        &self,
        tags: &[(&str, &str, &str, i64)],
    ) -> std::result::Result<(), crate::client::ChError> {
        #[derive(Serialize)]
        struct TagRow<'a> {
            org_id: &'a str,
            session_id: &'a str,
            tag: &'a str,
            created_at: i64,
        }
        let mut lines = Vec::new();
        for &(org_id, session_id, tag, created_at) in tags {
            json_line(
                &mut lines,
                &TagRow {
                    org_id,
                    session_id,
                    tag,
                    created_at,
                },
            );
        }
        if lines.is_empty() {
            return Ok(());
        }
        self.client
            .insert(
                "session_tag_log",
                "org_id, session_id, tag, created_at",
                lines,
                None,
            )
            .await
    }
}
