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

/// The most prompt text counted token by token for one call (~30 ms of CPU). A longer prompt,
/// up to the request body limit, is counted this far and the rest extrapolated at the rate the
/// counted part had, so no caller can buy seconds of CPU with one call.
const EXACT_BYTES: usize = 1 << 20;

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
        prompt_tokens: count_texts(&texts) + overhead,
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

/// Counts the tokens of all `texts`: exactly up to [`EXACT_BYTES`], extrapolated beyond.
fn count_texts(texts: &[&str]) -> u64 {
    let total: usize = texts.iter().map(|t| t.len()).sum();
    if total <= EXACT_BYTES {
        return texts.iter().map(|t| count(t)).sum();
    }
    let (mut tokens, mut counted) = (0u64, 0usize);
    for text in texts {
        let part = &text[..text.floor_char_boundary(EXACT_BYTES - counted)];
        tokens += count(part);
        counted += part.len();
        if counted >= EXACT_BYTES {
            break;
        }
    }
    let scaled = u128::from(tokens) * total as u128 / counted.max(1) as u128;
    u64::try_from(scaled).unwrap_or(u64::MAX)
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
    fn a_prompt_past_the_exact_limit_is_counted_in_part_and_extrapolated() {
        let words = "The quick brown fox jumps over the lazy dog. ".repeat(EXACT_BYTES / 45 + 1);
        let counted = &words[..EXACT_BYTES];
        // Digits tokenize at another rate than words: the extrapolation shows.
        let prompt = format!("{counted}{}", "1234567890".repeat(EXACT_BYTES / 5));
        let body = serde_json::json!({"messages": [{"role": "user", "content": prompt}]});
        let expected = count(counted) * prompt.len() as u64 / EXACT_BYTES as u64;
        assert_eq!(
            estimate(body.to_string().as_bytes(), "").prompt_tokens,
            expected + 2 * PER_MESSAGE
        );
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
