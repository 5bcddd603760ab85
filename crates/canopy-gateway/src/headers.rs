//! Canopy's request headers: reading `Helicone-*` / `Canopy-*`, and what goes upstream.
//!
//! Names match case-insensitively (they arrive lowercased) and `canopy-X` is accepted wherever
//! `helicone-X` is. Every such header is removed before the request goes upstream, together
//! with hop-by-hop headers. Credentials are forwarded upstream untouched but never stored.

use std::collections::BTreeMap;

use canopy_core::headers::{CallHeaders, HeaderError, canopy_suffix};
use canopy_core::redact::redact_url;
use http::{HeaderMap, HeaderName, HeaderValue, header};

pub use canopy_core::headers::{
    HEADER_REQUEST_ID, HEADER_SESSION_ID, HEADER_SESSION_PATH, PROPERTY_PROMPT_ID,
    PROPERTY_SESSION_ID, PROPERTY_SESSION_NAME, PROPERTY_SESSION_PATH,
};

/// The response header carrying the call's id.
pub const HEADER_HELICONE_ID: &str = "helicone-id";
/// The header naming the upstream of a `/gateway/*` call.
pub const HEADER_TARGET_URL: &str = "Helicone-Target-Url";

/// The header a caller names a request id in for Canopy's logs (Canopy's own routes answer
/// it back). Not the call's id: that is `Helicone-Request-Id`.
pub const HEADER_LOG_REQUEST_ID: &str = "x-request-id";
/// The longest caller-chosen log request id used; a longer one is replaced.
const MAX_LOG_REQUEST_ID_LEN: usize = 128;

/// Stored in place of a credential.
pub const REDACTED: &str = "[REDACTED]";

/// Headers whose values are credentials: forwarded, never stored.
const CREDENTIALS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "cookie",
    "helicone-auth",
    "canopy-auth",
];

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded in either direction.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The caller's `x-request-id` when it is usable in a log: text, not empty, at most 128 bytes.
pub fn log_request_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(HEADER_LOG_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= MAX_LOG_REQUEST_ID_LEN)
}

/// Reads Canopy's headers from an HTTP request (see [`CallHeaders::from_raw_pairs`]): a value
/// that is not UTF-8 is refused with the header's name, never read with its bytes replaced.
pub fn call_headers(headers: &HeaderMap) -> (CallHeaders, Option<HeaderError>) {
    CallHeaders::from_raw_pairs(
        headers
            .iter()
            .filter(|(name, _)| {
                canopy_suffix(name.as_str()).is_some() || name.as_str() == "traceparent"
            })
            .map(|(name, value)| (name.as_str(), value.as_bytes())),
    )
}

/// Whether a header must not reach the upstream.
pub fn is_stripped(name: &HeaderName) -> bool {
    let name = name.as_str();
    canopy_suffix(name).is_some() || HOP_BY_HOP.contains(&name) || name == "host"
}

/// The request headers to send upstream: everything but Canopy's, hop-by-hop ones and `Host`.
/// `Accept-Encoding` becomes `identity` so the recorded copy of the response can be read.
pub fn upstream_request_headers(incoming: &HeaderMap, keep_content_length: bool) -> HeaderMap {
    let connection_listed = connection_tokens(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len());
    for (name, value) in incoming {
        if is_stripped(name)
            || connection_listed.iter().any(|t| t == name.as_str())
            || (!keep_content_length && name == header::CONTENT_LENGTH)
            || name == header::ACCEPT_ENCODING
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    out
}

/// The response headers to send the client: the upstream's, minus hop-by-hop ones.
pub fn client_response_headers(upstream: &HeaderMap, keep_content_length: bool) -> HeaderMap {
    let connection_listed = connection_tokens(upstream);
    let mut out = HeaderMap::with_capacity(upstream.len() + 1);
    for (name, value) in upstream {
        if HOP_BY_HOP.contains(&name.as_str())
            || connection_listed.iter().any(|t| t == name.as_str())
            || (!keep_content_length && name == header::CONTENT_LENGTH)
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// The longest header value stored with a call; a longer one keeps its start and says how
/// much was cut. (The request still goes upstream whole.)
pub const MAX_STORED_HEADER_BYTES: usize = 4096;

/// Request headers as stored: every header, credentials redacted (those inside a fallback
/// list too, whether or not the list was usable), long values cut.
pub fn stored_request_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .map(|(name, value)| {
            let name = name.as_str();
            let value = if CREDENTIALS.contains(&name) {
                REDACTED.to_owned()
            } else {
                clip_stored(match canopy_suffix(name) {
                    Some(FALLBACKS_SUFFIX) => crate::features::stored_fallbacks(&text(value)),
                    Some(TARGET_URL_SUFFIX) => redact_url(&text(value)).into_owned(),
                    _ => text(value),
                })
            };
            (name.to_owned(), value)
        })
        .collect()
}

/// `Helicone-Fallbacks` without its prefix.
const FALLBACKS_SUFFIX: &str = "fallbacks";

/// `Helicone-Target-Url` without its prefix: the whole value is redacted as a URL, since the
/// redaction of other headers finds URLs by their `scheme://`, which a typed target may lack.
const TARGET_URL_SUFFIX: &str = "target-url";

/// `value` cut to [`MAX_STORED_HEADER_BYTES`] at a character boundary, marked when cut.
fn clip_stored(mut value: String) -> String {
    if value.len() <= MAX_STORED_HEADER_BYTES {
        return value;
    }
    let mut end = MAX_STORED_HEADER_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let cut = value.len() - end;
    value.truncate(end);
    value.push_str(&format!("…[{cut} bytes cut]"));
    value
}

fn connection_tokens(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// A header value as stored text; bytes that are not UTF-8 are replaced (Canopy's own headers
/// are checked before this, in [`call_headers`]).
fn text(value: &HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn strips_canopy_and_hop_by_hop_headers_but_forwards_credentials() {
        let h = headers(&[
            ("authorization", "Bearer sk-secret"),
            ("x-api-key", "sk-ant"),
            ("helicone-auth", "Bearer canopy"),
            ("canopy-session-id", "s"),
            ("connection", "keep-alive, x-private"),
            ("x-private", "1"),
            ("host", "localhost"),
            ("accept-encoding", "gzip"),
            ("content-length", "10"),
            ("anthropic-version", "2023-06-01"),
        ]);
        let up = upstream_request_headers(&h, false);
        assert_eq!(up["authorization"], "Bearer sk-secret");
        assert_eq!(up["x-api-key"], "sk-ant");
        assert_eq!(up["anthropic-version"], "2023-06-01");
        assert_eq!(up["accept-encoding"], "identity");
        for gone in [
            "helicone-auth",
            "canopy-session-id",
            "connection",
            "x-private",
            "host",
            "content-length",
        ] {
            assert!(!up.contains_key(gone), "{gone} must not go upstream");
        }
    }

    #[test]
    fn a_session_id_that_is_not_utf8_is_refused() {
        let mut h = headers(&[("helicone-session-path", "/a")]);
        h.append(
            "helicone-session-id",
            HeaderValue::from_bytes(b"s-\xfe").unwrap(),
        );
        let (call, error) = call_headers(&h);
        assert_eq!(error.unwrap().header, "Helicone-Session-Id");
        assert_eq!(call.session_id, None);
    }

    #[test]
    fn stored_header_values_are_cut_at_the_cap() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-padding",
            HeaderValue::from_str(&"p".repeat(200_000)).unwrap(),
        );
        h.insert("x-small", HeaderValue::from_static("kept"));
        let stored = stored_request_headers(&h);
        assert_eq!(stored["x-small"], "kept");
        let padding = &stored["x-padding"];
        assert!(
            padding.len() < MAX_STORED_HEADER_BYTES + 32,
            "{}",
            padding.len()
        );
        assert!(padding.ends_with(&format!(
            "…[{} bytes cut]",
            200_000 - MAX_STORED_HEADER_BYTES
        )));
    }

    #[test]
    fn stored_headers_never_hold_credentials() {
        let h = headers(&[
            ("authorization", "Bearer sk-secret"),
            ("helicone-auth", "Bearer k"),
            ("x-a", "b"),
        ]);
        let stored = stored_request_headers(&h);
        assert_eq!(stored["authorization"], REDACTED);
        assert_eq!(stored["helicone-auth"], REDACTED);
        assert_eq!(stored["x-a"], "b");
        assert!(!format!("{stored:?}").contains("sk-secret"));
    }
}
