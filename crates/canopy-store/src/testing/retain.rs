//! Retention: calls older than the cutoff go with their bodies and scores, then the sessions
//! whose calls are all gone; a session that keeps some calls keeps its totals.

use super::Engine;
use super::sample::sample_call;
use crate::Purged;

const ORG: &str = "org-retain";
/// 2025-01-15T00:00:00Z, in the middle of a month, so that a purge cuts one month in two.
const CUTOFF: i64 = 1_736_899_200_000;
const DAY: i64 = 86_400_000;

/// Removes old calls and the sessions left without calls; keeps everything newer.
pub async fn purge_removes_old_calls_and_sessions_with_no_calls_left(e: Engine) {
    // Two months before the cutoff, the day before it, and after it.
    let ancient = sample_call(ORG, Some("old"), CUTOFF - 60 * DAY);
    let old = sample_call(ORG, Some("mixed"), CUTOFF - DAY);
    let kept = sample_call(ORG, Some("mixed"), CUTOFF + DAY);
    let fresh = sample_call(ORG, Some("new"), CUTOFF);
    let other = sample_call("org-retain-other", Some("old"), CUTOFF + 2 * DAY);
    let batch = [
        ancient.clone(),
        old.clone(),
        kept.clone(),
        fresh.clone(),
        other.clone(),
    ];
    e.ingest.write(&batch).await.expect("write");
    let scored = e
        .annotate
        .set_scores(ORG, old.id, &[("accuracy".to_owned(), 1.0)])
        .await;
    assert!(scored.expect("set_scores"));
    let tagged = e.annotate.add_session_tag(ORG, "old", "vip").await;
    assert!(tagged.expect("add_session_tag"));

    let purged = e.retain.purge(CUTOFF).await.expect("purge");
    assert_eq!(
        purged,
        Purged {
            calls: 2,
            sessions: 1
        }
    );

    let q = &e.query;
    for gone in [&ancient, &old] {
        assert_eq!(q.get_call(ORG, gone.id).await.expect("get"), None);
    }
    for stays in [&kept, &fresh] {
        assert!(q.get_call(ORG, stays.id).await.expect("get").is_some());
    }
    assert_eq!(q.count_calls(ORG).await.expect("count"), 2);
    let scores = q.call_scores(ORG, &[old.id]).await.expect("scores");
    assert!(scores.is_empty(), "scores go with their call: {scores:?}");
    assert_eq!(q.get_session(ORG, "old").await.expect("get"), None);
    assert!(q.session_tags(ORG, "old").await.expect("tags").is_empty());
    let mixed = q.get_session(ORG, "mixed").await.expect("get");
    let mixed = mixed.expect("a session with calls left stays");
    assert_eq!(mixed.request_count, 2, "and keeps its totals");
    assert!(q.get_session(ORG, "new").await.expect("get").is_some());
    let other_session = q.get_session("org-retain-other", "old").await.expect("get");
    assert!(
        other_session.is_some(),
        "another organisation's newer session stays"
    );

    // Writing an old call again after its month was removed works, and a second purge
    // removes it again.
    e.ingest
        .write(std::slice::from_ref(&ancient))
        .await
        .expect("rewrite");
    assert!(q.get_call(ORG, ancient.id).await.expect("get").is_some());
    let again = e.retain.purge(CUTOFF).await.expect("purge");
    assert_eq!(again.calls, 1);
}

/// A purge with nothing old enough removes nothing.
pub async fn purge_of_nothing_old_removes_nothing(e: Engine) {
    let call = sample_call(ORG, Some("s"), CUTOFF);
    e.ingest
        .write(std::slice::from_ref(&call))
        .await
        .expect("write");
    let purged = e.retain.purge(CUTOFF).await.expect("purge");
    assert_eq!(purged, Purged::default());
    assert!(e.query.get_call(ORG, call.id).await.expect("get").is_some());
}
