//! Opening a store by URL scheme: the only place that names a storage engine. Adding an engine
//! is one line in [`Store::open`] (and its feature).

use std::sync::Arc;

use canopy_store::keys::Keys;
use canopy_store::transfer::Transfer;
use canopy_store::{Annotate, Ingest, Query, Retain, StoreEngine, StoreError};

/// The store URLs this build opens, for messages.
const SUPPORTED: &str = "sqlite://path/to.db and postgres://user:pass@host:port/db";

/// An open store, seen through each of its traits.
pub struct Store {
    pub ingest: Arc<dyn Ingest>,
    pub query: Arc<dyn Query>,
    pub annotate: Arc<dyn Annotate>,
    pub keys: Arc<dyn Keys>,
    pub transfer: Arc<dyn Transfer>,
    pub retain: Arc<dyn Retain>,
    engine: Arc<dyn StoreEngine>,
}

impl Store {
    /// Opens and migrates the store at `url`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let engine: Arc<dyn StoreEngine> = match url.split_once(':').map(|(scheme, _)| scheme) {
            #[cfg(feature = "sqlite")]
            Some("sqlite") => Arc::new(canopy_store_sqlite::SqliteStore::connect(url).await?),
            #[cfg(feature = "postgres")]
            Some("postgres" | "postgresql") => {
                Arc::new(canopy_store_postgres::PostgresStore::connect(url).await?)
            }
            _ => {
                return Err(StoreError::BadUrl {
                    url: canopy_store::redact_url(url),
                    reason: format!("this build supports {SUPPORTED}"),
                });
            }
        };
        Ok(Self {
            ingest: engine.clone(),
            query: engine.clone(),
            annotate: engine.clone(),
            keys: engine.clone(),
            transfer: engine.clone(),
            retain: engine.clone(),
            engine,
        })
    }

    /// Waits for in-flight statements and closes connections.
    pub async fn close(&self) {
        self.engine.close().await;
    }
}
