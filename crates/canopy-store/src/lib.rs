//! Canopy's storage boundary: the traits every engine implements, and what sits in front of them.
//!
//! Layout:
//! - [`Ingest`] writes batches of calls and keeps the sessions table in the same transaction;
//!   [`Query`] reads them back. Engines (`canopy-store-sqlite`, later PostgreSQL and
//!   ClickHouse) implement both; the gateway holds an `Arc<dyn Ingest>` behind the writer.
//! - [`writer`]: the batching writer. The request path hands it records with
//!   [`writer::IngestHandle::submit`], which never waits; records that cannot be queued go to
//!   the on-disk [`spool`] and are written later.
//! - [`testing`] (feature `testing`): the conformance story every engine must pass.
//!
//! No SQL driver belongs here: engines own their SQL, their migrations and their connections.

mod error;
pub mod migrate;
mod model;
pub mod query;
pub mod spool;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod writer;

use async_trait::async_trait;
use canopy_core::{CallId, CallRecord};

pub use error::{Result, StoreError};
pub use model::SessionSummary;

/// Writes calls.
#[async_trait]
pub trait Ingest: Send + Sync + 'static {
    /// Writes a batch in one transaction: the calls, and their sessions' totals.
    ///
    /// Writing is idempotent by call id: a call already stored is skipped and does not count
    /// twice in its session, so a batch replayed from the spool after a crash is harmless.
    async fn write(&self, batch: &[CallRecord]) -> Result<()>;
}

/// Reads calls and sessions, always within one organisation.
#[async_trait]
pub trait Query: Send + Sync + 'static {
    /// One call with its bodies, or `None`.
    async fn get_call(&self, org_id: &str, id: CallId) -> Result<Option<CallRecord>>;

    /// One session's totals, or `None`.
    async fn get_session(&self, org_id: &str, session_id: &str) -> Result<Option<SessionSummary>>;

    /// A session's calls with their bodies, oldest first.
    async fn session_calls(&self, org_id: &str, session_id: &str) -> Result<Vec<CallRecord>>;

    /// How many calls the organisation has.
    async fn count_calls(&self, org_id: &str) -> Result<u64>;
}
