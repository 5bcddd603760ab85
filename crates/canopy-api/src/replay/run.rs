//! Running a replay job: sending the calls with the original's overlap, then the comparison.
//!
//! The order rule: calls are taken in their original start order, and call `k` is sent once
//! every call that had *ended* before `k`'s original start has finished in the replay. Calls
//! that overlapped in the original therefore overlap in the replay, and a call whose history
//! holds an earlier answer is sent only after that answer was replayed, so propagation sees it.
//! Since a later start can only add to what must have finished, the calls are sent in start
//! order and the next one waits while any call in flight had ended before its start. At most
//! [`MAX_IN_FLIGHT`] calls of one replay are in flight at once; a wider fan-out is replayed in
//! waves of that size. Steps that are not sent (tool steps, calls that cannot be replayed) count
//! as finished at once.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use canopy_core::{CallId, CallRecord};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::jobs::{Job, JobState};
use super::send::{self, Target};
use super::{Changes, StepSide, compare};
use crate::ApiState;

/// The most calls of one replay in flight at once.
pub const MAX_IN_FLIGHT: usize = 16;

/// Times are whole milliseconds, taken apart (start from the clock, latency from a timer), so a
/// call that ended just before another started may seem to end a millisecond after; within
/// this slack it still counts as having ended first.
const ORDER_SLACK_MS: i64 = 2;

/// How long to wait for the replay's records to be written before comparing without them.
const RECORD_WAIT: Duration = Duration::from_secs(10);

/// The original session's steps in start order, and which of them are sent.
pub(super) struct Plan {
    calls: Vec<CallRecord>,
    /// Why each step is not sent; `None` for those that are.
    skip: Vec<Option<String>>,
}

impl Plan {
    pub(super) fn new(state: &ApiState, mut calls: Vec<CallRecord>) -> Self {
        compare::start_order(&mut calls);
        let skip = calls.iter().map(|c| send::skip_reason(state, c)).collect();
        Self { calls, skip }
    }

    /// Every step of the session.
    pub(super) fn steps(&self) -> u64 {
        self.calls.len() as u64
    }

    /// The model calls that will be sent.
    pub(super) fn to_send(&self) -> u64 {
        self.skip.iter().filter(|s| s.is_none()).count() as u64
    }
}

/// What a job needs besides its plan.
pub(super) struct Context {
    pub state: ApiState,
    pub changes: Changes,
    pub canopy_key: Option<String>,
    /// Extra headers for every call (credentials): kept in memory for the job's life only.
    pub headers: BTreeMap<String, String>,
}

/// Original end of a call: its start plus its latency.
pub(super) fn end_of(call: &CallRecord) -> i64 {
    call.created_at_ms
        .saturating_add(call.latency_ms.unwrap_or(0).max(0))
}

/// Runs the job to its end and records the outcome.
pub(super) async fn drive(context: Context, job: &Job, plan: Plan) {
    let sent = send_all(&context, job, &plan).await;
    let state = if job.cancelled().is_cancelled() {
        JobState::Cancelled
    } else {
        JobState::Done
    };
    match conclude(&context, job, &plan, sent).await {
        Ok(result) => job.end(state, Some(result), None),
        Err(error) => {
            tracing::error!(%error, job = %job.replay_session_id(), "Cannot build a replay's comparison.");
            job.end(
                JobState::Failed,
                None,
                Some(format!(
                    "the comparison could not be read from the store; try GET /api/v1/session/{}/comparison later",
                    job.replay_session_id()
                )),
            );
        }
    }
}

/// Sends the plan's calls under the order rule until all are sent or the job is cancelled, and
/// waits for those in flight. Returns each sent call's answer (or why it failed), by step.
async fn send_all(
    context: &Context,
    job: &Job,
    plan: &Plan,
) -> Vec<Option<Result<StepSide, String>>> {
    let changes = context.changes.properties();
    let target = Target {
        state: &context.state,
        replay_id: job.replay_session_id(),
        name: job.replay_session_name(),
        original_id: job.original_session_id(),
        canopy_key: context.canopy_key.as_deref(),
        extra: &context.headers,
        changes: &changes,
    };
    let target = &target;
    let cancel = job.cancelled();
    let mut results: Vec<Option<Result<StepSide, String>>> = vec![None; plan.calls.len()];
    // Original output → replayed output, for propagation.
    let mut outputs: HashMap<String, String> = HashMap::new();
    // Steps in flight, with their original end.
    let mut flying: Vec<(usize, i64)> = Vec::new();
    let mut in_flight = FuturesUnordered::new();
    let mut next = 0;
    loop {
        while !cancel.is_cancelled() && next < plan.calls.len() && flying.len() < MAX_IN_FLIGHT {
            let call = &plan.calls[next];
            let start = call.created_at_ms.saturating_add(ORDER_SLACK_MS);
            if flying.iter().any(|&(_, end)| end <= start) {
                break;
            }
            let k = next;
            next += 1;
            if plan.skip[k].is_some() {
                continue;
            }
            let Some((body, propagated)) = send::prepare(call, &context.changes, &outputs) else {
                continue;
            };
            flying.push((k, end_of(call)));
            job.count_sent();
            in_flight.push(async move { (k, send::send(target, call, &body, propagated).await) });
        }
        if in_flight.is_empty() {
            break;
        }
        tokio::select! {
            Some((k, result)) = in_flight.next() => {
                flying.retain(|&(i, _)| i != k);
                job.count_finished();
                if let Ok(side) = &result {
                    let original = send::output_text(&plan.calls[k]);
                    if !original.is_empty() {
                        outputs.insert(original, side.output.clone());
                    }
                }
                results[k] = Some(result);
            }
            () = cancel.cancelled(), if !cancel.is_cancelled() => {}
        }
    }
    results
}

/// Waits (a bounded time) for the sent calls' records, then builds the comparison from the
/// store, as `GET /session/{id}/comparison` does, with what only the job knows added: why a
/// call failed to send, and the answer of a call whose record was not written in time.
async fn conclude(
    context: &Context,
    job: &Job,
    plan: &Plan,
    sent: Vec<Option<Result<StepSide, String>>>,
) -> Result<super::ReplayResult, canopy_store::StoreError> {
    let state = &context.state;
    let ids: Vec<CallId> = sent
        .iter()
        .flatten()
        .filter_map(|r| r.as_ref().ok())
        .filter_map(|side| CallId::parse(&side.request_id))
        .collect();
    wait_for_records(state, job, &ids).await?;
    let replays = state
        .query
        .session_calls(job.org_id(), job.replay_session_id())
        .await?;
    let mut result = compare::build(
        state,
        compare::Sessions {
            original_id: job.original_session_id(),
            replay_id: job.replay_session_id(),
            replay_name: job.replay_session_name(),
        },
        &plan.calls,
        &replays,
        Some(context.changes.summary()),
    );
    for ((step, sent), skip) in result.steps.iter_mut().zip(sent).zip(&plan.skip) {
        match sent {
            Some(Err(reason)) => {
                step.note = Some(format!("the replayed call failed: {reason}"));
            }
            Some(Ok(live)) if step.replay.is_none() => {
                step.replay = Some(live);
                step.note = Some(
                    "the replayed call's record was not written in time; its cost and tokens are missing"
                        .into(),
                );
            }
            None if skip.is_none() && step.replay.is_none() => {
                step.note = Some("not sent: the replay was cancelled before this call".into());
            }
            _ => {}
        }
    }
    compare::summarise(&mut result);
    Ok(result)
}

/// Waits until every record in `ids` is in the store, at most [`RECORD_WAIT`] (records are
/// written off the request path, within moments), and not at all once the server is stopping.
async fn wait_for_records(
    state: &ApiState,
    job: &Job,
    ids: &[CallId],
) -> Result<(), canopy_store::StoreError> {
    let deadline = tokio::time::Instant::now() + RECORD_WAIT;
    for &id in ids {
        loop {
            if state.query.get_call(job.org_id(), id).await?.is_some()
                || tokio::time::Instant::now() >= deadline
                || state.replay_jobs.stopping()
            {
                break;
            }
            let mut written = state.ingest.written();
            let _ = tokio::time::timeout(Duration::from_millis(50), written.changed()).await;
        }
    }
    Ok(())
}
