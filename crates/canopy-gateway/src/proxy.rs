//! The proxy handler: one function that takes any request on a provider route to its upstream.
//!
//! It resolves the route, reads Canopy's headers and the body, sends the call upstream, and
//! returns the upstream's response through a [`CaptureBody`]. Once the caller is known, the
//! call's record belongs to a [`CallGuard`](crate::recorder::CallGuard): failures before a
//! response exists are answered in the provider's error shape and recorded through it, a client
//! that leaves before the response head drops it (status −3), and after that the capture
//! completes it.

use canopy_store::now_ms;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use canopy_core::extract::WireFormat;
use canopy_core::extract::request::{request_facts, supports_stream_usage, with_include_usage};
use canopy_core::record::{STATUS_UPSTREAM_TIMEOUT, STATUS_UPSTREAM_UNREACHABLE};
use canopy_core::redact::{redact_text, redact_url};
use canopy_core::{CallId, CallRecord};
use http::{HeaderName, HeaderValue, header};
use tracing::{Instrument as _, Span};

mod gated;

pub use gated::{
    PROPERTY_ATTEMPT_STATUSES, PROPERTY_ATTEMPTS, PROPERTY_CACHE, PROPERTY_CACHE_BUCKET_IDX,
    PROPERTY_CACHE_SAVED, PROPERTY_CACHE_SOURCE, PROPERTY_FALLBACK_FAILED, PROPERTY_FALLBACK_INDEX,
};

use crate::Gateway;
use crate::attempts::{self, Payload};
use crate::body::{self, BodyError, RequestBody};
use crate::cache;
use crate::capture::{Capture, CaptureBody, CaptureOptions};
use crate::error::{ErrorKind, GatewayError};
use crate::features;
use crate::recorder::{CallGuard, stored_body};
use canopy_core::headers::CallHeaders;
use gated::{
    Decorations, answer_from_cache, decorated, fallback_targets, govern, note_attempts,
    save_to_cache,
};

use crate::headers::{self, HEADER_HELICONE_ID, HEADER_TARGET_URL};
use crate::provider::{self, GATEWAY_ROUTE, Provider};
use crate::telemetry::{
    GATEWAY_CACHE_HITS_TOTAL, GATEWAY_CACHE_MISSES_TOTAL, GATEWAY_ERRORS_TOTAL, LABEL_KIND,
};
use crate::upstream::SendError;

use attempts::Target;

/// Proxies any request whose path names a provider route. When shutdown cuts calls in flight,
/// one still waiting for its upstream is answered 503 and recorded as cut.
///
/// The call runs in a `request` span (method, route `proxy`, the caller's `x-request-id` or a
/// fresh id), its response head is logged at DEBUG and a 5xx answer at WARN, as for Canopy's
/// own routes. All are done here rather than by router layers, which would wrap every call's
/// future and body.
pub async fn handle(State(gateway): State<Gateway>, request: Request) -> Response {
    let started = Instant::now();
    let span = request_span(&request);
    let cut = gateway.inner.recorder.cut_signal();
    async move {
        let response = tokio::select! {
            biased;
            response = proxy(gateway, request) => response,
            () = cut => GatewayError::new(
                ErrorKind::ShuttingDown,
                WireFormat::Openai,
                "Canopy is shutting down; the call was cut before its response arrived",
            )
            .into_response(),
        };
        let status = response.status();
        tracing::debug!(
            status = status.as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "Answered the response head."
        );
        if status.is_server_error() {
            // The call's record says why: Canopy's own 502 / 504 or the upstream's answer.
            tracing::warn!(
                status = status.as_u16(),
                cause = "upstream or gateway",
                "Answered a server error."
            );
        }
        response
    }
    .instrument(span)
    .await
}

/// The span a proxied call runs in. Its id is only made when the span is recorded: with
/// INFO off, a call pays for no id.
fn request_span(request: &Request) -> Span {
    let span = tracing::info_span!(
        "request",
        method = request.method().as_str(),
        route = "proxy",
        request_id = tracing::field::Empty,
    );
    if !span.is_disabled() {
        match headers::log_request_id(request.headers()) {
            Some(id) => span.record("request_id", id),
            None => span.record("request_id", tracing::field::display(CallId::new())),
        };
    }
    span
}

async fn proxy(gateway: Gateway, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let (route, rest) = split_route(path);
    let mut record = CallRecord {
        id: CallId::new(),
        org_id: gateway.inner.settings.default_org.clone(),
        created_at_ms: now_ms(),
        provider: route.to_owned(),
        request_path: path.to_owned(),
        method: parts.method.as_str().to_owned(),
        request_headers: headers::stored_request_headers(&parts.headers),
        ..CallRecord::default()
    };
    let provider = match route {
        "v1" => gateway.inner.providers.default_provider(),
        name => gateway.inner.providers.get(name),
    };
    if let Some(provider) = provider {
        record.provider = provider.name.clone();
    }
    // Until the route is known, errors answer in OpenAI's shape, the most common client's.
    let error_format = provider.map_or(WireFormat::Openai, |p| {
        provider::format_for_path(p.format, rest)
    });

    let (mut call, header_error) = headers::call_headers(&parts.headers);
    // Who is calling decides where the call is recorded; an unknown caller is not recorded.
    match gateway.inner.keys.authenticate(call.auth.as_deref()) {
        Ok(principal) => {
            record.org_id = principal.org_id;
            record.key_id = principal.key_id;
        }
        Err(e) => {
            metrics::counter!(GATEWAY_ERRORS_TOTAL, LABEL_KIND => ErrorKind::Unauthorized.code())
                .increment(1);
            let mut response =
                GatewayError::new(ErrorKind::Unauthorized, error_format, e.to_string())
                    .into_response();
            insert_id(response.headers_mut(), record.id);
            return response;
        }
    }
    let mut guard = gateway.inner.recorder.accept(record, started);
    if let Some(meters) = gateway.inner.labels.get(&guard.record().provider) {
        guard.set_provider(meters.clone());
    }
    apply_headers(guard.record(), &mut call);
    if let Some(e) = header_error {
        let error = GatewayError::new(ErrorKind::InvalidHeader, error_format, e.message)
            .with_param(e.header);
        return reject(guard, error);
    }
    let features = match features::read(&parts.headers) {
        Ok(features) => features,
        Err(e) => {
            let error = GatewayError::new(ErrorKind::InvalidHeader, error_format, e.message)
                .with_param(e.header);
            return reject(guard, error);
        }
    };
    let mut extra = Decorations::default();
    if let Err(error) = govern(&gateway, &mut guard, &features, error_format, &mut extra).await {
        return decorated(reject(guard, error), &extra);
    }

    let target = match resolve(&gateway, route, rest, provider, &call, parts.uri.query()) {
        Ok(target) => target,
        Err(error) => return decorated(reject(guard, error), &extra),
    };
    guard.record().target_url = target.url.clone();
    let mut targets = vec![target];
    if !features.fallbacks.is_empty() {
        match fallback_targets(
            &gateway,
            provider,
            &features.fallbacks,
            rest,
            parts.uri.query(),
        ) {
            Ok(list) => targets = list,
            Err(error) => return decorated(reject(guard, error), &extra),
        }
    }
    let format = targets[0].format;

    let settings = &gateway.inner.settings;
    let body = match body::read(
        body,
        &parts.headers,
        settings.max_request_body,
        settings.body_capture_limit,
        &gateway.inner.budget,
    )
    .await
    {
        Ok(body) => body,
        Err(e @ BodyError::TooLarge { .. }) => {
            let error = GatewayError::new(ErrorKind::PayloadTooLarge, format, e.to_string());
            return decorated(reject(guard, error), &extra);
        }
        Err(e @ BodyError::Read(_)) => {
            let error = GatewayError::new(ErrorKind::InvalidBody, format, e.to_string());
            return decorated(reject(guard, error), &extra);
        }
    };

    let mut hide_usage_chunk = false;
    let mut cache_key = None;
    let (payload, over_limit) = match body {
        RequestBody::Buffered { bytes, permit } => {
            let facts = request_facts(&bytes);
            guard.record().request_model = facts.model.clone();
            guard.record().is_stream = facts.stream;
            if guard.record().user_id.is_none() {
                guard.record().user_id = facts.user.clone();
            }
            let inject = format == WireFormat::Openai
                && facts.stream
                && !facts.include_usage
                && call.stream_usage
                && supports_stream_usage(rest);
            let sent = match inject.then(|| with_include_usage(&bytes)).flatten() {
                Some(changed) => {
                    hide_usage_chunk = true;
                    Bytes::from(changed)
                }
                None => bytes.clone(),
            };
            for target in &mut targets {
                let keys = target
                    .fallback
                    .as_ref()
                    .and_then(|f| f.body_override.as_ref());
                if let Some(keys) = keys {
                    target.body = crate::attempts::override_body(&sent, keys);
                }
            }
            if features.cache.enabled() {
                let path = parts.uri.path_and_query().map_or(path, |p| p.as_str());
                let key = cache::key(cache::KeyParts {
                    org: &guard.record().org_id,
                    seed: features.cache.seed.as_deref(),
                    method: parts.method.as_str(),
                    path,
                    target_url: &targets[0].url,
                    body: &bytes,
                    ignore_keys: &features.cache.ignore_keys,
                    headers: &parts.headers,
                });
                cache_key = Some(key);
            }
            guard.record().request_body =
                capped_body(&bytes, settings.body_capture_limit, call.omit_request);
            guard.keep_request_body(bytes, permit);
            (Payload::Buffered(sent), None)
        }
        RequestBody::Streamed {
            body, over_limit, ..
        } => {
            // Not read by Canopy, so not stored: marked as cut.
            guard.record().request_body.truncated = !call.omit_request;
            guard.record().request_body.omitted = call.omit_request;
            (Payload::Streamed(Some(body)), Some(over_limit))
        }
    };

    if features.cache.enabled() {
        let cache = &gateway.inner.cache;
        if features.cache.read
            && let Some(key) = &cache_key
            && let Some((index, entry)) = cache.lookup(key, features.cache.bucket_size).await
        {
            metrics::counter!(GATEWAY_CACHE_HITS_TOTAL).increment(1);
            return decorated(
                answer_from_cache(guard, &entry, index, format, call.omit_response),
                &extra,
            );
        }
        metrics::counter!(GATEWAY_CACHE_MISSES_TOTAL).increment(1);
        guard
            .record()
            .properties
            .insert(PROPERTY_CACHE.to_owned(), "miss".to_owned());
        extra.cache_miss = true;
    }

    let keep_length = over_limit.is_some();
    let mut outgoing = headers::upstream_request_headers(&parts.headers, keep_length);
    if !keep_length {
        outgoing.remove(header::CONTENT_LENGTH);
    }
    guard.sending_upstream();
    let sent_at = Instant::now();
    let with_fallbacks = !features.fallbacks.is_empty();
    let ended = attempts::run(attempts::Request {
        clients: &gateway.inner.clients,
        method: parts.method.clone(),
        headers: outgoing,
        payload,
        targets: &targets,
        retry: features.retry,
        timeout: settings.upstream_timeout,
    })
    .await;
    let answered = &targets[ended.target];
    note_attempts(
        guard.record(),
        &targets,
        &ended,
        features.retry.is_some(),
        with_fallbacks,
    );
    guard.record().target_url = answered.url.clone();
    if let Some(name) = &answered.provider {
        guard.record().provider = name.clone();
    }
    if with_fallbacks {
        extra.fallback_index = Some(ended.target);
    }
    let format = answered.format;
    let response = match ended.result {
        Ok(response) => response,
        Err(SendError::Failed { message, timed_out }) => {
            if over_limit.is_some_and(|flag| flag.load(std::sync::atomic::Ordering::Relaxed)) {
                let limit = settings.max_request_body;
                let message = format!("the request body is larger than the {limit}-byte limit");
                let error = GatewayError::new(ErrorKind::PayloadTooLarge, format, message);
                return decorated(reject(guard, error), &extra);
            }
            let (status, kind) = if timed_out {
                (STATUS_UPSTREAM_TIMEOUT, ErrorKind::UpstreamTimeout)
            } else {
                (STATUS_UPSTREAM_UNREACHABLE, ErrorKind::UpstreamUnreachable)
            };
            let message = format!(
                "cannot reach the upstream {}: {message}",
                redact_url(&answered.url)
            );
            let error = GatewayError::new(kind, format, message);
            return decorated(fail(guard, status, error), &extra);
        }
        Err(SendError::TimedOut) => {
            let message = format!(
                "the upstream {} did not answer within {} s",
                redact_url(&answered.url),
                settings.upstream_timeout.as_secs()
            );
            let error = GatewayError::new(ErrorKind::UpstreamTimeout, format, message);
            return decorated(fail(guard, STATUS_UPSTREAM_TIMEOUT, error), &extra);
        }
    };
    guard
        .recorder()
        .meters()
        .upstream_duration(sent_at.elapsed());

    guard.record().status = i32::from(response.status().as_u16());
    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    guard.record().is_stream = is_sse;
    let id = guard.id();
    let status = response.status();
    let hide = hide_usage_chunk && is_sse;
    let mut response_headers = headers::client_response_headers(response.headers(), !hide);
    let mut keep_for_cache = None;
    if features.cache.save
        && status.is_success()
        && let Some(key) = cache_key
    {
        keep_for_cache = Some(gateway.inner.cache.max_entry_bytes());
        guard.after_record(save_to_cache(
            &gateway,
            key,
            &features.cache,
            status.as_u16(),
            &response_headers,
            is_sse,
        ));
    }
    let options = CaptureOptions {
        format,
        is_stream: is_sse,
        hide_usage_chunk: hide,
        omit_response: call.omit_response,
        keep_for_cache,
    };
    insert_id(&mut response_headers, id);
    let capture = Capture::new(guard, options);
    let (upstream, length) = gateway.inner.clients.body_stream(response);
    let mut out = Response::new(Body::new(CaptureBody::from_stream(
        upstream, length, capture,
    )));
    *out.status_mut() = status;
    *out.headers_mut() = response_headers;
    decorated(out, &extra)
}

/// The route prefix and the path below it. `/v1/...` keeps its whole path, since the default
/// provider's API lives under `/v1`.
pub(crate) fn split_route(path: &str) -> (&str, &str) {
    let trimmed = path.trim_start_matches('/');
    let (first, _) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    if first == "v1" {
        return ("v1", path);
    }
    let rest = &trimmed[first.len()..];
    (first, if rest.is_empty() { "/" } else { rest })
}

fn resolve(
    gateway: &Gateway,
    route: &str,
    rest: &str,
    provider: Option<&Provider>,
    call: &CallHeaders,
    query: Option<&str>,
) -> Result<Target, GatewayError> {
    if let Some(p) = provider {
        let format = provider::format_for_path(p.format, rest);
        return Ok(Target {
            url: provider::upstream_url(&p.base_url, rest, query, format)?,
            format,
            http2_prior_knowledge: p.http2_prior_knowledge,
            provider: None,
            headers: Vec::new(),
            body: None,
            fallback: None,
        });
    }
    if route != GATEWAY_ROUTE {
        let message = format!(
            "no provider is served at `/{route}`: use /v1, a built-in provider such as /openai or \
             /anthropic, a provider from the config file, or /gateway with Helicone-Target-Url"
        );
        return Err(GatewayError::new(
            ErrorKind::UnknownRoute,
            WireFormat::Openai,
            message,
        ));
    }
    let format = provider::guess_format(rest);
    let Some(target) = call.target_url.as_deref() else {
        let message =
            "the /gateway route needs a Helicone-Target-Url header naming the upstream origin";
        return Err(GatewayError::new(ErrorKind::InvalidHeader, format, message)
            .with_param(HEADER_TARGET_URL));
    };
    let base = url::Url::parse(target)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            let message = format!(
                "Helicone-Target-Url must be an http(s) URL, got `{}`",
                redact_url(target)
            );
            GatewayError::new(ErrorKind::InvalidHeader, format, message)
                .with_param(HEADER_TARGET_URL)
        })?;
    let allow = &gateway.inner.settings.gateway_allowlist;
    if !allow.is_empty()
        && !allow
            .iter()
            .any(|a| a.trim_end_matches('/') == base.origin().ascii_serialization())
    {
        let message = format!(
            "Helicone-Target-Url `{}` is not in the gateway allow-list",
            redact_url(target)
        );
        return Err(
            GatewayError::new(ErrorKind::TargetNotAllowed, format, message)
                .with_param(HEADER_TARGET_URL),
        );
    }
    Ok(Target {
        url: provider::upstream_url(&base, rest, query, format)?,
        format,
        http2_prior_knowledge: false,
        provider: None,
        headers: Vec::new(),
        body: None,
        fallback: None,
    })
}

/// Moves the call's labels into its record; `call` keeps only what the proxy reads later.
fn apply_headers(record: &mut CallRecord, call: &mut CallHeaders) {
    if let Some(id) = call.request_id {
        record.id = id;
        record.id_from_caller = true;
    }
    record.session_path = call.session_id.as_ref().and(call.session_path.take());
    record.session_id = call.session_id.take();
    record.session_name = call.session_name.take().filter(|n| !n.is_empty());
    record.user_id = call.user_id.take();
    record.prompt_id = call.prompt_id.take();
    record.properties = std::mem::take(&mut call.properties);
    if record
        .properties
        .contains_key(canopy_core::trace::TRACE_ID_PROPERTY)
    {
        let span = canopy_core::trace::hex(&canopy_core::trace::span_id_of(record.id));
        record
            .properties
            .insert(canopy_core::trace::SPAN_ID_PROPERTY.to_owned(), span);
    }
}

fn capped_body(bytes: &[u8], limit: usize, omitted: bool) -> canopy_core::record::StoredBody {
    let kept = &bytes[..bytes.len().min(limit)];
    stored_body(kept.to_vec(), bytes.len() > limit, omitted)
}

/// Answers a request Canopy refused before sending it, and records it with the answered status.
fn reject(guard: CallGuard, error: GatewayError) -> Response {
    let status = i32::from(error.kind.status().as_u16());
    fail(guard, status, error)
}

/// Answers a failed call with `error` and records it with `status`. URLs in the message are
/// redacted before it is answered, recorded or logged.
fn fail(mut guard: CallGuard, status: i32, mut error: GatewayError) -> Response {
    metrics::counter!(GATEWAY_ERRORS_TOTAL, LABEL_KIND => error.kind.code()).increment(1);
    if let std::borrow::Cow::Owned(redacted) = redact_text(&error.message) {
        error.message = redacted;
    }
    tracing::debug!(
        kind = error.kind.code(),
        provider = %guard.record().provider,
        error = %error.message,
        "Answered a call with a Canopy error."
    );
    let id = guard.id();
    guard.fail(status, &error.message);
    let mut response = error.into_response();
    insert_id(response.headers_mut(), id);
    response
}

fn insert_id(headers: &mut http::HeaderMap, id: CallId) {
    // A name built once: inserting by `&str` copies a non-standard name for every answer.
    const NAME: HeaderName = HeaderName::from_static(HEADER_HELICONE_ID);
    if let Ok(value) = HeaderValue::from_str(id.encode(&mut [0; 36])) {
        headers.insert(NAME, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_routes() {
        assert_eq!(
            split_route("/v1/chat/completions"),
            ("v1", "/v1/chat/completions")
        );
        assert_eq!(
            split_route("/openai/v1/chat/completions"),
            ("openai", "/v1/chat/completions")
        );
        assert_eq!(split_route("/anthropic"), ("anthropic", "/"));
        assert_eq!(
            split_route("/local-vllm/v1/models"),
            ("local-vllm", "/v1/models")
        );
    }
}
