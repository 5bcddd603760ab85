//! Starting a mock for one test, and reading its answers.

use std::future::Future;

use canopy_mock::MockConfig;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::TcpListener;

/// A running mock and a client for it.
pub struct Mock {
    pub base: String,
    pub client: reqwest::Client,
}

/// An answer read in full.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    pub fn events(&self) -> Vec<Event> {
        events(&self.body)
    }
}

/// One SSE event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: Option<String>,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {}", self.data))
    }
}

/// Splits an SSE body into events; every event must end with a blank line.
pub fn events(body: &str) -> Vec<Event> {
    assert!(body.ends_with("\n\n"), "unterminated stream: {body:?}");
    body.split_terminator("\n\n")
        .map(|block| {
            let mut name = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event: ") {
                    name = Some(value.to_owned());
                } else if let Some(value) = line.strip_prefix("data: ") {
                    assert!(data.is_none(), "two data lines in {block:?}");
                    data = Some(value.to_owned());
                } else {
                    panic!("unexpected line {line:?}");
                }
            }
            Event {
                name,
                data: data.unwrap_or_else(|| panic!("no data in {block:?}")),
            }
        })
        .collect()
}

/// A client that never goes through a proxy; `http2` means HTTP/2 with prior knowledge.
pub fn client(http2: bool) -> reqwest::Client {
    // reqwest is built with `rustls-no-provider`, as in the gateway; the first test installs ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = reqwest::Client::builder().no_proxy();
    let builder = if http2 {
        builder.http2_prior_knowledge()
    } else {
        builder.http1_only()
    };
    builder.build().unwrap()
}

/// Runs `test` against a fresh mock, which stops when the test ends.
pub async fn with_mock<F, Fut>(config: MockConfig, test: F)
where
    F: FnOnce(Mock) -> Fut,
    Fut: Future<Output = ()>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mock = Mock {
        base,
        client: client(false),
    };
    let server = Box::pin(canopy_mock::serve(listener, config, std::future::pending()));
    tokio::select! {
        result = server => panic!("the mock stopped: {result:?}"),
        () = test(mock) => {}
    }
}

impl Mock {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Posts `body` (JSON) with extra headers and reads the whole answer.
    pub async fn post(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
        self.post_raw(path, body.to_string(), headers).await
    }

    /// Posts `body` as it is, with `content-type: application/json`.
    pub async fn post_raw(&self, path: &str, body: String, headers: &[(&str, &str)]) -> Answer {
        let mut request = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = self.client.get(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read(request.send().await.unwrap()).await
    }
}

pub async fn read(response: reqwest::Response) -> Answer {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.text().await.unwrap();
    Answer {
        status,
        content_type,
        body,
    }
}

/// A two-message chat request.
pub fn chat_body(model: &str, system: &str, user: &str, stream: bool) -> Value {
    serde_json::json!({
        "model": model,
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ],
        "stream": stream,
    })
}

/// The words of a text, as the mock counts tokens.
pub fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}
