//! Opening a store by URL scheme: the only place that names a storage engine.

use std::sync::Arc;

use canopy_store::keys::Keys;
use canopy_store::{Annotate, Ingest, Query, StoreError};

/// An open store, seen through both traits.
pub struct Store {
    pub ingest: Arc<dyn Ingest>,
    pub query: Arc<dyn Query>,
    pub annotate: Arc<dyn Annotate>,
    pub keys: Arc<dyn Keys>,
    closer: Closer,
}

enum Closer {
    #[cfg(feature = "sqlite")]
    Sqlite(canopy_store_sqlite::SqliteStore),
}

impl Store {
    /// Opens and migrates the store at `url`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        match url.split_once(':').map(|(scheme, _)| scheme) {
            #[cfg(feature = "sqlite")]
            Some("sqlite") => {
                let store = canopy_store_sqlite::SqliteStore::connect(url).await?;
                let shared = Arc::new(store.clone());
                Ok(Self {
                    ingest: shared.clone(),
                    query: shared.clone(),
                    annotate: shared.clone(),
                    keys: shared,
                    closer: Closer::Sqlite(store),
                })
            }
            _ => Err(StoreError::BadUrl {
                url: url.to_owned(),
                reason: "this build supports sqlite:// stores".to_owned(),
            }),
        }
    }

    /// Waits for in-flight statements and closes connections.
    pub async fn close(&self) {
        match &self.closer {
            #[cfg(feature = "sqlite")]
            Closer::Sqlite(store) => store.close().await,
        }
    }
}
