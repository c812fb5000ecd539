"""The access log: one line per request (method, path, status, client_id, latency), never a
header, a body, a query or a token.

Two ways out, the same line either way:
- by default, a `logging` record on the `screening_eagle_id_server.access` logger, handled
  before the response's last byte leaves (whoever reads the response finds the line; the
  fields are record attributes too, for structured formatters);
- in the server's own process (`python -m screening_eagle_id_server`), a `BufferedAccessLog`:
  the request path only appends a tuple to a queue, and a daemon thread formats the lines and
  writes them in batches (one write and flush per batch, not per line) several times a second
  and at exit.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import threading
import time
from typing import TextIO

__all__ = [
    "ACCESS_LOGGER",
    "ANSWERED",
    "BufferedAccessLog",
    "install_buffered_access_log",
    "log_access",
    "quote",
]

ACCESS_LOGGER = "screening_eagle_id_server.access"
# A key of the ASGI scope's state: the connection layer answered this request itself (a body
# that did not arrive in time) and logged it; the app's own answer went nowhere.
ANSWERED = "screening_eagle_id_server.answered"
_MESSAGE = "method=%s path=%s status=%d client_id=%s latency_ms=%.2f"
_logger = logging.getLogger(ACCESS_LOGGER)
_buffer: BufferedAccessLog | None = None

_Entry = tuple[float, str, str, int, str | None, float]


def quote(value: str) -> str:
    """Keep one request on one line: paths and client ids are attacker-influenced."""
    if value and value.isprintable() and " " not in value and '"' not in value:
        return value
    return '"' + value.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def log_access(
    method: str, path: str, status: int, client_id: str | None, latency_ms: float
) -> None:
    """Log one request. `method`, `path` and `client_id` are quoted here."""
    if not _logger.isEnabledFor(logging.INFO):
        return
    buffer = _buffer
    if buffer is not None:
        # Quoted by the writer thread, with the rest of the formatting.
        buffer.entries.append((time.time(), method, path, status, client_id, latency_ms))
        return
    client = "-" if client_id is None else quote(client_id)
    method, path = quote(method), quote(path)
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


class BufferedAccessLog:
    """Access lines formatted and written by a daemon thread, in batches, to `stream`.

    The line is the one the CLI's `logging` format gives:
    `2026-01-02 03:04:05,678 INFO [pid] screening_eagle_id_server.access: method=… path=…`.
    """

    def __init__(self, stream: TextIO, interval: float = 0.1) -> None:
        # deque.append and popleft are atomic: the request path takes no lock.
        self.entries: collections.deque[_Entry] = collections.deque()
        self._stream = stream
        self._interval = interval
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
        self._second = -1
        self._stamp = ""

    def start(self) -> None:
        """Start the writer thread; the rest is flushed at exit."""
        self._thread.start()
        atexit.register(self.close)

    def close(self) -> None:
        """Stop the thread and write what is left."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def flush(self) -> None:
        """Format and write every queued line (one write, one flush)."""
        with self._lock:
            entries = self.entries
            pid = os.getpid()
            lines = []
            for _ in range(len(entries)):
                created, method, path, status, client_id, latency_ms = entries.popleft()
                client = "-" if client_id is None else quote(client_id)
                second = int(created)
                if second != self._second:
                    self._second = second
                    self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
                millis = int((created - second) * 1000)
                lines.append(
                    f"{self._stamp},{millis:03d} INFO [{pid}] {ACCESS_LOGGER}: "
                    f"method={quote(method)} path={quote(path)} status={status} client_id={client} "
                    f"latency_ms={latency_ms:.2f}\n"
                )
            if not lines:
                return
            try:
                self._stream.write("".join(lines))
                self._stream.flush()
            except (OSError, ValueError):
                pass  # stderr closed or gone: the log is lost, the server goes on


def install_buffered_access_log(stream: TextIO) -> BufferedAccessLog:
    """Send this process's access lines through a `BufferedAccessLog` on `stream`."""
    global _buffer
    if _buffer is None:
        _buffer = BufferedAccessLog(stream)
        _buffer.start()
    return _buffer
