//! The filter language (DESIGN.md §6) through the public traits: call-level results from
//! [`Query::query_calls`](crate::Query::query_calls) (checked against
//! [`Query::count_matching_calls`](crate::Query::count_matching_calls)), session-level results
//! from [`Query::query_sessions`](crate::Query::query_sessions) (checked against
//! [`Query::aggregate_sessions`](crate::Query::aggregate_sessions)). Filters are parsed from
//! JSON with [`parse`], as the API does.
//!
//! The semantics every engine keeps:
//! - `equals` on text is exact, except `provider`, which compares case-insensitively.
//! - `like` is case-sensitive with `%`, `_` and `\` escapes, as in PostgreSQL; `ilike`,
//!   `contains` and `not-contains` fold ASCII letters.
//! - Negative operators are exact complements: `not-equals` and `not-contains` also match rows
//!   where the value is absent (NULL, a missing property or score, a session without that tag).
//! - `"null"` is IS NULL / IS NOT NULL; for a property, the key is absent / present.
//! - A call matches a session-level condition through its session (a call without a session
//!   matches none, even negatively); a session matches a call-level condition when any of its
//!   calls does, and call-level conditions under one `and` must hold for the same call.

mod calls;
mod sessions;

use std::collections::HashMap;

use canopy_core::{CallKind, CallRecord};
use serde_json::{Value as Json, json};

pub use calls::{
    everything_is_scoped_to_the_organisation, filtered_calls_sort_and_page,
    injection_attempts_match_nothing_and_harm_nothing, null_and_the_negatives_that_include_it,
    number_cost_and_timestamp_operators, positives_and_negatives_partition_the_calls,
    properties_including_the_helicone_keys_kept_as_columns, scores_and_feedback, text_operators,
};
pub use sessions::{
    calls_match_by_their_sessions_totals, filtered_sessions_page_and_keep_whole_totals,
    sessions_match_when_any_call_matches,
};

use super::Engine;
use super::sample::{call_query, sample_call, session_ids, session_query};
use crate::query::SessionQuery;
use crate::query::filter::parse;

const ORG: &str = "org";
/// 2025-01-01T00:00:00Z.
const T0: i64 = 1_735_689_600_000;

/// Calls `a` and `b` in session `s1` (tag `vip`), `c` in `s2` (tag `refund`), `d` with no
/// session, `f` in `s3` (no tags), and `x` in another organisation's `s1` (tag `x`).
struct Fixture {
    engine: Engine,
    names: HashMap<canopy_core::CallId, &'static str>,
}

fn call(name: &'static str, session: Option<&str>, offset_ms: i64) -> CallRecord {
    let org = if name == "x" { "other" } else { ORG };
    sample_call(org, session, T0 + offset_ms)
}

impl Fixture {
    async fn new(engine: Engine) -> Self {
        let mut a = call("a", Some("s1"), 0);
        a.properties.insert("tier".into(), "gold".into());

        let mut b = call("b", Some("s1"), 1_000);
        b.provider = "anthropic".into();
        b.request_model = Some("claude-3-5-sonnet".into());
        b.response_model = Some("claude-3-5-sonnet-20241022".into());
        b.status = 500;
        b.latency_ms = Some(900);
        b.cost_nano_usd = None;
        b.user_id = None;
        b.error = Some("boom".into());
        b.session_path = Some("/triage/answer".into());
        b.properties
            .insert("environment".into(), "production".into());

        let mut c = call("c", Some("s2"), 2_000);
        c.request_model = Some("gpt-4o".into());
        c.response_model = None;
        c.latency_ms = Some(300);
        c.cost_nano_usd = Some(5_000_000_000);
        c.usage.prompt_tokens = 1_000;
        c.usage.completion_tokens = 500;
        c.user_id = Some("user-2".into());
        c.kind = CallKind::Tool;
        c.session_name = Some("Billing".into());
        c.session_path = Some("/billing".into());
        c.properties.insert("tier".into(), "silver".into());
        c.properties.insert("we\"ird\\key".into(), "v".into());

        let mut d = call("d", None, 3_000);
        d.status = 429;
        d.latency_ms = None;
        d.cost_nano_usd = Some(0);
        d.prompt_id = None;
        d.properties.insert("app.version[0]".into(), "1.2".into());
        d.properties.insert("ключ".into(), "значение".into());

        let f = call("f", Some("s3"), 4_000);
        let x = call("x", Some("s1"), 5_000);

        let records = [("a", a), ("b", b), ("c", c), ("d", d), ("f", f), ("x", x)];
        let names = records.iter().map(|(name, r)| (r.id, *name)).collect();
        let batch: Vec<CallRecord> = records.iter().map(|(_, r)| r.clone()).collect();
        engine.write(&batch).await;

        let record = |name: &str| {
            let found = records.iter().find(|(n, _)| *n == name);
            &found.expect("a fixture call").1
        };
        for (name, score, value) in [
            ("a", "accuracy", 0.9),
            ("c", "accuracy", 0.4),
            ("a", "helicone-score-feedback", 1.0),
            ("b", "helicone-score-feedback", 0.0),
            ("x", "accuracy", 0.9),
        ] {
            let r = record(name);
            let scores = [(score.to_owned(), value)];
            let set = engine.annotate.set_scores(&r.org_id, r.id, &scores).await;
            assert!(set.expect("set_scores"), "{name} exists");
        }
        for (org, session, tag) in [
            (ORG, "s1", "vip"),
            (ORG, "s2", "refund"),
            ("other", "s1", "x"),
        ] {
            let added = engine.annotate.add_session_tag(org, session, tag).await;
            assert!(added.expect("add_session_tag"), "{session} exists");
        }
        Self { engine, names }
    }

    /// The names of the organisation's calls that `filter` matches, oldest first.
    async fn calls(&self, filter: Json) -> Vec<&'static str> {
        let parsed = parse(&filter).expect("a valid filter");
        let q = &self.engine.query;
        let count = q.count_matching_calls(ORG, &parsed).await;
        let rows = q.query_calls(ORG, &call_query(parsed)).await;
        let rows = rows.expect("query_calls");
        assert_eq!(
            rows.len() as u64,
            count.expect("count"),
            "counted as listed: {filter}"
        );
        rows.iter().map(|r| self.names[&r.id]).collect()
    }

    /// The ids of the organisation's sessions that `filter` matches, oldest first.
    async fn sessions(&self, filter: Json) -> Vec<String> {
        let query = SessionQuery {
            filter: parse(&filter).expect("a valid filter"),
            ..session_query()
        };
        self.sessions_for(&query, &filter).await
    }

    /// The ids of the organisation's sessions that `query` matches, oldest first.
    async fn sessions_for(&self, query: &SessionQuery, shown: &Json) -> Vec<String> {
        let q = &self.engine.query;
        let rows = q.query_sessions(ORG, query).await.expect("query_sessions");
        // The aggregate and the points cover every matching session, whatever the page.
        let unpaged = SessionQuery {
            limit: 1000,
            offset: 0,
            ..query.clone()
        };
        let every = q
            .query_sessions(ORG, &unpaged)
            .await
            .expect("query_sessions");
        let aggregate = q.aggregate_sessions(ORG, query).await.expect("aggregate");
        assert_eq!(
            every.len() as u64,
            aggregate.count,
            "aggregated as listed: {shown}"
        );
        let points = q.session_points(ORG, query).await.expect("points");
        assert_eq!(
            every.len(),
            points.len(),
            "a point per session listed: {shown}"
        );
        let mut ids: Vec<String> = session_ids(&rows).into_iter().map(str::to_owned).collect();
        ids.reverse();
        ids
    }
}

fn rmt(column: &str, op: &str, value: Json) -> Json {
    json!({"request_response_rmt": { column: { op: value } }})
}

fn sess(column: &str, op: &str, value: Json) -> Json {
    json!({"sessions_request_response_rmt": { column: { op: value } }})
}

fn prop(key: &str, op: &str, value: Json) -> Json {
    json!({"properties": { key: { op: value } }})
}

fn and(left: Json, right: Json) -> Json {
    json!({"left": left, "operator": "and", "right": right})
}

fn or(left: Json, right: Json) -> Json {
    json!({"left": left, "operator": "or", "right": right})
}
