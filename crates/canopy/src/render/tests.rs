//! The terminal views, drawn for known sessions and compared with what a user should see.
use canopy_core::Usage;
use canopy_store::query::tree::build_tree;

use super::*;

/// 2026-11-21 20:14:42 UTC.
const T0: i64 = 1_795_292_082_000;

/// The id `00000000-0000-0000-0000-00000000000n`.
fn id(n: u64) -> CallId {
    CallId::parse(&format!("00000000-0000-0000-0000-{n:012}")).unwrap()
}

/// A call `n` at `path`, starting `offset` ms into the session and lasting `latency` ms.
fn call(n: u64, path: &str, offset: i64, latency: i64) -> CallRecord {
    CallRecord {
        id: id(n),
        created_at_ms: T0 + offset,
        response_created_at_ms: Some(T0 + offset + latency),
        latency_ms: Some(latency),
        status: 200,
        request_model: Some("gpt-4o-mini".to_owned()),
        session_path: Some(path.to_owned()),
        usage: Usage {
            prompt_tokens: 1_000,
            completion_tokens: 234,
            ..Usage::default()
        },
        cost_nano_usd: Some(123_456),
        ..CallRecord::default()
    }
}

/// A small agent run: a call at the root, a triage step with a nested failure, a tool step
/// and a call that timed out.
fn sample_calls() -> Vec<CallRecord> {
    let mut classify = call(3, "/triage/classify", 1_000, 420);
    classify.status = 500;
    classify.request_model = Some("gpt-4o".to_owned());
    classify.cost_nano_usd = None;
    classify.usage = Usage::default();
    let mut triage = call(2, "/triage", 900, 2_300);
    triage.response_model = Some("gpt-4o-mini-2024-07-18".to_owned());
    triage.cost_nano_usd = Some(50_000);
    let mut search = call(4, "/search", 2_500, 64_000);
    search.kind = CallKind::Tool;
    search.request_model = None;
    search.cost_nano_usd = None;
    search.usage = Usage::default();
    let mut timeout = call(5, "/", 3_000, 0);
    timeout.status = STATUS_UPSTREAM_TIMEOUT;
    timeout.response_created_at_ms = None;
    timeout.latency_ms = None;
    timeout.cost_nano_usd = None;
    timeout.usage = Usage::default();
    vec![timeout, search, classify, triage, call(1, "/", 0, 842)]
}

fn summary_of(calls: &[CallRecord]) -> SessionSummary {
    SessionSummary {
        session_id: "ticket-42".to_owned(),
        name: Some("Support Ticket".to_owned()),
        first_request_at_ms: calls.iter().map(|c| c.created_at_ms).min().unwrap_or(0),
        last_request_at_ms: calls.iter().map(|c| c.created_at_ms).max().unwrap_or(0),
        last_response_at_ms: calls.iter().map(call_end_ms).max().unwrap_or(0),
        request_count: calls.len() as u64,
        error_count: calls.iter().filter(|c| c.is_error()).count() as u64,
        prompt_tokens: calls.iter().map(|c| c.usage.prompt_tokens).sum(),
        completion_tokens: calls.iter().map(|c| c.usage.completion_tokens).sum(),
        cost_nano_usd: calls.iter().filter_map(|c| c.cost_nano_usd).sum(),
        unpriced_count: calls.iter().filter(|c| c.cost_nano_usd.is_none()).count() as u64,
        latency_sum_ms: calls.iter().filter_map(|c| c.latency_ms).sum(),
        ..SessionSummary::default()
    }
}

fn render(calls: &[CallRecord], color: bool) -> String {
    let summary = summary_of(calls);
    let tree = build_tree(calls);
    session(
        &SessionView {
            summary: &summary,
            tree: &tree,
            calls,
        },
        color,
    )
}

#[test]
fn a_session_renders_as_a_tree_under_its_totals() {
    let expected = "\
session   ticket-42
name      Support Ticket
started   2026-11-21 20:14:42 UTC
duration  1m 07s
calls     5
cost      $0.000173 (3 unpriced)
tokens    2,468 (2,000 prompt, 468 completion)
errors    2

/                                 5 calls  $0.000173  2,468 tok  1m 07s  2 errors
├─ 200 gpt-4o-mini                         $0.000123  1,234 tok  842 ms  00000000-0000-0000-0000-000000000001
├─ triage                         2 calls  $0.000050  1,234 tok   2.3 s  1 error
│  ├─ 200 gpt-4o-mini-2024-07-18           $0.000050  1,234 tok   2.3 s  00000000-0000-0000-0000-000000000002
│  └─ classify                     1 call          -      0 tok  420 ms  1 error
│     └─ 500 gpt-4o                                -      0 tok  420 ms  00000000-0000-0000-0000-000000000003
├─ search                          1 call          -      0 tok  1m 04s
│  └─ 200 [tool]                                   -      0 tok  1m 04s  00000000-0000-0000-0000-000000000004
└─ timeout gpt-4o-mini                             -      0 tok       -  00000000-0000-0000-0000-000000000005
";
    assert_eq!(render(&sample_calls(), false), expected);
}

#[test]
fn sessions_list_as_a_table() {
    let calls = sample_calls();
    let other = SessionSummary {
        session_id: "0193a5b0-7e1f-7c3a-9d2e-1f2a3b4c5d6e".to_owned(),
        first_request_at_ms: 1_709_251_199_000,
        last_request_at_ms: 1_709_251_200_500,
        request_count: 1_204,
        prompt_tokens: 1_500_000,
        cost_nano_usd: 12_345_678_900,
        ..SessionSummary::default()
    };
    let expected = "\
SESSION                               NAME            FIRST CALL (UTC)     LAST CALL (UTC)      CALLS        COST     TOKENS  ERRORS
ticket-42                             Support Ticket  2026-11-21 20:14:42  2026-11-21 20:14:45      5   $0.000173      2,468       2
0193a5b0-7e1f-7c3a-9d2e-1f2a3b4c5d6e  -               2024-02-29 23:59:59  2024-03-01 00:00:00  1,204  $12.345679  1,500,000       0
";
    assert_eq!(session_list(&[summary_of(&calls), other], false), expected);
    assert_eq!(session_list(&[], false), "no sessions\n");
}

#[test]
fn colour_adds_escape_codes_only_when_asked() {
    let calls = sample_calls();
    let summary = summary_of(&calls);
    let plain = render(&calls, false);
    let coloured = render(&calls, true);
    assert!(!plain.contains('\x1b'));
    assert!(!session_list(std::slice::from_ref(&summary), false).contains('\x1b'));

    assert!(coloured.contains("\x1b[32m200\x1b[0m"), "2xx is green");
    assert!(coloured.contains("\x1b[31m500\x1b[0m"), "5xx is red");
    assert!(
        coloured.contains("\x1b[31mtimeout\x1b[0m"),
        "negative statuses are red"
    );
    assert!(
        coloured.contains("\x1b[1mtriage\x1b[0m"),
        "node names are bold"
    );
    assert!(coloured.contains("\x1b[2m00000000-0000-0000-0000-000000000001\x1b[0m"));
    // The escape codes take no room: without them the coloured text is the plain text.
    assert_eq!(strip_escapes(&coloured), plain);
    let list = session_list(std::slice::from_ref(&summary), true);
    assert!(list.contains("\x1b[2mticket-42\x1b[0m"));
    assert_eq!(
        strip_escapes(&list),
        session_list(std::slice::from_ref(&summary), false)
    );
}

/// `text` without its `ESC [ … m` sequences.
fn strip_escapes(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn long_names_are_kept_whole_or_cut_between_characters() {
    let long = "Überprüfung 🌳 des Tickets ".repeat(5);
    let mut calls = sample_calls();
    calls[0].session_path = Some(format!("/{long}/étape"));
    let mut summary = summary_of(&calls);
    summary.name = Some(long.clone());
    let tree = build_tree(&calls);
    let shown = session(
        &SessionView {
            summary: &summary,
            tree: &tree,
            calls: &calls,
        },
        false,
    );
    assert!(
        shown.contains(&format!("name      {}\n", long.trim_end())),
        "{shown}"
    );
    let segment = long.trim_end();
    assert!(
        shown.contains(&format!("└─ {segment}  ")),
        "a node name is whole"
    );

    let listed = session_list(&[summary], false);
    let cut = truncate(&long, MAX_LIST_NAME_WIDTH);
    assert_eq!(width(&cut), MAX_LIST_NAME_WIDTH);
    assert!(listed.contains(&format!("{cut}  ")), "{listed}");
    assert_eq!(truncate("é🌳é", 2), "é…");
    assert_eq!(truncate("é🌳é", 3), "é…", "the tree is two columns wide");
    assert_eq!(truncate("é🌳é", 4), "é🌳é");
}

#[test]
fn wide_characters_keep_the_columns_aligned() {
    let calls = sample_calls();
    let mut wide = summary_of(&calls);
    wide.session_id = "s-wide".to_owned();
    wide.name = Some("サポート対応".to_owned());
    let mut narrow = summary_of(&calls);
    narrow.session_id = "s-narr".to_owned();
    narrow.name = Some("Support".to_owned());
    let listed = session_list(&[wide, narrow], false);
    let lines: Vec<&str> = listed.lines().collect();
    let column = |line: &str| {
        let at = line.find("20").unwrap();
        width(&line[..at])
    };
    assert_eq!(column(lines[1]), column(lines[2]), "{listed}");
    assert_eq!(
        column(lines[0].replace("FIRST CALL", "20").as_str()),
        column(lines[1])
    );
    assert_eq!(pad("日本", 5, true), "日本 ");
    assert_eq!(pad("ab", 5, false), "   ab");
}

#[test]
fn control_characters_from_callers_never_reach_the_terminal() {
    let calls = sample_calls();
    let mut summary = summary_of(&calls);
    summary.name = Some("evil\x1b[2J\nname".to_owned());
    let tree = build_tree(&calls);
    let shown = session(
        &SessionView {
            summary: &summary,
            tree: &tree,
            calls: &calls,
        },
        false,
    );
    assert!(!shown.contains('\x1b'));
    assert!(shown.contains("name      evil\u{fffd}[2J\u{fffd}name\n"));
    assert!(!session_list(&[summary], false).contains('\x1b'));
}

#[test]
fn a_call_missing_from_the_view_is_still_listed_by_id() {
    let calls = sample_calls();
    let summary = summary_of(&calls);
    let tree = build_tree(&calls);
    let shown = session(
        &SessionView {
            summary: &summary,
            tree: &tree,
            calls: &calls[1..],
        },
        false,
    );
    assert!(shown.contains("─ ?  "), "{shown}");
    assert!(shown.contains("00000000-0000-0000-0000-000000000005"));
}

#[test]
fn ten_thousand_calls_render() {
    let calls: Vec<CallRecord> = (0..10_000u64)
        .map(|n| {
            let path = format!("/step{}/sub{}", n % 40, n % 3);
            let offset = i64::try_from(n).unwrap_or(0) * 10;
            call(n + 1, &path, offset, 500)
        })
        .collect();
    let shown = render(&calls, true);
    // Eight header lines, a blank line, the root, 40 steps with 3 subnodes each, and the calls.
    assert_eq!(shown.lines().count(), 9 + 1 + 40 * 4 + 10_000);
}

#[test]
fn amounts_durations_and_times_are_formatted_for_people() {
    assert_eq!(usd(None), "-");
    assert_eq!(usd(Some(0)), "$0.000000");
    assert_eq!(usd(Some(123_456)), "$0.000123");
    assert_eq!(usd(Some(500)), "$0.000001");
    assert_eq!(usd(Some(12_345_678_900)), "$12.345679");
    assert_eq!(usd(Some(-2_000)), "-$0.000002");
    assert_eq!(usd(Some(i64::MIN)), "-$9223372036.854776");

    assert_eq!(duration(-5), "0 ms");
    assert_eq!(duration(842), "842 ms");
    assert_eq!(duration(3_249), "3.2 s");
    assert_eq!(duration(59_949), "59.9 s");
    assert_eq!(duration(59_950), "1m 00s");
    assert_eq!(duration(125_000), "2m 05s");
    assert_eq!(duration(3_720_000), "1h 02m");
    assert_eq!(duration(i64::MAX), "2562047788015h 12m");

    assert_eq!(utc(0), "1970-01-01 00:00:00");
    assert_eq!(utc(-1), "1969-12-31 23:59:59");
    assert_eq!(utc(T0), "2026-11-21 20:14:42");
    assert_eq!(utc(1_709_251_199_999), "2024-02-29 23:59:59");
    assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");

    assert_eq!(grouped(0), "0");
    assert_eq!(grouped(999), "999");
    assert_eq!(grouped(1_000), "1,000");
    assert_eq!(grouped(1_234_567), "1,234,567");
}
