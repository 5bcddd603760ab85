//! The read side: calls and sessions, always filtered by organisation.
//!
//! Calls are read from the `calls` view (the latest version of each row) and their bodies in
//! a second query by key, never through a join: ClickHouse builds a join's right side in full.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use canopy_core::record::StoredBody;
use canopy_core::{CallId, CallKind, CallRecord, Usage, UsageSource};
use canopy_store::query::filter::Filter;
use canopy_store::query::{
    CallQuery, PathStat, SessionAggregate, SessionNameRow, SessionPoint, SessionQuery,
    SuggestField, Suggestion,
};
use canopy_store::sql::Sql;
use canopy_store::{Query, Result, SessionSummary, StoreError};
use serde::Deserialize;

use crate::client::ChError;
use crate::dialect::sql;
use crate::write::{CALL_LOG_COLUMNS, CallRow};
use crate::{ClickHouseStore, read_err};

/// The columns a [`SessionRow`] is read from, over sessions aliased `s`.
pub(crate) const SESSION_COLUMNS: &str = "s.session_id AS session_id, s.name AS name, \
    s.first_request_at AS first_request_at, s.last_request_at AS last_request_at, \
    s.last_response_at AS last_response_at, s.request_count AS request_count, \
    s.error_count AS error_count, s.prompt_tokens AS prompt_tokens, \
    s.completion_tokens AS completion_tokens, s.cost_nano AS cost_nano, \
    s.unpriced_count AS unpriced_count, s.latency_sum_ms AS latency_sum_ms, \
    s.user_ids AS user_ids, s.feedback AS feedback";

/// [`CALL_LOG_COLUMNS`] over calls aliased `c`.
pub(crate) fn call_columns() -> String {
    CALL_LOG_COLUMNS
        .split(", ")
        .map(|column| format!("c.{column} AS {column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Deserialize)]
pub(crate) struct SessionRow {
    session_id: String,
    name: Option<String>,
    first_request_at: i64,
    last_request_at: i64,
    last_response_at: i64,
    request_count: i64,
    error_count: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    cost_nano: i64,
    unpriced_count: i64,
    latency_sum_ms: i64,
    user_ids: Vec<String>,
    feedback: Option<bool>,
}

impl From<SessionRow> for SessionSummary {
    fn from(r: SessionRow) -> Self {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Self {
            session_id: r.session_id,
            name: r.name,
            first_request_at_ms: r.first_request_at,
            last_request_at_ms: r.last_request_at,
            last_response_at_ms: r.last_response_at,
            request_count: count(r.request_count),
            error_count: count(r.error_count),
            prompt_tokens: count(r.prompt_tokens),
            completion_tokens: count(r.completion_tokens),
            cost_nano_usd: r.cost_nano,
            unpriced_count: count(r.unpriced_count),
            latency_sum_ms: r.latency_sum_ms,
            user_ids: r.user_ids,
            feedback: r.feedback,
        }
    }
}

#[derive(Deserialize)]
struct BodyRow {
    org_id: String,
    id: String,
    created_at: i64,
    request_body: Option<String>,
    request_truncated: bool,
    request_omitted: bool,
    response_body: Option<String>,
    response_truncated: bool,
    response_omitted: bool,
    request_headers: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Count {
    n: u64,
}

#[async_trait]
impl Query for ClickHouseStore {
    #[tracing::instrument(skip_all)]
    async fn get_call(&self, org_id: &str, id: CallId) -> Result<Option<CallRecord>> {
        let mut q = sql(format!(
            "SELECT {} FROM calls c WHERE c.org_id = ",
            call_columns()
        ));
        q.bind(org_id).push(" AND c.id = ").bind(id.to_string());
        q.push(" ORDER BY c.created_at DESC LIMIT 1");
        let mut calls = self.calls_with_bodies(&q, "get_call").await?;
        Ok(calls.pop())
    }

    #[tracing::instrument(skip_all)]
    async fn get_session(&self, org_id: &str, session_id: &str) -> Result<Option<SessionSummary>> {
        let mut q = sql(format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.org_id = "
        ));
        q.bind(org_id).push(" AND s.session_id = ").bind(session_id);
        let rows: Vec<SessionRow> = self
            .client
            .rows(&q)
            .await
            .map_err(read_err("get_session"))?;
        Ok(rows.into_iter().next().map(SessionSummary::from))
    }

    #[tracing::instrument(skip_all)]
    async fn session_calls(&self, org_id: &str, session_id: &str) -> Result<Vec<CallRecord>> {
        let q = session_query(org_id, session_id);
        self.calls_with_bodies(&q, "session_calls").await
    }

    #[tracing::instrument(skip_all)]
    async fn session_calls_without_bodies(
        &self,
        org_id: &str,
        session_id: &str,
    ) -> Result<Vec<CallRecord>> {
        let q = session_query(org_id, session_id);
        self.calls_with(&q, "session_calls", false).await
    }

    #[tracing::instrument(skip_all)]
    async fn count_calls(&self, org_id: &str) -> Result<u64> {
        let mut q = sql("SELECT count() AS n FROM calls WHERE org_id = ");
        q.bind(org_id);
        let row: Count = self.client.row(&q).await.map_err(read_err("count_calls"))?;
        Ok(row.n)
    }

    #[tracing::instrument(skip_all)]
    async fn query_calls(&self, org_id: &str, query: &CallQuery) -> Result<Vec<CallRecord>> {
        self.calls_page(org_id, query).await
    }

    #[tracing::instrument(skip_all)]
    async fn count_matching_calls(&self, org_id: &str, filter: &Filter) -> Result<u64> {
        self.count_matching(org_id, filter).await
    }

    #[tracing::instrument(skip_all)]
    async fn call_scores(
        &self,
        org_id: &str,
        ids: &[CallId],
    ) -> Result<HashMap<CallId, BTreeMap<String, f64>>> {
        #[derive(Deserialize)]
        struct Score {
            call_id: String,
            name: String,
            value: f64,
        }
        let mut scores: HashMap<CallId, BTreeMap<String, f64>> = HashMap::new();
        if ids.is_empty() {
            return Ok(scores);
        }
        let mut q = sql("SELECT call_id, name, value FROM call_scores WHERE org_id = ");
        q.bind(org_id).push(" AND call_id IN (");
        push_list(&mut q, ids.iter().map(CallId::to_string));
        q.push(")");
        let rows: Vec<Score> = self
            .client
            .rows(&q)
            .await
            .map_err(read_err("call_scores"))?;
        for row in rows {
            if let Some(id) = CallId::parse(&row.call_id) {
                scores.entry(id).or_default().insert(row.name, row.value);
            }
        }
        Ok(scores)
    }

    #[tracing::instrument(skip_all)]
    async fn query_sessions(
        &self,
        org_id: &str,
        query: &SessionQuery,
    ) -> Result<Vec<SessionSummary>> {
        self.sessions_page(org_id, query).await
    }

    #[tracing::instrument(skip_all)]
    async fn aggregate_sessions(
        &self,
        org_id: &str,
        query: &SessionQuery,
    ) -> Result<SessionAggregate> {
        self.sessions_aggregate(org_id, query).await
    }

    #[tracing::instrument(skip_all)]
    async fn session_names(
        &self,
        org_id: &str,
        contains: &str,
        query: &SessionQuery,
    ) -> Result<Vec<SessionNameRow>> {
        self.names(org_id, contains, query).await
    }

    #[tracing::instrument(skip_all)]
    async fn session_points(
        &self,
        org_id: &str,
        query: &SessionQuery,
    ) -> Result<Vec<SessionPoint>> {
        self.points(org_id, query).await
    }

    #[tracing::instrument(skip_all)]
    async fn session_tags(&self, org_id: &str, session_id: &str) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Tag {
            tag: String,
        }
        let mut q = sql("SELECT tag FROM session_tags WHERE org_id = ");
        q.bind(org_id)
            .push(" AND session_id = ")
            .bind(session_id)
            .push(" ORDER BY created_at, tag");
        let rows: Vec<Tag> = self
            .client
            .rows(&q)
            .await
            .map_err(read_err("session_tags"))?;
        Ok(rows.into_iter().map(|t| t.tag).collect())
    }

    #[tracing::instrument(skip_all)]
    async fn path_stats(&self, org_id: &str, query: &SessionQuery) -> Result<Vec<PathStat>> {
        self.paths(org_id, query).await
    }

    #[tracing::instrument(skip_all)]
    async fn suggest(
        &self,
        org_id: &str,
        field: &SuggestField,
        contains: &str,
        limit: u64,
    ) -> Result<Vec<Suggestion>> {
        self.suggestions(org_id, field, contains, limit).await
    }
}

impl ClickHouseStore {
    /// Runs a query selecting [`call_columns`] and adds each call's bodies, keeping its order.
    pub(crate) async fn calls_with_bodies(
        &self,
        q: &Sql<'_>,
        what: &'static str,
    ) -> Result<Vec<CallRecord>> {
        self.calls_with(q, what, true).await
    }

    /// [`ClickHouseStore::calls_with_bodies`], with the bodies' text (`text`) or without.
    async fn calls_with(
        &self,
        q: &Sql<'_>,
        what: &'static str,
        text: bool,
    ) -> Result<Vec<CallRecord>> {
        let rows: Vec<CallRow> = self.client.rows(q).await.map_err(read_err(what))?;
        let mut bodies = self.bodies(&rows, text).await.map_err(read_err(what))?;
        rows.into_iter()
            .map(|row| {
                let body = bodies.remove(&(row.org_id.clone(), row.id.clone(), row.created_at));
                record(row, body)
            })
            .collect()
    }

    /// The bodies of `calls`, by (organisation, id, start); their text only with `text`.
    async fn bodies(
        &self,
        calls: &[CallRow],
        text: bool,
    ) -> std::result::Result<HashMap<(String, String, i64), BodyRow>, ChError> {
        let mut by_org: BTreeMap<&str, Vec<&CallRow>> = BTreeMap::new();
        for call in calls {
            by_org.entry(&call.org_id).or_default().push(call);
        }
        let mut out = HashMap::with_capacity(calls.len());
        for (org, calls) in by_org {
            // Within the calls' time range, so ClickHouse reads only their months and keys.
            for chunk in calls.chunks(1_000) {
                let first = chunk.iter().map(|c| c.created_at).min().unwrap_or(0);
                let last = chunk.iter().map(|c| c.created_at).max().unwrap_or(0);
                let (request, response) = if text {
                    ("request_body", "response_body")
                } else {
                    (
                        "CAST(NULL, 'Nullable(String)') AS request_body",
                        "CAST(NULL, 'Nullable(String)') AS response_body",
                    )
                };
                let mut q = sql(format!(
                    "SELECT org_id, id, created_at, {request}, request_truncated, \
                     request_omitted, {response}, response_truncated, response_omitted, \
                     request_headers FROM call_bodies WHERE org_id = "
                ));
                q.bind(org)
                    .push(" AND created_at >= ")
                    .bind(first)
                    .push(" AND created_at <= ")
                    .bind(last)
                    .push(" AND id IN (");
                push_list(&mut q, chunk.iter().map(|c| c.id.clone()));
                q.push(")");
                let rows: Vec<BodyRow> = self.client.rows(&q).await?;
                for row in rows {
                    out.insert((row.org_id.clone(), row.id.clone(), row.created_at), row);
                }
            }
        }
        Ok(out)
    }
}

/// The calls of one session, oldest first, selecting [`call_columns`].
fn session_query(org_id: &str, session_id: &str) -> Sql<'static> {
    let mut q = sql(format!(
        "SELECT {} FROM calls c WHERE c.org_id = ",
        call_columns()
    ));
    q.bind(org_id).push(" AND c.session_id = ").bind(session_id);
    q.push(" ORDER BY c.created_at, c.id");
    q
}

/// Binds each item, separated by commas.
pub(crate) fn push_list(q: &mut Sql<'_>, items: impl Iterator<Item = String>) {
    for (i, item) in items.enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.bind(item);
    }
}

pub(crate) fn corrupt(what: &'static str, reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what,
        reason: reason.to_string(),
    }
}

/// A call as the store traits return it.
fn record(row: CallRow, body: Option<BodyRow>) -> Result<CallRecord> {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let (request_body, response_body, request_headers) = match body {
        Some(b) => (
            StoredBody {
                text: b.request_body,
                truncated: b.request_truncated,
                omitted: b.request_omitted,
            },
            StoredBody {
                text: b.response_body,
                truncated: b.response_truncated,
                omitted: b.response_omitted,
            },
            b.request_headers,
        ),
        None => Default::default(),
    };
    Ok(CallRecord {
        id: CallId::parse(&row.id).ok_or_else(|| corrupt("call id", &row.id))?,
        id_from_caller: false,
        org_id: row.org_id,
        key_id: row.key_id,
        created_at_ms: row.created_at,
        response_created_at_ms: row.response_created_at,
        latency_ms: row.latency_ms,
        time_to_first_token_ms: row.time_to_first_token_ms,
        provider: row.provider,
        target_url: row.target_url,
        request_path: row.request_path,
        method: row.method,
        status: row.status,
        is_stream: row.is_stream,
        request_model: row.request_model,
        response_model: row.response_model,
        pricing_model: row.pricing_model,
        usage: Usage {
            prompt_tokens: count(row.prompt_tokens),
            completion_tokens: count(row.completion_tokens),
            cache_read_tokens: count(row.cache_read_tokens),
            cache_write_tokens: count(row.cache_write_tokens),
            cache_write_1h_tokens: count(row.cache_write_1h_tokens),
            reasoning_tokens: count(row.reasoning_tokens),
            audio_input_tokens: count(row.audio_input_tokens),
            audio_output_tokens: count(row.audio_output_tokens),
        },
        usage_source: UsageSource::from_stored(&row.usage_source),
        cost_nano_usd: row.cost_nano,
        session_id: row.session_id,
        session_path: row.session_path,
        session_name: row.session_name,
        user_id: row.user_id,
        prompt_id: row.prompt_id,
        properties: row.properties,
        request_body,
        response_body,
        request_headers,
        error: row.error,
        kind: CallKind::from_stored(&row.kind).ok_or_else(|| corrupt("call kind", &row.kind))?,
    })
}
