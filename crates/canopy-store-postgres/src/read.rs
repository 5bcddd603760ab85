//! The read side: calls and sessions, always filtered by organisation.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use canopy_core::record::StoredBody;
use canopy_core::{CallId, CallKind, CallRecord, Usage, UsageSource};
use canopy_store::query::filter::Filter;
use canopy_store::query::{
    CallQuery, PathStat, SessionAggregate, SessionNameRow, SessionPoint, SessionQuery,
    SuggestField, Suggestion,
};
use canopy_store::{Query, Result, SessionSummary, StoreError};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::PostgresStore;
use crate::dialect::text;

/// A call over calls aliased `c` left-joined to their bodies `b`, in the order
/// [`call_from_row`] reads it.
pub(crate) const CALL_COLUMNS: &str = "c.id, c.org_id, c.key_id, c.created_at, \
    c.response_created_at, c.latency_ms, c.time_to_first_token_ms, c.provider, c.target_url, \
    c.request_path, c.method, c.status, c.is_stream, c.request_model, c.response_model, \
    c.pricing_model, c.prompt_tokens, c.completion_tokens, c.cache_read_tokens, \
    c.cache_write_tokens, c.cache_write_1h_tokens, c.reasoning_tokens, c.audio_input_tokens, \
    c.audio_output_tokens, c.usage_source, c.cost_nano, c.session_id, c.session_path, \
    c.session_name, c.user_id, c.prompt_id, c.properties::text AS properties, c.error, c.kind, \
    b.request_body, b.request_truncated, b.request_omitted, b.response_body, \
    b.response_truncated, b.response_omitted, b.request_headers::text AS request_headers";

/// [`CALL_COLUMNS`] without the bodies' text.
pub(crate) const CALL_COLUMNS_WITHOUT_BODIES: &str = "c.id, c.org_id, c.key_id, c.created_at, \
    c.response_created_at, c.latency_ms, c.time_to_first_token_ms, c.provider, c.target_url, \
    c.request_path, c.method, c.status, c.is_stream, c.request_model, c.response_model, \
    c.pricing_model, c.prompt_tokens, c.completion_tokens, c.cache_read_tokens, \
    c.cache_write_tokens, c.cache_write_1h_tokens, c.reasoning_tokens, c.audio_input_tokens, \
    c.audio_output_tokens, c.usage_source, c.cost_nano, c.session_id, c.session_path, \
    c.session_name, c.user_id, c.prompt_id, c.properties::text AS properties, c.error, c.kind, \
    NULL::text AS request_body, b.request_truncated, b.request_omitted, \
    NULL::text AS response_body, b.response_truncated, b.response_omitted, \
    b.request_headers::text AS request_headers";

/// The join of calls `c` with their bodies `b`.
pub(crate) const CALLS_WITH_BODIES: &str = "calls c LEFT JOIN call_bodies b \
    ON b.org_id = c.org_id AND b.id = c.id AND b.created_at = c.created_at";

/// The columns a [`SessionSummary`] is read from, over sessions aliased `s`.
pub(crate) const SESSION_COLUMNS: &str = "s.session_id, s.name, s.first_request_at, \
    s.last_request_at, s.last_response_at, s.request_count, s.error_count, s.prompt_tokens, \
    s.completion_tokens, s.cost_nano, s.unpriced_count, s.latency_sum_ms, s.feedback, \
    ARRAY(SELECT u.user_id FROM session_users u WHERE u.org_id = s.org_id \
    AND u.session_id = s.session_id ORDER BY u.user_id) AS user_ids";

#[async_trait]
impl Query for PostgresStore {
    #[tracing::instrument(skip_all)]
    async fn get_call(&self, org_id: &str, id: CallId) -> Result<Option<CallRecord>> {
        let sql = format!(
            "SELECT {CALL_COLUMNS} FROM {CALLS_WITH_BODIES} WHERE c.org_id = $1 AND c.id = $2 \
             ORDER BY c.created_at DESC LIMIT 1"
        );
        // Built from constants only; every value is bound.
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(read_err("get_call"))?;
        row.as_ref().map(call_from_row).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn get_session(&self, org_id: &str, session_id: &str) -> Result<Option<SessionSummary>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.org_id = $1 AND s.session_id = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .bind(text(session_id))
            .fetch_optional(&self.pool)
            .await
            .map_err(read_err("get_session"))?;
        row.as_ref().map(session_from_row).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn session_calls(&self, org_id: &str, session_id: &str) -> Result<Vec<CallRecord>> {
        let sql = format!(
            "SELECT {CALL_COLUMNS} FROM {CALLS_WITH_BODIES} \
             WHERE c.org_id = $1 AND c.session_id = $2 ORDER BY c.created_at, c.id"
        );
        self.session_rows(sql, org_id, session_id).await
    }

    #[tracing::instrument(skip_all)]
    async fn session_calls_without_bodies(
        &self,
        org_id: &str,
        session_id: &str,
    ) -> Result<Vec<CallRecord>> {
        let sql = format!(
            "SELECT {CALL_COLUMNS_WITHOUT_BODIES} FROM {CALLS_WITH_BODIES} \
             WHERE c.org_id = $1 AND c.session_id = $2 ORDER BY c.created_at, c.id"
        );
        self.session_rows(sql, org_id, session_id).await
    }

    #[tracing::instrument(skip_all)]
    async fn count_calls(&self, org_id: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM calls WHERE org_id = $1")
            .bind(org_id)
            .fetch_one(&self.pool)
            .await
            .map_err(read_err("count_calls"))?;
        Ok(u64::try_from(n).unwrap_or(0))
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
        let ids: Vec<String> = ids.iter().map(CallId::to_string).collect();
        let rows = sqlx::query(
            "SELECT call_id, name, value FROM call_scores WHERE org_id = $1 AND call_id = ANY($2)",
        )
        .bind(org_id)
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(read_err("call_scores"))?;
        let mut scores: HashMap<CallId, BTreeMap<String, f64>> = HashMap::new();
        for row in rows {
            let id: String = row.get(0);
            if let Some(id) = CallId::parse(&id) {
                scores.entry(id).or_default().insert(row.get(1), row.get(2));
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
        sqlx::query_scalar(
            "SELECT tag FROM session_tags WHERE org_id = $1 AND session_id = $2 \
             ORDER BY created_at, tag",
        )
        .bind(org_id)
        .bind(text(session_id))
        .fetch_all(&self.pool)
        .await
        .map_err(read_err("session_tags"))
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

impl PostgresStore {
    /// A session's calls, read by `sql` (binding the organisation, then the session).
    async fn session_rows(
        &self,
        sql: String,
        org_id: &str,
        session_id: &str,
    ) -> Result<Vec<CallRecord>> {
        // Built from constants only; every value is bound.
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .bind(text(session_id))
            .fetch_all(&self.pool)
            .await
            .map_err(read_err("session_calls"))?;
        rows.iter().map(call_from_row).collect()
    }
}

pub(crate) fn read_err(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |source| StoreError::Read {
        what,
        source: source.into(),
    }
}

pub(crate) fn corrupt(what: &'static str, reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what,
        reason: reason.to_string(),
    }
}

/// Reads a row selected with [`CALL_COLUMNS`].
pub(crate) fn call_from_row(row: &PgRow) -> Result<CallRecord> {
    let bad = |e: sqlx::Error| corrupt("call", e);
    let text = |name: &str| row.try_get::<String, _>(name).map_err(bad);
    let opt_text = |name: &str| row.try_get::<Option<String>, _>(name).map_err(bad);
    let opt_int = |name: &str| row.try_get::<Option<i64>, _>(name).map_err(bad);
    let count = |name: &str| -> Result<u64> {
        Ok(u64::try_from(row.try_get::<i64, _>(name).map_err(bad)?).unwrap_or(0))
    };
    let flag = |name: &str| -> Result<bool> {
        Ok(row
            .try_get::<Option<bool>, _>(name)
            .map_err(bad)?
            .unwrap_or(false))
    };
    let id = text("id")?;
    let kind = text("kind")?;
    Ok(CallRecord {
        id: CallId::parse(&id).ok_or_else(|| corrupt("call id", &id))?,
        id_from_caller: false,
        org_id: text("org_id")?,
        key_id: opt_text("key_id")?,
        created_at_ms: row.try_get("created_at").map_err(bad)?,
        response_created_at_ms: opt_int("response_created_at")?,
        latency_ms: opt_int("latency_ms")?,
        time_to_first_token_ms: opt_int("time_to_first_token_ms")?,
        provider: text("provider")?,
        target_url: text("target_url")?,
        request_path: text("request_path")?,
        method: text("method")?,
        status: row.try_get("status").map_err(bad)?,
        is_stream: row.try_get("is_stream").map_err(bad)?,
        request_model: opt_text("request_model")?,
        response_model: opt_text("response_model")?,
        pricing_model: opt_text("pricing_model")?,
        usage: Usage {
            prompt_tokens: count("prompt_tokens")?,
            completion_tokens: count("completion_tokens")?,
            cache_read_tokens: count("cache_read_tokens")?,
            cache_write_tokens: count("cache_write_tokens")?,
            cache_write_1h_tokens: count("cache_write_1h_tokens")?,
            reasoning_tokens: count("reasoning_tokens")?,
            audio_input_tokens: count("audio_input_tokens")?,
            audio_output_tokens: count("audio_output_tokens")?,
        },
        usage_source: UsageSource::from_stored(&text("usage_source")?),
        cost_nano_usd: opt_int("cost_nano")?,
        session_id: opt_text("session_id")?,
        session_path: opt_text("session_path")?,
        session_name: opt_text("session_name")?,
        user_id: opt_text("user_id")?,
        prompt_id: opt_text("prompt_id")?,
        properties: json_map(Some(text("properties")?))?,
        request_body: StoredBody {
            text: opt_text("request_body")?,
            truncated: flag("request_truncated")?,
            omitted: flag("request_omitted")?,
        },
        response_body: StoredBody {
            text: opt_text("response_body")?,
            truncated: flag("response_truncated")?,
            omitted: flag("response_omitted")?,
        },
        request_headers: json_map(opt_text("request_headers")?)?,
        error: opt_text("error")?,
        kind: CallKind::from_stored(&kind).ok_or_else(|| corrupt("call kind", &kind))?,
    })
}

/// A string map stored as JSON; absent is empty.
fn json_map(text: Option<String>) -> Result<BTreeMap<String, String>> {
    text.map_or(Ok(BTreeMap::new()), |t| {
        serde_json::from_str(&t).map_err(|e| corrupt("call json", e))
    })
}

pub(crate) fn session_from_row(row: &PgRow) -> Result<SessionSummary> {
    let get = |e: sqlx::Error| corrupt("session", e);
    let count = |name: &str| -> Result<u64> {
        Ok(u64::try_from(row.try_get::<i64, _>(name).map_err(get)?).unwrap_or(0))
    };
    Ok(SessionSummary {
        session_id: row.try_get("session_id").map_err(get)?,
        name: row.try_get("name").map_err(get)?,
        first_request_at_ms: row.try_get("first_request_at").map_err(get)?,
        last_request_at_ms: row.try_get("last_request_at").map_err(get)?,
        last_response_at_ms: row.try_get("last_response_at").map_err(get)?,
        request_count: count("request_count")?,
        error_count: count("error_count")?,
        prompt_tokens: count("prompt_tokens")?,
        completion_tokens: count("completion_tokens")?,
        cost_nano_usd: row.try_get("cost_nano").map_err(get)?,
        unpriced_count: count("unpriced_count")?,
        latency_sum_ms: row.try_get("latency_sum_ms").map_err(get)?,
        user_ids: row.try_get("user_ids").map_err(get)?,
        feedback: row.try_get("feedback").map_err(get)?,
    })
}
