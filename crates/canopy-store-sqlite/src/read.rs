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
use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;

/// Calls aliased `c` joined to their bodies `b`, which are keyed by the call's `seq`.
pub(crate) const CALLS_WITH_BODIES: &str = "calls c LEFT JOIN call_bodies b ON b.call_seq = c.seq";

/// A call over [`CALLS_WITH_BODIES`]: every column but the two bodies as
/// one JSON array named `call`, in the order [`call_from_row`] reads it, then the bodies.
///
/// The driver copies each column of each row into its own allocation before handing the row
/// over; at 41 columns that was most of the time a 1,000-call session took to read. SQLite
/// builds the array in one pass instead. The bodies stay columns: long text is cheaper to copy
/// than to escape into JSON and back.
pub(crate) const CALL_JSON: &str = "json_array(c.id, c.org_id, c.key_id, c.created_at, \
    c.response_created_at, c.latency_ms, c.time_to_first_token_ms, c.provider, c.target_url, \
    c.request_path, c.method, c.status, c.is_stream, c.request_model, c.response_model, \
    c.pricing_model, c.prompt_tokens, c.completion_tokens, c.cache_read_tokens, \
    c.cache_write_tokens, c.cache_write_1h_tokens, c.reasoning_tokens, c.audio_input_tokens, \
    c.audio_output_tokens, c.usage_source, c.cost_nano, c.session_id, c.session_path, \
    c.session_name, c.user_id, c.prompt_id, c.properties, c.error, c.kind, \
    b.request_truncated, b.request_omitted, b.response_truncated, \
    b.response_omitted, b.request_headers) AS call, b.request_body, b.response_body";

/// [`CALL_JSON`] without the bodies' text.
pub(crate) const CALL_JSON_WITHOUT_BODIES: &str = "json_array(c.id, c.org_id, c.key_id, \
    c.created_at, c.response_created_at, c.latency_ms, c.time_to_first_token_ms, c.provider, \
    c.target_url, c.request_path, c.method, c.status, c.is_stream, c.request_model, \
    c.response_model, c.pricing_model, c.prompt_tokens, c.completion_tokens, \
    c.cache_read_tokens, c.cache_write_tokens, c.cache_write_1h_tokens, c.reasoning_tokens, \
    c.audio_input_tokens, c.audio_output_tokens, c.usage_source, c.cost_nano, c.session_id, \
    c.session_path, c.session_name, c.user_id, c.prompt_id, c.properties, c.error, c.kind, \
    b.request_truncated, b.request_omitted, b.response_truncated, b.response_omitted, \
    b.request_headers) AS call, NULL AS request_body, NULL AS response_body";

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
        let sql =
            format!("SELECT {CALL_JSON} FROM {CALLS_WITH_BODIES} WHERE c.id = ? AND c.org_id = ?");
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
            "SELECT {CALL_JSON} FROM {CALLS_WITH_BODIES} WHERE c.org_id = ? AND c.session_id = ?"
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
            "SELECT {CALL_JSON_WITHOUT_BODIES} FROM {CALLS_WITH_BODIES} \
             WHERE c.org_id = ? AND c.session_id = ?"
        );
        self.session_rows(sql, org_id, session_id).await
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

/// Reads the `call` column of a row selected with [`CALL_JSON`].
pub(crate) fn call_from_row(row: &SqliteRow) -> Result<CallRecord> {
    let text: &str = row.try_get("call").map_err(|e| corrupt("call", e))?;
    let values: Vec<Value> = serde_json::from_str(text).map_err(|e| corrupt("call", e))?;
    let mut f = Fields(values.into_iter());
    let id = f.text()?;
    let id = CallId::parse(&id).ok_or_else(|| corrupt("call id", &id))?;
    let org_id = f.text()?;
    let key_id = f.opt_text()?;
    let created_at_ms = f.int()?;
    let response_created_at_ms = f.opt_int()?;
    let latency_ms = f.opt_int()?;
    let time_to_first_token_ms = f.opt_int()?;
    let provider = f.text()?;
    let target_url = f.text()?;
    let request_path = f.text()?;
    let method = f.text()?;
    let status = i32::try_from(f.int()?).map_err(|e| corrupt("call", e))?;
    let is_stream = f.int()? != 0;
    let request_model = f.opt_text()?;
    let response_model = f.opt_text()?;
    let pricing_model = f.opt_text()?;
    let usage = Usage {
        prompt_tokens: f.count()?,
        completion_tokens: f.count()?,
        cache_read_tokens: f.count()?,
        cache_write_tokens: f.count()?,
        cache_write_1h_tokens: f.count()?,
        reasoning_tokens: f.count()?,
        audio_input_tokens: f.count()?,
        audio_output_tokens: f.count()?,
    };
    let usage_source = UsageSource::from_stored(&f.text()?);
    let cost_nano_usd = f.opt_int()?;
    let session_id = f.opt_text()?;
    let session_path = f.opt_text()?;
    let session_name = f.opt_text()?;
    let user_id = f.opt_text()?;
    let prompt_id = f.opt_text()?;
    let properties = json_map(Some(f.text()?))?;
    let error = f.opt_text()?;
    let kind = f.text()?;
    let kind = CallKind::from_stored(&kind).ok_or_else(|| corrupt("call kind", &kind))?;
    let request_body = StoredBody {
        text: row
            .try_get("request_body")
            .map_err(|e| corrupt("call", e))?,
        truncated: f.flag()?,
        omitted: f.flag()?,
    };
    let response_body = StoredBody {
        text: row
            .try_get("response_body")
            .map_err(|e| corrupt("call", e))?,
        truncated: f.flag()?,
        omitted: f.flag()?,
    };
    let request_headers = json_map(f.opt_text()?)?;
    Ok(CallRecord {
        id,
        id_from_caller: false,
        org_id,
        key_id,
        created_at_ms,
        response_created_at_ms,
        latency_ms,
        time_to_first_token_ms,
        provider,
        target_url,
        request_path,
        method,
        status,
        is_stream,
        request_model,
        response_model,
        pricing_model,
        usage,
        usage_source,
        cost_nano_usd,
        session_id,
        session_path,
        session_name,
        user_id,
        prompt_id,
        properties,
        request_body,
        response_body,
        request_headers,
        error,
        kind,
    })
}

/// The values of one [`CALL_JSON`] array, read front to back.
struct Fields(std::vec::IntoIter<Value>);

impl Fields {
    fn next(&mut self) -> Result<Value> {
        self.0
            .next()
            .ok_or_else(|| corrupt("call", "fewer values than columns"))
    }

    fn opt_text(&mut self) -> Result<Option<String>> {
        match self.next()? {
            Value::Null => Ok(None),
            Value::String(text) => Ok(Some(text)),
            other => Err(corrupt("call", format!("expected text, got {other}"))),
        }
    }

    fn text(&mut self) -> Result<String> {
        self.opt_text()?
            .ok_or_else(|| corrupt("call", "expected text, got null"))
    }

    fn opt_int(&mut self) -> Result<Option<i64>> {
        match self.next()? {
            Value::Null => Ok(None),
            Value::Number(n) if n.is_i64() => Ok(n.as_i64()),
            other => Err(corrupt("call", format!("expected an integer, got {other}"))),
        }
    }

    fn int(&mut self) -> Result<i64> {
        self.opt_int()?
            .ok_or_else(|| corrupt("call", "expected an integer, got null"))
    }

    /// A token count; a negative one (never written) reads as 0.
    fn count(&mut self) -> Result<u64> {
        Ok(u64::try_from(self.int()?).unwrap_or(0))
    }

    /// A body flag, false when the call has no bodies row.
    fn flag(&mut self) -> Result<bool> {
        Ok(self.opt_int()?.is_some_and(|n| n != 0))
    }
}

/// A string map stored as JSON text; absent is empty.
fn json_map(text: Option<String>) -> Result<BTreeMap<String, String>> {
    text.map_or(Ok(BTreeMap::new()), |t| {
        serde_json::from_str(&t).map_err(|e| corrupt("call json", e))
    })
}

impl SqliteStore {
    /// A session's calls, read by `sql` (binding the organisation, then the session).
    async fn session_rows(
        &self,
        sql: String,
        org_id: &str,
        session_id: &str,
    ) -> Result<Vec<CallRecord>> {
        // No ORDER BY: sorting whole rows (bodies included) in SQLite costs more than reading
        // them. The index yields them by start already; ties are put in id order below.
        // Built from constants only; every value is bound.
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .bind(session_id)
            .fetch_all(&self.readers)
            .await
            .map_err(read_err("session_calls"))?;
        let mut calls = rows.iter().map(call_from_row).collect::<Result<Vec<_>>>()?;
        // The order `ORDER BY c.created_at, c.id` gives: ids are stored hyphenated and
        // lower-case, so their text order is their UUID order.
        calls.sort_by_key(|c| (c.created_at_ms, c.id));
        Ok(calls)
    }
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
