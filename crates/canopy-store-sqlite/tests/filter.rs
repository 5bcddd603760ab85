//! The filter language against real SQLite rows: every operator family, nulls, properties,
//! scores, the crossings between calls and sessions, and injection attempts.
#![expect(
    clippy::unwrap_used,
    reason = "test support: a store or filter that fails to open or parse fails the test"
)]

use std::collections::HashMap;

use canopy_core::{CallKind, CallRecord};
use canopy_store::Ingest;
use canopy_store::query::filter::{Field, Filter, parse};
use canopy_store::testing::sample_call;
use canopy_store_sqlite::SqliteStore;
use canopy_store_sqlite::filter::{matching_call_ids, matching_session_ids};
use serde_json::{Value as Json, json};
use sqlx::SqlitePool;

const ORG: &str = "org";
/// 2025-01-01T00:00:00Z.
const T0: i64 = 1_735_689_600_000;

/// Calls `a` and `b` in session `s1` (tag `vip`), `c` in `s2` (tag `refund`), `d` with no
/// session, `f` in `s3` (no tags), and `x` in another organisation's `s1`.
struct Fixture {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    pool: SqlitePool,
    names: HashMap<String, &'static str>,
}

fn call(name: &'static str, session: Option<&str>, offset_ms: i64) -> (&'static str, CallRecord) {
    let org = if name == "x" { "other" } else { ORG };
    (name, sample_call(org, session, T0 + offset_ms))
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("x.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let pool = SqlitePool::connect(&url).await.unwrap();

        let (_, mut a) = call("a", Some("s1"), 0);
        a.properties.insert("tier".into(), "gold".into());

        let (_, mut b) = call("b", Some("s1"), 1_000);
        b.provider = "anthropic".into();
        b.request_model = Some("claude-3-5-sonnet".into());
        b.response_model = Some("claude-3-5-sonnet-20241022".into());
        b.status = 500;
        b.latency_ms = Some(900);
        b.cost_nano_usd = None;
        b.user_id = None;
        b.error = Some("boom".into());
        b.session_path = Some("/triage/answer".into());
        b.properties
            .insert("environment".into(), "production".into());

        let (_, mut c) = call("c", Some("s2"), 2_000);
        c.request_model = Some("gpt-4o".into());
        c.response_model = None;
        c.latency_ms = Some(300);
        c.cost_nano_usd = Some(5_000_000_000);
        c.usage.prompt_tokens = 1_000;
        c.usage.completion_tokens = 500;
        c.user_id = Some("user-2".into());
        c.kind = CallKind::Tool;
        c.session_name = Some("Billing".into());
        c.session_path = Some("/billing".into());
        c.properties.insert("tier".into(), "silver".into());
        c.properties.insert("we\"ird\\key".into(), "v".into());

        let (_, mut d) = call("d", None, 3_000);
        d.status = 429;
        d.latency_ms = None;
        d.cost_nano_usd = Some(0);
        d.prompt_id = None;
        d.properties.insert("app.version[0]".into(), "1.2".into());
        d.properties.insert("ключ".into(), "значение".into());

        let (_, f) = call("f", Some("s3"), 4_000);
        let (_, x) = call("x", Some("s1"), 5_000);

        let records = [("a", a), ("b", b), ("c", c), ("d", d), ("f", f), ("x", x)];
        let names = records
            .iter()
            .map(|(name, r)| (r.id.to_string(), *name))
            .collect();
        let batch: Vec<CallRecord> = records.iter().map(|(_, r)| r.clone()).collect();
        store.write(&batch).await.unwrap();

        let id = |name: &str| records.iter().find(|(n, _)| *n == name).unwrap().1.id;
        for (name, score, value) in [
            ("a", "accuracy", 0.9),
            ("c", "accuracy", 0.4),
            ("a", "helicone-score-feedback", 1.0),
            ("b", "helicone-score-feedback", 0.0),
            ("x", "accuracy", 0.9),
        ] {
            let org = if name == "x" { "other" } else { ORG };
            sqlx::query(
                "INSERT INTO call_scores (org_id, call_id, name, value, created_at) \
                 VALUES (?, ?, ?, ?, 0)",
            )
            .bind(org)
            .bind(id(name).to_string())
            .bind(score)
            .bind(value)
            .execute(&pool)
            .await
            .unwrap();
        }
        for (org, session, tag) in [
            (ORG, "s1", "vip"),
            (ORG, "s2", "refund"),
            ("other", "s1", "x"),
        ] {
            sqlx::query(
                "INSERT INTO session_tags (org_id, session_id, tag, created_at) VALUES (?, ?, ?, 0)",
            )
            .bind(org)
            .bind(session)
            .bind(tag)
            .execute(&pool)
            .await
            .unwrap();
        }
        Self {
            _dir: dir,
            store,
            pool,
            names,
        }
    }

    async fn calls(&self, filter: Json) -> Vec<&'static str> {
        let filter = parse(&filter).unwrap();
        let ids = matching_call_ids(&self.store, ORG, &filter).await.unwrap();
        ids.iter().map(|id| self.names[id]).collect()
    }

    async fn sessions(&self, filter: Json) -> Vec<String> {
        let filter = parse(&filter).unwrap();
        matching_session_ids(&self.store, ORG, &filter)
            .await
            .unwrap()
    }
}

fn rmt(column: &str, op: &str, value: Json) -> Json {
    json!({"request_response_rmt": { column: { op: value } }})
}

fn sess(column: &str, op: &str, value: Json) -> Json {
    json!({"sessions_request_response_rmt": { column: { op: value } }})
}

fn prop(key: &str, op: &str, value: Json) -> Json {
    json!({"properties": { key: { op: value } }})
}

fn and(left: Json, right: Json) -> Json {
    json!({"left": left, "operator": "and", "right": right})
}

fn or(left: Json, right: Json) -> Json {
    json!({"left": left, "operator": "or", "right": right})
}

#[tokio::test]
async fn everything_is_scoped_to_the_organisation() {
    let fx = Fixture::new().await;
    assert_eq!(fx.calls(json!("all")).await, ["a", "b", "c", "d", "f"]);
    assert_eq!(fx.sessions(json!({})).await, ["s1", "s2", "s3"]);
    assert_eq!(
        fx.calls(rmt("status", "equals", json!(200))).await,
        ["a", "c", "f"]
    );
}

#[tokio::test]
async fn text_operators() {
    let fx = Fixture::new().await;
    let model = |op: &str, v: &str| rmt("model", op, json!(v));
    assert_eq!(
        fx.calls(model("equals", "gpt-4o-mini-2024-07-18")).await,
        ["a", "d", "f"]
    );
    // The response's model wins; the request's stands in when the response named none.
    assert_eq!(fx.calls(model("equals", "gpt-4o")).await, ["c"]);
    assert_eq!(
        fx.calls(model("not-equals", "gpt-4o")).await,
        ["a", "b", "d", "f"]
    );
    assert_eq!(
        fx.calls(model("like", "gpt-4o%")).await,
        ["a", "c", "d", "f"]
    );
    assert_eq!(fx.calls(model("like", "GPT-4o%")).await, Vec::<&str>::new());
    assert_eq!(
        fx.calls(model("like", "gpt-4o_mini%")).await,
        ["a", "d", "f"]
    );
    assert_eq!(fx.calls(model("like", "gpt-4_")).await, ["c"]);
    assert_eq!(fx.calls(model("like", "gpt-4")).await, Vec::<&str>::new());
    assert_eq!(fx.calls(model("ilike", "GPT-4O")).await, ["c"]);
    assert_eq!(fx.calls(model("ilike", "%SONNET%")).await, ["b"]);
    assert_eq!(fx.calls(model("contains", "MINI")).await, ["a", "d", "f"]);
    assert_eq!(fx.calls(model("not-contains", "mini")).await, ["b", "c"]);
    let path = |op: &str, v: &str| rmt("session_path", op, json!(v));
    assert_eq!(fx.calls(path("like", "/triage/%")).await, ["a", "b", "f"]);
    assert_eq!(
        fx.calls(path("like", r"/triage\%")).await,
        Vec::<&str>::new()
    );
    assert_eq!(
        fx.calls(rmt("provider", "equals", json!("OPENAI"))).await,
        ["a", "c", "d", "f"]
    );
    assert_eq!(
        fx.calls(rmt("provider", "ilike", json!("ANTH%"))).await,
        ["b"]
    );
    assert_eq!(fx.calls(rmt("kind", "equals", json!("tool"))).await, ["c"]);
}

#[tokio::test]
async fn number_cost_and_timestamp_operators() {
    let fx = Fixture::new().await;
    assert_eq!(fx.calls(rmt("status", "gte", json!(400))).await, ["b", "d"]);
    assert_eq!(fx.calls(rmt("status", "equals", json!("429"))).await, ["d"]);
    assert_eq!(fx.calls(rmt("latency", "lt", json!(200))).await, ["a", "f"]);
    assert_eq!(
        fx.calls(rmt("latency", "lte", json!(300))).await,
        ["a", "c", "f"]
    );
    assert_eq!(
        fx.calls(rmt("latency", "gt", json!(299.5))).await,
        ["b", "c"]
    );
    assert_eq!(
        fx.calls(rmt("total_tokens", "gt", json!(1_000))).await,
        ["c"]
    );
    assert_eq!(
        fx.calls(rmt("prompt_cache_write_tokens", "equals", json!(3)))
            .await
            .len(),
        5
    );
    assert_eq!(fx.calls(rmt("cost", "gt", json!(1))).await, ["c"]);
    assert_eq!(
        fx.calls(rmt("cost", "lte", json!(0.000027))).await,
        ["a", "d", "f"]
    );
    assert_eq!(fx.calls(rmt("cost", "equals", json!(0))).await, ["d"]);
    let at = |op: &str, v: Json| rmt("request_created_at", op, v);
    assert_eq!(
        fx.calls(at("gte", json!("2025-01-01T00:00:03Z"))).await,
        ["d", "f"]
    );
    assert_eq!(
        fx.calls(at("lt", json!("2025-01-01 00:00:01"))).await,
        ["a"]
    );
    assert_eq!(fx.calls(at("equals", json!(T0 + 2_000))).await, ["c"]);
    assert_eq!(
        fx.calls(at("gt", json!("2025-01-01T01:00:01.500+01:00")))
            .await,
        ["c", "d", "f"]
    );
}

#[tokio::test]
async fn null_and_the_negatives_that_include_it() {
    let fx = Fixture::new().await;
    assert_eq!(
        fx.calls(rmt("latency", "equals", json!("null"))).await,
        ["d"]
    );
    assert_eq!(fx.calls(rmt("cost", "equals", json!("null"))).await, ["b"]);
    assert_eq!(
        fx.calls(rmt("user_id", "equals", json!("null"))).await,
        ["b"]
    );
    assert_eq!(
        fx.calls(rmt("session_id", "not-equals", json!("null")))
            .await,
        ["a", "b", "c", "f"]
    );
    // Negatives are complements: an absent value is "not equal".
    assert_eq!(
        fx.calls(rmt("latency", "not-equals", json!(120))).await,
        ["b", "c", "d"]
    );
    assert_eq!(
        fx.calls(rmt("user_id", "not-contains", json!("user-1")))
            .await,
        ["b", "c"]
    );
}

#[tokio::test]
async fn properties_including_the_helicone_keys_kept_as_columns() {
    let fx = Fixture::new().await;
    assert_eq!(fx.calls(prop("tier", "equals", json!("gold"))).await, ["a"]);
    assert_eq!(
        fx.calls(prop("tier", "not-equals", json!("gold"))).await,
        ["b", "c", "d", "f"]
    );
    assert_eq!(
        fx.calls(prop("tier", "equals", json!("null"))).await,
        ["b", "d", "f"]
    );
    assert_eq!(
        fx.calls(prop("tier", "not-equals", json!("null"))).await,
        ["a", "c"]
    );
    assert_eq!(
        fx.calls(prop("Tier", "equals", json!("gold"))).await,
        Vec::<&str>::new()
    );
    assert_eq!(
        fx.calls(prop("environment", "contains", json!("PROD")))
            .await,
        ["b"]
    );
    assert_eq!(
        fx.calls(prop("environment", "like", json!("te_t"))).await,
        ["a", "c", "d", "f"]
    );
    assert_eq!(
        fx.calls(prop("we\"ird\\key", "equals", json!("v"))).await,
        ["c"]
    );
    assert_eq!(
        fx.calls(prop("app.version[0]", "equals", json!("1.2")))
            .await,
        ["d"]
    );
    assert_eq!(
        fx.calls(prop("ключ", "contains", json!("знач"))).await,
        ["d"]
    );
    assert_eq!(
        fx.calls(prop("we\"ird\\key", "not-equals", json!("null")))
            .await,
        ["c"]
    );
    let rmt_prop = json!({"request_response_rmt": {"properties": {"tier": {"ilike": "SIL%"}}}});
    assert_eq!(fx.calls(rmt_prop).await, ["c"]);

    // Helicone's replay cookbook filters by this key; it reads the indexed column.
    let by_session = prop("Helicone-Session-Id", "equals", json!("s1"));
    let Filter::Leaf(condition) = parse(&by_session).unwrap() else {
        panic!("a leaf")
    };
    assert_eq!(condition.field, Field::SessionId);
    assert_eq!(fx.calls(by_session.clone()).await, ["a", "b"]);
    assert_eq!(fx.sessions(by_session).await, ["s1"]);
    let legacy =
        json!({"request": {"properties": {"Helicone-Session-Name": {"equals": "Billing"}}}});
    assert_eq!(fx.calls(legacy).await, ["c"]);
}

#[tokio::test]
async fn scores_and_feedback() {
    let fx = Fixture::new().await;
    let score =
        |op: &str, v: Json| json!({"request_response_rmt": {"scores": {"accuracy": {op: v}}}});
    assert_eq!(fx.calls(score("gte", json!(0.5))).await, ["a"]);
    assert_eq!(fx.calls(score("lt", json!("0.5"))).await, ["c"]);
    assert_eq!(
        fx.calls(score("equals", json!("null"))).await,
        ["b", "d", "f"]
    );
    assert_eq!(
        fx.calls(score("not-equals", json!(0.9))).await,
        ["b", "c", "d", "f"]
    );
    let feedback = |v: Json| rmt("helicone-score-feedback", "equals", v);
    assert_eq!(fx.calls(feedback(json!(true))).await, ["a"]);
    assert_eq!(fx.calls(feedback(json!("false"))).await, ["b"]);
    let legacy = json!({"feedback": {"rating": {"not-equals": true}}});
    assert_eq!(fx.calls(legacy).await, ["b", "c", "d", "f"]);
    assert_eq!(
        fx.sessions(feedback(json!(false))).await,
        ["s1"],
        "a session matches when any call does"
    );
}

#[tokio::test]
async fn calls_match_by_their_sessions_totals() {
    let fx = Fixture::new().await;
    assert_eq!(
        fx.calls(sess("session_total_cost", "gt", json!(1))).await,
        ["c"]
    );
    assert_eq!(
        fx.calls(sess("session_total_requests", "equals", json!(2)))
            .await,
        ["a", "b"]
    );
    assert_eq!(
        fx.calls(sess("session_total_tokens", "gt", json!(1_000)))
            .await,
        ["c"]
    );
    assert_eq!(
        fx.calls(sess("session_tag", "equals", json!("vip"))).await,
        ["a", "b"]
    );
    // A call without a session has no session to match, even negatively.
    assert_eq!(
        fx.calls(sess("session_tag", "not-equals", json!("vip")))
            .await,
        ["c", "f"]
    );
    assert_eq!(
        fx.calls(sess("session_tag", "equals", json!("null"))).await,
        ["f"]
    );
    assert_eq!(
        fx.calls(sess("session_session_id", "equals", json!("s2")))
            .await,
        ["c"]
    );
    assert_eq!(
        fx.calls(sess("session_session_id", "not-equals", json!("s2")))
            .await,
        ["a", "b", "f"]
    );
    assert_eq!(
        fx.calls(sess("session_session_id", "equals", json!("null")))
            .await,
        Vec::<&str>::new()
    );
    assert_eq!(
        fx.calls(sess("session_session_name", "equals", json!("Support")))
            .await,
        ["a", "b", "f"]
    );
    let created = sess("session_created_at", "gte", json!("2025-01-01T00:00:02Z"));
    assert_eq!(fx.calls(created).await, ["c", "f"]);
    let latest = sess(
        "session_latest_request_created_at",
        "equals",
        json!(T0 + 1_000),
    );
    assert_eq!(fx.calls(latest).await, ["a", "b"]);
    // Mixed levels in one tree.
    let mixed = and(
        sess("session_tag", "equals", json!("vip")),
        rmt("status", "equals", json!(500)),
    );
    assert_eq!(fx.calls(mixed).await, ["b"]);
}

#[tokio::test]
async fn sessions_match_when_any_call_matches() {
    let fx = Fixture::new().await;
    assert_eq!(
        fx.sessions(rmt("model", "contains", json!("claude"))).await,
        ["s1"]
    );
    assert_eq!(
        fx.sessions(rmt("user_id", "equals", json!("user-2"))).await,
        ["s2"]
    );
    assert_eq!(
        fx.sessions(rmt("status", "not-equals", json!(500))).await,
        ["s1", "s2", "s3"]
    );
    // Call-level conditions under one AND must hold for the same call.
    let same_call = and(
        rmt("model", "contains", json!("claude")),
        rmt("latency", "lt", json!(200)),
    );
    assert_eq!(fx.sessions(same_call).await, Vec::<String>::new());
    let either = or(
        rmt("model", "contains", json!("claude")),
        rmt("kind", "equals", json!("tool")),
    );
    assert_eq!(fx.sessions(either).await, ["s1", "s2"]);
    assert_eq!(
        fx.sessions(rmt("session_id", "equals", json!("s3"))).await,
        ["s3"]
    );
    assert_eq!(
        fx.sessions(sess("session_total_tokens", "gt", json!(1_000)))
            .await,
        ["s2"]
    );
    assert_eq!(
        fx.sessions(sess("session_tag", "contains", json!("UND")))
            .await,
        ["s2"]
    );
    assert_eq!(
        fx.sessions(sess("session_tag", "not-contains", json!("vip")))
            .await,
        ["s2", "s3"]
    );
    assert_eq!(
        fx.sessions(sess("session_session_name", "ilike", json!("bill%")))
            .await,
        ["s2"]
    );
    let mixed = and(
        sess("session_total_requests", "gte", json!(1)),
        and(
            rmt("status", "equals", json!(200)),
            rmt("kind", "equals", json!("llm")),
        ),
    );
    assert_eq!(fx.sessions(mixed).await, ["s1", "s3"]);
    // Another organisation's session `s1` and its scores never leak in.
    assert_eq!(
        fx.sessions(sess("session_tag", "equals", json!("x"))).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn positives_and_negatives_partition_the_calls() {
    let fx = Fixture::new().await;
    let all = fx.calls(json!("all")).await;
    let cases = [
        ("equals", "not-equals", rmt("model", "", json!("gpt-4o"))),
        (
            "contains",
            "not-contains",
            rmt("user_id", "", json!("USER")),
        ),
        ("equals", "not-equals", rmt("latency", "", json!(120))),
        ("equals", "not-equals", rmt("latency", "", json!("null"))),
        ("equals", "not-equals", prop("tier", "", json!("gold"))),
        (
            "contains",
            "not-contains",
            prop("environment", "", json!("prod")),
        ),
    ];
    for (positive, negative, template) in cases {
        let with = |op: &str| {
            let text = template.to_string().replace("\"\":", &format!("\"{op}\":"));
            serde_json::from_str::<Json>(&text).unwrap()
        };
        let mut both = fx.calls(with(positive)).await;
        let negatives = fx.calls(with(negative)).await;
        assert!(both.iter().all(|c| !negatives.contains(c)), "{template}");
        both.extend(negatives);
        both.sort_unstable();
        assert_eq!(both, all, "{template}");
    }
}

#[tokio::test]
async fn injection_attempts_match_nothing_and_harm_nothing() {
    let fx = Fixture::new().await;
    let nasty = "x' OR 1=1 --";
    assert_eq!(
        fx.calls(rmt("user_id", "equals", json!(nasty))).await,
        Vec::<&str>::new()
    );
    assert_eq!(
        fx.calls(rmt("model", "like", json!(nasty))).await,
        Vec::<&str>::new()
    );
    assert_eq!(
        fx.calls(rmt("model", "contains", json!(nasty))).await,
        Vec::<&str>::new()
    );
    assert_eq!(
        fx.calls(prop("tier", "equals", json!(nasty))).await,
        Vec::<&str>::new()
    );
    for key in [
        "a') OR 1=1 --",
        "a\"] OR 1=1; DROP TABLE calls; --",
        "$.tier",
        "tier\"",
        "\"",
        "",
    ] {
        assert_eq!(
            fx.calls(prop(key, "equals", json!("gold"))).await,
            Vec::<&str>::new(),
            "{key}"
        );
        let scores = json!({"request_response_rmt": {"scores": {key: {"gt": -1}}}});
        assert_eq!(fx.calls(scores).await, Vec::<&str>::new(), "{key}");
    }
    assert_eq!(
        fx.sessions(sess("session_tag", "equals", json!(nasty)))
            .await,
        Vec::<String>::new()
    );
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM calls")
        .fetch_one(&fx.pool)
        .await
        .unwrap();
    assert_eq!(count, 6, "every call is still there");
}
