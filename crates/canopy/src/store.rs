//! Opening a store by URL scheme: the only place that names a storage engine.

use std::sync::Arc;

use canopy_store::keys::Keys;
use canopy_store::transfer::Transfer;
use canopy_store::{Annotate, Ingest, Query, StoreError};

/// The store URLs this build opens, for messages.
const SUPPORTED: &str = "sqlite://path/to.db and postgres://user:pass@host:port/db";

/// An open store, seen through each of its traits.
pub struct Store {
    pub ingest: Arc<dyn Ingest>,
    pub query: Arc<dyn Query>,
    pub annotate: Arc<dyn Annotate>,
    pub keys: Arc<dyn Keys>,
    pub transfer: Arc<dyn Transfer>,
    closer: Closer,
}

enum Closer {
    #[cfg(feature = "sqlite")]
    Sqlite(canopy_store_sqlite::SqliteStore),
    #[cfg(feature = "postgres")]
    Postgres(canopy_store_postgres::PostgresStore),
}

impl Store {
    /// Opens and migrates the store at `url`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        match url.split_once(':').map(|(scheme, _)| scheme) {
            #[cfg(feature = "sqlite")]
            Some("sqlite") => {
                let store = canopy_store_sqlite::SqliteStore::connect(url).await?;
                Ok(Self::of(store.clone(), Closer::Sqlite(store)))
            }
            #[cfg(feature = "postgres")]
            Some("postgres" | "postgresql") => {
                let store = canopy_store_postgres::PostgresStore::connect(url).await?;
                Ok(Self::of(store.clone(), Closer::Postgres(store)))
            }
            _ => Err(StoreError::BadUrl {
                url: canopy_store::redact_url(url),
                reason: format!("this build supports {SUPPORTED}"),
            }),
        }
    }

    fn of<S>(store: S, closer: Closer) -> Self
    where
        S: Ingest + Query + Annotate + Keys + Transfer,
    {
        let shared = Arc::new(store);
        Self {
            ingest: shared.clone(),
            query: shared.clone(),
            annotate: shared.clone(),
            keys: shared.clone(),
            transfer: shared,
            closer,
        }
    }

    /// Waits for in-flight statements and closes connections.
    pub async fn close(&self) {
        match &self.closer {
            #[cfg(feature = "sqlite")]
            Closer::Sqlite(store) => store.close().await,
            #[cfg(feature = "postgres")]
            Closer::Postgres(store) => store.close().await,
        }
    }
}
