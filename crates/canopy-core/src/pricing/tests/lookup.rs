//! The built-in catalog's coverage and how model names as providers report them are matched.

use super::{builtin, found, pair, per_m};
use crate::pricing::ModelPrice;

#[test]
fn builtin_catalog_covers_every_required_provider() {
    let catalog = builtin();
    assert_eq!(catalog.version(), "2026-11");
    assert!(catalog.len() > 700, "only {} models", catalog.len());
    assert!(!catalog.is_empty());
    for provider in [
        "openai",
        "anthropic",
        "gemini",
        "mistral",
        "groq",
        "deepseek",
        "xai",
        "together",
        "fireworks",
        "perplexity",
        "cerebras",
        "cohere",
    ] {
        assert!(
            catalog.provider_len(provider) > 0,
            "{provider} has no models"
        );
    }
    // OpenRouter has no rows of its own: its ids resolve to the vendor's entry by rule.
    assert_eq!(catalog.provider_len("openrouter"), 0);
    assert_eq!(
        found(&catalog, "openrouter", "openai/gpt-4o"),
        pair("openai", "gpt-4o")
    );
}

#[test]
fn each_provider_finds_the_name_its_api_reports() {
    let catalog = builtin();
    let cases = [
        ("openai", "gpt-4o-mini", "openai", "gpt-4o-mini"),
        (
            "anthropic",
            "claude-sonnet-4-5",
            "anthropic",
            "claude-sonnet-4-5",
        ),
        ("gemini", "gemini-2.5-pro", "google", "gemini-2.5-pro"),
        (
            "mistral",
            "mistral-large-latest",
            "mistral",
            "mistral-large-latest",
        ),
        ("groq", "openai/gpt-oss-120b", "groq", "openai/gpt-oss-120b"),
        ("deepseek", "deepseek-chat", "deepseek", "deepseek-chat"),
        (
            "xai",
            "grok-4.20-0309-reasoning",
            "xai",
            "grok-4.20-0309-reasoning",
        ),
        (
            "together",
            "meta-llama/Llama-3.3-70B-Instruct-Turbo",
            "together",
            "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        ),
        (
            "fireworks",
            "accounts/fireworks/models/deepseek-v3",
            "fireworks",
            "accounts/fireworks/models/deepseek-v3",
        ),
        ("perplexity", "sonar", "perplexity", "sonar"),
        ("cerebras", "llama-3.3-70b", "cerebras", "llama-3.3-70b"),
        ("cohere", "command-a-03-2025", "cohere", "command-a-03-2025"),
    ];
    for (route, model, provider, entry) in cases {
        assert_eq!(
            found(&catalog, route, model),
            pair(provider, entry),
            "{route} {model}"
        );
    }
    // Case does not matter, and the same name at another host is that host's price.
    let together = catalog.lookup("together", "META-LLAMA/llama-3.3-70b-instruct-turbo");
    assert_eq!(together.map(|m| m.price.input), Some(per_m(1.04)));
    let groq = catalog
        .lookup("groq", "openai/gpt-oss-120b")
        .map(|m| m.price);
    let fireworks = catalog.lookup("fireworks", "gpt-oss-120b").map(|m| m.price);
    assert_eq!(groq.and_then(|p| p.cache_read), Some(per_m(0.075)));
    assert_eq!(fireworks.and_then(|p| p.cache_read), Some(per_m(0.015)));
}

#[test]
fn dated_snapshots_find_their_base_model() {
    let catalog = builtin();
    // Listed snapshots match exactly.
    assert_eq!(
        found(&catalog, "openai", "gpt-4o-2024-08-06"),
        pair("openai", "gpt-4o-2024-08-06")
    );
    assert_eq!(
        found(&catalog, "openai", "gpt-4-0613"),
        pair("openai", "gpt-4-0613")
    );
    assert_eq!(
        found(&catalog, "anthropic", "claude-haiku-4-5-20251001"),
        pair("anthropic", "claude-haiku-4-5-20251001")
    );
    // Unlisted snapshots fall back to the undated name, in every date form.
    let cases = [
        ("openai", "gpt-4o-2025-02-14", "gpt-4o"),
        ("openai", "gpt-4o-mini-2025-02-14", "gpt-4o-mini"),
        ("openai", "gpt-4-0314", "gpt-4"),
        ("openai", "gpt-4.1-latest", "gpt-4.1"),
        (
            "anthropic",
            "claude-sonnet-4-6-20260301",
            "claude-sonnet-4-6",
        ),
        (
            "anthropic",
            "claude-sonnet-4-6@20260301",
            "claude-sonnet-4-6",
        ),
        ("anthropic", "claude-opus-4-8-latest", "claude-opus-4-8"),
    ];
    for (provider, model, entry) in cases {
        assert_eq!(
            found(&catalog, provider, model),
            pair(provider, entry),
            "{model}"
        );
    }
    // An existing `-latest` name is its own entry, not the undated one.
    assert_eq!(
        found(&catalog, "openai", "gpt-5-chat-latest"),
        pair("openai", "gpt-5-chat-latest")
    );
}

#[test]
fn a_longer_name_is_never_priced_as_a_shorter_model() {
    let catalog = builtin();
    let mini = catalog
        .lookup("openai", "gpt-4o-mini")
        .map(|m| m.price.input);
    let full = catalog.lookup("openai", "gpt-4o").map(|m| m.price.input);
    assert_eq!(mini, Some(per_m(0.15)));
    assert_eq!(full, Some(per_m(2.5)));
    let snapshot = catalog.lookup("openai", "gpt-4o-mini-2024-07-18");
    assert_eq!(snapshot.map(|m| m.price.input), Some(per_m(0.15)));
    for model in [
        "gpt-4o-minix",
        "gpt-4o-2",
        "gpt-4o-mini-ultra",
        "gpt-4o-8192",
    ] {
        assert_eq!(found(&catalog, "openai", model), None, "{model}");
    }
}

#[test]
fn unknown_models_have_no_price() {
    let catalog = builtin();
    assert!(catalog.lookup("openai", "gpt-7-hyper").is_none());
    assert!(catalog.lookup("local-vllm", "my-finetuned-llama").is_none());
    assert!(catalog.lookup("openai", "").is_none());
    // Rows the reference prices at zero everywhere (per-request models) are left out.
    assert!(catalog.lookup("gemini", "lyria-3-pro-preview").is_none());
}

#[test]
fn unknown_providers_match_the_model_alone() {
    let catalog = builtin();
    assert_eq!(
        found(&catalog, "local-vllm", "gpt-4o-mini"),
        pair("openai", "gpt-4o-mini")
    );
    assert_eq!(
        found(&catalog, "gateway", "claude-sonnet-4-5-20250929"),
        pair("anthropic", "claude-sonnet-4-5-20250929")
    );
    assert_eq!(
        found(&catalog, "gateway", "gpt-4o-2025-02-14"),
        pair("openai", "gpt-4o")
    );
    // Vertex names Claude with `@date`; the provider has no Claude rows, the model alone does.
    assert_eq!(
        found(&catalog, "vertex_ai", "claude-opus-4-7@20260416"),
        pair("anthropic", "claude-opus-4-7")
    );
}

#[test]
fn openrouter_ids_are_priced_as_the_vendors_model() {
    let catalog = builtin();
    let cases = [
        ("openai/gpt-4o", "openai", "gpt-4o"),
        ("openai/gpt-4o-mini", "openai", "gpt-4o-mini"),
        (
            "anthropic/claude-sonnet-4.5",
            "anthropic",
            "claude-sonnet-4-5",
        ),
        ("anthropic/claude-opus-4.6", "anthropic", "claude-opus-4-6"),
        ("google/gemini-2.5-pro", "google", "gemini-2.5-pro"),
        ("x-ai/grok-4.3", "xai", "grok-4.3"),
        (
            "mistralai/mistral-medium-3.5",
            "mistral",
            "mistral-medium-3.5",
        ),
        ("deepseek/deepseek-chat", "deepseek", "deepseek-chat"),
    ];
    for (model, provider, entry) in cases {
        assert_eq!(
            found(&catalog, "openrouter", model),
            pair(provider, entry),
            "{model}"
        );
    }
    // No first-party price exists for Llama and `:free` variants are not the vendor's price.
    assert_eq!(
        found(&catalog, "openrouter", "meta-llama/llama-3.3-70b-instruct"),
        None
    );
    assert_eq!(found(&catalog, "openrouter", "openai/gpt-4o:free"), None);
}

#[test]
fn gemini_route_and_model_prefixes_resolve_to_google() {
    let catalog = builtin();
    assert_eq!(
        found(&catalog, "gemini", "gemini-2.5-flash"),
        pair("google", "gemini-2.5-flash")
    );
    assert_eq!(
        found(&catalog, "GEMINI", "models/gemini-2.5-pro"),
        pair("google", "gemini-2.5-pro")
    );
}

#[test]
fn fine_tunes_are_priced_as_the_fine_tuned_base() {
    let catalog = builtin();
    let hit = catalog.lookup("openai", "ft:gpt-4o-mini-2024-07-18:acme::9xYz12");
    assert_eq!(hit.map(|m| m.model), Some("ft:gpt-4o-mini-2024-07-18"));
    assert_eq!(hit.map(|m| m.price.input), Some(per_m(0.3)));
    // The reference lists this row's cached-input price as a cache write; the build fixes it.
    let corrected = catalog
        .lookup("openai", "ft:gpt-4o-2024-11-20:acme:run:1")
        .map(|m| m.price);
    assert_eq!(
        corrected.map(|p| (p.cache_read, p.cache_write_5m)),
        Some((Some(per_m(1.875)), None))
    );
}

#[test]
fn builtin_prices_are_exact_decimals() {
    let catalog = builtin();
    let sonnet = catalog
        .lookup("anthropic", "claude-sonnet-4-5")
        .map(|m| m.price.clone());
    let expected = ModelPrice {
        input: 3_000_000_000,
        output: 15_000_000_000,
        cache_read: Some(300_000_000),
        cache_write_5m: Some(3_750_000_000),
        cache_write_1h: Some(6_000_000_000),
        ..ModelPrice::default()
    };
    assert_eq!(sonnet, Some(expected));
    let r7b = catalog
        .lookup("cohere", "command-r7b-12-2024")
        .map(|m| m.price.input);
    assert_eq!(r7b, Some(37_500_000), "0.0375 USD per 1M tokens");
}
