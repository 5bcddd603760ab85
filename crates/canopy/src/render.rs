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
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// The widest the label column of the tree gets; longer labels push their line's columns right.
const MAX_LABEL_WIDTH: usize = 56;
/// The widest a session name gets in the list, in columns; longer names are cut and end with `…`.
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
    let mut header = vec![
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
    let hits: Vec<&CallRecord> = view
        .calls
        .iter()
        .filter(|c| {
            c.properties
                .get("helicone-cache")
                .is_some_and(|v| v == "hit")
        })
        .collect();
    if !hits.is_empty() {
        let saved: i64 = hits
            .iter()
            .filter_map(|c| {
                c.properties
                    .get("canopy-cache-saved-nano-usd")?
                    .parse::<i64>()
                    .ok()
            })
            .map(|n| n.clamp(0, canopy_core::completion::MAX_COST_NANO_USD))
            .fold(0, i64::saturating_add);
        header.push((
            "cache",
            format!(
                "{} hits, saved {}",
                grouped(hits.len() as u64),
                usd(Some(saved))
            ),
        ));
    }
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

/// A piece of text, possibly with escape codes, and how many columns it takes on screen
/// (its display width, so that wide characters keep the columns aligned).
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
        self.width += width(text);
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
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// How many terminal columns `text` takes: East Asian wide characters and most emoji take two,
/// combining marks none.
pub fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// `text` cut to at most `max` columns, ending with `…` when cut; never splits a character.
pub fn truncate(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_owned();
    }
    let room = max.saturating_sub(1);
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > room {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// `text` padded with spaces to `columns` terminal columns, on the right (`left` aligned) or
/// on the left; text already as wide is returned as it is.
pub fn pad(text: &str, columns: usize, left: bool) -> String {
    let fill = " ".repeat(columns.saturating_sub(width(text)));
    if left {
        format!("{text}{fill}")
    } else {
        format!("{fill}{text}")
    }
}

#[cfg(test)]
mod tests;
