//! How the demo's agent talks to Canopy: proxied model calls with the session headers, tool
//! steps through the custom log, and the count of what was recorded.
//!
//! A Canopy the demo started routes `/openai` and `/anthropic` to the in-process mock provider.
//! A Canopy that was already running knows nothing of the mock, so calls go through its generic
//! `/gateway` route with `Helicone-Target-Url` naming the mock, which works on any Canopy
//! without configuration. The story itself is in [`super::agent`].

use std::time::{Duration, Instant};

use anyhow::Context;
use canopy_store::now_ms;
use serde_json::{Value, json};

use crate::commands::{remote, sessions};
use crate::output;

/// Which provider API a call speaks.
#[derive(Debug, Clone, Copy)]
pub enum Api {
    /// OpenAI chat completions.
    OpenAi,
    /// Anthropic messages.
    Anthropic,
}

/// The session a call belongs to, sent as `Helicone-*` headers on every call.
pub struct Session<'a> {
    /// `Helicone-Session-Id`.
    pub id: String,
    /// `Helicone-Session-Name`.
    pub name: &'a str,
    /// `Helicone-User-Id`.
    pub user: &'a str,
    /// `Helicone-Property-<Key>: <value>` pairs.
    pub properties: &'a [(&'a str, &'a str)],
}

/// What a model call answered: its status, and the reply's text (or the error body).
pub struct Reply {
    /// The HTTP status the client saw.
    pub status: u16,
    /// The assistant's text, the streamed deltas joined; the body itself for an error.
    pub text: String,
}

/// An HTTP client aimed at one Canopy.
pub struct Client {
    http: reqwest::Client,
    /// Canopy's origin, `http://127.0.0.1:8787`.
    base: String,
    /// The mock provider's origin, when calls go through `/gateway`.
    target: Option<String>,
    /// The Canopy key, if the server needs one.
    key: Option<String>,
}

impl Client {
    /// A client for the Canopy at `base`; `target` is set when that Canopy must reach the mock
    /// provider through `/gateway`.
    pub fn new(base: &str, target: Option<String>, key: Option<String>) -> Self {
        Self {
            http: reqwest::Client::builder()
                .connect_timeout(remote::CONNECT_TIMEOUT)
                .build()
                .unwrap_or_default(),
            base: base.trim_end_matches('/').to_owned(),
            target,
            key,
        }
    }

    /// Canopy's origin.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The Canopy key, if any.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Sends one model call at `path` in `session`, with `knobs` (the mock provider's `x-mock-*`
    /// headers) added, reads its whole body (a stream to its end), and prints a line for it.
    pub async fn llm(
        &self,
        session: &Session<'_>,
        path: &str,
        api: Api,
        body: Value,
        knobs: &[(&str, &str)],
    ) -> anyhow::Result<Reply> {
        let route = match (api, &self.target) {
            (Api::OpenAi, None) => "/openai/v1/chat/completions",
            (Api::Anthropic, None) => "/anthropic/v1/messages",
            (Api::OpenAi, Some(_)) => "/gateway/v1/chat/completions",
            (Api::Anthropic, Some(_)) => "/gateway/v1/messages",
        };
        let url = format!("{}{route}", self.base);
        let stream = body["stream"].as_bool().unwrap_or(false);
        let model = body["model"].as_str().unwrap_or("?").to_owned();
        let mut request = with_session(self.http.post(&url), session, path).json(&body);
        if let Some(target) = &self.target {
            request = request.header("Helicone-Target-Url", target);
        }
        if let Some(key) = &self.key {
            request = request.header("Helicone-Auth", format!("Bearer {key}"));
        }
        if let Api::Anthropic = api {
            request = request.header("anthropic-version", "2023-06-01");
        }
        for (name, value) in knobs {
            request = request.header(*name, *value);
        }
        let started = Instant::now();
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach Canopy at {url}: is `canopy serve` running?"))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .with_context(|| format!("the answer to {path} broke off"))?;
        let what = if stream {
            format!("{model} (streamed)")
        } else {
            model
        };
        step_line(path, &what, status, started.elapsed());
        let text = match (status, api, stream) {
            (400.., _, _) => text,
            (_, _, true) => streamed_text(&text),
            (_, Api::OpenAi, false) => field(&text, "/choices/0/message/content"),
            (_, Api::Anthropic, false) => field(&text, "/content/0/text"),
        };
        Ok(Reply { status, text })
    }

    /// Runs the tool `name` (a stand-in for the shop's order system that answers `answer`) and
    /// records it at `path` through `POST /api/custom/v1/log`, in Helicone's body shape.
    pub async fn tool(
        &self,
        session: &Session<'_>,
        path: &str,
        name: &str,
        input: Value,
        answer: Value,
    ) -> anyhow::Result<()> {
        let start = now_ms();
        // The stand-in takes about as long as a lookup in a real order database would.
        tokio::time::sleep(Duration::from_millis(35)).await;
        let end = now_ms();
        let body = json!({
            "providerRequest": {
                "url": format!("tool://{name}"),
                "json": {"_type": "tool", "toolName": name, "input": input},
                "meta": {},
            },
            "providerResponse": {"json": answer, "status": 200, "headers": {}},
            "timing": {"startTime": helicone_time(start), "endTime": helicone_time(end)},
        });
        let url = format!("{}/api/custom/v1/log", self.base);
        let mut request = with_session(self.http.post(&url), session, path).json(&body);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach Canopy at {url}: is `canopy serve` running?"))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            anyhow::bail!("{url} answered {status} for the tool step: {text}");
        }
        let elapsed = Duration::from_millis(u64::try_from(end - start).unwrap_or(0));
        step_line(path, &format!("tool {name}"), status.as_u16(), elapsed);
        Ok(())
    }

    /// How many calls of the given sessions Canopy has recorded (`POST
    /// /api/v1/request/count/query`, filtered on `Helicone-Session-Id`).
    pub async fn recorded(&self, session_ids: &[String]) -> anyhow::Result<u64> {
        let mut filter = Value::Null;
        for id in session_ids {
            let leaf = json!({"properties": {"Helicone-Session-Id": {"equals": id}}});
            filter = match filter {
                Value::Null => leaf,
                left => json!({"left": left, "operator": "or", "right": leaf}),
            };
        }
        let body = json!({"filter": filter});
        sessions::remote(
            &self.base,
            self.key(),
            reqwest::Method::POST,
            &["api", "v1", "request", "count", "query"],
            Some(body),
        )
        .await
    }
}

/// Adds the session headers under their official names.
fn with_session(
    request: reqwest::RequestBuilder,
    session: &Session<'_>,
    path: &str,
) -> reqwest::RequestBuilder {
    let mut request = request
        .header("Helicone-Session-Id", &session.id)
        .header("Helicone-Session-Path", path)
        .header("Helicone-Session-Name", session.name)
        .header("Helicone-User-Id", session.user);
    for (key, value) in session.properties {
        request = request.header(format!("Helicone-Property-{key}"), *value);
    }
    request
}

/// Prints one step as it finishes.
fn step_line(path: &str, what: &str, status: u16, elapsed: Duration) {
    let ms = elapsed.as_millis();
    output::line(&format!("  {path:<18} {what:<22} {status:>4} {ms:>6} ms"));
}

/// A Unix time in milliseconds as Helicone's custom log takes it.
fn helicone_time(ms: i64) -> Value {
    json!({"seconds": ms.div_euclid(1000), "milliseconds": ms.rem_euclid(1000)})
}

/// A string field of a JSON body, or nothing.
fn field(body: &str, pointer: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

/// The text of an OpenAI chat stream: every `delta.content` in order.
fn streamed_text(body: &str) -> String {
    body.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .filter(|data| *data != "[DONE]")
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .filter_map(|event| {
            event
                .pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_joined_and_times_split() {
        let body = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n\
            data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n\
            data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\ndata: [DONE]\n\n";
        assert_eq!(streamed_text(body), "Hello");
        assert_eq!(
            helicone_time(1_700_000_000_123),
            json!({"seconds": 1_700_000_000, "milliseconds": 123})
        );
    }
}
