//! The session queries: lists (order, paging, search, name, time window), aggregates, names
//! and the metrics' points.

use canopy_core::CallRecord;

use super::super::Engine;
use super::super::sample::{session_ids, session_query};
use super::{MINUTE, ORG, T0, call, list, session};
use crate::SessionSummary;
use crate::query::{
    PathStat, SessionAggregate, SessionPoint, SessionQuery, SessionSort, SessionSortKey,
};

/// Seven sessions whose calls interleave: session `i` starts at minute `i` and has a call at
/// minute `i + 3` too, so the order by first call differs from the order by last call.
fn interleaved() -> Vec<CallRecord> {
    (0..7)
        .flat_map(|i| {
            let id = format!("s{i}");
            [
                call(&id, Some("Agent"), T0 + i * MINUTE, 100, 10),
                call(&id, None, T0 + (i + 3) * MINUTE, 100, 10),
            ]
        })
        .collect()
}

/// Sessions come newest first by their first call, each with its whole totals; pages of
/// `limit` from `offset` follow one another.
pub async fn query_sessions_lists_newest_first_and_pages(e: Engine) {
    let calls = interleaved();
    let (first, second) = calls.split_at(5);
    e.write(second).await;
    e.write(first).await;
    let all = list(&e, &session_query()).await;
    assert_eq!(
        session_ids(&all),
        ["s6", "s5", "s4", "s3", "s2", "s1", "s0"]
    );
    for summary in &all {
        assert_eq!(summary, &session(&e, &summary.session_id).await);
        assert_eq!(summary.request_count, 2);
    }
    let mut paged = Vec::new();
    for offset in [0, 3, 6, 9] {
        let query = SessionQuery {
            limit: 3,
            offset,
            ..session_query()
        };
        let page = list(&e, &query).await;
        assert!(page.len() <= 3, "a page holds at most `limit` sessions");
        paged.extend(page);
    }
    assert_eq!(
        paged, all,
        "pages follow one another without gaps or repeats"
    );
    assert!(list(&e, &session_query()).await.len() == 7);
}

/// Every sort key orders the list by the session's own totals, both ways; ties fall back to the
/// newest first, then the id; pages under any order follow one another.
pub async fn query_sessions_sorts_by_every_key(e: Engine) {
    // (id, start minute, [(offset ms, latency ms, cost, failed)]): distinct values for every key
    // in an order unlike the start order, and ties on cost and on errors.
    type Part = (i64, i64, i64, bool);
    let shapes: [(&str, i64, &[Part]); 5] = [
        ("a", 0, &[(0, 100, 50, false)]),
        (
            "b",
            1,
            &[
                (0, 20, 10, true),
                (5_000, 20, 10, true),
                (9_000, 30, 10, false),
            ],
        ),
        ("c", 2, &[(0, 500, 100, true), (1_000, 700, 0, false)]),
        ("d", 3, &[(0, 40, 30, false), (2_000, 40, 20, false)]),
        ("e", 4, &[(0, 1_000, 50, false)]),
    ];
    let mut calls = Vec::new();
    for (id, minute, parts) in shapes {
        for &(offset, latency, cost, failed) in parts {
            let mut c = call(
                id,
                Some("Sorted"),
                T0 + minute * MINUTE + offset,
                latency,
                cost,
            );
            if failed {
                c.status = 500;
            }
            calls.push(c);
        }
    }
    e.write(&calls).await;
    let all = list(&e, &session_query()).await;
    assert_eq!(session_ids(&all), ["e", "d", "c", "b", "a"]);

    let value = |s: &SessionSummary, key: SessionSortKey| -> f64 {
        match key {
            SessionSortKey::Started => s.first_request_at_ms as f64,
            SessionSortKey::Cost => s.cost_nano_usd as f64,
            SessionSortKey::Calls => s.request_count as f64,
            SessionSortKey::Duration => s.duration_ms() as f64,
            SessionSortKey::Errors => s.error_count as f64,
            SessionSortKey::Latency => s.latency_sum_ms as f64 / s.request_count.max(1) as f64,
        }
    };
    for key in SessionSortKey::ALL {
        for descending in [true, false] {
            let sort = SessionSort { key, descending };
            let mut expected = all.clone();
            expected.sort_by(|x, y| {
                let (a, b) = (value(x, key), value(y, key));
                let by_key = if descending {
                    b.total_cmp(&a)
                } else {
                    a.total_cmp(&b)
                };
                let by_start = if key == SessionSortKey::Started && !descending {
                    x.first_request_at_ms.cmp(&y.first_request_at_ms)
                } else {
                    y.first_request_at_ms.cmp(&x.first_request_at_ms)
                };
                by_key
                    .then(by_start)
                    .then_with(|| x.session_id.cmp(&y.session_id))
            });
            let query = SessionQuery {
                sort,
                ..session_query()
            };
            let got = list(&e, &query).await;
            assert_eq!(session_ids(&got), session_ids(&expected), "{sort:?}");
            let mut paged = Vec::new();
            for offset in [0, 2, 4] {
                let page = SessionQuery {
                    limit: 2,
                    offset,
                    ..query.clone()
                };
                paged.extend(list(&e, &page).await);
            }
            assert_eq!(session_ids(&paged), session_ids(&got), "pages of {sort:?}");
        }
    }
    // The orders differ from one another, so each key is really applied.
    let by = |key| SessionQuery {
        sort: SessionSort {
            key,
            descending: true,
        },
        ..session_query()
    };
    assert_eq!(
        session_ids(&list(&e, &by(SessionSortKey::Cost)).await),
        ["c", "e", "d", "a", "b"]
    );
    assert_eq!(
        session_ids(&list(&e, &by(SessionSortKey::Calls)).await),
        ["b", "d", "c", "e", "a"]
    );
    assert_eq!(
        session_ids(&list(&e, &by(SessionSortKey::Errors)).await),
        ["b", "c", "e", "d", "a"]
    );
    assert_eq!(
        session_ids(&list(&e, &by(SessionSortKey::Latency)).await),
        ["e", "c", "a", "d", "b"]
    );
}

/// Per-path figures sum the calls on each path over the sessions the query matches (by name
/// here), counting the sessions, failures and unpriced calls; calls without a path are `/`;
/// other names' sessions are left out; the busiest path comes first.
pub async fn path_stats_sum_each_path_over_the_matching_sessions(e: Engine) {
    let on = |session: &str,
              name: &str,
              minute: i64,
              path: Option<&str>,
              latency: i64,
              cost: Option<i64>,
              status: i32| {
        let mut c = call(session, Some(name), T0 + minute * MINUTE, latency, 0);
        c.session_path = path.map(str::to_owned);
        c.cost_nano_usd = cost;
        c.status = status;
        c
    };
    e.write(&[
        on("a", "Agent", 0, Some("/draft"), 100, Some(10), 200),
        on("a", "Agent", 1, Some("/draft"), 300, Some(30), 500),
        on("a", "Agent", 2, Some("/send"), 50, None, 200),
        on("b", "Agent", 3, Some("/draft"), 200, Some(20), 200),
        on("b", "Agent", 4, None, 10, Some(1), 200),
        on("c", "Other", 5, Some("/draft"), 999, Some(999), 200),
    ])
    .await;
    let query = SessionQuery {
        name_equals: Some("Agent".to_owned()),
        ..session_query()
    };
    let stats = e.query.path_stats(ORG, &query).await.expect("path_stats");
    let stat =
        |path: &str, sessions, calls, errors, latency_sum_ms, cost_nano, unpriced| PathStat {
            path: path.to_owned(),
            sessions,
            calls,
            errors,
            latency_sum_ms,
            cost_nano,
            unpriced,
        };
    assert_eq!(
        stats,
        [
            stat("/draft", 2, 3, 1, 600, 60, 0),
            stat("/", 1, 1, 0, 10, 1, 0),
            stat("/send", 1, 1, 0, 50, 0, 1),
        ]
    );
    let none = SessionQuery {
        name_equals: Some("Nobody".to_owned()),
        ..session_query()
    };
    assert!(
        e.query
            .path_stats(ORG, &none)
            .await
            .expect("path_stats")
            .is_empty()
    );
}

/// `search` finds a case-insensitive substring of the id or of the name; `%`, `_` and `\` are
/// plain characters in it, and an empty search matches everything.
pub async fn query_sessions_searches_id_and_name_case_insensitively(e: Engine) {
    let sessions = [
        ("Alpha-1", Some("Support Ticket")),
        ("beta-2", Some("billing")),
        ("gamma", None),
        ("delta_x%", Some("Refund")),
        (r"eps\ilon", Some("100% done")),
    ];
    let calls: Vec<CallRecord> = sessions
        .iter()
        .enumerate()
        .map(|(i, (id, name))| call(id, *name, T0 + i as i64 * MINUTE, 10, 1))
        .collect();
    e.write(&calls).await;
    let cases: [(&str, &[&str]); 11] = [
        ("ALPHA", &["Alpha-1"]),
        ("ticket", &["Alpha-1"]),
        ("BILL", &["beta-2"]),
        ("a-", &["beta-2", "Alpha-1"]),
        ("GAMMA", &["gamma"]),
        ("%", &[r"eps\ilon", "delta_x%"]),
        ("_", &["delta_x%"]),
        (r"\", &[r"eps\ilon"]),
        ("a_1", &[]),
        ("nothing", &[]),
        ("", &[r"eps\ilon", "delta_x%", "gamma", "beta-2", "Alpha-1"]),
    ];
    for (search, expected) in cases {
        let query = SessionQuery {
            search: Some(search.to_owned()),
            ..session_query()
        };
        assert_eq!(session_ids(&list(&e, &query).await), expected, "{search:?}");
    }
}

/// `name_equals` matches the session name exactly, case included.
pub async fn query_sessions_matches_a_name_exactly(e: Engine) {
    e.write(&[
        call("a", Some("Support"), T0, 10, 1),
        call("b", Some("support"), T0 + 1, 10, 1),
        call("c", Some("Support bot"), T0 + 2, 10, 1),
        call("d", None, T0 + 3, 10, 1),
        call("e", Some("Old"), T0 + 4, 10, 1),
        call("e", Some("Support"), T0 + 5, 10, 1),
    ])
    .await;
    let named = |name: &str| SessionQuery {
        name_equals: Some(name.to_owned()),
        ..session_query()
    };
    assert_eq!(session_ids(&list(&e, &named("Support")).await), ["e", "a"]);
    assert_eq!(
        session_ids(&list(&e, &named("Old")).await),
        Vec::<&str>::new()
    );
    assert_eq!(session_ids(&list(&e, &named("")).await), Vec::<&str>::new());
}

/// Sessions for the window tests: `long` runs through the window with calls before, in and
/// after it; the others touch its edges or miss it by a millisecond.
fn windowed() -> (i64, i64, Vec<CallRecord>) {
    let (start, end) = (T0 + 10 * MINUTE, T0 + 11 * MINUTE);
    let calls = vec![
        call("long", Some("Agent"), T0, 100, 10),
        call("long", None, T0 + 20 * MINUTE, 100, 20),
        call("long", None, T0 + 30 * MINUTE, 100, 30),
        // Its last response ends exactly at the window's start.
        call("ends-at-start", Some("Agent"), start - 500, 500, 1),
        call("ends-before", Some("Agent"), start - 600, 599, 1),
        call("starts-at-end", Some("Other"), end, 100, 2),
        call("starts-after", Some("Other"), end + 1, 100, 2),
        call("inside", Some("Agent"), start + 1_000, 100, 3),
    ];
    (start, end, calls)
}

/// A session overlapping the time window (inclusive at both ends) is listed whole: its totals
/// cover every call, also those outside the window.
pub async fn a_session_overlapping_the_window_is_listed_whole(e: Engine) {
    let (start, end, calls) = windowed();
    e.write(&calls).await;
    let window = |start_ms, end_ms| SessionQuery {
        start_ms,
        end_ms,
        ..session_query()
    };
    let found = list(&e, &window(Some(start), Some(end))).await;
    assert_eq!(
        session_ids(&found),
        ["starts-at-end", "inside", "ends-at-start", "long"]
    );
    let long = found.last().expect("the long session");
    assert_eq!(
        long.request_count, 3,
        "every call, not only those in the window"
    );
    assert_eq!(long.cost_nano_usd, 60);
    assert_eq!(long.first_request_at_ms, T0);
    assert_eq!(long.last_response_at_ms, T0 + 30 * MINUTE + 100);
    assert_eq!(long, &session(&e, "long").await);

    let from = list(&e, &window(Some(start), None)).await;
    assert_eq!(
        session_ids(&from),
        [
            "starts-after",
            "starts-at-end",
            "inside",
            "ends-at-start",
            "long"
        ]
    );
    let until = list(&e, &window(None, Some(end))).await;
    assert_eq!(
        session_ids(&until),
        [
            "starts-at-end",
            "inside",
            "ends-at-start",
            "ends-before",
            "long"
        ]
    );
}

/// `aggregate_sessions` totals every session the query matches, ignoring its page bounds.
pub async fn aggregate_sessions_totals_every_matching_session(e: Engine) {
    let empty = e.query.aggregate_sessions(ORG, &session_query()).await;
    assert_eq!(empty.expect("aggregate"), SessionAggregate::default());
    let (start, end, calls) = windowed();
    e.write(&calls).await;
    let aggregate = |query: SessionQuery| {
        let e = e.clone();
        async move {
            let query = SessionQuery {
                limit: 1,
                offset: 1,
                ..query
            };
            e.query
                .aggregate_sessions(ORG, &query)
                .await
                .expect("aggregate")
        }
    };
    let all = aggregate(session_query()).await;
    assert_eq!(
        all,
        SessionAggregate {
            count: 6,
            total_cost_nano: 69,
            total_requests: 8,
            latency_sum_ms: 1_699,
        }
    );
    let in_window = aggregate(SessionQuery {
        start_ms: Some(start),
        end_ms: Some(end),
        ..session_query()
    })
    .await;
    assert_eq!(
        in_window,
        SessionAggregate {
            count: 4,
            total_cost_nano: 66,
            total_requests: 6,
            latency_sum_ms: 1_000,
        },
        "whole totals of the sessions overlapping the window"
    );
    let other = aggregate(SessionQuery {
        name_equals: Some("Other".to_owned()),
        search: Some("STARTS".to_owned()),
        ..session_query()
    })
    .await;
    assert_eq!((other.count, other.total_cost_nano), (2, 4));
}

/// `session_names` gives each name with how its sessions were used, most recently used first;
/// `contains` is a case-insensitive substring, and the query's window and page size apply.
pub async fn session_names_counts_and_orders_names(e: Engine) {
    e.write(&[
        call("a", Some("Support"), T0, 100, 10),
        call("a", None, T0 + 1_000, 50, 5),
        call("b", Some("Support"), T0 + 5 * MINUTE, 200, 20),
        call("c", Some("Billing"), T0 + 2 * MINUTE, 300, 30),
        call("d", Some("support-bot"), T0 + 3 * MINUTE, 10, 1),
        call("e", None, T0 + 9 * MINUTE, 10, 1),
    ])
    .await;
    let names = |contains: &'static str, query: SessionQuery| {
        let e = e.clone();
        async move {
            let rows = e.query.session_names(ORG, contains, &query).await;
            rows.expect("session_names")
        }
    };
    let all = names("", session_query()).await;
    let listed: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        listed,
        ["Support", "support-bot", "Billing"],
        "a session without a name has none"
    );
    let support = &all[0];
    assert_eq!(support.session_count, 2);
    assert_eq!(support.first_used_ms, T0);
    assert_eq!(support.last_used_ms, T0 + 5 * MINUTE);
    assert_eq!(support.total_cost_nano, 35);
    assert_eq!(support.total_requests, 3);
    assert_eq!(support.total_duration_ms, 1_050 + 200);
    assert_eq!(support.latency_sum_ms, 350);

    let matched = names("SUPP", session_query()).await;
    let listed: Vec<&str> = matched.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(listed, ["Support", "support-bot"]);
    let one = names(
        "",
        SessionQuery {
            limit: 1,
            ..session_query()
        },
    )
    .await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].name, "Support");
    let early = SessionQuery {
        end_ms: Some(T0 + 2 * MINUTE),
        ..session_query()
    };
    let early = names("", early).await;
    let listed: Vec<(&str, u64)> = early
        .iter()
        .map(|r| (r.name.as_str(), r.session_count))
        .collect();
    assert_eq!(listed, [("Billing", 1), ("Support", 1)]);
}

/// `session_points` gives every matching session's calls, duration and cost.
pub async fn session_points_gives_one_point_per_session(e: Engine) {
    let (start, end, calls) = windowed();
    e.write(&calls).await;
    let points = |query: SessionQuery| {
        let e = e.clone();
        async move {
            let mut points = e.query.session_points(ORG, &query).await.expect("points");
            points.sort_by_key(|p| (p.requests, p.duration_ms, p.cost_nano));
            points
        }
    };
    let point = |requests, duration_ms, cost_nano| SessionPoint {
        requests,
        duration_ms,
        cost_nano,
    };
    assert_eq!(
        points(session_query()).await,
        [
            point(1, 100, 2),
            point(1, 100, 2),
            point(1, 100, 3),
            point(1, 500, 1),
            point(1, 599, 1),
            point(3, 30 * MINUTE + 100, 60),
        ]
    );
    let window = SessionQuery {
        start_ms: Some(start),
        end_ms: Some(end),
        name_equals: Some("Agent".to_owned()),
        ..session_query()
    };
    assert_eq!(
        points(window).await,
        [
            point(1, 100, 3),
            point(1, 500, 1),
            point(3, 30 * MINUTE + 100, 60)
        ]
    );
}
