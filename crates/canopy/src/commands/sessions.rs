//! `canopy sessions list | show`: from the store, or from a running server's API (`--api`).
//!
//! `--json` prints exactly what the API answers (the rows of `POST /api/v1/session/query`, the
//! object of `GET /api/v1/session/{id}`); the readable form is drawn by [`crate::render`].

use canopy_store::now_ms;

use anyhow::{Context, bail};
use canopy_api::dto::request::RequestRow;
use canopy_api::dto::session::{SessionDetail, SessionRow, TreeNodeDto, session_row};
use canopy_core::{CallId, CallKind, CallRecord, Usage};
use canopy_store::SessionSummary;
use canopy_store::query::SessionQuery;
use canopy_store::query::filter::Filter;
use canopy_store::query::tree::{Rollup, TreeNode, build_tree};
use serde::de::DeserializeOwned;

use crate::cli::{SessionsListArgs, SessionsShowArgs, Source};
use crate::commands::remote;
use crate::config::Settings;
use crate::render::{self, SessionView};
use crate::{commands, output};

/// `canopy sessions list`.
pub async fn list(settings: &Settings, args: SessionsListArgs) -> anyhow::Result<()> {
    let since_ms = args
        .since
        .map(|d| now_ms() - i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let rows: Vec<SessionRow> = match &args.source.api {
        Some(api) => {
            let mut body = serde_json::json!({"filter": "all", "limit": args.limit, "search": args.search, "nameEquals": args.name});
            if let Some(start) = since_ms {
                body["timeFilter"] = serde_json::json!({"startTimeUnixMs": start});
            }
            remote(
                api,
                args.source.key.as_deref(),
                reqwest::Method::POST,
                &["api", "v1", "session", "query"],
                Some(body),
            )
            .await?
        }
        None => {
            let store = commands::open_existing_store(settings).await?;
            let org = org_id(&store, &args.source).await?;
            let query = SessionQuery {
                search: args.search.clone(),
                start_ms: since_ms,
                end_ms: None,
                name_equals: args
                    .name
                    .clone()
                    .map(canopy_core::completion::into_stored_label),
                filter: Filter::All,
                sort: canopy_store::query::SessionSort::default(),
                limit: args.limit,
                offset: 0,
            };
            let sessions = store
                .query
                .query_sessions(&org, &query)
                .await
                .context("cannot list sessions")?;
            store.close().await;
            sessions.iter().map(session_row).collect()
        }
    };
    if args.json {
        output::line(&serde_json::to_string_pretty(&rows)?);
    } else {
        let summaries: Vec<SessionSummary> = rows.iter().map(summary_of).collect();
        output::text(&render::session_list(&summaries, output::color()));
    }
    Ok(())
}

/// `canopy sessions show <id>`.
pub async fn show(settings: &Settings, args: SessionsShowArgs) -> anyhow::Result<()> {
    let detail: SessionDetail = match &args.source.api {
        Some(api) => fetch(api, args.source.key.as_deref(), &args.id).await?,
        None => {
            let store = commands::open_existing_store(settings).await?;
            let org = org_id(&store, &args.source).await?;
            let id = canopy_core::completion::stored_label(&args.id);
            let detail =
                canopy_api::routes::sessions::detail(&*store.query, &org, &id, false).await;
            store.close().await;
            detail.map_err(|e| anyhow::anyhow!("{e}"))?
        }
    };
    if args.json {
        output::line(&serde_json::to_string_pretty(&detail)?);
    } else {
        output::text(&render_detail(&detail, output::color()));
    }
    Ok(())
}

/// Fetches one session from a running Canopy's API (`GET /api/v1/session/{id}`) and draws it
/// as `canopy sessions show` does.
pub async fn show_remote(
    api: &str,
    key: Option<&str>,
    id: &str,
    color: bool,
) -> anyhow::Result<String> {
    Ok(render_detail(&fetch(api, key, id).await?, color))
}

/// The object of `GET /api/v1/session/{id}` from a running Canopy.
async fn fetch(api: &str, key: Option<&str>, id: &str) -> anyhow::Result<SessionDetail> {
    let path = ["api", "v1", "session", id];
    remote(api, key, reqwest::Method::GET, &path, None).await
}

/// Draws a session's tree: from its calls when the API sent them, else from the API's tree.
fn render_detail(detail: &SessionDetail, color: bool) -> String {
    let summary = summary_of(&detail.session.totals);
    let calls: Vec<CallRecord> = detail.requests.iter().map(call_of).collect();
    let tree = if calls.is_empty() {
        tree_of(&detail.tree)
    } else {
        build_tree(&calls)
    };
    render::session(
        &SessionView {
            summary: &summary,
            tree: &tree,
            calls: &calls,
        },
        color,
    )
}

/// The organisation to read: `--org NAME`, else the local open organisation.
async fn org_id(store: &crate::store::Store, source: &Source) -> anyhow::Result<String> {
    let Some(name) = &source.org else {
        return Ok("default".to_owned());
    };
    let keys = store
        .keys
        .list_keys()
        .await
        .context("cannot read organisations")?;
    match keys.into_iter().find(|k| &k.org_name == name) {
        Some(key) => Ok(key.org_id),
        None => bail!("no organisation named `{name}`"),
    }
}

/// Calls a running Canopy's API at `api` (as the user wrote it) with `key` (if any) as the
/// bearer, at the path made of `segments` (each escaped), and unwraps its `{data, error}`
/// envelope. Failures say what to do ([`remote::send`]).
pub(crate) async fn remote<T: DeserializeOwned>(
    api: &str,
    key: Option<&str>,
    method: reqwest::Method,
    segments: &[&str],
    body: Option<serde_json::Value>,
) -> anyhow::Result<T> {
    let base = remote::base_url(api)?;
    let mut url = url::Url::parse(&base).with_context(|| format!("`{api}` is not a URL"))?;
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("`{api}` cannot have a path"))?
        .pop_if_empty()
        .extend(segments);
    let shown = url.to_string();
    let mut request = remote::client(remote::READ_TIMEOUT)?.request(method, url);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let data = remote::send(request, &base, key.is_some(), remote::READ_TIMEOUT).await?;
    serde_json::from_value(data).with_context(|| format!("{shown} answered an unexpected shape"))
}

fn parse_time(text: &str) -> i64 {
    canopy_api::time::parse(text).unwrap_or(0)
}

fn nano(usd: f64) -> i64 {
    (usd * 1e9).round() as i64
}

/// A session row back as the store's totals, for drawing.
fn summary_of(row: &SessionRow) -> SessionSummary {
    let first = parse_time(&row.created_at);
    SessionSummary {
        session_id: row.session_id.clone(),
        name: Some(row.session_name.clone()).filter(|n| !n.is_empty()),
        first_request_at_ms: first,
        last_request_at_ms: parse_time(&row.latest_request_created_at),
        last_response_at_ms: first + row.duration_ms,
        request_count: row.total_requests,
        error_count: row.error_count,
        prompt_tokens: row.prompt_tokens,
        completion_tokens: row.completion_tokens,
        cost_nano_usd: nano(row.total_cost),
        unpriced_count: row.unpriced_requests,
        latency_sum_ms: (row.avg_latency * row.total_requests as f64).round() as i64,
        user_ids: row.user_ids.clone(),
        feedback: row.feedback,
    }
}

/// A request row back as a call, with the fields drawing needs.
fn call_of(row: &RequestRow) -> CallRecord {
    CallRecord {
        id: CallId::parse(&row.request_id).unwrap_or_default(),
        created_at_ms: parse_time(&row.request_created_at),
        response_created_at_ms: row.response_created_at.as_deref().map(parse_time),
        latency_ms: row.delay_ms,
        status: row.response_status,
        request_model: row.request_model.clone(),
        response_model: row.response_model.clone(),
        usage: Usage {
            prompt_tokens: row.prompt_tokens,
            completion_tokens: row.completion_tokens,
            ..Usage::default()
        },
        cost_nano_usd: row.cost.map(nano),
        session_id: row.session_id.clone(),
        session_path: row.session_path.clone(),
        kind: CallKind::from_stored(&row.kind).unwrap_or_default(),
        error: row.error.clone(),
        ..CallRecord::default()
    }
}

/// The API's tree back as the store's, for a session whose calls were not sent.
fn tree_of(node: &TreeNodeDto) -> TreeNode {
    let r = &node.rollup;
    TreeNode {
        path: node.path.clone(),
        name: node.name.clone(),
        rollup: Rollup {
            requests: r.requests,
            cost_nano: nano(r.cost),
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            errors: r.errors,
            start_ms: parse_time(&r.start),
            end_ms: parse_time(&r.end),
            span_ms: r.span_ms,
        },
        request_ids: node
            .request_ids
            .iter()
            .filter_map(|id| CallId::parse(id))
            .collect(),
        children: node.children.iter().map(tree_of).collect(),
    }
}
