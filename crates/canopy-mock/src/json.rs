//! Small serialization helpers shared by every route: ids, tri-state fields and JSON responses.
//!
//! Response bodies are `#[derive(Serialize)]` structs, so keys come out in field order and the
//! JSON is compact (`serde_json::to_vec`). Nothing here allocates beyond the output buffer.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde::{Serialize, Serializer};

/// The fixed `created` timestamp of every object, so responses are byte-for-byte repeatable.
pub(crate) const CREATED: u64 = 1_700_000_000;

/// The `content-type` of JSON responses.
pub(crate) const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// An object id: a fixed prefix and a request digest as 16 hex digits, serialized as a string.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Id {
    /// The provider's id prefix, for example `chatcmpl-mock-`.
    pub(crate) prefix: &'static str,
    /// The FNV-1a digest of the request body.
    pub(crate) digest: u64,
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Self { prefix, digest } = self;
        serializer.collect_str(&format_args!("{prefix}{digest:016x}"))
    }
}

/// A field that is left out, written as `null`, or written with a value.
///
/// Use it with `#[serde(skip_serializing_if = "Tri::is_absent")]`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Tri<T> {
    /// The key is not written at all.
    Absent,
    /// The key is written with the value `null`.
    Null,
    /// The key is written with this value.
    Value(T),
}

impl<T> Tri<T> {
    /// Whether the key should be skipped.
    pub(crate) const fn is_absent(&self) -> bool {
        matches!(self, Self::Absent)
    }
}

impl<T: Serialize> Serialize for Tri<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Absent | Self::Null => serializer.serialize_unit(),
            Self::Value(value) => value.serialize(serializer),
        }
    }
}

/// Serializes `value` as the compact JSON body of a response with `status`.
pub(crate) fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, APPLICATION_JSON)],
            Bytes::from(body),
        )
            .into_response(),
        Err(_) => serialization_failed(),
    }
}

/// The response when the mock fails to serialize its own output, which should never happen.
pub(crate) fn serialization_failed() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, APPLICATION_JSON)],
        r#"{"error":{"message":"canopy-mock failed to serialize its response","type":"server_error","param":null,"code":null}}"#,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Sample {
        id: Id,
        #[serde(skip_serializing_if = "Tri::is_absent")]
        a: Tri<u8>,
        #[serde(skip_serializing_if = "Tri::is_absent")]
        b: Tri<u8>,
        #[serde(skip_serializing_if = "Tri::is_absent")]
        c: Tri<u8>,
    }

    #[test]
    fn ids_and_tri_state_fields_serialize_compactly() {
        let sample = Sample {
            id: Id {
                prefix: "x-",
                digest: 0xab,
            },
            a: Tri::Absent,
            b: Tri::Null,
            c: Tri::Value(3),
        };
        let json = serde_json::to_string(&sample).unwrap();
        assert_eq!(json, r#"{"id":"x-00000000000000ab","b":null,"c":3}"#);
    }
}
