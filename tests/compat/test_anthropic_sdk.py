"""The official `anthropic` package against Canopy, unchanged but for its base URL."""

from __future__ import annotations

from conftest import ANTHROPIC_KEY
from helpers import anthropic_cost, anthropic_usage, new_session_id, recorded_tokens, reply_pattern, session_headers

HAIKU = "claude-haiku-4-5"
SONNET = "claude-sonnet-4-5"
SYSTEM = "You are a support triage assistant."
CACHE_KNOBS = {"x-mock-cached-tokens": "7", "x-mock-cache-write-tokens": "9"}


def credential_headers(headers: dict) -> dict:
    lowered = {k.lower(): v for k, v in headers.items()}
    return {k: lowered[k] for k in ("authorization", "x-api-key") if k in lowered}


def test_messages_create_plain_with_cache_tokens(canopy, mock):
    session_id = new_session_id()
    message = canopy.anthropic().messages.create(
        model=HAIKU,
        max_tokens=256,
        system=SYSTEM,
        messages=[{"role": "user", "content": "My invoice is wrong"}],
        extra_headers={
            **session_headers(session_id, "/triage/classify", "Support Ticket"),
            "Helicone-Property-Environment": "compat-test",
            **CACHE_KNOBS,
        },
    )
    assert message.type == "message" and message.role == "assistant"
    assert reply_pattern(HAIKU, "My invoice is wrong").match(message.content[0].text), message.content
    usage = message.usage
    assert usage.cache_read_input_tokens == 7 and usage.cache_creation_input_tokens == 9

    # The provider got the SDK's credential unchanged and no Canopy header.
    (received,) = [r for r in mock.requests() if r["path"] == "/v1/messages"]
    sent = credential_headers(received["headers"])
    assert sent and all(ANTHROPIC_KEY in v for v in sent.values()), received["headers"]
    assert not [k for k in received["headers"] if k.lower().startswith(("helicone-", "canopy-"))]

    canopy.stop()
    row = canopy.only_call()
    assert row["provider"] == "anthropic"
    assert row["request_path"] == "/anthropic/v1/messages"
    assert row["status"] == 200 and row["is_stream"] == 0
    assert row["usage_source"] == "reported"
    assert recorded_tokens(row) == anthropic_usage(usage)
    assert row["cost_nano"] == anthropic_cost(HAIKU, usage.input_tokens, usage.output_tokens, 7, 9)
    assert row["session_id"] == session_id
    assert row["session_path"] == "/triage/classify"
    assert row["session_name"] == "Support Ticket"
    assert row["properties"]["environment"] == "compat-test"

    assert ANTHROPIC_KEY.encode() not in canopy.store_bytes()
    stored = credential_headers(canopy.stored_request_headers(row["id"]))
    assert stored and set(stored.values()) == {"[REDACTED]"}, stored


def test_messages_stream_helper_with_cache_tokens(canopy):
    session_id = new_session_id()
    with canopy.anthropic().messages.stream(
        model=HAIKU,
        max_tokens=256,
        system=SYSTEM,
        messages=[{"role": "user", "content": "Please refund order 1234"}],
        extra_headers={**session_headers(session_id, "/triage/respond"), **CACHE_KNOBS},
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert reply_pattern(HAIKU, "Please refund order 1234").match(text), text
    assert final.content[0].text == text
    usage = final.usage
    assert usage.cache_read_input_tokens == 7 and usage.cache_creation_input_tokens == 9

    canopy.stop()
    row = canopy.only_call()
    assert row["is_stream"] == 1 and row["status"] == 200
    assert row["usage_source"] == "reported"
    assert recorded_tokens(row) == anthropic_usage(usage)
    assert row["cost_nano"] == anthropic_cost(HAIKU, usage.input_tokens, usage.output_tokens, 7, 9)
    assert row["time_to_first_token_ms"] is not None
    assert row["session_id"] == session_id and row["session_path"] == "/triage/respond"


def test_messages_create_stream_true(canopy):
    stream = canopy.anthropic().messages.create(
        model=SONNET,
        max_tokens=256,
        messages=[{"role": "user", "content": "What is the status of my ticket"}],
        stream=True,
    )
    text, input_tokens, output_tokens = "", None, None
    for event in stream:
        if event.type == "message_start":
            input_tokens = event.message.usage.input_tokens
        elif event.type == "content_block_delta":
            text += event.delta.text
        elif event.type == "message_delta":
            output_tokens = event.usage.output_tokens
    assert reply_pattern(SONNET, "What is the status of my ticket").match(text), text
    assert input_tokens and output_tokens

    canopy.stop()
    row = canopy.only_call()
    assert row["is_stream"] == 1 and row["status"] == 200
    assert row["pricing_model"] == SONNET
    assert row["prompt_tokens"] == input_tokens
    assert row["completion_tokens"] == output_tokens
    assert row["cost_nano"] == anthropic_cost(SONNET, input_tokens, output_tokens)
