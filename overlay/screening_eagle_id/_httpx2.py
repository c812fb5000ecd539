"""httpx2 support: `BearerAuth` in httpx2 clients, httpx2 clients as `http_client=`.

httpx2 is a fork of httpx with its own classes (`httpx2.Auth`, `httpx2.Request`, ...), so an
httpx object is not an httpx2 one: httpx2 refuses an `httpx.Auth`, and an `httpx.Request`
cannot go through an httpx2 client. This module bridges the two without ever importing
httpx2: it is looked up in `sys.modules`, where it is whenever a caller hands us an httpx2
object (and where httpx users never pay for it).

* `with_httpx2_base(cls)`: `cls` with `httpx2.Auth` as a second base, built once per class.
  `BearerAuth()` returns an instance of it when httpx2 has been imported, so that
  `httpx2.Client(auth=BearerAuth(tokens))` works; the generator logic is the same.
* `Httpx2Transport` / `AsyncHttpx2Transport`: an httpx transport that sends each request
  through a caller's `httpx2.Client` / `httpx2.AsyncClient` (a copy as an `httpx2.Request`;
  the response's raw bytes are streamed back as an `httpx.Response`, and httpx2 errors become
  their httpx twins, which the token client turns into `TokenError`s as usual).

(An application that calls `httpx2.alias_httpx()` makes `httpx` *be* httpx2: then everything
works natively and none of this is used.)
"""

from __future__ import annotations

import sys
import threading
from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import Any

import httpx

__all__ = [
    "AsyncHttpx2Transport",
    "Httpx2Transport",
    "httpx2_if_imported",
    "is_httpx2",
    "with_httpx2_base",
]


def httpx2_if_imported() -> ModuleType | None:
    """The httpx2 module if this process has imported it, else None (never imports it)."""
    return sys.modules.get("httpx2")


def is_httpx2(obj: object, name: str) -> bool:
    """Whether `obj` is an instance of `httpx2.<name>` (False when httpx2 is not imported)."""
    httpx2 = httpx2_if_imported()
    if httpx2 is None or httpx2 is httpx:  # alias_httpx(): httpx is httpx2
        return False
    return isinstance(obj, getattr(httpx2, name))


_with_base: dict[type[Any], type[Any]] = {}
_with_base_guard = threading.Lock()


def with_httpx2_base(cls: type[Any]) -> type[Any]:
    """A subclass of `cls` that is also an `httpx2.Auth` (same name; only the bases differ),
    built once per class."""
    both = _with_base.get(cls)
    if both is None:
        httpx2 = httpx2_if_imported()
        assert httpx2 is not None
        with _with_base_guard:
            both = _with_base.get(cls) or type(
                cls.__name__, (cls, httpx2.Auth), {"__module__": cls.__module__, "__slots__": ()}
            )
            _with_base[cls] = both
    return both


def _httpx2() -> ModuleType:
    httpx2 = httpx2_if_imported()
    assert httpx2 is not None, "an httpx2 client exists, so httpx2 is imported"
    return httpx2


def _outgoing(httpx2: ModuleType, request: httpx.Request) -> Any:
    """`request` (whose body is in memory: the token request is a small form) for httpx2."""
    extensions = {k: v for k, v in request.extensions.items() if k == "timeout"}
    return httpx2.Request(
        request.method,
        str(request.url),
        headers=request.headers.raw,
        content=request.read(),
        extensions=extensions,
    )


def _twin(httpx2: ModuleType, exc: Exception, request: httpx.Request) -> httpx.HTTPError | None:
    """The httpx exception matching an httpx2 one (same class name), or None if not httpx2's.

    Only the message is carried over, never the httpx2 request (it holds our Basic header)."""
    if not isinstance(exc, httpx2.HTTPError | httpx2.StreamError | httpx2.InvalidURL):
        return None
    for cls in type(exc).__mro__:
        twin = getattr(httpx, cls.__name__, None)
        if isinstance(twin, type) and issubclass(twin, httpx.RequestError):
            return twin(str(exc), request=request)
    return httpx.TransportError(f"{type(exc).__name__}: {exc}", request=request)


def _incoming(response: Any, stream: Any, request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        response.status_code,
        headers=response.headers.raw,
        stream=stream,
        request=request,
        extensions={k: v for k, v in response.extensions.items() if k == "http_version"},
    )


class Httpx2Transport(httpx.BaseTransport):
    """Sends httpx requests through a caller's `httpx2.Client` (which stays open)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        httpx2 = _httpx2()
        failure: httpx.HTTPError | None = None
        try:
            response = self._client.send(
                _outgoing(httpx2, request), stream=True, auth=None, follow_redirects=False
            )
        except Exception as exc:
            failure = _twin(httpx2, exc, request)
            if failure is None:
                raise
        if failure is not None:
            raise failure  # outside the except block: no httpx2 exception as its context
        return _incoming(response, _Stream(httpx2, response, request), request)

    def close(self) -> None:
        """The caller owns the client: leave it open."""


class AsyncHttpx2Transport(httpx.AsyncBaseTransport):
    """Sends httpx requests through a caller's `httpx2.AsyncClient` (which stays open)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        httpx2 = _httpx2()
        failure: httpx.HTTPError | None = None
        try:
            response = await self._client.send(
                _outgoing(httpx2, request), stream=True, auth=None, follow_redirects=False
            )
        except Exception as exc:
            failure = _twin(httpx2, exc, request)
            if failure is None:
                raise
        if failure is not None:
            raise failure
        return _incoming(response, _AsyncStream(httpx2, response, request), request)

    async def aclose(self) -> None:
        """The caller owns the client: leave it open."""


class _Stream(httpx.SyncByteStream):
    def __init__(self, httpx2: ModuleType, response: Any, request: httpx.Request) -> None:
        self._httpx2 = httpx2
        self._response = response
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        chunks = self._response.iter_raw()
        while True:
            failure: httpx.HTTPError | None = None
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            except Exception as exc:
                failure = _twin(self._httpx2, exc, self._request)
                if failure is None:
                    raise
            if failure is not None:
                raise failure
            yield chunk

    def close(self) -> None:
        self._response.close()


class _AsyncStream(httpx.AsyncByteStream):
    def __init__(self, httpx2: ModuleType, response: Any, request: httpx.Request) -> None:
        self._httpx2 = httpx2
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = self._response.aiter_raw()
        while True:
            failure: httpx.HTTPError | None = None
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except Exception as exc:
                failure = _twin(self._httpx2, exc, self._request)
                if failure is None:
                    raise
            if failure is not None:
                raise failure
            yield chunk

    async def aclose(self) -> None:
        await self._response.aclose()
