"""The access log: one line per request (method, path, status, client_id, latency), never a
header, a body, a query or a token.

Two ways out, the same line either way:
- by default, a `logging` record on the `screening_eagle_id_server.access` logger, handled
  before the response's last byte leaves (whoever reads the response finds the line; the
  fields are record attributes too, for structured formatters);
- in the server's own process (`python -m screening_eagle_id_server`), the process's
  `LogSink` (`_logsink`): the request path only queues a tuple, within the sink's budget, and
  the sink's thread formats and writes the line.

Method, path and client_id are escaped (`quote`: one line, no control characters) and capped
(`field`: a cut value is quoted and ends with `...`), so that a line is at most about 2.5 KiB.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ._logsink import LogSink, pid, process_sink, stamp

__all__ = [
    "ACCESS_LOGGER",
    "ANSWERED",
    "CLIENT_ID_BYTES",
    "METHOD_BYTES",
    "PATH_BYTES",
    "field",
    "log_access",
    "quote",
    "render",
    "use_sink",
]

ACCESS_LOGGER = "screening_eagle_id_server.access"
# A key of the ASGI scope's state: the connection layer answered this request itself (a body
# that did not arrive in time) and logged it; the app's own answer went nowhere.
ANSWERED = "screening_eagle_id_server.answered"
# Caps on the escaped fields, in bytes: with the rest of the line, well under 4096 (PIPE_BUF).
METHOD_BYTES = 64
PATH_BYTES = 2048
CLIENT_ID_BYTES = 256
_CUT = "..."
# What an entry costs in the sink's byte budget besides its path and client_id.
_LINE_COST = 128
_MESSAGE = "method=%s path=%s status=%d client_id=%s latency_ms=%.2f"
_logger = logging.getLogger(ACCESS_LOGGER)
_sink: LogSink | None = None
# (render, cost, created, method, path, status, client_id, latency_ms)
AccessEntry = tuple[Callable[..., str], int, float, str, str, int, "str | None", float]


def quote(value: str) -> str:
    """Keep one request on one line: paths and client ids are attacker-influenced."""
    if value and value.isprintable() and " " not in value and '"' not in value:
        return value
    return '"' + _escaped(value) + '"'


def _escaped(value: str) -> str:
    return value.encode("unicode_escape").decode("ascii").replace('"', '\\"')


def field(value: str, cap: int) -> str:
    """`quote(value)` in at most `cap` bytes of UTF-8 (`cap` at least 5); a value cut to fit
    is quoted, escaped to ASCII, and ends with `...` inside the quotes."""
    quoted = quote(value)
    if len(quoted) * 4 <= cap or len(quoted.encode("utf-8", "surrogatepass")) <= cap:
        return quoted
    keep = min(len(value), cap)
    while True:
        cut = '"' + _escaped(value[:keep]) + _CUT + '"'
        if len(cut) <= cap:
            return cut
        # An escaped character is at most 10 bytes: this shrinks fast, and `keep` gets to 0.
        keep = min(keep - 1, keep * cap // len(cut))


def render(entry: AccessEntry) -> str:
    """An access entry queued by `log_access` as the line `logging` would write with the
    CLI's format: `2026-01-02 03:04:05,678 INFO [pid] screening_eagle_id_server.access: …`."""
    _, _, created, method, path, status, client_id, latency_ms = entry
    # `field`, with its first step inline: this runs for every request.
    method_field = quote(method)
    if len(method_field) * 4 > METHOD_BYTES:
        method_field = field(method, METHOD_BYTES)
    path_field = quote(path)
    if len(path_field) * 4 > PATH_BYTES:
        path_field = field(path, PATH_BYTES)
    if client_id is None:
        client_field = "-"
    else:
        client_field = quote(client_id)
        if len(client_field) * 4 > CLIENT_ID_BYTES:
            client_field = field(client_id, CLIENT_ID_BYTES)
    return (
        f"{stamp(created)} INFO [{pid()}] {ACCESS_LOGGER}: method={method_field}"
        f" path={path_field} status={status} client_id={client_field}"
        f" latency_ms={latency_ms:.2f}"
    )


def log_access(
    method: str, path: str, status: int, client_id: str | None, latency_ms: float
) -> None:
    """Log one request. `method`, `path` and `client_id` are escaped and capped here."""
    if not _logger.isEnabledFor(logging.INFO):
        return
    sink = _sink
    if sink is not None:
        # Rendered by the sink's thread. Cut here (one past the cap, so that the line shows
        # the cut) so that a queued entry holds at most that much of a long field.
        if len(path) > PATH_BYTES:
            path = path[: PATH_BYTES + 1]
        if len(method) > METHOD_BYTES:
            method = method[: METHOD_BYTES + 1]
        cost = _LINE_COST + len(path)
        if client_id is not None:
            if len(client_id) > CLIENT_ID_BYTES:
                client_id = client_id[: CLIENT_ID_BYTES + 1]
            cost += len(client_id)
        sink.put((render, cost, time.time(), method, path, status, client_id, latency_ms), cost)
        return
    client = "-" if client_id is None else field(client_id, CLIENT_ID_BYTES)
    method, path = field(method, METHOD_BYTES), field(path, PATH_BYTES)
    # makeRecord + handle: Logger.info would also walk the stack to find the caller, which
    # an access line does not need, on every request.
    _logger.handle(
        _logger.makeRecord(
            ACCESS_LOGGER,
            logging.INFO,
            __file__,
            0,
            _MESSAGE,
            (method, path, status, client, latency_ms),
            None,
            extra={
                "method": method,
                "path": path,
                "status": status,
                "client_id": client,
                "latency_ms": latency_ms,
            },
        )
    )


def use_sink(sink: LogSink | None = None) -> LogSink:
    """Send this process's access lines to `sink` (default: the process's own) instead of
    `logging`."""
    global _sink
    _sink = process_sink() if sink is None else sink
    return _sink
