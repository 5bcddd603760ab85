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
