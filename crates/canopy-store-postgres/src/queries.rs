//! Filtered reads: pages of calls and sessions, session names and metrics points.
//!
//! Every query starts from the organisation and adds the caller's filter through
//! `canopy_store::sql::filter`, which binds every value. Session queries read the sessions
//! table kept at write time, never the call log, except where a filter names a call-level
//! condition.

use canopy_core::CallRecord;
use canopy_store::query::filter::Filter;
use canopy_store::query::{
    CallQuery, CallSortKey, MAX_PATHS, PathStat, SessionAggregate, SessionNameRow, SessionPoint,
    SessionQuery, SessionSortKey,
};
use canopy_store::sql::filter::push_for_calls;
use canopy_store::sql::sessions::push_session_conditions;
use canopy_store::{Result, SessionSummary};
use sqlx::Row;

use crate::PostgresStore;
use crate::dialect::{query, sql};
use crate::read::{
    CALL_COLUMNS, CALLS_WITH_BODIES, SESSION_COLUMNS, call_from_row, read_err, session_from_row,
};

/// A session's last activity: the expression `sessions_org_active` indexes.
const LAST_ACTIVE: &str = "GREATEST(s.last_response_at, s.last_request_at)";

/// A session's value for a sort key.
fn sort_value(key: SessionSortKey) -> &'static str {
    match key {
        SessionSortKey::Started => "s.first_request_at",
        SessionSortKey::Cost => "s.cost_nano",
        SessionSortKey::Calls => "s.request_count",
        SessionSortKey::Duration => {
            "GREATEST(s.last_response_at, s.last_request_at) - s.first_request_at"
        }
        SessionSortKey::Errors => "s.error_count",
        SessionSortKey::Latency => "s.latency_sum_ms::float8 / GREATEST(s.request_count, 1)",
    }
}

impl PostgresStore {
    pub(crate) async fn calls_page(
        &self,
        org_id: &str,
        call_query: &CallQuery,
    ) -> Result<Vec<CallRecord>> {
        let mut q = sql(format!(
            "SELECT {CALL_COLUMNS} FROM {CALLS_WITH_BODIES} WHERE c.org_id = "
        ));
        q.bind(org_id).push(" AND (");
        push_for_calls(&mut q, &call_query.filter);
        // (column, whether it can be NULL)
        let (key, nullable) = match call_query.sort {
            CallSortKey::CreatedAt => ("c.created_at", false),
            CallSortKey::Latency => ("c.latency_ms", true),
            CallSortKey::Cost => ("c.cost_nano", true),
            CallSortKey::TotalTokens => ("(c.prompt_tokens + c.completion_tokens)", false),
            CallSortKey::PromptTokens => ("c.prompt_tokens", false),
            CallSortKey::CompletionTokens => ("c.completion_tokens", false),
            CallSortKey::Status => ("c.status", false),
        };
        // NULLs sort as the smallest values, as in SQLite. Only said where a column can be
        // NULL: the clause would keep `calls_org_created` from serving the newest-first page.
        let direction = if call_query.descending { "DESC" } else { "ASC" };
        let nulls = match (nullable, call_query.descending) {
            (false, _) => "",
            (true, true) => " NULLS LAST",
            (true, false) => " NULLS FIRST",
        };
        q.push(&format!(
            ") ORDER BY {key} {direction}{nulls}, c.id {direction} LIMIT "
        ));
        q.bind(to_i64(call_query.limit))
            .push(" OFFSET ")
            .bind(to_i64(call_query.offset));
        let rows = query(&q)
            .fetch_all(&self.pool)
            .await
            .map_err(read_err("query_calls"))?;
        rows.iter().map(call_from_row).collect()
    }

    pub(crate) async fn count_matching(&self, org_id: &str, filter: &Filter) -> Result<u64> {
        let mut q = sql("SELECT count(*) FROM calls c WHERE c.org_id = ");
        q.bind(org_id).push(" AND (");
        push_for_calls(&mut q, filter);
        q.push(")");
        let n: i64 = query(&q)
            .fetch_one(&self.pool)
            .await
            .map_err(read_err("count_matching_calls"))?
            .get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub(crate) async fn sessions_page(
        &self,
        org_id: &str,
        session_query: &SessionQuery,
    ) -> Result<Vec<SessionSummary>> {
        let mut q = sql(format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE "));
        push_session_conditions(&mut q, org_id, session_query);
        let order = session_query.sort.order_by(sort_value);
        q.push(&format!(" ORDER BY {order} LIMIT "));
        q.bind(to_i64(session_query.limit))
            .push(" OFFSET ")
            .bind(to_i64(session_query.offset));
        let rows = query(&q)
            .fetch_all(&self.pool)
            .await
            .map_err(read_err("query_sessions"))?;
        rows.iter().map(session_from_row).collect()
    }

    pub(crate) async fn paths(
        &self,
        org_id: &str,
        session_query: &SessionQuery,
    ) -> Result<Vec<PathStat>> {
        let mut q = sql(
            "SELECT coalesce(c.session_path, '/') AS path, count(DISTINCT c.session_id)::int8 AS sessions, count(*)::int8 AS calls, \
             count(*) FILTER (WHERE c.status < 0 OR c.status >= 400 OR c.error IS NOT NULL)::int8 AS errors, coalesce(sum(c.latency_ms), 0)::int8 AS latency, coalesce(sum(c.cost_nano), 0)::int8 AS cost, \
             count(*) FILTER (WHERE c.cost_nano IS NULL)::int8 AS unpriced FROM calls c WHERE c.org_id = ",
        );
        q.bind(org_id)
            .push(" AND c.session_id IN (SELECT s.session_id FROM sessions s WHERE ");
        push_session_conditions(&mut q, org_id, session_query);
        q.push(") GROUP BY 1 ORDER BY calls DESC, path LIMIT ")
            .bind(to_i64(MAX_PATHS));
        let rows = query(&q)
            .fetch_all(&self.pool)
            .await
            .map_err(read_err("path_stats"))?;
        let count = |row: &_, name: &str| -> u64 {
            let row: &sqlx::postgres::PgRow = row;
            u64::try_from(row.get::<i64, _>(name)).unwrap_or(0)
        };
        Ok(rows
            .iter()
            .map(|row| PathStat {
                path: row.get("path"),
                sessions: count(row, "sessions"),
                calls: count(row, "calls"),
                errors: count(row, "errors"),
                latency_sum_ms: row.get("latency"),
                cost_nano: row.get("cost"),
                unpriced: count(row, "unpriced"),
            })
            .collect())
    }

    pub(crate) async fn sessions_aggregate(
        &self,
        org_id: &str,
        session_query: &SessionQuery,
    ) -> Result<SessionAggregate> {
        let mut q = sql(
            "SELECT count(*) AS n, coalesce(sum(s.cost_nano), 0)::int8 AS cost, \
             coalesce(sum(s.request_count), 0)::int8 AS requests, \
             coalesce(sum(s.latency_sum_ms), 0)::int8 AS latency FROM sessions s WHERE ",
        );
        push_session_conditions(&mut q, org_id, session_query);
        let row = query(&q)
            .fetch_one(&self.pool)
            .await
            .map_err(read_err("aggregate_sessions"))?;
        Ok(SessionAggregate {
            count: u64::try_from(row.get::<i64, _>("n")).unwrap_or(0),
            total_cost_nano: row.get("cost"),
            total_requests: u64::try_from(row.get::<i64, _>("requests")).unwrap_or(0),
            latency_sum_ms: row.get("latency"),
        })
    }

    pub(crate) async fn names(
        &self,
        org_id: &str,
        contains: &str,
        session_query: &SessionQuery,
    ) -> Result<Vec<SessionNameRow>> {
        let mut q = sql(format!(
            "SELECT s.name AS name, count(*) AS sessions, min(s.first_request_at) AS first_used, \
             max(s.last_request_at) AS last_used, sum(s.cost_nano)::int8 AS cost, \
             sum(s.request_count)::int8 AS requests, \
             sum({LAST_ACTIVE} - s.first_request_at)::int8 AS duration, \
             sum(s.latency_sum_ms)::int8 AS latency FROM sessions s WHERE s.name IS NOT NULL AND "
        ));
        push_session_conditions(&mut q, org_id, session_query);
        if !contains.is_empty() {
            q.push(" AND strpos(lower(s.name), lower(")
                .bind(contains)
                .push(")) > 0");
        }
        q.push(" GROUP BY s.name ORDER BY last_used DESC, s.name LIMIT ")
            .bind(to_i64(session_query.limit.max(1)));
        let rows = query(&q)
            .fetch_all(&self.pool)
            .await
            .map_err(read_err("session_names"))?;
        Ok(rows
            .iter()
            .map(|row| SessionNameRow {
                name: row.get("name"),
                session_count: u64::try_from(row.get::<i64, _>("sessions")).unwrap_or(0),
                first_used_ms: row.get("first_used"),
                last_used_ms: row.get("last_used"),
                total_cost_nano: row.get("cost"),
                total_requests: u64::try_from(row.get::<i64, _>("requests")).unwrap_or(0),
                total_duration_ms: row.get("duration"),
                latency_sum_ms: row.get("latency"),
            })
            .collect())
    }

    pub(crate) async fn points(
        &self,
        org_id: &str,
        session_query: &SessionQuery,
    ) -> Result<Vec<SessionPoint>> {
        // Three arrays in one row, not a row per session: decoding rows one at a time costs
        // more than the scan itself for 100,000 sessions.
        let mut q = sql(format!(
            "SELECT coalesce(array_agg(s.request_count), '{{}}') AS requests, \
             coalesce(array_agg({LAST_ACTIVE} - s.first_request_at), '{{}}') AS durations, \
             coalesce(array_agg(s.cost_nano), '{{}}') AS costs FROM sessions s WHERE "
        ));
        push_session_conditions(&mut q, org_id, session_query);
        let row = query(&q)
            .fetch_one(&self.pool)
            .await
            .map_err(read_err("session_points"))?;
        let requests: Vec<i64> = row.get("requests");
        let durations: Vec<i64> = row.get("durations");
        let costs: Vec<i64> = row.get("costs");
        Ok(requests
            .into_iter()
            .zip(durations)
            .zip(costs)
            .map(|((requests, duration_ms), cost_nano)| SessionPoint {
                requests: u64::try_from(requests).unwrap_or(0),
                duration_ms,
                cost_nano,
            })
            .collect())
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
