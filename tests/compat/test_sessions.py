"""One Helicone session whose calls go through both official SDKs."""

from __future__ import annotations

from helpers import (
    anthropic_cost,
    anthropic_usage,
    new_session_id,
    openai_cost,
    recorded_tokens,
    session_headers,
)


def test_session_across_both_sdks_has_exact_totals(canopy, mock):
    session_id = new_session_id()
    oai = canopy.openai()
    ant = canopy.anthropic()
    expected = []  # (path, prompt_tokens, completion_tokens, cost_nano), in call order

    # 1. OpenAI, plain, names the session.
    first = oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Ticket 881: printer on fire"}],
        extra_headers={**session_headers(session_id, "/triage", "Support Ticket"), "Helicone-User-Id": "u-7"},
    )
    u = first.usage
    expected.append(("/triage", u.prompt_tokens, u.completion_tokens, openai_cost("gpt-4o-mini", u.prompt_tokens, u.completion_tokens)))

    # 2. Anthropic, plain, with cache tokens, no name; a path without its leading slash and with
    #    an empty segment is normalised.
    second = ant.messages.create(
        model="claude-haiku-4-5",
        max_tokens=128,
        system="Classify the ticket.",
        messages=[{"role": "user", "content": "Ticket 881: printer on fire"}],
        extra_headers={
            **session_headers(session_id, "triage//classify"),
            "x-mock-cached-tokens": "5",
            "x-mock-cache-write-tokens": "3",
        },
    )
    a = anthropic_usage(second.usage)
    expected.append(
        (
            "/triage/classify",
            a["prompt_tokens"],
            a["completion_tokens"],
            anthropic_cost("claude-haiku-4-5", second.usage.input_tokens, second.usage.output_tokens, 5, 3),
        )
    )

    # 3. OpenAI, streamed without include_usage, renames the session.
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Draft a reply about the fire"}]}
    chunks = list(
        oai.chat.completions.create(
            **body, stream=True, extra_headers=session_headers(session_id, "/triage/respond", "Escalated Ticket")
        )
    )
    assert all(c.usage is None for c in chunks)
    direct = list(
        mock.openai().chat.completions.create(**body, stream=True, stream_options={"include_usage": True})
    )
    u = direct[-1].usage
    expected.append(("/triage/respond", u.prompt_tokens, u.completion_tokens, openai_cost("gpt-4o", u.prompt_tokens, u.completion_tokens)))

    # 4. Anthropic, streamed, no name: the session keeps the latest non-empty one.
    with ant.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=128,
        messages=[{"role": "user", "content": "Polish the reply"}],
        extra_headers=session_headers(session_id, "/triage/respond", ""),
    ) as stream:
        stream.until_done()
        final = stream.get_final_message()
    a = anthropic_usage(final.usage)
    expected.append(
        (
            "/triage/respond",
            a["prompt_tokens"],
            a["completion_tokens"],
            anthropic_cost("claude-sonnet-4-5", final.usage.input_tokens, final.usage.output_tokens),
        )
    )

    # A call of another session and one without a session do not count.
    oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "unrelated"}],
        extra_headers=session_headers(new_session_id(), "/other", "Other"),
    )
    oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "no session"}])

    canopy.stop()
    calls = [c for c in canopy.calls() if c["session_id"] == session_id]
    # Calls within one millisecond have no defined order, so compare as sorted lists.
    recorded = [(c["session_path"], c["prompt_tokens"], c["completion_tokens"], c["cost_nano"]) for c in calls]
    assert sorted(recorded) == sorted(expected)
    assert sorted(c["provider"] for c in calls) == ["anthropic", "anthropic", "openai", "openai"]
    (classify,) = [c for c in calls if c["session_path"] == "/triage/classify"]
    assert classify["cache_read_tokens"] == 5 and classify["cache_write_tokens"] == 3

    session = canopy.session(session_id)
    assert session["request_count"] == 4
    assert session["error_count"] == 0
    assert session["unpriced_count"] == 0
    assert session["prompt_tokens"] == sum(e[1] for e in expected)
    assert session["completion_tokens"] == sum(e[2] for e in expected)
    assert session["cost_nano"] == sum(e[3] for e in expected)
    assert session["name"] == "Escalated Ticket"
    assert session["first_request_at"] == min(c["created_at"] for c in calls)
    assert session["last_request_at"] == max(c["created_at"] for c in calls)
    assert session["latency_sum_ms"] == sum(c["latency_ms"] for c in calls)
    # The totals are also the sum of what was recorded per call.
    assert session["prompt_tokens"] == sum(recorded_tokens(c)["prompt_tokens"] for c in calls)
