//! The comparison of a session and its replay, built from the stored records of both, so it
//! can be read at any time after the replay, on any store engine and from any gateway.
//!
//! Each replayed call carries the original call's id (`replay_of_request`), how much history
//! was propagated and what the replay changed; the replay session's calls carry `replay_of`.
//! One step per step of the original session, in start order: the same steps, counted the same
//! way, as the session's own page shows. Replays recorded before calls carried
//! `replay_of_request` are paired by path, in order.

use std::collections::{HashMap, VecDeque};

use canopy_core::{CallKind, CallRecord};

use super::send::{self, output_text, side};
use super::{
    PROP_MODEL, PROP_ORIGINAL_REQUEST, PROP_PATCHED, PROP_PROPAGATE, PROP_PROPAGATED,
    PROP_REPLAY_OF, PROP_SCOPE, PROP_SYSTEM_PROMPT, ReplayChanges, ReplayResult, ReplayStep,
    ReplayTotals, SideTotals, StepCounts, StepSide, SystemPromptMode,
};
use crate::ApiState;
use crate::error::{ApiError, ApiResult};

/// Sorts a session's steps into start order, as a replay takes them (ties keep their order).
pub(super) fn start_order(calls: &mut [CallRecord]) {
    calls.sort_by_key(|c| c.created_at_ms);
}

/// The comparison of replay session `replay_id` with the session it replays, from the store.
pub async fn comparison(state: &ApiState, org: &str, replay_id: &str) -> ApiResult<ReplayResult> {
    let replays = state.query.session_calls(org, replay_id).await?;
    if replays.is_empty() {
        return Err(ApiError::NotFound(format!("no session `{replay_id}`")));
    }
    let original_id = replays
        .iter()
        .find_map(|c| c.properties.get(PROP_REPLAY_OF))
        .cloned()
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "session `{replay_id}` is not a replay of another session"
            ))
        })?;
    let mut originals = state.query.session_calls(org, &original_id).await?;
    if originals.is_empty() {
        return Err(ApiError::NotFound(format!(
            "session `{original_id}`, which `{replay_id}` replays, is no longer stored"
        )));
    }
    start_order(&mut originals);
    let name = replays
        .iter()
        .rev()
        .find_map(|c| c.session_name.clone())
        .unwrap_or_else(|| format!("Replay of {original_id}"));
    let mut result = build(
        state,
        Sessions {
            original_id: &original_id,
            replay_id,
            replay_name: &name,
        },
        &originals,
        &replays,
        None,
    );
    summarise(&mut result);
    Ok(result)
}

/// The two sessions compared.
pub(super) struct Sessions<'a> {
    pub original_id: &'a str,
    pub replay_id: &'a str,
    pub replay_name: &'a str,
}

/// Pairs each original step (in start order) with its replayed call, if any. `changes` is what
/// the replay changed when known; otherwise it is read from the replayed calls' properties.
/// Counts and totals are left to [`summarise`].
pub(super) fn build(
    state: &ApiState,
    sessions: Sessions<'_>,
    originals: &[CallRecord],
    replays: &[CallRecord],
    changes: Option<ReplayChanges>,
) -> ReplayResult {
    let by_original: HashMap<&str, &CallRecord> = replays
        .iter()
        .filter_map(|c| {
            c.properties
                .get(PROP_ORIGINAL_REQUEST)
                .map(|id| (id.as_str(), c))
        })
        .collect();
    let mut by_path: HashMap<&str, VecDeque<&CallRecord>> = HashMap::new();
    for call in replays
        .iter()
        .filter(|c| !c.properties.contains_key(PROP_ORIGINAL_REQUEST))
    {
        by_path
            .entry(call.session_path.as_deref().unwrap_or("/"))
            .or_default()
            .push_back(call);
    }
    let steps = originals
        .iter()
        .map(|call| {
            let path = call.session_path.clone().unwrap_or_else(|| "/".to_owned());
            let skip = send::skip_reason(state, call);
            let replayed = if call.kind == CallKind::Llm {
                by_original
                    .get(call.id.to_string().as_str())
                    .copied()
                    .or_else(|| {
                        skip.is_none()
                            .then(|| by_path.get_mut(path.as_str())?.pop_front())
                            .flatten()
                    })
            } else {
                None
            };
            let note = match (&replayed, skip) {
                (Some(_), _) => None,
                (None, Some(reason)) => Some(reason),
                (None, None) => Some(
                    "not replayed: the replay stopped before this call, or it could not be sent"
                        .to_owned(),
                ),
            };
            ReplayStep {
                path,
                kind: call.kind.as_str().to_owned(),
                original: side(call, output_text(call)),
                propagated_messages: replayed
                    .and_then(|r| r.properties.get(PROP_PROPAGATED))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
                replay: replayed.map(|r| side(r, output_text(r))),
                note,
            }
        })
        .collect();
    ReplayResult {
        replay_session_id: sessions.replay_id.to_owned(),
        replay_session_name: sessions.replay_name.to_owned(),
        original_session_id: sessions.original_id.to_owned(),
        changes: changes.unwrap_or_else(|| recorded_changes(replays)),
        counts: StepCounts::default(),
        steps,
        totals: ReplayTotals::default(),
    }
}

/// What the replay changed, as its calls recorded it.
fn recorded_changes(replays: &[CallRecord]) -> ReplayChanges {
    let Some(first) = replays.first() else {
        return ReplayChanges::default();
    };
    let get = |key: &str| first.properties.get(key).cloned();
    ReplayChanges {
        model: get(PROP_MODEL),
        system_prompt_mode: get(PROP_SYSTEM_PROMPT)
            .as_deref()
            .and_then(SystemPromptMode::parse),
        patched: get(PROP_PATCHED).as_deref() == Some("true"),
        path: get(PROP_SCOPE),
        propagate: get(PROP_PROPAGATE).as_deref() != Some("false"),
    }
}

/// Fills in the counts and the totals from the steps. Both sides' totals cover the same model
/// calls: those that were replayed.
pub(super) fn summarise(result: &mut ReplayResult) {
    let steps = &result.steps;
    let model_calls = steps.iter().filter(|s| s.kind == "llm").count() as u64;
    let paired: Vec<&ReplayStep> = steps.iter().filter(|s| s.replay.is_some()).collect();
    result.counts = StepCounts {
        steps: steps.len() as u64,
        model_calls,
        replayed: paired.len() as u64,
        not_replayed: model_calls - paired.len() as u64,
        not_rerun: steps.len() as u64 - model_calls,
    };
    result.totals = ReplayTotals {
        original: totals(paired.iter().map(|s| &s.original)),
        replay: totals(paired.iter().filter_map(|s| s.replay.as_ref())),
    };
}

fn totals<'a>(sides: impl Iterator<Item = &'a StepSide>) -> SideTotals {
    let mut t = SideTotals::default();
    let mut wall: Option<(i64, i64)> = None;
    for s in sides {
        t.calls += 1;
        t.cost += s.cost.unwrap_or(0.0);
        t.prompt_tokens += s.prompt_tokens;
        t.completion_tokens += s.completion_tokens;
        t.latency_ms = t.latency_ms.saturating_add(s.latency_ms.unwrap_or(0));
        t.errors += u64::from(s.status < 0 || s.status >= 400);
        if let Some((start, end)) = s.span {
            wall = Some(wall.map_or((start, end), |(a, b)| (a.min(start), b.max(end))));
        }
    }
    t.wall_ms = wall.map_or(0, |(a, b)| b.saturating_sub(a));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side_at(start: i64, latency: i64) -> StepSide {
        StepSide {
            latency_ms: Some(latency),
            status: 200,
            span: Some((start, start + latency)),
            ..StepSide::default()
        }
    }

    #[test]
    fn wall_time_spans_first_start_to_last_end_and_overlap_makes_it_shorter_than_the_sum() {
        let t = totals([side_at(0, 100), side_at(50, 100), side_at(300, 10)].iter());
        assert_eq!(t.calls, 3);
        assert_eq!(t.latency_ms, 210);
        assert_eq!(t.wall_ms, 310);
        assert_eq!(totals([].iter()).wall_ms, 0);
    }
}
