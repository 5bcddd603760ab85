//! Reading a request body, and the one change Canopy may make to it: asking for stream usage.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

/// What a request body says about the call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFacts {
    /// The requested model.
    pub model: Option<String>,
    /// Whether a streamed response was asked for.
    pub stream: bool,
    /// Whether the stream already asks for a usage chunk (`stream_options.include_usage`).
    pub include_usage: bool,
    /// The end user, from OpenAI's `user` or Anthropic's `metadata.user_id`.
    pub user: Option<String>,
}

/// Reads a JSON request body; anything that is not a JSON object gives no facts.
pub fn request_facts(body: &[u8]) -> RequestFacts {
    #[derive(Deserialize)]
    struct Body {
        model: Option<String>,
        stream: Option<bool>,
        stream_options: Option<StreamOptions>,
        user: Option<String>,
        metadata: Option<Metadata>,
    }
    #[derive(Deserialize)]
    struct StreamOptions {
        include_usage: Option<bool>,
    }
    #[derive(Deserialize)]
    struct Metadata {
        user_id: Option<String>,
    }
    let Ok(b) = serde_json::from_slice::<Body>(body) else {
        return RequestFacts::default();
    };
    RequestFacts {
        model: b.model,
        stream: b.stream.unwrap_or(false),
        include_usage: b
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
        user: b
            .user
            .or(b.metadata.and_then(|m| m.user_id))
            .filter(|u| !u.is_empty()),
    }
}

/// Whether an OpenAI-format endpoint accepts `stream_options.include_usage`.
pub fn supports_stream_usage(path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path).trim_end_matches('/');
    path.ends_with("/chat/completions") || path.ends_with("/completions")
}

/// The body with `stream_options.include_usage` set to true, or `None` if it is not a JSON
/// object. Everything else stays byte for byte as the client sent it (key order matters: a
/// structured-output schema's property order is the order the model writes fields in), so the
/// member is spliced into the original bytes rather than re-serialised.
pub fn with_include_usage(body: &[u8]) -> Option<Vec<u8>> {
    let fields: BTreeMap<&str, &RawValue> = serde_json::from_slice(body).ok()?;
    let (start, end, replacement) = match fields.get("stream_options") {
        None => {
            // Insert just before the object's closing brace.
            let close = body.iter().rposition(|b| *b == b'}')?;
            let member: &[u8] = if fields.is_empty() {
                b"\"stream_options\":{\"include_usage\":true}"
            } else {
                b",\"stream_options\":{\"include_usage\":true}"
            };
            (close, close, member.to_vec())
        }
        Some(raw) => {
            // Replace only the `stream_options` value, keeping its other members.
            let start = offset_in(body, raw.get())?;
            let mut options: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(raw.get()).unwrap_or_default();
            options.insert("include_usage".to_owned(), serde_json::Value::Bool(true));
            (
                start,
                start + raw.get().len(),
                serde_json::to_vec(&options).ok()?,
            )
        }
    };
    let mut out = Vec::with_capacity(body.len() + replacement.len());
    out.extend_from_slice(&body[..start]);
    out.extend_from_slice(&replacement);
    out.extend_from_slice(&body[end..]);
    Some(out)
}

/// Where `part`, a slice borrowed from `whole`, starts in it.
fn offset_in(whole: &[u8], part: &str) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    (start + part.len() <= whole.len()).then_some(start)
}

/// Removes the top-level `"usage":null` member that `include_usage` adds to every chunk of an
/// OpenAI stream, so a client that did not ask for usage sees the chunks it would have seen.
/// `event` is one raw SSE event; anything else is returned unchanged.
pub fn strip_null_usage(event: &[u8]) -> Cow<'_, [u8]> {
    const PATTERNS: [&[u8]; 4] = [
        b",\"usage\":null",
        b", \"usage\": null",
        b"\"usage\":null,",
        b"\"usage\": null, ",
    ];
    for pattern in PATTERNS {
        if let Some(at) = find(event, pattern) {
            let mut out = Vec::with_capacity(event.len() - pattern.len());
            out.extend_from_slice(&event[..at]);
            out.extend_from_slice(&event[at + pattern.len()..]);
            return Cow::Owned(out);
        }
    }
    Cow::Borrowed(event)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_model_stream_usage_and_user() {
        let f = request_facts(br#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"user":"u1"}"#);
        assert_eq!(f.model.as_deref(), Some("gpt-4o"));
        assert!(f.stream && f.include_usage);
        assert_eq!(f.user.as_deref(), Some("u1"));
        let a = request_facts(br#"{"model":"claude-haiku-4-5","metadata":{"user_id":"u2"}}"#);
        assert_eq!(a.user.as_deref(), Some("u2"));
        assert!(!a.stream);
        assert_eq!(request_facts(b"not json"), RequestFacts::default());
    }

    #[test]
    fn injection_keeps_every_other_byte_in_place() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"zeta":{"b":1,"a":2},"stream":true}"#;
        let out = with_include_usage(body).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"zeta":{"b":1,"a":2},"stream":true,"stream_options":{"include_usage":true}}"#
        );
        let spaced = b"{ \"stream\": true }\n";
        assert_eq!(
            with_include_usage(spaced).unwrap(),
            b"{ \"stream\": true ,\"stream_options\":{\"include_usage\":true}}\n"
        );
        assert_eq!(
            with_include_usage(b"{}").unwrap(),
            br#"{"stream_options":{"include_usage":true}}"#
        );
        let existing = br#"{"z":1,"stream_options":{"include_usage":false},"a":2}"#;
        assert_eq!(
            with_include_usage(existing).unwrap(),
            br#"{"z":1,"stream_options":{"include_usage":true},"a":2}"#
        );
    }

    #[test]
    fn injects_include_usage_keeping_other_options() {
        let body =
            with_include_usage(br#"{"model":"m","stream":true,"stream_options":{"x":1}}"#).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["stream_options"],
            serde_json::json!({"x": 1, "include_usage": true})
        );
        assert!(with_include_usage(b"[1,2]").is_none());
    }

    #[test]
    fn only_chat_and_text_completions_take_stream_usage() {
        assert!(supports_stream_usage("/v1/chat/completions"));
        assert!(supports_stream_usage("/v1/completions?x=1"));
        assert!(!supports_stream_usage("/v1/responses"));
        assert!(!supports_stream_usage("/v1/embeddings"));
    }

    #[test]
    fn strips_the_null_usage_member_and_nothing_else() {
        let chunk = b"data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"\\\"usage\\\":null\"}}],\"usage\":null}\n\n";
        let out = strip_null_usage(chunk);
        assert_eq!(&*out, b"data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"\\\"usage\\\":null\"}}]}\n\n");
        let first = b"data: {\"usage\":null,\"id\":\"c\"}\n\n";
        assert_eq!(&*strip_null_usage(first), b"data: {\"id\":\"c\"}\n\n");
        let untouched = b"data: {\"id\":\"c\"}\n\n";
        assert!(matches!(strip_null_usage(untouched), Cow::Borrowed(_)));
    }
}
