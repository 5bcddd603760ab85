//! Logging, request spans and the Prometheus recorder of the process.
//!
//! Every request runs in a span named `request` with its method, its route (the matched route
//! of Canopy's own endpoints, `proxy` for provider routes, never the raw path) and a request
//! id: the caller's `x-request-id` when it sent a usable one, else a fresh UUIDv7. Canopy's own
//! endpoints answer the id in `x-request-id`; proxied answers pass through unchanged. Every 5xx
//! is logged inside that span with its cause. The proxy's span and 5xx log come from its own
//! handler (`canopy_gateway::proxy::handle`); the layers here serve Canopy's own routes.

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use canopy_core::CallId;
use canopy_gateway::headers::log_request_id;
use canopy_store::writer::IngestHandle;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tower_http::request_id::{MakeRequestId, RequestId};
use tracing::Span;
use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// `canopy_build_info{version}`: always 1; the label says which build is running.
pub const BUILD_INFO: &str = "canopy_build_info";
/// Label: the running build's version.
pub const LABEL_VERSION: &str = "version";

/// Starts logging to stderr. Request and response bodies are never logged.
pub fn init_logging(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(crate::output::stderr_color())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The process-wide Prometheus recorder, installed on first use. Every metric is described
/// then, and every counter whose labels are known starts at 0.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let seconds = [
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            30.0, 60.0,
        ];
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &seconds)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_ok() {
            canopy_gateway::telemetry::describe();
            canopy_store::telemetry::describe();
            metrics::describe_gauge!(BUILD_INFO, "Always 1; the version label names the build.");
            metrics::gauge!(BUILD_INFO, LABEL_VERSION => env!("CARGO_PKG_VERSION")).set(1.0);
        }
        handle
    })
}

/// Renders the metrics after setting the gauges that are read rather than kept: the writer's
/// queue and spool depths.
pub fn render(handle: &PrometheusHandle, ingest: &IngestHandle) -> String {
    use canopy_store::telemetry::{INGEST_QUEUE_DEPTH, INGEST_SPOOL_DEPTH};
    metrics::gauge!(INGEST_QUEUE_DEPTH).set(ingest.queue_depth() as f64);
    metrics::gauge!(INGEST_SPOOL_DEPTH).set(ingest.spool_depth() as f64);
    handle.render()
}

/// Request ids for Canopy's own endpoints: UUIDv7, like call ids.
#[derive(Debug, Clone, Copy, Default)]
pub struct MakeId;

impl MakeRequestId for MakeId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&CallId::new().to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// The span a request runs in. Health checks and metric scrapes are DEBUG, the rest INFO.
pub fn request_span<B>(request: &axum::http::Request<B>) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("proxy", MatchedPath::as_str);
    let id =
        log_request_id(request.headers()).map_or_else(|| CallId::new().to_string(), str::to_owned);
    let method = request.method().as_str();
    if matches!(route, "/healthz" | "/readyz" | "/metrics") {
        tracing::debug_span!("request", method, route, request_id = %id)
    } else {
        tracing::info_span!("request", method, route, request_id = %id)
    }
}

/// Logs every 5xx answer of Canopy's own routes with its cause: the API's
/// [`canopy_api::ErrorCause`] at ERROR, an answer without one (`/readyz` finding the store
/// down) at WARN.
pub async fn log_server_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if status.is_server_error() {
        match response.extensions().get::<canopy_api::ErrorCause>() {
            Some(cause) => {
                tracing::error!(status = status.as_u16(), cause = %cause.0, "Answered a server error.");
            }
            None => tracing::warn!(
                status = status.as_u16(),
                cause = "unspecified",
                "Answered a server error."
            ),
        }
    }
    response
}

/// The answer to an unauthenticated `/metrics` read when a key is required.
pub fn metrics_unauthorized(message: &str) -> Response {
    let mut response = Response::new(Body::from(format!("{message}\n")));
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response.headers_mut().insert(
        axum::http::header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer"),
    );
    response
}
