//! Tests of the session tree and timeline: hand-built sessions, then properties over random ones.

use std::collections::HashMap;

use canopy_core::{CallId, CallKind, CallRecord, Usage};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;

/// A call with id `n` at `path`, starting at `start` and answered at `end`.
fn call(n: u128, path: Option<&str>, start: i64, end: i64) -> CallRecord {
    CallRecord {
        id: id(n),
        created_at_ms: start,
        response_created_at_ms: Some(end),
        latency_ms: Some(end - start),
        status: 200,
        session_path: path.map(str::to_owned),
        usage: Usage {
            prompt_tokens: 10,
            completion_tokens: 5,
            ..Usage::default()
        },
        cost_nano_usd: Some(1_000),
        ..CallRecord::default()
    }
}

fn id(n: u128) -> CallId {
    CallId(Uuid::from_u128(n))
}

fn child<'a>(node: &'a TreeNode, name: &str) -> &'a TreeNode {
    node.children
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no child {name} under {}", node.path))
}

#[test]
fn an_empty_session_is_a_bare_root() {
    let tree = build_tree(&[]);
    assert_eq!(tree.path, "/");
    assert_eq!(tree.name, "");
    assert_eq!(tree.rollup, Rollup::default());
    assert!(tree.request_ids.is_empty());
    assert!(tree.children.is_empty());
    assert!(timeline(&[]).is_empty());
}

#[test]
fn nested_paths_make_prefix_nodes_that_roll_up_their_subtrees() {
    let calls = [
        call(1, Some("/a/b"), 10, 20),
        call(2, Some("/c"), 3, 30),
        call(3, Some("/a"), 0, 5),
        call(4, Some("/"), 1, 2),
    ];
    let tree = build_tree(&calls);

    assert_eq!(tree.request_ids, vec![id(4)]);
    let names: Vec<&str> = tree.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "c"], "children are ordered by first start");
    assert_eq!(tree.rollup.requests, 4);
    assert_eq!(tree.rollup.start_ms, 0);
    assert_eq!(tree.rollup.end_ms, 30);
    assert_eq!(tree.rollup.span_ms, 30);
    assert_eq!(tree.rollup.cost_nano, 4_000);
    assert_eq!(tree.rollup.prompt_tokens, 40);
    assert_eq!(tree.rollup.completion_tokens, 20);

    let a = child(&tree, "a");
    assert_eq!(a.path, "/a");
    assert_eq!(a.request_ids, vec![id(3)]);
    assert_eq!(a.rollup.requests, 2);
    assert_eq!(
        (a.rollup.start_ms, a.rollup.end_ms, a.rollup.span_ms),
        (0, 20, 20)
    );

    let b = child(a, "b");
    assert_eq!(b.path, "/a/b");
    assert_eq!(b.request_ids, vec![id(1)]);
    assert!(b.children.is_empty());
    assert_eq!(
        (b.rollup.start_ms, b.rollup.end_ms, b.rollup.span_ms),
        (10, 20, 10)
    );
}

#[test]
fn calls_on_one_path_are_sibling_leaves_in_start_order() {
    let calls = [
        call(7, Some("/loop"), 30, 40),
        call(9, Some("/loop"), 10, 15),
        call(8, Some("/loop"), 10, 12),
        call(6, Some("/loop"), 20, 25),
    ];
    let tree = build_tree(&calls);
    let node = child(&tree, "loop");
    // Equal starts are ordered by id, so the result does not depend on the input order.
    assert_eq!(node.request_ids, vec![id(8), id(9), id(6), id(7)]);
    assert_eq!(node.rollup.requests, 4);
    assert!(node.children.is_empty());
}

#[test]
fn calls_without_a_path_sit_at_the_root() {
    let calls = [
        call(1, None, 5, 6),
        call(2, Some("/"), 1, 2),
        call(3, Some("/x"), 3, 4),
    ];
    let tree = build_tree(&calls);
    assert_eq!(tree.request_ids, vec![id(2), id(1)]);
    assert_eq!(tree.children.len(), 1);
    assert_eq!(tree.rollup.requests, 3);
}

#[test]
fn intermediate_nodes_without_calls_of_their_own_still_roll_up() {
    let tree = build_tree(&[call(1, Some("/x/y/z"), 100, 250)]);
    let x = child(&tree, "x");
    let y = child(x, "y");
    let z = child(y, "z");
    assert!(tree.request_ids.is_empty());
    assert!(x.request_ids.is_empty());
    assert!(y.request_ids.is_empty());
    assert_eq!(z.request_ids, vec![id(1)]);
    for node in [&tree, x, y, z] {
        assert_eq!(node.rollup, z.rollup, "{} rolls up z", node.path);
    }
    assert_eq!(y.path, "/x/y");
    assert_eq!(z.rollup.span_ms, 150);
}

#[test]
fn children_with_the_same_first_start_are_ordered_by_path() {
    let calls = [
        call(1, Some("/b"), 5, 6),
        call(2, Some("/a"), 5, 9),
        call(3, Some("/c"), 1, 2),
    ];
    let tree = build_tree(&calls);
    let paths: Vec<&str> = tree.children.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["/c", "/a", "/b"]);
}

#[test]
fn a_call_ends_at_its_response_else_after_its_latency_else_at_its_start() {
    let mut answered = call(1, None, 100, 180);
    answered.latency_ms = Some(999);
    let mut timed = call(2, None, 100, 0);
    timed.response_created_at_ms = None;
    timed.latency_ms = Some(40);
    let mut bare = call(3, None, 100, 0);
    bare.response_created_at_ms = None;
    bare.latency_ms = None;
    assert_eq!(call_end_ms(&answered), 180);
    assert_eq!(call_end_ms(&timed), 140);
    assert_eq!(call_end_ms(&bare), 100);

    let durations: Vec<i64> = timeline(&[answered, timed, bare])
        .iter()
        .map(|e| e.duration_ms)
        .collect();
    assert_eq!(durations, [80, 40, 0]);
}

#[test]
fn errors_and_unknown_costs_roll_up() {
    let mut failed = call(1, Some("/a"), 0, 1);
    failed.status = 500;
    let mut unreachable = call(2, Some("/a"), 1, 2);
    unreachable.status = canopy_core::record::STATUS_UPSTREAM_UNREACHABLE;
    let mut unpriced = call(3, Some("/a"), 2, 3);
    unpriced.cost_nano_usd = None;
    let tree = build_tree(&[failed, unreachable, unpriced, call(4, Some("/a"), 3, 4)]);
    assert_eq!(tree.rollup.errors, 2);
    assert_eq!(tree.rollup.cost_nano, 3_000);
}

#[test]
fn unnormalised_paths_are_normalised() {
    let tree = build_tree(&[call(1, Some("a//b/"), 0, 1)]);
    assert_eq!(child(child(&tree, "a"), "b").path, "/a/b");
}

#[test]
fn the_timeline_is_in_start_order_with_offsets_from_the_session_start() {
    let mut second = call(2, Some("/tools"), 1_500, 1_700);
    second.kind = CallKind::Tool;
    second.status = 404;
    second.cost_nano_usd = None;
    second.request_model = Some("search".to_owned());
    let mut first = call(1, None, 1_000, 1_400);
    first.request_model = Some("gpt-4o".to_owned());
    first.response_model = Some("gpt-4o-2024-08-06".to_owned());

    let entries = timeline(&[second, first]);
    assert_eq!(
        entries,
        vec![
            TimelineEntry {
                request_id: id(1),
                path: "/".to_owned(),
                offset_ms: 0,
                duration_ms: 400,
                status: 200,
                model: Some("gpt-4o-2024-08-06".to_owned()),
                cost_nano: Some(1_000),
                kind: CallKind::Llm,
            },
            TimelineEntry {
                request_id: id(2),
                path: "/tools".to_owned(),
                offset_ms: 500,
                duration_ms: 200,
                status: 404,
                model: Some("search".to_owned()),
                cost_nano: None,
                kind: CallKind::Tool,
            },
        ]
    );
}

#[test]
fn the_tree_serialises_and_reads_back() {
    let tree = build_tree(&[call(1, Some("/a/b"), 0, 10), call(2, None, 5, 6)]);
    let json = serde_json::to_string(&tree).unwrap();
    let back: TreeNode = serde_json::from_str(&json).unwrap();
    assert_eq!(back, tree);
}

#[test]
fn ten_thousand_calls_build_quickly() {
    let calls: Vec<CallRecord> = (0..10_000u32)
        .map(|n| {
            let path = format!("/step{}/sub{}", n % 50, n % 7);
            let start = i64::from(n) * 13 % 100_000;
            call(u128::from(n), Some(&path), start, start + 500)
        })
        .collect();
    let tree = build_tree(&calls);
    assert_eq!(tree.rollup.requests, 10_000);
    assert_eq!(tree.children.len(), 50);
    assert_eq!(timeline(&calls).len(), 10_000);
}

/// A random call: path from a small alphabet so paths repeat and nest, and edge-case times.
fn arb_call() -> impl Strategy<Value = CallRecord> {
    let path = prop::option::of(prop::collection::vec(
        prop::sample::select(vec!["a", "b", "c"]),
        0..4,
    ));
    (
        path,
        -1_000i64..1_000,
        prop::option::of(-100i64..2_000),
        prop::option::of(0i64..2_000),
        prop::sample::select(vec![-2, 200, 201, 399, 400, 500]),
        prop::option::of(0i64..1_000_000),
        (0u64..10_000, 0u64..10_000),
    )
        .prop_map(
            |(path, start, end_offset, latency, status, cost, (prompt, completion))| CallRecord {
                created_at_ms: start,
                response_created_at_ms: end_offset.map(|offset| start + offset),
                latency_ms: latency,
                status,
                session_path: path.map(|segments| format!("/{}", segments.join("/"))),
                cost_nano_usd: cost,
                usage: Usage {
                    prompt_tokens: prompt,
                    completion_tokens: completion,
                    ..Usage::default()
                },
                ..CallRecord::default()
            },
        )
}

/// Random calls with distinct ids.
fn arb_calls() -> impl Strategy<Value = Vec<CallRecord>> {
    prop::collection::vec(arb_call(), 0..60).prop_map(|mut calls| {
        for (n, call) in calls.iter_mut().enumerate() {
            call.id = id(n as u128 + 1);
        }
        calls
    })
}

/// Every node of the tree, parents before children.
fn all_nodes(root: &TreeNode) -> Vec<&TreeNode> {
    let mut out = vec![root];
    let mut next = 0;
    while let Some(node) = out.get(next).copied() {
        out.extend(node.children.iter());
        next += 1;
    }
    out
}

proptest! {
    #[test]
    fn every_call_sits_in_exactly_one_node_at_its_own_path(calls in arb_calls()) {
        let tree = build_tree(&calls);
        let mut seen: HashMap<CallId, &str> = HashMap::new();
        for node in all_nodes(&tree) {
            for request in &node.request_ids {
                prop_assert!(seen.insert(*request, &node.path).is_none(), "{request} twice");
            }
        }
        prop_assert_eq!(seen.len(), calls.len());
        for call in &calls {
            let expected = normalize_path(call.session_path.as_deref().unwrap_or("/"));
            prop_assert_eq!(seen.get(&call.id).copied(), Some(expected.as_str()));
        }
    }

    #[test]
    fn the_root_rolls_up_every_call(calls in arb_calls()) {
        let root = build_tree(&calls).rollup;
        let mut expected = Rollup::default();
        for call in &calls {
            expected.add(&Rollup::of_call(call));
        }
        prop_assert_eq!(root, expected);
        prop_assert_eq!(root.requests, calls.len() as u64);
        prop_assert_eq!(root.cost_nano, calls.iter().filter_map(|c| c.cost_nano_usd).sum::<i64>());
        prop_assert_eq!(root.errors, calls.iter().filter(|c| c.is_error()).count() as u64);
        prop_assert_eq!(root.start_ms, calls.iter().map(|c| c.created_at_ms).min().unwrap_or(0));
        prop_assert_eq!(root.end_ms, calls.iter().map(call_end_ms).max().unwrap_or(0));
    }

    #[test]
    fn each_node_is_its_own_calls_plus_its_children(calls in arb_calls()) {
        let tree = build_tree(&calls);
        let by_id: HashMap<CallId, &CallRecord> = calls.iter().map(|c| (c.id, c)).collect();
        for node in all_nodes(&tree) {
            let mut expected = Rollup::default();
            for request in &node.request_ids {
                expected.add(&Rollup::of_call(by_id[request]));
            }
            for child in &node.children {
                expected.add(&child.rollup);
                prop_assert_eq!(&child.path, &format!("{}/{}", node.path.trim_end_matches('/'), child.name));
            }
            prop_assert_eq!(node.rollup, expected, "{}", node.path);
            prop_assert!(node.rollup.start_ms <= node.rollup.end_ms);
            prop_assert_eq!(node.rollup.span_ms, node.rollup.end_ms - node.rollup.start_ms);
            prop_assert!(node.path == "/" || node.rollup.requests > 0, "{} is empty", node.path);
        }
    }

    #[test]
    fn children_and_leaves_are_in_start_order(calls in arb_calls()) {
        let tree = build_tree(&calls);
        let by_id: HashMap<CallId, &CallRecord> = calls.iter().map(|c| (c.id, c)).collect();
        for node in all_nodes(&tree) {
            for pair in node.children.windows(2) {
                let key = |n: &TreeNode| (n.rollup.start_ms, n.path.clone());
                prop_assert!(key(&pair[0]) < key(&pair[1]));
            }
            for pair in node.request_ids.windows(2) {
                prop_assert!(by_id[&pair[0]].created_at_ms <= by_id[&pair[1]].created_at_ms);
            }
        }
    }

    #[test]
    fn input_order_does_not_matter(calls in arb_calls()) {
        let mut reversed = calls.clone();
        reversed.reverse();
        prop_assert_eq!(build_tree(&calls), build_tree(&reversed));
        prop_assert_eq!(timeline(&calls), timeline(&reversed));
    }

    #[test]
    fn the_timeline_has_every_call_in_start_order(calls in arb_calls()) {
        let entries = timeline(&calls);
        prop_assert_eq!(entries.len(), calls.len());
        for entry in &entries {
            prop_assert!(entry.offset_ms >= 0);
            prop_assert!(entry.duration_ms >= 0);
        }
        for pair in entries.windows(2) {
            prop_assert!(pair[0].offset_ms <= pair[1].offset_ms);
        }
    }
}
