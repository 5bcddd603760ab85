//! Canopy's Helicone-compatible query API, served under `/api`.
//!
//! A script written against `https://api.helicone.ai/v1/...` works against
//! `http://localhost:8787/api/v1/...`: the same routes, bodies, field names and
//! `{"data": ..., "error": ...}` envelope. Canopy adds `GET /v1/session/{id}` (the session's
//! tree, roll-ups and timeline) and the `/v1/analytics/sessions` route.
//!
//! Layout: [`routes`] holds one module per resource with thin handlers; [`dto`] the wire
//! shapes and their conversions; `error` the one error type; `extract` the JSON and
//! organisation extractors. Every read and write is scoped to the caller's organisation, which
//! the auth layer in front of this router puts in the request's extensions.
//!
//! What must not go here: proxying, SQL (the store's), or anything that bypasses [`Query`] /
//! [`Annotate`].

pub mod dto;
mod error;
mod extract;
pub mod openapi;
pub mod otel;
pub mod replay;
pub mod replay_slots;
pub mod routes;
pub mod time;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use canopy_core::pricing::PriceCatalog;
use canopy_store::keys::KeyRing;
use canopy_store::writer::IngestHandle;
use canopy_store::{Annotate, Query};
use utoipa::OpenApi;

pub use openapi::ApiDoc;

pub use error::{ApiError, Envelope, ErrorCause};

use crate::routes::{analytics, custom_log, replay as replays, requests, sessions};

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// Reads.
    pub query: Arc<dyn Query>,
    /// Annotations.
    pub annotate: Arc<dyn Annotate>,
    /// Where custom-logged steps are recorded, like proxied calls.
    pub ingest: IngestHandle,
    /// Prices for custom-logged LLM calls.
    pub prices: Arc<PriceCatalog>,
    /// Who may call, and in which organisation.
    pub keys: KeyRing,
    /// Where this server's own proxy listens (`http://127.0.0.1:8787`); replays are sent there.
    pub gateway_url: String,
    /// The first path segments the proxy serves (`v1`, `gateway`, every provider's name). A
    /// replayed call goes only to one of these, on `gateway_url`.
    pub provider_routes: Arc<BTreeSet<String>>,
    /// The client replays are sent with.
    pub http: reqwest::Client,
    /// The replays each organisation runs, to hold it to its share.
    pub replays: replay_slots::ReplaySlots,
    /// Replay jobs this gateway runs or ran lately.
    pub replay_jobs: replay::ReplayJobs,
    /// OTLP spans waiting for their ancestors.
    pub otel: Arc<otel::hold::Holder>,
}

/// The API routes, all under `/api`. Every route but the OpenAPI document needs a valid key
/// when keys are required (`Authorization: Bearer <key>`, as Helicone's API takes it, or
/// `Helicone-Auth: Bearer <key>`).
pub fn router(state: ApiState) -> Router {
    let documents = Router::new().route(
        "/api/openapi.json",
        get(|| async { axum::Json(ApiDoc::openapi()) }),
    );
    let authenticated = Router::new()
        .route("/api/v1/request/query", post(requests::query))
        .route("/api/v1/request/query-clickhouse", post(requests::query))
        .route("/api/v1/request/count/query", post(requests::count))
        .route("/api/v1/request/{id}", get(requests::get))
        .route("/api/v1/request/{id}/feedback", post(requests::feedback))
        .route("/api/v1/request/{id}/property", put(requests::property))
        .route("/api/v1/request/{id}/score", post(requests::score))
        .route("/api/v1/session/query", post(sessions::query))
        .route("/api/v1/session/count", post(sessions::count))
        .route("/api/v1/session/name/query", post(sessions::names))
        .route("/api/v1/session/metrics/query", post(sessions::metrics))
        .route("/api/v1/session/paths/query", post(sessions::paths))
        .route("/api/v1/session/{id}", get(sessions::get))
        .route("/api/v1/session/{id}/feedback", post(sessions::feedback))
        .route(
            "/api/v1/session/{id}/tag",
            get(sessions::tag).post(sessions::add_tag),
        )
        .route("/api/v1/session/{id}/replay", post(replays::replay))
        .route("/api/v1/session/{id}/replay/jobs", post(replays::start_job))
        .route("/api/v1/session/{id}/comparison", get(replays::comparison))
        .route("/api/v1/replay/jobs/{job_id}", get(replays::get_job))
        .route(
            "/api/v1/replay/jobs/{job_id}/cancel",
            post(replays::cancel_job),
        )
        .route("/api/v1/analytics/sessions", get(analytics::sessions))
        .route("/api/v1/suggest", get(analytics::suggest))
        .route("/api/custom/v1/log", post(custom_log::log))
        .route("/api/v1/trace/custom/log", post(custom_log::log))
        .route("/api/oai/v1/log", post(custom_log::log_openai))
        .route("/api/anthropic/v1/log", post(custom_log::log_anthropic))
        .route(
            "/api/otel/v1/traces",
            post(otel::traces).layer(axum::extract::DefaultBodyLimit::max(otel::MAX_BODY_BYTES)),
        )
        .route("/api", get(not_found).post(not_found))
        .route(
            "/api/{*rest}",
            get(not_found)
                .post(not_found)
                .put(not_found)
                .delete(not_found),
        )
        .route_layer(middleware::from_fn_with_state(
            state.keys.clone(),
            authenticate,
        ))
        .with_state(state);
    documents.merge(authenticated)
}

/// The Canopy key a request carries: `Helicone-Auth`, `Canopy-Auth`, else `Authorization`.
pub fn canopy_key(headers: &axum::http::HeaderMap) -> Option<String> {
    ["helicone-auth", "canopy-auth", "authorization"]
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
        .map(str::to_owned)
}

/// Puts the caller's [`Principal`](canopy_store::Principal) in the request, or answers 401.
async fn authenticate(State(keys): State<KeyRing>, mut request: Request, next: Next) -> Response {
    let key = canopy_key(request.headers());
    match keys.authenticate(key.as_deref()) {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(e) => ApiError::Unauthorized(e.to_string()).into_response(),
    }
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!(
        "no API route `{}`; see /api/openapi.json",
        uri.path()
    ))
}
