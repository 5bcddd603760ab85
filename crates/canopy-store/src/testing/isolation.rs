//! Organisations are isolated on every method: another organisation's calls, sessions, scores,
//! tags and feedback are never visible, countable, annotatable or matched, also when both use
//! the same session id and a filter crosses between calls and sessions.

use canopy_core::{CallId, CallRecord};
use serde_json::{Value as Json, json};

use super::Engine;
use super::sample::{call_query, ids_of, sample_call, session_ids, session_query};
use crate::query::SessionQuery;
use crate::query::filter::parse;

const A: &str = "org-a";
const B: &str = "org-b";
const NOBODY: &str = "org-none";
/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;

/// Organisation A has sessions `shared` (two calls, scored, tagged, rated) and `only-a`, and a
/// call without a session; organisation B has its own `shared` (one call) and a lone call.
struct World {
    a: Vec<CallRecord>,
    b: Vec<CallRecord>,
}

async fn world(e: &Engine) -> World {
    let mut a1 = sample_call(A, Some("shared"), T0);
    a1.request_model = Some("only-a-model".to_owned());
    a1.response_model = None;
    a1.session_name = Some("A name".to_owned());
    a1.user_id = Some("a-user".to_owned());
    a1.properties.insert("a-prop".to_owned(), "1".to_owned());
    let mut a2 = sample_call(A, Some("shared"), T0 + 100);
    a2.session_name = Some("A name".to_owned());
    a2.cost_nano_usd = Some(1_000_000);
    let a3 = sample_call(A, Some("only-a"), T0 + 200);
    let a4 = sample_call(A, None, T0 + 300);
    let mut b1 = sample_call(B, Some("shared"), T0 + 50);
    b1.session_name = Some("B name".to_owned());
    b1.user_id = Some("b-user".to_owned());
    let b2 = sample_call(B, None, T0 + 60);
    e.write(&[
        a1.clone(),
        b1.clone(),
        a2.clone(),
        a3.clone(),
        a4.clone(),
        b2.clone(),
    ])
    .await;

    let scores = [
        ("a-score".to_owned(), 1.0),
        ("helicone-score-feedback".to_owned(), 1.0),
    ];
    assert!(
        e.annotate
            .set_scores(A, a1.id, &scores)
            .await
            .expect("set_scores")
    );
    assert!(
        e.annotate
            .add_session_tag(A, "shared", "a-tag")
            .await
            .expect("tag")
    );
    assert!(
        e.annotate
            .add_session_tag(B, "shared", "b-tag")
            .await
            .expect("tag")
    );
    let rated = e.annotate.set_session_feedback(A, "shared", true).await;
    assert!(rated.expect("feedback"));
    World {
        a: vec![a1, a2, a3, a4],
        b: vec![b1, b2],
    }
}

/// Reads by id, by session and in bulk see only the asking organisation's data.
pub async fn reads_never_see_another_organisations_data(e: Engine) {
    let w = world(&e).await;
    let q = &e.query;
    for call in &w.a {
        assert_eq!(q.get_call(B, call.id).await.expect("get_call"), None);
    }
    assert_eq!(
        q.get_call(B, w.b[0].id).await.expect("get_call"),
        Some(w.b[0].clone())
    );
    assert_eq!(q.get_session(B, "only-a").await.expect("get_session"), None);
    let shared = q.get_session(B, "shared").await.expect("get_session");
    let shared = shared.expect("B's own session");
    assert_eq!(shared.request_count, 1);
    assert_eq!(shared.name.as_deref(), Some("B name"));
    assert_eq!(shared.cost_nano_usd, w.b[0].cost_nano_usd.expect("priced"));
    assert_eq!(shared.user_ids, ["b-user"]);
    assert_eq!(shared.first_request_at_ms, T0 + 50);
    assert_eq!(shared.feedback, None, "A's rating stays A's");
    let a_shared = q.get_session(A, "shared").await.expect("get_session");
    assert_eq!(a_shared.map(|s| s.request_count), Some(2));

    assert_eq!(
        ids_of(&q.session_calls(B, "shared").await.expect("session_calls")),
        [w.b[0].id]
    );
    assert_eq!(q.count_calls(B).await.expect("count"), 2);
    assert_eq!(q.count_calls(A).await.expect("count"), 4);
    let all = parse(&json!("all")).expect("filter");
    let rows = q.query_calls(B, &call_query(all.clone())).await;
    assert_eq!(ids_of(&rows.expect("query_calls")), ids_of(&w.b));
    assert_eq!(q.count_matching_calls(B, &all).await.expect("count"), 2);
    let a_ids = ids_of(&w.a);
    let scores = q.call_scores(B, &a_ids).await.expect("call_scores");
    assert!(scores.values().all(|m| m.is_empty()), "{scores:?}");
    assert_eq!(
        q.call_scores(A, &a_ids).await.expect("scores")[&w.a[0].id].len(),
        2
    );
    assert_eq!(q.session_tags(B, "shared").await.expect("tags"), ["b-tag"]);
    assert_eq!(q.session_tags(A, "shared").await.expect("tags"), ["a-tag"]);
    assert!(q.session_tags(B, "only-a").await.expect("tags").is_empty());

    assert_eq!(q.count_calls(NOBODY).await.expect("count"), 0);
    assert!(
        q.session_calls(NOBODY, "shared")
            .await
            .expect("calls")
            .is_empty()
    );
    assert_eq!(q.get_session(NOBODY, "shared").await.expect("get"), None);
}

/// Session lists, aggregates, names and points cover the asking organisation's sessions only.
pub async fn session_queries_never_see_another_organisations_sessions(e: Engine) {
    let w = world(&e).await;
    let q = &e.query;
    let listed = q
        .query_sessions(B, &session_query())
        .await
        .expect("sessions");
    assert_eq!(session_ids(&listed), ["shared"]);
    assert_eq!(listed[0].request_count, 1);
    let search = SessionQuery {
        search: Some("only".to_owned()),
        ..session_query()
    };
    assert!(
        q.query_sessions(B, &search)
            .await
            .expect("sessions")
            .is_empty()
    );
    let named = SessionQuery {
        name_equals: Some("A name".to_owned()),
        ..session_query()
    };
    assert!(
        q.query_sessions(B, &named)
            .await
            .expect("sessions")
            .is_empty()
    );
    let both = q
        .query_sessions(A, &session_query())
        .await
        .expect("sessions");
    assert_eq!(session_ids(&both), ["only-a", "shared"]);

    let aggregate = q
        .aggregate_sessions(B, &session_query())
        .await
        .expect("aggregate");
    assert_eq!(aggregate.count, 1);
    assert_eq!(aggregate.total_requests, 1);
    assert_eq!(Some(aggregate.total_cost_nano), w.b[0].cost_nano_usd);
    let names = q
        .session_names(B, "", &session_query())
        .await
        .expect("names");
    let names: Vec<(&str, u64)> = names
        .iter()
        .map(|n| (n.name.as_str(), n.session_count))
        .collect();
    assert_eq!(names, [("B name", 1)]);
    assert!(
        q.session_names(B, "A name", &session_query())
            .await
            .expect("names")
            .is_empty()
    );
    let points = q.session_points(B, &session_query()).await.expect("points");
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].requests, 1);
    let nobody = q
        .aggregate_sessions(NOBODY, &session_query())
        .await
        .expect("aggregate");
    assert_eq!(nobody.count, 0);
    assert!(
        q.session_points(NOBODY, &session_query())
            .await
            .expect("points")
            .is_empty()
    );
}

/// Another organisation cannot annotate a call or session it does not own, and annotating
/// its own session of the same id leaves the other one as it was.
pub async fn annotations_never_reach_another_organisations_data(e: Engine) {
    let w = world(&e).await;
    let (an, q) = (&e.annotate, &e.query);
    let a1 = w.a[0].id;
    assert!(
        !an.set_property(B, a1, "a-prop", "changed")
            .await
            .expect("set_property")
    );
    let scores = [("a-score".to_owned(), 0.0)];
    assert!(!an.set_scores(B, a1, &scores).await.expect("set_scores"));
    assert!(
        !an.set_session_feedback(B, "only-a", false)
            .await
            .expect("feedback")
    );
    assert!(!an.add_session_tag(B, "only-a", "b-tag").await.expect("tag"));
    assert!(
        an.set_session_feedback(B, "shared", false)
            .await
            .expect("feedback")
    );
    assert!(
        an.add_session_tag(B, "shared", "b-only")
            .await
            .expect("tag")
    );

    let back = q
        .get_call(A, a1)
        .await
        .expect("get_call")
        .expect("A's call");
    assert_eq!(back, w.a[0], "A's call is unchanged");
    let a_scores = q.call_scores(A, &[a1]).await.expect("scores");
    assert_eq!(a_scores[&a1].get("a-score"), Some(&1.0));
    let a_shared = q
        .get_session(A, "shared")
        .await
        .expect("get")
        .expect("A's session");
    assert_eq!(a_shared.feedback, Some(true));
    let b_shared = q
        .get_session(B, "shared")
        .await
        .expect("get")
        .expect("B's session");
    assert_eq!(b_shared.feedback, Some(false));
    assert_eq!(q.session_tags(A, "shared").await.expect("tags"), ["a-tag"]);
    assert!(q.session_tags(A, "only-a").await.expect("tags").is_empty());
}

/// Filters on either level, crossing with `EXISTS` either way, match only the asking
/// organisation's rows, even where both organisations have a session of the same id.
pub async fn filters_never_cross_into_another_organisation(e: Engine) {
    let w = world(&e).await;
    let calls = |org: &'static str, filter: Json| {
        let e = e.clone();
        async move {
            let filter = parse(&filter).expect("filter");
            let rows = e.query.query_calls(org, &call_query(filter.clone())).await;
            let count = e.query.count_matching_calls(org, &filter).await;
            let rows = ids_of(&rows.expect("query_calls"));
            assert_eq!(rows.len() as u64, count.expect("count"));
            rows
        }
    };
    let sessions = |org: &'static str, filter: Json| {
        let e = e.clone();
        async move {
            let query = SessionQuery {
                filter: parse(&filter).expect("filter"),
                ..session_query()
            };
            let rows = e.query.query_sessions(org, &query).await.expect("sessions");
            let aggregate = e
                .query
                .aggregate_sessions(org, &query)
                .await
                .expect("aggregate");
            assert_eq!(rows.len() as u64, aggregate.count);
            session_ids(&rows)
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        }
    };
    let rmt = |column: &str, op: &str, value: Json| json!({"request_response_rmt": {column: {op: value}}});
    let sess = |column: &str, op: &str, value: Json| json!({"sessions_request_response_rmt": {column: {op: value}}});
    let none: Vec<CallId> = Vec::new();
    let no_sessions: Vec<String> = Vec::new();

    // Call-level conditions on A's values, asked by B of calls and of sessions.
    for filter in [
        rmt("model", "equals", json!("only-a-model")),
        rmt("user_id", "equals", json!("a-user")),
        json!({"properties": {"a-prop": {"equals": "1"}}}),
        json!({"request_response_rmt": {"scores": {"a-score": {"gt": 0}}}}),
        rmt("helicone-score-feedback", "equals", json!(true)),
    ] {
        assert_eq!(calls(B, filter.clone()).await, none, "{filter}");
        assert_eq!(sessions(B, filter.clone()).await, no_sessions, "{filter}");
        assert!(
            !calls(A, filter.clone()).await.is_empty(),
            "A matches its own: {filter}"
        );
    }
    // Session-level conditions on A's sessions, asked by B of calls and of sessions.
    for filter in [
        sess("session_tag", "equals", json!("a-tag")),
        sess("session_session_name", "equals", json!("A name")),
        sess("session_total_requests", "equals", json!(2)),
        sess("session_session_id", "equals", json!("only-a")),
    ] {
        assert_eq!(calls(B, filter.clone()).await, none, "{filter}");
        assert_eq!(sessions(B, filter.clone()).await, no_sessions, "{filter}");
        assert!(
            !calls(A, filter.clone()).await.is_empty(),
            "A matches its own: {filter}"
        );
    }
    // The shared session id finds each organisation's own session and calls.
    let by_id = sess("session_session_id", "equals", json!("shared"));
    assert_eq!(calls(B, by_id.clone()).await, [w.b[0].id]);
    assert_eq!(calls(A, by_id.clone()).await, [w.a[0].id, w.a[1].id]);
    assert_eq!(sessions(B, by_id).await, ["shared"]);
    let by_property = json!({"properties": {"Helicone-Session-Id": {"equals": "shared"}}});
    assert_eq!(calls(B, by_property).await, [w.b[0].id]);
    assert_eq!(
        calls(A, sess("session_tag", "equals", json!("b-tag"))).await,
        none
    );
    let untagged = sess("session_tag", "equals", json!("null"));
    assert_eq!(sessions(B, untagged.clone()).await, no_sessions);
    assert_eq!(sessions(A, untagged).await, ["only-a"]);
    let b_model = rmt("user_id", "equals", json!("b-user"));
    assert_eq!(sessions(A, b_model).await, no_sessions);
}
