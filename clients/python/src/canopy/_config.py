"""Where Canopy is and which key to show it: `configure()`, then the environment, then defaults.

Nothing here is ever logged: the key only ever leaves in a request header.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

#: Canopy's default listener (`canopy serve`).
DEFAULT_BASE_URL = "http://127.0.0.1:8787"
#: Canopy's address, e.g. `http://localhost:8787`.
ENV_BASE_URL = "CANOPY_BASE_URL"
#: A Canopy key (`canopy keys create`); unset when Canopy runs open on loopback.
ENV_API_KEY = "CANOPY_API_KEY"

#: The proxy route each SDK is pointed at, below Canopy's address.
OPENAI_ROUTE = "/v1"
ANTHROPIC_ROUTE = "/anthropic"


@dataclass(frozen=True)
class Settings:
    base_url: Optional[str] = None
    api_key: Optional[str] = None


_lock = threading.Lock()
_settings = Settings()


def configure(base_url: Optional[str] = None, api_key: Optional[str] = None) -> None:
    """Sets Canopy's address and key for this process: clients built without them and tool
    steps use these. `None` leaves a value as it was."""
    global _settings
    with _lock:
        _settings = Settings(
            base_url=base_url if base_url is not None else _settings.base_url,
            api_key=api_key if api_key is not None else _settings.api_key,
        )


def reset() -> None:
    """Forgets what `configure()` set (for tests)."""
    global _settings
    with _lock:
        _settings = Settings()


def base_url(explicit: Optional[str] = None) -> str:
    """Canopy's address: the argument, `configure()`, `CANOPY_BASE_URL`, else the default."""
    url = explicit or _settings.base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
    return url.rstrip("/")


def api_key(explicit: Optional[str] = None) -> Optional[str]:
    """The Canopy key: the argument, `configure()`, `CANOPY_API_KEY`, else none."""
    key = explicit or _settings.api_key or os.environ.get(ENV_API_KEY)
    return key or None


def route_url(url: str, route: str) -> str:
    """An SDK's base URL: Canopy's bare address gets the provider route appended; a URL that
    already has a path (`.../openai/v1`, `.../my-vllm`) is used as it is."""
    path = urlsplit(url).path
    if path in ("", "/"):
        return url.rstrip("/") + route
    return url


def auth_header(key: Optional[str]) -> dict:
    """The header that carries a Canopy key on proxied calls."""
    return {"Helicone-Auth": f"Bearer {key}"} if key else {}
