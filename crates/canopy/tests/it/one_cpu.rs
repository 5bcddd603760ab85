//! A gateway allowed one CPU, as in a container limited to one, where `canopy serve` runs all
//! its calls on a single thread: plain and streamed calls at once pass through whole, each is
//! recorded in its session, and a SIGTERM still ends the process cleanly with nothing lost. A
//! burst of calls whose clients left is counted by one thread, not one thread per call.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;

use crate::harness::{chat, spawn_mock, store_url};
use crate::scale_out::{Gateway, allowed_cpus, client, eventually, session};

#[tokio::test]
async fn a_gateway_on_one_cpu_serves_streams_and_records_calls_at_once_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (mock, _stop) = spawn_mock().await;
    let store = store_url(dir.path());
    let gateway = Gateway::start_on_one_cpu(dir.path(), "one-cpu", &store, &mock).await;
    let allowed = allowed_cpus(&gateway.pid().unwrap().to_string());
    assert!(
        allowed.parse::<usize>().is_ok(),
        "the gateway may use one CPU, not {allowed}"
    );

    let client = client();
    let url = gateway.url.as_str();
    let calls = 48;
    let answers: Vec<(bool, reqwest::StatusCode, String)> = futures_util::stream::iter(0..calls)
        .map(|i| {
            let client = &client;
            async move {
                let stream = i % 2 == 1;
                let response = client
                    .post(format!("{url}/v1/chat/completions"))
                    .header("Authorization", "Bearer sk-upstream")
                    .header("Helicone-Session-Id", "one-cpu")
                    .header("Helicone-Session-Path", format!("/step/{}", i % 3))
                    .json(&chat("gpt-4o-mini", stream, &format!("ticket {i}")))
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                (stream, status, response.text().await.unwrap())
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for (stream, status, body) in &answers {
        assert!(status.is_success(), "{status}: {body}");
        if *stream {
            assert!(
                body.trim_end().ends_with("data: [DONE]"),
                "a whole stream: {body}"
            );
        } else {
            let answer: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(answer["object"], "chat.completion", "{body}");
        }
    }

    eventually(Duration::from_secs(20), "every call recorded", || async {
        session(&client, url, "one-cpu", None).await["data"]["session"]["total_requests"]
            == json!(calls)
    })
    .await;
    let tree = session(&client, url, "one-cpu", None).await["data"]["tree"].clone();
    let steps = tree["children"][0]["children"].as_array().unwrap();
    assert_eq!(steps.len(), 3, "/step/0 … /step/2: {tree}");

    // Calls answered just before the signal are still written before the process ends.
    let last = client
        .post(format!("{url}/v1/chat/completions"))
        .header("Helicone-Session-Id", "one-cpu-last")
        .json(&chat("gpt-4o-mini", false, "the last ticket"))
        .send()
        .await
        .unwrap();
    assert!(last.status().is_success());
    let exit = gateway
        .terminate()
        .await
        .expect("the gateway stops within 30 s");
    assert!(exit.success(), "SIGTERM ends the gateway cleanly: {exit}");
    let after = Gateway::start_configured(dir.path(), "after", &store, &mock, "", &[]).await;
    let last = session(&client, &after.url, "one-cpu-last", None).await;
    assert_eq!(
        last["data"]["session"]["total_requests"],
        json!(1),
        "{last}"
    );
    after.terminate().await;
}

/// Calls whose client leaves mid-stream have their tokens counted off the runtime, and the
/// first count builds the tokenizer's tables. A burst of them is counted by one thread per
/// CPU, here one, not by a thread each.
#[tokio::test]
async fn a_burst_of_cancelled_streams_is_counted_on_one_thread_per_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let (mock, _stop) = spawn_mock().await;
    let store = store_url(dir.path());
    let gateway = Gateway::start_on_one_cpu(dir.path(), "cancels", &store, &mock).await;
    let pid = gateway.pid().unwrap();
    let client = client();
    let url = gateway.url.as_str();
    let calls = 48;
    futures_util::stream::iter(0..calls)
        .for_each_concurrent(calls, |i| {
            let client = &client;
            async move {
                let response = client
                    .post(format!("{url}/v1/chat/completions"))
                    .header("x-mock-chunk-delay-ms", "200")
                    .header("Helicone-Session-Id", "cancels")
                    .json(&chat("gpt-4o-mini", true, &format!("a long answer {i}")))
                    .send()
                    .await
                    .unwrap();
                let mut stream = response.bytes_stream();
                let mut seen = String::new();
                while seen.matches("data:").count() < 2 {
                    seen.push_str(&String::from_utf8_lossy(
                        &stream.next().await.unwrap().unwrap(),
                    ));
                }
            }
        })
        .await;

    eventually(
        Duration::from_secs(20),
        "every cancelled call recorded",
        || async {
            session(&client, url, "cancels", None).await["data"]["session"]["total_requests"]
                == json!(calls)
        },
    )
    .await;
    let requests = session(&client, url, "cancels", None).await["data"]["requests"].clone();
    let requests = requests.as_array().unwrap();
    assert!(
        requests
            .iter()
            .all(|r| r["completion_tokens"].as_i64() > Some(0)),
        "every call's tokens were counted: {requests:?}"
    );
    // On one CPU the runtime is one thread; the blocking pool's are the counting threads.
    let counting = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.unwrap().path().join("comm")).ok())
        .filter(|name| name.trim() == "tokio-rt-worker")
        .count();
    assert!(counting <= 1, "{counting} threads counted tokens");
    gateway.terminate().await;
}
