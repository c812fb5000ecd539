"""The reference server's log output: the cheap access record, formatter and handler."""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from collections.abc import Iterator

import pytest
from screening_eagle_id_server import _middleware
from screening_eagle_id_server._cli import _LOG_FORMAT
from screening_eagle_id_server._logging import BatchingStreamHandler, FastFormatter

SCOPE = {"method": "POST", "path": "/p", "state": {"client_id": "svc"}}


@pytest.fixture
def access_records() -> Iterator[list[logging.LogRecord]]:
    """Every record the access logger hands to its handlers, INFO enabled."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger(_middleware.ACCESS_LOGGER)
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def test_the_access_record_is_what_make_record_builds(
    access_records: list[logging.LogRecord],
) -> None:
    _middleware._log_access(SCOPE, 201, 0.0)
    (record,) = access_records
    reference = logging.getLogger(_middleware.ACCESS_LOGGER).makeRecord(
        _middleware.ACCESS_LOGGER,
        logging.INFO,
        _middleware.__file__,
        0,
        record.msg,
        record.args,
        None,
    )
    fields = {"method", "path", "status", "client_id", "latency_ms"}
    # Every standard attribute a formatter may ask for, plus the structured fields.
    assert set(vars(record)) == set(vars(reference)) | fields
    volatile = {"created", "msecs", "relativeCreated"}
    for name in set(vars(reference)) - volatile:
        assert getattr(record, name) == getattr(reference, name), name
    assert abs(record.created - reference.created) < 60
    assert record.msecs == int((record.created % 1) * 1000)
    assert record.getMessage().startswith(
        "method=POST path=/p status=201 client_id=svc latency_ms="
    )
    assert (record.method, record.path, record.status, record.client_id) == (
        "POST",
        "/p",
        201,
        "svc",
    )
    assert isinstance(record.latency_ms, float)
    assert "message" not in vars(record)  # formatted only by a handler that writes it


def test_a_custom_record_factory_is_still_called(
    access_records: list[logging.LogRecord],
) -> None:
    made: list[logging.LogRecord] = []
    factory = logging.getLogRecordFactory()

    def tracing_factory(*args: object, **kwargs: object) -> logging.LogRecord:
        made.append(factory(*args, **kwargs))
        made[-1].trace_id = "t-1"
        return made[-1]

    logging.setLogRecordFactory(tracing_factory)
    try:
        _middleware._log_access({"method": "GET", "path": "/x"}, 404, 0.0)
    finally:
        logging.setLogRecordFactory(factory)
    (record,) = access_records
    assert made == [record]
    assert record.trace_id == "t-1"  # type: ignore[attr-defined]
    assert record.client_id == "-"
    assert record.getMessage().startswith("method=GET path=/x status=404 client_id=- latency_ms=")


def test_nothing_is_built_when_the_access_log_is_off(
    access_records: list[logging.LogRecord],
) -> None:
    logging.getLogger(_middleware.ACCESS_LOGGER).setLevel(logging.WARNING)
    _middleware._log_access(SCOPE, 200, 0.0)
    assert access_records == []


def test_quoting_is_remembered_but_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_middleware, "_QUOTED", {})
    monkeypatch.setattr(_middleware, "_QUOTED_MAX", 2)
    assert _middleware._quote("/a\nb") == '"/a\\nb"'
    assert _middleware._quote("/a\nb") == '"/a\\nb"'  # from the cache
    assert _middleware._quote("ok") == "ok"
    assert _middleware._quote('x"y') == '"x\\"y"'
    assert _middleware._QUOTED == {"/a\nb": '"/a\\nb"', "ok": "ok"}


def _record(msg: str = "hello %s", created: float = 1_764_083_288.123) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "n", "msg": msg, "args": ("x",), "levelno": 20})
    record.levelname = "INFO"
    record.created = created
    record.msecs = 123.0
    return record


def test_fast_formatter_formats_as_logging_does() -> None:
    fast, plain = FastFormatter(_LOG_FORMAT), logging.Formatter(_LOG_FORMAT)
    for created in (1_764_083_288.123, 1_764_083_288.9, 1_764_083_289.5, 1_764_083_288.2):
        record = _record(created=created)
        assert fast.format(record) == plain.format(_record(created=created))
    try:
        raise ValueError("boom")
    except ValueError:
        with_exc = _record()
        with_exc.exc_info = sys.exc_info()
    text = FastFormatter(_LOG_FORMAT).format(with_exc)
    assert "Traceback" in text
    assert "ValueError: boom" in text
    no_time = FastFormatter("%(levelname)s %(message)s")
    assert no_time.format(_record()) == "INFO hello x"


def test_batching_handler_writes_once_per_loop_iteration() -> None:
    stream = io.StringIO()
    writes: list[str] = []
    stream.write = lambda text: writes.append(text) or len(text)  # type: ignore[method-assign]
    handler = BatchingStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))

    async def two_iterations() -> list[list[str]]:
        seen = []
        for i in range(3):
            handler.handle(_record(f"line {i} %s"))
        seen.append(list(writes))  # nothing written yet: the lines wait for the iteration's end
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        seen.append(list(writes))
        handler.handle(_record("line 3 %s"))
        handler.flush()  # an explicit flush (logging.shutdown) writes at once
        seen.append(list(writes))
        return seen

    before, after, flushed = asyncio.run(two_iterations())
    assert before == []
    assert after == ["line 0 x\nline 1 x\nline 2 x\n"]
    assert flushed == [*after, "line 3 x\n"]
    # Outside a running loop each line is written at once.
    handler.handle(_record("line 4 %s"))
    assert writes[-1] == "line 4 x\n"
