//! The store a benchmark runs on, chosen by URL: `sqlite://…` or `postgres://…`.

use std::sync::Arc;

use canopy_store::{Ingest, Query};
use canopy_store_postgres::PostgresStore;
use canopy_store_sqlite::SqliteStore;

/// An open store of either engine.
#[derive(Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Store {
    /// Opens (and migrates) the store at `url`.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(PostgresStore::connect(url).await?))
        } else {
            Ok(Self::Sqlite(SqliteStore::connect(url).await?))
        }
    }

    /// The store as the writer sees it.
    pub fn ingest(&self) -> Arc<dyn Ingest> {
        match self {
            Self::Sqlite(s) => Arc::new(s.clone()),
            Self::Postgres(s) => Arc::new(s.clone()),
        }
    }

    /// The store as the API sees it.
    pub fn query(&self) -> Arc<dyn Query> {
        match self {
            Self::Sqlite(s) => Arc::new(s.clone()),
            Self::Postgres(s) => Arc::new(s.clone()),
        }
    }

    /// Brings the planner's statistics up to date after a bulk load, where the engine keeps
    /// them (PostgreSQL; SQLite plans from its indexes alone).
    pub async fn analyze(&self) -> anyhow::Result<()> {
        if let Self::Postgres(s) = self {
            s.analyze().await?;
        }
        Ok(())
    }

    /// Closes its connections.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(s) => s.close().await,
            Self::Postgres(s) => s.close().await,
        }
    }
}
