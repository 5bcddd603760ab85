//! Filters that cross levels: calls by their session's totals and tags, sessions by any of
//! their calls, and filtered session pages whose totals stay whole.

use serde_json::json;

use super::super::Engine;
use super::super::sample::session_query;
use super::{Fixture, T0, and, or, rmt, sess};
use crate::query::SessionQuery;
use crate::query::filter::parse;

/// Calls match session-level conditions through their session's totals, tags, id and name.
pub async fn calls_match_by_their_sessions_totals(e: Engine) {
    let fx = Fixture::new(e).await;
    assert_eq!(
        fx.calls(sess("session_total_cost", "gt", json!(1))).await,
        ["c"]
    );
    assert_eq!(
        fx.calls(sess("session_total_requests", "equals", json!(2)))
            .await,
        ["a", "b"]
    );
    assert_eq!(
        fx.calls(sess("session_total_tokens", "gt", json!(1_000)))
            .await,
        ["c"]
    );
    assert_eq!(
        fx.calls(sess("session_tag", "equals", json!("vip"))).await,
        ["a", "b"]
    );
    // A call without a session has no session to match, even negatively.
    assert_eq!(
        fx.calls(sess("session_tag", "not-equals", json!("vip")))
            .await,
        ["c", "f"]
    );
    assert_eq!(
        fx.calls(sess("session_tag", "equals", json!("null"))).await,
        ["f"]
    );
    assert_eq!(
        fx.calls(sess("session_session_id", "equals", json!("s2")))
            .await,
        ["c"]
    );
    assert_eq!(
        fx.calls(sess("session_session_id", "not-equals", json!("s2")))
            .await,
        ["a", "b", "f"]
    );
    assert_eq!(
        fx.calls(sess("session_session_id", "equals", json!("null")))
            .await,
        Vec::<&str>::new()
    );
    assert_eq!(
        fx.calls(sess("session_session_name", "equals", json!("Support")))
            .await,
        ["a", "b", "f"]
    );
    let created = sess("session_created_at", "gte", json!("2025-01-01T00:00:02Z"));
    assert_eq!(fx.calls(created).await, ["c", "f"]);
    let latest = sess(
        "session_latest_request_created_at",
        "equals",
        json!(T0 + 1_000),
    );
    assert_eq!(fx.calls(latest).await, ["a", "b"]);
    // Mixed levels in one tree.
    let mixed = and(
        sess("session_tag", "equals", json!("vip")),
        rmt("status", "equals", json!(500)),
    );
    assert_eq!(fx.calls(mixed).await, ["b"]);
}

/// Sessions match call-level conditions when any of their calls does; session-level conditions
/// read the session's own totals and tags.
pub async fn sessions_match_when_any_call_matches(e: Engine) {
    let fx = Fixture::new(e).await;
    assert_eq!(
        fx.sessions(rmt("model", "contains", json!("claude"))).await,
        ["s1"]
    );
    assert_eq!(
        fx.sessions(rmt("user_id", "equals", json!("user-2"))).await,
        ["s2"]
    );
    assert_eq!(
        fx.sessions(rmt("status", "not-equals", json!(500))).await,
        ["s1", "s2", "s3"]
    );
    // Call-level conditions under one AND must hold for the same call.
    let same_call = and(
        rmt("model", "contains", json!("claude")),
        rmt("latency", "lt", json!(200)),
    );
    assert_eq!(fx.sessions(same_call).await, Vec::<String>::new());
    let either = or(
        rmt("model", "contains", json!("claude")),
        rmt("kind", "equals", json!("tool")),
    );
    assert_eq!(fx.sessions(either).await, ["s1", "s2"]);
    assert_eq!(
        fx.sessions(rmt("session_id", "equals", json!("s3"))).await,
        ["s3"]
    );
    assert_eq!(
        fx.sessions(sess("session_total_tokens", "gt", json!(1_000)))
            .await,
        ["s2"]
    );
    assert_eq!(
        fx.sessions(sess("session_tag", "contains", json!("UND")))
            .await,
        ["s2"]
    );
    assert_eq!(
        fx.sessions(sess("session_tag", "not-contains", json!("vip")))
            .await,
        ["s2", "s3"]
    );
    assert_eq!(
        fx.sessions(sess("session_session_name", "ilike", json!("bill%")))
            .await,
        ["s2"]
    );
    let mixed = and(
        sess("session_total_requests", "gte", json!(1)),
        and(
            rmt("status", "equals", json!(200)),
            rmt("kind", "equals", json!("llm")),
        ),
    );
    assert_eq!(fx.sessions(mixed).await, ["s1", "s3"]);
    // Another organisation's session `s1` and its scores never leak in.
    assert_eq!(
        fx.sessions(sess("session_tag", "equals", json!("x"))).await,
        Vec::<String>::new()
    );
}

/// A filtered session query pages newest first, combines with the search, name and window,
/// and a session matched through one call keeps the totals of all its calls.
pub async fn filtered_sessions_page_and_keep_whole_totals(e: Engine) {
    let fx = Fixture::new(e).await;
    let failed = rmt("status", "equals", json!(500));
    let query = |filter: &serde_json::Value| SessionQuery {
        filter: parse(filter).expect("a valid filter"),
        ..session_query()
    };
    let q = &fx.engine.query;
    let rows = q
        .query_sessions(super::ORG, &query(&failed))
        .await
        .expect("sessions");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].session_id, "s1");
    assert_eq!(
        rows[0].request_count, 2,
        "both calls, not only the one that matched"
    );
    assert_eq!(rows[0].error_count, 1);
    let aggregate = q.aggregate_sessions(super::ORG, &query(&failed)).await;
    assert_eq!(aggregate.expect("aggregate").total_requests, 2);

    let all = json!("all");
    let mut pages = Vec::new();
    for offset in 0..4 {
        let paged = SessionQuery {
            limit: 1,
            offset,
            ..query(&all)
        };
        pages.extend(fx.sessions_for(&paged, &all).await);
    }
    assert_eq!(pages, ["s3", "s2", "s1"], "pages of one, newest first");

    let llm = rmt("kind", "equals", json!("llm"));
    let searched = SessionQuery {
        search: Some("S1".to_owned()),
        ..query(&llm)
    };
    assert_eq!(fx.sessions_for(&searched, &llm).await, ["s1"]);
    let named = SessionQuery {
        name_equals: Some("Support".to_owned()),
        ..query(&llm)
    };
    assert_eq!(fx.sessions_for(&named, &llm).await, ["s1", "s3"]);
    let windowed = SessionQuery {
        start_ms: Some(T0 + 1_500),
        end_ms: Some(T0 + 4_000),
        ..query(&llm)
    };
    assert_eq!(fx.sessions_for(&windowed, &llm).await, ["s3"]);
    let names = q.session_names(super::ORG, "", &query(&failed)).await;
    let names: Vec<String> = names
        .expect("session_names")
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert_eq!(names, ["Support"]);
}
