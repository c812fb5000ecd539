"""The access log's two ways out write the same line: a `logging` record (embedded) and the
batched writer of the server's own process (off the request path)."""

from __future__ import annotations

import io
import logging

import pytest
from screening_eagle_id_server import _accesslog
from screening_eagle_id_server._cli import _LOG_FORMAT


def test_the_batched_writer_writes_the_line_logging_would(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=_accesslog.ACCESS_LOGGER)
    _accesslog.log_access("POST", "/a b", 200, "svc\n1", 1.234)
    (record,) = caplog.records
    stream = io.StringIO()
    buffered = _accesslog.BufferedAccessLog(stream)
    monkeypatch.setattr(_accesslog, "_buffer", buffered)
    _accesslog.log_access("POST", "/a b", 200, "svc\n1", 1.234)
    (entry,) = buffered.entries
    record.created = entry[0]
    record.msecs = int((entry[0] - int(entry[0])) * 1000)
    buffered.flush()
    assert stream.getvalue() == logging.Formatter(_LOG_FORMAT).format(record) + "\n"
    assert 'path="/a b" status=200 client_id="svc\\n1" latency_ms=1.23' in stream.getvalue()
    assert not buffered.entries


def test_the_batched_writer_flushes_what_is_left_when_closed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=_accesslog.ACCESS_LOGGER)
    stream = io.StringIO()
    buffered = _accesslog.BufferedAccessLog(stream, interval=60)
    buffered.start()
    monkeypatch.setattr(_accesslog, "_buffer", buffered)
    for status in (200, 401, 404):
        _accesslog.log_access("GET", "/x", status, None, 0.5)
    buffered.close()
    lines = stream.getvalue().splitlines()
    assert [line.split(" status=")[1][:3] for line in lines] == ["200", "401", "404"]
