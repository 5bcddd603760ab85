"""Session helpers for Canopy, the self-hosted LLM gateway.

    from canopy import CanopyOpenAI, session, tool

    client = CanopyOpenAI(base_url="http://localhost:8787")
    client.chat.completions.create(model=..., messages=..., session_id=sid,
                                   session_path="/triage", user_id="u-42", tags={"feature": "chat"})

    with session(session_name="Support Ticket"):      # every call inside shares one session
        ...

    @tool                                               # each call becomes a step of the session
    def lookup_order(order_id: str) -> dict: ...

The session fields travel as the `Helicone-*` headers Canopy reads; see the package README.
"""

from ._clients import AsyncCanopyAnthropic, AsyncCanopyOpenAI, CanopyAnthropic, CanopyOpenAI, wrap
from ._config import configure
from ._context import FIELDS, current, headers, session
from ._steps import retrieval, step, tool

__all__ = [
    "AsyncCanopyAnthropic",
    "AsyncCanopyOpenAI",
    "CanopyAnthropic",
    "CanopyOpenAI",
    "FIELDS",
    "configure",
    "current",
    "headers",
    "retrieval",
    "session",
    "step",
    "tool",
    "wrap",
]

__version__ = "0.1.0"
