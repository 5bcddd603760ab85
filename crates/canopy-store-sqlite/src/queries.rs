//! Filtered reads: pages of calls and sessions, session names, metrics points, scores and tags.
//!
//! Every query starts from the organisation and adds the caller's filter through
//! [`crate::filter`], which binds every value. Session queries read the sessions table kept at
//! write time, never the call log, except where a filter names a call-level condition.

use std::collections::{BTreeMap, HashMap};

use canopy_core::{CallId, CallRecord};
use canopy_store::query::filter::Filter;
use canopy_store::query::{
    CallQuery, CallSortKey, MAX_PATHS, PathStat, SessionAggregate, SessionNameRow, SessionPoint,
    SessionQuery, SessionSortKey,
};
use canopy_store::sql::Sql;
use canopy_store::sql::filter::{push_for_calls, push_for_sessions};
use canopy_store::{Result, SessionSummary};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::SqliteStore;
use crate::dialect::{query, sql};
use crate::read::{
    CALL_JSON, CALLS_WITH_BODIES, SESSION_COLUMNS, call_from_row, corrupt, read_err,
    session_from_row,
};

impl SqliteStore {
    pub(crate) async fn calls_page(
        &self,
        org_id: &str,
        query: &CallQuery,
    ) -> Result<Vec<CallRecord>> {
        let mut q = sql(format!(
            "SELECT {CALL_JSON} FROM {CALLS_WITH_BODIES} WHERE c.org_id = "
        ));
        q.bind(org_id).push(" AND (");
        push_for_calls(&mut q, &query.filter);
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
        q.push(&format!(
            ") ORDER BY {key} {direction}, c.id {direction} LIMIT "
        ));
        q.bind(to_i64(query.limit))
            .push(" OFFSET ")
            .bind(to_i64(query.offset));
        let rows = crate::dialect::query(&q)
            .fetch_all(&self.readers)
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
            .fetch_one(&self.readers)
            .await
            .map_err(read_err("count_matching_calls"))?
            .get(0);
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
        // The page is picked by rowid, then read: the columns include a subquery per session
        // (its users), which must run for the page's sessions only, not for every session
        // SQLite passes over (an offset, say).
        let mut q = sql(format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.rowid IN \
             (SELECT s.rowid FROM sessions s WHERE "
        ));
        // Start order walks the start index; any other order sorts the window's sessions.
        let walk = query.sort.key == SessionSortKey::Started;
        let window = if walk { Window::Walk } else { Window::Index };
        push_conditions(&mut q, org_id, query, window);
        // The walk, newest first, fills a page at once when most sessions in the window match.
        // A search or a filter may match few; then the walk must end with the window instead of
        // going on to the oldest session. No session in the window started before the earliest
        // start among them, which the activity index gives; that bound only restates the
        // window, so the page is unchanged. Finding it reads the window's index entries, so it
        // is only added where it may pay. (`+ 0` turns off SQLite's min() shortcut, which would
        // walk `sessions_org_first` up from the oldest session until one is in the window.)
        let sparse = query.search.as_deref().is_some_and(|s| !s.is_empty())
            || !matches!(query.filter, Filter::All);
        if let Some(start) = query.start_ms.filter(|_| sparse && walk) {
            q.push(
                " AND s.first_request_at >= (SELECT min(a.first_request_at + 0) \
                 FROM sessions a WHERE a.org_id = ",
            )
            .bind(org_id)
            .push(" AND max(a.last_response_at, a.last_request_at) >= ")
            .bind(start)
            .push(")");
        }
        let order = query.sort.order_by(sort_value);
        q.push(&format!(" ORDER BY {order} LIMIT "));
        q.bind(to_i64(query.limit))
            .push(" OFFSET ")
            .bind(to_i64(query.offset));
        q.push(&format!(") ORDER BY {order}"));
        let rows = crate::dialect::query(&q)
            .fetch_all(&self.readers)
            .await
            .map_err(read_err("query_sessions"))?;
        rows.iter().map(session_from_row).collect()
    }

    pub(crate) async fn paths(&self, org_id: &str, query: &SessionQuery) -> Result<Vec<PathStat>> {
        let mut q = sql(
            "SELECT coalesce(c.session_path, '/') AS path, count(DISTINCT c.session_id) AS sessions, count(*) AS calls, \
             sum(CASE WHEN c.status < 0 OR c.status >= 400 OR c.error IS NOT NULL THEN 1 ELSE 0 END) AS errors, coalesce(sum(c.latency_ms), 0) AS latency, coalesce(sum(c.cost_nano), 0) AS cost, \
             sum(CASE WHEN c.cost_nano IS NULL THEN 1 ELSE 0 END) AS unpriced FROM calls c WHERE c.org_id = ",
        );
        q.bind(org_id)
            .push(" AND c.session_id IN (SELECT s.session_id FROM sessions s WHERE ");
        push_session_conditions(&mut q, org_id, query);
        q.push(") GROUP BY 1 ORDER BY calls DESC, path LIMIT ")
            .bind(to_i64(MAX_PATHS));
        let rows = crate::dialect::query(&q)
            .fetch_all(&self.readers)
            .await
            .map_err(read_err("path_stats"))?;
        let count = |row: &_, name: &str| -> u64 {
            let row: &sqlx::sqlite::SqliteRow = row;
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
        query: &SessionQuery,
    ) -> Result<SessionAggregate> {
        let mut q = sql(
            "SELECT count(*) AS n, coalesce(sum(s.cost_nano), 0) AS cost, \
             coalesce(sum(s.request_count), 0) AS requests, coalesce(sum(s.latency_sum_ms), 0) AS latency \
             FROM sessions s WHERE ",
        );
        push_session_conditions(&mut q, org_id, query);
        let row = crate::dialect::query(&q)
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
        let mut q = sql(
            "SELECT s.name AS name, count(*) AS sessions, min(s.first_request_at) AS first_used, \
             max(s.last_request_at) AS last_used, sum(s.cost_nano) AS cost, sum(s.request_count) AS requests, \
             sum(max(s.last_response_at, s.last_request_at) - s.first_request_at) AS duration, \
             sum(s.latency_sum_ms) AS latency FROM sessions s WHERE s.name IS NOT NULL AND ",
        );
        push_session_conditions(&mut q, org_id, query);
        if !contains.is_empty() {
            q.push(" AND instr(lower(s.name), lower(")
                .bind(contains)
                .push(")) > 0");
        }
        q.push(" GROUP BY s.name ORDER BY last_used DESC LIMIT ")
            .bind(to_i64(query.limit.max(1)));
        let rows = crate::dialect::query(&q)
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
        // One row of three JSON arrays, not a row per session: the driver hands rows over one
        // at a time, which cost more than the scan itself for 100,000 sessions. The three
        // aggregates step through the same rows in the same order, so their elements line up.
        // (SQLite caps a value at 1e9 bytes: some 50 million sessions per query.)
        let mut q = sql("SELECT json_group_array(s.request_count) AS requests, \
             json_group_array(max(s.last_response_at, s.last_request_at) - s.first_request_at) \
             AS durations, json_group_array(s.cost_nano) AS costs FROM sessions s WHERE ");
        push_session_conditions(&mut q, org_id, query);
        let row = crate::dialect::query(&q)
            .fetch_one(&self.readers)
            .await
            .map_err(read_err("session_points"))?;
        let column = |name: &str| -> Result<Vec<i64>> {
            let text: &str = row
                .try_get(name)
                .map_err(|e| corrupt("session points", e))?;
            serde_json::from_str(text).map_err(|e| corrupt("session points", e))
        };
        let (requests, durations, costs) =
            (column("requests")?, column("durations")?, column("costs")?);
        if requests.len() != durations.len() || requests.len() != costs.len() {
            return Err(corrupt("session points", "arrays of different lengths"));
        }
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

    pub(crate) async fn tags(&self, org_id: &str, session_id: &str) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT tag FROM session_tags WHERE org_id = ? AND session_id = ? ORDER BY created_at, tag")
            .bind(org_id)
            .bind(session_id)
            .fetch_all(&self.readers)
            .await
            .map_err(read_err("session_tags"))
    }
}

/// A session's value for a sort key, in SQLite's SQL.
fn sort_value(key: SessionSortKey) -> &'static str {
    match key {
        SessionSortKey::Started => "s.first_request_at",
        SessionSortKey::Cost => "s.cost_nano",
        SessionSortKey::Calls => "s.request_count",
        SessionSortKey::Duration => {
            "max(s.last_response_at, s.last_request_at) - s.first_request_at"
        }
        SessionSortKey::Errors => "s.error_count",
        SessionSortKey::Latency => "s.latency_sum_ms * 1.0 / max(s.request_count, 1)",
    }
}

/// How a query over sessions finds the ones in its time window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Window {
    /// Through the activity index (`sessions_org_active`): only the window's sessions are read.
    Index,
    /// By testing each session a walk in start order reads. The term is written `+max(..)`,
    /// SQLite's documented way to keep an index from serving a term, so that the planner
    /// walks `sessions_org_first` (or `sessions_org_name`) in the page's order instead of
    /// sorting the whole window.
    Walk,
}

/// The organisation, the time window (a session overlapping it is matched whole), the name,
/// the search text and the filter, for a query over sessions aliased `s`.
fn push_session_conditions(q: &mut Sql<'_>, org_id: &str, query: &SessionQuery) {
    push_conditions(q, org_id, query, Window::Index);
}

/// [`push_session_conditions`], with the window found as `window` says.
fn push_conditions(q: &mut Sql<'_>, org_id: &str, query: &SessionQuery, window: Window) {
    q.push("s.org_id = ").bind(org_id);
    if let Some(end) = query.end_ms {
        q.push(" AND s.first_request_at <= ").bind(end);
    }
    if let Some(start) = query.start_ms {
        // The expression must stay the one `sessions_org_active` indexes.
        q.push(match window {
            Window::Index => " AND max(s.last_response_at, s.last_request_at) >= ",
            Window::Walk => " AND +max(s.last_response_at, s.last_request_at) >= ",
        })
        .bind(start);
    }
    if let Some(name) = &query.name_equals {
        q.push(" AND s.name = ").bind(name.as_str());
    }
    if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
        if search.len() <= MAX_LIKE_SEARCH {
            // `LIKE` folds ASCII letters only, as `lower` does, so this matches exactly what
            // `instr(lower(..), lower(..)) > 0` below matches, at a third of the cost per session.
            let pattern = contains_pattern(search);
            q.push(" AND (s.session_id LIKE ")
                .bind(pattern.clone())
                .push(" ESCAPE '\\' OR coalesce(s.name, '') LIKE ")
                .bind(pattern)
                .push(" ESCAPE '\\')");
        } else {
            q.push(" AND (instr(lower(s.session_id), lower(")
                .bind(search);
            q.push(")) > 0 OR instr(lower(coalesce(s.name, '')), lower(")
                .bind(search)
                .push(")) > 0)");
        }
    }
    q.push(" AND (");
    push_for_sessions(q, &query.filter);
    q.push(")");
}

/// The longest search written as a `LIKE` pattern; SQLite refuses patterns over 50,000 bytes.
const MAX_LIKE_SEARCH: usize = 10_000;

/// A `LIKE` pattern (escape `\`) matching any text that contains `text`.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 8);
    pattern.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    /// The session search's `LIKE` must match exactly what `instr(lower(..), lower(..))` did.
    #[tokio::test]
    async fn contains_pattern_matches_what_instr_of_lower_matches() {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        let texts = [
            "Support",
            "support-42",
            "ab%cd",
            "a_b",
            r"x\y",
            "Ünïcode",
            "ünïcode",
            "",
            "MiXeD_Case%",
            "0198a3f2-7c1e-7d40-9e6b-3a5f0c2d4e11",
        ];
        let needles = [
            "sup", "SUP", "%", "_", r"\", "b%c", "a_b", "a%b", "Ü", "ü", "xed_c", "e%", "0198A3",
            "7C1E-7", "%%", r"\%",
        ];
        for text in texts {
            for needle in needles {
                let (like, instr): (bool, bool) =
                    sqlx::query_as("SELECT ? LIKE ? ESCAPE '\\', instr(lower(?), lower(?)) > 0")
                        .bind(text)
                        .bind(contains_pattern(needle))
                        .bind(text)
                        .bind(needle)
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                assert_eq!(like, instr, "{text:?} contains {needle:?}");
            }
        }
    }
}
