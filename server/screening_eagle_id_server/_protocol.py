"""uvicorn's httptools protocol with the limits of `ConnectionLimits` and TCP_NODELAY.

uvicorn alone closes idle keep-alive connections, but never a connection that is still sending
its head or its body, lets httptools buffer a head of any size, and answers malformed HTTP with
a plain-text 400. This subclass adds, per connection:

- a header timer (from the connection, or from a later request's first byte, to the end of the
  head) and a body timer (from the end of the head to the end of the body): 408 and close;
- head limits counted on the bytes as they arrive (a head dripped byte by byte and one that
  arrives in a single read meet the same limit) and on the parsed fields: 431 and close;
- a connection cap per worker, kept below the open-file limit: at the cap, the connection that
  has waited longest on its client (idle, its head not complete, or its answer not taken) is
  closed to make room; when every connection has a request in progress, 503;
- one request read ahead of the answer being written (as h11): once a request waits behind
  the one being answered, or the answers waiting to be written are over their high-water
  mark, reading stops, and the rest of the last read is held (one read at most) until the
  answer is written;
- a body budget: its content (413), its chunk framing and trailer section (431, counted
  against the head's limits; trailers are dropped, never added to the headers);
- a write timer: an answer the client does not take within `write_timeout` (write buffer over
  its high-water mark, or closing with bytes unsent) drops the connection;
- the protocol corners llhttp leaves: 501 for a well-formed request line with an unknown
  method, 400 for Transfer-Encoding in HTTP/1.0 and for a Host that is not uri-host[:port];
- every answer it writes itself is the app's JSON error with the no-store headers, and gets
  an access-log line.

Where a read holds several requests, it is parsed in pieces that each end a head at most
(heads end at the first CRLF CRLF: llhttp accepts no bare LF), so that parsing can stop one
request ahead; a read with one request in it (the usual case) is parsed whole.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from ._accesslog import ANSWERED, log_access
from ._guard import guard_of
from ._headcheck import Trailers, TrailersTooLarge, is_request_line, valid_host
from ._limits import SEND_BUFFER, WRITE_HIGH_WATER, ConnectionLimits, connection_cap
from ._nodelay import set_nodelay, set_send_buffer
from ._responses import raw_error_response

__all__ = ["LimitedHttpToolsProtocol"]

# After answering an error, the connection reads (and drops) what its client still sends for
# this long before it closes: closing with unread bytes would reset the connection, and the
# client could lose the answer.
_LINGER_SECONDS = 1.0
# On shutdown, answers still unsent get this long (at most the write timeout) to be taken.
_SHUTDOWN_GRACE_SECONDS = 1.0
_END_OF_HEAD = b"\r\n\r\n"


class _Refused(Exception):
    """Raised from a parser callback: stop parsing and answer this error."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


class _Flow(FlowControl):
    """uvicorn's flow control, except that reading stays paused while its connection holds
    bytes read ahead, has a request waiting behind the one being answered, or has answers
    waiting to be written over their high-water mark (uvicorn resumes on every receive)."""

    def __init__(self, transport: asyncio.Transport, protocol: LimitedHttpToolsProtocol) -> None:
        super().__init__(transport)
        self.protocol = protocol

    def resume_reading(self) -> None:
        if self.read_paused and self.protocol.may_read():
            super().resume_reading()


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
        self._guard = guard_of(server_state, connection_cap(limits)[0])
        self._timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._held = b""  # read, not parsed: a request waits behind the one being answered
        self._body_raw = 0  # bytes of the body phase so far (payload, chunk framing, trailers)
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

    # --- connection -------------------------------------------------------------------------

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
        """Parse what arrived, one request ahead of the answers at most (see the module)."""
        if self._draining or self._refusal is not None:
            return  # read and dropped: the answer is on its way, then the connection closes
        if self._bad_line is not None:
            self._unknown_method(data)
            return
        if self._held or self.pipeline:  # a read that was under way when reading stopped
            self._hold(data)
            return
        self._unset_keepalive_if_required()
        self._take(data)

    def may_read(self) -> bool:
        """Whether reading may resume: nothing held, nothing waiting, answers taken."""
        return not (self._held or self.pipeline or self.flow.write_paused)

    def _hold(self, data: bytes) -> None:
        self._held += data
        self.flow.pause_reading()

    def _take_held(self) -> None:
        """The answer ahead of them is written: parse the bytes held since."""
        data, self._held = self._held, b""
        if not data or self.transport.is_closing() or self._draining:
            return
        self._unset_keepalive_if_required()
        self._take(data)
        self.flow.resume_reading()

    def _take(self, data: bytes) -> None:
        end = len(data)
        pos = 0
        while pos < end:
            if self.pipeline:  # a request waits behind the one being answered: stop here
                self._hold(data[pos:])
                break
            cut = _cut(data, pos, end)
            if not self._in_head:  # the body phase: never past its budget
                limits = self.limits
                cut = min(
                    cut, pos + 1 + limits.max_body_bytes + limits.max_head_bytes - self._body_raw
                )
            if not self._feed_piece(data if cut - pos == end else data[pos:cut]):
                return
            pos = cut
        if self._timer is not None or self.transport.is_closing():
            return
        # Timers only for what did not arrive whole (most requests arrive in one read).
        if self._in_head:
            if self._head_bytes:  # a later request's head, begun and incomplete
                self._started = time.perf_counter()
                self._arm(self.limits.header_timeout, self._head_timed_out)
        elif self._body_pending:
            self._arm(self.limits.body_timeout, self._body_timed_out)

    def _feed_piece(self, data: bytes) -> bool:
        """Feed one piece (it ends one head at most), counting the head's bytes as they
        arrive, and the body phase's after them; False when the connection is answered."""
        limits = self.limits
        if self._in_head:
            if not self._head_bytes:
                self._uncounted = False  # this head begins here: its bytes are counted
            budget = limits.max_head_bytes - self._head_bytes
            if len(data) <= budget:
                self._head_bytes += len(data)
                return self._feed_counted(data)
            # Parse only what the limit allows: if the head does not end within it, 431.
            heads = self._heads
            self._head_bytes += budget
            if not self._feed_counted(data[:budget]):
                return False
            if self._heads == heads:
                return self._refuse(
                    431, f"The request head must not exceed {limits.max_head_bytes} bytes."
                )
            return self._feed_piece(data[budget:])
        heads, completed = self._heads, self._completed
        if not self._feed_counted(data):
            return False
        if self._heads != heads or self._completed != completed:
            return True  # not all of it was the body phase of one request
        # The whole piece was the body phase of one request.
        self._body_raw += len(data)
        if self._payload - self._payload_start > limits.max_body_bytes:
            return self._refuse(
                413, f"The request body must not exceed {limits.max_body_bytes} bytes."
            )
        if self._body_raw - (self._payload - self._payload_base) > limits.max_head_bytes:
            return self._refuse(
                431,
                "The chunk framing and trailers of a body must not exceed"
                f" {limits.max_head_bytes} bytes.",
            )
        return True

    def _feed_counted(self, data: bytes) -> bool:
        """Feed `data`; then account for a head that ended in it (the body that came with it
        is not counted as the body phase's) and a request that completed in it (the next
        head may have begun: its bytes so far)."""
        heads, completed = self._heads, self._completed
        self._piece_payload = payload = self._payload
        if not self._feed(data) or self.transport.is_closing():
            return False
        if self._heads != heads:
            self._payload_base = self._payload
        if self._completed != completed and self._in_head and not self._head_bytes:
            self._head_bytes = _tail_after(data, self._payload - payload)
        return True

    def _refuse(self, status: int, description: str) -> bool:
        """Answer `status` and close (a request whose answer has begun: close); False."""
        cycle = self.cycle
        if not self._in_head and cycle is not None and cycle.response_complete:
            self._release()
            self._close_flushing()  # answered already (the app refused the body early)
        else:
            self._answer_and_close(status, "invalid_request", description)
        return False

    def _feed(self, data: bytes) -> bool:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refused):
                self._answer_and_close(refused.status, refused.error, refused.description)
            elif isinstance(refused, TrailersTooLarge):
                self._refuse(
                    431,
                    f"The trailer section must not exceed {self.limits.max_header_fields}"
                    f" fields or {self.limits.max_head_bytes} bytes.",
                )
            else:
                self.send_400_response("Invalid HTTP request received.")
            return False
        except httptools.HttpParserInvalidMethodError:
            if self._uncounted:  # begun after a request that completed in this piece
                self._bad_line = b""
                self._unknown_method(
                    _line_after(data, self._payload - self._piece_payload), wait=False
                )
            else:
                self._bad_line = b""
                self._unknown_method(data.lstrip(b"\r\n"))
            return False
        except httptools.HttpParserError:
            self.send_400_response("Invalid HTTP request received.")
            return False
        except httptools.HttpParserUpgrade as exc:
            if not self._replaying:
                return False
            return self._replay_without_upgrade(data[exc.args[0] :])
        return True

    def _unknown_method(self, data: bytes, *, wait: bool = True) -> None:
        """llhttp stopped at a method it does not know: 501 if the request line is well
        formed (RFC 9110 §9.1), else 400; wait for the line's end (under the head's limits)."""
        line = (self._bad_line or b"") + data
        end = line.find(b"\r\n")
        if wait and end < 0 and len(line) <= self.limits.max_head_bytes:
            self._bad_line = line
            if self._timer is None:
                self._head_bytes = max(self._head_bytes, 1)  # a head in progress: 408 at its end
                self._arm(self.limits.header_timeout, self._head_timed_out)
            return
        self._bad_line = None
        if end >= 0 and is_request_line(line[:end]):
            method = line[: line.index(b" ")].decode("ascii")
            self._answer_and_close(
                501, "invalid_request", f"The method {method} is not implemented here."
            )
        else:
            self.send_400_response("Invalid HTTP request received.")

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
        self._uncounted = False
        version = self.parser.get_http_version()
        if version not in ("1.1", "1.0"):
            raise _Refused(400, "invalid_request", "Only HTTP/1.1 and HTTP/1.0 are served.")
        hosts = 0
        host = b""
        for name, value in self.headers:
            if name == b"host":
                hosts += 1
                host = value
            elif name == b"transfer-encoding" and version == "1.0":
                # RFC 9112 §6.1: the framing of an HTTP/1.0 request with it is unreliable.
                raise _Refused(400, "invalid_request", "HTTP/1.0 has no Transfer-Encoding.")
        # RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, for any with several, and
        # for a Host that is not uri-host[:port].
        if hosts > 1 or (hosts == 0 and version == "1.1"):
            raise _Refused(400, "invalid_request", "A request must have one Host header field.")
        if hosts and not valid_host(host):
            raise _Refused(400, "invalid_request", "The Host header field is not host[:port].")
        if self.parser.should_upgrade():
            if self.parser.get_method() == b"CONNECT":
                raise _Refused(400, "invalid_request", "This server does not tunnel (CONNECT).")
            self._replaying = True  # see _replay_without_upgrade
            return
        self._in_head = False
        self._heads += 1
        self._body_pending = True
        self._body_raw = 0
        self._payload_start = self._payload
        self._disarm()
        if not self.flow.write_paused:  # else its client is slow to read: still sheddable
            self._guard.waiting.pop(self, None)
        super().on_headers_complete()
        # The fields of a trailer section (chunked bodies) are counted, then dropped.
        self.headers = Trailers(limits.max_header_fields, limits.max_head_bytes)  # type: ignore[assignment]
        if self.expect_100_continue:
            _close_if_answered_before_the_body(self.cycle)

    def on_body(self, body: bytes) -> None:
        self._payload += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        """The body is in: what arrives next is the next request's head."""
        if self._replaying:
            return
        self._body_pending = False
        self._disarm()
        self._in_head = True
        self._head_bytes = 0
        self._completed += 1
        self._uncounted = True  # the rest of this piece, if any, is not counted
        super().on_message_complete()

    def on_response_complete(self) -> None:
        """Idle again (unless a pipelined request starts): sheddable, newest last; or, with
        every earlier response sent, the refusal that waited for them; or the bytes held while
        the answer was pending."""
        super().on_response_complete()
        if self.transport.is_closing():  # `connection: close`: the answer may be unsent
            self._close_flushing()
            return
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
        if self._held:
            self.loop.call_soon(self._take_held)
        elif self._counted and self.timeout_keep_alive_task is not None:
            self._guard.waiting.pop(self, None)
            self._guard.waiting[self] = None

    # --- bytes out --------------------------------------------------------------------------

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
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        if self.timeout_keep_alive_task is None:  # not idle: busy again
            self._guard.waiting.pop(self, None)
        self.flow.resume_reading()

    def _close_flushing(self, grace: float | None = None) -> None:
        """Close once the answers are written; drop the connection if the client has not
        taken them within the write timeout."""
        self._release()
        transport = self.transport
        transport.close()
        if self._write_timer is None and transport.get_write_buffer_size():
            self._write_timer = self.loop.call_later(
                grace or self.limits.write_timeout, self._write_timed_out
            )

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

    def shutdown(self) -> None:
        """The server stops: close once idle, as uvicorn does, but never wait on a client
        that does not take its answer."""
        if not self._in_head and self._body_pending:  # a body still to come: drop it
            self._drop_current_request()
            self._release()
            self.transport.close()
            return
        super().shutdown()
        if self.transport.is_closing():
            self._close_flushing(min(_SHUTDOWN_GRACE_SECONDS, self.limits.write_timeout))
        elif self.flow.write_paused:
            self._release()
            self.transport.abort()

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


def _cut(data: bytes, pos: int, end: int) -> int:
    """Where the piece of `data` from `pos` ends: after its first head end if another one
    follows (so that a piece ends one head at most), else at `end`."""
    first = data.find(_END_OF_HEAD, pos)
    if first < 0:
        return end
    first += 4
    return end if data.find(_END_OF_HEAD, first) < 0 else first


def _tail_after(data: bytes, payload: int) -> int:
    """How many bytes end `data` after the request that completed in it: what follows its last
    head end (or the piece's start), less the body content fed in the piece. An estimate
    that is exact unless the piece held the ends of two requests' bodies."""
    last = data.rfind(_END_OF_HEAD)
    start = last + 4 if last >= 0 else 0
    return max(0, len(data) - start - payload)


def _line_after(data: bytes, payload: int) -> bytes:
    """The request line of a request that begins in `data` after another one completed in it
    (after a head end, or after a body of `payload` bytes): the first candidate that reads as
    a request line, else the first."""
    last = data.find(_END_OF_HEAD)
    starts = [payload] if last < 0 else [last + 4 + payload, last + 4, payload]
    lines = [data[start:].lstrip(b"\r\n").partition(b"\r\n")[0] + b"\r\n" for start in starts]
    return next((line for line in lines if is_request_line(line[:-2])), lines[0])
