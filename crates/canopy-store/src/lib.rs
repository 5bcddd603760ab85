//! Canopy's storage boundary: the traits every engine implements, and what sits in front of them.
//!
//! Layout:
//! - [`Ingest`] writes batches of calls and keeps the sessions table in the same transaction;
//!   [`Query`] reads them back; [`Annotate`] adds scores, properties, feedback and tags;
//!   [`keys::Keys`] stores organisations and key hashes; [`Retain`] removes calls past their
//!   retention; [`transfer::Transfer`] moves a whole store into another. Engines
//!   (`canopy-store-sqlite`, `canopy-store-postgres`) implement them all; the gateway holds an
//!   `Arc<dyn Ingest>` behind the writer.
//! - [`sql`]: the SQL every relational engine shares (the filter language, session upserts,
//!   chunking), behind a small [`sql::Dialect`] hook; [`migrate`]: the migration runner;
//!   [`ids`]: call ids unique per organisation, and what happens to a reused one.
//! - [`writer`]: the batching writer. The request path hands it records with
//!   [`writer::IngestHandle::submit`], which never waits; records that cannot be queued go to
//!   the on-disk [`spool`] and are written later.
//! - [`testing`] (feature `testing`): the store specification every engine must pass.
//!
//! No SQL driver belongs here: engines own their connections, their migrations and the SQL
//! that is theirs alone.

mod error;
pub mod ids;
pub mod keys;
pub mod migrate;
mod model;
pub mod query;
pub mod spool;
pub mod sql;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod transfer;
pub mod writer;

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use canopy_core::{CallId, CallRecord};
use serde::{Deserialize, Serialize};

use crate::query::filter::Filter;
use crate::query::{CallQuery, SessionAggregate, SessionNameRow, SessionPoint, SessionQuery};

pub use error::{Result, Source, StoreError, redact_url};
pub use model::{Principal, SessionSummary};

/// The wall clock in Unix milliseconds, the unit every stored time uses.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Writes calls.
#[async_trait]
pub trait Ingest: Send + Sync + 'static {
    /// Writes a batch in one transaction: the calls, and their sessions' totals.
    ///
    /// Writing is idempotent by call id: a call already stored is skipped and does not count
    /// twice in its session, so a batch replayed from the spool after a crash is harmless.
    async fn write(&self, batch: &[CallRecord]) -> Result<()>;

    /// [`write`](Self::write) for a batch handed over whole, as the writer does: an engine that
    /// writes on a thread of its own takes it there without copying the calls.
    async fn write_shared(&self, batch: std::sync::Arc<[CallRecord]>) -> Result<()> {
        self.write(&batch).await
    }

    /// How many batches the writer keeps in flight when its configuration leaves
    /// `in_flight` unset: an engine whose writes wait on a server's round trips and locks
    /// takes more at once than one that writes through a single connection.
    fn batches_in_flight(&self) -> usize {
        2
    }
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

    /// A session's calls without the text of their bodies (`text` is `None`; the truncated and
    /// omitted flags and the request headers stay), oldest first: what a session's tree,
    /// timeline and figures need, without reading its prompts and answers. Engines that keep
    /// bodies apart override this to leave them unread.
    async fn session_calls_without_bodies(
        &self,
        org_id: &str,
        session_id: &str,
    ) -> Result<Vec<CallRecord>> {
        let mut calls = self.session_calls(org_id, session_id).await?;
        for call in &mut calls {
            call.request_body.text = None;
            call.response_body.text = None;
        }
        Ok(calls)
    }

    /// How many calls the organisation has.
    async fn count_calls(&self, org_id: &str) -> Result<u64>;

    /// A filtered, sorted page of calls, bodies included.
    async fn query_calls(&self, org_id: &str, query: &CallQuery) -> Result<Vec<CallRecord>>;

    /// How many calls match `filter`.
    async fn count_matching_calls(&self, org_id: &str, filter: &Filter) -> Result<u64>;

    /// Scores of the given calls, by call (feedback is the score `helicone-score-feedback`).
    async fn call_scores(
        &self,
        org_id: &str,
        ids: &[CallId],
    ) -> Result<HashMap<CallId, BTreeMap<String, f64>>>;

    /// A page of sessions in the query's order (by default newest first, by first call).
    async fn query_sessions(
        &self,
        org_id: &str,
        query: &SessionQuery,
    ) -> Result<Vec<SessionSummary>>;

    /// Totals over every session the query matches (its page bounds are ignored).
    async fn aggregate_sessions(
        &self,
        org_id: &str,
        query: &SessionQuery,
    ) -> Result<SessionAggregate>;

    /// Session names whose name contains `contains` (case-insensitive), most recently used first.
    async fn session_names(
        &self,
        org_id: &str,
        contains: &str,
        query: &SessionQuery,
    ) -> Result<Vec<SessionNameRow>>;

    /// Per-session values for the metrics histograms, for every session the query matches.
    async fn session_points(&self, org_id: &str, query: &SessionQuery)
    -> Result<Vec<SessionPoint>>;

    /// A session's tags, oldest first.
    async fn session_tags(&self, org_id: &str, session_id: &str) -> Result<Vec<String>>;

    /// Per-path figures over the calls of every session the query matches (its page bounds
    /// and sort are ignored), the busiest path first, then by path; at most
    /// [`query::MAX_PATHS`].
    async fn path_stats(&self, org_id: &str, query: &SessionQuery) -> Result<Vec<query::PathStat>>;

    /// Values of `field` seen in the organisation's latest [`query::SUGGEST_SCAN`] calls that
    /// contain `contains` (case-insensitive), the most used first, then by value; at most
    /// `limit`.
    async fn suggest(
        &self,
        org_id: &str,
        field: &query::SuggestField,
        contains: &str,
        limit: u64,
    ) -> Result<Vec<query::Suggestion>>;
}

/// Everything a store engine is, as the binary holds it: one value of this trait is seen
/// through each of the traits it extends.
#[async_trait]
pub trait StoreEngine:
    Ingest + Query + Annotate + keys::Keys + Retain + transfer::Transfer
{
    /// Waits for in-flight statements and closes connections.
    async fn close(&self);
}

/// Removing calls past their retention.
#[async_trait]
pub trait Retain: Send + Sync + 'static {
    /// Removes every call that started before `before_ms`, with its bodies and scores, then
    /// every session whose calls are all gone (its latest call started before `before_ms`),
    /// with its tags and users. A session that keeps some calls keeps its totals.
    ///
    /// Works in small steps (or whole partitions), so that writes never wait long behind it.
    async fn purge(&self, before_ms: i64) -> Result<Purged>;

    /// Tells an engine that expires rows on its own (ClickHouse's `TTL`) how long calls are
    /// kept (`None`: forever), once at start. [`Retain::purge`] still runs on every engine;
    /// this lets the engine drop expired data in its own merges as well. Others ignore it.
    async fn expire_after(&self, _keep: Option<std::time::Duration>) -> Result<()> {
        Ok(())
    }
}

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purged {
    /// Calls removed.
    pub calls: u64,
    /// Sessions removed.
    pub sessions: u64,
}

/// Annotations users add after the fact. Each returns `false` when the call or session does
/// not exist in the organisation.
#[async_trait]
pub trait Annotate: Send + Sync + 'static {
    /// Sets one property on a call (replacing a property of the same key).
    async fn set_property(&self, org_id: &str, id: CallId, key: &str, value: &str) -> Result<bool>;

    /// Adds or replaces named scores on a call.
    async fn set_scores(&self, org_id: &str, id: CallId, scores: &[(String, f64)]) -> Result<bool>;

    /// Records a thumbs-up (`true`) or thumbs-down on a session.
    async fn set_session_feedback(
        &self,
        org_id: &str,
        session_id: &str,
        rating: bool,
    ) -> Result<bool>;

    /// Adds a tag to a session.
    async fn add_session_tag(&self, org_id: &str, session_id: &str, tag: &str) -> Result<bool>;
}
