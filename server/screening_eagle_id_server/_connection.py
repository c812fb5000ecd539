"""The connection half of the server's HTTP/1.1 protocol: its state in every phase, its
timers, its slot under the connection cap, the bytes it may hold on their way out, and the
answers the connection layer writes itself (see `_protocol` for the bytes in).

Per connection:

- a header timer (from the connection, or from a later request's first byte, to the end of the
  head) and a body timer (from the end of the head to the end of the body): 408 and close;
- a write timer: an answer the client does not take within `write_timeout` (the answers
  waiting to be written over `WRITE_HIGH_WATER`, or the connection closing with bytes
  unsent) drops the connection; the kernel's send buffer is fixed at `SEND_BUFFER`, so that
  a client that does not read is seen;
- reading stops while the answers waiting are over their high-water mark;
- a connection cap per worker, kept below the open-file limit: at the cap, the connection that
  has waited longest on its client (idle, its head not complete, or its answer not taken) is
  closed to make room; when every connection has a request in progress, 503;
- on shutdown, a request whose body has not arrived is dropped, and unsent answers get a
  second at most: a client cannot hold the process open;
- every answer it writes itself is the app's JSON error with the no-store headers, and gets
  an access-log line.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from ._accesslog import ANSWERED, log_access
from ._chunks import ChunkFraming
from ._guard import guard_of
from ._limits import SEND_BUFFER, WRITE_HIGH_WATER, ConnectionLimits, connection_cap
from ._nodelay import set_nodelay, set_send_buffer
from ._responses import raw_error_response

__all__ = ["BoundedConnection"]

# After answering an error, the connection reads (and drops) what its client still sends for
# this long before it closes: closing with unread bytes would reset the connection, and the
# client could lose the answer.
_LINGER_SECONDS = 1.0
# On shutdown, answers still unsent get this long (at most the write timeout) to be taken.
_SHUTDOWN_GRACE_SECONDS = 1.0


class _Flow(FlowControl):
    """uvicorn's flow control, except that reading stays paused while its connection holds
    bytes read ahead, has a request waiting behind the one being answered, or has answers
    waiting to be written over their high-water mark (uvicorn resumes on every receive)."""

    def __init__(self, transport: asyncio.Transport, protocol: BoundedConnection) -> None:
        super().__init__(transport)
        self.protocol = protocol

    def resume_reading(self) -> None:
        if self.read_paused and self.protocol.may_read():
            super().resume_reading()


class BoundedConnection(HttpToolsProtocol):
    """uvicorn's httptools protocol, its connection bounded by `limits` (see the module)."""

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
        self._guard = guard_of(server_state, connection_cap(limits)[0])
        self._timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._write_grace = limits.write_timeout  # shorter once the server stops
        self._stopping = False
        self._held = b""  # read, not parsed: a request waits behind the one being answered
        self._body_raw = 0  # bytes of the body phase so far (payload, chunk framing, trailers)
        self._chunks: ChunkFraming | None = None  # a chunked body's framing, counted exactly
        self._payload = 0  # body content received on this connection
        self._payload_start = 0  # ... when the current request's head ended
        self._payload_base = 0  # ... at the end of the piece that ended it (body uncounted)
        self._piece_payload = 0  # ... when the current piece began
        self._completed = 0  # requests whose body is complete
        self._bad_line: bytes | None = None  # an unknown method: its request line so far
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

    # --- connection ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Set TCP_NODELAY, then admit the connection, or make room, or refuse it (503)."""
        set_nodelay(transport)
        set_send_buffer(transport, SEND_BUFFER)
        super().connection_made(transport)
        self.flow = _Flow(transport, self)
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
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
        """Give the slot back, then proceed as uvicorn does; but every request not answered
        hears the disconnect (uvicorn tells only the newest, and an older one, its answer
        waiting on a full write buffer, would then write to the closed transport)."""
        for cycle in (self._running, *(queued for queued, _ in self.pipeline)):
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()
        self._release()
        self._disarm()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        self._held = b""
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

    def shutdown(self) -> None:
        """The server stops: close once idle, as uvicorn does, but never wait on a client:
        a body still to come is dropped, and whatever else the connection is doing (an
        answer being made or not taken) gets a second at most."""
        self._stopping = True
        self._write_grace = min(_SHUTDOWN_GRACE_SECONDS, self.limits.write_timeout)
        if self._write_timer is not None:
            self._write_timer.cancel()
        self._write_timer = self.loop.call_later(self._write_grace, self._write_timed_out)
        if not self._in_head and self._body_pending:  # a body still to come: drop it
            self._drop_current_request()
            self._release()
            self.transport.close()
            return
        super().shutdown()
        if self.flow.write_paused and not self.transport.is_closing():
            self._release()
            self.transport.abort()

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

    # --- bytes out -----------------------------------------------------------------------

    def may_read(self) -> bool:
        """Whether reading may resume: nothing held, nothing waiting, answers taken."""
        return not (self._held or self.pipeline or self.flow.write_paused)

    def pause_writing(self) -> None:
        """The answers waiting to be written are over the high-water mark: read nothing more,
        give the client `write_timeout` to take them, and let the cap close this first."""
        super().pause_writing()
        self.flow.pause_reading()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(
                self.limits.write_timeout, self._write_timed_out
            )
        if self._counted:
            self._guard.waiting[self] = None

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None and not self._stopping:
            self._write_timer.cancel()
            self._write_timer = None
        if self.timeout_keep_alive_task is None:  # not idle: busy again
            self._guard.waiting.pop(self, None)
        self.flow.resume_reading()

    def _close_flushing(self) -> None:
        """Close once the answers are written; drop the connection if the client has not
        taken them within the write timeout."""
        self._release()
        transport = self.transport
        transport.close()
        if self._write_timer is None and transport.get_write_buffer_size():
            self._write_timer = self.loop.call_later(self._write_grace, self._write_timed_out)

    def _write_timed_out(self) -> None:
        self._write_timer = None
        self._guard.write_timeouts += 1
        self._release()
        self._disarm()
        self.transport.abort()

    def timeout_keep_alive_handler(self) -> None:
        """Idle too long: close (after the last answer, if the client has not taken it yet)."""
        if not self.transport.is_closing():
            self._close_flushing()

    # --- answers of the connection layer -------------------------------------------------

    def send_400_response(self, msg: str) -> None:
        """Malformed HTTP: the app's JSON 400 with the no-store headers, not uvicorn's text."""
        self._answer_and_close(400, "invalid_request", "The request is not valid HTTP/1.1.")

    def _refuse(self, status: int, description: str) -> bool:
        """Answer `status` and close (a request whose answer has begun: close); False."""
        cycle = self.cycle
        if not self._in_head and cycle is not None and cycle.response_complete:
            self._release()
            self._close_flushing()  # answered already (the app refused the body early)
        else:
            self._answer_and_close(status, "invalid_request", description)
        return False

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
        return running or bool(self.pipeline) or bool(self._held)

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
            self._close_flushing()
            return
        self._draining = True
        guard.lingering += 1
        self.transport.write_eof()
        self._arm(_LINGER_SECONDS, self._close_flushing)

    def _log(self, status: int) -> None:
        scope = self.scope
        method = path = "-"
        if scope is not None and not self._in_head:
            method, path = scope.get("method", "-"), scope.get("path", "-")
        log_access(method, path, status, None, (time.perf_counter() - self._started) * 1000)

    # --- timers and the cap --------------------------------------------------------------

    def _head_timed_out(self) -> None:
        self._timer = None
        if self._head_bytes:
            self._answer_and_close(
                408,
                "invalid_request",
                f"The request headers did not arrive within {self.limits.header_timeout:g} s.",
            )
        else:
            self._close_flushing()

    def _body_timed_out(self) -> None:
        self._timer = None
        cycle = self.cycle
        if cycle is None or cycle.response_started or self.transport.is_closing():
            self._close_flushing()
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
        if self.transport.get_write_buffer_size():  # its client does not take its answers
            self._release()
            self._disarm()
            self.transport.abort()
        elif self._in_head and self._head_bytes:
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
