//! The store specification against ClickHouse, plus what only this engine promises.
#![expect(
    clippy::unwrap_used,
    reason = "test support: a store that will not open fails the test"
)]

use std::sync::Arc;

use canopy_store::testing::Engine;
use canopy_store_clickhouse::ClickHouseStore;
use canopy_testkit::clickhouse::{ChDatabase, fresh_database};

async fn fresh() -> (Engine, ChDatabase) {
    let db = fresh_database().await;
    let store = ClickHouseStore::connect(db.url()).await.unwrap();
    (Engine::new(Arc::new(store)), db)
}

canopy_store::conformance_tests!(fresh);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_starting_together_migrate_without_harm() {
    let db = fresh_database().await;
    let mut opens = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = db.url().to_owned();
        opens.spawn(async move { ClickHouseStore::connect(&url).await });
    }
    while let Some(open) = opens.join_next().await {
        open.unwrap().unwrap();
    }
    let store = ClickHouseStore::connect(db.url()).await.unwrap();
    let versions = store.applied_migrations().await.unwrap();
    let mut unique = versions.clone();
    unique.dedup();
    assert_eq!(versions, unique, "each migration reads once");
    assert!(!versions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_becomes_the_tables_ttl_and_goes_again() {
    use canopy_store::Retain;
    let db = fresh_database().await;
    let store = ClickHouseStore::connect(db.url()).await.unwrap();
    let month = Some(std::time::Duration::from_secs(30 * 86_400));
    store.expire_after(month).await.unwrap();
    // Setting the same TTL again changes nothing.
    store.expire_after(month).await.unwrap();
    assert_eq!(
        store.table_ttls().await.unwrap(),
        ["created + toIntervalDay(30)", "created + toIntervalDay(30)"]
    );
    store.expire_after(None).await.unwrap();
    assert!(
        store
            .table_ttls()
            .await
            .unwrap()
            .iter()
            .all(String::is_empty)
    );
}
