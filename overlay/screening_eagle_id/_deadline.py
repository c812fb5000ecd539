"""A whole try bounded by `timeout=`, whatever the server drips.

httpx's timeouts bound each phase (connect, each read, ...), not a whole request. The try's
deadline sits in the context variable `deadline`: checked per body chunk (`past_deadline`,
by `_transport.py`) and, for a sync client's own connections, clamped into every socket
read, write and connect (`DeadlineTransport`), so a server dripping its status line or
headers byte by byte cannot hold a caller either. No thread per request. (The async client
has `asyncio.timeout` around the try.)
"""

from __future__ import annotations

import contextlib
import contextvars
import ssl
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpcore  # httpx's own HTTP layer: every httpx < 1 requires httpcore 1.x
import httpx

__all__ = ["DeadlineTransport", "deadline", "env_proxy_for", "past_deadline"]

#: The (clock, deadline) of the try in flight in this thread or task, or None.
deadline: contextvars.ContextVar[tuple[Callable[[], float], float] | None] = contextvars.ContextVar(
    "screening_eagle_id_deadline", default=None
)


def _left() -> float | None:
    """Seconds left before the try's deadline (<= 0: past it), or None without one."""
    limit = deadline.get()
    return None if limit is None else limit[1] - limit[0]()


def past_deadline(request: httpx.Request) -> None:
    """Raise httpx.ReadTimeout once the try in flight is past its deadline."""
    left = _left()
    if left is not None and left < 0:
        raise httpx.ReadTimeout(
            "the whole response took longer than the request timeout", request=request
        )


# -- the deadline inside every socket operation (sync, our own connections) ------------------


def _clamp(timeout: float | None, error: type[Exception]) -> float | None:
    left = _left()
    if left is None:
        return timeout
    if left <= 0:
        raise error("the whole request took longer than the request timeout")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._stream.start_tls(
            ssl_context, server_hostname, _clamp(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(
            host, port, _clamp(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:  # pragma: no cover - token endpoints are URLs
        stream = self._backend.connect_unix_socket(
            path, _clamp(timeout, httpcore.ConnectTimeout), socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:  # pragma: no cover - no retries in httpcore
        self._backend.sleep(seconds)


# httpcore's errors as httpx's (most specific first), as httpx's own transport maps them.
_ERRORS: list[tuple[type[Exception], type[httpx.TransportError]]] = [
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
]


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for source, target in _ERRORS:
            if isinstance(exc, source):
                raise target(str(exc)) from None
        raise


class _Stream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class DeadlineTransport(httpx.BaseTransport):
    """httpx's default transport, HTTP/1.1, with every socket operation bounded by the
    deadline of the try in flight (`deadline`). For the client's own connections only: a
    caller's `http_client=` keeps its own transport, and so do proxies from the environment."""

    def __init__(self, verify: ssl.SSLContext | bool) -> None:
        # As httpx.HTTPTransport: a context as given; False never checks certificates.
        ssl_context = (
            verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify)
        )
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=5.0,
            network_backend=_DeadlineBackend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, Iterable)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = self._pool.handle_request(core)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Stream(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def env_proxy_for(url: str) -> bool:
    """Whether the environment names a proxy for `url` (httpx honours it unless we set a
    transport, so then we leave httpx's): HTTP(S)_PROXY / ALL_PROXY, minus NO_PROXY."""
    proxies = urllib.request.getproxies_environment()
    parts = urllib.parse.urlsplit(url)
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    host = (parts.hostname or "").lower()
    for entry in proxies.get("no", "").lower().replace(" ", "").split(","):
        entry = entry.lstrip(".").split(":")[0]  # NO_PROXY: names, .suffixes, host:port
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return False
    return True
