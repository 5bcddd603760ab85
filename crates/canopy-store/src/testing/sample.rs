//! The records and queries the cases start from.

use std::collections::BTreeMap;

use canopy_core::record::StoredBody;
use canopy_core::{CallId, CallRecord, Usage, UsageSource};

use crate::query::filter::Filter;
use crate::query::{CallQuery, CallSortKey, SessionQuery};

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
        id_from_caller: false,
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

/// Every call `filter` matches, oldest first, in one page.
pub(super) fn call_query(filter: Filter) -> CallQuery {
    CallQuery {
        filter,
        sort: CallSortKey::CreatedAt,
        descending: false,
        limit: 1000,
        offset: 0,
    }
}

/// Every session, in one page, with no window, search or filter.
pub(super) fn session_query() -> SessionQuery {
    SessionQuery {
        search: None,
        start_ms: None,
        end_ms: None,
        name_equals: None,
        filter: Filter::All,
        sort: crate::query::SessionSort::default(),
        limit: 1000,
        offset: 0,
    }
}

/// The ids of `calls`, in their order.
pub(super) fn ids_of(calls: &[CallRecord]) -> Vec<CallId> {
    calls.iter().map(|c| c.id).collect()
}

/// The ids of sessions, in their order.
pub(super) fn session_ids(sessions: &[crate::SessionSummary]) -> Vec<&str> {
    sessions.iter().map(|s| s.session_id.as_str()).collect()
}
