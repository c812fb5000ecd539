"""Screening Eagle ID client: cached, single-flight OAuth 2.0 client-credentials tokens.

from screening_eagle_id import BearerAuth, ClientCredentials, TokenClient

tokens = TokenClient("https://id.example.com", ClientCredentials("id", "secret"), scope="openid")
with httpx.Client(auth=BearerAuth(tokens)) as api:
    api.get("https://api.example.com/...")

Names are imported on first use (PEP 562): `import screening_eagle_id` alone loads neither
httpx nor attrs, so the `eagle-id` command answers a cached token without them.
"""

import importlib as _importlib

from ._version import __version__ as __version__

# As typing.TYPE_CHECKING, without importing typing: `eagle-id token` counts milliseconds.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._auth import BearerAuth
    from ._cache import AsyncTokenCache, MemoryCache, TokenCache, cache_key
    from ._client import DEFAULT_TIMEOUT, AsyncTokenClient, RetryPolicy, TokenClient
    from ._clock import Clock
    from ._credentials import ClientCredentials
    from ._exceptions import (
        AccessDeniedError,
        ConfigurationError,
        EndpointNotFoundError,
        InsecureTransportError,
        InvalidClientError,
        InvalidRequestError,
        RateLimitedError,
        ServerError,
        TokenError,
        TokenTransportError,
    )
    from ._filecache import FileCache
    from ._rediscache import AsyncRedisCache, RedisCache
    from ._requests import RequestsBearerAuth
    from ._token import CLOCK_SKEW, REFRESH_AHEAD, REFRESH_BACKOFF, Token

__all__ = [
    "CLOCK_SKEW",
    "DEFAULT_TIMEOUT",
    "REFRESH_AHEAD",
    "REFRESH_BACKOFF",
    "AccessDeniedError",
    "AsyncRedisCache",
    "AsyncTokenCache",
    "AsyncTokenClient",
    "BearerAuth",
    "ClientCredentials",
    "Clock",
    "ConfigurationError",
    "EndpointNotFoundError",
    "FileCache",
    "InsecureTransportError",
    "InvalidClientError",
    "InvalidRequestError",
    "MemoryCache",
    "RateLimitedError",
    "RedisCache",
    "RequestsBearerAuth",
    "RetryPolicy",
    "ServerError",
    "Token",
    "TokenCache",
    "TokenClient",
    "TokenError",
    "TokenTransportError",
    "cache_key",
]

del TYPE_CHECKING

# Which private module each exported name lives in.
_MODULES = {
    "BearerAuth": "_auth",
    "AsyncTokenCache": "_cache",
    "MemoryCache": "_cache",
    "TokenCache": "_cache",
    "cache_key": "_cache",
    "DEFAULT_TIMEOUT": "_client",
    "AsyncTokenClient": "_client",
    "RetryPolicy": "_client",
    "TokenClient": "_client",
    "Clock": "_clock",
    "ClientCredentials": "_credentials",
    "AccessDeniedError": "_exceptions",
    "ConfigurationError": "_exceptions",
    "EndpointNotFoundError": "_exceptions",
    "InsecureTransportError": "_exceptions",
    "InvalidClientError": "_exceptions",
    "InvalidRequestError": "_exceptions",
    "RateLimitedError": "_exceptions",
    "ServerError": "_exceptions",
    "TokenError": "_exceptions",
    "TokenTransportError": "_exceptions",
    "FileCache": "_filecache",
    "AsyncRedisCache": "_rediscache",
    "RedisCache": "_rediscache",
    "RequestsBearerAuth": "_requests",  # needs the `requests` extra; imported only when used
    "CLOCK_SKEW": "_token",
    "REFRESH_AHEAD": "_token",
    "REFRESH_BACKOFF": "_token",
    "Token": "_token",
}


def __getattr__(name: str) -> object:
    """Import an exported name from its module on first use, then keep it here."""
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
