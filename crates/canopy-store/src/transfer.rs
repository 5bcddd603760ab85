//! Moving a whole store into another: what `canopy store copy` reads from one engine and
//! writes into another.
//!
//! Calls move through [`Transfer::export_calls`] and the destination's [`crate::Ingest::write`],
//! which is idempotent by (organisation, id) and rebuilds the sessions' totals as it goes; so a
//! copy interrupted anywhere and run again never counts a call twice. Everything else a store
//! holds — organisations, keys (their hashes), scores, session feedback and tags — has an
//! export and an idempotent import of its own. [`Transfer::totals`] gives the figures a copy
//! checks on both sides when it ends.

use async_trait::async_trait;
use canopy_core::{CallId, CallRecord};
use serde::{Deserialize, Serialize};

use crate::Result;

/// An organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRow {
    /// Its id.
    pub id: String,
    /// Its unique name.
    pub name: String,
    /// When it was created, Unix ms.
    pub created_at_ms: i64,
}

/// A key as stored: its hash, never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    /// The key's id.
    pub id: String,
    /// Its organisation's id.
    pub org_id: String,
    /// SHA-256 of the secret, hex.
    pub hash: String,
    /// The first characters of the key.
    pub prefix: String,
    /// When it was created, Unix ms.
    pub created_at_ms: i64,
    /// When it was revoked, Unix ms.
    pub revoked_at_ms: Option<i64>,
}

/// One named score of one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreRow {
    /// The call's organisation.
    pub org_id: String,
    /// The call.
    pub call_id: CallId,
    /// The score's name (`helicone-score-feedback` for feedback).
    pub name: String,
    /// Its value.
    pub value: f64,
    /// When it was set, Unix ms.
    pub created_at_ms: i64,
}

/// What users added to a session: its feedback and its tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionMarks {
    /// The session's organisation.
    pub org_id: String,
    /// The session.
    pub session_id: String,
    /// Thumbs-up, thumbs-down, or none.
    pub feedback: Option<bool>,
    /// Its tags with when each was added (Unix ms), oldest first.
    pub tags: Vec<(String, i64)>,
}

/// Where a copy of calls stands: the last call copied, in (start, organisation, id) order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCursor {
    /// The call's start, Unix ms.
    pub created_at_ms: i64,
    /// Its organisation.
    pub org_id: String,
    /// Its id.
    pub id: CallId,
}

impl CallCursor {
    /// The cursor just past `call`.
    pub fn after(call: &CallRecord) -> Self {
        Self {
            created_at_ms: call.created_at_ms,
            org_id: call.org_id.clone(),
            id: call.id,
        }
    }
}

/// The figures of one organisation that a copy checks on both sides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgTotals {
    /// The organisation.
    pub org_id: String,
    /// Its calls.
    pub calls: u64,
    /// Its sessions.
    pub sessions: u64,
    /// The sum of its sessions' call counts.
    pub session_requests: u64,
    /// The sum of its sessions' costs, nano-USD.
    pub session_cost_nano: i64,
    /// Its calls that belong to a session, counted from the calls themselves.
    ///
    /// Equal to `session_requests` unless retention removed some calls of a session that
    /// kept others (such a session keeps its totals). A copy rebuilds sessions from the calls
    /// it copies, so its `session_requests` equal the source's `calls_in_sessions`.
    pub calls_in_sessions: u64,
    /// The cost of those calls, nano-USD; likewise what a copy's `session_cost_nano` adds up
    /// to.
    pub calls_in_sessions_cost_nano: i64,
}

/// Reading a whole store out and writing one in, across organisations.
#[async_trait]
pub trait Transfer: Send + Sync + 'static {
    /// Every organisation.
    async fn export_orgs(&self) -> Result<Vec<OrgRow>>;

    /// Every key, revoked ones included.
    async fn export_keys(&self) -> Result<Vec<StoredKey>>;

    /// Up to `limit` calls with their bodies, of every organisation, in (start, organisation,
    /// id) order, starting after `after`. Organisations and ids compare in the engine's own
    /// text order, the same in the order and in the comparison with `after`, so that paging
    /// with [`CallCursor::after`] the last call of each page reads every call exactly once.
    /// Calls come back with `id_from_caller` false: they are stored calls, whose ids are
    /// settled.
    async fn export_calls(&self, after: Option<&CallCursor>, limit: u32)
    -> Result<Vec<CallRecord>>;

    /// Every score of every call.
    async fn export_scores(&self) -> Result<Vec<ScoreRow>>;

    /// Every session that has feedback or tags.
    async fn export_session_marks(&self) -> Result<Vec<SessionMarks>>;

    /// Adds organisations, keeping their ids; one already present (by id) is left as it is.
    /// An organisation whose name the store already gives another id is an error: the two
    /// stores hold different organisations of that name, and merging them is not a copy.
    async fn import_orgs(&self, orgs: &[OrgRow]) -> Result<()>;

    /// Adds keys, keeping their ids and hashes; one already present (by id) takes the
    /// revocation of the imported row.
    async fn import_keys(&self, keys: &[StoredKey]) -> Result<()>;

    /// Sets scores, replacing a score of the same call and name.
    async fn import_scores(&self, scores: &[ScoreRow]) -> Result<()>;

    /// Sets sessions' feedback (no feedback leaves the session's as it is) and adds their tags
    /// (a tag already there keeps its time); sessions not present are skipped.
    async fn import_session_marks(&self, marks: &[SessionMarks]) -> Result<()>;

    /// Per organisation with calls or sessions, the figures a copy checks, by organisation id.
    async fn totals(&self) -> Result<Vec<OrgTotals>>;
}
