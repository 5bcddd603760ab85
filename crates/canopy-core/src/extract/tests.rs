use super::*;
use crate::sse::{SseSplitter, parse_event};

fn observe_stream(format: WireFormat, wire: &str) -> ResponseFacts {
    let mut observer = StreamObserver::new(format);
    let mut splitter = SseSplitter::new();
    splitter.feed(wire.as_bytes(), |e| {
        observer.observe(&e.parse());
    });
    splitter.finish(|e| {
        observer.observe(&e.parse());
    });
    observer.into_facts()
}

#[test]
fn openai_chat_completion_with_cache_and_reasoning() {
    let body = br#"{"id":"x","object":"chat.completion","model":"gpt-4o-mini-2024-07-18",
        "choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"}}],
        "usage":{"prompt_tokens":120,"completion_tokens":30,"total_tokens":150,
        "prompt_tokens_details":{"cached_tokens":100,"audio_tokens":0},
        "completion_tokens_details":{"reasoning_tokens":12,"audio_tokens":0}}}"#;
    let facts = from_body(WireFormat::Openai, body);
    assert_eq!(facts.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
    assert_eq!(facts.output_text, "Hello there");
    let usage = facts.usage.unwrap();
    assert_eq!(usage.prompt_tokens, 120);
    assert_eq!(usage.completion_tokens, 30);
    assert_eq!(usage.cache_read_tokens, 100);
    assert_eq!(usage.reasoning_tokens, 12);
}

#[test]
fn openai_responses_and_embeddings_and_completions() {
    let responses = br#"{"object":"response","model":"gpt-5","output":[{"type":"message",
        "content":[{"type":"output_text","text":"Hi"}]}],"usage":{"input_tokens":10,
        "input_tokens_details":{"cached_tokens":4},"output_tokens":7,
        "output_tokens_details":{"reasoning_tokens":3},"total_tokens":17}}"#;
    let facts = from_body(WireFormat::Openai, responses);
    let usage = facts.usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (10, 7));
    assert_eq!((usage.cache_read_tokens, usage.reasoning_tokens), (4, 3));
    assert_eq!(facts.output_text, "Hi");

    let embeddings = br#"{"object":"list","data":[],"model":"text-embedding-3-small",
        "usage":{"prompt_tokens":8,"total_tokens":8}}"#;
    let usage = from_body(WireFormat::Openai, embeddings).usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (8, 0));

    let completion = br#"{"object":"text_completion","model":"gpt-3.5-turbo-instruct",
        "choices":[{"text":"done","index":0}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#;
    let facts = from_body(WireFormat::Openai, completion);
    assert_eq!(facts.output_text, "done");
    assert_eq!(facts.usage.unwrap().completion_tokens, 1);
}

#[test]
fn deepseek_cache_hits_count_as_cache_reads() {
    let body = br#"{"model":"deepseek-chat","usage":{"prompt_tokens":50,"completion_tokens":5,
        "prompt_cache_hit_tokens":40,"prompt_cache_miss_tokens":10}}"#;
    assert_eq!(
        from_body(WireFormat::Openai, body)
            .usage
            .unwrap()
            .cache_read_tokens,
        40
    );
}

#[test]
fn anthropic_message_folds_cache_into_prompt_tokens() {
    let body = br#"{"id":"msg","type":"message","model":"claude-sonnet-4-5","content":
        [{"type":"text","text":"Sure."}],"usage":{"input_tokens":20,
        "cache_creation_input_tokens":300,"cache_read_input_tokens":1000,"output_tokens":9}}"#;
    let facts = from_body(WireFormat::Anthropic, body);
    let usage = facts.usage.unwrap();
    assert_eq!(usage.prompt_tokens, 1320);
    assert_eq!(usage.cache_read_tokens, 1000);
    assert_eq!(usage.cache_write_tokens, 300);
    assert_eq!(usage.completion_tokens, 9);
    assert_eq!(facts.output_text, "Sure.");
}

#[test]
fn anthropic_one_hour_cache_writes_are_split_out() {
    let body = br#"{"model":"claude-opus-4-1","content":[],"usage":{"input_tokens":5,
        "cache_creation_input_tokens":70,"cache_read_input_tokens":0,"output_tokens":1,
        "cache_creation":{"ephemeral_5m_input_tokens":20,"ephemeral_1h_input_tokens":50}}}"#;
    let usage = from_body(WireFormat::Anthropic, body).usage.unwrap();
    assert_eq!(
        (usage.cache_write_tokens, usage.cache_write_1h_tokens),
        (20, 50)
    );
    assert_eq!(usage.prompt_tokens, 75);
}

#[test]
fn openai_stream_takes_the_usage_chunk_and_text() {
    let wire = concat!(
        "data: {\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"usage\":null}\n\n",
        "data: {\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}],\"usage\":null}\n\n",
        "data: {\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}],\"usage\":null}\n\n",
        "data: {\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":2,\"total_tokens\":13}}\n\n",
        "data: [DONE]\n\n",
    );
    let facts = observe_stream(WireFormat::Openai, wire);
    assert_eq!(facts.output_text, "Hello");
    assert_eq!(facts.model.as_deref(), Some("gpt-4o"));
    let usage = facts.usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (11, 2));
}

#[test]
fn openai_stream_without_usage_reports_none() {
    let wire = "data: {\"model\":\"gpt-4o\",\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\n";
    let facts = observe_stream(WireFormat::Openai, wire);
    assert_eq!(facts.usage, None);
    assert_eq!(facts.output_text, "a");
}

#[test]
fn responses_stream_reads_completed_event() {
    let wire = concat!(
        "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"model\":\"gpt-5\",\"usage\":null}}\n\n",
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n",
        "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"model\":\"gpt-5\",\"usage\":{\"input_tokens\":9,\"output_tokens\":4,\"total_tokens\":13}}}\n\n",
    );
    let facts = observe_stream(WireFormat::Openai, wire);
    assert_eq!(facts.output_text, "Hi");
    assert_eq!(facts.model.as_deref(), Some("gpt-5"));
    assert_eq!(facts.usage.unwrap().prompt_tokens, 9);
}

#[test]
fn anthropic_stream_combines_start_and_delta_usage() {
    let wire = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"claude-haiku-4-5\",\"content\":[],\"usage\":{\"input_tokens\":25,\"cache_read_input_tokens\":100,\"cache_creation_input_tokens\":0,\"output_tokens\":1}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Yes\"}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":15}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let facts = observe_stream(WireFormat::Anthropic, wire);
    let usage = facts.usage.unwrap();
    assert_eq!(usage.prompt_tokens, 125);
    assert_eq!(usage.cache_read_tokens, 100);
    assert_eq!(usage.completion_tokens, 15);
    assert_eq!(facts.output_text, "Yes");
    assert_eq!(facts.model.as_deref(), Some("claude-haiku-4-5"));
}

#[test]
fn gemini_counts_thoughts_as_reasoning_output() {
    let body =
        br#"{"candidates":[{"content":{"parts":[{"text":"ok"}]}}],"modelVersion":"gemini-2.5-pro",
        "usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"thoughtsTokenCount":20,
        "cachedContentTokenCount":4,"totalTokenCount":35}}"#;
    let facts = from_body(WireFormat::Gemini, body);
    let usage = facts.usage.unwrap();
    assert_eq!((usage.completion_tokens, usage.reasoning_tokens), (25, 20));
    assert_eq!(usage.cache_read_tokens, 4);
    assert_eq!(facts.model.as_deref(), Some("gemini-2.5-pro"));
}

#[test]
fn garbage_gives_no_facts() {
    assert_eq!(
        from_body(WireFormat::Openai, b"<html>502</html>"),
        ResponseFacts::default()
    );
    assert_eq!(
        observe_stream(WireFormat::Anthropic, "data: nope\n\n"),
        ResponseFacts::default()
    );
}

#[test]
fn recognises_only_the_usage_only_chunk() {
    let usage_only = |data: &str| {
        let wire = format!("data: {data}\n\n");
        StreamObserver::new(WireFormat::Openai).observe(&parse_event(wire.as_bytes()))
    };
    assert!(usage_only(r#"{"choices":[],"usage":{"prompt_tokens":1}}"#));
    assert!(!usage_only(r#"{"choices":[{"delta":{}}],"usage":null}"#));
    assert!(!usage_only(r#"{"choices":[],"usage":null}"#));
    assert!(!usage_only(r#"{"usage":{"prompt_tokens":1}}"#));
    assert!(!usage_only("[DONE]"));
    assert_eq!(parse_event(b"data: [DONE]\n\n").data, "[DONE]");
}

#[test]
fn output_text_is_capped_on_a_char_boundary() {
    let mut out = String::new();
    push_capped(&mut out, &"é".repeat(MAX_OUTPUT_TEXT));
    assert!(out.len() <= MAX_OUTPUT_TEXT);
    assert!(out.is_char_boundary(out.len()));
}

#[test]
fn stream_text_with_escapes_is_read_whole() {
    let wire = concat!(
        r#"data: {"model":"gpt-4o","choices":[{"delta":{"content":"say \"hi\"\n"}}]}"#,
        "\n\n",
        r#"data: {"choices":[{"delta":{"content":"caf\u00e9"}}]}"#,
        "\n\n",
    );
    let facts = observe_stream(WireFormat::Openai, wire);
    assert_eq!(facts.output_text, "say \"hi\"\ncafé");
    assert_eq!(facts.model.as_deref(), Some("gpt-4o"));
}

const ANTHROPIC_STREAM: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9}}\n\n";

#[test]
fn an_anthropic_stream_read_as_openai_is_read_as_anthropic_and_flagged() {
    let facts = observe_stream(WireFormat::Openai, ANTHROPIC_STREAM);
    assert_eq!(facts.format_mismatch, Some(WireFormat::Anthropic));
    let usage = facts.usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (25, 9));
    assert_eq!(facts.model.as_deref(), Some("claude-sonnet-4-5"));
    assert_eq!(facts.output_text, "Hi");
    assert_eq!(
        observe_stream(WireFormat::Anthropic, ANTHROPIC_STREAM).format_mismatch,
        None
    );
}

#[test]
fn an_openai_stream_read_as_anthropic_is_flagged() {
    let wire = "data: {\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"delta\":{\"content\":\"Yo\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
    let facts = observe_stream(WireFormat::Anthropic, wire);
    assert_eq!(facts.format_mismatch, Some(WireFormat::Openai));
    assert_eq!(facts.usage.unwrap().prompt_tokens, 4);
    assert_eq!(
        observe_stream(WireFormat::Openai, wire).format_mismatch,
        None
    );
}

#[test]
fn usage_from_body_reads_the_text_only_when_no_usage_is_reported() {
    let reported = [
        (
            WireFormat::Openai,
            &br#"{"model":"gpt-4o","choices":[{"message":{"content":"Hi"}}],
            "usage":{"prompt_tokens":5,"completion_tokens":1}}"#[..],
        ),
        (
            WireFormat::Anthropic,
            br#"{"type":"message","model":"claude-haiku-4-5","content":[{"type":"text","text":"Hi"}],
            "usage":{"input_tokens":5,"output_tokens":1}}"#,
        ),
    ];
    for (format, body) in reported {
        let all = from_body(format, body);
        let usage_only = usage_from_body(format, body);
        assert_eq!(all.output_text, "Hi");
        assert_eq!(usage_only.output_text, "", "{format:?}");
        assert_eq!((usage_only.usage, usage_only.model), (all.usage, all.model));
    }
    let unreported = [
        (
            WireFormat::Openai,
            &br#"{"model":"gpt-4o","choices":[{"message":{"content":"Hi"}}]}"#[..],
        ),
        (
            WireFormat::Openai,
            br#"{"object":"response","output":[{"content":[{"text":"Hi"}]}]}"#,
        ),
        (
            WireFormat::Anthropic,
            br#"{"type":"message","content":[{"type":"text","text":"Hi"}]}"#,
        ),
    ];
    for (format, body) in unreported {
        let facts = usage_from_body(format, body);
        assert_eq!((facts.usage, facts.output_text.as_str()), (None, "Hi"));
    }
    // A body in another format is still read in its own, its usage included.
    let anthropic = br#"{"type":"message","content":[],"usage":{"input_tokens":7}}"#;
    let facts = usage_from_body(WireFormat::Openai, anthropic);
    assert_eq!(facts.format_mismatch, Some(WireFormat::Anthropic));
    assert_eq!(facts.usage.unwrap().prompt_tokens, 7);
}

#[test]
fn whole_bodies_in_the_wrong_format_are_read_in_their_own() {
    let anthropic =
        br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-haiku-4-5",
        "content":[{"type":"text","text":"ok"}],"usage":{"input_tokens":10,
        "cache_read_input_tokens":90,"output_tokens":3}}"#;
    let facts = from_body(WireFormat::Openai, anthropic);
    assert_eq!(facts.format_mismatch, Some(WireFormat::Anthropic));
    assert_eq!(
        facts.usage.unwrap().prompt_tokens,
        100,
        "cache reads folded in"
    );
    let openai =
        br#"{"object":"chat.completion","model":"gpt-4o","choices":[{"message":{"content":"x"}}],
        "usage":{"prompt_tokens":5,"completion_tokens":1}}"#;
    let facts = from_body(WireFormat::Anthropic, openai);
    assert_eq!(facts.format_mismatch, Some(WireFormat::Openai));
    assert_eq!(facts.usage.unwrap().prompt_tokens, 5);
    assert_eq!(from_body(WireFormat::Openai, openai).format_mismatch, None);
}

#[test]
fn logged_text_bodies_are_read_as_json_lines_sse_or_one_body() {
    let lines = "{\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"delta\":{\"content\":\"He\"}}]}\n\
                 {\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"delta\":{\"content\":\"y\"}}]}\n\
                 {\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":2}}\n";
    let facts = from_logged_text(WireFormat::Openai, lines);
    assert_eq!(facts.usage.unwrap().prompt_tokens, 11);
    assert_eq!(facts.output_text, "Hey");
    assert_eq!(facts.model.as_deref(), Some("gpt-4o"));

    let facts = from_logged_text(WireFormat::Anthropic, ANTHROPIC_STREAM);
    assert_eq!(facts.usage.unwrap().completion_tokens, 9);

    let whole = r#"{"model":"gpt-4o","choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#;
    assert_eq!(
        from_logged_text(WireFormat::Openai, whole)
            .usage
            .unwrap()
            .prompt_tokens,
        3
    );
    assert_eq!(from_logged_text(WireFormat::Openai, "").usage, None);
}

#[test]
fn a_stream_has_ended_only_once_its_last_event_has_passed() {
    let ended_after = |format: WireFormat, events: &[&str]| {
        let mut observer = StreamObserver::new(format);
        let mut splitter = SseSplitter::new();
        for event in events {
            assert!(!observer.ended(), "ended before {event:?}");
            splitter.feed(event.as_bytes(), |e| {
                observer.observe(&e.parse());
            });
        }
        observer.ended()
    };
    let chat = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n";
    assert!(ended_after(WireFormat::Openai, &[chat, "data: [DONE]\n\n"]));
    assert!(!ended_after(WireFormat::Openai, &[chat, chat]));
    let delta = "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":3}}\n\n";
    let stop = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    assert!(ended_after(WireFormat::Anthropic, &[delta, stop]));
    assert!(!ended_after(WireFormat::Anthropic, &[delta]));
    // Without the `event:` line the data's type says it, even read in the wrong format.
    let bare_stop = "data: {\"type\":\"message_stop\"}\n\n";
    assert!(ended_after(WireFormat::Anthropic, &[delta, bare_stop]));
    assert!(ended_after(WireFormat::Openai, &[delta, bare_stop]));
    let created = "event: response.created\ndata: {\"type\":\"response.created\"}\n\n";
    let completed = "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":4}}}\n\n";
    assert!(ended_after(WireFormat::Openai, &[created, completed]));
    assert!(!ended_after(WireFormat::Openai, &[created]));
}
