//! `/v1/request/*`: query, count, fetch and annotate calls.

use axum::Json;
use axum::extract::{Path, State};

use super::call_id;
use crate::ApiState;
use crate::dto::request::{
    FEEDBACK_SCORE, FeedbackBody, PropertyBody, RequestQueryParams, RequestRow, ScoreBody,
    request_row,
};
use crate::error::{ApiError, ApiResult, Envelope, done_or_not_found, ok};
use crate::extract::{ApiJson, Org};

/// Filtered, sorted, paginated calls.
#[utoipa::path(post, path = "/api/v1/request/query", request_body = RequestQueryParams,
    responses((status = 200, body = Envelope<Vec<RequestRow>>), (status = 400, body = Envelope<String>)))]
pub async fn query(
    State(state): State<ApiState>,
    Org(org): Org,
    ApiJson(params): ApiJson<RequestQueryParams>,
) -> ApiResult<Json<Envelope<Vec<RequestRow>>>> {
    let query = params.to_query()?;
    let calls = state.query.query_calls(&org.org_id, &query).await?;
    let ids: Vec<_> = calls.iter().map(|c| c.id).collect();
    let scores = state.query.call_scores(&org.org_id, &ids).await?;
    Ok(ok(calls
        .iter()
        .map(|c| request_row(c, scores.get(&c.id)))
        .collect()))
}

/// How many calls match a filter.
#[utoipa::path(post, path = "/api/v1/request/count/query", request_body = RequestQueryParams,
    responses((status = 200, body = Envelope<u64>), (status = 400, body = Envelope<String>)))]
pub async fn count(
    State(state): State<ApiState>,
    Org(org): Org,
    ApiJson(params): ApiJson<RequestQueryParams>,
) -> ApiResult<Json<Envelope<u64>>> {
    let filter = crate::dto::request::parse_filter(params.filter.as_ref())?;
    Ok(ok(state
        .query
        .count_matching_calls(&org.org_id, &filter)
        .await?))
}

/// One call, bodies included.
#[utoipa::path(get, path = "/api/v1/request/{id}", params(("id" = String, Path, description = "The request id")),
    responses((status = 200, body = Envelope<RequestRow>), (status = 404, body = Envelope<String>)))]
pub async fn get(
    State(state): State<ApiState>,
    Org(org): Org,
    Path(id): Path<String>,
) -> ApiResult<Json<Envelope<RequestRow>>> {
    let id = call_id(&id)?;
    let call = state
        .query
        .get_call(&org.org_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no request `{id}`")))?;
    let scores = state.query.call_scores(&org.org_id, &[id]).await?;
    Ok(ok(request_row(&call, scores.get(&id))))
}

/// Thumbs-up or thumbs-down on a call.
#[utoipa::path(post, path = "/api/v1/request/{id}/feedback", request_body = FeedbackBody,
    params(("id" = String, Path, description = "The request id")),
    responses((status = 200, body = Envelope<String>), (status = 404, body = Envelope<String>)))]
pub async fn feedback(
    State(state): State<ApiState>,
    Org(org): Org,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<FeedbackBody>,
) -> ApiResult<Json<Envelope<()>>> {
    let id = call_id(&id)?;
    let scores = [(FEEDBACK_SCORE.to_owned(), f64::from(u8::from(body.rating)))];
    done_or_not_found(
        state.annotate.set_scores(&org.org_id, id, &scores).await?,
        || format!("no request `{id}`"),
    )
}

/// Sets a property on a call.
#[utoipa::path(put, path = "/api/v1/request/{id}/property", request_body = PropertyBody,
    params(("id" = String, Path, description = "The request id")),
    responses((status = 200, body = Envelope<String>), (status = 404, body = Envelope<String>)))]
pub async fn property(
    State(state): State<ApiState>,
    Org(org): Org,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PropertyBody>,
) -> ApiResult<Json<Envelope<()>>> {
    let id = call_id(&id)?;
    if body.key.is_empty() {
        return Err(ApiError::BadRequest("key must not be empty".into()));
    }
    done_or_not_found(
        state
            .annotate
            .set_property(&org.org_id, id, &body.key, &body.value)
            .await?,
        || format!("no request `{id}`"),
    )
}

/// Adds named scores to a call.
#[utoipa::path(post, path = "/api/v1/request/{id}/score", request_body = ScoreBody,
    params(("id" = String, Path, description = "The request id")),
    responses((status = 200, body = Envelope<String>), (status = 400, body = Envelope<String>), (status = 404, body = Envelope<String>)))]
pub async fn score(
    State(state): State<ApiState>,
    Org(org): Org,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ScoreBody>,
) -> ApiResult<Json<Envelope<()>>> {
    let id = call_id(&id)?;
    done_or_not_found(
        state
            .annotate
            .set_scores(&org.org_id, id, &body.numbers()?)
            .await?,
        || format!("no request `{id}`"),
    )
}
