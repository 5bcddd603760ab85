//! Token counts for calls whose provider reported none, counted with a real tokenizer.
//!
//! Uses tiktoken's `o200k_base` vocabulary (embedded in the binary; nothing is downloaded), the
//! one current OpenAI models use. For other vendors' models the count is an estimate, and the
//! record says so (`usage_source = estimated`). Prompt tokens follow OpenAI's published rule
//! for chat: the text of every message, plus 3 tokens per message and 3 to prime the reply.
//!
//! Counting is CPU work (~33 MiB/s), and building the vocabulary's tables, on the first count,
//! takes ~0.15 s and ~17 MB. So the recorder counts on the blocking pool, never on the runtime's
//! worker, and builds the tables only once a call needs them; with durable recording, which
//! counts in place, they are built at start on a thread of their own ([`load_in_background`]).

use canopy_core::Usage;
use serde_json::Value;

/// Tokens added per message, and once per request, by the chat format.
const PER_MESSAGE: u64 = 3;

/// Estimates usage from the request body (JSON) and the generated text.
pub fn estimate(request_body: &[u8], output_text: &str) -> Usage {
    let parsed = serde_json::from_slice::<Value>(request_body).ok();
    let mut texts = Vec::new();
    let mut messages = 0;
    if let Some(Value::Object(body)) = &parsed {
        for key in ["messages", "contents"] {
            if let Some(Value::Array(items)) = body.get(key) {
                messages += items.len() as u64;
                for item in items {
                    collect_text(item, &mut texts);
                }
            }
        }
        for key in [
            "system",
            "systemInstruction",
            "instructions",
            "input",
            "prompt",
        ] {
            if let Some(value) = body.get(key) {
                collect_text(value, &mut texts);
            }
        }
    }
    let overhead = if messages > 0 {
        PER_MESSAGE * (messages + 1)
    } else {
        0
    };
    Usage {
        prompt_tokens: texts.iter().map(|t| count(t)).sum::<u64>() + overhead,
        completion_tokens: count(output_text),
        ..Usage::default()
    }
}

/// Counts the tokens of one text.
pub fn count(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    tiktoken_rs::o200k_base_singleton()
        .encode_ordinary(text)
        .len() as u64
}

/// Builds the tokenizer on a new thread, off the runtime (at once when it is built already); a
/// count asked for meanwhile waits for it. `None` when no thread could be started: the first
/// count builds it then.
pub fn load_in_background() -> Option<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("canopy-tokenizer".to_owned())
        .spawn(|| {
            tiktoken_rs::o200k_base_singleton();
        })
        .ok()
}

/// Collects the strings a model reads: bare strings, and `content` / `text` members at any depth.
fn collect_text<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(text) => out.push(text),
        Value::Array(items) => items.iter().for_each(|item| collect_text(item, out)),
        Value::Object(object) => {
            for key in ["content", "text", "parts", "input"] {
                if let Some(inner) = object.get(key) {
                    collect_text(inner, out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tokenizer_builds_on_a_thread_of_its_own() {
        let loading = load_in_background().expect("a thread starts");
        loading.join().expect("the tables build");
        assert_eq!(count("Hello world"), 2);
    }

    #[test]
    fn counts_chat_messages_with_the_format_overhead() {
        let body =
            br#"{"model":"gpt-4o","messages":[{"role":"system","content":"You are helpful."},
            {"role":"user","content":[{"type":"text","text":"Hello world"}]}]}"#;
        let usage = estimate(body, "Hi there!");
        // "You are helpful." = 4 tokens, "Hello world" = 2, plus 3 × (2 messages + 1).
        assert_eq!(usage.prompt_tokens, 4 + 2 + 9);
        assert_eq!(usage.completion_tokens, count("Hi there!"));
        assert!(usage.completion_tokens >= 3);
    }

    #[test]
    fn counts_anthropic_system_and_plain_inputs() {
        let body = br#"{"system":"Be brief.","messages":[{"role":"user","content":"Hi"}]}"#;
        assert_eq!(
            estimate(body, "").prompt_tokens,
            count("Be brief.") + count("Hi") + 6
        );
        let embed = br#"{"model":"text-embedding-3-small","input":["one two","three"]}"#;
        assert_eq!(
            estimate(embed, "").prompt_tokens,
            count("one two") + count("three")
        );
        assert_eq!(estimate(b"not json", "").prompt_tokens, 0);
    }
}
