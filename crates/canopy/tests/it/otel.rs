//! OTLP trace ingest (`POST /api/otel/v1/traces`) through a real socket: JSON, protobuf and
//! gzip bodies; spans that arrive before their ancestors; OTLP's error and partial-success
//! answers; organisation scoping; and `traceparent` links between proxied calls and spans.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use canopy_api::otel::proto;
use prost::Message;
use serde_json::{Value, json};

use crate::harness::{TestApp, chat, helicone_id};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const ROOT: &str = "00f067aa0ba90201";
const LLM: &str = "00f067aa0ba90202";
const TOOL: &str = "00f067aa0ba90203";

fn now_ns() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    )
    .unwrap()
}

/// One OTLP/JSON span; `attrs` as `(key, value)` with string, integer or float values.
fn span(span_id: &str, parent: Option<&str>, name: &str, attrs: &[(&str, Value)]) -> Value {
    let start = now_ns() - 2_000_000_000;
    let attributes: Vec<Value> = attrs
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => json!({"stringValue": s}),
                Value::Number(n) if n.is_i64() => json!({"intValue": n.to_string()}),
                other => json!({"doubleValue": other}),
            };
            json!({"key": k, "value": value})
        })
        .collect();
    let mut span = json!({
        "traceId": TRACE, "spanId": span_id, "name": name, "kind": 1,
        "startTimeUnixNano": start.to_string(), "endTimeUnixNano": (start + 500_000_000).to_string(),
        "attributes": attributes, "status": {"code": 0}
    });
    if let Some(parent) = parent {
        span["parentSpanId"] = json!(parent);
    }
    span
}

fn export(spans: Vec<Value>) -> Value {
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "agent-app"}}]},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]
    }]})
}

fn llm_span(parent: &str) -> Value {
    span(
        LLM,
        Some(parent),
        "chat gpt-4o-mini",
        &[
            ("gen_ai.operation.name", json!("chat")),
            ("gen_ai.system", json!("openai")),
            ("gen_ai.request.model", json!("gpt-4o-mini")),
            ("gen_ai.usage.input_tokens", json!(1000)),
            ("gen_ai.usage.output_tokens", json!(200)),
            ("gen_ai.prompt.0.role", json!("user")),
            ("gen_ai.prompt.0.content", json!("hello")),
            ("gen_ai.completion.0.role", json!("assistant")),
            ("gen_ai.completion.0.content", json!("hi there")),
        ],
    )
}

fn tool_span(parent: &str) -> Value {
    span(
        TOOL,
        Some(parent),
        "lookup_order",
        &[
            ("gen_ai.operation.name", json!("execute_tool")),
            ("gen_ai.tool.name", json!("lookup_order")),
        ],
    )
}

fn root_span(session: &str) -> Value {
    span(
        ROOT,
        None,
        "support-agent",
        &[("session.id", json!(session)), ("user.id", json!("alice"))],
    )
}

async fn post_json(app: &TestApp, key: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/api/otel/v1/traces", app.url))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.unwrap()
}

async fn session_detail(app: &TestApp, key: Option<&str>, id: &str) -> (u16, Value) {
    let mut request = app.client.get(format!("{}/api/v1/session/{id}", app.url));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn by_model<'a>(requests: &'a [Value], model: &str) -> &'a Value {
    requests
        .iter()
        .find(|r| r["request_model"] == model)
        .unwrap_or_else(|| panic!("a request with model {model} in {requests:?}"))
}

#[tokio::test]
async fn otel_json_spans_become_a_session_with_a_call_a_tool_step_and_its_root() {
    let app = TestApp::spawn().await;
    let body = export(vec![
        llm_span(ROOT),
        tool_span(ROOT),
        root_span("otel-json"),
    ]);
    let response = post_json(&app, None, &body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({}));
    app.wait_written(3).await;

    let session = app.session("otel-json").await;
    assert_eq!(session.request_count, 3);
    assert_eq!(session.prompt_tokens, 1000);
    assert_eq!(session.completion_tokens, 200);
    assert!(session.cost_nano_usd > 0, "priced like a proxied call");

    let (status, detail) = session_detail(&app, None, "otel-json").await;
    assert_eq!(status, 200);
    let requests = detail["data"]["requests"].as_array().unwrap();
    let llm = by_model(requests, "gpt-4o-mini");
    assert_eq!(llm["kind"], "llm");
    assert_eq!(llm["session_path"], "/support-agent");
    assert_eq!(llm["request_user_id"], "alice");
    assert_eq!(llm["request_properties"]["canopy-trace-id"], TRACE);
    assert_eq!(llm["request_properties"]["canopy-span-id"], LLM);
    assert_eq!(llm["delay_ms"], 500);
    let tool = by_model(requests, "lookup_order");
    assert_eq!(tool["kind"], "tool");
    let root = by_model(requests, "support-agent");
    assert_eq!(root["kind"], "data");
    assert_eq!(root["session_path"], "/");
    // The spans' own parent links are kept in the tree.
    assert_eq!(llm["parent_request_id"], root["request_id"]);
    assert_eq!(tool["parent_request_id"], root["request_id"]);
    let child = &detail["data"]["tree"]["children"][0];
    assert_eq!(child["path"], "/support-agent");
    assert_eq!(
        child["links"][llm["request_id"].as_str().unwrap()],
        root["request_id"]
    );

    // Sent again (an exporter's retry), the spans are stored once.
    let again = post_json(&app, None, &body).await;
    assert_eq!(again.status(), 200);
    app.wait_written(6).await;
    assert_eq!(app.session("otel-json").await.request_count, 3);
}

/// The same export as protobuf, gzip-compressed.
fn protobuf_export(session: &str) -> Vec<u8> {
    let json = export(vec![llm_span(ROOT), tool_span(ROOT), root_span(session)]);
    let request = proto::request_from_json(&json).unwrap();
    request.encode_to_vec()
}

#[tokio::test]
async fn otel_protobuf_and_gzip_bodies_are_read() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/api/otel/v1/traces", app.url))
        .header("content-type", "application/x-protobuf")
        .body(protobuf_export("otel-proto"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    let answer =
        proto::ExportTraceServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(answer.partial_success, None);
    app.wait_written(3).await;
    assert_eq!(app.session("otel-proto").await.request_count, 3);

    // Gzip, JSON this time, another trace.
    let body = export(vec![root_span("otel-gzip")])
        .to_string()
        .replace(TRACE, "5bf92f3577b34da6a3ce929d0e0e4736");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(body.as_bytes()).unwrap();
    let response = app
        .client
        .post(format!("{}/api/otel/v1/traces", app.url))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    app.wait_written(4).await;
    assert_eq!(app.session("otel-gzip").await.request_count, 1);
}

#[tokio::test]
async fn otel_children_sent_before_their_root_join_its_session_once() {
    let app = TestApp::spawn().await;
    // The children first, in their own request: their session is not known yet.
    let first = post_json(&app, None, &export(vec![llm_span(ROOT), tool_span(ROOT)])).await;
    assert_eq!(first.status(), 200);
    let (status, _) = session_detail(&app, None, "late-root").await;
    assert_eq!(status, 404);
    // Then the root, which names the session.
    let second = post_json(&app, None, &export(vec![root_span("late-root")])).await;
    assert_eq!(second.status(), 200);
    app.wait_written(3).await;
    let session = app.session("late-root").await;
    assert_eq!(session.request_count, 3);
    assert_eq!(session.prompt_tokens, 1000);
    let (_, detail) = session_detail(&app, None, "late-root").await;
    let requests = detail["data"]["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 3);
    assert_eq!(
        by_model(requests, "gpt-4o-mini")["session_path"],
        "/support-agent"
    );
}

#[tokio::test]
async fn otel_malformed_bodies_get_400_with_an_otlp_status() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/api/otel/v1/traces", app.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], 3);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("invalid OTLP JSON")
    );

    let response = app
        .client
        .post(format!("{}/api/otel/v1/traces", app.url))
        .header("content-type", "application/x-protobuf")
        .body(vec![0x0a, 0xff, 0xff, 0xff])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let status = proto::RpcStatus::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(status.code, 3);
    assert!(status.message.contains("invalid OTLP protobuf"));

    let response = app
        .client
        .post(format!("{}/api/otel/v1/traces", app.url))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body("not gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn otel_invalid_spans_are_refused_alone_as_a_partial_success() {
    let app = TestApp::spawn().await;
    let mut bad = span(
        "0000000000000000",
        None,
        "no-id",
        &[("session.id", json!("partial"))],
    );
    bad["traceId"] = json!("zz");
    let response = post_json(&app, None, &export(vec![bad, root_span("partial")])).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["partialSuccess"]["rejectedSpans"], "1");
    assert!(
        body["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("no-id")
    );
    app.wait_written(1).await;
    assert_eq!(app.session("partial").await.request_count, 1);
}

#[tokio::test]
async fn otel_ingest_needs_a_key_and_records_in_its_organisation() {
    let app = TestApp::spawn().await;
    let key_a = app.create_key("acme").await;
    let key_b = app.create_key("globex").await;
    let body = export(vec![llm_span(ROOT), root_span("scoped")]);
    assert_eq!(post_json(&app, None, &body).await.status(), 401);
    assert_eq!(post_json(&app, Some(&key_a), &body).await.status(), 200);
    app.wait_written(2).await;
    let (status, detail) = session_detail(&app, Some(&key_a), "scoped").await;
    assert_eq!(status, 200);
    assert_eq!(detail["data"]["session"]["total_requests"], 2);
    let (status, _) = session_detail(&app, Some(&key_b), "scoped").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn otel_a_proxied_call_with_traceparent_is_linked_under_its_span() {
    let app = TestApp::spawn().await;
    // The app's agent span (ROOT) makes a call through the proxy, passing its context on.
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("traceparent", format!("00-{TRACE}-{ROOT}-01"))
        .header("Helicone-Session-Id", "linked")
        .header("Helicone-Session-Path", "/support-agent")
        .json(&chat("gpt-4o-mini", false, "hello"))
        .send()
        .await
        .unwrap();
    let proxied = helicone_id(&response);
    let _ = response.bytes().await.unwrap();
    let stored = {
        app.wait_written(1).await;
        app.call(&proxied).await
    };
    assert_eq!(stored.properties["canopy-trace-id"], TRACE);
    assert_eq!(stored.properties["canopy-parent-span-id"], ROOT);
    assert_eq!(stored.properties["canopy-span-id"].len(), 16);
    // The agent span is exported afterwards, with the tool span it also ran.
    let response = post_json(
        &app,
        None,
        &export(vec![tool_span(ROOT), root_span("linked")]),
    )
    .await;
    assert_eq!(response.status(), 200);
    app.wait_written(3).await;
    let (_, detail) = session_detail(&app, None, "linked").await;
    let requests = detail["data"]["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 3);
    let root = by_model(requests, "support-agent");
    let call = requests
        .iter()
        .find(|r| r["request_id"] == proxied)
        .unwrap();
    assert_eq!(call["parent_request_id"], root["request_id"]);
    assert_eq!(
        by_model(requests, "lookup_order")["parent_request_id"],
        root["request_id"]
    );
    assert!(root.get("parent_request_id").is_none());
}

/// Another trace of the same app: an ordinary span on no session, which marks its
/// organisation as one that sends traces (and is itself ignored).
fn earlier_trace() -> Value {
    let mut other = span("00f067aa0ba90299", None, "startup", &[]);
    other["traceId"] = json!("11111111111111111111111111111111");
    export(vec![other])
}

/// A chat call through the proxy made under span `parent` of `TRACE`, without session
/// headers; returns its id once its response has been read.
async fn traced_call(app: &TestApp, key: Option<&str>, parent: &str) -> String {
    let mut request = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("traceparent", format!("00-{TRACE}-{parent}-01"))
        .json(&chat("gpt-4o-mini", false, "hello"));
    if let Some(key) = key {
        request = request.header("Helicone-Auth", format!("Bearer {key}"));
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let id = helicone_id(&response);
    let _ = response.bytes().await.unwrap();
    id
}

/// Checks that `session` holds the proxied call `call` once, under the root span, with the
/// parent link in the tree and totals that are exactly the sum of its requests.
async fn assert_joined(app: &TestApp, session: &str, call: &str, records: u64) {
    let summary = app.session(session).await;
    let (_, detail) = session_detail(app, None, session).await;
    let requests = detail["data"]["requests"].as_array().unwrap();
    assert_eq!(summary.request_count, records, "{requests:#?}");
    assert_eq!(requests.len() as u64, records);
    assert_eq!(
        requests.iter().filter(|r| r["request_id"] == call).count(),
        1
    );
    let root = by_model(requests, "support-agent");
    let proxied = requests.iter().find(|r| r["request_id"] == call).unwrap();
    assert_eq!(proxied["session_path"], "/support-agent");
    assert_eq!(proxied["parent_request_id"], root["request_id"]);
    let node = &detail["data"]["tree"]["children"][0];
    assert_eq!(node["path"], "/support-agent");
    assert_eq!(node["links"][call], root["request_id"]);
    let stored = app.call(call).await;
    assert_eq!(stored.session_id.as_deref(), Some(session));
    assert_eq!(stored.properties["Helicone-Session-Id"], session);
    assert!(stored.usage.prompt_tokens > 0);
    let tokens: u64 = requests
        .iter()
        .map(|r| r["prompt_tokens"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(summary.prompt_tokens, tokens);
    assert_eq!(summary.prompt_tokens, stored.usage.prompt_tokens);
    assert_eq!(summary.cost_nano_usd, stored.cost_nano_usd.unwrap());
    assert_eq!(detail["data"]["session"]["total_requests"], records);
}

/// Sends one plain call (no trace) and waits for it, so that everything handed to the writer
/// before it is written; then checks that exactly `n` records were handed over in all.
async fn assert_handed_over_exactly(app: &TestApp, n: u64) {
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .json(&chat("gpt-4o-mini", false, "sync"))
        .send()
        .await
        .unwrap();
    let _ = response.bytes().await.unwrap();
    app.wait_written(n + 1).await;
    assert_eq!(*app.ingest.written().borrow(), n + 1);
}

#[tokio::test]
async fn otel_a_proxied_call_without_session_joins_the_session_its_later_parent_names() {
    let app = TestApp::spawn().await;
    assert_eq!(post_json(&app, None, &earlier_trace()).await.status(), 200);
    // The agent's step calls through the proxy with its trace context and no session header;
    // the step's span (which names the session) is exported only after it ends.
    let call = traced_call(&app, None, ROOT).await;
    let (status, _) = session_detail(&app, None, "children-first").await;
    assert_eq!(status, 404);
    let parent = export(vec![tool_span(ROOT), root_span("children-first")]);
    assert_eq!(post_json(&app, None, &parent).await.status(), 200);
    app.wait_written(3).await;
    assert_joined(&app, "children-first", &call, 3).await;
    // The spans sent again (an exporter's retry) are stored once and place nothing twice.
    assert_eq!(post_json(&app, None, &parent).await.status(), 200);
    assert_handed_over_exactly(&app, 5).await;
    assert_joined(&app, "children-first", &call, 3).await;
}

#[tokio::test]
async fn otel_a_proxied_call_after_its_trace_joins_that_session_at_once() {
    let app = TestApp::spawn().await;
    let response = post_json(
        &app,
        None,
        &export(vec![tool_span(ROOT), root_span("parent-first")]),
    )
    .await;
    assert_eq!(response.status(), 200);
    app.wait_written(2).await;
    let call = traced_call(&app, None, ROOT).await;
    app.wait_written(3).await;
    assert_joined(&app, "parent-first", &call, 3).await;
    assert_handed_over_exactly(&app, 3).await;
    // A call that names its own session keeps it.
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("traceparent", format!("00-{TRACE}-{ROOT}-01"))
        .header("Helicone-Session-Id", "its-own")
        .json(&chat("gpt-4o-mini", false, "hello"))
        .send()
        .await
        .unwrap();
    let own = helicone_id(&response);
    let _ = response.bytes().await.unwrap();
    app.wait_written(5).await;
    assert_eq!(app.call(&own).await.session_id.as_deref(), Some("its-own"));
    assert_eq!(app.session("parent-first").await.request_count, 3);
}

#[tokio::test]
async fn otel_a_traced_call_of_an_organisation_that_sends_no_spans_is_recorded_at_once() {
    let app = TestApp::spawn().await;
    let call = traced_call(&app, None, ROOT).await;
    // Recorded well before a held call's 60 s would run out, and without a session.
    app.wait_written(1).await;
    let stored = app.call(&call).await;
    assert_eq!(stored.session_id, None);
    assert_eq!(stored.properties["canopy-trace-id"], TRACE);
}

#[tokio::test]
async fn otel_another_organisations_trace_never_places_a_proxied_call() {
    let app = TestApp::spawn().await;
    let key_a = app.create_key("acme").await;
    let key_b = app.create_key("globex").await;
    // Globex names a session on the trace id and span id that Acme's call will carry.
    let response = post_json(
        &app,
        Some(&key_b),
        &export(vec![tool_span(ROOT), root_span("globex-only")]),
    )
    .await;
    assert_eq!(response.status(), 200);
    // Acme traces too; its own root of that trace names no session.
    let acme_root = span(ROOT, None, "acme-agent", &[]);
    assert_eq!(
        post_json(&app, Some(&key_a), &export(vec![acme_root]))
            .await
            .status(),
        200
    );
    app.wait_written(2).await;
    let call = traced_call(&app, Some(&key_a), ROOT).await;
    app.wait_written(3).await;
    let stored: Value = app
        .client
        .get(format!("{}/api/v1/request/{call}", app.url))
        .bearer_auth(&key_a)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["data"]["request_id"], call, "{stored}");
    assert!(stored["data"]["session_id"].is_null(), "{stored}");
    let (_, detail) = session_detail(&app, Some(&key_b), "globex-only").await;
    assert_eq!(detail["data"]["session"]["total_requests"], 2);
}

/// The export requests a receiver gets, as they arrive: content type and body.
type Received = tokio::sync::mpsc::UnboundedReceiver<(String, Vec<u8>)>;

/// A small OTLP/HTTP receiver on port 0: keeps every export request it is sent.
async fn spawn_receiver() -> (String, Received) {
    use axum::routing::post;
    let (store, got) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                let content_type = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let _ = store.send((content_type, body.to_vec()));
                ""
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

fn attribute<'a>(span: &'a proto::Span, key: &str) -> Option<&'a proto::any_value::Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

#[tokio::test]
async fn otel_export_sends_one_span_per_proxied_call_to_the_configured_endpoint() {
    use proto::any_value::Value as V;
    let (endpoint, mut got) = spawn_receiver().await;
    let app = TestApp::spawn_with(|settings| {
        settings.otel = Some(canopy::otel_export::ExportConfig {
            endpoint,
            json: false,
            headers: vec![("x-backend-key".into(), "k".into())],
            service_name: "canopy-test".into(),
            queue_capacity: 64,
        });
    })
    .await;
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("traceparent", format!("00-{TRACE}-{ROOT}-01"))
        .header("Helicone-Session-Id", "exported")
        .header("Helicone-Session-Path", "/triage")
        .json(&chat("gpt-4o-mini", true, "hello"))
        .send()
        .await
        .unwrap();
    let id = helicone_id(&response);
    let _ = response.bytes().await.unwrap();

    let (content_type, body) = tokio::time::timeout(std::time::Duration::from_secs(10), got.recv())
        .await
        .expect("no export within 10 s")
        .expect("the receiver is running");
    assert_eq!(content_type, "application/x-protobuf");
    let request = proto::ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
    let resource = request.resource_spans[0].resource.as_ref().unwrap();
    assert_eq!(resource.attributes[0].key, "service.name");
    let spans = &request.resource_spans[0].scope_spans[0].spans;
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(canopy_core::trace::hex(&span.trace_id), TRACE);
    assert_eq!(canopy_core::trace::hex(&span.parent_span_id), ROOT);
    let stored = app.call(&id).await;
    assert_eq!(
        canopy_core::trace::hex(&span.span_id),
        stored.properties["canopy-span-id"]
    );
    assert_eq!(span.name, "chat gpt-4o-mini");
    assert_eq!(
        attribute(span, "gen_ai.operation.name"),
        Some(&V::StringValue("chat".into()))
    );
    assert_eq!(
        attribute(span, "gen_ai.request.model"),
        Some(&V::StringValue("gpt-4o-mini".into()))
    );
    assert_eq!(
        attribute(span, "session.id"),
        Some(&V::StringValue("exported".into()))
    );
    assert_eq!(
        attribute(span, "helicone.session.path"),
        Some(&V::StringValue("/triage".into()))
    );
    assert_eq!(
        attribute(span, "canopy.request_id"),
        Some(&V::StringValue(id.clone()))
    );
    assert_eq!(
        attribute(span, "gen_ai.usage.input_tokens"),
        Some(&V::IntValue(
            i64::try_from(stored.usage.prompt_tokens).unwrap()
        ))
    );
    assert!(matches!(attribute(span, "canopy.cost_usd"), Some(V::DoubleValue(c)) if *c > 0.0));
    assert!(matches!(
        attribute(span, "canopy.time_to_first_token_ms"),
        Some(V::IntValue(_))
    ));
    assert_eq!(
        attribute(span, "http.response.status_code"),
        Some(&V::IntValue(200))
    );
    assert!(span.status.is_none());
    assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
}
