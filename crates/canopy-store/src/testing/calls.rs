//! Calls: every field reads back as written, and the call-level reads (`get_call`,
//! `session_calls`, `count_calls`, `query_calls`, `count_matching_calls`, `call_scores`).

use std::collections::BTreeMap;

use canopy_core::record::StoredBody;
use canopy_core::{CallId, CallKind, CallRecord, Usage, UsageSource};
use serde_json::json;

use super::Engine;
use super::sample::{call_query, ids_of, sample_call};
use crate::query::filter::{Filter, parse};
use crate::query::{CallQuery, CallSortKey};

const ORG: &str = "org-calls";
/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;

/// Every field, set and unset, survives a write and a read: a complete record, a failed call
/// with most options empty, and a caller-chosen id that is not a UUIDv7.
pub async fn a_call_reads_back_exactly_as_written(e: Engine) {
    let mut full = sample_call(ORG, Some("s"), T0);
    full.properties.insert(
        "we\"ird\\key ключ".to_owned(),
        "значение \"quoted\"".to_owned(),
    );
    full.response_body = StoredBody {
        text: Some("{\"choices\":[{\"message\":{\"content\":\"héllo\\n\"}}]}".to_owned()),
        truncated: false,
        omitted: false,
    };

    let mut failed = sample_call(ORG, None, T0 + 500);
    failed.key_id = None;
    failed.response_created_at_ms = None;
    failed.latency_ms = None;
    failed.time_to_first_token_ms = None;
    failed.status = -1;
    failed.is_stream = false;
    failed.request_model = None;
    failed.response_model = None;
    failed.pricing_model = None;
    failed.usage = Usage::default();
    failed.cost_nano_usd = None;
    failed.usage_source = UsageSource::None;
    failed.error = Some("upstream unreachable".to_owned());
    failed.request_body = StoredBody::default();
    failed.response_body = StoredBody::default();
    failed.properties.clear();
    failed.request_headers.clear();
    failed.user_id = None;
    failed.prompt_id = None;
    failed.kind = CallKind::VectorDb;

    let mut chosen = sample_call(ORG, Some("s"), T0 + 900);
    chosen.id = CallId::parse("123e4567-e89b-12d3-a456-426614174000").expect("a UUID");
    chosen.usage_source = UsageSource::Estimated;
    chosen.kind = CallKind::Data;
    chosen.usage.prompt_tokens = 3_000_000_000;
    chosen.cost_nano_usd = Some(9_000_000_000_000);

    e.write(&[full.clone(), failed.clone()]).await;
    e.write(std::slice::from_ref(&chosen)).await;
    for call in [full, failed, chosen] {
        let back = e.query.get_call(ORG, call.id).await.expect("get_call");
        assert_eq!(back, Some(call), "a call reads back exactly as written");
    }
}

/// `get_call` finds a call only in its own organisation, and nothing for an unknown id.
pub async fn get_call_is_scoped_to_its_organisation(e: Engine) {
    let call = sample_call(ORG, None, T0);
    e.write(std::slice::from_ref(&call)).await;
    let get = |org: &'static str, id: CallId| {
        let query = e.query.clone();
        async move { query.get_call(org, id).await.expect("get_call") }
    };
    assert!(get(ORG, call.id).await.is_some());
    assert_eq!(get("org-other", call.id).await, None);
    assert_eq!(get(ORG, CallId::new()).await, None);
}

/// A session's calls come by start, then by id, with their bodies, whatever order they were
/// written in; calls of other sessions and calls without a session are not among them.
pub async fn session_calls_come_in_start_order_then_id(e: Engine) {
    let mut calls: Vec<CallRecord> = [300, 0, 100, 100, 100, 200]
        .into_iter()
        .map(|offset| sample_call(ORG, Some("s"), T0 + offset))
        .collect();
    // Ids that sort against their write order, at the same start.
    calls[2].id = CallId::parse("ffffffff-0000-7000-8000-000000000000").expect("a UUID");
    calls[3].id = CallId::parse("00000000-0000-7000-8000-000000000000").expect("a UUID");
    calls[4].id = CallId::parse("80000000-0000-7000-8000-000000000000").expect("a UUID");
    let other_session = sample_call(ORG, Some("s-other"), T0 + 50);
    let no_session = sample_call(ORG, None, T0 + 50);
    e.write(&[calls[5].clone(), calls[2].clone(), other_session])
        .await;
    e.write(&[calls[0].clone(), no_session, calls[3].clone()])
        .await;
    e.write(&[calls[4].clone(), calls[1].clone()]).await;

    let mut expected = calls.clone();
    expected.sort_by_key(|c| (c.created_at_ms, c.id));
    let back = e
        .query
        .session_calls(ORG, "s")
        .await
        .expect("session_calls");
    assert_eq!(ids_of(&back), ids_of(&expected), "by start, then by id");
    assert_eq!(back, expected, "with every field and both bodies");
    let none = e.query.session_calls(ORG, "s-none").await.expect("calls");
    assert!(none.is_empty(), "an unknown session has no calls");
}

/// `session_calls_without_bodies` is `session_calls` with the bodies' text left out: the same
/// calls, fields, flags, headers and order; scoped like every read.
pub async fn session_calls_without_bodies_leave_only_the_text_out(e: Engine) {
    let calls: Vec<CallRecord> = [200, 0, 100]
        .into_iter()
        .map(|offset| sample_call(ORG, Some("s"), T0 + offset))
        .collect();
    e.write(&calls).await;
    e.write(&[sample_call("org-other", Some("s"), T0)]).await;
    let full = e
        .query
        .session_calls(ORG, "s")
        .await
        .expect("session_calls");
    let light = e
        .query
        .session_calls_without_bodies(ORG, "s")
        .await
        .expect("session_calls_without_bodies");
    let expected: Vec<CallRecord> = full
        .into_iter()
        .map(|mut c| {
            assert!(c.request_body.text.is_some(), "the sample has bodies");
            c.request_body.text = None;
            c.response_body.text = None;
            c
        })
        .collect();
    assert_eq!(light, expected);
    let none = e.query.session_calls_without_bodies("org-none", "s").await;
    assert!(
        none.expect("calls").is_empty(),
        "scoped to the organisation"
    );
}

/// `count_calls` counts every call of the organisation, with or without a session.
pub async fn count_calls_counts_the_organisations_calls(e: Engine) {
    assert_eq!(e.query.count_calls(ORG).await.expect("count"), 0);
    let batch: Vec<CallRecord> = (0..7)
        .map(|i| sample_call(ORG, (i % 2 == 0).then_some("s"), T0 + i))
        .collect();
    e.write(&batch).await;
    e.write(&[sample_call("org-other", Some("s"), T0)]).await;
    assert_eq!(e.query.count_calls(ORG).await.expect("count"), 7);
    assert_eq!(e.query.count_calls("org-other").await.expect("count"), 1);
    assert_eq!(e.query.count_calls("org-none").await.expect("count"), 0);
}

/// Five calls whose values put them in a different order for every sort key.
fn sortable_calls() -> Vec<CallRecord> {
    // (start offset, latency, cost, prompt, completion, status)
    let rows = [
        (0, 500, 30, 10, 400, 200),
        (10, 100, 50, 300, 5, 404),
        (20, 400, 10, 50, 100, 201),
        (30, 200, 40, 500, 300, 500),
        (40, 300, 20, 200, 1, 429),
    ];
    rows.into_iter()
        .map(|(offset, latency, cost, prompt, completion, status)| {
            let mut call = sample_call(ORG, Some("s"), T0 + offset);
            call.latency_ms = Some(latency);
            call.cost_nano_usd = Some(cost);
            call.usage.prompt_tokens = prompt;
            call.usage.completion_tokens = completion;
            call.status = status;
            call
        })
        .collect()
}

fn sort_value(call: &CallRecord, key: CallSortKey) -> i64 {
    let tokens = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    match key {
        CallSortKey::CreatedAt => call.created_at_ms,
        CallSortKey::Latency => call.latency_ms.unwrap_or(0),
        CallSortKey::Cost => call.cost_nano_usd.unwrap_or(0),
        CallSortKey::TotalTokens => tokens(call.usage.prompt_tokens + call.usage.completion_tokens),
        CallSortKey::PromptTokens => tokens(call.usage.prompt_tokens),
        CallSortKey::CompletionTokens => tokens(call.usage.completion_tokens),
        CallSortKey::Status => i64::from(call.status),
    }
}

/// Every sort key orders the calls by its value, ascending or descending.
pub async fn query_calls_sorts_by_every_key_both_ways(e: Engine) {
    let calls = sortable_calls();
    // Written in reverse so that no key happens to follow the write order.
    let reversed: Vec<CallRecord> = calls.iter().rev().cloned().collect();
    e.write(&reversed).await;
    for key in [
        CallSortKey::CreatedAt,
        CallSortKey::Latency,
        CallSortKey::Cost,
        CallSortKey::TotalTokens,
        CallSortKey::PromptTokens,
        CallSortKey::CompletionTokens,
        CallSortKey::Status,
    ] {
        for descending in [false, true] {
            let mut expected = calls.clone();
            expected.sort_by_key(|c| sort_value(c, key));
            if descending {
                expected.reverse();
            }
            let query = CallQuery {
                filter: Filter::All,
                sort: key,
                descending,
                limit: 1000,
                offset: 0,
            };
            let page = e.query.query_calls(ORG, &query).await.expect("query_calls");
            assert_eq!(
                ids_of(&page),
                ids_of(&expected),
                "sorted by {key:?}, descending: {descending}"
            );
        }
    }
    let page = e
        .query
        .query_calls(ORG, &call_query(Filter::All))
        .await
        .expect("query_calls");
    assert_eq!(page[0], calls[0], "rows carry every field and both bodies");
}

/// Pages of `limit` rows from `offset` follow one another without gaps or repeats, in either
/// direction; a page past the end is empty.
pub async fn query_calls_pages_with_limit_and_offset(e: Engine) {
    let calls: Vec<CallRecord> = (0..7)
        .map(|i| sample_call(ORG, None, T0 + i * 10))
        .collect();
    e.write(&calls).await;
    for descending in [false, true] {
        let mut expected = ids_of(&calls);
        if descending {
            expected.reverse();
        }
        let mut pages = Vec::new();
        for offset in [0, 3, 6, 9] {
            let query = CallQuery {
                filter: Filter::All,
                sort: CallSortKey::CreatedAt,
                descending,
                limit: 3,
                offset,
            };
            let page = e.query.query_calls(ORG, &query).await.expect("page");
            let expected_len = expected.len().saturating_sub(offset as usize).min(3);
            assert_eq!(page.len(), expected_len, "page at {offset}");
            pages.extend(ids_of(&page));
        }
        assert_eq!(pages, expected, "descending: {descending}");
    }
}

/// `count_matching_calls` counts exactly the calls `query_calls` returns for one filter.
pub async fn count_matching_calls_counts_what_the_filter_matches(e: Engine) {
    let mut calls = sortable_calls();
    calls[1].session_id = None;
    e.write(&calls).await;
    e.write(&[sample_call("org-other", Some("s"), T0)]).await;
    let filters = [
        (json!("all"), 5),
        (json!({}), 5),
        (json!({"request_response_rmt": {"status": {"gte": 400}}}), 3),
        (json!({"request_response_rmt": {"latency": {"lt": 300}}}), 2),
        (
            json!({"request_response_rmt": {"session_id": {"equals": "s"}}}),
            4,
        ),
        (
            json!({"request_response_rmt": {"model": {"equals": "none"}}}),
            0,
        ),
    ];
    for (json, expected) in filters {
        let filter = parse(&json).expect("a valid filter");
        let count = e
            .query
            .count_matching_calls(ORG, &filter)
            .await
            .expect("count_matching_calls");
        assert_eq!(count, expected, "{json}");
        let rows = e.query.query_calls(ORG, &call_query(filter)).await;
        assert_eq!(rows.expect("query_calls").len() as u64, count, "{json}");
    }
}

/// `call_scores` returns every score (feedback included) of the calls asked for, and only of
/// those; a long list of ids works as well as a short one.
pub async fn call_scores_returns_the_scores_of_the_calls_asked_for(e: Engine) {
    let calls: Vec<CallRecord> = (0..520)
        .map(|i| sample_call(ORG, Some("s"), T0 + i))
        .collect();
    e.write(&calls).await;
    let (first, last, unscored) = (calls[0].id, calls[519].id, calls[260].id);
    let scores = [
        ("accuracy".to_owned(), 0.75),
        ("helicone-score-feedback".to_owned(), 1.0),
    ];
    let set = e.annotate.set_scores(ORG, first, &scores).await;
    assert!(set.expect("set_scores"));
    let set = e
        .annotate
        .set_scores(ORG, last, &[("latency-ok".to_owned(), -2.5)])
        .await;
    assert!(set.expect("set_scores"));

    let all_ids = ids_of(&calls);
    let got = e.query.call_scores(ORG, &all_ids).await.expect("scores");
    let expected_first: BTreeMap<String, f64> = scores.iter().cloned().collect();
    assert_eq!(got.get(&first), Some(&expected_first));
    assert_eq!(
        got.get(&last),
        Some(&BTreeMap::from([("latency-ok".to_owned(), -2.5)]))
    );
    assert!(got.get(&unscored).is_none_or(BTreeMap::is_empty));
    assert_eq!(got.values().filter(|m| !m.is_empty()).count(), 2);

    let only_last = e.query.call_scores(ORG, &[last, unscored]).await;
    let only_last = only_last.expect("scores");
    assert!(!only_last.contains_key(&first), "only the calls asked for");
    assert!(only_last.contains_key(&last));
    let none = e.query.call_scores(ORG, &[]).await.expect("scores");
    assert!(none.is_empty());
}
