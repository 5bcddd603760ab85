//! Property tests: adding tokens to a call never lowers its cost, and cost is never negative,
//! for random prices (with tiers that rise, as real ones do) and for every built-in entry.

use proptest::prelude::*;

use super::builtin;
use crate::Usage;
use crate::pricing::{ModelPrice, PriceTier};

fn usage_strategy() -> impl Strategy<Value = Usage> {
    let small = || 0u64..2_000_000;
    (
        (small(), small(), small(), small()),
        (small(), small(), small(), small()),
    )
        .prop_map(|((p, cr, cw, cw1h), (c, r, ai, ao))| Usage {
            prompt_tokens: p + cr + cw + cw1h + ai,
            cache_read_tokens: cr,
            cache_write_tokens: cw,
            cache_write_1h_tokens: cw1h,
            audio_input_tokens: ai,
            completion_tokens: c + r + ao,
            reasoning_tokens: r,
            audio_output_tokens: ao,
        })
}

/// Adds each delta to its detail and to the total the detail belongs to.
fn add(base: &Usage, delta: &Usage, extra_prompt: u64, extra_completion: u64) -> Usage {
    let input_details = delta.cache_read_tokens
        + delta.cache_write_tokens
        + delta.cache_write_1h_tokens
        + delta.audio_input_tokens;
    let output_details = delta.reasoning_tokens + delta.audio_output_tokens;
    Usage {
        prompt_tokens: base.prompt_tokens + extra_prompt + input_details,
        cache_read_tokens: base.cache_read_tokens + delta.cache_read_tokens,
        cache_write_tokens: base.cache_write_tokens + delta.cache_write_tokens,
        cache_write_1h_tokens: base.cache_write_1h_tokens + delta.cache_write_1h_tokens,
        audio_input_tokens: base.audio_input_tokens + delta.audio_input_tokens,
        completion_tokens: base.completion_tokens + extra_completion + output_details,
        reasoning_tokens: base.reasoning_tokens + delta.reasoning_tokens,
        audio_output_tokens: base.audio_output_tokens + delta.audio_output_tokens,
    }
}

fn price_strategy() -> impl Strategy<Value = ModelPrice> {
    let femto = || 0u64..100_000_000_000;
    let detail = move || proptest::option::of(femto());
    (
        (femto(), femto(), detail(), detail()),
        (detail(), detail(), detail(), detail()),
        proptest::collection::vec((1u64..400_000, femto(), femto(), femto()), 0..3),
    )
        .prop_map(|((input, output, cr, cw), (cw1h, r, ai, ao), steps)| {
            // Each tier costs at least as much as the one below it, as real tiers do.
            let (mut above, mut tier_input, mut tier_output) = (0, input, output);
            let mut tier_cache = cr.unwrap_or(input);
            let tiers = steps
                .into_iter()
                .map(|(step, more_in, more_out, more_cache)| {
                    above += step;
                    tier_input += more_in;
                    tier_output += more_out;
                    tier_cache += more_cache;
                    PriceTier {
                        above_prompt_tokens: above,
                        input: Some(tier_input),
                        output: Some(tier_output),
                        cache_read: Some(tier_cache),
                    }
                })
                .collect();
            ModelPrice {
                input,
                output,
                cache_read: cr,
                cache_write_5m: cw,
                cache_write_1h: cw1h,
                reasoning: r,
                audio_input: ai,
                audio_output: ao,
                tiers,
            }
        })
}

proptest! {
    #[test]
    fn adding_tokens_never_lowers_cost(
        price in price_strategy(),
        base in usage_strategy(),
        delta in usage_strategy(),
        extra_prompt in 0u64..1_000_000,
        extra_completion in 0u64..1_000_000,
    ) {
        let before = price.cost_nano_usd(&base);
        let after = price.cost_nano_usd(&add(&base, &delta, extra_prompt, extra_completion));
        prop_assert!(before >= 0);
        prop_assert!(after >= before, "{after} < {before}");
    }

    #[test]
    fn builtin_prices_never_drop_when_tokens_are_added(
        pick in any::<prop::sample::Index>(),
        base in usage_strategy(),
        delta in usage_strategy(),
        extra_prompt in 0u64..400_000,
    ) {
        let catalog = builtin();
        let entry = &catalog.entries[pick.index(catalog.entries.len())];
        let before = entry.price.cost_nano_usd(&base);
        let after = entry.price.cost_nano_usd(&add(&base, &delta, extra_prompt, 0));
        prop_assert!(before >= 0);
        prop_assert!(after >= before, "{}/{}: {after} < {before}", entry.provider, entry.model);
    }
}
