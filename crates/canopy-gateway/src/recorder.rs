//! The one path a proxied call's record takes, from the moment the call is accepted to the
//! writer.
//!
//! [`Recorder::accept`] hands out a [`CallGuard`] as soon as a call is known to belong to an
//! organisation. The guard owns the record from then on: the handler fills it, the capture of
//! the response ([`crate::capture`]) feeds it, and it is completed exactly once, by
//! [`CallGuard::finish`] or, if nothing finished it, on `Drop` (the client left, or shutdown cut
//! the call: status −3). Completion follows [`canopy_core::completion`], the rules every ingest
//! path shares (counting tokens the provider did not report happens on the blocking pool); then
//! the record goes to the writer's queue, or first to the disk spool when durable recording is
//! on.
//!
//! The recorder also counts calls in flight, so shutdown can cut them and wait until each has
//! handed over its record before the writer stops. What must not go here: HTTP, or anything
//! that waits on the store.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use canopy_core::completion;
use canopy_core::extract::{ResponseFacts, WireFormat};
use canopy_core::pricing::PriceCatalog;
use canopy_core::record::{STATUS_CLIENT_CANCELLED, StoredBody};
use canopy_core::{CallId, CallRecord};
use canopy_store::spool::Spool;
use canopy_store::writer::IngestHandle;
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tracing::Span;

use crate::telemetry::{
    CallMeters, GATEWAY_FORMAT_MISMATCH_TOTAL, GATEWAY_UNPRICED_CALLS_TOTAL, LABEL_ACTUAL,
    LABEL_EXPECTED, LABEL_PROVIDER, OTHER, ProviderMeters,
};

/// Where completed records go. The writer's [`IngestHandle`] in production; a channel in
/// unit tests.
pub trait RecordSink: Send + Sync + fmt::Debug + 'static {
    /// Hands one record over without waiting.
    fn submit(&self, record: CallRecord);
}

impl RecordSink for IngestHandle {
    fn submit(&self, record: CallRecord) {
        IngestHandle::submit(self, record);
    }
}

/// Sees every proxied call's completed record just before it is handed to the writer (the
/// OTLP exporter), on the request's task or, for a call whose tokens were counted, on the
/// blocking pool. It must not block or wait: queue and return.
pub trait RecordTap: Send + Sync + fmt::Debug + 'static {
    /// Observes one record.
    fn observe(&self, record: &CallRecord);
}

/// Gives a record without a session the session of its distributed trace, when that is
/// known from spans sent to Canopy (the OTLP ingest's trace buffer). It sees only records that
/// carry a trace id and no session id, where [`RecordTap`] sees them: it must not wait.
pub trait RecordPlacer: Send + Sync + fmt::Debug + 'static {
    /// Returns the record to hand over now (with its session, if one was found), or `None`
    /// when the placer keeps it and hands it to the writer itself, once, later. It may keep
    /// it only when `may_hold` (not in durable mode, where a record is spooled before its
    /// response completes).
    fn place(&self, record: CallRecord, may_hold: bool) -> Option<CallRecord>;
}

/// Why a call that nothing finished was cut.
const CUT_AT_SHUTDOWN: &str = "Canopy shut down before the response ended";
const LEFT_BEFORE_SENDING: &str = "the client disconnected before the request was sent upstream";
const LEFT_BEFORE_HEADERS: &str =
    "the client disconnected before the upstream's response headers arrived";

/// Completes records and hands them to the writer; shared by every call.
#[derive(Debug, Clone)]
pub struct Recorder {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    prices: Arc<PriceCatalog>,
    sink: Arc<dyn RecordSink>,
    /// Sees each record before it is handed over, once set.
    tap: std::sync::OnceLock<Arc<dyn RecordTap>>,
    /// Places records that carry a trace and no session, once set.
    placer: std::sync::OnceLock<Arc<dyn RecordPlacer>>,
    /// When set, each record is appended here before its response completes.
    durable: Option<Arc<Spool>>,
    body_capture_limit: usize,
    meters: CallMeters,
    /// The counters of calls on a route Canopy does not serve.
    other: Arc<ProviderMeters>,
    in_flight: AtomicUsize,
    /// Woken when the last call in flight hands over its record after a cut.
    idle: Notify,
    cut: AtomicBool,
    /// Woken when calls in flight are cut.
    cut_notify: Notify,
    /// Records waiting for their tokens to be counted.
    counting: Counting,
}

/// Records whose tokens are counted on tokio's blocking pool, by at most one thread per CPU.
/// A thread takes records until none is left. With a thread per record, a burst of cancelled
/// calls would start one each (174 for a 256-connection burst), all waiting on the first count
/// to build the tokenizer's tables.
struct Counting {
    /// The records waiting, and how many threads are taking them.
    queue: std::sync::Mutex<(std::collections::VecDeque<(CallRecord, Ending)>, usize)>,
    threads: usize,
}

impl fmt::Debug for Counting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("Counting")
            .field("waiting", &queue.0.len())
            .field("taking", &queue.1)
            .field("threads", &self.threads)
            .finish()
    }
}

impl Counting {
    fn new() -> Self {
        Self {
            queue: std::sync::Mutex::default(),
            threads: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }

    /// Queues a record; true when the caller is to start a thread taking them.
    fn push(&self, record: CallRecord, ending: Ending) -> bool {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.0.push_back((record, ending));
        let start = queue.1 < self.threads;
        if start {
            queue.1 += 1;
        }
        start
    }

    /// The next record waiting; `None` ends the calling thread's turn.
    fn pop(&self) -> Option<(CallRecord, Ending)> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let next = queue.0.pop_front();
        if next.is_none() {
            queue.1 -= 1;
        }
        next
    }

    /// Takes records until none is left, completing each with `recorder`. A count that panics
    /// still ends the thread's turn, so the next record queued starts another thread.
    fn take(&self, recorder: &Recorder) {
        struct Turn<'a>(&'a Counting);
        impl Drop for Turn<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    let mut queue = self.0.queue.lock().unwrap_or_else(|e| e.into_inner());
                    queue.1 -= 1;
                }
            }
        }
        let _turn = Turn(self);
        while let Some((record, ending)) = self.pop() {
            recorder.complete(record, ending);
        }
    }
}

impl Recorder {
    /// A recorder pricing with `prices` and handing records to `sink`; bodies are kept up to
    /// `body_capture_limit` bytes. It counts into the process's metrics recorder as it is now:
    /// install that first.
    pub fn new(
        prices: Arc<PriceCatalog>,
        sink: Arc<dyn RecordSink>,
        body_capture_limit: usize,
    ) -> Self {
        Self::build(prices, sink, body_capture_limit, None)
    }

    /// Like [`Recorder::new`], appending every record to `spool` before its response completes
    /// (durable recording): a record survives `kill -9` at any point after that.
    pub fn durable(
        prices: Arc<PriceCatalog>,
        sink: Arc<dyn RecordSink>,
        body_capture_limit: usize,
        spool: Arc<Spool>,
    ) -> Self {
        Self::build(prices, sink, body_capture_limit, Some(spool))
    }

    fn build(
        prices: Arc<PriceCatalog>,
        sink: Arc<dyn RecordSink>,
        body_capture_limit: usize,
        durable: Option<Arc<Spool>>,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                prices,
                sink,
                tap: std::sync::OnceLock::new(),
                placer: std::sync::OnceLock::new(),
                durable,
                body_capture_limit,
                meters: CallMeters::new(),
                other: Arc::new(ProviderMeters::new(OTHER)),
                in_flight: AtomicUsize::new(0),
                idle: Notify::new(),
                cut: AtomicBool::new(false),
                cut_notify: Notify::new(),
                counting: Counting::new(),
            }),
        }
    }

    /// Shows every record to `tap` before handing it over, from now on. Only the first tap
    /// set is kept; returns whether this one was.
    pub fn set_tap(&self, tap: Arc<dyn RecordTap>) -> bool {
        self.shared.tap.set(tap).is_ok()
    }

    /// Lets `placer` give session-less records of a trace their trace's session, from now
    /// on. Only the first placer set is kept; returns whether this one was.
    pub fn set_placer(&self, placer: Arc<dyn RecordPlacer>) -> bool {
        self.shared.placer.set(placer).is_ok()
    }

    /// Takes ownership of an accepted call's record; the call's clock started at `started`.
    pub fn accept(&self, record: CallRecord, started: Instant) -> CallGuard {
        self.shared.in_flight.fetch_add(1, Ordering::AcqRel);
        self.shared.meters.in_flight.increment(1.0);
        CallGuard {
            recorder: self.clone(),
            provider: None,
            record,
            started,
            done: false,
            request_body: Bytes::new(),
            reached_upstream: false,
            permit: None,
            after: Vec::new(),
            free: false,
            span: Span::current(),
        }
    }

    /// The series every call updates.
    pub(crate) fn meters(&self) -> &CallMeters {
        &self.shared.meters
    }

    /// The most bytes of a body kept in a record.
    pub fn body_capture_limit(&self) -> usize {
        self.shared.body_capture_limit
    }

    /// Whether records are spooled before their responses complete.
    pub fn is_durable(&self) -> bool {
        self.shared.durable.is_some()
    }

    /// Calls whose record is not handed over yet.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Acquire)
    }

    /// Cuts every call in flight: bodies end with an error, handlers waiting on an upstream
    /// stop, and each guard records its call. New calls are cut as they arrive.
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::Release);
        self.shared.cut_notify.notify_waiters();
    }

    /// Whether [`Recorder::cut`] was called.
    pub fn is_cut(&self) -> bool {
        self.shared.cut.load(Ordering::Acquire)
    }

    /// Resolves once [`Recorder::cut`] is called.
    pub fn cut_signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let shared = self.shared.clone();
        async move {
            loop {
                let notified = shared.cut_notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if shared.cut.load(Ordering::Acquire) {
                    return;
                }
                notified.await;
            }
        }
    }

    /// Waits until every call in flight has handed over its record, for at most `within`;
    /// returns how many had not.
    pub async fn wait_idle(&self, within: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.shared.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let left = self.in_flight();
            if left == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.in_flight();
            }
        }
    }

    /// Completes a record, hands it over and releases the call. Counting tokens the provider
    /// did not report is CPU work that grows with the prompt (~3 ms per 100 KiB), and the first
    /// count builds the tokenizer (~0.15 s): it runs on the blocking pool ([`Counting`]), never
    /// on the runtime's worker, where it would hold up every other call. Durable recording must
    /// spool the record before the response completes, so it counts in place.
    fn record(&self, record: CallRecord, ending: Ending) {
        let counts_tokens =
            completion::needs_estimate(&record, &ending.facts, ending.reached_upstream);
        if counts_tokens
            && !self.is_durable()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            if self.shared.counting.push(record, ending) {
                let recorder = self.clone();
                runtime.spawn_blocking(move || recorder.shared.counting.take(&recorder));
            }
            return;
        }
        self.complete(record, ending);
    }

    fn complete(&self, mut record: CallRecord, ending: Ending) {
        let meters = ending.provider.as_ref().unwrap_or(&self.shared.other);
        let label = meters.label();
        let provider = pricing_provider(&record);
        let request_body = &ending.request_body;
        let completed = completion::complete(
            &mut record,
            ending.facts,
            ending.reached_upstream,
            |text| Some(crate::estimate::estimate(request_body, text)),
            &self.shared.prices,
            &provider,
        );
        if ending.free {
            // A cache hit: the provider did no work, so the call costs nothing.
            record.cost_nano_usd = Some(0);
        } else if completed.unpriced_model.is_some() {
            metrics::counter!(GATEWAY_UNPRICED_CALLS_TOTAL, LABEL_PROVIDER => label.to_owned())
                .increment(1);
        }
        if let Some(actual) = completed.format_mismatch {
            let expected = ending.format.map_or("unknown", WireFormat::as_str);
            tracing::warn!(
                provider = %record.provider,
                expected,
                actual = actual.as_str(),
                "A response did not have its provider's configured format; it was read as {}. \
                 Set `format` in the provider's section.",
                actual.as_str()
            );
            metrics::counter!(
                GATEWAY_FORMAT_MISMATCH_TOTAL,
                LABEL_PROVIDER => label.to_owned(),
                LABEL_EXPECTED => expected,
                LABEL_ACTUAL => actual.as_str(),
            )
            .increment(1);
        }
        meters.count_request(record.status);
        for hook in ending.after {
            hook(&record, ending.kept_body.as_ref());
        }
        self.hand_over(record);
        drop(ending.permit);
        self.release();
    }

    fn hand_over(&self, record: CallRecord) {
        if let Some(tap) = self.shared.tap.get() {
            tap.observe(&record);
        }
        let record = match self.shared.placer.get() {
            Some(placer)
                if record.session_id.is_none()
                    && record
                        .properties
                        .contains_key(canopy_core::trace::TRACE_ID_PROPERTY) =>
            {
                match placer.place(record, self.shared.durable.is_none()) {
                    Some(record) => record,
                    None => return,
                }
            }
            _ => record,
        };
        let Some(spool) = &self.shared.durable else {
            self.shared.sink.submit(record);
            return;
        };
        match spool.append(std::slice::from_ref(&record)) {
            Ok(()) => metrics::counter!(
                canopy_store::telemetry::INGEST_SPOOLED_TOTAL,
                canopy_store::telemetry::LABEL_REASON => "durable"
            )
            .increment(1),
            Err(error) => {
                tracing::error!(%error, "Cannot spool a record before its response completes; it is queued instead.");
                self.shared.sink.submit(record);
            }
        }
    }

    fn release(&self) {
        self.shared.meters.in_flight.decrement(1.0);
        let before = self.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
        if before == 1 && self.is_cut() {
            self.shared.idle.notify_waiters();
        }
    }
}

/// How a call ended, as [`Recorder::record`] needs it.
struct Ending {
    /// The counters of the call's provider label; `None` counts it under `other`.
    provider: Option<Arc<ProviderMeters>>,
    facts: ResponseFacts,
    reached_upstream: bool,
    request_body: Bytes,
    /// The request body's memory reservation, returned once the record is handed over.
    permit: Option<OwnedSemaphorePermit>,
    format: Option<WireFormat>,
    free: bool,
    after: Vec<AfterRecord>,
    kept_body: Option<Bytes>,
}

/// Work done with a call's completed record (its cost known) before it goes to the writer:
/// saving an answer to the cache, counting cost against a rate limit. Gets the record and the
/// body the client received, when the capture kept it for the cache.
pub type AfterRecord = Box<dyn FnOnce(&CallRecord, Option<&Bytes>) + Send>;

/// What the response said, for [`CallGuard::finish`].
#[derive(Debug, Default)]
pub struct Outcome {
    /// Replaces the status in the record (Canopy's own failures, a cancelled client).
    pub status: Option<i32>,
    /// Why the call failed.
    pub error: Option<String>,
    /// Usage, model and text read from the response.
    pub facts: ResponseFacts,
    /// The response body as stored.
    pub response_body: Option<StoredBody>,
    /// The format the response was expected in, for reporting a mismatch.
    pub format: Option<WireFormat>,
    /// The whole body the client received, kept for the cache.
    pub kept_body: Option<Bytes>,
}

/// The emit-once owner of one call's record.
pub struct CallGuard {
    recorder: Recorder,
    /// The counters of the bounded `provider` label the call is counted under; `None` is
    /// `other`.
    provider: Option<Arc<ProviderMeters>>,
    record: CallRecord,
    started: Instant,
    done: bool,
    /// The request body as sent, for estimating tokens when the response reports none.
    request_body: Bytes,
    /// The request was handed to the upstream, which may have done billable work.
    reached_upstream: bool,
    /// Memory reserved for the buffered request body; returned with the record.
    permit: Option<OwnedSemaphorePermit>,
    /// Run with the completed record.
    after: Vec<AfterRecord>,
    /// Answered from the cache: costs nothing.
    free: bool,
    /// The span the call was accepted in. A response body is read after the handler has
    /// returned, so the record is completed (and any warning about it logged) back in it.
    span: Span,
}

impl fmt::Debug for CallGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallGuard")
            .field("id", &self.record.id)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl CallGuard {
    /// The record being built.
    pub fn record(&mut self) -> &mut CallRecord {
        &mut self.record
    }

    /// The call's id.
    pub fn id(&self) -> CallId {
        self.record.id
    }

    /// When the call arrived.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Counts the call under the provider label of `meters` (a route Canopy serves) instead
    /// of `other`.
    pub(crate) fn set_provider(&mut self, meters: Arc<ProviderMeters>) {
        self.provider = Some(meters);
    }

    /// The recorder this guard reports to.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Keeps the buffered request body (and the memory it holds) until the record is done.
    pub fn keep_request_body(&mut self, body: Bytes, permit: Option<OwnedSemaphorePermit>) {
        self.request_body = body;
        self.permit = permit;
    }

    /// Runs `hook` with the completed record, before it goes to the writer.
    pub fn after_record(&mut self, hook: AfterRecord) {
        self.after.push(hook);
    }

    /// Whether a hook waits for the completed record (the capture then keeps the body for
    /// the cache).
    pub fn has_after_hooks(&self) -> bool {
        !self.after.is_empty()
    }

    /// The call is answered from the cache: it is recorded as costing nothing.
    pub fn answered_from_cache(&mut self) {
        self.free = true;
    }

    /// The request is about to go upstream.
    pub fn sending_upstream(&mut self) {
        self.reached_upstream = true;
    }

    /// Whether the record was handed over.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Records a call Canopy answered itself, with `status` and `error`.
    pub fn fail(mut self, status: i32, error: &str) {
        self.finish(Outcome {
            status: Some(status),
            error: Some(error.to_owned()),
            ..Outcome::default()
        });
    }

    /// Completes the record with what the response said and hands it over; later calls do
    /// nothing.
    pub fn finish(&mut self, outcome: Outcome) {
        if self.done {
            return;
        }
        self.done = true;
        let span = std::mem::replace(&mut self.span, Span::none());
        let _entered = span.enter();
        let mut record = std::mem::take(&mut self.record);
        let elapsed = millis(self.started.elapsed());
        record.latency_ms = Some(elapsed);
        record.response_created_at_ms = Some(record.created_at_ms.saturating_add(elapsed));
        if let Some(status) = outcome.status {
            record.status = status;
        }
        if outcome.error.is_some() {
            record.error = outcome.error;
        }
        if let Some(body) = outcome.response_body {
            record.response_body = body;
        }
        self.recorder.record(
            record,
            Ending {
                provider: self.provider.take(),
                facts: outcome.facts,
                reached_upstream: self.reached_upstream,
                request_body: std::mem::take(&mut self.request_body),
                permit: self.permit.take(),
                format: outcome.format,
                free: self.free,
                after: std::mem::take(&mut self.after),
                kept_body: outcome.kept_body,
            },
        );
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let reason = if self.recorder.is_cut() {
            CUT_AT_SHUTDOWN
        } else if self.reached_upstream {
            LEFT_BEFORE_HEADERS
        } else {
            LEFT_BEFORE_SENDING
        };
        self.finish(Outcome {
            status: Some(STATUS_CLIENT_CANCELLED),
            error: Some(reason.to_owned()),
            ..Outcome::default()
        });
    }
}

/// The provider name prices are looked up under: the route, or for `/gateway/*` calls the
/// built-in provider whose host the target is.
fn pricing_provider(record: &CallRecord) -> String {
    if record.provider != crate::provider::GATEWAY_ROUTE {
        return record.provider.clone();
    }
    let host = url::Url::parse(&record.target_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned));
    crate::provider::BUILTIN
        .iter()
        .find(|(_, origin, _)| host.as_deref().is_some_and(|h| origin.contains(h)))
        .map_or_else(
            || record.provider.clone(),
            |(name, _, _)| (*name).to_owned(),
        )
}

/// A body as stored: text, cut at the capture limit, or nothing when omitted.
pub fn stored_body(bytes: Vec<u8>, truncated: bool, omitted: bool) -> StoredBody {
    if omitted {
        return StoredBody {
            text: None,
            truncated: false,
            omitted: true,
        };
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    StoredBody {
        text: (!text.is_empty()).then_some(text),
        truncated,
        omitted: false,
    }
}

pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
pub(crate) mod tests;
