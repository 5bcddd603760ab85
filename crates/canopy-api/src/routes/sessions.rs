//! `/v1/session/*`: list, count, names, metrics, one session's tree, and annotations.

use axum::Json;
use axum::extract::State;
use canopy_store::query::histogram::{self, Cut};

use crate::ApiState;
use crate::dto::request::request_row;
use crate::dto::session::{
    AverageRow, Averages, PathEntry, SessionCount, SessionDetail, SessionDetailParams,
    SessionMetrics, SessionNameEntry, SessionNameParams, SessionQueryParams, SessionRow,
    histogram_rows, name_entry, path_entry, session_detail, session_row,
};
use crate::dto::{mean, usd};
use crate::error::{ApiError, ApiResult, Envelope, done_or_not_found, ok};
use crate::extract::{ApiJson, ApiQuery, Org, SessionIdPath};
use crate::openapi::{Done, ErrorEnvelope};

/// A page of sessions, newest first, each with its whole totals.
#[utoipa::path(post, operation_id = "querySessions", path = "/api/v1/session/query", request_body = SessionQueryParams,
    responses((status = 200, body = Envelope<Vec<SessionRow>>), (status = 400, body = ErrorEnvelope)))]
pub async fn query(
    State(state): State<ApiState>,
    Org(org): Org,
    ApiJson(params): ApiJson<SessionQueryParams>,
) -> ApiResult<Json<Envelope<Vec<SessionRow>>>> {
    let sessions = state
        .query
        .query_sessions(&org.org_id, &params.to_query()?)
        .await?;
    Ok(ok(sessions.iter().map(session_row).collect()))
}

/// Totals over every matching session.
#[utoipa::path(post, operation_id = "countSessions", path = "/api/v1/session/count", request_body = SessionQueryParams,
    responses((status = 200, body = Envelope<SessionCount>), (status = 400, body = ErrorEnvelope)))]
pub async fn count(
    State(state): State<ApiState>,
    Org(org): Org,
    ApiJson(params): ApiJson<SessionQueryParams>,
) -> ApiResult<Json<Envelope<SessionCount>>> {
    let a = state
        .query
        .aggregate_sessions(&org.org_id, &params.to_query()?)
        .await?;
    Ok(ok(SessionCount {
        count: a.count,
        total_cost: usd(a.total_cost_nano),
        avg_cost: mean(usd(a.total_cost_nano), a.count),
        avg_latency: mean(a.latency_sum_ms as f64, a.total_requests),
        avg_requests: mean(a.total_requests as f64, a.count),
    }))
}

/// Session names and how each has been used.
#[utoipa::path(post, operation_id = "querySessionNames", path = "/api/v1/session/name/query", request_body = SessionNameParams,
    responses((status = 200, body = Envelope<Vec<SessionNameEntry>>), (status = 400, body = ErrorEnvelope)))]
pub async fn names(
    State(state): State<ApiState>,
    Org(org): Org,
    ApiJson(params): ApiJson<SessionNameParams>,
) -> ApiResult<Json<Envelope<Vec<SessionNameEntry>>>> {
    let query = params.to_query(None)?;
    let contains = params.name_contains.clone().unwrap_or_default();
    let rows = state
        .query
        .session_names(&org.org_id, &contains, &query)
        .await?;
    Ok(ok(rows.iter().map(name_entry).collect()))
}

/// Per-path figures over every session the body matches (typically one name's): how often each
/// path runs, how long it takes and what it costs. Paging and sort are ignored.
#[utoipa::path(post, operation_id = "querySessionPaths", path = "/api/v1/session/paths/query", request_body = SessionQueryParams,
    responses((status = 200, body = Envelope<Vec<PathEntry>>), (status = 400, body = ErrorEnvelope)))]
pub async fn paths(
    State(state): State<ApiState>,
    Org(org): Org,
    ApiJson(params): ApiJson<SessionQueryParams>,
) -> ApiResult<Json<Envelope<Vec<PathEntry>>>> {
    let query = params.to_query()?;
    let rows = state.query.path_stats(&org.org_id, &query).await?;
    Ok(ok(rows.iter().map(path_entry).collect()))
}

/// Histograms of calls per session, duration (seconds) and cost (USD), with averages.
#[utoipa::path(post, operation_id = "querySessionMetrics", path = "/api/v1/session/metrics/query", request_body = SessionNameParams,
    responses((status = 200, body = Envelope<SessionMetrics>), (status = 400, body = ErrorEnvelope)))]
pub async fn metrics(
    State(state): State<ApiState>,
    Org(org): Org,
    ApiJson(params): ApiJson<SessionNameParams>,
) -> ApiResult<Json<Envelope<SessionMetrics>>> {
    // Helicone applies `nameContains` here as an exact name.
    let query = params.to_query(params.name_contains.clone().filter(|n| !n.is_empty()))?;
    let cut = if params.use_interquartile.unwrap_or(false) {
        Cut::Interquartile
    } else {
        Cut::Percentile(params.percentile()?)
    };
    let points = state.query.session_points(&org.org_id, &query).await?;
    let counts: Vec<f64> = points.iter().map(|p| p.requests as f64).collect();
    let seconds: Vec<f64> = points
        .iter()
        .map(|p| p.duration_ms as f64 / 1000.0)
        .collect();
    let costs: Vec<f64> = points.iter().map(|p| usd(p.cost_nano)).collect();
    let average = |v: &[f64]| {
        vec![AverageRow {
            average: histogram::average(v),
        }]
    };
    Ok(ok(SessionMetrics {
        session_count: histogram_rows(&histogram::histogram(&counts, cut)),
        session_duration: histogram_rows(&histogram::histogram(&seconds, cut)),
        session_cost: histogram_rows(&histogram::histogram(&costs, cut)),
        average: Averages {
            session_count: average(&counts),
            session_duration: average(&seconds),
            session_cost: average(&costs),
        },
    }))
}

/// One session with its server-built tree, per-node roll-ups, timeline and calls; the calls'
/// bodies only when asked for (`?include_bodies=true`).
#[utoipa::path(get, operation_id = "getSession", path = "/api/v1/session/{id}",
    params(("id" = String, Path, description = "The session id"), SessionDetailParams),
    responses((status = 200, body = Envelope<SessionDetail>), (status = 404, body = ErrorEnvelope)))]
pub async fn get(
    State(state): State<ApiState>,
    Org(org): Org,
    SessionIdPath(id): SessionIdPath,
    ApiQuery(params): ApiQuery<SessionDetailParams>,
) -> ApiResult<Json<Envelope<SessionDetail>>> {
    let bodies = params.include_bodies.unwrap_or(false);
    Ok(ok(detail(&*state.query, &org.org_id, &id, bodies).await?))
}

/// Builds a session's detail object, with the calls' bodies or without; the CLI prints the
/// same.
pub async fn detail(
    query: &dyn canopy_store::Query,
    org_id: &str,
    id: &str,
    bodies: bool,
) -> ApiResult<SessionDetail> {
    let summary = query
        .get_session(org_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no session `{id}`")))?;
    let calls = if bodies {
        query.session_calls(org_id, id).await?
    } else {
        query.session_calls_without_bodies(org_id, id).await?
    };
    let tags = query.session_tags(org_id, id).await?;
    let ids: Vec<_> = calls.iter().map(|c| c.id).collect();
    let scores = query.call_scores(org_id, &ids).await?;
    let rows = calls
        .iter()
        .map(|c| request_row(c, scores.get(&c.id)))
        .collect();
    Ok(session_detail(&summary, tags, &calls, rows))
}

/// Thumbs-up or thumbs-down on a session.
#[utoipa::path(post, operation_id = "sessionFeedback", path = "/api/v1/session/{id}/feedback", request_body = crate::dto::request::FeedbackBody,
    params(("id" = String, Path, description = "The session id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorEnvelope)))]
pub async fn feedback(
    State(state): State<ApiState>,
    Org(org): Org,
    SessionIdPath(id): SessionIdPath,
    ApiJson(body): ApiJson<crate::dto::request::FeedbackBody>,
) -> ApiResult<Json<Envelope<()>>> {
    done_or_not_found(
        state
            .annotate
            .set_session_feedback(&org.org_id, &id, body.rating)
            .await?,
        || format!("no session `{id}`"),
    )
}

/// Whether `c` is white space as ECMAScript's `\s` (which JSON Schema patterns use) has it.
fn ecma_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// The longest tag, in characters (at most 1 KiB of UTF-8, well inside every store's index
/// limits).
pub const MAX_TAG_CHARS: usize = 256;

/// Body of `POST /v1/session/{id}/tag`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct TagBody {
    /// The tag; surrounding white space is dropped, and it must not be empty. At most
    /// [`MAX_TAG_CHARS`] characters: stores index tags.
    #[schema(pattern = r"\S", max_length = 256)]
    pub tag: String,
}

/// The session's latest tag, as Helicone answers (all tags are in the session detail).
#[utoipa::path(get, operation_id = "getSessionTag", path = "/api/v1/session/{id}/tag", params(("id" = String, Path, description = "The session id")),
    responses((status = 200, body = Envelope<Option<String>>)))]
pub async fn tag(
    State(state): State<ApiState>,
    Org(org): Org,
    SessionIdPath(id): SessionIdPath,
) -> ApiResult<Json<Envelope<Option<String>>>> {
    let tags = state.query.session_tags(&org.org_id, &id).await?;
    Ok(ok(tags.last().cloned()))
}

/// Tags a session.
#[utoipa::path(post, operation_id = "addSessionTag", path = "/api/v1/session/{id}/tag", request_body = TagBody,
    params(("id" = String, Path, description = "The session id")),
    responses((status = 200, body = Done), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn add_tag(
    State(state): State<ApiState>,
    Org(org): Org,
    SessionIdPath(id): SessionIdPath,
    ApiJson(body): ApiJson<TagBody>,
) -> ApiResult<Json<Envelope<()>>> {
    // The white space the schema's `\S` means (ECMAScript's), so that a tag the schema accepts
    // is never refused as empty.
    let tag = body.tag.trim_matches(ecma_space);
    if tag.is_empty() {
        return Err(ApiError::BadRequest("tag must not be empty".into()));
    }
    if body.tag.chars().count() > MAX_TAG_CHARS {
        return Err(ApiError::BadRequest(format!(
            "tag is longer than {MAX_TAG_CHARS} characters"
        )));
    }
    // A tag is free text, kept as a property value is: any URL in it loses its secrets.
    let tag = canopy_core::redact::redact_text(tag);
    done_or_not_found(
        state
            .annotate
            .add_session_tag(&org.org_id, &id, &tag)
            .await?,
        || format!("no session `{id}`"),
    )
}
