"""The access log's two ways out write the same line (a `logging` record when embedded, the
process's bounded sink in the server's own process), every line is one whole line within its
caps however hostile the fields, and the sink's queue is bounded: what does not fit is dropped,
counted and reported, and closing never waits on a sink that takes nothing."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator

import pytest
from accesslog_lines import AccessLine, parse_line
from hypothesis import given, settings
from hypothesis import strategies as st
from screening_eagle_id_server import _accesslog, _logsink
from screening_eagle_id_server._cli import _LOG_FORMAT

# Any character, lone surrogates and controls included; short, or long and repetitive (a
# piece repeated up to 3,000 times), so that the caps are reached with any kind of character.
_ANY_CHAR = st.characters(codec=None, exclude_categories=())
_ANY_TEXT = st.text(_ANY_CHAR, max_size=100) | st.builds(
    lambda piece, times: piece * times,
    st.text(_ANY_CHAR, min_size=1, max_size=8),
    st.integers(1, 3000),
)


class _Pipe:
    """A pipe and a reader that starts when told (until then the pipe fills and blocks)."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        # The smallest pipe Linux allows: it fills after one page.
        fcntl.fcntl(self.write_fd, fcntl.F_SETPIPE_SZ, 4096)
        self.data = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)

    def start_reading(self) -> None:
        self._reader.start()

    def _read(self) -> None:
        while chunk := os.read(self.read_fd, 65536):
            self.data += chunk

    def close_reader(self) -> None:
        os.close(self.read_fd)
        self.read_fd = -1

    def close(self) -> bytes:
        """Close the write end, read what is left, close the read end."""
        os.close(self.write_fd)
        self.write_fd = -1
        if self._reader.is_alive():
            self._reader.join()
        if self.read_fd >= 0:
            self.close_reader()
        return bytes(self.data)


@pytest.fixture
def pipe() -> Iterator[_Pipe]:
    pipe = _Pipe()
    yield pipe
    if pipe.write_fd >= 0:
        pipe.close()


def _entry(method: str, path: str, status: int, client_id: str | None) -> tuple[object, ...] | None:
    """What `log_access` queues on a sink for these fields."""
    queued: list[tuple[object, ...]] = []

    class _Capture(_logsink.LogSink):
        def put(self, item: tuple[object, ...], cost: int) -> None:
            queued.append(item)

    previous = _accesslog._sink
    logger = logging.getLogger(_accesslog.ACCESS_LOGGER)
    level = logger.level
    _accesslog.use_sink(_Capture(-1))
    logger.setLevel(logging.INFO)
    try:
        _accesslog.log_access(method, path, status, client_id, 1.234)
    finally:
        _accesslog._sink = previous
        logger.setLevel(level)
    return queued[0] if queued else None


def test_the_sink_writes_the_line_logging_would(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=_accesslog.ACCESS_LOGGER)
    _accesslog.log_access("POST", "/a b", 200, "svc\n1", 1.234)
    (record,) = caplog.records
    entry = _entry("POST", "/a b", 200, "svc\n1")
    assert entry is not None
    created = entry[2]
    assert isinstance(created, float)
    record.created = created
    record.msecs = int((created - int(created)) * 1000)
    line = _accesslog.render(entry)  # type: ignore[arg-type]
    assert line == logging.Formatter(_LOG_FORMAT).format(record)
    assert 'path="/a b" status=200 client_id="svc\\n1" latency_ms=1.23' in line


@settings(max_examples=300, deadline=None)
@given(
    method=_ANY_TEXT, path=_ANY_TEXT, client_id=st.none() | _ANY_TEXT, status=st.integers(100, 599)
)
def test_an_access_line_is_one_whole_line_within_its_caps_whatever_the_fields(
    method: str, path: str, client_id: str | None, status: int
) -> None:
    entry = _entry(method, path, status, client_id)
    assert entry is not None
    data = _logsink.cap_line(_accesslog.render(entry))  # type: ignore[arg-type]
    # One line, never cut as a whole: each field is capped so that the line fits PIPE_BUF.
    assert len(data) <= _logsink.LINE_BYTES
    assert data.count(b"\n") == 1
    assert data.endswith(b"\n")
    assert b"[line cut]" not in data
    parsed = parse_line(data[:-1].decode())
    assert isinstance(parsed, AccessLine)
    for name, sent, logged in (
        ("method", method, parsed.method),
        ("path", path, parsed.path),
        ("client_id", client_id, parsed.client_id),
    ):
        assert sent is not None if logged is not None else sent is None
        if name in parsed.cut:
            assert sent is not None
            assert logged is not None
            assert sent.startswith(logged)
            assert len(logged) < len(sent)
        else:
            assert logged == sent
    # The embedded way out caps and escapes the same way.
    assert _accesslog.field(path, _accesslog.PATH_BYTES) in data.decode()


@settings(max_examples=100, deadline=None)
@given(text=_ANY_TEXT)
def test_any_record_becomes_whole_escaped_lines_under_pipe_buf(text: str) -> None:
    data = _logsink.cap_line(_logsink.one_line(text))
    assert len(data) <= _logsink.LINE_BYTES
    assert data.count(b"\n") == 1
    assert data[:-1].decode().isprintable()


def _access_entry(path: str) -> tuple[tuple[object, ...], int]:
    entry = _entry("GET", path, 404, None)
    assert entry is not None
    cost = entry[1]
    assert isinstance(cost, int)
    return entry, cost


@settings(max_examples=5, deadline=None)
@given(paths=st.lists(st.text(min_size=1, max_size=4000), min_size=1, max_size=20))
def test_a_sink_nobody_reads_stays_in_budget_then_reports_every_line_dropped(
    paths: list[str],
) -> None:
    pipe = _Pipe()
    sink = _logsink.LogSink(pipe.write_fd, max_lines=300, max_bytes=64 * 1024, interval=0.001)
    sink.start()
    sent = 0
    for i in range(3000):
        sink.put(*_access_entry(paths[i % len(paths)] + str(i)))
        sent += 1
        lines, size, _ = sink.queued()
        assert lines <= 300
        assert size <= 64 * 1024
    pipe.start_reading()
    assert sink.close(timeout=30)
    logged = dropped = 0
    for line in pipe.close().decode().splitlines():
        parsed = parse_line(line)
        if isinstance(parsed, AccessLine):
            logged += 1
        elif isinstance(parsed, int):
            dropped += parsed
    assert dropped > 0
    assert logged + dropped == sent


def test_closing_does_not_wait_for_a_sink_that_takes_nothing(pipe: _Pipe) -> None:
    sink = _logsink.LogSink(pipe.write_fd, interval=0.001)
    sink.start()
    for i in range(2000):
        sink.put(*_access_entry(f"/{i}" * 100))
    assert not sink.close(timeout=0.2)
    # The thread is blocked in its write; a reader unblocks it and it ends.
    pipe.start_reading()
    assert sink.close(timeout=30)
    assert parse_line(pipe.close().decode().splitlines()[0])


def test_lines_the_sink_refused_are_counted_and_reported_later(pipe: _Pipe) -> None:
    pipe.close_reader()  # nobody will ever read: every write fails with EPIPE
    sink = _logsink.LogSink(pipe.write_fd, interval=60)
    sink.put(*_access_entry("/lost"))
    sink.put(*_access_entry("/lost too"))
    sink.drain()
    assert sink.queued() == (0, 0, 2)


def test_the_handler_writes_a_record_as_escaped_lines_through_the_sink(
    pipe: _Pipe, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = _logsink.LogSink(pipe.write_fd, interval=0.001)
    monkeypatch.setattr(_logsink, "_sink", sink)
    sink.start()
    logger = logging.Logger("screening_eagle_id_server.test")
    handler = _logsink.SinkHandler()
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    logger.addHandler(handler)
    logger.error("first\x1b[2Jline\nsecond\rline\u202e")
    pipe.start_reading()
    assert sink.close(timeout=30)
    first, second = pipe.close().decode().splitlines()
    assert first.endswith("test: first\\x1b[2Jline")
    assert second == "second\\rline\\u202e"
