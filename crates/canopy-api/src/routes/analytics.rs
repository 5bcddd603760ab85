//! `GET /v1/analytics/sessions`: the sessions of one user or one property value; and
//! `GET /v1/suggest`: property keys, values and user ids seen in the latest calls.

use axum::Json;
use axum::extract::State;
use canopy_store::query::SessionQuery;
use canopy_store::query::filter::{Condition, Field, Filter, Op, Value};

use crate::ApiState;
use crate::dto::session::{AnalyticsParams, EntitySession, entity_session};
use crate::dto::suggest::{SuggestParams, SuggestionRow};
use crate::error::{ApiError, ApiResult, Envelope, ok};
use crate::extract::{ApiQuery, Org};
use crate::openapi::ErrorEnvelope;
use crate::time;

/// Sessions of an entity: `entity_type=user` matches the user id, any other type matches the
/// property of that name. Each session is counted whole.
#[utoipa::path(get, operation_id = "entitySessions", path = "/api/v1/analytics/sessions", params(AnalyticsParams),
    responses((status = 200, body = Envelope<Vec<EntitySession>>), (status = 400, body = ErrorEnvelope)))]
pub async fn sessions(
    State(state): State<ApiState>,
    Org(org): Org,
    ApiQuery(params): ApiQuery<AnalyticsParams>,
) -> ApiResult<Json<Envelope<Vec<EntitySession>>>> {
    let field = match params.entity_type.as_str() {
        "" => return Err(ApiError::BadRequest("entity_type must not be empty".into())),
        "user" => Field::UserId,
        other => Field::Property(other.to_ascii_lowercase()),
    };
    let date = |name: &str, text: Option<&str>| -> ApiResult<Option<i64>> {
        // An empty value (`start_date=`) is no bound, as an absent one.
        text.filter(|t| !t.is_empty())
            .map(|t| {
                time::parse(t).ok_or_else(|| {
                    ApiError::BadRequest(format!("{name} must be a date or time, got `{t}`"))
                })
            })
            .transpose()
    };
    let limit = params.limit.unwrap_or(100);
    if limit > canopy_store::query::MAX_SESSION_LIMIT {
        return Err(ApiError::BadRequest(format!(
            "limit must be at most {}",
            canopy_store::query::MAX_SESSION_LIMIT
        )));
    }
    let query = SessionQuery {
        search: None,
        start_ms: date("start_date", params.start_date.as_deref())?,
        end_ms: date("end_date", params.end_date.as_deref())?,
        name_equals: None,
        filter: Filter::Leaf(Condition {
            field,
            op: Op::Equals,
            value: Value::Text(params.entity_id.clone()),
        }),
        sort: canopy_store::query::SessionSort::default(),
        limit,
        offset: 0,
    };
    let sessions = state.query.query_sessions(&org.org_id, &query).await?;
    Ok(ok(sessions.iter().map(entity_session).collect()))
}

/// Property keys, one key's values, or user ids seen in the organisation's latest calls, the
/// most used first; for filter boxes to offer.
#[utoipa::path(get, operation_id = "suggest", path = "/api/v1/suggest", params(SuggestParams),
    responses((status = 200, body = Envelope<Vec<SuggestionRow>>), (status = 400, body = ErrorEnvelope)))]
pub async fn suggest(
    State(state): State<ApiState>,
    Org(org): Org,
    ApiQuery(params): ApiQuery<SuggestParams>,
) -> ApiResult<Json<Envelope<Vec<SuggestionRow>>>> {
    let (field, limit) = params.to_field()?;
    let contains = params.contains.as_deref().unwrap_or("");
    let found = state
        .query
        .suggest(&org.org_id, &field, contains, limit)
        .await?;
    Ok(ok(found.into_iter().map(SuggestionRow::from).collect()))
}
