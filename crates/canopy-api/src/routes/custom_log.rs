//! `POST /custom/v1/log` (and `/v1/trace/custom/log`): record a step Canopy did not proxy.
//!
//! Helicone's body: `{providerRequest: {url, json, meta}, providerResponse: {json, textBody,
//! status, headers}, timing: {startTime, endTime, timeToFirstToken}, provider}`, where
//! `json._type` is `tool`, `vector_db` or `data` (absent: an LLM call logged by hand). The step is
//! recorded like a proxied call, through the same writer, so it joins its session's totals.
//!
//! Session fields are read, first match wins, from the HTTP headers, then `meta` keys named
//! like the headers (`Helicone-Session-Id`, ...), then the `meta` keys `session_id`,
//! `session_path` and `session_name` that Helicone's own examples use.

use canopy_store::now_ms;
use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use canopy_core::extract::{self, WireFormat};
use canopy_core::headers::CallHeaders;
use canopy_core::record::StoredBody;
use canopy_core::{CallKind, CallRecord, UsageSource};
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
    let record = record(&state, &org.org_id, &headers, &body)?;
    let id = record.id.to_string();
    state.ingest.submit(record);
    Ok(ok(Logged { request_id: id }))
}

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
    let ttft = timing
        .and_then(|t| t.get("timeToFirstToken"))
        .and_then(Value::as_i64);

    let call = call_headers(headers, &meta);
    let response_json = response.get("json").filter(|v| !v.is_null());
    let response_text = match (
        response.get("textBody").and_then(Value::as_str),
        response_json,
    ) {
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
        latency_ms: Some(end - start),
        time_to_first_token_ms: ttft,
        provider: body
            .get("provider")
            .and_then(Value::as_str)
            .map_or_else(|| "custom".to_owned(), str::to_ascii_lowercase),
        target_url: url.clone(),
        request_path: url,
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
    if kind == CallKind::Llm {
        price(state, &mut record, response_json);
    }
    Ok(record)
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

/// Reads usage from a logged LLM response and prices it.
fn price(state: &ApiState, record: &mut CallRecord, response: Option<&Value>) {
    let Some(response) = response else { return };
    let format = if record.provider == "anthropic" {
        WireFormat::Anthropic
    } else {
        WireFormat::Openai
    };
    let facts = extract::from_body(format, response.to_string().as_bytes());
    record.response_model = facts.model;
    if let Some(usage) = facts.usage {
        record.usage = usage;
        record.usage_source = UsageSource::Reported;
    }
    let model = record
        .response_model
        .clone()
        .or_else(|| record.request_model.clone());
    if let Some((matched, cost)) =
        model.and_then(|m| state.prices.price(&record.provider, &m, &record.usage))
    {
        record.pricing_model = Some(matched.to_owned());
        record.cost_nano_usd = Some(cost);
    }
}
