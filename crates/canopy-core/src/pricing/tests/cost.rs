//! Cost arithmetic: costs computed by hand from the reference prices, fallbacks, tiers and
//! rounding.

use super::{per_m, price_of};
use crate::Usage;
use crate::pricing::{ModelPrice, PriceTier};

#[test]
fn gpt_4o_mini_call_costs_what_the_price_page_says() {
    // gpt-4o-mini: 0.15 USD/1M input, 0.075 cached input, 0.60 output.
    let usage = Usage {
        prompt_tokens: 1_000,
        cache_read_tokens: 200,
        completion_tokens: 500,
        reasoning_tokens: 0,
        ..Usage::default()
    };
    // 800 × 0.15 + 200 × 0.075 + 500 × 0.60 = 120 + 15 + 300 micro-USD.
    assert_eq!(
        price_of("openai", "gpt-4o-mini").cost_nano_usd(&usage),
        435_000
    );
}

#[test]
fn claude_sonnet_call_prices_cache_reads_and_both_cache_writes_apart() {
    // claude-sonnet-4-5: 3 input, 0.30 cache read, 3.75 5m write, 6 1h write, 15 output.
    let usage = Usage {
        prompt_tokens: 10_000,
        cache_read_tokens: 6_000,
        cache_write_tokens: 2_000,
        cache_write_1h_tokens: 1_000,
        completion_tokens: 800,
        ..Usage::default()
    };
    // 1000 × 3 + 6000 × 0.3 + 2000 × 3.75 + 1000 × 6 + 800 × 15 micro-USD.
    let expected = 3_000_000 + 1_800_000 + 7_500_000 + 6_000_000 + 12_000_000;
    let dated = price_of("anthropic", "claude-sonnet-4-5-20250929");
    assert_eq!(dated.cost_nano_usd(&usage), expected);
    assert_eq!(
        price_of("anthropic", "claude-sonnet-4-5").cost_nano_usd(&usage),
        30_300_000
    );
}

#[test]
fn reasoning_and_audio_are_priced_apart_with_fallbacks() {
    let price = ModelPrice {
        input: per_m(1.0),
        output: per_m(4.0),
        reasoning: Some(per_m(8.0)),
        audio_input: Some(per_m(40.0)),
        audio_output: Some(per_m(80.0)),
        ..ModelPrice::default()
    };
    let usage = Usage {
        prompt_tokens: 1_000,
        audio_input_tokens: 100,
        completion_tokens: 1_000,
        reasoning_tokens: 600,
        audio_output_tokens: 100,
        ..Usage::default()
    };
    // Input 900 × 1 + 100 × 40; output 300 × 4 + 600 × 8 + 100 × 80 (micro-USD).
    let expected = (900 + 4_000 + 1_200 + 4_800 + 8_000) * 1_000;
    assert_eq!(price.cost_nano_usd(&usage), expected);
    // Without detail prices every token costs the plain input or output price.
    let plain = ModelPrice {
        input: per_m(1.0),
        output: per_m(4.0),
        ..ModelPrice::default()
    };
    assert_eq!(plain.cost_nano_usd(&usage), (1_000 + 4_000) * 1_000);
    // A one-hour write falls back to the five-minute price, then to input.
    let cached = Usage {
        prompt_tokens: 1_000,
        cache_write_1h_tokens: 1_000,
        ..Usage::default()
    };
    let five_minutes = ModelPrice {
        cache_write_5m: Some(per_m(1.25)),
        ..plain.clone()
    };
    assert_eq!(five_minutes.cost_nano_usd(&cached), 1_250_000);
    assert_eq!(plain.cost_nano_usd(&cached), 1_000_000);
}

#[test]
fn google_reasoning_and_audio_input_use_their_own_prices() {
    // gemini-2.5-flash: 0.30 input, 1.00 audio input, 2.50 output and reasoning.
    let usage = Usage {
        prompt_tokens: 2_000,
        audio_input_tokens: 1_000,
        completion_tokens: 1_000,
        reasoning_tokens: 400,
        ..Usage::default()
    };
    let cost = price_of("gemini", "gemini-2.5-flash").cost_nano_usd(&usage);
    // 1000 × 0.30 + 1000 × 1.00 + 600 × 2.50 + 400 × 2.50 micro-USD.
    assert_eq!(cost, 300_000 + 1_000_000 + 1_500_000 + 1_000_000);
}

#[test]
fn long_context_tier_replaces_prices_above_the_threshold() {
    // gemini-2.5-pro: 1.25 / 10 / 0.125 up to 200k prompt tokens, 2.5 / 15 / 0.25 above.
    let price = price_of("gemini", "gemini-2.5-pro");
    let at = |prompt_tokens, cache_read_tokens| Usage {
        prompt_tokens,
        cache_read_tokens,
        completion_tokens: 1_000,
        ..Usage::default()
    };
    assert_eq!(
        price.cost_nano_usd(&at(200_000, 0)),
        250_000_000 + 10_000_000
    );
    let above = 500_000_000 + 12_500_000 + 15_000_000;
    assert_eq!(price.cost_nano_usd(&at(250_000, 50_000)), above);
    // gpt-5.4 switches at 272k: 2.5 / 15 below, 5 / 22.5 above.
    let gpt = price_of("openai", "gpt-5.4");
    assert_eq!(gpt.cost_nano_usd(&at(272_000, 0)), 680_000_000 + 15_000_000);
    assert_eq!(
        gpt.cost_nano_usd(&at(300_000, 0)),
        1_500_000_000 + 22_500_000
    );
}

#[test]
fn the_highest_applicable_tier_wins() {
    let tier = |above_prompt_tokens, input| PriceTier {
        above_prompt_tokens,
        input: Some(per_m(input)),
        ..PriceTier::default()
    };
    let price = ModelPrice {
        input: per_m(1.0),
        tiers: vec![tier(100, 2.0), tier(1_000, 3.0)],
        ..ModelPrice::default()
    };
    let prompt = |prompt_tokens| Usage {
        prompt_tokens,
        ..Usage::default()
    };
    assert_eq!(
        price.cost_femto_usd(&prompt(100)),
        100 * u128::from(per_m(1.0))
    );
    assert_eq!(
        price.cost_femto_usd(&prompt(101)),
        101 * u128::from(per_m(2.0))
    );
    assert_eq!(
        price.cost_femto_usd(&prompt(1_001)),
        1_001 * u128::from(per_m(3.0))
    );
}

#[test]
fn nano_usd_rounds_half_up_and_saturates() {
    let price = |input| ModelPrice {
        input,
        ..ModelPrice::default()
    };
    let tokens = |prompt_tokens| Usage {
        prompt_tokens,
        ..Usage::default()
    };
    assert_eq!(price(499_999).cost_nano_usd(&tokens(1)), 0);
    assert_eq!(price(500_000).cost_nano_usd(&tokens(1)), 1);
    assert_eq!(price(500_000).cost_nano_usd(&tokens(3)), 2);
    assert_eq!(price(1_000_000).cost_nano_usd(&tokens(0)), 0);
    let huge = Usage {
        prompt_tokens: u64::MAX,
        completion_tokens: u64::MAX,
        ..Usage::default()
    };
    let expensive = ModelPrice {
        input: 10u64.pow(18),
        output: 10u64.pow(18),
        ..ModelPrice::default()
    };
    assert_eq!(expensive.cost_nano_usd(&huge), i64::MAX);
}

#[test]
fn inconsistent_details_never_make_cost_negative() {
    // More cached tokens than prompt tokens: the uncached part is zero, not negative.
    let usage = Usage {
        prompt_tokens: 10,
        cache_read_tokens: 50,
        completion_tokens: 5,
        reasoning_tokens: 50,
        ..Usage::default()
    };
    let cost = price_of("openai", "gpt-4o-mini").cost_nano_usd(&usage);
    // 50 × 0.075 + 50 × 0.60 micro-USD.
    assert_eq!(cost, 3_750 + 30_000);
}
