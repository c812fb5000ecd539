"""The server's log output: cheap enough for one access line per request."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TextIO

__all__ = ["BatchingStreamHandler", "FastFormatter"]


class FastFormatter(logging.Formatter):
    """`logging.Formatter` that formats each second's `asctime` once, not on every record."""

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)  # %-style only: `format` below formats with `%` itself
        self._uses_time = self.usesTime()
        self._second = -1
        self._second_text = ""

    def format(self, record: logging.LogRecord) -> str:
        """As `logging.Formatter.format`; a record without exception or stack is one `%`."""
        if record.exc_info or record.exc_text or record.stack_info:
            return super().format(record)
        record.message = record.getMessage()
        if self._uses_time:
            record.asctime = self.formatTime(record)
        return self._fmt % record.__dict__  # type: ignore[operator]

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """The default `asctime` (`2026-11-25 15:08:08,123`), its date-time part cached."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            # Two assignments, not atomic: a thread reading in between gets the previous
            # second's text for one record at worst. Set the text first, then the key.
            self._second_text = time.strftime(self.default_time_format, self.converter(second))
            self._second = second
        return f"{self._second_text},{int(record.msecs):03d}"


class BatchingStreamHandler(logging.StreamHandler[TextIO]):
    """`StreamHandler` that, on an event loop, writes the lines of one loop iteration at once.

    Without it each line is a write(2) of its own (stderr is line-buffered). The lines are
    written at the end of the loop iteration that logged them, or at once outside a running
    loop, and by `flush()` (which `logging.shutdown` calls at exit).
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Format the record and queue its line (called with the handler's lock held)."""
        try:
            self._lines.append(self.format(record) + self.terminator)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
            return
        if len(self._lines) > 1:
            return  # a write is already scheduled
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write()
        else:
            loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the queued lines, then flush the stream."""
        self.acquire()
        try:
            self._write()
            super().flush()
        finally:
            self.release()

    def _write(self) -> None:
        if self._lines:
            text = "".join(self._lines)
            self._lines.clear()
            self.stream.write(text)
