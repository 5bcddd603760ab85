//! The proxy's gateway features: rate limits before the call, the cache's answers and saves,
//! fallback targets, and what the record and the response say about each.

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use canopy_core::CallRecord;
use canopy_core::extract::WireFormat;
use canopy_core::redact::redact_url;
use canopy_store::now_ms;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::Gateway;
use crate::attempts::{Ended, Target};
use crate::cache::Entry;
use crate::error::{ErrorKind, GatewayError};
use crate::features::{CacheOptions, Fallback, Features, HEADER_FALLBACKS};
use crate::provider;
use crate::ratelimit::{Caller, Verdict};
use crate::recorder::{AfterRecord, CallGuard, Outcome, stored_body};
use crate::telemetry::GATEWAY_RATE_LIMITED_TOTAL;

/// Property marking a call the cache took part in: `hit` or `miss` (Helicone's response
/// header, as a property so sessions and filters can see it).
pub const PROPERTY_CACHE: &str = "helicone-cache";
/// Property of a cache hit: what the call that produced the answer cost, nano-USD.
pub const PROPERTY_CACHE_SAVED: &str = "canopy-cache-saved-nano-usd";
/// Property of a cache hit: the id of the call that produced the answer.
pub const PROPERTY_CACHE_SOURCE: &str = "canopy-cache-source-id";
/// Property of a cache hit: the bucket slot that answered.
pub const PROPERTY_CACHE_BUCKET_IDX: &str = "canopy-cache-bucket-idx";
/// Property: how many upstream attempts the call made (retries and fallbacks).
pub const PROPERTY_ATTEMPTS: &str = "canopy-attempts";
/// Property: each attempt's status in order, comma-separated (negative: not reached).
pub const PROPERTY_ATTEMPT_STATUSES: &str = "canopy-attempt-statuses";
/// Property: the index of the `Helicone-Fallbacks` entry that answered.
pub const PROPERTY_FALLBACK_INDEX: &str = "canopy-fallback-index";
/// Property: the fallback targets that failed before it, with their last status.
pub const PROPERTY_FALLBACK_FAILED: &str = "canopy-fallback-failed";

/// Response headers every answer of a call carries once they are known.
#[derive(Debug, Default)]
pub(super) struct Decorations {
    pub(super) rate: Option<Verdict>,
    pub(super) cache_miss: bool,
    pub(super) fallback_index: Option<usize>,
}

/// Adds the call's rate-limit, cache and fallback headers to an answer.
pub(super) fn decorated(mut response: Response, extra: &Decorations) -> Response {
    let refused = response.status() == StatusCode::TOO_MANY_REQUESTS
        && extra.rate.as_ref().is_some_and(|v| !v.allowed);
    let headers = response.headers_mut();
    if let Some(v) = &extra.rate {
        put(headers, "helicone-ratelimit-limit", &v.limit);
        put(headers, "helicone-ratelimit-remaining", &v.remaining);
        put(headers, "helicone-ratelimit-policy", &v.policy);
        put(
            headers,
            "helicone-ratelimit-reset",
            &v.reset_secs.to_string(),
        );
    }
    if refused {
        headers.insert("x-helicone-error", HeaderValue::from_static("rate_limited"));
    }
    if extra.cache_miss {
        put(headers, "helicone-cache", "MISS");
    }
    if let Some(index) = extra.fallback_index {
        put(headers, "helicone-fallback-index", &index.to_string());
    }
    response
}

fn put(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// Checks the call against its rate-limit policies. The verdict the headers report goes to
/// `extra`; a refused call gets the error to answer (429), and an allowed one under a `cents`
/// policy counts its cost once recorded.
pub(super) async fn govern(
    gateway: &Gateway,
    guard: &mut CallGuard,
    features: &Features,
    format: WireFormat,
    extra: &mut Decorations,
) -> Result<(), GatewayError> {
    let limiter = &gateway.inner.limiter;
    let record = guard.record();
    let policies = limiter.policies(
        features.rate_limit.as_ref(),
        &record.org_id,
        record.key_id.as_deref(),
    );
    if policies.is_empty() {
        return Ok(());
    }
    let caller = Caller {
        org: &record.org_id,
        key_id: record.key_id.as_deref(),
        user_id: record.user_id.as_deref(),
        properties: &record.properties,
    };
    let (verdict, costs) = limiter.check(&policies, caller, now_ms()).await;
    let Some(verdict) = verdict else {
        return Ok(());
    };
    let allowed = verdict.allowed;
    let message = format!(
        "the rate limit {} is used up; it resets in {} s",
        verdict.policy, verdict.reset_secs
    );
    extra.rate = Some(verdict);
    if !allowed {
        metrics::counter!(GATEWAY_RATE_LIMITED_TOTAL).increment(1);
        return Err(GatewayError::new(ErrorKind::RateLimited, format, message));
    }
    if !costs.is_empty() {
        let limiter = limiter.clone();
        let tasks = gateway.inner.tasks.clone();
        guard.after_record(Box::new(move |record, _| {
            let cost = record.cost_nano_usd.unwrap_or(0);
            if cost > 0 {
                tasks.spawn(async move { limiter.add_cost(&costs, cost).await });
            }
        }));
    }
    Ok(())
}

/// The targets of a call with `Helicone-Fallbacks`. Canopy follows no URL it was not
/// configured with: each `target-url` must be the origin of a provider Canopy serves (built-in
/// or configured) or be in `gateway_allowlist`; any other is refused with a 400.
pub(super) fn fallback_targets(
    gateway: &Gateway,
    route_provider: Option<&provider::Provider>,
    fallbacks: &[Fallback],
    rest: &str,
    query: Option<&str>,
) -> Result<Vec<Target>, GatewayError> {
    let allow = &gateway.inner.settings.gateway_allowlist;
    let mut targets = Vec::with_capacity(fallbacks.len());
    for (index, fallback) in fallbacks.iter().enumerate() {
        let url = &fallback.target_url;
        // The route's own provider when the origin is its, so the call keeps its format.
        let provider = route_provider
            .filter(|p| p.base_url.origin() == url.origin())
            .or_else(|| gateway.inner.providers.by_origin(url));
        let listed = allow
            .iter()
            .any(|a| a.trim_end_matches('/') == url.origin().ascii_serialization());
        let format = match provider {
            Some(p) => provider::format_for_path(p.format, rest),
            None if listed => provider::guess_format(rest),
            None => {
                let message = format!(
                    "Helicone-Fallbacks entry {index}: `{}` is not the origin of a provider \
                     Canopy serves nor in gateway_allowlist; Canopy follows only upstreams it \
                     is configured with",
                    redact_url(url.as_str())
                );
                return Err(GatewayError::new(
                    ErrorKind::InvalidHeader,
                    WireFormat::Openai,
                    message,
                )
                .with_param(HEADER_FALLBACKS));
            }
        };
        targets.push(Target {
            url: provider::upstream_url(url, rest, query, format)?,
            format,
            http2_prior_knowledge: provider.is_some_and(|p| p.http2_prior_knowledge),
            provider: provider.map(|p| p.name.clone()),
            headers: fallback.headers.clone(),
            body: None,
            fallback: Some(fallback.clone()),
        });
    }
    Ok(targets)
}

/// Notes the attempts in the record's properties: how many, each one's status, and for
/// fallbacks which entry answered and what failed before it.
pub(super) fn note_attempts(
    record: &mut CallRecord,
    targets: &[Target],
    ended: &Ended,
    retried: bool,
    fallbacks: bool,
) {
    if !retried && !fallbacks {
        return;
    }
    let statuses: Vec<String> = ended
        .attempts
        .iter()
        .map(|a| a.status.to_string())
        .collect();
    let properties = &mut record.properties;
    properties.insert(PROPERTY_ATTEMPTS.to_owned(), statuses.len().to_string());
    properties.insert(PROPERTY_ATTEMPT_STATUSES.to_owned(), statuses.join(","));
    if !fallbacks {
        return;
    }
    properties.insert(PROPERTY_FALLBACK_INDEX.to_owned(), ended.target.to_string());
    let failed: Vec<String> = (0..ended.target)
        .map(|i| {
            let status = ended
                .attempts
                .iter()
                .rev()
                .find(|a| a.target == i)
                .map_or(0, |a| a.status);
            format!("#{i} {status} {}", redact_url(&targets[i].url))
        })
        .collect();
    if !failed.is_empty() {
        properties.insert(PROPERTY_FALLBACK_FAILED.to_owned(), failed.join("; "));
    }
}

/// Answers a call from a cached entry and records it as a hit that cost nothing.
pub(super) fn answer_from_cache(
    mut guard: CallGuard,
    entry: &Arc<Entry>,
    index: u32,
    format: WireFormat,
    omit_response: bool,
) -> Response {
    guard.answered_from_cache();
    let id = guard.id();
    let record = guard.record();
    record.status = i32::from(entry.status);
    record.is_stream = entry.is_stream;
    record.response_model = entry.model.clone();
    let properties = &mut record.properties;
    properties.insert(PROPERTY_CACHE.to_owned(), "hit".to_owned());
    properties.insert(PROPERTY_CACHE_SOURCE.to_owned(), entry.call_id.clone());
    properties.insert(PROPERTY_CACHE_BUCKET_IDX.to_owned(), index.to_string());
    if let Some(cost) = entry.cost_nano_usd {
        properties.insert(PROPERTY_CACHE_SAVED.to_owned(), cost.to_string());
    }
    let limit = guard.recorder().body_capture_limit();
    let kept = &entry.body[..entry.body.len().min(limit)];
    guard.finish(Outcome {
        response_body: Some(stored_body(
            kept.to_vec(),
            entry.body.len() > limit,
            omit_response,
        )),
        format: Some(format),
        ..Outcome::default()
    });
    let mut response = Response::new(Body::from(entry.body.clone()));
    *response.status_mut() = StatusCode::from_u16(entry.status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    for (name, value) in &entry.headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    headers.insert(header::CONTENT_LENGTH, entry.body.len().into());
    super::insert_id(headers, id);
    put(headers, "helicone-cache", "HIT");
    put(headers, "helicone-cache-bucket-idx", &index.to_string());
    put(
        headers,
        "helicone-cache-latency",
        &entry.latency_ms.to_string(),
    );
    response
}

/// What saves a successful answer to the cache once its record (and so its cost) is known.
pub(super) fn save_to_cache(
    gateway: &Gateway,
    key: String,
    options: &CacheOptions,
    status: u16,
    headers: &HeaderMap,
    is_stream: bool,
) -> AfterRecord {
    let cache = gateway.inner.cache.clone();
    let tasks = gateway.inner.tasks.clone();
    let (size, ttl) = (options.bucket_size, options.ttl);
    let headers: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| {
            *name != header::CONTENT_LENGTH
                && canopy_core::headers::canopy_suffix(name.as_str()).is_none()
        })
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
        .collect();
    Box::new(move |record, body: Option<&Bytes>| {
        let Some(body) = body else {
            return;
        };
        if record.is_error() {
            return;
        }
        let entry = Entry {
            status,
            headers,
            body: body.clone(),
            cost_nano_usd: record.cost_nano_usd,
            latency_ms: record.latency_ms.unwrap_or(0),
            call_id: record.id.to_string(),
            model: record.response_model.clone(),
            is_stream,
        };
        if cache.is_shared() {
            tasks.spawn(async move { cache.save(&key, size, ttl, entry).await });
        } else {
            // In memory the answer is kept before the record is handed over, so the next
            // identical call already finds it.
            cache.save_in_memory(&key, size, ttl, entry);
        }
    })
}
