//! Session replay: re-send a session's LLM calls, changed, and compare.
//!
//! Each LLM call of the session is sent again, in its original order, through the gateway's
//! own listener, so the replay is recorded like any call: under a new session id, named
//! `Replay of <name>`, with the property `replay_of`, at the original paths. Before sending,
//! the body is changed ([`canopy_core::replay`]): the model, the system prompt, a JSON merge
//! patch, each limited to the calls under one path when asked; and, with propagation, assistant
//! messages that repeat an earlier call's original output carry that call's replayed output.
//! Tool, vector-DB and data steps call the application's code, not a model, so they are not
//! re-run; the result says so for each. When every call has been sent, the replay's records are
//! read back, so the comparison shows exactly what was recorded.
//!
//! A replay goes only to this Canopy's own listener and a provider route it serves: the URL is
//! Canopy's own base URL with the recorded path set as its path, after
//! [`canopy_core::replay::replay_path`] has checked it. A recorded path that is not such a
//! route (a custom log may hold any text there) is named in its step and not sent, since the
//! replay carries the caller's Canopy key and the provider key given to it. Redirects are not
//! followed, for the same reason.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use canopy_core::extract::{self, StreamObserver, WireFormat};
use canopy_core::replay::{SystemMode, merge_patch, propagate, replay_path, set_system_prompt};
use canopy_core::sse::SseSplitter;
use canopy_core::{CallId, CallKind, CallRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::ApiState;
use crate::dto::usd;
use crate::error::{ApiError, ApiResult};

/// How long to wait for the replay's records to be written before answering without them.
const RECORD_WAIT: Duration = Duration::from_secs(10);

/// Body of `POST /v1/session/{id}/replay`; every field is optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct ReplayParams {
    /// Send every (in-scope) call to this model instead.
    pub model: Option<String>,
    /// Append to or replace the system prompt.
    pub system_prompt: Option<SystemPromptChange>,
    /// A JSON merge patch applied to every (in-scope) body.
    #[schema(value_type = Object)]
    pub patch: Option<Value>,
    /// Limit the changes to calls at this path or under it (every call is still replayed).
    pub path: Option<String>,
    /// Replace history that repeats an original output with the replayed output (default true).
    pub propagate: Option<bool>,
    /// Extra headers for every replayed call, such as the provider's credentials. Forwarded,
    /// never stored.
    pub headers: BTreeMap<String, String>,
}

/// A system prompt change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SystemPromptChange {
    /// `append` or `replace`.
    pub mode: String,
    /// The text.
    pub text: String,
}

/// One side of a step: what the call did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct StepSide {
    pub request_id: String,
    pub model: Option<String>,
    pub status: i32,
    /// USD; null when unpriced.
    pub cost: Option<f64>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub latency_ms: Option<i64>,
    /// The generated text.
    pub output: String,
}

/// One step of the comparison.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplayStep {
    pub path: String,
    /// `llm`, `tool`, `vector_db` or `data`.
    pub kind: String,
    pub original: StepSide,
    /// Null when the step was not replayed (see `note`).
    pub replay: Option<StepSide>,
    /// Assistant messages in this call's history replaced by replayed outputs.
    pub propagated_messages: u64,
    /// Why a step was not replayed, or what was changed.
    pub note: Option<String>,
}

/// Totals of one side.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct SideTotals {
    pub steps: u64,
    /// USD.
    pub cost: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub latency_ms: i64,
    pub errors: u64,
}

/// Both sides' totals.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ReplayTotals {
    pub original: SideTotals,
    pub replay: SideTotals,
}

/// `POST /v1/session/{id}/replay`'s answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplayResult {
    pub replay_session_id: String,
    pub replay_session_name: String,
    pub original_session_id: String,
    pub steps: Vec<ReplayStep>,
    pub totals: ReplayTotals,
}

/// What the body changes are, checked once.
struct Changes<'a> {
    model: Option<&'a str>,
    system: Option<(SystemMode, &'a str)>,
    patch: Option<&'a Value>,
    path: Option<String>,
    propagate: bool,
}

impl ReplayParams {
    fn changes(&self) -> ApiResult<Changes<'_>> {
        let system = match &self.system_prompt {
            None => None,
            Some(change) => Some((
                match change.mode.as_str() {
                    "append" => SystemMode::Append,
                    "replace" => SystemMode::Replace,
                    other => {
                        return Err(ApiError::BadRequest(format!(
                            "system_prompt.mode must be `append` or `replace`, got `{other}`"
                        )));
                    }
                },
                change.text.as_str(),
            )),
        };
        if let Some(patch) = &self.patch
            && !patch.is_object()
        {
            return Err(ApiError::BadRequest(
                "patch must be a JSON object (a merge patch)".into(),
            ));
        }
        Ok(Changes {
            model: self.model.as_deref().filter(|m| !m.is_empty()),
            system,
            patch: self.patch.as_ref(),
            path: self
                .path
                .as_deref()
                .map(canopy_core::session::normalize_path),
            propagate: self.propagate.unwrap_or(true),
        })
    }
}

/// Replays session `id` of `org_id`; `canopy_key` is sent with each call so the replay is
/// recorded in the same organisation.
pub async fn replay(
    state: &ApiState,
    org_id: &str,
    id: &str,
    canopy_key: Option<&str>,
    params: &ReplayParams,
) -> ApiResult<ReplayResult> {
    let changes = params.changes()?;
    let summary = state
        .query
        .get_session(org_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no session `{id}`")))?;
    let calls = state.query.session_calls(org_id, id).await?;
    let replay_id = CallId::new().to_string();
    let name = format!("Replay of {}", summary.name.as_deref().unwrap_or(id));
    let mut outputs: HashMap<String, String> = HashMap::new();
    let mut steps = Vec::with_capacity(calls.len());
    for call in &calls {
        let original_output = output_text(call);
        let original = side(call, original_output.clone());
        let path = call.session_path.clone().unwrap_or_else(|| "/".to_owned());
        let mut step = ReplayStep {
            path: path.clone(),
            kind: call.kind.as_str().to_owned(),
            original,
            replay: None,
            propagated_messages: 0,
            note: None,
        };
        if call.kind != CallKind::Llm {
            step.note = Some(format!(
                "not replayed: a {} step runs the application's code, not a model",
                call.kind.as_str()
            ));
            steps.push(step);
            continue;
        }
        let body = match replayable_body(call) {
            Ok(body) => body,
            Err(reason) => {
                step.note = Some(format!("not replayable: {reason}"));
                steps.push(step);
                continue;
            }
        };
        let url = match replay_url(state, &call.request_path) {
            Ok(url) => url,
            Err(reason) => {
                step.note = Some(format!(
                    "not replayed: {reason}; a replay goes only to this Canopy's provider routes"
                ));
                steps.push(step);
                continue;
            }
        };
        let (body, propagated) = change(body, call, &changes, &outputs);
        step.propagated_messages = propagated;
        match send(
            state,
            url,
            call,
            &body,
            &replay_id,
            &name,
            id,
            canopy_key,
            &params.headers,
        )
        .await
        {
            Ok(sent) => {
                if !original_output.is_empty() {
                    outputs.insert(original_output, sent.output.clone());
                }
                step.replay = Some(sent);
            }
            Err(reason) => step.note = Some(format!("the replayed call failed: {reason}")),
        }
        steps.push(step);
    }
    fill_from_records(state, org_id, &mut steps).await?;
    let totals = ReplayTotals {
        original: totals(
            steps
                .iter()
                .filter(|s| s.kind == "llm")
                .map(|s| &s.original),
        ),
        replay: totals(steps.iter().filter_map(|s| s.replay.as_ref())),
    };
    Ok(ReplayResult {
        replay_session_id: replay_id,
        replay_session_name: name,
        original_session_id: id.to_owned(),
        steps,
        totals,
    })
}

/// The recorded request body, if it was kept whole and is JSON.
fn replayable_body(call: &CallRecord) -> Result<Value, &'static str> {
    if call.request_body.omitted {
        return Err("its request body was omitted (Helicone-Omit-Request)");
    }
    if call.request_body.truncated {
        return Err("its request body was longer than the capture limit and was cut");
    }
    let text = call
        .request_body
        .text
        .as_deref()
        .ok_or("it has no request body")?;
    serde_json::from_str(text).map_err(|_| "its request body is not JSON")
}

fn format_of(call: &CallRecord) -> WireFormat {
    if call.provider == "anthropic" || call.request_path.ends_with("/messages") {
        WireFormat::Anthropic
    } else if call.request_path.contains(":generateContent")
        || call.request_path.contains(":streamGenerateContent")
    {
        WireFormat::Gemini
    } else {
        WireFormat::Openai
    }
}

/// Applies propagation and, for in-scope calls, the changes.
fn change(
    mut body: Value,
    call: &CallRecord,
    changes: &Changes<'_>,
    outputs: &HashMap<String, String>,
) -> (Value, u64) {
    let propagated = if changes.propagate {
        propagate(&mut body, outputs) as u64
    } else {
        0
    };
    let path = call.session_path.as_deref().unwrap_or("/");
    let in_scope = changes.path.as_deref().is_none_or(|scope| {
        scope == "/"
            || path == scope
            || path
                .strip_prefix(scope)
                .is_some_and(|rest| rest.starts_with('/'))
    });
    if in_scope {
        if let (Some(model), Some(object)) = (changes.model, body.as_object_mut()) {
            object.insert("model".to_owned(), Value::String(model.to_owned()));
        }
        if let Some((mode, text)) = changes.system {
            set_system_prompt(&mut body, format_of(call), mode, text);
        }
        if let Some(patch) = changes.patch {
            merge_patch(&mut body, patch);
        }
    }
    (body, propagated)
}

/// Where a recorded call is replayed: this Canopy's own base URL with the checked path set as
/// its path (never the stored text appended to the base).
fn replay_url(state: &ApiState, stored_path: &str) -> Result<reqwest::Url, String> {
    let path = replay_path(stored_path, |route| state.provider_routes.contains(route))
        .map_err(|e| e.to_string())?;
    let mut url = reqwest::Url::parse(&state.gateway_url).map_err(|e| {
        format!(
            "this Canopy's own URL `{}` is not a URL: {e}",
            state.gateway_url
        )
    })?;
    url.set_path(path);
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// Sends one call through the gateway and reads what came back.
#[expect(
    clippy::too_many_arguments,
    reason = "one call's whole context; grouping it would only rename it"
)]
async fn send(
    state: &ApiState,
    url: reqwest::Url,
    call: &CallRecord,
    body: &Value,
    replay_id: &str,
    name: &str,
    original_id: &str,
    canopy_key: Option<&str>,
    extra: &BTreeMap<String, String>,
) -> Result<StepSide, String> {
    let mut request = state
        .http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    for (name, value) in &call.request_headers {
        if forwardable(name, value) {
            request = request.header(name, value);
        }
    }
    for (key, value) in &call.properties {
        if !key.starts_with("Helicone-") {
            request = request.header(format!("Helicone-Property-{key}"), value);
        }
    }
    request = request
        .header("Helicone-Session-Id", replay_id)
        .header(
            "Helicone-Session-Path",
            call.session_path.as_deref().unwrap_or("/"),
        )
        .header("Helicone-Session-Name", name)
        .header("Helicone-Property-Replay_of", original_id);
    if let Some(user) = &call.user_id {
        request = request.header("Helicone-User-Id", user);
    }
    if let Some(prompt) = &call.prompt_id {
        request = request.header("Helicone-Prompt-Id", prompt);
    }
    if let Some(key) = canopy_key {
        request = request.header("Helicone-Auth", key);
    }
    for (name, value) in extra {
        request = request.header(name, value);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    let request_id = response
        .headers()
        .get("helicone-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let status = i32::from(response.status().as_u16());
    let is_sse = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    let output = text_of_response(format_of(call), is_sse, &bytes);
    Ok(StepSide {
        request_id,
        status,
        output,
        ..StepSide::default()
    })
}

/// Whether a stored request header is sent again: not credentials (they were never stored),
/// not Canopy's own bookkeeping (the replay sets its session headers itself), not what the
/// client recomputes. The routing headers (`Helicone-Target-Url`, `Helicone-Stream-Usage`) are
/// kept: without them a `/gateway/*` call would have nowhere to go.
fn forwardable(name: &str, value: &str) -> bool {
    const SKIP: &[&str] = &[
        "host",
        "content-length",
        "content-type",
        "accept-encoding",
        "connection",
        "transfer-encoding",
    ];
    const ROUTING: &[&str] = &["target-url", "stream-usage"];
    let canopy = name
        .strip_prefix("helicone-")
        .or_else(|| name.strip_prefix("canopy-"));
    value != "[REDACTED]"
        && canopy.is_none_or(|rest| ROUTING.contains(&rest))
        && !SKIP.contains(&name)
}

/// The generated text of a recorded call.
fn output_text(call: &CallRecord) -> String {
    let Some(text) = call.response_body.text.as_deref() else {
        return String::new();
    };
    text_of_response(format_of(call), call.is_stream, text.as_bytes())
}

fn text_of_response(format: WireFormat, is_stream: bool, bytes: &[u8]) -> String {
    if !is_stream {
        return extract::from_body(format, bytes).output_text;
    }
    let mut observer = StreamObserver::new(format);
    let mut splitter = SseSplitter::new();
    splitter.feed(bytes, |event| {
        observer.observe(&event.parse());
    });
    splitter.finish(|event| {
        observer.observe(&event.parse());
    });
    observer.into_facts().output_text
}

fn side(call: &CallRecord, output: String) -> StepSide {
    StepSide {
        request_id: call.id.to_string(),
        model: call
            .response_model
            .clone()
            .or_else(|| call.request_model.clone()),
        status: call.status,
        cost: call.cost_nano_usd.map(usd),
        prompt_tokens: call.usage.prompt_tokens,
        completion_tokens: call.usage.completion_tokens,
        latency_ms: call.latency_ms,
        output,
    }
}

/// Reads the replay's records back (they are written off the request path, within moments)
/// and fills each replay side with what was recorded.
async fn fill_from_records(
    state: &ApiState,
    org_id: &str,
    steps: &mut [ReplayStep],
) -> ApiResult<()> {
    let deadline = tokio::time::Instant::now() + RECORD_WAIT;
    for step in steps.iter_mut() {
        let Some(replay) = step.replay.as_mut() else {
            continue;
        };
        let Some(id) = CallId::parse(&replay.request_id) else {
            continue;
        };
        loop {
            if let Some(call) = state.query.get_call(org_id, id).await? {
                let output = std::mem::take(&mut replay.output);
                *replay = side(&call, output);
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                step.note = Some("the replayed call's record was not written in time; its cost and tokens are missing".into());
                break;
            }
            let mut written = state.ingest.written();
            let _ = tokio::time::timeout(Duration::from_millis(50), written.changed()).await;
        }
    }
    Ok(())
}

fn totals<'a>(sides: impl Iterator<Item = &'a StepSide>) -> SideTotals {
    let mut t = SideTotals::default();
    for s in sides {
        t.steps += 1;
        t.cost += s.cost.unwrap_or(0.0);
        t.prompt_tokens += s.prompt_tokens;
        t.completion_tokens += s.completion_tokens;
        t.latency_ms += s.latency_ms.unwrap_or(0);
        t.errors += u64::from(s.status < 0 || s.status >= 400);
    }
    t
}
