"""Fixtures: the real `canopy` binary in front of its mock provider, as the SDK compatibility
suite runs them (its `tests/compat/conftest.py` is loaded and reused), plus Canopy's REST API.

Every test gets its own mock provider and gateway (port 0, a fresh store). What a test made is
read back through `GET /api/v1/session/{id}` and friends while the gateway runs: records are
written off the request path, so `session()` polls, with a bound, until the calls a test
expects are there.
"""

from __future__ import annotations

import importlib.util
import json
import time
import urllib.error
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

import canopy as canopy_client
from canopy import _config

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("canopy_compat_conftest", REPO / "tests" / "compat" / "conftest.py")
assert _spec is not None and _spec.loader is not None
compat = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compat)

#: How long records may take to become readable (Canopy's target is well under a second).
RECORD_TIMEOUT_S = 15.0
OPENAI_KEY = compat.OPENAI_KEY
ANTHROPIC_KEY = compat.ANTHROPIC_KEY


class Api:
    """Canopy's REST API, as a script would call it."""

    def __init__(self, url: str, key: str | None = None) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def get(self, path: str, **params: Any) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return compat.http_json("GET", f"{self.url}{path}{query}", headers=self.headers)["data"]

    def post(self, path: str, body: Any) -> Any:
        return compat.http_json("POST", f"{self.url}{path}", body, headers=self.headers)["data"]

    def until(self, path: str, done, body: Any = None, **params: Any) -> Any:
        """`GET path` (`POST` when given a body) once `done(answer)` holds (polled, bounded)."""
        deadline = time.monotonic() + RECORD_TIMEOUT_S
        while True:
            answer = self.get(path, **params) if body is None else self.post(path, body)
            if done(answer):
                return answer
            if time.monotonic() > deadline:
                raise AssertionError(f"{path} {params or body} still answered {answer} after {RECORD_TIMEOUT_S}s")
            time.sleep(0.02)

    def session(self, session_id: str, requests: int) -> dict:
        """`GET /api/v1/session/{id}`, bodies included, once it holds `requests` calls (polled,
        bounded)."""
        deadline = time.monotonic() + RECORD_TIMEOUT_S
        seen: Any = None
        while time.monotonic() < deadline:
            try:
                # Bodies are asked for; a server that always sends them ignores the parameter.
                seen = self.get(f"/api/v1/session/{urllib.parse.quote(session_id, safe='')}", include_bodies="true")
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    raise
                seen = None
            if seen is not None and seen["session"]["total_requests"] >= requests:
                assert seen["session"]["total_requests"] == requests, json.dumps(seen["session"])
                return seen
            time.sleep(0.02)
        raise AssertionError(f"session {session_id} did not reach {requests} calls in {RECORD_TIMEOUT_S}s: {seen}")


def paths(detail: dict) -> list:
    """Every node path of a session's tree, depth first."""
    out = []

    def walk(node: dict) -> None:
        out.append(node["path"])
        for child in node["children"]:
            walk(child)

    walk(detail["tree"])
    return out


@pytest.fixture
def mock(tmp_path: Path):
    log_dir = tmp_path / "mock"
    log_dir.mkdir()
    server = compat.Mock(log_dir)
    yield server
    server.process.kill()


def start_canopy(upstream: Any, tmp_path: Path):
    store_dir = tmp_path / "canopy"
    store_dir.mkdir()
    return compat.Canopy(upstream, store_dir)


@pytest.fixture
def canopy(mock, tmp_path: Path, monkeypatch):
    server = start_canopy(mock, tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.delenv("CANOPY_BASE_URL", raising=False)
    monkeypatch.delenv("CANOPY_API_KEY", raising=False)
    # Tool steps post to the configured Canopy.
    canopy_client.configure(base_url=server.url)
    yield server
    _config.reset()
    server.close()


@pytest.fixture
def api(canopy) -> Api:
    return Api(canopy.url)
