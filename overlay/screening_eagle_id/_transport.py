"""One token request on the wire, guarded against a hostile endpoint.

* Bounded reads: a response body is read as a stream and decoded here, layer by layer
  (`Content-Encoding: gzip, gzip` included), each layer -- the bytes on the wire too -- at
  most `max_response_bytes`; past it the connection is dropped unread and the caller gets a
  `TokenError` ("invalid_response"). httpx's own decoders inflate a whole network read at a
  time without a limit: a 1 MB gzip bomb would be a gigabyte before any check could run.
* A whole try is bounded by `timeout=`: the try's deadline sits in the context variable
  `deadline`, checked per body chunk and, for a sync client's own connections, clamped into
  every socket read, write and connect (`DeadlineTransport`), so a server dripping its status
  line or headers byte by byte cannot hold a caller either. No thread per request.
* No cookies: none is sent, and none the endpoint sets is kept -- in our client's jar
  (its jar gets a policy that refuses every cookie) or in the jar of a caller's `http_client=`
  (`forget_cookies`).
"""

from __future__ import annotations

import contextlib
import contextvars
import http.cookiejar
import ssl
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpcore  # httpx's own HTTP layer: every httpx < 1 requires httpcore 1.x
import httpx

from ._exceptions import TokenError

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "BoundedBody",
    "DeadlineTransport",
    "asend_bounded",
    "deadline",
    "env_proxy_for",
    "forget_cookies",
    "past_deadline",
    "send_bounded",
]

#: The most bytes a token response may have, on the wire and after decoding: 1 MiB (as
#: golang.org/x/oauth2). A token response is a few KiB.
DEFAULT_MAX_RESPONSE_BYTES = 1 << 20

# What we can decode with a bound; anything else a server sends is an invalid response.
_ACCEPT_ENCODING = "gzip, deflate"
# More layers than this is no honest server.
_MAX_LAYERS = 3
# Output of one inflate step: what a layer holds in memory at once.
_STEP = 64 * 1024

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


# -- bounded decoding -------------------------------------------------------------------------


def _too_large(status: int, url: str, limit: int, what: str) -> TokenError:
    detail = f"response {what} is larger than max_response_bytes={limit}"
    return TokenError(
        f"{status} from {url}: {detail}; not read further",
        status_code=status,
        error="invalid_response",
        error_description=detail,
    )


class _Inflate:
    """One gzip or deflate layer, emitting at most `_STEP` bytes per inflate call."""

    def __init__(self, coding: str) -> None:
        self._coding = coding
        # deflate is zlib-wrapped by the RFC, raw by some servers (httpx tries both, too).
        wbits = zlib.MAX_WBITS | 16 if coding == "gzip" else zlib.MAX_WBITS
        self._inflate = zlib.decompressobj(wbits)
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        while not self._inflate.eof:
            try:
                out = self._inflate.decompress(data, _STEP)
            except zlib.error:
                if self._coding != "deflate" or self._started:
                    raise
                self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
                out = self._inflate.decompress(data, _STEP)
            self._started = True
            data = self._inflate.unconsumed_tail
            if out:
                yield out
            if not data and len(out) < _STEP:  # input used up and nothing pending
                return

    def flush(self) -> bytes:
        """What is left once the input ended (little: `feed` drained it); zlib.error if the
        compressed data stopped short."""
        if not self._started:
            return b""
        out = self._inflate.flush()
        if not self._inflate.eof:
            raise zlib.error("truncated compressed data")
        return out


class BoundedBody:
    """Collects a response body, decoding `Content-Encoding`, every layer at most `limit`
    bytes; `feed()` raises TokenError past it, before anything more is read or inflated."""

    def __init__(self, status: int, headers: httpx.Headers, limit: int, url: str) -> None:
        self._status, self._limit, self._url = status, limit, url
        codings = [
            c.strip().lower() for c in ",".join(headers.get_list("content-encoding")).split(",")
        ]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > _MAX_LAYERS or any(c not in ("gzip", "deflate") for c in codings):
            raise self._invalid("unsupported Content-Encoding")
        # Applied in the order listed, so undone in reverse.
        self._layers = [_Inflate(c) for c in reversed(codings)]
        self._sizes = [0] * (len(self._layers) + 1)
        self._chunks: list[bytes] = []
        length = headers.get("content-length", "")
        if length.isascii() and length.isdigit() and int(length) > limit:
            raise _too_large(status, url, limit, "body (its Content-Length)")

    def _invalid(self, detail: str) -> TokenError:
        return TokenError(
            f"{self._status} from {self._url}: unusable response ({detail})",
            status_code=self._status,
            error="invalid_response",
            error_description=detail,
        )

    def _push(self, depth: int, data: bytes) -> None:
        self._sizes[depth] += len(data)
        if self._sizes[depth] > self._limit:
            what = "body" if depth == len(self._layers) else "encoded body"
            raise _too_large(self._status, self._url, self._limit, what)
        if depth == len(self._layers):
            self._chunks.append(data)
            return
        try:
            for out in self._layers[depth].feed(data):
                self._push(depth + 1, out)
        except zlib.error:
            raise self._invalid("corrupt compressed body") from None

    def feed(self, data: bytes) -> None:
        """Add raw bytes from the wire."""
        if data:
            self._push(0, data)

    def finish(self) -> bytes:
        """The decoded body (TokenError for a truncated compressed one)."""
        for depth, layer in enumerate(self._layers):
            try:
                rest = layer.flush()
            except zlib.error:
                raise self._invalid("truncated compressed body") from None
            if rest:
                self._push(depth + 1, rest)
        return b"".join(self._chunks)


class _RefuseAll(http.cookiejar.DefaultCookiePolicy):
    """Stores no cookie and returns none."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


_REFUSE_ALL = _RefuseAll()


def _buffered(response: httpx.Response, content: bytes) -> httpx.Response:
    """`response` with its decoded body in memory, as the generated parser expects it."""
    dropped = (b"content-encoding", b"content-length", b"set-cookie")
    headers = [(name, value) for name, value in response.headers.raw if name.lower() not in dropped]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=content,
        request=response.request,
        extensions=response.extensions,
    )


def _request(client: httpx.Client | httpx.AsyncClient, kwargs: dict[str, Any]) -> httpx.Request:
    client.cookies.jar.set_policy(_REFUSE_ALL)  # idempotent: our client never keeps one
    request = client.build_request(**kwargs)
    request.headers.pop("cookie", None)
    request.headers["accept-encoding"] = _ACCEPT_ENCODING
    return request


def _in_memory(response: httpx.Response, limit: int) -> httpx.Response | None:
    """A response whose body a transport built in memory (httpx.MockTransport, a caller's
    test double) is already decoded: only its size is checked. None for a real stream."""
    try:
        content = response.content
    except httpx.ResponseNotRead:
        return None
    if len(content) > limit:
        raise _too_large(response.status_code, str(response.request.url), limit, "body")
    return _buffered(response, content)


def send_bounded(client: httpx.Client, kwargs: dict[str, Any], limit: int) -> httpx.Response:
    """Send the request `kwargs` describe (the generated operation's `_get_kwargs()`) and
    return its response with the body read and decoded, at most `limit` bytes per layer."""
    request = _request(client, kwargs)
    response = client.send(request, stream=True)
    try:
        if (ready := _in_memory(response, limit)) is not None:
            return ready
        body = BoundedBody(response.status_code, response.headers, limit, str(request.url))
        for chunk in response.iter_raw():
            past_deadline(request)
            body.feed(chunk)
        return _buffered(response, body.finish())
    finally:
        response.close()


async def asend_bounded(
    client: httpx.AsyncClient, kwargs: dict[str, Any], limit: int
) -> httpx.Response:
    """`send_bounded()` for an `httpx.AsyncClient`."""
    request = _request(client, kwargs)
    response = await client.send(request, stream=True)
    try:
        if (ready := _in_memory(response, limit)) is not None:
            return ready
        body = BoundedBody(response.status_code, response.headers, limit, str(request.url))
        async for chunk in response.aiter_raw():
            past_deadline(request)
            body.feed(chunk)
        return _buffered(response, body.finish())
    finally:
        await response.aclose()


# -- cookies --------------------------------------------------------------------------------


def forget_cookies(client: httpx.Client | httpx.AsyncClient, response: httpx.Response) -> None:
    """Take back out of `client`'s jar the cookies `response` just made it store (httpx
    stores them inside `send()`, before we see the response)."""
    if "set-cookie" not in response.headers:
        return
    received = httpx.Cookies()
    received.extract_cookies(response)
    for cookie in received.jar:
        with contextlib.suppress(KeyError):
            client.cookies.jar.clear(cookie.domain, cookie.path, cookie.name)


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
