"""The API's OpenAPI document is valid and the live API keeps to it.

`openapi-spec-validator` checks the document `canopy serve` serves; Schemathesis then derives
requests from it (valid and invalid, with and without the key) and checks every answer: no
5xx, statuses, content types and bodies as documented, invalid input refused with a 400 in the
envelope, and no route answering without the key once keys exist. The run is bounded in
examples and time so CI stays fast. Like the rest of the suite, it runs on every store engine:
the document is the same, but what the API answers comes from the engine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from conftest import Mock, PostgresDatabase, Process, canopy_bin, store_engine

HERE = Path(__file__).resolve().parent
# Bounds of the Schemathesis run: examples per operation and phase, and the whole run's time.
MAX_EXAMPLES = 15
MAX_SECONDS = 90


class KeyedCanopy:
    """`canopy serve` with one key created, so every API route requires it."""

    def __init__(self, mock: Mock, tmp: Path):
        self.database = PostgresDatabase() if store_engine() == "postgres" else None
        store = self.database.url if self.database else f"sqlite://{tmp / 'canopy.db'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CANOPY_")}
        env["CANOPY_LOG"] = "warn"
        created = subprocess.run(
            [canopy_bin(), "keys", "create", "--org", "openapi", "--store", store],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp,
            timeout=60,
            check=True,
        )
        self.key = next(line for line in created.stdout.split() if line.startswith("sk-canopy-"))
        config = tmp / "canopy.toml"
        config.write_text(
            "\n".join(
                [
                    'listen = "127.0.0.1:0"',
                    f'store = "{store}"',
                    f'spool_dir = "{tmp / "spool"}"',
                    "[providers.openai]",
                    f'base_url = "{mock.url}"',
                    "",
                ]
            )
        )
        self.process = Process("canopy", [canopy_bin(), "serve", "--config", str(config)], tmp, env=env)
        self.url = self.process.url

    def get(self, path: str, key: str | None = None) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(f"{self.url}{path}")
        if key:
            request.add_header("Authorization", f"Bearer {key}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()


@pytest.fixture
def keyed(mock: Mock, tmp_path: Path):
    directory = tmp_path / "canopy"
    directory.mkdir()
    server = KeyedCanopy(mock, directory)
    yield server
    code = server.process.terminate()
    if server.database:
        server.database.drop()
    assert code == 0, f"canopy exited with {code}{server.process.stderr_tail()}"


def test_the_served_document_is_valid_openapi(keyed: KeyedCanopy):
    status, _, body = keyed.get("/api/openapi.json")
    assert status == 200
    document = json.loads(body)
    validate(document)

    ids = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            ids.append(operation["operationId"])
            assert "401" in operation["responses"], f"{method} {path} documents no 401"
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    assert "{" + parameter["name"] + "}" in path, f"{method} {path}: {parameter}"
    assert len(ids) == len(set(ids)), f"duplicate operation ids: {sorted(ids)}"
    assert "/api/v1/request/query-clickhouse" in document["paths"]
    assert "/api/v1/trace/custom/log" in document["paths"]
    assert {"bearer", "heliconeAuth"} <= set(document["components"]["securitySchemes"])


def test_errors_in_query_strings_and_bodies_answer_the_json_envelope(keyed: KeyedCanopy):
    status, headers, body = keyed.get("/api/v1/analytics/sessions?entity_type=user", keyed.key)
    assert status == 400, body
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["data"] is None

    for payload, content_type in [(b"[]", "application/json"), (b"{", "application/json"), (b"{}", "text/plain")]:
        request = urllib.request.Request(f"{keyed.url}/api/v1/session/query", data=payload, method="POST")
        request.add_header("content-type", content_type)
        request.add_header("Authorization", f"Bearer {keyed.key}")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 400, payload
        assert refused.value.headers["content-type"].startswith("application/json")
        answer = json.loads(refused.value.read())
        assert answer["data"] is None and answer["error"], answer


def test_schemathesis_finds_no_failures(keyed: KeyedCanopy, tmp_path: Path):
    schemathesis = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run(
        [
            str(schemathesis),
            "--no-color",
            "--config-file",
            str(HERE / "openapi-schemathesis.toml"),
            "run",
            f"{keyed.url}/api/openapi.json",
            # Both ways of sending the key, so a generated `Helicone-Auth` never replaces it.
            "--header",
            f"Authorization: Bearer {keyed.key}",
            "--header",
            f"Helicone-Auth: Bearer {keyed.key}",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--max-time",
            str(MAX_SECONDS),
            "--seed",
            "20261130",
            "--workers",
            "2",
            "--report-dir",
            str(tmp_path / "schemathesis"),
        ],
        capture_output=True,
        text=True,
        timeout=MAX_SECONDS + 120,
        # Schemathesis and Hypothesis keep their caches in the working directory.
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-4000:] + keyed.process.stderr_tail()
