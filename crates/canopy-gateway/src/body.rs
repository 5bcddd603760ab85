//! Reading the client's request body: buffered when Canopy needs to read it, streamed otherwise.
//!
//! JSON bodies and small bodies of known length are read whole (up to the size limit), so the
//! record can hold them and the model and stream flag can be read. Anything else (large
//! uploads, unknown types) streams upstream as it arrives; the size limit still applies and
//! is checked as bytes pass.
//!
//! Memory held by buffered bodies is bounded across all calls by a [`BodyBudget`]: a body is
//! read whole only while the budget has room for it (counted in bytes, reserved before a body
//! of known length is read and chunk by chunk for one of unknown length). Past the budget the
//! body streams upstream uncaptured, as an unknown-length upload does, and the reservation is
//! returned when the call's record is done.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, header};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::telemetry::GATEWAY_UNBUFFERED_BODIES_TOTAL;
use crate::upstream::StreamedBody;

/// The memory all buffered request bodies may hold at once, in bytes.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    total: usize,
}

impl BodyBudget {
    /// A budget of `total` bytes (at most `u32::MAX`; more is treated as that).
    pub fn new(total: usize) -> Self {
        let total = total.min(u32::MAX as usize).min(Semaphore::MAX_PERMITS);
        Self {
            bytes: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// Bytes currently reserved by buffered bodies.
    pub fn in_use(&self) -> usize {
        self.total - self.bytes.available_permits()
    }

    /// Reserves `n` bytes if the budget has room.
    fn reserve(&self, n: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(n).ok()?;
        self.bytes.clone().try_acquire_many_owned(n).ok()
    }
}

/// The request body, as it will be sent upstream.
pub enum RequestBody {
    /// Read whole; `permit` holds its bytes in the budget until the call's record is done.
    Buffered {
        bytes: Bytes,
        permit: Option<OwnedSemaphorePermit>,
    },
    /// Passed through as it arrives; `over_limit` turns true if it grew past the limit.
    /// `over_budget` says it would have been read whole but the memory budget had no room.
    Streamed {
        body: StreamedBody,
        over_limit: Arc<AtomicBool>,
        over_budget: bool,
    },
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Larger than the limit.
    #[error("the request body is larger than the {limit}-byte limit")]
    TooLarge { limit: usize },
    /// The client stopped sending.
    #[error("the request body could not be read: {0}")]
    Read(String),
}

/// Reads or wraps `body` according to its headers, within `budget`.
pub async fn read(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
    capture_limit: usize,
    budget: &BodyBudget,
) -> Result<RequestBody, BodyError> {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if length.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge { limit });
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if !(is_json || length.is_some_and(|n| n <= capture_limit)) {
        return Ok(streamed(Vec::new(), body, limit, None, false));
    }
    let mut permit = match length {
        Some(n) => match budget.reserve(n) {
            Some(permit) => Some(permit),
            None => return Ok(over_budget(Vec::new(), body, limit, None)),
        },
        None => None,
    };
    let mut body = body;
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Read(e.to_string()))?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        seen += chunk.len();
        if seen > limit {
            return Err(BodyError::TooLarge { limit });
        }
        if length.is_none() {
            // Unknown length: reserve as the bytes arrive; past the budget, send what was
            // read and the rest as a stream.
            match budget.reserve(chunk.len()) {
                Some(more) => match permit.as_mut() {
                    Some(held) => held.merge(more),
                    None => permit = Some(more),
                },
                None => {
                    chunks.push(chunk);
                    return Ok(over_budget(chunks, body, limit, permit));
                }
            }
        }
        chunks.push(chunk);
    }
    let bytes = match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let mut whole = Vec::with_capacity(seen);
            for chunk in &chunks {
                whole.extend_from_slice(chunk);
            }
            Bytes::from(whole)
        }
    };
    Ok(RequestBody::Buffered { bytes, permit })
}

fn over_budget(
    read: Vec<Bytes>,
    rest: Body,
    limit: usize,
    permit: Option<OwnedSemaphorePermit>,
) -> RequestBody {
    metrics::counter!(GATEWAY_UNBUFFERED_BODIES_TOTAL).increment(1);
    tracing::debug!("The request-body memory budget is spent; streaming a body uncaptured.");
    streamed(read, rest, limit, permit, true)
}

/// Streams `read` (bytes already taken from the client) and then the rest of the body,
/// checking the size limit as bytes pass. `permit` (the memory `read` holds) is returned once
/// the stream is dropped.
fn streamed(
    read: Vec<Bytes>,
    rest: Body,
    limit: usize,
    permit: Option<OwnedSemaphorePermit>,
    over_budget: bool,
) -> RequestBody {
    let over_limit = Arc::new(AtomicBool::new(false));
    let flag = over_limit.clone();
    let mut seen = 0usize;
    let head = futures_util::stream::iter(read.into_iter().map(Ok::<_, axum::Error>));
    let stream = head.chain(rest.into_data_stream()).map(move |chunk| {
        let _held = &permit;
        let chunk: Bytes = chunk.map_err(|e| std::io::Error::other(e.to_string()))?;
        seen += chunk.len();
        if seen > limit {
            flag.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("request body over the size limit"));
        }
        Ok(Frame::data(chunk))
    });
    RequestBody::Streamed {
        body: StreamedBody::new(StreamBody::new(stream)),
        over_limit,
        over_budget,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_headers(length: Option<usize>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        if let Some(n) = length {
            headers.insert(header::CONTENT_LENGTH, n.into());
        }
        headers
    }

    fn chunked(parts: &[&'static [u8]]) -> Body {
        let parts: Vec<Result<Bytes, std::io::Error>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Body::from_stream(futures_util::stream::iter(parts))
    }

    #[tokio::test]
    async fn bodies_are_buffered_within_the_budget_and_return_it_when_dropped() {
        let budget = BodyBudget::new(100);
        let body = Body::from(vec![b'x'; 60]);
        let read = read(body, &json_headers(Some(60)), 1000, 1000, &budget)
            .await
            .unwrap();
        assert!(matches!(read, RequestBody::Buffered { ref bytes, .. } if bytes.len() == 60));
        assert_eq!(budget.in_use(), 60);

        // A second body of known length does not fit: it streams, uncaptured.
        let second = read_into(&budget, Body::from(vec![b'y'; 60]), Some(60)).await;
        assert!(matches!(
            second,
            RequestBody::Streamed {
                over_budget: true,
                ..
            }
        ));
        assert_eq!(budget.in_use(), 60);

        drop(read);
        assert_eq!(budget.in_use(), 0, "the reservation is returned");
        drop(second);
    }

    async fn read_into(budget: &BodyBudget, body: Body, length: Option<usize>) -> RequestBody {
        read(body, &json_headers(length), 1000, 1000, budget)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn an_unknown_length_body_past_the_budget_streams_every_byte() {
        let budget = BodyBudget::new(8);
        let read = read_into(&budget, chunked(&[b"abcd", b"efgh", b"ijkl"]), None).await;
        let RequestBody::Streamed {
            body, over_budget, ..
        } = read
        else {
            panic!("expected a streamed body");
        };
        assert!(over_budget);
        let sent = http_body_util::BodyExt::collect(body)
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&sent[..], b"abcdefghijkl");
        assert_eq!(budget.in_use(), 0);

        let small = read_into(&budget, chunked(&[b"ab", b"cd"]), None).await;
        assert!(matches!(small, RequestBody::Buffered { ref bytes, .. } if &bytes[..] == b"abcd"));
        assert_eq!(budget.in_use(), 4);
    }

    #[tokio::test]
    async fn the_size_limit_still_applies() {
        let budget = BodyBudget::new(1000);
        let error = read(
            chunked(&[b"0123456789"]),
            &json_headers(None),
            5,
            5,
            &budget,
        )
        .await
        .err()
        .unwrap();
        assert!(matches!(error, BodyError::TooLarge { limit: 5 }));
        assert_eq!(budget.in_use(), 0);
    }
}
