//! The pure half of replay: how a recorded request body is changed before it is sent again.
//!
//! - [`merge_patch`]: RFC 7386 JSON merge patch.
//! - [`set_system_prompt`]: append to or replace the system prompt, in OpenAI's shape (a
//!   `system` or `developer` message) and Anthropic's (the `system` field, text or blocks).
//! - [`propagate`]: replace every assistant message whose text equals an original call's output
//!   with that call's replayed output, so a replay re-simulates the conversation instead of
//!   re-sending stale history.
//! - [`replay_path`]: whether a recorded call's path may be replayed through Canopy's own
//!   listener: only a provider route Canopy serves, never a value that names another host.
//!
//! The orchestration (reading the session, sending calls, comparing) lives in the API crate.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::extract::WireFormat;
use crate::path::{clip, is_dot_like};

/// How the system prompt changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemMode {
    /// Add the text after the existing system prompt (a blank line between).
    Append,
    /// Use the text instead of the existing system prompt.
    Replace,
}

/// Applies an RFC 7386 merge patch to `target`: objects merge, `null` removes, anything else
/// replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(object) = target {
        for (key, value) in patch {
            if value.is_null() {
                object.remove(key);
            } else {
                merge_patch(object.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// Changes the system prompt of a chat body: Anthropic's is the top-level `system` field;
/// OpenAI's (and every OpenAI-compatible API's) is the first `system` / `developer` message. A
/// body without a system prompt gets one.
pub fn set_system_prompt(body: &mut Value, format: WireFormat, mode: SystemMode, text: &str) {
    let Some(object) = body.as_object_mut() else {
        return;
    };
    if format == WireFormat::Anthropic {
        let current = object.get("system").map(text_of).unwrap_or_default();
        object.insert(
            "system".to_owned(),
            Value::String(combine(&current, mode, text)),
        );
        return;
    }
    let messages = object
        .entry("messages")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(messages) = messages else {
        return;
    };
    let position = messages
        .iter()
        .position(|m| matches!(role(m), Some("system" | "developer")));
    match position {
        Some(index) => {
            let current = messages[index]
                .get("content")
                .map(text_of)
                .unwrap_or_default();
            if let Some(message) = messages[index].as_object_mut() {
                message.insert(
                    "content".to_owned(),
                    Value::String(combine(&current, mode, text)),
                );
            }
        }
        None => {
            let mut message = Map::new();
            message.insert("role".to_owned(), Value::String("system".to_owned()));
            message.insert("content".to_owned(), Value::String(text.to_owned()));
            messages.insert(0, Value::Object(message));
        }
    }
}

fn combine(current: &str, mode: SystemMode, text: &str) -> String {
    match mode {
        SystemMode::Replace => text.to_owned(),
        SystemMode::Append if current.is_empty() => text.to_owned(),
        SystemMode::Append => format!("{current}\n\n{text}"),
    }
}

fn role(message: &Value) -> Option<&str> {
    message.get("role").and_then(Value::as_str)
}

/// The text of a message's content: a string, or the `text` of its parts joined.
pub fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// Replaces assistant messages whose text is a key of `outputs` with its value. Returns how
/// many messages were replaced.
pub fn propagate(body: &mut Value, outputs: &HashMap<String, String>) -> usize {
    let Some(Value::Array(messages)) = body.get_mut("messages") else {
        return 0;
    };
    let mut replaced = 0;
    for message in messages {
        if role(message) != Some("assistant") {
            continue;
        }
        let Some(content) = message.get("content") else {
            continue;
        };
        let text = text_of(content);
        if let Some(new) = outputs.get(&text)
            && let Some(object) = message.as_object_mut()
        {
            object.insert("content".to_owned(), Value::String(new.clone()));
            replaced += 1;
        }
    }
    replaced
}

/// Why a recorded call's path is not replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayPathError {
    /// The call was recorded without a path.
    #[error("it was recorded without a path")]
    Empty,
    /// The path does not start with `/`, so it could be read as a host or a relative URL.
    #[error("its path `{0}` does not start with `/`")]
    NotAbsolute(String),
    /// The path names a host or a scheme (`//host`, `user@host`, `http://`).
    #[error("its path `{0}` names a host or a scheme")]
    Authority(String),
    /// The path has a `.` or `..` segment, in any spelling.
    #[error("its path `{0}` has a `.` or `..` segment")]
    DotSegment(String),
    /// The path has a backslash, a query, a fragment, white space or a control character.
    #[error("its path `{0}` has a character a path to replay may not have")]
    BadCharacter(String),
    /// The first segment is not a provider route of this Canopy.
    #[error(
        "its path `{path}` is not under a provider route this Canopy serves (`/{route}` is not one)"
    )]
    NotARoute {
        /// The stored path.
        path: String,
        /// Its first segment.
        route: String,
    },
}

/// Checks a recorded call's path before it is replayed through Canopy's own listener. The
/// path must start with `/`, name no host or scheme (no `//`, `@` or `://`), have no dot
/// segment in any spelling, no backslash, query, fragment, white space or control character,
/// and its first segment must be a route `serves` accepts (`v1`, a provider's name,
/// `gateway`). Returns the path, to be set as the path of Canopy's own URL (never appended to
/// it as text).
pub fn replay_path(stored: &str, serves: impl Fn(&str) -> bool) -> Result<&str, ReplayPathError> {
    if stored.is_empty() {
        return Err(ReplayPathError::Empty);
    }
    if !stored.starts_with('/') {
        return Err(ReplayPathError::NotAbsolute(clip(stored)));
    }
    if stored.starts_with("//") || stored.contains('@') || stored.contains("://") {
        return Err(ReplayPathError::Authority(clip(stored)));
    }
    if stored
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '\\' | '?' | '#'))
    {
        return Err(ReplayPathError::BadCharacter(clip(stored)));
    }
    if stored.split('/').any(is_dot_like) {
        return Err(ReplayPathError::DotSegment(clip(stored)));
    }
    let route = stored[1..].split('/').next().unwrap_or_default();
    if !serves(route) {
        return Err(ReplayPathError::NotARoute {
            path: clip(stored),
            route: clip(route),
        });
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut target = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut target, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(target, json!({"a": "z", "c": {"d": "e"}}));
        let mut target = json!({"temperature": 1, "messages": [1]});
        merge_patch(
            &mut target,
            &json!({"temperature": 0.2, "messages": [2, 3], "top_p": 0.5}),
        );
        assert_eq!(
            target,
            json!({"temperature": 0.2, "messages": [2, 3], "top_p": 0.5})
        );
    }

    #[test]
    fn system_prompts_change_in_openai_shape() {
        let mut body = json!({"model": "m", "messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "hi"}]});
        set_system_prompt(
            &mut body,
            WireFormat::Openai,
            SystemMode::Append,
            "Be brief.",
        );
        assert_eq!(body["messages"][0]["content"], "Be kind.\n\nBe brief.");
        set_system_prompt(
            &mut body,
            WireFormat::Openai,
            SystemMode::Replace,
            "Only French.",
        );
        assert_eq!(body["messages"][0]["content"], "Only French.");
        let mut bare =
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
        set_system_prompt(&mut bare, WireFormat::Openai, SystemMode::Append, "New.");
        assert_eq!(
            bare["messages"][0],
            json!({"role": "system", "content": "New."})
        );
        assert_eq!(bare["messages"][1]["role"], "user");
    }

    #[test]
    fn system_prompts_change_in_anthropic_shape() {
        let mut body = json!({"model": "claude", "max_tokens": 10, "system": [{"type": "text", "text": "Be kind."}], "messages": []});
        set_system_prompt(
            &mut body,
            WireFormat::Anthropic,
            SystemMode::Append,
            "Be brief.",
        );
        assert_eq!(body["system"], "Be kind.\n\nBe brief.");
        let mut bare = json!({"model": "claude", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
        set_system_prompt(
            &mut bare,
            WireFormat::Anthropic,
            SystemMode::Replace,
            "New.",
        );
        assert_eq!(bare["system"], "New.");
        assert_eq!(bare["messages"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn propagation_replaces_only_matching_assistant_messages() {
        let mut body = json!({"messages": [
            {"role": "user", "content": "old answer"},
            {"role": "assistant", "content": "old answer"},
            {"role": "assistant", "content": [{"type": "text", "text": "other"}]},
            {"role": "assistant", "content": "unrelated"},
        ]});
        let outputs = HashMap::from([
            ("old answer".to_owned(), "new answer".to_owned()),
            ("other".to_owned(), "new other".to_owned()),
        ]);
        assert_eq!(propagate(&mut body, &outputs), 2);
        assert_eq!(
            body["messages"][0]["content"], "old answer",
            "user messages are left alone"
        );
        assert_eq!(body["messages"][1]["content"], "new answer");
        assert_eq!(body["messages"][2]["content"], "new other");
        assert_eq!(body["messages"][3]["content"], "unrelated");
    }

    #[test]
    fn only_provider_routes_of_this_canopy_are_replayed() {
        let serves = |route: &str| matches!(route, "v1" | "anthropic" | "gateway");
        for ok in [
            "/v1/chat/completions",
            "/anthropic/v1/messages",
            "/gateway/v1/models/x:generateContent",
        ] {
            assert_eq!(replay_path(ok, serves), Ok(ok));
        }
        let refused = |path: &str| replay_path(path, serves).unwrap_err();
        assert_eq!(refused(""), ReplayPathError::Empty);
        for (path, is) in [
            ("@127.0.0.1:9498/v1/chat/completions", "does not start"),
            (
                "https://api.openai.com/v1/chat/completions",
                "does not start",
            ),
            ("tool", "does not start"),
            ("//evil.example/v1/chat/completions", "names a host"),
            ("/v1@evil.example/chat", "names a host"),
            ("/gateway/http://evil.example/x", "names a host"),
            ("/v1/../api/v1/session/query", "`.` or `..`"),
            ("/v1/%2e%2e/api", "`.` or `..`"),
            ("/v1/%252e%252e/api", "`.` or `..`"),
            ("/v1\\..\\api", "character"),
            ("/v1/chat?x=1", "character"),
            ("/v1/chat completions", "character"),
            ("/api/v1/session/s/replay", "`/api` is not one"),
            ("/healthz", "`/healthz` is not one"),
            ("/", "`/` is not one"),
        ] {
            let message = refused(path).to_string();
            assert!(message.contains(is), "{path}: {message}");
        }
    }
}
