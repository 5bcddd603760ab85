"""InfraPrism's sessions guide, run against Canopy with only the import and the base URL changed.

Each example below is the guide's code as published, in a string, with exactly these edits:

- `from infraprism import InfraPrismOpenAI` became `from canopy import CanopyOpenAI`, and
  `InfraPrismOpenAI()` became `CanopyOpenAI(base_url=CANOPY_URL)`;
- `https://api.infraprism.com` became `CANOPY_URL + "/api"` in the analytics query.

The guide leaves `client`, `tools` and `execute_tool` to the app; the tests define them as an app
would. The sessions the examples make are then read back through Canopy's REST API.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import Api, start_canopy

# "Basic Usage": two turns of one session. The guide's `client` comes from its setup page.
BASIC_USAGE = '''
from canopy import CanopyOpenAI
client = CanopyOpenAI(base_url=CANOPY_URL)

import uuid

# Generate a session ID for this conversation
session_id = str(uuid.uuid4())

# First turn
response = client.chat.completions.create(
    model="gpt-4o",
    messages=[{"role": "user", "content": "What is Python?"}],
    entity_type="customer",
    entity_id="acme-corp",
    session_id=session_id,
)

# Second turn (same session)
response = client.chat.completions.create(
    model="gpt-4o",
    messages=[
        {"role": "user", "content": "What is Python?"},
        {"role": "assistant", "content": response.choices[0].message.content},
        {"role": "user", "content": "What are its main features?"},
    ],
    entity_type="customer",
    entity_id="acme-corp",
    session_id=session_id,  # Same session ID
)
'''

# "Chatbot Example", whole.
CHATBOT = '''
from canopy import CanopyOpenAI
import uuid

client = CanopyOpenAI(base_url=CANOPY_URL)

class ChatSession:
    def __init__(self, customer_id: str):
        self.customer_id = customer_id
        self.session_id = str(uuid.uuid4())
        self.messages = []

    def add_system_message(self, content: str):
        self.messages.append({"role": "system", "content": content})

    def chat(self, user_message: str) -> str:
        self.messages.append({"role": "user", "content": user_message})

        response = client.chat.completions.create(
            model="gpt-4o",
            messages=self.messages,
            entity_type="customer",
            entity_id=self.customer_id,
            session_id=self.session_id,
            tags={"feature": "chatbot"},
        )

        assistant_message = response.choices[0].message.content
        self.messages.append({"role": "assistant", "content": assistant_message})

        return assistant_message

# Usage
session = ChatSession("acme-corp")
session.add_system_message("You are a helpful assistant.")

print(session.chat("What is machine learning?"))
print(session.chat("How is it different from AI?"))
print(session.chat("Give me an example."))
'''

# "Querying Sessions": the analytics API.
ANALYTICS = '''
import requests

# Get session summary
response = requests.get(
    CANOPY_URL + "/api/v1/analytics/sessions",
    headers={"Authorization": "Bearer ip-..."},
    params={
        "entity_type": "customer",
        "entity_id": "acme-corp",
        "start_date": "2025-01-01",
    },
)

for session in response.json()["data"]:
    print(f"Session {session['session_id']}")
    print(f"  Turns: {session['turn_count']}")
    print(f"  Cost: ${session['total_cost']:.4f}")
'''

# "Agent Workflows", whole; `client` as in the chatbot example.
AGENT = '''
from canopy import CanopyOpenAI
import uuid

client = CanopyOpenAI(base_url=CANOPY_URL)

def run_agent(task: str, customer_id: str) -> str:
    session_id = str(uuid.uuid4())
    messages = [{"role": "user", "content": task}]

    while True:
        response = client.chat.completions.create(
            model="gpt-4o",
            messages=messages,
            tools=tools,
            entity_type="customer",
            entity_id=customer_id,
            session_id=session_id,
            tags={"feature": "agent"},
        )

        message = response.choices[0].message
        messages.append(message)

        if message.tool_calls:
            # Execute tools and continue
            for tool_call in message.tool_calls:
                result = execute_tool(tool_call)
                messages.append({
                    "role": "tool",
                    "tool_call_id": tool_call.id,
                    "content": result,
                })
        else:
            # Agent finished
            return message.content
'''


def run(code: str, canopy_url: str, **app) -> dict:
    namespace = {"CANOPY_URL": canopy_url, "__name__": "infraprism_example", **app}
    exec(compile(code, "infraprism_example", "exec"), namespace)
    return namespace


def test_basic_usage_and_chatbot_examples_make_sessions(canopy, api, capsys):
    basic = run(BASIC_USAGE, canopy.url)
    chatbot = run(CHATBOT, canopy.url)
    replies = capsys.readouterr().out.splitlines()
    assert len(replies) == 3 and all(r.startswith("gpt-4o reply ") for r in replies), replies

    two_turns = api.session(basic["session_id"], requests=2)
    assert {r["properties"]["customer"] for r in two_turns["requests"]} == {"acme-corp"}

    detail = api.session(chatbot["session"].session_id, requests=3)
    rows = detail["requests"]
    assert [r["properties"]["customer"] for r in rows] == ["acme-corp"] * 3
    assert [r["properties"]["feature"] for r in rows] == ["chatbot"] * 3
    # Each turn sent the whole conversation so far, and nothing of Canopy's.
    assert [len(r["request_body"]["messages"]) for r in rows] == [2, 4, 6]
    assert all(set(r["request_body"]) == {"model", "messages"} for r in rows)
    assert detail["session"]["total_cost"] > 0

    run(ANALYTICS, canopy.url)
    printed = capsys.readouterr().out
    for sid, turns in ((basic["session_id"], 2), (chatbot["session"].session_id, 3)):
        assert f"Session {sid}\n  Turns: {turns}\n  Cost: $" in printed, printed


class ScriptedAgentModel(BaseHTTPRequestHandler):
    """An OpenAI chat endpoint that asks for the weather tool once, then answers with what the
    tool said (the mock provider never calls tools)."""

    def do_POST(self) -> None:  # noqa: N802 - the handler's protocol
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        tool_results = [m for m in body["messages"] if m.get("role") == "tool"]
        if body.get("tools") and not tool_results:
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": json.dumps({"city": "Paris"})},
                    }
                ],
            }
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": f"Done: {tool_results[-1]['content'] if tool_results else ''}"}
            finish = "stop"
        answer = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": 1764547200,
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 12, "total_tokens": 52},
        }
        raw = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def agent_model():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedAgentModel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    class Upstream:
        url = f"http://127.0.0.1:{server.server_address[1]}"

    yield Upstream()
    server.shutdown()
    server.server_close()


def test_agent_example_makes_one_session_per_run(agent_model, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-agent-secret")
    server = start_canopy(agent_model, tmp_path)
    try:
        tools = [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ]
        executed = []

        def execute_tool(tool_call) -> str:
            executed.append(json.loads(tool_call.function.arguments))
            return "18 degrees and sunny"

        agent = run(AGENT, server.url, tools=tools, execute_tool=execute_tool)
        answer = agent["run_agent"]("What is the weather in Paris?", "acme-corp")
        assert answer == "Done: 18 degrees and sunny"
        assert executed == [{"city": "Paris"}]

        api = Api(server.url)
        found = api.until(
            "/api/v1/analytics/sessions",
            lambda sessions: sum(s["turn_count"] for s in sessions) == 2,
            entity_type="customer",
            entity_id="acme-corp",
        )
        assert len(found) == 1
        assert found[0]["turn_count"] == 2
        detail = api.session(found[0]["session_id"], requests=2)
        first, second = detail["requests"]
        assert first["properties"]["feature"] == "agent"
        assert first["response_body"]["choices"][0]["finish_reason"] == "tool_calls"
        # The assistant's tool call went back as the SDK serialised it, followed by the result.
        assert [m["role"] for m in second["request_body"]["messages"]] == ["user", "assistant", "tool"]
        assert second["request_body"]["messages"][1]["tool_calls"][0]["id"] == "call_1"
        assert detail["session"]["prompt_tokens"] == 80
    finally:
        server.close()
