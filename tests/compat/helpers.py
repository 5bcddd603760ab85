"""Prices and expected-value helpers shared by the compatibility tests."""

from __future__ import annotations

import re
import uuid

# nano-USD per token (= USD per 1M tokens x 1000), from Canopy's price catalog.
PRICES = {
    "gpt-4o-mini": {"input": 150, "output": 600, "cached": 75},
    "gpt-4o": {"input": 2_500, "output": 10_000},
    "text-embedding-3-small": {"input": 20, "output": 0},
    "claude-haiku-4-5": {"input": 1_000, "output": 5_000, "cache_read": 100, "cache_write": 1_250},
    "claude-sonnet-4-5": {"input": 3_000, "output": 15_000},
}


def openai_cost(model: str, prompt: int, completion: int, cached: int = 0) -> int:
    """OpenAI reports cached tokens inside prompt_tokens."""
    price = PRICES[model]
    cached_cost = cached * price["cached"] if cached else 0
    return (prompt - cached) * price["input"] + cached_cost + completion * price["output"]


def anthropic_cost(model: str, input_tokens: int, output: int, cache_read: int = 0, cache_write: int = 0) -> int:
    """Anthropic reports input_tokens without the cache tokens."""
    price = PRICES[model]
    return (
        input_tokens * price["input"]
        + (cache_read * price["cache_read"] if cache_read else 0)
        + (cache_write * price["cache_write"] if cache_write else 0)
        + output * price["output"]
    )


def anthropic_usage(usage) -> dict:
    """An SDK `Usage` as the numbers Canopy records (prompt_tokens include cache tokens)."""
    read = usage.cache_read_input_tokens or 0
    write = usage.cache_creation_input_tokens or 0
    return {
        "prompt_tokens": usage.input_tokens + read + write,
        "completion_tokens": usage.output_tokens,
        "cache_read_tokens": read,
        "cache_write_tokens": write,
    }


def reply_pattern(model: str, last_user_message: str) -> re.Pattern[str]:
    """The mock's reply: `<model> reply <8 hex>: <the last user message>`."""
    return re.compile(rf"^{re.escape(model)} reply [0-9a-f]{{8}}: {re.escape(last_user_message)}$")


def session_headers(session_id: str, path: str, name: str | None = None) -> dict[str, str]:
    headers = {"Helicone-Session-Id": session_id, "Helicone-Session-Path": path}
    if name is not None:
        headers["Helicone-Session-Name"] = name
    return headers


def new_session_id() -> str:
    return str(uuid.uuid4())


def recorded_tokens(row: dict) -> dict:
    return {k: row[k] for k in ("prompt_tokens", "completion_tokens", "cache_read_tokens", "cache_write_tokens")}
