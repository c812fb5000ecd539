"""Where the server process's log lines go: a bounded queue and one daemon writer thread.

Every line the process logs (access lines, uvicorn's own records, errors) is queued here and
written to standard error by a thread, never by the event loop. The budget:

- the queue holds at most `QUEUE_LINES` lines and `QUEUE_BYTES` bytes of line text; a line
  that does not fit is dropped and counted, and a later line says how many
  ("access log: N lines dropped"), where the gap is;
- a line is at most `LINE_BYTES` bytes, newline included, cut with a marker to fit; the
  writer packs whole lines into writes of at most `LINE_BYTES` (which is at most PIPE_BUF),
  so that several workers writing to one pipe never splice each other's lines (POSIX: a
  write of at most PIPE_BUF bytes to a pipe is atomic);
- at exit the writer gets `CLOSE_SECONDS` to write what is queued; a sink that takes nothing
  (a pipe nobody drains) leaves the thread blocked in `os.write`, and the process exits
  anyway, since the thread is a daemon and nothing else waits for it.

A thread with an ordinary blocking descriptor rather than a non-blocking one: O_NONBLOCK is a
flag of the open file description, shared with the parent and every other process writing to
the same terminal or pipe (a shell whose stderr turns non-blocking breaks), and a thread keeps
the formatting off the event loop too.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import select
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

__all__ = [
    "CLOSE_SECONDS",
    "LINE_BYTES",
    "QUEUE_BYTES",
    "QUEUE_LINES",
    "LogSink",
    "SinkHandler",
    "cap_line",
    "one_line",
    "process_sink",
    "server_handler",
    "stamp",
]

LINE_BYTES = min(4096, getattr(select, "PIPE_BUF", 512))
QUEUE_LINES = 10_000
QUEUE_BYTES = 1 << 20
CLOSE_SECONDS = 1.0
DROPPED_LOGGER = "screening_eagle_id_server.access"
_CUT = b" ...[line cut]"

# An access entry: (render, cost, *fields), rendered by the writer thread.
Entry = tuple[Any, ...]
_Item = bytes | Entry

_stamp: tuple[int, str] = (-1, "")


def stamp(created: float) -> str:
    """`created` as `logging`'s default asctime: `2026-01-02 03:04:05,678`."""
    global _stamp
    second = int(created)
    cached = _stamp
    if cached[0] != second:
        cached = _stamp = (second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second)))
    return f"{cached[1]},{int((created - second) * 1000):03d}"


def one_line(text: str) -> str:
    """`text` with every control (or other unprintable) character escaped: one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def cap_line(text: str) -> bytes:
    """`text` as one line of at most `LINE_BYTES` bytes, newline included."""
    data = text.encode("utf-8", "backslashreplace")
    if len(data) < LINE_BYTES:
        return data + b"\n"
    # Cut at a character boundary: drop a partial UTF-8 sequence at the end.
    kept = data[: LINE_BYTES - len(_CUT) - 1].decode("utf-8", "ignore").encode()
    return kept + _CUT + b"\n"


def _render_dropped(entry: Entry) -> str:
    _, _, created, count = entry
    return (
        f"{stamp(created)} WARNING [{os.getpid()}] {DROPPED_LOGGER}: access log: {count}"
        " lines dropped (standard error did not keep up)"
    )


class LogSink:
    """A bounded queue of lines and the daemon thread that writes them to `fd`."""

    def __init__(
        self,
        fd: int,
        *,
        max_lines: int = QUEUE_LINES,
        max_bytes: int = QUEUE_BYTES,
        interval: float = 0.05,
    ) -> None:
        self._fd = fd
        self._max_lines = max_lines
        self._max_bytes = max_bytes
        self._interval = interval
        self._queue: collections.deque[_Item] = collections.deque()
        self._bytes = 0  # the queue's cost, under _lock
        self._dropped = 0  # lines dropped and not yet reported, under _lock
        # Reentrant: a signal handler that logs while the same thread is in put().
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._carry: tuple[bytes, int] | None = None  # a line that did not fit the last write
        self._thread = threading.Thread(target=self._run, name="log-sink", daemon=True)

    # --- producers: any thread, never blocks ---------------------------------------------

    def put(self, item: Entry, cost: int) -> None:
        """Queue an entry rendered later by `item[0](item)`, or count it as dropped."""
        with self._lock:
            if len(self._queue) >= self._max_lines or self._bytes + cost > self._max_bytes:
                self._dropped += 1
                return
            if self._dropped:
                self._queue.append((_render_dropped, 0, time.time(), self._dropped))
                self._dropped = 0
            self._queue.append(item)
            self._bytes += cost

    def put_line(self, line: bytes) -> None:
        """Queue one finished line (from `cap_line`), or count it as dropped."""
        with self._lock:
            if len(self._queue) >= self._max_lines or self._bytes + len(line) > self._max_bytes:
                self._dropped += 1
                return
            if self._dropped:
                self._queue.append((_render_dropped, 0, time.time(), self._dropped))
                self._dropped = 0
            self._queue.append(line)
            self._bytes += len(line)

    def queued(self) -> tuple[int, int, int]:
        """(lines, bytes, dropped and not yet reported), for tests and curiosity."""
        with self._lock:
            return len(self._queue), self._bytes, self._dropped

    # --- the writer thread ---------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread; at exit it gets `CLOSE_SECONDS` to finish."""
        self._thread.start()
        atexit.register(self.close)

    def close(self, timeout: float = CLOSE_SECONDS) -> bool:
        """Stop the writer after it has written what is queued, waiting at most `timeout`
        seconds. True if everything was written; False if the sink would not take it (the
        thread stays blocked in its write, a daemon that does not keep the process alive)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            stopping = self._stop.wait(self._interval)
            while chunk := self._next_chunk():
                self._write(*chunk)
            if stopping:
                return

    def _pop(self) -> _Item | None:
        with self._lock:
            if self._queue:
                item = self._queue.popleft()
                self._bytes -= len(item) if isinstance(item, bytes) else item[1]
                return item
            if self._dropped:
                # Nothing came after the drops: say so now rather than with the next line.
                count, self._dropped = self._dropped, 0
                return (_render_dropped, 0, time.time(), count)
            return None

    def _next_line(self) -> tuple[bytes, int] | None:
        """The next line, and how many lines it stands for if it is lost (a drop count's
        line stands for the lines it reports)."""
        carry, self._carry = self._carry, None
        if carry is not None:
            return carry
        item = self._pop()
        if item is None:
            return None
        if isinstance(item, bytes):
            return item, 1
        return cap_line(item[0](item)), item[3] if item[0] is _render_dropped else 1

    def _next_chunk(self) -> tuple[bytes, int] | None:
        """Whole lines, at most `LINE_BYTES` together, and how many lines they stand for."""
        parts: list[bytes] = []
        size = count = 0
        while (next_line := self._next_line()) is not None:
            line, stands_for = next_line
            if parts and size + len(line) > LINE_BYTES:
                self._carry = next_line
                break
            parts.append(line)
            size += len(line)
            count += stands_for
        return (b"".join(parts), count) if parts else None

    def _write(self, data: bytes, count: int) -> None:
        try:
            while data:
                try:
                    written = os.write(self._fd, data)
                except BlockingIOError:  # a descriptor someone made non-blocking
                    if self._stop.is_set():
                        raise
                    select.select([], [self._fd], [], self._interval)
                    continue
                data = data[written:]
        except OSError:
            # The sink is gone (closed, EPIPE, disk full): these lines are lost, and counted.
            with self._lock:
                self._dropped += count


class SinkHandler(logging.Handler):
    """A `logging` handler that queues each record, formatted, on the process's sink: one
    queued line per line of the record (a traceback is several), each escaped and capped."""

    def emit(self, record: logging.LogRecord) -> None:
        """Format and queue; never blocks, never writes to stderr itself."""
        try:
            text = self.format(record)
        except Exception:
            return  # not handleError: it writes a traceback to stderr itself
        sink = process_sink()
        for line in text.split("\n"):
            sink.put_line(cap_line(one_line(line)))


_sink: LogSink | None = None
_sink_lock = threading.Lock()


def process_sink() -> LogSink:
    """This process's sink on its standard error, started on first use."""
    global _sink
    with _sink_lock:
        if _sink is None:
            try:
                fd = sys.stderr.fileno()
            except (AttributeError, OSError, ValueError):
                fd = 2
            _sink = LogSink(fd)
            _sink.start()
        return _sink


def server_handler() -> SinkHandler:
    """The handler of the server's own log configuration (uvicorn's `log_config`, built in the
    main thread of the server and of each worker before uvicorn takes over its signals).

    Also makes SIGTERM write what is queued before the process dies: uvicorn shuts down
    gracefully, restores the handler it found (this one) and raises the signal again; the
    default action would kill the process with the last lines still queued."""
    process_sink()
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _close_and_die)
    return SinkHandler()


def _close_and_die(signum: int, frame: FrameType | None) -> None:
    if _sink is not None:
        _sink.close()
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)
