"""The official `openai` package against Canopy, unchanged but for its base URL."""

from __future__ import annotations

import json
import uuid

import openai
import pytest

from conftest import OPENAI_KEY
from helpers import new_session_id, openai_cost, reply_pattern, session_headers

MODEL = "gpt-4o-mini"


def messages(text: str) -> list[dict]:
    return [
        {"role": "system", "content": "You are a support triage assistant."},
        {"role": "user", "content": text},
    ]


def test_chat_completion_plain_records_exact_usage_session_and_hides_the_key(canopy, mock):
    session_id = new_session_id()
    client = canopy.openai()  # default_headers={"Helicone-Auth": "Bearer x"}, api_key=OPENAI_KEY
    body = {"model": MODEL, "messages": messages("My invoice is wrong")}
    completion = client.chat.completions.create(
        **body,
        extra_headers={
            **session_headers(session_id, "/triage/classify", "Support Ticket"),
            "Helicone-Property-Environment": "compat-test",
            "Helicone-User-Id": "user-42",
        },
    )

    # The SDK parsed an ordinary chat completion.
    assert completion.object == "chat.completion"
    assert completion.model == MODEL
    assert reply_pattern(MODEL, "My invoice is wrong").match(completion.choices[0].message.content)
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0

    # The provider got the caller's real credential and body, and none of Canopy's headers.
    received = [r for r in mock.requests() if r["path"] == "/v1/chat/completions"]
    assert len(received) == 1
    headers = {k.lower(): v for k, v in received[0]["headers"].items()}
    assert headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert not [k for k in headers if k.startswith(("helicone-", "canopy-"))], headers
    assert json.dumps(received[0]["body"]) == json.dumps(body)  # same keys, values and order

    canopy.stop()
    row = canopy.only_call()
    assert row["status"] == 200
    assert row["provider"] == "openai"
    assert row["request_path"] == "/v1/chat/completions"
    assert row["is_stream"] == 0
    assert row["request_model"] == MODEL and row["response_model"] == MODEL
    assert row["usage_source"] == "reported"
    assert row["prompt_tokens"] == usage.prompt_tokens
    assert row["completion_tokens"] == usage.completion_tokens
    assert row["cost_nano"] == openai_cost(MODEL, usage.prompt_tokens, usage.completion_tokens)
    assert row["session_id"] == session_id
    assert row["session_path"] == "/triage/classify"
    assert row["session_name"] == "Support Ticket"
    assert row["user_id"] == "user-42"
    props = row["properties"]
    assert props["environment"] == "compat-test"
    assert props["Helicone-Session-Id"] == session_id
    assert props["Helicone-Session-Path"] == "/triage/classify"
    assert props["Helicone-Session-Name"] == "Support Ticket"

    # The provider key is stored nowhere: not in the file's bytes, and redacted in the headers.
    assert OPENAI_KEY.encode() not in canopy.store_bytes()
    stored_headers = {k.lower(): v for k, v in canopy.stored_request_headers(row["id"]).items()}
    assert stored_headers["authorization"] == "[REDACTED]"
    assert stored_headers["helicone-auth"] == "[REDACTED]"  # the Canopy key is a credential too


def test_chat_stream_without_include_usage_is_untouched_and_still_recorded_exactly(canopy, mock):
    body = {"model": MODEL, "messages": messages("Where is my parcel")}
    chunks = list(canopy.openai().chat.completions.create(**body, stream=True))

    # The client sees exactly the stream it asked for: no usage chunk, no extra chunk.
    assert chunks, "no chunks"
    assert all(chunk.usage is None for chunk in chunks)
    assert all(chunk.choices for chunk in chunks), "a chunk without choices reached the client"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert reply_pattern(MODEL, "Where is my parcel").match(text), text
    # Chunk for chunk what the provider streams for the request it got, without stream_options:
    # Canopy removed its injected usage chunk and nothing else. (The request the provider got is
    # used rather than `body`: see test_stream_usage_injection_keeps_the_body_as_sent.)
    (received,) = [r for r in mock.requests() if r["path"] == "/v1/chat/completions"]
    forwarded = {k: v for k, v in received["body"].items() if k not in ("stream", "stream_options")}
    direct = list(mock.openai().chat.completions.create(**forwarded, stream=True))
    assert [c.model_dump() for c in chunks] == [c.model_dump() for c in direct]

    # What the provider reports for this body when asked for usage.
    with_usage = list(
        mock.openai().chat.completions.create(**forwarded, stream=True, stream_options={"include_usage": True})
    )
    usage = with_usage[-1].usage
    assert usage is not None
    assert "".join(c.choices[0].delta.content or "" for c in with_usage if c.choices) == text

    canopy.stop()
    row = canopy.only_call()
    assert row["status"] == 200
    assert row["is_stream"] == 1
    assert row["usage_source"] == "reported"
    assert row["prompt_tokens"] == usage.prompt_tokens
    assert row["completion_tokens"] == usage.completion_tokens
    assert row["cost_nano"] == openai_cost(MODEL, usage.prompt_tokens, usage.completion_tokens)


def test_chat_stream_with_include_usage_delivers_the_usage_chunk(canopy):
    chunks = list(
        canopy.openai().chat.completions.create(
            model=MODEL,
            messages=messages("Cancel my subscription"),
            stream=True,
            stream_options={"include_usage": True},
            extra_headers={"x-mock-cached-tokens": "4"},
        )
    )
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None, last
    assert all(c.usage is None for c in chunks[:-1])
    usage = last.usage
    assert usage.prompt_tokens_details.cached_tokens == 4
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert reply_pattern(MODEL, "Cancel my subscription").match(text), text

    canopy.stop()
    row = canopy.only_call()
    assert row["is_stream"] == 1
    assert row["usage_source"] == "reported"
    assert row["prompt_tokens"] == usage.prompt_tokens
    assert row["completion_tokens"] == usage.completion_tokens
    assert row["cache_read_tokens"] == 4
    assert row["cost_nano"] == openai_cost(MODEL, usage.prompt_tokens, usage.completion_tokens, cached=4)


def test_responses_api_plain_and_streamed(canopy):
    client = canopy.openai(base_url=f"{canopy.url}/openai/v1")
    plain = client.responses.create(model=MODEL, input="Summarise the ticket")
    assert reply_pattern(MODEL, "Summarise the ticket").match(plain.output_text), plain.output_text
    assert plain.usage is not None

    events = list(client.responses.create(model=MODEL, input="Summarise it again", stream=True))
    completed = [e for e in events if e.type == "response.completed"]
    assert len(completed) == 1
    streamed = completed[0].response
    assert reply_pattern(MODEL, "Summarise it again").match(streamed.output_text), streamed.output_text
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == streamed.output_text
    assert streamed.usage is not None

    canopy.stop()
    for is_stream, usage in ((0, plain.usage), (1, streamed.usage)):
        row = canopy.only_call(request_path="/openai/v1/responses", is_stream=is_stream)
        assert row["provider"] == "openai"
        assert row["status"] == 200
        assert row["usage_source"] == "reported"
        assert row["prompt_tokens"] == usage.input_tokens
        assert row["completion_tokens"] == usage.output_tokens
        assert row["cost_nano"] == openai_cost(MODEL, usage.input_tokens, usage.output_tokens)
        assert row["cost_nano"] > 0


def test_embeddings(canopy):
    result = canopy.openai().embeddings.create(
        model="text-embedding-3-small", input=["first ticket text", "second ticket"]
    )
    assert len(result.data) == 2 and all(len(d.embedding) > 0 for d in result.data)
    assert result.usage.prompt_tokens > 0

    canopy.stop()
    row = canopy.only_call()
    assert row["request_path"] == "/v1/embeddings"
    assert row["usage_source"] == "reported"
    assert row["prompt_tokens"] == result.usage.prompt_tokens
    assert row["completion_tokens"] == 0
    assert row["cost_nano"] == result.usage.prompt_tokens * 20
    assert row["cost_nano"] > 0


def test_helicone_id_response_header_is_the_recorded_id(canopy):
    raw = canopy.openai().chat.completions.with_raw_response.create(
        model="gpt-4o", messages=messages("Reset my password")
    )
    request_id = raw.headers.get("helicone-id")
    assert request_id, dict(raw.headers)
    assert uuid.UUID(request_id).version == 7
    completion = raw.parse()
    assert completion.usage is not None

    canopy.stop()
    row = canopy.call(request_id)
    assert row["prompt_tokens"] == completion.usage.prompt_tokens
    assert row["completion_tokens"] == completion.usage.completion_tokens
    assert row["pricing_model"] == "gpt-4o"
    assert row["cost_nano"] == openai_cost("gpt-4o", completion.usage.prompt_tokens, completion.usage.completion_tokens)


def test_caller_chosen_request_id_is_used(canopy):
    chosen = str(uuid.uuid4())
    raw = canopy.openai().chat.completions.with_raw_response.create(
        model=MODEL, messages=messages("Hello"), extra_headers={"Helicone-Request-Id": chosen}
    )
    assert raw.headers.get("helicone-id") == chosen
    raw.parse()

    canopy.stop()
    assert canopy.call(chosen)["status"] == 200


def test_rate_limit_error_is_raised_recorded_and_counted_in_the_session(canopy, mock):
    session_id = new_session_id()
    client = canopy.openai()
    ok = client.chat.completions.create(
        model=MODEL, messages=messages("First try"), extra_headers=session_headers(session_id, "/triage")
    )
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(
            model=MODEL,
            messages=messages("Second try"),
            extra_headers={**session_headers(session_id, "/triage/respond"), "x-mock-status": "429"},
        )
    assert raised.value.status_code == 429
    assert "helicone-id" in raised.value.response.headers
    failed_id = raised.value.response.headers["helicone-id"]
    # max_retries=0 and no Helicone-Retry-Enabled: the provider saw the failing call once.
    assert len([r for r in mock.requests() if r["headers"].get("x-mock-status") == "429"]) == 1

    canopy.stop()
    failed = canopy.call(failed_id)
    assert failed["status"] == 429
    assert failed["session_id"] == session_id
    assert failed["session_path"] == "/triage/respond"
    assert failed["prompt_tokens"] == 0 and failed["completion_tokens"] == 0
    session = canopy.session(session_id)
    assert session["request_count"] == 2
    assert session["error_count"] == 1
    # The failed call was not billed: the totals are the successful call's.
    assert session["prompt_tokens"] == ok.usage.prompt_tokens
    assert session["completion_tokens"] == ok.usage.completion_tokens
    assert session["cost_nano"] == openai_cost(MODEL, ok.usage.prompt_tokens, ok.usage.completion_tokens)


def test_invalid_helicone_request_id_is_rejected_with_400(canopy, mock):
    with pytest.raises(openai.BadRequestError) as raised:
        canopy.openai().chat.completions.create(
            model=MODEL, messages=messages("Hello"), extra_headers={"Helicone-Request-Id": "not-a-uuid"}
        )
    assert raised.value.status_code == 400
    assert "helicone-request-id" in str(raised.value).lower(), str(raised.value)
    assert "helicone-request-id" in raised.value.message.lower()
    # Rejected, not forwarded with a replaced id.
    assert [r for r in mock.requests() if r["path"] == "/v1/chat/completions"] == []
    # The OpenAI-shaped error body the SDK parsed.
    assert isinstance(raised.value.body, dict) and "message" in raised.value.body
    # Still exactly one record, under the id the response announced.
    rejected_id = raised.value.response.headers["helicone-id"]
    canopy.stop()
    row = canopy.only_call()
    assert row["id"] == rejected_id
    assert row["status"] == 400
    assert "helicone-request-id" in (row["error"] or "").lower()


def test_stream_usage_injection_keeps_the_body_as_sent(canopy, mock):
    """Canopy may add `stream_options.include_usage`, but must not rewrite the rest of the body:
    key order is meaningful to providers (a structured-output schema's property order is the
    order the model writes the fields in)."""
    body = {
        "model": MODEL,
        "messages": messages("Classify this ticket"),
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "triage",
                "schema": {
                    "type": "object",
                    "properties": {"summary": {"type": "string"}, "category": {"type": "string"}},
                    "required": ["summary", "category"],
                    "additionalProperties": False,
                },
            },
        },
    }
    list(canopy.openai().chat.completions.create(**body, stream=True))
    (received,) = [r for r in mock.requests() if r["path"] == "/v1/chat/completions"]
    forwarded = dict(received["body"])
    assert forwarded.pop("stream_options") == {"include_usage": True}
    assert forwarded.pop("stream") is True
    # json.dumps keeps key order, so this compares order too, at every level.
    assert json.dumps(forwarded) == json.dumps(body)
