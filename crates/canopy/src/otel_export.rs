//! OTLP export: one span per proxied call, sent to the user's tracing backend (Jaeger, Tempo,
//! Honeycomb, an OpenTelemetry Collector) over OTLP/HTTP, protobuf or JSON.
//!
//! Off the request path: the gateway's record tap copies a few fields of each completed record
//! into a bounded queue with `try_send` (a full queue drops the span and counts it in
//! [`EXPORT_DROPPED_TOTAL`]; the proxy never waits), and one background task batches them (up
//! to [`BATCH`] spans, or whatever a second gathered) and posts each batch to the configured
//! URL, and only there (no proxy from the environment, no redirects). A failed post drops its
//! batch and counts it; exports are not retried, so a slow or down backend costs nothing but
//! the spans.
//!
//! A call that carried `traceparent` is exported in that trace, as a child of the caller's
//! span; any other call gets a trace of its own. The span id is the call id's last eight
//! bytes, as stored in the record's `canopy-span-id`.
//!
//! What must not go here: OTLP ingest (`canopy_api::otel`), which shares the message types.

use std::sync::Arc;
use std::time::Duration;

use canopy_api::otel::proto::{
    self, ExportTraceServiceRequest, InstrumentationScope, KeyValue, Resource, ResourceSpans,
    ScopeSpans, Span, Status,
};
use canopy_core::CallRecord;
use canopy_core::trace::{PARENT_SPAN_ID_PROPERTY, TRACE_ID_PROPERTY, span_id_of};
use canopy_core::usage::Usage;
use canopy_gateway::recorder::RecordTap;
use metrics::counter;
use prost::Message;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Spans posted and accepted.
pub const EXPORT_SPANS_TOTAL: &str = "canopy_otel_export_spans_total";
/// Spans dropped because the export queue was full.
pub const EXPORT_DROPPED_TOTAL: &str = "canopy_otel_export_dropped_total";
/// Spans lost in a post that failed (backend down, refused, timed out).
pub const EXPORT_FAILED_TOTAL: &str = "canopy_otel_export_failed_total";

/// The most spans in one post.
const BATCH: usize = 512;
/// How long a span waits for a batch to fill.
const LINGER: Duration = Duration::from_secs(1);
/// How long one post may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// The checked `[otel]` section.
#[derive(Debug, Clone)]
pub struct ExportConfig {
    pub endpoint: String,
    /// OTLP/JSON rather than protobuf.
    pub json: bool,
    pub headers: Vec<(String, String)>,
    pub service_name: String,
    pub queue_capacity: usize,
}

/// What is kept of a record for its span: a handful of small fields, never the bodies.
#[derive(Debug)]
struct Call {
    id: canopy_core::CallId,
    start_ms: i64,
    end_ms: i64,
    ttft_ms: Option<i64>,
    provider: String,
    request_path: String,
    request_model: Option<String>,
    response_model: Option<String>,
    usage: Usage,
    cost_nano: Option<i64>,
    status: i32,
    error: Option<String>,
    session_id: Option<String>,
    session_path: Option<String>,
    session_name: Option<String>,
    user_id: Option<String>,
    trace_id: Option<String>,
    parent_span_id: Option<String>,
    is_stream: bool,
}

impl Call {
    fn of(r: &CallRecord) -> Self {
        Self {
            id: r.id,
            start_ms: r.created_at_ms,
            end_ms: r.response_created_at_ms.unwrap_or(r.created_at_ms),
            ttft_ms: r.time_to_first_token_ms,
            provider: r.provider.clone(),
            request_path: r.request_path.clone(),
            request_model: r.request_model.clone(),
            response_model: r.response_model.clone(),
            usage: r.usage,
            cost_nano: r.cost_nano_usd,
            status: r.status,
            error: r.is_error().then(|| {
                r.error
                    .clone()
                    .unwrap_or_else(|| format!("status {}", r.status))
            }),
            session_id: r.session_id.clone(),
            session_path: r.session_path.clone(),
            session_name: r.session_name.clone(),
            user_id: r.user_id.clone(),
            trace_id: r.properties.get(TRACE_ID_PROPERTY).cloned(),
            parent_span_id: r.properties.get(PARENT_SPAN_ID_PROPERTY).cloned(),
            is_stream: r.is_stream,
        }
    }
}

/// The gateway's side of the exporter: queues each proxied call's span.
#[derive(Debug)]
pub struct Exporter {
    tx: mpsc::Sender<Call>,
}

impl RecordTap for Exporter {
    fn observe(&self, record: &CallRecord) {
        // A full queue is known before anything is copied.
        if self.tx.capacity() == 0 || self.tx.try_send(Call::of(record)).is_err() {
            counter!(EXPORT_DROPPED_TOTAL).increment(1);
        }
    }
}

/// Starts the export task; it sends what is queued and stops when `stop` is cancelled.
pub fn spawn(
    config: ExportConfig,
    tracker: &TaskTracker,
    stop: CancellationToken,
) -> anyhow::Result<Arc<Exporter>> {
    let (tx, rx) = mpsc::channel(config.queue_capacity);
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(POST_TIMEOUT)
        .build()?;
    tracker.spawn(run(config, http, rx, stop));
    Ok(Arc::new(Exporter { tx }))
}

async fn run(
    config: ExportConfig,
    http: reqwest::Client,
    mut rx: mpsc::Receiver<Call>,
    stop: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut closed = false;
    loop {
        let deadline = tokio::time::sleep(LINGER);
        tokio::pin!(deadline);
        // Gather until the batch is full or the linger ends.
        loop {
            let room = BATCH.saturating_sub(batch.len()).max(1);
            tokio::select! {
                received = rx.recv_many(&mut batch, room) => {
                    closed = received == 0;
                    if closed || batch.len() >= BATCH { break; }
                }
                () = &mut deadline => break,
                () = stop.cancelled() => break,
            }
        }
        if stop.is_cancelled() || closed {
            while let Ok(call) = rx.try_recv() {
                batch.push(call);
            }
            for chunk in batch.chunks(BATCH) {
                post(&config, &http, chunk).await;
            }
            return;
        }
        if !batch.is_empty() {
            post(&config, &http, &batch).await;
            batch.clear();
        }
    }
}

async fn post(config: &ExportConfig, http: &reqwest::Client, calls: &[Call]) {
    if calls.is_empty() {
        return;
    }
    let request = export_request(config, calls);
    let (content_type, body) = if config.json {
        (
            "application/json",
            proto::request_to_json(&request).to_string().into_bytes(),
        )
    } else {
        ("application/x-protobuf", request.encode_to_vec())
    };
    let mut post = http
        .post(&config.endpoint)
        .header("content-type", content_type)
        .body(body);
    for (name, value) in &config.headers {
        post = post.header(name, value);
    }
    let n = calls.len() as u64;
    match post.send().await {
        Ok(response) if response.status().is_success() => {
            counter!(EXPORT_SPANS_TOTAL).increment(n);
        }
        Ok(response) => {
            counter!(EXPORT_FAILED_TOTAL).increment(n);
            tracing::warn!(status = %response.status(), spans = n, "The OTLP endpoint refused an export; its spans are dropped.");
        }
        Err(error) => {
            counter!(EXPORT_FAILED_TOTAL).increment(n);
            tracing::warn!(%error, spans = n, "Cannot reach the OTLP endpoint; the export's spans are dropped.");
        }
    }
}

fn export_request(config: &ExportConfig, calls: &[Call]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue::string("service.name", &config.service_name)],
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "canopy".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                }),
                spans: calls.iter().map(span).collect(),
            }],
        }],
    }
}

/// The GenAI operation a call's path names.
fn operation(path: &str) -> &'static str {
    if path.contains("embeddings") {
        "embeddings"
    } else if path.ends_with("/completions") && !path.ends_with("chat/completions") {
        "text_completion"
    } else if path.contains("generateContent") {
        "generate_content"
    } else {
        "chat"
    }
}

/// Unix ms to ns, clamped at 0.
fn ns(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0).saturating_mul(1_000_000)
}

/// One call's span, with GenAI semantic-convention attributes and Canopy's own.
fn span(call: &Call) -> Span {
    let op = operation(&call.request_path);
    let model = call.response_model.as_ref().or(call.request_model.as_ref());
    let trace_id = call
        .trace_id
        .as_deref()
        .and_then(proto::hex_decode)
        .unwrap_or_else(|| call.id.0.as_bytes().to_vec());
    let parent = call
        .parent_span_id
        .as_deref()
        .and_then(proto::hex_decode)
        .unwrap_or_default();
    let u = &call.usage;
    let mut a = vec![
        KeyValue::string("gen_ai.operation.name", op),
        KeyValue::string("gen_ai.provider.name", &call.provider),
        KeyValue::string("gen_ai.system", &call.provider),
        KeyValue::int("gen_ai.usage.input_tokens", saturate(u.prompt_tokens)),
        KeyValue::int("gen_ai.usage.output_tokens", saturate(u.completion_tokens)),
        KeyValue::string("canopy.request_id", call.id.to_string()),
        KeyValue::int("http.response.status_code", i64::from(call.status)),
    ];
    let optional = [
        ("gen_ai.request.model", call.request_model.as_ref()),
        ("gen_ai.response.model", call.response_model.as_ref()),
        ("gen_ai.conversation.id", call.session_id.as_ref()),
        ("session.id", call.session_id.as_ref()),
        ("helicone.session.path", call.session_path.as_ref()),
        ("helicone.session.name", call.session_name.as_ref()),
        ("user.id", call.user_id.as_ref()),
        ("error.type", call.error.as_ref().map(|_| &call.provider)),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            a.push(KeyValue::string(key, value.as_str()));
        }
    }
    if u.cache_read_tokens > 0 {
        a.push(KeyValue::int(
            "gen_ai.usage.cache_read.input_tokens",
            saturate(u.cache_read_tokens),
        ));
    }
    if u.cache_write_tokens + u.cache_write_1h_tokens > 0 {
        a.push(KeyValue::int(
            "gen_ai.usage.cache_creation.input_tokens",
            saturate(u.cache_write_tokens + u.cache_write_1h_tokens),
        ));
    }
    if u.reasoning_tokens > 0 {
        a.push(KeyValue::int(
            "gen_ai.usage.reasoning.output_tokens",
            saturate(u.reasoning_tokens),
        ));
    }
    if let Some(cost) = call.cost_nano {
        a.push(KeyValue::double("canopy.cost_usd", cost as f64 / 1e9));
    }
    if let Some(ttft) = call.ttft_ms {
        a.push(KeyValue::int("canopy.time_to_first_token_ms", ttft));
    }
    if call.is_stream {
        a.push(KeyValue::string("gen_ai.request.stream", "true"));
    }
    Span {
        trace_id,
        span_id: span_id_of(call.id).to_vec(),
        parent_span_id: parent,
        name: match model {
            Some(model) => format!("{op} {model}"),
            None => op.to_owned(),
        },
        // SPAN_KIND_CLIENT: Canopy called the provider.
        kind: 3,
        start_time_unix_nano: ns(call.start_ms),
        end_time_unix_nano: ns(call.end_ms),
        attributes: a,
        events: Vec::new(),
        status: call.error.as_ref().map(|message| Status {
            message: message.clone(),
            code: proto::STATUS_ERROR,
        }),
    }
}

fn saturate(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
