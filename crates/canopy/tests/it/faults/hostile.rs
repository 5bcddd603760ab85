//! Hostile input: malformed JSON, a body past the 100 MiB limit, huge headers, traversal,
//! SQL in filter values, filters nested 10,000 deep, absurd limits and offsets. Each gets a
//! clean answer, never a 5xx or a crash, and Canopy keeps serving.

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::still_serves;
use crate::harness::{TestApp, chat, helicone_id};

async fn api(app: &TestApp, path: &str, body: &str) -> (u16, String, Value) {
    let response = app
        .client
        .post(format!("{}/api{path}", app.url))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, response.json().await.unwrap_or(Value::Null))
}

/// Sends `request` as raw bytes and returns the status of the answer.
async fn raw(app: &TestApp, request: &[u8]) -> u16 {
    let addr = app.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

#[tokio::test]
async fn malformed_json_is_forwarded_or_refused_in_the_envelope() {
    let app = super::spawn().await;
    let direct = app
        .client
        .post(format!("{}/v1/chat/completions", app.mock_url))
        .header("content-type", "application/json")
        .body("{\"model\": \"gpt-4o-mini\", \"messages\": [")
        .send()
        .await
        .unwrap()
        .status();
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("content-type", "application/json")
        .body("{\"model\": \"gpt-4o-mini\", \"messages\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), direct, "the upstream's own answer");
    let id = helicone_id(&response);
    app.wait_written(1).await;
    assert_eq!(app.call(&id).await.status, i32::from(direct.as_u16()));

    for path in [
        "/custom/v1/log",
        "/v1/session/query",
        "/v1/request/count/query",
    ] {
        for body in ["{not json", "[1, 2]", "\"\u{0}\"", ""] {
            let (status, kind, answer) = api(&app, path, body).await;
            assert_eq!(status, 400, "{path} {body:?}: {answer}");
            assert!(kind.starts_with("application/json"), "{path}: {kind}");
            assert_eq!(answer["data"], Value::Null, "{answer}");
            assert!(answer["error"].is_string(), "{answer}");
        }
    }
    still_serves(&app).await;
}

#[tokio::test]
async fn a_body_past_100_mib_is_a_413_in_the_providers_shape_and_recorded() {
    let app = super::spawn().await;
    let limit = 100 * 1024 * 1024;
    // Streamed without a length, one MiB at a time, one MiB past the default limit.
    let chunks = futures_util::stream::iter(
        (0..101).map(|_| Ok::<_, std::io::Error>(vec![b'a'; 1024 * 1024])),
    );
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("content-type", "application/json")
        .header("Helicone-Session-Id", "huge-body")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let id = helicone_id(&response);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&limit.to_string()),
        "{body}"
    );
    app.wait_written(1).await;
    let call = app.call(&id).await;
    assert_eq!(call.status, 413);
    assert_eq!(call.session_id.as_deref(), Some("huge-body"));
    assert!(
        app.upstream_requests().await.is_empty(),
        "nothing reached the upstream"
    );
    still_serves(&app).await;
}

#[tokio::test]
async fn huge_headers_get_a_clean_4xx() {
    let app = super::spawn().await;
    let addr = app.url.trim_start_matches("http://").to_owned();
    let body = chat("gpt-4o-mini", false, "hi").to_string();
    let post = |name: &str, value: &str| {
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\n{name}: {value}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    // Past the listener's limit on the request head (about 400 KiB): 431, before any routing.
    let status = raw(&app, post("x-padding", &"a".repeat(1024 * 1024)).as_bytes()).await;
    assert_eq!(status, 431, "a 1 MiB header");
    // Inside it, Canopy's own headers are checked: a session id is at most 256 bytes.
    let status = raw(
        &app,
        post("Helicone-Session-Id", &"a".repeat(200 * 1024)).as_bytes(),
    )
    .await;
    assert_eq!(status, 400, "a 200 KiB session id");
    // Thousands of small headers.
    let many: String = (0..5000).map(|i| format!("x-h{i}: v\r\n")).collect();
    let request =
        format!("GET /v1/models HTTP/1.1\r\nhost: {addr}\r\n{many}connection: close\r\n\r\n");
    assert_eq!(raw(&app, request.as_bytes()).await, 431, "5000 headers");
    still_serves(&app).await;
}

#[tokio::test]
async fn a_traversal_out_of_a_provider_route_is_refused() {
    let app = super::spawn().await;
    let addr = app.url.trim_start_matches("http://");
    let before = app.upstream_requests().await.len();
    for target in [
        "/openai/%2e%2e/x",
        "/openai/../../x",
        "/v1/%2e%2e/%2e%2e/etc/passwd",
    ] {
        let request = format!("GET {target} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
        let status = raw(&app, request.as_bytes()).await;
        assert_eq!(status, 400, "{target}");
    }
    assert_eq!(
        app.upstream_requests().await.len(),
        before,
        "nothing reached the upstream"
    );
    still_serves(&app).await;
}

#[tokio::test]
async fn sql_in_filter_values_is_only_ever_a_value() {
    let app = super::spawn().await;
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.url))
        .header("Helicone-Session-Id", "real")
        .header("Helicone-Property-Team", "red")
        .json(&chat("gpt-4o-mini", false, "hi"))
        .send()
        .await
        .unwrap();
    let _ = response.bytes().await.unwrap();
    app.wait_written(1).await;
    let evil = "' OR 1=1 --";
    let rr = |column: &str, op: &str| json!({"request_response_rmt": {column: {op: evil}}});
    let filters = [
        rr("model", "like"),
        rr("model", "ilike"),
        rr("model", "contains"),
        rr("user_id", "equals"),
        json!({"request_response_rmt": {"properties": {"Team": {"equals": evil}}}}),
        json!({"request_response_rmt": {"properties": {evil: {"equals": "red"}}}}),
        json!({"properties": {"Helicone-Session-Id": {"equals": evil}}}),
        json!({"left": rr("model", "equals"), "operator": "or", "right": rr("provider", "equals")}),
    ];
    for filter in &filters {
        let body = json!({"filter": filter}).to_string();
        let (status, _, answer) = api(&app, "/v1/request/query", &body).await;
        assert_eq!(status, 200, "{filter}: {answer}");
        assert_eq!(answer["data"], json!([]), "{filter}: matches nothing");
        let (status, _, answer) = api(&app, "/v1/request/count/query", &body).await;
        assert_eq!(
            (status, answer["data"].clone()),
            (200, json!(0)),
            "{filter}"
        );
    }
    for body in [
        json!({"filter": {"sessions_request_response_rmt": {"session_session_id": {"equals": evil}}}}),
        json!({"search": evil, "filter": "all"}),
        json!({"nameEquals": evil, "filter": "all"}),
    ] {
        let (status, _, answer) = api(&app, "/v1/session/query", &body.to_string()).await;
        assert_eq!(status, 200, "{body}: {answer}");
        assert_eq!(answer["data"], json!([]), "{body}");
    }
    let (_, _, answer) = api(&app, "/v1/request/count/query", "{\"filter\": \"all\"}").await;
    assert_eq!(answer["data"], 1, "the store is intact");
    still_serves(&app).await;
}

/// A filter of `depth` nested `and` branches around one leaf, built without recursion.
fn nested_filter(depth: usize) -> String {
    let leaf = r#"{"request_response_rmt": {"model": {"equals": "x"}}}"#;
    let mut filter = String::new();
    for _ in 0..depth {
        filter.push_str(r#"{"operator": "and", "right": "all", "left": "#);
    }
    filter.push_str(leaf);
    filter.push_str(&"}".repeat(depth));
    filter
}

#[tokio::test]
async fn a_filter_nested_10000_deep_is_a_400_naming_the_depth() {
    let app = super::spawn().await;
    // 10,000 levels stop in the JSON reader; 100 pass it and stop in the filter parser.
    for (depth, names) in [
        (10_000, ["recursion limit", "depth"]),
        (100, ["deeper than", "levels"]),
    ] {
        let body = format!("{{\"filter\": {}}}", nested_filter(depth));
        for path in [
            "/v1/request/query",
            "/v1/request/count/query",
            "/v1/session/query",
        ] {
            let (status, _, answer) = api(&app, path, &body).await;
            assert_eq!(status, 400, "{path} at depth {depth}: {answer}");
            let error = answer["error"].as_str().unwrap_or_default();
            assert!(
                names.iter().any(|name| error.contains(name)),
                "{path} at depth {depth}: {error}"
            );
        }
    }
    still_serves(&app).await;
}

#[tokio::test]
async fn absurd_limits_and_offsets_are_never_a_5xx() {
    let app = super::spawn().await;
    let values = [
        "0",
        "-1",
        "18446744073709551615",
        "18446744073709551616",
        "9223372036854775807",
        "1e300",
        "\"10\"",
        "null",
    ];
    for path in ["/v1/request/query", "/v1/session/query"] {
        for value in values {
            for field in ["limit", "offset"] {
                let body = format!("{{\"filter\": \"all\", \"{field}\": {value}}}");
                let (status, kind, answer) = api(&app, path, &body).await;
                assert!(
                    status == 200 || status == 400,
                    "{path} {body}: {status} {answer}"
                );
                assert!(
                    kind.starts_with("application/json"),
                    "{path} {body}: {kind}"
                );
                if status == 400 {
                    assert!(
                        answer["error"].as_str().unwrap().contains(field),
                        "{answer}"
                    );
                }
            }
        }
    }
    still_serves(&app).await;
}

/// Text no store can compress: a different letter sequence for each seed.
fn incompressible(len: usize, seed: u64) -> String {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'a' + u8::try_from(state % 26).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn a_4_kib_session_name_and_user_id_are_stored_cut_and_spoil_no_batch() {
    let app = super::spawn().await;
    let (name, user) = (incompressible(4000, 7), incompressible(4000, 11));
    let send = |session: &'static str, long: bool| {
        let mut request = app
            .client
            .post(format!("{}/v1/chat/completions", app.url))
            .header("Helicone-Session-Id", session)
            .json(&chat("gpt-4o-mini", false, "hi"));
        if long {
            request = request
                .header("Helicone-Session-Name", &name)
                .header("Helicone-User-Id", &user);
        }
        request.send()
    };
    // Sent together, so they are likely written in one batch.
    let (long, plain) = tokio::join!(send("long-labels", true), send("plain", false));
    assert_eq!(long.unwrap().status(), 200);
    assert_eq!(plain.unwrap().status(), 200);
    app.wait_written(2).await;
    let session = app.session("long-labels").await;
    let stored = session.name.expect("the name is kept, cut");
    assert_eq!(stored.len(), canopy_core::completion::MAX_LABEL_BYTES);
    assert!(name.starts_with(&stored));
    assert_eq!(app.session("plain").await.request_count, 1);
    still_serves(&app).await;
}
