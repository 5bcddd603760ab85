//! Session replay: re-send a session's LLM calls, changed, and compare.
//!
//! A replay is a job ([`jobs`]): starting one checks the request, takes one of the
//! organisation's replay slots, and returns at once; the job sends the calls ([`run`]) and, when
//! they are done (or it was cancelled and the calls in flight have finished), builds the
//! comparison from the stored records ([`compare`]). The synchronous route starts a job and
//! waits for it.
//!
//! Each LLM call of the session is sent again through the gateway's own listener ([`send`]), so
//! the replay is recorded like any call: under a new session id, named `Replay of <name>`, at
//! the original paths, with the property `replay_of` and, per call, what the comparison needs
//! to be rebuilt later from the store alone (`replay_of_request`, the original call's id, and
//! what the replay changed). Calls that overlapped in the original overlap in the replay: a
//! call starts once every call that had ended before its original start has finished.
//!
//! What must not go here: the body changes themselves (pure, in [`canopy_core::replay`]).

pub mod compare;
pub mod jobs;
mod run;
mod send;

use std::collections::BTreeMap;
use std::sync::Arc;

use canopy_core::replay::SystemMode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::ApiState;
use crate::error::{ApiError, ApiResult};

pub use jobs::{JobProgress, JobState, ReplayJob, ReplayJobs};

/// Property naming the session a replayed call replays.
pub const PROP_REPLAY_OF: &str = "replay_of";
/// Property naming the original call a replayed call replays.
pub const PROP_ORIGINAL_REQUEST: &str = "replay_of_request";
/// Property: the model the replay sent instead, when it changed the model.
pub const PROP_MODEL: &str = "replay_model";
/// Property: `append` or `replace`, when the replay changed the system prompt.
pub const PROP_SYSTEM_PROMPT: &str = "replay_system_prompt";
/// Property: `true` when the replay applied a merge patch.
pub const PROP_PATCHED: &str = "replay_patched";
/// Property: the path the changes were limited to, when they were.
pub const PROP_SCOPE: &str = "replay_scope";
/// Property: `true` or `false`, whether history was propagated.
pub const PROP_PROPAGATE: &str = "replay_propagate";
/// Property: how many assistant messages of this call's history were replaced.
pub const PROP_PROPAGATED: &str = "replay_propagated";

/// Body of `POST /v1/session/{id}/replay` (and of a replay job); every field is optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct ReplayParams {
    /// Send every (in-scope) call to this model instead.
    pub model: Option<String>,
    /// Append to or replace the system prompt.
    pub system_prompt: Option<SystemPromptChange>,
    /// A JSON merge patch applied to every (in-scope) body.
    #[schema(value_type = Object)]
    pub patch: Option<Value>,
    /// Limit the changes to calls at this path or under it (every call is still replayed).
    pub path: Option<String>,
    /// Replace history that repeats an original output with the replayed output (default true).
    pub propagate: Option<bool>,
    /// Extra headers for every replayed call, such as the provider's credentials. Forwarded,
    /// never stored.
    pub headers: BTreeMap<String, String>,
}

/// A system prompt change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SystemPromptChange {
    /// Append to the system prompt or replace it.
    pub mode: SystemPromptMode,
    /// The text.
    pub text: String,
}

/// How the system prompt changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SystemPromptMode {
    /// After the existing prompt, a blank line between.
    Append,
    /// Instead of the existing prompt.
    Replace,
}

impl SystemPromptMode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Append => "append",
            Self::Replace => "replace",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "append" => Some(Self::Append),
            "replace" => Some(Self::Replace),
            _ => None,
        }
    }
}

/// One side of a step: what the call did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct StepSide {
    pub request_id: String,
    pub model: Option<String>,
    pub status: i32,
    /// USD; null when unpriced.
    pub cost: Option<f64>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub latency_ms: Option<i64>,
    /// The generated text.
    pub output: String,
    /// When the call ran (start, end in Unix ms), for the wall time; not answered.
    #[serde(skip)]
    pub(crate) span: Option<(i64, i64)>,
}

/// One step of the comparison: one recorded step of the original session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplayStep {
    pub path: String,
    /// `llm`, `tool`, `vector_db` or `data`.
    pub kind: String,
    pub original: StepSide,
    /// Null when the step was not replayed (see `note`).
    pub replay: Option<StepSide>,
    /// Assistant messages in this call's history replaced by replayed outputs.
    pub propagated_messages: u64,
    /// Why a step was not replayed, or what was changed.
    pub note: Option<String>,
}

/// Totals of one side, over the model calls that were replayed (the same calls on both sides).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct SideTotals {
    /// Model calls counted.
    pub calls: u64,
    /// USD.
    pub cost: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// The calls' latencies added up.
    pub latency_ms: i64,
    /// Wall time: from the first call's start to the last call's end.
    pub wall_ms: i64,
    pub errors: u64,
}

/// Both sides' totals.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ReplayTotals {
    pub original: SideTotals,
    pub replay: SideTotals,
}

/// How the steps add up: `steps` is one per step of the original session (what its page
/// shows), `model_calls + not_rerun`; `model_calls` is `replayed + not_replayed`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct StepCounts {
    pub steps: u64,
    pub model_calls: u64,
    /// Model calls sent again and recorded.
    pub replayed: u64,
    /// Model calls not sent (not replayable, failed to send, or the replay was cancelled).
    pub not_replayed: u64,
    /// Tool, vector-DB and data steps: counted and shown, not re-run.
    pub not_rerun: u64,
}

/// What the replay changed, as recorded on its calls.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ReplayChanges {
    pub model: Option<String>,
    pub system_prompt_mode: Option<SystemPromptMode>,
    /// Whether a JSON merge patch was applied.
    pub patched: bool,
    /// The path the changes were limited to.
    pub path: Option<String>,
    pub propagate: bool,
}

/// The comparison of a session and its replay.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplayResult {
    pub replay_session_id: String,
    pub replay_session_name: String,
    pub original_session_id: String,
    pub changes: ReplayChanges,
    pub counts: StepCounts,
    /// One per step of the original session, in its start order.
    pub steps: Vec<ReplayStep>,
    pub totals: ReplayTotals,
}

/// What the body changes are, checked once.
#[derive(Debug, Clone)]
struct Changes {
    model: Option<String>,
    system: Option<(SystemPromptMode, String)>,
    patch: Option<Value>,
    path: Option<String>,
    propagate: bool,
}

impl Changes {
    fn system_mode(&self) -> Option<SystemMode> {
        self.system.as_ref().map(|(mode, _)| match mode {
            SystemPromptMode::Append => SystemMode::Append,
            SystemPromptMode::Replace => SystemMode::Replace,
        })
    }

    /// What the comparison says was changed.
    fn summary(&self) -> ReplayChanges {
        ReplayChanges {
            model: self.model.clone(),
            system_prompt_mode: self.system.as_ref().map(|(mode, _)| *mode),
            patched: self.patch.is_some(),
            path: self.path.clone(),
            propagate: self.propagate,
        }
    }

    /// The properties that record these changes on every replayed call.
    fn properties(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![(PROP_PROPAGATE, self.propagate.to_string())];
        if let Some(model) = &self.model {
            out.push((PROP_MODEL, model.clone()));
        }
        if let Some((mode, _)) = &self.system {
            out.push((PROP_SYSTEM_PROMPT, mode.as_str().to_owned()));
        }
        if self.patch.is_some() {
            out.push((PROP_PATCHED, "true".to_owned()));
        }
        if let Some(path) = &self.path {
            out.push((PROP_SCOPE, path.clone()));
        }
        out
    }
}

impl ReplayParams {
    fn changes(&self) -> ApiResult<Changes> {
        if let Some(patch) = &self.patch
            && !patch.is_object()
        {
            return Err(ApiError::BadRequest(
                "patch must be a JSON object (a merge patch)".into(),
            ));
        }
        Ok(Changes {
            model: self.model.clone().filter(|m| !m.is_empty()),
            system: self
                .system_prompt
                .as_ref()
                .map(|change| (change.mode, change.text.clone())),
            patch: self.patch.clone(),
            path: self
                .path
                .as_deref()
                .map(canopy_core::session::normalize_path),
            propagate: self.propagate.unwrap_or(true),
        })
    }
}

/// Replays session `id` of `org_id` and waits for the comparison; `canopy_key` is sent with
/// each call so the replay is recorded in the same organisation. If the caller goes away (this
/// future is dropped), the replay is cancelled: no further call is sent.
pub async fn replay(
    state: &ApiState,
    org_id: &str,
    id: &str,
    canopy_key: Option<String>,
    params: &ReplayParams,
) -> ApiResult<ReplayResult> {
    let job = jobs::start(state, org_id, id, canopy_key, params).await?;
    let guard = CancelOnDrop(Arc::clone(&job));
    let view = job.finished().await;
    drop(guard);
    match view.comparison {
        Some(result) => Ok(result),
        None => Err(ApiError::Failed(
            view.error.unwrap_or_else(|| "the replay failed".into()),
        )),
    }
}

/// Cancels a job when dropped, unless it has ended.
struct CancelOnDrop(Arc<jobs::Job>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.0.ended_at().is_none() {
            self.0.cancel();
        }
    }
}
