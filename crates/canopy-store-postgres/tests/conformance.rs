//! The store specification against PostgreSQL, plus what only this engine promises.
#![expect(
    clippy::unwrap_used,
    reason = "test support: a store that will not open fails the test"
)]

use std::sync::Arc;

use canopy_store::testing::Engine;
use canopy_store_postgres::PostgresStore;
use canopy_testkit::postgres::{PgDatabase, fresh_database};

async fn fresh() -> (Engine, PgDatabase) {
    let db = fresh_database().await;
    let store = PostgresStore::connect(db.url()).await.unwrap();
    (Engine::new(Arc::new(store)), db)
}

canopy_store::conformance_tests!(fresh);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_starting_together_migrate_exactly_once() {
    let db = fresh_database().await;
    let opened = open_together(db.url()).await;
    assert_eq!(opened, 4, "every gateway opens the store");
    let store = PostgresStore::connect(db.url()).await.unwrap();
    let versions = store.applied_migrations().await.unwrap();
    let mut unique = versions.clone();
    unique.dedup();
    assert_eq!(versions, unique, "each migration recorded once");
    assert!(!versions.is_empty());
}

/// Opens four stores on `url` at the same moment, as four gateways starting; returns how many
/// opened.
async fn open_together(url: &str) -> usize {
    let mut opens = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = url.to_owned();
        opens.spawn(async move { PostgresStore::connect(&url).await });
    }
    let mut opened = 0;
    while let Some(open) = opens.join_next().await {
        opened += usize::from(open.unwrap().is_ok());
    }
    opened
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_any_text_is_stored_as_a_replacement_character() {
    let (engine, _db) = fresh().await;
    let mut call = canopy_store::testing::sample_call("org", Some("s\0"), 1_700_000_000_000);
    call.request_body.text = Some("a\0b".to_owned());
    call.properties.insert("k\0".to_owned(), "v\0".to_owned());
    engine
        .ingest
        .write(std::slice::from_ref(&call))
        .await
        .unwrap();
    let back = engine
        .query
        .get_call("org", call.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.request_body.text.as_deref(), Some("a\u{FFFD}b"));
    assert_eq!(back.session_id.as_deref(), Some("s\u{FFFD}"));
    assert_eq!(
        back.properties.get("k\u{FFFD}").map(String::as_str),
        Some("v\u{FFFD}")
    );
}
