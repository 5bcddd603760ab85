//! The session tree, timeline and histograms, built with the pure functions of
//! [`crate::query::tree`] and [`crate::query::histogram`] from what an engine returns: the
//! engine must hand back everything those need.

use canopy_core::{CallKind, CallRecord};

use super::Engine;
use super::sample::{sample_call, session_query};
use crate::query::SessionPoint;
use crate::query::histogram::{Cut, average, histogram};
use crate::query::tree::{Rollup, build_tree, timeline};

const ORG: &str = "org-tree";
/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;

/// One agent run: two classify calls and a failed answer under `/triage`, a tool step with no
/// path, and a billing call whose path lacks its leading slash.
fn agent_run() -> Vec<CallRecord> {
    let step = |offset: i64, path: Option<&str>, latency: i64, cost: Option<i64>| {
        let mut call = sample_call(ORG, Some("run"), T0 + offset);
        call.session_path = path.map(str::to_owned);
        call.latency_ms = Some(latency);
        call.response_created_at_ms = Some(T0 + offset + latency);
        call.cost_nano_usd = cost;
        call
    };
    let mut answer = step(50, Some("/triage/answer"), 300, None);
    answer.status = 500;
    answer.response_model = Some("gpt-4o".to_owned());
    let mut tool = step(10, None, 5, None);
    tool.kind = CallKind::Tool;
    tool.usage = canopy_core::Usage::default();
    vec![
        step(200, Some("/triage/classify"), 100, Some(5)),
        answer,
        step(0, Some("/triage/classify"), 100, Some(10)),
        tool,
        step(500, Some("billing"), 1_000, Some(7)),
    ]
}

/// Every path prefix is a node that rolls up its subtree; calls of one path are leaves in
/// start order; children come by first start; a call without a path sits at the root.
pub async fn session_calls_build_the_tree_with_roll_ups(e: Engine) {
    let calls = agent_run();
    e.write(&calls[..2]).await;
    e.write(&calls[2..]).await;
    let back = e
        .query
        .session_calls(ORG, "run")
        .await
        .expect("session_calls");
    let tree = build_tree(&back);
    assert_eq!(
        tree,
        build_tree(&calls),
        "the same tree as from the calls written"
    );

    assert_eq!(tree.path, "/");
    assert_eq!(tree.request_ids, [calls[3].id], "the call without a path");
    assert_eq!(
        tree.rollup,
        Rollup {
            requests: 5,
            cost_nano: 22,
            prompt_tokens: 400,
            completion_tokens: 80,
            errors: 1,
            start_ms: T0,
            end_ms: T0 + 1_500,
            span_ms: 1_500,
        }
    );
    let children: Vec<&str> = tree.children.iter().map(|n| n.path.as_str()).collect();
    assert_eq!(children, ["/triage", "/billing"]);
    let triage = &tree.children[0];
    assert_eq!(triage.name, "triage");
    assert!(triage.request_ids.is_empty());
    assert_eq!(
        (
            triage.rollup.requests,
            triage.rollup.cost_nano,
            triage.rollup.errors
        ),
        (3, 15, 1)
    );
    assert_eq!(
        (triage.rollup.start_ms, triage.rollup.end_ms),
        (T0, T0 + 350)
    );
    let leaves: Vec<&str> = triage.children.iter().map(|n| n.path.as_str()).collect();
    assert_eq!(leaves, ["/triage/classify", "/triage/answer"]);
    let classify = &triage.children[0];
    assert_eq!(
        classify.request_ids,
        [calls[2].id, calls[0].id],
        "in start order"
    );
    assert_eq!(classify.rollup.span_ms, 300);
    assert_eq!(tree.children[1].rollup.requests, 1);
}

/// Each call is a bar: its offset from the session's start, duration, path, status, model,
/// cost and kind.
pub async fn session_calls_build_the_timeline(e: Engine) {
    let calls = agent_run();
    e.write(&calls).await;
    let back = e
        .query
        .session_calls(ORG, "run")
        .await
        .expect("session_calls");
    let bars = timeline(&back);
    assert_eq!(bars, timeline(&calls));
    let rows: Vec<(i64, i64, &str, i32)> = bars
        .iter()
        .map(|b| (b.offset_ms, b.duration_ms, b.path.as_str(), b.status))
        .collect();
    assert_eq!(
        rows,
        [
            (0, 100, "/triage/classify", 200),
            (10, 5, "/", 200),
            (50, 300, "/triage/answer", 500),
            (200, 100, "/triage/classify", 200),
            (500, 1_000, "/billing", 200),
        ]
    );
    assert_eq!(bars[2].model.as_deref(), Some("gpt-4o"));
    assert_eq!(bars[2].cost_nano, None);
    assert_eq!(bars[1].kind, CallKind::Tool);
}

/// The metrics' points agree with each session's totals, and the histograms count every
/// session once.
pub async fn session_points_feed_the_histograms(e: Engine) {
    let mut calls = Vec::new();
    for i in 0..12_i64 {
        let session = format!("s{i}");
        for j in 0..=(i % 4) {
            let mut call = sample_call(ORG, Some(&session), T0 + i * 10_000 + j * 100);
            call.cost_nano_usd = Some(1_000 * (i + 1));
            call.latency_ms = Some(50 + i);
            call.response_created_at_ms = Some(call.created_at_ms + 50 + i);
            calls.push(call);
        }
    }
    e.write(&calls).await;
    let mut points = e
        .query
        .session_points(ORG, &session_query())
        .await
        .expect("session_points");
    points.sort_by_key(|p| (p.cost_nano, p.requests, p.duration_ms));
    let mut expected = Vec::new();
    for summary in e
        .query
        .query_sessions(ORG, &session_query())
        .await
        .expect("sessions")
    {
        expected.push(SessionPoint {
            requests: summary.request_count,
            duration_ms: summary.duration_ms(),
            cost_nano: summary.cost_nano_usd,
        });
    }
    expected.sort_by_key(|p| (p.cost_nano, p.requests, p.duration_ms));
    assert_eq!(points, expected, "one point per session, from its totals");
    assert_eq!(points.len(), 12);

    let requests: Vec<f64> = points.iter().map(|p| p.requests as f64).collect();
    let buckets = histogram(&requests, Cut::Percentile(100.0));
    assert_eq!(buckets.iter().map(|b| b.value).sum::<u64>(), 12);
    assert_eq!(buckets.first().map(|b| b.range_start), Some(1.0));
    assert_eq!(buckets.last().map(|b| b.range_end), Some(4.0));
    assert!((average(&requests) - 2.5).abs() < 1e-9);
    let durations: Vec<f64> = points.iter().map(|p| p.duration_ms as f64).collect();
    assert_eq!(
        durations.iter().copied().fold(f64::MIN, f64::max),
        300.0 + 61.0
    );
}
