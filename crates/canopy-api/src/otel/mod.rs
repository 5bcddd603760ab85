//! `POST /otel/v1/traces`: OTLP/HTTP trace ingest.
//!
//! Protobuf (`application/x-protobuf`) or JSON (`application/json`), gzip-compressed or not,
//! authenticated and scoped to the caller's organisation like every `/api` route. Each span
//! that is a model call becomes a call record, each tool or retrieval span a step of its kind,
//! and any other span a `data` step when it lies on a session (else it is ignored and counted
//! in [`SPANS_IGNORED_TOTAL`]). Records go through the same completion (pricing, bounds,
//! redaction) and the same writer as proxied calls.
//!
//! Spans wait in [`hold::Holder`] until their ancestors are known (see there), and so do
//! proxied calls that carry a `traceparent` but no session ([`place_call`]). The answer
//! follows OTLP/HTTP: an `ExportTraceServiceResponse` in the request's encoding, with
//! `partial_success` naming the spans refused (no ids, end before start); a body that cannot
//! be read at all is a 400 whose body is a `google.rpc.Status`.
//!
//! What must not go here: anything that reads the store.

pub mod hold;
pub mod map;
pub mod proto;

use std::io::Read;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics::counter;
use prost::Message;

use crate::ApiState;
use crate::extract::Org;

/// Spans received, whatever became of them.
pub const SPANS_RECEIVED_TOTAL: &str = "canopy_otel_spans_received_total";
/// Spans recorded as calls or steps.
pub const SPANS_RECORDED_TOTAL: &str = "canopy_otel_spans_recorded_total";
/// Spans that were neither a call nor a step and lay on no session.
pub const SPANS_IGNORED_TOTAL: &str = "canopy_otel_spans_ignored_total";
/// Spans refused as invalid (reported back in `partial_success`).
pub const SPANS_REJECTED_TOTAL: &str = "canopy_otel_spans_rejected_total";

/// The largest request body accepted, compressed or not.
pub const MAX_BODY_BYTES: usize = 32 << 20;
/// The largest body after gzip is undone.
const MAX_DECODED_BYTES: u64 = 64 << 20;

/// `google.rpc.Code.INVALID_ARGUMENT`.
const INVALID_ARGUMENT: i32 = 3;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

/// Records an OTLP trace export. Not in `/api/openapi.json`: the wire format, including its
/// error bodies (`google.rpc.Status`, not the API's envelope), is OTLP's own.
pub async fn traces(
    State(state): State<ApiState>,
    Org(principal): Org,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let encoding = match content_type(&headers) {
        Some(encoding) => encoding,
        None => {
            return status_response(
                Encoding::Json,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/x-protobuf or application/json",
            );
        }
    };
    let body = match decompress(&headers, &body) {
        Ok(body) => body,
        Err(message) => return status_response(encoding, StatusCode::BAD_REQUEST, &message),
    };
    let request = match encoding {
        Encoding::Protobuf => {
            proto::request_from_protobuf(&body).map_err(|e| format!("invalid OTLP protobuf: {e}"))
        }
        Encoding::Json => serde_json::from_slice::<serde_json::Value>(&body)
            .map_err(|e| format!("invalid OTLP JSON: {e}"))
            .and_then(|v| {
                proto::request_from_json(&v).map_err(|e| format!("invalid OTLP JSON: {}", e.0))
            }),
    };
    let request = match request {
        Ok(request) => request,
        Err(message) => return status_response(encoding, StatusCode::BAD_REQUEST, &message),
    };
    let mut spans = Vec::new();
    let (mut rejected, mut first_error) = (0_i64, None);
    for rs in &request.resource_spans {
        let resource = map::resource_attrs(rs.resource.as_ref());
        for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            match map::from_proto(span, &resource) {
                Ok(span) => spans.push(span),
                Err(why) => {
                    rejected += 1;
                    first_error.get_or_insert(why);
                }
            }
        }
    }
    counter!(SPANS_RECEIVED_TOTAL).increment(spans.len() as u64 + rejected.unsigned_abs());
    counter!(SPANS_REJECTED_TOTAL).increment(rejected.unsigned_abs());
    let mut ready = state.otel.add(&principal.org_id, spans, Instant::now());
    ready.extend(state.otel.sweep(Instant::now()));
    record(&state, ready, principal.key_id.as_deref());
    let response = proto::ExportTraceServiceResponse {
        partial_success: (rejected > 0).then(|| proto::ExportTracePartialSuccess {
            rejected_spans: rejected,
            error_message: first_error.unwrap_or_default(),
        }),
    };
    match encoding {
        Encoding::Protobuf => (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            response.encode_to_vec(),
        )
            .into_response(),
        Encoding::Json => {
            let body = match response.partial_success {
                Some(p) => serde_json::json!({"partialSuccess": {
                    "rejectedSpans": p.rejected_spans.to_string(), "errorMessage": p.error_message}}),
                None => serde_json::json!({}),
            };
            axum::Json(body).into_response()
        }
    }
}

/// Places spans that waited their full time; run periodically so that no span waits on the
/// next request.
pub fn sweep(state: &ApiState) {
    let ready = state.otel.sweep(Instant::now());
    record(state, ready, None);
}

/// Places every held span with what is known; run at shutdown, before the writer closes.
pub fn drain(state: &ApiState) {
    let ready = state.otel.drain();
    record(state, ready, None);
}

/// Gives a proxied call with a `traceparent` and no session the session of its trace's spans
/// (see [`hold::Holder::place_call`]): returns the record to hand over now, or `None` when it
/// is held and will be recorded from here, once.
pub fn place_call(
    state: &ApiState,
    record: canopy_core::CallRecord,
    may_hold: bool,
) -> Option<canopy_core::CallRecord> {
    let (now, forced) = state.otel.place_call(record, may_hold, Instant::now());
    self::record(state, forced, None);
    now
}

fn record(state: &ApiState, ready: Vec<hold::Ready>, key_id: Option<&str>) {
    for r in ready {
        let span = match r.item {
            hold::Item::Span(span) => span,
            hold::Item::Call(mut record) => {
                hold::apply(&mut record, &r.place);
                state.ingest.submit(*record);
                continue;
            }
        };
        match map::record(&span, &r.place, &r.org, &state.prices) {
            Some(mut record) => {
                record.key_id = key_id.map(str::to_owned);
                counter!(SPANS_RECORDED_TOTAL).increment(1);
                state.ingest.submit(record);
            }
            None => counter!(SPANS_IGNORED_TOTAL).increment(1),
        }
    }
}

fn content_type(headers: &HeaderMap) -> Option<Encoding> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
        "application/json" => Some(Encoding::Json),
        _ => None,
    }
}

fn decompress(headers: &HeaderMap, body: &Bytes) -> Result<Vec<u8>, String> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("" | "identity") => Ok(body.to_vec()),
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body.as_ref())
                .take(MAX_DECODED_BYTES + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("invalid gzip body: {e}"))?;
            if out.len() as u64 > MAX_DECODED_BYTES {
                return Err(format!(
                    "the body is larger than {MAX_DECODED_BYTES} bytes once decompressed"
                ));
            }
            Ok(out)
        }
        Some(other) => Err(format!(
            "Content-Encoding `{other}` is not supported (gzip or none)"
        )),
    }
}

/// An OTLP error answer: a `google.rpc.Status` in the request's encoding.
fn status_response(encoding: Encoding, status: StatusCode, message: &str) -> Response {
    match encoding {
        Encoding::Protobuf => (
            status,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            proto::RpcStatus {
                code: INVALID_ARGUMENT,
                message: message.to_owned(),
            }
            .encode_to_vec(),
        )
            .into_response(),
        Encoding::Json => (
            status,
            axum::Json(serde_json::json!({"code": INVALID_ARGUMENT, "message": message})),
        )
            .into_response(),
    }
}
