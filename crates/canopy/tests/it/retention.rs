//! `retention_days`: calls older than that go, with sessions left without calls, while newer
//! ones stay — on whichever engine the suite runs.

use std::time::Duration;

use canopy_core::{CallId, CallRecord};
use canopy_store::now_ms;

use crate::harness::{TestApp, settings};

const DAY_MS: i64 = 86_400_000;

fn call(session: &str, age_days: i64) -> CallRecord {
    let start = now_ms() - age_days * DAY_MS;
    CallRecord {
        id: CallId::new(),
        org_id: "default".to_owned(),
        created_at_ms: start,
        response_created_at_ms: Some(start + 10),
        latency_ms: Some(10),
        provider: "openai".to_owned(),
        method: "POST".to_owned(),
        status: 200,
        session_id: Some(session.to_owned()),
        ..CallRecord::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_past_their_retention_are_removed_at_start() {
    let app = TestApp::spawn().await;
    let old = call("old", 40);
    let mixed_old = call("mixed", 40);
    let mixed_new = call("mixed", 0);
    for record in [old.clone(), mixed_old.clone(), mixed_new.clone()] {
        app.ingest.submit(record);
    }
    app.wait_written(3).await;

    let (mock_url, mock_stop, dir) = app.into_parts().await;
    let mut kept = settings(dir.path(), &mock_url);
    kept.retention = Some(Duration::from_secs(30 * 86_400));
    let app = TestApp::start(kept, mock_url, mock_stop, dir).await;
    let query = app.store.query.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    // A purge removes calls, then the sessions left without calls: wait for both.
    while query.count_calls("default").await.unwrap() != 1
        || query.get_session("default", "old").await.unwrap().is_some()
    {
        assert!(std::time::Instant::now() < deadline, "old calls removed");
        tick.tick().await;
    }
    assert_eq!(query.get_call("default", old.id).await.unwrap(), None);
    assert_eq!(query.get_call("default", mixed_old.id).await.unwrap(), None);
    assert!(
        query
            .get_call("default", mixed_new.id)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(query.get_session("default", "old").await.unwrap(), None);
    let mixed = query
        .get_session("default", "mixed")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        mixed.request_count, 2,
        "a session with calls left keeps its totals"
    );
}
