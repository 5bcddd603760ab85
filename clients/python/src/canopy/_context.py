"""Session fields, the `session(...)` context that sets them, and their translation into the
`Helicone-*` headers Canopy reads.

The fields are the keyword arguments every wrapped `create` call takes:

| field | header |
|---|---|
| `session_id` | `Helicone-Session-Id` |
| `session_path` | `Helicone-Session-Path` |
| `session_name` | `Helicone-Session-Name` |
| `user_id` | `Helicone-User-Id` |
| `entity_type` + `entity_id` | `Helicone-User-Id` when the type is `user`, else `Helicone-Property-<type>` |
| `tags`, `properties` (mappings) | one `Helicone-Property-<key>` each |

`entity_type`/`entity_id` are stored so that `GET /api/v1/analytics/sessions?entity_type=..&
entity_id=..` finds the sessions again: it matches the user id for `user` and the property of
that name for any other type.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import re
import uuid
from typing import Any, Dict, Mapping, Optional

#: The keyword arguments a wrapped call takes, in the order they are applied.
FIELDS = (
    "session_id",
    "session_path",
    "session_name",
    "user_id",
    "entity_type",
    "entity_id",
    "tags",
    "properties",
)

# A header name's characters (RFC 9110 `token`).
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

_current: contextvars.ContextVar[Dict[str, Any]] = contextvars.ContextVar("canopy_session", default={})


def current() -> Dict[str, Any]:
    """The session fields in force here (a copy)."""
    return dict(_current.get())


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> Dict[str, Any]:
    """`overrides` over `base`: a field given as `None` is not given; `tags` and `properties`
    merge key by key."""
    out = dict(base)
    for key, value in overrides.items():
        if key not in FIELDS:
            raise TypeError(f"canopy: unknown session field {key!r}")
        if value is None:
            continue
        if key in ("tags", "properties"):
            if not isinstance(value, Mapping):
                raise TypeError(f"canopy: {key} must be a mapping of names to values, got {type(value).__name__}")
            out[key] = {**out.get(key, {}), **value}
        else:
            out[key] = value
    return out


def _text(field: str, value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    if "\r" in text or "\n" in text:
        raise ValueError(f"canopy: {field} must not contain a line break")
    try:
        text.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"canopy: {field} must be ASCII to travel in an HTTP header") from None
    return text


def _property_name(field: str, key: Any) -> str:
    name = str(key)
    if not _TOKEN.match(name):
        raise ValueError(
            f"canopy: {field} key {name!r} cannot be a header name (letters, digits and !#$%&'*+.^_`|~- only)"
        )
    return name


def headers(fields: Mapping[str, Any]) -> Dict[str, str]:
    """The `Helicone-*` headers for a set of session fields."""
    out: Dict[str, str] = {}
    for key, header in (
        ("session_id", "Helicone-Session-Id"),
        ("session_path", "Helicone-Session-Path"),
        ("session_name", "Helicone-Session-Name"),
    ):
        if fields.get(key) is not None:
            out[header] = _text(key, fields[key])
    for key in ("tags", "properties"):
        for name, value in (fields.get(key) or {}).items():
            if value is not None:
                out[f"Helicone-Property-{_property_name(key, name)}"] = _text(f"{key}[{name!r}]", value)
    entity_type, entity_id = fields.get("entity_type"), fields.get("entity_id")
    if (entity_type is None) != (entity_id is None):
        raise ValueError("canopy: entity_type and entity_id go together")
    if entity_type is not None:
        if str(entity_type) == "user":
            out["Helicone-User-Id"] = _text("entity_id", entity_id)
        else:
            out[f"Helicone-Property-{_property_name('entity_type', entity_type)}"] = _text("entity_id", entity_id)
    if fields.get("user_id") is not None:
        out["Helicone-User-Id"] = _text("user_id", fields["user_id"])
    return out


def split_kwargs(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """Removes the session fields from a call's keyword arguments and returns them."""
    return {key: kwargs.pop(key) for key in FIELDS if key in kwargs}


class session:
    """Sets session fields for every wrapped call, and every tool step, inside it.

        with canopy.session(session_name="Support", user_id="u-42") as s:
            client.chat.completions.create(..., session_path="/triage")
            print(s.session_id)

    Without a `session_id` (here or in an enclosing session) a new UUID is made. A nested
    session inherits the enclosing one's fields and overrides those it gives; `tags` and
    `properties` merge. A call's own keyword arguments override the context. It also works as
    a decorator (each call of the function is one session, unless an enclosing one gives the
    id) and with `async with`; the fields follow `contextvars`, so each asyncio task and thread
    sees its own.
    """

    def __init__(
        self,
        session_id: Optional[str] = None,
        session_path: Optional[str] = None,
        session_name: Optional[str] = None,
        *,
        user_id: Optional[str] = None,
        entity_type: Optional[str] = None,
        entity_id: Optional[str] = None,
        tags: Optional[Mapping[str, Any]] = None,
        properties: Optional[Mapping[str, Any]] = None,
    ) -> None:
        self._given = {
            "session_id": session_id,
            "session_path": session_path,
            "session_name": session_name,
            "user_id": user_id,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "tags": tags,
            "properties": properties,
        }
        self._tokens: list = []
        self.fields: Dict[str, Any] = {}

    @property
    def session_id(self) -> Optional[str]:
        """The id in force inside the context (set on entry)."""
        return self.fields.get("session_id")

    def __enter__(self) -> "session":
        fields = merge(_current.get(), self._given)
        if fields.get("session_id") is None:
            fields["session_id"] = str(uuid.uuid4())
        # Checked now, so a bad value fails where it was written rather than at a later call.
        headers(fields)
        self.fields = fields
        self._tokens.append(_current.set(fields))
        return self

    def __exit__(self, *exc: Any) -> None:
        _current.reset(self._tokens.pop())

    async def __aenter__(self) -> "session":
        return self.__enter__()

    async def __aexit__(self, *exc: Any) -> None:
        self.__exit__(*exc)

    def __call__(self, func):
        given = self._given

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args, **kwargs):
                with session(**given):
                    return await func(*args, **kwargs)

            return run_async

        @functools.wraps(func)
        def run(*args, **kwargs):
            with session(**given):
                return func(*args, **kwargs)

        return run


def scoped(fields: Mapping[str, Any]):
    """Enters a context whose fields are exactly `fields` (used by steps for their body)."""

    class _Scope:
        def __enter__(self):
            self.token = _current.set(dict(fields))

        def __exit__(self, *exc):
            _current.reset(self.token)

    return _Scope()
