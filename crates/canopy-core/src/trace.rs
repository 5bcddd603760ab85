//! W3C trace context: the properties that place a record in a distributed trace, so that
//! proxied calls and ingested OTLP spans of one trace form one tree.
//!
//! A record of a trace carries, in its properties (no store schema changes), the trace id,
//! its own span id and its parent's span id, as lower-case hex. A proxied call's parent is the
//! span named by its `traceparent` header; its own span id is the last eight bytes of its
//! call id (the id its exported span has too).

use crate::CallId;

/// The trace id (32 hex digits).
pub const TRACE_ID_PROPERTY: &str = "canopy-trace-id";
/// The record's own span id (16 hex digits).
pub const SPAN_ID_PROPERTY: &str = "canopy-span-id";
/// The parent span's id (16 hex digits).
pub const PARENT_SPAN_ID_PROPERTY: &str = "canopy-parent-span-id";

/// A parsed `traceparent` header: `00-<trace id>-<parent span id>-<flags>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    /// 32 lower-case hex digits, not all zero.
    pub trace_id: String,
    /// 16 lower-case hex digits, not all zero.
    pub parent_span_id: String,
}

/// Reads a `traceparent` value; anything malformed is `None` (as the W3C spec says, an
/// invalid header is ignored, never an error).
pub fn parse_traceparent(value: &str) -> Option<TraceParent> {
    let mut parts = value.trim().split('-');
    let version = parts.next()?;
    let trace_id = parts.next()?;
    let parent = parts.next()?;
    let flags = parts.next()?;
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.bytes().any(|b| b != b'0')
    };
    if version.len() != 2 || version.eq_ignore_ascii_case("ff") || !hex(trace_id, 32) {
        return None;
    }
    if !hex(parent, 16) || flags.len() != 2 || (version == "00" && parts.next().is_some()) {
        return None;
    }
    Some(TraceParent {
        trace_id: trace_id.to_ascii_lowercase(),
        parent_span_id: parent.to_ascii_lowercase(),
    })
}

/// The span id a call's record and exported span carry: the call id's last eight bytes.
pub fn span_id_of(id: CallId) -> [u8; 8] {
    let bytes = id.0.as_bytes();
    let mut span = [0_u8; 8];
    span.copy_from_slice(&bytes[8..]);
    span
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_valid_traceparent_and_ignores_malformed_ones() {
        let tp = parse_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01");
        assert_eq!(
            tp,
            Some(TraceParent {
                trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                parent_span_id: "00f067aa0ba902b7".into(),
            })
        );
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
    }
}
