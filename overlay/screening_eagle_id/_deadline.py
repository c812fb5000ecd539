"""A whole try bounded by `timeout=`, whatever the server drips.

httpx's timeouts bound each phase (connect, each read, ...), not a whole request. The try's
deadline sits in the context variable `deadline`: checked per body chunk (`past_deadline`,
by `_transport.py`) and, for a sync client's own connections, clamped into every socket
read, write and connect (`_deadline_transport.py`), so a server dripping its status line
or headers byte by byte cannot hold a caller either. No thread per request. (The async client
has `asyncio.timeout` around the try.)
"""

from __future__ import annotations

import contextvars
import urllib.parse
import urllib.request
from collections.abc import Callable

import httpx

__all__ = ["deadline", "env_proxy_for", "left_before_deadline", "past_deadline"]

#: The (clock, deadline) of the try in flight in this thread or task, or None.
deadline: contextvars.ContextVar[tuple[Callable[[], float], float] | None] = contextvars.ContextVar(
    "screening_eagle_id_deadline", default=None
)


def left_before_deadline() -> float | None:
    """Seconds left before the try's deadline (<= 0: past it), or None without one."""
    limit = deadline.get()
    return None if limit is None else limit[1] - limit[0]()


def past_deadline(request: httpx.Request) -> None:
    """Raise httpx.ReadTimeout once the try in flight is past its deadline."""
    left = left_before_deadline()
    if left is not None and left < 0:
        raise httpx.ReadTimeout(
            "the whole response took longer than the request timeout", request=request
        )


def env_proxy_for(url: str) -> bool:
    """Whether the environment names a proxy for `url` (httpx honours it unless we set a
    transport, so then we leave httpx's): HTTP(S)_PROXY / ALL_PROXY, minus NO_PROXY."""
    proxies = urllib.request.getproxies_environment()
    parts = urllib.parse.urlsplit(url)
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    host = (parts.hostname or "").lower()
    for entry in proxies.get("no", "").lower().replace(" ", "").split(","):
        entry = entry.lstrip(".").split(":")[0]  # NO_PROXY: names, .suffixes, host:port
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return False
    return True
