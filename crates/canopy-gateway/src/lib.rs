//! Canopy's proxy: forwards LLM calls to their providers and records each one.
//!
//! The request path, outer to inner:
//! 1. **Router** ([`router`]): `/v1/*` goes to the default provider, `/<provider>/*` to that
//!    provider, `/gateway/*` to the origin in `Helicone-Target-Url`. Nothing is rejected for
//!    being an endpoint Canopy does not know.
//! 2. **Call context** ([`proxy`]): the clock starts, Canopy's headers are read ([`headers`]),
//!    the caller's key is checked against the in-memory key ring (a call without a valid key,
//!    when keys are required, is refused with a 401 and not recorded), and the call gets its id
//!    (UUIDv7, or the caller's `Helicone-Request-Id`) and organisation. A malformed header is
//!    answered here, in the provider's error shape ([`error`]).
//! 3. **Request body** ([`body`]): JSON bodies are read (up to the size limit) so the model,
//!    stream flag and user can be recorded, and an OpenAI chat stream that did not ask for usage
//!    gets `stream_options.include_usage`. Other bodies stream through untouched.
//! 4. **Upstream** ([`upstream`]): one pooled client per connection kind sends the request
//!    with Canopy's and hop-by-hop headers removed and credentials untouched.
//! 5. **Capture** ([`capture`]): the response body is wrapped so each chunk reaches the client
//!    unchanged while a capped copy is observed (SSE events, usage, time to first byte). The
//!    capture is a guard: it hands exactly one [`CallRecord`](canopy_core::CallRecord) to the
//!    writer when the body ends, fails, or is dropped by a client that went away.
//!
//! The request path never waits on storage: records go to an [`IngestHandle`], whose
//! `submit` never blocks. What must not go here: the query API, auth policy beyond reading the
//! key, and anything that awaits the store.

pub mod body;
pub mod capture;
pub mod error;
pub mod estimate;
pub mod headers;
pub mod provider;
pub mod proxy;
pub mod telemetry;
pub mod upstream;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use canopy_core::pricing::PriceCatalog;
use canopy_store::keys::KeyRing;
use canopy_store::writer::IngestHandle;

pub use provider::{Provider, Providers};

/// Limits and behaviour of the proxy.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// The largest request body accepted, in bytes; larger ones get a 413.
    pub max_request_body: usize,
    /// The most bytes of each body kept in a record; the rest is cut and marked.
    pub body_capture_limit: usize,
    /// How long to wait for the upstream to connect.
    pub connect_timeout: Duration,
    /// How long to wait for the upstream's response head.
    pub upstream_timeout: Duration,
    /// The longest silence allowed while reading an upstream body.
    pub upstream_idle_timeout: Duration,
    /// Origins `/gateway/*` may reach; empty means any.
    pub gateway_allowlist: Vec<String>,
    /// The organisation calls are recorded under when no key names one.
    pub default_org: String,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            max_request_body: 100 * 1024 * 1024,
            body_capture_limit: 10 * 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
            upstream_timeout: Duration::from_secs(600),
            upstream_idle_timeout: Duration::from_secs(300),
            gateway_allowlist: Vec::new(),
            default_org: "default".to_owned(),
        }
    }
}

/// Everything the proxy handlers share.
#[derive(Debug, Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    providers: Providers,
    settings: GatewaySettings,
    prices: Arc<PriceCatalog>,
    ingest: IngestHandle,
    keys: KeyRing,
    clients: upstream::Clients,
}

impl Gateway {
    /// Builds the shared state; fails only if an upstream client cannot be built.
    pub fn new(
        providers: Providers,
        settings: GatewaySettings,
        prices: Arc<PriceCatalog>,
        ingest: IngestHandle,
        keys: KeyRing,
    ) -> Result<Self, upstream::ClientError> {
        let clients = upstream::Clients::new(&settings)?;
        Ok(Self {
            inner: Arc::new(Inner {
                providers,
                settings,
                prices,
                ingest,
                keys,
                clients,
            }),
        })
    }
}

/// The proxy, as a router whose fallback takes every path no other route claims.
///
/// Merge it with the health, API and dashboard routers: their routes match first, and every
/// other path is a provider route (`/v1/*`, `/<provider>/*`, `/gateway/*`).
pub fn router(gateway: Gateway) -> Router {
    Router::new().fallback(proxy::handle).with_state(gateway)
}
