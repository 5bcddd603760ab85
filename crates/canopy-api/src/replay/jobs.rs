//! Replay jobs: a replay started over HTTP runs as a task of the gateway that took the request,
//! and is read back by id while it runs and for [`KEEP_FINISHED`] after.
//!
//! Jobs live in memory: an id is known only to the gateway that runs the job (another gateway
//! answers 404; the comparison itself is rebuilt from the store anywhere). Memory is bounded:
//! running jobs by the organisations' replay slots, finished ones by [`MAX_FINISHED`] and
//! [`KEEP_FINISHED`]. Ids are random (UUIDv4), so one cannot be guessed from another, and a job
//! is found only within its own organisation: another organisation's id is a 404, like an
//! unknown one.
//!
//! What must not go here: sending calls (`run.rs`) or comparing (`compare.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use canopy_core::CallId;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ReplayParams, ReplayResult, run};
use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::replay_slots::MAX_REPLAYS_PER_ORG;
use crate::time::iso;

/// How long a finished job stays readable.
pub const KEEP_FINISHED: Duration = Duration::from_secs(30 * 60);
/// The most finished jobs kept; beyond it the oldest are forgotten first.
pub const MAX_FINISHED: usize = 64;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Sending calls, or waiting for the last ones.
    Running,
    /// Every call was sent and has finished.
    Done,
    /// Cancelled: no further call was sent; those in flight finished and were recorded.
    Cancelled,
    /// The comparison could not be built (see `error`).
    Failed,
}

/// How far a job has come.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct JobProgress {
    /// Steps of the original session (tool and data steps included).
    pub steps: u64,
    /// Model calls the job will send.
    pub total: u64,
    /// Model calls sent so far.
    pub sent: u64,
    /// Model calls that have finished (answered or failed).
    pub finished: u64,
}

/// A replay job as answered.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplayJob {
    /// The job's id (a random UUID).
    pub job_id: String,
    pub state: JobState,
    /// Whether cancelling was asked for; the state says `cancelled` once the calls in flight
    /// have finished.
    pub cancel_requested: bool,
    pub original_session_id: String,
    /// The session the replayed calls are recorded under.
    pub replay_session_id: String,
    pub replay_session_name: String,
    pub progress: JobProgress,
    /// ISO-8601 UTC.
    pub started_at: String,
    /// ISO-8601 UTC; null while running.
    pub finished_at: Option<String>,
    /// Why the job failed.
    pub error: Option<String>,
    /// The comparison, once the job has ended (also when cancelled: what was done).
    pub comparison: Option<ReplayResult>,
}

/// How a job ended.
#[derive(Debug, Clone)]
struct Outcome {
    state: JobState,
    at_ms: i64,
    at: Instant,
    comparison: Option<ReplayResult>,
    error: Option<String>,
}

/// One replay job, shared by its task and the routes that read it.
#[derive(Debug)]
pub struct Job {
    id: Uuid,
    org_id: String,
    original_session_id: String,
    replay_session_id: String,
    replay_session_name: String,
    started_at_ms: i64,
    cancel: CancellationToken,
    steps: u64,
    total: u64,
    sent: AtomicU64,
    finished: AtomicU64,
    outcome: watch::Sender<Option<Outcome>>,
}

impl Job {
    /// Asks the job to send no further call.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Its token, cancelled by [`Job::cancel`] or the server's shutdown.
    pub(super) fn cancelled(&self) -> &CancellationToken {
        &self.cancel
    }

    /// The session replayed.
    pub(super) fn original_session_id(&self) -> &str {
        &self.original_session_id
    }

    /// The new session's id.
    pub(super) fn replay_session_id(&self) -> &str {
        &self.replay_session_id
    }

    /// The new session's name.
    pub(super) fn replay_session_name(&self) -> &str {
        &self.replay_session_name
    }

    pub(super) fn org_id(&self) -> &str {
        &self.org_id
    }

    pub(super) fn count_sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn count_finished(&self) {
        self.finished.fetch_add(1, Ordering::Relaxed);
    }

    /// Records how the job ended; only the first end counts.
    pub(super) fn end(
        &self,
        state: JobState,
        comparison: Option<ReplayResult>,
        error: Option<String>,
    ) {
        self.outcome.send_if_modified(|outcome| {
            if outcome.is_some() {
                return false;
            }
            *outcome = Some(Outcome {
                state,
                at_ms: chrono::Utc::now().timestamp_millis(),
                at: Instant::now(),
                comparison,
                error,
            });
            true
        });
    }

    pub(super) fn ended_at(&self) -> Option<Instant> {
        self.outcome.borrow().as_ref().map(|o| o.at)
    }

    /// The job as answered now.
    pub fn view(&self) -> ReplayJob {
        let outcome = self.outcome.borrow().clone();
        ReplayJob {
            job_id: self.id.to_string(),
            state: outcome.as_ref().map_or(JobState::Running, |o| o.state),
            cancel_requested: self.cancel.is_cancelled(),
            original_session_id: self.original_session_id.clone(),
            replay_session_id: self.replay_session_id.clone(),
            replay_session_name: self.replay_session_name.clone(),
            progress: JobProgress {
                steps: self.steps,
                total: self.total,
                sent: self.sent.load(Ordering::Relaxed),
                finished: self.finished.load(Ordering::Relaxed),
            },
            started_at: iso(self.started_at_ms),
            finished_at: outcome.as_ref().map(|o| iso(o.at_ms)),
            error: outcome.as_ref().and_then(|o| o.error.clone()),
            comparison: outcome.and_then(|o| o.comparison),
        }
    }

    /// Waits for the job to end, and answers it then.
    pub async fn finished(&self) -> ReplayJob {
        let mut ended = self.outcome.subscribe();
        // The sender lives in `self`, so this waits until the value is set.
        let _ = ended.wait_for(Option::is_some).await;
        self.view()
    }
}

/// Every job this gateway runs or has run lately; cloned into every handler.
#[derive(Debug, Clone)]
pub struct ReplayJobs {
    jobs: Arc<Mutex<HashMap<Uuid, Arc<Job>>>>,
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl ReplayJobs {
    /// Jobs run on `tasks` (so shutdown waits for them) and are cancelled with `stop`.
    pub fn new(tasks: TaskTracker, stop: CancellationToken) -> Self {
        Self {
            jobs: Arc::default(),
            tasks,
            stop,
        }
    }

    /// Job `id` of `org`, or `None` (also when it is another organisation's).
    pub fn get(&self, org: &str, id: &str) -> Option<Arc<Job>> {
        let id = Uuid::parse_str(id).ok()?;
        let jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        jobs.get(&id).filter(|job| job.org_id == org).cloned()
    }

    /// Whether the server is stopping (every job is then cancelled).
    pub(super) fn stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Keeps `job`, forgetting finished jobs past their time or beyond the bound.
    fn insert(&self, job: Arc<Job>) {
        let mut jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        jobs.insert(job.id, job);
        jobs.retain(|_, job| job.ended_at().is_none_or(|at| at.elapsed() < KEEP_FINISHED));
        let mut finished: Vec<(Instant, Uuid)> = jobs
            .iter()
            .filter_map(|(id, job)| job.ended_at().map(|at| (at, *id)))
            .collect();
        if finished.len() > MAX_FINISHED {
            finished.sort_unstable();
            for (_, id) in &finished[..finished.len() - MAX_FINISHED] {
                jobs.remove(id);
            }
        }
    }
}

/// Starts replaying session `id` of `org`: checks the request, takes one of the organisation's
/// replay slots (held by the job until it ends), reads the session, and returns the running
/// job. `canopy_key` is sent with each call so the replay is recorded in the same organisation.
pub async fn start(
    state: &ApiState,
    org: &str,
    id: &str,
    canopy_key: Option<String>,
    params: &ReplayParams,
) -> ApiResult<Arc<Job>> {
    let changes = params.changes()?;
    let Some(slot) = state.replays.try_take(org) else {
        return Err(ApiError::TooManyRequests(format!(
            "this organisation already runs {MAX_REPLAYS_PER_ORG} replays; try again when one has finished"
        )));
    };
    let summary = state
        .query
        .get_session(org, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no session `{id}`")))?;
    let calls = state.query.session_calls(org, id).await?;
    let plan = run::Plan::new(state, calls);
    let jobs = &state.replay_jobs;
    let (outcome, _) = watch::channel(None);
    let job = Arc::new(Job {
        id: random_id(),
        org_id: org.to_owned(),
        original_session_id: id.to_owned(),
        replay_session_id: CallId::new().to_string(),
        replay_session_name: format!("Replay of {}", summary.name.as_deref().unwrap_or(id)),
        started_at_ms: chrono::Utc::now().timestamp_millis(),
        cancel: jobs.stop.child_token(),
        steps: plan.steps(),
        total: plan.to_send(),
        sent: AtomicU64::new(0),
        finished: AtomicU64::new(0),
        outcome,
    });
    jobs.insert(Arc::clone(&job));
    let context = run::Context {
        state: state.clone(),
        changes,
        canopy_key,
        headers: params.headers.clone(),
    };
    let running = Arc::clone(&job);
    jobs.tasks.spawn(async move {
        // The slot is the job's: given back when the job ends, whoever is waiting for it.
        let _slot = slot;
        // Should the run stop without an outcome (a panic), the job still ends, as failed.
        let _failed = FailUnlessEnded(Arc::clone(&running));
        run::drive(context, &running, plan).await;
    });
    Ok(job)
}

/// Ends its job as failed when dropped, unless it has ended already.
struct FailUnlessEnded(Arc<Job>);

impl Drop for FailUnlessEnded {
    fn drop(&mut self) {
        self.0.end(
            JobState::Failed,
            None,
            Some("the replay stopped unexpectedly".into()),
        );
    }
}

/// A job id nobody can guess from another: random, not time-ordered like record ids.
#[expect(
    clippy::disallowed_methods,
    reason = "a job id is a capability to read the job, so it must be random, not time-ordered"
)]
fn random_id() -> Uuid {
    Uuid::new_v4()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(org: &str, ended: bool) -> Arc<Job> {
        let (outcome, _) = watch::channel(None);
        let job = Arc::new(Job {
            id: random_id(),
            org_id: org.to_owned(),
            original_session_id: "s".into(),
            replay_session_id: "r".into(),
            replay_session_name: "Replay of s".into(),
            started_at_ms: 0,
            cancel: CancellationToken::new(),
            steps: 1,
            total: 1,
            sent: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            outcome,
        });
        if ended {
            job.end(JobState::Done, None, None);
        }
        job
    }

    #[test]
    fn a_job_is_found_only_in_its_own_organisation_and_finished_jobs_are_bounded() {
        let jobs = ReplayJobs::new(TaskTracker::new(), CancellationToken::new());
        let running = job("a", false);
        jobs.insert(Arc::clone(&running));
        let id = running.id.to_string();
        assert!(jobs.get("a", &id).is_some());
        assert!(jobs.get("b", &id).is_none(), "another organisation's job");
        assert!(jobs.get("a", "not-a-uuid").is_none());
        for _ in 0..MAX_FINISHED + 10 {
            jobs.insert(job("a", true));
        }
        let kept = jobs.jobs.lock().unwrap().len();
        assert_eq!(kept, MAX_FINISHED + 1, "the bound, plus the one running");
        assert!(
            jobs.get("a", &id).is_some(),
            "a running job is never forgotten"
        );
    }

    #[tokio::test]
    async fn the_first_end_counts_and_waiters_see_it() {
        let job = job("a", false);
        let waiting = {
            let job = Arc::clone(&job);
            async move { job.finished().await }
        };
        job.end(JobState::Cancelled, None, None);
        job.end(JobState::Failed, None, Some("later".into()));
        let view = waiting.await;
        assert_eq!(view.state, JobState::Cancelled);
        assert!(view.error.is_none() && view.finished_at.is_some());
    }
}
