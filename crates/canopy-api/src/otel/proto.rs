//! The subset of OTLP's trace messages Canopy reads and writes, as hand-written `prost`
//! structs (no protoc, no gRPC stack), and the OTLP/JSON reading of the same messages.
//!
//! Field numbers follow `opentelemetry/proto/{collector/trace,trace,common,resource}/v1`.
//! Fields Canopy never reads (links, dropped counts, trace state, scope attributes) are left
//! out: protobuf skips unknown fields, so a full message still decodes.

use canopy_core::trace::hex;
use prost::Message;
use serde_json::Value;

/// `ExportTraceServiceRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct ExportTraceServiceRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_spans: Vec<ResourceSpans>,
}

/// `ExportTraceServiceResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct ExportTraceServiceResponse {
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ExportTracePartialSuccess>,
}

/// `ExportTracePartialSuccess`.
#[derive(Clone, PartialEq, Message)]
pub struct ExportTracePartialSuccess {
    #[prost(int64, tag = "1")]
    pub rejected_spans: i64,
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// `google.rpc.Status`, OTLP/HTTP's error body (without `details`).
#[derive(Clone, PartialEq, Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// `ResourceSpans`.
#[derive(Clone, PartialEq, Message)]
pub struct ResourceSpans {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_spans: Vec<ScopeSpans>,
}

/// `Resource`.
#[derive(Clone, PartialEq, Message)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

/// `ScopeSpans`.
#[derive(Clone, PartialEq, Message)]
pub struct ScopeSpans {
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    #[prost(message, repeated, tag = "2")]
    pub spans: Vec<Span>,
}

/// `InstrumentationScope`.
#[derive(Clone, PartialEq, Message)]
pub struct InstrumentationScope {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub version: String,
}

/// `Span`.
#[derive(Clone, PartialEq, Message)]
pub struct Span {
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub parent_span_id: Vec<u8>,
    #[prost(string, tag = "5")]
    pub name: String,
    #[prost(int32, tag = "6")]
    pub kind: i32,
    #[prost(fixed64, tag = "7")]
    pub start_time_unix_nano: u64,
    #[prost(fixed64, tag = "8")]
    pub end_time_unix_nano: u64,
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    #[prost(message, repeated, tag = "11")]
    pub events: Vec<Event>,
    #[prost(message, optional, tag = "15")]
    pub status: Option<Status>,
}

/// `Span.Event`.
#[derive(Clone, PartialEq, Message)]
pub struct Event {
    #[prost(fixed64, tag = "1")]
    pub time_unix_nano: u64,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(message, repeated, tag = "3")]
    pub attributes: Vec<KeyValue>,
}

/// `Status`: `code` 0 unset, 1 ok, 2 error.
#[derive(Clone, PartialEq, Message)]
pub struct Status {
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(int32, tag = "3")]
    pub code: i32,
}

/// The error status code.
pub const STATUS_ERROR: i32 = 2;

/// `KeyValue`.
#[derive(Clone, PartialEq, Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// `AnyValue`.
#[derive(Clone, PartialEq, Message)]
pub struct AnyValue {
    #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub value: Option<any_value::Value>,
}

/// The variants of [`AnyValue`].
pub mod any_value {
    /// One attribute value.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        #[prost(string, tag = "1")]
        StringValue(String),
        #[prost(bool, tag = "2")]
        BoolValue(bool),
        #[prost(int64, tag = "3")]
        IntValue(i64),
        #[prost(double, tag = "4")]
        DoubleValue(f64),
        #[prost(message, tag = "5")]
        ArrayValue(super::ArrayValue),
        #[prost(message, tag = "6")]
        KvlistValue(super::KeyValueList),
        #[prost(bytes = "vec", tag = "7")]
        BytesValue(Vec<u8>),
    }
}

/// `ArrayValue`.
#[derive(Clone, PartialEq, Message)]
pub struct ArrayValue {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<AnyValue>,
}

/// `KeyValueList`.
#[derive(Clone, PartialEq, Message)]
pub struct KeyValueList {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<KeyValue>,
}

impl KeyValue {
    /// A string attribute.
    pub fn string(key: &str, value: impl Into<String>) -> Self {
        Self::of(key, any_value::Value::StringValue(value.into()))
    }

    /// An integer attribute.
    pub fn int(key: &str, value: i64) -> Self {
        Self::of(key, any_value::Value::IntValue(value))
    }

    /// A floating-point attribute.
    pub fn double(key: &str, value: f64) -> Self {
        Self::of(key, any_value::Value::DoubleValue(value))
    }

    fn of(key: &str, value: any_value::Value) -> Self {
        Self {
            key: key.to_owned(),
            value: Some(AnyValue { value: Some(value) }),
        }
    }
}

/// An attribute value as JSON, the one shape the mapping reads (bytes are left out).
pub fn any_to_json(value: &AnyValue) -> Value {
    use any_value::Value as V;
    match &value.value {
        Some(V::StringValue(s)) => Value::String(s.clone()),
        Some(V::BoolValue(b)) => Value::Bool(*b),
        Some(V::IntValue(i)) => Value::from(*i),
        Some(V::DoubleValue(d)) => {
            serde_json::Number::from_f64(*d).map_or(Value::Null, Value::Number)
        }
        Some(V::ArrayValue(a)) => Value::Array(a.values.iter().map(any_to_json).collect()),
        Some(V::KvlistValue(l)) => Value::Object(
            l.values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        kv.value.as_ref().map_or(Value::Null, any_to_json),
                    )
                })
                .collect(),
        ),
        Some(V::BytesValue(_)) | None => Value::Null,
    }
}

/// Why an OTLP/JSON body could not be read.
#[derive(Debug)]
pub struct JsonError(pub String);

type JsonResult<T> = Result<T, JsonError>;

fn field<'a>(object: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    object
        .get(camel)
        .or_else(|| object.get(snake))
        .filter(|v| !v.is_null())
}

fn list<'a>(object: &'a Value, camel: &str, snake: &str) -> JsonResult<&'a [Value]> {
    match field(object, camel, snake) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(JsonError(format!("`{camel}` must be an array"))),
    }
}

fn string(object: &Value, camel: &str, snake: &str) -> JsonResult<String> {
    match field(object, camel, snake) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(JsonError(format!("`{camel}` must be a string"))),
    }
}

/// An integer as OTLP/JSON writes it: a number, or a string of digits (64-bit values).
fn integer(object: &Value, camel: &str, snake: &str) -> JsonResult<i128> {
    match field(object, camel, snake) {
        None => Ok(0),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .ok_or_else(|| JsonError(format!("`{camel}` must be an integer"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| JsonError(format!("`{camel}` must be an integer"))),
        Some(_) => Err(JsonError(format!("`{camel}` must be an integer"))),
    }
}

/// A trace or span id: hex in OTLP/JSON. An invalid id is kept as empty bytes, so that the
/// span is rejected alone (partial success) rather than the whole request.
fn id(object: &Value, camel: &str, snake: &str) -> JsonResult<Vec<u8>> {
    let text = string(object, camel, snake)?;
    Ok(hex_decode(&text).unwrap_or_default())
}

/// Decodes lower- or upper-case hex.
pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Reads an OTLP/JSON `ExportTraceServiceRequest`.
pub fn request_from_json(value: &Value) -> JsonResult<ExportTraceServiceRequest> {
    if !value.is_object() {
        return Err(JsonError("the body must be a JSON object".into()));
    }
    let mut request = ExportTraceServiceRequest::default();
    for rs in list(value, "resourceSpans", "resource_spans")? {
        let resource = match field(rs, "resource", "resource") {
            Some(r) => Some(Resource {
                attributes: attributes(r)?,
            }),
            None => None,
        };
        let mut scope_spans = Vec::new();
        for ss in list(rs, "scopeSpans", "scope_spans")? {
            let scope = match field(ss, "scope", "scope") {
                Some(s) => Some(InstrumentationScope {
                    name: string(s, "name", "name")?,
                    version: string(s, "version", "version")?,
                }),
                None => None,
            };
            let spans = list(ss, "spans", "spans")?
                .iter()
                .map(span_from_json)
                .collect::<JsonResult<_>>()?;
            scope_spans.push(ScopeSpans { scope, spans });
        }
        request.resource_spans.push(ResourceSpans {
            resource,
            scope_spans,
        });
    }
    Ok(request)
}

fn span_from_json(span: &Value) -> JsonResult<Span> {
    if !span.is_object() {
        return Err(JsonError("a span must be an object".into()));
    }
    let status = match field(span, "status", "status") {
        Some(s) => Some(Status {
            message: string(s, "message", "message")?,
            code: i32::try_from(integer(s, "code", "code")?).unwrap_or_default(),
        }),
        None => None,
    };
    let mut events = Vec::new();
    for event in list(span, "events", "events")? {
        events.push(Event {
            time_unix_nano: time(event, "timeUnixNano", "time_unix_nano")?,
            name: string(event, "name", "name")?,
            attributes: attributes(event)?,
        });
    }
    Ok(Span {
        trace_id: id(span, "traceId", "trace_id")?,
        span_id: id(span, "spanId", "span_id")?,
        parent_span_id: id(span, "parentSpanId", "parent_span_id")?,
        name: string(span, "name", "name")?,
        kind: i32::try_from(integer(span, "kind", "kind")?).unwrap_or_default(),
        start_time_unix_nano: time(span, "startTimeUnixNano", "start_time_unix_nano")?,
        end_time_unix_nano: time(span, "endTimeUnixNano", "end_time_unix_nano")?,
        attributes: attributes(span)?,
        events,
        status,
    })
}

fn time(object: &Value, camel: &str, snake: &str) -> JsonResult<u64> {
    u64::try_from(integer(object, camel, snake)?)
        .map_err(|_| JsonError(format!("`{camel}` must be a non-negative integer")))
}

fn attributes(object: &Value) -> JsonResult<Vec<KeyValue>> {
    list(object, "attributes", "attributes")?
        .iter()
        .map(key_value)
        .collect()
}

fn key_value(kv: &Value) -> JsonResult<KeyValue> {
    Ok(KeyValue {
        key: string(kv, "key", "key")?,
        value: field(kv, "value", "value").map(any_value).transpose()?,
    })
}

fn any_value(value: &Value) -> JsonResult<AnyValue> {
    use any_value::Value as V;
    let Some(object) = value.as_object() else {
        return Err(JsonError("an attribute value must be an object".into()));
    };
    let Some((name, inner)) = object.iter().find(|(_, v)| !v.is_null()) else {
        return Ok(AnyValue { value: None });
    };
    let bad = || JsonError(format!("attribute value `{name}` has the wrong type"));
    let value = match name.as_str() {
        "stringValue" | "string_value" => {
            V::StringValue(inner.as_str().ok_or_else(bad)?.to_owned())
        }
        "boolValue" | "bool_value" => V::BoolValue(inner.as_bool().ok_or_else(bad)?),
        "intValue" | "int_value" => {
            V::IntValue(i64::try_from(integer(value, name, name)?).map_err(|_| bad())?)
        }
        "doubleValue" | "double_value" => V::DoubleValue(match inner {
            Value::Number(n) => n.as_f64().ok_or_else(bad)?,
            Value::String(s) => s.parse().map_err(|_| bad())?,
            _ => return Err(bad()),
        }),
        "arrayValue" | "array_value" => V::ArrayValue(ArrayValue {
            values: list(inner, "values", "values")?
                .iter()
                .map(any_value)
                .collect::<JsonResult<_>>()?,
        }),
        "kvlistValue" | "kvlist_value" => V::KvlistValue(KeyValueList {
            values: list(inner, "values", "values")?
                .iter()
                .map(key_value)
                .collect::<JsonResult<_>>()?,
        }),
        // Base64 bytes are not read by the mapping; keep the key with no value.
        _ => return Ok(AnyValue { value: None }),
    };
    Ok(AnyValue { value: Some(value) })
}

/// Writes an `ExportTraceServiceRequest` as OTLP/JSON (used by the exporter).
pub fn request_to_json(request: &ExportTraceServiceRequest) -> Value {
    use serde_json::json;
    let kvs = |attrs: &[KeyValue]| -> Value {
        attrs
            .iter()
            .map(|kv| json!({"key": kv.key, "value": kv.value.as_ref().map_or(Value::Null, any_json)}))
            .collect()
    };
    let spans = |spans: &[Span]| -> Value {
        spans
            .iter()
            .map(|s| {
                let mut span = json!({
                    "traceId": hex(&s.trace_id), "spanId": hex(&s.span_id), "name": s.name,
                    "kind": s.kind, "startTimeUnixNano": s.start_time_unix_nano.to_string(),
                    "endTimeUnixNano": s.end_time_unix_nano.to_string(),
                    "attributes": kvs(&s.attributes),
                });
                if !s.parent_span_id.is_empty() {
                    span["parentSpanId"] = Value::String(hex(&s.parent_span_id));
                }
                if let Some(status) = &s.status {
                    span["status"] = json!({"code": status.code, "message": status.message});
                }
                span
            })
            .collect()
    };
    json!({"resourceSpans": request.resource_spans.iter().map(|rs| json!({
        "resource": {"attributes": kvs(rs.resource.as_ref().map_or(&[][..], |r| &r.attributes))},
        "scopeSpans": rs.scope_spans.iter().map(|ss| json!({
            "scope": ss.scope.as_ref().map(|s| json!({"name": s.name, "version": s.version})),
            "spans": spans(&ss.spans),
        })).collect::<Vec<_>>(),
    })).collect::<Vec<_>>()})
}

fn any_json(value: &AnyValue) -> Value {
    use any_value::Value as V;
    use serde_json::json;
    match &value.value {
        Some(V::StringValue(s)) => json!({"stringValue": s}),
        Some(V::BoolValue(b)) => json!({"boolValue": b}),
        Some(V::IntValue(i)) => json!({"intValue": i.to_string()}),
        Some(V::DoubleValue(d)) => json!({"doubleValue": d}),
        Some(V::ArrayValue(a)) => {
            json!({"arrayValue": {"values": a.values.iter().map(any_json).collect::<Vec<_>>()}})
        }
        Some(V::KvlistValue(_)) | Some(V::BytesValue(_)) | None => json!({}),
    }
}

/// Decodes a protobuf `ExportTraceServiceRequest`.
pub fn request_from_protobuf(
    bytes: &[u8],
) -> Result<ExportTraceServiceRequest, prost::DecodeError> {
    ExportTraceServiceRequest::decode(bytes)
}
