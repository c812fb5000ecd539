"""How a token client connects to the endpoint: the URL check, TLS settings (`verify=`),
and a caller's `http_client=` plugged in as the transport of our own thin client."""

from __future__ import annotations

import logging
import os
import ssl
import threading
from typing import Any

import httpx

from ._config import TOKEN_PATH, canonical_url
from ._exceptions import ConfigurationError
from ._httpx2 import AsyncHttpx2Transport, Httpx2Transport, is_httpx2
from ._transport import forget_cookies

__all__ = [
    "AsyncViaClient",
    "Verify",
    "ViaClient",
    "check_url",
    "verify_setting",
    "via",
]

logger = logging.getLogger("screening_eagle_id")

# One SSL context for every client that verifies with the default CA bundle: building one
# (loading the bundle) takes 30-50 ms, which each new client would otherwise pay on its first
# fetch. Created on the first fetch that needs it, once per process; the environment's
# SSL_CERT_FILE / SSL_CERT_DIR are read then, as httpx reads them.
_default_ssl_context: ssl.SSLContext | None = None
_ssl_lock = threading.Lock()
_warned_unverified = False

Verify = bool | str | os.PathLike[str] | ssl.SSLContext


def _shared_ssl_context() -> ssl.SSLContext:
    global _default_ssl_context
    context = _default_ssl_context
    if context is None:
        with _ssl_lock:
            if _default_ssl_context is None:
                _default_ssl_context = httpx.create_ssl_context()
            context = _default_ssl_context
    return context


def verify_setting(verify: Verify) -> bool | ssl.SSLContext:
    """`verify=` as the generated client takes it: True (the shared context, made when first
    needed), a caller's context, False, or a context for a CA bundle file or directory."""
    global _warned_unverified
    if verify is True or isinstance(verify, ssl.SSLContext):
        return verify
    if verify is False:
        if not _warned_unverified:
            _warned_unverified = True
            logger.warning(
                "verify=False: TLS certificates of the token endpoint are not checked; "
                "anyone on the network path can read the client secret"
            )
        return False
    if not isinstance(verify, str | os.PathLike):
        raise ConfigurationError(
            f"verify must be True, False, a CA bundle path or an ssl.SSLContext, not {verify!r}"
        )
    path = os.fspath(verify)
    try:
        if os.path.isdir(path):
            return ssl.create_default_context(capath=path)
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"verify={path!r}: cannot load CA certificates: {exc}") from None


# A caller-owned `http_client=` is plugged in as the *transport* of the httpx client the
# generated `AuthenticatedClient` builds (through its `httpx_args`), not with
# `set_httpx_client()`: the generated client puts the Basic credentials into the default
# headers of a client it builds, and has no per-request headers, so handing it the
# caller's client would either send no credentials or mean writing the secret into the
# caller's `client.headers` for good. This way the secret stays on our own thin client,
# while the caller's client carries the bytes: its connection pool, proxies, TLS settings
# and event hooks. Its `auth` is bypassed (a BearerAuth on it must not recurse into us),
# redirects are not followed, and closing us never closes it. A cookie the token endpoint
# sets is taken back out of its jar (httpx stores it inside `send()`).
class ViaClient(httpx.BaseTransport):
    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._client.send(request, stream=True, auth=None, follow_redirects=False)
        forget_cookies(self._client, response)
        return response

    def close(self) -> None:
        """The caller owns the client: leave it open."""


class AsyncViaClient(httpx.AsyncBaseTransport):
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._client.send(request, stream=True, auth=None, follow_redirects=False)
        forget_cookies(self._client, response)
        return response

    async def aclose(self) -> None:
        """The caller owns the client: leave it open."""


def via(client: Any, *, is_async: bool) -> httpx.BaseTransport | httpx.AsyncBaseTransport:
    """The transport for a caller's `http_client=`: an httpx or an httpx2 client, of the
    async kind when `is_async`."""
    kind, owner = ("AsyncClient", "AsyncTokenClient") if is_async else ("Client", "TokenClient")
    if isinstance(client, getattr(httpx, kind)):
        return AsyncViaClient(client) if is_async else ViaClient(client)
    if is_httpx2(client, kind):
        return AsyncHttpx2Transport(client) if is_async else Httpx2Transport(client)
    raise _wrong_client(client, owner, f"httpx.{kind} or httpx2.{kind}")


def _wrong_client(client: object, owner: str, wanted: str) -> ConfigurationError:
    return ConfigurationError(
        f"{owner}(http_client=...) takes an {wanted}, not {type(client).__module__}."
        f"{type(client).__qualname__}"
    )


def check_url(url: str, allow_insecure_http: bool, token_path: str = TOKEN_PATH) -> str:
    """The canonical base URL (see `canonical_url()`; `token_path` is checked already), also
    checked the way httpx parses it, with the token path: ConfigurationError, or
    InsecureTransportError for plain http to a non-loopback host."""
    canonical = canonical_url(url, allow_insecure_http=allow_insecure_http, token_path=token_path)
    try:
        httpx.URL(canonical + token_path)
    except httpx.InvalidURL:
        # Not echoed: a malformed URL may well carry a password.
        raise ConfigurationError("the token endpoint URL is not a valid URL") from None
    return canonical
