//! From one OTLP span to what Canopy records: the span's kind (an LLM call, a tool or
//! retrieval step, or neither), the session attributes it names itself, and its call record.
//!
//! Two attribute vocabularies are read: the OpenTelemetry GenAI semantic conventions (`gen_ai.*`,
//! including the older `gen_ai.prompt.N.*` / `gen_ai.completion.N.*` that OpenLLMetry writes,
//! and its `traceloop.*` / `llm.*` attributes) and OpenInference's (`openinference.span.kind`,
//! `llm.*`, `input.value`, `output.value`, `session.id`, `user.id`). Pure: no I/O, no clock.

use std::collections::BTreeMap;

use canopy_core::completion;
use canopy_core::extract::ResponseFacts;
use canopy_core::pricing::PriceCatalog;
use canopy_core::record::StoredBody;
use canopy_core::trace::{PARENT_SPAN_ID_PROPERTY, SPAN_ID_PROPERTY, TRACE_ID_PROPERTY, hex};
use canopy_core::usage::Usage;
use canopy_core::{CallId, CallKind, CallRecord};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::proto;

/// The longest id, name, path or user kept from an attribute, in bytes (the headers' bound).
const MAX_SESSION_ID: usize = 256;
const MAX_PATH: usize = 1024;

/// One span, in the neutral shape the buffer holds and the mapping reads.
#[derive(Debug, Clone)]
pub struct SpanIn {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent: Option<[u8; 8]>,
    pub name: String,
    pub start_ns: u64,
    pub end_ns: u64,
    /// The status message of a span whose status is ERROR (empty message: "error").
    pub error: Option<String>,
    /// The span's attributes over its resource's.
    pub attrs: Map<String, Value>,
    /// Events: name and attributes.
    pub events: Vec<(String, Map<String, Value>)>,
    /// About how much memory the span takes, for the buffer's bound.
    pub bytes: usize,
}

/// Why a span is rejected (reported in the partial success, not fatal for the request).
pub fn from_proto(span: &proto::Span, resource: &Map<String, Value>) -> Result<SpanIn, String> {
    let trace_id: [u8; 16] = span
        .trace_id
        .as_slice()
        .try_into()
        .ok()
        .filter(|id| *id != [0; 16])
        .ok_or_else(|| format!("span `{}` has no valid 16-byte trace id", span.name))?;
    let span_id: [u8; 8] = span
        .span_id
        .as_slice()
        .try_into()
        .ok()
        .filter(|id| *id != [0; 8])
        .ok_or_else(|| format!("span `{}` has no valid 8-byte span id", span.name))?;
    let parent = match span.parent_span_id.as_slice() {
        [] => None,
        bytes => Some(
            <[u8; 8]>::try_from(bytes)
                .map_err(|_| format!("span `{}` has an invalid parent span id", span.name))?,
        )
        .filter(|id| *id != [0; 8]),
    };
    if span.end_time_unix_nano < span.start_time_unix_nano {
        return Err(format!("span `{}` ends before it starts", span.name));
    }
    let mut attrs = resource.clone();
    for kv in &span.attributes {
        attrs.insert(
            kv.key.clone(),
            kv.value.as_ref().map_or(Value::Null, proto::any_to_json),
        );
    }
    let events: Vec<(String, Map<String, Value>)> = span
        .events
        .iter()
        .map(|e| {
            let attrs = e
                .attributes
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        kv.value.as_ref().map_or(Value::Null, proto::any_to_json),
                    )
                })
                .collect();
            (e.name.clone(), attrs)
        })
        .collect();
    let error = span
        .status
        .as_ref()
        .filter(|s| s.code == proto::STATUS_ERROR)
        .map(|s| {
            if s.message.is_empty() {
                "the span's status is ERROR".to_owned()
            } else {
                s.message.clone()
            }
        });
    let bytes = 256
        + span.name.len()
        + attrs
            .iter()
            .map(|(k, v)| k.len() + value_size(v))
            .sum::<usize>()
        + events
            .iter()
            .map(|(n, a)| {
                n.len()
                    + a.iter()
                        .map(|(k, v)| k.len() + value_size(v))
                        .sum::<usize>()
            })
            .sum::<usize>();
    Ok(SpanIn {
        trace_id,
        span_id,
        parent,
        name: span.name.clone(),
        start_ns: span.start_time_unix_nano,
        end_ns: span.end_time_unix_nano,
        error,
        attrs,
        events,
        bytes,
    })
}

fn value_size(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len() + 24,
        Value::Array(a) => a.iter().map(value_size).sum::<usize>() + 24,
        Value::Object(o) => {
            o.iter()
                .map(|(k, v)| k.len() + value_size(v))
                .sum::<usize>()
                + 24
        }
        _ => 16,
    }
}

/// A resource's attributes as JSON.
pub fn resource_attrs(resource: Option<&proto::Resource>) -> Map<String, Value> {
    resource
        .map(|r| {
            r.attributes
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        kv.value.as_ref().map_or(Value::Null, proto::any_to_json),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// An attribute key in one spelling: lower case, with `-` and `_` read as `.`, so that
/// `Helicone-Session-Id`, `helicone_session_id` and `helicone.session.id` are one key.
fn canonical(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '-' | '_' => '.',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// The first non-empty string (or number) among the attributes whose canonical key is in
/// `keys`, in the order of `keys`.
fn first(attrs: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    let found: BTreeMap<String, String> = attrs
        .iter()
        .filter_map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.trim().to_owned(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            (!text.is_empty()).then(|| (canonical(k), text))
        })
        .collect();
    keys.iter().find_map(|k| found.get(&canonical(k)).cloned())
}

fn bounded(text: String, max: usize) -> Option<String> {
    (text.len() <= max).then_some(text)
}

const SESSION_ID_KEYS: &[&str] = &[
    "helicone.session.id",
    "canopy.session.id",
    "session.id",
    "langfuse.session.id",
    "traceloop.association.properties.session.id",
    "gen_ai.conversation.id",
];
const SESSION_NAME_KEYS: &[&str] = &[
    "helicone.session.name",
    "canopy.session.name",
    "session.name",
    "traceloop.association.properties.session.name",
];
const SESSION_PATH_KEYS: &[&str] = &[
    "helicone.session.path",
    "canopy.session.path",
    "session.path",
    "traceloop.association.properties.session.path",
];
const USER_KEYS: &[&str] = &[
    "helicone.user.id",
    "user.id",
    "langfuse.user.id",
    "traceloop.association.properties.user.id",
    "enduser.id",
];

/// What a span says about its session itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnSession {
    pub id: Option<String>,
    pub name: Option<String>,
    pub path: Option<String>,
    pub user: Option<String>,
}

/// The session attributes a span carries itself (on it or its resource).
pub fn own_session(attrs: &Map<String, Value>) -> OwnSession {
    OwnSession {
        id: first(attrs, SESSION_ID_KEYS).and_then(|s| bounded(s, MAX_SESSION_ID)),
        name: first(attrs, SESSION_NAME_KEYS).and_then(|s| bounded(s, MAX_SESSION_ID)),
        path: first(attrs, SESSION_PATH_KEYS).and_then(|s| bounded(s, MAX_PATH)),
        user: first(attrs, USER_KEYS).and_then(|s| bounded(s, MAX_SESSION_ID)),
    }
}

fn text(attrs: &Map<String, Value>, key: &str) -> Option<String> {
    match attrs.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn count(attrs: &Map<String, Value>, keys: &[&str]) -> Option<u64> {
    keys.iter().find_map(|k| match attrs.get(*k) {
        Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Vector databases whose `db.system` marks a span as a retrieval step.
const VECTOR_DBS: &[&str] = &[
    "pinecone", "chroma", "qdrant", "weaviate", "milvus", "lancedb", "pgvector", "marqo",
];

/// What a span is: a model call, a tool or retrieval step, or none of these (`None`).
pub fn kind(attrs: &Map<String, Value>) -> Option<CallKind> {
    if let Some(kind) = text(attrs, "openinference.span.kind") {
        return match kind.to_ascii_uppercase().as_str() {
            "LLM" | "EMBEDDING" => Some(CallKind::Llm),
            "TOOL" => Some(CallKind::Tool),
            "RETRIEVER" | "RERANKER" => Some(CallKind::VectorDb),
            _ => None,
        };
    }
    if let Some(op) = text(attrs, "gen_ai.operation.name") {
        match op.as_str() {
            "chat" | "text_completion" | "generate_content" | "embeddings" | "completion" => {
                return Some(CallKind::Llm);
            }
            "execute_tool" => return Some(CallKind::Tool),
            _ => {}
        }
    }
    match text(attrs, "traceloop.span.kind").as_deref() {
        Some("tool") => return Some(CallKind::Tool),
        Some("workflow" | "task" | "agent") => return None,
        _ => {}
    }
    if text(attrs, "llm.request.type").is_some()
        || ((text(attrs, "gen_ai.system").is_some()
            || text(attrs, "gen_ai.provider.name").is_some())
            && (text(attrs, "gen_ai.request.model").is_some()
                || text(attrs, "gen_ai.response.model").is_some()))
    {
        return Some(CallKind::Llm);
    }
    if text(attrs, "db.system")
        .or_else(|| text(attrs, "db.system.name"))
        .is_some_and(|db| VECTOR_DBS.contains(&db.to_ascii_lowercase().as_str()))
    {
        return Some(CallKind::VectorDb);
    }
    None
}

/// Where a resolved span goes: its session and place in the tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    pub session_id: Option<String>,
    pub session_name: Option<String>,
    pub path: Option<String>,
    pub user_id: Option<String>,
}

/// A record id for a span, the same every time the span is sent (an exporter's retry is
/// stored once): a UUIDv7 whose time is the span's start and whose other bits are the span id
/// and part of the trace id.
pub fn record_id(span: &SpanIn) -> CallId {
    let ms = (span.start_ns / 1_000_000).min((1 << 48) - 1);
    let mut bytes = [0_u8; 16];
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    bytes[6..8].copy_from_slice(&span.trace_id[..2]);
    bytes[8..].copy_from_slice(&span.span_id);
    bytes[6] = 0x70 | (bytes[6] & 0x0f);
    bytes[8] = 0x80 | (bytes[8] & 0x3f);
    CallId(Uuid::from_bytes(bytes))
}

fn ms(ns: u64) -> i64 {
    i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX)
}

/// The record a span is stored as, or `None` for a span that is neither a call nor a step and
/// lies on no session.
pub fn record(
    span: &SpanIn,
    place: &Placement,
    org_id: &str,
    prices: &PriceCatalog,
) -> Option<CallRecord> {
    let attrs = &span.attrs;
    let kind = match kind(attrs) {
        Some(kind) => kind,
        None if place.session_id.is_some() => CallKind::Data,
        None => return None,
    };
    let provider = text(attrs, "gen_ai.provider.name")
        .or_else(|| text(attrs, "gen_ai.system"))
        .or_else(|| text(attrs, "llm.provider"))
        .or_else(|| text(attrs, "llm.system"))
        .map(|p| p.to_ascii_lowercase())
        .unwrap_or_else(|| "otel".to_owned());
    let request_model = match kind {
        CallKind::Llm => text(attrs, "gen_ai.request.model")
            .or_else(|| text(attrs, "llm.request.model"))
            .or_else(|| text(attrs, "llm.model_name")),
        _ => text(attrs, "gen_ai.tool.name")
            .or_else(|| text(attrs, "tool.name"))
            .or_else(|| Some(span.name.clone())),
    };
    let response_model = text(attrs, "gen_ai.response.model")
        .or_else(|| text(attrs, "llm.response.model"))
        .filter(|_| kind == CallKind::Llm);
    let start = ms(span.start_ns);
    let end = ms(span.end_ns);
    let status = match count(attrs, &["http.response.status_code", "http.status_code"]) {
        Some(code) if (100..600).contains(&code) => i32::try_from(code).unwrap_or(200),
        _ if span.error.is_some() => 500,
        _ => 200,
    };
    let mut properties = BTreeMap::new();
    properties.insert(TRACE_ID_PROPERTY.to_owned(), hex(&span.trace_id));
    properties.insert(SPAN_ID_PROPERTY.to_owned(), hex(&span.span_id));
    if let Some(parent) = span.parent {
        properties.insert(PARENT_SPAN_ID_PROPERTY.to_owned(), hex(&parent));
    }
    if let Some(id) = &place.session_id {
        properties.insert("Helicone-Session-Id".to_owned(), id.clone());
        if let Some(path) = &place.path {
            properties.insert("Helicone-Session-Path".to_owned(), path.clone());
        }
        if let Some(name) = &place.session_name {
            properties.insert("Helicone-Session-Name".to_owned(), name.clone());
        }
    }
    let mut record = CallRecord {
        id: record_id(span),
        org_id: org_id.to_owned(),
        created_at_ms: start,
        response_created_at_ms: Some(end),
        latency_ms: Some(end.saturating_sub(start)),
        provider: provider.clone(),
        target_url: String::new(),
        request_path: span.name.clone(),
        method: "POST".to_owned(),
        status,
        is_stream: matches!(
            attrs
                .get("llm.is_streaming")
                .or_else(|| attrs.get("gen_ai.request.stream")),
            Some(Value::Bool(true))
        ),
        request_model,
        session_id: place.session_id.clone(),
        session_path: place.session_id.as_ref().and(place.path.clone()),
        session_name: place.session_name.clone(),
        user_id: place.user_id.clone(),
        properties,
        request_body: body(request_body(span, kind)),
        response_body: body(response_body(span, kind)),
        error: span.error.clone(),
        kind,
        ..CallRecord::default()
    };
    if record.error.is_none() && status >= 400 {
        record.error = Some(format!("the span's call answered {status}"));
    }
    let facts = ResponseFacts {
        usage: usage(attrs),
        model: response_model,
        ..ResponseFacts::default()
    };
    completion::complete(&mut record, facts, true, |_| None, prices, &provider);
    Some(record)
}

fn body(value: Option<Value>) -> StoredBody {
    StoredBody {
        text: value.map(|v| match v {
            Value::String(s) => s,
            v => v.to_string(),
        }),
        truncated: false,
        omitted: false,
    }
}

/// Token counts, in Canopy's shape (detail counts are parts of the totals).
fn usage(attrs: &Map<String, Value>) -> Option<Usage> {
    let prompt = count(
        attrs,
        &[
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.prompt_tokens",
            "llm.token_count.prompt",
            "llm.usage.prompt_tokens",
        ],
    );
    let completion = count(
        attrs,
        &[
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.token_count.completion",
            "llm.usage.completion_tokens",
        ],
    );
    if prompt.is_none() && completion.is_none() {
        return None;
    }
    let cache_read = count(
        attrs,
        &[
            "gen_ai.usage.cache_read.input_tokens",
            "gen_ai.usage.cache_read_input_tokens",
            "llm.token_count.prompt_details.cache_read",
        ],
    )
    .unwrap_or(0);
    let cache_write = count(
        attrs,
        &[
            "gen_ai.usage.cache_creation.input_tokens",
            "gen_ai.usage.cache_creation_input_tokens",
            "llm.token_count.prompt_details.cache_write",
        ],
    )
    .unwrap_or(0);
    let reasoning = count(
        attrs,
        &[
            "gen_ai.usage.reasoning.output_tokens",
            "gen_ai.usage.reasoning_tokens",
            "llm.usage.reasoning_tokens",
            "llm.token_count.completion_details.reasoning",
        ],
    )
    .unwrap_or(0);
    let prompt = prompt.unwrap_or(0);
    let completion = completion.unwrap_or(0);
    Some(Usage {
        // Anthropic's instrumentations report input tokens without the cached ones.
        prompt_tokens: prompt.max(cache_read.saturating_add(cache_write)),
        completion_tokens: completion.max(reasoning),
        cache_read_tokens: cache_read,
        cache_write_tokens: cache_write,
        reasoning_tokens: reasoning,
        audio_input_tokens: count(attrs, &["llm.token_count.prompt_details.audio"]).unwrap_or(0),
        audio_output_tokens: count(attrs, &["llm.token_count.completion_details.audio"])
            .unwrap_or(0),
        ..Usage::default()
    })
}

/// Messages written as `<prefix>.N.<field>` attributes (`gen_ai.prompt.0.role`,
/// `llm.input_messages.0.message.content`), in index order.
fn indexed_messages(attrs: &Map<String, Value>, prefix: &str, inner: &str) -> Vec<Value> {
    let mut by_index: BTreeMap<u32, Map<String, Value>> = BTreeMap::new();
    for (key, value) in attrs {
        let Some(rest) = key.strip_prefix(prefix) else {
            continue;
        };
        let Some((index, field)) = rest.split_once('.') else {
            continue;
        };
        let Ok(index) = index.parse::<u32>() else {
            continue;
        };
        let field = field.strip_prefix(inner).unwrap_or(field);
        if matches!(field, "role" | "content" | "finish_reason" | "name") {
            by_index
                .entry(index)
                .or_default()
                .insert(field.to_owned(), value.clone());
        }
    }
    by_index.into_values().map(Value::Object).collect()
}

/// Messages from events: the GenAI conventions' `gen_ai.<role>.message` / `gen_ai.choice`
/// events, or the older `gen_ai.content.prompt` / `gen_ai.content.completion` ones.
fn event_messages(span: &SpanIn, output: bool) -> Option<Value> {
    let mut messages = Vec::new();
    for (name, attrs) in &span.events {
        let is_output = name == "gen_ai.choice" || name == "gen_ai.content.completion";
        if is_output != output {
            continue;
        }
        if let Some(text) =
            text(attrs, "gen_ai.prompt").or_else(|| text(attrs, "gen_ai.completion"))
        {
            return Some(serde_json::from_str(&text).unwrap_or(Value::String(text)));
        }
        if let Some(role) = name
            .strip_prefix("gen_ai.")
            .and_then(|r| r.strip_suffix(".message"))
        {
            let mut m = attrs.clone();
            m.entry("role")
                .or_insert_with(|| Value::String(role.to_owned()));
            messages.push(Value::Object(m));
        } else if name == "gen_ai.choice" {
            messages.push(Value::Object(attrs.clone()));
        }
    }
    (!messages.is_empty()).then_some(Value::Array(messages))
}

fn parsed(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

fn request_body(span: &SpanIn, kind: CallKind) -> Option<Value> {
    let attrs = &span.attrs;
    if let Some(input) = text(attrs, "input.value") {
        return Some(parsed(input));
    }
    if kind != CallKind::Llm {
        return text(attrs, "gen_ai.tool.call.arguments")
            .or_else(|| text(attrs, "traceloop.entity.input"))
            .map(parsed);
    }
    let messages = text(attrs, "gen_ai.input.messages")
        .map(parsed)
        .or_else(|| {
            let m = indexed_messages(attrs, "gen_ai.prompt.", "");
            (!m.is_empty()).then_some(Value::Array(m))
        })
        .or_else(|| {
            let m = indexed_messages(attrs, "llm.input_messages.", "message.");
            (!m.is_empty()).then_some(Value::Array(m))
        })
        .or_else(|| event_messages(span, false))?;
    let model = text(attrs, "gen_ai.request.model").or_else(|| text(attrs, "llm.model_name"));
    Some(json!({"model": model, "messages": messages}))
}

fn response_body(span: &SpanIn, kind: CallKind) -> Option<Value> {
    let attrs = &span.attrs;
    if let Some(output) = text(attrs, "output.value") {
        return Some(parsed(output));
    }
    if kind != CallKind::Llm {
        return text(attrs, "gen_ai.tool.call.result")
            .or_else(|| text(attrs, "traceloop.entity.output"))
            .map(parsed);
    }
    let choices = text(attrs, "gen_ai.output.messages")
        .map(parsed)
        .or_else(|| {
            let m = indexed_messages(attrs, "gen_ai.completion.", "");
            (!m.is_empty()).then_some(Value::Array(m))
        })
        .or_else(|| {
            let m = indexed_messages(attrs, "llm.output_messages.", "message.");
            (!m.is_empty()).then_some(Value::Array(m))
        })
        .or_else(|| event_messages(span, true))?;
    let choices = match choices {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, m)| json!({"index": i, "message": m}))
                .collect(),
        ),
        other => other,
    };
    Some(json!({"choices": choices}))
}

#[cfg(test)]
mod tests;
