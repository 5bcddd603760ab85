#!/usr/bin/env python3
"""Builds Canopy's built-in price catalog (catalog.json) from a reference price file.

Usage: python3 build_catalog.py REFERENCE.json [OUTPUT.json]

REFERENCE.json is a list of per-token USD prices (see ../shared/pricing/reference-2026-11.json beside the checkout):
{"models": [{"provider", "model", "mode", "input", "output", "cache_read", ...}]}.
OUTPUT.json defaults to catalog.json beside this script. The output is deterministic: models are
sorted by (provider, model), prices are converted to USD per 1M tokens with decimal arithmetic and
printed without float noise (2.5, never 2.4999999999999996). Python 3.11 standard library only.

What the script does to the reference, in order:
1. Strips the LiteLLM routing prefix from model names (`gemini/`, `groq/`, `together_ai/`, ...) so
   the name is what the provider's API puts in its `model` field.
2. Drops LiteLLM's Together size buckets (`together-ai-8.1b-21b`), which are not model names.
3. Drops rows whose every price is zero: in the reference these are models billed per request or
   per second, or not priced yet; leaving them out records a null cost instead of a false 0.
4. Applies the hand-checked CORRECTIONS below.
5. When stripping a prefix makes two rows collide, keeps the row whose name had no prefix.
"""

from __future__ import annotations

import json
import sys
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

VERSION = "2026-11"
SOURCE = "LiteLLM 1.106.2 model price map (November 2026), via reference-2026-11.json"

# The LiteLLM routing prefix each provider's model names carry in the reference.
ROUTING_PREFIX = {
    "cerebras": "cerebras/",
    "deepseek": "deepseek/",
    "fireworks": "fireworks_ai/",
    "google": "gemini/",
    "groq": "groq/",
    "mistral": "mistral/",
    "perplexity": "perplexity/",
    "together": "together_ai/",
    "xai": "xai/",
}

# Names that are LiteLLM pricing buckets, not models an API returns.
DROP_PREFIX = {"together": "together-ai-"}

# Reference rows checked against the provider's price page and corrected: (provider, model) ->
# {reference field: field it really is}. OpenAI does not bill cache writes; the fine-tuned
# gpt-4o-2024-11-20 row carries its cached-input price under the wrong key.
CORRECTIONS = {
    ("openai", "ft:gpt-4o-2024-11-20"): {"cache_write_5m": "cache_read"},
}

BASE_FIELDS = [
    "input",
    "output",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "reasoning",
    "audio_input",
    "audio_output",
]
TIER_FIELDS = ["input", "output", "cache_read"]
TIER_THRESHOLDS = {"200k": 200_000, "272k": 272_000}

# The femto-USD grain of the Rust side: 1e-15 USD per token is 1e-9 USD per 1M tokens.
QUANTUM = Decimal("0.000000001")

# Route names the gateway uses that differ from the catalog's provider names.
PROVIDER_ALIASES = {
    "fireworks_ai": "fireworks",
    "gemini": "google",
    "mistralai": "mistral",
    "together_ai": "together",
    "vertex_ai": "google",
    "x-ai": "xai",
}

# When a model name is looked up without a known provider and several providers list it, the
# first provider in this order wins: vendors first, then hosts.
PROVIDER_PRIORITY = [
    "openai",
    "anthropic",
    "google",
    "mistral",
    "deepseek",
    "xai",
    "cohere",
    "groq",
    "together",
    "fireworks",
    "cerebras",
    "perplexity",
]

# OpenRouter ids are `vendor/model` and OpenRouter bills the vendor's price.
OPENROUTER_VENDORS = [
    ("anthropic/", "anthropic", [[".", "-"]]),
    ("cohere/", "cohere", []),
    ("deepseek/", "deepseek", []),
    ("google/", "google", []),
    ("mistralai/", "mistral", []),
    ("openai/", "openai", []),
    ("perplexity/", "perplexity", []),
    ("x-ai/", "xai", []),
]


def per_million(value: object, where: str) -> Decimal:
    """Converts a per-token USD price to a clean per-1M decimal."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SystemExit(f"{where}: price is not a number: {value!r}")
    amount = (Decimal(repr(value)) * 1_000_000).quantize(QUANTUM, rounding=ROUND_HALF_EVEN)
    if amount < 0:
        raise SystemExit(f"{where}: negative price {value!r}")
    return amount.normalize()


def fmt(amount: Decimal) -> str:
    """Prints a decimal as a plain JSON number: 2.5, 10, 0.0375."""
    text = format(amount, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def convert(row: dict) -> tuple[str, str, dict] | None:
    """Turns one reference row into (provider, model, prices), or None to leave it out."""
    provider = row["provider"]
    model = row["model"]
    where = f"{provider}/{model}"
    fields = dict(row)
    for wrong, right in CORRECTIONS.get((provider, model), {}).items():
        fields[right] = fields.pop(wrong)
    prefix = ROUTING_PREFIX.get(provider)
    if prefix and model.startswith(prefix):
        model = model[len(prefix) :]
    drop = DROP_PREFIX.get(provider)
    if drop and model.startswith(drop):
        return None
    prices: dict = {}
    for field in BASE_FIELDS:
        if fields.get(field) is not None:
            prices[field] = per_million(fields[field], f"{where}.{field}")
    tiers = []
    for suffix, threshold in TIER_THRESHOLDS.items():
        tier = {}
        for field in TIER_FIELDS:
            value = fields.get(f"{field}_above_{suffix}")
            if value is not None:
                tier[field] = per_million(value, f"{where}.{field}_above_{suffix}")
        if tier:
            tiers.append({"above_prompt_tokens": threshold, **tier})
    if "input" not in prices:
        return None
    if not any(prices.values()) and not any(v for t in tiers for k, v in t.items() if k in TIER_FIELDS):
        return None
    if tiers:
        prices["tiers"] = sorted(tiers, key=lambda t: t["above_prompt_tokens"])
    return provider, model, prices


def collect(reference: dict) -> dict:
    """Converts every row and resolves collisions; returns {(provider, model): (prefixed, prices)}."""
    chosen: dict = {}
    for row in reference["models"]:
        converted = convert(row)
        if converted is None:
            continue
        provider, model, prices = converted
        key = (provider, model.lower())
        prefixed = model != row["model"]
        if key in chosen:
            old_prefixed, old_prices = chosen[key][1], chosen[key][2]
            if old_prices != prices:
                print(f"note: {provider}/{model}: rows differ, keeping the un-prefixed one", file=sys.stderr)
            if prefixed or not old_prefixed:
                continue
        chosen[key] = (model, prefixed, prices)
    return chosen


def model_line(provider: str, model: str, prices: dict) -> str:
    parts = [f'"provider": {json.dumps(provider)}', f'"model": {json.dumps(model)}']
    for field in BASE_FIELDS:
        if field in prices:
            parts.append(f'"{field}": {fmt(prices[field])}')
    if "tiers" in prices:
        tiers = []
        for tier in prices["tiers"]:
            inner = [f'"above_prompt_tokens": {tier["above_prompt_tokens"]}']
            inner += [f'"{f}": {fmt(tier[f])}' for f in TIER_FIELDS if f in tier]
            tiers.append("{" + ", ".join(inner) + "}")
        parts.append('"tiers": [' + ", ".join(tiers) + "]")
    return "{" + ", ".join(parts) + "}"


def rules() -> dict:
    model_rules = [
        {
            "note": "An OpenAI fine-tune (ft:BASE:org:name:id) is billed at the fine-tuned price of BASE.",
            "providers": ["openai"],
            "prefix": "ft:",
            "cut_at": ":",
        },
        {
            "note": "Gemini names may come back as models/NAME.",
            "providers": ["google"],
            "prefix": "models/",
            "strip_prefix": True,
        },
    ]
    for prefix, provider, replace in OPENROUTER_VENDORS:
        rule = {
            "note": f"OpenRouter {prefix}MODEL is billed as {provider}'s MODEL.",
            "providers": ["openrouter"],
            "prefix": prefix,
            "strip_prefix": True,
            "provider": provider,
        }
        if replace:
            rule["replace"] = replace
        model_rules.append(rule)
    return {
        "provider_aliases": dict(sorted(PROVIDER_ALIASES.items())),
        "provider_priority": PROVIDER_PRIORITY,
        "model_rules": model_rules,
    }


def compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def render(chosen: dict) -> str:
    rows = sorted(chosen.items(), key=lambda item: (item[0][0], item[0][1]))
    lines = [model_line(provider, model, prices) for (provider, _), (model, _, prices) in rows]
    configured = rules()
    rule_lines = ",\n      ".join(compact(rule) for rule in configured["model_rules"])
    return (
        "{\n"
        f'  "version": {json.dumps(VERSION)},\n'
        f'  "source": {json.dumps(SOURCE)},\n'
        '  "unit": "USD per 1M tokens",\n'
        '  "rules": {\n'
        f'    "provider_aliases": {compact(configured["provider_aliases"])},\n'
        f'    "provider_priority": {compact(configured["provider_priority"])},\n'
        '    "model_rules": [\n      ' + rule_lines + "\n    ]\n"
        "  },\n"
        '  "models": [\n    ' + ",\n    ".join(lines) + "\n  ]\n}\n"
    )


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    reference = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    out = Path(argv[2]) if len(argv) == 3 else Path(__file__).with_name("catalog.json")
    chosen = collect(reference)
    out.write_text(render(chosen), encoding="utf-8")
    counts: dict = {}
    for provider, _ in chosen:
        counts[provider] = counts.get(provider, 0) + 1
    summary = ", ".join(f"{p} {n}" for p, n in sorted(counts.items()))
    print(f"wrote {out}: {len(chosen)} models ({summary})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
