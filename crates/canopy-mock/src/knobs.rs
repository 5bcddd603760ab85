//! Per-request knobs, read from `x-mock-*` request headers (see the table in the crate docs).
//!
//! The headers are scanned once; anything that does not start with `x-mock-` is skipped after a
//! prefix compare, so a request without knobs costs one pass over its header names.

use std::time::Duration;

use http::{HeaderMap, HeaderValue, StatusCode};

use crate::MockConfig;

/// Header prefix shared by every knob.
const PREFIX: &str = "x-mock-";

/// The largest latency or chunk delay a knob may ask for: ten minutes.
const MAX_DELAY_MS: u64 = 600_000;

/// The longest reply `x-mock-reply-words` may ask for.
pub(crate) const MAX_REPLY_WORDS: u64 = 100_000;

/// How one request should be answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Knobs {
    /// Delay before the response head.
    pub(crate) latency: Duration,
    /// Delay between two SSE events.
    pub(crate) chunk_delay: Duration,
    /// Answer with this error status and the provider's error body.
    pub(crate) status: Option<StatusCode>,
    /// Abort streams after this many events.
    pub(crate) disconnect_after: Option<usize>,
    /// Leave usage out of plain responses and streams.
    pub(crate) no_usage: bool,
    /// Cached prompt tokens to report (OpenAI `cached_tokens`, Anthropic cache reads).
    pub(crate) cached_tokens: u64,
    /// Reasoning tokens to report, counted inside the completion tokens.
    pub(crate) reasoning_tokens: u64,
    /// Anthropic cache-write tokens to report (`cache_creation_input_tokens`).
    pub(crate) cache_write_tokens: u64,
    /// Only the first N requests with the same [`Knobs::fail_key`] fail as `status` asks; later
    /// ones are answered normally (a scripted run of failures, for retry tests).
    pub(crate) fail_first: Option<u64>,
    /// Which failure script a request belongs to.
    pub(crate) fail_key: u64,
    /// `Retry-After` (seconds) sent with a requested error.
    pub(crate) retry_after_secs: Option<u64>,
    /// `retry-after-ms` sent with a requested error.
    pub(crate) retry_after_ms: Option<u64>,
    /// Mixed into the reply's digest, so the same chat gets another answer (chat routes).
    pub(crate) reply_seed: Option<u64>,
    /// Lengthen the reply with filler words to this many words (a long streamed answer).
    pub(crate) reply_words: Option<u64>,
}

/// A knob header whose value cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("canopy-mock: header `{header}` must be {expected}")]
pub(crate) struct KnobError {
    header: &'static str,
    expected: &'static str,
}

impl Knobs {
    /// Reads the knobs of one request, starting from the server's configured delays.
    pub(crate) fn from_headers(
        headers: &HeaderMap,
        config: &MockConfig,
    ) -> Result<Self, KnobError> {
        let mut knobs = Self {
            latency: Duration::from_millis(config.latency_ms),
            chunk_delay: Duration::from_millis(config.chunk_delay_ms),
            ..Self::default()
        };
        for (name, value) in headers {
            let Some(knob) = name.as_str().strip_prefix(PREFIX) else {
                continue;
            };
            match knob {
                "latency-ms" => knobs.latency = delay(value, "x-mock-latency-ms")?,
                "chunk-delay-ms" => knobs.chunk_delay = delay(value, "x-mock-chunk-delay-ms")?,
                "status" => knobs.status = error_status(value)?,
                "disconnect-after" => {
                    let events = number(value, "x-mock-disconnect-after", "an event count")?;
                    knobs.disconnect_after = Some(usize::try_from(events).unwrap_or(usize::MAX));
                }
                "no-usage" => knobs.no_usage = flag(value, "x-mock-no-usage")?,
                "cached-tokens" => {
                    knobs.cached_tokens = number(value, "x-mock-cached-tokens", "a token count")?;
                }
                "reasoning-tokens" => {
                    knobs.reasoning_tokens =
                        number(value, "x-mock-reasoning-tokens", "a token count")?;
                }
                "cache-write-tokens" => {
                    knobs.cache_write_tokens =
                        number(value, "x-mock-cache-write-tokens", "a token count")?;
                }
                "fail-first" => {
                    knobs.fail_first = Some(number(value, "x-mock-fail-first", "a count")?);
                }
                "fail-key" => knobs.fail_key = number(value, "x-mock-fail-key", "a number")?,
                "retry-after" => {
                    knobs.retry_after_secs =
                        Some(number(value, "x-mock-retry-after", "a number of seconds")?);
                }
                "retry-after-ms" => {
                    knobs.retry_after_ms = Some(number(
                        value,
                        "x-mock-retry-after-ms",
                        "a number of milliseconds",
                    )?);
                }
                "reply-words" => {
                    let expected = "a word count up to 100000";
                    match number(value, "x-mock-reply-words", expected)? {
                        words if words <= MAX_REPLY_WORDS => knobs.reply_words = Some(words),
                        _ => {
                            return Err(KnobError {
                                header: "x-mock-reply-words",
                                expected,
                            });
                        }
                    }
                }
                "reply-seed" => {
                    knobs.reply_seed = Some(number(value, "x-mock-reply-seed", "a number")?)
                }
                _ => {}
            }
        }
        Ok(knobs)
    }
}

fn number(value: &HeaderValue, header: &'static str, what: &'static str) -> Result<u64, KnobError> {
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .ok_or(KnobError {
            header,
            expected: what,
        })
}

fn delay(value: &HeaderValue, header: &'static str) -> Result<Duration, KnobError> {
    let expected = "a whole number of milliseconds up to 600000";
    match number(value, header, expected)? {
        ms if ms <= MAX_DELAY_MS => Ok(Duration::from_millis(ms)),
        _ => Err(KnobError { header, expected }),
    }
}

fn flag(value: &HeaderValue, header: &'static str) -> Result<bool, KnobError> {
    match value.as_bytes() {
        b"true" | b"1" => Ok(true),
        b"false" | b"0" => Ok(false),
        _ => Err(KnobError {
            header,
            expected: "`true` or `false`",
        }),
    }
}

/// Reads `x-mock-status`; statuses below 400 mean "answer normally".
fn error_status(value: &HeaderValue) -> Result<Option<StatusCode>, KnobError> {
    let header = "x-mock-status";
    let expected = "an HTTP status code between 100 and 599";
    let code = number(value, header, expected)?;
    let status = u16::try_from(code)
        .ok()
        .and_then(|code| StatusCode::from_u16(code).ok())
        .filter(|status| status.as_u16() <= 599)
        .ok_or(KnobError { header, expected })?;
    Ok((status.as_u16() >= 400).then_some(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knobs(pairs: &[(&'static str, &'static str)]) -> Result<Knobs, KnobError> {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        let config = MockConfig {
            latency_ms: 5,
            chunk_delay_ms: 7,
            record_requests: false,
        };
        Knobs::from_headers(&headers, &config)
    }

    #[test]
    fn defaults_come_from_the_config() {
        let read = knobs(&[("authorization", "Bearer x")]).unwrap();
        assert_eq!(read.latency, Duration::from_millis(5));
        assert_eq!(read.chunk_delay, Duration::from_millis(7));
        assert_eq!(read.status, None);
    }

    #[test]
    fn headers_override_and_set_every_knob() {
        let read = knobs(&[
            ("x-mock-latency-ms", "0"),
            ("x-mock-chunk-delay-ms", " 12 "),
            ("x-mock-status", "529"),
            ("x-mock-disconnect-after", "3"),
            ("x-mock-no-usage", "true"),
            ("x-mock-cached-tokens", "10"),
            ("x-mock-reasoning-tokens", "20"),
            ("x-mock-cache-write-tokens", "30"),
            ("x-mock-unknown", "ignored"),
        ])
        .unwrap();
        assert_eq!(
            read,
            Knobs {
                latency: Duration::ZERO,
                chunk_delay: Duration::from_millis(12),
                status: StatusCode::from_u16(529).ok(),
                disconnect_after: Some(3),
                no_usage: true,
                cached_tokens: 10,
                reasoning_tokens: 20,
                cache_write_tokens: 30,
                ..Knobs::default()
            }
        );
    }

    #[test]
    fn success_statuses_mean_no_error() {
        assert_eq!(knobs(&[("x-mock-status", "200")]).unwrap().status, None);
    }

    #[test]
    fn bad_values_name_the_header() {
        for (name, value) in [
            ("x-mock-status", "abc"),
            ("x-mock-status", "700"),
            ("x-mock-latency-ms", "-1"),
            ("x-mock-latency-ms", "600001"),
            ("x-mock-no-usage", "yes"),
        ] {
            let error = knobs(&[(name, value)]).unwrap_err();
            assert!(error.to_string().contains(name), "{error}");
        }
    }
}
