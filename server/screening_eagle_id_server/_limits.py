"""How long a connection may take and how much it may send: the defaults and their checks."""

from __future__ import annotations

import math
from dataclasses import dataclass

try:
    import resource
except ImportError:  # Windows: no open-file limit to fit
    resource = None  # type: ignore[assignment]

__all__ = [
    "FD_RESERVE",
    "MAX_READ_BYTES",
    "REQUESTS_AHEAD",
    "SEND_BUFFER",
    "WRITE_HIGH_WATER",
    "ConnectionLimits",
    "connection_cap",
]

# File descriptors kept free of connections: the listening socket, the event loop's own,
# stdio, log files and what the app opens.
FD_RESERVE = 32

# The budget of one connection that is not configurable (see `ConnectionLimits` for the rest):
# - requests parsed ahead of the one being answered: the next request's head (and what of
#   its body came in the same read) is parsed, then reading stops until the answer is written;
REQUESTS_AHEAD = 1
# - bytes read but not yet parsed while reading is stopped: at most one read of the event
#   loop (asyncio and uvloop read at most 256 KiB at a time);
MAX_READ_BYTES = 256 * 1024
# - bytes of answers waiting to be written: past this mark the app's next write waits (and
#   nothing more is read) until the client takes them, for `write_timeout` at most.
WRITE_HIGH_WATER = 64 * 1024
# - and in the kernel: the socket's send buffer, fixed (Linux would grow it to 4 MiB).
SEND_BUFFER = 64 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionLimits:
    """What one connection may cost the server (per worker process).

    - `header_timeout`: seconds from the connection (or a request's first byte) to the end of
      its headers; past it, 408 and close.
    - `body_timeout`: seconds from the end of the headers to the end of the body; 408 and close.
    - `keep_alive_timeout`: an idle keep-alive connection is closed after this many seconds.
    - `write_timeout`: seconds an answer may wait for the client to take it (the answers
      waiting to be written are over `WRITE_HIGH_WATER`, or the connection is closing with
      bytes unsent); past it the connection is dropped (no answer can get through).
    - `max_connections`: open connections at once. Past it, the connection that has waited
      longest on its client (idle, its head not complete, or its answer not taken) is closed
      to make room; when every connection has a request in progress, a new one gets 503. Also
      kept below the process's open-file limit (see `connection_cap`).
    - `max_head_bytes`, `max_header_fields`: a request head (request line and headers) larger,
      or with more header fields, gets 431, however its bytes arrive. The framing of a chunked
      body (chunk-size lines with their extensions, and the trailer section) counts against
      the same two limits: 431.
    - `max_body_bytes`: the content of one request body; 413. (The token endpoint refuses
      more than 8 KiB itself, with 400.)
    - `backlog`: the listen(2) queue, which is also the most connections accepted at once.
    """

    header_timeout: float = 10.0
    body_timeout: float = 10.0
    keep_alive_timeout: float = 5.0
    write_timeout: float = 10.0
    max_connections: int = 1000
    max_head_bytes: int = 16 * 1024
    max_header_fields: int = 100
    max_body_bytes: int = 64 * 1024
    backlog: int = 256

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "keep_alive_timeout", "write_timeout"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or not 0 < value <= 3600
            ):
                raise ValueError(f"{name} must be a number of seconds in (0, 3600], got {value!r}")
        for name, low in (
            ("max_connections", 1),
            ("max_head_bytes", 1024),
            ("max_header_fields", 1),
            ("max_body_bytes", 1024),
            ("backlog", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 2**31:
                raise ValueError(f"{name} must be an integer of at least {low}, got {value!r}")


def connection_cap(limits: ConnectionLimits) -> tuple[int, int]:
    """(connections, backlog) that fit the open-file limit: the held connections plus one
    accept burst (at most the backlog) plus a reserve. The soft limit is first raised towards
    the hard one; what still does not fit lowers the backlog (to a quarter of the limit at
    most), then the connections."""
    if resource is None:
        return limits.max_connections, limits.backlog
    wanted = limits.max_connections + limits.backlog + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return limits.max_connections, limits.backlog
    backlog = max(1, min(limits.backlog, soft // 4))
    return max(1, min(limits.max_connections, soft - backlog - FD_RESERVE)), backlog
