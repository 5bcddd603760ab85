//! `canopy-mock`: a deterministic OpenAI + Anthropic test double, served as
//! `canopy mock-provider` and used by Canopy's integration tests, benchmarks and demo.
//!
//! One server answers both providers, at the paths the gateway forwards to:
//!
//! | route | answers |
//! |---|---|
//! | `POST /v1/chat/completions` | OpenAI chat completion; SSE `chat.completion.chunk`s when `"stream": true` |
//! | `POST /v1/completions` | OpenAI legacy `text_completion`, plain or streamed |
//! | `POST /v1/responses` | OpenAI Responses API, plain or streamed (`event:` + `data:` lines) |
//! | `POST /v1/embeddings` | 8 deterministic floats per input (or `dimensions`), `float` or `base64` |
//! | `POST /v1/messages` | Anthropic Messages, plain or streamed |
//! | `GET /v1/models` | OpenAI's model list; Anthropic's shape when `anthropic-version` is sent |
//! | `GET /mock/requests` | the last 100 requests received (`[]` unless `record_requests`) |
//! | `DELETE /mock/requests` | forgets the recorded requests (204) |
//! | anything else | 404 `{"error":{"message":"Invalid URL (METHOD /path)",...}}` |
//!
//! # Determinism
//!
//! The same body always gets byte-identical answers: `created` is always 1700000000, ids are the
//! FNV-1a digest of the body (`chatcmpl-mock-<16 hex>`, `msg_mock_<16 hex>`, ...; a chat or
//! text completion's digests only its model, messages or prompt, and stream flag, so `stream_options` added by a
//! gateway leaves it unchanged), and the reply
//! is `<model> reply <8 hex>: <the first 60 characters of the last user message>`, where the hex
//! digits digest the whole conversation, system prompt included. Prompt tokens are the words of
//! every message plus 4 per message (Anthropic `system` counts as one more message); completion
//! tokens are the words of the reply. The response's model is the request's model, unchanged.
//!
//! # Knobs
//!
//! Each knob is a request header, so tests set it per call through the gateway, which forwards
//! non-Canopy headers unchanged. A knob with an unusable value gets a 400 naming the header.
//!
//! | header | effect |
//! |---|---|
//! | `x-mock-latency-ms: N` | wait N ms before the response head (overrides [`MockConfig::latency_ms`]) |
//! | `x-mock-chunk-delay-ms: N` | wait N ms between SSE events (overrides [`MockConfig::chunk_delay_ms`]) |
//! | `x-mock-status: N` | answer status N (400..=599) with the provider's error body; below 400 is ignored |
//! | `x-mock-disconnect-after: N` | streams only: send N SSE events (all of them if fewer), then abort the connection |
//! | `x-mock-no-usage: true` | leave usage out of plain responses and streams entirely |
//! | `x-mock-cached-tokens: N` | OpenAI: `cached_tokens` N, added to the prompt tokens; Anthropic: `cache_read_input_tokens` N |
//! | `x-mock-reasoning-tokens: N` | `reasoning_tokens` N, added to the completion (Anthropic: output) tokens |
//! | `x-mock-cache-write-tokens: N` | Anthropic: `cache_creation_input_tokens` N; ignored by OpenAI routes |
//! | `x-mock-fail-first: N` | with `x-mock-status`: only the first N requests of the same `x-mock-fail-key` (a number, default 0) fail; later ones are answered normally |
//! | `x-mock-retry-after: S` / `x-mock-retry-after-ms: N` | send `Retry-After: S` / `retry-after-ms: N` with a requested error |
//! | `x-mock-reply-seed: N` | chat completions: mix N into the reply's digest, so the same conversation gets another reply |
//! | `x-mock-reply-words: N` | chat completions and Anthropic messages: lengthen the reply with filler words to N words (at most 100000), so a stream has about N / 3 content events |
//!
//! A body that is not valid JSON gets a 400 in the provider's error shape, as the real APIs do.
//!
//! # Layout
//!
//! - `handler`: shared state, the steps every route runs first, the 404 fallback.
//! - `openai` (one module per endpoint) and `anthropic`: the provider routes.
//! - `input`, `reply`, `digest`: reading the request and deriving the reply from it.
//! - `sse`, `json`, `error`: writing streams, bodies and provider-shaped errors.
//! - `knobs`, `log`: the `x-mock-*` headers and the request log.

mod anthropic;
mod digest;
mod error;
mod handler;
mod input;
mod json;
mod knobs;
mod log;
mod openai;
mod reply;
mod sse;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;

use crate::handler::{Shared, not_found};
use crate::log::RequestLog;

/// How the mock server behaves when a request sets no knob.
#[derive(Clone, Debug, Default)]
pub struct MockConfig {
    /// Delay before the response head, in milliseconds.
    pub latency_ms: u64,
    /// Delay between two SSE events, in milliseconds.
    pub chunk_delay_ms: u64,
    /// Keep the last 100 requests for `GET /mock/requests`.
    pub record_requests: bool,
}

/// The mock's routes, ready to serve or to call in process.
pub fn router(config: MockConfig) -> Router {
    let record = config.record_requests;
    let state = Arc::new(Shared {
        log: record.then(RequestLog::default),
        config,
        failures: std::sync::Mutex::default(),
    });
    let mut providers = Router::new()
        .route("/v1/chat/completions", post(openai::chat::handle))
        .route("/v1/completions", post(openai::completions::handle))
        .route("/v1/responses", post(openai::responses::handle))
        .route("/v1/embeddings", post(openai::embeddings::handle))
        .route("/v1/messages", post(anthropic::handle))
        .route("/v1/models", get(openai::models::handle))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found);
    if record {
        providers = providers.layer(from_fn_with_state(Arc::clone(&state), log::record));
    }
    // Added after the layer, so reading the log is not itself recorded.
    providers
        .route("/mock/requests", get(log::list).delete(log::clear))
        .with_state(state)
}

/// Serves on an already-bound listener until `shutdown` resolves.
///
/// HTTP/1.1 and HTTP/2 cleartext with prior knowledge are both accepted. Accepted sockets get
/// `TCP_NODELAY`, so small SSE frames are not held back by Nagle's algorithm. On shutdown the
/// server stops accepting and waits for open connections to finish.
pub async fn serve(
    listener: TcpListener,
    config: MockConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|stream| {
        // Without it the mock is only slower, never wrong, so the error is not worth surfacing.
        let _ = stream.set_nodelay(true);
    });
    // Routes built once and shared by every connection (see `canopy serve`).
    let app = router(config).with_state(()).into_make_service();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
