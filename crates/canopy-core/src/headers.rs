//! Canopy's own request headers (`Helicone-*`, also spelled `Canopy-*`), read into one shape.
//!
//! The proxy reads them from HTTP headers; the custom-log API reads them from HTTP headers and
//! from the `meta` object of a logged step. Both go through [`CallHeaders::from_pairs`], so a
//! value means the same wherever it arrives. Names match case-insensitively.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::CallId;
use crate::session::{MAX_PATH_BYTES, MAX_SESSION_ID_BYTES, normalize_path};

/// Property key under which the session id is also stored, as Helicone returns it.
pub const PROPERTY_SESSION_ID: &str = "Helicone-Session-Id";
/// Property key of the session path.
pub const PROPERTY_SESSION_PATH: &str = "Helicone-Session-Path";
/// Property key of the session name.
pub const PROPERTY_SESSION_NAME: &str = "Helicone-Session-Name";
/// Property key of the prompt id.
pub const PROPERTY_PROMPT_ID: &str = "Helicone-Prompt-Id";

/// The header with a caller-chosen call id.
pub const HEADER_REQUEST_ID: &str = "Helicone-Request-Id";
/// The header with the session id.
pub const HEADER_SESSION_ID: &str = "Helicone-Session-Id";
/// The header with the session path.
pub const HEADER_SESSION_PATH: &str = "Helicone-Session-Path";
/// What [`HeaderError::header`] names for a property, name, user, prompt or target header
/// whose value is too long; the message names the header itself.
pub const HEADER_VALUE: &str = "Helicone-*";
/// The longest value of a property, session name, user id, prompt id or target URL header: a
/// label, not a payload. Every call's record stores them, and every listing returns them.
pub const MAX_VALUE_BYTES: usize = 4096;

/// What a call's Canopy headers say.
#[derive(Debug, Clone, Default)]
pub struct CallHeaders {
    /// `Helicone-Auth` / `Canopy-Auth`, the bearer token stripped.
    pub auth: Option<String>,
    /// A caller-chosen id.
    pub request_id: Option<CallId>,
    /// The session id.
    pub session_id: Option<String>,
    /// The normalised session path.
    pub session_path: Option<String>,
    /// The session name.
    pub session_name: Option<String>,
    /// The end user.
    pub user_id: Option<String>,
    /// The prompt id.
    pub prompt_id: Option<String>,
    /// `Helicone-Property-*` values, plus the session and prompt values under their header names.
    pub properties: BTreeMap<String, String>,
    /// The upstream origin for `/gateway/*`.
    pub target_url: Option<String>,
    /// Drop the request body from the record.
    pub omit_request: bool,
    /// Drop the response body from the record.
    pub omit_response: bool,
    /// `false` turns off usage injection for this call.
    pub stream_usage: bool,
}

/// A header that cannot be used, named for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HeaderError {
    /// The header's canonical name.
    pub header: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl CallHeaders {
    /// Reads every `helicone-*` and `canopy-*` header among `pairs` (names in any case). An unusable header does not stop the
    /// reading: the first one is returned beside everything else, so a refused call is still
    /// recorded in its session.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> (Self, Option<HeaderError>) {
        let mut out = Self {
            stream_usage: true,
            ..Self::default()
        };
        let mut error = None;
        for (name, value) in pairs {
            // HTTP header names arrive lowercased already; only other callers' may not be.
            let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(name.to_ascii_lowercase())
            } else {
                Cow::Borrowed(name)
            };
            if name == "traceparent" {
                if let Some(tp) = crate::trace::parse_traceparent(value) {
                    out.properties
                        .insert(crate::trace::TRACE_ID_PROPERTY.to_owned(), tp.trace_id);
                    out.properties.insert(
                        crate::trace::PARENT_SPAN_ID_PROPERTY.to_owned(),
                        tp.parent_span_id,
                    );
                }
                continue;
            }
            let Some(key) = canopy_suffix(&name) else {
                continue;
            };
            let value = value.trim().to_owned();
            let mut refuse = |header: &'static str, message: String| {
                error.get_or_insert(HeaderError { header, message });
            };
            match key {
                "auth" => {
                    out.auth = Some(
                        value
                            .strip_prefix("Bearer ")
                            .unwrap_or(&value)
                            .trim()
                            .to_owned(),
                    );
                }
                "request-id" => match CallId::parse(&value) {
                    Some(id) => out.request_id = Some(id),
                    None => refuse(
                        HEADER_REQUEST_ID,
                        format!("Helicone-Request-Id must be a UUID, got `{}`", clip(&value)),
                    ),
                },
                "session-id" if value.len() > MAX_SESSION_ID_BYTES => refuse(
                    HEADER_SESSION_ID,
                    format!(
                        "Helicone-Session-Id is {} bytes; the limit is {MAX_SESSION_ID_BYTES}",
                        value.len()
                    ),
                ),
                "session-id" => out.session_id = Some(value).filter(|v| !v.is_empty()),
                "session-path" if value.len() > MAX_PATH_BYTES => refuse(
                    HEADER_SESSION_PATH,
                    format!(
                        "Helicone-Session-Path is {} bytes; the limit is {MAX_PATH_BYTES}",
                        value.len()
                    ),
                ),
                "session-path" => out.session_path = Some(normalize_path(&value)),
                "session-name" | "user-id" | "prompt-id" | "target-url"
                    if value.len() > MAX_VALUE_BYTES =>
                {
                    refuse(
                        HEADER_VALUE,
                        format!(
                            "Helicone-{key} is {} bytes; the limit is {MAX_VALUE_BYTES}",
                            value.len()
                        ),
                    );
                }
                "session-name" => out.session_name = Some(value),
                "user-id" => out.user_id = Some(value).filter(|v| !v.is_empty()),
                "prompt-id" => out.prompt_id = Some(value).filter(|v| !v.is_empty()),
                "target-url" => out.target_url = Some(value),
                "omit-request" => out.omit_request = is_true(&value),
                "omit-response" => out.omit_response = is_true(&value),
                "stream-usage" => out.stream_usage = !value.trim().eq_ignore_ascii_case("false"),
                other => {
                    if let Some(property) =
                        other.strip_prefix("property-").filter(|p| !p.is_empty())
                    {
                        if value.len() > MAX_VALUE_BYTES {
                            refuse(
                                HEADER_VALUE,
                                format!(
                                    "Helicone-Property-{property} is {} bytes; the limit is \
                                     {MAX_VALUE_BYTES}",
                                    value.len()
                                ),
                            );
                        } else {
                            out.properties.insert(property.to_owned(), value);
                        }
                    }
                }
            }
        }
        // Helicone returns these in each request's properties; so does Canopy.
        let echoed = [
            (PROPERTY_SESSION_ID, &out.session_id),
            (PROPERTY_SESSION_PATH, &out.session_path),
            (PROPERTY_SESSION_NAME, &out.session_name),
            (PROPERTY_PROMPT_ID, &out.prompt_id),
        ];
        for (key, value) in echoed {
            if let Some(value) = value {
                out.properties.insert(key.to_owned(), value.clone());
            }
        }
        if out.session_id.is_some() && out.session_path.is_none() {
            out.session_path = Some("/".to_owned());
        }
        (out, error)
    }
}

impl CallHeaders {
    /// Reads Canopy's headers from raw HTTP header values (see [`CallHeaders::from_pairs`]). A
    /// value Canopy reads that is not UTF-8 is refused, naming its header, and not read: two
    /// different session ids must never become the same text by replacing their bytes.
    pub fn from_raw_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> (Self, Option<HeaderError>) {
        let mut text = Vec::new();
        let mut refused = None;
        for (name, value) in pairs {
            match std::str::from_utf8(value) {
                Ok(value) => text.push((name, value)),
                Err(_) => {
                    let lower = name.to_ascii_lowercase();
                    if let Some(header) = canopy_suffix(&lower).and_then(read_header_name) {
                        refused.get_or_insert(HeaderError {
                            header,
                            message: format!("{name} is not valid UTF-8"),
                        });
                    }
                }
            }
        }
        let (headers, error) = Self::from_pairs(text);
        (headers, refused.or(error))
    }
}

/// The canonical name of a Canopy header that is read into [`CallHeaders`], by the part of its
/// name after `helicone-` / `canopy-`; `None` for a header Canopy does not read.
fn read_header_name(suffix: &str) -> Option<&'static str> {
    Some(match suffix {
        "auth" => "Helicone-Auth",
        "request-id" => HEADER_REQUEST_ID,
        "session-id" => HEADER_SESSION_ID,
        "session-path" => HEADER_SESSION_PATH,
        "session-name" => "Helicone-Session-Name",
        "user-id" => "Helicone-User-Id",
        "prompt-id" => "Helicone-Prompt-Id",
        "target-url" => "Helicone-Target-Url",
        "omit-request" => "Helicone-Omit-Request",
        "omit-response" => "Helicone-Omit-Response",
        "stream-usage" => "Helicone-Stream-Usage",
        other if other.starts_with("property-") => "Helicone-Property-*",
        _ => return None,
    })
}

/// The part of a Canopy header's name after `helicone-` or `canopy-`.
pub fn canopy_suffix(name: &str) -> Option<&str> {
    name.strip_prefix("helicone-")
        .or_else(|| name.strip_prefix("canopy-"))
}

fn is_true(value: &str) -> bool {
    value.trim().eq_ignore_ascii_case("true") || value.trim() == "1"
}

/// A value cut short for an error message.
fn clip(value: &str) -> String {
    let mut out: String = value.chars().take(64).collect();
    if out.len() < value.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_session_headers_in_any_case_and_echoes_them_as_properties() {
        let h: &[(&str, &str)] = &[
            ("Helicone-Session-Id", "s-1"),
            ("helicone-session-path", "triage//classify/"),
            ("Canopy-Session-Name", "Support"),
            ("Helicone-Property-Environment", "prod"),
            ("helicone-prompt-id", "classify"),
            ("Helicone-User-Id", "u-9"),
        ];
        let (c, error) = CallHeaders::from_pairs(h.iter().copied());
        assert!(error.is_none());
        assert_eq!(c.session_id.as_deref(), Some("s-1"));
        assert_eq!(c.session_path.as_deref(), Some("/triage/classify"));
        assert_eq!(c.session_name.as_deref(), Some("Support"));
        assert_eq!(c.user_id.as_deref(), Some("u-9"));
        assert_eq!(c.properties["environment"], "prod");
        assert_eq!(c.properties[PROPERTY_SESSION_ID], "s-1");
        assert_eq!(c.properties[PROPERTY_SESSION_PATH], "/triage/classify");
        assert_eq!(c.properties[PROPERTY_SESSION_NAME], "Support");
        assert_eq!(c.properties[PROPERTY_PROMPT_ID], "classify");
    }

    #[test]
    fn values_that_are_not_utf8_are_refused_not_replaced() {
        let pairs: &[(&str, &[u8])] = &[
            ("helicone-session-id", b"s-\xff"),
            ("helicone-session-path", b"/a"),
        ];
        let (c, error) = CallHeaders::from_raw_pairs(pairs.iter().copied());
        let error = error.unwrap();
        assert_eq!(error.header, HEADER_SESSION_ID);
        assert!(error.message.contains("UTF-8"), "{}", error.message);
        assert_eq!(c.session_id, None, "never merged as U+FFFD");
        let pairs: &[(&str, &[u8])] = &[("Canopy-Session-Path", b"/\xc3")];
        let (_, error) = CallHeaders::from_raw_pairs(pairs.iter().copied());
        assert_eq!(error.unwrap().header, HEADER_SESSION_PATH);
        let pairs: &[(&str, &[u8])] = &[("x-other", b"\xff"), ("helicone-session-id", b"ok")];
        let (c, error) = CallHeaders::from_raw_pairs(pairs.iter().copied());
        assert!(error.is_none(), "only headers Canopy reads are checked");
        assert_eq!(c.session_id.as_deref(), Some("ok"));
    }

    #[test]
    fn a_session_without_a_path_sits_at_the_root() {
        let (c, _) = CallHeaders::from_pairs([("helicone-session-id", "s")]);
        assert_eq!(c.session_path.as_deref(), Some("/"));
    }

    #[test]
    fn refuses_an_invalid_request_id_but_keeps_reading_the_rest() {
        let h: &[(&str, &str)] = &[
            ("helicone-request-id", "not-a-uuid"),
            ("helicone-session-id", "s-1"),
            ("helicone-session-path", "/a"),
        ];
        let (c, error) = CallHeaders::from_pairs(h.iter().copied());
        let error = error.unwrap();
        assert_eq!(error.header, HEADER_REQUEST_ID);
        assert!(error.message.contains("not-a-uuid"));
        assert_eq!(
            c.session_id.as_deref(),
            Some("s-1"),
            "the refused call still belongs to its session"
        );
        let long = "x".repeat(MAX_SESSION_ID_BYTES + 1);
        let (c, error) = CallHeaders::from_pairs([("helicone-session-id", long.as_str())]);
        assert_eq!(error.unwrap().header, HEADER_SESSION_ID);
        assert_eq!(c.session_id, None);
        let (ok, error) = CallHeaders::from_pairs([(
            "helicone-request-id",
            "0190b7a0-6c8e-7cc0-8d5e-1c2b3a4d5e6f",
        )]);
        assert!(error.is_none() && ok.request_id.is_some());
    }

    #[test]
    fn refuses_a_label_longer_than_the_limit_and_names_it() {
        let long = "v".repeat(MAX_VALUE_BYTES + 1);
        for name in [
            "helicone-property-note",
            "helicone-user-id",
            "helicone-session-name",
        ] {
            let (c, error) =
                CallHeaders::from_pairs([(name, long.as_str()), ("helicone-session-id", "s")]);
            let error = error.unwrap();
            assert!(error.message.contains("limit is 4096"), "{}", error.message);
            assert!(!c.properties.contains_key("note") && c.user_id.is_none());
            assert_eq!(c.session_id.as_deref(), Some("s"));
        }
        let fits = "v".repeat(MAX_VALUE_BYTES);
        let (c, error) = CallHeaders::from_pairs([("helicone-property-note", fits.as_str())]);
        assert!(error.is_none());
        assert_eq!(c.properties["note"].len(), MAX_VALUE_BYTES);
    }
}
