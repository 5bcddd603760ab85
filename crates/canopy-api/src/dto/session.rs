//! Session queries and shapes (`/v1/session/*`, `/v1/analytics/sessions`).

use std::collections::BTreeMap;

use canopy_core::CallRecord;
use canopy_core::completion::into_stored_label;
use canopy_store::SessionSummary;
use canopy_store::query::histogram::Bucket;
use canopy_store::query::tree::{TimelineEntry, TreeNode};
use canopy_store::query::{
    MAX_SESSION_LIMIT, PathStat, SessionNameRow, SessionQuery, SessionSort, SessionSortKey,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::request::{RequestRow, parse_filter};
use super::{mean, usd};
use crate::error::ApiError;
use crate::time::iso;

/// Helicone's time window.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimeFilter {
    /// Window start, Unix ms.
    pub start_time_unix_ms: Option<i64>,
    /// Window end, Unix ms.
    pub end_time_unix_ms: Option<i64>,
}

/// Body of `POST /v1/session/query` and `/v1/session/count`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SessionQueryParams {
    /// Case-insensitive substring of the session id or name.
    pub search: Option<String>,
    /// Sessions overlapping this window are listed, with their whole totals.
    #[serde(deserialize_with = "super::object_only")]
    pub time_filter: Option<TimeFilter>,
    /// Minutes to add to the returned times (Helicone's dashboards send it; Canopy answers in UTC
    /// and only checks it is within a day).
    #[schema(minimum = -1440, maximum = 1440)]
    pub timezone_difference: Option<f64>,
    /// Exact session name.
    pub name_equals: Option<String>,
    /// Helicone's filter tree over `request_response_rmt` and `sessions_request_response_rmt`.
    #[schema(schema_with = super::filter_schema)]
    pub filter: Option<serde_json::Value>,
    /// Rows to skip.
    pub offset: Option<u64>,
    /// Page size (default 50, at most 1000).
    #[schema(maximum = 1000)]
    pub limit: Option<u64>,
    /// The order: `{"key": "cost", "direction": "desc"}`; newest first when absent.
    #[serde(deserialize_with = "super::object_only")]
    pub sort_by: Option<SessionSortBy>,
}

/// The order of a page of sessions.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionSortBy {
    /// A sort key.
    #[schema(schema_with = session_sort_key_schema)]
    pub key: String,
    /// `asc` or `desc` (the default).
    #[serde(default)]
    #[schema(schema_with = direction_schema)]
    pub direction: Option<String>,
}

/// Every sort key [`SessionQueryParams`] accepts, and the row field each names.
pub const SESSION_SORT_KEYS: &[&str] = &[
    "created_at",
    "total_cost",
    "total_requests",
    "duration_ms",
    "error_count",
    "avg_latency",
];

fn session_sort_key_schema() -> utoipa::openapi::schema::Object {
    super::one_of(SESSION_SORT_KEYS)
}

fn direction_schema() -> utoipa::openapi::schema::Object {
    super::one_of_or_null(&["asc", "desc"])
}

impl SessionSortBy {
    fn to_sort(&self) -> Result<SessionSort, ApiError> {
        let key = match self.key.as_str() {
            "created_at" => SessionSortKey::Started,
            "total_cost" => SessionSortKey::Cost,
            "total_requests" => SessionSortKey::Calls,
            "duration_ms" => SessionSortKey::Duration,
            "error_count" => SessionSortKey::Errors,
            "avg_latency" => SessionSortKey::Latency,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown session sort key `{other}`; use one of {}",
                    SESSION_SORT_KEYS.join(", ")
                )));
            }
        };
        Ok(SessionSort {
            key,
            descending: super::request::descending(self.direction.as_deref())?,
        })
    }
}

impl SessionQueryParams {
    /// Validates the body into a store query.
    pub fn to_query(&self) -> Result<SessionQuery, ApiError> {
        check_timezone(self.timezone_difference)?;
        let limit = self.limit.unwrap_or(50);
        if limit > MAX_SESSION_LIMIT {
            return Err(ApiError::BadRequest(format!(
                "limit must be at most {MAX_SESSION_LIMIT}, got {limit}"
            )));
        }
        Ok(SessionQuery {
            search: self.search.clone().filter(|s| !s.is_empty()),
            start_ms: self.time_filter.and_then(|t| t.start_time_unix_ms),
            end_ms: self.time_filter.and_then(|t| t.end_time_unix_ms),
            name_equals: self
                .name_equals
                .clone()
                .filter(|s| !s.is_empty())
                // Names are stored redacted: an exact match looks for the stored form.
                .map(into_stored_label),
            filter: parse_filter(self.filter.as_ref())?,
            sort: match &self.sort_by {
                Some(by) => by.to_sort()?,
                None => SessionSort::default(),
            },
            limit,
            offset: super::offset(self.offset)?,
        })
    }
}

fn check_timezone(minutes: Option<f64>) -> Result<(), ApiError> {
    match minutes {
        Some(m) if !(-1440.0..=1440.0).contains(&m) => Err(ApiError::BadRequest(format!(
            "timezoneDifference must be within ±1440 minutes, got {m}"
        ))),
        _ => Ok(()),
    }
}

/// One session in a list, under Helicone's field names, with Canopy's additions.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionRow {
    pub session_id: String,
    pub session_name: String,
    pub created_at: String,
    pub latest_request_created_at: String,
    /// Last response end minus first request start.
    pub duration_ms: i64,
    pub total_requests: u64,
    /// USD, over every call of the session.
    pub total_cost: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    /// Mean call latency, ms.
    pub avg_latency: f64,
    pub error_count: u64,
    /// Calls whose model has no price (not in `total_cost`).
    pub unpriced_requests: u64,
    pub user_ids: Vec<String>,
    pub feedback: Option<bool>,
}

/// Converts stored totals into a row.
pub fn session_row(s: &SessionSummary) -> SessionRow {
    SessionRow {
        session_id: s.session_id.clone(),
        session_name: s.name.clone().unwrap_or_default(),
        created_at: iso(s.first_request_at_ms),
        latest_request_created_at: iso(s.last_request_at_ms),
        duration_ms: s.duration_ms(),
        total_requests: s.request_count,
        total_cost: usd(s.cost_nano_usd),
        prompt_tokens: s.prompt_tokens,
        completion_tokens: s.completion_tokens,
        total_tokens: s.total_tokens(),
        avg_latency: mean(s.latency_sum_ms as f64, s.request_count),
        error_count: s.error_count,
        unpriced_requests: s.unpriced_count,
        user_ids: s.user_ids.clone(),
        feedback: s.feedback,
    }
}

/// `POST /v1/session/count`: totals over every matching session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionCount {
    pub count: u64,
    pub total_cost: f64,
    pub avg_cost: f64,
    pub avg_latency: f64,
    pub avg_requests: f64,
}

/// Body of `POST /v1/session/name/query` and `/v1/session/metrics/query`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SessionNameParams {
    /// Names containing this (names query); the exact name (metrics query), as Helicone reads it.
    pub name_contains: Option<String>,
    /// Minutes to add to the returned times (checked, not applied).
    #[schema(minimum = -1440, maximum = 1440)]
    pub timezone_difference: Option<f64>,
    /// Only sessions overlapping this window.
    #[serde(deserialize_with = "super::object_only")]
    pub time_filter: Option<TimeFilter>,
    /// Helicone's filter tree.
    #[schema(schema_with = super::filter_schema)]
    pub filter: Option<serde_json::Value>,
    /// Percentile at which outliers are cut: `p50`, `p75` (default), `p95`, `p99`, `p99.9`.
    #[schema(schema_with = p_size_schema)]
    pub p_size: Option<String>,
    /// Keep only the interquartile band instead.
    pub use_interquartile: Option<bool>,
}

fn p_size_schema() -> utoipa::openapi::schema::Object {
    super::one_of_or_null(&["p50", "p75", "p95", "p99", "p99.9"])
}

impl SessionNameParams {
    /// The session query these parameters describe (every matching session, no page).
    pub fn to_query(&self, name_equals: Option<String>) -> Result<SessionQuery, ApiError> {
        check_timezone(self.timezone_difference)?;
        self.percentile()?;
        Ok(SessionQuery {
            search: None,
            start_ms: self.time_filter.and_then(|t| t.start_time_unix_ms),
            end_ms: self.time_filter.and_then(|t| t.end_time_unix_ms),
            name_equals: name_equals.map(into_stored_label),
            filter: parse_filter(self.filter.as_ref())?,
            sort: SessionSort::default(),
            limit: 100,
            offset: 0,
        })
    }

    /// The percentile cut, from `pSize`.
    pub fn percentile(&self) -> Result<f64, ApiError> {
        match self.p_size.as_deref().unwrap_or("p75") {
            "p50" => Ok(50.0),
            "p75" => Ok(75.0),
            "p95" => Ok(95.0),
            "p99" => Ok(99.0),
            "p99.9" => Ok(99.9),
            other => Err(ApiError::BadRequest(format!(
                "pSize must be one of p50, p75, p95, p99, p99.9, got `{other}`"
            ))),
        }
    }
}

/// One session name and its use.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionNameEntry {
    pub name: String,
    pub created_at: String,
    pub first_used: String,
    pub last_used: String,
    pub session_count: u64,
    pub total_cost: f64,
    pub avg_cost: f64,
    pub avg_latency: f64,
    pub avg_duration_ms: f64,
    pub avg_requests: f64,
}

/// Converts a stored name row.
pub fn name_entry(r: &SessionNameRow) -> SessionNameEntry {
    SessionNameEntry {
        name: r.name.clone(),
        created_at: iso(r.first_used_ms),
        first_used: iso(r.first_used_ms),
        last_used: iso(r.last_used_ms),
        session_count: r.session_count,
        total_cost: usd(r.total_cost_nano),
        avg_cost: mean(usd(r.total_cost_nano), r.session_count),
        avg_latency: mean(r.latency_sum_ms as f64, r.total_requests),
        avg_duration_ms: mean(r.total_duration_ms as f64, r.session_count),
        avg_requests: mean(r.total_requests as f64, r.session_count),
    }
}

/// One histogram bucket, as Helicone sends it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HistogramRow {
    pub range_start: String,
    pub range_end: String,
    pub value: u64,
}

/// Converts buckets, formatting bounds without float noise.
pub fn histogram_rows(buckets: &[Bucket]) -> Vec<HistogramRow> {
    let fmt = |v: f64| {
        let rounded = (v * 1e9).round() / 1e9;
        format!("{rounded}")
    };
    buckets
        .iter()
        .map(|b| HistogramRow {
            range_start: fmt(b.range_start),
            range_end: fmt(b.range_end),
            value: b.value,
        })
        .collect()
}

/// One average, as Helicone sends it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AverageRow {
    pub average: f64,
}

/// The averages of the three metrics.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Averages {
    pub session_count: Vec<AverageRow>,
    pub session_duration: Vec<AverageRow>,
    pub session_cost: Vec<AverageRow>,
}

/// `POST /v1/session/metrics/query`: calls per session, duration (seconds) and cost (USD).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionMetrics {
    pub session_count: Vec<HistogramRow>,
    pub session_duration: Vec<HistogramRow>,
    pub session_cost: Vec<HistogramRow>,
    pub average: Averages,
}

/// A node of the session tree.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TreeNodeDto {
    pub path: String,
    pub name: String,
    pub rollup: RollupDto,
    pub request_ids: Vec<String>,
    /// Canopy addition: for this node's calls that have a parent call in the session (their
    /// trace's parent span, from `traceparent` or OTLP), request id → parent request id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub links: BTreeMap<String, String>,
    #[schema(no_recursion)]
    pub children: Vec<TreeNodeDto>,
}

/// A node's totals over its subtree.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RollupDto {
    pub requests: u64,
    /// USD.
    pub cost: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub errors: u64,
    pub start: String,
    pub end: String,
    pub span_ms: i64,
}

/// Converts the tree.
pub fn tree_dto(node: &TreeNode) -> TreeNodeDto {
    let r = &node.rollup;
    TreeNodeDto {
        path: node.path.clone(),
        name: node.name.clone(),
        rollup: RollupDto {
            requests: r.requests,
            cost: usd(r.cost_nano),
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            errors: r.errors,
            start: iso(r.start_ms),
            end: iso(r.end_ms),
            span_ms: r.span_ms,
        },
        request_ids: node.request_ids.iter().map(ToString::to_string).collect(),
        links: BTreeMap::new(),
        children: node.children.iter().map(tree_dto).collect(),
    }
}

/// One bar of the timeline.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TimelineDto {
    pub request_id: String,
    pub path: String,
    pub offset_ms: i64,
    pub duration_ms: i64,
    pub status: i32,
    pub model: Option<String>,
    /// USD; null when unpriced.
    pub cost: Option<f64>,
    pub kind: String,
    /// Canopy addition: the call this one was made inside, where its trace says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_request_id: Option<String>,
}

/// Converts a timeline entry.
pub fn timeline_dto(e: &TimelineEntry) -> TimelineDto {
    TimelineDto {
        request_id: e.request_id.to_string(),
        path: e.path.clone(),
        offset_ms: e.offset_ms,
        duration_ms: e.duration_ms,
        status: e.status,
        model: e.model.clone(),
        cost: e.cost_nano.map(usd),
        kind: e.kind.as_str().to_owned(),
        parent_request_id: None,
    }
}

/// `GET /v1/session/{id}`: the session, its tree, timeline and calls.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionDetail {
    pub session: SessionDetailHeader,
    pub tree: TreeNodeDto,
    pub timeline: Vec<TimelineDto>,
    pub requests: Vec<RequestRow>,
}

/// The session part of [`SessionDetail`].
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionDetailHeader {
    #[serde(flatten)]
    pub totals: SessionRow,
    pub tags: Vec<String>,
    /// Calls answered from the response cache (property `helicone-cache: hit`).
    pub cache_hits: u64,
    /// USD the cache saved: what the calls that produced the cached answers cost. Summed
    /// from the calls' `canopy-cache-saved-nano-usd` property when the session is read.
    pub cost_saved: f64,
}

/// Builds the detail object from a session's totals, tags, calls (oldest first) and rows.
pub fn session_detail(
    summary: &SessionSummary,
    tags: Vec<String>,
    calls: &[CallRecord],
    mut requests: Vec<RequestRow>,
) -> SessionDetail {
    let tree = canopy_store::query::tree::build_tree(calls);
    let timeline = canopy_store::query::tree::timeline(calls);
    let links: BTreeMap<String, String> = canopy_store::query::tree::parent_links(calls)
        .into_iter()
        .map(|(child, parent)| (child.to_string(), parent.to_string()))
        .collect();
    for row in &mut requests {
        row.parent_request_id = links.get(&row.request_id).cloned();
    }
    let mut tree = tree_dto(&tree);
    add_links(&mut tree, &links);
    let mut timeline: Vec<TimelineDto> = timeline.iter().map(timeline_dto).collect();
    for entry in &mut timeline {
        entry.parent_request_id = links.get(&entry.request_id).cloned();
    }
    let hits = calls.iter().filter(|c| {
        c.properties
            .get("helicone-cache")
            .is_some_and(|v| v == "hit")
    });
    let (cache_hits, saved_nano) = hits.fold((0_u64, 0_i64), |(n, saved), c| {
        let cost = c
            .properties
            .get("canopy-cache-saved-nano-usd")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
            .clamp(0, canopy_core::completion::MAX_COST_NANO_USD);
        (n + 1, saved.saturating_add(cost))
    });
    SessionDetail {
        session: SessionDetailHeader {
            totals: session_row(summary),
            tags,
            cache_hits,
            cost_saved: usd(saved_nano),
        },
        tree,
        timeline,
        requests,
    }
}

/// Puts each call's parent link in the node that lists the call.
fn add_links(node: &mut TreeNodeDto, links: &BTreeMap<String, String>) {
    for id in &node.request_ids {
        if let Some(parent) = links.get(id) {
            node.links.insert(id.clone(), parent.clone());
        }
    }
    for child in &mut node.children {
        add_links(child, links);
    }
}

/// Query parameters of `GET /v1/session/{id}`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionDetailParams {
    /// Include each call's request and response bodies (default: left out, `null`, so that a
    /// large session stays light; `GET /v1/request/{id}` gives one call's).
    pub include_bodies: Option<bool>,
}

/// Query parameters of `GET /v1/analytics/sessions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsParams {
    /// `user` matches the user id; any other type matches the property of that name.
    #[param(min_length = 1)]
    pub entity_type: String,
    /// The value to match.
    pub entity_id: String,
    /// Window start: a date or time (sessions overlapping the window are counted whole).
    pub start_date: Option<String>,
    /// Window end.
    pub end_date: Option<String>,
    /// Page size (default 100, at most 1000).
    #[param(maximum = 1000)]
    pub limit: Option<u64>,
}

/// One session for an entity.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EntitySession {
    pub session_id: String,
    pub session_name: String,
    pub turn_count: u64,
    /// USD.
    pub total_cost: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub first_request_at: String,
    pub last_request_at: String,
}

/// Converts stored totals for the analytics route.
pub fn entity_session(s: &SessionSummary) -> EntitySession {
    EntitySession {
        session_id: s.session_id.clone(),
        session_name: s.name.clone().unwrap_or_default(),
        turn_count: s.request_count,
        total_cost: usd(s.cost_nano_usd),
        prompt_tokens: s.prompt_tokens,
        completion_tokens: s.completion_tokens,
        total_tokens: s.total_tokens(),
        first_request_at: iso(s.first_request_at_ms),
        last_request_at: iso(s.last_request_at_ms),
    }
}

/// One session path's figures over the sessions a query matches.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PathEntry {
    /// The path (`/` for calls without one).
    pub path: String,
    /// Sessions with a call on this path.
    pub sessions: u64,
    /// Calls on this path.
    pub calls: u64,
    /// Calls per session that has the path.
    pub calls_per_session: f64,
    /// Failed calls.
    pub errors: u64,
    /// Mean call latency, ms.
    pub avg_latency: f64,
    /// USD, over the priced calls.
    pub total_cost: f64,
    /// USD per session that has the path.
    pub cost_per_session: f64,
    /// Calls without a price (not in the costs).
    pub unpriced_calls: u64,
}

/// Converts a path's stored figures.
pub fn path_entry(p: &PathStat) -> PathEntry {
    PathEntry {
        path: p.path.clone(),
        sessions: p.sessions,
        calls: p.calls,
        calls_per_session: mean(p.calls as f64, p.sessions),
        errors: p.errors,
        avg_latency: mean(p.latency_sum_ms as f64, p.calls),
        total_cost: usd(p.cost_nano),
        cost_per_session: mean(usd(p.cost_nano), p.sessions),
        unpriced_calls: p.unpriced,
    }
}
