//! `POST /custom/v1/log` (and `/v1/trace/custom/log`): record a step Canopy did not proxy;
//! `POST /oai/v1/log` and `/anthropic/v1/log`: the same body for an OpenAI or Anthropic call
//! logged by hand, where Helicone's manual-logger helpers post when given a provider.
//!
//! Helicone's body: `{providerRequest: {url, json, meta}, providerResponse: {json, textBody,
//! status, headers}, timing: {startTime, endTime, timeToFirstToken}, provider}`, where
//! `json._type` is `tool`, `vector_db` or `data` (absent: an LLM call logged by hand). The step is
//! recorded like a proxied call, through the same writer, so it joins its session's totals.
//!
//! Session fields are read, first match wins, from the HTTP headers, then `meta` keys named
//! like the headers (`Helicone-Session-Id`, ...), then the `meta` keys `session_id`,
//! `session_path` and `session_name` that Helicone's own examples use.
//!
//! Usage is read from `providerResponse.json`, or, when that is empty, from
//! `providerResponse.textBody`, where the helpers' streaming recipe puts the chunks (JSON lines
//! or SSE). The record is completed by the rules every ingest path shares
//! ([`canopy_core::completion`]): figures are bounded, URLs redacted, and a priced model whose
//! usage is unknown costs null, never 0.

use canopy_store::now_ms;
use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use canopy_core::completion;
use canopy_core::extract::{self, ResponseFacts, WireFormat};
use canopy_core::headers::CallHeaders;
use canopy_core::record::StoredBody;
use canopy_core::{CallKind, CallRecord};
use serde_json::{Map, Value};

use crate::ApiState;
use crate::error::{ApiError, ApiResult, Envelope, ok};
use crate::extract::{ApiJson, Org};

/// What a logged step was recorded as.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Logged {
    /// The recorded call's id.
    pub request_id: String,
}

/// Records one non-proxied step.
#[utoipa::path(post, path = "/api/custom/v1/log", request_body(content = Object, description = "Helicone's custom log body"),
    responses((status = 200, body = Envelope<Logged>), (status = 400, body = Envelope<String>)))]
pub async fn log(
    State(state): State<ApiState>,
    Org(org): Org,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Envelope<Logged>>> {
    submit(&state, &org.org_id, &headers, &body, None)
}

/// Records an OpenAI call logged by hand (Helicone's manual logger with the OpenAI provider).
#[utoipa::path(post, path = "/api/oai/v1/log", request_body(content = Object, description = "Helicone's custom log body; usage is also read from providerResponse.textBody (JSON lines or SSE)"),
    responses((status = 200, body = Envelope<Logged>), (status = 400, body = Envelope<String>)))]
pub async fn log_openai(
    State(state): State<ApiState>,
    Org(org): Org,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Envelope<Logged>>> {
    submit(
        &state,
        &org.org_id,
        &headers,
        &body,
        Some(WireFormat::Openai),
    )
}

/// Records an Anthropic call logged by hand (Helicone's manual logger with the Anthropic
/// provider).
#[utoipa::path(post, path = "/api/anthropic/v1/log", request_body(content = Object, description = "Helicone's custom log body; usage is also read from providerResponse.textBody (JSON lines or SSE)"),
    responses((status = 200, body = Envelope<Logged>), (status = 400, body = Envelope<String>)))]
pub async fn log_anthropic(
    State(state): State<ApiState>,
    Org(org): Org,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Envelope<Logged>>> {
    submit(
        &state,
        &org.org_id,
        &headers,
        &body,
        Some(WireFormat::Anthropic),
    )
}

/// Builds, completes and hands over the record of one logged step. `route_format` is the
/// provider format the route names, if any.
fn submit(
    state: &ApiState,
    org_id: &str,
    headers: &HeaderMap,
    body: &Value,
    route_format: Option<WireFormat>,
) -> ApiResult<Json<Envelope<Logged>>> {
    let record = record(state, org_id, headers, body, route_format)?;
    let id = record.id.to_string();
    state.ingest.submit(record);
    Ok(ok(Logged { request_id: id }))
}

/// 2000-01-01T00:00:00Z: no logged call is older.
const EARLIEST_LOGGED_MS: i64 = 946_684_800_000;
const DAY_MS: i64 = 86_400_000;

fn bad(field: &str, what: &str) -> ApiError {
    ApiError::BadRequest(format!("{field} {what}"))
}

fn object<'a>(value: &'a Value, field: &str) -> ApiResult<&'a Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| bad(field, "must be an object"))
}

/// Builds the record a logged step is stored as.
fn record(
    state: &ApiState,
    org_id: &str,
    headers: &HeaderMap,
    body: &Value,
    route_format: Option<WireFormat>,
) -> ApiResult<CallRecord> {
    let body = object(body, "the body")?;
    let request = object(
        body.get("providerRequest")
            .ok_or_else(|| bad("providerRequest", "is required"))?,
        "providerRequest",
    )?;
    let response = match body.get("providerResponse") {
        Some(v) => object(v, "providerResponse")?.clone(),
        None => Map::new(),
    };
    let request_json = match request.get("json") {
        Some(v) => object(v, "providerRequest.json")?.clone(),
        None => Map::new(),
    };
    let meta = match request.get("meta") {
        Some(v) => object(v, "providerRequest.meta")?.clone(),
        None => Map::new(),
    };
    let kind = match request_json.get("_type") {
        None => CallKind::Llm,
        Some(Value::String(t)) => CallKind::from_stored(t)
            .filter(|k| *k != CallKind::Llm)
            .ok_or_else(|| {
                bad(
                    "providerRequest.json._type",
                    &format!("must be `tool`, `vector_db` or `data`, got `{t}`"),
                )
            })?,
        Some(_) => return Err(bad("providerRequest.json._type", "must be a string")),
    };
    let url = match request.get("url") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(u)) => u.clone(),
        Some(_) => return Err(bad("providerRequest.url", "must be a string")),
    };
    let status = match response.get("status") {
        None | Some(Value::Null) => 200,
        Some(v) => v
            .as_i64()
            .and_then(|s| i32::try_from(s).ok())
            .ok_or_else(|| bad("providerResponse.status", "must be an integer"))?,
    };
    let timing = match body.get("timing") {
        None | Some(Value::Null) => None,
        Some(v) => Some(object(v, "timing")?),
    };
    let now = now_ms();
    let start = timing
        .and_then(|t| t.get("startTime"))
        .map(|v| time_ms(v, "timing.startTime"))
        .transpose()?
        .unwrap_or(now);
    let end = timing
        .and_then(|t| t.get("endTime"))
        .map(|v| time_ms(v, "timing.endTime"))
        .transpose()?
        .unwrap_or(start);
    if end < start {
        return Err(bad("timing.endTime", "must not be before timing.startTime"));
    }
    // A logged call happened: not before 2000, not more than a day from now.
    let (earliest, latest) = (EARLIEST_LOGGED_MS, now.saturating_add(DAY_MS));
    for (field, at) in [("timing.startTime", start), ("timing.endTime", end)] {
        if !(earliest..=latest).contains(&at) {
            return Err(bad(
                field,
                "must be after 2000-01-01 and at most a day from now",
            ));
        }
    }
    let ttft = timing
        .and_then(|t| t.get("timeToFirstToken"))
        .and_then(Value::as_i64);

    let call = call_headers(headers, &meta);
    // The helpers' streaming recipe sends `json: {}` with the chunks in `textBody`.
    let response_json = response
        .get("json")
        .filter(|v| !v.is_null() && v.as_object().is_none_or(|o| !o.is_empty()));
    let text_body = response.get("textBody").and_then(Value::as_str);
    let response_text = match (text_body, response_json) {
        (Some(text), _) => Some(text.to_owned()),
        (None, Some(json)) => Some(json.to_string()),
        (None, None) => None,
    };
    let request_text = Value::Object(request_json.clone()).to_string();
    let model = ["model", "toolName", "databaseName"]
        .iter()
        .find_map(|k| request_json.get(*k).and_then(Value::as_str))
        .map(str::to_owned);

    let mut record = CallRecord {
        id: call.request_id.unwrap_or_default(),
        id_from_caller: call.request_id.is_some(),
        org_id: org_id.to_owned(),
        created_at_ms: start,
        response_created_at_ms: Some(end),
        latency_ms: Some(end.saturating_sub(start)),
        time_to_first_token_ms: ttft,
        provider: body
            .get("provider")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| default_provider(route_format).to_owned()),
        request_path: path_of(&url),
        target_url: url,
        method: "POST".to_owned(),
        status,
        request_model: model,
        session_id: call.session_id.clone(),
        session_path: call.session_id.as_ref().and(call.session_path.clone()),
        session_name: call.session_name.clone().filter(|n| !n.is_empty()),
        user_id: call.user_id.clone(),
        prompt_id: call.prompt_id.clone(),
        properties: call.properties.clone(),
        request_body: stored(request_text, call.omit_request),
        response_body: response_text
            .map_or_else(StoredBody::default, |t| stored(t, call.omit_response)),
        kind,
        ..CallRecord::default()
    };
    if status >= 400 {
        record.error = Some(format!("the logged step answered {status}"));
    }
    let format = route_format.unwrap_or(if record.provider == "anthropic" {
        WireFormat::Anthropic
    } else {
        WireFormat::Openai
    });
    let facts = match (kind, response_json, text_body) {
        (CallKind::Llm, Some(json), _) => extract::from_body(format, json.to_string().as_bytes()),
        (CallKind::Llm, None, Some(text)) => {
            let facts = extract::from_logged_text(format, text);
            record.is_stream = !text.trim_start().starts_with('{') || text.lines().count() > 1;
            facts
        }
        _ => ResponseFacts::default(),
    };
    // No tokenizer here: a priced model with no usage in the log costs null, never 0.
    let provider = record.provider.clone();
    completion::complete(&mut record, facts, true, |_| None, &state.prices, &provider);
    Ok(record)
}

/// The provider a logged call is recorded under when the body names none.
fn default_provider(route_format: Option<WireFormat>) -> &'static str {
    match route_format {
        Some(WireFormat::Openai) => "openai",
        Some(WireFormat::Anthropic) => "anthropic",
        Some(WireFormat::Gemini) => "gemini",
        None => "custom",
    }
}

/// The path of a logged `http(s)` URL (`https://api.openai.com/v1/chat/completions` gives
/// `/v1/chat/completions`), parsed as a URL, so that a host never sits where a path is read;
/// other text (`tool`, `tool://lookup`) is kept as it was sent.
fn path_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => parsed.path().to_owned(),
        _ => url.to_owned(),
    }
}

/// Reads Canopy's headers from HTTP headers, `meta` keys named like headers, and the plain
/// `session_*` keys of `meta`, in that order of precedence.
fn call_headers(headers: &HeaderMap, meta: &Map<String, Value>) -> CallHeaders {
    let mut pairs: BTreeMap<String, String> = BTreeMap::new();
    for (key, header) in [
        ("session_id", "helicone-session-id"),
        ("session_path", "helicone-session-path"),
        ("session_name", "helicone-session-name"),
    ] {
        if let Some(value) = meta.get(key).and_then(Value::as_str) {
            pairs.insert(header.to_owned(), value.to_owned());
        }
    }
    for (key, value) in meta {
        if let Some(value) = value.as_str() {
            pairs.insert(key.to_ascii_lowercase(), value.to_owned());
        }
    }
    for (name, value) in headers {
        if let Ok(value) = value.to_str() {
            pairs.insert(name.as_str().to_owned(), value.to_owned());
        }
    }
    // An unusable value here is dropped rather than refusing the log: the step still happened.
    CallHeaders::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).0
}

/// A time as Helicone's clients send it: `{seconds, milliseconds}`, a string of digits
/// (seconds, or milliseconds when large), a date-time string, or a number.
fn time_ms(value: &Value, field: &str) -> ApiResult<i64> {
    let parsed = match value {
        Value::Object(o) => o.get("seconds").and_then(Value::as_f64).map(|s| {
            let ms = o.get("milliseconds").and_then(Value::as_f64).unwrap_or(0.0);
            (s * 1000.0 + ms) as i64
        }),
        Value::String(s) => crate::time::parse(s),
        Value::Number(n) => n.as_f64().map(|n| {
            if n < 1e11 {
                (n * 1000.0) as i64
            } else {
                n as i64
            }
        }),
        _ => None,
    };
    parsed.ok_or_else(|| {
        bad(
            field,
            "must be {\"seconds\": N, \"milliseconds\": N}, a date-time string or a number",
        )
    })
}

fn stored(text: String, omitted: bool) -> StoredBody {
    if omitted {
        StoredBody {
            text: None,
            truncated: false,
            omitted: true,
        }
    } else {
        StoredBody {
            text: Some(text),
            truncated: false,
            omitted: false,
        }
    }
}
