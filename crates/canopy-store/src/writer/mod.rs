//! The batching writer: takes records off the request path and writes them in batches.
//!
//! [`spawn`] starts one task and returns an [`IngestHandle`] (cheap to clone, held by the
//! gateway) and a [`Writer`] (held by the binary, to shut it down).
//!
//! - [`IngestHandle::submit`] never waits: it `try_send`s to a bounded queue, and when the
//!   queue is full or closed it appends the record to the on-disk [`Spool`]. Only a failed
//!   spool append loses a record; that is counted and logged at ERROR.
//! - The task batches adaptively: once a record arrives it keeps collecting for at most
//!   `linger` (a few milliseconds) or until `batch_size`, then writes. Under load batches grow
//!   by themselves; at low load a lone call waits at most `linger`, and the store is not asked
//!   for one transaction per call, which would cost more CPU than the call itself.
//! - Up to `in_flight` batches are written at once, so the next batch is collected and encoded
//!   while the store works on the last one (a server store does that work on another core).
//!   Batches may land out of order; writing is idempotent and session totals add up whatever
//!   the order, so nothing depends on it.
//! - A failed flush is retried with exponential backoff `retry_attempts` times, then the batch
//!   goes to the spool. Spooled files are replayed every `replay_interval` while the store
//!   accepts writes, and once more at start and at shutdown.
//! - [`Writer::shutdown`] closes the queue (later submits go to the spool), writes what was
//!   queued, replays the spool once, and reports what is left.

use std::sync::Arc;
use std::time::Duration;

use canopy_core::CallRecord;
use metrics::{Counter, counter};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Ingest;
use crate::spool::{self, Spool};
use crate::telemetry::{
    INGEST_DROPPED_TOTAL, INGEST_ENQUEUED_TOTAL, INGEST_FLUSH_SECONDS, INGEST_REPLAYED_TOTAL,
    INGEST_SPOOLED_TOTAL, INGEST_WRITTEN_TOTAL, LABEL_REASON,
};

/// How the writer batches and retries.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Records the queue holds before submits spill to the spool.
    pub queue_capacity: usize,
    /// The most records written in one transaction.
    pub batch_size: usize,
    /// Attempts after the first failed flush before the batch is spooled.
    pub retry_attempts: u32,
    /// Wait before the first retry; doubled for each next one.
    pub retry_backoff: Duration,
    /// How often spooled records are tried again.
    pub replay_interval: Duration,
    /// How long a started batch waits for more records before it is written.
    pub linger: Duration,
    /// The most batches being written at once; `None` takes the store's
    /// [`Ingest::batches_in_flight`].
    pub in_flight: Option<usize>,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 8192,
            batch_size: 512,
            retry_attempts: 3,
            retry_backoff: Duration::from_millis(50),
            replay_interval: Duration::from_secs(1),
            linger: Duration::from_millis(5),
            in_flight: None,
        }
    }
}

/// The request path's side of the writer.
#[derive(Debug, Clone)]
pub struct IngestHandle {
    tx: mpsc::Sender<CallRecord>,
    spool: Arc<Spool>,
    written: watch::Receiver<u64>,
    /// `canopy_ingest_enqueued_total`, found in the recorder once rather than per record.
    enqueued: Counter,
}

impl IngestHandle {
    /// Hands a record to the writer without waiting.
    pub fn submit(&self, record: CallRecord) {
        match self.tx.try_send(record) {
            Ok(()) => self.enqueued.increment(1),
            Err(mpsc::error::TrySendError::Full(record)) => self.spill(record, "queue_full"),
            Err(mpsc::error::TrySendError::Closed(record)) => self.spill(record, "closed"),
        }
    }

    fn spill(&self, record: CallRecord, reason: &'static str) {
        spool_batch(&self.spool, std::slice::from_ref(&record), reason);
    }

    /// Records waiting in the queue for the writer.
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity().saturating_sub(self.tx.capacity())
    }

    /// Records waiting in the on-disk spool for the store.
    pub fn spool_depth(&self) -> u64 {
        self.spool.depth()
    }

    /// The number of records written to the store so far; tests and benchmarks wait on it.
    pub fn written(&self) -> watch::Receiver<u64> {
        self.written.clone()
    }
}

/// The owner's side of the writer.
#[derive(Debug)]
pub struct Writer {
    stop: CancellationToken,
    done: tokio::sync::oneshot::Receiver<ShutdownReport>,
}

/// What the writer left behind at shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShutdownReport {
    /// Records written to the store over the writer's life.
    pub written: u64,
    /// Whether spooled records remain on disk for the next start.
    pub spool_pending: bool,
}

impl Writer {
    /// Closes the queue, writes everything queued, replays the spool once, and reports.
    /// Records submitted after this go to the spool.
    pub async fn shutdown(self) -> ShutdownReport {
        self.stop.cancel();
        self.done.await.unwrap_or_default()
    }
}

/// Starts the writer task on `tracker`. The handle counts into the process's metrics recorder
/// as it is now: install that first.
pub fn spawn(
    ingest: Arc<dyn Ingest>,
    spool: Arc<Spool>,
    config: WriterConfig,
    tracker: &TaskTracker,
) -> (IngestHandle, Writer) {
    let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
    let (written_tx, written_rx) = watch::channel(0);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let stop = CancellationToken::new();
    let in_flight = config
        .in_flight
        .unwrap_or_else(|| ingest.batches_in_flight())
        .max(1);
    let task = Task {
        in_flight,
        ingest,
        spool: spool.clone(),
        config,
        written: written_tx,
    };
    tracker.spawn(Arc::new(task).run(rx, stop.clone(), done_tx));
    (
        IngestHandle {
            tx,
            spool,
            written: written_rx,
            enqueued: counter!(INGEST_ENQUEUED_TOTAL),
        },
        Writer {
            stop,
            done: done_rx,
        },
    )
}

struct Task {
    /// The most batches being written at once, resolved from the config and the store.
    in_flight: usize,
    ingest: Arc<dyn Ingest>,
    spool: Arc<Spool>,
    config: WriterConfig,
    written: watch::Sender<u64>,
}

impl Task {
    async fn run(
        self: Arc<Self>,
        mut rx: mpsc::Receiver<CallRecord>,
        stop: CancellationToken,
        done: tokio::sync::oneshot::Sender<ShutdownReport>,
    ) {
        let batch_size = self.config.batch_size.max(1);
        let mut batch = Vec::with_capacity(batch_size);
        let mut flushes = JoinSet::new();
        let mut next_replay = Instant::now();
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                received = rx.recv_many(&mut batch, batch_size) => {
                    if received == 0 {
                        break;
                    }
                    self.linger(&mut rx, &mut batch, batch_size).await;
                    self.start_flush(&mut flushes, &mut batch, &stop).await;
                }
                () = tokio::time::sleep_until(next_replay) => {
                    self.replay_spool(&stop).await;
                    next_replay = Instant::now() + self.config.replay_interval;
                }
            }
        }
        // Shutdown: refuse new records (they spool), then write what the queue still holds.
        rx.close();
        while rx.recv_many(&mut batch, batch_size).await > 0 {
            self.start_flush(&mut flushes, &mut batch, &stop).await;
        }
        while flushes.join_next().await.is_some() {}
        self.replay_spool(&CancellationToken::new()).await;
        let report = ShutdownReport {
            written: *self.written.borrow(),
            spool_pending: self.spool.has_pending(),
        };
        let _ = done.send(report);
    }

    /// Starts writing `batch` (taking its records), once fewer than `in_flight` writes are
    /// under way.
    async fn start_flush(
        self: &Arc<Self>,
        flushes: &mut JoinSet<()>,
        batch: &mut Vec<CallRecord>,
        stop: &CancellationToken,
    ) {
        while flushes.len() >= self.in_flight {
            flushes.join_next().await;
        }
        let records = std::mem::replace(batch, Vec::with_capacity(self.config.batch_size.max(1)));
        let (task, stop) = (self.clone(), stop.clone());
        flushes.spawn(async move { task.flush(records, &stop).await });
    }

    /// Keeps receiving into a started batch until it is full or `linger` has passed.
    async fn linger(
        &self,
        rx: &mut mpsc::Receiver<CallRecord>,
        batch: &mut Vec<CallRecord>,
        batch_size: usize,
    ) {
        let deadline = Instant::now() + self.config.linger;
        while batch.len() < batch_size {
            match tokio::time::timeout_at(deadline, rx.recv_many(batch, batch_size - batch.len()))
                .await
            {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    /// Writes `batch`, retrying, and spools it if the store keeps failing.
    async fn flush(&self, batch: Vec<CallRecord>, stop: &CancellationToken) {
        if batch.is_empty() {
            return;
        }
        let batch: Arc<[CallRecord]> = batch.into();
        if self.write_with_retry(&batch, stop).await {
            self.count_written(batch.len());
        } else {
            spool_batch(&self.spool, &batch, "store_failed");
        }
    }

    async fn write_with_retry(&self, batch: &Arc<[CallRecord]>, stop: &CancellationToken) -> bool {
        let mut backoff = self.config.retry_backoff;
        for attempt in 0..=self.config.retry_attempts {
            let started = Instant::now();
            match self.ingest.write_shared(batch.clone()).await {
                Ok(()) => {
                    metrics::histogram!(INGEST_FLUSH_SECONDS).record(started.elapsed());
                    return true;
                }
                Err(error) => {
                    tracing::warn!(%error, rows = batch.len(), attempt, "Writing a batch failed.");
                }
            }
            if attempt == self.config.retry_attempts {
                break;
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = backoff.saturating_mul(2);
        }
        false
    }

    /// Writes every sealed spool file to the store and deletes it; stops at the first failure.
    async fn replay_spool(&self, stop: &CancellationToken) {
        if !self.spool.has_pending() {
            return;
        }
        let files = match self.spool.take_sealed() {
            Ok(files) => files,
            Err(error) => {
                tracing::error!(%error, "Cannot list the spool.");
                return;
            }
        };
        for file in files {
            let (records, torn) = match spool::read_file(&file) {
                Ok(read) => read,
                Err(error) => {
                    tracing::error!(%error, "Cannot read a spool file; it is kept.");
                    return;
                }
            };
            if torn > 0 {
                counter!(INGEST_DROPPED_TOTAL, LABEL_REASON => "spool_corrupt")
                    .increment(torn as u64);
                tracing::error!(file = %file.display(), torn, "Skipped unreadable spooled records.");
            }
            let mut written = 0;
            for chunk in records.chunks(self.config.batch_size.max(1)) {
                if !self.write_with_retry(&chunk.into(), stop).await {
                    // The store is still failing. Move what is left to a new spool file so the
                    // part already written is not written again; if that fails, keep the file.
                    if written > 0 && self.spool.append(&records[written..]).is_ok() {
                        let _ = self.spool.remove_replayed(&file, records.len() + torn);
                    }
                    return;
                }
                written += chunk.len();
                self.count_written(chunk.len());
                counter!(INGEST_REPLAYED_TOTAL).increment(chunk.len() as u64);
            }
            if let Err(error) = self.spool.remove_replayed(&file, records.len() + torn) {
                tracing::error!(%error, "Cannot delete a replayed spool file; it will be replayed again.");
            }
            tracing::info!(file = %file.display(), records = records.len(), "Replayed spooled records.");
        }
    }

    fn count_written(&self, rows: usize) {
        counter!(INGEST_WRITTEN_TOTAL).increment(rows as u64);
        self.written.send_modify(|n| *n += rows as u64);
    }
}

/// Appends records to the spool, counting them as spooled, or as dropped if the disk fails.
fn spool_batch(spool: &Spool, records: &[CallRecord], reason: &'static str) {
    match spool.append(records) {
        Ok(()) => {
            counter!(INGEST_SPOOLED_TOTAL, LABEL_REASON => reason).increment(records.len() as u64);
        }
        Err(error) => {
            counter!(INGEST_DROPPED_TOTAL, LABEL_REASON => reason).increment(records.len() as u64);
            tracing::error!(%error, records = records.len(), "Lost call records: the spool failed.");
        }
    }
}

#[cfg(test)]
mod tests;
