"""The outermost layer of the app: no-store headers, JSON 500s and the access log."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._responses import NO_STORE_HEADERS, error_response

__all__ = ["ACCESS_LOGGER", "ERROR_LOGGER", "EdgeMiddleware"]

ACCESS_LOGGER = "screening_eagle_id_server.access"
ERROR_LOGGER = "screening_eagle_id_server.error"
_access_log = logging.getLogger(ACCESS_LOGGER)
_error_log = logging.getLogger(ERROR_LOGGER)
_REPLACED = frozenset(name for name, _ in NO_STORE_HEADERS)
# logging's own start time, for `relativeCreated` (the same value LogRecord uses).
_START_TIME: float = logging._startTime  # type: ignore[attr-defined]


class EdgeMiddleware:
    """Wraps the whole app (inside Starlette's ServerErrorMiddleware, which it pre-empts).

    - adds `Cache-Control: no-store` and `Pragma: no-cache` to every response;
    - turns any unexpected exception into a JSON 500 without internals, logged here;
    - writes one access-log line per request: method, path, status, client_id (once the
      endpoint has authenticated it), latency. Never a header, a body, a query or a token.
    """

    __slots__ = ("app",)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        status = 0
        logged = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, logged
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", ()) if h[0].lower() not in _REPLACED]
                headers.extend(NO_STORE_HEADERS)
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Logged before the last byte leaves: whoever reads the response can rely
                # on the line being there.
                logged = True
                _log_access(scope, status, started_at)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            _error_log.exception(
                "unhandled exception in %s %s", scope["method"], _quote(scope["path"])
            )
            if status == 0:
                response = error_response(
                    500, "server_error", "The server failed to handle the request."
                )
                await response(scope, receive, send_with_headers)
            # Otherwise the response had started: uvicorn closes the connection.
        finally:
            if not logged:
                _log_access(scope, status, started_at)


_ACCESS_FORMAT = "method=%s path=%s status=%d client_id=%s latency_ms=%.2f"
# What `makeRecord` would compute for every access line, computed once: each record starts as
# a copy of this. `process` is -1 until the first line of each (worker) process.
_TEMPLATE: dict[str, object] = {
    "name": ACCESS_LOGGER,
    "msg": _ACCESS_FORMAT,
    "levelname": logging.getLevelName(logging.INFO),
    "levelno": logging.INFO,
    "pathname": __file__,
    "filename": os.path.basename(__file__),
    "module": os.path.splitext(os.path.basename(__file__))[0],
    "exc_info": None,
    "exc_text": None,
    "stack_info": None,
    "lineno": 0,
    "funcName": None,
    "processName": None,
    "process": -1,
}


def _log_access(scope: Scope, status: int, started_at: float) -> None:
    if not _access_log.isEnabledFor(logging.INFO):
        return
    latency_ms = (time.perf_counter() - started_at) * 1000
    client_id = (scope.get("state") or {}).get("client_id")
    method = _quote(scope["method"])
    path = _quote(scope["path"])
    client = "-" if client_id is None else _quote(client_id)
    if logging.getLogRecordFactory() is not logging.LogRecord:
        # Someone installed their own record factory (trace ids...): let logging call it.
        record = _access_log.makeRecord(
            ACCESS_LOGGER,
            logging.INFO,
            __file__,
            0,
            _ACCESS_FORMAT,
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
    else:
        record = _access_record(method, path, status, client, latency_ms)
    # Logger.handle, not Logger.info: that would also walk the stack to find the caller, which
    # an access line does not need, on every request.
    _access_log.handle(record)


def _access_record(
    method: str, path: str, status: int, client: str, latency_ms: float
) -> logging.LogRecord:
    """What `makeRecord` builds, without its per-call work that is the same for every access
    line (file name, level name, process name...).

    The fields are also record attributes, for structured (JSON) formatters.
    """
    pid = os.getpid()
    if _TEMPLATE["process"] != pid:
        mp = sys.modules.get("multiprocessing")
        _TEMPLATE["processName"] = mp.current_process().name if mp else "MainProcess"
        _TEMPLATE["process"] = pid
    created = time.time()
    fields = _TEMPLATE.copy()
    fields["args"] = (method, path, status, client, latency_ms)
    fields["created"] = created
    fields["msecs"] = int((created - int(created)) * 1000) + 0.0
    fields["relativeCreated"] = (created - _START_TIME) * 1000
    fields["thread"] = threading.get_ident()
    fields["threadName"] = threading.current_thread().name
    fields["method"] = method
    fields["path"] = path
    fields["status"] = status
    fields["client_id"] = client
    fields["latency_ms"] = latency_ms
    record = logging.LogRecord.__new__(logging.LogRecord)
    record.__dict__ = fields
    return record


# Quoted values of the strings seen most (methods, paths, client ids): one dict look-up
# instead of three scans. Bounded: attacker-chosen paths stop being remembered once it is full.
_QUOTED: dict[str, str] = {}
_QUOTED_MAX = 1024


def _quote(value: str) -> str:
    quoted = _QUOTED.get(value)
    if quoted is None:
        quoted = _quote_new(value)
        if len(_QUOTED) < _QUOTED_MAX:
            _QUOTED[value] = quoted
    return quoted


def _quote_new(value: str) -> str:
    # Paths and client ids are attacker-influenced: keep one request on one log line.
    if value and value.isprintable() and " " not in value and '"' not in value:
        return value
    return '"' + value.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
