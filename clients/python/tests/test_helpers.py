"""The helpers against a live Canopy: per-call session fields, the session context, streams,
async clients and tool steps, each checked through Canopy's REST API."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import anthropic
import openai
import pytest

import canopy as cp
from conftest import ANTHROPIC_KEY, OPENAI_KEY, paths

MESSAGES = [{"role": "user", "content": "Help me triage ticket #4521"}]


def test_create_takes_the_session_fields_and_sends_nothing_extra_upstream(canopy, mock, api):
    client = cp.CanopyOpenAI(base_url=canopy.url, max_retries=0)
    assert isinstance(client, openai.OpenAI)
    assert client.base_url.path == "/v1/"
    sid = str(uuid.uuid4())
    reply = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        session_id=sid,
        session_path="/triage/classify",
        session_name="Support Ticket",
        user_id="u-42",
        tags={"feature": "chatbot"},
        properties={"env": "test"},
    )
    assert reply.choices[0].message.content.startswith("gpt-4o-mini reply ")
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        session_id=sid,
        session_path="/triage/respond",
        entity_type="customer",
        entity_id="acme-corp",
    )

    detail = api.session(sid, requests=2)
    assert detail["session"]["session_name"] == "Support Ticket"
    assert detail["session"]["user_ids"] == ["u-42"]
    assert paths(detail) == ["/", "/triage", "/triage/classify", "/triage/respond"]
    first, second = detail["requests"]
    assert first["session_path"] == "/triage/classify"
    assert first["request_user_id"] == "u-42"
    assert first["properties"]["feature"] == "chatbot"
    assert first["properties"]["env"] == "test"
    assert second["properties"]["customer"] == "acme-corp"
    assert "feature" not in second["properties"]
    # The provider saw a plain OpenAI call: no session field in the body, no Helicone header,
    # and its own key.
    for seen in mock.requests():
        body = json.loads(seen["body"]) if isinstance(seen["body"], str) else seen["body"]
        assert not set(body) & set(cp.FIELDS), body
        assert not [h for h in seen["headers"] if h.startswith("helicone-")], seen["headers"]
        assert seen["headers"]["authorization"] == f"Bearer {OPENAI_KEY}"
    # Sessions of the entity are found as InfraPrism's analytics API finds them.
    found = api.until(
        "/api/v1/analytics/sessions", lambda found: len(found) == 1, entity_type="customer", entity_id="acme-corp"
    )
    assert [s["session_id"] for s in found] == [sid]
    assert api.get("/api/v1/analytics/sessions", entity_type="user", entity_id="u-42")[0]["session_id"] == sid


def test_session_context_applies_to_every_call_and_nests(canopy, api):
    client = cp.CanopyOpenAI(base_url=canopy.url, max_retries=0)
    claude = cp.CanopyAnthropic(base_url=canopy.url, max_retries=0)
    with cp.session(session_name="Course Creation", user_id="teacher-1", tags={"feature": "courses"}) as s:
        assert uuid.UUID(s.session_id)
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, session_path="/abstract")
        with cp.session(session_path="/outline", tags={"step": "outline"}) as inner:
            assert inner.session_id == s.session_id
            claude.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=MESSAGES)
            # A call's own arguments win over the context.
            client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, session_path="/outline/lesson-1", user_id="teacher-2"
            )
        assert "session_path" not in cp.current()
    assert cp.current() == {}
    # Outside the context, nothing is sent.
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    detail = api.session(s.session_id, requests=3)
    assert detail["session"]["session_name"] == "Course Creation"
    assert sorted(detail["session"]["user_ids"]) == ["teacher-1", "teacher-2"]
    assert paths(detail) == ["/", "/abstract", "/outline", "/outline/lesson-1"]
    by_path = {r["session_path"]: r for r in detail["requests"]}
    assert by_path["/outline"]["provider"] == "ANTHROPIC"
    assert by_path["/outline"]["properties"]["feature"] == "courses"
    assert by_path["/outline"]["properties"]["step"] == "outline"
    assert "step" not in by_path["/abstract"]["properties"]
    calls = api.until("/api/v1/request/query", lambda calls: len(calls) == 4, {"filter": "all", "limit": 10})
    assert sum(1 for c in calls if c["session_id"] is None) == 1


def test_session_as_a_decorator_makes_one_session_per_call(canopy, api):
    client = cp.CanopyOpenAI(base_url=canopy.url, max_retries=0)

    @cp.session(session_name="Nightly report", properties={"job": "nightly"})
    def report(day: str) -> str:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, session_path=f"/report/{day}")
        return cp.current()["session_id"]

    monday, tuesday = report("monday"), report("tuesday")
    assert monday != tuesday
    for sid, day in ((monday, "monday"), (tuesday, "tuesday")):
        detail = api.session(sid, requests=1)
        assert detail["session"]["session_name"] == "Nightly report"
        assert detail["requests"][0]["session_path"] == f"/report/{day}"
        assert detail["requests"][0]["properties"]["job"] == "nightly"
    # Inside an enclosing session, the decorated function joins it.
    with cp.session(session_id="outer-run"):
        assert report("wednesday") == "outer-run"
    assert api.session("outer-run", requests=1)["session"]["session_name"] == "Nightly report"


def test_streams_work_and_are_recorded(canopy, api):
    client = cp.CanopyOpenAI(base_url=canopy.url, max_retries=0)
    claude = cp.CanopyAnthropic(base_url=canopy.url, max_retries=0)
    sid = str(uuid.uuid4())
    chunks = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, session_id=sid, session_path="/stream/openai"
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("gpt-4o-mini reply ")
    with claude.messages.stream(
        model="claude-haiku-4-5", max_tokens=64, messages=MESSAGES, session_id=sid, session_path="/stream/anthropic"
    ) as stream:
        claude_text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert claude_text.startswith("claude-haiku-4-5 reply ")

    detail = api.session(sid, requests=2)
    by_path = {r["session_path"]: r for r in detail["requests"]}
    assert by_path["/stream/openai"]["is_stream"] is True
    assert by_path["/stream/openai"]["completion_tokens"] > 0
    assert by_path["/stream/anthropic"]["is_stream"] is True
    assert by_path["/stream/anthropic"]["completion_tokens"] == final.usage.output_tokens


def test_async_clients_keep_concurrent_sessions_apart(canopy, api):
    client = cp.AsyncCanopyOpenAI(base_url=canopy.url, max_retries=0)
    claude = cp.AsyncCanopyAnthropic(base_url=canopy.url, max_retries=0)
    assert isinstance(client, openai.AsyncOpenAI) and isinstance(claude, anthropic.AsyncAnthropic)

    async def conversation(user: str) -> str:
        async with cp.session(session_name="Async", user_id=user) as s:
            for turn in range(3):
                await client.chat.completions.create(
                    model="gpt-4o-mini", messages=MESSAGES, session_path=f"/turn/{turn}"
                )
                await asyncio.sleep(0)
            await claude.messages.create(model="claude-haiku-4-5", max_tokens=32, messages=MESSAGES)
            return s.session_id

    async def main():
        try:
            return await asyncio.gather(conversation("alice"), conversation("bob"))
        finally:
            await client.close()
            await claude.close()

    alice, bob = asyncio.run(main())
    assert alice != bob
    for sid, user in ((alice, "alice"), (bob, "bob")):
        detail = api.session(sid, requests=4)
        assert detail["session"]["user_ids"] == [user]


def test_with_raw_response_and_wrap_of_an_existing_client(canopy, api):
    plain = openai.OpenAI(base_url=canopy.openai_url, max_retries=0)
    client = cp.wrap(plain)
    sid = str(uuid.uuid4())
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, session_id=sid, session_path="/raw"
    )
    call_id = raw.headers["helicone-id"]
    client.with_options(timeout=30).chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        session_id=sid,
        session_path="/copied",
        extra_headers={"Helicone-Session-Path": "/explicit"},
    )
    # A copy of a Canopy client is a Canopy client, at the same address, with the same key.
    copied = cp.CanopyOpenAI(base_url=canopy.url, canopy_key="ck", max_retries=0).with_options(timeout=30)
    assert isinstance(copied, cp.CanopyOpenAI)
    assert str(copied.base_url) == f"{canopy.openai_url}/"
    assert copied.default_headers["Helicone-Auth"] == "Bearer ck"
    copied.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, session_id=sid, session_path="/copy")
    claude = cp.CanopyAnthropic(base_url=canopy.url, max_retries=0).with_options(timeout=30)
    claude.messages.create(
        model="claude-haiku-4-5", max_tokens=16, messages=MESSAGES, session_id=sid, session_path="/claude-copy"
    )
    detail = api.session(sid, requests=4)
    assert detail["requests"][0]["request_id"] == call_id
    # Headers given explicitly win over the session fields.
    assert [r["session_path"] for r in detail["requests"]] == ["/raw", "/explicit", "/copy", "/claude-copy"]


def test_tool_and_retrieval_steps_join_the_session(canopy, api):
    client = cp.CanopyOpenAI(base_url=canopy.url, max_retries=0)

    @cp.tool
    def lookup_order(order_id: str, api_key: str) -> dict:
        # A call made inside a step sits under the step's path.
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        return {"order_id": order_id, "status": "shipped"}

    @cp.retrieval("kb_search")
    async def search(query: str, top_k: int = 3) -> list:
        return [f"doc-{n}" for n in range(top_k)]

    @cp.tool(name="refund", properties={"risk": "high"})
    def refund(order_id: str) -> None:
        raise RuntimeError("refunds are closed")

    with cp.session(session_name="Agent", session_path="/agent") as s:
        assert lookup_order("A-1", api_key="sk-never-stored") == {"order_id": "A-1", "status": "shipped"}
        assert asyncio.run(search("where is my order", top_k=2)) == ["doc-0", "doc-1"]
        with pytest.raises(RuntimeError, match="refunds are closed"):
            refund("A-1")
        with cp.step("load_profile", kind="data", input={"user": "u-1"}) as step:
            step.output = {"tier": "gold"}
        assert step.request_id is not None

    detail = api.session(s.session_id, requests=5)
    rows = {r["session_path"]: r for r in detail["requests"]}
    assert set(rows) == {
        "/agent/lookup_order",
        "/agent/kb_search",
        "/agent/refund",
        "/agent/load_profile",
    }, rows.keys()
    assert paths(detail) == [
        "/",
        "/agent",
        "/agent/lookup_order",
        "/agent/kb_search",
        "/agent/refund",
        "/agent/load_profile",
    ]
    lookup = [r for r in detail["requests"] if r["session_path"] == "/agent/lookup_order"]
    assert sorted(r["kind"] for r in lookup) == ["llm", "tool"]
    tool_row = next(r for r in lookup if r["kind"] == "tool")
    assert tool_row["model"] == "lookup_order"
    assert tool_row["request_body"]["input"] == {"order_id": "A-1", "api_key": "[redacted]"}
    assert tool_row["response_body"] == {"order_id": "A-1", "status": "shipped"}
    assert tool_row["response_status"] == 200
    llm_row = next(r for r in lookup if r["kind"] == "llm")
    # The step started before the call it made and ended after it.
    assert tool_row["request_created_at"] <= llm_row["request_created_at"]
    search_row = next(r for r in detail["requests"] if r["session_path"] == "/agent/kb_search")
    assert search_row["kind"] == "vector_db"
    assert search_row["request_body"]["input"] == {"query": "where is my order", "top_k": 2}
    assert search_row["response_body"] == {"output": ["doc-0", "doc-1"]}
    refund_row = next(r for r in detail["requests"] if r["session_path"] == "/agent/refund")
    assert refund_row["response_status"] == 500
    assert refund_row["error"]
    assert refund_row["response_body"]["error"] == {"type": "RuntimeError", "message": "refunds are closed"}
    assert refund_row["properties"]["risk"] == "high"
    data_row = next(r for r in detail["requests"] if r["session_path"] == "/agent/load_profile")
    assert data_row["kind"] == "data"
    assert data_row["request_id"] == step.request_id
    assert detail["session"]["error_count"] == 1
    assert "sk-never-stored" not in json.dumps(detail)


def test_a_step_canopy_cannot_take_is_dropped_with_a_warning(canopy, caplog):
    cp.configure(base_url="http://127.0.0.1:9", api_key="ck-secret-key")

    @cp.tool
    def ping() -> str:
        return "pong"

    with caplog.at_level(logging.WARNING, logger="canopy"):
        assert ping() == "pong"
    assert "step 'ping' was not recorded" in caplog.text
    assert "ck-secret-key" not in caplog.text


def test_bad_fields_fail_before_the_call(canopy):
    client = cp.CanopyOpenAI(base_url=canopy.url, max_retries=0)
    with pytest.raises(ValueError, match="entity_type and entity_id go together"):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, entity_type="customer")
    with pytest.raises(ValueError, match="cannot be a header name"):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tags={"two words": "x"})
    with pytest.raises(TypeError, match="tags must be a mapping"):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tags=["a"])
    with pytest.raises(ValueError, match="line break"):
        with cp.session(session_name="a\nb"):
            pass


def test_canopy_key_travels_in_helicone_auth(mock, tmp_path, monkeypatch):
    """With a key created, a client without it is refused; one with it (and its tool steps)
    lands in the key's organisation."""
    import subprocess
    import time

    from conftest import RECORD_TIMEOUT_S, Api, compat, start_canopy

    server = start_canopy(mock, tmp_path)
    try:
        created = subprocess.run(
            [compat.canopy_bin(), "keys", "create", "--org", "acme", "--store", server.store_url],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        key = next(w for w in created.stdout.split() if w.startswith("sk-canopy-"))
        anonymous = cp.CanopyOpenAI(base_url=server.url, api_key=OPENAI_KEY, max_retries=0)
        # A key created elsewhere applies within a second.
        deadline = time.monotonic() + RECORD_TIMEOUT_S
        while True:
            try:
                anonymous.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            except openai.AuthenticationError:
                break
            assert time.monotonic() < deadline, "Canopy kept serving calls without a key"
            time.sleep(0.05)

        monkeypatch.setenv("CANOPY_API_KEY", key)
        cp.configure(base_url=server.url)
        client = cp.CanopyOpenAI(base_url=server.url, api_key=OPENAI_KEY, max_retries=0)
        assert client.default_headers["Helicone-Auth"] == f"Bearer {key}"

        @cp.tool
        def lookup() -> str:
            return "found"

        with cp.session(session_id="keyed"):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            lookup()

        detail = Api(server.url, key).session("keyed", requests=2)
        assert sorted(r["kind"] for r in detail["requests"]) == ["llm", "tool"]
    finally:
        cp._config.reset()
        server.close()
