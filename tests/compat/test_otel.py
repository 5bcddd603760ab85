"""Traces instead of proxying: the real OpenTelemetry instrumentations of the OpenAI SDK
(OpenLLMetry's `opentelemetry-instrumentation-openai` and OpenInference's
`openinference-instrumentation-openai`) trace calls made straight to the mock provider, the
OpenTelemetry SDK's OTLP/HTTP exporter sends the spans to Canopy, and the session, its tree,
tokens and cost are read back through Canopy's API."""

from __future__ import annotations

import multiprocessing
import time

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

from conftest import CANOPY_KEY, http_json
from helpers import new_session_id, openai_cost


def provider(canopy_url: str, batch: bool) -> TracerProvider:
    """A tracer provider that exports to Canopy: span by span (each span in its own request,
    children before their parents) or in batches."""
    exporter = OTLPSpanExporter(
        endpoint=f"{canopy_url}/api/otel/v1/traces",
        headers={"Authorization": CANOPY_KEY},
    )
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": "compat-agent"}))
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    return tracer_provider


def session_detail(canopy, session_id: str, requests: int) -> dict:
    """The session's API answer once it holds `requests` calls (polled, 10 s at most)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            detail = http_json("GET", f"{canopy.url}/api/v1/session/{session_id}", headers={"Authorization": CANOPY_KEY})
            if detail["data"]["session"]["total_requests"] >= requests:
                return detail["data"]
        except Exception:  # noqa: BLE001 - a 404 until the first record is written
            pass
        assert time.monotonic() < deadline, f"session {session_id} did not reach {requests} requests"
        time.sleep(0.05)


def paths(node: dict) -> list[str]:
    return [node["path"]] + [p for child in node["children"] for p in paths(child)]


def in_fresh_process(driver, *args):
    """Runs `driver(*args)` in a new Python process: an instrumentation patches the OpenAI SDK
    for the whole process, and uninstrumenting does not undo all of it, so two
    instrumentations never share one."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(driver, args)


def usage_of(completion) -> dict:
    return {"prompt": completion.usage.prompt_tokens, "completion": completion.usage.completion_tokens}


def drive_openllmetry(canopy_url: str, mock_url: str, session_id: str) -> list[dict]:
    import openai
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    tracer_provider = provider(canopy_url, batch=False)
    OpenAIInstrumentor().instrument(tracer_provider=tracer_provider)
    tracer = tracer_provider.get_tracer("compat")
    client = openai.OpenAI(base_url=f"{mock_url}/v1", api_key="sk-direct", max_retries=0)
    with tracer.start_as_current_span("support-agent", attributes={"session.id": session_id, "user.id": "u-otel"}):
        with tracer.start_as_current_span("triage"):
            first = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Ticket 12: printer on fire"}]
            )
        with tracer.start_as_current_span("lookup_order", attributes={"gen_ai.operation.name": "execute_tool"}):
            pass
        second = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Draft a reply"}])
    tracer_provider.shutdown()
    return [usage_of(first), usage_of(second)]


def test_openllmetry_spans_sent_children_first_become_one_session(canopy, mock):
    session_id = new_session_id()
    first, second = in_fresh_process(drive_openllmetry, canopy.url, mock.url, session_id)

    # support-agent, triage, two chat calls and the tool step.
    detail = session_detail(canopy, session_id, 5)
    session = detail["session"]
    assert session["total_requests"] == 5
    assert session["prompt_tokens"] == first["prompt"] + second["prompt"]
    assert session["completion_tokens"] == first["completion"] + second["completion"]
    first_nano = openai_cost("gpt-4o-mini", first["prompt"], first["completion"])
    expected_nano = first_nano + openai_cost("gpt-4o", second["prompt"], second["completion"])
    assert session["total_cost"] == pytest.approx(expected_nano / 1e9)
    assert session["user_ids"] == ["u-otel"]

    assert "/support-agent/triage" in paths(detail["tree"])
    calls = [r for r in detail["requests"] if r["kind"] == "llm"]
    assert sorted(r["session_path"] for r in calls) == ["/support-agent", "/support-agent/triage"]
    by_path = {r["session_path"]: r for r in calls}
    assert by_path["/support-agent/triage"]["prompt_tokens"] == first["prompt"]
    assert by_path["/support-agent/triage"]["cost"] == pytest.approx(first_nano / 1e9)
    tool = [r for r in detail["requests"] if r["kind"] == "tool"]
    assert [t["request_model"] for t in tool] == ["lookup_order"]
    # Each call hangs under the span it ran in.
    ids = {r["request_model"]: r["request_id"] for r in detail["requests"] if r["kind"] == "data"}
    assert by_path["/support-agent/triage"]["parent_request_id"] == ids["triage"]
    assert by_path["/support-agent"]["parent_request_id"] == ids["support-agent"]


def drive_openinference(canopy_url: str, mock_url: str, session_id: str) -> dict:
    import openai
    from openinference.instrumentation import using_session
    from openinference.instrumentation.openai import OpenAIInstrumentor

    tracer_provider = provider(canopy_url, batch=True)
    OpenAIInstrumentor().instrument(tracer_provider=tracer_provider)
    tracer = tracer_provider.get_tracer("compat")
    client = openai.OpenAI(base_url=f"{mock_url}/v1", api_key="sk-direct", max_retries=0)
    with using_session(session_id):
        with tracer.start_as_current_span("planner", attributes={"openinference.span.kind": "AGENT"}):
            answer = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Plan the refund"}]
            )
    tracer_provider.force_flush()
    tracer_provider.shutdown()
    return usage_of(answer)


def test_openinference_spans_in_a_session_context_are_recorded_with_usage(canopy, mock):
    session_id = new_session_id()
    answer = in_fresh_process(drive_openinference, canopy.url, mock.url, session_id)

    # `using_session` marks the spans the instrumentation makes; the hand-made "planner" span
    # names no session and is not a call, so only its name is kept, in the call's path.
    detail = session_detail(canopy, session_id, 1)
    assert detail["session"]["total_requests"] == 1
    (call,) = [r for r in detail["requests"] if r["kind"] == "llm"]
    assert call["session_path"] == "/planner"
    assert call["prompt_tokens"] == answer["prompt"]
    assert call["completion_tokens"] == answer["completion"]
    assert call["cost"] == pytest.approx(openai_cost("gpt-4o-mini", answer["prompt"], answer["completion"]) / 1e9)
    assert call["request_properties"]["canopy-trace-id"]
    full = http_json("GET", f"{canopy.url}/api/v1/request/{call['request_id']}", headers={"Authorization": CANOPY_KEY})
    assert full["data"]["request_body"]["messages"][0]["content"] == "Plan the refund"
    assert full["data"]["response_body"]["usage"]["prompt_tokens"] == answer["prompt"]
