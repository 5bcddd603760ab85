//! `canopy serve`: wires the store, the writer and the gateway, and runs until shut down.

use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use axum::{Router, ServiceExt as _};
use canopy_core::pricing::PriceCatalog;
use canopy_gateway::headers::HEADER_LOG_REQUEST_ID;
use canopy_gateway::{Gateway, Providers};
use canopy_store::Query;
use canopy_store::keys::{AuthMode, KeyRing};
use canopy_store::spool::Spool;
use canopy_store::writer::{self, IngestHandle, ShutdownReport};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::{Service, ServiceExt as _};
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::{MetricsAuth, Settings};
use crate::retention;
use crate::store::Store;
use crate::telemetry;

/// What a finished server reports.
#[derive(Debug, Clone, Copy)]
pub struct ServeReport {
    /// What the writer left behind.
    pub writer: ShutdownReport,
}

/// A started server's parts that tests and the demo reach into.
pub struct Started {
    /// The writer's handle, to wait for records to be written.
    pub ingest: IngestHandle,
    /// The store, for reading records back.
    pub store: Arc<Store>,
    /// The key ring, to refresh it at once after changing keys.
    pub keys: KeyRing,
}

/// Runs on an already-bound listener until `shutdown` resolves, then shuts down in the order
/// [`crate::shutdown`] documents. `on_start` is called once everything is ready.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_start: impl FnOnce(Started),
) -> anyhow::Result<ServeReport> {
    // TLS everywhere uses rustls with the ring provider; installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The recorder comes first, so that nothing counted while starting (a spool replayed at
    // start) is lost.
    let metrics = telemetry::prometheus().clone();
    let store = Arc::new(Store::open(&settings.store).await.with_context(|| {
        format!(
            "invalid configuration in {}: key `store` = `{}` cannot be opened",
            settings.store_source,
            canopy_store::redact_url(&settings.store)
        )
    })?);
    let spool =
        Arc::new(Spool::open(&settings.spool_dir).context("cannot open the spool directory")?);
    let prices = load_prices(&settings)?;
    let keys = key_ring(&settings, &store).await?;
    let tracker = TaskTracker::new();
    let (ingest, writer) = writer::spawn(
        store.ingest.clone(),
        spool.clone(),
        settings.writer.clone(),
        &tracker,
    );
    let report_ingest = ingest.clone();
    let providers = Providers::new(settings.providers.clone(), &settings.default_provider)
        .map_err(|e| anyhow::anyhow!("invalid configuration: key `default_provider`: {e}"))?;
    let prices = Arc::new(prices);
    let stop = CancellationToken::new();
    let api = canopy_api::ApiState {
        query: store.query.clone(),
        annotate: store.annotate.clone(),
        ingest: ingest.clone(),
        prices: prices.clone(),
        keys: keys.clone(),
        gateway_url: self_url(&listener)?,
        provider_routes: Arc::new(providers.routes()),
        http: reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("cannot build the replay client")?,
        replays: canopy_api::replay_slots::ReplaySlots::default(),
        // Jobs stop sending calls when the server stops.
        replay_jobs: canopy_api::replay::ReplayJobs::new(tracker.clone(), stop.clone()),
        otel: Arc::new(canopy_api::otel::hold::Holder::new(Default::default())),
    };
    let otel_api = api.clone();
    // The exporter stops on its own token, after the server has drained, so that it still
    // sends the spans of the last calls.
    let export_stop = CancellationToken::new();
    let exporter = match settings.otel.clone() {
        Some(config) => Some(
            crate::otel_export::spawn(config, &tracker, export_stop.clone())
                .context("cannot build the OTLP exporter")?
                as Arc<dyn canopy_gateway::recorder::RecordTap>,
        ),
        None => None,
    };
    let gateway = Gateway::new(
        providers,
        settings.gateway.clone(),
        prices,
        ingest.clone(),
        spool,
        keys.clone(),
        tracker.clone(),
    )
    .context("cannot build the gateway")?;
    if let Some(exporter) = exporter {
        gateway.set_record_tap(exporter);
    }
    gateway.set_record_placer(Arc::new(TracePlacer(otel_api.clone())));
    let in_flight = gateway.clone();
    let app = router(
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(readyz(store.query.clone(), ingest.clone())))
            .route(
                "/metrics",
                get(metrics_route(
                    metrics,
                    ingest.clone(),
                    keys.clone(),
                    settings.metrics_auth,
                )),
            )
            .merge(canopy_api::router(api)),
        gateway.clone(),
    );

    let trigger = stop.clone();
    tracker.spawn(async move {
        tokio::select! {
            () = shutdown => trigger.cancel(),
            () = trigger.cancelled() => {}
        }
    });
    let refreshing = keys.clone();
    let refresh_stop = stop.clone();
    tracker.spawn(async move {
        let mut tick = tokio::time::interval(KEY_REFRESH);
        loop {
            tokio::select! {
                () = refresh_stop.cancelled() => break,
                _ = tick.tick() => {
                    if let Err(error) = refreshing.refresh().await {
                        tracing::warn!(%error, "Cannot reload keys; the previous set stays in force.");
                    }
                }
            }
        }
    });
    // OTLP spans that waited their full time for their ancestors are placed every second.
    let sweeping = otel_api.clone();
    let sweep_stop = stop.clone();
    tracker.spawn(async move {
        let mut tick = tokio::time::interval(OTEL_SWEEP);
        loop {
            tokio::select! {
                () = sweep_stop.cancelled() => break,
                _ = tick.tick() => canopy_api::otel::sweep(&sweeping),
            }
        }
    });
    if let Err(error) = store.retain.expire_after(settings.retention).await {
        tracing::warn!(%error, "Cannot set the store's own expiry; the hourly purge still runs.");
    }
    if let Some(keep) = settings.retention {
        retention::spawn(&tracker, store.retain.clone(), keep, stop.clone());
    }
    on_start(Started {
        ingest,
        store: store.clone(),
        keys,
    });
    // Without TCP_NODELAY a streamed answer's small writes wait on the client's delayed ACK
    // (Nagle's algorithm): ~40 ms per event. Failing to set it leaves Canopy slower, not wrong.
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    // Handed to `serve` as a router, axum would re-apply its state per connection, rebuilding
    // every route's service: ~70 allocations and ~16 KB held per connection. Applied once here,
    // each connection shares the routes.
    let app = dispatch(app.with_state(()), gateway).into_make_service();
    // The accept loop runs as a task on the runtime's workers. Awaited here, it would run on
    // the thread that started the runtime, and each new connection would take two hand-offs
    // between threads: the worker that saw it wake that thread, which woke a worker again for
    // the connection's task.
    let mut server = tracker.spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .into_future(),
    );
    let grace = settings.shutdown_grace;
    let deadline = async {
        stop.cancelled().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        served = &mut server => served.context("the server stopped")?.context("the server failed")?,
        () = deadline => {
            server.abort();
            tracing::warn!(?grace, "In-flight calls did not finish in time; cutting them.");
        }
    }
    stop.cancel();
    // Calls still running are cut while the writer still takes their records, so they reach
    // the store rather than the spool.
    let uncut = in_flight.cut_in_flight(CUT_WAIT).await;
    if uncut > 0 {
        tracing::warn!(
            calls = uncut,
            "Some cut calls did not hand over their records in time; they go to the spool."
        );
    }
    // Spans still waiting for their ancestors are recorded with what is known.
    canopy_api::otel::drain(&otel_api);
    let report = writer.shutdown().await;
    export_stop.cancel();
    tracker.close();
    tracker.wait().await;
    store.close().await;
    let waiting = report_ingest.spool_depth();
    if report.spool_pending {
        tracing::warn!(
            records = waiting,
            "Some records wait in the spool; they are written at the next start."
        );
    }
    tracing::info!(written = report.written, spooled = waiting, "Stopped.");
    Ok(ServeReport { writer: report })
}

/// Proxied calls with a `traceparent` and no session header join their trace's session
/// through the OTLP ingest's trace buffer (`canopy_api::otel::place_call`).
#[derive(Clone)]
struct TracePlacer(canopy_api::ApiState);

impl std::fmt::Debug for TracePlacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TracePlacer")
    }
}

impl canopy_gateway::recorder::RecordPlacer for TracePlacer {
    fn place(
        &self,
        record: canopy_core::CallRecord,
        may_hold: bool,
    ) -> Option<canopy_core::CallRecord> {
        canopy_api::otel::place_call(&self.0, record, may_hold)
    }
}

/// Canopy's own routes, then the dashboard, then the proxy (the fallback for every path).
/// Own routes run in these layers, outer to inner:
/// 1. a request id (the caller's `x-request-id`, else a new UUIDv7) is set and answered in
///    `x-request-id`;
/// 2. the request span (method, matched route, request id; see [`telemetry::request_span`]);
/// 3. every 5xx is logged with its cause;
/// 4. answers are compressed (brotli or gzip, as `Accept-Encoding` asks), so a large
///    session's JSON or the dashboard's modules cross the wire at a fraction of their size.
///
/// The proxy has no layers: its handler opens the same span and logs its 5xx itself, and its
/// answers pass through unchanged. Layers would wrap every call's future and response body.
fn router(own: Router, gateway: Gateway) -> Router {
    // The dashboard's routes (`/`, `/ui/*`) come before the proxy.
    #[cfg(feature = "ui")]
    let own = own.merge(canopy_ui::router());
    let request_id = HeaderName::from_static(HEADER_LOG_REQUEST_ID);
    let trace = TraceLayer::new_for_http()
        .make_span_with(telemetry::request_span::<axum::body::Body>)
        .on_failure(());
    let own = own
        .layer(
            CompressionLayer::new()
                .quality(tower_http::CompressionLevel::Fastest)
                .compress_when(tower_http::compression::DefaultPredicate::new()),
        )
        .layer(middleware::from_fn(telemetry::log_server_errors))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(trace)
        .layer(SetRequestIdLayer::new(request_id, telemetry::MakeId));
    own.merge(canopy_gateway::router(gateway))
}

/// The service every connection runs: a provider route's call goes straight to the proxy,
/// any other path through the router. The router's matching, its fallback route and the
/// handler's adapters were 4.5 % of the serving thread's samples per proxied call; and the call's
/// future now lives in the connection's slot for it, where axum boxed it per call.
/// Canopy's own routes never share a first segment with a provider route (config.rs,
/// [`OWN_ROUTES`]).
fn dispatch(
    router: Router,
    gateway: Gateway,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone {
    tower::service_fn(move |request: Request| {
        let gateway = gateway.clone();
        let router = router.clone();
        async move {
            if gateway.proxies(request.uri().path()) {
                Ok(canopy_gateway::proxy::handle(State(gateway), request).await)
            } else {
                router.oneshot(request).await
            }
        }
    })
}

/// The first path segments of Canopy's own routes (health, metrics, API, dashboard). No
/// provider may take one as its route name.
pub(crate) const OWN_ROUTES: &[&str] = &["api", "healthz", "readyz", "metrics", "ui"];

/// How long `/readyz` waits for the store.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /readyz`: 200 when the store answers a query, 503 when it does not; both report the
/// writer's queue and spool depths. `/healthz` stays liveness only.
fn readyz(
    query: Arc<dyn Query>,
    ingest: IngestHandle,
) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = Response> + Send>> + Clone + Send + 'static
{
    move || {
        let query = query.clone();
        let ingest = ingest.clone();
        Box::pin(async move {
            // A primary-key read of a session no organisation has: cheap at any size.
            let check = tokio::time::timeout(READY_TIMEOUT, query.get_session("", "")).await;
            let store = match check {
                Ok(Ok(_)) => "ok",
                Ok(Err(error)) => {
                    tracing::warn!(%error, "Not ready: the store failed a query.");
                    "unreachable"
                }
                Err(_) => {
                    tracing::warn!(
                        ?READY_TIMEOUT,
                        "Not ready: the store did not answer in time."
                    );
                    "timed_out"
                }
            };
            let ready = store == "ok";
            let status = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let body = serde_json::json!({
                "status": if ready { "ready" } else { "unavailable" },
                "store": store,
                "spool_depth": ingest.spool_depth(),
                "queue_depth": ingest.queue_depth(),
            });
            (status, axum::Json(body)).into_response()
        })
    }
}

/// `GET /metrics`: Prometheus text. With `metrics_auth = "required"` it needs a Canopy key
/// whenever the API does (`Authorization: Bearer <key>`, as Prometheus sends its
/// `authorization` credentials).
fn metrics_route(
    handle: metrics_exporter_prometheus::PrometheusHandle,
    ingest: IngestHandle,
    keys: KeyRing,
    auth: MetricsAuth,
) -> impl Fn(HeaderMap) -> std::future::Ready<Response> + Clone + Send + 'static {
    move |headers: HeaderMap| {
        if auth == MetricsAuth::Required
            && let Err(error) = keys.authenticate(canopy_api::canopy_key(&headers).as_deref())
        {
            return std::future::ready(telemetry::metrics_unauthorized(&error.to_string()));
        }
        std::future::ready(telemetry::render(&handle, &ingest).into_response())
    }
}

/// The URL this server answers on, for sending replays through its own proxy.
fn self_url(listener: &TcpListener) -> anyhow::Result<String> {
    let mut addr = listener
        .local_addr()
        .context("the listener has no address")?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    Ok(format!("http://{addr}"))
}

/// How long shutdown waits for cut calls to hand over their records.
const CUT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// How often keys are reloaded: a new or revoked key takes effect within this.
const KEY_REFRESH: std::time::Duration = std::time::Duration::from_secs(1);
/// How often OTLP spans that waited their full time are placed.
const OTEL_SWEEP: std::time::Duration = std::time::Duration::from_secs(1);

/// Loads the keys. Canopy runs open (one local organisation, no keys) only while no key was
/// ever created, and only on a loopback address unless told `--insecure-no-auth`.
async fn key_ring(settings: &Settings, store: &Store) -> anyhow::Result<KeyRing> {
    let loopback = settings.listen.ip().is_loopback();
    let ring = KeyRing::load(
        store.keys.clone(),
        &settings.gateway.default_org,
        loopback || settings.insecure_no_auth,
    )
    .await
    .context("cannot load keys")?;
    if ring.mode() == AuthMode::Required
        && store
            .keys
            .keys_ever_created()
            .await
            .context("cannot count keys")?
            == 0
    {
        anyhow::bail!(
            "refusing to run without keys on {}: create one with `canopy keys create --org NAME`, \
             listen on a loopback address, or pass --insecure-no-auth",
            settings.listen
        );
    }
    Ok(ring)
}

fn load_prices(settings: &Settings) -> anyhow::Result<PriceCatalog> {
    let mut prices = PriceCatalog::builtin().context("the built-in price catalog is invalid")?;
    if let Some(path) = &settings.pricing_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read pricing_file {}", path.display()))?;
        let overrides = PriceCatalog::from_json(&text).with_context(|| {
            format!(
                "invalid configuration: pricing_file {} cannot be used",
                path.display()
            )
        })?;
        prices.merge(overrides);
    }
    Ok(prices)
}
