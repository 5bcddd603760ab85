//! `/v1/request/*`: query, count, fetch and annotate calls.

use axum::Json;
use axum::extract::State;

use super::call_id;
use crate::ApiState;
use crate::dto::request::{
    FEEDBACK_SCORE, FeedbackBody, PropertyBody, RequestQueryParams, RequestRow, ScoreBody,
    request_row,
};
use crate::error::{ApiError, ApiResult, Envelope, done_or_not_found, ok};
use crate::extract::{ApiJson, ApiPath, Org};
use crate::openapi::{Done, ErrorEnvelope};

/// Filtered, sorted, paginated calls.
#[utoipa::path(post, operation_id = "queryRequests", path = "/api/v1/request/query", request_body = RequestQueryParams,
    responses((status = 200, body = Envelope<Vec<RequestRow>>), (status = 400, body = ErrorEnvelope)))]
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
#[utoipa::path(post, operation_id = "countRequests", path = "/api/v1/request/count/query", request_body = RequestQueryParams,
    responses((status = 200, body = Envelope<u64>), (status = 400, body = ErrorEnvelope)))]
pub async fn count(
    State(state): State<ApiState>,
    Org(org): Org,
    ApiJson(params): ApiJson<RequestQueryParams>,
) -> ApiResult<Json<Envelope<u64>>> {
    // The whole body is checked, as for a query, though only the filter counts.
    let query = params.to_query()?;
    Ok(ok(state
        .query
        .count_matching_calls(&org.org_id, &query.filter)
        .await?))
}

/// One call, bodies included.
#[utoipa::path(get, operation_id = "getRequest", path = "/api/v1/request/{id}", params(("id" = String, Path, description = "The request id")),
    responses((status = 200, body = Envelope<RequestRow>), (status = 404, body = ErrorEnvelope)))]
pub async fn get(
    State(state): State<ApiState>,
    Org(org): Org,
    ApiPath(id): ApiPath<String>,
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
#[utoipa::path(post, operation_id = "requestFeedback", path = "/api/v1/request/{id}/feedback", request_body = FeedbackBody,
    params(("id" = String, Path, description = "The request id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorEnvelope)))]
pub async fn feedback(
    State(state): State<ApiState>,
    Org(org): Org,
    ApiPath(id): ApiPath<String>,
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
#[utoipa::path(put, operation_id = "setRequestProperty", path = "/api/v1/request/{id}/property", request_body = PropertyBody,
    params(("id" = String, Path, description = "The request id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorEnvelope)))]
pub async fn property(
    State(state): State<ApiState>,
    Org(org): Org,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PropertyBody>,
) -> ApiResult<Json<Envelope<()>>> {
    let id = call_id(&id)?;
    if body.key.is_empty() {
        return Err(ApiError::BadRequest("key must not be empty".into()));
    }
    // Stored as a proxied call's properties are: with any URL in it redacted, in the key as in
    // the value (filters look for a key as it is stored).
    let key = canopy_core::redact::redact_text(&body.key);
    let value = canopy_core::redact::redact_text(&body.value);
    done_or_not_found(
        state
            .annotate
            .set_property(&org.org_id, id, &key, &value)
            .await?,
        || format!("no request `{id}`"),
    )
}

/// Adds named scores to a call.
#[utoipa::path(post, operation_id = "scoreRequest", path = "/api/v1/request/{id}/score", request_body = ScoreBody,
    params(("id" = String, Path, description = "The request id")),
    responses((status = 200, body = Done), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn score(
    State(state): State<ApiState>,
    Org(org): Org,
    ApiPath(id): ApiPath<String>,
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
