//! The upstream attempt loop: retries and fallbacks, before anything reaches the client.
//!
//! A call goes to its targets in order: the route's upstream, or, when the call lists
//! `Helicone-Fallbacks`, each fallback in turn (Helicone's rule: the list replaces the route's
//! upstream). On each target, with `Helicone-Retry-Enabled`, a 429, a 5xx, a connection
//! failure or a timeout is retried with exponential backoff; a `retry-after-ms` or
//! `Retry-After` (seconds or an HTTP date) answer is never retried sooner than it asks, and not at all when
//! it asks for longer than `helicone-retry-max-timeout`. When a target's last answer has one
//! of its `onCodes`, or it could not be reached, the next target is tried; the last target's
//! answer is the call's. Only a response head that ends the loop is handed on, so nothing
//! reaches the client before the loop is done. Bodies Canopy did not buffer (large uploads)
//! cannot be sent twice: they get exactly one attempt.

use std::time::Duration;

use bytes::Bytes;
use canopy_core::extract::WireFormat;
use canopy_core::record::{STATUS_UPSTREAM_TIMEOUT, STATUS_UPSTREAM_UNREACHABLE};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use http_body_util::{Either, Full};

use crate::features::{Fallback, RetryPolicy};
use crate::telemetry::{GATEWAY_FALLBACKS_TOTAL, GATEWAY_RETRIES_TOTAL};
use crate::upstream::{Clients, SendError, StreamedBody, UpstreamResponse};

/// One place a call may be sent.
#[derive(Debug, Clone)]
pub struct Target {
    /// The full upstream URL.
    pub url: String,
    /// How its responses are read.
    pub format: WireFormat,
    /// Cleartext HTTP/2 with prior knowledge.
    pub http2_prior_knowledge: bool,
    /// The provider whose origin it is, when it is a fallback.
    pub provider: Option<String>,
    /// Headers set for this target only.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body for this target, when it differs from the call's.
    pub body: Option<Bytes>,
    /// The fallback entry, whose `onCodes` decide whether the next target is tried.
    pub fallback: Option<Fallback>,
}

/// The request body, as the attempts can send it.
pub enum Payload {
    /// Buffered: every attempt sends it again.
    Buffered(Bytes),
    /// Streamed as it arrives: sent once.
    Streamed(Option<StreamedBody>),
}

/// One attempt, as recorded.
#[derive(Debug, Clone)]
pub struct AttemptLog {
    /// The target's index.
    pub target: usize,
    /// The status it answered, or a negative `STATUS_*` code.
    pub status: i32,
}

/// What the loop ended with.
pub struct Ended {
    /// The target whose answer (or failure) is the call's.
    pub target: usize,
    /// Its response, or why there is none.
    pub result: Result<UpstreamResponse, SendError>,
    /// Every attempt, in order.
    pub attempts: Vec<AttemptLog>,
}

/// What the loop needs from the call.
pub struct Request<'a> {
    /// The pooled clients.
    pub clients: &'a Clients,
    /// The method.
    pub method: Method,
    /// The headers every attempt carries.
    pub headers: HeaderMap,
    /// The body.
    pub payload: Payload,
    /// Where to send it, in order.
    pub targets: &'a [Target],
    /// Retries on each target, when enabled.
    pub retry: Option<RetryPolicy>,
    /// The wait for each response head.
    pub timeout: Duration,
}

/// Sends the call to its targets until one answers for good.
pub async fn run(request: Request<'_>) -> Ended {
    let Request {
        clients,
        method,
        mut headers,
        mut payload,
        targets,
        retry,
        timeout,
    } = request;
    let mut attempts = Vec::new();
    let last = targets.len().saturating_sub(1);
    let mut index = 0;
    loop {
        let target = &targets[index];
        let mut retries = 0;
        let result = loop {
            let body = match &mut payload {
                Payload::Buffered(bytes) => Either::Left(Full::new(
                    target.body.clone().unwrap_or_else(|| bytes.clone()),
                )),
                // Taken by the first attempt, which is its only one.
                Payload::Streamed(body) => body
                    .take()
                    .map_or_else(|| Either::Left(Full::default()), Either::Right),
            };
            let can_repeat = matches!(payload, Payload::Buffered(_));
            // An attempt that cannot be followed by another takes the headers; others copy.
            let may_follow = can_repeat && (retry.is_some() || index < last);
            let mut sent_headers = if may_follow {
                headers.clone()
            } else {
                std::mem::take(&mut headers)
            };
            for (name, value) in &target.headers {
                sent_headers.insert(name.clone(), value.clone());
            }
            let result = clients
                .send(
                    target.http2_prior_knowledge,
                    method.clone(),
                    &target.url,
                    sent_headers,
                    body,
                    timeout,
                )
                .await;
            attempts.push(AttemptLog {
                target: index,
                status: status_of(&result),
            });
            let Some(policy) = retry.filter(|p| can_repeat && retries < p.retries) else {
                break result;
            };
            let wait = match &result {
                Ok(response) if retryable(response.status().as_u16()) => {
                    let backoff = policy.backoff(retries + 1);
                    match retry_after(response.headers()) {
                        Some(asked) if asked > policy.max => None,
                        Some(asked) => Some(asked.max(backoff)),
                        None => Some(backoff),
                    }
                }
                Ok(_) => None,
                Err(_) => Some(policy.backoff(retries + 1)),
            };
            let Some(wait) = wait else {
                break result;
            };
            drop(result);
            retries += 1;
            metrics::counter!(GATEWAY_RETRIES_TOTAL).increment(1);
            tokio::time::sleep(wait).await;
        };
        let can_repeat = matches!(payload, Payload::Buffered(_));
        let falls_through = match (&result, &target.fallback) {
            (Err(_), _) => true,
            (Ok(response), Some(fallback)) => fallback.falls_through(response.status().as_u16()),
            (Ok(_), None) => false,
        };
        if index == last || !falls_through || !can_repeat {
            return Ended {
                target: index,
                result,
                attempts,
            };
        }
        metrics::counter!(GATEWAY_FALLBACKS_TOTAL).increment(1);
        index += 1;
    }
}

fn status_of(result: &Result<UpstreamResponse, SendError>) -> i32 {
    match result {
        Ok(response) => i32::from(response.status().as_u16()),
        Err(SendError::Failed {
            timed_out: false, ..
        }) => STATUS_UPSTREAM_UNREACHABLE,
        Err(
            SendError::Failed {
                timed_out: true, ..
            }
            | SendError::TimedOut,
        ) => STATUS_UPSTREAM_TIMEOUT,
    }
}

/// Whether an answer is worth another attempt: rate limited, or a server error.
fn retryable(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

/// The wait an answer asks for: `retry-after-ms` (OpenAI), else `Retry-After` in seconds or
/// as an HTTP date (the time left until then; none when it has passed).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_at(headers, std::time::SystemTime::now())
}

fn retry_after_at(headers: &HeaderMap, now: std::time::SystemTime) -> Option<Duration> {
    let read = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0 && *v < 1e9)
    };
    if let Some(ms) = read("retry-after-ms") {
        return Some(Duration::from_micros((ms * 1000.0) as u64));
    }
    if let Some(secs) = read("retry-after") {
        return Some(Duration::from_millis((secs * 1000.0) as u64));
    }
    let date = headers.get("retry-after")?.to_str().ok()?;
    let at = httpdate::parse_http_date(date.trim()).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The status recorded for a failed send, used when no target answered.
pub fn unreachable_status() -> i32 {
    STATUS_UPSTREAM_UNREACHABLE
}

/// The body for a fallback whose `bodyKeyOverride` replaces top-level keys; `None` when the
/// body is not a JSON object.
pub fn override_body(
    body: &[u8],
    keys: &serde_json::Map<String, serde_json::Value>,
) -> Option<Bytes> {
    let mut object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).ok()?;
    for (key, value) in keys {
        object.insert(key.clone(), value.clone());
    }
    serde_json::to_vec(&object).ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_retry_after_in_either_spelling() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:27:57 GMT").unwrap();
        assert_eq!(retry_after_at(&h, now), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after(&h),
            Some(Duration::ZERO),
            "a date passed asks for no wait"
        );
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn overrides_top_level_keys() {
        let keys = serde_json::json!({"model": "b"});
        let out = override_body(br#"{"model":"a","n":1}"#, keys.as_object().unwrap()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v, serde_json::json!({"model": "b", "n": 1}));
        assert!(override_body(b"[1]", keys.as_object().unwrap()).is_none());
    }
}
