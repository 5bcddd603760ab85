use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use canopy_core::CallId;
use proptest::prelude::*;

use super::*;
use crate::{Result, StoreError};

/// An in-memory store that fails the writes its schedule says to fail.
#[derive(Default)]
struct FlakyStore {
    rows: Mutex<HashMap<CallId, usize>>,
    schedule: Vec<bool>,
    calls: AtomicUsize,
}

#[async_trait]
impl Ingest for FlakyStore {
    async fn write(&self, batch: &[CallRecord]) -> Result<()> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.schedule.get(n).copied().unwrap_or(false) {
            return Err(StoreError::Write {
                rows: batch.len(),
                source: "injected failure".into(),
            });
        }
        let mut rows = self.rows.lock().unwrap();
        for record in batch {
            *rows.entry(record.id).or_default() += 1;
        }
        Ok(())
    }
}

fn config(queue_capacity: usize) -> WriterConfig {
    WriterConfig {
        queue_capacity,
        batch_size: 4,
        retry_attempts: 1,
        retry_backoff: Duration::from_millis(5),
        replay_interval: Duration::from_millis(20),
        linger: Duration::from_millis(3),
        in_flight: Some(1),
    }
}

/// A store whose writes finish only once `width` of them are under way at the same time, and
/// which asks for `width` batches in flight.
struct WideStore {
    width: usize,
    barrier: tokio::sync::Barrier,
}

impl WideStore {
    fn new(width: usize) -> Arc<Self> {
        Arc::new(Self {
            width,
            barrier: tokio::sync::Barrier::new(width),
        })
    }
}

#[async_trait]
impl Ingest for WideStore {
    async fn write(&self, _batch: &[CallRecord]) -> Result<()> {
        self.barrier.wait().await;
        Ok(())
    }

    fn batches_in_flight(&self) -> usize {
        self.width
    }
}

/// Submits `n` records, one per batch, and waits until all are written: with fewer than `n`
/// writes at once against a store of width `n`, the first would wait for the last forever.
async fn write_together(store: Arc<WideStore>, in_flight: Option<usize>, n: u64) {
    let dir = tempfile::tempdir().unwrap();
    let spool = Arc::new(Spool::open(dir.path()).unwrap());
    let tracker = TaskTracker::new();
    let config = WriterConfig {
        batch_size: 1,
        linger: Duration::ZERO,
        in_flight,
        ..config(16)
    };
    let (handle, writer) = spawn(store, spool, config, &tracker);
    for _ in 0..n {
        handle.submit(record());
    }
    let mut written = handle.written();
    tokio::time::timeout(Duration::from_secs(10), written.wait_for(|w| *w == n))
        .await
        .expect("the batches written together")
        .unwrap();
    assert_eq!(writer.shutdown().await.written, n);
}

#[test]
fn batches_are_written_in_flight_together() {
    runtime().block_on(write_together(WideStore::new(2), Some(2), 2));
}

#[test]
fn the_store_chooses_how_many_batches_are_in_flight_unless_configured() {
    runtime().block_on(write_together(WideStore::new(4), None, 4));
}

fn record() -> CallRecord {
    CallRecord {
        id: CallId::new(),
        ..CallRecord::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the store's failures and however full the queue, every record is written
    /// exactly once after a restart with a healthy store.
    #[test]
    fn no_record_is_lost_or_duplicated(
        schedule in proptest::collection::vec(any::<bool>(), 0..24),
        count in 0usize..60,
        capacity in 1usize..16,
        yield_every in 1usize..8,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<CallId> = runtime().block_on(async {
            let store = Arc::new(FlakyStore { schedule, ..FlakyStore::default() });
            let spool = Arc::new(Spool::open(dir.path()).unwrap());
            let tracker = TaskTracker::new();
            let (handle, writer) = spawn(store.clone(), spool, config(capacity), &tracker);
            let mut ids = Vec::new();
            for i in 0..count {
                let r = record();
                ids.push(r.id);
                handle.submit(r);
                if i % yield_every == 0 {
                    tokio::task::yield_now().await;
                }
            }
            writer.shutdown().await;
            let first = store.rows.lock().unwrap().clone();

            let healthy = Arc::new(FlakyStore::default());
            let spool = Arc::new(Spool::open(dir.path()).unwrap());
            let (_handle, writer) = spawn(healthy.clone(), spool, config(capacity), &tracker);
            let report = writer.shutdown().await;
            assert!(!report.spool_pending);
            let mut all = first;
            for (id, n) in healthy.rows.lock().unwrap().iter() {
                *all.entry(*id).or_default() += n;
            }
            assert_eq!(all.len(), ids.len(), "every record is stored");
            assert!(all.values().all(|&n| n == 1), "no record is stored twice");
            ids
        });
        prop_assert_eq!(ids.len(), count);
    }
}

#[test]
fn a_full_queue_spills_to_the_spool_without_waiting() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FlakyStore::default());
        let spool = Arc::new(Spool::open(dir.path()).unwrap());
        let tracker = TaskTracker::new();
        let (handle, writer) = spawn(store.clone(), spool.clone(), config(2), &tracker);
        // The writer task has not run yet: two records fit, the rest must spill.
        for _ in 0..10 {
            handle.submit(record());
        }
        assert_eq!(spool.appended(), 8);
        let mut written = handle.written();
        written.wait_for(|n| *n == 10).await.unwrap();
        assert_eq!(store.rows.lock().unwrap().len(), 10);
        assert!(!writer.shutdown().await.spool_pending);
    });
}

#[test]
fn records_submitted_after_shutdown_are_spooled_for_the_next_start() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let spool = Arc::new(Spool::open(dir.path()).unwrap());
        let tracker = TaskTracker::new();
        let (handle, writer) = spawn(
            Arc::new(FlakyStore::default()),
            spool.clone(),
            config(8),
            &tracker,
        );
        writer.shutdown().await;
        handle.submit(record());
        assert_eq!(spool.appended(), 1);
        assert!(spool.has_pending());
    });
}

#[test]
fn records_arriving_within_the_linger_share_one_transaction() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FlakyStore::default());
        let spool = Arc::new(Spool::open(dir.path()).unwrap());
        let tracker = TaskTracker::new();
        let config = WriterConfig {
            batch_size: 100,
            linger: Duration::from_millis(50),
            ..config(100)
        };
        let (handle, writer) = spawn(store.clone(), spool, config, &tracker);
        handle.submit(record());
        tokio::time::advance(Duration::from_millis(10)).await;
        handle.submit(record());
        handle.submit(record());
        handle.written().wait_for(|n| *n == 3).await.unwrap();
        assert_eq!(
            store.calls.load(Ordering::SeqCst),
            1,
            "one write for the three records"
        );
        writer.shutdown().await;
    });
}
