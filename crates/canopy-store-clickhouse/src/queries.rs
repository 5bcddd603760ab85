//! Filtered reads: pages of calls and sessions, session names and metrics points.
//!
//! Every query starts from the organisation and adds the caller's filter through
//! `canopy_store::sql::filter`, which binds every value. Session queries read the totals kept
//! at write time (the `sessions` view over `session_totals`), never the call log, except where
//! a filter names a call-level condition. Page sizes and offsets are numbers Canopy computed,
//! written into the text as such.

use canopy_core::CallRecord;
use canopy_store::query::filter::Filter;
use canopy_store::query::{
    CallQuery, CallSortKey, MAX_PATHS, PathStat, SessionAggregate, SessionNameRow, SessionPoint,
    SessionQuery, SessionSortKey,
};
use canopy_store::sql::filter::push_for_calls;
use canopy_store::sql::sessions::push_session_conditions;
use canopy_store::{Result, SessionSummary};
use serde::Deserialize;

use crate::dialect::sql;
use crate::read::{SESSION_COLUMNS, SessionRow, call_columns};
use crate::{ClickHouseStore, read_err};

/// A session's last activity.
const LAST_ACTIVE: &str = "greatest(s.last_response_at, s.last_request_at)";

/// A session's value for a sort key.
fn sort_value(key: SessionSortKey) -> &'static str {
    match key {
        SessionSortKey::Started => "s.first_request_at",
        SessionSortKey::Cost => "s.cost_nano",
        SessionSortKey::Calls => "s.request_count",
        SessionSortKey::Duration => {
            "greatest(s.last_response_at, s.last_request_at) - s.first_request_at"
        }
        SessionSortKey::Errors => "s.error_count",
        SessionSortKey::Latency => "s.latency_sum_ms / greatest(s.request_count, 1)",
    }
}

impl ClickHouseStore {
    pub(crate) async fn calls_page(
        &self,
        org_id: &str,
        call_query: &CallQuery,
    ) -> Result<Vec<CallRecord>> {
        let mut q = sql(format!(
            "SELECT {} FROM calls c WHERE c.org_id = ",
            call_columns()
        ));
        q.bind(org_id).push(" AND (");
        push_for_calls(&mut q, &call_query.filter);
        let key = match call_query.sort {
            CallSortKey::CreatedAt => "c.created_at",
            CallSortKey::Latency => "c.latency_ms",
            CallSortKey::Cost => "c.cost_nano",
            CallSortKey::TotalTokens => "(c.prompt_tokens + c.completion_tokens)",
            CallSortKey::PromptTokens => "c.prompt_tokens",
            CallSortKey::CompletionTokens => "c.completion_tokens",
            CallSortKey::Status => "c.status",
        };
        // NULLs sort as the smallest values, as in every engine.
        let (direction, nulls) = if call_query.descending {
            ("DESC", "NULLS LAST")
        } else {
            ("ASC", "NULLS FIRST")
        };
        q.push(&format!(
            ") ORDER BY {key} {direction} {nulls}, c.id {direction} LIMIT {} OFFSET {}",
            call_query.limit, call_query.offset
        ));
        self.calls_with_bodies(&q, "query_calls").await
    }

    pub(crate) async fn count_matching(&self, org_id: &str, filter: &Filter) -> Result<u64> {
        #[derive(Deserialize)]
        struct Count {
            n: u64,
        }
        let mut q = sql("SELECT count() AS n FROM calls c WHERE c.org_id = ");
        q.bind(org_id).push(" AND (");
        push_for_calls(&mut q, filter);
        q.push(")");
        let row: Count = self
            .client
            .row(&q)
            .await
            .map_err(read_err("count_matching_calls"))?;
        Ok(row.n)
    }

    pub(crate) async fn sessions_page(
        &self,
        org_id: &str,
        session_query: &SessionQuery,
    ) -> Result<Vec<SessionSummary>> {
        let mut q = sql(format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE "));
        push_session_conditions(&mut q, org_id, session_query);
        q.push(&format!(
            " ORDER BY {} LIMIT {} OFFSET {}",
            session_query.sort.order_by(sort_value),
            session_query.limit,
            session_query.offset
        ));
        let rows: Vec<SessionRow> = self
            .client
            .rows(&q)
            .await
            .map_err(read_err("query_sessions"))?;
        Ok(rows.into_iter().map(SessionSummary::from).collect())
    }

    pub(crate) async fn paths(
        &self,
        org_id: &str,
        session_query: &SessionQuery,
    ) -> Result<Vec<PathStat>> {
        #[derive(Deserialize)]
        struct PathRow {
            path: String,
            sessions: u64,
            calls: u64,
            errors: u64,
            latency: i64,
            cost: i64,
            unpriced: u64,
        }
        let mut q = sql(
            "SELECT ifNull(c.session_path, '/') AS path, uniqExact(c.session_id) AS sessions, count() AS calls, \
             countIf(c.status < 0 OR c.status >= 400 OR c.error IS NOT NULL) AS errors, toInt64(sum(ifNull(c.latency_ms, 0))) AS latency, toInt64(sum(ifNull(c.cost_nano, 0))) AS cost, \
             countIf(c.cost_nano IS NULL) AS unpriced FROM calls c WHERE c.org_id = ",
        );
        q.bind(org_id)
            .push(" AND c.session_id IN (SELECT s.session_id FROM sessions s WHERE ");
        push_session_conditions(&mut q, org_id, session_query);
        q.push(&format!(
            ") GROUP BY path ORDER BY calls DESC, path LIMIT {MAX_PATHS}"
        ));
        let rows: Vec<PathRow> = self.client.rows(&q).await.map_err(read_err("path_stats"))?;
        Ok(rows
            .into_iter()
            .map(|r| PathStat {
                path: r.path,
                sessions: r.sessions,
                calls: r.calls,
                errors: r.errors,
                latency_sum_ms: r.latency,
                cost_nano: r.cost,
                unpriced: r.unpriced,
            })
            .collect())
    }

    pub(crate) async fn sessions_aggregate(
        &self,
        org_id: &str,
        session_query: &SessionQuery,
    ) -> Result<SessionAggregate> {
        #[derive(Deserialize)]
        struct Totals {
            n: u64,
            total_cost: i64,
            total_requests: i64,
            total_latency: i64,
        }
        let mut q = sql("SELECT count() AS n, sum(s.cost_nano) AS total_cost, \
             sum(s.request_count) AS total_requests, sum(s.latency_sum_ms) AS total_latency \
             FROM sessions s WHERE ");
        push_session_conditions(&mut q, org_id, session_query);
        let row: Totals = self
            .client
            .row(&q)
            .await
            .map_err(read_err("aggregate_sessions"))?;
        Ok(SessionAggregate {
            count: row.n,
            total_cost_nano: row.total_cost,
            total_requests: u64::try_from(row.total_requests).unwrap_or(0),
            latency_sum_ms: row.total_latency,
        })
    }

    pub(crate) async fn names(
        &self,
        org_id: &str,
        contains: &str,
        session_query: &SessionQuery,
    ) -> Result<Vec<SessionNameRow>> {
        #[derive(Deserialize)]
        struct Name {
            session_name: String,
            n_sessions: u64,
            first_used: i64,
            last_used: i64,
            total_cost: i64,
            total_requests: i64,
            total_duration: i64,
            total_latency: i64,
        }
        let mut q = sql(format!(
            "SELECT assumeNotNull(s.name) AS session_name, count() AS n_sessions, \
             min(s.first_request_at) AS first_used, max(s.last_request_at) AS last_used, \
             sum(s.cost_nano) AS total_cost, sum(s.request_count) AS total_requests, \
             sum({LAST_ACTIVE} - s.first_request_at) AS total_duration, \
             sum(s.latency_sum_ms) AS total_latency FROM sessions s WHERE s.name IS NOT NULL AND "
        ));
        push_session_conditions(&mut q, org_id, session_query);
        if !contains.is_empty() {
            q.push(" AND positionCaseInsensitiveUTF8(s.name, ")
                .bind(contains)
                .push(") > 0");
        }
        q.push(&format!(
            " GROUP BY session_name ORDER BY last_used DESC, session_name LIMIT {}",
            session_query.limit.max(1)
        ));
        let rows: Vec<Name> = self
            .client
            .rows(&q)
            .await
            .map_err(read_err("session_names"))?;
        Ok(rows
            .into_iter()
            .map(|r| SessionNameRow {
                name: r.session_name,
                session_count: r.n_sessions,
                first_used_ms: r.first_used,
                last_used_ms: r.last_used,
                total_cost_nano: r.total_cost,
                total_requests: u64::try_from(r.total_requests).unwrap_or(0),
                total_duration_ms: r.total_duration,
                latency_sum_ms: r.total_latency,
            })
            .collect())
    }

    pub(crate) async fn points(
        &self,
        org_id: &str,
        session_query: &SessionQuery,
    ) -> Result<Vec<SessionPoint>> {
        #[derive(Deserialize)]
        struct Points {
            points: Vec<(i64, i64, i64)>,
        }
        // One row of tuples, not a row per session: decoding rows one at a time costs more
        // than the scan itself for 100,000 sessions.
        let mut q = sql(format!(
            "SELECT groupArray((s.request_count, {LAST_ACTIVE} - s.first_request_at, \
             s.cost_nano)) AS points FROM sessions s WHERE "
        ));
        push_session_conditions(&mut q, org_id, session_query);
        let row: Points = self
            .client
            .row(&q)
            .await
            .map_err(read_err("session_points"))?;
        Ok(row
            .points
            .into_iter()
            .map(|(requests, duration_ms, cost_nano)| SessionPoint {
                requests: u64::try_from(requests).unwrap_or(0),
                duration_ms,
                cost_nano,
            })
            .collect())
    }
}
