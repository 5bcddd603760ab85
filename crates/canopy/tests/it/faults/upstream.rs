//! Upstream faults the other modules leave out: a connection reset before the response head,
//! 5xx answers, a slow answer inside the timeout, and a stream that stalls past the idle
//! timeout, each answered (or passed through) and recorded exactly once; and the idle
//! connections a burst leaves behind.

use std::time::Duration;

use canopy_core::extract::WireFormat;
use canopy_core::record::STATUS_UPSTREAM_UNREACHABLE;
use canopy_gateway::Provider;
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::AsyncReadExt;

use super::{session_calls, still_serves};
use crate::harness::{TestApp, chat, helicone_id};

/// An upstream that reads each request and then resets the connection without answering.
async fn resetting_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = vec![0; 64 * 1024];
            let _ = stream.read(&mut buffer).await;
            let _ = stream.set_zero_linger();
            drop(stream);
        }
    });
    url
}

#[tokio::test]
async fn an_upstream_that_resets_the_connection_is_a_502_recorded_once_as_minus_one() {
    let reset = resetting_upstream().await;
    let app = super::spawn_with(|s| {
        s.providers.push(Provider {
            name: "reset".into(),
            base_url: url::Url::parse(&reset).unwrap(),
            format: WireFormat::Openai,
            http2_prior_knowledge: false,
        });
    })
    .await;
    let response = app
        .client
        .post(format!("{}/reset/v1/chat/completions", app.url))
        .header("Helicone-Session-Id", "reset")
        .json(&chat("gpt-4o-mini", false, "hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let id = helicone_id(&response);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"].is_string(),
        "OpenAI's shape: {body}"
    );
    app.wait_written(1).await;
    let calls = session_calls(&app, "reset").await;
    assert_eq!(calls.len(), 1, "exactly one record");
    assert_eq!(calls[0].id.to_string(), id);
    assert_eq!(calls[0].status, STATUS_UPSTREAM_UNREACHABLE);
    assert!(calls[0].error.as_deref().unwrap().contains("cannot reach"));
    assert_eq!(app.session("reset").await.error_count, 1);
    still_serves(&app).await;
}

#[tokio::test]
async fn upstream_5xx_answers_pass_through_and_are_recorded_once_with_their_status() {
    let app = super::spawn().await;
    let mut expected = Vec::new();
    for (path, status, body) in [
        (
            "/v1/chat/completions",
            500,
            chat("gpt-4o-mini", false, "hi"),
        ),
        (
            "/openai/v1/chat/completions",
            503,
            chat("gpt-4o-mini", false, "hi"),
        ),
        (
            "/anthropic/v1/messages",
            529,
            json!({"model": "claude-haiku-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}),
        ),
    ] {
        let response = app
            .client
            .post(format!("{}{path}", app.url))
            .header("x-mock-status", status.to_string())
            .header("Helicone-Session-Id", "upstream-5xx")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
        let id = helicone_id(&response);
        let answer: serde_json::Value = response.json().await.unwrap();
        if path.starts_with("/anthropic") {
            assert_eq!(answer["type"], "error", "{answer}");
        } else {
            assert!(answer["error"]["message"].is_string(), "{answer}");
        }
        expected.push((id, status));
    }
    app.wait_written(3).await;
    let calls = session_calls(&app, "upstream-5xx").await;
    assert_eq!(calls.len(), 3, "one record per call");
    for (id, status) in expected {
        let call = calls.iter().find(|c| c.id.to_string() == id).unwrap();
        assert_eq!(call.status, i32::from(status));
        assert!(call.error.is_some(), "the upstream's error text is kept");
    }
    assert_eq!(app.session("upstream-5xx").await.error_count, 3);
    still_serves(&app).await;
}

#[tokio::test]
async fn a_slow_upstream_inside_the_timeout_is_answered_and_its_latency_recorded() {
    let app = super::spawn_with(|s| s.gateway.upstream_timeout = Duration::from_secs(5)).await;
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("x-mock-latency-ms", "400")
        .header("Helicone-Session-Id", "slow")
        .json(&chat("gpt-4o-mini", false, "take your time"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let plain = helicone_id(&response);
    let _ = response.bytes().await.unwrap();
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("x-mock-latency-ms", "400")
        .header("x-mock-chunk-delay-ms", "30")
        .header("Helicone-Session-Id", "slow")
        .json(&chat("gpt-4o-mini", true, "stream slowly"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let streamed = helicone_id(&response);
    let text = response.text().await.unwrap();
    assert!(text.contains("[DONE]"), "the whole stream arrived");
    app.wait_written(2).await;
    let calls = session_calls(&app, "slow").await;
    assert_eq!(calls.len(), 2);
    let call = app.call(&plain).await;
    assert_eq!(call.status, 200);
    assert!(call.latency_ms.unwrap() >= 400, "{:?}", call.latency_ms);
    let call = app.call(&streamed).await;
    assert_eq!(call.status, 200);
    let ttft = call.time_to_first_token_ms.unwrap();
    assert!(ttft >= 400, "time to first token {ttft}");
    assert!(call.latency_ms.unwrap() >= ttft);
    assert_eq!(app.session("slow").await.error_count, 0);
}

/// A streamed call through a gateway whose upstream idle timeout is 300 ms, to a mock that
/// waits `gap_ms` between events; returns once the response head is in.
async fn stream_under_an_idle_limit(
    gap_ms: u64,
    session: &str,
) -> (TestApp, reqwest::Response, tokio::time::Instant) {
    let app = super::spawn_with(|s| {
        s.gateway.upstream_idle_timeout = Duration::from_millis(300);
    })
    .await;
    let started = tokio::time::Instant::now();
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("x-mock-chunk-delay-ms", gap_ms.to_string())
        .header("Helicone-Session-Id", session)
        .json(&chat("gpt-4o-mini", true, "one event at a time"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    (app, response, started)
}

#[tokio::test]
async fn a_stream_stalled_past_the_idle_timeout_is_cut_and_recorded_once_as_an_error() {
    let (app, response, started) = stream_under_an_idle_limit(5000, "stalled").await;
    let mut stream = response.bytes_stream();
    let mut failed = false;
    while let Some(chunk) = stream.next().await {
        if chunk.is_err() {
            failed = true;
            break;
        }
    }
    assert!(
        failed,
        "the client sees the stream broken, not ended cleanly"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "cut by the idle timeout, not by the upstream: {:?}",
        started.elapsed()
    );
    app.wait_written(1).await;
    let calls = session_calls(&app, "stalled").await;
    assert_eq!(calls.len(), 1, "exactly one record");
    let error = calls[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("upstream body failed"), "{error}");
    assert_eq!(app.session("stalled").await.error_count, 1);
    still_serves(&app).await;
}

#[tokio::test]
async fn a_stream_slower_in_total_than_the_idle_timeout_but_never_idle_that_long_completes() {
    // Events come 100 ms apart, enough of them to outlast the 300 ms limit twice over.
    let (app, response, started) = stream_under_an_idle_limit(100, "steady").await;
    let body = response.text().await.expect("the stream ends cleanly");
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    assert!(
        started.elapsed() > Duration::from_millis(600),
        "the stream outlasts the idle timeout twice over: {:?}",
        started.elapsed()
    );
    app.wait_written(1).await;
    let calls = session_calls(&app, "steady").await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].error, None);
}

/// An upstream that answers each request with a small chat completion once `hold` requests are
/// in flight together, and counts the connections it has open.
async fn counting_upstream(hold: usize) -> (String, tokio::sync::watch::Receiver<usize>) {
    use std::sync::Arc;
    use tokio::io::AsyncWriteExt;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (open, watch) = tokio::sync::watch::channel(0_usize);
    let open = Arc::new(open);
    let barrier = Arc::new(tokio::sync::Barrier::new(hold));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (open, barrier) = (open.clone(), barrier.clone());
            open.send_modify(|n| *n += 1);
            tokio::spawn(async move {
                let body = json!({"id": "c", "object": "chat.completion", "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
                .to_string();
                let mut buffer = vec![0; 64 * 1024];
                let mut first = true;
                // One request per read is enough for these small bodies; the connection is kept
                // alive until the gateway closes it.
                while matches!(stream.read(&mut buffer).await, Ok(n) if n > 0) {
                    if first {
                        barrier.wait().await;
                        first = false;
                    }
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    if stream.write_all(head.as_bytes()).await.is_err()
                        || stream.write_all(body.as_bytes()).await.is_err()
                    {
                        break;
                    }
                }
                open.send_modify(|n| *n -= 1);
            });
        }
    });
    (url, watch)
}

#[tokio::test]
async fn after_a_burst_the_gateway_keeps_only_its_share_of_idle_upstream_connections() {
    const BURST: usize = 8;
    let (upstream, mut open) = counting_upstream(BURST).await;
    let app = super::spawn_with(|s| {
        s.gateway.upstream_idle_connections = 2;
        s.providers.push(Provider {
            name: "counted".into(),
            base_url: url::Url::parse(&upstream).unwrap(),
            format: WireFormat::Openai,
            http2_prior_knowledge: false,
        });
    })
    .await;
    // Every call waits upstream until all are there, so each has a connection of its own.
    let calls = (0..BURST).map(|i| {
        app.client
            .post(format!("{}/counted/v1/chat/completions", app.url))
            .header("Helicone-Session-Id", "burst")
            .json(&chat("gpt-4o-mini", false, &format!("call {i}")))
            .send()
    });
    for response in futures_util::future::join_all(calls).await {
        assert_eq!(response.unwrap().status(), 200);
    }
    let settled = tokio::time::timeout(Duration::from_secs(10), open.wait_for(|n| *n <= 2))
        .await
        .is_ok();
    assert!(
        settled,
        "{} upstream connections still open after the burst; at most 2 are kept",
        *open.borrow()
    );
    app.wait_written(u64::try_from(BURST).unwrap()).await;
    assert_eq!(session_calls(&app, "burst").await.len(), BURST);
}
