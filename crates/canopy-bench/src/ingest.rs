//! `canopy-bench ingest`: how many call records per second reach the store (SQLite in a
//! temporary directory, or the database `--store URL` names).
//!
//! It measures twice: once straight through `Ingest::write` in batches (the store alone), once
//! through the batching writer as the gateway uses it (queue, adaptive batches, session
//! upserts). Each record is a complete call with ~1 KiB of bodies, spread over sessions of 10
//! calls.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use canopy_core::{CallId, CallRecord};
use canopy_store::spool::Spool;
use canopy_store::writer::{self, WriterConfig};
use tokio_util::task::TaskTracker;

use crate::engine::Store;

fn records(org: &str, n: usize) -> Vec<CallRecord> {
    let start = 1_700_000_000_000;
    (0..n)
        .map(|i| {
            let session = format!("bench-session-{}", i / 10);
            let mut r = canopy_store::testing::sample_call(org, Some(&session), start + i as i64);
            r.id = CallId::new();
            r.request_body.text = Some(format!(
                "{{\"model\":\"gpt-4o-mini\",\"messages\":[{}]}}",
                "x".repeat(512)
            ));
            r.response_body.text = Some("y".repeat(512));
            r.response_body.omitted = false;
            r
        })
        .collect()
}

/// Opens the store at `url`, or a fresh SQLite file in `dir`.
async fn open(url: Option<&str>, dir: &tempfile::TempDir) -> anyhow::Result<Store> {
    match url {
        Some(url) => Store::open(url).await,
        None => {
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            Store::open(&url).await
        }
    }
}

/// Runs both measurements over `n` records and prints one line for each. On a given store the
/// two runs write different organisations, so the second starts from new sessions too. The
/// writer keeps `in_flight` batches in flight, or the store's own choice.
pub async fn run(n: usize, url: Option<&str>, in_flight: Option<usize>) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let run_id = CallId::new().to_string();

    let dir = tempfile::tempdir()?;
    let store = open(url, &dir).await?;
    let ingest = store.ingest();
    let batch = records(&format!("bench-{run_id}-direct"), n);
    let started = Instant::now();
    for chunk in batch.chunks(512) {
        ingest.write(chunk).await?;
    }
    let direct = n as f64 / started.elapsed().as_secs_f64();
    writeln!(
        out,
        "store alone (Ingest::write, batches of 512): {n} records in {:.2?} = {direct:.0} records/s",
        started.elapsed()
    )?;
    store.close().await;

    let dir = tempfile::tempdir()?;
    let store = open(url, &dir).await?;
    let spool = Arc::new(Spool::open(dir.path().join("spool"))?);
    let in_flight = in_flight
        .unwrap_or_else(|| store.ingest().batches_in_flight())
        .max(1);
    let config = WriterConfig {
        queue_capacity: n + 1,
        in_flight: Some(in_flight),
        ..WriterConfig::default()
    };
    let tracker = TaskTracker::new();
    let (handle, writer) = writer::spawn(store.ingest(), spool.clone(), config, &tracker);
    let batch = records(&format!("bench-{run_id}-writer"), n);
    let mut written = handle.written();
    let started = Instant::now();
    for record in batch {
        handle.submit(record);
    }
    written.wait_for(|w| *w >= n as u64).await?;
    let elapsed = started.elapsed();
    let rate = n as f64 / elapsed.as_secs_f64();
    writeln!(
        out,
        "through the batching writer ({in_flight} in flight):   {n} records in {elapsed:.2?} = {rate:.0} records/s (spooled: {})",
        spool.appended()
    )?;
    writer.shutdown().await;
    store.close().await;
    Ok(())
}
