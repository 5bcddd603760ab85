//! `canopy-bench ingest`: how many call records per second reach SQLite.
//!
//! It measures twice: once straight through `Ingest::write` in batches (the store alone), once
//! through the batching writer as the gateway uses it (queue, adaptive batches, session
//! upserts). Each record is a complete call with ~1 KiB of bodies, spread over sessions of 10
//! calls.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use canopy_core::{CallId, CallRecord};
use canopy_store::Ingest;
use canopy_store::spool::Spool;
use canopy_store::writer::{self, WriterConfig};
use canopy_store_sqlite::SqliteStore;
use tokio_util::task::TaskTracker;

fn records(n: usize) -> Vec<CallRecord> {
    let start = 1_700_000_000_000;
    (0..n)
        .map(|i| {
            let session = format!("bench-session-{}", i / 10);
            let mut r =
                canopy_store::testing::sample_call("default", Some(&session), start + i as i64);
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

async fn open(dir: &tempfile::TempDir) -> anyhow::Result<SqliteStore> {
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    Ok(SqliteStore::connect(&url).await?)
}

/// Runs both measurements over `n` records and prints one line for each.
pub async fn run(n: usize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();

    let dir = tempfile::tempdir()?;
    let store = open(&dir).await?;
    let batch = records(n);
    let started = Instant::now();
    for chunk in batch.chunks(512) {
        store.write(chunk).await?;
    }
    let direct = n as f64 / started.elapsed().as_secs_f64();
    writeln!(
        out,
        "store alone (Ingest::write, batches of 512): {n} records in {:.2?} = {direct:.0} records/s",
        started.elapsed()
    )?;
    store.close().await;

    let dir = tempfile::tempdir()?;
    let store = Arc::new(open(&dir).await?);
    let spool = Arc::new(Spool::open(dir.path().join("spool"))?);
    let config = WriterConfig {
        queue_capacity: n + 1,
        ..WriterConfig::default()
    };
    let tracker = TaskTracker::new();
    let (handle, writer) = writer::spawn(store.clone(), spool.clone(), config, &tracker);
    let batch = records(n);
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
        "through the batching writer:                 {n} records in {elapsed:.2?} = {rate:.0} records/s (spooled: {})",
        spool.appended()
    )?;
    writer.shutdown().await;
    store.close().await;
    Ok(())
}
