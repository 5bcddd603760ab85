//! Sessions: the totals kept at write time (`get_session`) and `session_tags`; the session
//! queries (`query_sessions`, `aggregate_sessions`, `session_names`, `session_points`) are in
//! [`queries`].

mod queries;

use canopy_core::{CallKind, CallRecord, Usage};

pub use queries::{
    a_session_overlapping_the_window_is_listed_whole,
    aggregate_sessions_totals_every_matching_session,
    path_stats_sum_each_path_over_the_matching_sessions,
    query_sessions_lists_newest_first_and_pages, query_sessions_matches_a_name_exactly,
    query_sessions_searches_id_and_name_case_insensitively, query_sessions_sorts_by_every_key,
    session_names_counts_and_orders_names, session_points_gives_one_point_per_session,
};

use super::sample::sample_call;
use super::{Engine, next_millisecond};
use crate::SessionSummary;
use crate::query::SessionQuery;

const ORG: &str = "org-sessions";
/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;
const MINUTE: i64 = 60_000;

/// A call of `session` named `name`, starting at `start`, taking `latency` ms, costing `cost`.
fn call(session: &str, name: Option<&str>, start: i64, latency: i64, cost: i64) -> CallRecord {
    let mut call = sample_call(ORG, Some(session), start);
    call.session_name = name.map(str::to_owned);
    call.latency_ms = Some(latency);
    call.response_created_at_ms = Some(start + latency);
    call.cost_nano_usd = Some(cost);
    call
}

async fn session(e: &Engine, id: &str) -> SessionSummary {
    let found = e.query.get_session(ORG, id).await.expect("get_session");
    found.expect("the session exists")
}

async fn list(e: &Engine, query: &SessionQuery) -> Vec<SessionSummary> {
    e.query
        .query_sessions(ORG, query)
        .await
        .expect("query_sessions")
}

/// Every total a session keeps: counts, errors, tokens, cost, unpriced calls, latency, users,
/// first and last times and the duration, over calls written out of order in two batches.
pub async fn session_totals_are_kept_at_write_time(e: Engine) {
    let t0 = T0;
    let mut a1 = sample_call(ORG, Some("s1"), t0);
    a1.session_name = Some("First name".to_owned());
    let mut a2 = sample_call(ORG, Some("s1"), t0 + 1_000);
    a2.session_name = Some(String::new());
    a2.status = 500;
    a2.user_id = Some("user-2".to_owned());
    a2.cost_nano_usd = None;
    a2.latency_ms = Some(300);
    a2.response_created_at_ms = Some(t0 + 1_300);
    let mut a3 = sample_call(ORG, Some("s1"), t0 + 500);
    a3.session_name = Some("Latest name".to_owned());
    a3.user_id = None;
    a3.status = -2;
    // A tool step has no cost, and is not counted as unpriced.
    let mut a4 = sample_call(ORG, Some("s1"), t0 + 200);
    a4.kind = CallKind::Tool;
    a4.cost_nano_usd = None;
    a4.usage = Usage::default();
    a4.latency_ms = Some(0);
    a4.response_created_at_ms = Some(t0 + 200);
    a4.user_id = Some(String::new());
    a4.session_name = None;
    // A call that names no model has no price to miss either.
    let mut a5 = sample_call(ORG, Some("s1"), t0 + 600);
    a5.request_model = None;
    a5.response_model = None;
    a5.cost_nano_usd = None;
    a5.latency_ms = None;
    a5.response_created_at_ms = None;
    a5.user_id = Some("user-0".to_owned());
    a5.session_name = None;
    a5.status = 399;

    // Written out of order and over two batches.
    e.write(&[a2.clone(), a5.clone()]).await;
    e.write(&[a1.clone(), a3.clone(), a4.clone()]).await;

    let s = session(&e, "s1").await;
    let expected = SessionSummary {
        session_id: "s1".to_owned(),
        name: Some("Latest name".to_owned()),
        first_request_at_ms: t0,
        last_request_at_ms: t0 + 1_000,
        last_response_at_ms: t0 + 1_300,
        request_count: 5,
        error_count: 2,
        prompt_tokens: 400,
        completion_tokens: 80,
        cost_nano_usd: 54_000,
        unpriced_count: 1,
        latency_sum_ms: 540,
        user_ids: vec![
            "user-0".to_owned(),
            "user-1".to_owned(),
            "user-2".to_owned(),
        ],
        feedback: None,
    };
    assert_eq!(
        s, expected,
        "totals, sorted users without the empty id, no feedback"
    );
    assert_eq!(s.duration_ms(), 1_300);
    assert_eq!(s.total_tokens(), 480);
    assert_eq!(e.query.get_session(ORG, "s-none").await.expect("get"), None);

    // A session whose calls all came before its last response still ends at that response.
    let mut long = call("s2", None, t0, 5_000, 1);
    long.user_id = None;
    e.write(&[long, call("s2", None, t0 + 1_000, 10, 1)]).await;
    let s2 = session(&e, "s2").await;
    assert_eq!(s2.last_request_at_ms, t0 + 1_000);
    assert_eq!(s2.last_response_at_ms, t0 + 5_000);
    assert_eq!(s2.duration_ms(), 5_000);
    assert_eq!(s2.name, None, "no call named it");
    assert_eq!(s2.user_ids, ["user-1"]);
}

/// The name a session shows is the one of its latest call that carried a non-empty name, in
/// whatever order and batches its calls arrive.
pub async fn the_latest_non_empty_name_wins_whatever_the_write_order(e: Engine) {
    let named = |offset: i64, name: Option<&str>| call("s", name, T0 + offset, 10, 1);
    let steps = [
        (named(200, Some("C")), "C"),
        (named(0, Some("A")), "C"),
        (named(300, Some("")), "C"),
        (named(400, None), "C"),
        (named(100, Some("B")), "C"),
        (named(250, Some("D")), "D"),
    ];
    for (call, expected) in steps {
        e.write(std::slice::from_ref(&call)).await;
        let name = session(&e, "s").await.name;
        assert_eq!(
            name.as_deref(),
            Some(expected),
            "after the call at {}",
            call.created_at_ms
        );
    }
    // The same calls in one batch, newest first.
    let batch: Vec<CallRecord> = [
        (400, None),
        (300, Some("")),
        (250, Some("D")),
        (200, Some("C")),
        (0, Some("A")),
    ]
    .into_iter()
    .map(|(offset, name)| call("t", name, T0 + offset, 10, 1))
    .collect();
    e.write(&batch).await;
    assert_eq!(session(&e, "t").await.name.as_deref(), Some("D"));
}

/// A session's tags come oldest first; an unknown session has none.
pub async fn session_tags_come_oldest_first(e: Engine) {
    e.write(&[call("s", None, T0, 10, 1)]).await;
    for tag in ["zeta", "alpha", "mid"] {
        let added = e.annotate.add_session_tag(ORG, "s", tag).await;
        assert!(added.expect("add_session_tag"));
        next_millisecond().await;
    }
    let tags = e.query.session_tags(ORG, "s").await.expect("session_tags");
    assert_eq!(tags, ["zeta", "alpha", "mid"]);
    let none = e.query.session_tags(ORG, "s-none").await.expect("tags");
    assert!(none.is_empty());
}
