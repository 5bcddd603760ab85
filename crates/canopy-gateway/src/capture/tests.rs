//! The capture driven directly: chunks in, bytes out, one record handed over. No server.
#![expect(
    clippy::disallowed_methods,
    reason = "test code: a spawned task ends with the test's runtime"
)]

use std::time::Instant;

use canopy_core::record::STATUS_CLIENT_CANCELLED;
use canopy_core::{CallRecord, UsageSource};
use futures_util::StreamExt;
use http_body_util::BodyExt;

use super::*;
use crate::recorder::tests::{chat_record, recorder, settled};

const OPENAI_STREAM: &[&str] = &[
    "data: {\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"delta\":{\"content\":\"Hello\"}}],\"usage\":null}\n\n",
    "data: {\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"delta\":{\"content\":\" world\"}}],\"usage\":null}\n\n",
    "data: {\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":2}}\n\n",
    "data: [DONE]\n\n",
];

fn stream_options(hide: bool) -> CaptureOptions {
    CaptureOptions {
        format: WireFormat::Openai,
        is_stream: true,
        hide_usage_chunk: hide,
        omit_response: false,
        keep_for_cache: None,
    }
}

fn chunks(parts: &[&'static str]) -> UpstreamStream {
    let items: Vec<Result<Bytes, String>> = parts
        .iter()
        .map(|p| Ok(Bytes::from_static(p.as_bytes())))
        .collect();
    Box::pin(futures_util::stream::iter(items))
}

#[tokio::test]
async fn a_whole_stream_reaches_the_client_and_its_usage_the_record() {
    let (recorder, sink) = recorder(1 << 20);
    let guard = recorder.accept(chat_record("gpt-4o-mini"), Instant::now());
    let body = CaptureBody::from_stream(
        chunks(OPENAI_STREAM),
        None,
        Capture::new(guard, stream_options(false)),
    );
    let got = body.collect().await.unwrap().to_bytes();
    assert_eq!(got, OPENAI_STREAM.concat().as_bytes());
    let records = settled(&recorder, &sink).await;
    assert_eq!(records.len(), 1);
    let call = &records[0];
    assert_eq!(call.usage_source, UsageSource::Reported);
    assert_eq!(call.usage.prompt_tokens, 12);
    assert!(call.time_to_first_token_ms.is_some());
    assert!(call.cost_nano_usd.unwrap() > 0);
}

#[tokio::test]
async fn the_usage_chunk_canopy_asked_for_is_hidden_from_the_client() {
    let (recorder, sink) = recorder(1 << 20);
    let guard = recorder.accept(chat_record("gpt-4o-mini"), Instant::now());
    let body = CaptureBody::from_stream(
        chunks(OPENAI_STREAM),
        None,
        Capture::new(guard, stream_options(true)),
    );
    let got = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(!got.contains("\"usage\""), "{got}");
    assert!(got.contains("Hello") && got.ends_with("data: [DONE]\n\n"));
    assert_eq!(
        settled(&recorder, &sink).await[0].usage.completion_tokens,
        2
    );
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_gets_the_estimate_when_no_usage_came() {
    let (recorder, sink) = recorder(1 << 20);
    let mut guard = recorder.accept(chat_record("gpt-4o-mini"), Instant::now());
    guard.keep_request_body(
        Bytes::from_static(br#"{"messages":[{"role":"user","content":"Tell me a long story"}]}"#),
        None,
    );
    guard.sending_upstream();
    // Two chunks, then the upstream goes quiet and the client leaves.
    let first = futures_util::stream::iter(
        OPENAI_STREAM[..2]
            .iter()
            .map(|p| Ok::<_, String>(Bytes::from_static(p.as_bytes()))),
    );
    let upstream: UpstreamStream = Box::pin(first.chain(futures_util::stream::pending()));
    let mut body =
        CaptureBody::from_stream(upstream, None, Capture::new(guard, stream_options(false)));
    for _ in 0..2 {
        let frame = body.frame().await.unwrap().unwrap();
        assert!(frame.is_data());
    }
    drop(body);
    let call = settled(&recorder, &sink).await.pop().unwrap();
    assert_eq!(call.status, STATUS_CLIENT_CANCELLED);
    assert_eq!(call.usage_source, UsageSource::Estimated);
    assert!(call.usage.prompt_tokens > 0);
    assert_eq!(
        call.usage.completion_tokens,
        crate::estimate::count("Hello world")
    );
    assert!(call.cost_nano_usd.unwrap() > 0);
    assert!(call.response_body.text.unwrap().contains("Hello"));
}

#[tokio::test]
async fn anthropic_usage_seen_before_the_client_left_is_kept_as_reported() {
    let (recorder, sink) = recorder(1 << 20);
    let mut guard = recorder.accept(chat_record("claude-sonnet-4-5"), Instant::now());
    guard.record().provider = "anthropic".to_owned();
    guard.sending_upstream();
    let start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":30,\"output_tokens\":1}}}\n\n";
    let upstream: UpstreamStream = Box::pin(
        futures_util::stream::iter([Ok::<_, String>(Bytes::from_static(start.as_bytes()))])
            .chain(futures_util::stream::pending()),
    );
    let options = CaptureOptions {
        format: WireFormat::Anthropic,
        ..stream_options(false)
    };
    let mut body = CaptureBody::from_stream(upstream, None, Capture::new(guard, options));
    body.frame().await.unwrap().unwrap();
    drop(body);
    let call = settled(&recorder, &sink).await.pop().unwrap();
    assert_eq!(call.usage_source, UsageSource::Reported);
    assert_eq!(call.usage.prompt_tokens, 30);
}

/// Hands the client every event, then keeps the upstream body open, as if its end were
/// still on the wire, and drops the body as a client that closes on the last event does.
async fn drop_after_every_event(format: WireFormat, events: &[&'static str]) -> CallRecord {
    let (recorder, sink) = recorder(1 << 20);
    let mut guard = recorder.accept(chat_record("gpt-4o-mini"), Instant::now());
    guard.sending_upstream();
    let upstream: UpstreamStream = Box::pin(chunks(events).chain(futures_util::stream::pending()));
    let options = CaptureOptions {
        format,
        ..stream_options(false)
    };
    let mut body = CaptureBody::from_stream(upstream, None, Capture::new(guard, options));
    for _ in events {
        assert!(body.frame().await.unwrap().unwrap().is_data());
    }
    drop(body);
    let mut records = settled(&recorder, &sink).await;
    assert_eq!(records.len(), 1);
    records.pop().unwrap()
}

#[tokio::test]
async fn a_client_that_leaves_right_after_the_last_event_got_the_whole_answer() {
    let call = drop_after_every_event(WireFormat::Openai, OPENAI_STREAM).await;
    assert_eq!(call.status, 200);
    assert!(!call.is_error(), "{:?}", call.error);
    assert_eq!(call.usage_source, UsageSource::Reported);
    assert_eq!(call.usage.completion_tokens, 2);

    let anthropic = [
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":30,\"output_tokens\":1}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":7}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    ];
    let call = drop_after_every_event(WireFormat::Anthropic, &anthropic).await;
    assert_eq!(call.status, 200);
    assert!(!call.is_error(), "{:?}", call.error);
    assert_eq!(call.usage.completion_tokens, 7);

    // One event short of the end, the same drop is a client that left.
    let call = drop_after_every_event(WireFormat::Anthropic, &anthropic[..3]).await;
    assert_eq!(call.status, STATUS_CLIENT_CANCELLED);
}

#[tokio::test]
async fn an_upstream_failure_mid_body_is_an_error_with_the_usage_estimated() {
    let (recorder, sink) = recorder(1 << 20);
    let mut guard = recorder.accept(chat_record("gpt-4o-mini"), Instant::now());
    guard.sending_upstream();
    let items = vec![
        Ok(Bytes::from_static(OPENAI_STREAM[0].as_bytes())),
        Err("connection reset by http://127.0.0.1:1/v1?api_key=SECRET".to_owned()),
    ];
    let body = CaptureBody::from_stream(
        Box::pin(futures_util::stream::iter(items)),
        None,
        Capture::new(guard, stream_options(false)),
    );
    assert!(body.collect().await.is_err());
    let call = settled(&recorder, &sink).await.pop().unwrap();
    assert_eq!(call.status, 200);
    assert!(call.is_error(), "a broken body counts as an error");
    let error = call.error.unwrap();
    assert!(
        error.contains("upstream body failed") && !error.contains("SECRET"),
        "{error}"
    );
    assert_eq!(call.usage_source, UsageSource::Estimated);
}

#[tokio::test]
async fn shutdown_cuts_a_stalled_stream_and_records_it() {
    let (recorder, sink) = recorder(1 << 20);
    let guard = recorder.accept(chat_record("gpt-4o-mini"), Instant::now());
    let upstream: UpstreamStream = Box::pin(
        futures_util::stream::iter([Ok::<_, String>(Bytes::from_static(
            OPENAI_STREAM[0].as_bytes(),
        ))])
        .chain(futures_util::stream::pending()),
    );
    let mut body =
        CaptureBody::from_stream(upstream, None, Capture::new(guard, stream_options(false)));
    body.frame().await.unwrap().unwrap();
    let waiting = tokio::spawn(async move { body.frame().await.map(|f| f.is_err()) });
    tokio::task::yield_now().await;
    recorder.cut();
    assert_eq!(
        waiting.await.unwrap(),
        Some(true),
        "the client sees a cut stream"
    );
    assert_eq!(
        recorder.wait_idle(std::time::Duration::from_secs(5)).await,
        0
    );
    let call = sink.taken().pop().unwrap();
    assert_eq!(call.status, STATUS_CLIENT_CANCELLED);
    assert!(call.error.unwrap().contains("shut down"));
}

const PLAIN_ANSWER: &str =
    r#"{"model":"gpt-4o-mini","usage":{"prompt_tokens":3,"completion_tokens":1}}"#;

/// A plain answer in one chunk, with its length declared as an upstream declares it.
fn plain_answer_body(guard: CallGuard) -> CaptureBody {
    let options = CaptureOptions {
        is_stream: false,
        ..stream_options(false)
    };
    CaptureBody::from_stream(
        chunks(&[PLAIN_ANSWER]),
        Some(PLAIN_ANSWER.len() as u64),
        Capture::new(guard, options),
    )
}

#[tokio::test]
async fn a_declared_length_body_is_recorded_once_and_kept_up_to_the_limit() {
    let (recorder, sink) = recorder(10);
    let guard = recorder.accept(chat_record("gpt-4o-mini"), Instant::now());
    let body = plain_answer_body(guard);
    assert_eq!(body.size_hint().exact(), Some(PLAIN_ANSWER.len() as u64));
    let got = body.collect().await.unwrap().to_bytes();
    assert_eq!(got.len(), PLAIN_ANSWER.len());
    let records = settled(&recorder, &sink).await;
    assert_eq!(records.len(), 1);
    let stored = &records[0].response_body;
    assert!(stored.truncated);
    assert_eq!(stored.text.as_deref(), Some(&PLAIN_ANSWER[..10]));
}

#[tokio::test]
async fn a_body_read_to_its_end_is_recorded_after_the_task_that_dropped_it_yields() {
    let (recorder, sink) = recorder(1 << 20);
    let body = plain_answer_body(recorder.accept(chat_record("gpt-4o-mini"), Instant::now()));
    // Hyper drops the body before it flushes the last bytes: the record is not completed on
    // that path, but as soon as the connection's task yields.
    body.collect().await.unwrap();
    assert!(sink.taken().is_empty(), "completed before the task yielded");
    tokio::task::yield_now().await;
    let records = sink.taken();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].usage.prompt_tokens, 3);
    assert_eq!(recorder.in_flight(), 0);
}

#[tokio::test]
async fn an_event_too_long_to_hold_reaches_the_client_as_it_arrives() {
    use futures_util::FutureExt;

    let (recorder, sink) = recorder(1 << 20);
    let guard = recorder.accept(chat_record("gpt-4o-mini"), Instant::now());
    let (upstream, rx) = tokio::sync::mpsc::unbounded_channel::<Result<Bytes, String>>();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let mut body = CaptureBody::from_stream(
        Box::pin(stream),
        None,
        Capture::new(guard, stream_options(true)),
    );
    let send = |bytes: Bytes| upstream.send(Ok(bytes)).unwrap();
    let first = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n";
    send(Bytes::from_static(first.as_bytes()));
    send(Bytes::from_static(b"data: {\"image\":\""));
    let mebibyte = Bytes::from(vec![b'x'; 1 << 20]);
    let mebibytes = canopy_core::sse::MAX_EVENT / (1 << 20) + 8;
    for _ in 0..mebibytes {
        send(mebibyte.clone());
    }
    // Everything sent so far is ready: the client gets the long event's bytes without waiting
    // for its end, which has not been sent.
    let mut got = Vec::new();
    while let Some(Some(frame)) = body.frame().now_or_never() {
        got.extend_from_slice(&frame.unwrap().into_data().unwrap());
    }
    assert!(got.len() > mebibytes << 20, "{} bytes out", got.len());

    let (usage, done) = (OPENAI_STREAM[2], OPENAI_STREAM[3]);
    for rest in ["\"}\n\n", usage, done] {
        send(Bytes::from_static(rest.as_bytes()));
    }
    drop(upstream);
    got.extend_from_slice(&body.collect().await.unwrap().to_bytes());
    let mut want = [first.as_bytes(), b"data: {\"image\":\""].concat();
    for _ in 0..mebibytes {
        want.extend_from_slice(&mebibyte);
    }
    want.extend_from_slice(b"\"}\n\n");
    want.extend_from_slice(done.as_bytes());
    assert!(
        got == want,
        "the client got {} bytes, not the {} sent",
        got.len(),
        want.len()
    );
    // Past the long event, events are read again: the usage chunk was hidden and recorded.
    let call = settled(&recorder, &sink).await.pop().unwrap();
    assert_eq!(call.usage_source, UsageSource::Reported);
    assert_eq!(call.usage.completion_tokens, 2);
}
