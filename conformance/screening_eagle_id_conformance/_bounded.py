"""The one bound on every byte the suite reads: at most `MAX_REPLY_BYTES` after decoding.

A token response or an error is a few KB. A hostile server answers with a gzip bomb, a
`Content-Encoding: gzip, gzip` bomb (each layer multiplies), a deflate bomb, or a body that
never ends. `Decoder` undoes the content-codings itself, each layer with `max_length`, so no
layer ever holds more than the bound; the suite's own requests (httpx, `_http.Prober`) and
schemathesis's (requests, `BoundedAdapter`) both read raw bytes through it.

`BoundedAdapter` also gives every schemathesis response, head included, a whole-exchange
deadline (a head or body dripped byte by byte never trips a per-read timeout), and the
schemathesis phase one budget in all: past it, no request is sent.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.response import BaseHTTPResponse

__all__ = [
    "MAX_REPLY_BYTES",
    "BodyTooLarge",
    "BoundedAdapter",
    "Budget",
    "BudgetSpent",
    "Decoder",
    "bounded_sessions",
    "cut_off_after",
]

MAX_REPLY_BYTES = 1024 * 1024
_CHUNK = 64 * 1024


class BodyTooLarge(ValueError):
    """A response body (or one of its content-coding layers) is past the bound."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the response body exceeds {limit} bytes after decoding")


class _Layer:
    """One content-coding, undone with `max_length`: never more than `limit` bytes out."""

    def __init__(self, coding: str, limit: int) -> None:
        self.coding = coding
        self.limit = limit
        self.produced = 0
        self._obj: Any = None
        if coding in ("gzip", "x-gzip"):
            self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes) -> bytes:
        if not data or self._obj is False:
            return b""
        if self._obj is None:  # deflate: zlib-wrapped, or raw as some servers send it
            wrapped = (
                len(data) >= 2 and (data[0] & 0x0F) == 8 and (data[0] << 8 | data[1]) % 31 == 0
            )
            self._obj = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        room = self.limit - self.produced
        try:
            out: bytes = self._obj.decompress(data, room + 1)
        except zlib.error as exc:
            raise ValueError(f"the {self.coding} body does not decode: {exc}") from None
        self.produced += len(out)
        if self.produced > self.limit:
            raise BodyTooLarge(self.limit)
        if self._obj.eof:
            self._obj = False  # what follows a gzip member is not decoded (as curl does)
        return out


class Decoder:
    """Raw body bytes in, decoded bytes out, at most `limit` of them at any layer."""

    def __init__(self, content_encoding: str | None, limit: int = MAX_REPLY_BYTES) -> None:
        codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
        # Applied in the header's order, so undone in reverse; unknown codings are left as they
        # are (the body is judged as sent), identity is nothing.
        known = [c for c in codings if c in ("gzip", "x-gzip", "deflate")]
        self.limit = limit
        self._layers = [_Layer(c, limit) for c in reversed(known)]
        self.size = 0

    def feed(self, data: bytes) -> bytes:
        """Decode `data`; BodyTooLarge once the body (or a layer) is past the bound."""
        for layer in self._layers:
            data = layer.feed(data)
        self.size += len(data)
        if self.size > self.limit:
            raise BodyTooLarge(self.limit)
        return data


class BudgetSpent(requests.exceptions.ConnectionError):
    """The schemathesis phase's time budget is spent: no more requests are sent."""


class ReplyTooLarge(requests.exceptions.ContentDecodingError):
    """A schemathesis response past the bound (not retried: a retry would read it again)."""


class NoWholeReply(requests.exceptions.ContentDecodingError):
    """A schemathesis response not whole within its deadline."""


# The socket of the request under way on this thread, for the watchdog to shut down.
_current = threading.local()


def _track(sock: socket.socket | None) -> None:
    sockets = getattr(_current, "sockets", None)
    if sockets is not None and sock is not None:
        sockets.append(sock)


class _TrackedHTTP(HTTPConnection):
    def getresponse(self) -> Any:
        _track(self.sock)
        return super().getresponse()


class _TrackedHTTPS(HTTPSConnection):
    def getresponse(self) -> Any:
        _track(self.sock)
        return super().getresponse()


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _TrackedHTTP


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPS


class _Replay(io.BytesIO):
    """The body already read, for code that reads `response.raw` again (event streams);
    everything else (headers, version, …) is the original urllib3 response's."""

    def __init__(self, body: bytes, original: Any) -> None:
        super().__init__(body)
        self._original = original

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)

    def read1(self, size: int | None = -1, /, decode_content: bool = True) -> bytes:
        return super().read1(size)

    def release_conn(self) -> None:
        """Nothing to release: the connection went back when the body was read."""


@contextlib.contextmanager
def cut_off_after(seconds: float, sockets: list[socket.socket]) -> Iterator[threading.Event]:
    """Past `seconds`, shut down every socket in `sockets` (filled while inside) and set the
    event it yields: a head or a body dripped byte by byte never trips a per-read timeout."""
    cut = threading.Event()

    def cut_off() -> None:
        cut.set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(seconds, cut_off)
    watchdog.daemon = True
    watchdog.start()
    try:
        yield cut
    finally:
        watchdog.cancel()


@dataclass
class Budget:
    """What one schemathesis phase may spend: until `deadline` (time.monotonic) in all, each
    exchange within `2 * timeout`, each body up to `limit` bytes after decoding."""

    deadline: float
    timeout: float
    limit: int = MAX_REPLY_BYTES
    # Set once a request was refused because the deadline had passed.
    spent: bool = False


class BoundedAdapter(HTTPAdapter):
    """A requests transport adapter that reads every body through `Decoder`, every exchange
    within `2 * budget.timeout`, and sends nothing once `budget.deadline` has passed."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any
    ) -> requests.Response:
        budget = self.budget
        remaining = budget.deadline - time.monotonic()
        if remaining <= 0:
            budget.spent = True
            raise BudgetSpent("the schemathesis phase's time budget is spent", request=request)
        seconds = min(2 * budget.timeout, remaining)
        sockets: list[socket.socket] = []
        _current.sockets = sockets
        try:
            with cut_off_after(seconds, sockets) as cut:
                try:
                    response = super().send(request, stream=True, **kwargs)
                    body = self._read(response, request, time.monotonic() + seconds)
                except requests.exceptions.RequestException:
                    if cut.is_set():
                        raise NoWholeReply(
                            f"no whole response within {seconds:g} s", request=request
                        ) from None
                    raise
        finally:
            _current.sockets = None
        response._content = body
        response._content_consumed = True
        response.raw = _Replay(body, response.raw)
        return response

    def _read(self, response: requests.Response, request: Any, deadline: float) -> bytes:
        raw: BaseHTTPResponse = response.raw
        decoder = Decoder(response.headers.get("Content-Encoding"), self.budget.limit)
        body = bytearray()
        try:
            for chunk in raw.stream(_CHUNK, decode_content=False):
                body += decoder.feed(chunk)
                if time.monotonic() > deadline:
                    raise NoWholeReply("the response body took too long", request=request)
        except BodyTooLarge as exc:
            raise ReplyTooLarge(str(exc), request=request) from None
        except ValueError as exc:
            raise requests.exceptions.ContentDecodingError(str(exc), request=request) from None
        except Exception as exc:
            if isinstance(exc, requests.exceptions.RequestException):
                raise
            raise requests.exceptions.ConnectionError(
                f"{type(exc).__name__}: {exc}", request=request
            ) from None
        finally:
            response.close()
        return bytes(body)


_SESSIONS_LOCK = threading.Lock()


@contextlib.contextmanager
def bounded_sessions(budget: Budget) -> Iterator[None]:
    """While the block runs, every session schemathesis makes (its run's session, and the
    fresh ones its checks' probes use) reads through a `BoundedAdapter` of `budget`.

    schemathesis makes its sessions itself (`SameHostRedirectsSession` and its subclass), so
    the hook is on that class, for the block only; runs in parallel take turns.
    """
    from schemathesis.transport.requests import SameHostRedirectsSession

    with _SESSIONS_LOCK:
        original = SameHostRedirectsSession.__init__

        def init(self: requests.Session, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            adapter = BoundedAdapter(budget)
            self.mount("http://", adapter)
            self.mount("https://", adapter)

        SameHostRedirectsSession.__init__ = init  # type: ignore[method-assign]
        try:
            yield
        finally:
            SameHostRedirectsSession.__init__ = original  # type: ignore[method-assign]
