//! Opening a store by URL scheme: the only place that names a storage engine. Adding an engine
//! is one entry in [`ENGINES`] (and its feature).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use canopy_store::keys::Keys;
use canopy_store::transfer::Transfer;
use canopy_store::{Annotate, Ingest, Query, Retain, StoreEngine, StoreError};

/// Opens and migrates the store at a URL.
type Opener =
    fn(String) -> Pin<Box<dyn Future<Output = Result<Arc<dyn StoreEngine>, StoreError>> + Send>>;

/// The engines this build has: URL schemes, an example URL for messages, and how to open one.
const ENGINES: &[(&[&str], &str, Opener)] = &[
    #[cfg(feature = "sqlite")]
    (&["sqlite"], "sqlite://path/to.db", |url| {
        Box::pin(async move {
            let store = canopy_store_sqlite::SqliteStore::connect(&url).await?;
            Ok(Arc::new(store) as Arc<dyn StoreEngine>)
        })
    }),
    #[cfg(feature = "postgres")]
    (
        &["postgres", "postgresql"],
        "postgres://user:pass@host:port/db",
        |url| {
            Box::pin(async move {
                let store = canopy_store_postgres::PostgresStore::connect(&url).await?;
                Ok(Arc::new(store) as Arc<dyn StoreEngine>)
            })
        },
    ),
    #[cfg(feature = "clickhouse")]
    (
        &["clickhouse"],
        "clickhouse://user:pass@host:8123/db",
        |url| {
            Box::pin(async move {
                let store = canopy_store_clickhouse::ClickHouseStore::connect(&url).await?;
                Ok(Arc::new(store) as Arc<dyn StoreEngine>)
            })
        },
    ),
];

/// The engine a store URL names, if this build has it.
fn engine(url: &str) -> Option<Opener> {
    let (scheme, _) = url.split_once(':')?;
    ENGINES
        .iter()
        .find(|(schemes, _, _)| schemes.contains(&scheme))
        .map(|(_, _, open)| *open)
}

/// Checks that `url` names an engine this build has; the error lists the ones it has.
pub fn check_url(url: &str) -> Result<(), String> {
    if engine(url).is_some() {
        return Ok(());
    }
    let examples: Vec<&str> = ENGINES.iter().map(|(_, example, _)| *example).collect();
    Err(format!(
        "`{}` is not a store URL this build supports ({})",
        canopy_store::redact_url(url),
        examples.join(", ")
    ))
}

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
        let open = engine(url).ok_or_else(|| StoreError::BadUrl {
            url: canopy_store::redact_url(url),
            reason: check_url(url).err().unwrap_or_default(),
        })?;
        let engine = open(url.to_owned()).await?;
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
