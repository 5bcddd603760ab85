//! The request log behind `GET /mock/requests` and `DELETE /mock/requests`.
//!
//! When `record_requests` is on, a middleware on the provider routes keeps the last
//! [`CAPACITY`] requests (method, path with query, headers, body) so integration tests can check
//! what the gateway sent upstream. The log's mutex is the only lock a request can take, and only
//! when recording is on; the router leaves the middleware out otherwise.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{StatusCode, header};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::error::{Flavor, MockError};
use crate::handler::{AppState, MAX_BODY};
use crate::json::{APPLICATION_JSON, serialization_failed};

/// How many requests the log keeps; older ones are dropped first.
pub(crate) const CAPACITY: usize = 100;

/// The most recent requests, oldest first.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    entries: Mutex<VecDeque<Recorded>>,
}

impl RequestLog {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Recorded>> {
        // A panic while holding the lock cannot leave the deque half-updated.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, entry: Recorded) {
        let mut entries = self.lock();
        if entries.len() == CAPACITY {
            entries.pop_front();
        }
        entries.push_back(entry);
    }
}

/// One received request, as `GET /mock/requests` shows it.
#[derive(Debug, Serialize)]
struct Recorded {
    method: String,
    /// The path with its query string.
    path: String,
    /// Lowercase header names; repeated headers are joined with `", "`.
    headers: BTreeMap<String, String>,
    body: RecordedBody,
}

/// A request body: its JSON verbatim when it parses, else the text, `null` when empty.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum RecordedBody {
    Empty(()),
    Json(Box<RawValue>),
    Text(String),
}

impl Recorded {
    fn new(parts: &Parts, body: &[u8]) -> Self {
        let mut headers = BTreeMap::<String, String>::new();
        for (name, value) in &parts.headers {
            let value = String::from_utf8_lossy(value.as_bytes());
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|joined| {
                    joined.push_str(", ");
                    joined.push_str(&value);
                })
                .or_insert_with(|| value.into_owned());
        }
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), ToString::to_string);
        Self {
            method: parts.method.as_str().to_owned(),
            path,
            headers,
            body: RecordedBody::new(body),
        }
    }
}

impl RecordedBody {
    fn new(body: &[u8]) -> Self {
        if body.is_empty() {
            return Self::Empty(());
        }
        let text = String::from_utf8_lossy(body).into_owned();
        match serde_json::from_str::<Box<RawValue>>(&text) {
            Ok(json) => Self::Json(json),
            Err(_) => Self::Text(text),
        }
    }
}

/// Middleware: records the request, then passes it on with its body intact.
pub(crate) async fn record(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(log) = state.log.as_ref() else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let flavor = if parts.uri.path() == "/v1/messages" {
        Flavor::Anthropic
    } else {
        Flavor::OpenAi
    };
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        return MockError::Body { max: MAX_BODY }.response(flavor);
    };
    log.push(Recorded::new(&parts, &body));
    next.run(Request::from_parts(parts, Body::from(body))).await
}

/// `GET /mock/requests`: the recorded requests as a JSON array, most recent last.
pub(crate) async fn list(State(state): State<AppState>) -> Response {
    let body = match state.log.as_ref() {
        Some(log) => serde_json::to_vec(&*log.lock()),
        None => Ok(b"[]".to_vec()),
    };
    match body {
        Ok(body) => ([(header::CONTENT_TYPE, APPLICATION_JSON)], body).into_response(),
        Err(_) => serialization_failed(),
    }
}

/// `DELETE /mock/requests`: forgets every recorded request.
pub(crate) async fn clear(State(state): State<AppState>) -> StatusCode {
    if let Some(log) = state.log.as_ref() {
        log.lock().clear();
    }
    StatusCode::NO_CONTENT
}
