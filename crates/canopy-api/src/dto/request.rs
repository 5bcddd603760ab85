//! Request queries and rows (`/v1/request/*`).

use std::collections::BTreeMap;

use canopy_core::CallRecord;
use canopy_store::query::filter::{self, Filter};
use canopy_store::query::{CallQuery, CallSortKey, MAX_CALL_LIMIT};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{body_value, usd};
use crate::error::ApiError;
use crate::time::iso;

/// The score name Helicone stores feedback under.
pub const FEEDBACK_SCORE: &str = "helicone-score-feedback";

/// Body of `POST /v1/request/query` and `/count/query`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct RequestQueryParams {
    /// Helicone's filter tree; `"all"` or `{}` for everything.
    #[schema(schema_with = super::filter_schema)]
    pub filter: Option<serde_json::Value>,
    /// Rows to skip.
    pub offset: Option<u64>,
    /// Page size (default 10, at most 1000).
    #[schema(maximum = 1000)]
    pub limit: Option<u64>,
    /// `{"created_at": "desc"}` and the other sort keys Helicone accepts.
    #[schema(schema_with = sort_schema)]
    pub sort: Option<serde_json::Value>,
    /// `{"key": "request_created_at", "direction": "asc"}`, as Helicone's replay cookbook sends.
    #[serde(deserialize_with = "super::object_only")]
    pub sort_by: Option<SortBy>,
}

/// The cookbook's sort form.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SortBy {
    /// A sort key.
    #[schema(schema_with = sort_key_schema)]
    pub key: String,
    /// `asc` or `desc`.
    #[serde(default)]
    #[schema(schema_with = direction_schema)]
    pub direction: Option<String>,
}

/// Every sort key [`RequestQueryParams`] accepts.
pub const SORT_KEYS: &[&str] = &[
    "created_at",
    "request_created_at",
    "latency",
    "delay_ms",
    "cost",
    "cost_usd",
    "costUSD",
    "total_tokens",
    "prompt_tokens",
    "completion_tokens",
    "status",
    "response_status",
];

fn sort_key_schema() -> utoipa::openapi::schema::Object {
    super::one_of(SORT_KEYS)
}

fn direction_schema() -> utoipa::openapi::schema::Object {
    super::one_of_or_null(&["asc", "desc"])
}

/// `{"<sort key>": "asc" | "desc"}`; the first key is used.
fn sort_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .property_names(Some(sort_key_schema()))
        .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::RefOr(
            direction_schema().into(),
        )))
        .description(Some(
            "`{\"created_at\": \"desc\"}`: a sort key and its direction.",
        ))
        .build()
}

/// Parses a filter, or everything when absent.
pub fn parse_filter(value: Option<&serde_json::Value>) -> Result<Filter, ApiError> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(Filter::All),
        Some(value) => filter::parse(value).map_err(|e| ApiError::BadRequest(e.to_string())),
    }
}

fn sort_key(key: &str) -> Result<CallSortKey, ApiError> {
    Ok(match key {
        "created_at" | "request_created_at" => CallSortKey::CreatedAt,
        "latency" | "delay_ms" => CallSortKey::Latency,
        "cost" | "cost_usd" | "costUSD" => CallSortKey::Cost,
        "total_tokens" => CallSortKey::TotalTokens,
        "prompt_tokens" => CallSortKey::PromptTokens,
        "completion_tokens" => CallSortKey::CompletionTokens,
        "status" | "response_status" => CallSortKey::Status,
        other => return Err(ApiError::BadRequest(format!("unknown sort key `{other}`"))),
    })
}

pub(super) fn descending(direction: Option<&str>) -> Result<bool, ApiError> {
    match direction.map(str::to_ascii_lowercase).as_deref() {
        None | Some("desc") => Ok(true),
        Some("asc") => Ok(false),
        Some(other) => Err(ApiError::BadRequest(format!(
            "sort direction must be `asc` or `desc`, got `{other}`"
        ))),
    }
}

impl RequestQueryParams {
    /// Validates the body into a store query.
    pub fn to_query(&self) -> Result<CallQuery, ApiError> {
        // Both sort forms are checked; `sort_by` wins when both are sent.
        let sort = match &self.sort {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Object(sort)) => {
                // The first key sorts; every key must still be a valid sort.
                let mut keys = Vec::with_capacity(sort.len());
                for (key, direction) in sort {
                    let direction = match direction {
                        serde_json::Value::String(d) => Some(d.as_str()),
                        serde_json::Value::Null => None,
                        _ => {
                            return Err(ApiError::BadRequest(format!(
                                "sort.{key} must be `asc` or `desc`"
                            )));
                        }
                    };
                    keys.push((sort_key(key)?, descending(direction)?));
                }
                keys.first().copied()
            }
            Some(_) => {
                return Err(ApiError::BadRequest(
                    "sort must be an object like {\"created_at\": \"desc\"}".into(),
                ));
            }
        };
        let sort_by = match &self.sort_by {
            Some(by) => Some((sort_key(&by.key)?, descending(by.direction.as_deref())?)),
            None => None,
        };
        let (sort, descending) = sort_by.or(sort).unwrap_or((CallSortKey::CreatedAt, true));
        let limit = self.limit.unwrap_or(10);
        if limit > MAX_CALL_LIMIT {
            return Err(ApiError::BadRequest(format!(
                "limit must be at most {MAX_CALL_LIMIT}, got {limit}"
            )));
        }
        Ok(CallQuery {
            filter: parse_filter(self.filter.as_ref())?,
            sort,
            descending,
            limit,
            offset: super::offset(self.offset)?,
        })
    }
}

/// One request, under Helicone's field names, with Canopy's additions at the end.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[expect(non_snake_case, reason = "costUSD is Helicone's field name")]
pub struct RequestRow {
    pub request_id: String,
    pub request_created_at: String,
    /// The URL the call was made to on Canopy (`http://host/v1/chat/completions`); a replay can post to it.
    pub request_path: String,
    pub request_user_id: Option<String>,
    pub request_properties: BTreeMap<String, String>,
    pub request_model: Option<String>,
    pub model_override: Option<String>,
    /// The stored body: JSON as parsed, other text (a raw SSE stream) as a string, or null.
    pub request_body: serde_json::Value,
    pub response_id: String,
    pub response_created_at: Option<String>,
    /// The upstream's status, or Canopy's negative codes (−1 unreachable, −2 timeout, −3 client cancelled).
    pub response_status: i32,
    pub response_model: Option<String>,
    /// The stored body: JSON as parsed, other text (a raw SSE stream) as a string, or null.
    pub response_body: serde_json::Value,
    /// The model the call is known by: the response's, else the request's.
    pub model: Option<String>,
    pub provider: String,
    pub target_url: String,
    pub delay_ms: Option<i64>,
    pub time_to_first_token: Option<i64>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub reasoning_tokens: u64,
    pub prompt_cache_read_tokens: u64,
    pub prompt_cache_write_tokens: u64,
    pub prompt_audio_tokens: u64,
    pub completion_audio_tokens: u64,
    /// USD; null when the model has no price.
    pub cost: Option<f64>,
    pub costUSD: Option<f64>,
    pub prompt_id: Option<String>,
    pub properties: BTreeMap<String, String>,
    pub scores: BTreeMap<String, f64>,
    pub feedback_rating: Option<bool>,
    pub helicone_user: Option<String>,
    pub country_code: Option<String>,
    pub asset_ids: Vec<String>,
    pub cache_enabled: bool,
    pub session_id: Option<String>,
    pub session_path: Option<String>,
    pub session_name: Option<String>,
    pub pricing_model: Option<String>,
    /// `reported`, `estimated` or `none`.
    pub usage_source: String,
    pub is_stream: bool,
    pub method: String,
    /// `llm`, `tool`, `vector_db` or `data`.
    pub kind: String,
    pub error: Option<String>,
    pub request_body_truncated: bool,
    pub response_body_truncated: bool,
    /// The request's headers as stored: credentials show as `[REDACTED]`.
    pub request_headers: BTreeMap<String, String>,
    /// Canopy addition, in a session's answer only: the call this one was made inside (its
    /// trace's parent span is that call's span).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_request_id: Option<String>,
}

/// Converts a stored call, with its scores, into a row.
pub fn request_row(call: &CallRecord, scores: Option<&BTreeMap<String, f64>>) -> RequestRow {
    let scores = scores.cloned().unwrap_or_default();
    let feedback_rating = scores.get(FEEDBACK_SCORE).map(|v| *v >= 0.5);
    let u = &call.usage;
    let cost = call.cost_nano_usd.map(usd);
    RequestRow {
        request_id: call.id.to_string(),
        request_created_at: iso(call.created_at_ms),
        request_path: match call.request_headers.get("host") {
            Some(host) if call.request_path.starts_with('/') => {
                format!("http://{host}{}", call.request_path)
            }
            _ => call.request_path.clone(),
        },
        request_user_id: call.user_id.clone(),
        request_properties: call.properties.clone(),
        request_model: call.request_model.clone(),
        model_override: None,
        request_body: body_value(call.request_body.text.as_deref()),
        response_id: call.id.to_string(),
        response_created_at: call.response_created_at_ms.map(iso),
        response_status: call.status,
        response_model: call.response_model.clone(),
        response_body: body_value(call.response_body.text.as_deref()),
        model: call
            .response_model
            .clone()
            .or_else(|| call.request_model.clone()),
        provider: call.provider.to_ascii_uppercase(),
        target_url: call.target_url.clone(),
        delay_ms: call.latency_ms,
        time_to_first_token: call.time_to_first_token_ms,
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        total_tokens: u.total_tokens(),
        reasoning_tokens: u.reasoning_tokens,
        prompt_cache_read_tokens: u.cache_read_tokens,
        prompt_cache_write_tokens: u.cache_write_tokens + u.cache_write_1h_tokens,
        prompt_audio_tokens: u.audio_input_tokens,
        completion_audio_tokens: u.audio_output_tokens,
        cost,
        costUSD: cost,
        prompt_id: call.prompt_id.clone(),
        properties: call.properties.clone(),
        scores,
        feedback_rating,
        helicone_user: None,
        country_code: None,
        asset_ids: Vec::new(),
        cache_enabled: false,
        session_id: call.session_id.clone(),
        session_path: call.session_path.clone(),
        session_name: call.session_name.clone(),
        pricing_model: call.pricing_model.clone(),
        usage_source: call.usage_source.as_str().to_owned(),
        is_stream: call.is_stream,
        method: call.method.clone(),
        kind: call.kind.as_str().to_owned(),
        error: call.error.clone(),
        request_body_truncated: call.request_body.truncated,
        response_body_truncated: call.response_body.truncated,
        request_headers: call.request_headers.clone(),
        parent_request_id: None,
    }
}

/// Body of `POST /v1/request/{id}/feedback` (and the session's).
#[derive(Debug, Deserialize, ToSchema)]
pub struct FeedbackBody {
    /// Thumbs-up (`true`) or thumbs-down.
    pub rating: bool,
}

/// Body of `PUT /v1/request/{id}/property`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PropertyBody {
    /// Property name.
    #[schema(min_length = 1)]
    pub key: String,
    /// Property value.
    pub value: String,
}

/// Body of `POST /v1/request/{id}/score`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ScoreBody {
    /// Named scores; booleans count as 1 and 0.
    #[schema(schema_with = scores_schema)]
    pub scores: BTreeMap<String, serde_json::Value>,
}

fn scores_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, SchemaType, Type};
    let value =
        ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::Number, Type::Boolean]));
    let name = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_SCORE_NAME_CHARS));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(name))
        .additional_properties(Some(AdditionalProperties::RefOr(value.build().into())))
        .build()
}

/// The longest score name, in characters (at most 1 KiB of UTF-8, inside every store's index
/// limits).
pub const MAX_SCORE_NAME_CHARS: usize = 256;

impl ScoreBody {
    /// The scores as numbers; a value that is neither number nor boolean is a 400 naming it.
    pub fn numbers(&self) -> Result<Vec<(String, f64)>, ApiError> {
        self.scores
            .iter()
            .map(|(name, value)| {
                if name.chars().count() > MAX_SCORE_NAME_CHARS {
                    return Err(ApiError::BadRequest(format!(
                        "a score name is longer than {MAX_SCORE_NAME_CHARS} characters"
                    )));
                }
                let number = match value {
                    serde_json::Value::Bool(b) => f64::from(u8::from(*b)),
                    serde_json::Value::Number(n) => n.as_f64().unwrap_or(0.0),
                    _ => {
                        return Err(ApiError::BadRequest(format!(
                            "scores.{name} must be a number or a boolean"
                        )));
                    }
                };
                // Stored as labels are: with any URL in the name redacted (filters look for a
                // name as it is stored). Redaction at most triples the bytes of the ASCII it
                // touches (`://@ ` becomes `://[REDACTED]@ `), so a name stays inside 1 KiB.
                Ok((canopy_core::redact::redact_text(name).into_owned(), number))
            })
            .collect()
    }
}
