//! The record Canopy writes for every proxied call, exactly once.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::usage::Usage;

/// Status of a call that failed before the upstream answered: the upstream could not be reached.
pub const STATUS_UPSTREAM_UNREACHABLE: i32 = -1;
/// Status of a call whose upstream did not answer in time.
pub const STATUS_UPSTREAM_TIMEOUT: i32 = -2;
/// Status of a call whose client went away before the response ended.
pub const STATUS_CLIENT_CANCELLED: i32 = -3;

/// The id of one call: a UUIDv7 chosen by Canopy, or the caller's `Helicone-Request-Id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallId(pub Uuid);

impl CallId {
    /// A new time-ordered id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// Parses a caller-chosen id; any UUID version is accepted.
    pub fn parse(text: &str) -> Option<Self> {
        Uuid::try_parse(text.trim()).ok().map(Self)
    }

    /// Writes the id as `Display` does (hyphenated, lower case) into `buffer`, without
    /// allocating.
    pub fn encode<'b>(&self, buffer: &'b mut [u8; uuid::fmt::Hyphenated::LENGTH]) -> &'b str {
        self.0.hyphenated().encode_lower(buffer)
    }

    /// The id as text, allocated once at its length (`to_string` grows its string three
    /// times on the way).
    pub fn text(&self) -> String {
        self.encode(&mut [0; uuid::fmt::Hyphenated::LENGTH])
            .to_owned()
    }
}

impl Default for CallId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Where a record's token counts came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageSource {
    /// The provider reported them.
    Reported,
    /// Canopy counted them with a tokenizer because the provider reported none.
    Estimated,
    /// Neither: the call failed, or its body could not be read.
    #[default]
    None,
}

impl UsageSource {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reported => "reported",
            Self::Estimated => "estimated",
            Self::None => "none",
        }
    }

    /// Parses the stored spelling; anything unknown is `None`.
    pub fn from_stored(text: &str) -> Self {
        match text {
            "reported" => Self::Reported,
            "estimated" => Self::Estimated,
            _ => Self::None,
        }
    }
}

/// What a recorded call was: an LLM call through the proxy, or a step logged through the
/// custom-log API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// A call to a model, proxied (or logged as one).
    #[default]
    Llm,
    /// A tool or function the application ran.
    Tool,
    /// A vector database operation.
    VectorDb,
    /// Any other data step.
    Data,
}

impl CallKind {
    /// The stored spelling, as Helicone's `_type` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Llm => "llm",
            Self::Tool => "tool",
            Self::VectorDb => "vector_db",
            Self::Data => "data",
        }
    }

    /// Parses the stored spelling.
    pub fn from_stored(text: &str) -> Option<Self> {
        match text {
            "llm" => Some(Self::Llm),
            "tool" => Some(Self::Tool),
            "vector_db" => Some(Self::VectorDb),
            "data" => Some(Self::Data),
            _ => None,
        }
    }
}

/// A request or response body as stored: its text, capped in size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBody {
    /// The body as text (invalid UTF-8 replaced), or `None` when omitted or empty.
    pub text: Option<String>,
    /// The body was longer than the cap and `text` holds only its start.
    pub truncated: bool,
    /// The caller asked for the body not to be kept (`Helicone-Omit-*`).
    pub omitted: bool,
}

/// Everything Canopy records about one proxied call.
///
/// Built by the gateway's capture guard and handed to the writer once, when the response ends,
/// fails or is abandoned. Times are Unix milliseconds; cost is integer nano-USD (1e-9 USD).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The call's id, also sent back to the client as `Helicone-Id`.
    pub id: CallId,
    /// Whether the caller chose `id` (`Helicone-Request-Id`, a logged call's id) rather than
    /// Canopy. Only such an id can already be taken in its organisation; the store then keeps
    /// both calls, giving this one a fresh id (see `canopy_store::ids`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub id_from_caller: bool,
    /// The organisation that owns the call.
    pub org_id: String,
    /// The Canopy key the call was made with, if any.
    pub key_id: Option<String>,
    /// When the request arrived.
    pub created_at_ms: i64,
    /// When the response ended (or failed).
    pub response_created_at_ms: Option<i64>,
    /// Request start to the last byte of the response.
    pub latency_ms: Option<i64>,
    /// Request start to the first byte of the response body, for streams.
    pub time_to_first_token_ms: Option<i64>,
    /// The provider's name as routed (`openai`, `anthropic`, a configured name, `gateway`).
    pub provider: String,
    /// The full upstream URL the call was sent to.
    pub target_url: String,
    /// The path the client called on Canopy, route prefix included (`/anthropic/v1/messages`).
    pub request_path: String,
    /// The HTTP method.
    pub method: String,
    /// The upstream's HTTP status, or one of the negative `STATUS_*` codes.
    pub status: i32,
    /// Whether the response was a stream.
    pub is_stream: bool,
    /// The model named in the request body.
    pub request_model: Option<String>,
    /// The model named in the response.
    pub response_model: Option<String>,
    /// The catalog model the cost was priced with.
    pub pricing_model: Option<String>,
    /// Token counts.
    pub usage: Usage,
    /// Where the token counts came from.
    pub usage_source: UsageSource,
    /// Cost in nano-USD, or `None` when the model is not in the catalog.
    pub cost_nano_usd: Option<i64>,
    /// The session the call belongs to.
    pub session_id: Option<String>,
    /// The call's place in the session tree, normalised (`/a/b`).
    pub session_path: Option<String>,
    /// The session's kind.
    pub session_name: Option<String>,
    /// The end user.
    pub user_id: Option<String>,
    /// The prompt id.
    pub prompt_id: Option<String>,
    /// Custom properties, including the `Helicone-Session-*` and `Helicone-Prompt-Id` values.
    pub properties: BTreeMap<String, String>,
    /// The request body as sent upstream.
    pub request_body: StoredBody,
    /// The response body as received from upstream.
    pub response_body: StoredBody,
    /// Request headers as received, credentials redacted, Canopy's own headers included.
    pub request_headers: BTreeMap<String, String>,
    /// Why the call failed, when Canopy itself failed it or the upstream returned an error.
    pub error: Option<String>,
    /// An LLM call, or a tool / vector-DB / data step logged through the custom-log API.
    #[serde(default)]
    pub kind: CallKind,
}

impl CallRecord {
    /// Whether the call is a model call whose model is not in the price catalog.
    pub fn is_unpriced_model_call(&self) -> bool {
        self.kind == CallKind::Llm
            && self.cost_nano_usd.is_none()
            && (self.request_model.is_some() || self.response_model.is_some())
    }

    /// Whether the call counts as an error in session totals: a failed status, or an error
    /// text (an upstream body that broke mid-stream keeps its 200 but failed).
    pub fn is_error(&self) -> bool {
        self.status < 0 || self.status >= 400 || self.error.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ids_text_is_its_display() {
        let id = CallId::new();
        assert_eq!(id.text(), id.to_string());
        assert_eq!(id.encode(&mut [0; 36]), id.to_string());
    }
}
