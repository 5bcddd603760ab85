//! The store specification against SQLite (one test per case, each on a fresh database in its
//! own temporary directory), plus what only this engine promises.
#![expect(
    clippy::unwrap_used,
    reason = "test support: a store that will not open fails the test"
)]

use std::sync::Arc;

use canopy_store::testing::Engine;
use canopy_store::{Ingest, Query};
use canopy_store_sqlite::SqliteStore;

async fn open(dir: &tempfile::TempDir) -> SqliteStore {
    let url = format!("sqlite://{}", dir.path().join("canopy.db").display());
    SqliteStore::connect(&url).await.unwrap()
}

/// A fresh, empty store; the directory holding it lives as long as the returned guard.
async fn fresh() -> (Engine, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir).await);
    (Engine::new(store), dir)
}

canopy_store::conformance_tests!(fresh);

#[tokio::test]
async fn reopening_keeps_data_and_does_not_migrate_twice() {
    let dir = tempfile::tempdir().unwrap();
    let call = canopy_store::testing::sample_call("org", Some("s"), 1_700_000_000_000);
    let store = open(&dir).await;
    store.write(std::slice::from_ref(&call)).await.unwrap();
    store.close().await;
    let store = open(&dir).await;
    assert_eq!(store.get_call("org", call.id).await.unwrap(), Some(call));
    assert_eq!(
        store
            .get_session("org", "s")
            .await
            .unwrap()
            .unwrap()
            .request_count,
        1
    );
}

#[tokio::test]
async fn a_large_batch_is_written_in_one_go() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let batch: Vec<_> = (0..1_000)
        .map(|i| canopy_store::testing::sample_call("org", Some("big"), 1_700_000_000_000 + i))
        .collect();
    store.write(&batch).await.unwrap();
    store.write(&batch[..300]).await.unwrap();
    assert_eq!(store.count_calls("org").await.unwrap(), 1_000);
    let session = store.get_session("org", "big").await.unwrap().unwrap();
    assert_eq!(session.request_count, 1_000);
    assert_eq!(session.prompt_tokens, 100_000);
}

#[tokio::test]
async fn an_unwritable_path_is_a_connect_error_naming_the_url() {
    let err = SqliteStore::connect("sqlite:///nonexistent-dir/sub/canopy.db")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent-dir/sub/canopy.db"),
        "{err}"
    );
}

/// Calls are written on a connection of their own; annotations, which read and then write,
/// take the write lock at their start, so a batch committed between their read and their
/// write makes them wait, never fail. Each round of writes starts only once an annotation has
/// finished since the last, so every round overlaps one however the two are scheduled.
#[tokio::test]
async fn annotations_made_while_calls_are_written_all_succeed() {
    use canopy_store::Annotate;
    use std::cell::Cell;

    const ROUNDS: i64 = 60;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let target = canopy_store::testing::sample_call("org", Some("s"), 1_700_000_000_000);
    store.write(std::slice::from_ref(&target)).await.unwrap();
    let writing = Cell::new(true);
    let (annotated, mut seen) = tokio::sync::watch::channel(0_u32);
    let write = async {
        for round in 0..ROUNDS {
            let before = *seen.borrow_and_update();
            let batch: Vec<_> = (0..64)
                .map(|i| {
                    let at = 1_700_000_000_001 + round * 64 + i;
                    canopy_store::testing::sample_call("org", Some("busy"), at)
                })
                .collect();
            store.write(&batch).await.unwrap();
            seen.wait_for(|&n| n > before).await.unwrap();
        }
        writing.set(false);
    };
    let annotate = async {
        let mut n = 0;
        while writing.get() {
            let value = n.to_string();
            let set = store.set_property("org", target.id, "round", &value).await;
            assert!(set.unwrap(), "annotation {n} failed");
            n += 1;
            annotated.send_replace(n);
        }
        n
    };
    let ((), n) = tokio::join!(write, annotate);
    assert!(
        n >= ROUNDS as u32,
        "{n} annotations for {ROUNDS} rounds of writes"
    );
    let call = store.get_call("org", target.id).await.unwrap().unwrap();
    assert_eq!(call.properties["round"], (n - 1).to_string());
    assert_eq!(
        store.count_calls("org").await.unwrap(),
        1 + ROUNDS as u64 * 64
    );
}

/// A new database gets the store's page size; one created with another (16 KiB here) keeps its
/// own and is written and read as before.
#[tokio::test]
async fn a_database_keeps_the_page_size_it_was_created_with() {
    let page_size = |dir: &tempfile::TempDir| -> u32 {
        let conn = rusqlite::Connection::open(dir.path().join("canopy.db")).unwrap();
        conn.pragma_query_value(None, "page_size", |row| row.get(0))
            .unwrap()
    };
    let new = tempfile::tempdir().unwrap();
    open(&new).await.close().await;
    assert_eq!(page_size(&new), canopy_store_sqlite::PAGE_SIZE);

    let old = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(old.path().join("canopy.db")).unwrap();
    // The page size is fixed once the file is first written.
    conn.execute_batch("PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; CREATE TABLE t (x);")
        .unwrap();
    drop(conn);
    let store = open(&old).await;
    let calls: Vec<_> = (0..600)
        .map(|i| canopy_store::testing::sample_call("org", Some("s"), 1_700_000_000_000 + i))
        .collect();
    store.write(&calls).await.unwrap();
    assert_eq!(
        store.get_call("org", calls[599].id).await.unwrap(),
        Some(calls[599].clone())
    );
    assert_eq!(store.count_calls("org").await.unwrap(), 600);
    store.close().await;
    assert_eq!(page_size(&old), 16384);
}

/// Under a steady stream of batches, each handed over before the last is written, and a reader
/// that never stops, the log is copied into the database file and started over, so it stays a
/// few megabytes however much is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_stays_small_while_calls_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let body = "x".repeat(16 * 1024);
    let mut reader = tokio::task::JoinSet::new();
    let reading = store.clone();
    reader.spawn(async move {
        loop {
            reading.count_calls("org").await.unwrap();
        }
    });
    let mut writes = tokio::task::JoinSet::new();
    for batch in 0..192 {
        let calls: Vec<_> = (0..16)
            .map(|i| {
                let at = 1_700_000_000_000 + batch * 16 + i;
                let mut call = canopy_store::testing::sample_call("org", Some("s"), at);
                call.request_body.text = Some(body.clone());
                call
            })
            .collect();
        let store = store.clone();
        writes.spawn(async move { store.write(&calls).await });
    }
    while let Some(written) = writes.join_next().await {
        written.unwrap().unwrap();
    }
    reader.abort_all();
    let size = |name: &str| std::fs::metadata(dir.path().join(name)).unwrap().len();
    let (log, file) = (size("canopy.db-wal"), size("canopy.db"));
    // 48 MiB of bodies were written; the log stays near its 8 MiB limit.
    assert!(log <= 16 << 20, "the log grew to {log} bytes");
    assert!(
        file >= 32 << 20,
        "only {file} bytes reached the database file"
    );
    assert_eq!(store.count_calls("org").await.unwrap(), 192 * 16);
    store.close().await;
}
