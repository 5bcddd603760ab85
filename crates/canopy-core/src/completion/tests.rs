use std::sync::OnceLock;

use super::*;
use crate::record::{STATUS_UPSTREAM_UNREACHABLE, StoredBody};

fn prices() -> &'static PriceCatalog {
    static CATALOG: OnceLock<PriceCatalog> = OnceLock::new();
    CATALOG.get_or_init(|| PriceCatalog::builtin().unwrap())
}

fn call(model: &str, status: i32) -> CallRecord {
    CallRecord {
        provider: "openai".to_owned(),
        request_model: Some(model.to_owned()),
        status,
        ..CallRecord::default()
    }
}

fn usage(prompt: u64, completion: u64) -> Usage {
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        ..Usage::default()
    }
}

fn reported(u: Usage) -> ResponseFacts {
    ResponseFacts {
        usage: Some(u),
        ..ResponseFacts::default()
    }
}

#[test]
fn reported_usage_is_priced() {
    let mut record = call("gpt-4o-mini", 200);
    let done = complete(
        &mut record,
        reported(usage(100, 20)),
        true,
        |_| None,
        prices(),
        "openai",
    );
    assert_eq!(done, Completed::default());
    assert_eq!(record.usage_source, UsageSource::Reported);
    assert_eq!(record.pricing_model.as_deref(), Some("gpt-4o-mini"));
    assert!(record.cost_nano_usd.unwrap() > 0);
}

#[test]
fn a_call_the_provider_worked_on_is_estimated_when_nothing_was_reported() {
    for status in [200, STATUS_CLIENT_CANCELLED] {
        let mut record = call("gpt-4o-mini", status);
        let facts = ResponseFacts {
            output_text: "partial".to_owned(),
            ..ResponseFacts::default()
        };
        complete(
            &mut record,
            facts,
            true,
            |text| Some(usage(50, text.len() as u64)),
            prices(),
            "openai",
        );
        assert_eq!(record.usage_source, UsageSource::Estimated, "{status}");
        assert_eq!(record.usage, usage(50, 7));
        assert!(record.cost_nano_usd.unwrap() > 0);
    }
}

#[test]
fn a_cancelled_call_that_never_reached_the_upstream_is_not_estimated() {
    let mut record = call("gpt-4o-mini", STATUS_CLIENT_CANCELLED);
    complete(
        &mut record,
        ResponseFacts::default(),
        false,
        |_| Some(usage(1, 1)),
        prices(),
        "openai",
    );
    assert_eq!(record.usage_source, UsageSource::None);
    assert_eq!(record.cost_nano_usd, Some(0));
}

#[test]
fn a_priced_model_with_unknown_usage_costs_null_not_zero() {
    let mut record = call("gpt-4o", 200);
    let done = complete(
        &mut record,
        ResponseFacts::default(),
        true,
        |_| None,
        prices(),
        "openai",
    );
    assert!(done.usage_unknown);
    assert_eq!(record.cost_nano_usd, None);
    assert_eq!(record.usage_source, UsageSource::None);
    assert_eq!(record.pricing_model.as_deref(), Some("gpt-4o"));
}

#[test]
fn failed_calls_without_usage_cost_zero_and_unknown_models_cost_null() {
    for status in [429, 500, STATUS_UPSTREAM_UNREACHABLE] {
        let mut record = call("gpt-4o", status);
        complete(
            &mut record,
            ResponseFacts::default(),
            true,
            |_| Some(usage(9, 9)),
            prices(),
            "openai",
        );
        assert_eq!(record.cost_nano_usd, Some(0), "{status}");
        assert_eq!(record.usage, Usage::default());
    }
    let mut record = call("no-such-model-xyz", 200);
    let done = complete(
        &mut record,
        reported(usage(1, 1)),
        true,
        |_| None,
        prices(),
        "openai",
    );
    assert_eq!(done.unpriced_model.as_deref(), Some("no-such-model-xyz"));
    assert_eq!(record.cost_nano_usd, None);
}

#[test]
fn steps_that_are_not_model_calls_are_not_priced() {
    let mut record = CallRecord {
        kind: CallKind::Tool,
        request_model: Some("gpt-4o".to_owned()),
        status: 200,
        ..CallRecord::default()
    };
    let done = complete(
        &mut record,
        ResponseFacts::default(),
        true,
        |_| None,
        prices(),
        "custom",
    );
    assert_eq!(done, Completed::default());
    assert_eq!(record.cost_nano_usd, None);
}

#[test]
fn huge_figures_are_saturated_so_sums_cannot_overflow() {
    let mut record = call("gpt-4o", 200);
    let huge = Usage {
        prompt_tokens: u64::MAX,
        completion_tokens: i64::MAX as u64,
        cache_read_tokens: u64::MAX,
        ..Usage::default()
    };
    record.latency_ms = Some(-5);
    record.time_to_first_token_ms = Some(i64::MAX);
    complete(
        &mut record,
        reported(huge),
        true,
        |_| None,
        prices(),
        "openai",
    );
    assert_eq!(record.usage.prompt_tokens, MAX_TOKENS);
    assert_eq!(record.usage.completion_tokens, MAX_TOKENS);
    assert_eq!(record.usage.cache_read_tokens, MAX_TOKENS);
    let cost = record.cost_nano_usd.unwrap();
    assert!((0..=MAX_COST_NANO_USD).contains(&cost));
    assert_eq!(record.latency_ms, Some(0));
    assert_eq!(record.time_to_first_token_ms, Some(MAX_DURATION_MS));
    // Nine thousand saturated calls still sum inside i64.
    let mut sum: i64 = 0;
    for _ in 0..9_000 {
        sum = sum.checked_add(MAX_COST_NANO_USD).unwrap();
        let _ = i64::try_from(MAX_TOKENS * 9_000).unwrap();
    }
    assert!(sum > 0);

    let mut negative = CallRecord {
        cost_nano_usd: Some(-7),
        ..CallRecord::default()
    };
    validate(&mut negative);
    assert_eq!(negative.cost_nano_usd, Some(0));
}

#[test]
fn every_stored_url_and_error_text_is_redacted() {
    let mut record = CallRecord {
        target_url: "https://g.example/v1beta/m:generateContent?key=AIzaSECRET".to_owned(),
        request_path: "https://u:SECRET@h/log".to_owned(),
        error: Some("cannot reach http://h/x?token=SECRET".to_owned()),
        request_headers: [(
            "helicone-target-url".to_owned(),
            "https://bob:SECRET@127.0.0.1:1".to_owned(),
        )]
        .into(),
        properties: [
            ("from https://kim:SECRET@h".to_owned(), "v".to_owned()),
            ("plain".to_owned(), "w".to_owned()),
        ]
        .into(),
        request_body: StoredBody::default(),
        ..CallRecord::default()
    };
    validate(&mut record);
    let text = serde_json::to_string(&record).unwrap();
    assert!(!text.contains("SECRET"), "{text}");
    assert!(text.contains("key=[REDACTED]"), "{text}");
    assert_eq!(record.properties["from https://[REDACTED]@h"], "v");
    assert_eq!(record.properties["plain"], "w");
}

#[test]
fn labels_lose_their_secrets_before_they_are_cut() {
    let quoted = "run https://ci:SECRET@ci.example.com/42";
    // A cut at 1,024 bytes would fall inside the password, leaving no `@` to find it by.
    let long = format!("{}https://ci:SECRET{}@h", "x".repeat(1000), "S".repeat(100));
    let mut record = CallRecord {
        session_id: Some(quoted.to_owned()),
        session_path: Some("/fetch/https://bot:SECRET@h/x".to_owned()),
        session_name: Some(long.clone()),
        user_id: Some(quoted.to_owned()),
        request_model: Some("ft:gpt-4o-mini:org:custom".to_owned()),
        ..CallRecord::default()
    };
    validate(&mut record);
    let text = serde_json::to_string(&record).unwrap();
    assert!(!text.contains("SECRET"), "{text}");
    let stored = "run https://[REDACTED]@ci.example.com/42";
    assert_eq!(record.session_id.as_deref(), Some(stored));
    assert_eq!(record.user_id.as_deref(), Some(stored));
    assert_eq!(
        stored_label(quoted),
        stored,
        "a lookup by what was sent finds it"
    );
    assert_eq!(stored_label(&long), record.session_name.as_deref().unwrap());
    assert_eq!(
        record.request_model.as_deref(),
        Some("ft:gpt-4o-mini:org:custom")
    );
    let again = record.clone();
    validate(&mut record);
    assert_eq!(record, again, "validating twice changes nothing");
}

#[test]
fn times_stay_between_the_epoch_and_year_9999() {
    let mut record = CallRecord {
        created_at_ms: i64::MIN,
        response_created_at_ms: Some(i64::MAX),
        ..CallRecord::default()
    };
    validate(&mut record);
    assert_eq!(record.created_at_ms, 0);
    assert_eq!(record.response_created_at_ms, Some(MAX_TIME_MS));
}

#[test]
fn indexed_labels_are_cut_at_a_character_boundary_and_short_ones_kept() {
    let long = "é".repeat(3000);
    let mut record = CallRecord {
        session_id: Some(long.clone()),
        session_name: Some(long.clone()),
        user_id: Some(long.clone()),
        prompt_id: Some(long.clone()),
        request_model: Some(long.clone()),
        response_model: Some("gpt-4o".to_owned()),
        provider: long.clone(),
        ..CallRecord::default()
    };
    validate(&mut record);
    for label in [
        &record.session_id,
        &record.session_name,
        &record.user_id,
        &record.prompt_id,
        &record.request_model,
        &Some(record.provider.clone()),
    ] {
        let label = label.as_deref().unwrap();
        assert_eq!(label.len(), MAX_LABEL_BYTES);
        assert!(long.starts_with(label));
    }
    assert_eq!(record.response_model.as_deref(), Some("gpt-4o"));
}
