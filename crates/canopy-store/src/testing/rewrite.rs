//! Writing is idempotent by (organisation, call id): a batch replayed from the spool, whole or
//! overlapping an earlier one, never counts a call twice in the call log or in its session. A
//! caller-chosen id reused for another call keeps both calls ([`crate::ids`]).

use canopy_core::{CallId, CallRecord};

use super::Engine;
use super::sample::{call_query, sample_call, session_query};
use crate::SessionSummary;
use crate::ids::{REUSED_ID_PROPERTY, reissued};
use crate::query::filter::Filter;

const ORG: &str = "org-rewrite";
/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;

/// `n` calls of session `s`, a millisecond apart, each a different user and cost.
fn batch(from: i64, n: i64) -> Vec<CallRecord> {
    (from..from + n)
        .map(|i| {
            let mut call = sample_call(ORG, Some("s"), T0 + i);
            call.user_id = Some(format!("user-{i}"));
            call.cost_nano_usd = Some(1_000 + i);
            call
        })
        .collect()
}

/// The totals of session `s` if `calls` were each written once.
fn totals_of(calls: &[CallRecord]) -> (u64, u64, i64, i64, usize) {
    let prompt = calls.iter().map(|c| c.usage.prompt_tokens).sum();
    let cost = calls.iter().filter_map(|c| c.cost_nano_usd).sum();
    let latency = calls.iter().filter_map(|c| c.latency_ms).sum();
    (calls.len() as u64, prompt, cost, latency, calls.len())
}

fn totals(s: &SessionSummary) -> (u64, u64, i64, i64, usize) {
    (
        s.request_count,
        s.prompt_tokens,
        s.cost_nano_usd,
        s.latency_sum_ms,
        s.user_ids.len(),
    )
}

async fn check(e: &Engine, written: &[CallRecord]) {
    let q = &e.query;
    assert_eq!(
        q.count_calls(ORG).await.expect("count"),
        written.len() as u64
    );
    let rows = q
        .query_calls(ORG, &call_query(Filter::All))
        .await
        .expect("query_calls");
    assert_eq!(rows.len(), written.len());
    let calls = q.session_calls(ORG, "s").await.expect("session_calls");
    assert_eq!(calls.len(), written.len());
    let session = q
        .get_session(ORG, "s")
        .await
        .expect("get")
        .expect("the session");
    assert_eq!(totals(&session), totals_of(written));
    let aggregate = q
        .aggregate_sessions(ORG, &session_query())
        .await
        .expect("aggregate");
    assert_eq!(
        (aggregate.count, aggregate.total_requests),
        (1, written.len() as u64)
    );
    let points = q
        .session_points(ORG, &session_query())
        .await
        .expect("points");
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].requests, written.len() as u64);
}

/// The same batch written twice is stored once.
pub async fn writing_a_batch_twice_changes_nothing(e: Engine) {
    let calls = batch(0, 20);
    e.write(&calls).await;
    e.write(&calls).await;
    check(&e, &calls).await;
    let first = e.query.get_call(ORG, calls[0].id).await.expect("get_call");
    assert_eq!(first, Some(calls[0].clone()));
}

/// A batch that repeats part of an earlier one adds only its new calls; a call rewritten
/// with other values keeps the values first written.
pub async fn an_overlapping_batch_counts_only_its_new_calls(e: Engine) {
    let calls = batch(0, 30);
    e.write(&calls[..20]).await;
    let mut replay = calls[10..].to_vec();
    // A changed copy of a stored call must not replace it or move the totals.
    replay[0].cost_nano_usd = Some(99_999_999);
    replay[0].usage.prompt_tokens = 7;
    e.write(&replay).await;
    e.write(&calls[5..25]).await;
    check(&e, &calls).await;
    let kept = e.query.get_call(ORG, calls[10].id).await.expect("get_call");
    assert_eq!(kept, Some(calls[10].clone()));
}

/// A call that appears twice in one batch (a record spooled and also queued) counts once.
pub async fn a_call_repeated_within_one_batch_counts_once(e: Engine) {
    let calls = batch(0, 6);
    let mut doubled = calls.clone();
    doubled.push(calls[2].clone());
    doubled.insert(0, calls[4].clone());
    e.write(&doubled).await;
    check(&e, &calls).await;
}

/// Idempotence is per organisation: a call id that two organisations both use (ids may be
/// chosen by the caller) is two calls, each in its own organisation's log and sessions.
pub async fn the_same_call_id_in_two_organisations_is_two_calls(e: Engine) {
    let calls = batch(0, 3);
    e.write(&calls).await;
    let mut elsewhere = calls[1].clone();
    elsewhere.org_id = "org-rewrite-other".to_owned();
    elsewhere.request_body.text = Some("{\"other\":true}".to_owned());
    elsewhere
        .properties
        .insert("tier".to_owned(), "other".to_owned());
    e.write(std::slice::from_ref(&elsewhere)).await;
    check(&e, &calls).await;
    let other = e.query.get_call("org-rewrite-other", elsewhere.id).await;
    assert_eq!(other.expect("get_call"), Some(elsewhere.clone()));
    let ours = e.query.get_call(ORG, calls[1].id).await;
    assert_eq!(ours.expect("get_call"), Some(calls[1].clone()));
    let session = e
        .query
        .get_session("org-rewrite-other", "s")
        .await
        .expect("get");
    assert_eq!(session.map(|s| s.request_count), Some(1));
    let scored = e
        .annotate
        .set_scores("org-rewrite-other", elsewhere.id, &[("x".to_owned(), 1.0)])
        .await;
    assert!(scored.expect("set_scores"));
    let ours = e
        .query
        .call_scores(ORG, &[calls[1].id])
        .await
        .expect("scores");
    assert!(
        ours.values().all(|m| m.is_empty()),
        "scores stay with their organisation"
    );
}

/// A caller-chosen id reused for a different call (another start) keeps both calls: the first
/// under the id, the later one under the id [`reissued`] derives, with the id it asked for in
/// [`REUSED_ID_PROPERTY`]. Writing either again, or both in one batch, adds nothing.
pub async fn a_reused_caller_chosen_id_keeps_both_calls(e: Engine) {
    let chosen = CallId::parse("0b1b2b3b-4b5b-4b6b-8b7b-8b9babbbcbdb").expect("a UUID");
    let mut calls = batch(0, 2);
    for (call, start) in calls.iter_mut().zip([T0, T0 + 1_000]) {
        call.id = chosen;
        call.id_from_caller = true;
        call.created_at_ms = start;
    }
    e.write(&calls[..1]).await;
    e.write(&calls[..1]).await;
    e.write(&calls[1..]).await;
    e.write(&calls).await;

    let fresh = reissued(ORG, chosen, T0 + 1_000);
    assert_ne!(fresh, chosen);
    let mut second = calls[1].clone();
    second.id = fresh;
    second
        .properties
        .insert(REUSED_ID_PROPERTY.to_owned(), chosen.to_string());
    let first = e.query.get_call(ORG, chosen).await.expect("get_call");
    assert_eq!(
        first.map(|c| c.created_at_ms),
        Some(T0),
        "the id keeps its first call"
    );
    let moved = e.query.get_call(ORG, fresh).await.expect("get_call");
    assert_eq!(
        moved.map(|c| (c.id, c.created_at_ms, c.properties)),
        Some((fresh, T0 + 1_000, second.properties.clone()))
    );
    check(&e, &[calls[0].clone(), second]).await;

    // Both at once, in a batch of their own organisation.
    let elsewhere: Vec<CallRecord> = calls
        .iter()
        .map(|c| CallRecord {
            org_id: "org-rewrite-both".to_owned(),
            ..c.clone()
        })
        .collect();
    e.write(&elsewhere).await;
    e.write(&elsewhere).await;
    let count = e
        .query
        .count_calls("org-rewrite-both")
        .await
        .expect("count");
    assert_eq!(count, 2, "both calls of one batch are kept, once");
    let moved = e
        .query
        .get_call(
            "org-rewrite-both",
            reissued("org-rewrite-both", chosen, T0 + 1_000),
        )
        .await;
    assert!(moved.expect("get_call").is_some());
}
