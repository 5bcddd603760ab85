//! Replay: run one (as a job, or waiting for it), follow and cancel a job, and read a replay's
//! comparison from the store. Every route is scoped to the caller's organisation; another
//! organisation's job or session is a 404, like an unknown one.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::ApiState;
use crate::error::{ApiError, ApiResult, Envelope, ok};
use crate::extract::{ApiJson, ApiPath, Org, SessionIdPath};
use crate::openapi::ErrorEnvelope;
use crate::replay::{ReplayJob, ReplayParams, ReplayResult, compare, jobs};

/// Replays a session's LLM calls, changed, through the gateway, and answers the comparison when
/// every call has finished. If the caller goes away, no further call is sent.
#[utoipa::path(post, operation_id = "replaySession", path = "/api/v1/session/{id}/replay", request_body = ReplayParams,
    params(("id" = String, Path, description = "The session id")),
    responses((status = 200, body = Envelope<ReplayResult>), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 429, description = "The organisation already runs as many replays as it may", body = ErrorEnvelope),
        (status = 500, description = "The comparison could not be built", body = ErrorEnvelope)))]
pub async fn replay(
    State(state): State<ApiState>,
    Org(org): Org,
    SessionIdPath(id): SessionIdPath,
    headers: axum::http::HeaderMap,
    ApiJson(params): ApiJson<ReplayParams>,
) -> ApiResult<Json<Envelope<ReplayResult>>> {
    let key = crate::canopy_key(&headers);
    Ok(ok(crate::replay::replay(
        &state,
        &org.org_id,
        &id,
        key,
        &params,
    )
    .await?))
}

/// Starts replaying a session as a job and answers at once (202) with the job: follow it with
/// `GET /api/v1/replay/jobs/{job_id}`, stop it with `POST .../cancel`.
#[utoipa::path(post, operation_id = "startReplayJob", path = "/api/v1/session/{id}/replay/jobs", request_body = ReplayParams,
    params(("id" = String, Path, description = "The session id")),
    responses((status = 202, description = "The job runs", body = Envelope<ReplayJob>), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
        (status = 429, description = "The organisation already runs as many replays as it may", body = ErrorEnvelope)))]
pub async fn start_job(
    State(state): State<ApiState>,
    Org(org): Org,
    SessionIdPath(id): SessionIdPath,
    headers: axum::http::HeaderMap,
    ApiJson(params): ApiJson<ReplayParams>,
) -> ApiResult<(StatusCode, Json<Envelope<ReplayJob>>)> {
    let key = crate::canopy_key(&headers);
    let job = jobs::start(&state, &org.org_id, &id, key, &params).await?;
    Ok((StatusCode::ACCEPTED, ok(job.view())))
}

/// A replay job: its state, progress and, once it has ended, the comparison. Jobs are kept in
/// the gateway that runs them for 30 minutes after they end.
#[utoipa::path(get, operation_id = "getReplayJob", path = "/api/v1/replay/jobs/{job_id}",
    params(("job_id" = String, Path, description = "The job id")),
    responses((status = 200, body = Envelope<ReplayJob>), (status = 404, body = ErrorEnvelope)))]
pub async fn get_job(
    State(state): State<ApiState>,
    Org(org): Org,
    ApiPath(job_id): ApiPath<String>,
) -> ApiResult<Json<Envelope<ReplayJob>>> {
    Ok(ok(find(&state, &org.org_id, &job_id)?.view()))
}

/// Cancels a replay job: no further call is sent; calls in flight finish and are recorded, and
/// the job then ends `cancelled` with the comparison of what was done. Cancelling a job that
/// has ended changes nothing.
#[utoipa::path(post, operation_id = "cancelReplayJob", path = "/api/v1/replay/jobs/{job_id}/cancel",
    params(("job_id" = String, Path, description = "The job id")),
    responses((status = 200, body = Envelope<ReplayJob>), (status = 404, body = ErrorEnvelope)))]
pub async fn cancel_job(
    State(state): State<ApiState>,
    Org(org): Org,
    ApiPath(job_id): ApiPath<String>,
) -> ApiResult<Json<Envelope<ReplayJob>>> {
    let job = find(&state, &org.org_id, &job_id)?;
    job.cancel();
    Ok(ok(job.view()))
}

/// The comparison of a replay session with the session it replays, rebuilt from the stored
/// records of both: readable any time after the replay, from any gateway.
#[utoipa::path(get, operation_id = "getReplayComparison", path = "/api/v1/session/{id}/comparison",
    params(("id" = String, Path, description = "The replay session's id")),
    responses((status = 200, body = Envelope<ReplayResult>), (status = 404, description = "No such session, it is not a replay, or the session it replays is gone", body = ErrorEnvelope)))]
pub async fn comparison(
    State(state): State<ApiState>,
    Org(org): Org,
    SessionIdPath(id): SessionIdPath,
) -> ApiResult<Json<Envelope<ReplayResult>>> {
    Ok(ok(compare::comparison(&state, &org.org_id, &id).await?))
}

fn find(state: &ApiState, org: &str, job_id: &str) -> ApiResult<std::sync::Arc<jobs::Job>> {
    state
        .replay_jobs
        .get(org, job_id)
        .ok_or_else(|| ApiError::NotFound(format!("no replay job `{job_id}`")))
}
