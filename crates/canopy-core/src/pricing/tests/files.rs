//! Loading Canopy's and LiteLLM's file formats, merging overrides, and errors for bad files.

use super::{builtin, found, pair, per_m};
use crate::Usage;
use crate::pricing::{PriceCatalog, PriceTier, PricingError};

const LITELLM: &str = r#"{
  "sample_spec": {"input_cost_per_token": 0.0, "litellm_provider": "one of https://docs.litellm.ai/docs/providers"},
  "gpt-4o": {"input_cost_per_token": 5e-06, "output_cost_per_token": 2e-05, "cache_read_input_token_cost": "2.5e-06", "litellm_provider": "openai", "mode": "chat"},
  "acme-large": {"input_cost_per_token": 1e-06, "output_cost_per_token": 3e-06, "output_cost_per_reasoning_token": 4e-06, "litellm_provider": "openai", "mode": "chat"},
  "gemini/gemini-9-pro": {"input_cost_per_token": 2e-06, "output_cost_per_token": 1.2e-05, "input_cost_per_token_above_200k_tokens": 4e-06, "output_cost_per_token_above_200k_tokens": 1.8e-05, "litellm_provider": "gemini", "mode": "chat"},
  "together_ai/acme/Big-Model": {"input_cost_per_token": 8.8e-07, "output_cost_per_token": 8.8e-07, "litellm_provider": "together_ai", "mode": "chat"},
  "dall-e-9": {"output_cost_per_image": 0.04, "litellm_provider": "openai", "mode": "image_generation"},
  "free-placeholder": {"input_cost_per_token": 0, "output_cost_per_token": 0, "litellm_provider": "openai", "mode": "chat"}
}"#;

#[test]
fn litellm_format_is_detected_and_parsed() {
    let catalog = PriceCatalog::from_json(LITELLM).expect("LiteLLM file parses");
    assert_eq!(catalog.version(), "litellm");
    assert_eq!(
        catalog.len(),
        4,
        "sample_spec, per-image and all-zero entries are skipped"
    );
    let gemini = catalog
        .lookup("gemini", "gemini-9-pro")
        .map(|m| m.price.clone());
    assert_eq!(
        gemini.map(|p| p.tiers),
        Some(vec![PriceTier {
            above_prompt_tokens: 200_000,
            input: Some(per_m(4.0)),
            output: Some(per_m(18.0)),
            cache_read: None,
        }])
    );
    let acme = catalog
        .lookup("openai", "acme-large")
        .map(|m| m.price.reasoning);
    assert_eq!(acme, Some(Some(per_m(4.0))));
    let together = catalog
        .lookup("together", "acme/big-model")
        .map(|m| m.model);
    assert_eq!(together, Some("acme/Big-Model"));
}

#[test]
fn an_override_wins_over_the_builtin_entry() {
    let mut catalog = builtin();
    let before = catalog.len();
    catalog.merge(PriceCatalog::from_json(LITELLM).expect("LiteLLM file parses"));
    assert_eq!(catalog.version(), "2026-11+litellm");
    assert_eq!(
        catalog.len(),
        before + 3,
        "gpt-4o is replaced, three models are new"
    );
    let gpt4o = catalog.lookup("openai", "gpt-4o").map(|m| m.price.clone());
    assert_eq!(gpt4o.as_ref().map(|p| p.input), Some(per_m(5.0)));
    assert_eq!(gpt4o.and_then(|p| p.cache_read), Some(per_m(2.5)));
    // Snapshots listed in the built-in catalog keep their own row; rules still apply.
    let snapshot = catalog
        .lookup("openai", "gpt-4o-2024-08-06")
        .map(|m| m.price.input);
    assert_eq!(snapshot, Some(per_m(2.5)));
    let routed = catalog
        .lookup("openrouter", "openai/gpt-4o")
        .map(|m| m.price.input);
    assert_eq!(routed, Some(per_m(5.0)));

    let own_format = r#"{
      "version": "acme-1",
      "rules": {"model_rules": [{"prefix": "acme:", "strip_prefix": true, "provider": "anthropic"}]},
      "models": [{"provider": "anthropic", "model": "Claude-Sonnet-4-5", "input": 2, "output": 10}]
    }"#;
    catalog.merge(PriceCatalog::from_json(own_format).expect("own format parses"));
    assert_eq!(catalog.version(), "2026-11+litellm+acme-1");
    let sonnet = catalog
        .lookup("anthropic", "claude-sonnet-4-5-20991231")
        .map(|m| m.price);
    assert_eq!(
        sonnet.map(|p| (p.input, p.cache_read)),
        Some((per_m(2.0), None))
    );
    assert_eq!(
        found(&catalog, "bedrock", "acme:claude-opus-4-5"),
        pair("anthropic", "claude-opus-4-5")
    );

    // An override filed under the route name lands on the catalog provider it means.
    let by_route = r#"{"version": "", "models": [{"provider": "gemini", "model": "gemini-2.5-pro", "input": 1}]}"#;
    let before = catalog.len();
    catalog.merge(PriceCatalog::from_json(by_route).expect("own format parses"));
    assert_eq!(catalog.len(), before);
    assert_eq!(catalog.version(), "2026-11+litellm+acme-1");
    let gemini = catalog.lookup("gemini", "gemini-2.5-pro");
    assert_eq!(
        gemini.map(|m| (m.provider, m.price.input)),
        Some(("google", per_m(1.0)))
    );
}

#[test]
fn malformed_files_say_what_is_wrong() {
    let message = |text: &str| match PriceCatalog::from_json(text) {
        Ok(_) => panic!("{text} should be rejected"),
        Err(error) => error.to_string(),
    };
    assert!(message("{\"version\": ").contains("not valid JSON"));
    assert!(message("[1, 2]").contains("found an array"));
    let typo = r#"{"version": "x", "models": [{"provider": "openai", "model": "m", "inptu": 1}]}"#;
    let text = message(typo);
    assert!(
        text.contains("unknown field `inptu`") && text.contains("line 1"),
        "{text}"
    );
    let missing = r#"{"version": "x", "models": [{"provider": "openai", "model": "m"}]}"#;
    assert!(message(missing).contains("missing field `input`"));
    let negative = r#"{"version": "x", "models": [{"provider": "openai", "model": "m", "input": 1, "output": -2}]}"#;
    let text = message(negative);
    assert!(
        text.contains("`output` of openai/m") && text.contains("-2"),
        "{text}"
    );
    let twice = r#"{"version": "x", "models": [
        {"provider": "openai", "model": "m", "input": 1}, {"provider": "OpenAI", "model": "M", "input": 2}]}"#;
    assert!(message(twice).contains("openai/M is listed twice"));
    let unit = r#"{"version": "x", "unit": "USD per token", "models": []}"#;
    assert!(message(unit).contains("USD per 1M tokens"));
    let rule = r#"{"version": "x", "rules": {"model_rules": [{"prefix": " "}]}, "models": []}"#;
    assert!(message(rule).contains("model rule 0"));
    let litellm = r#"{"gpt-x": {"input_cost_per_token": "cheap", "litellm_provider": "openai"}}"#;
    let text = message(litellm);
    assert!(
        text.contains("`input_cost_per_token`") && text.contains("\"gpt-x\""),
        "{text}"
    );
    assert!(message(r#"{"gpt-x": 3}"#).contains("\"gpt-x\" must be an object"));
    assert!(matches!(
        PriceCatalog::from_json(negative),
        Err(PricingError::InvalidPrice { field, .. }) if field == "output"
    ));
}

#[test]
fn cost_of_a_lookup_is_computed_from_the_catalog() {
    let catalog = builtin();
    let usage = Usage {
        prompt_tokens: 1_000,
        completion_tokens: 500,
        ..Usage::default()
    };
    let cost = catalog
        .lookup("local-vllm", "gpt-4o-mini")
        .map(|m| m.price.cost_nano_usd(&usage));
    assert_eq!(cost, Some(150_000 + 300_000));
}
