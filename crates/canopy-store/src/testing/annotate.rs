//! Annotations: call properties and scores, session feedback and tags. Each answers `false`
//! when the call or session does not exist in the organisation.

use std::collections::BTreeMap;

use canopy_core::CallId;
use serde_json::json;

use super::Engine;
use super::sample::{call_query, ids_of, sample_call, session_query};
use crate::query::filter::parse;

const ORG: &str = "org-annotate";
/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;

/// A new key is added, an existing one replaced, any key works (quotes, backslashes, dots),
/// and the change is what filters see; a missing call or another organisation's is `false`.
pub async fn set_property_adds_and_replaces_properties(e: Engine) {
    let call = sample_call(ORG, Some("s"), T0);
    e.write(std::slice::from_ref(&call)).await;
    let set = |org: &'static str, id: CallId, key: &'static str, value: &'static str| {
        let e = e.clone();
        async move {
            let done = e.annotate.set_property(org, id, key, value).await;
            done.expect("set_property")
        }
    };
    assert!(set(ORG, call.id, "tier", "gold").await, "a new key");
    assert!(
        set(ORG, call.id, "environment", "production").await,
        "a replaced key"
    );
    assert!(
        set(ORG, call.id, "we\"ird\\key.$[0]", "v'1").await,
        "an odd key"
    );
    assert!(
        !set(ORG, CallId::new(), "tier", "gold").await,
        "a missing call"
    );
    assert!(
        !set("org-other", call.id, "tier", "silver").await,
        "another organisation"
    );

    let back = e.query.get_call(ORG, call.id).await.expect("get_call");
    let mut expected = call.properties.clone();
    expected.insert("tier".to_owned(), "gold".to_owned());
    expected.insert("environment".to_owned(), "production".to_owned());
    expected.insert("we\"ird\\key.$[0]".to_owned(), "v'1".to_owned());
    assert_eq!(back.map(|c| c.properties), Some(expected));

    for (key, value, matches) in [
        ("tier", "gold", 1),
        ("environment", "test", 0),
        ("environment", "production", 1),
        ("we\"ird\\key.$[0]", "v'1", 1),
    ] {
        let filter = parse(&json!({"properties": {key: {"equals": value}}})).expect("filter");
        let count = e.query.count_matching_calls(ORG, &filter).await;
        assert_eq!(count.expect("count"), matches, "{key} = {value}");
    }
}

/// Scores are added and replaced by name; feedback is the score `helicone-score-feedback`
/// and filters see it as a rating; a missing call or another organisation's is `false`.
pub async fn set_scores_adds_and_replaces_scores_and_feedback(e: Engine) {
    let (a, b) = (sample_call(ORG, None, T0), sample_call(ORG, None, T0 + 1));
    e.write(&[a.clone(), b.clone()]).await;
    let set = |org: &'static str, id: CallId, scores: Vec<(&str, f64)>| {
        let e = e.clone();
        let scores: Vec<(String, f64)> =
            scores.into_iter().map(|(n, v)| (n.to_owned(), v)).collect();
        async move {
            e.annotate
                .set_scores(org, id, &scores)
                .await
                .expect("set_scores")
        }
    };
    assert!(set(ORG, a.id, vec![("accuracy", 0.5), ("helpful", 1.0)]).await);
    assert!(set(ORG, a.id, vec![("accuracy", 0.9)]).await, "replaced");
    assert!(
        set(ORG, a.id, vec![]).await,
        "nothing to set on a call that exists"
    );
    assert!(set(ORG, b.id, vec![("helicone-score-feedback", 0.0)]).await);
    assert!(set(ORG, b.id, vec![("helicone-score-feedback", 1.0)]).await);
    assert!(!set(ORG, CallId::new(), vec![("accuracy", 1.0)]).await);
    assert!(!set("org-other", a.id, vec![("accuracy", 0.0)]).await);

    let scores = e
        .query
        .call_scores(ORG, &[a.id, b.id])
        .await
        .expect("scores");
    let expected_a = BTreeMap::from([("accuracy".to_owned(), 0.9), ("helpful".to_owned(), 1.0)]);
    assert_eq!(scores.get(&a.id), Some(&expected_a));
    let expected_b = BTreeMap::from([("helicone-score-feedback".to_owned(), 1.0)]);
    assert_eq!(scores.get(&b.id), Some(&expected_b));

    let matching = |filter: serde_json::Value| {
        let e = e.clone();
        async move {
            let filter = parse(&filter).expect("filter");
            let rows = e.query.query_calls(ORG, &call_query(filter)).await;
            ids_of(&rows.expect("query_calls"))
        }
    };
    let liked = json!({"request_response_rmt": {"helicone-score-feedback": {"equals": true}}});
    assert_eq!(matching(liked).await, [b.id]);
    let rated = json!({"feedback": {"rating": {"equals": false}}});
    assert!(matching(rated).await.is_empty(), "the rating was replaced");
    let accurate = json!({"request_response_rmt": {"scores": {"accuracy": {"gt": 0.8}}}});
    assert_eq!(matching(accurate).await, [a.id]);
}

/// A session's feedback is its latest rating, shown wherever its totals are; a missing
/// session or another organisation's is `false`.
pub async fn set_session_feedback_records_the_latest_rating(e: Engine) {
    e.write(&[
        sample_call(ORG, Some("s"), T0),
        sample_call(ORG, Some("t"), T0 + 1),
    ])
    .await;
    let feedback = |id: &'static str| {
        let e = e.clone();
        async move {
            let s = e.query.get_session(ORG, id).await.expect("get_session");
            s.expect("the session exists").feedback
        }
    };
    assert_eq!(feedback("s").await, None);
    let rate = |org: &'static str, id: &'static str, rating: bool| {
        let e = e.clone();
        async move {
            let done = e.annotate.set_session_feedback(org, id, rating).await;
            done.expect("set_session_feedback")
        }
    };
    assert!(rate(ORG, "s", false).await);
    assert_eq!(feedback("s").await, Some(false));
    assert!(rate(ORG, "s", true).await);
    assert!(rate(ORG, "s", true).await, "the same rating again");
    assert_eq!(feedback("s").await, Some(true));
    assert_eq!(feedback("t").await, None, "other sessions keep theirs");
    assert!(!rate(ORG, "s-none", true).await, "a missing session");
    assert!(!rate("org-other", "s", false).await, "another organisation");
    assert_eq!(feedback("s").await, Some(true));
    let listed = e.query.query_sessions(ORG, &session_query()).await;
    let listed: Vec<Option<bool>> = listed
        .expect("sessions")
        .iter()
        .map(|s| s.feedback)
        .collect();
    assert_eq!(listed, [None, Some(true)], "the list shows it too");
}

/// Adding a tag twice keeps one; tagging a missing session or another organisation's is
/// `false` and stores nothing.
pub async fn add_session_tag_is_idempotent(e: Engine) {
    e.write(&[sample_call(ORG, Some("s"), T0)]).await;
    let tag = |org: &'static str, id: &'static str, tag: &'static str| {
        let e = e.clone();
        async move {
            e.annotate
                .add_session_tag(org, id, tag)
                .await
                .expect("add_session_tag")
        }
    };
    assert!(tag(ORG, "s", "vip").await);
    assert!(tag(ORG, "s", "vip").await, "already tagged is still true");
    assert!(tag(ORG, "s", "VIP").await, "tags are case-sensitive");
    assert!(!tag(ORG, "s-none", "vip").await, "a missing session");
    assert!(!tag("org-other", "s", "vip").await, "another organisation");
    let tags = e.query.session_tags(ORG, "s").await.expect("session_tags");
    let mut tags = tags;
    tags.sort();
    assert_eq!(tags, ["VIP", "vip"]);
    let none = e.query.session_tags(ORG, "s-none").await.expect("tags");
    assert!(none.is_empty(), "nothing stored for a missing session");
    let other = e.query.session_tags("org-other", "s").await.expect("tags");
    assert!(other.is_empty());
}
