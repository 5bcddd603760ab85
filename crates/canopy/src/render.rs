//! Terminal views of sessions: the tree of `canopy sessions show` and the table of
//! `canopy sessions list`.
//!
//! Every function returns the finished text; printing belongs to [`crate::output`], and reading
//! the store to the command that calls these. Colour is plain ANSI escape codes, added only when
//! the caller asks for it: whether stdout is a terminal (or `NO_COLOR` is set) is the caller's
//! decision. Text that came from callers (names, paths, models) has its control characters
//! replaced, so a session name cannot send escape codes to the terminal.

use std::collections::HashMap;

use canopy_core::record::STATUS_UPSTREAM_UNREACHABLE;
use canopy_core::record::{STATUS_CLIENT_CANCELLED, STATUS_UPSTREAM_TIMEOUT};
use canopy_core::{CallId, CallKind, CallRecord};
use canopy_store::SessionSummary;
use canopy_store::query::tree::{TreeNode, call_end_ms};

/// The widest the label column of the tree gets; longer labels push their line's columns right.
const MAX_LABEL_WIDTH: usize = 56;
/// The widest a session name gets in the list; longer names are cut and end with `…`.
const MAX_LIST_NAME_WIDTH: usize = 32;
/// The widest the id column of the list gets; longer ids are shown whole.
const MAX_LIST_ID_WIDTH: usize = 40;

/// What `canopy sessions show` renders: a session's totals, its tree and its calls.
pub struct SessionView<'a> {
    /// The session's totals.
    pub summary: &'a SessionSummary,
    /// The tree built from `calls`.
    pub tree: &'a TreeNode,
    /// The session's calls, in any order.
    pub calls: &'a [CallRecord],
}

/// Renders one session: a header of totals, then the tree with one line per node and per call.
///
/// Under each node, its calls and its child nodes are interleaved by start time, so the tree
/// reads top to bottom in the order things happened.
pub fn session(view: &SessionView<'_>, color: bool) -> String {
    let summary = view.summary;
    let cost = match summary.unpriced_count {
        0 => usd(Some(summary.cost_nano_usd)),
        n => format!("{} ({n} unpriced)", usd(Some(summary.cost_nano_usd))),
    };
    let tokens = format!(
        "{} ({} prompt, {} completion)",
        grouped(summary.total_tokens()),
        grouped(summary.prompt_tokens),
        grouped(summary.completion_tokens)
    );
    let errors_style = if summary.error_count > 0 {
        Style::Red
    } else {
        Style::Plain
    };
    let name = summary
        .name
        .as_deref()
        .map_or_else(|| "-".to_owned(), clean);
    let header = [
        (
            "session",
            paint(&clean(&summary.session_id), Style::Dim, color),
        ),
        ("name", paint(&name, Style::Bold, color)),
        (
            "started",
            format!("{} UTC", utc(summary.first_request_at_ms)),
        ),
        ("duration", duration(summary.duration_ms())),
        ("calls", grouped(summary.request_count)),
        ("cost", cost),
        ("tokens", tokens),
        (
            "errors",
            paint(&grouped(summary.error_count), errors_style, color),
        ),
    ];
    let mut out = String::new();
    for (key, value) in header {
        out.push_str(format!("{key:<10}{value}").trim_end());
        out.push('\n');
    }
    out.push('\n');

    let mut rows = TreeRows {
        calls: view.calls.iter().map(|call| (call.id, call)).collect(),
        rows: Vec::with_capacity(view.calls.len() + 1),
        color,
    };
    rows.node(view.tree, "", "");
    let (left, right) = (Align::Left, Align::Right);
    let aligns = [left, right, right, right, right, left];
    let mut caps = [usize::MAX; 6];
    caps[0] = MAX_LABEL_WIDTH;
    out.push_str(&table(&rows.rows, &aligns, &caps));
    out
}

/// Renders the table of `canopy sessions list`: one line per session, with a heading line.
pub fn session_list(sessions: &[SessionSummary], color: bool) -> String {
    if sessions.is_empty() {
        return "no sessions\n".to_owned();
    }
    let heading = [
        "SESSION",
        "NAME",
        "FIRST CALL (UTC)",
        "LAST CALL (UTC)",
        "CALLS",
        "COST",
        "TOKENS",
        "ERRORS",
    ];
    let mut rows = vec![Vec::from(
        heading.map(|title| Cell::new(title, Style::Bold, color)),
    )];
    for summary in sessions {
        let name = summary
            .name
            .as_deref()
            .map_or_else(|| "-".to_owned(), clean);
        let errors_style = if summary.error_count > 0 {
            Style::Red
        } else {
            Style::Plain
        };
        rows.push(vec![
            Cell::new(&clean(&summary.session_id), Style::Dim, color),
            Cell::new(&truncate(&name, MAX_LIST_NAME_WIDTH), Style::Plain, color),
            Cell::plain(&utc(summary.first_request_at_ms)),
            Cell::plain(&utc(summary.last_request_at_ms)),
            Cell::plain(&grouped(summary.request_count)),
            Cell::plain(&usd(Some(summary.cost_nano_usd))),
            Cell::plain(&grouped(summary.total_tokens())),
            Cell::new(&grouped(summary.error_count), errors_style, color),
        ]);
    }
    let (left, right) = (Align::Left, Align::Right);
    let aligns = [left, left, left, left, right, right, right, right];
    let mut caps = [usize::MAX; 8];
    caps[0] = MAX_LIST_ID_WIDTH;
    table(&rows, &aligns, &caps)
}

/// Collects the rows of the tree table: label, calls, cost, tokens, time, and a last free column.
struct TreeRows<'a> {
    calls: HashMap<CallId, &'a CallRecord>,
    rows: Vec<Vec<Cell>>,
    color: bool,
}

/// One line under a node: one of its own calls, or a child node.
enum Entry<'a> {
    Call(CallId),
    Node(&'a TreeNode),
}

impl<'a> TreeRows<'a> {
    /// Adds the line of `node` and, below it, the lines of its calls and children; returns how
    /// many calls of its subtree have a known cost.
    ///
    /// `lead` is the guide its ancestors draw; `branch` is its own (`├─ `, `└─ `, or empty for
    /// the root). A subtree none of whose calls has a known cost shows its cost as `-`.
    fn node(&mut self, node: &'a TreeNode, lead: &str, branch: &str) -> u64 {
        let rollup = &node.rollup;
        let name = if node.name.is_empty() {
            &node.path
        } else {
            &node.name
        };
        let mut label = Cell::plain(&format!("{lead}{branch}"));
        label.push(&clean(name), Style::Bold, self.color);
        let calls = match rollup.requests {
            1 => "1 call".to_owned(),
            n => format!("{} calls", grouped(n)),
        };
        let errors = match rollup.errors {
            0 => String::new(),
            1 => "1 error".to_owned(),
            n => format!("{} errors", grouped(n)),
        };
        let row = self.rows.len();
        self.rows.push(vec![
            label,
            Cell::plain(&calls),
            Cell::plain(&usd(Some(rollup.cost_nano))),
            Cell::plain(&tokens(rollup.prompt_tokens, rollup.completion_tokens)),
            Cell::plain(&duration(rollup.span_ms)),
            Cell::new(&errors, Style::Red, self.color),
        ]);

        let lead = match branch {
            "" => lead.to_owned(),
            "├─ " => format!("{lead}│  "),
            _ => format!("{lead}   "),
        };
        let entries = self.entries(node);
        let count = entries.len();
        let mut priced = 0;
        for (index, entry) in entries.into_iter().enumerate() {
            let branch = if index + 1 == count {
                "└─ "
            } else {
                "├─ "
            };
            priced += match entry {
                Entry::Call(id) => self.call(id, &format!("{lead}{branch}")),
                Entry::Node(child) => self.node(child, &lead, branch),
            };
        }
        if priced == 0
            && let Some(cost) = self.rows.get_mut(row).and_then(|cells| cells.get_mut(2))
        {
            *cost = Cell::plain(&usd(None));
        }
        priced
    }

    /// A node's own calls and its children, merged by start time; on a tie the call comes first.
    fn entries(&self, node: &'a TreeNode) -> Vec<Entry<'a>> {
        let start_of = |id: &CallId| self.calls.get(id).map_or(i64::MIN, |c| c.created_at_ms);
        let mut entries = Vec::with_capacity(node.request_ids.len() + node.children.len());
        let mut calls = node.request_ids.iter().peekable();
        let mut children = node.children.iter().peekable();
        loop {
            let take_call = match (calls.peek(), children.peek()) {
                (Some(id), Some(child)) => start_of(id) <= child.rollup.start_ms,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if take_call {
                entries.extend(calls.next().map(|id| Entry::Call(*id)));
            } else {
                entries.extend(children.next().map(Entry::Node));
            }
        }
        entries
    }

    /// Adds the line of one call: status, kind, model, cost, tokens, latency and id; returns 1
    /// when the call's cost is known.
    fn call(&mut self, id: CallId, guide: &str) -> u64 {
        let color = self.color;
        let mut label = Cell::plain(guide);
        let Some(call) = self.calls.get(&id).copied() else {
            label.push("?", Style::Plain, color);
            let empty = || Cell::plain("");
            let id = Cell::new(&id.to_string(), Style::Dim, color);
            self.rows
                .push(vec![label, empty(), empty(), empty(), empty(), id]);
            return 0;
        };
        label.push(&status(call.status), status_style(call.status), color);
        if call.kind != CallKind::Llm {
            label.push(&format!(" [{}]", call.kind.as_str()), Style::Plain, color);
        }
        let model = call
            .response_model
            .as_deref()
            .or(call.request_model.as_deref());
        match (model, call.kind) {
            (Some(model), _) => label.push(&format!(" {}", clean(model)), Style::Plain, color),
            (None, CallKind::Llm) => label.push(" -", Style::Plain, color),
            (None, _) => {}
        }
        let latency = match (call.latency_ms, call.response_created_at_ms) {
            (Some(latency), _) => duration(latency),
            (None, Some(_)) => duration(call_end_ms(call) - call.created_at_ms),
            (None, None) => "-".to_owned(),
        };
        self.rows.push(vec![
            label,
            Cell::plain(""),
            Cell::plain(&usd(call.cost_nano_usd)),
            Cell::plain(&tokens(
                call.usage.prompt_tokens,
                call.usage.completion_tokens,
            )),
            Cell::plain(&latency),
            Cell::new(&id.to_string(), Style::Dim, color),
        ]);
        u64::from(call.cost_nano_usd.is_some())
    }
}

/// How a column lines up.
#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Lays out rows as columns two spaces apart, each as wide as its widest cell up to its cap.
///
/// Lines carry no trailing spaces; a cell wider than its column's cap pushes the rest of its
/// line to the right rather than being cut.
fn table(rows: &[Vec<Cell>], aligns: &[Align], caps: &[usize]) -> String {
    let mut widths = vec![0; aligns.len()];
    for row in rows {
        for ((width, cell), cap) in widths.iter_mut().zip(row).zip(caps) {
            *width = (*width).max(cell.width.min(*cap));
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (index, ((cell, width), align)) in row.iter().zip(&widths).zip(aligns).enumerate() {
            if index > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(width.saturating_sub(cell.width));
            match align {
                Align::Left => {
                    line.push_str(&cell.text);
                    line.push_str(&pad);
                }
                Align::Right => {
                    line.push_str(&pad);
                    line.push_str(&cell.text);
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A piece of text, possibly with escape codes, and how many columns it takes on screen.
struct Cell {
    text: String,
    width: usize,
}

impl Cell {
    /// Text without a style.
    fn plain(text: &str) -> Self {
        Self::new(text, Style::Plain, false)
    }

    /// Text in `style` when `color` is on.
    fn new(text: &str, style: Style, color: bool) -> Self {
        let mut cell = Self {
            text: String::new(),
            width: 0,
        };
        cell.push(text, style, color);
        cell
    }

    /// Appends text in `style` when `color` is on.
    fn push(&mut self, text: &str, style: Style, color: bool) {
        self.text.push_str(&paint(text, style, color));
        self.width += text.chars().count();
    }
}

/// The few styles the views use.
#[derive(Clone, Copy)]
enum Style {
    Plain,
    Bold,
    Dim,
    Red,
    Green,
}

/// `text` wrapped in the escape codes of `style` when `color` is on; empty text stays empty.
fn paint(text: &str, style: Style, color: bool) -> String {
    let code = match style {
        Style::Plain => None,
        Style::Bold => Some("1"),
        Style::Dim => Some("2"),
        Style::Red => Some("31"),
        Style::Green => Some("32"),
    };
    match code {
        Some(code) if color && !text.is_empty() => format!("\x1b[{code}m{text}\x1b[0m"),
        _ => text.to_owned(),
    }
}

/// A call's status as shown: the HTTP status, or what a negative status means.
fn status(status: i32) -> String {
    match status {
        STATUS_UPSTREAM_UNREACHABLE => "unreachable".to_owned(),
        STATUS_UPSTREAM_TIMEOUT => "timeout".to_owned(),
        STATUS_CLIENT_CANCELLED => "cancelled".to_owned(),
        other => other.to_string(),
    }
}

/// Red for failures (negative or 4xx/5xx), green for 2xx, plain otherwise.
fn status_style(status: i32) -> Style {
    match status {
        200..=299 => Style::Green,
        0..=399 => Style::Plain,
        _ => Style::Red,
    }
}

/// A cost in USD with six decimals (`$0.000123`), rounded half away from zero; `-` if unknown.
fn usd(nano: Option<i64>) -> String {
    let Some(nano) = nano else {
        return "-".to_owned();
    };
    let nano = i128::from(nano);
    let micro = (nano.abs() + 500) / 1000;
    let sign = if nano < 0 && micro > 0 { "-" } else { "" };
    format!("{sign}${}.{:06}", micro / 1_000_000, micro % 1_000_000)
}

/// A duration: `842 ms` under a second, `3.2 s` under a minute, `2m 05s`, then `1h 02m`.
fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1_000 {
        return format!("{ms} ms");
    }
    let tenths = ms.saturating_add(50) / 100;
    if tenths < 600 {
        return format!("{}.{} s", tenths / 10, tenths % 10);
    }
    let secs = ms.saturating_add(500) / 1_000;
    if secs < 3_600 {
        return format!("{}m {:02}s", secs / 60, secs % 60);
    }
    let mins = secs / 60;
    format!("{}h {:02}m", mins / 60, mins % 60)
}

/// Unix milliseconds as a UTC date and time, `2026-11-21 20:14:42`.
fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1_000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let time = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        time / 3_600,
        time % 3_600 / 60,
        time % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A token count as `1,234 tok`.
fn tokens(prompt: u64, completion: u64) -> String {
    format!("{} tok", grouped(prompt.saturating_add(completion)))
}

/// A count with thousands separators: `12,345`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Caller-supplied text with control characters (escape codes, new lines) replaced by `�`.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// `text` cut to at most `max` characters, ending with `…` when cut; never splits a character.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
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
        let cut: String = long.chars().take(MAX_LIST_NAME_WIDTH - 1).collect();
        assert!(listed.contains(&format!("{cut}…  ")), "{listed}");
        assert_eq!(truncate("é🌳é", 2), "é…");
        assert_eq!(truncate("é🌳é", 3), "é🌳é");
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
}
