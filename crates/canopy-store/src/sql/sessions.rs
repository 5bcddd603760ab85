//! The sessions table kept at write time: what one batch adds to each session, and the
//! statements that add it, shared by every relational engine.
//!
//! A batch's fresh calls (those not already stored) are folded into one [`SessionDelta`] per
//! session; each delta is then upserted, so a session's totals are exact however its calls
//! are split into batches, spread over gateways or replayed from a spool.
//!
//! Rules kept here and nowhere else:
//! - the session's name is the latest non-empty name any of its calls carried (by request
//!   start; a later batch with an older name does not override a newer one);
//! - errors are the calls [`CallRecord::is_error`] says failed;
//! - unpriced calls are model calls whose model has no price (tool steps are not);
//! - figures add with saturation, so no session can overflow.

use canopy_core::CallRecord;

use crate::query::SessionQuery;
use crate::sql::{Arg, Dialect, Sql, filter};

/// What one batch adds to one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDelta<'a> {
    /// The organisation.
    pub org_id: &'a str,
    /// The session id.
    pub session_id: &'a str,
    /// The latest non-empty name in the batch.
    pub name: Option<&'a str>,
    /// When the call that carried `name` started (0 when there is no name).
    pub name_at: i64,
    /// Earliest request start.
    pub first_request_at: i64,
    /// Latest request start.
    pub last_request_at: i64,
    /// Latest response end.
    pub last_response_at: i64,
    /// Calls.
    pub request_count: i64,
    /// Calls that failed.
    pub error_count: i64,
    /// Input tokens.
    pub prompt_tokens: i64,
    /// Output tokens.
    pub completion_tokens: i64,
    /// Known cost, nano-USD.
    pub cost_nano: i64,
    /// Model calls whose model has no price.
    pub unpriced_count: i64,
    /// Sum of latencies, ms.
    pub latency_sum_ms: i64,
    /// Distinct end users, in first-seen order.
    pub user_ids: Vec<&'a str>,
}

/// Folds `calls` into one delta per (organisation, session), sorted by that key so that
/// concurrent writers upsert sessions in the same order and never deadlock.
pub fn session_deltas<'a>(
    calls: impl IntoIterator<Item = &'a CallRecord>,
) -> Vec<SessionDelta<'a>> {
    let mut deltas: Vec<SessionDelta<'a>> = Vec::new();
    let mut index: std::collections::HashMap<(&'a str, &'a str), usize> =
        std::collections::HashMap::new();
    for r in calls {
        let Some(session_id) = r.session_id.as_deref() else {
            continue;
        };
        let slot = *index.entry((&r.org_id, session_id)).or_insert_with(|| {
            deltas.push(SessionDelta {
                org_id: &r.org_id,
                session_id,
                name: None,
                name_at: 0,
                first_request_at: i64::MAX,
                last_request_at: i64::MIN,
                last_response_at: i64::MIN,
                request_count: 0,
                error_count: 0,
                prompt_tokens: 0,
                completion_tokens: 0,
                cost_nano: 0,
                unpriced_count: 0,
                latency_sum_ms: 0,
                user_ids: Vec::new(),
            });
            deltas.len() - 1
        });
        add(&mut deltas[slot], r);
    }
    deltas.sort_by(|a, b| (a.org_id, a.session_id).cmp(&(b.org_id, b.session_id)));
    deltas
}

fn add<'a>(d: &mut SessionDelta<'a>, r: &'a CallRecord) {
    if let Some(name) = r.session_name.as_deref().filter(|n| !n.is_empty())
        && (d.name.is_none() || r.created_at_ms >= d.name_at)
    {
        d.name = Some(name);
        d.name_at = r.created_at_ms;
    }
    let ended = r.response_created_at_ms.unwrap_or(r.created_at_ms);
    d.first_request_at = d.first_request_at.min(r.created_at_ms);
    d.last_request_at = d.last_request_at.max(r.created_at_ms);
    d.last_response_at = d.last_response_at.max(ended);
    d.request_count = d.request_count.saturating_add(1);
    d.error_count = d.error_count.saturating_add(i64::from(r.is_error()));
    d.prompt_tokens = d.prompt_tokens.saturating_add(count(r.usage.prompt_tokens));
    d.completion_tokens = d
        .completion_tokens
        .saturating_add(count(r.usage.completion_tokens));
    match r.cost_nano_usd {
        Some(cost) => d.cost_nano = d.cost_nano.saturating_add(cost.max(0)),
        // Unpriced means a model call whose model has no price; a tool step or a call
        // that names no model has no price to miss.
        None if r.is_unpriced_model_call() => d.unpriced_count += 1,
        None => {}
    }
    d.latency_sum_ms = d
        .latency_sum_ms
        .saturating_add(r.latency_ms.unwrap_or(0).max(0));
    if let Some(user) = r.user_id.as_deref().filter(|u| !u.is_empty())
        && !d.user_ids.contains(&user)
    {
        d.user_ids.push(user);
    }
}

/// A token count as stored: counts beyond `i64::MAX` saturate.
pub fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Columns of the sessions table an upsert writes, in [`upsert`]'s value order.
const UPSERT_COLUMNS: &str = "org_id, session_id, name, name_at, first_request_at, \
    last_request_at, last_response_at, request_count, error_count, prompt_tokens, \
    completion_tokens, cost_nano, unpriced_count, latency_sum_ms";

/// One statement that adds `deltas` to the sessions table (creating missing sessions).
///
/// The totals add up in SQL, so two gateways adding to one session at once both count.
/// Sums saturate at `i64::MAX` instead of overflowing.
pub fn upsert<'d>(dialect: &'d dyn Dialect, deltas: &[SessionDelta<'_>]) -> Sql<'d> {
    let mut sql = Sql::new(
        dialect,
        format!("INSERT INTO sessions ({UPSERT_COLUMNS}) VALUES "),
    );
    for (i, d) in deltas.iter().enumerate() {
        sql.push(if i == 0 { "(" } else { ", (" });
        sql.bind(d.org_id).push(", ").bind(d.session_id).push(", ");
        match d.name {
            Some(name) => sql.bind(name),
            None => sql.bind(Arg::Null),
        };
        for n in [
            d.name_at,
            d.first_request_at,
            d.last_request_at,
            d.last_response_at,
            d.request_count,
            d.error_count,
            d.prompt_tokens,
            d.completion_tokens,
            d.cost_nano,
            d.unpriced_count,
            d.latency_sum_ms,
        ] {
            sql.push(", ").bind(n);
        }
        sql.push(")");
    }
    let newer_name = "excluded.name IS NOT NULL \
         AND (sessions.name IS NULL OR excluded.name_at >= sessions.name_at)";
    let least = |a: &str, b: &str| format!("CASE WHEN {a} <= {b} THEN {a} ELSE {b} END");
    let sum = |column: &str| {
        // Saturating: a + b overflows exactly when b > MAX - a (both are never negative).
        format!(
            "{column} = CASE WHEN excluded.{column} > {max} - sessions.{column} \
             THEN {max} ELSE sessions.{column} + excluded.{column} END",
            max = i64::MAX
        )
    };
    sql.push(&format!(
        " ON CONFLICT (org_id, session_id) DO UPDATE SET \
         name = CASE WHEN {newer_name} THEN excluded.name ELSE sessions.name END, \
         name_at = CASE WHEN {newer_name} THEN excluded.name_at ELSE sessions.name_at END, \
         first_request_at = {first}, last_request_at = {last_request}, \
         last_response_at = {last_response}, {requests}, {errors}, {prompt}, {completion}, \
         {cost}, {unpriced}, {latency}",
        first = least("sessions.first_request_at", "excluded.first_request_at"),
        last_request = dialect.greatest("sessions.last_request_at", "excluded.last_request_at"),
        last_response = dialect.greatest("sessions.last_response_at", "excluded.last_response_at"),
        requests = sum("request_count"),
        errors = sum("error_count"),
        prompt = sum("prompt_tokens"),
        completion = sum("completion_tokens"),
        cost = sum("cost_nano"),
        unpriced = sum("unpriced_count"),
        latency = sum("latency_sum_ms"),
    ));
    sql
}

/// One statement that records the deltas' end users (each once per session), or `None`
/// when no delta has any.
pub fn insert_users<'d>(dialect: &'d dyn Dialect, deltas: &[SessionDelta<'_>]) -> Option<Sql<'d>> {
    let mut sql = Sql::new(
        dialect,
        "INSERT INTO session_users (org_id, session_id, user_id) VALUES ",
    );
    let mut rows = 0;
    for d in deltas {
        for user in &d.user_ids {
            sql.push(if rows == 0 { "(" } else { ", (" });
            sql.bind(d.org_id)
                .push(", ")
                .bind(d.session_id)
                .push(", ")
                .bind(*user)
                .push(")");
            rows += 1;
        }
    }
    sql.push(" ON CONFLICT DO NOTHING");
    (rows > 0).then_some(sql)
}

/// The organisation, the time window (a session overlapping it is matched whole), the name,
/// the search text (in the id or the name, ignoring case) and the filter, for a query over the
/// sessions table aliased `s`, in the statement's dialect. (SQLite writes its own, shaped for
/// its indexes.)
pub fn push_session_conditions(q: &mut Sql<'_>, org_id: &str, query: &SessionQuery) {
    let dialect = q.dialect();
    q.push("s.org_id = ").bind(org_id);
    if let Some(end) = query.end_ms {
        q.push(" AND s.first_request_at <= ").bind(end);
    }
    if let Some(start) = query.start_ms {
        let last_active = dialect.greatest("s.last_response_at", "s.last_request_at");
        q.push(&format!(" AND {last_active} >= ")).bind(start);
    }
    if let Some(name) = &query.name_equals {
        q.push(" AND s.name = ").bind(name.as_str());
    }
    if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
        let needle = q.param(search);
        let in_id = dialect.contains("s.session_id", &needle);
        let in_name = dialect.contains("coalesce(s.name, '')", &needle);
        q.push(&format!(" AND ({in_id} OR {in_name})"));
    }
    q.push(" AND (");
    filter::push_for_sessions(q, &query.filter);
    q.push(")");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(session: &str, at: i64, name: Option<&str>) -> CallRecord {
        CallRecord {
            org_id: "org".into(),
            session_id: Some(session.into()),
            session_name: name.map(str::to_owned),
            created_at_ms: at,
            ..CallRecord::default()
        }
    }

    #[test]
    fn the_latest_non_empty_name_wins_within_a_batch() {
        let calls = [
            call("s", 30, Some("late")),
            call("s", 10, Some("early")),
            call("s", 40, Some("")),
            call("s", 20, None),
        ];
        let deltas = session_deltas(&calls);
        assert_eq!(deltas.len(), 1);
        assert_eq!(deltas[0].name, Some("late"));
        assert_eq!(deltas[0].name_at, 30);
        assert_eq!(deltas[0].first_request_at, 10);
        assert_eq!(deltas[0].last_request_at, 40);
        assert_eq!(deltas[0].request_count, 4);
    }

    #[test]
    fn huge_figures_saturate_instead_of_wrapping() {
        let mut a = call("s", 1, None);
        a.usage.prompt_tokens = u64::MAX;
        a.cost_nano_usd = Some(i64::MAX);
        let b = a.clone();
        let deltas = session_deltas([&a, &b]);
        assert_eq!(deltas[0].prompt_tokens, i64::MAX);
        assert_eq!(deltas[0].cost_nano, i64::MAX);
    }

    #[test]
    fn deltas_come_sorted_by_organisation_and_session() {
        let mut b = call("b", 1, None);
        b.org_id = "org".into();
        let a = call("a", 2, None);
        let mut z = call("a", 3, None);
        z.org_id = "aaa".into();
        let deltas = session_deltas([&b, &a, &z]);
        let keys: Vec<_> = deltas.iter().map(|d| (d.org_id, d.session_id)).collect();
        assert_eq!(keys, [("aaa", "a"), ("org", "a"), ("org", "b")]);
    }
}
