//! Reading the client's request body: buffered when Canopy needs to read it, streamed otherwise.
//!
//! JSON bodies and small bodies of known length are read whole (up to the size limit), so the
//! record can hold them and the model and stream flag can be read. Anything else (large
//! uploads, unknown types) streams upstream as it arrives; the size limit still applies and
//! is checked as bytes pass.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, header};
use http_body_util::{BodyExt, Limited};

/// The request body, as it will be sent upstream.
pub enum RequestBody {
    /// Read whole.
    Buffered(Bytes),
    /// Passed through as it arrives; `over_limit` turns true if it grew past the limit.
    Streamed {
        body: reqwest::Body,
        over_limit: Arc<AtomicBool>,
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

/// Reads or wraps `body` according to its headers.
pub async fn read(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
    capture_limit: usize,
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
    if is_json || length.is_some_and(|n| n <= capture_limit) {
        let collected = Limited::new(body, limit).collect().await.map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                BodyError::TooLarge { limit }
            } else {
                BodyError::Read(e.to_string())
            }
        })?;
        return Ok(RequestBody::Buffered(collected.to_bytes()));
    }
    let over_limit = Arc::new(AtomicBool::new(false));
    let flag = over_limit.clone();
    let mut seen = 0usize;
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk: Bytes = chunk.map_err(|e| std::io::Error::other(e.to_string()))?;
        seen += chunk.len();
        if seen > limit {
            flag.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("request body over the size limit"));
        }
        Ok(chunk)
    });
    Ok(RequestBody::Streamed {
        body: reqwest::Body::wrap_stream(stream),
        over_limit,
    })
}
