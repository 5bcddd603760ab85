"""`CanopyOpenAI`, `CanopyAnthropic` and their async twins: the SDKs' clients, pointed at Canopy,
whose calls take the session fields as keyword arguments; and `wrap()` for a client built
elsewhere.

Each is a subclass of the SDK's client, so `isinstance(client, openai.OpenAI)` holds and every
SDK option (`timeout`, `max_retries`, `http_client`, ...) passes through. Only the public
resources (`client.chat`, `client.messages`, ...) are handed out wrapped.
"""

from __future__ import annotations

from typing import Any, Optional

from . import _config
from ._wrap import Resource, wrap_attribute


class _Wrapping:
    """Hands out public resources wrapped (mixed in before the SDK's client class)."""

    def __getattribute__(self, name: str) -> Any:
        value = super().__getattribute__(name)
        if name.startswith("_"):
            return value
        return wrap_attribute(value)


def _client_options(route: str, base_url: Any, canopy_key: Optional[str], kwargs: dict) -> dict:
    # The SDKs' `copy()`/`with_options()` hand the URL back as an `httpx.URL`.
    url = _config.route_url(_config.base_url(str(base_url) if base_url is not None else None), route)
    headers = {**_config.auth_header(_config.api_key(canopy_key)), **(kwargs.pop("default_headers", None) or {})}
    return {"base_url": url, "default_headers": headers, **kwargs}


def _missing(package: str) -> ImportError:
    return ImportError(f"canopy: this client needs the `{package}` package: pip install {package}")


try:
    import openai as _openai
except ImportError:  # pragma: no cover - depends on what is installed
    _openai = None

try:
    import anthropic as _anthropic
except ImportError:  # pragma: no cover - depends on what is installed
    _anthropic = None


if _openai is not None:

    class CanopyOpenAI(_Wrapping, _openai.OpenAI):
        """`openai.OpenAI` through Canopy.

        `base_url` is Canopy's address (default: `canopy.configure()`, `CANOPY_BASE_URL`, else
        `http://127.0.0.1:8787`); `/v1` is added to a bare address. `canopy_key` (or
        `CANOPY_API_KEY`) is sent as `Helicone-Auth`. `api_key` is your provider key, read from
        `OPENAI_API_KEY` as the SDK does; Canopy forwards it and never stores it.
        """

        def __init__(self, *, base_url: Optional[str] = None, canopy_key: Optional[str] = None, **kwargs: Any) -> None:
            super().__init__(**_client_options(_config.OPENAI_ROUTE, base_url, canopy_key, kwargs))

    class AsyncCanopyOpenAI(_Wrapping, _openai.AsyncOpenAI):
        """`openai.AsyncOpenAI` through Canopy (see `CanopyOpenAI`)."""

        def __init__(self, *, base_url: Optional[str] = None, canopy_key: Optional[str] = None, **kwargs: Any) -> None:
            super().__init__(**_client_options(_config.OPENAI_ROUTE, base_url, canopy_key, kwargs))

else:  # pragma: no cover

    def CanopyOpenAI(*args: Any, **kwargs: Any) -> Any:  # type: ignore[no-redef]
        raise _missing("openai")

    AsyncCanopyOpenAI = CanopyOpenAI  # type: ignore[assignment,misc]


if _anthropic is not None:

    class CanopyAnthropic(_Wrapping, _anthropic.Anthropic):
        """`anthropic.Anthropic` through Canopy: as `CanopyOpenAI`, with `/anthropic` added to
        a bare address and the provider key read from `ANTHROPIC_API_KEY`."""

        def __init__(self, *, base_url: Optional[str] = None, canopy_key: Optional[str] = None, **kwargs: Any) -> None:
            super().__init__(**_client_options(_config.ANTHROPIC_ROUTE, base_url, canopy_key, kwargs))

    class AsyncCanopyAnthropic(_Wrapping, _anthropic.AsyncAnthropic):
        """`anthropic.AsyncAnthropic` through Canopy (see `CanopyAnthropic`)."""

        def __init__(self, *, base_url: Optional[str] = None, canopy_key: Optional[str] = None, **kwargs: Any) -> None:
            super().__init__(**_client_options(_config.ANTHROPIC_ROUTE, base_url, canopy_key, kwargs))

else:  # pragma: no cover

    def CanopyAnthropic(*args: Any, **kwargs: Any) -> Any:  # type: ignore[no-redef]
        raise _missing("anthropic")

    AsyncCanopyAnthropic = CanopyAnthropic  # type: ignore[assignment,misc]


def wrap(client: Any) -> Any:
    """A view of an SDK client you built yourself (already pointed at Canopy) whose calls take
    the session fields: `client = canopy.wrap(OpenAI(base_url=".../v1"))`."""
    return _ClientView(client)


class _ClientView(Resource):
    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._canopy_target, name)
        if name.startswith("_"):
            return value
        if name in ("with_options", "copy"):
            return lambda *a, **kw: _ClientView(value(*a, **kw))
        return wrap_attribute(value)
