"""Scripts written for Helicone's API run unchanged against Canopy's `/api`.

Each test drives the gateway through the official SDK, then runs the code users already have —
the replay cookbook's `curl`, the sessions endpoints, the manual logger's body, InfraPrism's
analytics call — with only the base URL changed.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import requests

from conftest import CANOPY_KEY, http_json


def wait_for_calls(canopy, expected: int) -> None:
    """Records are written off the request path; wait (bounded) until the API sees them."""
    deadline = time.monotonic() + 10
    while True:
        count = http_json("POST", f"{canopy.url}/api/v1/request/count/query", {"filter": "all"})["data"]
        if count >= expected or time.monotonic() > deadline:
            assert count >= expected, f"only {count} of {expected} calls became queryable"
            return
        time.sleep(0.02)


def debate(canopy, session_id: str) -> list[str]:
    """The replay cookbook's agent: one session, one path, a prompt id on every call."""
    client = canopy.openai()
    conversation = [
        {"role": "system", "content": "You're an AI debate assistant."},
        {"role": "assistant", "content": "Welcome to our debate!"},
    ]
    ids = []
    for argument in ["Climate change is a natural cycle.", "Focus on immediate needs.", "Regulation hurts growth."]:
        conversation.append({"role": "user", "content": argument})
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini",
            messages=conversation,
            extra_headers={
                "Helicone-Session-Id": session_id,
                "Helicone-Session-Name": "AI Debate",
                "Helicone-Session-Path": "/debate/climate-change",
                "Helicone-Prompt-Id": "assistant-response",
            },
        )
        ids.append(raw.headers["helicone-id"])
        conversation.append({"role": "assistant", "content": raw.parse().choices[0].message.content})
    return ids


def test_the_replay_cookbooks_curl_runs_unchanged(canopy):
    session_id = str(uuid.uuid4())
    ids = debate(canopy, session_id)
    wait_for_calls(canopy, 3)
    # Step 2 of "Replaying LLM Sessions", with only the URL changed.
    out = subprocess.run(
        [
            "curl", "--silent", "--show-error", "--request", "POST",
            "--url", f"{canopy.url}/api/v1/request/query",
            "--header", "Content-Type: application/json",
            "--header", f"authorization: {CANOPY_KEY}",
            "--data", json.dumps({
                "limit": 100,
                "offset": 0,
                "sort_by": {"key": "request_created_at", "direction": "asc"},
                "filter": {"properties": {"Helicone-Session-Id": {"equals": session_id}}},
            }),
        ],
        check=True, capture_output=True, text=True, timeout=30,
    )
    body = json.loads(out.stdout)
    assert body["error"] is None
    rows = body["data"]
    assert [r["request_id"] for r in rows] == ids
    # What step 3 of the cookbook reads from each request.
    for row in rows:
        assert row["prompt_id"] == "assistant-response"
        system = next(m for m in row["request_body"]["messages"] if m["role"] == "system")
        assert system["content"] == "You're an AI debate assistant."
        assert row["properties"]["Helicone-Session-Path"] == "/debate/climate-change"
    assert len(rows[2]["request_body"]["messages"]) == 7, "the third call carries the whole history"
    # A replay can post straight back to the URL each row names.
    assert rows[0]["request_path"] == f"{canopy.url}/v1/chat/completions"


def test_sessions_endpoints_answer_helicones_bodies(canopy):
    session_id = str(uuid.uuid4())
    debate(canopy, session_id)
    wait_for_calls(canopy, 3)
    now = int(time.time() * 1000)
    body = {
        "search": "",
        "timeFilter": {"startTimeUnixMs": now - 3_600_000, "endTimeUnixMs": now + 60_000},
        "timezoneDifference": 0,
        "nameEquals": "AI Debate",
        "filter": "all",
    }
    sessions = http_json("POST", f"{canopy.url}/api/v1/session/query", body)["data"]
    assert [s["session_id"] for s in sessions] == [session_id]
    session = sessions[0]
    rows = http_json("POST", f"{canopy.url}/api/v1/request/query", {"filter": "all", "limit": 100})["data"]
    assert session["total_requests"] == 3
    assert session["prompt_tokens"] == sum(r["prompt_tokens"] for r in rows)
    assert abs(session["total_cost"] - sum(r["cost"] for r in rows)) < 1e-12
    names = http_json("POST", f"{canopy.url}/api/v1/session/name/query", {"nameContains": "debate", "timezoneDifference": 0})["data"]
    assert names[0]["name"] == "AI Debate"
    metrics = http_json(
        "POST", f"{canopy.url}/api/v1/session/metrics/query",
        {"nameContains": "AI Debate", "timezoneDifference": 0, "pSize": "p95", "useInterquartile": False},
    )["data"]
    assert metrics["average"]["session_count"][0]["average"] == 3
    detail = http_json("GET", f"{canopy.url}/api/v1/session/{session_id}")["data"]
    assert detail["tree"]["children"][0]["path"] == "/debate"
    assert detail["tree"]["children"][0]["children"][0]["rollup"]["requests"] == 3


def test_the_manual_loggers_body_joins_the_session(canopy):
    session_id = str(uuid.uuid4())
    debate(canopy, session_id)
    started = time.time()
    # What Helicone's manual logger sends: Helicone-* values as HTTP headers, an empty meta.
    response = requests.post(
        f"{canopy.url}/api/custom/v1/log",
        headers={
            "Authorization": CANOPY_KEY,
            "Helicone-Session-Id": session_id,
            "Helicone-Session-Path": "/debate/research",
            "Helicone-Session-Name": "AI Debate",
        },
        json={
            "providerRequest": {"url": "custom-model-nopath", "json": {"_type": "tool", "toolName": "web_search", "input": {"q": "climate"}}, "meta": {}},
            "providerResponse": {"json": {"results": 3}, "status": 200, "headers": {}},
            "timing": {
                "startTime": {"seconds": int(started), "milliseconds": 0},
                "endTime": {"seconds": int(started), "milliseconds": 400},
            },
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    wait_for_calls(canopy, 4)
    detail = http_json("GET", f"{canopy.url}/api/v1/session/{session_id}")["data"]
    assert detail["session"]["total_requests"] == 4
    tool = [t for t in detail["timeline"] if t["kind"] == "tool"]
    assert len(tool) == 1 and tool[0]["path"] == "/debate/research" and tool[0]["duration_ms"] == 400


def test_infraprisms_analytics_call_runs_unchanged(canopy):
    client = canopy.openai()
    session_id = str(uuid.uuid4())
    for turn in ["What is Python?", "What are its main features?"]:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": turn}],
            extra_headers={"Helicone-Session-Id": session_id, "Helicone-Property-Customer": "acme-corp"},
        )
    wait_for_calls(canopy, 2)
    # InfraPrism's "Querying Sessions" snippet, base URL changed.
    response = requests.get(
        f"{canopy.url}/api/v1/analytics/sessions",
        headers={"Authorization": "Bearer ip-..."},
        params={"entity_type": "customer", "entity_id": "acme-corp", "start_date": "2025-01-01"},
        timeout=30,
    )
    lines = []
    for session in response.json()["data"]:
        lines.append(f"Session {session['session_id']}")
        lines.append(f"  Turns: {session['turn_count']}")
        lines.append(f"  Cost: ${session['total_cost']:.4f}")
    assert lines[0] == f"Session {session_id}"
    assert lines[1] == "  Turns: 2"
