//! Canopy's proxy: forwards LLM calls to their providers and records each one.
//!
//! The request path, outer to inner:
//! 1. **Router** ([`router`]): `/v1/*` goes to the default provider, `/<provider>/*` to that
//!    provider, `/gateway/*` to the origin in `Helicone-Target-Url`. Nothing is rejected for
//!    being an endpoint Canopy does not know. No layer wraps the proxy: its handler opens the
//!    call's `request` span and logs its 5xx itself ([`proxy::handle`]).
//! 2. **Call context** ([`proxy`]): the clock starts, Canopy's headers are read ([`headers`]),
//!    the caller's key is checked against the in-memory key ring (a call without a valid key,
//!    when keys are required, is refused with a 401 and not recorded), and the call gets its id
//!    (UUIDv7, or the caller's `Helicone-Request-Id`) and organisation. A malformed header is
//!    answered here, in the provider's error shape ([`error`]).
//! 3. **Request body** ([`body`]): JSON bodies are read (up to the size limit) so the model,
//!    stream flag and user can be recorded, and an OpenAI chat stream that did not ask for usage
//!    gets `stream_options.include_usage`. Other bodies stream through untouched.
//! 4. **Gateway features** ([`features`]): the rate-limit policies ([`ratelimit`]) may refuse
//!    the call (429); the response cache ([`cache`]) may answer it.
//! 5. **Upstream** ([`upstream`], [`attempts`]): one pooled client per connection kind sends the
//!    request with Canopy's and hop-by-hop headers removed and credentials untouched, retrying
//!    and falling back as the call asks, before anything reaches the client.
//! 6. **Capture** ([`capture`]): the response body is wrapped so each chunk reaches the client
//!    unchanged while a capped copy is observed (SSE events, usage, time to first byte).
//!
//! From the moment the caller is known, the call's [`CallRecord`](canopy_core::CallRecord)
//! belongs to a [`recorder::CallGuard`], which hands exactly one record to the writer: when
//! Canopy refuses or fails the call, when the body ends or fails, when the client goes away
//! (before or after the response head), or when shutdown cuts the call. Completion and pricing
//! follow [`canopy_core::completion`], the rules every ingest path shares.
//!
//! The request path never waits on storage: records go to an [`IngestHandle`], whose
//! `submit` never blocks. What must not go here: the query API, auth policy beyond reading the
//! key, and anything that awaits the store.

pub mod attempts;
pub mod body;
pub mod cache;
pub mod capture;
pub mod error;
pub mod estimate;
pub mod features;
pub mod headers;
pub mod provider;
pub mod proxy;
pub mod ratelimit;
pub mod recorder;
pub mod shared;
pub mod telemetry;
pub mod upstream;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use canopy_core::pricing::PriceCatalog;
use canopy_store::keys::KeyRing;
use canopy_store::spool::Spool;
use canopy_store::writer::IngestHandle;
use tokio_util::task::TaskTracker;

use crate::body::BodyBudget;
use crate::recorder::Recorder;

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
    /// Idle connections kept per upstream host. A burst of 1,000 streams over HTTP/1.1 opens
    /// 1,000 connections; past this many, those that fall idle are closed rather than kept
    /// with their buffers until the idle timeout.
    pub upstream_idle_connections: usize,
    /// Origins `/gateway/*` may reach; empty means any.
    pub gateway_allowlist: Vec<String>,
    /// The organisation calls are recorded under when no key names one.
    pub default_org: String,
    /// The most memory all buffered request bodies may hold at once, in bytes; past it, bodies
    /// stream upstream uncaptured.
    pub body_buffer_budget: usize,
    /// Append each call's record to the spool before its response completes (no record is lost
    /// to `kill -9`, at some cost in throughput).
    pub durable: bool,
    /// Sizes of the in-memory response cache.
    pub cache: cache::CacheLimits,
    /// Redis shared by several gateways for the cache and rate limits (`redis://…`); each
    /// gateway's memory when unset.
    pub redis_url: Option<String>,
    /// Rate-limit policies of the config file, per organisation or key.
    pub rate_limits: Vec<ratelimit::ConfiguredPolicy>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            max_request_body: 100 * 1024 * 1024,
            body_capture_limit: 10 * 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
            upstream_timeout: Duration::from_secs(600),
            upstream_idle_timeout: Duration::from_secs(300),
            upstream_idle_connections: 256,
            gateway_allowlist: Vec::new(),
            default_org: "default".to_owned(),
            body_buffer_budget: 256 * 1024 * 1024,
            durable: false,
            cache: cache::CacheLimits::default(),
            redis_url: None,
            rate_limits: Vec::new(),
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
    /// The `provider` label, with its counters, of each route Canopy serves.
    labels: telemetry::ProviderLabels,
    settings: GatewaySettings,
    recorder: Recorder,
    budget: BodyBudget,
    keys: KeyRing,
    clients: upstream::Clients,
    cache: cache::Cache,
    limiter: ratelimit::Limiter,
    /// Runs work left after a response (saving to a shared cache, counting cost), so that
    /// shutdown waits for it.
    tasks: TaskTracker,
}

/// The gateway could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The upstream client could not be built.
    #[error(transparent)]
    Client(#[from] upstream::ClientError),
    /// `redis_url` is not a Redis URL.
    #[error("`{url}` is not a Redis URL: {reason}")]
    Redis {
        /// The URL, password redacted.
        url: String,
        /// Why.
        reason: String,
    },
}

impl Gateway {
    /// Builds the shared state; fails only if an upstream client cannot be built or the Redis
    /// URL is not one. Records go to `ingest`, or first to `spool` when `settings.durable` is
    /// set; work left after a response runs on `tasks`.
    pub fn new(
        providers: Providers,
        settings: GatewaySettings,
        prices: Arc<PriceCatalog>,
        ingest: IngestHandle,
        spool: Arc<Spool>,
        keys: KeyRing,
        tasks: TaskTracker,
    ) -> Result<Self, BuildError> {
        let clients = upstream::Clients::new(&settings)?;
        // Durable recording counts tokens in place (see `Recorder::record`): build the
        // tokenizer now, on a thread of its own, rather than on the first call that needs it.
        if settings.durable {
            estimate::load_in_background();
        }
        let redis = match settings.redis_url.as_deref() {
            Some(url) => Some(shared::Redis::new(url).map_err(|e| BuildError::Redis {
                url: canopy_core::redact::redact_url(url).into_owned(),
                reason: e.to_string(),
            })?),
            None => None,
        };
        let cache = cache::Cache::new(settings.cache, redis.clone());
        let limiter = ratelimit::Limiter::new(settings.rate_limits.clone(), redis);
        let sink = Arc::new(ingest);
        let recorder = if settings.durable {
            Recorder::durable(prices, sink, settings.body_capture_limit, spool)
        } else {
            Recorder::new(prices, sink, settings.body_capture_limit)
        };
        let budget = BodyBudget::new(settings.body_buffer_budget);
        let labels = telemetry::ProviderLabels::new(&providers);
        Ok(Self {
            inner: Arc::new(Inner {
                providers,
                labels,
                settings,
                recorder,
                budget,
                keys,
                clients,
                cache,
                limiter,
                tasks,
            }),
        })
    }

    /// Shows every proxied call's completed record to `tap` (the OTLP exporter) before it is
    /// handed to the writer. Set once, before serving; a second tap is ignored.
    pub fn set_record_tap(&self, tap: Arc<dyn recorder::RecordTap>) {
        let _ = self.inner.recorder.set_tap(tap);
    }

    /// Lets `placer` (the OTLP ingest's trace buffer) give proxied calls that carry a
    /// `traceparent` and no session header their trace's session. Set once, before serving.
    pub fn set_record_placer(&self, placer: Arc<dyn recorder::RecordPlacer>) {
        let _ = self.inner.recorder.set_placer(placer);
    }

    /// Cuts every call in flight (their records are completed as cut) and waits, for at most
    /// `within`, until each has handed its record to the writer; returns how many had not.
    /// Shutdown calls this before it closes the writer's queue.
    pub async fn cut_in_flight(&self, within: std::time::Duration) -> usize {
        self.inner.recorder.cut();
        self.inner.recorder.wait_idle(within).await
    }

    /// Bytes currently held by buffered request bodies.
    pub fn buffered_body_bytes(&self) -> usize {
        self.inner.budget.in_use()
    }

    /// Whether `path` names a provider route: its first segment is `v1`, `gateway` or a
    /// provider's name. Such a path is a proxied call's, whatever follows.
    pub fn proxies(&self, path: &str) -> bool {
        let (route, _) = proxy::split_route(path);
        route == "v1"
            || route == provider::GATEWAY_ROUTE
            || self.inner.providers.get(route).is_some()
    }
}

/// The proxy, as a router whose fallback takes every path no other route claims.
///
/// Merge it with the health, API and dashboard routers: their routes match first, and every
/// other path is a provider route (`/v1/*`, `/<provider>/*`, `/gateway/*`).
pub fn router(gateway: Gateway) -> Router {
    Router::new().fallback(proxy::handle).with_state(gateway)
}
