"""Wraps an OpenAI or Anthropic SDK client so that every method taking `extra_headers` also takes
the session fields as keyword arguments.

A wrapped method removes the fields from its keyword arguments, lays them over the enclosing
`session(...)` context, and sends them as `Helicone-*` headers through the SDK's own
`extra_headers`. Headers the caller passes in `extra_headers` win. Nothing else changes: the
method returns what the SDK returns, so streams (`stream=True`, `messages.stream(...)`),
raw responses (`with_raw_response`) and async clients work as they do without Canopy.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Dict

from . import _context

# Attributes that are SDK resources (namespaces of methods) live in these modules.
_RESOURCE_MODULES = ("openai.resources", "anthropic.resources")


def _takes_extra_headers(func: Callable) -> bool:
    # Bound methods are new objects on every access; their function is not.
    return _signature_has_extra_headers(getattr(func, "__func__", func))


@functools.lru_cache(maxsize=4096)
def _signature_has_extra_headers(func: Callable) -> bool:
    try:
        return "extra_headers" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def _call_headers(kwargs: Dict[str, Any]) -> None:
    """Moves the session fields of `kwargs` into its `extra_headers`."""
    fields = _context.merge(_context.current(), _context.split_kwargs(kwargs))
    found = _context.headers(fields)
    if not found:
        return
    extra = kwargs.get("extra_headers") or {}
    given = {str(k).lower() for k in extra}
    kwargs["extra_headers"] = {**{k: v for k, v in found.items() if k.lower() not in given}, **extra}


def _wrap_method(func: Callable) -> Callable:
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def call_async(*args: Any, **kwargs: Any) -> Any:
            _call_headers(kwargs)
            return await func(*args, **kwargs)

        return call_async

    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        _call_headers(kwargs)
        return func(*args, **kwargs)

    return call


def _is_resource(value: Any) -> bool:
    return type(value).__module__.startswith(_RESOURCE_MODULES)


def wrap_attribute(value: Any) -> Any:
    """What a wrapped object hands out for one of its public attributes."""
    if _is_resource(value):
        return Resource(value)
    if callable(value) and not isinstance(value, type) and _takes_extra_headers(value):
        return _wrap_method(value)
    return value


class Resource:
    """A view of an SDK resource (`client.chat`, `client.chat.completions`, ...) whose methods
    take the session fields."""

    __slots__ = ("_canopy_target",)

    def __init__(self, target: Any) -> None:
        object.__setattr__(self, "_canopy_target", target)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._canopy_target, name)
        return value if name.startswith("_") else wrap_attribute(value)

    def __dir__(self):
        return dir(self._canopy_target)

    def __repr__(self) -> str:
        return f"canopy.Resource({self._canopy_target!r})"
