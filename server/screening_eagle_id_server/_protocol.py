"""uvicorn's httptools protocol with the limits of `ConnectionLimits` and TCP_NODELAY.

uvicorn alone closes idle keep-alive connections, but never a connection that is still sending
its head or its body, lets httptools buffer a head of any size, and answers malformed HTTP with
a plain-text 400. This subclass adds, per connection:

- a header timer (from the connection, or from a later request's first byte, to the end of the
  head) and a body timer (from the end of the head to the end of the body): 408 and close;
- head limits counted on the bytes as they arrive (a head dripped byte by byte and one that
  arrives in a single read meet the same limit) and on the parsed fields: 431 and close;
- a connection cap per worker, kept below the open-file limit: at the cap, the connection that
  has waited longest on its client (idle, or its head not complete) is closed to make room;
  when every connection has a request in progress, 503;
- every answer it writes itself is the app's JSON error with the no-store headers, and gets
  an access-log line.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import weakref
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from ._accesslog import ANSWERED, log_access
from ._limits import ConnectionLimits, connection_cap
from ._nodelay import set_nodelay
from ._responses import raw_error_response

__all__ = ["LimitedHttpToolsProtocol"]

_log = logging.getLogger("screening_eagle_id_server.error")
# After answering an error, the connection reads (and drops) what its client still sends for
# this long before it closes: closing with unread bytes would reset the connection, and the
# client could lose the answer.
_LINGER_SECONDS = 1.0
_WARN_EVERY_SECONDS = 10.0


class _Refused(Exception):
    """Raised from a parser callback: stop parsing and answer this error."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


class _Guard:
    """The connections of one server (one uvicorn worker): how many are open, and which wait
    on their client (oldest first), the ones closed first when room is needed."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.count = 0
        self.waiting: dict[LimitedHttpToolsProtocol, None] = {}
        self.lingering = 0
        self.shed = 0
        self.refused = 0
        self._warned_at = -math.inf

    def note(self) -> None:
        """Warn about shed and refused connections at most every few seconds, not per event."""
        now = time.monotonic()
        if now - self._warned_at < _WARN_EVERY_SECONDS:
            return
        self._warned_at = now
        _log.warning(
            "connection cap of %d reached: %d waiting connection(s) closed to make room and "
            "%d refused with 503 so far",
            self.cap,
            self.shed,
            self.refused,
        )


_guards: weakref.WeakKeyDictionary[ServerState, _Guard] = weakref.WeakKeyDictionary()


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, bounded by `limits` (see the module's docstring).

    uvicorn builds one per connection: pass `functools.partial(LimitedHttpToolsProtocol,
    limits=...)` as its `http`.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ConnectionLimits | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits = limits or ConnectionLimits()
        self.timeout_keep_alive = limits.keep_alive_timeout  # type: ignore[assignment]
        self.limit_concurrency = None  # the guard's cap replaces uvicorn's plain-text 503
        guard = _guards.get(server_state)
        if guard is None:
            guard = _guards[server_state] = _Guard(connection_cap(limits)[0])
        self._guard = guard
        self._timer: asyncio.TimerHandle | None = None
        self._counted = False
        self._draining = False
        self._in_head = True  # the bytes arriving belong to a request head
        self._head_bytes = 0  # raw bytes of the current head so far
        self._uncounted = False  # a head that began after another request in the same read
        self._heads = 0  # heads completed on this connection
        self._body_pending = False
        self._started = 0.0
        self._replaying = False  # the head asked for an upgrade: parse it again without
        # An answer of the connection layer waiting for the responses due before it.
        self._refusal: tuple[int, str, str] | None = None
        self._running: RequestResponseCycle | None = None
        self._half_closed = False  # the client sent EOF: close once its requests are answered

    # --- connection -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Set TCP_NODELAY, then admit the connection, or make room, or refuse it (503)."""
        set_nodelay(transport)
        super().connection_made(transport)
        self._started = time.perf_counter()
        guard = self._guard
        if guard.count >= guard.cap:
            if not guard.waiting:
                self._refuse_connection()
                return
            next(iter(guard.waiting))._shed()
        guard.count += 1
        self._counted = True
        guard.waiting[self] = None
        self._arm(self.limits.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        """Give the slot back, then proceed as uvicorn does."""
        self._release()
        self._disarm()
        if self._draining:
            self._draining = False
            self._guard.lingering -= 1
        super().connection_lost(exc)

    def eof_received(self) -> bool:  # type: ignore[override]  # asyncio: bool | None
        """The client half-closed (`nc -N`, `shutdown(SHUT_WR)`): it has sent all it will.
        Answer every request it sent, then close; uvicorn closed at once, and the answers to
        its pipelined requests were lost."""
        if self._draining or not (self._answers_due() or self._refusal is not None):
            return False  # nothing due (an incomplete head never completes): close now
        self._half_closed = True
        if not self._in_head and self._body_pending:  # a body that can no longer complete
            self._answer_and_close(
                400, "invalid_request", "The client closed its side before the whole body."
            )
        return not self.transport.is_closing()  # open for writing the answers

    def _release(self) -> None:
        if self._counted:
            self._counted = False
            self._guard.count -= 1
        self._guard.waiting.pop(self, None)

    def _arm(self, delay: float, callback: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # --- bytes in ---------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Feed the parser, counting the head's bytes as they arrive."""
        if self._draining or self._refusal is not None:
            return  # read and dropped: the answer is on its way, then the connection closes
        self._unset_keepalive_if_required()
        self._uncounted = False
        if self._in_head:
            budget = self.limits.max_head_bytes - self._head_bytes
            if len(data) > budget:
                # Parse only what the limit allows: if the head does not end within it, 431.
                heads = self._heads
                self._head_bytes += budget
                if not self._feed(data[:budget]) or self.transport.is_closing():
                    return
                if self._heads == heads:
                    self._answer_and_close(
                        431,
                        "invalid_request",
                        f"The request head must not exceed {self.limits.max_head_bytes} bytes.",
                    )
                    return
                data = data[budget:]
            else:
                self._head_bytes += len(data)
        if not self._feed(data) or self._timer is not None:
            return
        # Timers only for what did not arrive whole (most requests arrive in one read).
        if self._in_head:
            if self._head_bytes:  # a later request's head, begun and incomplete
                self._started = time.perf_counter()
                self._arm(self.limits.header_timeout, self._head_timed_out)
        elif self._body_pending:
            self._arm(self.limits.body_timeout, self._body_timed_out)

    def _feed(self, data: bytes) -> bool:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refused):
                self._answer_and_close(refused.status, refused.error, refused.description)
            else:
                self.send_400_response("Invalid HTTP request received.")
            return False
        except httptools.HttpParserError:
            self.send_400_response("Invalid HTTP request received.")
            return False
        except httptools.HttpParserUpgrade as exc:
            if not self._replaying:
                return False
            return self._replay_without_upgrade(data[exc.args[0] :])
        return True

    def _replay_without_upgrade(self, rest: bytes) -> bool:
        """Parse the head again without its Upgrade field, then the rest as its body.

        There is no protocol to switch to (ws="none"), so the Upgrade is ignored, as RFC 9110
        §7.8 allows; but llhttp stops at the end of a head that asks for one and never parses
        its body (`curl --http2 http://…` sends `Upgrade: h2c` with its POST). A fresh parser
        fed the same head minus that field parses the request as plain HTTP/1.1.
        """
        self._replaying = False
        parser = self.parser
        lines = [
            parser.get_method() + b" " + self.url + b" HTTP/" + parser.get_http_version().encode(),
            *(name + b": " + value for name, value in self.headers if name != b"upgrade"),
        ]
        self.parser = httptools.HttpRequestParser(self)
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        return self._feed(b"\r\n".join(lines) + b"\r\n\r\n" + rest)

    # --- parser callbacks -------------------------------------------------------------------

    def on_headers_complete(self) -> None:
        """The head is in: check its fields (and its size, when its bytes could not be counted
        as they arrived); the connection is busy (not sheddable) until its response."""
        limits = self.limits
        if len(self.headers) > limits.max_header_fields:
            raise _Refused(
                431,
                "invalid_request",
                f"A request may have at most {limits.max_header_fields} header fields.",
            )
        if self._uncounted:  # pipelined behind another request in the same read
            size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
            if size > limits.max_head_bytes:
                raise _Refused(
                    431,
                    "invalid_request",
                    f"The request head must not exceed {limits.max_head_bytes} bytes.",
                )
        version = self.parser.get_http_version()
        if version not in ("1.1", "1.0"):
            raise _Refused(400, "invalid_request", "Only HTTP/1.1 and HTTP/1.0 are served.")
        # RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, and for any with several.
        hosts = sum(1 for name, _ in self.headers if name == b"host")
        if hosts > 1 or (hosts == 0 and version == "1.1"):
            raise _Refused(400, "invalid_request", "A request must have one Host header field.")
        if self.parser.should_upgrade():
            if self.parser.get_method() == b"CONNECT":
                raise _Refused(400, "invalid_request", "This server does not tunnel (CONNECT).")
            self._replaying = True  # see _replay_without_upgrade
            return
        self._in_head = False
        self._heads += 1
        self._body_pending = True
        self._disarm()
        self._guard.waiting.pop(self, None)
        super().on_headers_complete()
        if self.expect_100_continue:
            _close_if_answered_before_the_body(self.cycle)

    def on_message_complete(self) -> None:
        """The body is in: what arrives next is the next request's head."""
        if self._replaying:
            return
        self._body_pending = False
        self._disarm()
        self._in_head = True
        self._head_bytes = 0
        self._uncounted = True  # the rest of this read, if any, is not counted
        super().on_message_complete()

    def on_response_complete(self) -> None:
        """Idle again (unless a pipelined request starts): sheddable, newest last; or, with
        every earlier response sent, the refusal that waited for them."""
        super().on_response_complete()
        refusal = self._refusal
        if refusal is not None:
            if not self._answers_due() and not self.transport.is_closing():
                self._unset_keepalive_if_required()
                self._refusal = None
                self._write_and_linger(*refusal)
            return
        if self._half_closed and not self._answers_due() and not self.transport.is_closing():
            self._unset_keepalive_if_required()
            self._release()
            self.transport.close()
            return
        if self._counted and self.timeout_keep_alive_task is not None:
            self._guard.waiting.pop(self, None)
            self._guard.waiting[self] = None

    # --- answers of the connection layer ----------------------------------------------------

    def send_400_response(self, msg: str) -> None:
        """Malformed HTTP: the app's JSON 400 with the no-store headers, not uvicorn's text."""
        self._answer_and_close(400, "invalid_request", "The request is not valid HTTP/1.1.")

    def _answer_and_close(self, status: int, error: str, description: str) -> None:
        """Answer this error and close; after the responses still due to earlier (pipelined)
        requests, so that answers keep the order of the requests."""
        self._disarm()
        if self.transport.is_closing() or self._draining or self._refusal is not None:
            self._release()
            return
        if not self._in_head and not self._drop_current_request():
            return
        self._log(status)
        if self._answers_due():
            self._guard.waiting.pop(self, None)
            self._refusal = (status, error, description)  # see on_response_complete
            return
        self._write_and_linger(status, error, description)

    def _write_and_linger(self, status: int, error: str, description: str) -> None:
        self._release()
        headers = self.server_state.default_headers
        self.transport.write(raw_error_response(status, error, description, headers))
        self._linger()

    def _answers_due(self) -> bool:
        """Whether a response to an earlier request is still to be written."""
        cycle = self._running
        running = cycle is not None and not cycle.response_complete and not cycle.disconnected
        return running or bool(self.pipeline)

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        self._running = cycle  # the one in flight (self.cycle is the newest, maybe queued)
        super()._start_asgi_task(cycle, app)

    def _drop_current_request(self) -> bool:
        """The request whose body is arriving is answered by the connection layer: its app
        hears a disconnect (its answer, if any, goes nowhere and is not logged). False when
        its response has begun: then the connection is closed, as nothing else can follow."""
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return True
        if cycle.response_started:
            self._release()
            self.transport.close()
            return False
        cycle.scope.setdefault("state", {})[ANSWERED] = True
        cycle.disconnected = True
        cycle.message_event.set()
        self.pipeline = type(self.pipeline)(item for item in self.pipeline if item[0] is not cycle)
        return True

    def _linger(self) -> None:
        """Send FIN after the answer, drop what still arrives, close on EOF or soon after."""
        guard = self._guard
        if guard.lingering >= self.limits.backlog or not self.transport.can_write_eof():
            self.transport.close()
            return
        self._draining = True
        guard.lingering += 1
        self.transport.write_eof()
        self._arm(_LINGER_SECONDS, self.transport.close)

    def _log(self, status: int) -> None:
        scope = self.scope
        method = path = "-"
        if scope is not None and not self._in_head:
            method, path = scope.get("method", "-"), scope.get("path", "-")
        log_access(method, path, status, None, (time.perf_counter() - self._started) * 1000)

    def _head_timed_out(self) -> None:
        self._timer = None
        if self._head_bytes:
            self._answer_and_close(
                408,
                "invalid_request",
                f"The request headers did not arrive within {self.limits.header_timeout:g} s.",
            )
        else:
            self._release()
            self.transport.close()

    def _body_timed_out(self) -> None:
        self._timer = None
        cycle = self.cycle
        if cycle is None or cycle.response_started or self.transport.is_closing():
            self._release()
            self.transport.close()
            return
        # The app is still waiting for the body: see _drop_current_request.
        self._answer_and_close(
            408,
            "invalid_request",
            f"The request body did not arrive within {self.limits.body_timeout:g} s.",
        )

    def _shed(self) -> None:
        """Close this waiting connection to make room for a new one."""
        self._guard.shed += 1
        self._guard.note()
        if self._in_head and self._head_bytes:
            self._answer_and_close(
                408, "invalid_request", "The request headers did not arrive in time."
            )
        else:
            self._release()
            self._disarm()
            self.transport.close()

    def _refuse_connection(self) -> None:
        self._guard.refused += 1
        self._guard.note()
        self._answer_and_close(503, "temporarily_unavailable", "Too many connections; retry later.")


def _close_if_answered_before_the_body(cycle: RequestResponseCycle) -> None:
    """RFC 9110 §10.1.1: a request with `Expect: 100-continue` answered before its body was
    asked for (a 401 before the body is read) may never send that body; kept open, the
    connection would read the client's next request as that body. Close it after the answer
    (`connection: close`)."""
    send = cycle.send

    async def send_then_close(message: Any) -> None:
        if message["type"] == "http.response.start" and cycle.waiting_for_100_continue:
            cycle.keep_alive = False
        await send(message)

    cycle.send = send_then_close  # type: ignore[method-assign]
