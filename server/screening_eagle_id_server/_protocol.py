"""uvicorn's httptools protocol with the limits of `ConnectionLimits`: the bytes in (see
`_connection` for the connection's state, timers, cap and bytes out).

uvicorn alone lets httptools buffer a head of any size, a trailer section of any size, and
reads pipelined requests far ahead of its answers (it resumes reading on every receive). This
subclass adds, per connection:

- head limits counted on the bytes as they arrive (a head dripped byte by byte and one that
  arrives in a single read meet the same limit) and on the parsed fields: 431 and close;
- one request read ahead of the answer being written (as h11): once a request waits behind
  the one being answered, reading stops, and the rest of the last read is held (one read at
  most) until the answer is written;
- a body budget: its content (413), its chunk framing and trailer section (431, counted
  against the head's limits; trailers are dropped, never added to the headers);
- the protocol corners llhttp leaves: 501 for a well-formed request line with an unknown
  method, 400 for Transfer-Encoding in HTTP/1.0 and for a Host that is not uri-host[:port].

Where a read holds several requests, it is parsed in pieces that each end a head at most
(heads end at the first CRLF CRLF: llhttp accepts no bare LF), so that parsing can stop one
request ahead; a read with one request in it (the usual case) is parsed whole.
"""

from __future__ import annotations

import time
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from ._chunks import ChunkFraming
from ._connection import BoundedConnection
from ._headcheck import Trailers, TrailersTooLarge, is_request_line, valid_host
from ._pieces import END_OF_HEAD, cut, line_after, tail_after

__all__ = ["LimitedHttpToolsProtocol"]


_FRAMING_TOO_LARGE = "The chunk framing and trailers of a body must not exceed {} bytes."


class _Refused(Exception):
    """Raised from a parser callback: stop parsing and answer this error."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


class LimitedHttpToolsProtocol(BoundedConnection):
    """uvicorn's httptools protocol, bounded by `limits` (see the module's docstring).

    uvicorn builds one per connection: pass `functools.partial(LimitedHttpToolsProtocol,
    limits=...)` as its `http`.
    """

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
            stop = cut(data, pos, end)
            if self._in_head and self._head_bytes:  # a head begun in an earlier read ends here?
                first = data.find(END_OF_HEAD, pos, stop)
                if 0 <= first < stop - 4:  # then its body phase begins a piece (see _chunks)
                    stop = first + 4
            if not self._in_head:  # the body phase: never past its budget
                limits = self.limits
                stop = min(
                    stop, pos + 1 + limits.max_body_bytes + limits.max_head_bytes - self._body_raw
                )
            if not self._feed_piece(data if stop - pos == end else data[pos:stop]):
                return
            pos = stop
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
        chunks = self._chunks
        if chunks is not None:  # a chunked body: its framing is counted before it is parsed
            used = chunks.feed(data)
            if chunks.framing > limits.max_head_bytes:
                return self._refuse(431, _FRAMING_TOO_LARGE.format(limits.max_head_bytes))
            if chunks.done:
                self._chunks = None
                if used < len(data):  # the next request begins a piece of its own
                    return self._feed_piece(data[:used]) and self._feed_piece(data[used:])
        heads, completed = self._heads, self._completed
        if not self._feed_counted(data):
            return False
        if self._heads != heads or self._completed != completed:
            return True  # not all of it was the body phase of one request
        # The whole piece was the body phase of one request.
        self._body_raw += len(data)
        if self._body_raw - (self._payload - self._payload_base) > limits.max_head_bytes:
            return self._refuse(431, _FRAMING_TOO_LARGE.format(limits.max_head_bytes))
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
            # A chunked body's framing is counted exactly when its body phase begins a piece
            # (`cut` ends a piece at a chunked head's end); else it is bounded by this read.
            if self._chunks is not None and (self._in_head or not data.endswith(END_OF_HEAD)):
                self._chunks = None
        if self._completed != completed and self._in_head and not self._head_bytes:
            self._head_bytes = tail_after(data, self._payload - payload)
        return True

    def _feed(self, data: bytes) -> bool:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refused):
                self._refuse(refused.status, refused.description)
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
                    line_after(data, self._payload - self._piece_payload), wait=False
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
        codings: list[bytes] = []
        for name, value in self.headers:
            if name == b"host":
                hosts += 1
                host = value
            elif name == b"transfer-encoding":
                if version == "1.0":
                    # RFC 9112 §6.1: the framing of an HTTP/1.0 request with it is unreliable.
                    raise _Refused(400, "invalid_request", "HTTP/1.0 has no Transfer-Encoding.")
                codings += (c.strip().lower() for c in value.split(b","))
        if codings and codings != [b"chunked"]:
            # RFC 9112 §6.1: a transfer coding not implemented is 501 (llhttp would read a
            # `gzip, chunked` body as if it were only chunked).
            raise _Refused(
                501, "invalid_request", "Only the chunked transfer coding is implemented."
            )
        self._chunks = ChunkFraming() if codings else None
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
        """Count the body's content, however its bytes arrive: 413 past the limit."""
        self._payload += len(body)
        if self._payload - self._payload_start > self.limits.max_body_bytes:
            raise _Refused(
                413,
                "invalid_request",
                f"The request body must not exceed {self.limits.max_body_bytes} bytes.",
            )
        super().on_body(body)

    def on_message_complete(self) -> None:
        """The body is in: what arrives next is the next request's head."""
        if self._replaying:
            return
        self._body_pending = False
        self._chunks = None
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
