//! Call-level filters: every operator family, nulls, properties, scores and feedback,
//! complements, injection attempts, and filtered pages in every order.

use serde_json::{Value as Json, json};

use super::super::Engine;
use super::super::sample::session_query;
use super::{Fixture, ORG, T0, prop, rmt, sess};
use crate::query::filter::{Field, Filter, parse};
use crate::query::{CallQuery, CallSortKey};

/// Only the organisation's own calls and sessions are matched, with no filter or a simple one.
pub async fn everything_is_scoped_to_the_organisation(e: Engine) {
    let fx = Fixture::new(e).await;
    assert_eq!(fx.calls(json!("all")).await, ["a", "b", "c", "d", "f"]);
    assert_eq!(fx.sessions(json!({})).await, ["s1", "s2", "s3"]);
    assert_eq!(
        fx.calls(rmt("status", "equals", json!(200))).await,
        ["a", "c", "f"]
    );
}

/// `equals`, `not-equals`, `like`, `ilike`, `contains` and `not-contains` on text columns.
pub async fn text_operators(e: Engine) {
    let fx = Fixture::new(e).await;
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

/// Comparisons on numbers, on cost in USD and on timestamps in every accepted form.
pub async fn number_cost_and_timestamp_operators(e: Engine) {
    let fx = Fixture::new(e).await;
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

/// `"null"` is IS (NOT) NULL, and negative operators also match absent values.
pub async fn null_and_the_negatives_that_include_it(e: Engine) {
    let fx = Fixture::new(e).await;
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

/// Properties by exact key (odd keys included), the `request_response_rmt` and legacy forms, and
/// the Helicone keys that are read from their own columns.
pub async fn properties_including_the_helicone_keys_kept_as_columns(e: Engine) {
    let fx = Fixture::new(e).await;
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
    // Keys are stored lower-case (they arrive as header names), so a key in any case finds them.
    assert_eq!(fx.calls(prop("Tier", "equals", json!("gold"))).await, ["a"]);
    assert_eq!(
        fx.calls(prop("ENVIRONMENT", "contains", json!("PROD")))
            .await,
        ["b"]
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
    assert!(
        matches!(parse(&by_session), Ok(Filter::Leaf(c)) if c.field == Field::SessionId),
        "read from the session id column"
    );
    assert_eq!(fx.calls(by_session.clone()).await, ["a", "b"]);
    assert_eq!(fx.sessions(by_session).await, ["s1"]);
    let legacy =
        json!({"request": {"properties": {"Helicone-Session-Name": {"equals": "Billing"}}}});
    assert_eq!(fx.calls(legacy).await, ["c"]);
}

/// Named scores and feedback, in the current and the legacy form, at both levels.
pub async fn scores_and_feedback(e: Engine) {
    let fx = Fixture::new(e).await;
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

/// Each positive operator and its negative split the calls in two, nulls included.
pub async fn positives_and_negatives_partition_the_calls(e: Engine) {
    let fx = Fixture::new(e).await;
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
            serde_json::from_str::<Json>(&text).expect("a filter")
        };
        let mut both = fx.calls(with(positive)).await;
        let negatives = fx.calls(with(negative)).await;
        assert!(both.iter().all(|c| !negatives.contains(c)), "{template}");
        both.extend(negatives);
        both.sort_unstable();
        assert_eq!(both, all, "{template}");
    }
}

/// Values and keys that look like SQL are compared as data: they match nothing and change nothing.
pub async fn injection_attempts_match_nothing_and_harm_nothing(e: Engine) {
    let fx = Fixture::new(e).await;
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
    let q = &fx.engine.query;
    assert_eq!(
        q.count_calls(ORG).await.expect("count"),
        5,
        "every call is still there"
    );
    assert_eq!(q.count_calls("other").await.expect("count"), 1);
    let sessions = q
        .query_sessions(ORG, &session_query())
        .await
        .expect("sessions");
    assert_eq!(sessions.len(), 3, "every session is still there");
    let tags = q.session_tags(ORG, "s1").await.expect("tags");
    assert_eq!(tags, ["vip"]);
}

/// A filtered query sorts and pages like an unfiltered one.
pub async fn filtered_calls_sort_and_page(e: Engine) {
    let fx = Fixture::new(e).await;
    let page = |filter: Json, sort: CallSortKey, descending: bool, limit: u64, offset: u64| {
        let fx = &fx;
        async move {
            let query = CallQuery {
                filter: parse(&filter).expect("a valid filter"),
                sort,
                descending,
                limit,
                offset,
            };
            let rows = fx.engine.query.query_calls(ORG, &query).await;
            rows.expect("query_calls")
                .iter()
                .map(|r| fx.names[&r.id])
                .collect::<Vec<_>>()
        }
    };
    let not_500 = rmt("status", "not-equals", json!(500));
    let newest = |offset| page(not_500.clone(), CallSortKey::CreatedAt, true, 2, offset);
    assert_eq!(newest(0).await, ["f", "d"]);
    assert_eq!(newest(2).await, ["c", "a"]);
    assert!(newest(4).await.is_empty());
    let slow = rmt("latency", "gte", json!(300));
    assert_eq!(
        page(slow.clone(), CallSortKey::Latency, true, 10, 0).await,
        ["b", "c"]
    );
    assert_eq!(
        page(slow.clone(), CallSortKey::Latency, false, 10, 0).await,
        ["c", "b"]
    );
    assert_eq!(page(slow, CallSortKey::Latency, false, 1, 1).await, ["b"]);
    let openai = rmt("provider", "equals", json!("openai"));
    assert_eq!(page(openai, CallSortKey::Status, true, 1, 0).await, ["d"]);
}
