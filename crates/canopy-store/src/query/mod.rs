//! The engine-agnostic query model: what the API asks of a store, and pure helpers over results.
//!
//! - [`filter`]: Helicone's filter language, parsed into an AST that every engine translates.
//! - [`tree`]: the session tree, per-node roll-ups and timeline, built from a session's calls.
//! - [`histogram`]: the session metrics' histograms, computed from per-session values.
//! - The query shapes below: what a request or session query asks for, already validated.

pub mod filter;
pub mod histogram;
pub mod tree;

use serde::{Deserialize, Serialize};

use self::filter::Filter;

/// The most rows one request query returns.
pub const MAX_CALL_LIMIT: u64 = 1000;
/// The most rows one session query returns.
pub const MAX_SESSION_LIMIT: u64 = 1000;

/// What calls may be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CallSortKey {
    /// Request start.
    #[default]
    CreatedAt,
    /// Latency.
    Latency,
    /// Cost.
    Cost,
    /// Prompt plus completion tokens.
    TotalTokens,
    /// Prompt tokens.
    PromptTokens,
    /// Completion tokens.
    CompletionTokens,
    /// Status.
    Status,
}

/// A filtered, sorted page of calls.
#[derive(Debug, Clone)]
pub struct CallQuery {
    /// Which calls.
    pub filter: Filter,
    /// Sort key.
    pub sort: CallSortKey,
    /// Newest (largest) first.
    pub descending: bool,
    /// Page size, at most [`MAX_CALL_LIMIT`].
    pub limit: u64,
    /// Rows to skip.
    pub offset: u64,
}

/// A filtered page of sessions.
#[derive(Debug, Clone)]
pub struct SessionQuery {
    /// Case-insensitive substring of the session id or name.
    pub search: Option<String>,
    /// Sessions that overlap this window (Unix ms, inclusive) are listed whole.
    pub start_ms: Option<i64>,
    /// End of the window.
    pub end_ms: Option<i64>,
    /// Exact session name.
    pub name_equals: Option<String>,
    /// Which sessions: session-level conditions on their totals, call-level conditions on any call.
    pub filter: Filter,
    /// The order of the page.
    pub sort: SessionSort,
    /// Page size, at most [`MAX_SESSION_LIMIT`].
    pub limit: u64,
    /// Rows to skip.
    pub offset: u64,
}

/// What a page of sessions is ordered by; ties fall back to the newest first, then the id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionSortKey {
    /// The first call's start.
    #[default]
    Started,
    /// The total cost.
    Cost,
    /// The number of calls.
    Calls,
    /// The last activity minus the first call's start.
    Duration,
    /// The number of failed calls.
    Errors,
    /// The mean call latency.
    Latency,
}

impl SessionSortKey {
    /// Every key, for conformance tests and documentation.
    pub const ALL: [Self; 6] = [
        Self::Started,
        Self::Cost,
        Self::Calls,
        Self::Duration,
        Self::Errors,
        Self::Latency,
    ];
}

/// The order of a page of sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionSort {
    /// The key.
    pub key: SessionSortKey,
    /// Largest (or newest) first.
    pub descending: bool,
}

impl SessionSort {
    /// The `ORDER BY` list (sessions aliased `s`) for this order, given each backend's SQL for
    /// a key's value. Ties fall back to the newest first, then the id, so pages never overlap.
    pub fn order_by(self, value: impl Fn(SessionSortKey) -> &'static str) -> String {
        let direction = if self.descending { "DESC" } else { "ASC" };
        match self.key {
            SessionSortKey::Started => format!("s.first_request_at {direction}, s.session_id"),
            key => format!(
                "{} {direction}, s.first_request_at DESC, s.session_id",
                value(key)
            ),
        }
    }
}

impl Default for SessionSort {
    /// The newest sessions first, as lists have always been ordered.
    fn default() -> Self {
        Self {
            key: SessionSortKey::Started,
            descending: true,
        }
    }
}

/// One session path's figures over every session a query matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathStat {
    /// The path (`/` for calls without one).
    pub path: String,
    /// Sessions with a call on this path.
    pub sessions: u64,
    /// Calls on this path.
    pub calls: u64,
    /// Failed calls (a status of 400 or more, or an error).
    pub errors: u64,
    /// Sum of the calls' latencies, ms.
    pub latency_sum_ms: i64,
    /// Sum of the calls' costs, nano-USD (unpriced calls count 0).
    pub cost_nano: i64,
    /// Calls without a price.
    pub unpriced: u64,
}

/// The most paths [`PathStat`] lists hold, the busiest first.
pub const MAX_PATHS: u64 = 500;

/// What a filter box may be offered, from the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuggestField {
    /// Property keys.
    PropertyKey,
    /// The values of one property key (stored lower-case; the key is matched so).
    PropertyValue(String),
    /// User ids.
    UserId,
}

/// One suggestion: a value seen in the latest calls, and how many of them carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    /// The key, value or user id.
    pub value: String,
    /// Calls among the latest [`SUGGEST_SCAN`] that carry it.
    pub calls: u64,
}

/// How many of an organisation's latest calls suggestions are read from, so that a suggestion
/// costs the same however large the store grows.
pub const SUGGEST_SCAN: u64 = 10_000;

/// The most suggestions one answer holds.
pub const MAX_SUGGESTIONS: u64 = 100;

/// Totals over every session a query matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionAggregate {
    /// Sessions matched.
    pub count: u64,
    /// Sum of their costs, nano-USD.
    pub total_cost_nano: i64,
    /// Sum of their calls.
    pub total_requests: u64,
    /// Sum of their calls' latencies, ms.
    pub latency_sum_ms: i64,
}

/// One session name and how it has been used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionNameRow {
    /// The name.
    pub name: String,
    /// Sessions with this name.
    pub session_count: u64,
    /// Earliest first call of those sessions, Unix ms.
    pub first_used_ms: i64,
    /// Latest call of those sessions, Unix ms.
    pub last_used_ms: i64,
    /// Sum of their costs, nano-USD.
    pub total_cost_nano: i64,
    /// Sum of their calls.
    pub total_requests: u64,
    /// Sum of their durations, ms.
    pub total_duration_ms: i64,
    /// Sum of their calls' latencies, ms.
    pub latency_sum_ms: i64,
}

/// The values one session contributes to the metrics histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPoint {
    /// Calls in the session.
    pub requests: u64,
    /// Last response end minus first request start, ms.
    pub duration_ms: i64,
    /// Cost, nano-USD.
    pub cost_nano: i64,
}
