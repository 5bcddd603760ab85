use serde_json::{Map, Value, json};

use super::*;

fn attrs(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

#[test]
fn reads_the_kind_from_either_vocabulary() {
    assert_eq!(
        kind(&attrs(&[("openinference.span.kind", json!("LLM"))])),
        Some(CallKind::Llm)
    );
    assert_eq!(
        kind(&attrs(&[("openinference.span.kind", json!("RETRIEVER"))])),
        Some(CallKind::VectorDb)
    );
    assert_eq!(
        kind(&attrs(&[("openinference.span.kind", json!("CHAIN"))])),
        None
    );
    assert_eq!(
        kind(&attrs(&[("gen_ai.operation.name", json!("execute_tool"))])),
        Some(CallKind::Tool)
    );
    assert_eq!(
        kind(&attrs(&[("llm.request.type", json!("chat"))])),
        Some(CallKind::Llm)
    );
    assert_eq!(
        kind(&attrs(&[("traceloop.span.kind", json!("workflow"))])),
        None
    );
    assert_eq!(
        kind(&attrs(&[("db.system", json!("qdrant"))])),
        Some(CallKind::VectorDb)
    );
    assert_eq!(kind(&attrs(&[("http.method", json!("GET"))])), None);
}

#[test]
fn reads_the_session_id_under_any_of_its_names_and_spellings() {
    for key in [
        "session.id",
        "gen_ai.conversation.id",
        "langfuse.session.id",
        "Helicone-Session-Id",
        "helicone.session.id",
        "traceloop.association.properties.session_id",
    ] {
        let own = own_session(&attrs(&[(key, json!("s-1"))]));
        assert_eq!(own.id.as_deref(), Some("s-1"), "{key}");
    }
    assert_eq!(
        own_session(&attrs(&[("session.id", json!("x".repeat(300)))])).id,
        None
    );
}

#[test]
fn usage_keeps_cached_tokens_inside_the_prompt_total() {
    let found = usage(&attrs(&[
        ("llm.token_count.prompt", json!(100)),
        ("llm.token_count.completion", json!(20)),
        ("llm.token_count.prompt_details.cache_read", json!(60)),
    ]))
    .unwrap();
    assert_eq!(
        (
            found.prompt_tokens,
            found.completion_tokens,
            found.cache_read_tokens
        ),
        (100, 20, 60)
    );
    let anthropic_style = usage_of(&[
        ("gen_ai.usage.input_tokens", json!(10)),
        ("gen_ai.usage.cache_read_input_tokens", json!(50)),
    ]);
    assert_eq!(anthropic_style.prompt_tokens, 50);
    assert!(usage(&attrs(&[("gen_ai.system", json!("openai"))])).is_none());
}

fn usage_of(pairs: &[(&str, Value)]) -> Usage {
    usage(&attrs(pairs)).unwrap()
}

#[test]
fn indexed_prompt_attributes_become_messages_in_order() {
    let a = attrs(&[
        ("gen_ai.prompt.1.role", json!("user")),
        ("gen_ai.prompt.1.content", json!("second")),
        ("gen_ai.prompt.0.role", json!("system")),
        ("gen_ai.prompt.0.content", json!("first")),
    ]);
    let messages = indexed_messages(&a, "gen_ai.prompt.", "");
    assert_eq!(messages[0]["content"], "first");
    assert_eq!(messages[1]["role"], "user");
}

#[test]
fn a_spans_record_id_is_stable_and_time_ordered() {
    let mut span = SpanIn {
        trace_id: [1; 16],
        span_id: [2; 8],
        parent: None,
        name: "s".into(),
        start_ns: 1_700_000_000_000_000_000,
        end_ns: 1_700_000_000_000_000_000,
        error: None,
        attrs: Map::new(),
        events: Vec::new(),
        bytes: 0,
    };
    let a = record_id(&span);
    assert_eq!(a, record_id(&span));
    assert_eq!(a.0.get_version_num(), 7);
    span.start_ns += 1_000_000_000;
    assert!(record_id(&span) > a);
}
