"""Tool and retrieval steps: a function (or a block) recorded as a step of its session.

A step is posted to Canopy's custom log (`POST /api/custom/v1/log`, Helicone's body with
`json._type` = `tool`, `vector_db` or `data`) when it ends, with its start and end time, its
input and output (or its error, with status 500), and the session fields in force as
`Helicone-*` headers. By default it sits at `<enclosing path>/<step name>` in the session tree,
and calls made inside it sit there too.

Recording never changes what the function does: if Canopy cannot be reached the step is
dropped with a warning on the `canopy` logger (naming the step and the reason, never a key or
a value), and the function's result or exception goes back to the caller as it was.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import json
import logging
import re
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Dict, Mapping, Optional

from . import _config, _context

log = logging.getLogger("canopy")

#: Where steps are posted, below Canopy's address.
CUSTOM_LOG_ROUTE = "/api/custom/v1/log"
#: How long posting one step may take.
POST_TIMEOUT_S = 5.0
#: Step kinds Canopy records (`json._type`).
KINDS = ("tool", "vector_db", "data")
#: Argument and key names whose values are replaced by `[redacted]` in a step's input.
SECRET_NAMES = re.compile(r"(?i)(api[_-]?key|secret|password|passwd|token|authorization|credential)")
REDACTED = "[redacted]"


def _jsonable(value: Any, depth: int = 0) -> Any:
    """`value` as JSON-ready data: models and dataclasses as their fields, secrets redacted,
    anything else unknown as its `repr`."""
    if depth > 20:
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if SECRET_NAMES.search(str(k)) else _jsonable(v, depth + 1) for k, v in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v, depth + 1) for v in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return _jsonable(dump(mode="json"), depth + 1)
        except Exception:  # noqa: BLE001 - any model that cannot dump itself is shown by repr
            pass
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value), depth + 1)
    return repr(value)


def _call_input(func: Callable, args: tuple, kwargs: dict) -> Any:
    """A function call's arguments by parameter name (`self`/`cls` left out)."""
    try:
        bound = inspect.signature(func).bind_partial(*args, **kwargs)
    except (TypeError, ValueError):
        return _jsonable({"args": list(args), "kwargs": kwargs})
    arguments = {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}
    return _jsonable(arguments)


class step:
    """Records a block as a step of the session in force:

        with canopy.step("search_docs", kind="vector_db", input={"query": q}) as s:
            s.output = index.search(q)

    `kind` is `tool` (default), `vector_db` or `data`; `path` places the step (default: the
    enclosing path + `/` + name). `user_id`, `tags` and `properties` add to the context's. An
    exception leaving the block records the step as failed (status 500) and propagates.
    """

    def __init__(
        self,
        name: str,
        *,
        kind: str = "tool",
        input: Any = None,
        path: Optional[str] = None,
        capture_output: bool = True,
        **fields: Any,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"canopy: a step's kind must be one of {', '.join(KINDS)}, got {kind!r}")
        self.name = name
        self.kind = kind
        self.input = input
        self.output: Any = None
        self.capture_output = capture_output
        self._path = path
        self._extra = fields
        self._fields: Dict[str, Any] = {}
        self._scope: Any = None
        self._start_ms = 0
        self.request_id: Optional[str] = None

    def _enter(self) -> None:
        fields = _context.merge(_context.current(), self._extra)
        parent = (fields.get("session_path") or "").rstrip("/")
        fields["session_path"] = self._path or f"{parent}/{self.name}"
        _context.headers(fields)  # a bad field fails here, before the work
        self._fields = fields
        self._scope = _context.scoped(fields)
        self._scope.__enter__()
        self._start_ms = int(time.time() * 1000)

    def _exit(self, error: Optional[BaseException]) -> Dict[str, Any]:
        end_ms = int(time.time() * 1000)
        self._scope.__exit__(None, None, None)
        if error is None:
            status = 200
            output = _jsonable(self.output) if self.capture_output else None
            response = output if isinstance(output, dict) else {"output": output}
        else:
            status = 500
            response = {"error": {"type": type(error).__name__, "message": str(error)}}
        request = {"_type": self.kind, "input": _jsonable(self.input)}
        request["databaseName" if self.kind == "vector_db" else "toolName"] = self.name
        return {
            "providerRequest": {"url": f"{self.kind}://{self.name}", "json": request, "meta": {}},
            "providerResponse": {"json": response, "status": status, "headers": {}},
            "timing": {"startTime": self._start_ms, "endTime": end_ms},
        }

    def _headers(self) -> Dict[str, str]:
        headers = {"content-type": "application/json", **_context.headers(self._fields)}
        key = _config.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post(self, body: Dict[str, Any]) -> None:
        url = _config.base_url() + CUSTOM_LOG_ROUTE
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=self._headers())
        try:
            with urllib.request.urlopen(request, timeout=POST_TIMEOUT_S) as response:
                answer = json.loads(response.read() or b"{}")
            self.request_id = (answer.get("data") or {}).get("request_id")
        except urllib.error.HTTPError as e:
            log.warning("canopy: step %r was not recorded: Canopy answered %s", self.name, e.code)
        except (OSError, ValueError) as e:
            log.warning("canopy: step %r was not recorded: %s", self.name, type(e).__name__)

    def __enter__(self) -> "step":
        self._enter()
        return self

    def __exit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> None:
        self._post(self._exit(exc))

    async def __aenter__(self) -> "step":
        self._enter()
        return self

    async def __aexit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> None:
        body = self._exit(exc)
        await asyncio.to_thread(self._post, body)


def tool(
    name: Any = None,
    *,
    kind: str = "tool",
    path: Optional[str] = None,
    capture_input: bool = True,
    capture_output: bool = True,
    **fields: Any,
) -> Any:
    """Records each call of a function as a step: `@canopy.tool`, `@canopy.tool("lookup")` or
    `@canopy.tool(kind="data", path="/load")`. The step's input is the call's arguments by
    name (values of secret-looking names redacted), its output the return value. Works on plain
    and `async` functions."""

    def decorate(func: Callable) -> Callable:
        step_name = name if isinstance(name, str) else func.__name__

        def make(args: tuple, kwargs: dict) -> step:
            given = _call_input(func, args, kwargs) if capture_input else None
            return step(step_name, kind=kind, input=given, path=path, capture_output=capture_output, **fields)

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                async with make(args, kwargs) as s:
                    s.output = await func(*args, **kwargs)
                    return s.output

            return run_async

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with make(args, kwargs) as s:
                s.output = func(*args, **kwargs)
                return s.output

        return run

    if callable(name) and not isinstance(name, str):
        return decorate(name)
    return decorate


def retrieval(name: Any = None, **options: Any) -> Any:
    """`tool` for a vector-database or search step (`json._type` = `vector_db`)."""
    options["kind"] = "vector_db"
    return tool(name, **options)
