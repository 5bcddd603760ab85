"""Fixtures that run the real `canopy` binary: the mock provider and a gateway in front of it.

Every test gets its own mock provider and its own gateway with a fresh store, so tests never see
each other's calls. Nothing waits on a fixed port or a sleep: both processes listen on port 0 and
the fixtures read the address each prints on its first stdout line.

The store engine comes from `CANOPY_TEST_STORE`: unset or `sqlite`, a SQLite file in the test's
temporary directory; `postgres` or `clickhouse`, a new database on the server named by the admin
URL in `CANOPY_TEST_POSTGRES_URL` or `CANOPY_TEST_CLICKHOUSE_URL` (`scripts/with-services.sh`
starts both and sets them), dropped after the test. Rows read from a server engine are given
SQLite's representation (JSON as text, booleans as 0/1, times as epoch milliseconds), so a test's
assertions hold on every engine.

A test makes calls through the official SDKs, then calls `canopy.stop()` (SIGTERM; the gateway
drains its write queue before it exits) and reads what was recorded with `canopy.calls()`,
`canopy.call(id)`, `canopy.session(id)` or `canopy.query(sql)`.
"""

from __future__ import annotations

import datetime
import decimal
import glob
import json
import os
import queue
import re
import shutil
import signal
import sqlite3
import subprocess
import threading
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import anthropic
import openai
import pytest

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0

# The key the SDKs are given. It must reach the provider and never be stored.
OPENAI_KEY = "sk-compat-secret"
ANTHROPIC_KEY = "sk-ant-compat-secret"
# The Canopy key sent in Helicone-Auth (Canopy runs open on loopback with no keys configured).
CANOPY_KEY = "Bearer x"


def store_engine() -> str:
    engine = os.environ.get("CANOPY_TEST_STORE") or "sqlite"
    if engine not in ("sqlite", "postgres", "clickhouse"):
        pytest.exit(
            f"CANOPY_TEST_STORE={engine!r}: expected `sqlite`, `postgres` or `clickhouse`",
            returncode=2,
        )
    return engine


class ClickHouseDatabase:
    """A new database on the ClickHouse test server, for one gateway; `drop()` removes it.
    `query()` runs SQL written with `?` placeholders over ClickHouse's HTTP interface."""

    def __init__(self):
        admin = os.environ.get("CANOPY_TEST_CLICKHOUSE_URL")
        if not admin:
            pytest.exit(
                "CANOPY_TEST_STORE=clickhouse needs CANOPY_TEST_CLICKHOUSE_URL: "
                "run under `bash scripts/with-services.sh`",
                returncode=2,
            )
        parts = urllib.parse.urlsplit(admin)
        self.endpoint = f"http://{parts.hostname}:{parts.port}/"
        self.user = urllib.parse.unquote(parts.username or "default")
        self.password = urllib.parse.unquote(parts.password or "")
        self.name = f"canopy_compat_{uuid.uuid4().hex}"
        self._run(f"CREATE DATABASE {self.name}", database="default")
        self.url = parts._replace(path=f"/{self.name}").geturl()

    def _run(self, sql: str, database: str | None = None, params: dict[str, str] | None = None) -> bytes:
        query = {"database": database or self.name, "output_format_json_quote_64bit_integers": "0"}
        for key, value in (params or {}).items():
            query[f"param_{key}"] = value
        request = urllib.request.Request(
            f"{self.endpoint}?{urllib.parse.urlencode(query)}",
            data=sql.encode(),
            method="POST",
            headers={"X-ClickHouse-User": self.user, "X-ClickHouse-Key": self.password},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read()

    def query(self, sql: str, *params) -> list[dict]:
        bound = {}
        for n, value in enumerate(params):
            sql = sql.replace("?", f"{{p{n}:String}}", 1)
            bound[f"p{n}"] = str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
        body = self._run(f"{sql} FORMAT JSONEachRow", params=bound)
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    def dump(self) -> bytes:
        """Every row of every table of the database, as text."""
        tables = self._run(
            "SELECT name FROM system.tables WHERE database = currentDatabase() "
            "AND engine NOT IN ('View', 'MaterializedView') ORDER BY name FORMAT TSV"
        )
        return b"".join(self._run(f"SELECT * FROM {t.decode()} FORMAT TSV") for t in tables.split())

    def drop(self) -> None:
        self._run(f"DROP DATABASE IF EXISTS {self.name}", database="default")


class PostgresDatabase:
    """A new database on the test server, for one gateway; `drop()` removes it."""

    def __init__(self):
        admin = os.environ.get("CANOPY_TEST_POSTGRES_URL")
        if not admin:
            pytest.exit(
                "CANOPY_TEST_STORE=postgres needs CANOPY_TEST_POSTGRES_URL: "
                "run under `bash scripts/with-services.sh`",
                returncode=2,
            )
        import psycopg

        self.admin = admin
        self.name = f"canopy_compat_{uuid.uuid4().hex}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = urllib.parse.urlsplit(admin)._replace(path=f"/{self.name}").geturl()

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def postgres_program(name: str) -> str:
    """A PostgreSQL client program of the newest installed version (it must not be older than
    the server), else the one on the PATH."""
    installed = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    found = installed[-1] if installed else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: install it with `apt-get install postgresql-client`")
    return found


def sqlite_value(value):
    """A PostgreSQL value as SQLite's schema stores it."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def canopy_bin() -> str:
    path = os.environ.get("CANOPY_BIN") or str(REPO / "target" / "debug" / "canopy")
    if not os.access(path, os.X_OK):
        pytest.exit(
            f"canopy binary not found at {path}: run `cargo build -p canopy` or set CANOPY_BIN",
            returncode=2,
        )
    return path


class Process:
    """A child process whose first stdout line announces `... http://HOST:PORT ...`."""

    URL = re.compile(r"http://[0-9A-Za-z.\-\[\]:]+")

    def __init__(self, name: str, args: list[str], log_dir: Path, env: dict[str, str] | None = None):
        self.name = name
        self.stderr_path = log_dir / f"{name}.stderr"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            cwd=log_dir,
        )
        self.stdout_lines: list[str] = []
        first: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            # Keeps reading after the first line so the pipe never fills and blocks the child.
            announced = False
            for raw in self.proc.stdout:  # type: ignore[union-attr]
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.stdout_lines.append(line)
                if not announced:
                    announced = True
                    first.put(line)
            if not announced:
                first.put(None)

        threading.Thread(target=pump, name=f"{name}-stdout", daemon=True).start()
        try:
            line = first.get(timeout=STARTUP_TIMEOUT_S)
        except queue.Empty:
            self.kill()
            raise RuntimeError(f"{name} printed nothing within {STARTUP_TIMEOUT_S}s{self.stderr_tail()}")
        match = self.URL.search(line or "")
        if match is None:
            self.kill()
            raise RuntimeError(f"{name} did not announce its address: {line!r}{self.stderr_tail()}")
        self.announcement = line
        self.url = match.group(0)

    def stderr_tail(self) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return f"\n--- {self.name} stderr ---\n{text[-4000:]}" if text else ""

    def terminate(self) -> int:
        """SIGTERM, then wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT_S)
        finally:
            self._stderr.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        self._stderr.close()


def http_json(method: str, url: str, body: object | None = None, headers: dict[str, str] | None = None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


class Mock:
    """`canopy mock-provider --record-requests`."""

    def __init__(self, log_dir: Path):
        self.process = Process(
            "mock-provider",
            [canopy_bin(), "mock-provider", "--listen", "127.0.0.1:0", "--record-requests"],
            log_dir,
            env={**os.environ, "CANOPY_LOG": "warn"},
        )
        assert self.process.announcement.startswith("mock provider listening on "), self.process.announcement
        self.url = self.process.url

    def requests(self) -> list[dict]:
        """What the mock received: `[{method, path, headers, body}]`, oldest first."""
        return http_json("GET", f"{self.url}/mock/requests")

    def openai(self, **kwargs) -> openai.OpenAI:
        """An OpenAI client talking to the mock directly (to learn what the provider itself says)."""
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key="sk-direct", max_retries=0, **kwargs)


class Canopy:
    """`canopy serve` in front of the mock, with its own store (see the module's docs)."""

    def __init__(self, mock: Mock, tmp: Path):
        self.tmp = tmp
        self.engine = store_engine()
        self.db_path = tmp / "canopy.db"
        self.postgres: PostgresDatabase | None = None
        self.clickhouse: ClickHouseDatabase | None = None
        if self.engine == "postgres":
            self.postgres = PostgresDatabase()
            self.store_url = self.postgres.url
        elif self.engine == "clickhouse":
            self.clickhouse = ClickHouseDatabase()
            self.store_url = self.clickhouse.url
        else:
            self.store_url = f"sqlite://{self.db_path}"
        self.exit_code: int | None = None
        self._db = None
        self.config_path = tmp / "canopy.toml"
        self.config_path.write_text(
            "\n".join(
                [
                    'listen = "127.0.0.1:0"',
                    f'store = "{self.store_url}"',
                    "[providers.openai]",
                    f'base_url = "{mock.url}"',
                    "[providers.anthropic]",
                    f'base_url = "{mock.url}"',
                    'format = "anthropic"',
                    "",
                ]
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("CANOPY_")}
        env["CANOPY_LOG"] = "warn"
        try:
            self.process = Process("canopy", [canopy_bin(), "serve", "--config", str(self.config_path)], tmp, env=env)
        except BaseException:
            self._drop_database()
            raise
        assert self.process.announcement.startswith("canopy listening on "), self.process.announcement
        self.url = self.process.url
        self.openai_url = f"{self.url}/v1"
        self.anthropic_url = f"{self.url}/anthropic"

    # --- clients -------------------------------------------------------------------------------

    def openai(self, base_url: str | None = None, **kwargs) -> openai.OpenAI:
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("default_headers", {"Helicone-Auth": CANOPY_KEY})
        return openai.OpenAI(base_url=base_url or self.openai_url, api_key=OPENAI_KEY, **kwargs)

    def anthropic(self, **kwargs) -> anthropic.Anthropic:
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("default_headers", {"Helicone-Auth": CANOPY_KEY})
        return anthropic.Anthropic(base_url=self.anthropic_url, api_key=ANTHROPIC_KEY, **kwargs)

    # --- lifecycle -----------------------------------------------------------------------------

    def stop(self) -> None:
        """SIGTERM the gateway and wait: it flushes every pending record before it exits."""
        if self.exit_code is None:
            self.exit_code = self.process.terminate()
            assert self.exit_code == 0, f"canopy exited with {self.exit_code}{self.process.stderr_tail()}"

    # --- the store -----------------------------------------------------------------------------

    def db(self):
        """A read connection to the store: sqlite3, or psycopg on PostgreSQL."""
        assert self.exit_code is not None, "call canopy.stop() before reading the store"
        if self._db is None:
            if self.postgres is not None:
                import psycopg
                from psycopg.rows import dict_row

                self._db = psycopg.connect(self.postgres.url, autocommit=True, row_factory=dict_row)
            else:
                self._db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
                self._db.row_factory = sqlite3.Row
        return self._db

    def query(self, sql: str, *params) -> list[dict]:
        """Rows of `sql`, written with SQLite's `?` placeholders, on any engine."""
        if self.clickhouse is not None:
            assert self.exit_code is not None, "call canopy.stop() before reading the store"
            rows = self.clickhouse.query(sql, *params)
            return [{key: sqlite_value(value) for key, value in row.items()} for row in rows]
        if self.postgres is not None:
            rows = self.db().execute(sql.replace("?", "%s"), params).fetchall()
            return [{key: sqlite_value(value) for key, value in row.items()} for row in rows]
        return [dict(row) for row in self.db().execute(sql, params)]

    def calls(self) -> list[dict]:
        """Every recorded call, oldest first, with `properties` decoded."""
        rows = self.query("SELECT * FROM calls ORDER BY created_at, id")
        for row in rows:
            row["properties"] = json.loads(row["properties"]) if row["properties"] else {}
        return rows

    def call(self, call_id: str) -> dict:
        rows = [row for row in self.calls() if row["id"] == call_id]
        assert len(rows) == 1, f"expected one call {call_id}, found {len(rows)}"
        return rows[0]

    def only_call(self, **where) -> dict:
        rows = [r for r in self.calls() if all(r[k] == v for k, v in where.items())]
        assert len(rows) == 1, f"expected one call matching {where}, found {len(rows)}: {rows}"
        return rows[0]

    def stored_request_headers(self, call_id: str) -> dict:
        """The request headers stored with the call `call_id`, decoded. SQLite keys bodies by
        the call's integer `seq`; the server engines by the call's organisation and id."""
        if self.clickhouse is None and self.postgres is None:
            sql = (
                "SELECT b.request_headers FROM calls c JOIN call_bodies b ON b.call_seq = c.seq "
                "WHERE c.id = ?"
            )
        else:
            sql = "SELECT request_headers FROM call_bodies WHERE id = ?"
        (bodies,) = self.query(sql, call_id)
        return json.loads(bodies["request_headers"])

    def session(self, session_id: str) -> dict:
        rows = self.query("SELECT * FROM sessions WHERE org_id = 'default' AND session_id = ?", session_id)
        assert len(rows) == 1, f"expected one sessions row for {session_id}, found {rows}"
        return rows[0]

    def store_bytes(self) -> bytes:
        """Everything the store holds as bytes: the SQLite database and its side files (WAL,
        shared memory, journal), or a dump of the server database's rows."""
        if self.clickhouse is not None:
            return self.clickhouse.dump()
        if self.postgres is not None:
            return subprocess.run(
                [postgres_program("pg_dump"), "--data-only", "--no-owner", "-d", self.postgres.url],
                check=True,
                capture_output=True,
                timeout=60,
            ).stdout
        return b"".join(p.read_bytes() for p in sorted(self.tmp.glob("canopy.db*")) if p.is_file())

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
        if self.exit_code is None:
            self.process.kill()
        self._drop_database()

    def _drop_database(self) -> None:
        if self.postgres is not None:
            self.postgres.drop()
        if self.clickhouse is not None:
            self.clickhouse.drop()


@pytest.fixture
def mock(tmp_path: Path):
    log_dir = tmp_path / "mock"
    log_dir.mkdir()
    server = Mock(log_dir)
    yield server
    server.process.kill()


@pytest.fixture
def canopy(mock: Mock, tmp_path: Path):
    store_dir = tmp_path / "canopy"
    store_dir.mkdir()
    server = Canopy(mock, store_dir)
    yield server
    server.close()
