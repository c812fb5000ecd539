"""Where the server process's log lines go: a bounded queue and one daemon writer thread.

Every line the process logs (access lines, uvicorn's own records, errors) is queued here and
written to standard error by a thread, never by the event loop. The budget:

- the queue holds at most `QUEUE_LINES` lines and `QUEUE_BYTES` bytes of line text (the
  writer holds at most `_BATCH_BYTES` more while it writes); a line that does not fit is
  dropped and counted, and the writer's next write starts with a line that says how many
  ("access log: N lines dropped");
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
    "pid",
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
# What the writer takes from the queue at a time (and holds, out of the budget, while the
# sink is blocked): at most this much line text, plus one line.
_BATCH_BYTES = 64 * 1024

# An access entry: (render, cost, *fields), rendered by the writer thread.
Entry = tuple[Any, ...]
_Item = bytes | Entry

_stamp: tuple[int, str] = (-1, "")
_pid = os.getpid()


def pid() -> int:
    """This process's id (cached: asked for every line)."""
    return _pid


def _forked() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forked)


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
        f"{stamp(created)} WARNING [{pid()}] {DROPPED_LOGGER}: access log: {count}"
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
        # No lock on the request path: deque's append and popleft are atomic, and each counter
        # below has one writer (monotonic counts; the queue's bytes are what went in minus
        # what came out).
        self._queue: collections.deque[_Item] = collections.deque()
        self._in = 0  # by put (the event loop's thread)
        self._dropped = 0  # by put
        self._records_in = 0  # by put_line, under _records_lock
        self._records_dropped = 0  # by put_line, under _records_lock
        # Reentrant: a signal handler that logs while its thread is in put_line.
        self._records_lock = threading.RLock()
        self._out = 0  # by the writer
        self._lost = 0  # by the writer: lines its writes failed to deliver
        self._reported = 0  # by the writer: drops already said
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-sink", daemon=True)

    # --- producers: never block ----------------------------------------------------------

    def put(self, item: Entry, cost: int) -> None:
        """Queue an entry rendered later by `item[0](item)`, or count it as dropped. From one
        thread only (the event loop's): it takes no lock."""
        if (
            len(self._queue) >= self._max_lines
            or self._in + self._records_in - self._out + cost > self._max_bytes
        ):
            self._dropped += 1
        else:
            self._in += cost
            self._queue.append(item)

    def put_line(self, line: bytes) -> None:
        """Queue one finished line (from `cap_line`), or count it as dropped. From any
        thread (a `logging` handler's)."""
        with self._records_lock:
            if (
                len(self._queue) >= self._max_lines
                or self._in + self._records_in - self._out + len(line) > self._max_bytes
            ):
                self._records_dropped += 1
            else:
                self._records_in += len(line)
                self._queue.append(line)

    def queued(self) -> tuple[int, int, int]:
        """(lines, bytes, dropped and not yet reported), for tests and curiosity."""
        return (
            len(self._queue),
            self._in + self._records_in - self._out,
            self._dropped + self._records_dropped + self._lost - self._reported,
        )

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
            self.drain()
            if stopping:
                return

    def drain(self) -> None:
        """Write everything queued, in whole lines packed into writes of at most
        `LINE_BYTES`, until a write fails (the writer thread's loop; tests call it)."""
        while batch := self._take():
            lines = [
                (item, 1)
                if isinstance(item, bytes)
                # A drop count's line stands for the lines it reports, if it is lost.
                else (cap_line(item[0](item)), item[3] if item[0] is _render_dropped else 1)
                for item in batch
            ]
            chunks = _pack(lines)
            for i, chunk in enumerate(chunks):
                if not self._write(chunk):
                    # Taken from the queue but never written: lost too, and counted.
                    self._lost += sum(count for rest in chunks[i + 1 :] for _, count in rest)
                    return

    def _take(self) -> list[_Item]:
        """The next entries, up to `_BATCH_BYTES` of them (what is being written is out of
        the queue's budget: this bounds it), after a line saying what was dropped since the
        last one said, if anything was."""
        batch: list[_Item] = []
        dropped = self._dropped + self._records_dropped + self._lost - self._reported
        if dropped:
            batch.append((_render_dropped, 0, time.time(), dropped))
            self._reported += dropped
        queue = self._queue
        taken = 0
        while queue and taken < _BATCH_BYTES:
            item = queue.popleft()  # the only consumer: never empty here
            taken += len(item) if isinstance(item, bytes) else item[1]
            batch.append(item)
        self._out += taken
        return batch

    def _write(self, lines: list[tuple[bytes, int]]) -> bool:
        """One write of whole lines; False, with the lines counted as lost, if it fails."""
        data = b"".join(line for line, _ in lines)
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
            self._lost += sum(count for _, count in lines)
            return False
        return True


def _pack(lines: list[tuple[bytes, int]]) -> list[list[tuple[bytes, int]]]:
    """Consecutive lines grouped into chunks of at most `LINE_BYTES` (each line fits)."""
    chunks: list[list[tuple[bytes, int]]] = []
    size = LINE_BYTES + 1
    for line in lines:
        if size + len(line[0]) > LINE_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(line)
        size += len(line[0])
    return chunks


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
    sink = _sink
    if sink is not None:  # no lock: a signal handler may log while this thread holds it
        return sink
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
    default action would kill the process with the last lines still queued. And sends
    warnings to `logging` (the `py.warnings` logger), not straight to stderr."""
    process_sink()
    logging.captureWarnings(True)
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
