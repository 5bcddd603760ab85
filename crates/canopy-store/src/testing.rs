//! The conformance story every storage engine passes (feature `testing`).
//!
//! One story, run against each engine's `Ingest` and `Query`: write calls in two sessions of
//! two organisations, read them back exactly, check the session totals kept at write time, and
//! check that writing the same batch again changes nothing. Engines call [`run`] from their own
//! tests with a fresh, empty store.
#![expect(
    clippy::expect_used,
    reason = "test support: a failed expectation is a failed conformance check"
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use canopy_core::record::StoredBody;
use canopy_core::{CallId, CallRecord, Usage, UsageSource};

use crate::{Ingest, Query};

/// A complete call record with every field set, for round-trip checks.
pub fn sample_call(org: &str, session: Option<&str>, start_ms: i64) -> CallRecord {
    let mut properties = BTreeMap::new();
    properties.insert("environment".to_owned(), "test".to_owned());
    if let Some(session) = session {
        properties.insert("Helicone-Session-Id".to_owned(), session.to_owned());
    }
    let mut headers = BTreeMap::new();
    headers.insert("authorization".to_owned(), "[REDACTED]".to_owned());
    headers.insert("content-type".to_owned(), "application/json".to_owned());
    CallRecord {
        id: CallId::new(),
        org_id: org.to_owned(),
        key_id: Some("key-1".to_owned()),
        created_at_ms: start_ms,
        response_created_at_ms: Some(start_ms + 120),
        latency_ms: Some(120),
        time_to_first_token_ms: Some(30),
        provider: "openai".to_owned(),
        target_url: "http://127.0.0.1:1/v1/chat/completions".to_owned(),
        request_path: "/v1/chat/completions".to_owned(),
        method: "POST".to_owned(),
        status: 200,
        is_stream: true,
        request_model: Some("gpt-4o-mini".to_owned()),
        response_model: Some("gpt-4o-mini-2024-07-18".to_owned()),
        pricing_model: Some("gpt-4o-mini".to_owned()),
        usage: Usage {
            prompt_tokens: 100,
            completion_tokens: 20,
            cache_read_tokens: 10,
            cache_write_tokens: 1,
            cache_write_1h_tokens: 2,
            reasoning_tokens: 3,
            audio_input_tokens: 4,
            audio_output_tokens: 5,
        },
        usage_source: UsageSource::Reported,
        cost_nano_usd: Some(27_000),
        session_id: session.map(str::to_owned),
        session_path: session.map(|_| "/triage/classify".to_owned()),
        session_name: session.map(|_| "Support".to_owned()),
        user_id: Some("user-1".to_owned()),
        prompt_id: Some("classify".to_owned()),
        properties,
        request_body: StoredBody {
            text: Some("{\"model\":\"gpt-4o-mini\"}".to_owned()),
            truncated: true,
            omitted: false,
        },
        response_body: StoredBody {
            text: None,
            truncated: false,
            omitted: true,
        },
        request_headers: headers,
        error: None,
        kind: canopy_core::CallKind::Llm,
    }
}

/// Runs the whole story. `ingest` and `query` must be views of one fresh, empty store.
pub async fn run(ingest: Arc<dyn Ingest>, query: Arc<dyn Query>) {
    round_trip(&*ingest, &*query).await;
    sessions(&*ingest, &*query).await;
}

async fn round_trip(ingest: &dyn Ingest, query: &dyn Query) {
    let call = sample_call("org-rt", None, 1_700_000_000_000);
    ingest
        .write(std::slice::from_ref(&call))
        .await
        .expect("write");
    let back = query.get_call("org-rt", call.id).await.expect("get_call");
    assert_eq!(
        back.as_ref(),
        Some(&call),
        "a call reads back exactly as written"
    );
    assert_eq!(
        query
            .get_call("other-org", call.id)
            .await
            .expect("get_call"),
        None,
        "calls are scoped to their organisation"
    );

    let mut failed = sample_call("org-rt", None, 1_700_000_000_500);
    failed.status = -1;
    failed.cost_nano_usd = None;
    failed.usage_source = UsageSource::None;
    failed.error = Some("upstream unreachable".to_owned());
    failed.request_body = StoredBody::default();
    failed.properties.clear();
    failed.request_headers.clear();
    failed.user_id = None;
    failed.kind = canopy_core::CallKind::VectorDb;
    ingest
        .write(std::slice::from_ref(&failed))
        .await
        .expect("write failed call");
    assert_eq!(
        query.get_call("org-rt", failed.id).await.expect("get"),
        Some(failed)
    );
    assert_eq!(query.count_calls("org-rt").await.expect("count"), 2);
}

async fn sessions(ingest: &dyn Ingest, query: &dyn Query) {
    let t0 = 1_700_000_100_000;
    let mut a1 = sample_call("org-a", Some("s1"), t0);
    a1.session_name = Some("First name".to_owned());
    let mut a2 = sample_call("org-a", Some("s1"), t0 + 1_000);
    a2.session_name = Some(String::new());
    a2.status = 500;
    a2.user_id = Some("user-2".to_owned());
    a2.cost_nano_usd = None;
    a2.latency_ms = Some(300);
    a2.response_created_at_ms = Some(t0 + 1_300);
    let mut a3 = sample_call("org-a", Some("s1"), t0 + 500);
    a3.session_name = Some("Latest name".to_owned());
    a3.user_id = None;
    // A tool step has no cost, and is not counted as unpriced.
    let mut a4 = sample_call("org-a", Some("s1"), t0 + 200);
    a4.kind = canopy_core::CallKind::Tool;
    a4.cost_nano_usd = None;
    a4.usage = Usage::default();
    a4.latency_ms = Some(0);
    a4.response_created_at_ms = Some(t0 + 200);
    a4.user_id = None;
    a4.session_name = None;
    // The same session id in another organisation is another session.
    let b1 = sample_call("org-b", Some("s1"), t0);

    // Written out of order and over two batches, as a spool replay would.
    ingest
        .write(&[a2.clone(), b1.clone()])
        .await
        .expect("write");
    ingest
        .write(&[a1.clone(), a3.clone(), a4.clone()])
        .await
        .expect("write");
    // Writing the same calls again changes nothing.
    ingest
        .write(&[a1.clone(), a2.clone()])
        .await
        .expect("rewrite");

    let s = query
        .get_session("org-a", "s1")
        .await
        .expect("get_session")
        .expect("session exists");
    assert_eq!(s.session_id, "s1");
    assert_eq!(s.request_count, 4);
    assert_eq!(s.error_count, 1);
    assert_eq!(
        s.name.as_deref(),
        Some("Latest name"),
        "the latest non-empty name wins"
    );
    assert_eq!(s.first_request_at_ms, t0);
    assert_eq!(s.last_request_at_ms, t0 + 1_000);
    assert_eq!(s.last_response_at_ms, t0 + 1_300);
    assert_eq!(s.duration_ms(), 1_300);
    assert_eq!(s.prompt_tokens, 300);
    assert_eq!(s.completion_tokens, 60);
    assert_eq!(s.cost_nano_usd, 54_000);
    assert_eq!(s.unpriced_count, 1);
    assert_eq!(s.latency_sum_ms, 540);
    assert_eq!(s.user_ids, ["user-1", "user-2"]);

    let b = query
        .get_session("org-b", "s1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(b.request_count, 1);
    assert_eq!(query.get_session("org-c", "s1").await.expect("get"), None);

    let calls = query
        .session_calls("org-a", "s1")
        .await
        .expect("session_calls");
    let ids: Vec<CallId> = calls.iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        [a1.id, a4.id, a3.id, a2.id],
        "a session's calls come oldest first"
    );
    assert_eq!(calls[0], a1);
}
