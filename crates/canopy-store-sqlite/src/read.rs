//! The read side: calls and sessions, always filtered by organisation.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use canopy_core::record::StoredBody;
use canopy_core::{CallId, CallKind, CallRecord, Usage, UsageSource};
use canopy_store::query::filter::Filter;
use canopy_store::query::{
    CallQuery, SessionAggregate, SessionNameRow, SessionPoint, SessionQuery,
};
use canopy_store::{Query, Result, SessionSummary, StoreError};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;

pub(crate) const CALL_COLUMNS: &str = "c.id, c.org_id, c.key_id, c.created_at, c.response_created_at, \
    c.latency_ms, c.time_to_first_token_ms, c.provider, c.target_url, c.request_path, c.method, \
    c.status, c.is_stream, c.request_model, c.response_model, c.pricing_model, c.prompt_tokens, \
    c.completion_tokens, c.cache_read_tokens, c.cache_write_tokens, c.cache_write_1h_tokens, \
    c.reasoning_tokens, c.audio_input_tokens, c.audio_output_tokens, c.usage_source, c.cost_nano, \
    c.session_id, c.session_path, c.session_name, c.user_id, c.prompt_id, c.properties, c.error, c.kind, \
    b.request_body, b.request_truncated, b.request_omitted, b.response_body, \
    b.response_truncated, b.response_omitted, b.request_headers";

/// The columns a [`SessionSummary`] is read from, over sessions aliased `s`.
pub(crate) const SESSION_COLUMNS: &str = "s.session_id, s.name, s.first_request_at, \
    s.last_request_at, s.last_response_at, s.request_count, s.error_count, s.prompt_tokens, \
    s.completion_tokens, s.cost_nano, s.unpriced_count, s.latency_sum_ms, s.feedback, \
    (SELECT json_group_array(user_id) FROM (SELECT user_id FROM session_users u \
     WHERE u.org_id = s.org_id AND u.session_id = s.session_id ORDER BY user_id)) AS user_ids";

#[async_trait]
impl Query for SqliteStore {
    #[tracing::instrument(skip_all)]
    async fn get_call(&self, org_id: &str, id: CallId) -> Result<Option<CallRecord>> {
        let sql = format!(
            "SELECT {CALL_COLUMNS} FROM calls c LEFT JOIN call_bodies b ON b.id = c.id \
             WHERE c.id = ? AND c.org_id = ?"
        );
        // Built from constants only; every value is bound.
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .bind(org_id)
            .fetch_optional(&self.readers)
            .await
            .map_err(read_err("get_call"))?;
        row.as_ref().map(call_from_row).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn get_session(&self, org_id: &str, session_id: &str) -> Result<Option<SessionSummary>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.org_id = ? AND s.session_id = ?"
        );
        // Built from constants only; every value is bound.
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .bind(session_id)
            .fetch_optional(&self.readers)
            .await
            .map_err(read_err("get_session"))?;
        row.as_ref().map(session_from_row).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn session_calls(&self, org_id: &str, session_id: &str) -> Result<Vec<CallRecord>> {
        let sql = format!(
            "SELECT {CALL_COLUMNS} FROM calls c LEFT JOIN call_bodies b ON b.id = c.id \
             WHERE c.org_id = ? AND c.session_id = ? ORDER BY c.created_at, c.id"
        );
        // Built from constants only; every value is bound.
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .bind(session_id)
            .fetch_all(&self.readers)
            .await
            .map_err(read_err("session_calls"))?;
        rows.iter().map(call_from_row).collect()
    }

    #[tracing::instrument(skip_all)]
    async fn count_calls(&self, org_id: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM calls WHERE org_id = ?")
            .bind(org_id)
            .fetch_one(&self.readers)
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
        self.scores_of(org_id, ids).await
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
        self.tags(org_id, session_id).await
    }
}

pub(crate) fn read_err(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |source| StoreError::Read {
        what,
        source: source.into(),
    }
}

fn corrupt(what: &'static str, reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what,
        reason: reason.to_string(),
    }
}

pub(crate) fn call_from_row(row: &SqliteRow) -> Result<CallRecord> {
    let get = |e: sqlx::Error| corrupt("call", e);
    let id: String = row.try_get("id").map_err(get)?;
    let tokens = |name: &str| -> Result<u64> {
        let n: i64 = row.try_get(name).map_err(get)?;
        Ok(u64::try_from(n).unwrap_or(0))
    };
    let map = |text: Option<String>| -> Result<BTreeMap<String, String>> {
        text.map_or(Ok(BTreeMap::new()), |t| {
            serde_json::from_str(&t).map_err(|e| corrupt("call json", e))
        })
    };
    Ok(CallRecord {
        id: CallId::parse(&id).ok_or_else(|| corrupt("call id", &id))?,
        org_id: row.try_get("org_id").map_err(get)?,
        key_id: row.try_get("key_id").map_err(get)?,
        created_at_ms: row.try_get("created_at").map_err(get)?,
        response_created_at_ms: row.try_get("response_created_at").map_err(get)?,
        latency_ms: row.try_get("latency_ms").map_err(get)?,
        time_to_first_token_ms: row.try_get("time_to_first_token_ms").map_err(get)?,
        provider: row.try_get("provider").map_err(get)?,
        target_url: row.try_get("target_url").map_err(get)?,
        request_path: row.try_get("request_path").map_err(get)?,
        method: row.try_get("method").map_err(get)?,
        status: row.try_get("status").map_err(get)?,
        is_stream: row.try_get("is_stream").map_err(get)?,
        request_model: row.try_get("request_model").map_err(get)?,
        response_model: row.try_get("response_model").map_err(get)?,
        pricing_model: row.try_get("pricing_model").map_err(get)?,
        usage: Usage {
            prompt_tokens: tokens("prompt_tokens")?,
            completion_tokens: tokens("completion_tokens")?,
            cache_read_tokens: tokens("cache_read_tokens")?,
            cache_write_tokens: tokens("cache_write_tokens")?,
            cache_write_1h_tokens: tokens("cache_write_1h_tokens")?,
            reasoning_tokens: tokens("reasoning_tokens")?,
            audio_input_tokens: tokens("audio_input_tokens")?,
            audio_output_tokens: tokens("audio_output_tokens")?,
        },
        usage_source: UsageSource::from_stored(
            &row.try_get::<String, _>("usage_source").map_err(get)?,
        ),
        cost_nano_usd: row.try_get("cost_nano").map_err(get)?,
        session_id: row.try_get("session_id").map_err(get)?,
        session_path: row.try_get("session_path").map_err(get)?,
        session_name: row.try_get("session_name").map_err(get)?,
        user_id: row.try_get("user_id").map_err(get)?,
        prompt_id: row.try_get("prompt_id").map_err(get)?,
        properties: map(row.try_get("properties").map_err(get)?)?,
        request_body: StoredBody {
            text: row.try_get("request_body").map_err(get)?,
            truncated: row
                .try_get::<Option<bool>, _>("request_truncated")
                .map_err(get)?
                .unwrap_or(false),
            omitted: row
                .try_get::<Option<bool>, _>("request_omitted")
                .map_err(get)?
                .unwrap_or(false),
        },
        response_body: StoredBody {
            text: row.try_get("response_body").map_err(get)?,
            truncated: row
                .try_get::<Option<bool>, _>("response_truncated")
                .map_err(get)?
                .unwrap_or(false),
            omitted: row
                .try_get::<Option<bool>, _>("response_omitted")
                .map_err(get)?
                .unwrap_or(false),
        },
        request_headers: map(row.try_get("request_headers").map_err(get)?)?,
        error: row.try_get("error").map_err(get)?,
        kind: {
            let kind: String = row.try_get("kind").map_err(get)?;
            CallKind::from_stored(&kind).ok_or_else(|| corrupt("call kind", &kind))?
        },
    })
}

pub(crate) fn session_from_row(row: &SqliteRow) -> Result<SessionSummary> {
    let get = |e: sqlx::Error| corrupt("session", e);
    let count = |name: &str| -> Result<u64> {
        Ok(u64::try_from(row.try_get::<i64, _>(name).map_err(get)?).unwrap_or(0))
    };
    let users: String = row.try_get("user_ids").map_err(get)?;
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
        user_ids: serde_json::from_str(&users).map_err(|e| corrupt("session users", e))?,
        feedback: row
            .try_get::<Option<i64>, _>("feedback")
            .map_err(get)?
            .map(|f| f != 0),
    })
}
