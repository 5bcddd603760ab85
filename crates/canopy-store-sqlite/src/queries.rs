//! Filtered reads: pages of calls and sessions, session names, metrics points, scores and tags.
//!
//! Every query starts from the organisation and adds the caller's filter through
//! [`crate::filter`], which binds every value. Session queries read the sessions table kept at
//! write time, never the call log, except where a filter names a call-level condition.

use std::collections::{BTreeMap, HashMap};

use canopy_core::{CallId, CallRecord};
use canopy_store::query::filter::Filter;
use canopy_store::query::{
    CallQuery, CallSortKey, SessionAggregate, SessionNameRow, SessionPoint, SessionQuery,
};
use canopy_store::{Result, SessionSummary};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::SqliteStore;
use crate::filter::{push_for_calls, push_for_sessions};
use crate::read::{CALL_COLUMNS, SESSION_COLUMNS, call_from_row, read_err, session_from_row};

impl SqliteStore {
    pub(crate) async fn calls_page(
        &self,
        org_id: &str,
        query: &CallQuery,
    ) -> Result<Vec<CallRecord>> {
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {CALL_COLUMNS} FROM calls c LEFT JOIN call_bodies b ON b.id = c.id WHERE c.org_id = "
        ));
        qb.push_bind(org_id.to_owned()).push(" AND (");
        push_for_calls(&mut qb, &query.filter);
        let key = match query.sort {
            CallSortKey::CreatedAt => "c.created_at",
            CallSortKey::Latency => "c.latency_ms",
            CallSortKey::Cost => "c.cost_nano",
            CallSortKey::TotalTokens => "(c.prompt_tokens + c.completion_tokens)",
            CallSortKey::PromptTokens => "c.prompt_tokens",
            CallSortKey::CompletionTokens => "c.completion_tokens",
            CallSortKey::Status => "c.status",
        };
        let direction = if query.descending { "DESC" } else { "ASC" };
        qb.push(format!(
            ") ORDER BY {key} {direction}, c.id {direction} LIMIT "
        ));
        qb.push_bind(to_i64(query.limit))
            .push(" OFFSET ")
            .push_bind(to_i64(query.offset));
        let rows = qb
            .build()
            .fetch_all(&self.readers)
            .await
            .map_err(read_err("query_calls"))?;
        rows.iter().map(call_from_row).collect()
    }

    pub(crate) async fn count_matching(&self, org_id: &str, filter: &Filter) -> Result<u64> {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT count(*) FROM calls c WHERE c.org_id = ");
        qb.push_bind(org_id.to_owned()).push(" AND (");
        push_for_calls(&mut qb, filter);
        qb.push(")");
        let n: i64 = qb
            .build_query_scalar()
            .fetch_one(&self.readers)
            .await
            .map_err(read_err("count_matching_calls"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub(crate) async fn scores_of(
        &self,
        org_id: &str,
        ids: &[CallId],
    ) -> Result<HashMap<CallId, BTreeMap<String, f64>>> {
        let mut scores: HashMap<CallId, BTreeMap<String, f64>> = HashMap::new();
        for chunk in ids.chunks(500) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "SELECT call_id, name, value FROM call_scores WHERE org_id = ",
            );
            qb.push_bind(org_id.to_owned()).push(" AND call_id IN (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(id.to_string());
            }
            qb.push(")");
            let rows = qb
                .build()
                .fetch_all(&self.readers)
                .await
                .map_err(read_err("call_scores"))?;
            for row in rows {
                let id: String = row.get("call_id");
                let Some(id) = CallId::parse(&id) else {
                    continue;
                };
                scores
                    .entry(id)
                    .or_default()
                    .insert(row.get("name"), row.get("value"));
            }
        }
        Ok(scores)
    }

    pub(crate) async fn sessions_page(
        &self,
        org_id: &str,
        query: &SessionQuery,
    ) -> Result<Vec<SessionSummary>> {
        let mut qb =
            QueryBuilder::<Sqlite>::new(format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE "));
        push_session_conditions(&mut qb, org_id, query);
        qb.push(" ORDER BY s.first_request_at DESC, s.session_id LIMIT ");
        qb.push_bind(to_i64(query.limit))
            .push(" OFFSET ")
            .push_bind(to_i64(query.offset));
        let rows = qb
            .build()
            .fetch_all(&self.readers)
            .await
            .map_err(read_err("query_sessions"))?;
        rows.iter().map(session_from_row).collect()
    }

    pub(crate) async fn sessions_aggregate(
        &self,
        org_id: &str,
        query: &SessionQuery,
    ) -> Result<SessionAggregate> {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT count(*) AS n, coalesce(sum(s.cost_nano), 0) AS cost, \
             coalesce(sum(s.request_count), 0) AS requests, coalesce(sum(s.latency_sum_ms), 0) AS latency \
             FROM sessions s WHERE ",
        );
        push_session_conditions(&mut qb, org_id, query);
        let row = qb
            .build()
            .fetch_one(&self.readers)
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
        query: &SessionQuery,
    ) -> Result<Vec<SessionNameRow>> {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT s.name AS name, count(*) AS sessions, min(s.first_request_at) AS first_used, \
             max(s.last_request_at) AS last_used, sum(s.cost_nano) AS cost, sum(s.request_count) AS requests, \
             sum(max(s.last_response_at, s.last_request_at) - s.first_request_at) AS duration, \
             sum(s.latency_sum_ms) AS latency FROM sessions s WHERE s.name IS NOT NULL AND ",
        );
        push_session_conditions(&mut qb, org_id, query);
        if !contains.is_empty() {
            qb.push(" AND instr(lower(s.name), lower(")
                .push_bind(contains.to_owned())
                .push(")) > 0");
        }
        qb.push(" GROUP BY s.name ORDER BY last_used DESC LIMIT ")
            .push_bind(to_i64(query.limit.max(1)));
        let rows = qb
            .build()
            .fetch_all(&self.readers)
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
        query: &SessionQuery,
    ) -> Result<Vec<SessionPoint>> {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT s.request_count AS requests, max(s.last_response_at, s.last_request_at) - s.first_request_at \
             AS duration, s.cost_nano AS cost FROM sessions s WHERE ",
        );
        push_session_conditions(&mut qb, org_id, query);
        let rows = qb
            .build()
            .fetch_all(&self.readers)
            .await
            .map_err(read_err("session_points"))?;
        Ok(rows
            .iter()
            .map(|row| SessionPoint {
                requests: u64::try_from(row.get::<i64, _>("requests")).unwrap_or(0),
                duration_ms: row.get("duration"),
                cost_nano: row.get("cost"),
            })
            .collect())
    }

    pub(crate) async fn tags(&self, org_id: &str, session_id: &str) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT tag FROM session_tags WHERE org_id = ? AND session_id = ? ORDER BY created_at, tag")
            .bind(org_id)
            .bind(session_id)
            .fetch_all(&self.readers)
            .await
            .map_err(read_err("session_tags"))
    }
}

/// The organisation, the time window (a session overlapping it is matched whole), the name,
/// the search text and the filter, for a query over sessions aliased `s`.
fn push_session_conditions(qb: &mut QueryBuilder<Sqlite>, org_id: &str, query: &SessionQuery) {
    qb.push("s.org_id = ").push_bind(org_id.to_owned());
    if let Some(end) = query.end_ms {
        qb.push(" AND s.first_request_at <= ").push_bind(end);
    }
    if let Some(start) = query.start_ms {
        qb.push(" AND max(s.last_response_at, s.last_request_at) >= ")
            .push_bind(start);
    }
    if let Some(name) = &query.name_equals {
        qb.push(" AND s.name = ").push_bind(name.clone());
    }
    if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
        qb.push(" AND (instr(lower(s.session_id), lower(")
            .push_bind(search.to_owned());
        qb.push(")) > 0 OR instr(lower(coalesce(s.name, '')), lower(")
            .push_bind(search.to_owned())
            .push(")) > 0)");
    }
    qb.push(" AND (");
    push_for_sessions(qb, &query.filter);
    qb.push(")");
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
