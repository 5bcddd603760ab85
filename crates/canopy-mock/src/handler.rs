//! What every provider route does before building its answer, and the fallback route.
//!
//! The order matches a real server: read the knobs, read the body, wait `latency`, then either
//! fail as `x-mock-status` asks or hand the body to the route.

use std::sync::Arc;

use axum::body::to_bytes;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use http::{Method, StatusCode, Uri};

use crate::MockConfig;
use crate::error::{Flavor, MockError, error_response};
use crate::knobs::Knobs;
use crate::log::RequestLog;

/// The largest request body the mock reads: 64 MiB, well above the gateway's 10 MiB capture cap.
pub(crate) const MAX_BODY: usize = 64 * 1024 * 1024;

/// The state every route shares.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The server's configuration: default delays and whether requests are recorded.
    pub(crate) config: MockConfig,
    /// The recent requests, when `record_requests` is on.
    pub(crate) log: Option<RequestLog>,
    /// Requests seen so far per `x-mock-fail-key`, for `x-mock-fail-first`.
    pub(crate) failures: std::sync::Mutex<std::collections::HashMap<u64, u64>>,
}

/// The router state: one [`Shared`] behind an `Arc`.
pub(crate) type AppState = Arc<Shared>;

/// Reads the knobs and the body, then waits and fails as the knobs ask.
///
/// `Err` is the finished error response in `flavor`'s shape.
pub(crate) async fn prologue(
    shared: &Shared,
    request: Request,
    flavor: Flavor,
) -> Result<(Knobs, Bytes), Response> {
    let (parts, body) = request.into_parts();
    let knobs = Knobs::from_headers(&parts.headers, &shared.config)
        .map_err(|error| MockError::from(error).response(flavor))?;
    let body = to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| MockError::Body { max: MAX_BODY }.response(flavor))?;
    if !knobs.latency.is_zero() {
        tokio::time::sleep(knobs.latency).await;
    }
    if let Some(status) = knobs.status
        && shared.still_failing(&knobs)
    {
        let mut response = MockError::Requested(status).response(flavor);
        let headers = response.headers_mut();
        if let Some(secs) = knobs.retry_after_secs {
            headers.insert(http::header::RETRY_AFTER, secs.into());
        }
        if let Some(ms) = knobs.retry_after_ms {
            headers.insert("retry-after-ms", ms.into());
        }
        return Err(response);
    }
    Ok((knobs, body))
}

impl Shared {
    /// Whether a request asking for an error gets it: always, unless `x-mock-fail-first`
    /// limits the failures to the first N requests of its `x-mock-fail-key`.
    fn still_failing(&self, knobs: &Knobs) -> bool {
        let Some(first) = knobs.fail_first else {
            return true;
        };
        let mut seen = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = seen.entry(knobs.fail_key).or_insert(0);
        *count += 1;
        *count <= first
    }
}

/// Any other path or method: OpenAI's 404 for an unknown URL.
pub(crate) async fn not_found(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let message = format!("Invalid URL ({method} {path})");
    error_response(Flavor::OpenAi, StatusCode::NOT_FOUND, &message)
}
