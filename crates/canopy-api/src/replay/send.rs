//! Sending one call again: what is sent (the recorded body, changed; the stored headers that
//! may go again), where (only this Canopy's own provider routes), and reading the answer.
//!
//! A replay goes only to this Canopy's own listener and a provider route it serves: the URL is
//! Canopy's own base URL with the recorded path set as its path, after
//! [`canopy_core::replay::replay_path`] has checked it. A recorded path that is not such a
//! route (a custom log may hold any text there) is named in its step and not sent, since the
//! replay carries the caller's Canopy key and the provider key given to it. Redirects are not
//! followed, for the same reason.

use std::collections::HashMap;

use canopy_core::extract::{self, StreamObserver, WireFormat};
use canopy_core::replay::{merge_patch, propagate, replay_path, set_system_prompt};
use canopy_core::sse::SseSplitter;
use canopy_core::{CallKind, CallRecord};
use serde_json::Value;

use super::{Changes, PROP_ORIGINAL_REQUEST, PROP_PROPAGATED, PROP_REPLAY_OF, StepSide};
use crate::ApiState;
use crate::dto::usd;

/// Why a recorded step is not sent again, or `None` when it is.
pub(super) fn skip_reason(state: &ApiState, call: &CallRecord) -> Option<String> {
    if call.kind != CallKind::Llm {
        return Some(format!(
            "not replayed: a {} step runs the application's code, not a model",
            call.kind.as_str()
        ));
    }
    if let Err(reason) = replayable_body(call) {
        return Some(format!("not replayable: {reason}"));
    }
    if let Err(reason) = replay_url(state, &call.request_path) {
        return Some(format!(
            "not replayed: {reason}; a replay goes only to this Canopy's provider routes"
        ));
    }
    None
}

/// Where one call goes and under which session.
pub(super) struct Target<'a> {
    pub state: &'a ApiState,
    pub replay_id: &'a str,
    pub name: &'a str,
    pub original_id: &'a str,
    pub canopy_key: Option<&'a str>,
    /// The caller's extra headers (credentials): forwarded, never stored.
    pub extra: &'a std::collections::BTreeMap<String, String>,
    /// What the replay changed, as properties of every replayed call.
    pub changes: &'a [(&'static str, String)],
}

/// The body to send for `call`: its recorded body with propagation and the changes applied,
/// and how many history messages were propagated. `None` when it has no replayable body.
pub(super) fn prepare(
    call: &CallRecord,
    changes: &Changes,
    outputs: &HashMap<String, String>,
) -> Option<(Value, u64)> {
    let body = replayable_body(call).ok()?;
    Some(change(body, call, changes, outputs))
}

/// The recorded request body, if it was kept whole and is JSON.
pub(super) fn replayable_body(call: &CallRecord) -> Result<Value, &'static str> {
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

pub(super) fn format_of(call: &CallRecord) -> WireFormat {
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
    changes: &Changes,
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
        if let (Some(model), Some(object)) = (&changes.model, body.as_object_mut()) {
            object.insert("model".to_owned(), Value::String(model.clone()));
        }
        if let (Some(mode), Some((_, text))) = (changes.system_mode(), &changes.system) {
            set_system_prompt(&mut body, format_of(call), mode, text);
        }
        if let Some(patch) = &changes.patch {
            merge_patch(&mut body, patch);
        }
    }
    (body, propagated)
}

/// Where a recorded call is replayed: this Canopy's own base URL with the checked path set as
/// its path (never the stored text appended to the base).
pub(super) fn replay_url(state: &ApiState, stored_path: &str) -> Result<reqwest::Url, String> {
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

/// Sends one call through the gateway and reads what came back. Besides the replay's session
/// headers, the call carries as properties the session and call it replays, what the replay
/// changed and how much history was propagated, so the comparison can be rebuilt from the store.
pub(super) async fn send(
    target: &Target<'_>,
    call: &CallRecord,
    body: &Value,
    propagated: u64,
) -> Result<StepSide, String> {
    let url = replay_url(target.state, &call.request_path)?;
    let mut request = target
        .state
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
        // The original's own replay properties (when replaying a replay) are set afresh below.
        if !key.starts_with("Helicone-") && !key.starts_with("replay_") {
            request = request.header(format!("Helicone-Property-{key}"), value);
        }
    }
    request = request
        .header("Helicone-Session-Id", target.replay_id)
        .header(
            "Helicone-Session-Path",
            call.session_path.as_deref().unwrap_or("/"),
        )
        .header("Helicone-Session-Name", target.name)
        .header(
            format!("Helicone-Property-{PROP_REPLAY_OF}"),
            target.original_id,
        )
        .header(
            format!("Helicone-Property-{PROP_ORIGINAL_REQUEST}"),
            call.id.to_string(),
        )
        .header(
            format!("Helicone-Property-{PROP_PROPAGATED}"),
            propagated.to_string(),
        );
    // What the replay changed is bookkeeping: a value a header cannot carry, or longer than a
    // property may be, is left out rather than failing the call.
    for (key, value) in target.changes {
        if value.len() <= canopy_core::headers::MAX_VALUE_BYTES
            && reqwest::header::HeaderValue::from_str(value).is_ok()
        {
            request = request.header(format!("Helicone-Property-{key}"), value);
        }
    }
    if let Some(user) = &call.user_id {
        request = request.header("Helicone-User-Id", user);
    }
    if let Some(prompt) = &call.prompt_id {
        request = request.header("Helicone-Prompt-Id", prompt);
    }
    if let Some(key) = target.canopy_key {
        request = request.header("Helicone-Auth", key);
    }
    for (name, value) in target.extra {
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
pub(super) fn output_text(call: &CallRecord) -> String {
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

pub(super) fn side(call: &CallRecord, output: String) -> StepSide {
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
        span: Some((
            call.created_at_ms,
            call.created_at_ms
                .saturating_add(call.latency_ms.unwrap_or(0).max(0)),
        )),
    }
}
