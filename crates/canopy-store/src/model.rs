//! Shapes the query side returns that are not call records.

use serde::{Deserialize, Serialize};

/// A session's totals, kept at write time in the sessions table.
///
/// Totals cover every call of the session, whenever it was made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    /// The session id, as the caller sent it.
    pub session_id: String,
    /// The latest non-empty name any of its calls carried.
    pub name: Option<String>,
    /// Start of the earliest call, Unix ms.
    pub first_request_at_ms: i64,
    /// Start of the latest call, Unix ms.
    pub last_request_at_ms: i64,
    /// End of the latest-ending response, Unix ms.
    pub last_response_at_ms: i64,
    /// Number of calls.
    pub request_count: u64,
    /// Calls that failed (negative status or 4xx/5xx).
    pub error_count: u64,
    /// Sum of prompt tokens.
    pub prompt_tokens: u64,
    /// Sum of completion tokens.
    pub completion_tokens: u64,
    /// Sum of the known costs, nano-USD.
    pub cost_nano_usd: i64,
    /// Calls whose cost is unknown (model not in the catalog).
    pub unpriced_count: u64,
    /// Sum of call latencies, for the average.
    pub latency_sum_ms: i64,
    /// Distinct end-user ids, sorted.
    pub user_ids: Vec<String>,
    /// The session's feedback: thumbs-up, thumbs-down, or none yet.
    pub feedback: Option<bool>,
}

impl SessionSummary {
    /// Last response end minus first request start.
    pub fn duration_ms(&self) -> i64 {
        (self.last_response_at_ms.max(self.last_request_at_ms) - self.first_request_at_ms).max(0)
    }

    /// Prompt plus completion tokens.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// Who is calling: the organisation every read and write is scoped to, and the key used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The organisation.
    pub org_id: String,
    /// The key's id, or `None` when Canopy runs open.
    pub key_id: Option<String>,
}
